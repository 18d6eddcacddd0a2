#!/bin/bash
# SPDX-License-Identifier: MIT
# t4010-prune: five backups of a mail tree that loses a mailbox and half of
# another, and of a dump that lives for one backup only; forget keeps the
# last two; prune deletes what no kept snapshot needs (the repository
# shrinks), --max-unused repacks sparse packs, one run reclaims everything,
# and every kept snapshot still restores bit for bit. A host that only holds
# the signing key (the recipients are an offline disaster-recovery key)
# deletes wholly unused packs only, and says so.
. "$(dirname "$0")/lib-test.sh"

# mailbackup with another configuration file (under MB_BIN_WRAPPER too)
mbc() {
	${MB_BIN_WRAPPER:-} "$MB_BIN" -c "$@"
}

# repo_option FILE LINE: a line for [repository] of a mb_write_config file
# (a second [repository] section would be ignored)
repo_option() {
	sed -i "/^url = /a $2" "$1" &&
	grep -q "^$2\$" "$1"
}

repo_size() {
	du -sb "$1" | cut -f1
}

# every object of a repository, with its size: what a dry run must not change
repo_objects() {
	(cd "$1" && find . -type f -printf '%p %s\n' | LC_ALL=C sort)
}

# restore_compare CONF ID COPY: restore snapshot ID with CONF into a new
# directory and compare each source with the copy of the tree taken at
# backup time
restore_compare() {
	rm -rf "$SCRATCH/r" &&
	mbc "$1" restore "$2" --target "$SCRATCH/r" &&
	for s in vmail dkim conf; do
		mb_compare_trees "$3/$s" "$SCRATCH/r/$s" || return 1
	done &&
	rm -rf "$SCRATCH/r"
}

# json_int KEY FILE: a number from a JSON summary, which must be there
json_int() {
	local v
	v=$(mb_json_get "$1" "$2") || return 1
	case "$v" in
	'' | *[!0-9]*)
		echo "json_int: '$1' is '$v' in $2" >&2
		return 1
		;;
	esac
	echo "$v"
}

test_expect_success 'setup: a host key, an offline recovery key, a tree' '
	mb_setup_keys --dr &&
	mb_gen_tree tree --messages 200 --users 5 --domains 2 --attach-pct 10 &&
	srcs=$(mb_tree_sources "$SCRATCH/tree") &&
	# the host can decrypt its packs
	mb_write_config "$srcs" &&
	repo_option "$CONF" "pack_size = 256K" &&
	# the host only signs: the packs are for the recovery key alone
	MB_REPO_URL=$SCRATCH/repo-dr MB_RECIPIENTS=$DR_FPR \
	MB_CACHE_DIR=$SCRATCH/cache-dr \
		mb_write_config -o host-dr.conf "$srcs" &&
	repo_option host-dr.conf "pack_size = 256K" &&
	# the disaster-recovery machine: the recovery key, trusting the host
	MB_REPO_URL=$SCRATCH/repo-dr MB_RECIPIENTS=$DR_FPR \
	MB_CACHE_DIR=$SCRATCH/cache-drm MB_GNUPG_HOME=$SCRATCH/drkey \
	MB_TRUSTED_SIGNERS=$HOST_FPR \
		mb_write_config -o dr.conf "$srcs" &&
	mb init &&
	mbc host-dr.conf init
'

# snap N TIME: back up into both repositories, keep a copy of the tree
snap() {
	mb backup --json --time "$2" >"b$1.json" &&
	eval "id$1=\$(mb_json_get id b$1.json)" &&
	mbc host-dr.conf backup --json --time "$2" >"d$1.json" &&
	eval "dr$1=\$(mb_json_get id d$1.json)" &&
	cp -a tree "snap$1"
}

