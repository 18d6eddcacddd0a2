#!/bin/bash
# SPDX-License-Identifier: MIT
# t1740-listings: format 2 (docs/format.md): per-directory listings shared
# between snapshots. A no-change backup adds only its manifest; snapshots
# restore bit for bit; a format-1 repository (MB_TEST_FORMAT=1) is read and
# upgraded by its next backup; prune keeps the listings snapshots need;
# the gpg/zstd/tar runbook follows the listings by hand.
. "$(dirname "$0")/lib-test.sh"

repo_bytes() {
	du -sb --exclude=locks --exclude=tmp "$1" | cut -f1
}

test_expect_success 'setup: keys, a tree, a new repository of format 2' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 300 --users 6 --domains 2 --odd-names &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	grep "^mailbackup-repository 2\$" repo/mailbackup.repo
'

test_expect_success PYTHON3 'a copy of the tree' '
	mb_copy_tree tree snap1
'

test_expect_success 'the first backup writes a root manifest and listing packs' '
	mb backup --json --time 2025-01-01T02:00:00Z >b1.json &&
	id1=$(mb_json_get id b1.json) &&
	mb_manifest_decrypt gnupg repo/snapshots/*-$id1 >m1 &&
	test "$(head -n 1 m1)" = "mailbackup-manifest 2" &&
	test_grep -v "^e " m1 &&
	test "$(grep -c "^tree " m1)" = 3 &&
	grep "^tree vmail [0-9a-f]\{64\}\$" m1 &&
	for f in repo/index/*; do mb_manifest_decrypt gnupg "$f"; done >ix1 &&
	grep "^mailbackup-index 2\$" ix1 &&
	grep "^q [0-9a-f]\{64\} " ix1 &&
	test "$(tail -n 1 m1)" = "end $(($(mb_json_get files b1.json) + $(mb_json_get dirs b1.json) + $(find tree -type l | wc -l)))"
'

test_expect_success 'ls lists what a format-1 manifest listed' '
	mb ls "$id1" >ls1 &&
	test_grep "info/.Odd Folder/cur/" ls1 &&
	test "$(grep -c . ls1)" -ge "$(find tree -type f | wc -l)"
'

test_expect_success 'a backup without change adds under 64 KiB: its manifest only' '
	before=$(repo_bytes repo) &&
	find repo/packs repo/index -type f | sort >objs.before &&
	mb backup --json --time 2025-01-02T02:00:00Z >b2.json &&
	id2=$(mb_json_get id b2.json) &&
	after=$(repo_bytes repo) &&
	find repo/packs repo/index -type f | sort >objs.after &&
	test_cmp objs.before objs.after &&
	echo "grew by $((after - before)) bytes" &&
	test $((after - before)) -lt 65536 &&
	mb_manifest_decrypt gnupg repo/snapshots/*-$id2 >m2 &&
	grep "^tree " m1 >t1 && grep "^tree " m2 >t2 &&
	test_cmp t1 t2
'

test_expect_success 'a new message adds the listings of its path, not the tree' '
	d=$(find tree/vmail -type d -name new | head -n 1) &&
	echo "Subject: one more" >"$d/1735689600.M1P1.newmail,S=19" &&
	before=$(repo_bytes repo) &&
	mb backup --json --time 2025-01-03T02:00:00Z >b3.json &&
	id3=$(mb_json_get id b3.json) &&
	mb_manifest_decrypt gnupg repo/snapshots/*-$id3 >m3 &&
	grep "^tree dkim " m1 >d1 && grep "^tree dkim " m3 >d3 &&
	test_cmp d1 d3 &&
	! test_cmp t1 m3 2>/dev/null &&
	test "$(tail -n 1 m3)" != "$(tail -n 1 m1)"
'

test_expect_success 'restore of both first snapshots: bit for bit' '
	mb restore "$id1" --target "$SCRATCH/r1" &&
	mb restore "$id2" --target "$SCRATCH/r2" &&
	for s in vmail dkim conf; do
		mb_compare_trees "snap1/$s" "r1/$s" &&
		mb_compare_trees "snap1/$s" "r2/$s" || return 1
	done
'

test_expect_success 'restore of the third snapshot has the new message' '
	mb restore "$id3" --target "$SCRATCH/r3" &&
	mb_compare_trees tree/vmail r3/vmail
'

test_expect_success 'diff and check see a sound repository' '
	mb diff "$id1" "$id2" >diff12 &&
	mb diff "$id2" "$id3" >diff23 &&
	test_grep newmail diff23 &&
	mb check
'

test_expect_success 'a listing pack that changed is caught' '
	cp -a repo repo-bad &&
	p=$(awk "\$1 == \"q\" { print \$2; exit }" ix1) &&
	mb_flip_byte "repo-bad/packs/${p%"${p#??}"}/$p" &&
	mb_write_config -o bad.conf "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "s#^url = .*#url = $SCRATCH/repo-bad#" bad.conf &&
	test_must_fail --exit 4 "$MB_BIN" -c bad.conf ls "$id1" 2>err &&
	test_grep "does not match" err
'

test_expect_success 'forget and prune keep the listings of the kept snapshots' '
	mb forget --keep-last 1 --prune --grace 0 &&
	mb snapshots >snaps &&
	test "$(grep -c "$id3" snaps)" = 1 &&
	mb check &&
	rm -rf r3 && mb restore "$id3" --target "$SCRATCH/r3" &&
	mb_compare_trees tree/vmail r3/vmail
'

test_expect_success 'the runbook: gpg, zstd and tar follow the listings' '
	mkdir dr dr/all &&
	mb_gpg gnupg -d repo/snapshots/*-$id3 | zstd -q -d >dr/manifest.txt &&
	for p in repo/packs/*/*; do
		mb_gpg gnupg -d "$p" | zstd -q -d | tar -x -C dr/all || return 1
	done &&
	walk() {
		while read -r t n rest; do
			case $t in
			f|l) echo "$t $2$n $rest" ;;
			d) walk "${rest##* }" "$2$n/" ;;
			esac
		done <"dr/all/$1"
	} &&
	walk "$(awk "\$1 == \"tree\" && \$2 == \"vmail\" { print \$3 }" dr/manifest.txt)" "" >dr/files &&
	test "$(grep -c "^f " dr/files)" = "$(find tree/vmail -type f | wc -l)" &&
	grep "^f [^ ]*newmail" dr/files
