#!/bin/bash
# SPDX-License-Identifier: MIT
# t1020-partial-restore: restore one source, one mailbox, or the paths that
# match a glob: exactly those entries come back, intact, and only the packs
# that hold them are needed.
. "$(dirname "$0")/lib-test.sh"

# The regular files and symlinks below DIR, relative to it, sorted.
files_below() {
	(cd "$1" && find . ! -type d -print0) | LC_ALL=C sort -z | tr '\0' '\n'
}

# The packs (by name) that hold the given contents: "p" lines of the index
# objects name a pack, the "b" lines after them its contents.
packs_holding() {
	for ix in repo/index/*; do
		mb_manifest_decrypt gnupg "$ix" || return 1
	done | awk 'NR == FNR { want[$1] = 1; next }
		/^p / { pack = $2; next }
		/^b / && ($2 in want) { print pack }' "$1" - | LC_ALL=C sort -u
}

test_expect_success 'setup: a tree in small packs, one snapshot' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 1500 --users 24 --domains 3 --attach-pct 4 --odd-names &&
	mb_write_config "[source vmail]" "type = maildir" \
		"path = $SCRATCH/tree/vmail" "include_index = yes" \
		"[source dkim]" "type = files" "path = $SCRATCH/tree/dkim" \
		"[source conf]" "type = files" "path = $SCRATCH/tree/conf" &&
	sed -i "/^url = /a pack_size = 256K" "$CONF" &&
	mb init &&
	mb backup --json >b.json &&
	id=$(mb_json_get id b.json) &&
	npacks=$(find repo/packs -type f | wc -l) &&
	test "$npacks" -ge 8
'

test_expect_success '--source: only that source comes back, whole' '
	mb restore "$id" --target "$SCRATCH/rs" --source dkim 2>err &&
	ls rs >sources &&
	echo dkim >expect &&
	test_cmp expect sources &&
	mb_compare_trees tree/dkim rs/dkim
'

test_expect_success '--source of a source that is not in the snapshot fails' '
	test_must_fail mb restore "$id" --target "$SCRATCH/rx" --source nosuch 2>err &&
	cat err &&
	test_grep "nosuch\|nothing" err &&
	! test -e rx/nosuch
'

# the mailbox with the hard names, and a plain one
mbox1=info@birchwood.eu
mbox2=$(cd tree/vmail && ls -d */* | grep -v "^birchwood.eu/info$" | sed -n 5p |
	sed "s|^\([^/]*\)/\(.*\)|\2@\1|")

