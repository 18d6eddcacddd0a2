#!/bin/bash
# SPDX-License-Identifier: MIT
# t1000-basic: keygen, init, backup, snapshots, ls on a small tree; exit codes
# of usage and configuration errors.
. "$(dirname "$0")/lib-test.sh"

test_expect_success 'keygen prints a fingerprint and makes a keyring' '
	mb_setup_keys &&
	test -n "$HOST_FPR" &&
	mb_gpg gnupg --list-secret-keys --with-colons >keys &&
	grep "^fpr:*$HOST_FPR:" keys
'

test_expect_success 'a small tree' '
	mb_gen_tree tree --messages 200 --users 6 --domains 2 --odd-names &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")"
'

test_expect_success 'init creates a signed repository description' '
	mb init &&
	test -f repo/mailbackup.repo &&
	mb_gpg gnupg --verify repo/mailbackup.repo 2>verify &&
	grep "^recipient $HOST_FPR" repo/mailbackup.repo &&
	grep "^signer $HOST_FPR" repo/mailbackup.repo
'

test_expect_success 'init refuses an existing repository' '
	cp repo/mailbackup.repo before &&
	test_must_fail --exit 1 mb init 2>err &&
	test_grep "exists" err &&
	cmp before repo/mailbackup.repo
'

test_expect_success 'no snapshot yet: nothing listed' '
	mb snapshots >out &&
	test "$(wc -l <out)" -le 1
'

test_expect_success 'backup --json reports what it stored' '
	mb backup --json --time 2025-01-01T02:00:00Z >b1.json &&
	id1=$(mb_json_get id b1.json) &&
	test -n "$id1" &&
	files=$(mb_json_get files b1.json) &&
	test "$files" = "$(find tree -type f -printf x | wc -c)" &&
	test "$(mb_json_get bytes_read b1.json)" = "$(mb_json_get bytes_total b1.json)" &&
	test "$(mb_json_get warnings b1.json)" = 0 &&
	test "$(mb_json_get packs b1.json)" -ge 1 &&
	ls repo/snapshots >names &&
	test_grep "^20250101T020000Z-mbtest-$id1\$" names
'

test_expect_success PYTHON3 'backup --json is valid JSON' '
	python3 -m json.tool b1.json >/dev/null
'

test_expect_success 'the repository names no path, mailbox or domain' '
	find repo >objects &&
	test_grep -v -e birchwood -e cedarline -e vmail -e "\.mail" objects &&
	for f in repo/snapshots/* repo/index/* repo/packs/*/*; do
		! grep -a -q -e "vmail/" -e birchwood -e "Subject: " "$f" || {
			echo "plaintext in $f"; return 1; }
	done
'

