#!/bin/bash
# SPDX-License-Identifier: MIT
# t4040-commit-points: a process stopped right before a commit point (the
# test-only MB_TEST_STOP_AT raises SIGSTOP there) past lock_timeout, while
# another host takes its lock as stale and prunes. When it resumes it proves
# its lock, finds it lost and stops with exit 5 before committing; the
# repository stays restorable, check tells the truth, and the next normal
# backup and restore are bit-identical.
. "$(dirname "$0")/lib-test.sh"

mbc() {
	${MB_BIN_WRAPPER:-} "$MB_BIN" -c "$@"
}

paused=
trap 'mbt_rc=$?; test -n "$paused" && kill -9 $paused 2>/dev/null;
	(exit $mbt_rc); mbt_cleanup' EXIT

wait_stopped() {
	local i=0
	while :; do
		case "$(ps -o stat= -p "$1" 2>/dev/null)" in
		T* | t*) return 0 ;;
		'')
			echo "wait_stopped: process $1 is gone" >&2
			return 1
			;;
		esac
		i=$((i + 1))
		if test $i -ge 6000; then
			echo "wait_stopped: process $1 did not stop" >&2
			return 1
		fi
		sleep 0.01
	done
}

# start_paused POINT CONF ARGS...: run mailbackup until it stops at POINT
start_paused() {
	local point=$1 conf=$2
	shift 2
	{ MB_TEST_STOP_AT=$point "$MB_BIN" -c "$conf" "$@" >paused.out 2>&1 & } &&
	paused=$! &&
	wait_stopped $paused
}

# resume_paused: let it go on; its exit code in paused.rc
resume_paused() {
	kill -CONT $paused &&
	{ wait $paused; echo $? >paused.rc; } &&
	paused= &&
	cat paused.out paused.rc
}

# other_takes_stale PRUNE-ARGS...: host "other" sees the stopped run's
# lock, holds off (exit 5), and after lock_timeout takes it as stale
other_takes_stale() {
	test_must_fail --exit 5 mbc other.conf "$@" 2>err &&
	test_grep "locked by" err &&
	sleep 5 &&
	mbc other.conf "$@" 2>err &&
	cat err &&
	test_grep "stale lock" err
}

restore_is() {
	rm -rf r &&
	mbc "$CONF" restore "$2" --host all --target "$SCRATCH/r" &&
	mb_compare_trees "$1" r/small
}

test_expect_success 'setup: keys, two hosts on one repository, lock_timeout 4s' '
	mb_setup_keys &&
	mkdir src &&
	echo base >src/base &&
	head -c 200000 /dev/urandom >x.saved &&
	head -c 200000 /dev/urandom >y.saved &&
	head -c 200000 /dev/urandom >z.saved &&
	srcs="[source small]
type = files
path = $SCRATCH/src" &&
	mb_write_config "lock_timeout = 4s" "$srcs" &&
	MB_HOST=other MB_CACHE_DIR=$SCRATCH/cache-other \
		mb_write_config -o other.conf "lock_timeout = 4s" "$srcs" &&
	mb init &&
	cp x.saved src/x &&
	mb backup --time 2024-01-01T02:00:00Z &&
	rm src/x &&
	mb backup --time 2024-01-02T02:00:00Z &&
	mb forget --keep-last 1 &&
	test "$(mb snapshots | wc -l)" = 1
'

# Content only a forgotten snapshot held comes back: the backup refers to
# its pack. Stopped at its index commit, another host prunes that pack (and
# the backup's new pack, with no grace). Once this was an index naming a
# deleted pack, which every later backup dedup'ed against.
test_expect_success 'stopped at its index commit while another host prunes: exit 5, nothing committed' '
	cp x.saved src/x &&
	cp y.saved src/y &&
	cp -a src copy1 &&
	find repo/packs -type f | sort >packs.before &&
	start_paused index-commit "$CONF" backup --time 2024-01-03T02:00:00Z &&
	other_takes_stale prune --grace 0 &&
	find repo/packs -type f | sort >packs.after &&
	! test_cmp packs.before packs.after >/dev/null &&
	resume_paused &&
	test "$(cat paused.rc)" = 5 &&
	test_grep "lock" paused.out &&
	! mb snapshots | grep 2024-01-03 &&
	mb check --read-data
