# SPDX-License-Identifier: MIT
# lib-redis.sh: a real redis-server for an end-to-end test, on a unix socket
# in the scratch dir (no TCP), stopped at exit.
#
# Source it after lib-test.sh, then:
#
#   redis_start DIR   redis-server with its data (dump.rdb), socket and log
#                     in DIR; $REDIS_DIR is DIR
#   redis_cli ARG...  redis-cli on that socket
#   redis_save_stop   SAVE, then stop it: DIR/dump.rdb is the dump
#
# Without redis-server the test is skipped, except under CI (or
# MB_REQUIRE_REDIS=1), where that is a failure.

if ! command -v redis-server >/dev/null 2>&1 ||
	! command -v redis-cli >/dev/null 2>&1; then
	if test -n "${CI:-}" || test "${MB_REQUIRE_REDIS:-0}" = 1; then
		printf 'Bail out! redis-server not found: install redis-server\n' >&6
		exit 1
	fi
	printf '1..0 # SKIP redis-server not found: install redis-server\n' >&6
	exit 0
fi

REDIS_PID=

redis_start() {
	local i
	REDIS_DIR=$(cd "$1" 2>/dev/null && pwd) || {
		mkdir -p "$1" && REDIS_DIR=$(cd "$1" && pwd)
	} || return 1
	redis-server --port 0 --unixsocket "$REDIS_DIR/redis.sock" \
		--unixsocketperm 700 --dir "$REDIS_DIR" --dbfilename dump.rdb \
		--save "" --appendonly no --daemonize no \
		--logfile "$REDIS_DIR/redis.log" </dev/null >/dev/null 2>&1 &
	REDIS_PID=$!
	redis__hook_exit
	for i in $(seq 100); do
		redis_cli ping 2>/dev/null | grep -q PONG && return 0
		kill -0 "$REDIS_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "redis_start: redis-server did not start:" >&2
	cat "$REDIS_DIR/redis.log" >&2
	return 1
}

redis_cli() {
	redis-cli -s "$REDIS_DIR/redis.sock" "$@"
}

redis_stop() {
	local i
	test -n "$REDIS_PID" || return 0
	kill -TERM "$REDIS_PID" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$REDIS_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$REDIS_PID" 2>/dev/null
	wait "$REDIS_PID" 2>/dev/null
	REDIS_PID=
	return 0
}

redis_save_stop() {
	redis_cli save | grep -q OK && redis_stop
}

# Stop the server before whatever EXIT trap is set already.
redis__hook_exit() {
	local prev
	prev=$(trap -p EXIT)
	prev=${prev#"trap -- '"}
	prev=${prev%"' EXIT"}
	case "$prev" in
	*redis_stop*) return 0 ;;
	esac
	eval "trap -- 'redis__rc=\$?; redis_stop >/dev/null 2>&1; (exit \$redis__rc); $prev' EXIT"
}
