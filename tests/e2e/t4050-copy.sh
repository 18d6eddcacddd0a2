#!/bin/bash
# SPDX-License-Identifier: MIT
# t4050-copy: mailbackup copy to a second local repository (3-2-1): what the
# destination lacks is copied as ciphertext, a restore from the copy is
# bit-identical, a second copy transfers nothing, a copy killed midway
# resumes, and a destination with other keys or none at all is refused.
. "$(dirname "$0")/lib-test.sh"

paused=
trap 'mbt_rc=$?; test -n "$paused" && kill -9 $paused 2>/dev/null;
	(exit $mbt_rc); mbt_cleanup' EXIT

wait_stopped() {
	local i=0
	while :; do
		case "$(ps -o stat= -p "$1" 2>/dev/null)" in
		T* | t*) return 0 ;;
		'') echo "wait_stopped: process $1 is gone" >&2; return 1 ;;
		esac
		i=$((i + 1))
		test $i -lt 6000 || {
			echo "wait_stopped: process $1 did not stop" >&2
			return 1
		}
		sleep 0.01
	done
}

# dest_config FILE URL: a configuration of the same keys for another repository
dest_config() {
	MB_REPO_URL=$2 MB_CACHE_DIR=$SCRATCH/cache-$(basename "$1" .conf) \
		mb_write_config -o "$1"
}

md() {
	${MB_BIN_WRAPPER:-} "$MB_BIN" -c "$SCRATCH/$1" "${@:2}"
}

test_expect_success 'setup: two snapshots in a repository of small packs' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 300 --users 4 --domains 2 --odd-names &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "/^url = /a pack_size = 64K" "$CONF" &&
	mb init &&
	mb backup --json --time 2025-01-01T02:00:00Z >b1.json &&
	id1=$(mb_json_get id b1.json) &&
	mb_copy_tree tree snap1 &&
	head -c 400000 /dev/urandom >tree/conf/new.bin &&
	mb backup --json --time 2025-01-02T02:00:00Z >b2.json &&
	id2=$(mb_json_get id b2.json) &&
	test "$(ls repo/packs/*/* | wc -l)" -ge 4
'

test_expect_success 'a destination that is not initialized is refused, naming the fix' '
	dest_config dest.conf "$SCRATCH/dest" &&
	test_must_fail --exit 1 mb copy --to "$SCRATCH/dest.conf" 2>err &&
	test_grep "dest.conf.*init" err &&
	! test -e dest/snapshots
'

test_expect_success 'copy --to without a file is a usage error' '
	test_must_fail --exit 2 mb copy 2>err &&
	test_grep -- "--to" err
'

test_expect_success 'copy --dry-run counts and writes nothing' '
	md dest.conf init &&
	mb copy --to "$SCRATCH/dest.conf" --dry-run --json >dry.json &&
	test "$(mb_json_get snapshots_copied dry.json)" = 2 &&
	test "$(mb_json_get packs_copied dry.json)" -ge 4 &&
	test -z "$(ls dest/snapshots 2>/dev/null)" &&
	test -z "$(ls dest/index 2>/dev/null)"
'

test_expect_success 'copy one snapshot by id: only the packs it needs' '
	mb copy --to "$SCRATCH/dest.conf" "$id1" --json >c1.json &&
	test "$(mb_json_get snapshots_copied c1.json)" = 1 &&
	test "$(mb_json_get index_objects c1.json)" = 1 &&
	ls dest/snapshots >names &&
	test "$(wc -l <names)" = 1 &&
	test_grep -- "-$id1\$" names &&
	cmp repo/snapshots/$(cat names) dest/snapshots/$(cat names)
'

test_expect_success 'copy of the rest copies the second snapshot and its new packs only' '
	mb copy --to "$SCRATCH/dest.conf" --json >c2.json &&
	test "$(mb_json_get snapshots_selected c2.json)" = 2 &&
	test "$(mb_json_get snapshots_present c2.json)" = 1 &&
	test "$(mb_json_get snapshots_copied c2.json)" = 1 &&
	p1=$(mb_json_get packs_copied c1.json) &&
	p2=$(mb_json_get packs_copied c2.json) &&
	test "$p2" -ge 1 &&
	test "$(ls dest/packs/*/* | wc -l)" = $((p1 + p2)) &&
	(cd repo && ls packs/*/* | sort) >src.packs &&
	(cd dest && ls packs/*/* | sort) >dst.packs &&
	test_cmp src.packs dst.packs
