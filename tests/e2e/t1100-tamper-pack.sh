#!/bin/bash
# SPDX-License-Identifier: MIT
# t1100-tamper-pack: a flipped byte, a truncated, a swapped or a missing pack
# is found by check, named, and restore makes nothing of it visible.
. "$(dirname "$0")/lib-test.sh"

# The contents (sha256) that the index objects place in pack $1.
pack_contents() {
	for ix in repo/index/*; do
		mb_manifest_decrypt gnupg "$ix" || return 1
	done | awk -v p="$1" '/^p / { cur = $2; next }
		/^b / && cur == p { print $2 }' | LC_ALL=C sort -u
}

# "sha256 source/path" of every non-empty file of the snapshot.
snapshot_files() {
	mb ls -l latest | awk '$1 == "f" && $4 > 0 {
		sha = $6; sub(/^([^ ]+ +){6}/, ""); print sha, $0 }'
}

# Every file restored below $1 is whole and right; none is from pack $2
# (unless another pack holds the same content too); no staging is left.
restored_only_good() {
	local t=$1 pack=$2
	pack_contents "$pack" >bad.sha &&
	test -s bad.sha &&
	awk 'NR == FNR { bad[$1] = 1; next } ($1 in bad) { sub(/^[^ ]+ /, ""); print }' \
		bad.sha all.files >bad.paths &&
	test -s bad.paths &&
	while IFS= read -r p; do
		if test -e "$t/$p"; then
			echo "visible although its pack is bad: $p"
			return 1
		fi
	done <bad.paths &&
	(cd "$t" && find . -type f -print0) | while IFS= read -r -d "" f; do
		cmp "tree/${f#./}" "$t/$f" || return 1
	done &&
	! test -e "$t/.mailbackup-restore"
}

test_expect_success 'setup: a tree in several packs, one snapshot' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 400 --users 8 --domains 2 --attach-pct 5 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "/^url = /a pack_size = 256K" "$CONF" &&
	mb init &&
	mb backup >/dev/null &&
	mb check --read-data &&
	snapshot_files >all.files &&
	find repo/packs -type f | LC_ALL=C sort >packs &&
	test "$(wc -l <packs)" -ge 4 &&
	# "pack mailbox" for every content of a mailbox
	for ix in repo/index/*; do
		mb_manifest_decrypt gnupg "$ix" || return 1
	done | awk "/^p / { p = \$2 } /^b / { print \$2, p }" >sha.pack &&
	awk "NR == FNR { pack[\$1] = \$2; next }
		\$2 ~ /^vmail\/[^\/]+\/[^\/]+\// && (\$1 in pack) {
			split(\$2, c, \"/\"); print pack[\$1], c[3] \"@\" c[2] }" \
		sha.pack all.files | LC_ALL=C sort -u >pack.mailbox &&
	# the mailbox in the fewest packs, and a pack of mail it is not in
	m=$(cut -d " " -f 2 pack.mailbox | LC_ALL=C sort | uniq -c | sort -n |
		awk "NR == 1 { print \$2 }") &&
	name=$(awk -v m="$m" "\$2 == m { skip[\$1] = 1; next } { print \$1 }" \
		pack.mailbox pack.mailbox | while read -r p; do
			grep -q "^$p $m\$" pack.mailbox || echo "$p"
		done | LC_ALL=C sort -u | head -n 1) &&
	test -n "$m" && test -n "$name" &&
	echo "victim pack $name, mailbox $m is elsewhere" &&
	victim=repo/packs/$(printf %s "$name" | cut -c1-2)/$name &&
	test -f "$victim" &&
	cp "$victim" saved.pack
'

test_expect_success 'a flipped byte: check without --read-data sees sizes only' '
	mb_flip_byte "$victim" &&
	mb check
'

test_expect_success 'a flipped byte: check --read-data exits 4 and names the pack' '
	test_must_fail --exit 4 mb check --read-data >out 2>err &&
	cat out err &&
	test_grep "$name" err
'

test_expect_success 'a flipped byte: restore fails, names the pack, shows nothing of it' '
	test_must_fail mb restore latest --target "$SCRATCH/r1" >out 2>err &&
	cat err &&
	test_grep "$name" err &&
	restored_only_good r1 "$name"
'

test_expect_success 'a mailbox that is not in the bad pack still restores' '
	mb restore latest --target "$SCRATCH/r1m" --mailbox "$m" &&
	mb_compare_trees "tree/vmail/${m#*@}/${m%@*}" "r1m/vmail/${m#*@}/${m%@*}"
'

test_expect_success 'a truncated pack: check exits 4 and names it' '
	cp saved.pack "$victim" &&
	mb check --read-data &&
	size=$(stat -c %s "$victim") &&
	truncate -s $((size - 1000)) "$victim" &&
	test_must_fail --exit 4 mb check >out 2>err &&
	cat out err &&
	test_grep "$name" err &&
	test_must_fail --exit 4 mb check --read-data >out 2>err &&
	test_grep "$name" err
'

test_expect_success 'a truncated pack: restore fails, names it, shows nothing of it' '
	test_must_fail mb restore latest --target "$SCRATCH/r2" >out 2>err &&
	cat err &&
	test_grep "$name" err &&
	restored_only_good r2 "$name"
'

test_expect_success 'a pack cut to the same size with zeros at the end' '
	cp saved.pack "$victim" &&
	size=$(stat -c %s "$victim") &&
	truncate -s $((size - 512)) "$victim" && truncate -s "$size" "$victim" &&
	test_must_fail --exit 4 mb check --read-data 2>err &&
	test_grep "$name" err &&
	test_must_fail mb restore latest --target "$SCRATCH/r3" 2>err &&
	test_grep "$name" err &&
	restored_only_good r3 "$name"
'

test_expect_success 'another valid pack under the name: found by its hash' '
	other=$(grep -v "$name" packs | head -n 1) &&
	cp "$other" "$victim" &&
	test_must_fail --exit 4 mb check --read-data 2>err &&
	cat err &&
	test_grep "$name" err &&
	test_must_fail mb restore latest --target "$SCRATCH/r4" 2>err &&
	test_grep "$name" err &&
	restored_only_good r4 "$name"
'

test_expect_success 'a missing pack: check without --read-data exits 4 and names it' '
	rm "$victim" &&
	test_must_fail --exit 4 mb check >out 2>err &&
	cat out err &&
	test_grep "$name" err
'

test_expect_success 'a missing pack: restore fails and names it' '
	test_must_fail mb restore latest --target "$SCRATCH/r5" 2>err &&
	cat err &&
	test_grep "$name" err &&
	restored_only_good r5 "$name"
'

test_expect_success 'with the pack put back, check and restore are whole again' '
	cp saved.pack "$victim" &&
	mb check --read-data &&
	mb restore latest --target "$SCRATCH/r6" &&
	for s in vmail dkim conf; do
		mb_compare_trees "tree/$s" "r6/$s" || return 1
	done
'

test_done
