#!/bin/bash
# SPDX-License-Identifier: MIT
# t2003-s3-interop: what mailbackup wrote to S3 is listed and fetched
# byte-identical by another client (rclone), and a repository copied between
# a directory and a bucket with plain tools still restores.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-s3.sh"

if ! command -v rclone >/dev/null 2>&1; then
	if test -n "${CI:-}" || test "${MB_REQUIRE_S3:-0}" = 1; then
		echo "Bail out! rclone not found: install rclone" >&6
		exit 1
	fi
	test_skip_all "rclone not found: install rclone"
fi

s3_start

# rclone's remote "mbs3:" from the environment; it fails on AWS_CA_BUNDLE
# with plain http, so that one goes. --fast-list lists without a delimiter:
# s3rver leaves out a CommonPrefix ("packs/") that holds only deeper ones.
rc() {
	env -u AWS_CA_BUNDLE \
		RCLONE_CONFIG_MBS3_TYPE=s3 RCLONE_CONFIG_MBS3_PROVIDER=Other \
		RCLONE_CONFIG_MBS3_ENDPOINT="$S3_ENDPOINT" \
		RCLONE_CONFIG_MBS3_REGION="$S3_REGION" \
		RCLONE_CONFIG_MBS3_ACCESS_KEY_ID="$S3_KEY" \
		RCLONE_CONFIG_MBS3_SECRET_ACCESS_KEY="$S3_SECRET" \
		RCLONE_CONFIG_MBS3_FORCE_PATH_STYLE=true \
		rclone --config "$SCRATCH/rclone.conf" --low-level-retries 1 \
		--retries 1 --fast-list "$@"
}

test_expect_success 'setup: two snapshots in the bucket, packs in parts' '
	mb_setup_keys &&
	: >rclone.conf &&
	mb_gen_tree tree --messages 200 --users 4 --domains 2 --odd-names &&
	s3_env &&
	s3_write_config -r "pack_size = 8M" -r "part_size = 5M" \
		-r "s3_parallel = 1" "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup --time 2025-01-01T02:00:00Z &&
	mb_gen_tree tree --day --seed 3 &&
	mb backup --time 2025-01-02T02:00:00Z
'

test_expect_success 'rclone lists the same objects with the same sizes' '
	s3_objects repo/ | sed "s#^repo/##" >expect &&
	rc lsf -R --files-only --format ps --separator " " mbs3:$S3_BUCKET/repo |
		LC_ALL=C sort >actual &&
	test_cmp expect actual
'

test_expect_success 'rclone fetches every object byte-identical' '
	rc copy mbs3:$S3_BUCKET/repo copy &&
	(cd copy && find . -type f -printf "%P\n") | LC_ALL=C sort >fetched &&
	cut -d" " -f1 expect >want &&
	test_cmp want fetched &&
	while read -r key; do
		cmp "copy/$key" "$S3_DIR/data/$S3_BUCKET/repo/$key._S3rver_object" ||
		return 1
	done <want &&
	for f in copy/packs/*/*; do
		test "$(sha256sum <"$f" | cut -c1-64)" = "$(basename "$f")" ||
		return 1
	done
'

test_expect_success 'the copy is a local repository that restores' '
	mb snapshots >s3.list &&
	cp "$CONF" conf.s3 &&
	MB_REPO_URL=$SCRATCH/copy mb_write_config \
		"$(mb_tree_sources "$SCRATCH/tree")" &&
	mb snapshots >local.list &&
	test_cmp s3.list local.list &&
	mb check --read-data &&
	mb restore latest --target "$SCRATCH/r1" &&
	mb_compare_trees tree/vmail r1/vmail &&
	mb_compare_trees tree/dkim r1/dkim
'

test_expect_success 'a local repository copied into the bucket restores from it' '
	MB_REPO_URL=$SCRATCH/local mb_write_config \
		"$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup &&
	mb snapshots >l.list &&
	rc copy local mbs3:$S3_BUCKET/fromlocal &&
	s3_write_config -p fromlocal "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb snapshots >s.list &&
	test_cmp l.list s.list &&
	mb check --read-data &&
	mb restore latest --target "$SCRATCH/r2" &&
	mb_compare_trees tree/vmail r2/vmail
'

test_expect_success 'and takes new backups there' '
	echo more >>tree/conf/mailcow.conf &&
	mb backup &&
	mb check --read-data &&
	test "$(mb snapshots | wc -l)" = 2
'

test_expect_success 'an object changed behind our back is caught on download' '
	s3_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	snap=$(ls "$S3_DIR/data/$S3_BUCKET/repo/snapshots/" | grep "_S3rver_object\$" | head -n 1) &&
	mb_flip_byte "$S3_DIR/data/$S3_BUCKET/repo/snapshots/$snap" &&
	test_must_fail mb check 2>err &&
	test_grep "corrupt\|SHA-256\|signature\|verif" err
'

test_done
