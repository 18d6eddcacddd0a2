#!/bin/bash
# SPDX-License-Identifier: MIT
# t1640-clock-shim: real clock changes, made with the LD_PRELOAD shim of tests/shim (fake-time.c) that
# shifts time(), gettimeofday() and CLOCK_REALTIME for one process (and its
# gpg): a clock before 2000 is refused; a clock that jumped back does not
# make backup --prune forget the snapshot it has just made; a host whose
# clock runs days ahead writes a snapshot that latest skips, forget sets
# aside and a reader refuses by its signature time.
. "$(dirname "$0")/lib-test.sh"

# clock_at OFFSET CMD...: run CMD with this host's clock shifted by OFFSET seconds
clock_at() {
	local off=$1
	shift
	MB_FAKE_TIME_OFFSET=$off LD_PRELOAD=$MB_FAKE_TIME \
	ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 "$@"
}

DAY=86400

test_expect_success 'setup: the shim shifts the clock' '
	test -f "$MB_FAKE_TIME" &&
	test "$(clock_at $((-10 * DAY)) date +%s)" -lt "$(( $(date +%s) - 9 * DAY ))" &&
	# keys made a month ago: a key is not valid before its creation
	clock_at $((-30 * DAY)) mb_setup_keys &&
	gpgconf --homedir "$SCRATCH/gnupg" --kill gpg-agent &&
	mb_gen_tree tree --messages 20 --users 2 --domains 1 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" \
		"[retention]" "keep_last = 1" &&
	mb init
'

test_expect_success 'a clock before 2000 is refused' '
	test_must_fail --exit 2 clock_at $(( 631152000 - $(date +%s) )) mb backup 2>err &&
	test_grep "clock says 1990-01-01" err &&
	test -z "$(ls repo/snapshots)"
'

test_expect_success 'a clock that jumped back 12 hours: backup --prune keeps its snapshot' '
	mb backup --json >now.json &&
	clock_at $((-DAY / 2)) mb backup --json --prune >back.json &&
	idn=$(mb_json_get id now.json) && idb=$(mb_json_get id back.json) &&
	ls repo/snapshots >list &&
	test_grep -- "-$idn\$" list &&
	test_grep -- "-$idb\$" list &&
	mb check &&
	mb restore "$idb" --target "$SCRATCH/rb" --source conf
'

test_expect_success 'a host whose clock runs three days ahead' '
	clock_at $((3 * DAY)) mb backup --json >ahead.json &&
	ida=$(mb_json_get id ahead.json) &&
	test -n "$ida"
'

test_expect_success 'latest skips it, named, and takes the newest of now' '
	mb ls latest conf >/dev/null 2>err &&
	test_grep "$ida" err &&
	test_grep "ahead of this host.s clock" err &&
	mb restore-test --json >rt.json 2>/dev/null &&
	test_grep "\"$idn\"" rt.json
'

test_expect_success 'its signature is refused by id (exit 4), until its time' '
	test_must_fail --exit 4 mb ls "$ida" >out 2>err &&
	test_grep "signature made at" err &&
	clock_at $((3 * DAY)) mb ls "$ida" conf >/dev/null
'

test_expect_success 'forget keeps it aside and keeps the real newest' '
	mb forget --keep-last 1 2>err &&
	test_grep "$ida" err &&
	ls repo/snapshots >list &&
	test_grep -- "-$ida\$" list &&
	test_grep -- "-$idn\$" list &&
	test_grep -v -- "-$idb\$" list
'

test_done
