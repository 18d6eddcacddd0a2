#!/bin/bash
# SPDX-License-Identifier: MIT
# t4030-locks: backup and prune beside each other. A running backup holds a
# shared lock: prune exits 5, another host's backup shares it, a second
# backup on the same host exits 5. A running prune holds an exclusive lock:
# backup exits 5. Locks are refreshed while held; locks of dead processes,
# and of other hosts not refreshed within lock_timeout, are ignored with a
# warning and removed by unlock. Nothing is lost on the way.
#
# A backup is held in the middle of its run by a command source reading a
# FIFO (the "gate"); a prune by SIGSTOP once its lock is there.
. "$(dirname "$0")/lib-test.sh"

# mailbackup with another configuration file (under MB_BIN_WRAPPER too)
mbc() {
	${MB_BIN_WRAPPER:-} "$MB_BIN" -c "$@"
}

# A failed test may leave the gated backup or the stopped prune behind: end
# them before lib-test.sh removes the scratch directory.
gated= pruner=
trap 'mbt_rc=$?; for p in $gated $pruner; do kill -9 $p; done 2>/dev/null;
	(exit $mbt_rc); mbt_cleanup' EXIT

if command -v strace >/dev/null 2>&1 &&
	strace -f -qq -o /dev/null -e trace=fsync -e inject=fsync:error=EIO \
		true >/dev/null 2>&1; then
	test_set_prereq STRACE
fi

# LeakSanitizer cannot run under ptrace: no leak check for traced runs
MB_ASAN_PTRACE="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# wait_stopped PID: until the process is stopped (state T or t)
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
		if test $i -ge 3000; then
			echo "wait_stopped: process $1 did not stop" >&2
			return 1
		fi
		sleep 0.01
	done
}

