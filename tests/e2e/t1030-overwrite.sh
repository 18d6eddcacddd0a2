#!/bin/bash
# SPDX-License-Identifier: MIT
# t1030-overwrite: restore refuses a non-empty target unless --overwrite, and
# then replaces what it restores.
. "$(dirname "$0")/lib-test.sh"

test_expect_success 'setup: a small tree, one snapshot, one restore' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 120 --users 4 --domains 1 --odd-names &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup >/dev/null &&
	mb restore latest --target "$SCRATCH/r" &&
	mb_compare_trees tree/vmail r/vmail
'

test_expect_success 'no staging directory is left behind' '
	ls -A r >top &&
	printf "conf\ndkim\nvmail\n" >expect &&
	test_cmp expect top
'

test_expect_success PYTHON3 'a non-empty target is refused and left untouched' '
	f=$(cd r && find vmail -path "*/cur/*" -type f | head -n 1) &&
	echo changed >"r/$f" &&
	echo mine >r/conf/local-note &&
	mb_copy_tree r before &&
	test_must_fail mb restore latest --target "$SCRATCH/r" 2>err &&
	cat err &&
	test_grep "not empty" err &&
	test_grep -e "--overwrite" err &&
	mb_compare_trees before r
'

test_expect_success 'a target that holds only one file is not empty either' '
	mkdir r1 && : >r1/.hidden &&
	test_must_fail mb restore latest --target "$SCRATCH/r1" 2>err &&
	ls -A r1 >l && echo .hidden >expect && test_cmp expect l
'

test_expect_success 'a target that is a file is refused' '
	echo x >afile &&
	test_must_fail mb restore latest --target "$SCRATCH/afile" 2>err &&
	cat err &&
	echo x >expect && test_cmp expect afile
'

test_expect_success '--overwrite replaces changed files and keeps other ones' '
	f=$(cd r && find vmail -path "*/cur/*" -type f | head -n 1) &&
	chmod 0444 "r/$f" &&
	touch -d 2001-01-01 "r/$f" &&
	chmod 0777 r/dkim &&
	mb restore latest --target "$SCRATCH/r" --overwrite 2>err &&
	cat err &&
	cmp "tree/$f" "r/$f" &&
	test "$(stat -c %a:%y "r/$f")" = "$(stat -c %a:%y "tree/$f")" &&
	test "$(stat -c %a r/dkim)" = "$(stat -c %a tree/dkim)" &&
	echo mine >expect && test_cmp expect r/conf/local-note &&
	rm r/conf/local-note &&
	# (the removal changed the time of conf/: restore sets it again)
	mb restore latest --target "$SCRATCH/r" --overwrite --source conf &&
	for s in vmail dkim conf; do
		mb_compare_trees "tree/$s" "r/$s" || return 1
	done
'

test_expect_success '--overwrite brings back a deleted mailbox' '
	d=$(ls tree/vmail | head -n 1) &&
	rm -rf "r/vmail/$d/info" &&
	mb restore latest --target "$SCRATCH/r" --overwrite --mailbox "info@$d" &&
	mb_compare_trees "tree/vmail/$d/info" "r/vmail/$d/info"
'

test_expect_success '--overwrite replaces a symlink with the file it was' '
	f=$(cd r && find vmail -path "*/cur/*" -type f | sed -n 2p) &&
	rm "r/$f" && ln -s /etc/hostname "r/$f" &&
	mb restore latest --target "$SCRATCH/r" --overwrite 2>err &&
	cat err &&
	test -f "r/$f" && ! test -L "r/$f" &&
	cmp "tree/$f" "r/$f"
'

# Once a bug: restore --overwrite where a directory stands in place of a
# file said "cannot decrypt 'packs/..': Broken pipe" (gpg, cut off, wrote
# over the real error); now the file is named.
test_expect_success '--overwrite: a directory where a file was is named in the error' '
	f=$(cd r && find vmail -path "*/cur/*" -type f | sed -n 3p) &&
	rm "r/$f" && mkdir "r/$f" && echo keep >"r/$f/inside" &&
	mb restore latest --target "$SCRATCH/r" --overwrite >out 2>err
	rc=$? &&
	cat err &&
	echo "exit $rc" &&
	test $rc -lt 128 &&
	if test $rc = 0; then
		# replaced: then the file is right
		cmp "tree/$f" "r/$f"
	else
		# refused: then it says which one
		test_grep "${f##*/}" err
	fi
'

# Where an unnamed file cannot be linked (here: an empty /proc/self/fd),
# restore writes under hidden names in the destination directory and
# renames them.
test_expect_success UNSHARE 'without /proc/self/fd: restore and --overwrite, no hidden file left' '
	cat >noproc <<-\EOF &&
	#!/bin/sh
	exec unshare --mount sh -c "mount -t tmpfs none /proc/\$\$/fd && exec \"\$@\"" sh "$@"
	EOF
	chmod +x noproc &&
	MB_BIN_WRAPPER=$SCRATCH/noproc mb restore latest --target "$SCRATCH/rn" &&
	for s in vmail dkim conf; do
		mb_compare_trees "tree/$s" "rn/$s" || return 1
	done &&
	f=$(cd rn && find vmail -path "*/cur/*" -type f | head -n 1) &&
	echo changed >"rn/$f" &&
	MB_BIN_WRAPPER=$SCRATCH/noproc mb restore latest --target "$SCRATCH/rn" \
		--overwrite &&
	cmp "tree/$f" "rn/$f" &&
	find rn -name ".mb-tmp-*" >left &&
	test_must_be_empty left
'

test_done
