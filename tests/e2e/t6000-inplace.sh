#!/bin/bash
# SPDX-License-Identifier: MIT
# t6000-inplace: restore --in-place gives mail back into a live Maildir++
# store, merging and never replacing, and a real Dovecot judges the result:
# UIDs of untouched messages, flags, keywords, subscriptions, no duplicate,
# no repair in its log.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-dovecot.sh"

A=alice@example.com
B=bob@example.com

# every name, type, mode, owner, size and mtime below the live tree
tree_state() {
	(cd "$DC_VMAIL" && find . -printf '%p %y %m %u %g %s %T@\n' | LC_ALL=C sort)
}

test_expect_success 'setup: a Dovecot with folders, flags and keywords; a snapshot' '
	mb_setup_keys &&
	dc_start $A $B &&
	dc_mkfolder $A Sent "Archive/2024" "Entwürfe" &&
	for i in 1 2 3 4; do dc_deliver $A INBOX in$i || return 1; done &&
	for i in 1 2 3; do dc_deliver $A "Archive/2024" ar$i || return 1; done &&
	dc_deliver $A Sent se1 && dc_deliver $A Sent se2 &&
	dc_deliver $A "Entwürfe" dr1 &&
	dc_flags $A INBOX add "\\Seen \$Label1" HEADER Message-ID in1 &&
	dc_flags $A INBOX add "\\Seen work" HEADER Message-ID in2 &&
	dc_flags $A INBOX add "\\Flagged" HEADER Message-ID in3 &&
	dc_flags $A "Archive/2024" add "\\Seen \$Label2 project" HEADER Message-ID ar2 &&
	dc_flags $A "Archive/2024" add "\\Answered" HEADER Message-ID ar3 &&
	dc_state $A >before &&
	cat before &&
	dc_status $A "Archive/2024" uidvalidity >archive.uidvalidity &&
	: >"$DC_VMAIL/example.com/alice/dovecot-uidlist.lock" &&
	mb_write_config "[source vmail]" "type = maildir" "path = $DC_VMAIL" &&
	mb init &&
	mb backup --json >b.json &&
	rm "$DC_VMAIL/example.com/alice/dovecot-uidlist.lock" &&
	id=$(mb_json_get id b.json) &&
	test -n "$id"
'

test_expect_success 'Dovecot'"'"'s volatile files are not in the snapshot' '
	mb ls "$id" >ls.out &&
	test_grep "alice/dovecot-uidlist\$" ls.out &&
	test_grep -v "dovecot-uidlist.lock" ls.out &&
	test_grep -v "dovecot.list.index" ls.out &&
	test_grep -v "dovecot.mailbox.log" ls.out
'

test_expect_success 'a deleted folder comes back whole: UIDs, flags, keywords, UIDVALIDITY, subscribed' '
	dc_doveadm mailbox delete -u $A "Archive/2024" &&
	dc_doveadm mailbox unsubscribe -u $A "Archive/2024" &&
	! test -d "$DC_VMAIL/example.com/alice/.Archive.2024" &&
	dc_subscribed $A >subs.before &&
	test_grep -v "Archive/2024" subs.before &&
	mb restore "$id" --in-place --mailbox $A --folder "Archive/2024" --json >r.json &&
	cat r.json &&
	test "$(mb_json_get added r.json)" = 3 &&
	test "$(mb_json_get folders_created r.json)" = 1 &&
	dc_state $A "Archive/2024" >after &&
	grep "^Archive/2024 " before >expect &&
	test_cmp expect after &&
	dc_status $A "Archive/2024" uidvalidity >uv &&
	test_cmp archive.uidvalidity uv &&
	dc_subscribed $A >subs &&
	test_grep "^Archive/2024\$" subs &&
	test "$(stat -c %U "$DC_VMAIL/example.com/alice/.Archive.2024")" = vmail &&
	test "$(stat -c %U "$DC_VMAIL/example.com/alice/.Archive.2024/cur/$(ls "$DC_VMAIL/example.com/alice/.Archive.2024/cur" | head -1)")" = vmail &&
	dc_log_clean