'

test_expect_success 'a backup killed after its listing packs leaves no snapshot' '
	find repo/snapshots -type f | sort >snaps.before &&
	echo "Subject: killed" >"$d/1735689601.M1P1.killed,S=16" &&
	{ MB_TEST_STOP_AT=listings-written "$MB_BIN" -c "$CONF" backup \
		>killed.out 2>&1 & } &&
	pid=$! && i=0 &&
	until case "$(ps -o stat= -p $pid)" in T*) true ;; *) false ;; esac; do
		i=$((i + 1)) && test $i -lt 3000 && sleep 0.02 || return 1
	done &&
	find repo/packs -type f | sort >packs.stopped &&
	kill -KILL $pid && { wait $pid; true; } &&
	find repo/snapshots -type f | sort >snaps.after &&
	test_cmp snaps.before snaps.after &&
	mb check &&
	rm -rf r3 && mb restore "$id3" --target "$SCRATCH/r3" &&
	test ! -e "r3/vmail/${d#tree/vmail/}/1735689601.M1P1.killed,S=16" &&
	mb unlock &&
	mb backup --json >b4.json &&
	id4=$(mb_json_get id b4.json) &&
	rm -rf r4 && mb restore "$id4" --target "$SCRATCH/r4" &&
	mb_compare_trees tree/vmail r4/vmail &&
	rm "$d/1735689601.M1P1.killed,S=16"
'

doc_script() {
	awk -v name="$1" '$0 == "#### " name { f = 1; next }
		f && /^```sh/ { g = 1; next } g && /^```/ { exit } g { print }' \
		"$MB_SRCDIR/docs/disaster-recovery.md" >"$1" && test -s "$1"
}

test_expect_success 'the runbook scripts of docs/disaster-recovery.md expand it' '
	doc_script mb-dr-unpack.sh && doc_script mb-dr-expand.sh &&
	for ix in repo/index/*; do mb_manifest_decrypt gnupg "$ix"; done >dr/index.txt &&
	awk "\$1 == \"q\" { print \$2 }" dr/index.txt >dr/q &&
	test -s dr/q &&
	sed "s,^\(..\),repo/packs/\1/\1," dr/q |
		GNUPGHOME=$SCRATCH/gnupg xargs sh mb-dr-unpack.sh repo dr/store &&
	sh mb-dr-expand.sh dr/manifest.txt dr/store >dr/v1.txt &&
	test "$(head -n 1 dr/v1.txt)" = "mailbackup-manifest 1" &&
	test "$(tail -n 1 dr/v1.txt)" = "end $(grep -c "^e " dr/v1.txt)" &&
	test "$(grep -c "^e vmail f " dr/v1.txt)" = "$(find tree/vmail -type f | wc -l)" &&
	grep "^e vmail f .* [^ ]*/new/1735689600.M1P1.newmail,S=19\$" dr/v1.txt &&
	grep "^e vmail d .* \.\$" dr/v1.txt &&
	f=$(awk "\$1 == \"tree\" && \$2 == \"vmail\" { print \$3 }" dr/manifest.txt) &&
	echo x >>"dr/store/$f" &&
	test_must_fail sh mb-dr-expand.sh dr/manifest.txt dr/store >/dev/null 2>err &&
	test_grep "does not match its hash" err
