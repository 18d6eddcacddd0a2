#!/bin/bash
# SPDX-License-Identifier: MIT
# t1745-listings-sort: a format-2 backup sorts its entries for the listings
# in bounded runs on disk and merges them (docs/format.md §10.3). Runs of
# a few hundred bytes (MB_TEST_LSORT_RUN) give the same listing ids as one
# run in memory, and the snapshot restores bit for bit.
. "$(dirname "$0")/lib-test.sh"

test_expect_success 'setup: keys, a tree with odd names, two repositories' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 200 --users 4 --domains 2 --odd-names &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	MB_REPO_URL=$SCRATCH/repo2 MB_CACHE_DIR=$SCRATCH/cache2 \
		mb_write_config -o small.conf "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	"$MB_BIN" -c small.conf init
'

test_expect_success 'runs of 300 bytes give the listing ids of one run' '
	mb backup --json --time 2025-01-01T02:00:00Z >b1.json &&
	MB_TEST_LSORT_RUN=300 "$MB_BIN" -c small.conf backup --json \
		--time 2025-01-01T02:00:00Z >b2.json &&
	mb_manifest_decrypt gnupg repo/snapshots/*-$(mb_json_get id b1.json) >m1 &&
	mb_manifest_decrypt gnupg repo2/snapshots/*-$(mb_json_get id b2.json) >m2 &&
	grep -E "^(tree|end) " m1 >t1 && grep -E "^(tree|end) " m2 >t2 &&
	test "$(grep -c "^tree " t1)" = 3 &&
	test_cmp t1 t2
'

test_expect_success 'the snapshot built from many runs restores bit for bit' '
	MB_TEST_LSORT_RUN=300 "$MB_BIN" -c small.conf restore \
		"$(mb_json_get id b2.json)" --target "$SCRATCH/r2" &&
	for s in vmail dkim conf; do
		mb_compare_trees "tree/$s" "r2/$s" || return 1
	done &&
	"$MB_BIN" -c small.conf check
'

test_done
