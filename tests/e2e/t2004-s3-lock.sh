#!/bin/bash
# SPDX-License-Identifier: MIT
# t2004-s3-lock: with object_lock_days, objects go up with a retention date
# (not the repository locks of running commands), and prune keeps what is
# still locked. s3rver has no Object Lock: the proxy emulates it.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-s3.sh"

s3_start
s3_proxy_start --rate 0 --object-lock

if "$MB_BIN" forget --help >/dev/null 2>&1; then
	test_set_prereq FORGET
fi

config() {
	s3_write_config -e "$S3_PROXY_ENDPOINT" -r "object_lock_days = 2" "$@" \
		"$(mb_tree_sources "$SCRATCH/tree")"
}

test_expect_success 'setup: a locked repository with two snapshots' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 60 --users 2 --domains 1 &&
	s3_env &&
	config &&
	mb init &&
	mb backup --time 2025-01-01T02:00:00Z &&
	mb_gen_tree tree --day --seed 4 &&
	mb backup --time 2025-01-02T02:00:00Z
'

test_expect_success 'every object but the locks carries a retention date' '
	s3_objects repo/ | cut -d" " -f1 >objects &&
	grep "^lock " "$S3_PROXY_LOG" | cut -d" " -f2 | sed "s#^/$S3_BUCKET/##" |
		LC_ALL=C sort -u >locked &&
	test_cmp objects locked &&
	test_grep "^lock /$S3_BUCKET/repo/packs/.* GOVERNANCE 20" "$S3_PROXY_LOG" &&
	test_grep -v "^lock .*/locks/" "$S3_PROXY_LOG"
'

test_expect_success 'the retention date is object_lock_days ahead' '
	until=$(grep "^lock .*mailbackup.repo " "$S3_PROXY_LOG" | cut -d" " -f4) &&
	t=$(date -u -d "$until" +%s) &&
	now=$(date -u +%s) &&
	test $((t - now)) -gt $((2 * 86400 - 600)) &&
	test $((t - now)) -le $((2 * 86400))
'

test_expect_success 'object_lock_mode = compliance is sent as COMPLIANCE' '
	config -r "object_lock_mode = compliance" &&
	echo x >>tree/conf/mailcow.conf &&
	mb backup &&
	test_grep "^lock /$S3_BUCKET/repo/snapshots/.* COMPLIANCE " "$S3_PROXY_LOG" &&
	config -r "object_lock_mode = forever" &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep object_lock_mode err &&
	config
'

test_expect_success 'a backup under lock releases its repository lock' '
	s3_objects repo/locks/ >held &&
	! test -s held
'

# The store's del() answers MB_E_LOCKED ("... is under object lock until
# DATE: kept") for an object still retained; forget and prune must take that
# as "skip it", not as a failure.
test_expect_success FORGET 'prune skips the objects still locked' '
	s3_objects repo/ >before &&
	{ mb forget --keep-last 1 --prune >out 2>err; rc=$?; } &&
	{ test $rc = 0 || test $rc = 3; } &&
	s3_objects repo/ >after &&
	test_cmp before after &&
	mb check --read-data
'

test_done
