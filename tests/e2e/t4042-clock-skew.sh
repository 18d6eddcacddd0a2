#!/bin/bash
# SPDX-License-Identifier: MIT
# t4042-clock-skew: a host whose wall clock runs an hour ahead (an
# LD_PRELOAD shim offsets CLOCK_REALTIME, time() and gettimeofday() of its
# process) prunes while another host's backup is in flight, and that backup
# refers to content only a forgotten snapshot held. Lock staleness is judged
# on the pruner's own monotonic clock, so the skew changes nothing: the
# prune holds off, the backup commits, nothing is lost.
. "$(dirname "$0")/lib-test.sh"

mbc() {
	${MB_BIN_WRAPPER:-} "$MB_BIN" -c "$@"
}

gated=
trap 'mbt_rc=$?; test -n "$gated" && kill -9 $gated 2>/dev/null;
	timeout 2 sh -c "echo x >\"\$1\"" sh "$SCRATCH/gate" >/dev/null 2>&1;
	(exit $mbt_rc); mbt_cleanup' EXIT

# the host an hour ahead (ASan wants its runtime first; the shim is tiny)
ahead() {
	LD_PRELOAD=$MB_FAKE_TIME MB_FAKE_TIME_OFFSET=3600 \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		"$MB_BIN" -c ahead.conf "$@"
}

test_expect_success 'the shim moves the wall clock of one process only' '
	test -f "$MB_FAKE_TIME" &&
	t0=$(date +%s) &&
	t1=$(LD_PRELOAD=$MB_FAKE_TIME MB_FAKE_TIME_OFFSET=3600 \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		date +%s) &&
	test $((t1 - t0)) -ge 3590 &&
	test $((t1 - t0)) -le 3610
'

test_expect_success 'setup: two hosts, content only a forgotten snapshot holds' '
	mb_setup_keys &&
	mkdir src &&
	echo base >src/base &&
	head -c 200000 /dev/urandom >x.saved &&
	srcs="[source small]
type = files
path = $SCRATCH/src" &&
	mkfifo gate &&
	mb_write_config "lock_timeout = 10min" "$srcs" &&
	mb_write_config -o gated.conf "lock_timeout = 10min" "$srcs" \
		"[source gate]" "type = command" "command = cat $SCRATCH/gate" &&
	MB_HOST=ahead MB_CACHE_DIR=$SCRATCH/cache-ahead \
		mb_write_config -o ahead.conf "lock_timeout = 10min" "$srcs" &&
	mb init &&
	cp x.saved src/x &&
	mb backup --time 2024-01-01T02:00:00Z &&
	rm src/x &&
	mb backup --time 2024-01-02T02:00:00Z &&
	mb forget --keep-last 1 &&
	cp x.saved src/x &&
	cp -a src copy
'

test_expect_success 'the host an hour ahead does not take the running backup lock as stale' '
	{ "$MB_BIN" -c gated.conf backup --time 2024-01-03T02:00:00Z >gated.out 2>&1 & } &&
	gated=$! &&
	i=0 && until grep -qs "^kind shared" repo/locks/*; do
		sleep 0.05; i=$((i + 1)); test $i -lt 600 || return 1
	done &&
	# its refresh time lies an hour behind the pruner clock: not stale
	test_must_fail --exit 5 ahead prune --grace 0 2>err &&
	cat err &&
	test_grep "locked by a backup on host mbtest" err &&
	sleep 2 &&
	test_must_fail --exit 5 ahead prune --grace 0 2>err &&
	! test_grep "ignoring stale" err &&
	timeout 60 sh -c "echo open >gate" &&
	wait $gated &&
	gated= &&
	cat gated.out &&
	mb check --read-data
'

test_expect_success 'afterwards the skewed host prunes and backs up; everything restores' '
	ahead prune --grace 0 &&
	ahead backup &&
	mb check --read-data &&
	rm -rf r &&
	mb restore latest --target "$SCRATCH/r" &&
	mb_compare_trees copy r/small &&
	id=$(mb snapshots | grep 2024-01-03 | cut -d" " -f1) &&
	rm -rf r &&
	mb restore "$id" --target "$SCRATCH/r" &&
	mb_compare_trees copy r/small
'

test_done
