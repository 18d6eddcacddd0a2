#!/bin/bash
# SPDX-License-Identifier: MIT
# t6050-restore-test-dovecot: restore-test opens every restored mailbox with
# a real Dovecot (doveadm, a private config in the scratch space), compares
# its message counts per folder with the manifest, and reads one message of
# a mail_crypt user through the restored keys; a difference exits 4.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-dovecot.sh"

A=alice@example.com
C=carol@example.com

# python3 -c over the report: fails with a message when CHECK is false
rt_json() {
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
d = r["dovecot"]
ok = eval(sys.argv[2])
if not ok:
    print("not true:", sys.argv[2], json.dumps(d, indent=1), file=sys.stderr)
sys.exit(0 if ok else 1)' "$@"
}

# the folders of MAILBOX in the report: "FOLDER MANIFEST DOVECOT" lines
rt_folders() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))["dovecot"]
for m in d["list"]:
    if m["mailbox"] == sys.argv[2]:
        for f in m["folders"]:
            print(f["folder"], f["manifest"], f["dovecot"])' "$@"
}

test_expect_success 'setup: folders, a mail_crypt user and its keys in one snapshot' '
	mb_setup_keys &&
	dc_start --crypt $C $A &&
	dc_mkfolder $A Sent "Entwürfe" &&
	for i in 1 2 3; do dc_deliver $A INBOX in$i || return 1; done &&
	dc_deliver $A Sent se1 && dc_deliver $A Sent se2 &&
	dc_deliver $A "Entwürfe" dr1 &&
	dc_mkfolder $C Projects &&
	dc_deliver $C Projects pr1 && dc_deliver $C INBOX cin1 &&
	f=$(ls "$DC_VMAIL/example.com/carol/.Projects/new" | head -1) &&
	test "$(head -c 7 "$DC_VMAIL/example.com/carol/.Projects/new/$f")" = CRYPTED &&
	mb_write_config "[source vmail]" "type = maildir" "path = $DC_VMAIL" \
		"[source crypt]" "type = files" "path = $DC_CRYPT" &&
	mb init &&
	mb backup --json >b.json &&
	id=$(mb_json_get id b.json)
'

test_expect_success 'restore-test opens each mailbox with Dovecot and compares counts per folder' '
	mb restore-test --json "$id" >rt.json &&
	rt_json rt.json "d[\"checked\"] and d[\"mailboxes\"] == 2 and d[\"mailboxes_ok\"] == 2" &&
	rt_folders rt.json example.com/alice >alice &&
	cat >expect <<-\EOF &&
	INBOX 3 3
	Entwürfe 1 1
	Sent 2 2
	EOF
	test_cmp expect alice &&
	rt_folders rt.json example.com/carol >carol &&
	printf "INBOX 1 1\nProjects 1 1\n" >expect &&
	test_cmp expect carol
'

test_expect_success 'the mail_crypt user: one message read through the restored keys' '
	rt_json rt.json "d[\"mail_crypt_users\"] == 1 and d[\"mail_crypt_ok\"] == 1" &&
	rt_json rt.json "[m[\"mail_crypt\"] for m in d[\"list\"]] == [\"not used\", \"readable\"]"
'

test_expect_success 'a file in cur/ that Dovecot does not count as a message: exit 4' '
	printf "From: x@y\n\nbody\n" >"$DC_VMAIL/example.com/alice/.Sent/cur/.1700000000.M1P1.junk:2,S" &&
	mb backup --json >b2.json &&
	id2=$(mb_json_get id b2.json) &&
	test_must_fail --exit 4 mb restore-test --json "$id2" >rt2.json 2>err &&
	cat err &&
	rt_folders rt2.json example.com/alice >alice &&
	test_grep "^Sent 3 2$" alice &&
	test_grep "folder .Sent.: Dovecot sees 2 messages, the manifest has 3" err &&
	rt_json rt2.json "d[\"mailboxes_ok\"] == 1" &&
	rm "$DC_VMAIL/example.com/alice/.Sent/cur/.1700000000.M1P1.junk:2,S"
'