'

test_expect_success 'yesterday'"'"'s INBOX: merged, live messages untouched, expunged ones back' '
	dc_deliver $A INBOX in5 &&
	dc_flags $A INBOX remove "\\Seen" HEADER Message-ID in1 &&
	dc_flags $A INBOX add "\\Deleted" HEADER Message-ID in2 &&
	dc_doveadm expunge -u $A mailbox INBOX HEADER Message-ID in2 &&
	dc_doveadm expunge -u $A mailbox INBOX HEADER Message-ID in4 &&
	dc_state $A INBOX >live &&
	cat live &&
	root=$DC_VMAIL/example.com/alice &&
	stat -c "%a %U %Y" "$root" "$root/cur" >dirs.before &&
	mb restore "$id" --in-place --mailbox $A --folder INBOX --json >r.json &&
	cat r.json &&
	test "$(mb_json_get added r.json)" = 2 &&
	test "$(mb_json_get present r.json)" = 2 &&
	dc_state $A INBOX >after &&
	cat after &&
	grep -e "<in1@" -e "<in3@" -e "<in5@" live >expect.live &&
	grep -e "<in1@" -e "<in3@" -e "<in5@" after >got.live &&
	test_cmp expect.live got.live &&
	grep "<in2@" after | grep -q " \$Label1\| work" &&
	test "$(grep "<in2@" after | cut -d" " -f4-)" = "\\Seen work" &&
	grep -q "<in4@" after &&
	test "$(wc -l <after)" = 5 &&
	test "$(cut -d" " -f3 after | sort | uniq -d)" = "" &&
	stat -c "%a %U" "$root" >dirs.after &&
	cut -d" " -f1,2 dirs.before | head -1 >dirs.expect &&
	test_cmp dirs.expect dirs.after &&
	dc_log_clean
'

test_expect_success 'a keyword the live folder lacks is added to its dovecot-keywords' '
	root=$DC_VMAIL/example.com/alice &&
	dc_doveadm expunge -u $A mailbox "Archive/2024" HEADER Message-ID ar2 &&
	cp "$root/.Archive.2024/dovecot-keywords" kw.before &&
	printf "0 other\n" >"$root/.Archive.2024/dovecot-keywords" &&
	chown vmail:vmail "$root/.Archive.2024/dovecot-keywords" &&
	mb restore "$id" --in-place --mailbox $A --folder "Archive/2024" &&
	cat "$root/.Archive.2024/dovecot-keywords" &&
	grep -q "^0 other\$" "$root/.Archive.2024/dovecot-keywords" &&
	grep -q " \$Label2\$" "$root/.Archive.2024/dovecot-keywords" &&
	grep -q " project\$" "$root/.Archive.2024/dovecot-keywords" &&
	dc_state $A "Archive/2024" >after &&
	cat after &&
	test "$(grep "<ar2@" after | cut -d" " -f4-)" = "\$Label2 \\Seen project" &&
	dc_log_clean
'

test_expect_success 'a dovecot-keywords dotlock held by Dovecot: exit 5, the folder unchanged' '
	root=$DC_VMAIL/example.com/alice &&
	dc_doveadm expunge -u $A mailbox "Archive/2024" HEADER Message-ID ar2 &&
	printf "0 other\n" >"$root/.Archive.2024/dovecot-keywords" &&
	chown vmail:vmail "$root/.Archive.2024/dovecot-keywords" &&
	dc_state $A "Archive/2024" >held.before &&
	: >"$root/.Archive.2024/dovecot-keywords.lock" &&
	test_must_fail --exit 5 mb restore "$id" --in-place --mailbox $A --folder "Archive/2024" 2>err &&
	rm "$root/.Archive.2024/dovecot-keywords.lock" &&
	test_grep "cannot lock .*dovecot-keywords" err &&
	dc_state $A "Archive/2024" >held.after &&
	test_cmp held.before held.after &&
	mb restore "$id" --in-place --mailbox $A --folder "Archive/2024" &&
	grep -q "<ar2@" "$(dc_state $A "Archive/2024" >held.done && echo held.done)" &&
	dc_log_clean
