#!/bin/bash
# SPDX-License-Identifier: MIT
# t2000-s3-basic: every command against an S3 server that checks SigV4
# signatures, with packs large enough for multipart uploads.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-s3.sh"

s3_start
# in front, without faults: its log shows the requests
s3_proxy_start --rate 0 --log-all

if "$MB_BIN" forget --help >/dev/null 2>&1; then
	test_set_prereq FORGET
fi
if "$MB_BIN" restore-test --help >/dev/null 2>&1; then
	test_set_prereq RESTORE_TEST
fi

# part_size 5M with s3_parallel 1: every pack over 5 MiB is a multipart upload
test_expect_success 'setup: keys, a tree, an s3 repository' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 300 --users 2 --domains 1 --odd-names &&
	s3_env &&
	s3_write_config -e "$S3_PROXY_ENDPOINT" -r "pack_size = 8M" \
		-r "part_size = 5M" -r "s3_parallel = 1" \
		"$(mb_tree_sources "$SCRATCH/tree")"
'

test_expect_success 'init writes mailbackup.repo into the bucket' '
	mb init &&
	s3_objects repo/ >objects &&
	test_grep "^repo/mailbackup.repo " objects &&
	test_must_fail --exit 1 mb init 2>err &&
	test_grep exists err
'

test_expect_success 'backup stores packs, index and snapshot objects' '
	mb backup --json --time 2025-01-01T02:00:00Z >b1.json &&
	id1=$(mb_json_get id b1.json) &&
	test "$(mb_json_get warnings b1.json)" = 0 &&
	s3_objects repo/ >objects &&
	test_grep "^repo/snapshots/20250101T020000Z-mbtest-$id1 " objects &&
	test_grep "^repo/index/" objects &&
	test_grep "^repo/packs/" objects
'

test_expect_success 'no temporary or lock object is left behind' '
	test_grep -v -e "^repo/tmp/" -e "^repo/locks/" objects &&
	! test -d "$S3_DIR/data/$S3_BUCKET/.uploads" ||
	test -z "$(ls -A "$S3_DIR/data/$S3_BUCKET/.uploads")"
'

test_expect_success 'packs over 5 MiB went up in parts, then were copied' '
	big=$(awk "/^repo\/packs\// && \$2 > 5 * 1048576" objects | wc -l) &&
	test "$big" -ge 1 &&
	test "$(grep -c "^pass POST /$S3_BUCKET/repo/tmp/[0-9a-f]*?uploads=\$" "$S3_PROXY_LOG")" = "$big" &&
	test_grep "^pass PUT /$S3_BUCKET/repo/tmp/[0-9a-f]*?partNumber=2&uploadId=" "$S3_PROXY_LOG" &&
	test_grep "^pass DELETE /$S3_BUCKET/repo/tmp/" "$S3_PROXY_LOG" &&
	small=$(awk "/^repo\/packs\// && \$2 <= 5 * 1048576" objects | wc -l) &&
	test "$(grep -c "^pass PUT /$S3_BUCKET/repo/packs/[0-9a-f]*/[0-9a-f]*\$" "$S3_PROXY_LOG")" = "$((big + small))"
'

test_expect_success 'each pack is named by the SHA-256 of the stored bytes' '
	for f in "$S3_DIR"/data/$S3_BUCKET/repo/packs/*/*._S3rver_object; do
		name=$(basename "$f" ._S3rver_object) &&
		echo "$name" >want &&
		sha256sum <"$f" | cut -c1-64 >got &&
		test_cmp want got || return 1
	done
'

test_expect_success 'objects carry the SHA-256 recorded at upload' '
	for f in "$S3_DIR"/data/$S3_BUCKET/repo/packs/*/*._S3rver_metadata.json; do
		name=$(basename "$f" ._S3rver_metadata.json) &&
		test_grep "\"x-amz-meta-mailbackup-sha256\": \"$name\"" "$f" ||
		return 1
	done
'