test_expect_success 'a folder whose name is no Maildir++ name: a finding, not an error' '
	d="$DC_VMAIL/example.com/alice/.Bad&name" &&
	mkdir -p "$d/cur" "$d/new" "$d/tmp" &&
	printf "From: x@y\n\nbody\n" >"$d/cur/1700000000.M1P1.b:2,S" &&
	chown -R vmail:vmail "$d" &&
	mb backup --json >b8.json &&
	id8=$(mb_json_get id b8.json) &&
	test_must_fail --exit 4 mb restore-test --json "$id8" >rt8.json 2>err &&
	cat err &&
	test_grep "dovecot: vmail/example.com/alice: doveadm cannot open the mailbox (.*Bad&name" err &&
	rt_json rt8.json "d[\"mailboxes_ok\"] == 1" &&
	rm -r "$d"
'

test_expect_success 'mail_crypt keys missing from the snapshot: exit 4' '
	mb_write_config "[source vmail]" "type = maildir" "path = $DC_VMAIL" &&
	mb backup --json >b3.json &&
	id3=$(mb_json_get id b3.json) &&
	test_must_fail --exit 4 mb restore-test --json "$id3" >rt3.json 2>err &&
	cat err &&
	test_grep "mail_crypt: vmail/example.com/carol: mail encrypted by mail_crypt, but the snapshot holds no mail_crypt keys" err &&
	rt_json rt3.json "d[\"mail_crypt_users\"] == 1 and d[\"mail_crypt_ok\"] == 0"
'

test_expect_success 'wrong mail_crypt keys in the snapshot: the message cannot be read, exit 4' '
	mkdir other && DC_CRYPT=$PWD/other dc_crypt_keys &&
	mb_write_config "[source vmail]" "type = maildir" "path = $DC_VMAIL" \
		"[source crypt]" "type = files" "path = $PWD/other" &&
	mb backup --json >b4.json &&
	id4=$(mb_json_get id b4.json) &&
	test_must_fail --exit 4 mb restore-test --json "$id4" >rt4.json 2>err &&
	cat err &&
	test_grep "cannot read message .* through the restored mail_crypt keys" err &&
	rt_json rt4.json "[m[\"mail_crypt\"] for m in d[\"list\"]] == [\"not used\", \"unreadable\"]"
'

test_expect_success 'no doveadm: not checked, not a failure' '
	mb_write_config "doveadm = none" "[source vmail]" "type = maildir" "path = $DC_VMAIL" \
		"[source crypt]" "type = files" "path = $DC_CRYPT" &&
	mb restore-test --json "$id" >rt5.json &&
	rt_json rt5.json "d == {\"checked\": False, \"reason\": \"[options] doveadm = none\"}"
'

test_expect_success 'a doveadm that cannot reach the scratch copy (a container): a warning, not a failure' '
	mb_write_config "doveadm = false doveadm" "[source vmail]" "type = maildir" "path = $DC_VMAIL" \
		"[source crypt]" "type = files" "path = $DC_CRYPT" &&
	mb restore-test --json "$id" >rt6.json 2>err &&
	cat err &&
	test_grep "mailboxes not opened with Dovecot: .false. cannot read the scratch copy" err &&
	rt_json rt6.json "not d[\"checked\"] and \"cannot read the scratch copy\" in d[\"reason\"]" &&
	dc_log_clean
'

test_expect_success 'a mailbox owned by root is not opened (Dovecot refuses): a warning, not a failure' '
	mkdir -p "$DC_VMAIL/example.com/rooted/cur" "$DC_VMAIL/example.com/rooted/new" &&
	printf "From: x@y\n\nbody\n" >"$DC_VMAIL/example.com/rooted/cur/1700000000.M1P1.r:2,S" &&
	mb_write_config "[source vmail]" "type = maildir" "path = $DC_VMAIL" \
		"[source crypt]" "type = files" "path = $DC_CRYPT" &&
	mb backup --json >b7.json &&
	id7=$(mb_json_get id b7.json) &&
	mb restore-test --json "$id7" >rt7.json 2>err &&
	test_grep "example.com/rooted and any other mailbox owned by root not opened with Dovecot" err &&
	rt_json rt7.json "d[\"mailboxes\"] == 2 and d[\"mailboxes_ok\"] == 2 and d[\"mailboxes_skipped\"] == 1" &&
	rt_json rt7.json "[m for m in d[\"list\"] if m[\"mailbox\"] == \"example.com/rooted\"][0][\"checked\"] is False"
'

test_done
