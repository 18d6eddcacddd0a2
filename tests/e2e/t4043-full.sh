#!/bin/bash
# SPDX-License-Identifier: MIT
# t4043-full: a local repository on a small tmpfs that fills up. The backup
# names the full repository (not gpg's broken pipe), commits nothing, and
# forget + prune free the space on the full file system; then backups and
# restores work again.
. "$(dirname "$0")/lib-test.sh"

mnt=$SCRATCH/full
trap 'mbt_rc=$?; umount "$mnt" 2>/dev/null; (exit $mbt_rc); mbt_cleanup' EXIT

if test "$(id -u)" = 0 && mkdir -p "$mnt" &&
	mount -t tmpfs -o size=5m,mode=0700 tmpfs "$mnt" 2>/dev/null; then
	test_set_prereq TMPFS
fi

restore_is() {
	rm -rf r &&
	mb restore latest --target "$SCRATCH/r" &&
	mb_compare_trees "$1" r/small
}

test_expect_success TMPFS 'setup: a repository on a 5 MiB tmpfs, two snapshots, a reserve' '
	mb_setup_keys &&
	mkdir src &&
	head -c 1000000 /dev/urandom >src/a &&
	srcs="[source small]
type = files
path = $SCRATCH/src" &&
	MB_REPO_URL=$mnt/repo mb_write_config "$srcs" &&
	mb init &&
	mb backup --time 2024-01-01T01:00:00Z &&
	rm src/a &&
	head -c 1000000 /dev/urandom >src/a2 &&
	mb backup --time 2024-01-01T02:00:00Z &&
	test "$(stat -c %s "$mnt/repo/tmp/0.reserve")" = 1048576 &&
	cp -a src copy1
'

test_expect_success TMPFS 'a backup that fills the repository names it and commits nothing' '
	head -c 4000000 /dev/urandom >src/b &&
	test_must_fail --exit 1 mb backup --time 2024-01-02T02:00:00Z 2>err &&
	cat err &&
	test_grep "the repository is full" err &&
	! test_grep "gpg stopped" err &&
	test "$(mb snapshots | wc -l)" = 2 &&
	mb check &&
	restore_is copy1
'

test_expect_success TMPFS 'on the completely full file system, forget and prune free space' '
	# fill what is left, as another writer would
	head -c 10000000 /dev/zero >"$mnt/filler" 2>/dev/null;
	test "$(df --output=avail "$mnt" | tail -1)" -lt 8 &&
	rm src/b &&
	head -c 100000 /dev/urandom >src/c &&
	test_must_fail mb backup --time 2024-01-03T02:00:00Z 2>err &&
	cat err &&
	test_grep "full" err &&
	mb forget --keep-last 1 &&
	test "$(mb snapshots | wc -l)" = 1 &&
	head -c 1000000 /dev/zero >"$mnt/filler2" 2>/dev/null;
	test "$(df --output=avail "$mnt" | tail -1)" -lt 8 &&
	mb prune --grace 0 2>err &&
	cat err &&
	test_grep "used its reserve object" err &&
	test "$(df --output=avail "$mnt" | tail -1)" -gt 900 &&
	rm "$mnt/filler" "$mnt/filler2" &&
	cp -a src copy2 &&
	mb backup --time 2024-01-04T02:00:00Z &&
	test -f "$mnt/repo/tmp/0.reserve" &&
	mb check --read-data &&
	restore_is copy2
'

test_done
