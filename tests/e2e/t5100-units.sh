#!/bin/bash
# SPDX-License-Identifier: MIT
# t5100-units: meson install puts the systemd units, the cron.d example and
# the example hooks in place; the units name the installed binary and pass
# systemd-analyze verify without a warning; the hooks are POSIX sh (and
# shellcheck-clean where shellcheck is installed).
. "$(dirname "$0")/lib-test.sh"

if ! command -v systemd-analyze >/dev/null 2>&1; then
	if test -n "${CI:-}"; then
		echo "Bail out! systemd-analyze is missing: install the systemd package"
		exit 1
	fi
	test_skip_all "no systemd-analyze (package systemd)"
fi
if command -v shellcheck >/dev/null 2>&1; then
	test_set_prereq SHELLCHECK
fi

DEST=$SCRATCH/inst

test_expect_success 'meson install into a staging directory' '
	meson install -C "$MB_BUILDDIR" --destdir "$DEST" --no-rebuild \
		--quiet >install.log 2>&1 || {
		cat install.log
		false
	} &&
	find "$DEST" -name "mailbackup*.service" -o -name "mailbackup*.timer" |
		sort >units &&
	test "$(wc -l <units)" = 4 &&
	unitdir=$(dirname "$(head -n 1 units)") &&
	for u in mailbackup.service mailbackup.timer \
		mailbackup-restore-test.service mailbackup-restore-test.timer; do
		test -f "$unitdir/$u" || return 1
	done &&
	hooks=$(find "$DEST" -type d -path "*/share/mailbackup/hooks") &&
	for h in mailcow-redis-save.sh healthchecks-ping.sh mail-admin-on-failure.sh; do
		test -x "$hooks/$h" || return 1
	done &&
	cron=$(find "$DEST" -type f -path "*/share/mailbackup/cron/mailbackup") &&
	test -f "$cron"
'

test_expect_success 'the units and the cron file run the installed binary' '
	for f in "$unitdir/mailbackup.service" "$unitdir/mailbackup-restore-test.service"; do
		bin=$(sed -n "s/^ExecStart=\([^ ]*\) .*/\1/p" "$f") &&
		case "$bin" in
		/*/bin/mailbackup) ;;
		*) echo "ExecStart of $f: $bin" >&2; false ;;
		esac &&
		test -x "$DEST$bin" || return 1
	done &&
	test_grep -v "@BINDIR@" "$unitdir/mailbackup.service" &&
	test_grep -v "@BINDIR@" "$cron" &&
	test_grep " $bin -q backup --prune --wait 2h$" "$cron" &&
	test_grep "^ExecStart=$bin backup --prune --wait 2h$" "$unitdir/mailbackup.service" &&
	test_grep "^ExecStart=$bin restore-test --json$" \
		"$unitdir/mailbackup-restore-test.service"
'

test_expect_success 'the service is a sandboxed oneshot' '
	s=$unitdir/mailbackup.service &&
	for l in Type=oneshot ProtectSystem=strict PrivateTmp=yes \
		NoNewPrivileges=yes ProtectHome=yes IOSchedulingClass=idle \
		"ReadWritePaths=/var/cache/mailbackup -/var/backups/mailbackup"; do
		test_grep -x "$l" "$s" || return 1
	done &&
	test_grep "^CapabilityBoundingSet=CAP_DAC_READ_SEARCH " "$s" &&
	test_grep "^ReadOnlyPaths=.*/var/vmail" "$s" &&
	t=$unitdir/mailbackup.timer &&
	for l in OnCalendar=daily Persistent=true RandomizedDelaySec=30min; do
		test_grep -x "$l" "$t" || return 1
	done
'

