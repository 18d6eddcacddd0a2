#!/bin/bash
# SPDX-License-Identifier: MIT
# t6010-live-backup: a backup taken while Dovecot delivers over LMTP, changes
# flags and expunges opens cleanly once restored (no volatile lock files, no
# message twice, every folder with its UIDVALIDITY), and merging it back in
# place duplicates nothing.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-dovecot.sh"

A=alice@example.com

# Deliveries, flag changes and expunges until the file stop appears.
churn() {
	local i=0
	while ! test -e stop && test $i -lt 300; do
		i=$((i + 1))
		dc_lmtp $A live$i >/dev/null 2>&1
		dc_deliver $A Work work$i >/dev/null 2>&1
		dc_flags $A INBOX add "\\Seen \$Label$((i % 3))" HEADER Message-ID "live$((i - 1))" >/dev/null 2>&1
		if test $((i % 4)) = 0; then
			dc_doveadm expunge -u $A mailbox Work HEADER Message-ID "work$((i - 2))" >/dev/null 2>&1
		fi
		dc_doveadm mailbox status -u $A messages '*' >/dev/null 2>&1
		echo $i >churn.count
	done
}

test_expect_success 'setup: a Dovecot under load, two backups during it' '
	mb_setup_keys &&
	dc_start $A &&
	dc_mkfolder $A Work &&
	for i in 1 2 3; do dc_deliver $A INBOX first$i || return 1; done &&
	mb_write_config "[source vmail]" "type = maildir" "path = $DC_VMAIL" &&
	mb init &&
	{ churn </dev/null >churn.log 2>&1 & } &&
	pid=$! &&
	sleep 2 &&
	rc=0 &&
	{ mb backup --json >b1.json || rc=$?; } &&
	sleep 1 &&
	{ mb backup --json >b2.json || rc=$?; } &&
	touch stop &&
	wait $pid &&
	test $rc = 0 &&
	say "$(cat churn.count) rounds of deliveries, flag changes and expunges" &&
	test "$(cat churn.count)" -ge 3 &&
	id=$(mb_json_get id b2.json) &&
	mb ls "$id" >ls.out &&
	test_grep -v "\\.lock\$" ls.out &&
	test_grep -v "dovecot.list.index\|dovecot.mailbox.log" ls.out &&
	grep -c "/cur/\|/new/" ls.out
'

test_expect_success 'the restored snapshot opens cleanly in Dovecot' '
	mb restore "$id" --target "$SCRATCH/rs" --mailbox $A &&
	md=$SCRATCH/rs/vmail/example.com/alice &&
	test "$(stat -c %U "$SCRATCH/rs")" = vmail &&
	: >"$DC_DIR/doveadm.err" &&
	for f in INBOX Work; do
		DC_CONF_OPT="mail_location=maildir:$md" &&
		"$DOVEADM" -c "$DC_CONF" -o "$DC_CONF_OPT" -f flow mailbox status -u $A \
			"messages uidvalidity" "$f" >st.$f 2>>"$DC_DIR/doveadm.err" &&
		cat st.$f &&
		! grep -q "uidvalidity=0" st.$f &&
		n=$(sed -n "s/.*messages=\([0-9]*\).*/\1/p" st.$f) &&
		d=$(test $f = INBOX && echo "$md" || echo "$md/.$f") &&
		test "$n" = "$(ls "$d/cur" "$d/new" | grep -c "^[0-9]")" &&
		"$DOVEADM" -c "$DC_CONF" -o "$DC_CONF_OPT" fetch -u $A hdr.message-id \
			mailbox "$f" ALL >ids.$f 2>>"$DC_DIR/doveadm.err" &&
		test "$(grep "^hdr" ids.$f | sort | uniq -d)" = "" || return 1
	done &&
	dc_log_clean
'

test_expect_success 'merging it back in place adds nothing twice' '
	dc_doveadm expunge -u $A mailbox INBOX HEADER Message-ID first1 &&
	dc_doveadm expunge -u $A mailbox INBOX HEADER Message-ID first2 &&
	dc_state $A >live.before &&
	mb restore "$id" --in-place --mailbox $A --json >r.json &&
	cat r.json &&
	dc_state $A >live.after &&
	test "$(cut -d" " -f1,3 live.after | sort | uniq -d)" = "" &&
	join -j 1 <(awk "{print \$1\"-\"\$2, \$0}" live.before | sort) \
		<(awk "{print \$1\"-\"\$2, \$0}" live.after | sort) >joined &&
	test "$(wc -l <joined)" = "$(wc -l <live.before)" &&
	test "$(mb_json_get added r.json)" -ge 2 &&
	test "$(wc -l <live.after)" -eq $(( $(wc -l <live.before) + $(mb_json_get added r.json) )) &&
	grep -q "<first1@" live.after && grep -q "<first2@" live.after &&
	dc_log_clean
'

test_done
