#!/bin/sh
# SPDX-License-Identifier: MIT
# healthchecks-ping.sh: a post_backup and on_failure hook that reports the
# run to a Healthchecks.io check (or any URL that takes the same pings):
# URL on success, URL/fail on failure or a partial backup, with a short
# report as the body.
#
# Use it for both hooks in /etc/mailbackup/mailbackup.conf:
#
#   [hooks]
#   post_backup = /usr/local/share/mailbackup/hooks/healthchecks-ping.sh
#   on_failure = /usr/local/share/mailbackup/hooks/healthchecks-ping.sh
#
# The ping URL comes from HEALTHCHECKS_URL, or from the first line of the
# file HEALTHCHECKS_URL_FILE (default /etc/mailbackup/healthchecks-url), so
# it stays out of the configuration file and the process list. Set the
# variable with Environment= in the systemd unit, or put the URL in the file
# (mode 0600). A variable name holding PASSWORD, SECRET or TOKEN would be
# removed by mailbackup before the hook runs: do not call it so.
#
# Environment used (from mailbackup): MAILBACKUP_HOOK, MAILBACKUP_STATUS,
# MAILBACKUP_SNAPSHOT_ID, MAILBACKUP_FILES, MAILBACKUP_BYTES_NEW,
# MAILBACKUP_SECONDS, MAILBACKUP_ERROR.
#
# Exit status: curl's. mailbackup only warns when a post_backup or on_failure
# hook fails: the backup's own exit code stands.
set -eu

url=${HEALTHCHECKS_URL:-}
file=${HEALTHCHECKS_URL_FILE:-/etc/mailbackup/healthchecks-url}
if test -z "$url" && test -r "$file"; then
	IFS= read -r url <"$file" || :
fi
if test -z "$url"; then
	echo "healthchecks-ping: no URL: set HEALTHCHECKS_URL or write it to $file" >&2
	exit 1
fi
url=${url%/}

status=${MAILBACKUP_STATUS:-failed}
if test "$status" = ok; then
	target=$url
else
	target=$url/fail
fi

body=$(
	printf 'mailbackup %s: %s\n' "${MAILBACKUP_HOOK:-hook}" "$status"
	if test -n "${MAILBACKUP_SNAPSHOT_ID:-}"; then
		printf 'snapshot %s: %s files, %s bytes new, %s s\n' \
			"$MAILBACKUP_SNAPSHOT_ID" "${MAILBACKUP_FILES:-0}" \
			"${MAILBACKUP_BYTES_NEW:-0}" "${MAILBACKUP_SECONDS:-0}"
	fi
	if test -n "${MAILBACKUP_ERROR:-}"; then
		printf 'error: %s\n' "$MAILBACKUP_ERROR"
	fi
)

# Bounded: a monitoring outage must not hold the backup's hook slot.
exec curl -fsS -m 10 --retry 3 -o /dev/null --data-raw "$body" "$target"
