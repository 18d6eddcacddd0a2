#!/bin/bash
# SPDX-License-Identifier: MIT
# t4061-host-key-rotation: a new host key signs while the old one is being
# retired (trusted_signers lists both, old snapshots stay readable); rekey
# moves the metadata to the new host key; then the old key leaves the
# keyring and trusted_signers, and everything still checks and restores.
. "$(dirname "$0")/lib-test.sh"

test_expect_success 'setup: the old host key and a recovery key' '
	mb_setup_keys --dr &&
	OLD_FPR=$HOST_FPR
'

test_expect_success PYTHON3 'setup: a backup signed by the old host key' '
	mb_gen_tree tree --messages 150 --users 4 --domains 1 &&
	MB_RECIPIENTS=$DR_FPR mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb_copy_tree tree snap1 &&
	mb backup --json --time 2025-01-01T01:00:00Z >b1.json &&
	id1=$(mb_json_get id b1.json)
'

test_expect_success 'a new host key; both trusted while the old one is retired' '
	NEWH_FPR=$(mb_keygen "$SCRATCH/newkey" "mbtest new host") &&
	mb_gpg newkey --export-secret-keys "$NEWH_FPR" | mb_gpg gnupg --import &&
	mb_gpg gnupg --export "$NEWH_FPR" | mb_gpg drkey --import &&
	MB_RECIPIENTS=$DR_FPR MB_SIGNING_KEY=$NEWH_FPR \
		MB_TRUSTED_SIGNERS="$OLD_FPR $NEWH_FPR" \
		mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb snapshots >list &&
	test_grep "^$id1 " list &&
	mb check
'

test_expect_success 'the new host key backs up and dedups against the old index' '
	mb backup --json --time 2025-01-02T01:00:00Z >b2.json &&
	id2=$(mb_json_get id b2.json) &&
	test "$(mb_json_get bytes_new b2.json)" = 0
'

test_expect_success 'rekey moves index, listing packs and manifests to the new host key, no content pack' '
	# listing packs ("q", format 2) are metadata, encrypted to the host
	# key: they move with it; content packs stay as they are
	for ix in repo/index/*; do
		mb_manifest_decrypt gnupg "$ix" || return 1
	done >ix.before &&
	nq=$(grep -c "^q " ix.before) &&
	test "$nq" -ge 1 &&
	mb rekey --json >rk.json &&
	cat rk.json &&
	test "$(mb_json_get packs_rewritten rk.json)" = "$nq" &&
	grep "^p " ix.before | cut -d" " -f2 | sort >p.before &&
	for ix in repo/index/*; do
		mb_manifest_decrypt gnupg "$ix" || return 1
	done >ix.after &&
	grep "^p " ix.after | cut -d" " -f2 | sort >p.after &&
	test_cmp p.before p.after &&
	test "$(mb_json_get manifests_rewritten rk.json)" -ge 1 &&
	test "$(mb_json_get repo_file_rewritten rk.json)" = True
'

test_expect_success 'retire the old key: out of the keyring and trusted_signers' '
	mb_gpg gnupg --export-secret-keys "$OLD_FPR" >old.sec &&
	mkdir -m 700 oldhost &&
	mbt_track_gnupg "$SCRATCH/oldhost" &&
	mb_gpg oldhost --import old.sec &&
	mb_gpg gnupg --yes --delete-secret-and-public-keys "$OLD_FPR" &&
	! mb_gpg gnupg --list-keys "$OLD_FPR" &&
	MB_RECIPIENTS=$DR_FPR MB_SIGNING_KEY=$NEWH_FPR \
		MB_TRUSTED_SIGNERS=$NEWH_FPR \
		mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb snapshots >list &&
	test_grep "^$id1 " list &&
	test_grep "^$id2 " list &&
	mb check &&
	mb backup --json --time 2025-01-03T01:00:00Z >b3.json &&
	test "$(mb_json_get bytes_new b3.json)" = 0
'

test_expect_success 'the old host key decrypts no index object, listing pack or manifest' '
	for q in $(awk "\$1 == \"q\" { print \$2 }" ix.after); do
		test_must_fail mb_gpg oldhost --decrypt -o /dev/null \
			"repo/packs/${q%"${q#??}"}/$q" 2>/dev/null || return 1
	done &&
	for p in repo/index/* repo/snapshots/*; do
		test_must_fail mb_gpg oldhost --decrypt -o /dev/null "$p" 2>/dev/null ||
			return 1
	done
'

test_expect_success PYTHON3 'the recovery key, trusting only the new host key, restores bit for bit' '
	cat >dr.conf <<-EOF &&
	[repository]
	url = $SCRATCH/repo
	[keys]
	gnupg_home = $SCRATCH/drkey
	recipients = $DR_FPR
	trusted_signers = $NEWH_FPR
	[options]
	cache_dir = $SCRATCH/drcache
	EOF
	"$MB_BIN" -c dr.conf check --read-data &&
	"$MB_BIN" -c dr.conf restore "$id1" --target "$SCRATCH/r1" &&
	for s in vmail dkim conf; do
		mb_compare_trees "snap1/$s" "r1/$s" || return 1
	done
'

test_done
