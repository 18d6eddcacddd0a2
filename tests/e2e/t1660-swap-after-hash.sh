#!/bin/bash
# SPDX-License-Identifier: MIT
# t1660-swap-after-hash: a pack rewritten in the repository right after it
# was read and hashed (an LD_PRELOAD shim rewrites each pack file when the
# process reaches its end) never reaches gpg, zstd or libarchive: they get
# the bytes that were hashed, read once. Restore and check --read-data work
# from those bytes; nothing reads the rewritten file again. With the shim's
# damage in place, the next run (no shim) refuses the pack with exit 4, and
# with the repository mended the next backup and restore work.
. "$(dirname "$0")/lib-test.sh"

if ! test -f "${MB_SWAP_SHIM:-}"; then
	MB_SWAP_SHIM=$MB_BUILDDIR/tests/shim/libmb-swap-shim.so
fi

# mb under the shim; a sanitizer runtime need not come first then
mb_swapped() {
	LD_PRELOAD=$MB_SWAP_SHIM MB_SWAP_DIR=$SCRATCH/repo/packs/ \
	MB_SWAP_LOG=$SCRATCH/swap.log \
	ASAN_OPTIONS=${ASAN_OPTIONS}:verify_asan_link_order=0 mb "$@"
}

test_expect_success 'setup: a tree in several packs' '
	test -f "$MB_SWAP_SHIM" &&
	mb_setup_keys &&
	mb_gen_tree tree --messages 120 --users 4 --domains 1 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "/^url = /a pack_size = 64K" "$CONF" &&
	mb init &&
	mb backup >/dev/null &&
	test "$(find repo/packs -type f | wc -l)" -ge 3 &&
	cp -a repo repo.orig
'

test_expect_success 'restore: every pack rewritten after its hash, none read again' '
	rm -f swap.log && rm -rf r &&
	mb_swapped restore latest --target r &&
	test "$(grep -c "^swapped " swap.log)" -ge 3 &&
	test_grep -v "^reread " swap.log &&
	mb_compare_trees tree/vmail r/vmail &&
	mb_compare_trees tree/dkim r/dkim
'

test_expect_success 'the rewritten packs are refused by the next run (exit 4)' '
	rm -rf r &&
	test_must_fail --exit 4 mb restore latest --target r 2>err &&
	test_grep "does not match its name" err &&
	test_must_fail --exit 4 mb check --read-data 2>err &&
	test_grep "does not match its name" err
'

test_expect_success 'check --read-data: rewritten after the hash, none read again' '
	rm -rf repo && cp -a repo.orig repo &&
	rm -f swap.log &&
	mb_swapped check --read-data &&
	test "$(grep -c "^swapped " swap.log)" -ge 3 &&
	test_grep -v "^reread " swap.log
'

test_expect_success 'mended: the next backup and restore work' '
	rm -rf repo && cp -a repo.orig repo &&
	mb_gen_tree tree --day --seed 3 &&
	mb backup >/dev/null &&
	rm -rf r && mb restore latest --target r &&
	mb_compare_trees tree/vmail r/vmail
'

test_done
