#!/bin/bash
# SPDX-License-Identifier: MIT
# t4062-rekey-s3: rekey on an S3 repository (the local S3 test server):
# manifests are replaced under their own names by PUT, old packs deleted;
# the new recovery key alone restores bit for bit, the old one reads no
# pack, and a second rekey has nothing to do.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-s3.sh"

s3_start

test_expect_success 'setup: keys, a repository on S3 to the old recovery key' '
	mb_setup_keys --dr &&
	NEW_FPR=$(mb_keygen "$SCRATCH/newdr" "mbtest new recovery") &&
	mb_gpg newdr --export "$NEW_FPR" | mb_gpg gnupg --import &&
	mb_gpg gnupg --export "$HOST_FPR" | mb_gpg newdr --import &&
	s3_env &&
	mkdir src &&
	head -c 300000 /dev/urandom >src/a &&
	echo small >src/b &&
	MB_RECIPIENTS=$DR_FPR s3_write_config "[source small]" "type = files" \
		"path = $SCRATCH/src" &&
	mb init &&
	mb backup --time 2024-01-01T02:00:00Z &&
	head -c 100000 /dev/urandom >src/c &&
	mb backup --time 2024-01-02T02:00:00Z &&
	cp -a src copy
'

test_expect_success 'setup: the recovery machine (old and new secrets, the host key)' '
	mkdir -m 700 rk rk/gnupg &&
	mbt_track_gnupg "$SCRATCH/rk/gnupg" &&
	mb_gpg gnupg --export-secret-keys "$HOST_FPR" | mb_gpg rk/gnupg --import &&
	mb_gpg drkey --export-secret-keys "$DR_FPR" | mb_gpg rk/gnupg --import &&
	mb_gpg newdr --export-secret-keys "$NEW_FPR" | mb_gpg rk/gnupg --import &&
	sed -e "s#^gnupg_home = .*#gnupg_home = $SCRATCH/rk/gnupg#" \
		-e "s#^recipients = .*#recipients = $NEW_FPR#" \
		-e "s#^cache_dir = .*#cache_dir = $SCRATCH/rk/cache#" \
		"$CONF" >rk.conf &&
	chmod 600 rk.conf &&
	grep "^recipients = $NEW_FPR\$" rk.conf
'

test_expect_success 'rekey on S3, then nothing left to do' '
	"$MB_BIN" -c rk.conf rekey --json >rk.json &&
	cat rk.json &&
	test "$(mb_json_get packs_rewritten rk.json)" -ge 1 &&
	test "$(mb_json_get manifests_rewritten rk.json)" = 2 &&
	"$MB_BIN" -c rk.conf rekey --json >rk2.json &&
	cat rk2.json &&
	test "$(mb_json_get packs_rewritten rk2.json)" = 0 &&
	test "$(mb_json_get manifests_rewritten rk2.json)" = 0 &&
	"$MB_BIN" -c rk.conf check --read-data
'

test_expect_success 'the new recovery key alone restores bit for bit' '
	sed -e "s#^gnupg_home = .*#gnupg_home = $SCRATCH/newdr#" \
		-e "s#^signing_key = .*##" \
		-e "s#^cache_dir = .*#cache_dir = $SCRATCH/ndcache#" \
		-e "s#^\\[keys\\]#[keys]\\ntrusted_signers = $HOST_FPR#" \
		rk.conf >nd.conf &&
	chmod 600 nd.conf &&
	"$MB_BIN" -c nd.conf check --read-data &&
	"$MB_BIN" -c nd.conf restore latest --target "$SCRATCH/r" --source small &&
	mb_compare_trees copy r/small
'

test_expect_success 'the old recovery key alone reads no pack' '
	sed -e "s#^gnupg_home = .*#gnupg_home = $SCRATCH/drkey#" \
		-e "s#^recipients = .*#recipients = $DR_FPR#" \
		-e "s#^cache_dir = .*#cache_dir = $SCRATCH/drcache#" \
		nd.conf >old.conf &&
	chmod 600 old.conf &&
	"$MB_BIN" -c old.conf snapshots &&
	test_must_fail --exit 1 "$MB_BIN" -c old.conf restore latest --target "$SCRATCH/r2" 2>err &&
	cat err &&
	test_grep -i "secret key" err &&
	test -z "$(find r2 -type f 2>/dev/null)"
'

test_done
