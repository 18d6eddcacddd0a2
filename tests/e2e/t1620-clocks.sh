#!/bin/bash
# SPDX-License-Identifier: MIT
# t1620-clocks: snapshot times before 2000 or more than a day ahead of the
# clock are refused; backup --prune never forgets the snapshot it has just
# made, even dated in the past; a validly signed snapshot dated far in the
# future does not steer retention and is named; a signature made far in the
# future is refused.
. "$(dirname "$0")/lib-test.sh"

# resign OBJECT SEDSCRIPT [GPG-OPTIONS]: decrypt a manifest, edit it, and
# sign and encrypt it again with the host key, as a host would
resign() {
	local obj=$1 script=$2
	shift 2
	rm -f re.gpg &&
	mb_manifest_decrypt gnupg "$obj" | sed "$script" | zstd -q -c >re.zst &&
	mb_gpg gnupg "$@" --compress-algo none --encrypt --sign -u "$HOST_FPR" \
		-r "$HOST_FPR" -o re.gpg re.zst &&
	rm -f re.zst
}

test_expect_success 'setup' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 20 --users 2 --domains 1 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" \
		"[retention]" "keep_last = 1" &&
	mb init
'

test_expect_success '--time 0, 1970 and 1999 are refused, nothing is made' '
	for t in 0 1970-01-01T00:00:00Z 946684799 1999-12-31T23:59:59Z; do
		test_must_fail --exit 2 mb backup --time $t 2>err &&
		test_grep "before 2000-01-01" err || return 1
	done &&
	test -z "$(ls repo/snapshots)"
'

test_expect_success 'a time more than a day ahead of the clock is refused' '
	t=$(( $(date +%s) + 86400 + 600 )) &&
	test_must_fail --exit 2 mb backup --time $t 2>err &&
	test_grep "more than a day ahead of this host.s clock" err &&
	test_must_fail --exit 2 mb backup --time 2099-12-31T23:59:59Z 2>err &&
	test_grep "ahead" err &&
	test -z "$(ls repo/snapshots)"
'

test_expect_success 'backup --prune with a time in the past keeps its snapshot' '
	mb backup --json --time 2025-01-03T02:00:00Z >b3.json &&
	mb backup --json --prune --time 2025-01-01T02:00:00Z >b1.json &&
	id1=$(mb_json_get id b1.json) && id3=$(mb_json_get id b3.json) &&
	ls repo/snapshots >list &&
	test_grep -- "-$id1\$" list &&
	test_grep -- "-$id3\$" list &&
	mb restore "$id1" --target "$SCRATCH/r1" --source conf
'

test_expect_success 'an ordinary forget still applies keep_last' '
	mb forget &&
	ls repo/snapshots >list &&
	test_grep -v -- "-$id1\$" list &&
	test_grep -- "-$id3\$" list
'

test_expect_success 'setup: more snapshots, and one validly signed in 2099' '
	mb backup --json --time 2025-01-02T02:00:00Z >b2.json &&
	mb backup --json --time 2025-01-01T02:00:00Z >b1.json &&
	id1=$(mb_json_get id b1.json) && id2=$(mb_json_get id b2.json) &&
	man3=$(ls repo/snapshots/*-$id3) &&
	fid=00000000deadbeef &&
	resign "$man3" "s/^id .*/id $fid/; s/^time .*/time 4102444799/" &&
	cp re.gpg "repo/snapshots/20991231T235959Z-mbtest-$fid" &&
	mb ls "$fid" conf >/dev/null
'

test_expect_success 'the future snapshot does not steer keep-within, and is named' '
	mb forget --dry-run --json --keep-within 2d >f.json 2>err &&
	test_grep "20991231T235959Z-mbtest-$fid" err &&
	test_grep "ahead of this host.s clock" err &&
	python3 - "$id1" "$id2" "$id3" "$fid" f.json <<-\EOF
	import json, sys
	id1, id2, id3, fid, path = sys.argv[1:]
	got = {s["id"]: (s["action"], s["reasons"])
	       for s in json.load(open(path))["snapshots"]}
	want = {id3: ("keep", ["within", "newest"]), id2: ("keep", ["within"]),
	        id1: ("remove", []), fid: ("keep", ["future"])}
	assert got == want, (got, want)
	EOF
'

test_expect_success 'nor the buckets: keep-daily 2 keeps the two real days' '
	mb forget --keep-daily 2 >out 2>err &&
	ls repo/snapshots >list &&
	test_grep -- "-$id3\$" list &&
	test_grep -- "-$id2\$" list &&
	test_grep -- "-$fid\$" list &&
	test_grep -v -- "-$id1\$" list
'

test_expect_success 'a signature made far in the future is refused (exit 4)' '
	man2=$(ls repo/snapshots/*-$id2) &&
	cp "$man2" man2.good &&
	resign "$man2" "" --faked-system-time 4102444800 &&
	cp re.gpg "$man2" &&
	test_must_fail --exit 4 mb ls "$id2" >out 2>err &&
	test_must_be_empty out &&
	test_grep "signature made at 2100-01-01" err &&
	test_must_fail --exit 4 mb check 2>err &&
	test_grep "ahead of this host.s clock" err &&
	cp man2.good "$man2" &&
	mb ls "$id2" conf >/dev/null
'

test_expect_success 'a signature a few hours ahead is within the tolerance' '
	resign "$man2" "" --faked-system-time $(( $(date +%s) + 7200 )) &&
	cp re.gpg "$man2" &&
	mb ls "$id2" conf >/dev/null
'

test_done