'

test_expect_success 'the next backup stores the content again and restores bit-identically' '
	mb backup --time 2024-01-04T02:00:00Z &&
	mb check --read-data &&
	restore_is copy1 latest
'

test_expect_success 'stopped at its manifest commit while another host prunes: exit 5, check is clean' '
	cp z.saved src/z &&
	cp -a src copy2 &&
	start_paused manifest-commit "$CONF" backup --time 2024-01-05T02:00:00Z &&
	other_takes_stale prune --grace 0 &&
	resume_paused &&
	test "$(cat paused.rc)" = 5 &&
	! mb snapshots | grep 2024-01-05 &&
	mb check --read-data &&
	mb backup --time 2024-01-06T02:00:00Z &&
	mb check --read-data &&
	restore_is copy2 latest
'

# With the default grace, the stopped backup packs survive the prune and
# stay in the index: the next backup refers to them.
test_expect_success PYTHON3 'with the default grace, a prune keeps the young packs of a stopped backup' '
	head -c 150000 /dev/urandom >src/w &&
	cp -a src copy3 &&
	start_paused manifest-commit "$CONF" backup --time 2024-01-07T02:00:00Z &&
	test_must_fail --exit 5 mbc other.conf prune 2>err &&
	sleep 5 &&
	mbc other.conf prune --json >p.json 2>err &&
	cat p.json &&
	test "$(mb_json_get packs_young p.json)" -ge 1 &&
	test "$(mb_json_get packs_deleted p.json)" = 0 &&
	resume_paused &&
	test "$(cat paused.rc)" = 5 &&
	mb check --read-data &&
	mb backup --json --time 2024-01-08T02:00:00Z >b.json &&
	test "$(mb_json_get files_new b.json)" = 0 &&
	mb check --read-data &&
	restore_is copy3 latest
'

# A prune stopped right before its first delete (its new index written)
# while another host's backup takes its lock as stale and refers to content
# in a pack the prune planned to delete: the prune wakes, finds its lock
# lost and deletes nothing.
test_expect_success 'a prune stopped before its first delete deletes nothing once its lock is lost' '
	rm src/w &&
	mb backup --time 2024-01-09T02:00:00Z &&
	mb forget --keep-last 1 &&
	start_paused prune-delete "$CONF" prune --grace 0 &&
	cp copy3/w src/w &&
	cp -a src copy4 &&
	other_takes_stale backup --time 2024-01-10T02:00:00Z &&
	resume_paused &&
	test "$(cat paused.rc)" = 5 &&
	test_grep "lock" paused.out &&
	mb check --read-data &&
	restore_is copy4 latest &&
	mb prune --grace 0 &&
	mb check --read-data &&
	restore_is copy4 latest
'

# backup --wait: a backup that finds a prune at work retries instead of
# failing; the prune is held at its first delete for 3 s, then goes on.
test_expect_success 'backup --wait retries while a prune holds the lock' '
	mb_write_config -o wait.conf "lock_timeout = 1min" "$srcs" &&
	head -c 100000 /dev/urandom >src/u &&
	mbc wait.conf backup --time 2024-01-11T01:00:00Z &&
	rm src/u &&
	echo waited >src/waited &&
	cp -a src copy5 &&
	mbc wait.conf backup --time 2024-01-11T02:00:00Z &&
	mbc wait.conf forget --keep-last 1 &&
	start_paused prune-delete wait.conf prune --grace 0 &&
	test_must_fail --exit 5 mbc wait.conf backup --time 2024-01-12T02:00:00Z 2>err &&
	test_grep "locked by a prune" err &&
	{ (sleep 3; kill -CONT $paused) & } &&
	mbc wait.conf -v backup --wait 60s --time 2024-01-12T02:00:00Z 2>err &&
	cat err &&
	test_grep "waiting" err &&
	wait $paused &&
	paused= &&
	mb check --read-data &&
	restore_is copy5 latest
'

test_done
