#!/bin/sh
# SPDX-License-Identifier: MIT
# mailcow-redis-save.sh: a pre_backup hook for mailcow that makes Redis write
# its dump now, so the backup holds a fresh dump.rdb (DKIM keys, rspamd and
# quarantine data).
#
# Use it in /etc/mailbackup/mailbackup.conf:
#
#   [hooks]
#   pre_backup = /usr/local/share/mailbackup/hooks/mailcow-redis-save.sh
#
# It runs, in the mailcow directory:
#
#   docker compose exec -T redis-mailcow redis-cli SAVE
#
# with the Redis password of the container ($REDISPASS, set by newer mailcow
# releases) when there is one. SAVE blocks Redis for the second or two the
# dump takes; BGSAVE would return before the file is complete.
#
# Environment (all optional):
#   MAILCOW_DIR    the mailcow-dockerized directory (/opt/mailcow-dockerized)
#   REDIS_SERVICE  the compose service of Redis (redis-mailcow)
#
# Exit status: 0 when Redis answered OK; otherwise non-zero, and mailbackup
# does not start the backup (and runs the on_failure hook).
set -eu

dir=${MAILCOW_DIR:-/opt/mailcow-dockerized}
service=${REDIS_SERVICE:-redis-mailcow}

if ! cd "$dir" 2>/dev/null; then
	echo "mailcow-redis-save: no mailcow directory '$dir': set MAILCOW_DIR" >&2
	exit 1
fi
if docker compose version >/dev/null 2>&1; then
	set -- docker compose
elif command -v docker-compose >/dev/null 2>&1; then
	set -- docker-compose
else
	echo "mailcow-redis-save: neither 'docker compose' nor docker-compose found" >&2
	exit 1
fi

# The single quotes are on purpose: $REDISPASS is the container's variable.
# shellcheck disable=SC2016
answer=$("$@" exec -T "$service" sh -c \
	'redis-cli ${REDISPASS:+-a "$REDISPASS" --no-auth-warning} SAVE') || {
	echo "mailcow-redis-save: redis-cli SAVE failed in service '$service'" >&2
	exit 1
}
if test "$answer" != OK; then
	echo "mailcow-redis-save: Redis did not save: $answer" >&2
	exit 1
fi
exit 0
