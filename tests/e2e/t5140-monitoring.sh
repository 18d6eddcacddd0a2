#!/bin/bash
# SPDX-License-Identifier: MIT
# t5140-monitoring: hooks/monitoring: the Prometheus rules pass `promtool
# check rules` and `promtool test rules` against series made from real
# metrics files (a good night, a damaged repository, a backup killed while
# it held the lock); the Grafana dashboard and the rules name only metrics
# that mailbackup writes.
. "$(dirname "$0")/lib-test.sh"

MON=$MB_SRCDIR/hooks/monitoring
PROM=$SCRATCH/prom/mailbackup.prom

if ! command -v promtool >/dev/null 2>&1; then
	if test -n "${CI:-}"; then
		printf 'Bail out! promtool not found: install prometheus\n' >&6
		exit 1
	fi
	test_skip_all "promtool not found: install prometheus"
fi

# names NAME-LIST-FILE: the metric names of a file, one a line
names() {
	grep -o 'mailbackup_[a-z_]*' "$1" | sort -u
}

test_expect_success 'the rules pass promtool check rules' '
	promtool check rules "$MON/mailbackup-settings.rules.yml" \
		"$MON/mailbackup.rules.yml" >out 2>&1 &&
	test_grep "SUCCESS: 7 rules found" out &&
	test_grep "SUCCESS: 9 rules found" out
'

test_expect_success 'a good night: backup, check, restore-test' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 40 --users 2 --domains 1 &&
	mkdir prom &&
	mb_write_config "metrics_file = $PROM" \
		"$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup &&
	mb check &&
	mb restore-test >/dev/null &&
	cp "$PROM" ok.prom &&
	test_grep "^mailbackup_last_restore_test_success 1$" ok.prom &&
	test_grep "^mailbackup_running_since_timestamp_seconds{command=\"backup\"} 0$" ok.prom
'

test_expect_success 'a damaged repository: check and restore-test fail' '
	pack=$(find repo/packs -type f | head -n 1) &&
	mv "$pack" pack.save &&
	test_must_fail --exit 4 mb check 2>/dev/null &&
	test_must_fail mb restore-test >/dev/null 2>&1 &&
	mv pack.save "$pack" &&
	cp "$PROM" bad.prom &&
	test_grep "^mailbackup_last_run_status{command=\"check\"} 1$" bad.prom &&
	test_grep "^mailbackup_last_restore_test_success 0$" bad.prom
'

test_expect_success 'a backup killed while it runs leaves running_since set' '
	mb_write_config "metrics_file = $PROM" \
		"$(mb_tree_sources "$SCRATCH/tree")" \
		"[hooks]" "pre_backup = echo \$\$ >$SCRATCH/hook.pid; exec sleep 60" &&
	"$MB_BIN" -c "$CONF" backup 2>/dev/null &
	pid=$! &&
	for i in $(seq 100); do
		test -s hook.pid && break
		sleep 0.1
	done &&
	test -s hook.pid &&
	kill -KILL "$pid" && kill "$(cat hook.pid)" &&
	{ wait "$pid" 2>/dev/null; true; } &&
	cp "$PROM" killed.prom &&
	since=$(awk "\$1 == \"mailbackup_running_since_timestamp_seconds{command=\\\"backup\\\"}\" { print \$2 }" killed.prom) &&
	test "$since" -gt 0
'

test_expect_success 'the dashboard names only metrics mailbackup writes' '
	python3 -m json.tool "$MON/mailbackup-dashboard.json" >/dev/null &&
	cat ok.prom bad.prom killed.prom | grep "^# HELP" >help &&
	names help >written &&
	names "$MON/mailbackup-dashboard.json" >dashboard &&
	test "$(wc -l <dashboard)" -ge 8 &&
	comm -23 dashboard written >unknown &&
	test_must_be_empty unknown &&
	names "$MON/mailbackup.rules.yml" >rules &&
	comm -23 rules written >unknown &&
	test_must_be_empty unknown &&
	comm -13 dashboard written >unshown &&
	test_must_be_empty unshown
'

test_expect_success 'the alerts fire, and only when they should (promtool test rules)' '
	sed -e "/backup_slow_min_seconds/{n;s/vector(.*)/vector(0)/}" \
		-e "/backup_large_min_bytes/{n;s/vector(.*)/vector(0)/}" \
		"$MON/mailbackup-settings.rules.yml" >test-settings.yml &&
	test_grep -c "vector(0)" test-settings.yml &&
	mkdir -p ptest &&
	python3 "$MB_E2E_DIR/promtest.py" "$MON/mailbackup.rules.yml" \
		"$MON/mailbackup-settings.rules.yml" "$SCRATCH/test-settings.yml" \
		ok.prom bad.prom killed.prom ptest &&
	promtool test rules ptest/defaults.yml ptest/history.yml >out 2>&1 ||
	{ cat out; false; }
'

test_expect_success 'promtool test rules fails when an alert does not fire' '
	sed "s/MailbackupCheckFailed/MailbackupNoSuchAlert/" \
		ptest/defaults.yml >ptest/broken.yml &&
	test_must_fail promtool test rules ptest/broken.yml >out 2>&1
'

test_done