test_expect_success 'five backups while mail comes and goes' '
	snap 1 2024-03-01T02:00:00Z &&
	# a dump that lives for one backup only: packs of its own, wholly
	# unused once that backup is forgotten
	head -c 1500000 /dev/urandom >tree/conf/dump.tmp &&
	mb backup --time 2024-03-01T14:00:00Z &&
	mbc host-dr.conf backup --time 2024-03-01T14:00:00Z &&
	rm tree/conf/dump.tmp &&
	# the largest mailbox is closed
	gone=$(du -s tree/vmail/*/* | sort -n | tail -n 1 | cut -f2) &&
	echo "removing $gone" &&
	rm -rf "$gone" &&
	mb_gen_tree tree --day --seed 2 &&
	snap 2 2024-03-02T02:00:00Z &&
	# half of another mailbox is deleted
	half=$(du -s tree/vmail/*/* | sort -n | tail -n 1 | cut -f2) &&
	find "$half" -path "*/cur/*" -type f | sort | awk "NR % 2" >deleted &&
	test "$(wc -l <deleted)" -gt 5 &&
	xargs -d "\n" rm <deleted &&
	mb_gen_tree tree --day --seed 3 &&
	snap 3 2024-03-03T02:00:00Z &&
	mb_gen_tree tree --day --seed 4 &&
	snap 4 2024-03-04T02:00:00Z &&
	test "$(ls repo/snapshots | wc -l)" = 5 &&
	test "$(ls repo-dr/snapshots | wc -l)" = 5
'

test_expect_success 'forget keeps the last two' '
	mb forget --keep-last 2 &&
	mbc host-dr.conf forget --keep-last 2 &&
	mb snapshots | cut -d" " -f1 >list &&
	printf "%s\n" "$id3" "$id4" >expect &&
	test_cmp expect list
'

test_expect_success PYTHON3 'prune --dry-run says what it would do and changes nothing' '
	repo_objects repo >before &&
	mb prune --grace 0 --dry-run --json --max-unused 100 >dry.json &&
	python3 -m json.tool dry.json &&
	test "$(mb_json_get dry_run dry.json)" = True &&
	dry_deleted=$(json_int packs_deleted dry.json) &&
	test "$dry_deleted" -gt 0 &&
	test "$(json_int packs_repacked dry.json)" = 0 &&
	repo_objects repo >after &&
	test_cmp before after
'

test_expect_success PYTHON3 'prune --max-unused 100 deletes the wholly unused packs, the repository shrinks' '
	size0=$(repo_size repo) &&
	npacks0=$(find repo/packs -type f | wc -l) &&
	mb prune --grace 0 --json --max-unused 100 >p1.json &&
	cat p1.json &&
	test "$(mb_json_get dry_run p1.json)" = False &&
	test "$(json_int packs_deleted p1.json)" = "$dry_deleted" &&
	test "$(json_int packs_repacked p1.json)" = 0 &&
	test "$(json_int packs_written p1.json)" = 0 &&
	test "$(json_int packs p1.json)" -le "$npacks0" &&
	freed=$(json_int bytes_freed p1.json) &&
	size1=$(repo_size repo) &&
	echo "repository: $size0 -> $size1 bytes, $freed freed" &&
	test "$size1" -lt "$size0" &&
	# a whole mailbox of four and older mail: at least a tenth
	test $((size0 - size1)) -ge $((size0 / 10)) &&
	test $((size0 - size1)) -ge "$freed" &&
	test "$(find repo/packs -type f | wc -l)" = \
		$((npacks0 - $(json_int packs_deleted p1.json)))
'

test_expect_success 'prune writes one consolidated index object' '
	test "$(ls repo/index | wc -l)" = 1
'

test_expect_success 'check --read-data passes after prune' '
	mb check --read-data
'

test_expect_success 'the kept snapshots restore bit for bit' '
	restore_compare "$CONF" "$id3" snap3 &&
	restore_compare "$CONF" "$id4" snap4
'

test_expect_success 'the forgotten snapshots are gone' '
	test_must_fail mb restore "$id1" --target "$SCRATCH/r1" 2>err &&
	test_grep "no snapshot" err
'

