#!/bin/sh
# SPDX-License-Identifier: MIT
# mail-admin-on-failure.sh: an on_failure hook that mails the error of a
# failed backup to the administrator, with sendmail(8) (Postfix, Exim,
# msmtp, ...) or, failing that, mail(1).
#
# Use it in /etc/mailbackup/mailbackup.conf:
#
#   [hooks]
#   on_failure = /usr/local/share/mailbackup/hooks/mail-admin-on-failure.sh
#
# Environment (optional; mailbackup keeps MAILBACKUP_* names for its own and
# removes inherited ones, hence these names):
#   ADMIN_EMAIL  the recipient (default root)
#   FROM_EMAIL   the sender (default mailbackup@<fully qualified host name>)
#
# When the mail server itself is what failed, this mail may not leave:
# pair it with an outside check (healthchecks-ping.sh).
set -eu

to=${ADMIN_EMAIL:-root}
host=$(hostname -f 2>/dev/null || hostname)
from=${FROM_EMAIL:-mailbackup@$host}
subject="mailbackup on $host: ${MAILBACKUP_STATUS:-failed} (exit ${MAILBACKUP_EXIT_CODE:-?})"

report() {
	printf 'The backup on %s did not complete.\n\n' "$host"
	printf 'status:     %s\n' "${MAILBACKUP_STATUS:-failed}"
	printf 'exit code:  %s\n' "${MAILBACKUP_EXIT_CODE:-?}"
	printf 'error:      %s\n' "${MAILBACKUP_ERROR:-(none given)}"
	if test -n "${MAILBACKUP_SNAPSHOT_ID:-}"; then
		printf 'snapshot:   %s (saved; a later step failed)\n' \
			"$MAILBACKUP_SNAPSHOT_ID"
	fi
	printf 'after:      %s s\n' "${MAILBACKUP_SECONDS:-?}"
	printf 'config:     %s\n' "${MAILBACKUP_CONFIG:-?}"
	printf 'repository: %s\n\n' "${MAILBACKUP_REPOSITORY:-?}"
	printf 'See the log: journalctl -u mailbackup.service\n'
}

if command -v sendmail >/dev/null 2>&1 ||
	test -x /usr/sbin/sendmail; then
	PATH=$PATH:/usr/sbin
	{
		printf 'From: %s\nTo: %s\nSubject: %s\n' "$from" "$to" "$subject"
		printf 'Auto-Submitted: auto-generated\n'
		printf 'Content-Type: text/plain; charset=utf-8\n\n'
		report
	} | sendmail -oi -f "$from" -- "$to"
elif command -v mail >/dev/null 2>&1; then
	report | mail -s "$subject" "$to"
else
	echo "mail-admin-on-failure: no sendmail or mail command to send the report" >&2
	exit 1
fi