test_expect_success 'packs are named by the SHA-256 of their bytes' '
	for p in repo/packs/*/*; do
		h=$(sha256sum <"$p" | cut -c1-64) &&
		test "$p" = "repo/packs/$(printf %s "$h" | cut -c1-2)/$h" || {
			echo "misnamed pack $p"; return 1; }
	done
'

test_expect_success 'a second backup at another time' '
	mb backup --json --time 1735704000 >b2.json &&
	id2=$(mb_json_get id b2.json) &&
	test "$id2" != "$id1" &&
	test "$(mb_json_get bytes_new b2.json)" = 0 &&
	test "$(mb_json_get files_new b2.json)" = 0 &&
	test "$(mb_json_get packs b2.json)" = 0
'

test_expect_success 'snapshots lists both, oldest first, with time and host' '
	mb snapshots >list &&
	cat >expect <<-EOF &&
	$id1  2025-01-01T02:00:00Z  mbtest
	$id2  2025-01-01T04:00:00Z  mbtest
	EOF
	test_cmp expect list
'

test_expect_success 'snapshots --json' '
	mb snapshots --json >list.json &&
	test_grep "\"id\":\"$id1\"" list.json &&
	test_grep "\"id\":\"$id2\"" list.json &&
	test_grep "\"name\":\"20250101T040000Z-mbtest-$id2\"" list.json &&
	test_grep "\"host\":\"mbtest\"" list.json
'

test_expect_success PYTHON3 'snapshots --json is valid JSON, in order' '
	python3 -m json.tool list.json >/dev/null &&
	python3 -c "import json,sys; l = json.load(open(\"list.json\"))
assert [s[\"id\"] for s in l] == [\"$id1\", \"$id2\"], l
assert l[0][\"time\"] == \"2025-01-01T02:00:00Z\", l"
'

test_expect_success 'ls lists every entry as SOURCE/PATH' '
	mb ls "$id1" >ls.out &&
	(cd tree && find vmail dkim conf -mindepth 1) | LC_ALL=C sort >all &&
	# a name that is not valid UTF-8 is printed quoted, with octal
	# escapes (mailbackup(1)): compare the others, count those
	LC_ALL=C.UTF-8 grep -ax ".*" all >expect &&
	test "$(LC_ALL=C.UTF-8 grep -avxc ".*" all)" = "$(grep -ac "^\"" ls.out)" &&
	grep -a -v "^\(vmail\|dkim\|conf\)\$" ls.out | grep -av "^\"" |
		LC_ALL=C sort >actual &&
	test_cmp expect actual
'

test_expect_success 'ls accepts latest and a unique id prefix' '
	mb ls latest >latest.out &&
	mb ls "$id2" >id2.out &&
	test_cmp id2.out latest.out &&
	prefix=$(printf %s "$id1" | cut -c1-8) &&
	mb ls "$prefix" >prefix.out &&
	test_cmp ls.out prefix.out
'

test_expect_success 'ls PATH lists only that subtree' '
	mb ls latest dkim >dkim.out &&
	(cd tree && find dkim) | LC_ALL=C sort >expect &&
	LC_ALL=C sort dkim.out >actual &&
	test_cmp expect actual
'

test_expect_success 'ls -l shows type, mode, owner, size, time and hash' '
	mb ls -l latest conf >long.out &&
	f=conf/postfix/main.cf &&
	line=$(grep -a " $f\$" long.out) &&
	set -- $line &&
	test "$1" = f &&
	test "$2" = 0644 &&
	test "$3" = "$(stat -c %u:%g tree/$f)" &&
	test "$4" = "$(stat -c %s tree/$f)" &&
	test "$5" = "$(date -u -d @$(stat -c %Y tree/$f) +%Y-%m-%dT%H:%M:%SZ)" &&
	test "$6" = "$(sha256sum <tree/$f | cut -c1-64)"
'

test_expect_success 'ls -l shows a symlink with its target' '
	mb ls -l latest vmail >vlong.out &&
	test_grep "^l .* -> sieve/roundcube.sieve\$" vlong.out
'

test_expect_success 'an unknown snapshot is an error that says what to do' '
	test_must_fail --exit 1 mb ls 0000000000000000 2>err &&
	test_grep "no snapshot" err &&
	test_must_fail mb restore 0000000000000000 --target r0 2>err &&
	test_grep "no snapshot" err &&
	! test -e r0
'

test_expect_success 'usage errors exit 2' '
	test_must_fail --exit 2 mb frobnicate 2>err &&
	test_must_fail --exit 2 mb backup --no-such-option 2>err &&
	test_must_fail --exit 2 mb restore latest 2>err &&
	test_grep -e "--target" err &&
	test_must_fail --exit 2 mb ls 2>err &&
	test_must_fail --exit 2 "$MB_BIN" keygen 2>err
'

test_expect_success '--help exits 0 and prints a synopsis' '
	"$MB_BIN" --help >out &&
	test_grep "usage: mailbackup" out &&
	for c in init backup snapshots ls restore check keygen; do
		"$MB_BIN" $c --help >out &&
		test_grep "usage: mailbackup.* $c" out || return 1
	done
'

test_expect_success 'configuration errors exit 2' '
	test_must_fail --exit 2 "$MB_BIN" -c "$SCRATCH/nonexistent.conf" snapshots 2>err &&
	test_grep "nonexistent.conf" err &&
	printf "[bogus]\nx = 1\n" >bad.conf &&
	test_must_fail --exit 2 "$MB_BIN" -c bad.conf snapshots 2>err &&
	test_grep "bad.conf:1" err &&
	mb_write_config -o bad2.conf "[source x]" "type = nosuchtype" "path = /" &&
	test_must_fail --exit 2 "$MB_BIN" -c bad2.conf backup 2>err &&
	test_grep "nosuchtype" err
'

test_expect_success 'MAILBACKUP_CONFIG names the configuration' '
	MAILBACKUP_CONFIG=$CONF "$MB_BIN" snapshots >env.out &&
	test_cmp list env.out
'

test_expect_success 'check passes on an intact repository' '
	mb check &&
	mb check --read-data &&
	mb check --read-data=50
'

test_done
