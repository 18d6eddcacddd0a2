#!/bin/bash
# SPDX-License-Identifier: MIT
# t1690-meta-limits: manifest and index objects beyond the documented size
# limits (docs/format.md 3.4) are refused with exit 4 naming them, before
# gpg reads them (a sparse 5 GiB object costs no disk); a validly signed
# manifest with a line over 1 MiB is refused as malformed. Each case, with
# the repository mended, is followed by a working backup and restore.
. "$(dirname "$0")/lib-test.sh"

# These checks read and forge the entry lines of a format-1 manifest: the
# repository here is of format 1 (format 2's listings: t1740-listings).
export MB_TEST_FORMAT=1

mended_works() {
	rm -rf repo && cp -a repo.good repo && mb_forget_history &&
	mb check &&
	mb_gen_tree tree --day --seed "$1" &&
	mb backup >/dev/null &&
	rm -rf r && mb restore latest --target r &&
	mb_compare_trees tree/vmail r/vmail
}

test_expect_success 'setup: one snapshot' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 30 --users 2 --domains 1 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup --json >b.json &&
	id=$(mb_json_get id b.json) &&
	man=$(ls repo/snapshots/*-$id) &&
	ix=$(ls repo/index/* | head -n 1) &&
	cp -a repo repo.good
'

test_expect_success 'a 5 GiB manifest object: ls, restore and check refuse it (exit 4)' '
	truncate -s 5G "$man" &&
	test_must_fail --exit 4 mb ls "$id" >out 2>err &&
	test_grep "object .snapshots/.*$id. is too large (5368709120 bytes" err &&
	test_must_be_empty out &&
	test_must_fail --exit 4 mb restore "$id" --target r 2>err &&
	test_grep "is too large" err &&
	test -z "$(find r -type f 2>/dev/null)" &&
	test_must_fail --exit 4 mb check 2>err &&
	test_grep "is too large" err &&
	mended_works 2
'

test_expect_success 'a 2 GiB index object: check and restore refuse it (exit 4)' '
	truncate -s 2G "$ix" &&
	test_must_fail --exit 4 mb check 2>err &&
	test_grep "object .index/.*. is too large (2147483648 bytes" err &&
	rm -rf cache r &&
	test_must_fail --exit 4 mb restore latest --target r 2>err &&
	test_grep "is too large" err &&
	mended_works 3
'

test_expect_success 'a signed manifest with a line over 1 MiB: refused as malformed' '
	mb_manifest_decrypt gnupg "$man" >plain &&
	awk "\$1 == \"e\" && \$3 == \"f\" && !done {
		l = \"x\"; while (length(l) < 1100000) l = l l
		\$NF = l; done = 1 } { print }" plain >forged &&
	test "$(wc -L <forged)" -gt 1048576 &&
	zstd -q -f forged -o forged.zst &&
	mb_gpg gnupg --compress-algo none --encrypt --sign -u "$HOST_FPR" \
		-r "$HOST_FPR" -o forged.gpg forged.zst &&
	cp forged.gpg "$man" &&
	test_must_fail --exit 4 mb ls "$id" >out 2>err &&
	test_grep "manifest .snapshots/.*$id. is malformed at line" err &&
	test_must_fail --exit 4 mb check 2>err &&
	test_grep "is malformed" err &&
	mended_works 4
'

test_done
