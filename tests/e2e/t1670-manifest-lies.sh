#!/bin/bash
# SPDX-License-Identifier: MIT
# t1670-manifest-lies: a manifest validly signed by the host key that lies
# about an entry's SIZE (larger, smaller, 0 for real content) is refused by
# restore (exit 4, nothing written under that name) and by check and check
# --read-data (exit 4); set-user-ID and set-group-ID bits, recorded or
# forged, are cleared on restore unless --keep-setid is given. After each
# case, with the real manifest back, the next backup and restore work.
. "$(dirname "$0")/lib-test.sh"

# These checks read and forge the entry lines of a format-1 manifest: the
# repository here is of format 1 (format 2's listings: t1740-listings).
export MB_TEST_FORMAT=1

# forge_manifest AWK: rewrite the manifest's entries with AWK, compress,
# encrypt to the same recipient and sign with the host key, in place.
forge_manifest() {
	mb_manifest_decrypt gnupg "$man" >plain &&
	awk "$1" plain >forged &&
	! cmp -s plain forged &&
	zstd -q -f forged -o forged.zst &&
	rm -f forged.gpg &&
	mb_gpg gnupg --compress-algo none --encrypt --sign -u "$HOST_FPR" \
		-r "$HOST_FPR" -o forged.gpg forged.zst &&
	cp forged.gpg "$man"
}

# set field N of the entry of conf/NAME to VALUE
entry_field() {
	printf '$1 == "e" && $2 == "conf" && $NF == "%s" { $%s = "%s" } { print }' \
		"$1" "$2" "$3"
}

mended_works() {
	rm -rf repo && cp -a repo.good repo && mb_forget_history &&
	mb check &&
	echo more >tree/conf/more.txt &&
	mb backup >/dev/null &&
	rm -rf r && mb restore latest --keep-setid --target r &&
	mb_compare_trees tree/conf r/conf &&
	rm tree/conf/more.txt
}

test_expect_success 'setup: a snapshot with a known file and set-id entries' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 40 --users 2 --domains 1 &&
	printf "hello world\n" >tree/conf/known.txt &&
	printf "#!/bin/sh\necho hi\n" >tree/conf/suid-prog &&
	chmod 4755 tree/conf/suid-prog &&
	mkdir tree/conf/sgid-dir && chmod 2775 tree/conf/sgid-dir &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup --json >b.json &&
	id=$(mb_json_get id b.json) &&
	man=$(ls repo/snapshots/*-$id) &&
	mb_manifest_decrypt gnupg "$man" >plain &&
	grep " 12 [0-9a-f]* known.txt\$" plain &&
	cp -a repo repo.good
'

test_expect_success 'set-id bits are cleared on restore by default' '
	rm -rf r && mb restore latest --target r &&
	test "$(stat -c %a r/conf/suid-prog)" = 755 &&
	test "$(stat -c %a r/conf/sgid-dir)" = 775 &&
	cmp tree/conf/suid-prog r/conf/suid-prog
'

test_expect_success 'restore --keep-setid keeps them' '
	rm -rf r && mb restore latest --keep-setid --target r &&
	test "$(stat -c %a r/conf/suid-prog)" = 4755 &&
	test "$(stat -c %a r/conf/sgid-dir)" = 2775
'

test_expect_success 'a forged manifest giving a file setuid and setgid: cleared' '
	forge_manifest "$(entry_field known.txt 4 6755)" &&
	mb check &&
	rm -rf r && mb restore latest --target r &&
	test "$(stat -c %a r/conf/known.txt)" = 755 &&
	rm -rf r && mb restore latest --target r --path known.txt --keep-setid &&
	test "$(stat -c %a r/conf/known.txt)" = 6755 &&
	mended_works
'

for lie in 3 13 100000; do
	test_expect_success "SIZE $lie for 12 bytes: restore refuses with exit 4" "
		rm -rf repo && cp -a repo.good repo && mb_forget_history &&
		forge_manifest \"\$(entry_field known.txt 8 $lie)\" &&
		rm -rf r &&
		test_must_fail --exit 4 mb restore latest --target r 2>err &&
		test_grep \"'conf/known.txt' says $lie bytes, its content has 12\" err &&
		! test -e r/conf/known.txt &&
		test_must_fail --exit 4 mb restore latest --target r2 --path known.txt 2>err &&
		! test -e r2/conf/known.txt
	"

	test_expect_success "SIZE $lie for 12 bytes: check and check --read-data exit 4" "
		test_must_fail --exit 4 mb check 2>err &&
		test_grep \"entry 'conf/known.txt' says $lie bytes, its content has 12\" err &&
		test_must_fail --exit 4 mb check --read-data 2>err &&
		test_grep \"entry 'conf/known.txt' says $lie bytes\" err &&
		mended_works
	"
done

test_expect_success 'SIZE 0 for real content: refused by restore and check' '
	rm -rf repo && cp -a repo.good repo && mb_forget_history &&
	forge_manifest "$(entry_field known.txt 8 0)" &&
	rm -rf r &&
	test_must_fail --exit 4 mb restore latest --target r 2>err &&
	test_grep "says 0 bytes, its content is not empty" err &&
	! test -e r/conf/known.txt &&
	test_must_fail --exit 4 mb check --read-data 2>err &&
	test_grep "says 0 bytes, its content is not empty" err &&
	mended_works
'

test_done
