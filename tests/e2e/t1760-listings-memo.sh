#!/bin/bash
# SPDX-License-Identifier: MIT
# t1760-listings-memo: a backup keeps its listings' tree lines and ids in
# the cache directory (listings-memo); a backup whose entries are the same
# takes them from there instead of sorting and building them again, but
# only while the index still lists every one of those listings in a
# listing pack that is there. Otherwise, or when the file is damaged, the
# listings are built (and stored) as always.
. "$(dirname "$0")/lib-test.sh"

memo() {
	echo cache/*/listings-memo
}

trees_of() { # ID
	mb_manifest_decrypt gnupg repo/snapshots/*-"$1" | grep "^tree "
}

restores() { # ID DIR
	rm -rf "$2" && mb restore "$1" --target "$SCRATCH/$2" &&
	mb_compare_trees tree/vmail "$2"/vmail &&
	mb_compare_trees tree/dkim "$2"/dkim &&
	mb_compare_trees tree/conf "$2"/conf
}

listing_packs() {
	for f in repo/index/*; do mb_manifest_decrypt gnupg "$f"; done |
		awk '$1 == "q" { print $2 }' | sort
}

test_expect_success 'setup: keys, a tree, a repository of format 2' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 200 --users 4 --domains 2 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init
'

test_expect_success 'a backup keeps its listings in the cache directory' '
	mb backup --json >b1.json &&
	id1=$(mb_json_get id b1.json) &&
	test -f "$(memo)" &&
	stat -c "%i %Y" "$(memo)" >memo.1
'

test_expect_success 'a backup without change takes them from there: same trees' '
	sleep 1 &&
	mb backup --json >b2.json &&
	id2=$(mb_json_get id b2.json) &&
	stat -c "%i %Y" "$(memo)" >memo.2 &&
	test_cmp memo.1 memo.2 &&
	trees_of "$id1" >t1 && trees_of "$id2" >t2 &&
	test_cmp t1 t2 &&
	test "$(mb_manifest_decrypt gnupg repo/snapshots/*-$id1 | tail -n 1)" = \
	     "$(mb_manifest_decrypt gnupg repo/snapshots/*-$id2 | tail -n 1)" &&
	restores "$id2" r2
'

test_expect_success 'a changed file: the listings are built again' '
	f=$(find tree/vmail -type f -path "*/cur/*" | sort | head -n 1) &&
	echo "changed" >>"$f" &&
	mb backup --json >b3.json &&
	id3=$(mb_json_get id b3.json) &&
	stat -c "%i %Y" "$(memo)" >memo.3 &&
	! test_cmp memo.2 memo.3 &&
	trees_of "$id3" >t3 &&
	! test_cmp t2 t3 &&
	restores "$id3" r3
'

test_expect_success 'listings no longer in the index are stored again, not taken' '
	listing_packs >q.before &&
	test -s q.before &&
	while read -r p; do
		rm "repo/packs/${p%"${p#??}"}/$p" || return 1
	done <q.before &&
	mb repair index &&
	cp "$(memo)" memo.kept &&
	mb backup --json >b4.json &&
	id4=$(mb_json_get id b4.json) &&
	listing_packs >q.after &&
	test -s q.after &&
	! test_cmp q.before q.after &&
	trees_of "$id4" >t4 &&
	test_cmp t3 t4 &&
	restores "$id4" r4
'

test_expect_success 'listing packs gone since the last backup: not taken' '
	listing_packs >q.before5 &&
	mkdir gone5 &&
	while read -r p; do
		mv "repo/packs/${p%"${p#??}"}/$p" gone5/ || return 1
	done <q.before5 &&
	test_must_fail --exit 3 mb backup --json >b5.json 2>b5.err &&
	cat b5.err &&
	test_grep "pack(s) named by the index are missing" b5.err &&
	id5=$(mb_json_get id b5.json) &&
	test -n "$id5" &&
	listing_packs >q.after5 &&
	! test_cmp q.before5 q.after5 &&
	restores "$id5" r5
'

test_expect_success 'a damaged memo is not used, and is written anew' '
	mb repair index &&
	mb backup --json >b6.json &&
	m=$(memo) && size=$(stat -c %s "$m") &&
	printf "damaged!" | dd of="$m" bs=1 seek=$((size / 2)) conv=notrunc \
		2>/dev/null &&
	stat -c "%i %Y" "$m" >memo.6 &&
	sleep 1 &&
	mb backup --json >b7.json &&
	id7=$(mb_json_get id b7.json) &&
	stat -c "%i %Y" "$m" >memo.7 &&
	! test_cmp memo.6 memo.7 &&
	trees_of "$id7" >t7 &&
	trees_of "$(mb_json_get id b6.json)" >t6 &&
	test_cmp t6 t7 &&
	restores "$id7" r7
'

test_done
