#!/bin/bash
# SPDX-License-Identifier: MIT
# t1630-vanished: the cache records the snapshots this host committed and
# forgot; check (exit 4) and backup (a warning) name those that vanished
# without a forget, such as a deleted snapshot or a repository rolled back.
. "$(dirname "$0")/lib-test.sh"

# name B.JSON: the object name of the snapshot a backup --json reported
name() {
	basename "$(ls repo/snapshots/*-"$(mb_json_get id "$1")")"
}

test_expect_success 'setup: three snapshots' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 20 --users 2 --domains 1 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup --json --time 2025-01-01T02:00:00Z >b1.json &&
	mb backup --json --time 2025-01-02T02:00:00Z >b2.json &&
	mb backup --json --time 2025-01-03T02:00:00Z >b3.json &&
	n1=$(name b1.json) && n2=$(name b2.json) && n3=$(name b3.json) &&
	hist=$(ls cache/*/history) &&
	test "$(grep -c "^commit " "$hist")" = 3 &&
	test_grep "^commit $n1\$" "$hist" &&
	mb check
'

test_expect_success 'a deleted snapshot: check exits 4 and names it' '
	rm "repo/snapshots/$n1" &&
	test_must_fail --exit 4 mb check >out 2>err &&
	test_grep "$n1" err &&
	test_grep "never forgotten" err &&
	test_grep -v "$n2" err
'

test_expect_success 'backup names it in a warning, and still commits' '
	mb backup --json --time 2025-01-04T02:00:00Z >b4.json 2>err &&
	test_grep "warning: .*$n1.*is gone" err &&
	n4=$(name b4.json) &&
	test -f "repo/snapshots/$n4"
'

test_expect_success 'a snapshot this host forgot is not reported' '
	mb forget --keep-last 2 &&
	test ! -f "repo/snapshots/$n2" &&
	test_grep "^forget $n2\$" "$hist" &&
	test_must_fail --exit 4 mb check 2>err &&
	test_grep "$n1" err &&
	test_grep -v "$n2" err
'

test_expect_success 'a repository rolled back to an older copy is noticed' '
	rm -rf "$hist" && mb check &&
	cp -a repo repo.old &&
	mb backup --json --time 2025-01-05T02:00:00Z >b5.json &&
	n5=$(name b5.json) &&
	mb check &&
	rm -rf repo && mv repo.old repo &&
	test_must_fail --exit 4 mb check 2>err &&
	test_grep "$n5" err &&
	test_grep "rolled back" err
'

test_expect_success 'vanished_snapshots = warning: named, exit 0 (a host whose snapshots another host forgets)' '
	cp "$CONF" conf.strict &&
	sed "s/^\[options\]\$/[options]\nvanished_snapshots = warning/" conf.strict >"$CONF" &&
	mb check >out 2>err &&
	test_grep "warning: .*$n5.*is gone" err &&
	test_grep "forgotten by another host" err &&
	cp conf.strict "$CONF" &&
	test_must_fail --exit 4 mb check 2>err
'

test_expect_success 'a fresh cache knows nothing (documented): check passes' '
	mv cache cache.kept &&
	mb check &&
	rm -rf cache && mv cache.kept cache
'

test_expect_success 'a symlinked record is never followed' '
	echo precious >outside &&
	rm -f "$hist" && ln -s "$SCRATCH/outside" "$hist" &&
	mb backup --time 2025-01-06T02:00:00Z 2>err &&
	test_grep "history" err &&
	test "$(cat outside)" = precious &&
	test_must_fail mb check 2>err &&
	test_grep "history" err &&
	test "$(cat outside)" = precious
'

test_expect_success 'a line cut short by a crash does not spoil the next' '
	rm -f "$hist" &&
	mb backup --time 2025-01-07T02:00:00Z &&
	printf "forget 20250107T0200" >>"$hist" &&
	mb backup --json --time 2025-01-08T02:00:00Z >b8.json &&
	n8=$(name b8.json) &&
	test_grep "^commit $n8\$" "$hist" &&
	mb check &&
	rm "repo/snapshots/$n8" &&
	test_must_fail --exit 4 mb check 2>err &&
	test_grep "$n8" err
'

test_expect_success 'a FIFO planted as the record blocks nothing' '
	rm -f "$hist" && mkfifo "$hist" &&
	timeout 60 "$MB_BIN" -c "$CONF" backup --time 2025-01-09T02:00:00Z 2>err &&
	test_grep "plain file" err &&
	test_must_fail timeout 60 "$MB_BIN" -c "$CONF" check 2>err &&
	test_grep "plain file" err
'

test_done
