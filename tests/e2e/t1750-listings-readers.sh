#!/bin/bash
# SPDX-License-Identifier: MIT
# t1750-listings-readers: the readers of a format-2 snapshot (ls, restore,
# diff) expand its listings into format 1's entries without holding them
# all (docs/design-listings.md, section 4): the listings read go to
# an unlinked file of the cache directory, the expansion is compressed as
# it is made. Same entries as a format-1 repository of the same tree, with
# an expansion of many compressed chunks, listings reached twice, and
# nothing left in the cache directory.
. "$(dirname "$0")/lib-test.sh"

test_expect_success 'setup: a tree of 4000 tiny messages, twin directories' '
	mb_setup_keys &&
	mb_gen_tree tree --tiny --messages 4000 --users 8 --domains 2 &&
	for d in twin-a twin-b twin-a/in twin-b/in; do
		mkdir -p tree/conf/$d && echo same >tree/conf/$d/f &&
		touch -d 2025-01-01T00:00:00Z tree/conf/$d/f
	done &&
	touch -d 2025-01-01T00:00:00Z tree/conf/twin-a/in tree/conf/twin-b/in \
		tree/conf/twin-a tree/conf/twin-b &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	grep "^mailbackup-repository 2\$" repo/mailbackup.repo &&
	mb backup --json --time 2025-01-01T02:00:00Z >b.json &&
	id=$(mb_json_get id b.json) &&
	mb_write_config -o v1.conf "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "s#^url = .*#url = $SCRATCH/repo1#; s#^cache_dir = .*#cache_dir = $SCRATCH/cache1#" v1.conf &&
	MB_TEST_FORMAT=1 "$MB_BIN" -c v1.conf init &&
	MB_TEST_FORMAT=1 "$MB_BIN" -c v1.conf backup --time 2025-01-01T02:00:00Z
'

test_expect_success 'the expansion is larger than one compressed chunk (256 KiB)' '
	mb_manifest_decrypt gnupg repo/snapshots/*-$id >m2 &&
	test "$(head -n 1 m2)" = "mailbackup-manifest 2" &&
	"$MB_BIN" -c v1.conf ls -l --json latest >ls1.json &&
	test "$(wc -c <ls1.json)" -gt 400000
'

test_expect_success 'ls lists the entries the format-1 repository lists' '
	mb ls -l latest >ls2 &&
	"$MB_BIN" -c v1.conf ls -l latest >ls1 &&
	test "$(wc -l <ls2)" -gt 4000 &&
	sort ls1 >ls1.sorted && sort ls2 >ls2.sorted &&
	test_cmp ls1.sorted ls2.sorted &&
	grep "twin-a/in/f\$" ls2 && grep "twin-b/in/f\$" ls2
'

test_expect_success 'the twin directories share their listings' '
	mb ls -l latest conf/twin-a | sed "s#twin-a#twin#" >ta &&
	mb ls -l latest conf/twin-b | sed "s#twin-b#twin#" >tb &&
	test -s ta && test_cmp ta tb
'

test_expect_success 'restore gives the tree back, the cache directory unchanged' '
	find cache -type f | sort >cache.before &&
	mb restore latest --target "$SCRATCH/r" &&
	mb_compare_trees tree/vmail r/vmail &&
	mb_compare_trees tree/conf r/conf &&
	find cache -type f | sort >cache.after &&
	test_cmp cache.before cache.after
'

test_expect_success 'diff of two format-2 snapshots names the change only' '
	echo new >tree/conf/twin-b/in/g &&
	mb backup --time 2025-01-02T02:00:00Z &&
	mb diff "$id" latest >d &&
	grep "twin-b/in/g" d &&
	test "$(grep -c "^[-+MF]" d)" -le 2
'

test_done
