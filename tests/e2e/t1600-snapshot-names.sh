#!/bin/bash
# SPDX-License-Identifier: MIT
# t1600-snapshot-names: a snapshot object's name (time, host, id) must equal
# its signed manifest's. An old snapshot renamed to a later time is never
# "latest", check exits 4 naming it, and every reader refuses it; names with
# control characters in the host are ignored without reaching the terminal.
. "$(dirname "$0")/lib-test.sh"

test_expect_success 'setup: two snapshots' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 40 --users 2 --domains 1 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	echo one >tree/conf/marker &&
	mb backup --json --time 2025-01-01T02:00:00Z >b1.json &&
	echo two >tree/conf/marker &&
	mb backup --json --time 2025-01-02T02:00:00Z >b2.json &&
	id1=$(mb_json_get id b1.json) && id2=$(mb_json_get id b2.json) &&
	name1=$(basename repo/snapshots/*-$id1) &&
	test "$name1" = "20250101T020000Z-mbtest-$id1" &&
	mb check &&
	cp -a repo repo.good
'

restore_repo() {
	rm -rf repo && cp -a repo.good repo
}

test_expect_success 'the old snapshot renamed to a later time' '
	mv "repo/snapshots/$name1" "repo/snapshots/20991231T235959Z-mbtest-$id1" &&
	mb snapshots >list &&
	test_grep "^$id1  2099-12-31T23:59:59Z" list
'

test_expect_success 'latest skips it (with a warning) and is the real newest' '
	mb ls latest conf/marker >out 2>err &&
	test_grep "20991231T235959Z-mbtest-$id1" err &&
	mb restore latest --target "$SCRATCH/r1" --source conf 2>err &&
	test "$(cat r1/conf/marker)" = two &&
	mb restore-test --json >rt.json 2>err &&
	test_grep "\"$id2\"" rt.json
'

test_expect_success 'check exits 4 and names the renamed object' '
	test_must_fail --exit 4 mb check >out 2>err &&
	test_grep "20991231T235959Z-mbtest-$id1" err &&
	test_grep "renamed" err
'

test_expect_success 'restore, ls, diff and stats refuse it by id' '
	test_must_fail --exit 4 mb restore "$id1" --target "$SCRATCH/r2" 2>err &&
	test_grep "20991231T235959Z-mbtest-$id1" err &&
	test -z "$(ls -A r2 2>/dev/null)" &&
	test_must_fail --exit 4 mb ls "$id1" >out 2>err &&
	test_must_be_empty out &&
	test_grep "20991231T235959Z-mbtest-$id1" err &&
	test_must_fail --exit 4 mb diff "$id1" "$id2" >out 2>err &&
	test_grep "20991231T235959Z-mbtest-$id1" err &&
	test_must_fail --exit 4 mb stats >out 2>err &&
	test_grep "20991231T235959Z-mbtest-$id1" err &&
	test_must_fail --exit 4 mb restore-test "$id1" >out 2>err &&
	test_grep "20991231T235959Z-mbtest-$id1" err
'

test_expect_success 'forget --keep-last 1 keeps the real newest and the renamed one' '
	mb forget --keep-last 1 --dry-run --json >f.json 2>err &&
	test_grep "20991231T235959Z-mbtest-$id1" err &&
	python3 - "$id1" "$id2" f.json <<-\EOF &&
	import json, sys
	id1, id2, path = sys.argv[1:]
	got = {s["id"]: (s["action"], s["reasons"])
	       for s in json.load(open(path))["snapshots"]}
	assert got[id2] == ("keep", ["last", "newest"]), got
	assert got[id1][0] == "keep" and "unverified" in got[id1][1], got
	EOF
	mb forget --keep-last 1 2>err &&
	test -f "repo/snapshots/20991231T235959Z-mbtest-$id1" &&
	test "$(ls repo/snapshots | wc -l)" = 2
'

test_expect_success 'a time or id moved into another name is refused too' '
	restore_repo &&
	mv "repo/snapshots/$name1" "repo/snapshots/20250101T020001Z-mbtest-$id1" &&
	test_must_fail --exit 4 mb check 2>err &&
	test_grep "20250101T020001Z-mbtest-$id1" err &&
	restore_repo &&
	mv "repo/snapshots/$name1" "repo/snapshots/20250101T020000Z-other-$id1" &&
	test_must_fail --exit 4 mb ls "$id1" 2>err &&
	test_grep "20250101T020000Z-other-$id1" err
'

test_expect_success 'the only snapshot renamed: latest is an error, not it' '
	restore_repo &&
	rm "repo/snapshots/$name1" &&
	name2=$(basename repo/snapshots/*-$id2) &&
	mv "repo/snapshots/$name2" "repo/snapshots/20991231T235959Z-mbtest-$id2" &&
	test_must_fail --exit 4 mb ls latest >out 2>err &&
	test_must_be_empty out &&
	test_grep "20991231T235959Z-mbtest-$id2" err &&
	test_grep "matches its manifest" err
'

test_expect_success 'a host with control characters is no snapshot name' '
	restore_repo &&
	esc=$(printf "\033") &&
	cp "repo/snapshots/$name1" \
		"repo/snapshots/20260101T000000Z-ho${esc}[2Jst-$id1" &&
	mb snapshots >out 2>err &&
	test_grep -v "$esc" out &&
	test_grep -v "$esc" err &&
	test_grep "not a snapshot name" err &&
	test_grep -F "ho\\033[2Jst" err &&
	test "$(wc -l <out)" = 2 &&
	mb restore latest --target "$SCRATCH/r3" --source conf 2>err &&
	test "$(cat r3/conf/marker)" = two &&
	test_grep -v "$esc" err
'

test_expect_success 'a bad --host is a usage error' '
	test_must_fail --exit 2 mb ls --host "a b" latest 2>err &&
	test_grep "bad host" err
'

test_done
