#!/bin/bash
# SPDX-License-Identifier: MIT
# t1010-roundtrip: back up a generated mail tree with hard names, let a day of
# mail happen, back up again (only the new mail is read), then restore both
# snapshots and compare every byte and attribute with copies taken at backup
# time.
. "$(dirname "$0")/lib-test.sh"

# "inode size mtime" of every regular file, the key of the backup's cache
file_keys() {
	find "$1" -type f -printf '%i_%s_%T@ %s %P\n' | LC_ALL=C sort
}

test_expect_success 'setup: keys, a tree with hard names, a repository' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 2500 --attach-pct 5 --odd-names &&
	# names the generator does not make: a newline, a tab, a backslash
	printf "nl\n" >"tree/conf/name with
newline" &&
	printf "tab\n" >"tree/conf/tab	and \\backslash" &&
	# nanosecond times, and modes other than the usual
	touch -d "2024-05-05 10:00:00.123456789" tree/conf/postfix/main.cf &&
	chmod 0640 tree/dkim/birchwood.eu.dkim.key &&
	chmod 0750 tree/conf/rspamd &&
	touch -h -d "2024-03-03 03:03:03.5" tree/conf/rspamd &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init
'

test_expect_success 'the first backup reads everything and warns about nothing' '
	mb backup --json --time 2025-01-01T03:00:00Z >b1.json &&
	id1=$(mb_json_get id b1.json) &&
	test "$(mb_json_get warnings b1.json)" = 0 &&
	test "$(mb_json_get files b1.json)" = "$(find tree -type f -printf x | wc -c)" &&
	test "$(mb_json_get bytes_total b1.json)" = \
		"$(find tree -type f -printf "%s\n" | awk "{s += \$1} END {print s}")" &&
	test "$(mb_json_get bytes_read b1.json)" = "$(mb_json_get bytes_total b1.json)"
'

test_expect_success PYTHON3 'a copy of the tree as it was backed up' '
	mb_copy_tree tree snap1 &&
	mb_compare_trees tree snap1
'

test_expect_success 'mb_compare_trees sees a changed byte, mode, time and name' '
	mb_gen_tree ct --messages 20 --users 2 --domains 1 &&
	mb_copy_tree ct ct2 &&
	mb_compare_trees ct ct2 &&
	f=$(find ct2/conf -type f | head -n 1) &&
	mb_flip_byte "$f" 0 && touch -r "ct/${f#ct2/}" "$f" &&
	test_must_fail mb_compare_trees ct ct2 &&
	mb_flip_byte "$f" 0 && touch -r "ct/${f#ct2/}" "$f" &&
	mb_compare_trees ct ct2 &&
	chmod 0604 "$f" &&
	test_must_fail mb_compare_trees ct ct2 &&
	chmod --reference="ct/${f#ct2/}" "$f" &&
	touch -d "@$(stat -c %Y "$f").000000001" "$f" &&
	test_must_fail mb_compare_trees ct ct2 &&
	mb_compare_trees --mtime=s ct ct2 &&
	touch -r "ct/${f#ct2/}" "$f" &&
	mv "$f" "$f.x" &&
	test_must_fail mb_compare_trees ct ct2 &&
	rm -rf ct ct2
'

test_expect_success 'a day of mail' '
	file_keys tree >keys1 &&
	mb_gen_tree tree --day >day.log &&
	cat day.log &&
	n_new=$(sed -n "s/.*: \([0-9][0-9]*\) new .*/\1/p" day.log) &&
	test "$n_new" -gt 0 &&
	file_keys tree >keys2 &&
	# what an incremental backup has to read: files with a new cache key
	join -v 2 keys1 keys2 >changed &&
	n_changed=$(wc -l <changed) &&
	s_changed=$(awk "{s += \$2} END {print s}" changed) &&
	echo "new messages $n_new, changed files $n_changed ($s_changed bytes)"
'