test_expect_success '--mailbox: only that mailbox, every byte and attribute' '
	test -n "$mbox2" &&
	for m in $mbox1 $mbox2; do
		user=${m%@*} domain=${m#*@} &&
		t=$SCRATCH/rm-$user-$domain &&
		mb restore "$id" --target "$t" --mailbox "$m" 2>err &&
		cat err &&
		ls "$t" >sources && echo vmail >expect && test_cmp expect sources &&
		ls "$t/vmail" >doms && echo "$domain" >expect && test_cmp expect doms &&
		ls "$t/vmail/$domain" >users && echo "$user" >expect &&
		test_cmp expect users &&
		mb_compare_trees "tree/vmail/$domain/$user" "$t/vmail/$domain/$user" ||
		return 1
	done
'

test_expect_success 'ls of a path that is not in the snapshot fails and says so' '
	test_must_fail --exit 1 mb ls "$id" vmail/no-such-domain >out 2>err &&
	test_must_be_empty out &&
	test_grep "no-such-domain" err &&
	mb ls "$id" vmail >out &&
	test -s out
'

test_expect_success '--mailbox restores only from the packs that hold the mailbox' '
	m=$mbox2 && user=${m%@*} domain=${m#*@} &&
	mb ls -l "$id" "vmail/$domain/$user" | awk "\$1 == \"f\" && \$4 > 0 { print \$6 }" |
		LC_ALL=C sort -u >want &&
	test -s want &&
	packs_holding want >needed &&
	n_needed=$(wc -l <needed) &&
	echo "mailbox $m is in $n_needed of $npacks packs" &&
	test "$n_needed" -ge 1 &&
	test "$n_needed" -lt "$npacks" &&
	# (an empty file needs no pack)
	# hide every other pack: the restore must not miss them (listing
	# packs, "q" in the index, stay: they say what the snapshot holds)
	for ix in repo/index/*; do
		mb_manifest_decrypt gnupg "$ix" || return 1
	done | awk "\$1 == \"q\" { print \$2 }" >listing-packs &&
	mkdir hidden &&
	for p in repo/packs/*/*; do
		grep -q "^${p##*/}\$" needed listing-packs ||
			mv "$p" hidden/ || return 1
	done &&
	mb restore "$id" --target "$SCRATCH/rm-hidden" --mailbox "$m" 2>err &&
	cat err &&
	test_grep "from $n_needed packs" err &&
	mb_compare_trees "tree/vmail/$domain/$user" "rm-hidden/vmail/$domain/$user"
'
# put the packs back even if the test failed
for p in hidden/*; do
	test -e "$p" && mv "$p" "repo/packs/$(printf %s "${p#hidden/}" | cut -c1-2)/"
done
rmdir hidden 2>/dev/null

test_expect_success 'check is happy again with every pack back' '
	mb check
'

test_expect_success '--mailbox that is not in the snapshot fails and writes nothing' '
	test_must_fail mb restore "$id" --target "$SCRATCH/rnone" --mailbox nobody@nowhere.example 2>err &&
	cat err &&
	test -z "$(ls -A rnone 2>/dev/null)"
'

test_expect_success '--mailbox must be USER@DOMAIN' '
	test_must_fail mb restore "$id" --target "$SCRATCH/rbad" --mailbox justauser 2>err &&
	test_grep "USER@DOMAIN" err &&
	test_must_fail mb restore "$id" --target "$SCRATCH/rbad" --mailbox "a/b@c" 2>err &&
	test -z "$(ls -A rbad 2>/dev/null)"
'

test_expect_success '--path GLOB: exactly the matching files' '
	m=$mbox2 && user=${m%@*} domain=${m#*@} &&
	mb restore "$id" --target "$SCRATCH/rp" --source vmail \
		--path "$domain/$user/cur/*" 2>err &&
	cat err &&
	files_below "tree/vmail/$domain/$user/cur" >expect &&
	test "$(wc -l <expect)" -ge 3 &&
	files_below "rp/vmail/$domain/$user/cur" >actual &&
	test_cmp expect actual &&
	# and nothing else
	files_below rp >all &&
	sed "s|^\./|./vmail/$domain/$user/cur/|" expect >expect.all &&
	test_cmp expect.all all &&
	# cur itself was not selected: restore made it, with its own attributes
	mb_compare_trees --skip-root "tree/vmail/$domain/$user/cur" "rp/vmail/$domain/$user/cur"
'

test_expect_success '--path matching a directory brings what is below it' '
	mb restore "$id" --target "$SCRATCH/rpd" --path "postfix" 2>err &&
	ls rpd >sources && echo conf >expect && test_cmp expect sources &&
	mb_compare_trees tree/conf/postfix rpd/conf/postfix &&
	files_below rpd >all &&
	(cd tree/conf && find postfix ! -type d) | sed "s|^|./conf/|" |
		LC_ALL=C sort >expect &&
	test_cmp expect all
'

test_expect_success '--path with one file name: that file only' '
	f=$(cd tree/vmail && find birchwood.eu/info/cur -name "*M9P10*") &&
	test -n "$f" &&
	mb restore "$id" --target "$SCRATCH/rp1" --source vmail --path "$f" &&
	files_below rp1 >all &&
	printf "./vmail/%s\n" "$f" >expect &&
	test_cmp expect all &&
	cmp "tree/vmail/$f" "rp1/vmail/$f" &&
	test "$(stat -c %a:%Y "rp1/vmail/$f")" = "$(stat -c %a:%Y "tree/vmail/$f")"
'

test_expect_success '--path reaches below the deep nest and the odd names' '
	mb restore "$id" --target "$SCRATCH/rpx" --source vmail \
		--path "*/info/deep/*/bottom.txt" &&
	test "$(find rpx -name bottom.txt | wc -l)" = 1 &&
	test "$(mb_tree_files rpx)" = 1 &&
	mb restore "$id" --target "$SCRATCH/rpy" --source vmail --path "*/.Odd Folder/*" &&
	mb_compare_trees --skip-root "tree/vmail/birchwood.eu/info/.Odd Folder" \
		"rpy/vmail/birchwood.eu/info/.Odd Folder"
'

test_expect_success '--mailbox with --path: the intersection' '
	m=$mbox1 && user=${m%@*} domain=${m#*@} &&
	mb restore "$id" --target "$SCRATCH/rmp" --mailbox "$m" --path "*/sieve/*" &&
	files_below rmp >all &&
	printf "./vmail/%s/%s/sieve/%s\n" "$domain" "$user" notify.sh \
		"$domain" "$user" roundcube.sieve >expect &&
	test_cmp expect all
'

test_expect_success 'a --path that matches nothing fails and writes nothing' '
	test_must_fail mb restore "$id" --target "$SCRATCH/rpn" --path "no/such/*" 2>err &&
	test_grep "nothing" err &&
	test -z "$(ls -A rpn 2>/dev/null)"
'

test_done
