#!/bin/bash
# SPDX-License-Identifier: MIT
# t1400-dr-runbook: the repository is readable without mailbackup. With only
# gpg, zstd, tar and coreutils, and the offline recovery key, every pack
# decrypts and unpacks, every manifest decrypts (signed by the host key), and
# the latest snapshot is rebuilt from them bit for bit. The commands here are
# those of docs/disaster-recovery.md.
. "$(dirname "$0")/lib-test.sh"

# These checks read and forge the entry lines of a format-1 manifest: the
# repository here is of format 1 (format 2's listings: t1740-listings).
export MB_TEST_FORMAT=1

for tool in gpg zstd tar sha256sum; do
	command -v $tool >/dev/null 2>&1 || test_skip_all "$tool not found"
done

test_expect_success 'setup: a host that backs up to an offline recovery key' '
	mb_setup_keys --dr &&
	mb_gen_tree tree --messages 250 --users 4 --domains 2 --attach-pct 5 --odd-names &&
	# GNU tar cannot extract paths over PATH_MAX: no deep nest here
	rm -rf tree/vmail/*/info/deep &&
	MB_RECIPIENTS=$DR_FPR mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "/^url = /a pack_size = 512K" "$CONF" &&
	mb init &&
	mb backup --time 2025-01-01T01:00:00Z >/dev/null &&
	mb_gen_tree tree --day &&
	mb backup --time 2025-01-02T01:00:00Z >/dev/null &&
	test "$(ls repo/snapshots | wc -l)" = 2 &&
	test "$(find repo/packs -type f | wc -l)" -ge 3
'

# From here on: no mailbackup. The recovery machine has the repository (a
# copy of the bucket or directory) and a keyring with the recovery secret key
# and the host public key.
export_dr() {
	GNUPGHOME=$SCRATCH/drkey
	export GNUPGHOME
}

test_expect_success 'runbook 1: the repository description is signed by the host key' '
	export_dr &&
	gpg --batch --status-fd 1 --verify repo/mailbackup.repo >status 2>/dev/null &&
	grep "^\[GNUPG:\] VALIDSIG .*$HOST_FPR\$" status &&
	grep "^recipient $DR_FPR\$" repo/mailbackup.repo &&
	grep "^signer $HOST_FPR\$" repo/mailbackup.repo
'

test_expect_success 'runbook 2: every pack is named by the SHA-256 of its bytes' '
	for p in repo/packs/*/*; do
		test "$(sha256sum <"$p" | cut -c1-64)" = "${p##*/}" || {
			echo "DAMAGED: $p"; return 1; }
	done
'

test_expect_success 'runbook 3: decrypt and unpack every pack with gpg, zstd and tar' '
	export_dr &&
	for p in repo/packs/*/*; do
		mkdir -p "unpacked/${p##*/}" &&
		gpg --batch --quiet --decrypt "$p" | zstd -d -q |
			tar -x -C "unpacked/${p##*/}" -f - || return 1
	done &&
	ls unpacked/*/ | grep -v -e "^unpacked" -e "^\$" | LC_ALL=C sort -u >sources &&
	printf "conf\ndkim\nvmail\n" >expect &&
	test_cmp expect sources
'

test_expect_success 'runbook 4: decrypt the manifests; each is signed by the host key' '
	export_dr &&
	for m in repo/snapshots/*; do
		gpg --batch --status-fd 3 --decrypt "$m" 3>status 2>/dev/null |
			zstd -d -q >"manifest.${m##*/}" &&
		grep "^\[GNUPG:\] VALIDSIG .*$HOST_FPR\$" status &&
		head -n 1 "manifest.${m##*/}" | grep "^mailbackup-manifest 1\$" &&
		n=$(grep -c "^e " "manifest.${m##*/}") &&
		tail -n 1 "manifest.${m##*/}" | grep "^end $n\$" || return 1
	done &&
	latest=$(ls repo/snapshots | tail -n 1) &&
	first=$(ls repo/snapshots | head -n 1) &&
	cp "manifest.$latest" manifest.latest &&
	cp "manifest.$first" manifest.first
'

# "e SOURCE TYPE MODE UID GID MTIME_NS SIZE SHA256 PATH [TARGET]"; PATH and
# TARGET escape bytes up to 0x20, "%" and 0x7f as %XX.
unescape() {
	printf "%b" "$(printf %s "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/%\([0-9A-F][0-9A-F]\)/\\\\x\1/g")"
}

