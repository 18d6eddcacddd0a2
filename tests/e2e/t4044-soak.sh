#!/bin/bash
# SPDX-License-Identifier: MIT
# t4044-soak: three hosts back up into one local repository, each with new
# content every round, while a fourth runs forget --prune in a loop with no
# grace. Bounded to a few rounds (about a minute). Every backup commits
# (--wait rides over the prunes); at the end check --read-data passes and
# every remaining snapshot restores to the digest recorded at backup time.
. "$(dirname "$0")/lib-test.sh"

mbc() {
	${MB_BIN_WRAPPER:-} "$MB_BIN" -c "$@"
}

# digest DIR: one hash over the names and contents of its files
digest() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) |
		sha256sum | cut -d" " -f1
}

ROUNDS=${MB_SOAK_ROUNDS:-6}

test_expect_success 'setup: three hosts and a pruner on one repository' '
	mb_setup_keys &&
	for h in h1 h2 h3; do
		mkdir "src-$h" &&
		echo "$h" >"src-$h/host" &&
		MB_HOST=$h MB_CACHE_DIR=$SCRATCH/cache-$h mb_write_config \
			-o "$h.conf" "vanished_snapshots = warning" \
			"[source small]" "type = files" \
			"path = $SCRATCH/src-$h" || return 1
	done &&
	MB_HOST=pruner MB_CACHE_DIR=$SCRATCH/cache-pruner mb_write_config \
		-o pruner.conf "[source small]" "type = files" \
		"path = $SCRATCH/src-h1" &&
	mbc h1.conf init
'

# host H: ROUNDS backups, each with a new file and one file dropped
host_loop() {
	local h=$1 i
	for i in $(seq 1 $ROUNDS); do
		head -c $((20000 + i * 7000)) /dev/urandom >"src-$h/f$i"
		rm -f "src-$h/f$((i - 2))"
		rc=0
		mbc "$h.conf" backup --json --wait 120s >"$h-$i.json" \
			2>"$h-$i.err" || rc=$?
		echo "$h $i $rc" >>rc.log
		id=$(mb_json_get id "$h-$i.json" 2>/dev/null)
		test -n "$id" && echo "$id $(digest "src-$h")" >>digests
		# a gap of its own per host, so that prunes get their turns
		sleep "0.$((RANDOM % 9 + 1))"
	done
}

test_expect_success 'backups of three hosts and a pruner in a loop' '
	: >rc.log && : >digests && : >prune.log &&
	{ host_loop h1 & } && p1=$! &&
	{ host_loop h2 & } && p2=$! &&
	{ host_loop h3 & } && p3=$! &&
	while kill -0 $p1 2>/dev/null || kill -0 $p2 2>/dev/null ||
		kill -0 $p3 2>/dev/null; do
		mbc pruner.conf forget --keep-last 2 --prune --grace 0 \
			--max-unused 0 >/dev/null 2>&1
		echo "prune $?" >>prune.log
		sleep 0.1
	done &&
	wait $p1 $p2 $p3 &&
	sort prune.log | uniq -c &&
	cat rc.log &&
	grep -v " 0\$" rc.log | while read -r h i rc; do cat "$h-$i.err"; done;
	test "$(wc -l <rc.log)" = $((3 * ROUNDS)) &&
	! grep -v " 0\$" rc.log &&
	! grep -v "prune [05]\$" prune.log &&
	grep -q "prune 0" prune.log
'

test_expect_success 'check --read-data, and every snapshot restores to its digest' '
	mbc pruner.conf forget --keep-last 2 --prune --grace 0 &&
	mbc h1.conf check --read-data &&
	mbc h1.conf snapshots | cut -d" " -f1 >ids &&
	test "$(wc -l <ids)" = 6 &&
	while read -r id; do
		rm -rf r &&
		mbc h1.conf restore "$id" --target "$SCRATCH/r" &&
		want=$(grep "^$id " digests | cut -d" " -f2) &&
		test -n "$want" &&
		test "$(digest r/small)" = "$want" || return 1
	done <ids
'

test_done
