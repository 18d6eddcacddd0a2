#!/bin/bash
# SPDX-License-Identifier: MIT
# t6030-maildir-sub: mailboxes whose Maildir is one level down
# (mail_location = maildir:~/Maildir, as older mailcow releases have it):
# --folder, restore --in-place and ls --messages find it there.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-dovecot.sh"

A=alice@example.com

test_expect_success 'setup: Maildirs at DOMAIN/USER/Maildir, one snapshot' '
	mb_setup_keys &&
	DC_MAIL_LOCATION="maildir:~/Maildir" &&
	dc_start $A &&
	dc_mkfolder $A Sent &&
	for i in 1 2 3; do dc_deliver $A INBOX in$i || return 1; done &&
	dc_deliver $A Sent se1 &&
	dc_flags $A INBOX add "\\Seen \$Label1" HEADER Message-ID in1 &&
	test -d "$DC_VMAIL/example.com/alice/Maildir/.Sent" &&
	dc_state $A >before &&
	mb_write_config "[source vmail]" "type = maildir" "path = $DC_VMAIL" &&
	mb init &&
	mb backup --json >b.json &&
	id=$(mb_json_get id b.json)
'

test_expect_success 'a deleted folder and an expunged message come back in place' '
	dc_doveadm mailbox delete -u $A Sent &&
	dc_doveadm mailbox unsubscribe -u $A Sent &&
	dc_doveadm expunge -u $A mailbox INBOX HEADER Message-ID in1 &&
	mb restore "$id" --in-place --mailbox $A --json >r.json &&
	cat r.json &&
	test "$(mb_json_get added r.json)" = 2 &&
	test "$(mb_json_get folders_created r.json)" = 1 &&
	dc_state $A Sent >sent &&
	grep "^Sent " before >expect &&
	test_cmp expect sent &&
	dc_state $A INBOX >inbox &&
	test "$(grep "<in1@" inbox | cut -d" " -f4-)" = "\$Label1 \\Seen" &&
	test "$(wc -l <inbox)" = 3 &&
	dc_subscribed $A >subs &&
	test_grep "^Sent\$" subs &&
	! test -e "$DC_VMAIL/example.com/alice/.Sent" &&
	dc_log_clean
'

test_expect_success 'ls --folder and ls --messages look below Maildir/' '
	mb ls "$id" --mailbox $A --folder Sent >ls.out &&
	test_grep "alice/Maildir/.Sent/" ls.out &&
	test_grep -v "alice/Maildir/cur/" ls.out &&
	mb ls --messages "$id" --mailbox $A --folder INBOX >msgs &&
	test "$(wc -l <msgs)" = 3
'

test_done
