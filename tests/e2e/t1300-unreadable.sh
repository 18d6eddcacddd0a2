#!/bin/bash
# SPDX-License-Identifier: MIT
# t1300-unreadable: a file or directory that cannot be read is a warning
# that names it; the backup still commits its snapshot and exits 3.
#
# Root reads everything, so as root the test runs mailbackup as the user
# nobody (65534) through setpriv, on files that nobody owns.
. "$(dirname "$0")/lib-test.sh"

if test "$(id -u)" = 0; then
	command -v setpriv >/dev/null 2>&1 ||
		test_skip_all "skipped: root can read everything (and no setpriv to drop root)"
	chmod 0711 "$SCRATCH"
	W=$SCRATCH/u
	mkdir "$W" && chown 65534:65534 "$W"
	as_user() {
		setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
	}
else
	W=$SCRATCH/u
	mkdir "$W"
	as_user() {
		"$@"
	}
fi
mbt_track_gnupg "$W/gnupg"

mbu() {
	as_user "$MB_BIN" -c "$W/mailbackup.conf" "$@"
}

test_expect_success 'setup: a tree, keys and a repository of an unprivileged user' '
	as_user "$MB_GEN" --messages 100 --users 3 --domains 1 "$W/tree" &&
	HOST_FPR=$(as_user "$MB_BIN" keygen --gnupg-home "$W/gnupg" --name "unpriv host") &&
	MB_REPO_URL=$W/repo MB_GNUPG_HOME=$W/gnupg MB_CACHE_DIR=$W/cache \
		mb_write_config -o "$W/mailbackup.conf" "$(mb_tree_sources "$W/tree")" &&
	if test "$(id -u)" = 0; then chown 65534:65534 "$W/mailbackup.conf"; fi &&
	mbu init &&
	# the user really cannot read what is mode 000
	f=$(cd "$W/tree" && find vmail -path "*/cur/*" -type f | head -n 1) &&
	chmod 000 "$W/tree/$f" &&
	test_must_fail as_user cat "$W/tree/$f"
'

test_expect_success 'backup commits and exits 3, naming the file it could not read' '
	test_must_fail --exit 3 mbu backup --json >b.json 2>err &&
	cat b.json err &&
	test_grep "${f##*/}" err &&
	test "$(mb_json_get warnings b.json)" = 1 &&
	id=$(mb_json_get id b.json) &&
	mbu snapshots >list &&
	test_grep "^$id " list
'

test_expect_success 'the snapshot holds everything else' '
	mbu ls "$id" >ls.out &&
	test_grep -v -F "${f##*/}" ls.out &&
	test_grep "^$(dirname "$f")\$" ls.out &&
	mbu restore "$id" --target "$W/r" &&
	! test -e "$W/r/$f" &&
	(cd "$W/tree" && find vmail -type f ! -path "$f") >files &&
	test "$(wc -l <files)" -gt 50 &&
	while IFS= read -r g; do
		cmp "$W/tree/$g" "$W/r/$g" || return 1
	done <files &&
	mb_compare_trees "$W/tree/dkim" "$W/r/dkim" &&
	mb_compare_trees "$W/tree/conf" "$W/r/conf"
'

test_expect_success 'an unreadable directory of a files source: exit 3, named' '
	chmod 644 "$W/tree/$f" &&
	chmod 000 "$W/tree/conf/postfix" &&
	test_must_fail --exit 3 mbu backup --json >b2.json 2>err &&
	chmod 755 "$W/tree/conf/postfix" &&
	cat err &&
	test_grep "conf/postfix" err &&
	test "$(mb_json_get warnings b2.json)" = 1
'

# (once a bug: an unreadable cur/ or new/ of a Maildir was skipped without a
# warning, exit 0: the snapshot silently lacked that folder's messages)
test_expect_success 'an unreadable cur/ of a Maildir: exit 3, named' '
	d=$(cd "$W/tree" && find vmail -type d -name .Sent | head -n 1) &&
	test -n "$(ls "$W/tree/$d/cur")" &&
	chmod 000 "$W/tree/$d/cur" &&
	mbu backup --json >b3.json 2>err
	rc=$?
	chmod 755 "$W/tree/$d/cur" &&
	cat b3.json err &&
	test $rc = 3 &&
	test_grep "$d/cur" err &&
	test "$(mb_json_get warnings b3.json)" = 1
'

test_expect_success 'once readable again, the next backup exits 0' '
	mbu backup --json >b4.json &&
	test "$(mb_json_get warnings b4.json)" = 0
'

test_expect_success 'a source directory that does not exist fails the backup' '
	MB_REPO_URL=$W/repo MB_GNUPG_HOME=$W/gnupg MB_CACHE_DIR=$W/cache \
		mb_write_config -o "$W/missing.conf" "[source gone]" "type = files" \
		"path = $W/no-such-dir" &&
	if test "$(id -u)" = 0; then chown 65534:65534 "$W/missing.conf"; fi &&
	n=$(ls "$W/repo/snapshots" | wc -l) &&
	as_user "$MB_BIN" -c "$W/missing.conf" backup >out 2>err
	rc=$?
	cat err
	echo "exit $rc" &&
	{ test $rc = 1 || test $rc = 3; } &&
	test_grep "no-such-dir" err
'

test_done
