#!/bin/bash
# SPDX-License-Identifier: MIT
# t5120-metrics: [options] metrics_file: the Prometheus textfile after
# backup, check, forget and prune (values, HELP/TYPE, labels, mode 0644),
# merged with what other commands and other versions wrote; a failed run;
# [options] log = syslog keeps stderr quiet off a terminal; --json on init,
# keygen, ls, restore and unlock.
. "$(dirname "$0")/lib-test.sh"

PROM=$SCRATCH/prom/mailbackup.prom

# sample NAME [LABELS]: the value of one sample of the metrics file
sample() {
	awk -v k="$1${2:+\{$2\}}" '$1 == k { print $2 }' "$PROM"
}

# Every sample line parses, every name has one HELP and one TYPE before its
# samples, no sample line repeats.
check_format() {
	awk '
	/^# HELP / { if (help[$3]++) { print "two HELP for " $3; bad = 1 }; next }
	/^# TYPE / { if (type[$3]++) { print "two TYPE for " $3; bad = 1 }; next }
	/^#/ { next }
	{
		name = $1; sub(/\{.*/, "", name)
		if ($0 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z_]+="[^"]*"\})? -?[0-9.e+]+$/) {
			print "bad line: " $0; bad = 1
		}
		if (name ~ /^mailbackup_/ && name != "mailbackup_future_metric" &&
		    (!help[name] || !type[name])) {
			print "no HELP/TYPE before " $0; bad = 1
		}
		if (seen[$1]++) { print "repeated: " $1; bad = 1 }
	}
	END { exit bad }' "$PROM"
}

test_expect_success 'set up' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 50 --users 3 --domains 1 &&
	mkdir prom &&
	cfg() {
		mb_write_config "metrics_file = $PROM" \
			"$(mb_tree_sources "$SCRATCH/tree")" "$@"
	} &&
	cfg &&
	mb init --json >init.json &&
	test "$(mb_json_get status init.json)" = ok
'