'

test_expect_success '--dry-run lists and changes nothing' '
	dc_doveadm expunge -u $A mailbox Sent HEADER Message-ID se1 &&
	tree_state >tree.before &&
	mb restore "$id" --in-place --mailbox $A --dry-run >dry.out &&
	cat dry.out &&
	tree_state >tree.after &&
	test_cmp tree.before tree.after &&
	grep -q "^add .*	Sent	.*" dry.out &&
	grep -q "^present .*	Sent	" dry.out &&
	test "$(grep -c "^add .*	Sent	" dry.out)" = 1 &&
	mb restore "$id" --in-place --mailbox $A --dry-run --json >dry.json &&
	test "$(mb_json_get added dry.json)" = 1 &&
	test_grep "\"dry_run\":true" dry.json
'

test_expect_success 'the whole mailbox: only what is missing, and a second run adds nothing' '
	dc_state $A >live &&
	mb restore "$id" --in-place --mailbox $A --json >r.json &&
	test "$(mb_json_get added r.json)" = 1 &&
	dc_state $A >after &&
	grep -q "^Sent .* <se1@" after &&
	grep -v "<se1@" after >after.rest &&
	test_cmp live after.rest &&
	mb restore "$id" --in-place --mailbox $A --json >r2.json &&
	test "$(mb_json_get added r2.json)" = 0 &&
	dc_state $A >again &&
	test_cmp after again &&
	dc_log_clean
'

test_expect_success '--into-folder: each folder below NAME, whole and subscribed' '
	mb restore "$id" --in-place --mailbox $A --folder INBOX --folder Sent \
		--into-folder "Restored 2026" --json >r.json &&
	test "$(mb_json_get folders_created r.json)" = 2 &&
	dc_state $A "Restored 2026/INBOX" >in.state &&
	test "$(wc -l <in.state)" = 4 &&
	dc_state $A "Restored 2026/Sent" >se.state &&
	test "$(wc -l <se.state)" = 2 &&
	dc_subscribed $A >subs &&
	test_grep "^Restored 2026/Sent\$" subs &&
	dc_log_clean
'

test_expect_success '--as: a folder goes into another user'"'"'s mailbox, owned by its owner' '
	mb restore "$id" --in-place --mailbox $A --folder "Entwürfe" --as $B &&
	dc_state $B "Entwürfe" >b.state &&
	grep -q "<dr1@" b.state &&
	test "$(stat -c %U "$DC_VMAIL/example.com/bob/.Entw&APw-rfe")" = vmail &&
	dc_state $A "Entwürfe" >a.state &&
	grep -q "<dr1@" a.state &&
	dc_log_clean
'

test_expect_success '--as with --into-folder: a whole mailbox into a folder of another user' '
	dc_state $B >b.before &&
	mb restore "$id" --in-place --mailbox $A --as $B --into-folder Alice --json >r.json &&
	test "$(mb_json_get folders_created r.json)" = 4 &&
	dc_state $B "Alice/INBOX" "Alice/Sent" "Alice/Archive/2024" "Alice/Entwürfe" >b.alice &&
	test "$(wc -l <b.alice)" = 10 &&
	grep "^INBOX " before | sed "s|^INBOX|Alice/INBOX|" >expect &&
	grep "^Alice/INBOX " b.alice >got &&
	test_cmp expect got &&
	dc_state $B >b.after &&
	grep -v "^Alice/" b.after >b.rest &&
	test_cmp b.before b.rest &&
	dc_subscribed $B >subs &&
	test_grep "^Alice/Entwürfe\$" subs &&
	dc_log_clean
'

