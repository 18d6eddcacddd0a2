#!/bin/bash
# SPDX-License-Identifier: MIT
# t2100-bandwidth: upload_limit and download_limit (and --limit-upload,
# --limit-download) hold for the total of parallel transfers to S3.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-s3.sh"

s3_start

# seconds since the epoch, with fractions
now() {
	date +%s.%N
}

# within LOW HIGH T0 T1: LOW <= T1 - T0 <= HIGH
within() {
	awk -v lo="$1" -v hi="$2" -v a="$3" -v b="$4" 'BEGIN {
		d = b - a
		printf "# took %.2f s (want %s to %s)\n", d, lo, hi
		exit !(d >= lo && d <= hi)
	}'
}

# 40 MB of incompressible data in packs of 8 MiB: up to four go up at once
# (s3_parallel 4), so only a shared limit keeps their total at 5M/s
test_expect_success 'setup: 40 MB, an s3 repository with upload_limit 5M' '
	mb_setup_keys &&
	mkdir big &&
	head -c 40000000 /dev/urandom >big/data &&
	s3_env &&
	s3_write_config -r "pack_size = 8M" \
		-r "upload_limit = 5M" -r "download_limit = 100k" \
		"[source big]" "type = files" "path = $SCRATCH/big" &&
	mb init
'

test_expect_success 'backup of 40 MB at 5M/s takes 7 to 10 s' '
	s0=$(now) &&
	mb backup --json >b.json &&
	s1=$(now) &&
	within 7 10 "$s0" "$s1" &&
	test "$(mb_json_get warnings b.json)" = 0
'

test_expect_success 'the packs are all in the bucket' '
	s3_objects repo/packs/ >packs &&
	awk "{ n += \$2 } END { exit !(n > 40000000) }" packs
'

# the configuration says 100k (400 s), the option 10M (about 4 s)
test_expect_success '--limit-download overrides download_limit' '
	s0=$(now) &&
	timeout 60 "$MB_BIN" -c "$CONF" --limit-download 10M \
		restore latest --target out &&
	s1=$(now) &&
	within 3.5 8 "$s0" "$s1" &&
	cmp big/data out/big/data
'

test_expect_success 'a limit of 0, negative or with junk is a config error' '
	cp "$CONF" good.conf &&
	for v in 0 -5M 5X fast "5 M/h" 0k; do
		sed "s|^upload_limit = .*|upload_limit = $v|" good.conf >"$CONF" &&
		test_must_fail --exit 2 mb snapshots 2>err &&
		test_grep "upload_limit.* must be a rate in bytes per second above 0" err &&
		test_grep "$CONF:[0-9]" err || return 1
	done &&
	cp good.conf "$CONF"
'

test_expect_success 'a bad --limit-upload or --limit-download is a usage error' '
	test_must_fail --exit 2 mb --limit-upload 0 snapshots 2>err &&
	test_grep -- "--limit-upload .0. is not a rate" err &&
	test_must_fail --exit 2 mb --limit-download 12q snapshots 2>err &&
	test_grep -- "--limit-download .12q. is not a rate" err &&
	mb --limit-upload 500k --limit-download 1G snapshots >list &&
	test "$(wc -l <list)" -ge 1
'

test_done