'

test_expect_success 'a file whose bytes are a listing is content of its own' '
	l=$(awk "\$1 == \"tree\" && \$2 == \"dkim\" { print \$3 }" dr/manifest.txt) &&
	cp "dr/all/$l" tree/conf/a-listing &&
	test "$(sha256sum <tree/conf/a-listing | cut -c1-64)" = "$l" &&
	mb backup --json >b5.json &&
	id5=$(mb_json_get id b5.json) &&
	test "$(mb_json_get files_new b5.json)" = 1 &&
	rm -rf r5 && mb restore "$id5" --target "$SCRATCH/r5" &&
	mb_compare_trees tree/conf r5/conf &&
	mb_compare_trees tree/dkim r5/dkim &&
	mb check --read-data &&
	rm tree/conf/a-listing
'

test_expect_success 'a listing pack that vanishes during a backup is stored again' '
	cp -a repo repo-v &&
	mb_write_config -o vv.conf "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "s#^url = .*#url = $SCRATCH/repo-v#; s#^cache_dir = .*#cache_dir = $SCRATCH/cache-v#" vv.conf &&
	"$MB_BIN" -c vv.conf backup --json >vb0.json &&
	echo "Subject: vanish" >"$d/1735689602.M1P1.vanish,S=16" &&
	{ MB_TEST_STOP_AT=listings "$MB_BIN" -c vv.conf backup --json \
		>vb.json 2>vb.err & } &&
	pid=$! && i=0 &&
	until case "$(ps -o stat= -p $pid)" in T*) true ;; *) false ;; esac; do
		i=$((i + 1)) && test $i -lt 3000 && sleep 0.02 || return 1
	done &&
	for f in repo-v/index/*; do mb_manifest_decrypt gnupg "$f"; done >ixv &&
	awk "\$1 == \"q\" { print \$2 }" ixv >qv &&
	test -s qv &&
	mkdir gone-v &&
	while read -r p; do
		mv "repo-v/packs/${p%"${p#??}"}/$p" gone-v/ || return 1
	done <qv &&
	kill -CONT $pid && { wait $pid; rc=$?; } &&
	cat vb.err &&
	test $rc = 3 &&
	test_grep "listing(s) were in listing packs that vanished" vb.err &&
	idv=$(mb_json_get id vb.json) &&
	rm -rf rv && "$MB_BIN" -c vv.conf restore "$idv" --target "$SCRATCH/rv" &&
	mb_compare_trees tree/vmail rv/vmail &&
	mb_compare_trees tree/dkim rv/dkim &&
	test_must_fail --exit 4 "$MB_BIN" -c vv.conf check >vcheck 2>&1 &&
	cat vcheck &&
	# the snapshot before it shares listings with older ones: each is
	# named (a listing read with a snapshot that failed is not taken as
	# checked for the next one)
	test_grep "snapshot .*-$(mb_json_get id vb0.json).* cannot be read: .* \(is missing\|could not be read\)" vcheck &&
	! grep "$idv" vcheck &&
	rm "$d/1735689602.M1P1.vanish,S=16"
'

test_expect_success 'check verifies the end count of a format-2 root' '
	cp -a repo repo-e &&
	mb_write_config -o ee.conf "$(mb_tree_sources "$SCRATCH/tree")" &&
	sed -i "s#^url = .*#url = $SCRATCH/repo-e#; s#^cache_dir = .*#cache_dir = $SCRATCH/cache-e#" ee.conf &&
	"$MB_BIN" -c ee.conf check &&
	man=$(ls repo-e/snapshots/* | head -n 1) &&
	mb_manifest_decrypt gnupg "$man" >plain &&
	awk "\$1 == \"end\" { \$2 = \$2 + 1 } { print }" plain >forged &&
	! cmp -s plain forged &&
	zstd -q -f forged -o forged.zst &&
	mb_gpg gnupg --compress-algo none --encrypt --sign -u "$HOST_FPR" \
		-r "$HOST_FPR" -o forged.gpg forged.zst &&
	cp forged.gpg "$man" &&
	test_must_fail --exit 4 "$MB_BIN" -c ee.conf check 2>err &&
	test_grep "manifest .snapshots/${man##*/}. \(is malformed\|.*counts otherwise\)" err
'

