#!/bin/bash
# SPDX-License-Identifier: MIT
# t1610-hosts-dates: two hosts share one repository. latest, restore-test and
# date selectors mean this host's snapshots; --host NAME and --host all
# choose others; a date or time picks the newest snapshot at or before it
# (UTC; a date means the end of that day).
. "$(dirname "$0")/lib-test.sh"

mbc() {
	${MB_BIN_WRAPPER:-} "$MB_BIN" -c "$@"
}

# backup CONF TIME MARKER
bk() {
	echo "$3" >"tree-$1/conf/marker" &&
	mbc "$1.conf" backup --json --time "$2" >"bk-$3.json" &&
	mb_json_get id "bk-$3.json" >"id-$3"
}

# restored CONF MARKER SNAPSHOT [OPTIONS]: restore conf and check the marker
restored() {
	local conf=$1 want=$2
	shift 2
	rm -rf "$SCRATCH/r" &&
	mbc "$conf.conf" restore "$@" --target "$SCRATCH/r" --source conf &&
	test "$(cat "$SCRATCH/r/conf/marker")" = "$want" || {
		echo "restored: got '$(cat "$SCRATCH/r/conf/marker")', want '$want'" >&2
		return 1
	}
}

test_expect_success 'setup: hosts a and b back up into one repository' '
	mb_setup_keys &&
	mb_gen_tree tree-a --messages 20 --users 2 --domains 1 &&
	mb_gen_tree tree-b --messages 20 --users 2 --domains 1 &&
	MB_HOST=hosta MB_CACHE_DIR=$SCRATCH/cache-a mb_write_config -o a.conf \
		"$(mb_tree_sources "$SCRATCH/tree-a")" &&
	MB_HOST=hostb MB_CACHE_DIR=$SCRATCH/cache-b mb_write_config -o b.conf \
		"$(mb_tree_sources "$SCRATCH/tree-b")" &&
	mbc a.conf init &&
	bk a 2025-01-01T02:00:00Z a1 &&
	bk b 2025-01-01T03:00:00Z b1 &&
	bk a 2025-01-02T02:00:30Z a2 &&
	bk b 2025-01-03T02:00:00Z b2 &&
	mbc a.conf snapshots >list &&
	test "$(wc -l <list)" = 4
'

test_expect_success 'latest on each host is its own newest' '
	restored a a2 latest &&
	restored b b2 latest &&
	mbc a.conf ls latest conf/marker >out &&
	test_grep "conf/marker" out
'

test_expect_success '--host all picks the newest of any host, --host NAME that host' '
	restored a b2 latest --host all &&
	restored b a2 latest --host hosta &&
	restored a b2 --host hostb latest
'

test_expect_success 'restore-test takes this host s latest' '
	mbc a.conf restore-test --json >rt.json &&
	test_grep "\"$(cat id-a2)\"" rt.json &&
	mbc a.conf restore-test --json --host all >rt2.json &&
	test_grep "\"$(cat id-b2)\"" rt2.json
'

test_expect_success 'a date means the end of that day (UTC), of this host' '
	restored a a1 2025-01-01 &&
	restored a a2 2025-01-02 &&
	restored a a2 2025-01-05Z &&
	restored b b1 2025-01-02 &&
	restored a b1 2025-01-01 --host all &&
	restored a b1 2025-01-02T01:59 --host all
'

test_expect_success 'a minute covers all its seconds, a second only itself' '
	restored a a2 2025-01-02T02:00 &&
	restored a a1 2025-01-02T02:00:29Z &&
	restored a a2 2025-01-02T02:00:30Z &&
	restored a a1 2025-01-01T02:00:00
'

test_expect_success 'ls, diff and an id still work; ids are of any host' '
	mbc a.conf ls 2025-01-01 conf/marker >out &&
	mbc a.conf diff 2025-01-01 latest >d.out &&
	test_grep "conf/marker" d.out &&
	restored a b1 "$(cat id-b1)"
'

test_expect_success 'a time before the first snapshot is a clear error' '
	test_must_fail mbc a.conf restore 2024-12-31 --target "$SCRATCH/rx" 2>err &&
	test_grep "at or before 2024-12-31T23:59:59Z" err &&
	test_grep "the first is at 2025-01-01T02:00:00Z" err &&
	test -z "$(ls -A rx 2>/dev/null)" &&
	test_must_fail mbc b.conf ls 2025-01-01T02:59 2>err &&
	test_grep "host .hostb." err
'

test_expect_success 'malformed times are usage mistakes, named' '
	test_must_fail mbc a.conf ls 2025-02-30 2>err &&
	test_grep "bad snapshot time .2025-02-30." err &&
	test_must_fail mbc a.conf ls "2025-01-01 02:00" 2>err &&
	test_grep "YYYY-MM-DD" err &&
	test_must_fail mbc a.conf ls 2025-01 2>err &&
	test_grep "bad snapshot time" err
'

test_expect_success 'snapshots --host lists one host' '
	mbc a.conf snapshots --host hostb >out &&
	test "$(wc -l <out)" = 2 &&
	test_grep -v hosta out &&
	mbc a.conf snapshots --json --host hosta >out.json &&
	test_grep "\"$(cat id-a1)\"" out.json &&
	test_grep -v "\"hostb\"" out.json
'

test_expect_success 'a host with none of its own, among several, must choose' '
	MB_HOST=fresh MB_CACHE_DIR=$SCRATCH/cache-f mb_write_config -o f.conf \
		"$(mb_tree_sources "$SCRATCH/tree-a")" &&
	test_must_fail mbc f.conf ls latest 2>err &&
	test_grep "no snapshot of host .fresh." err &&
	test_grep -- "--host" err &&
	mbc f.conf ls --host hosta latest conf/marker
'

test_expect_success 'a fresh machine with one host in the repository takes it' '
	mkdir solo &&
	MB_REPO_URL=$SCRATCH/solo/repo MB_CACHE_DIR=$SCRATCH/cache-s \
		mb_write_config -o s.conf "$(mb_tree_sources "$SCRATCH/tree-a")" &&
	mbc s.conf init &&
	mbc s.conf backup --time 2025-01-01T02:00:00Z &&
	MB_HOST=drbox MB_REPO_URL=$SCRATCH/solo/repo \
		MB_CACHE_DIR=$SCRATCH/cache-dr mb_write_config -o dr.conf \
		"$(mb_tree_sources "$SCRATCH/tree-a")" &&
	mbc dr.conf ls latest conf/marker >out &&
	test_grep "conf/marker" out
'

test_done