'

test_expect_success 'a second copy transfers nothing' '
	mb copy --to "$SCRATCH/dest.conf" --json >c3.json &&
	test "$(mb_json_get snapshots_copied c3.json)" = 0 &&
	test "$(mb_json_get snapshots_present c3.json)" = 2 &&
	test "$(mb_json_get packs_copied c3.json)" = 0 &&
	test "$(mb_json_get bytes_copied c3.json)" = 0 &&
	test "$(mb_json_get index_objects c3.json)" = 0
'

test_expect_success 'check --read-data passes on the destination' '
	md dest.conf check --read-data --json >chk.json &&
	test "$(mb_json_get errors chk.json)" = 0 &&
	test "$(mb_json_get snapshots chk.json)" = 2
'

test_expect_success PYTHON3 'a restore from the copy is bit-identical' '
	md dest.conf restore "$id1" --target "$SCRATCH/r1" &&
	for s in vmail dkim conf; do
		mb_compare_trees "snap1/$s" "r1/$s" || return 1
	done &&
	md dest.conf restore "$id2" --target "$SCRATCH/r2" &&
	for s in vmail dkim conf; do
		mb_compare_trees "tree/$s" "r2/$s" || return 1
	done
'

test_expect_success 'a pack damaged at the source is not copied' '
	# the first pack by name: a content pack (its member fails its hash) or
	# a listing pack (read whole to follow the listings: fails its name)
	dest_config bad.conf "$SCRATCH/bad" &&
	md bad.conf init &&
	mb_copy_tree repo broken &&
	dest_config broken.conf "$SCRATCH/broken" &&
	victim=$(ls broken/packs/*/* | head -n 1) &&
	mb_flip_byte "$victim" &&
	test_must_fail --exit 4 md broken.conf copy --to "$SCRATCH/bad.conf" 2>err &&
	test_grep "does not match its \(hash\|name\)" err &&
	! test -e "bad/${victim#broken/}" &&
	test -z "$(ls bad/snapshots 2>/dev/null)"
'

test_expect_success 'a copy killed after some packs leaves no snapshot, and resumes' '
	dest_config k.conf "$SCRATCH/k" &&
	md k.conf init &&
	{ MB_TEST_STOP_AT=copy-pack "$MB_BIN" -c "$CONF" copy \
		--to "$SCRATCH/k.conf" >k.out 2>&1 & } &&
	paused=$! &&
	wait_stopped $paused &&
	kill -9 $paused && { wait $paused || :; } && paused= &&
	test "$(ls k/packs/*/* | wc -l)" = 1 &&
	test -z "$(ls k/snapshots 2>/dev/null)" &&
	test -z "$(ls k/index 2>/dev/null)" &&
	md k.conf check &&
	md k.conf unlock --remove-all &&
	mb copy --to "$SCRATCH/k.conf" --json >k.json &&
	test "$(mb_json_get packs_present k.json)" = 1 &&
	test "$(mb_json_get snapshots_copied k.json)" = 2 &&
	md k.conf check --read-data
'

test_expect_success 'a copy stopped before its manifests commit resumes without copying packs' '
	dest_config m.conf "$SCRATCH/m" &&
	md m.conf init &&
	{ MB_TEST_STOP_AT=manifest-commit "$MB_BIN" -c "$CONF" copy \
		--to "$SCRATCH/m.conf" >m.out 2>&1 & } &&
	paused=$! &&
	wait_stopped $paused &&
	kill -9 $paused && { wait $paused || :; } && paused= &&
	test -z "$(ls m/snapshots 2>/dev/null)" &&
	test "$(ls m/index | wc -l)" = 1 &&
	md m.conf unlock --remove-all &&
	mb copy --to "$SCRATCH/m.conf" --json >m.json &&
	test "$(mb_json_get packs_copied m.json)" = 0 &&
	test "$(mb_json_get index_objects m.json)" = 0 &&
	test "$(mb_json_get snapshots_copied m.json)" = 2 &&
	md m.conf check --read-data
