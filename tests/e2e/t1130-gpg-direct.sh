#!/bin/bash
# SPDX-License-Identifier: MIT
# t1130-gpg-direct: pack data goes through a gpg that mailbackup starts itself
# (not through GPGME's relay). A gpg that dies in the middle of a pack, a
# truncated pack, and a pack for a key this host has no secret half of: each
# is a clear error with the right exit code, and nothing is lost or made
# visible. Real gpg throughout; the dying gpg is a wrapper that GPGME's
# engine lookup (gpgconf in PATH) names.
. "$(dirname "$0")/lib-test.sh"

REAL_GPG=$(command -v gpg)
REAL_GPGCONF=$(command -v gpgconf)

# A directory for PATH with a gpgconf that names a gpg wrapper as the
# OpenPGP engine; the wrapper runs the real gpg, but when its arguments
# contain each of "$@" (words or phrases) it lets about 70 kB of output through, then kills
# itself (and gpg with it).
make_dying_gpg() {
	local d="$SCRATCH/fake" w
	mkdir -p "$d" &&
	cat >"$d/gpgconf" <<-EOF &&
	#!/bin/sh
	if test "\$1" = --list-components; then
		"$REAL_GPGCONF" --list-components |
			sed 's|^gpg:OpenPGP:.*|gpg:OpenPGP:$d/gpg|'
		exit 0
	fi
	exec "$REAL_GPGCONF" "\$@"
	EOF
	printf '%s\n' "$@" >"$d/words" &&
	cat >"$d/gpg" <<-EOF &&
	#!/bin/sh
	echo "\$*" >>"$d/calls"
	all=" \$* "
	IFS='
	'
	for w in \$(cat "$d/words"); do
		case "\$all" in
		*" \$w "*) ;;
		*) exec "$REAL_GPG" "\$@" ;;
		esac
	done
	echo "dying: \$*" >>"$d/log"
	"$REAL_GPG" "\$@" | head -c 70000
	kill -KILL \$\$
	EOF
	chmod +x "$d/gpgconf" "$d/gpg" &&
	rm -f "$d/log" "$d/calls"
}

test_expect_success 'setup: a tree in several packs, one snapshot' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 300 --users 6 --domains 2 --attach-pct 5 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "/^url = /a pack_size = 256K" "$CONF" &&
	mb init &&
	mb backup >/dev/null &&
	mb check --read-data &&
	test "$(mb snapshots | wc -l)" = 1 &&
	find repo/packs -type f | LC_ALL=C sort >packs.before &&
	test "$(wc -l <packs.before)" -ge 2
'

test_expect_success 'the wrapper is used: packs are decrypted by a gpg of our own' '
	make_dying_gpg --status-fd-never-given &&
	PATH="$SCRATCH/fake:$PATH" mb restore latest --target out0 >/dev/null &&
	test_grep -e "--status-fd 3 .*--decrypt" fake/calls &&
	! test -e fake/log &&
	mb_compare_trees tree/vmail out0/vmail &&
	rm -rf out0
'

test_expect_success 'a gpg that dies in the middle of a pack: backup fails, nothing committed' '
	make_dying_gpg "--status-fd 3" --encrypt &&
	head -c 2000000 /dev/urandom >tree/conf/random.bin &&
	PATH="$SCRATCH/fake:$PATH" test_must_fail --exit 1 mb backup \
		>out 2>err &&
	test -s fake/log &&
	test_grep "killed by signal 9" err &&
	test_grep "cannot encrypt a pack" err &&
	test "$(mb snapshots | wc -l)" = 1 &&
	mb check --read-data &&
	# the next run, with a sane gpg, takes the file
	mb backup >/dev/null &&
	test "$(mb snapshots | wc -l)" = 2 &&
	mb restore latest --target out1 --source conf --path random.bin \
		>/dev/null &&
	cmp tree/conf/random.bin "$(find out1 -name random.bin)"
'

test_expect_success 'a gpg that dies in the middle of a pack: restore fails, shows nothing half-made' '
	make_dying_gpg "--status-fd 3" --decrypt &&
	PATH="$SCRATCH/fake:$PATH" test_must_fail --exit 1 \
		mb restore latest --target out2 >out 2>err &&
	test -s fake/log &&
	test_grep "killed by signal 9" err &&
	test_grep "run the command again" err &&
	if test -d out2; then
		(cd out2 && find . -type f -print0) |
		while IFS= read -r -d "" f; do
			cmp "tree/${f#./}" "out2/$f" || exit 1
		done
	fi &&
	! test -e out2/.mailbackup-restore
'

# check counts every pack it could not read as a problem (exit 4); the
# message says that gpg was killed, not that the pack is bad.
test_expect_success 'a gpg that dies in the middle of a pack: check --read-data fails and says why' '
	make_dying_gpg "--status-fd 3" --decrypt &&
	PATH="$SCRATCH/fake:$PATH" test_must_fail \
		mb check --read-data >out 2>err &&
	test_grep "killed by signal 9" err &&
	test_grep -v "damaged or truncated" err &&
	mb check --read-data
'

test_expect_success 'a truncated pack: restore and check refuse it (exit 4)' '
	cp -a repo repo.saved &&
	# the largest pack, a content pack: the first by name may be a
	# listing pack (format 2) of a few KiB, which 100000 bytes do not cut
	p=$(xargs ls -S <packs.before | head -n 1) &&
	test "$(stat -c %s "$p")" -gt 100000 &&
	head -c 100000 "$p" >cut && cat cut >"$p" &&
	test_must_fail --exit 4 mb check --read-data >out 2>err &&
	test_grep "${p##*/}" err &&
	test_must_fail --exit 4 mb restore latest --target out3 >out 2>err &&
	test_grep "damaged or truncated\|does not match\|has [0-9]* bytes" err &&
	rm -rf repo && mv repo.saved repo &&
	mb check --read-data
'

test_expect_success 'a pack for a key without its secret half here: a clear error' '
	mb_keygen "$SCRATCH/other" "other recovery key" >other.fpr &&
	mb_gpg other --export "$(cat other.fpr)" | mb_gpg gnupg --import &&
	mb_write_config -o other.conf \
		"$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "s|^url = .*|url = $SCRATCH/repo2|;
		s|^recipients = .*|recipients = $(cat other.fpr)|;
		s|^cache_dir = .*|cache_dir = $SCRATCH/cache2|" other.conf &&
	"$MB_BIN" -c other.conf init &&
	"$MB_BIN" -c other.conf backup >/dev/null &&
	test_must_fail "$MB_BIN" -c other.conf restore latest \
		--target out4 >out 2>err &&
	test_grep "secret key" err &&
	! test -e out4/conf/random.bin &&
	test_must_fail "$MB_BIN" -c other.conf check --read-data >out 2>err &&
	test_grep "secret key" err
'

test_done