# verify checks that ExecStart exists on this machine: run it on copies
# that name the staged binary
test_expect_success 'systemd-analyze verify passes without a warning' '
	mkdir units.v &&
	for f in "$unitdir"/mailbackup*; do
		sed "s|^ExecStart=$bin|ExecStart=$DEST$bin|" "$f" \
			>"units.v/${f##*/}" || return 1
	done &&
	systemd-analyze verify --man=no units.v/* >verify.out 2>&1 || {
		cat verify.out
		false
	} &&
	if test -s verify.out; then
		cat verify.out
		false
	fi
'

test_expect_success 'verify would see a mistake' '
	sed "s/^Nice=/Nicety=/" units.v/mailbackup.service >units.v/bad.service &&
	systemd-analyze verify --man=no units.v/bad.service >bad.out 2>&1;
	test_grep "Nicety" bad.out &&
	rm units.v/bad.service
'

test_expect_success 'the example hooks are POSIX sh' '
	for h in "$hooks"/*.sh; do
		sh -n "$h" || return 1
		head -n 1 "$h" | grep -qx "#!/bin/sh" || return 1
	done
'

test_expect_success SHELLCHECK 'the example hooks are shellcheck-clean' '
	shellcheck -s sh "$hooks"/*.sh
'

test_expect_success 'healthchecks-ping.sh pings URL or URL/fail with a report' '
	mkdir fakebin &&
	cat >fakebin/curl <<-\EOF &&
	#!/bin/sh
	printf "%s\n" "$@" >"$SCRATCH/curl.args"
	EOF
	chmod +x fakebin/curl &&
	PATH=$SCRATCH/fakebin:$PATH HEALTHCHECKS_URL=https://hc.example/ping/abc/ \
		MAILBACKUP_HOOK=post_backup MAILBACKUP_STATUS=ok \
		MAILBACKUP_SNAPSHOT_ID=0123456789abcdef MAILBACKUP_FILES=12 \
		"$hooks/healthchecks-ping.sh" &&
	tail -n 1 curl.args >url && echo https://hc.example/ping/abc >expect &&
	test_cmp expect url &&
	test_grep "snapshot 0123456789abcdef: 12 files" curl.args &&
	echo https://hc.example/ping/abc >hc-url &&
	PATH=$SCRATCH/fakebin:$PATH HEALTHCHECKS_URL_FILE=$SCRATCH/hc-url \
		MAILBACKUP_HOOK=on_failure MAILBACKUP_STATUS=failed \
		MAILBACKUP_ERROR="no repository" "$hooks/healthchecks-ping.sh" &&
	tail -n 1 curl.args >url && echo https://hc.example/ping/abc/fail >expect &&
	test_cmp expect url &&
	test_grep "error: no repository" curl.args &&
	test_must_fail env -u HEALTHCHECKS_URL HEALTHCHECKS_URL_FILE=/nonexistent \
		PATH=$SCRATCH/fakebin:$PATH "$hooks/healthchecks-ping.sh" 2>err &&
	test_grep "no URL" err
'

test_expect_success 'mail-admin-on-failure.sh sends the error with sendmail' '
	cat >fakebin/sendmail <<-\EOF &&
	#!/bin/sh
	printf "%s\n" "$@" >"$SCRATCH/sendmail.args"
	cat >"$SCRATCH/sendmail.msg"
	EOF
	chmod +x fakebin/sendmail &&
	PATH=$SCRATCH/fakebin:$PATH ADMIN_EMAIL=admin@example.org \
		MAILBACKUP_STATUS=failed MAILBACKUP_EXIT_CODE=1 \
		MAILBACKUP_ERROR="pre_backup hook (x) failed with exit code 7" \
		"$hooks/mail-admin-on-failure.sh" &&
	test_grep -x "admin@example.org" sendmail.args &&
	test_grep "^To: admin@example.org$" sendmail.msg &&
	test_grep "^Subject: mailbackup on .*: failed (exit 1)$" sendmail.msg &&
	test_grep "failed with exit code 7" sendmail.msg
'

test_expect_success 'mailcow-redis-save.sh runs redis-cli SAVE in the redis service' '
	mkdir -p mailcow &&
	cat >fakebin/docker <<-\EOF &&
	#!/bin/sh
	if test "$1 $2" = "compose version"; then exit 0; fi
	printf "%s\n" "$PWD" "$@" >"$SCRATCH/docker.args"
	echo OK
	EOF
	chmod +x fakebin/docker &&
	PATH=$SCRATCH/fakebin:$PATH MAILCOW_DIR=$SCRATCH/mailcow \
		"$hooks/mailcow-redis-save.sh" &&
	test_grep -x "$SCRATCH/mailcow" docker.args &&
	test_grep -x "redis-mailcow" docker.args &&
	test_grep "redis-cli .*SAVE" docker.args &&
	sed -i "s/^echo OK/echo ERR busy/" fakebin/docker &&
	test_must_fail env PATH=$SCRATCH/fakebin:$PATH MAILCOW_DIR=$SCRATCH/mailcow \
		"$hooks/mailcow-redis-save.sh" 2>err &&
	test_grep "did not save" err
'

test_done
