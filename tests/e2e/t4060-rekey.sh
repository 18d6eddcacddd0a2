#!/bin/bash
# SPDX-License-Identifier: MIT
# t4060-rekey: the recovery key changes from an old to a new one. rekey,
# run where the old recovery key's secret is, rewrites every pack, index
# object and manifest to the new recipients: afterwards the old key
# decrypts nothing, the new one restores every snapshot bit for bit. A run
# killed at its commit points leaves a repository that check --read-data
# passes, and the next run finishes. Without a secret key it changes nothing.
. "$(dirname "$0")/lib-test.sh"

# a checksum of every object of the repository (not the locks)
repo_state() {
	(cd repo && find . -path ./locks -prune -o -type f -print0 | sort -z |
		xargs -0 sha256sum)
}

stop_and_kill() {
	local point=$1
	shift
	{ MB_TEST_STOP_AT=$point "$MB_BIN" "$@" >stopped.out 2>&1 & } &&
	CRASH_PID=$! &&
	i=0 && until case "$(ps -o stat= -p $CRASH_PID)" in T*) true ;; *) false ;; esac; do
		sleep 0.02; i=$((i + 1)); test $i -lt 3000 || return 1
	done &&
	kill -KILL $CRASH_PID &&
	{ wait $CRASH_PID; test $? = 137; }
}

test_expect_success 'setup: host key, old and new recovery keys' '
	mb_setup_keys --dr &&
	NEW_FPR=$(mb_keygen "$SCRATCH/newdr" "mbtest new recovery") &&
	mb_gpg newdr --export "$NEW_FPR" | mb_gpg gnupg --import &&
	mb_gpg gnupg --export "$HOST_FPR" | mb_gpg newdr --import
'

test_expect_success PYTHON3 'setup: two backups to the old recovery key' '
	mb_gen_tree tree --messages 300 --users 6 --domains 2 --attach-pct 5 &&
	MB_RECIPIENTS=$DR_FPR mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb_copy_tree tree snap1 &&
	mb backup --json --time 2025-01-01T01:00:00Z >b1.json &&
	id1=$(mb_json_get id b1.json) &&
	mb_gen_tree tree --day &&
	mb backup --json --time 2025-01-02T01:00:00Z >b2.json &&
	id2=$(mb_json_get id b2.json) &&
	test "$(ls repo/packs/*/* | wc -l)" -ge 2 &&
	for p in repo/packs/*/*; do
		mb_gpg drkey --decrypt -o /dev/null "$p" || return 1
	done
'

test_expect_success 'setup: the host now names the new recovery key' '
	cp "$CONF" old.conf &&
	sed -i "s/^recipients = .*/recipients = $NEW_FPR/" "$CONF" &&
	grep "^recipients = $NEW_FPR\$" "$CONF"
'

test_expect_success 'rekey without any usable secret key fails and changes nothing' '
	repo_state >before &&
	test_must_fail --exit 1 mb rekey 2>err &&
	cat err &&
	test_grep "secret" err &&
	test_grep "nothing was changed" err &&
	repo_state >after &&
	test_cmp before after
'

test_expect_success 'the recovery machine: old and new recovery secrets, the host key' '
	mkdir -m 700 rk &&
	mbt_track_gnupg "$SCRATCH/rk/gnupg" &&
	mkdir -m 700 rk/gnupg &&
	mb_gpg gnupg --export-secret-keys "$HOST_FPR" | mb_gpg rk/gnupg --import &&
	mb_gpg drkey --export-secret-keys "$DR_FPR" | mb_gpg rk/gnupg --import &&
	mb_gpg newdr --export-secret-keys "$NEW_FPR" | mb_gpg rk/gnupg --import &&
	MB_GNUPG_HOME=$SCRATCH/rk/gnupg MB_RECIPIENTS=$NEW_FPR \
		MB_CACHE_DIR=$SCRATCH/rk/cache mb_write_config -o rk.conf
'

