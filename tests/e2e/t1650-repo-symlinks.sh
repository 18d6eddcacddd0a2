#!/bin/bash
# SPDX-License-Identifier: MIT
# t1650-repo-symlinks: symbolic links planted at every level of a local
# repository (its own folders, packs/XX/, a pack, mailbackup.repo) are never
# followed: prune, backup, check and restore refuse with a message naming
# the link, and nothing outside the repository changes. Deletion takes only
# keys of the forms mailbackup writes. After each case, with the repository
# mended, the next backup and restore work.
. "$(dirname "$0")/lib-test.sh"

# A digest of every name, mode, size and content below $1.
digest() {
	(cd "$1" && find . -printf '%y %m %s %p -> %l\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum) |
		sha256sum
}

# The victim: a directory outside the repository holding files that look
# like repository objects of every kind (what a follower would delete).
make_victim() {
	rm -rf victim && mkdir victim &&
	(cd repo.orig && find packs index snapshots -type f) >objs &&
	while read -r o; do
		mkdir -p "victim/$(dirname "$o")" &&
		echo "precious $o" >"victim/$o" || return 1
		echo "precious" >"victim/$(basename "$o")" || return 1
	done <objs &&
	echo precious >victim/123.abcdef0123456789 &&
	digest victim >victim.digest
}

victim_same() {
	test "$(digest victim)" = "$(cat victim.digest)" || {
		echo "the victim directory outside the repository changed" >&2
		return 1
	}
}

fresh_repo() {
	rm -rf repo && cp -a repo.orig repo && mb_forget_history && make_victim
}

# plant DIR: replace repo/DIR with a link to victim/DIR (or victim)
plant() {
	local t=victim
	if test -d "victim/$1"; then
		t=victim/$1
	fi
	rm -rf "repo/$1" && ln -s "$SCRATCH/$t" "repo/$1"
}

# every command refuses, names the link, and leaves the victim alone
all_refuse() {
	for cmd in "prune" "backup --prune" "check --read-data" \
		"restore latest --target $SCRATCH/r"; do
		rm -rf r &&
		test_must_fail --exit 1 mb $cmd >out 2>err &&
		test_grep "repository folder '$SCRATCH/repo/$1' is a symbolic link" err &&
		victim_same || {
			echo "while running: $cmd" >&2
			return 1
		}
		if test -e r; then
			test -z "$(find r -type f)" || return 1
		fi
	done
}

# With the folder mended, a backup and a restore work again.
works_again() {
	rm -rf repo && cp -a repo.orig repo &&
	mb backup >/dev/null &&
	rm -rf r && mb restore latest --target r &&
	mb_compare_trees tree/dkim r/dkim &&
	mb_compare_trees tree/vmail r/vmail &&
	rm -rf r && victim_same
}

test_expect_success 'setup: two snapshots, a forgotten one leaves garbage' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 60 --users 3 --domains 1 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "/^url = /a pack_size = 64K" "$CONF" &&
	mb init &&
	mb backup --time 2025-01-01T00:00:00Z >/dev/null &&
	rm -rf "$(find tree/vmail -mindepth 2 -maxdepth 2 -type d | head -n 1)" &&
	mb_gen_tree tree --day --seed 7 &&
	mb backup --time 2025-01-02T00:00:00Z >/dev/null &&
	mb forget --keep-last 1 >/dev/null &&
	cp -a repo repo.orig &&
	make_victim &&
	test "$(find victim -type f | wc -l)" -gt 10
'

for d in tmp packs index snapshots locks keys; do
	test_expect_success "$d/ a link to a directory outside: every command refuses" "
		fresh_repo &&
		plant $d &&
		all_refuse $d &&
		works_again
	"
done

test_expect_success 'packs/XX/ a link: refused, nothing outside deleted' '
	fresh_repo &&
	xx=$(cd repo/packs && ls | head -n 1) &&
	mkdir -p victim/packs &&
	rm -rf "victim/packs/$xx" && mv "repo/packs/$xx" "victim/packs/$xx" &&
	ln -s "$SCRATCH/victim/packs/$xx" "repo/packs/$xx" &&
	echo precious >"victim/packs/$xx/${xx}00000000000000000000000000000000000000000000000000000000000000" &&
	digest victim >victim.digest &&
	for cmd in prune "check --read-data"; do
		test_must_fail mb $cmd 2>err &&
		test_grep "repository folder '\''$SCRATCH/repo/packs/$xx'\'' is a symbolic link" err &&
		victim_same || return 1
	done &&
	rm -rf r &&
	test_must_fail mb restore latest --target r 2>err &&
	test_grep "symbolic link" err &&
	victim_same &&
	works_again
'

test_expect_success 'a pack that is a link to a file outside: never read, never deleted through' '
	fresh_repo &&
	p=$(find repo/packs -type f | head -n 1) &&
	cp "$p" victim/pack.copy &&
	rm "$p" && ln -s "$SCRATCH/victim/pack.copy" "$p" &&
	digest victim >victim.digest &&
	test_must_fail mb check --read-data 2>err &&
	test_grep "symbolic link" err &&
	test_must_fail mb prune 2>err &&
	test_grep "symbolic link" err &&
	victim_same &&
	works_again
'

test_expect_success 'mailbackup.repo a link: refused' '
	fresh_repo &&
	mv repo/mailbackup.repo victim/ &&
	ln -s "$SCRATCH/victim/mailbackup.repo" repo/mailbackup.repo &&
	digest victim >victim.digest &&
	test_must_fail mb snapshots 2>err &&
	test_grep "symbolic link" err &&
	victim_same &&
	works_again
'

test_expect_success 'the repository root itself may be a link (the admin chose it)' '
	fresh_repo &&
	mv repo repo.real && ln -s "$SCRATCH/repo.real" repo &&
	mb check &&
	rm repo && mv repo.real repo
'

test_expect_success 'prune deletes only keys of the forms it writes' '
	fresh_repo &&
	xx=$(cd repo/packs && ls | head -n 1) &&
	echo stray >"repo/packs/$xx/notes.txt" &&
	echo stray >repo/packs/zz &&
	mkdir -p repo/tmp/sub && echo stray >repo/tmp/sub/file &&
	mb prune --grace 0 >out 2>err &&
	test_grep "refusing to delete object '\''packs/$xx/notes.txt'\''" err &&
	test -f "repo/packs/$xx/notes.txt" &&
	test -f repo/packs/zz &&
	test -f repo/tmp/sub/file &&
	mb check &&
	works_again
'

test_done
