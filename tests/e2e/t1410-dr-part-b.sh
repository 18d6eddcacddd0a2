#!/bin/bash
# SPDX-License-Identifier: MIT
# t1410-dr-part-b: part B of docs/disaster-recovery.md, as written: its five
# scripts and its step-by-step block (B.3) are taken from the page, only the
# example paths, fingerprint, snapshot and mailbox replaced, and run with sh,
# gpg, zstd, tar and awk on a repository of format 2 (listings) and on one of
# format 1. The rebuilt tree and the one mailbox equal the backed-up tree.
. "$(dirname "$0")/lib-test.sh"

for tool in gpg zstd tar awk sha256sum; do
	command -v $tool >/dev/null 2>&1 || test_skip_all "$tool not found"
done

doc="$MB_SRCDIR/docs/disaster-recovery.md"

# doc_block HEADING-AWK-REGEX: the first ```sh block after the heading
doc_block() {
	awk -v re="$1" '$0 ~ re { f = 1; next }
		f && /^```sh/ { g = 1; next } g && /^```/ { exit } g { print }' "$doc"
}

# part_b DIR REPO: B.3 in DIR/srv/dr against REPO, as the page says
part_b() {
	local dir=$1 repo=$2 snap dom usr
	mkdir -p "$dir/srv/dr" &&
	for s in mb-dr-open.sh mb-dr-packs.sh mb-dr-unpack.sh mb-dr-expand.sh \
		mb-dr-rebuild.sh; do
		doc_block "^#### $s\$" >"$dir/srv/dr/$s" &&
		test -s "$dir/srv/dr/$s" || return 1
	done &&
	doc_block "^### B.3" >"$dir/b3.sh" &&
	grep -q "mb-dr-rebuild.sh manifest.txt store out-alice" "$dir/b3.sh" &&
	snap=$(ls "$repo/snapshots" | tail -n 1) &&
	dom=$(ls tree/vmail | head -n 1) &&
	usr=$(ls "tree/vmail/$dom" | head -n 1) &&
	sed -i -e "s,/root/dr-gnupg,$SCRATCH/drkey," \
		-e "s,^HOSTFPR=.*,HOSTFPR=$HOST_FPR," -e "s,^REPO=.*,REPO=$repo," \
		-e "s,/srv/dr,$dir/srv/dr,g" -e "s,^SNAP=.*,SNAP=$snap," \
		-e "s,example.org/alice,$dom/$usr," "$dir/b3.sh" &&
	(sh -e "$dir/b3.sh") >"$dir/b3.out" 2>&1 || { cat "$dir/b3.out"; return 1; }
	cat "$dir/b3.out" &&
	for s in vmail dkim conf; do
		mb_compare_trees "tree/$s" "$dir/srv/dr/out/$s" || return 1
	done &&
	mb_compare_trees "tree/vmail/$dom/$usr" \
		"$dir/srv/dr/out-alice/vmail/$dom/$usr"
}

test_expect_success 'setup: a host backing up to an offline recovery key' '
	mb_setup_keys --dr &&
	mb_gen_tree tree --messages 200 --users 4 --domains 2 --attach-pct 5 --odd-names &&
	# GNU tar cannot extract paths over PATH_MAX: no deep nest here
	rm -rf tree/vmail/*/info/deep &&
	MB_RECIPIENTS=$DR_FPR mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "/^url = /a pack_size = 512K" "$CONF" &&
	mb init &&
	mb backup --time 2025-01-01T01:00:00Z >/dev/null &&
	mb_gen_tree tree --day &&
	mb backup --time 2025-01-02T01:00:00Z >/dev/null &&
	grep "^mailbackup-repository 2\$" repo/mailbackup.repo
'

test_expect_success 'part B, as written, on a repository of format 2' '
	part_b "$SCRATCH/f2" "$SCRATCH/repo" &&
	head -n 1 f2/srv/dr/manifest2.txt | grep "^mailbackup-manifest 2\$" &&
	test_grep "^end " f2/srv/dr/manifest.txt
'

test_expect_success 'part B, as written, on a repository of format 1' '
	mb_write_config -o v1.conf "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "s#^url = .*#url = $SCRATCH/repo1#; s#^cache_dir = .*#cache_dir = $SCRATCH/cache1#; s#^recipients = .*#recipients = $DR_FPR#" v1.conf &&
	MB_TEST_FORMAT=1 "$MB_BIN" -c v1.conf init &&
	MB_TEST_FORMAT=1 "$MB_BIN" -c v1.conf backup >/dev/null &&
	grep "^mailbackup-repository 1\$" repo1/mailbackup.repo &&
	part_b "$SCRATCH/f1" "$SCRATCH/repo1" &&
	head -n 1 f1/srv/dr/manifest.txt | grep "^mailbackup-manifest 1\$" &&
	test ! -e f1/srv/dr/manifest2.txt
'

test_done
