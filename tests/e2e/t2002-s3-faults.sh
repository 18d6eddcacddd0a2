#!/bin/bash
# SPDX-License-Identifier: MIT
# t2002-s3-faults: through a proxy that drops connections, answers 500 and
# 503, stalls and cuts bodies, a backup either commits a correct snapshot or
# fails cleanly, and check --read-data passes afterwards.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-s3.sh"

s3_start

# s3_write_config through the proxy (or straight to the server with -d):
# small packs in several parts, short stalls, so many requests and quick
# retries; each LINE goes into [repository]
config() {
	local ep=$S3_PROXY_ENDPOINT opts=() l
	if test "${1-}" = -d; then
		ep=$S3_ENDPOINT
		shift
	fi
	for l in "pack_size = 3M" "part_size = 5M" "s3_parallel = 2" \
		"s3_timeout = 2" "$@"; do
		opts+=(-r "$l")
	done
	s3_write_config -e "$ep" "${opts[@]}" "$(mb_tree_sources "$SCRATCH/tree")"
}

# Every snapshot listed is whole: all it references exists and reads back.
repo_sound() {
	config -d &&
	mb check &&
	mb check --read-data
}

test_expect_success 'setup: a tree and a repository' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 250 --users 4 --domains 2 &&
	s3_env &&
	config -d &&
	mb init
'

ncommitted=0
nfailed=0
for seed in 1 2 3 4 5; do
	test_expect_success "backup $seed through faults (seed $seed) commits or fails cleanly" '
		s3_proxy_start --seed '$seed' --rate 0.25 --stall-ms 4000 &&
		config &&
		mb snapshots >before &&
		if mb backup --json >b.json 2>err; then
			ncommitted=$((ncommitted + 1)) &&
			id=$(mb_json_get id b.json) &&
			config -d &&
			mb snapshots >after &&
			test_grep "^$id " after &&
			mb_copy_tree tree "good-'$seed'" &&
			echo "$id '$seed'" >>committed
		else
			rc=$? &&
			test $rc = 1 &&
			nfailed=$((nfailed + 1)) &&
			test "$(wc -l <err)" -ge 1 &&
			config -d &&
			mb snapshots >after &&
			test_cmp before after
		fi &&
		s3_proxy_stop &&
		cat "$S3_PROXY_LOG" >>faults.log &&
		repo_sound &&
		mb_gen_tree tree --day --seed '$seed'
	'
done

test_expect_success 'faults of every kind were injected, most were retried' '
	say "$ncommitted backups committed, $nfailed failed cleanly" &&
	say "$(grep -v "^#" faults.log | cut -d" " -f1 | sort | uniq -c | tr -s " \n" " ")" &&
	for f in drop 500 503 stall lost; do
		test_grep "^$f " faults.log || return 1
	done &&
	test "$ncommitted" -ge 3
'

test_expect_success 'every committed snapshot restores exactly' '
	while read -r id seed; do
		mb restore "$id" --target "$SCRATCH/r-$seed" &&
		mb_compare_trees "good-$seed/vmail" "r-$seed/vmail" || return 1
	done <committed
'

test_expect_success 'restore and check --read-data through cut, corrupted and dropped downloads' '
	s3_proxy_start --seed 9 --rate 0.3 --faults drop,500,503,truncate,corrupt,stall \
		--stall-ms 4000 &&
	config &&
	read -r id seed <committed &&
	mb restore "$id" --target "$SCRATCH/rf" &&
	mb_compare_trees "good-$seed/vmail" rf/vmail &&
	mb check --read-data &&
	s3_proxy_stop &&
	test_grep -e "^truncate GET" -e "^corrupt GET" "$S3_PROXY_LOG"
'

test_expect_success 'with no retries left a failed upload names the object and the status' '
	s3_proxy_start --rate 1 --faults 503 --methods PUT --skip 1 &&
	config "s3_retries = 0" &&
	echo changed >>tree/conf/mailcow.conf &&
	mb snapshots >before &&
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "HTTP 503 SlowDown" err &&
	test "$(wc -l <err)" = 1 &&
	test_grep "cannot upload.* .\(packs\|tmp\)/[0-9a-f]" err &&
	s3_proxy_stop &&
	config -d &&
	mb snapshots >after &&
	test_cmp before after &&
	repo_sound
'

test_expect_success 'a stalled server is given up on within the time bound' '
	s3_proxy_start --rate 1 --faults stall --stall-ms 60000 --methods PUT \
		--skip 1 &&
	config "s3_retries = 1" &&
	SECONDS=0 &&
	test_must_fail --exit 1 mb backup 2>err &&
	test $SECONDS -lt 40 &&
	test_grep "no progress" err &&
	s3_proxy_stop &&
	repo_sound
'

test_expect_success 'a last clean backup commits and restores' '
	config -d &&
	mb backup --json >last.json &&
	id=$(mb_json_get id last.json) &&
	mb restore "$id" --target "$SCRATCH/rlast" &&
	mb_compare_trees tree/vmail rlast/vmail &&
	mb check --read-data
'

test_done