test_expect_success 'rekey --dry-run counts every pack and changes nothing' '
	repo_state >before &&
	"$MB_BIN" -c rk.conf rekey --dry-run --json >dry.json &&
	cat dry.json &&
	n=$(ls repo/packs/*/* | wc -l) &&
	test "$(mb_json_get packs dry.json)" = "$n" &&
	test "$(mb_json_get packs_rewritten dry.json)" = "$n" &&
	test "$(mb_json_get packs_skipped dry.json)" = 0 &&
	test "$(mb_json_get manifests_rewritten dry.json)" = 2 &&
	repo_state >after &&
	test_cmp before after
'

test_expect_success 'setup: a copy of the repository before any rekey' '
	cp -a repo repo.orig
'

# Killed right before each kind of write (the new index object, the first
# delete, a manifest, mailbackup.repo): check --read-data passes, and the
# next rekey finishes. Each starts from the repository before any rekey.
for point in index-commit prune-delete rekey-manifest manifest-commit rekey-repo-file; do
	test_expect_success "rekey killed at $point: check --read-data passes, rekey finishes" "
		rm -rf repo rk/cache &&
		cp -a repo.orig repo &&
		stop_and_kill $point -c rk.conf rekey &&
		\"\$MB_BIN\" -c rk.conf unlock &&
		\"\$MB_BIN\" -c rk.conf check --read-data &&
		\"\$MB_BIN\" -c rk.conf --progress rekey --json >after-$point.json 2>progress.err &&
		cat after-$point.json &&
		{ test $point != index-commit || grep -q 'rekey: [0-9]* items' progress.err; } &&
		\"\$MB_BIN\" -c rk.conf check --read-data &&
		for p in repo/packs/*/* repo/index/* repo/snapshots/*; do
			test_must_fail mb_gpg drkey --decrypt -o /dev/null \"\$p\" 2>/dev/null ||
				return 1
		done
	"
done

test_expect_success 'the last kill: stopped before its first manifest' '
	rm -rf repo rk/cache &&
	cp -a repo.orig repo &&
	stop_and_kill prune-delete -c rk.conf rekey &&
	"$MB_BIN" -c rk.conf unlock &&
	stop_and_kill rekey-manifest -c rk.conf rekey &&
	"$MB_BIN" -c rk.conf unlock &&
	"$MB_BIN" -c rk.conf check --read-data
'

test_expect_success 'a second rekey finishes the job' '
	"$MB_BIN" -c rk.conf rekey --json >rk.json &&
	cat rk.json &&
	test "$(mb_json_get packs_rewritten rk.json)" = 0 &&
	test "$(mb_json_get manifests_rewritten rk.json)" = 2 &&
	"$MB_BIN" -c rk.conf rekey --json >rk2.json &&
	cat rk2.json &&
	test "$(mb_json_get packs_rewritten rk2.json)" = 0 &&
	test "$(mb_json_get packs_skipped rk2.json)" = "$(mb_json_get packs rk2.json)" &&
	test "$(mb_json_get manifests_rewritten rk2.json)" = 0 &&
	test "$(mb_json_get index_objects_written rk2.json)" = 0 &&
	test "$(mb_json_get repo_file_rewritten rk2.json)" = False
'

test_expect_success 'the old recovery key decrypts no pack, index object or manifest' '
	for p in repo/packs/*/* repo/index/* repo/snapshots/*; do
		test_must_fail mb_gpg drkey --decrypt -o /dev/null "$p" 2>/dev/null ||
			return 1
	done
'

test_expect_success 'mailbackup.repo names the new recipient, signed again' '
	grep "^recipient $NEW_FPR\$" repo/mailbackup.repo &&
	! grep "^recipient $DR_FPR\$" repo/mailbackup.repo &&
	mb_gpg gnupg --verify repo/mailbackup.repo &&
	test -s "repo/keys/$NEW_FPR.asc"
'

test_expect_success 'the new recovery key decrypts every pack' '
	for p in repo/packs/*/*; do
		mb_gpg newdr --decrypt -o /dev/null "$p" || return 1
	done
'

test_expect_success 'a machine with only the new recovery key' '
	cat >nd.conf <<-EOF
	[repository]
	url = $SCRATCH/repo
	[keys]
	gnupg_home = $SCRATCH/newdr
	recipients = $NEW_FPR
	trusted_signers = $HOST_FPR
	[options]
	cache_dir = $SCRATCH/ndcache
	EOF
'

test_expect_success PYTHON3 'the new recovery key restores both snapshots bit for bit' '
	"$MB_BIN" -c nd.conf check --read-data &&
	"$MB_BIN" -c nd.conf restore "$id1" --target "$SCRATCH/r1" &&
	"$MB_BIN" -c nd.conf restore "$id2" --target "$SCRATCH/r2" &&
	for s in vmail dkim conf; do
		mb_compare_trees "snap1/$s" "r1/$s" &&
		mb_compare_trees "tree/$s" "r2/$s" || return 1
	done
'

test_expect_success 'the host backs up to the new key and dedups' '
	mb backup --json --time 2025-01-03T01:00:00Z >b3.json &&
	test "$(mb_json_get bytes_new b3.json)" = 0 &&
	mb check
'

test_done