test_expect_success 'the second backup reads only the new mail' '
	mb backup --json --time 2025-01-02T03:00:00Z >b2.json &&
	cat b2.json &&
	id2=$(mb_json_get id b2.json) &&
	total=$(mb_json_get bytes_total b2.json) &&
	read=$(mb_json_get bytes_read b2.json) &&
	files_new=$(mb_json_get files_new b2.json) &&
	test "$(mb_json_get warnings b2.json)" = 0 &&
	test "$total" = "$(find tree -type f -printf "%s\n" | awk "{s += \$1} END {print s}")" &&
	# under 5% of the tree, and no more than what changed
	test $((read * 20)) -lt "$total" &&
	test "$read" -le "$s_changed" &&
	test "$read" -ge "$(grep "/\(cur\|new\)/" changed | awk "{s += \$2} END {print s}")" &&
	# about one new content per new message (plus changed dovecot files)
	test "$files_new" -ge "$n_new" &&
	test "$files_new" -le "$n_changed"
'

test_expect_success PYTHON3 'a copy of the tree after the day' '
	mb_copy_tree tree snap2
'

test_expect_success 'restore the first snapshot into an empty directory' '
	mkdir r1 &&
	mb restore "$id1" --target "$SCRATCH/r1" &&
	ls r1 >sources &&
	printf "conf\ndkim\nvmail\n" >expect &&
	test_cmp expect sources
'

test_expect_success PYTHON3 'the first snapshot comes back bit for bit, with every attribute' '
	for s in vmail dkim conf; do
		mb_compare_trees "snap1/$s" "r1/$s" || return 1
	done
'

test_expect_success 'the hard names came back' '
	d=r1/vmail/birchwood.eu/info &&
	test -L "$d/.dovecot.sieve" &&
	test "$(readlink "$d/.dovecot.sieve")" = sieve/roundcube.sieve &&
	test -d "$d/empty-dir" && test -z "$(ls -A "$d/empty-dir")" &&
	test "$(find "$d/cur" -name "*.M7P8.*" -size 0 | wc -l)" = 1 &&
	test "$(find "$d/cur" -name "*.M3P4.$(printf "\377\376")mail*" | wc -l)" = 1 &&
	test "$(find "$d/.Odd Folder/cur" -name "*with spaces*" | wc -l)" = 1 &&
	test "$(find "$d/cur" -name "*xxxxx*" -printf %f | wc -c)" = 255 &&
	test "$(find "$d/deep" -name bottom.txt -printf "%d %p" | wc -c)" -gt 4096 &&
	test -f "r1/conf/name with
newline" &&
	test -f "r1/conf/tab	and \\backslash" &&
	test "$(stat -c %y r1/conf/postfix/main.cf)" = "2024-05-05 10:00:00.123456789 +0000" &&
	test "$(stat -c %a r1/dkim/birchwood.eu.dkim.key)" = 640 &&
	test "$(stat -c %a "$d/sieve")" = 700
'

test_expect_success 'restore the second snapshot into a new directory' '
	mb restore "$id2" --target "$SCRATCH/r2"
'

test_expect_success PYTHON3 'the second snapshot comes back bit for bit, with every attribute' '
	for s in vmail dkim conf; do
		mb_compare_trees "snap2/$s" "r2/$s" || return 1
	done &&
	mb_compare_trees tree/vmail r2/vmail
'

test_expect_success 'without python3: the second snapshot equals the tree' '
	for s in vmail dkim conf; do
		mb_compare_trees "tree/$s" "r2/$s" || return 1
	done
'

test_expect_success 'check --read-data finds nothing wrong' '
	mb check --read-data
'

test_expect_success 'after losing its cache a backup reads all, stores nothing new' '
	rm -rf cache &&
	mb backup --json --time 2025-01-02T04:00:00Z >b3.json &&
	cat b3.json &&
	test "$(mb_json_get bytes_read b3.json)" = "$(mb_json_get bytes_total b3.json)" &&
	test "$(mb_json_get bytes_new b3.json)" = 0 &&
	test "$(mb_json_get files_new b3.json)" = 0 &&
	test "$(mb_json_get packs b3.json)" = 0
'

test_expect_success 'an unchanged tree backs up again without reading a file' '
	mb backup --json --time 2025-01-02T05:00:00Z >b4.json &&
	test "$(mb_json_get bytes_read b4.json)" = 0 &&
	test "$(mb_json_get packs b4.json)" = 0 &&
	# the same entries (ls prints them in the manifest order, which may
	# differ: compare sorted)
	mb ls -l latest | LC_ALL=C sort >l4 &&
	mb ls -l "$id2" | LC_ALL=C sort >l2 &&
	test_cmp l2 l4
'

test_done
