#!/bin/bash
# SPDX-License-Identifier: MIT
# t2007-s3-commit-points: t4040 on S3: a backup stopped (MB_TEST_STOP_AT)
# right before its index or manifest PUT, past lock_timeout, while another
# host takes its lock as stale and prunes. It resumes, finds its lock lost
# (exit 5) and commits nothing; check tells the truth; the next backup
# restores bit-identically.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-s3.sh"

s3_start

paused=
mbt_s3_cleanup() {
	test -n "$paused" && kill -9 $paused 2>/dev/null
	return 0
}
trap 'mbt_rc=$?; mbt_s3_cleanup; (exit $mbt_rc); mbt_cleanup' EXIT

mbc() {
	${MB_BIN_WRAPPER:-} "$MB_BIN" -c "$@"
}

wait_stopped() {
	local i=0
	while :; do
		case "$(ps -o stat= -p "$1" 2>/dev/null)" in
		T* | t*) return 0 ;;
		'') echo "process $1 is gone" >&2; return 1 ;;
		esac
		i=$((i + 1))
		test $i -lt 6000 || return 1
		sleep 0.01
	done
}

restore_is() {
	rm -rf r &&
	mb restore latest --target "$SCRATCH/r" &&
	mb_compare_trees "$1" r/small
}

test_expect_success 'setup: two hosts on one bucket, lock_timeout 4s' '
	mb_setup_keys &&
	s3_env &&
	mkdir src &&
	echo base >src/base &&
	head -c 200000 /dev/urandom >x.saved &&
	s3_write_config "lock_timeout = 4s" "[source small]" "type = files" \
		"path = $SCRATCH/src" &&
	sed -e "s/^host = .*/host = other/" \
		-e "s#^cache_dir = .*#cache_dir = $SCRATCH/cache-other#" \
		"$CONF" >other.conf &&
	chmod 600 other.conf &&
	mb init &&
	cp x.saved src/x &&
	mb backup --time 2024-01-01T02:00:00Z &&
	rm src/x &&
	mb backup --time 2024-01-02T02:00:00Z &&
	mb forget --keep-last 1
'

for point in index-commit manifest-commit; do
	test_expect_success "stopped before its $point PUT while another host prunes: exit 5, nothing lost" '
		cp x.saved src/x &&
		head -c 50000 /dev/urandom >"src/new-$point" &&
		rm -rf copy && cp -a src copy &&
		{ MB_TEST_STOP_AT='"$point"' "$MB_BIN" -c "$CONF" backup >paused.out 2>&1 & } &&
		paused=$! &&
		wait_stopped $paused &&
		test_must_fail --exit 5 mbc other.conf prune --grace 0 2>err &&
		sleep 5 &&
		mbc other.conf prune --grace 0 2>err &&
		test_grep "stale lock" err &&
		kill -CONT $paused &&
		{ wait $paused; echo $? >paused.rc; } &&
		paused= &&
		cat paused.out &&
		test "$(cat paused.rc)" = 5 &&
		mb check --read-data &&
		mb backup &&
		mb check --read-data &&
		restore_is copy &&
		rm src/x &&
		mb backup &&
		mb forget --keep-last 1
	'
done

test_done
