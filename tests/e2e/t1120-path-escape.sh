#!/bin/bash
# SPDX-License-Identifier: MIT
# t1120-path-escape: a manifest with a validly signed entry that points out
# of the target (.., an absolute path, a symlink to walk through, a bad
# source name) is refused, and restore never writes through a symlink that
# someone planted in the target.
. "$(dirname "$0")/lib-test.sh"

# These checks read and forge the entry lines of a format-1 manifest: the
# repository here is of format 1 (format 2's listings: t1740-listings).
export MB_TEST_FORMAT=1

test_expect_success 'setup: a small tree, one snapshot' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 60 --users 2 --domains 1 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup >b.out &&
	man=$(ls repo/snapshots/*) &&
	cp "$man" manifest.good &&
	mb_manifest_decrypt gnupg "$man" >plain &&
	# a real content to point at: the first dkim key
	ref=$(grep -a -m 1 "^e dkim f " plain) &&
	set -- $ref && mt=$7 size=$8 sha=$9 &&
	test -n "$sha" &&
	mkdir -p jail/a/b jail/outside
'

# craft LINE...: the manifest with the entry lines added before "end" (and
# its count fixed), compressed, encrypted and signed with the host key: the
# signature is valid, only the content is evil.
craft() {
	cp manifest.good "$man" &&
	{
		grep -a -v "^end " plain &&
		printf "%s\n" "$@" &&
		echo "end $(($(grep -a -c "^e " plain) + $#))"
	} >crafted &&
	zstd -q -f crafted -o crafted.zst &&
	rm -f crafted.gpg &&
	mb_gpg gnupg --compress-algo none --encrypt --sign -u "$HOST_FPR" \
		-r "$HOST_FPR" -o crafted.gpg crafted.zst &&
	cp crafted.gpg "$man" &&
	jail_list >jail.before
}

jail_list() {
	find jail ! -path "jail/a/b/target*" -printf "%y %m %s %p\n" | LC_ALL=C sort
}

# Nothing was made in the jail outside the target; no file named $1 anywhere
# outside the target.
jail_clean() {
	jail_list >jail.after &&
	test_cmp jail.before jail.after &&
	test -z "$(ls -A jail/outside)" &&
	find "$SCRATCH" -name "$1" ! -path "$SCRATCH/jail/a/b/target/*" \
		! -path "$SCRATCH/tree/*" >found &&
	test_must_be_empty found
}

# restore_refused NAME: the crafted snapshot is not restored: a failure
# (not a crash), a message, nothing named NAME written anywhere.
restore_refused() {
	rm -rf jail/a/b/target &&
	test_must_fail mb restore latest --target "$SCRATCH/jail/a/b/target" >out 2>err
	rc=$?
	cat err
	test $rc = 0 && jail_clean "$1" && test -s err
}

test_expect_success 'the crafting itself gives a manifest restore accepts' '
	craft "e dkim f 644 0 0 $mt $size $sha harmless-copy" &&
	mb restore latest --target "$SCRATCH/jail/a/b/target" &&
	cmp tree/dkim/$(set -- $ref; echo ${10}) jail/a/b/target/dkim/harmless-copy &&
	rm -rf jail/a/b/target
'

test_expect_success 'an entry ../../escape is refused' '
	craft "e dkim f 644 0 0 $mt $size $sha ../../escape-dotdot" &&
	restore_refused escape-dotdot &&
	test_must_fail --exit 4 mb check 2>err && cat err
'

test_expect_success 'an entry a/../../../escape is refused' '
	craft "e dkim d 755 0 0 $mt 0 - a" \
		"e dkim f 644 0 0 $mt $size $sha a/../../../escape-mixed" &&
	restore_refused escape-mixed
'

test_expect_success 'an absolute entry is refused' '
	craft "e dkim f 644 0 0 $mt $size $sha $SCRATCH/jail/outside/escape-abs" &&
	restore_refused escape-abs
'

test_expect_success 'an entry /etc/... is refused (not written, even as root)' '
	craft "e dkim f 644 0 0 $mt $size $sha /etc/mailbackup-escape-test" &&
	restore_refused mailbackup-escape-test &&
	! test -e /etc/mailbackup-escape-test
'

test_expect_success 'a source named .. is refused' '
	craft "e .. f 644 0 0 $mt $size $sha escape-source" &&
	restore_refused escape-source
'

test_expect_success 'a source with a slash is refused' '
	craft "e ../../outside f 644 0 0 $mt $size $sha escape-source2" &&
	restore_refused escape-source2
'

test_expect_success 'a file below a symlink to outside is not written through it' '
	craft "e dkim l 777 0 0 $mt 0 - lnk $SCRATCH/jail/outside" \
		"e dkim f 644 0 0 $mt $size $sha lnk/escape-through-abs" &&
	rm -rf jail/a/b/target &&
	mb restore latest --target "$SCRATCH/jail/a/b/target" >out 2>err
	rc=$?
	cat err
	echo "exit $rc" &&
	test $rc -lt 128 &&
	jail_clean escape-through-abs
'

test_expect_success 'a file below a relative symlink up and out is not written through it' '
	craft "e dkim l 777 0 0 $mt 0 - up ../../../../outside" \
		"e dkim f 644 0 0 $mt $size $sha up/escape-through-rel" &&
	rm -rf jail/a/b/target &&
	mb restore latest --target "$SCRATCH/jail/a/b/target" >out 2>err
	rc=$?
	cat err
	echo "exit $rc" &&
	test $rc -lt 128 &&
	jail_clean escape-through-rel
'

test_expect_success 'a symlink entry and a file entry of the same name' '
	craft "e dkim l 777 0 0 $mt 0 - twin $SCRATCH/jail/outside/escape-twin" \
		"e dkim f 644 0 0 $mt $size $sha twin" &&
	rm -rf jail/a/b/target &&
	mb restore latest --target "$SCRATCH/jail/a/b/target" >out 2>err
	rc=$?
	cat err
	echo "exit $rc" &&
	test $rc -lt 128 &&
	jail_clean escape-twin
'

test_expect_success 'the good manifest again' '
	cp manifest.good "$man" &&
	mb check
'

# Symlinks that someone planted in a target before a restore --overwrite.
test_expect_success 'setup: a restored target' '
	rm -rf jail/a/b/target &&
	mb restore latest --target "$SCRATCH/jail/a/b/target" &&
	T=jail/a/b/target &&
	dom=$(ls tree/vmail | head -n 1) &&
	key=$(ls tree/dkim | head -n 1) &&
	echo sentinel >jail/outside-file &&
	jail_list >jail.before
'

test_expect_success 'a planted symlink for a domain directory is not written through' '
	rm -rf "$T/vmail/$dom" &&
	ln -s "$SCRATCH/jail/outside" "$T/vmail/$dom" &&
	mb restore latest --target "$SCRATCH/$T" --overwrite >out 2>err
	rc=$?
	cat err
	echo "exit $rc" &&
	test $rc -lt 128 &&
	jail_clean "*.mail*" &&
	if test $rc = 0; then
		! test -L "$T/vmail/$dom" &&
		mb_compare_trees "tree/vmail/$dom" "$T/vmail/$dom"
	fi
'

test_expect_success 'a planted symlink for a source directory is not written through' '
	rm -rf "$T/dkim" &&
	ln -s "$SCRATCH/jail/outside" "$T/dkim" &&
	mb restore latest --target "$SCRATCH/$T" --overwrite --source dkim >out 2>err
	rc=$?
	cat err
	echo "exit $rc" &&
	test $rc -lt 128 &&
	jail_clean "*.dkim.key" &&
	if test $rc = 0; then
		! test -L "$T/dkim" && mb_compare_trees tree/dkim "$T/dkim"
	fi
'

test_expect_success 'a planted symlink for a file is replaced, its target untouched' '
	rm -rf "$T/dkim" &&
	mb restore latest --target "$SCRATCH/$T" --overwrite --source dkim &&
	rm "$T/dkim/$key" &&
	ln -s "$SCRATCH/jail/outside-file" "$T/dkim/$key" &&
	mb restore latest --target "$SCRATCH/$T" --overwrite --source dkim 2>err &&
	echo sentinel >expect &&
	test_cmp expect jail/outside-file &&
	! test -L "$T/dkim/$key" &&
	cmp "tree/dkim/$key" "$T/dkim/$key"
'

test_expect_success 'a planted symlink as the target itself' '
	ln -s "$SCRATCH/jail/outside" jail/link-target &&
	mb restore latest --target "$SCRATCH/jail/link-target" --source dkim >out 2>err
	rc=$?
	cat err
	echo "exit $rc" &&
	test $rc -lt 128
	# (the admin named this target: following it is fine either way)
'

test_done