test_expect_success 'runbook 5: the packs hold every file of both snapshots, by SHA-256' '
	# hash what tar unpacked (each member also carries its SHA-256 in the
	# pax header SCHILY.xattr.user.mailbackup.sha256)
	(cd unpacked && find . -type f -print0 | xargs -0 sha256sum) >contents.sha &&
	cut -c1-64 contents.sha | LC_ALL=C sort -u >have &&
	cat manifest.first manifest.latest |
		awk "\$1 == \"e\" && \$3 == \"f\" && \$8 > 0 { print \$9 }" |
		LC_ALL=C sort -u >wanted &&
	test "$(wc -l <wanted)" -gt 250 &&
	comm -23 wanted have >missing &&
	test_must_be_empty missing
'

test_expect_success 'runbook 5b: members are named SOURCE/PATH as at their first backup' '
	# "sha SOURCE/PATH" of every member, and of the first snapshot
	sed -e "s|^\([0-9a-f]*\)  \./[^/]*/|\1 |" contents.sha | LC_ALL=C sort >members &&
	awk "\$1 == \"e\" && \$3 == \"f\" && \$8 > 0 && \$10 !~ /%/ { print \$9, \$2 \"/\" \$10 }" \
		manifest.first | LC_ALL=C sort >first.files &&
	comm -23 first.files members >unmatched &&
	# a content that is in the snapshot twice is stored once, under one name
	cut -d " " -f 1 first.files | uniq -d >copies &&
	cut -d " " -f 1 unmatched | LC_ALL=C sort -u >unmatched.sha &&
	comm -23 unmatched.sha copies >bad &&
	test_must_be_empty bad &&
	test "$(comm -12 first.files members | wc -l)" -gt 250
'

test_expect_success 'every file of the tree has its content in the packs' '
	(cd tree && find . -type f -print0 | xargs -0 sha256sum) | cut -c1-64 |
		LC_ALL=C sort -u >tree.sha &&
	comm -23 tree.sha have >missing &&
	grep -v e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 missing >missing2 ||
	test_must_be_empty missing2
'

# Rebuild a snapshot from its manifest and the unpacked files: directories,
# files, symlinks; then modes, owners (as root) and times (that changes no
# directory, so the order does not matter: chmod and chown go in batches).
dr_rebuild() {
	local man=$1 out=$2 tag src type mode uid gid mt size sha path link p h f ns
	local -A blob
	while read -r h f; do
		blob[$h]=unpacked/${f#./}
	done <contents.sha
	rm -rf "$out.meta" && mkdir -p "$out" "$out.meta" || return 1
	while read -r tag src type mode uid gid mt size sha path link; do
		test "$tag" = e || continue
		case "$path" in
		*%*) path=$(unescape "$path") ;;
		esac
		p=$out/$src/$path
		case "$type" in
		d) mkdir -p "$p" ;;
		f)
			if test "$size" = 0; then
				: >"$p"
			else
				cp "${blob[$sha]}" "$p"
			fi
			;;
		l) ln -s "$(unescape "$link")" "$p" ;;
		esac || return 1
		test "$type" = l || printf "%s\0" "$p" >>"$out.meta/mode.$mode"
		printf "%s\0" "$p" >>"$out.meta/owner.$uid:$gid"
		printf -v ns %09d $((mt % 1000000000))
		printf "%s\0%s\0" "@$((mt / 1000000000)).$ns" "$p" >>"$out.meta/times"
	done <"$man"
	for f in "$out.meta"/mode.*; do
		xargs -0 chmod "${f##*.}" <"$f" || return 1
	done
	if test "$(id -u)" = 0; then
		for f in "$out.meta"/owner.*; do
			xargs -0 chown -h "${f##*.}" <"$f" || return 1
		done
	fi
	xargs -0 -n 2 sh -c "touch -h -d \"\$0\" \"\$1\"" <"$out.meta/times" &&
	rm -rf "$out.meta"
}

test_expect_success 'runbook 6: rebuild the latest snapshot from its manifest, bit for bit' '
	dr_rebuild manifest.latest rebuilt &&
	for s in vmail dkim conf; do
		mb_compare_trees "tree/$s" "rebuilt/$s" || return 1
	done
'

test_expect_success 'mailbackup itself agrees (with the recovery key)' '
	cat >dr.conf <<-EOF &&
	[repository]
	url = $SCRATCH/repo
	[keys]
	gnupg_home = $SCRATCH/drkey
	recipients = $DR_FPR
	trusted_signers = $HOST_FPR
	[options]
	cache_dir = $SCRATCH/drcache
	EOF
	"$MB_BIN" -c dr.conf restore latest --target "$SCRATCH/r" &&
	for s in vmail dkim conf; do
		mb_compare_trees "rebuilt/$s" "r/$s" || return 1
	done
'

test_done