test_expect_success 'snapshots and ls' '
	mb snapshots >list &&
	test_grep "^$id1  2025-01-01T02:00:00Z  mbtest\$" list &&
	mb ls latest >ls.out &&
	(cd tree && find vmail dkim conf -mindepth 1) | LC_ALL=C sort >all &&
	# names that are not UTF-8 are printed quoted (see t1000)
	LC_ALL=C.UTF-8 grep -ax ".*" all >expect &&
	test "$(LC_ALL=C.UTF-8 grep -avxc ".*" all)" = "$(grep -ac "^\"" ls.out)" &&
	grep -a -v "^\(vmail\|dkim\|conf\)\$" ls.out | grep -av "^\"" |
		LC_ALL=C sort >actual &&
	test_cmp expect actual
'

test_expect_success 'restore gives back every byte and attribute' '
	mb restore latest --target "$SCRATCH/r1" &&
	mb_compare_trees tree/vmail r1/vmail &&
	mb_compare_trees tree/dkim r1/dkim &&
	mb_compare_trees tree/conf r1/conf
'

test_expect_success 'check and check --read-data pass' '
	mb check &&
	mb check --read-data
'

test_expect_success 'a second backup after a day of mail, with 3 uploads in flight' '
	mb_gen_tree tree --day --seed 2 &&
	s3_write_config -e "$S3_PROXY_ENDPOINT" -r "pack_size = 8M" \
		-r "part_size = 5M" -r "s3_parallel = 3" \
		"$(mb_tree_sources "$SCRATCH/tree")" &&
	mb backup --json --time 2025-01-02T02:00:00Z >b2.json &&
	id2=$(mb_json_get id b2.json) &&
	test "$(mb_json_get bytes_new b2.json)" -lt "$(mb_json_get bytes_new b1.json)" &&
	mb restore "$id2" --target "$SCRATCH/r2" &&
	mb_compare_trees tree/vmail r2/vmail
'

test_expect_success 'listings page with continuation tokens' '
	mb snapshots >list.full &&
	MAILBACKUP_TEST_S3_MAX_KEYS=1 mb snapshots >list.paged &&
	test_cmp list.full list.paged &&
	test "$(wc -l <list.paged)" = 2 &&
	MAILBACKUP_TEST_S3_MAX_KEYS=2 mb check --read-data
'

test_expect_success 'credentials from the config file work as well' '
	unset MAILBACKUP_S3_ACCESS_KEY_ID MAILBACKUP_S3_SECRET_ACCESS_KEY &&
	s3_write_config -r "access_key_id = $S3_KEY" \
		-r "secret_access_key = $S3_SECRET" \
		"$(mb_tree_sources "$SCRATCH/tree")" &&
	mb snapshots >list2 &&
	test_cmp list.full list2 &&
	s3_env
'

test_expect_success 'storage_class goes with the packs' '
	s3_write_config -r "storage_class = STANDARD_IA" \
		"$(mb_tree_sources "$SCRATCH/tree")" &&
	echo new >tree/conf/new-file &&
	mb backup &&
	grep -l STANDARD_IA "$S3_DIR"/data/$S3_BUCKET/repo/packs/*/*metadata.json >ia &&
	test "$(wc -l <ia)" -ge 1 &&
	! grep -l STANDARD_IA "$S3_DIR"/data/$S3_BUCKET/repo/snapshots/*metadata.json
'

test_expect_success 'a storage class the server refuses fails the backup cleanly' '
	mb snapshots >before &&
	s3_write_config -r "storage_class = NO_SUCH_CLASS" \
		"$(mb_tree_sources "$SCRATCH/tree")" &&
	echo newer >tree/conf/new-file &&
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "InvalidStorageClass" err &&
	mb snapshots >after &&
	test_cmp before after &&
	s3_write_config "$(mb_tree_sources "$SCRATCH/tree")"
'

test_expect_success FORGET 'forget and prune delete objects in the bucket' '
	s3_objects repo/packs/ >packs.before &&
	mb forget --keep-last 1 --prune &&
	mb snapshots >list &&
	test "$(wc -l <list)" = 1 &&
	s3_objects repo/packs/ >packs.after &&
	test "$(wc -l <packs.after)" -le "$(wc -l <packs.before)" &&
	mb check --read-data
'

# (the generated DKIM keys are no real PEM: restore-test covers vmail, conf)
test_expect_success RESTORE_TEST 'restore-test runs against the bucket' '
	s3_write_config "[source vmail]" "type = maildir" \
		"path = $SCRATCH/tree/vmail" "[source conf]" "type = files" \
		"path = $SCRATCH/tree/conf" &&
	mb backup &&
	mb restore-test latest
'

test_done