'

test_expect_success 'copy to a repository with other recipients is refused' '
	OTHER_FPR=$(mb_keygen "$SCRATCH/gnupg" "mbtest other") &&
	MB_RECIPIENTS="$HOST_FPR $OTHER_FPR" dest_config o.conf "$SCRATCH/o" &&
	md o.conf init &&
	test_must_fail --exit 2 mb copy --to "$SCRATCH/o.conf" 2>err &&
	test_grep "other recipients" err &&
	test -z "$(ls o/snapshots 2>/dev/null)" &&
	test -z "$(ls o/packs 2>/dev/null)"
'

test_expect_success 'copy to the source repository itself is refused' '
	test_must_fail --exit 2 mb copy --to "$CONF" 2>err &&
	test_grep "source repository itself" err
'

test_expect_success 'a destination held by a prune (exclusive lock) is exit 5, nothing written' '
	dest_config x.conf "$SCRATCH/x" &&
	md x.conf init &&
	mkdir -p x/locks &&
	now=$(date +%s) &&
	printf "mailbackup-lock 1\nkind exclusive\nhost mbtest\npid %s\ncreated %s\nrefreshed %s\n" \
		$$ $now $now >"x/locks/mbtest-$$-$now-33333333" &&
	test_must_fail --exit 5 mb copy --to "$SCRATCH/x.conf" 2>err &&
	test_grep -i "lock" err &&
	test -z "$(ls x/snapshots 2>/dev/null)" &&
	test -z "$(ls x/packs 2>/dev/null)" &&
	rm x/locks/mbtest-$$-* &&
	mb copy --to "$SCRATCH/x.conf" --wait 10s --json >x.json &&
	test "$(mb_json_get snapshots_copied x.json)" = 2
'

test_expect_success 'backup --copy-to copies the new snapshot; a failed copy is exit 3 with the snapshot committed' '
	dest_config after.conf "$SCRATCH/after" &&
	md after.conf init &&
	echo more >tree/conf/after.txt &&
	mb backup --time 2025-01-03T02:00:00Z --copy-to "$SCRATCH/after.conf" --json >b3.json &&
	id3=$(mb_json_get id b3.json) &&
	ls after/snapshots >names &&
	test "$(wc -l <names)" = 1 &&
	test_grep -- "-$id3\$" names &&
	md after.conf check &&
	echo again >tree/conf/after2.txt &&
	test "$(mb_json_get status b3.json)" = ok &&
	test "$(mb_json_get exit_code b3.json)" = 0 &&
	test_must_fail --exit 3 mb backup --time 2025-01-04T02:00:00Z \
		--copy-to "$SCRATCH/nosuch.conf" --json >b4.json 2>err &&
	test_grep "is committed; its copy to" err &&
	# the summary comes after the copy, and says how it went
	test "$(mb_json_get status b4.json)" = warnings &&
	test "$(mb_json_get exit_code b4.json)" = 3 &&
	mb_json_get error b4.json | grep "nosuch.conf" &&
	test "$(ls repo/snapshots | wc -l)" = 4
'

test_expect_success 'copy --host and --source select snapshots' '
	dest_config h.conf "$SCRATCH/h" &&
	md h.conf init &&
	mb copy --to "$SCRATCH/h.conf" --host otherhost --json >h.json &&
	test "$(mb_json_get snapshots_selected h.json)" = 0 &&
	mb copy --to "$SCRATCH/h.conf" --source nosuch --json >s.json &&
	test "$(mb_json_get snapshots_copied s.json)" = 0 &&
	test -z "$(ls h/snapshots 2>/dev/null)" &&
	mb copy --to "$SCRATCH/h.conf" --host mbtest --source dkim latest --json >l.json &&
	test "$(mb_json_get snapshots_copied l.json)" = 1 &&
	ls repo/snapshots | tail -n 1 >newest &&
	ls h/snapshots >got &&
	test_cmp newest got
'

test_done
