#!/bin/bash
# SPDX-License-Identifier: MIT
# t2006-s3-vhost: url_style = virtual puts the bucket in the host name
# (BUCKET.s3.localhost). s3rver computes SigV4 of such requests with the
# bucket in the path, so this server accepts any signature: this test is
# about addressing; signatures are checked by every other t2xxx test.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-s3.sh"

s3_start --vhost-unsigned

test_expect_success 'setup: keys and a tree' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 80 --users 2 --domains 1 &&
	s3_env &&
	s3_write_config -e "$S3_VHOST_ENDPOINT" -r "url_style = virtual" \
		-r "pack_size = 6M" -r "part_size = 5M" -r "s3_parallel = 1" \
		"$(mb_tree_sources "$SCRATCH/tree")"
'

test_expect_success 'init, backup, restore and check by virtual-host URLs' '
	mb init &&
	mb backup &&
	mb restore latest --target "$SCRATCH/r1" &&
	mb_compare_trees tree/vmail r1/vmail &&
	mb check --read-data
'

test_expect_success 'the objects are where path style finds them too' '
	s3_objects repo/ >objects &&
	test_grep "^repo/mailbackup.repo " objects &&
	s3_write_config -e "$S3_VHOST_ENDPOINT" \
		"$(mb_tree_sources "$SCRATCH/tree")" &&
	mb snapshots >list &&
	test "$(wc -l <list)" = 1 &&
	mb check
'

test_done
