#!/bin/bash
# SPDX-License-Identifier: MIT
# t1110-tamper-metadata: manifests, index objects and mailbackup.repo that are
# damaged, signed by a key outside trusted_signers, or not signed at all are
# refused by check and restore.
. "$(dirname "$0")/lib-test.sh"

test_expect_success 'setup: two snapshots, a second key' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 150 --users 4 --domains 1 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup --json --time 2025-01-01T00:00:00Z >b1.json &&
	mb_gen_tree tree --day &&
	mb backup --json --time 2025-01-02T00:00:00Z >b2.json &&
	id1=$(mb_json_get id b1.json) && id2=$(mb_json_get id b2.json) &&
	man1=$(ls repo/snapshots/*-$id1) && man2=$(ls repo/snapshots/*-$id2) &&
	ix1=$(ls repo/index | head -n 1) && ix1=repo/index/$ix1 &&
	test "$(ls repo/index | wc -l)" = 2 &&
	cp -a repo repo.good &&
	mb check --read-data &&
	# a key that is not the host key: the intruder, with the host public key
	OTHER_FPR=$(mb_keygen "$SCRATCH/other" "someone else") &&
	mb_gpg gnupg --export "$HOST_FPR" | mb_gpg other --import
'

# put the repository back as it was
restore_repo() {
	rm -rf repo && cp -a repo.good repo
}

test_expect_success 'a flipped byte in a manifest: check exits 4 and names it' '
	mb_flip_byte "$man1" &&
	test_must_fail --exit 4 mb check >out 2>err &&
	cat out err &&
	test_grep "$id1" err
'

test_expect_success 'a flipped byte in a manifest: restore and ls refuse it' '
	test_must_fail mb restore "$id1" --target "$SCRATCH/r1" 2>err &&
	cat err &&
	test_grep "$id1" err &&
	test -z "$(ls -A r1 2>/dev/null)" &&
	test_must_fail mb ls "$id1" >out 2>err &&
	test_must_be_empty out
'

test_expect_success 'a flipped byte in a manifest: the other snapshot restores' '
	mb restore "$id2" --target "$SCRATCH/r1b" &&
	mb_compare_trees tree/vmail r1b/vmail
'

test_expect_success 'a flipped byte at the start of a manifest' '
	restore_repo &&
	mb_flip_byte "$man2" 3 &&
	test_must_fail --exit 4 mb check 2>err &&
	test_grep "$id2" err &&
	test_must_fail mb restore "$id2" --target "$SCRATCH/r1c" 2>err &&
	test -z "$(ls -A r1c 2>/dev/null)"
'

test_expect_success 'a flipped byte in an index object: check exits 4' '
	restore_repo &&
	mb_flip_byte "$ix1" &&
	test_must_fail --exit 4 mb check >out 2>err &&
	cat out err &&
	test_grep "${ix1##*/}" err
'

# Restore reads the index from the local cache when it has it (the contents
# are verified against the signed manifest anyway); without a cache, as on a
# recovery machine, it reads and verifies the index objects.
test_expect_success 'a flipped byte in an index object: restore without cache refuses' '
	MB_CACHE_DIR=$SCRATCH/cache-fresh mb_write_config -o nocache.conf \
		"$(mb_tree_sources "$SCRATCH/tree")" &&
	test_must_fail --exit 4 "$MB_BIN" -c nocache.conf restore "$id1" \
		--target "$SCRATCH/r2" 2>err &&
	cat err &&
	test_grep "${ix1##*/}" err &&
	test -z "$(find r2 -type f 2>/dev/null)"
'

test_expect_success 'a flipped byte in an index object: restore from the cache is whole' '
	mb restore "$id1" --target "$SCRATCH/r2c" &&
	mb_compare_trees tree/dkim r2c/dkim
'

test_expect_success 'a manifest signed by an unknown key is refused (exit 4)' '
	restore_repo &&
	mb_manifest_decrypt gnupg "$man1" >plain1 &&
	head -n 1 plain1 | grep "^mailbackup-manifest" &&
	zstd -q -c plain1 >plain1.zst &&
	mb_gpg other --compress-algo none --encrypt --sign -u "$OTHER_FPR" \
		-r "$HOST_FPR" -o forged plain1.zst &&
	cp forged "$man1" &&
	test_must_fail --exit 4 mb check 2>err &&
	cat err &&
	test_grep "$id1" err &&
	test_must_fail --exit 4 mb restore "$id1" --target "$SCRATCH/r3" 2>err &&
	cat err &&
	test -z "$(ls -A r3 2>/dev/null)"