# wait_frozen PID REPO: until PID, which runs under strace, holds an
# exclusive lock in REPO and has been stopped for a second. Under strace a
# process is in a tracing stop at each of its system calls, so one look at
# its state does not tell the injected SIGSTOP from a passing stop.
wait_frozen() {
	local i=0 still=0
	while test $still -lt 20; do
		case "$(ps -o stat= -p "$1" 2>/dev/null)" in
		'')
			echo "wait_frozen: process $1 is gone" >&2
			return 1
			;;
		T* | t*)
			grep -q "^kind exclusive\$" "$2"/locks/* 2>/dev/null &&
				still=$((still + 1)) || still=0
			;;
		*) still=0 ;;
		esac
		i=$((i + 1))
		if test $i -ge 1200; then
			echo "wait_frozen: process $1 did not stay stopped" >&2
			return 1
		fi
		sleep 0.05
	done
}

# wait_lock KIND [N]: until N (default 1) lock objects of KIND (shared or
# exclusive) are in the repository
wait_lock() {
	local i=0 n
	while :; do
		n=$(grep -l "^kind $1\$" repo/locks/* 2>/dev/null | wc -l)
		test "$n" -ge "${2:-1}" && return 0
		i=$((i + 1))
		if test $i -ge 3000; then
			echo "wait_lock: no $1 lock after 30 s" >&2
			ls -l repo/locks >&2
			return 1
		fi
		sleep 0.01
	done
}

# open_gate: let the gated backup go on
open_gate() {
	timeout 60 sh -c 'echo open >"$1"' sh "$SCRATCH/gate"
}

# write_lock NAME KIND HOST PID REFRESHED: a lock object as another process
# would have written it
write_lock() {
	printf 'mailbackup-lock 1\nkind %s\nhost %s\npid %s\ncreated %s\nrefreshed %s\n' \
		"$2" "$3" "$4" "$5" "$5" >"repo/locks/$1"
}

restore_latest_is() {
	rm -rf r &&
	mbc "${2:-$CONF}" restore latest --target "$SCRATCH/r" &&
	for s in vmail dkim conf; do
		mb_compare_trees "$1/$s" "r/$s" || return 1
	done
}

test_expect_success 'setup: keys, a tree, a repository, a first backup' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 150 --users 4 --domains 2 --attach-pct 5 &&
	srcs=$(mb_tree_sources "$SCRATCH/tree") &&
	mb_write_config "$srcs" &&
	# the same sources and a command that waits at the gate
	mkfifo gate &&
	mb_write_config -o gated.conf "$srcs" "[source gate]" "type = command" \
		"command = cat $SCRATCH/gate" &&
	# another host backing up into the same repository
	MB_HOST=other MB_CACHE_DIR=$SCRATCH/cache-other \
		mb_write_config -o other.conf "$srcs" &&
	mb init &&
	mb backup --time 2024-06-01T02:00:00Z &&
	cp -a tree copy1
'

test_expect_success 'a backup holds a shared lock while it runs' '
	mb_gen_tree tree --day --seed 2 &&
	cp -a tree copy2 &&
	{ "$MB_BIN" -c gated.conf backup --time 2024-06-02T02:00:00Z >gated.out 2>&1 & } &&
	gated=$! &&
	wait_lock shared &&
	lock=$(grep -l "^kind shared\$" repo/locks/*) &&
	cat "$lock" &&
	test_grep "^host mbtest\$" "$lock" &&
	test_grep "^pid $gated\$" "$lock" &&
	kill -0 $gated
'

test_expect_success 'prune exits 5 while the backup runs, and says why' '
	test_must_fail --exit 5 mb prune 2>err &&
	cat err &&
	test_grep "locked by a backup" err &&
	test_grep "$gated" err &&
	test_must_fail --exit 5 mb forget --keep-last 1 --prune 2>err &&
	test "$(grep -l "^kind exclusive" repo/locks/* | wc -l)" = 0 &&
	kill -0 $gated
'

test_expect_success 'a second backup on the same host exits 5' '
	test_must_fail --exit 5 mb backup --time 2024-06-02T02:30:00Z 2>err &&
	cat err &&
	test_grep "running" err
'

test_expect_success 'a backup of another host shares the lock and commits' '
	mbc other.conf backup --time 2024-06-02T02:10:00Z &&
	mbc other.conf snapshots | grep " other$" &&
	kill -0 $gated
'

test_expect_success 'the gated backup goes on and commits' '
	open_gate &&
	wait $gated &&
	cat gated.out &&
	ls repo/snapshots | grep "^20240602T020000Z-mbtest-" &&
	find repo -path "repo/locks/*" -type f >locks.left &&
	test_must_be_empty locks.left
'

test_expect_success 'everything is there: check --read-data, restore' '
	mb check --read-data &&
	restore_latest_is copy2 other.conf &&
	id=$(mb snapshots | grep "2024-06-02T02:00:00Z  mbtest" | cut -d" " -f1) &&
	rm -rf r && mb restore "$id" --target "$SCRATCH/r" &&
	for s in vmail dkim conf; do
		mb_compare_trees "copy2/$s" "r/$s" || return 1
	done &&
	test "$(cat r/gate/stdout)" = open
'

test_expect_success 'a prune holds an exclusive lock while it runs' '
	mb backup --time 2024-06-02T03:00:00Z &&
	mb forget --keep-last 1 &&
	{ "$MB_BIN" -c "$CONF" prune --max-unused 0 >prune.out 2>&1 & } &&
	pruner=$! &&
	wait_lock exclusive &&
	kill -STOP $pruner &&
	lock=$(grep -l "^kind exclusive\$" repo/locks/*) &&
	test -n "$lock" &&
	test_grep "^pid $pruner\$" "$lock"
'

test_expect_success 'a backup exits 5 while the prune runs, and says why' '
	mb_gen_tree tree --day --seed 3 &&
	cp -a tree copy3 &&
	ls repo/snapshots >before &&
	test_must_fail --exit 5 mb backup --time 2024-06-03T02:00:00Z 2>err &&
	cat err &&
	test_grep "locked by a prune" err &&
	test_grep "$pruner" err &&
	test_must_fail --exit 5 mbc other.conf backup \
		--time 2024-06-03T02:00:00Z 2>err &&
	test_must_fail --exit 5 mb prune 2>err &&
	test_must_fail --exit 5 mb backup --prune --time 2024-06-03T02:00:00Z 2>err &&
	ls repo/snapshots >after &&
	test_cmp before after &&
	# it left no lock of its own behind
	test "$(ls repo/locks | wc -l)" = 1
'

test_expect_success 'the prune goes on and finishes; then the backup runs' '
	kill -CONT $pruner &&
	wait $pruner &&
	cat prune.out &&
	test "$(ls repo/locks | wc -l)" = 0 &&
	mb backup --time 2024-06-03T02:00:00Z &&
	mb check --read-data &&
	restore_latest_is copy3
'

# --- stale locks ------------------------------------------------------------

test_expect_success 'the lock of a dead process on this host is ignored with a warning' '
	{ sh -c "exit 0" & } &&
	dead=$! &&
	wait $dead &&
	! kill -0 $dead 2>/dev/null &&
	now=$(date +%s) &&
	write_lock "mbtest-$dead-$now-0badc0de" exclusive mbtest $dead $now &&
	mb_gen_tree tree --day --seed 4 &&
	cp -a tree copy4 &&
	mb backup --time 2024-06-04T02:00:00Z 2>err &&
	cat err &&
	test_grep "stale lock" err &&
	test_grep "$dead" err &&
	write_lock "mbtest-$dead-$now-0badc0df" shared mbtest $dead $now &&
	mb prune 2>err &&
	test_grep "stale lock" err &&
	restore_latest_is copy4
'

test_expect_success 'unlock removes the locks of dead processes, not live ones' '
	now=$(date +%s) &&
	write_lock "mbtest-$$-$now-11111111" shared mbtest $$ $now &&
	write_lock "elsewhere-4242-$now-22222222" shared elsewhere 4242 $now &&
	mb -v unlock 2>err &&
	cat err &&
	test_grep "2 stale lock" err &&
	ls repo/locks >left &&
	printf "%s\n" "elsewhere-4242-$now-22222222" "mbtest-$$-$now-11111111" >expect &&
	test_cmp expect left &&
	mb unlock &&
	ls repo/locks >left &&
	test_cmp expect left
'

test_expect_success 'a live exclusive lock of this host blocks a backup' '
	now=$(date +%s) &&
	write_lock "mbtest-$$-$now-33333333" exclusive mbtest $$ $now &&
	test_must_fail --exit 5 mb backup --time 2024-06-04T03:00:00Z 2>err &&
	test_grep "locked by a prune" err &&
	rm repo/locks/*
'

# Another host's lock is judged by watching it on this host's monotonic
# clock: seen for the first time it holds (whatever its refresh time says,
# here one long past), unchanged for lock_timeout it is stale.
test_expect_success 'with lock_timeout = 2s, a lock of another host is stale once seen unchanged for 2 s' '
	mb_write_config "lock_timeout = 2s" "$srcs" &&
	mb_write_config -o gated.conf "lock_timeout = 4s" "$srcs" \
		"[source gate]" "type = command" "command = cat $SCRATCH/gate" &&
	old=$(($(date +%s) - 100000)) &&
	write_lock "farhost-778-$old-55555555" exclusive farhost 778 $old &&
	test_must_fail --exit 5 mb backup --time 2024-06-05T02:00:00Z 2>err &&
	test_grep "locked by a prune on host farhost" err &&
	mb unlock &&
	test "$(ls repo/locks | wc -l)" = 1 &&
	sleep 3 &&
	mb backup --time 2024-06-05T02:00:00Z 2>err &&
	test_grep "stale lock" err &&
	test_grep "farhost" err &&
	mb -v unlock 2>err &&
	test_grep "1 stale lock" err &&
	test "$(ls repo/locks | wc -l)" = 0
'

# Hosts may be configured differently: a holder with lock_timeout = 1h
# refreshes only every 15 min. Its lock says so ("timeout 3600"), and a
# host whose own lock_timeout is shorter waits for the holder's.
test_expect_success 'a lock that announces a longer timeout is not stale after ours' '
	old=$(($(date +%s) - 100000)) &&
	write_lock "slowhost-779-$old-66666666" shared slowhost 779 $old &&
	echo "timeout 3600" >>"repo/locks/slowhost-779-$old-66666666" &&
	test_must_fail --exit 5 mb prune 2>err &&
	sleep 3 &&
	test_must_fail --exit 5 mb prune 2>err &&
	test_grep "locked by a backup on host slowhost" err &&
	test_grep "unchanged for 3600s" err &&
	mb unlock &&
	test -f "repo/locks/slowhost-779-$old-66666666" &&
	mb unlock --remove-all &&
	mb backup --time 2024-06-05T03:00:00Z
'

# backup --prune while another host backs up: the snapshot is committed,
# the prune step waits for the next night: exit 0, and the summary says so.
test_expect_success 'backup --prune held off by another host: exit 0, prune_skipped in the summary' '
	now=$(date +%s) &&
	write_lock "busyhost-780-$now-77777777" shared busyhost 780 $now &&
	n=$(ls repo/snapshots | wc -l) &&
	mb_write_config -o ret.conf "$srcs" "[retention]" "keep_last = 50" &&
	mbc ret.conf backup --prune --json --time 2024-06-05T04:00:00Z \
		>bp.json 2>err &&
	test_grep "its prune step did not run" err &&
	test "$(mb_json_get status bp.json)" = ok &&
	test "$(mb_json_get exit_code bp.json)" = 0 &&
	test "$(mb_json_get prune_skipped bp.json)" = True &&
	test "$(ls repo/snapshots | wc -l)" = $((n + 1)) &&
	# no [retention]: a configuration error stays one, the snapshot stays
	test_must_fail --exit 2 mb backup --prune --json \
		--time 2024-06-05T05:00:00Z >bf.json 2>err &&
	test "$(mb_json_get status bf.json)" = failed &&
	test "$(mb_json_get exit_code bf.json)" = 2 &&
	mb_json_get error bf.json | grep "no retention policy" &&
	test "$(ls repo/snapshots | wc -l)" = $((n + 2)) &&
	mb unlock --remove-all
'

test_expect_success 'lock_timeout is checked' '
	mb_write_config -o bad.conf "lock_timeout = 1s" "$srcs" &&
	test_must_fail --exit 2 mbc bad.conf backup 2>err &&
	test_grep "lock_timeout" err &&
	mb_write_config -o bad.conf "lock_timeout = soon" "$srcs" &&
	test_must_fail --exit 2 mbc bad.conf unlock 2>err
'

test_expect_success 'a running backup refreshes its lock: still live after lock_timeout' '
	mb_gen_tree tree --day --seed 5 &&
	cp -a tree copy5 &&
	{ "$MB_BIN" -c gated.conf backup --time 2024-06-06T02:00:00Z >gated.out 2>&1 & } &&
	gated=$! &&
	wait_lock shared &&
	lock=$(grep -l "^kind shared\$" repo/locks/*) &&
	r0=$(sed -n "s/^refreshed //p" "$lock") &&
	grep -x "timeout 4" "$lock" &&
	sleep 4 &&
	r1=$(sed -n "s/^refreshed //p" "$lock") &&
	echo "refreshed $r0 -> $r1" &&
	test "$r1" -gt "$r0" &&
	test_must_fail --exit 5 mb prune 2>err &&
	test_grep "locked by a backup" err &&
	mb unlock &&
	test -f "$lock" &&
	open_gate &&
	wait $gated &&
	restore_latest_is copy5
'

# --- frozen past lock_timeout ------------------------------------------------

# A process that is frozen (SIGSTOP, a suspended VM, a host under heavy swap)
# stops refreshing its lock; after lock_timeout the others rightly take it
# for stale. (4 s here, not the minimum 2 s: the run that must go on, on a
# machine loaded by the rest of the suite, needs its refreshes on time.) When the frozen process wakes up it must notice that it lost its
# lock and stop, before it commits (backup) or deletes (prune).

# Once a bug: a backup frozen past lock_timeout commits a snapshot whose
# content a prune deleted meanwhile. Its refresher writes the lock again when
# it wakes up and mbi_lock_check() only looks at failed writes, not at the
# time the lock went without a refresh.
test_expect_success 'a backup frozen past lock_timeout does not commit over a prune' '
	MB_HOST=other MB_CACHE_DIR=$SCRATCH/cache-other \
		mb_write_config -o other.conf "lock_timeout = 4s" "$srcs" &&
	# content that only a forgotten snapshot holds, in a pack of its own
	head -c 100000 /dev/urandom >lost.saved &&
	cp lost.saved tree/conf/lost &&
	mb backup --time 2024-08-01T02:00:00Z &&
	rm tree/conf/lost &&
	mb backup --time 2024-08-02T02:00:00Z &&
	mb forget --keep-last 1 &&
	# it comes back: the backup finds it in the index and only refers to it
	cp lost.saved tree/conf/lost &&
	cp -a tree copy8 &&
	{ "$MB_BIN" -c gated.conf backup --time 2024-08-03T02:00:00Z >gated.out 2>&1 & } &&
	gated=$! &&
	wait_lock shared &&
	# at the gate: every file is walked, give the hashing a moment
	i=0 && until pgrep -f "cat $SCRATCH/gate" >/dev/null; do
		sleep 0.05; i=$((i + 1)); test $i -lt 600 || return 1
	done &&
	sleep 1 &&
	kill -STOP $gated &&
	# the other host sees the lock for the first time: held
	test_must_fail --exit 5 mbc other.conf prune --grace 0 2>err &&
	sleep 5 &&
	mbc other.conf prune --grace 0 2>err &&
	cat err &&
	test_grep "stale lock" err &&
	kill -CONT $gated &&
	open_gate &&
	{ wait $gated; echo "gated backup: exit $?" >gated.rc; } &&
	cat gated.out gated.rc &&
	gated= &&
	# it noticed that it lost its lock: exit 5, nothing committed
	test_grep "exit 5" gated.rc &&
	test_grep "not refreshed within lock_timeout" gated.out &&
	! mb snapshots | grep "2024-08-03" &&
	mb check --read-data
'

# Once a bug: the same for prune: frozen (here by strace, as it opens a
# sparse pack to repack it) past lock_timeout while another host's backup
# refers to content in a pack the prune has planned to delete, it wakes up
# and deletes it: the backup's snapshot is lost.
test_expect_success STRACE 'a prune frozen past lock_timeout does not delete under a backup' '
	mkdir -p small &&
	echo base >small/base &&
	head -c 50000 /dev/urandom >small/sparse &&
	fsrc="[source small]
type = files
path = $SCRATCH/small" &&
	MB_REPO_URL=$SCRATCH/frepo MB_CACHE_DIR=$SCRATCH/fcache \
		mb_write_config -o f.conf "lock_timeout = 4s" "$fsrc" &&
	MB_REPO_URL=$SCRATCH/frepo MB_CACHE_DIR=$SCRATCH/fcache-other MB_HOST=other \
		mb_write_config -o f-other.conf "lock_timeout = 4s" "$fsrc" &&
	mbc f.conf init &&
	mbc f.conf backup --time 2024-09-01T02:00:00Z &&
	# the content pack ("p"); the listing pack ("q") is not the sparse one
	for ix in frepo/index/*; do
		mb_manifest_decrypt gnupg "$ix" || return 1
	done | awk "\$1 == \"p\" { print \$2 }" >fp &&
	test "$(wc -l <fp)" = 1 &&
	p=$(cat fp) &&
	sparse=frepo/packs/${p%"${p#??}"}/$p &&
	test -f "$sparse" &&
	head -c 100000 /dev/urandom >x.saved &&
	cp x.saved small/x &&
	mbc f.conf backup --time 2024-09-02T02:00:00Z &&
	rm small/x small/sparse &&
	mbc f.conf backup --time 2024-09-03T02:00:00Z &&
	mbc f.conf forget --keep-last 1 &&
	gpgconf --homedir "$SCRATCH/gnupg" --launch gpg-agent &&
	{ ASAN_OPTIONS=$MB_ASAN_PTRACE strace -f -qq -o /dev/null \
		-P "$SCRATCH/$sparse" -e trace=open,openat \
		-e inject=open,openat:signal=STOP:when=1 \
		"$MB_BIN" -c f.conf prune --grace 0 --max-unused 0 >fprune.out 2>&1 & } &&
	tracer=$! &&
	i=0 && until pruner=$(pgrep -P $tracer mailbackup); do
		sleep 0.05; i=$((i + 1)); test $i -lt 600 || return 1
	done &&
	wait_frozen $pruner frepo &&
	test_must_fail --exit 5 mbc f-other.conf backup --time 2024-09-04T02:00:00Z &&
	sleep 5 &&
	cp x.saved small/x &&
	cp -a small fcopy &&
	mbc f-other.conf backup --time 2024-09-04T02:00:00Z 2>err &&
	cat err &&
	test_grep "stale lock" err &&
	kill -CONT $pruner &&
	{ wait $tracer; echo "prune: exit $?"; } &&
	pruner= &&
	cat fprune.out &&
	mbc f.conf check &&
	rm -rf r &&
	mbc f.conf restore latest --host all --target "$SCRATCH/r" &&
	mb_compare_trees fcopy r/small
'

# --- both at once -------------------------------------------------------------

# Backups (with new content each time) and forget --prune runs started
# together, again and again: each one either succeeds or exits 5, and the
# repository stays whole.
test_expect_success 'backups and prunes racing: each succeeds or exits 5, nothing is lost' '
	mkdir tree/conf/race &&
	{
		for i in 1 2 3 4 5 6; do
			head -c 20000 /dev/urandom | base64 >"tree/conf/race/f$i" &&
			mbc "$CONF" backup --time "2024-10-0${i}T02:00:00Z" 2>/dev/null
			echo "backup $?"
		done >race.backup &
	} &&
	racer=$! &&
	for i in 1 2 3 4 5 6; do
		mb forget --keep-last 2 --prune --max-unused 0 >/dev/null 2>&1
		echo "prune $?"
		sleep 0.1
	done >race.prune &&
	wait $racer &&
	cat race.backup race.prune &&
	! grep -v " [05]\$" race.backup race.prune &&
	grep -q "backup 0" race.backup &&
	grep -q "prune 0" race.prune &&
	find repo -path "repo/locks/*" -type f >locks.left &&
	test_must_be_empty locks.left &&
	mb check --read-data &&
	cp -a tree copy6 &&
	mb backup --time 2024-10-10T02:00:00Z &&
	mb prune --max-unused 0 &&
	mb check --read-data &&
	restore_latest_is copy6
'

test_done