test_expect_success PYTHON3 'prune --max-unused 0 repacks the sparse packs' '
	size1=$(repo_size repo) &&
	repo_objects repo >before &&
	mb prune --grace 0 --dry-run --json --max-unused 0 >d2.json &&
	repo_objects repo >after &&
	test_cmp before after &&
	mb prune --grace 0 --json --max-unused 0 >p2.json &&
	cat d2.json p2.json &&
	# the dry run said what the run did
	test "$(json_int packs_repacked d2.json)" = "$(json_int packs_repacked p2.json)" &&
	test "$(json_int packs_deleted d2.json)" = "$(json_int packs_deleted p2.json)" &&
	test "$(json_int bytes_freed d2.json)" = "$(json_int bytes_freed p2.json)" &&
	test "$(json_int packs_repacked p2.json)" -gt 0 &&
	test "$(json_int packs_written p2.json)" -gt 0 &&
	test "$(json_int packs_written p2.json)" -le "$(json_int packs_repacked p2.json)" &&
	test "$(json_int repack_skipped p2.json)" = 0 &&
	size2=$(repo_size repo) &&
	echo "repository: $size1 -> $size2 bytes" &&
	test "$size2" -lt "$size1" &&
	test "$(ls repo/index | wc -l)" = 1
'

test_expect_success 'check --read-data passes after repacking' '
	mb check --read-data
'

test_expect_success 'the kept snapshots still restore bit for bit from the new packs' '
	restore_compare "$CONF" "$id3" snap3 &&
	restore_compare "$CONF" "$id4" snap4
'

test_expect_success PYTHON3 'one run reclaimed everything: the next one has nothing to do' '
	repo_objects repo >before &&
	mb prune --grace 0 --json --max-unused 0 >p3.json &&
	cat p3.json &&
	test "$(json_int packs_deleted p3.json)" = 0 &&
	test "$(json_int packs_repacked p3.json)" = 0 &&
	test "$(json_int bytes_freed p3.json)" = 0 &&
	# the index object is written anew; no pack changes
	repo_objects repo | grep -v "^./index/" >after &&
	grep -v "^./index/" before >before.packs &&
	test_cmp before.packs after
'

test_expect_success 'no temporary file and no lock is left behind' '
	find repo/tmp repo/locks -type f ! -name 0.reserve >left 2>/dev/null;
	test_must_be_empty left
'

test_expect_success 'a backup after prune stores only the new mail and restores' '
	mb_gen_tree tree --day --seed 5 &&
	mb backup --json --time 2024-03-05T02:00:00Z >b5.json &&
	id5=$(mb_json_get id b5.json) &&
	test "$(mb_json_get bytes_new b5.json)" -lt $((1024 * 1024 * 3)) &&
	cp -a tree snap5 &&
	mb check --read-data &&
	restore_compare "$CONF" "$id5" snap5
'

test_expect_success PYTHON3 'prune --max-unused takes a percentage' '
	mb prune --grace 0 --dry-run --json --max-unused 50% >pct.json &&
	test_must_fail --exit 2 mb prune --max-unused 101 2>err &&
	test_must_fail --exit 2 mb prune --max-unused -1 2>err &&
	test_must_fail --exit 2 mb prune --max-unused abc 2>err &&
	test_must_fail --exit 2 mb prune extra 2>err
'

# An empty file has no bytes: a pack whose only live content is an empty file
# is still live (prune used to judge packs by live bytes, took it for wholly
# unused and then stopped with "prune would lose content", on every run).
test_expect_success 'a pack whose only live content is an empty file' '
	mkdir -p small &&
	echo base >small/base &&
	MB_REPO_URL=$SCRATCH/erepo MB_CACHE_DIR=$SCRATCH/ecache \
		mb_write_config -o e.conf "[source small]" "type = files" \
		"path = $SCRATCH/small" &&
	mbc e.conf init &&
	mbc e.conf backup --time 2024-04-01T02:00:00Z &&
	: >small/empty &&
	head -c 5000 /dev/urandom >small/gone &&
	mbc e.conf backup --time 2024-04-02T02:00:00Z &&
	rm small/gone &&
	mbc e.conf backup --time 2024-04-03T02:00:00Z &&
	mbc e.conf forget --keep-last 1 &&
	mbc e.conf prune --grace 0 --max-unused 100 &&
	mbc e.conf prune --grace 0 &&
	mbc e.conf check --read-data &&
	rm -rf r &&
	mbc e.conf restore latest --target "$SCRATCH/r" &&
	mb_compare_trees small r/small