# q_packs DIR: the listing packs that the index of repository DIR lists
q_packs() {
	for f in "$1"/index/*; do mb_manifest_decrypt gnupg "$f" || return 1; done |
		awk "\$1 == \"q\" { print \$2 }" | sort
}

test_expect_success 'prune repacks a sparse listing pack into a new listing pack' '
	mb_write_config -o pp.conf "$(mb_tree_sources "$SCRATCH/snap1")" &&
	sed -i "s#^url = .*#url = $SCRATCH/repo-p#; s#^cache_dir = .*#cache_dir = $SCRATCH/cache-p#" pp.conf &&
	"$MB_BIN" -c pp.conf init &&
	"$MB_BIN" -c pp.conf backup --json --time 2025-02-01T02:00:00Z >pa.json &&
	q_packs repo-p >qa &&
	test "$(wc -l <qa)" = 1 &&
	n=$(find snap1/vmail -path "*/new/*" -type f | head -n 1) &&
	mv "$n" "${n%/new/*}/cur/${n##*/}:2,S" &&
	"$MB_BIN" -c pp.conf backup --json --time 2025-02-02T02:00:00Z >pb.json &&
	idb=$(mb_json_get id pb.json) &&
	q_packs repo-p >qab &&
	test "$(wc -l <qab)" = 2 &&
	"$MB_BIN" -c pp.conf forget --keep-last 1 &&
	"$MB_BIN" -c pp.conf prune --grace 0 --max-unused 0 --json >pp.json &&
	cat pp.json &&
	test "$(mb_json_get packs_repacked pp.json)" -ge 1 &&
	q_packs repo-p >qp &&
	! grep -x -f qa qp &&
	test -s qp &&
	for q in $(cat qp); do
		f="repo-p/packs/${q%"${q#??}"}/$q" &&
		test -f "$f" &&
		mb_gpg gnupg -d "$f" | zstd -q -d | tar -t >members &&
		test -s members &&
		! grep -v -x "[0-9a-f]\{64\}" members || return 1
	done &&
	"$MB_BIN" -c pp.conf prune --grace 0 --max-unused 0 --dry-run --json >again.json &&
	test "$(mb_json_get packs_deleted again.json)" = 0 &&
	test "$(mb_json_get packs_repacked again.json)" = 0 &&
	"$MB_BIN" -c pp.conf check --read-data &&
	rm -rf rp && "$MB_BIN" -c pp.conf restore "$idb" --target "$SCRATCH/rp" &&
	mb_compare_trees snap1/vmail rp/vmail &&
	mv "${n%/new/*}/cur/${n##*/}:2,S" "$n"
'

test_expect_success 'MB_TEST_FORMAT=1 makes a format-1 repository' '
	mb_write_config -o v1.conf "$(mb_tree_sources "$SCRATCH/snap1")" &&
	sed -i "s#^url = .*#url = $SCRATCH/repo1#; s#^cache_dir = .*#cache_dir = $SCRATCH/cache1#" v1.conf &&
	MB_TEST_FORMAT=1 "$MB_BIN" -c v1.conf init &&
	grep "^mailbackup-repository 1\$" repo1/mailbackup.repo &&
	MB_TEST_FORMAT=1 "$MB_BIN" -c v1.conf backup --json --time 2025-01-01T02:00:00Z >v1.json &&
	v1=$(mb_json_get id v1.json) &&
	mb_manifest_decrypt gnupg repo1/snapshots/*-$v1 >m.v1 &&
	test "$(head -n 1 m.v1)" = "mailbackup-manifest 1" &&
	grep "^e vmail f " m.v1 &&
	! grep "^q " repo1/index/* 2>/dev/null
'

test_expect_success 'a format-1 repository is read, and its next backup upgrades it' '
	"$MB_BIN" -c v1.conf restore "$v1" --target "$SCRATCH/rv1" &&
	mb_compare_trees snap1/vmail rv1/vmail &&
	"$MB_BIN" -c v1.conf backup --json --time 2025-01-02T02:00:00Z >v2.json &&
	v2=$(mb_json_get id v2.json) &&
	grep "^mailbackup-repository 2\$" repo1/mailbackup.repo &&
	mb_gpg gnupg --verify repo1/mailbackup.repo &&
	mb_manifest_decrypt gnupg repo1/snapshots/*-$v2 >m.v2 &&
	test "$(head -n 1 m.v2)" = "mailbackup-manifest 2" &&
	"$MB_BIN" -c v1.conf restore "$v1" --target "$SCRATCH/rv1b" &&
	"$MB_BIN" -c v1.conf restore "$v2" --target "$SCRATCH/rv2" &&
	mb_compare_trees snap1/vmail rv1b/vmail &&
	mb_compare_trees snap1/vmail rv2/vmail &&
	"$MB_BIN" -c v1.conf check
'

test_done
