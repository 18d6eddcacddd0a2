#!/bin/bash
# SPDX-License-Identifier: MIT
# t4041-repair: the states a lost race or a full disk leaves, told by check
# and healed: an index entry whose pack is missing (check exit 4; backup
# stores the content again; repair index drops the entry), empty partial
# metadata objects (repair removes them), a damaged cached index copy
# (dropped and fetched again), a cache that cannot be saved after the
# commit (exit 3, the snapshot named), unreadable lock objects.
. "$(dirname "$0")/lib-test.sh"

restore_is() {
	rm -rf r &&
	mb restore latest --target "$SCRATCH/r" &&
	mb_compare_trees "$1" r/small
}

test_expect_success 'setup: a repository with two snapshots' '
	mb_setup_keys &&
	mkdir src &&
	echo base >src/base &&
	srcs="[source small]
type = files
path = $SCRATCH/src" &&
	mb_write_config "$srcs" &&
	mb init &&
	mb backup --time 2024-01-01T02:00:00Z &&
	head -c 200000 /dev/urandom >src/x &&
	cp -a src copy1 &&
	find repo/packs -type f | sort >p0 &&
	mb backup --time 2024-01-02T02:00:00Z &&
	find repo/packs -type f | sort >p1 &&
	comm -13 p0 p1 >new &&
	# the new content pack; listing packs ("q") are named apart
	for ix in repo/index/*; do
		mb_manifest_decrypt gnupg "$ix" || return 1
	done | awk "\$1 == \"q\" { print \$2 }" >q &&
	grep -v -F -f q new >xpack &&
	test "$(wc -l <xpack)" = 1
'

test_expect_success 'check reports an index entry whose pack is missing (exit 4)' '
	rm "$(cat xpack)" &&
	test_must_fail --exit 4 mb check 2>err &&
	cat err &&
	test_grep "is missing from the repository" err &&
	test_grep "repair index" err
'

test_expect_success 'a backup does not dedup against the missing pack: it stores the content again' '
	test_must_fail --exit 3 mb backup --time 2024-01-03T02:00:00Z 2>err &&
	cat err &&
	test_grep "missing from the repository: their content" err &&
	restore_is copy1
'

# the content was stored again by the backup above: once the dead entries
# are gone, every snapshot (the one of 01-02 too) restores again
test_expect_success 'repair index drops the dead entries and says so; then check passes' '
	mb -v repair index 2>err &&
	cat err &&
	test_grep "missing pack" err &&
	test_grep "1 missing pack" err &&
	mb check --read-data &&
	rm -rf r &&
	id=$(mb snapshots | grep 2024-01-02 | cut -d" " -f1) &&
	mb restore "$id" --target "$SCRATCH/r" &&
	mb_compare_trees copy1 r/small &&
	mb -v repair index 2>err &&
	test_grep "0 missing pack" err &&
	mb backup --time 2024-01-04T02:00:00Z 2>err &&
	! test_grep "missing" err &&
	restore_is copy1
'

test_expect_success 'repair removes empty (partial) metadata objects and names them' '
	: >repo/index/00000000000000000000000000000000 &&
	: >"repo/snapshots/20240105T020000Z-mbtest-0000000000000000" &&
	test_must_fail mb check 2>err &&
	mb -v repair index 2>err &&
	cat err &&
	test_grep "removed the empty (partial) object .index/0000" err &&
	test_grep "removed the empty (partial) object .snapshots/2024" err &&
	mb check --read-data &&
	restore_is copy1
'

test_expect_success 'a damaged cached index copy is dropped and fetched again' '
	for f in cache/*/index/*; do echo garbage >"$f"; done &&
	echo more >src/more &&
	cp -a src copy2 &&
	mb backup --time 2024-01-06T02:00:00Z 2>err &&
	cat err &&
	test_grep "cached copy .* dropped, fetch" err &&
	! test_grep "malformed" err &&
	restore_is copy2
'

test_expect_success 'a committed backup whose cache cannot be saved exits 3 and names the snapshot' '
	d=$(ls -d cache/*/) &&
	mv "$d/files" files.saved &&
	mkdir -p "$d/files/blocker" &&
	echo again >src/again &&
	cp -a src copy3 &&
	test_must_fail --exit 3 mb backup --json --time 2024-01-07T02:00:00Z >b.json 2>err &&
	cat err b.json &&
	id=$(mb_json_get id b.json) &&
	test -n "$id" &&
	test_grep "snapshot $id is committed" err &&
	mb snapshots | grep "$id" &&
	rm -rf "$d/files" &&
	mv files.saved "$d/files" &&
	restore_is copy3
'

test_expect_success 'hostile lock objects are named with unlock --remove-all as the fix' '
	head -c 4000000 /dev/zero >repo/locks/big-1-1-00000000 &&
	test_must_fail --exit 5 mb backup 2>err &&
	test_grep "larger than 64 KiB" err &&
	test_grep "unlock --remove-all" err &&
	mb unlock 2>err &&
	test -f repo/locks/big-1-1-00000000 &&
	rm repo/locks/* &&
	printf "mailbackup-lock 1\nkind exclusive\nhost far\npid 7\ncreated 1\nrefreshed 9999999999\n" \
		>repo/locks/far-7-1-00000000 &&
	test_must_fail --exit 5 mb backup 2>err &&
	cat err &&
	test_grep "refresh time far in the future" err &&
	test_grep "unlock --remove-all" err &&
	printf "mailbackup-lock 1\nkind exclusive\nhost mbtest\npid 0\ncreated 1\nrefreshed 1\n" \
		>repo/locks/mbtest-0-1-00000000 &&
	printf "garbage\n" >repo/locks/junk &&
	test_must_fail --exit 5 mb prune 2>err &&
	cat err &&
	test_grep "unlock --remove-all" err &&
	long=$(printf "x%.0s" $(seq 200)) &&
	printf "mailbackup-lock 1\n" >"repo/locks/$long" &&
	mb unlock 2>err &&
	test -f "repo/locks/$long" &&
	mb -v unlock --remove-all 2>err &&
	cat err &&
	test_grep "4 lock(s) removed" err &&
	test "$(ls repo/locks | wc -l)" = 0 &&
	mb backup --time 2024-01-08T02:00:00Z
'

test_done
