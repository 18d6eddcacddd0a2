#!/bin/bash
# SPDX-License-Identifier: MIT
# t6020-mailcrypt: mail encrypted by Dovecot's mail_crypt comes back in place
# readable; when the live keys are not the snapshot's (a new server), the
# restore says so.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-dovecot.sh"

C=carol@example.com

test_expect_success 'setup: a mail_crypt user, its keys and mail in one snapshot' '
	mb_setup_keys &&
	dc_start --crypt $C &&
	dc_mkfolder $C Projects &&
	for i in 1 2 3; do dc_deliver $C Projects pr$i || return 1; done &&
	dc_deliver $C INBOX in1 &&
	f=$(ls "$DC_VMAIL/example.com/carol/.Projects/new" | head -1) &&
	head -c 7 "$DC_VMAIL/example.com/carol/.Projects/new/$f" >magic &&
	test "$(cat magic)" = CRYPTED &&
	dc_state $C Projects >before &&
	mb_write_config "[source vmail]" "type = maildir" "path = $DC_VMAIL" \
		"[source crypt]" "type = files" "path = $DC_CRYPT" &&
	mb init &&
	mb backup --json >b.json &&
	id=$(mb_json_get id b.json)
'

test_expect_success 'a deleted encrypted folder comes back readable' '
	dc_doveadm mailbox delete -u $C Projects &&
	mb restore "$id" --in-place --mailbox $C --folder Projects 2>err &&
	test_grep -v "mail_crypt" err &&
	dc_state $C Projects >after &&
	test_cmp before after &&
	dc_doveadm fetch -u $C body mailbox Projects HEADER Message-ID pr2 >body &&
	test_grep "body of pr2" body &&
	dc_log_clean
'

test_expect_success 'ls --messages says which messages mail_crypt encrypted' '
	mb ls --messages "$id" --mailbox $C --folder Projects >msgs &&
	cat msgs &&
	test "$(grep -c "(encrypted by mail_crypt)" msgs)" = 3
'

test_expect_success 'live keys that are not the snapshot'"'"'s: the restore warns (exit 3)' '
	dc_stop &&
	rm -f "$DC_CRYPT"/*.pem &&
	dc_crypt_keys &&
	dc_start --crypt $C &&
	dc_doveadm expunge -u $C mailbox Projects HEADER Message-ID pr1 &&
	test_must_fail --exit 3 mb restore "$id" --in-place --mailbox $C --folder Projects 2>err &&
	cat err &&
	test_grep "mail_crypt key .*ecprivkey.pem. differs" err &&
	test_grep "mail_crypt key .*ecpubkey.pem. differs" err
'

test_done
