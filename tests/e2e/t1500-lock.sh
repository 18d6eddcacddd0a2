#!/bin/bash
# SPDX-License-Identifier: MIT
# t1500-lock: two backups on one host never overlap: the second one exits 5
# while the first holds the lock; a killed backup leaves no lock behind that
# blocks the next one, and no snapshot.
. "$(dirname "$0")/lib-test.sh"

# A source that takes its time: a command that says it started, then waits
# for the test to let it go (or 60 s at most).
slow_source() {
	cat <<-EOF
	[source slow]
	type = command
	command = touch $SCRATCH/started; i=0; while ! test -e $SCRATCH/go && test \$i -lt 600; do sleep 0.1; i=\$((i + 1)); done; echo slow data
	filename = slow.txt
	EOF
}

wait_for() {
	local i=0
	while ! test -e "$1"; do
		i=$((i + 1))
		test $i -lt 600 || {
			echo "waited 60 s for $1"
			return 1
		}
		sleep 0.1
	done
}

test_expect_success 'setup: a small tree and a slow source' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 50 --users 2 --domains 1 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" "$(slow_source)" &&
	mb init
'

test_expect_success 'a second backup exits 5 while the first one runs' '
	rm -f started go &&
	{ mb backup >b1.out 2>b1.err & } &&
	pid1=$! &&
	wait_for started &&
	test_must_fail --exit 5 mb backup >b2.out 2>b2.err &&
	cat b2.err &&
	test_grep -i "lock" b2.err &&
	touch go &&
	wait $pid1 &&
	cat b1.err &&
	test "$(ls repo/snapshots | wc -l)" = 1
'

test_expect_success 'the lock is gone with the first backup' '
	touch go &&
	mb backup >b3.out 2>b3.err &&
	test "$(ls repo/snapshots | wc -l)" = 2
'

test_expect_success 'a backup killed with SIGKILL leaves no snapshot and no lock in the way' '
	rm -f started go &&
	# not through the mb function: $! must be mailbackup itself
	{ "$MB_BIN" -c "$CONF" backup >b4.out 2>b4.err & } &&
	pid4=$! &&
	wait_for started &&
	kill -9 $pid4 &&
	{ wait $pid4; test $? = 137; } &&
	touch go &&
	test "$(ls repo/snapshots | wc -l)" = 2 &&
	mb backup >b5.out 2>b5.err &&
	test "$(ls repo/snapshots | wc -l)" = 3 &&
	mb check
'

test_expect_success 'the slow source restores' '
	mb restore latest --target "$SCRATCH/r" --source slow &&
	echo "slow data" >expect &&
	test_cmp expect r/slow/slow.txt
'

# stop a backup this test left running (when a test failed half-way)
touch go
for p in ${pid1:-} ${pid4:-}; do
	kill "$p" 2>/dev/null
done
wait

test_done
