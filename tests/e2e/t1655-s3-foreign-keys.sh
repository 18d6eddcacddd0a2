#!/bin/bash
# SPDX-License-Identifier: MIT
# t1655-s3-foreign-keys: the common store layer deletes only keys of the
# forms mailbackup writes, on S3 too: objects of other forms planted in the
# bucket (by another client, rclone) under packs/ and tmp/ are named in a
# warning by prune and left alone, while the real unused packs go. The next
# backup and restore work.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-s3.sh"

if ! command -v rclone >/dev/null 2>&1; then
	if test -n "${CI:-}"; then
		echo "Bail out! rclone not found: install rclone" >&6
		exit 1
	fi
	test_skip_all "rclone not found: install rclone"
fi

s3_start

# rclone on the bucket (see t2003 for its settings)
rc() {
	env -u AWS_CA_BUNDLE \
		RCLONE_CONFIG_MBS3_TYPE=s3 RCLONE_CONFIG_MBS3_PROVIDER=Other \
		RCLONE_CONFIG_MBS3_ENDPOINT="$S3_ENDPOINT" \
		RCLONE_CONFIG_MBS3_REGION="$S3_REGION" \
		RCLONE_CONFIG_MBS3_ACCESS_KEY_ID="$S3_KEY" \
		RCLONE_CONFIG_MBS3_SECRET_ACCESS_KEY="$S3_SECRET" \
		RCLONE_CONFIG_MBS3_FORCE_PATH_STYLE=true \
		rclone --config "$SCRATCH/rclone.conf" --low-level-retries 1 \
		--retries 1 "$@"
}

test_expect_success 'setup: two snapshots, the first forgotten' '
	mb_setup_keys &&
	: >rclone.conf &&
	mb_gen_tree tree --messages 80 --users 3 --domains 1 &&
	s3_env &&
	s3_write_config -r "pack_size = 64K" "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup --time 2025-01-01T02:00:00Z >/dev/null &&
	rm -rf "$(find tree/vmail -mindepth 2 -maxdepth 2 -type d | head -n 1)" &&
	mb backup --time 2025-01-02T02:00:00Z >/dev/null &&
	mb forget --keep-last 1 >/dev/null
'

test_expect_success 'objects of foreign forms planted with another client' '
	echo stray >stray &&
	xx=$(s3_objects repo/packs/ | head -n 1 | cut -d/ -f3) &&
	for k in "packs/zz/junk" "packs/$xx/notes.txt" \
		"packs/$xx/${xx}0000000000000000000000000000000000000000000000000000000000000000" \
		"tmp/sub/file" "tmp/.hidden"; do
		rc copyto stray "mbs3:$S3_BUCKET/repo/$k" || return 1
	done &&
	s3_objects repo/ | cut -d" " -f1 >before &&
	test_grep "^repo/packs/zz/junk\$" before
'

test_expect_success 'prune leaves them, names them, deletes the unused packs' '
	s3_objects repo/packs/ | wc -l >packs.before &&
	mb prune --grace 0 >out 2>err &&
	cat err &&
	test_grep "refusing to delete object '\''packs/zz/junk'\''" err &&
	test_grep "refusing to delete object '\''packs/$xx/notes.txt'\''" err &&
	s3_objects repo/ | cut -d" " -f1 >after &&
	for k in "packs/zz/junk" "packs/$xx/notes.txt" \
		"packs/$xx/${xx}0000000000000000000000000000000000000000000000000000000000000000" \
		"tmp/sub/file" "tmp/.hidden"; do
		grep -qx "repo/$k" after || {
			echo "prune deleted $k" >&2
			return 1
		}
	done &&
	test "$(s3_objects repo/packs/ | wc -l)" -lt "$(cat packs.before)"
'

test_expect_success 'the next backup and restore work' '
	mb_gen_tree tree --day --seed 4 &&
	mb backup >/dev/null &&
	rm -rf r && mb restore latest --target r &&
	mb_compare_trees tree/vmail r/vmail
'

test_done
