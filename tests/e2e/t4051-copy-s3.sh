#!/bin/bash
# SPDX-License-Identifier: MIT
# t4051-copy-s3: mailbackup copy through the store layer, local to S3, S3 to
# S3 and S3 to local, against the S3 test server: restores from every copy
# are bit-identical, a second copy transfers nothing, check --read-data
# passes on each.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-s3.sh"

s3_start

md() {
	${MB_BIN_WRAPPER:-} "$MB_BIN" -c "$SCRATCH/$1" "${@:2}"
}

test_expect_success 'setup: a local repository with a snapshot, two S3 prefixes' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 200 --users 3 --domains 1 --odd-names &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "/^url = /a pack_size = 256K" "$CONF" &&
	mb init &&
	mb backup --json --time 2025-01-01T02:00:00Z >b1.json &&
	id1=$(mb_json_get id b1.json) &&
	s3_env &&
	CONF=$SCRATCH/s3a.conf MB_CACHE_DIR=$SCRATCH/cache-a \
		s3_write_config -p copy-a &&
	CONF=$SCRATCH/s3b.conf MB_CACHE_DIR=$SCRATCH/cache-b \
		s3_write_config -p copy-b &&
	MB_REPO_URL=$SCRATCH/back MB_CACHE_DIR=$SCRATCH/cache-back \
		mb_write_config -o "$SCRATCH/back.conf" &&
	md s3a.conf init && md s3b.conf init && md back.conf init
'

test_expect_success 'local to S3: every pack, checked, and the snapshot' '
	mb copy --to "$SCRATCH/s3a.conf" --json >a.json &&
	test "$(mb_json_get snapshots_copied a.json)" = 1 &&
	n=$(ls repo/packs/*/* | wc -l) &&
	test "$(mb_json_get packs_copied a.json)" = "$n" &&
	s3_objects copy-a/packs/ >objs &&
	test "$(wc -l <objs)" = "$n" &&
	s3_objects copy-a/snapshots/ >snaps &&
	test_grep -- "-$id1 " snaps &&
	mb copy --to "$SCRATCH/s3a.conf" --json >a2.json &&
	test "$(mb_json_get packs_copied a2.json)" = 0 &&
	test "$(mb_json_get snapshots_copied a2.json)" = 0
'

test_expect_success 'S3 to S3, then S3 to local' '
	md s3a.conf copy --to "$SCRATCH/s3b.conf" --json >b.json &&
	test "$(mb_json_get snapshots_copied b.json)" = 1 &&
	md s3b.conf copy --to "$SCRATCH/back.conf" --json >c.json &&
	test "$(mb_json_get snapshots_copied c.json)" = 1 &&
	(cd repo && ls packs/*/* | sort) >src.packs &&
	(cd back && ls packs/*/* | sort) >back.packs &&
	test_cmp src.packs back.packs &&
	cmp repo/snapshots/*-$id1 back/snapshots/*-$id1
'

test_expect_success 'check --read-data passes on the S3 copies' '
	md s3a.conf check --read-data &&
	md s3b.conf check --read-data &&
	md back.conf check --read-data
'

test_expect_success PYTHON3 'restores from the S3 copy and from the copy of the copy are bit-identical' '
	md s3b.conf restore "$id1" --target "$SCRATCH/rb" &&
	md back.conf restore "$id1" --target "$SCRATCH/rl" &&
	for s in vmail dkim conf; do
		mb_compare_trees "tree/$s" "rb/$s" &&
		mb_compare_trees "tree/$s" "rl/$s" || return 1
	done
'

test_done