'

# --- the host that cannot decrypt its packs --------------------------------

test_expect_success 'the host without the recovery key cannot read the packs' '
	# a content pack ("p"): the host reads listing packs ("q")
	for ix in repo-dr/index/*; do
		mb_manifest_decrypt gnupg "$ix" || return 1
	done >dr-index &&
	p=$(awk "\$1 == \"p\" { print \$2; exit }" dr-index) &&
	test -n "$p" &&
	test_must_fail mb_gpg gnupg --decrypt \
		"repo-dr/packs/${p%"${p#??}"}/$p" >/dev/null 2>err
'

test_expect_success PYTHON3 'a host that cannot decrypt deletes wholly unused packs only, and says so' '
	size0=$(repo_size repo-dr) &&
	mbc host-dr.conf prune --grace 0 --json --max-unused 0 >pd.json 2>err &&
	cat pd.json err &&
	test "$(json_int packs_deleted pd.json)" -gt 0 &&
	test "$(json_int repack_skipped pd.json)" -gt 0 &&
	# sparse listing packs (format 2) are encrypted to the host key as
	# well: the host repacks those, and writes listing packs only
	for ix in repo-dr/index/*; do
		mb_manifest_decrypt gnupg "$ix" || return 1
	done >dr-index2 &&
	awk "\$1 == \"p\" { print \$2 }" dr-index | sort >p.before &&
	awk "\$1 == \"p\" { print \$2 }" dr-index2 | sort >p.after &&
	comm -13 p.before p.after >p.new &&
	test_must_be_empty p.new &&
	awk "\$1 == \"q\" { print \$2 }" dr-index | sort >q.before &&
	awk "\$1 == \"q\" { print \$2 }" dr-index2 | sort >q.after &&
	test "$(comm -13 q.before q.after | wc -l)" = "$(json_int packs_written pd.json)" &&
	test "$(json_int packs_repacked pd.json)" -le "$(wc -l <q.before)" &&
	test_grep -i "repack" err &&
	test_grep -i "key" err &&
	size1=$(repo_size repo-dr) &&
	echo "repository: $size0 -> $size1 bytes" &&
	test "$size1" -lt "$size0" &&
	test $((size0 - size1)) -ge $((size0 / 10))
'

test_expect_success PYTHON3 'the second run of that host changes no pack and says so again' '
	repo_objects repo-dr | grep -v "^./index/" >before &&
	mbc host-dr.conf prune --grace 0 --json --max-unused 0 >pd2.json 2>err &&
	test "$(json_int packs_deleted pd2.json)" = 0 &&
	test "$(json_int repack_skipped pd2.json)" -gt 0 &&
	test_grep -i "repack" err &&
	repo_objects repo-dr | grep -v "^./index/" >after &&
	test_cmp before after
'

test_expect_success 'the host can still check the repository without reading data' '
	mbc host-dr.conf check
'

test_expect_success 'the recovery machine reads every pack and restores both kept snapshots' '
	mbc dr.conf check --read-data &&
	restore_compare dr.conf "$dr3" snap3 &&
	restore_compare dr.conf "$dr4" snap4
'

test_expect_success 'the host backs up again after its prune' '
	mbc host-dr.conf backup --time 2024-03-05T02:00:00Z &&
	mbc dr.conf check --read-data &&
	restore_compare dr.conf latest snap5
'

test_done