test_expect_success 'a backup writes the metrics file' '
	before=$(date +%s) &&
	(umask 077 && mb backup --json >b1.json) &&
	after=$(date +%s) &&
	test -f "$PROM" &&
	test "$(stat -c %a "$PROM")" = 644 &&
	check_format &&
	test "$(sample mailbackup_last_run_status command=\"backup\")" = 0 &&
	t=$(sample mailbackup_last_run_timestamp_seconds command=\"backup\") &&
	test "$t" -ge "$before" && test "$t" -le "$after" &&
	test "$(sample mailbackup_last_success_timestamp_seconds command=\"backup\")" = "$t" &&
	test "$(sample mailbackup_last_files command=\"backup\")" = "$(mb_json_get files b1.json)" &&
	test "$(sample mailbackup_last_bytes_new command=\"backup\")" = "$(mb_json_get bytes_new b1.json)" &&
	test "$(sample mailbackup_last_bytes_stored command=\"backup\")" = "$(mb_json_get bytes_stored b1.json)" &&
	test "$(sample mailbackup_snapshots)" = 1 &&
	test -n "$(sample mailbackup_last_duration_seconds command=\"backup\")" &&
	test_grep "^# HELP mailbackup_last_run_status " "$PROM" &&
	test_grep "^# TYPE mailbackup_last_run_status gauge$" "$PROM" &&
	! ls prom | grep -v "^mailbackup.prom$"
'

test_expect_success 'check adds its samples and keeps those of backup' '
	cp "$PROM" prom.1 &&
	mb check &&
	check_format &&
	test "$(sample mailbackup_last_run_status command=\"check\")" = 0 &&
	test -n "$(sample mailbackup_last_success_timestamp_seconds command=\"check\")" &&
	for m in mailbackup_last_run_timestamp_seconds mailbackup_last_files \
		mailbackup_last_bytes_new mailbackup_last_run_status; do
		test "$(sample $m command=\"backup\")" = \
			"$(awk -v k="$m{command=\"backup\"}" "\$1 == k { print \$2 }" prom.1)" ||
			return 1
	done &&
	test "$(sample mailbackup_snapshots)" = 1 &&
	test -z "$(sample mailbackup_last_files command=\"check\")"
'

test_expect_success 'values of other commands and versions survive a rewrite' '
	cat >>"$PROM" <<-\EOF &&
	# HELP mailbackup_last_restore_test_success 1 when the last restore-test passed, 0 when it failed.
	# TYPE mailbackup_last_restore_test_success gauge
	mailbackup_last_restore_test_success 1
	# HELP mailbackup_future_metric Something a newer version writes.
	# TYPE mailbackup_future_metric counter
	mailbackup_future_metric{kind="x"} 42
	mailbackup_last_run_status{command="restore-test"} 0
	not a metric line at all
	EOF
	mb backup --time 2025-01-02T00:00:00Z &&
	check_format &&
	test "$(sample mailbackup_last_restore_test_success)" = 1 &&
	test "$(sample mailbackup_future_metric kind=\"x\")" = 42 &&
	test_grep "^# TYPE mailbackup_future_metric counter$" "$PROM" &&
	test "$(sample mailbackup_last_run_status command=\"restore-test\")" = 0 &&
	test_grep -v "not a metric" "$PROM" &&
	test "$(sample mailbackup_snapshots)" = 2
'

test_expect_success 'a failed backup: status 1, the last success stays' '
	ok=$(sample mailbackup_last_success_timestamp_seconds command=\"backup\") &&
	files=$(sample mailbackup_last_files command=\"backup\") &&
	sleep 1 &&
	cfg "[hooks]" "pre_backup = exit 9" &&
	test_must_fail --exit 1 mb backup &&
	check_format &&
	test "$(sample mailbackup_last_run_status command=\"backup\")" = 1 &&
	test "$(sample mailbackup_last_success_timestamp_seconds command=\"backup\")" = "$ok" &&
	test "$(sample mailbackup_last_run_timestamp_seconds command=\"backup\")" -gt "$ok" &&
	test "$(sample mailbackup_last_files command=\"backup\")" = "$files"
'

test_expect_success 'a partial backup: status 3' '
	cfg &&
	mkfifo tree/conf/fifo &&
	test_must_fail --exit 3 mb backup &&
	rm tree/conf/fifo &&
	test "$(sample mailbackup_last_run_status command=\"backup\")" = 3 &&
	test "$(sample mailbackup_snapshots)" = 3
'

test_expect_success 'forget and prune write their samples' '
	cfg "[retention]" "keep_last = 1" &&
	mb forget &&
	test "$(sample mailbackup_last_run_status command=\"forget\")" = 0 &&
	test "$(sample mailbackup_snapshots)" = 1 &&
	mb prune &&
	test "$(sample mailbackup_last_run_status command=\"prune\")" = 0 &&
	check_format
'

test_expect_success 'a metrics directory that is missing is a warning only' '
	mb_write_config "metrics_file = $SCRATCH/nodir/m.prom" \
		"$(mb_tree_sources "$SCRATCH/tree")" &&
	mb backup 2>err &&
	test_grep "warning: metrics not written" err &&
	test_grep "nodir" err
'

test_expect_success 'log = syslog: quiet on stderr when it is no terminal' '
	mb_write_config "log = syslog" "$(mb_tree_sources "$SCRATCH/tree")" &&
	test_must_fail --exit 1 mb ls nosuchsnapshot 2>err &&
	! test -s err &&
	mb_write_config "log = stderr" "$(mb_tree_sources "$SCRATCH/tree")" &&
	test_must_fail --exit 1 mb ls nosuchsnapshot 2>err &&
	test_grep "no snapshot" err
'

test_expect_success 'log takes stderr or syslog only' '
	mb_write_config "log = journal" "$(mb_tree_sources "$SCRATCH/tree")" &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "log must be .stderr. or .syslog." err
'

test_expect_success PYTHON3 '--json on keygen, ls, restore and unlock' '
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mbt_track_gnupg "$SCRATCH/k2" &&
	"$MB_BIN" keygen --gnupg-home "$SCRATCH/k2" --name other --json >kg.json &&
	python3 -m json.tool kg.json >/dev/null &&
	fpr=$(mb_json_get fingerprint kg.json) &&
	test ${#fpr} = 40 &&
	mb ls --json latest >ls.json &&
	python3 - ls.json <<-\EOF &&
	import json, sys
	v = json.load(open(sys.argv[1]))
	assert len(v) > 10, len(v)
	f = [e for e in v if e["type"] == "f"]
	assert f and all(len(e["sha256"]) == 64 for e in f)
	assert all(e["source"] in ("vmail", "dkim", "conf") for e in v)
	EOF
	test "$(mb ls latest | wc -l)" = "$(python3 -c "import json; print(len(json.load(open(\"ls.json\"))))")" &&
	mb restore latest --target r1 --json >r.json &&
	python3 -m json.tool r.json >/dev/null &&
	test "$(mb_json_get status r.json)" = ok &&
	test "$(mb_json_get files r.json)" = "$(find r1 -type f | wc -l)" &&
	mb unlock --json >u.json &&
	test "$(mb_json_get removed u.json)" = 0
'

test_done