test_expect_success 'new files and directories get the owner of the live mailbox' '
	d=$DC_VMAIL/example.com/dave &&
	mkdir -p "$d/cur" "$d/new" "$d/tmp" &&
	chown -R 5001:5002 "$d" &&
	chmod 750 "$d" &&
	touch -d "2026-01-02 03:04:05" "$d" &&
	mb restore "$id" --in-place --mailbox $A --as dave@example.com --folder INBOX --folder Sent --json >r.json &&
	test "$(mb_json_get added r.json)" = 6 &&
	find "$d" -mindepth 1 \( ! -uid 5001 -o ! -gid 5002 \) >wrong &&
	test_must_be_empty wrong &&
	test "$(find "$d/cur" -type f | wc -l)" = 4 &&
	test "$(find "$d/.Sent/cur" "$d/.Sent/new" -type f | wc -l)" = 2 &&
	test "$(stat -c "%a %u" "$d")" = "750 5001" &&
	grep -q "^V	2" "$d/subscriptions" &&
	grep -q "^Sent\$" "$d/subscriptions" &&
	rm -rf "$d"
'

test_expect_success 'bad input changes nothing live' '
	tree_state >tree.before &&
	test_must_fail --exit 1 mb restore "$id" --in-place --mailbox $A --folder Nosuch 2>e1 &&
	test_grep "folder .Nosuch. of mailbox" e1 &&
	test_must_fail --exit 1 mb restore "$id" --in-place --mailbox carol@example.com 2>e2 &&
	test_grep "carol@example.com" e2 &&
	test_must_fail --exit 2 mb restore "$id" --target x --mailbox $A --as $B 2>e3 &&
	test_grep "go with --in-place" e3 &&
	test_must_fail --exit 2 mb restore "$id" --in-place --mailbox $A --folder "a.b" 2>e4 &&
	test_grep "cannot be mapped" e4 &&
	test_must_fail --exit 2 mb restore "$id" --in-place --target x --mailbox $A 2>e5 &&
	test_grep "leave out --target" e5 &&
	test_must_fail --exit 2 mb restore "$id" --in-place --mailbox $A --overwrite 2>e6 &&
	test_must_fail --exit 2 mb restore "$id" --in-place --mailbox $A --as ..@example.com 2>e8 &&
	test_grep "must be USER@DOMAIN" e8 &&
	test_must_fail --exit 1 mb restore "$id" --target x --mailbox $A --folder Sent --folder Nosuch 2>e9 &&
	test_grep "folder .Nosuch. of mailbox .* is not in snapshot" e9 &&
	test_must_fail mb restore "$id" --in-place --mailbox $A --as nobody@example.com 2>e7 &&
	test_grep "not in the live tree" e7 &&
	tree_state >tree.after &&
	test_cmp tree.before tree.after &&
	! test -e x
'

test_expect_success 'a staging restore is the mailbox owner'"'"'s; doveadm import as vmail reads it' '
	mb restore "$id" --target "$SCRATCH/stage" --mailbox $A --folder Sent &&
	test "$(stat -c "%U %a" "$SCRATCH/stage")" = "vmail 700" &&
	ls "$SCRATCH/stage/vmail/example.com/alice" >staged &&
	test_grep -v "^cur\$" staged &&
	dc_doveadm import -u $B "maildir:$SCRATCH/stage/vmail/example.com/alice" Imported ALL &&
	dc_state $B "Imported/Sent" >imp &&
	test "$(wc -l <imp)" = 2 &&
	dc_log_clean
'

