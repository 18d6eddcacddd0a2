#!/bin/bash
# SPDX-License-Identifier: MIT
# t1680-cache-hostile: names planted in the cache directory (symbolic and
# hard links at files, files.new-PID, files.tmp-PID and the cached index
# copies) are never written or read through: a file elsewhere keeps its
# bytes. A cached plaintext index copy that was changed is dropped with a
# warning and fetched again. The next backup and restore work.
. "$(dirname "$0")/lib-test.sh"

# mb_as_pid CMD...: run mb with "$PID" set to the pid it will have (exec
# keeps the shell's pid), after planting with the function plant_at
mb_as_pid() {
	bash -c '
		. "$1"
		plant_at $$ || exit 99
		shift
		exec "$MB_BIN" -c "$CONF" "$@"' sh "$SCRATCH/plant.sh" "$@"
}

victim_same() {
	test "$(sha256sum <victim)" = "$(cat victim.sum)" &&
	test "$(stat -c %h victim)" = "$(cat victim.links)"
}

new_victim() {
	printf "precious bytes\n" >victim &&
	chmod 644 victim &&
	sha256sum <victim >victim.sum &&
	stat -c %h victim >victim.links
}

works_again() {
	mb_gen_tree tree --day --seed "$1" &&
	mb backup >/dev/null 2>err &&
	test_grep -v "does not match its hash" err &&
	rm -rf r && mb restore latest --target r &&
	mb_compare_trees tree/vmail r/vmail
}

test_expect_success 'setup: a backup and its cache' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 60 --users 2 --domains 1 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup >/dev/null &&
	mb restore latest --target r0 &&
	cdir=$(ls -d cache/*/) && cdir=${cdir%/} &&
	test -f "$cdir/files" &&
	ix=$(ls "$cdir/index" | head -n 1) && test -n "$ix" &&
	head -c 26 "$cdir/index/$ix" | grep -q "^mailbackup-cached-index 1 " &&
	export CONF cdir
'

for kind in "ln -s" "ln"; do
	test_expect_success "files.new-PID planted ($kind): the file elsewhere is untouched" "
		new_victim &&
		printf 'plant_at() { $kind \"$SCRATCH/victim\" \"$SCRATCH/\$cdir/files.new-\$1\"; }\n' >plant.sh &&
		mb_gen_tree tree --day --seed 11 &&
		mb_as_pid backup >/dev/null &&
		victim_same &&
		test -f \"\$cdir/files\" && ! test -L \"\$cdir/files\" &&
		test -z \"\$(ls \$cdir | grep files.new-)\"
	"

	test_expect_success "files.tmp-PID planted ($kind): the file elsewhere is untouched" "
		new_victim &&
		printf 'plant_at() { $kind \"$SCRATCH/victim\" \"$SCRATCH/\$cdir/files.tmp-\$1\"; }\n' >plant.sh &&
		mb_gen_tree tree --day --seed 12 &&
		mb_as_pid backup >/dev/null &&
		victim_same &&
		! test -L \"\$cdir/files\"
	"
done

test_expect_success 'files a link to a file elsewhere: not read, not written through' '
	new_victim &&
	rm "$cdir/files" && ln -s "$SCRATCH/victim" "$cdir/files" &&
	mb_gen_tree tree --day --seed 13 &&
	mb backup >/dev/null &&
	victim_same &&
	test -f "$cdir/files" && ! test -L "$cdir/files"
'

test_expect_success 'a cached index copy a link to a file elsewhere: not trusted' '
	new_victim &&
	cp "$cdir/index/$ix" victim && sha256sum <victim >victim.sum &&
	rm "$cdir/index/$ix" && ln -s "$SCRATCH/victim" "$cdir/index/$ix" &&
	rm -rf r && mb restore latest --target r &&
	mb_compare_trees tree/vmail r/vmail &&
	mb backup >/dev/null &&
	victim_same &&
	test -f "$cdir/index/$ix" && ! test -L "$cdir/index/$ix"
'

test_expect_success 'a changed cached index copy: dropped with a warning, fetched again' '
	cp "$cdir/index/$ix" good.copy &&
	# drop the last content line: that content would look absent
	awk "{ l[NR] = \$0 } END { for (i = 1; i <= NR; i++)
		if (!(i == NR - 1 && l[i] ~ /^b /)) print l[i] }" good.copy >bad.copy &&
	! cmp -s good.copy bad.copy &&
	cp bad.copy "$cdir/index/$ix" &&
	rm -rf r && mb restore latest --target r 2>err &&
	test_grep "cached copy .* of index object .index/$ix. does not match its hash: dropped" err &&
	mb_compare_trees tree/vmail r/vmail &&
	cmp good.copy "$cdir/index/$ix"
'

test_expect_success 'a flipped byte in a cached copy: the same at backup' '
	mb_flip_byte "$cdir/index/$ix" 200 &&
	mb_gen_tree tree --day --seed 14 &&
	mb backup >/dev/null 2>err &&
	test_grep "does not match its hash: dropped" err &&
	cmp good.copy "$cdir/index/$ix"
'

test_expect_success 'a copy of an older mailbackup (no header): fetched again quietly' '
	tail -n +2 good.copy >"$cdir/index/$ix" &&
	rm -rf r && mb restore latest --target r 2>err &&
	test_grep -v "does not match" err &&
	cmp good.copy "$cdir/index/$ix"
'

# A copy that matches its hash but does not parse (made so by a bug, not by
# an attacker: the hash was made for it) starts the load again from the
# objects, after its first content line was read: a restore, which keeps
# only the packs of its own contents as the index is read, must forget that
# and be told the rest again.
test_expect_success 'a cached copy that matches its hash but does not parse: the restore loads again' '
	tail -n +2 good.copy |
		awk "{ print } /^b / && !n++ { print \"b zz\" }" >body &&
	test "$(grep -c "^b [0-9a-f]" body)" -gt 1 &&
	printf "mailbackup-cached-index 1 %s\n" \
		"$(sha256sum <body | cut -c1-64)" >"$cdir/index/$ix" &&
	cat body >>"$cdir/index/$ix" &&
	rm -rf r && mb restore latest --target r 2>err &&
	test_grep "is damaged: dropped, fetched again" err &&
	mb_compare_trees tree/vmail r/vmail &&
	cmp good.copy "$cdir/index/$ix"
'

test_expect_success 'a truncated files cache: ignored with a warning, every file read' '
	mb backup --json >full.json &&
	truncate -s -5 "$cdir/files" &&
	mb backup --json >again.json 2>err &&
	test_grep "ignoring damaged cache" err &&
	test "$(mb_json_get bytes_read again.json)" = "$(mb_json_get bytes_total again.json)" &&
	test "$(mb_json_get bytes_new again.json)" = 0 &&
	head -c 8 "$cdir/files" >magic && printf MBCACHE1 >want &&
	test_cmp want magic &&
	mb backup --json >third.json &&
	test "$(mb_json_get bytes_read third.json)" = 0
'

test_expect_success 'the next backup and restore work' '
	works_again 15
'

test_done