'

test_expect_success 'a manifest signed by a known key outside trusted_signers (exit 4)' '
	mb_gpg other --export "$OTHER_FPR" | mb_gpg gnupg --import &&
	test_must_fail --exit 4 mb check 2>err &&
	cat err &&
	test_grep "$id1" err &&
	test_must_fail --exit 4 mb restore "$id1" --target "$SCRATCH/r4" 2>err &&
	cat err &&
	test_grep "sign" err &&
	test -z "$(ls -A r4 2>/dev/null)"
'

test_expect_success 'the same manifest is accepted once its signer is trusted' '
	MB_TRUSTED_SIGNERS="$HOST_FPR $OTHER_FPR" mb_write_config -o trusting.conf \
		"$(mb_tree_sources "$SCRATCH/tree")" &&
	"$MB_BIN" -c trusting.conf restore "$id1" --target "$SCRATCH/r4b" &&
	test -d r4b/vmail
'

test_expect_success 'an unsigned, validly encrypted manifest is refused (exit 4)' '
	mb_gpg other --compress-algo none --encrypt -r "$HOST_FPR" -o unsigned plain1.zst &&
	cp unsigned "$man1" &&
	test_must_fail --exit 4 mb check 2>err &&
	cat err &&
	test_grep "$id1" err &&
	test_must_fail --exit 4 mb restore "$id1" --target "$SCRATCH/r5" 2>err &&
	cat err &&
	test -z "$(ls -A r5 2>/dev/null)" &&
	test_must_fail mb ls "$id1" 2>err
'

test_expect_success 'an unsigned index object is refused by check (exit 4)' '
	restore_repo &&
	mb_manifest_decrypt gnupg "$ix1" | zstd -q -c >ix.zst &&
	mb_gpg other --compress-algo none --encrypt -r "$HOST_FPR" -o ix.unsigned ix.zst &&
	cp ix.unsigned "$ix1" &&
	test_must_fail --exit 4 mb check 2>err &&
	cat err &&
	test_grep "${ix1##*/}" err &&
	rm -rf cache-fresh &&
	test_must_fail --exit 4 "$MB_BIN" -c nocache.conf restore "$id1" \
		--target "$SCRATCH/r6" 2>err &&
	test -z "$(find r6 -type f 2>/dev/null)"
'

test_expect_success 'an index object signed by an untrusted key is refused (exit 4)' '
	mb_gpg other --compress-algo none --encrypt --sign -u "$OTHER_FPR" \
		-r "$HOST_FPR" -o ix.forged ix.zst &&
	cp ix.forged "$ix1" &&
	test_must_fail --exit 4 mb check 2>err &&
	cat err &&
	test_grep "${ix1##*/}" err
'

test_expect_success 'mailbackup.repo with an edited line: check exits 4' '
	restore_repo &&
	mb check &&
	sed -i "s/^recipient .*/recipient $OTHER_FPR/" repo/mailbackup.repo &&
	test_must_fail --exit 4 mb check 2>err &&
	cat err &&
	test_grep "mailbackup.repo" err
'

test_expect_success 'mailbackup.repo with an edited line: backup refuses to write' '
	test_must_fail mb backup 2>err &&
	cat err &&
	test_grep "mailbackup.repo" err &&
	test "$(ls repo/snapshots | wc -l)" = 2
'

test_expect_success 'mailbackup.repo signed by an untrusted key: check exits 4' '
	restore_repo &&
	sed -n "/^mailbackup-repository/,/^-----BEGIN PGP SIGNATURE/p" repo/mailbackup.repo |
		sed "\$d" >repo.txt &&
	mb_gpg other --clearsign -u "$OTHER_FPR" -o repo.forged repo.txt &&
	cp repo.forged repo/mailbackup.repo &&
	test_must_fail --exit 4 mb check 2>err &&
	cat err &&
	test_grep "mailbackup.repo" err
'

test_expect_success 'with everything back, check passes' '
	restore_repo &&
	mb check --read-data
'

test_done