test_expect_success 'ls and diff take --mailbox and --folder by the names users see' '
	mb ls "$id" --mailbox $A --folder "Entwürfe" >ls.dr &&
	test_grep "^vmail/example.com/alice/.Entw&APw-rfe/cur\|^vmail/example.com/alice/.Entw&APw-rfe/new/" ls.dr &&
	test_grep -v "Sent\|Archive\|/alice/cur\|/alice/new" ls.dr &&
	mb ls "$id" --mailbox $A --folder INBOX >ls.in &&
	test "$(grep -c "/alice/\(cur\|new\)/" ls.in)" = 4 &&
	test_grep -v "/alice/\." ls.in &&
	test_must_fail --exit 2 mb ls "$id" --mailbox $A --folder "a.b" 2>e &&
	test_grep "cannot be mapped" e &&
	test_must_fail --exit 1 mb ls "$id" --mailbox carol@example.com 2>e &&
	test_grep "nothing of mailbox" e &&
	mb backup --json >b2.json &&
	id2=$(mb_json_get id b2.json) &&
	mb diff --mailbox $A --folder Sent "$id" "$id2" >diff.out &&
	cat diff.out &&
	test_grep "^[-+MF] vmail/example.com/alice/.Sent/" diff.out &&
	test_grep -v "^[-+MF] .*/alice/.Restored\|^[-+MF] .*/alice/cur\|^[-+MF] .*/alice/new" diff.out &&
	mb diff --json --mailbox $A --folder Sent "$id" "$id2" >diff.json &&
	python3 -c "import json,sys; d=json.load(open(\"diff.json\")); assert all(\"/.Sent/\" in e[\"path\"] for e in d[\"entries\"]), d; assert d[\"total\"][\"new\"] == sum(e[\"kind\"] == \"new\" for e in d[\"entries\"])"
'

test_expect_success 'mail_crypt keys that differ from the snapshot'"'"'s are reported' '
	mkdir -p crypt &&
	printf "old private key\n" >crypt/ecprivkey.pem &&
	printf "old public key\n" >crypt/ecpubkey.pem &&
	mb_write_config "[source vmail]" "type = maildir" "path = $DC_VMAIL" \
		"[source crypt]" "type = files" "path = $SCRATCH/crypt" &&
	mb backup --json >b3.json &&
	id3=$(mb_json_get id b3.json) &&
	dc_doveadm expunge -u $A mailbox Sent HEADER Message-ID se2 &&
	mb restore "$id3" --in-place --mailbox $A --folder Sent 2>ok.err &&
	test_grep -v "mail_crypt" ok.err &&
	dc_doveadm expunge -u $A mailbox Sent HEADER Message-ID se2 &&
	printf "new private key\n" >crypt/ecprivkey.pem &&
	{ mb restore "$id3" --in-place --mailbox $A --folder Sent 2>warn.err; echo "exit $?" >warn.rc; } && cat warn.err warn.rc && test_grep "exit 3" warn.rc &&
	test_grep "mail_crypt key .*ecprivkey.pem. differs" warn.err &&
	test_grep -v "ecpubkey" warn.err &&
	dc_state $A Sent >sent &&
	grep -q "<se2@" sent
'

test_expect_success 'ls --messages: Date, From, Subject, size and flags of each message' '
	mb ls --messages "$id" --mailbox $A --folder INBOX >msgs &&
	cat msgs &&
	test "$(wc -l <msgs)" = 4 &&
	grep "^INBOX	Mon, 30 Nov 2026 10:00:00 +0000	sender@example.org	message in1	[0-9]*	Sa\$" msgs &&
	grep -q "	message in3	.*	F\$" msgs &&
	mb ls --messages --json "$id" --mailbox $A >msgs.json &&
	python3 -c "import json; d=json.load(open(\"msgs.json\")); s=sorted(m[\"subject\"] for m in d); assert \"message dr1\" in s and \"message ar2\" in s and len(d) == 10, s" &&
	test_must_fail --exit 2 mb ls --messages "$id" 2>e &&
	test_grep "needs --mailbox" e &&
	mkdir -m 700 pubonly &&
	mb_gpg gnupg --export "$HOST_FPR" | mb_gpg pubonly --import &&
	cp "$CONF" nokey.conf &&
	sed -i "s|^gnupg_home = .*|gnupg_home = $SCRATCH/pubonly|" nokey.conf &&
	test_must_fail "$MB_BIN" -c nokey.conf ls --messages "$id" --mailbox $A 2>e &&
	cat e &&
	test "$(wc -l <e)" = 1 &&
	test_grep "secret key" e
'

test_done
