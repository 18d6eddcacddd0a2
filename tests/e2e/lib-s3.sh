# SPDX-License-Identifier: MIT
# lib-s3.sh: start the S3 test server (and a fault-injecting proxy) for an end-to-end test, stop them at exit.
#
# Source it from a t2NNN-*.sh test (after lib-test.sh), then:
#
#   s3_start [--https] [--vhost-unsigned]
#                         s3rver (tests/s3, npm @20minutes/s3rver) in
#                         $S3_DIR (default ./s3) on 127.0.0.1:$S3_PORT
#                         (12000 + the test number mod 1000: t2005 -> 12005;
#                         below the ephemeral ports and lib-mariadb's
#                         20000 + N), bucket $S3_BUCKET,
#                         credentials $S3_KEY / $S3_SECRET; $S3_ENDPOINT is its
#                         URL. --https serves TLS with a fresh self-signed CA
#                         ($S3_CA, for ca_file) and makes $S3_ENDPOINT
#                         https://localhost:PORT. --vhost-unsigned accepts any
#                         signature (s3rver signs virtual-host requests wrongly)
#                         and sets $S3_VHOST_ENDPOINT http://s3.localhost:PORT
#   s3_env                export MAILBACKUP_S3_ACCESS_KEY_ID/SECRET_ACCESS_KEY
#   s3_write_config [-p PREFIX] [-e ENDPOINT] [-r "KEY = VALUE"]... [LINE]...
#                         mb_write_config with url = s3://$S3_BUCKET/PREFIX
#                         (default: repo) and endpoint (default $S3_ENDPOINT);
#                         each -r line goes into [repository]
#   s3_proxy_start [FAULT-PROXY-OPTION...]
#                         tests/s3/fault-proxy.js on 127.0.0.1:$S3_PROXY_PORT
#                         (13000 + the test number mod 1000) in front of the
#                         server;
#                         $S3_PROXY_ENDPOINT is its URL, $S3_PROXY_LOG its log
#   s3_proxy_stop | s3_stop
#   s3_objects [PREFIX]   "key size" of every object under PREFIX, from the
#                         server's own directory (not through mailbackup)
#
# Both are stopped when the test shell exits, however it exits: by its EXIT
# trap, else by a watchdog, else (the whole process group killed) by
# themselves, as they watch the shell's pid. Without node or
# the npm packages (npm ci in tests/s3) the test is skipped, except under CI
# (or MB_REQUIRE_S3=1), where that is a failure.

S3_BUCKET=mb-test
S3_KEY=S3RVER
S3_SECRET=S3RVER
S3_REGION=us-east-1
S3_PKG=${MB_S3_PKG:-$MB_SRCDIR/tests/s3}

s3__say() {
	printf '# lib-s3: %s\n' "$*" >&2
}

# TAP goes to fd 6 under lib-test.sh, else to stdout.
s3__tap() {
	if { true >&6; } 2>/dev/null; then
		printf '%s\n' "$*" >&6
	else
		printf '%s\n' "$*"
	fi
}

s3__missing() {
	if test -n "${CI:-}" || test "${MB_REQUIRE_S3:-0}" = 1; then
		s3__tap "Bail out! $1"
		exit 1
	fi
	s3__tap "1..0 # SKIP $1"
	exit 0
}

command -v node >/dev/null 2>&1 || s3__missing "node not found: install nodejs"
test -f "$S3_PKG/node_modules/@20minutes/s3rver/package.json" ||
	s3__missing "s3rver not installed: run 'npm ci' in tests/s3"

S3_TEST_NUMBER=$(basename "$0" | sed -n 's/^t\([0-9][0-9]*\)-.*/\1/p')
S3_TEST_NUMBER=$((10#${S3_TEST_NUMBER:-9999} % 10000))

s3__alive() {
	test -n "${1:-}" && kill -0 "$1" 2>/dev/null
}

s3__kill() {
	local pid=$1 _
	s3__alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 60); do
		s3__alive "$pid" || break
		sleep 0.05
	done
	s3__alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

s3__atexit() {
	s3_proxy_stop
	s3_stop
}

# Run s3__atexit before whatever EXIT trap is set already.
s3__hook_exit() {
	local prev
	prev=$(trap -p EXIT)
	prev=${prev#"trap -- '"}
	prev=${prev%"' EXIT"}
	case "$prev" in
	*s3__atexit*) return 0 ;;
	esac
	eval "trap -- 's3__rc=\$?; s3__atexit; (exit \$s3__rc); $prev' EXIT"
}

# The watchdog: kill the process in pidfile $1 once this shell is gone.
s3__watchdog() {
	(
		trap '' HUP INT TERM
		while kill -0 $$ 2>/dev/null; do
			sleep 1
		done
		if test -f "$1"; then
			kill -9 "$(cat "$1")"
		fi
	) </dev/null >/dev/null 2>&1 &
}

# s3__wait LOG PID: until LOG says "ready" (up to 30 s) or PID died.
s3__wait() {
	local _
	for _ in $(seq 1 600); do
		if grep -q '^ready ' "$1" 2>/dev/null; then
			return 0
		fi
		s3__alive "$2" || return 1
		sleep 0.05
	done
	return 1
}

s3__make_ca() {
	local d=$S3_DIR/tls
	mkdir -p "$d" &&
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
			-subj "/CN=mailbackup test CA" -keyout "$d/ca.key" \
			-out "$d/ca.pem" >/dev/null 2>&1 &&
		openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
			-keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 &&
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/ext" &&
		openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" \
			-CAkey "$d/ca.key" -CAcreateserial -days 2 \
			-extfile "$d/ext" -out "$d/server.pem" >/dev/null 2>&1 &&
		S3_CA=$d/ca.pem
}

# Call it at the top level of a test: without a server nothing can be
# tested, so a failure bails out.
s3_start() {
	s3__start "$@" && return 0
	s3__tap "Bail out! the S3 test server did not start (its log is on stderr)"
	exit 1
}

s3__start() {
	local port ok='' scheme=http host=127.0.0.1 extra=()
	S3_DIR=${S3_DIR:-$PWD/s3}
	case "$S3_DIR" in
	/*) ;;
	*) S3_DIR=$PWD/$S3_DIR ;;
	esac
	mkdir -p "$S3_DIR/data" || return 1
	while test $# -gt 0; do
		case "$1" in
		--https)
			s3__make_ca || {
				s3__say "cannot make a test CA with openssl"
				return 1
			}
			extra+=(--https "$S3_DIR/tls/server.key" "$S3_DIR/tls/server.pem")
			scheme=https
			host=localhost
			;;
		--vhost-unsigned)
			extra+=(--vhost-unsigned)
			S3_VHOST=1
			;;
		*)
			s3__say "unknown option $1"
			return 1
			;;
		esac
		shift
	done
	s3__hook_exit
	s3__watchdog "$S3_DIR/s3rver.pid"
	# The port from the test number; another range when it is taken.
	for port in $((12000 + S3_TEST_NUMBER % 1000)) \
		$((14000 + S3_TEST_NUMBER % 1000)) \
		$((16000 + S3_TEST_NUMBER % 1000)); do
		: >"$S3_DIR/s3rver.log"
		node --openssl-legacy-provider "$S3_PKG/start-s3rver.js" "$port" \
			"$S3_DIR/data" "$S3_BUCKET" --pidfile "$S3_DIR/s3rver.pid" \
			--parent $$ "${extra[@]}" </dev/null \
			>>"$S3_DIR/s3rver.log" 2>&1 &
		S3_PID=$!
		if s3__wait "$S3_DIR/s3rver.log" "$S3_PID"; then
			ok=1
			break
		fi
		s3__kill "$S3_PID"
		S3_PID=
		grep -q EADDRINUSE "$S3_DIR/s3rver.log" || break
	done
	if test -z "$ok"; then
		s3__say "s3rver did not start; its log:"
		tail -n 30 "$S3_DIR/s3rver.log" | sed 's/^/# /' >&2
		return 1
	fi
	S3_PORT=$port
	S3_ENDPOINT=$scheme://$host:$port
	if test -n "${S3_VHOST:-}"; then
		# s3rver takes BUCKET.s3.localhost as a virtual host, and curl
		# resolves every *.localhost name to the loopback address
		S3_VHOST_ENDPOINT=$scheme://s3.localhost:$port
	fi
	s3__say "s3rver pid $S3_PID on $S3_ENDPOINT, bucket $S3_BUCKET"
	export S3_DIR S3_PORT S3_ENDPOINT S3_VHOST_ENDPOINT S3_BUCKET S3_KEY \
		S3_SECRET S3_REGION S3_CA
	return 0
}

s3_stop() {
	s3__kill "${S3_PID:-}"
	S3_PID=
	rm -f "${S3_DIR:-/nonexistent}/s3rver.pid"
	return 0
}

s3_proxy_start() {
	local port ok=''
	test -n "${S3_PORT:-}" || {
		s3__say "s3_proxy_start needs s3_start first"
		return 1
	}
	S3_PROXY_LOG=$S3_DIR/proxy.log
	: >"$S3_PROXY_LOG"
	s3__watchdog "$S3_DIR/proxy.pid"
	for port in $((13000 + S3_TEST_NUMBER % 1000)) \
		$((15000 + S3_TEST_NUMBER % 1000)) \
		$((17000 + S3_TEST_NUMBER % 1000)); do
		: >"$S3_DIR/proxy.out"
		node "$S3_PKG/fault-proxy.js" "$port" "$S3_PORT" --log "$S3_PROXY_LOG" \
			--parent $$ "$@" </dev/null >>"$S3_DIR/proxy.out" 2>&1 &
		S3_PROXY_PID=$!
		echo "$S3_PROXY_PID" >"$S3_DIR/proxy.pid"
		if s3__wait "$S3_DIR/proxy.out" "$S3_PROXY_PID"; then
			ok=1
			break
		fi
		s3__kill "$S3_PROXY_PID"
		S3_PROXY_PID=
		grep -q EADDRINUSE "$S3_DIR/proxy.out" || break
	done
	if test -z "$ok"; then
		s3__say "the fault proxy did not start:"
		sed 's/^/# /' "$S3_DIR/proxy.out" >&2
		return 1
	fi
	S3_PROXY_PORT=$port
	S3_PROXY_ENDPOINT=http://127.0.0.1:$port
	export S3_PROXY_PORT S3_PROXY_ENDPOINT S3_PROXY_LOG
	return 0
}

s3_proxy_stop() {
	s3__kill "${S3_PROXY_PID:-}"
	S3_PROXY_PID=
	rm -f "${S3_DIR:-/nonexistent}/proxy.pid"
	return 0
}

s3_env() {
	export MAILBACKUP_S3_ACCESS_KEY_ID=$S3_KEY
	export MAILBACKUP_S3_SECRET_ACCESS_KEY=$S3_SECRET
}

s3_write_config() {
	local prefix=repo endpoint=$S3_ENDPOINT repo_lines=() l out=$CONF
	while test $# -gt 0; do
		case "$1" in
		-p)
			prefix=$2
			shift 2
			;;
		-e)
			endpoint=$2
			shift 2
			;;
		-r)
			repo_lines+=("$2")
			shift 2
			;;
		*)
			break
			;;
		esac
	done
	MB_REPO_URL=s3://$S3_BUCKET${prefix:+/$prefix} mb_write_config "$@" ||
		return 1
	{
		sed -n '1,/^url = /p' "$CONF"
		echo "endpoint = $endpoint"
		echo "region = $S3_REGION"
		for l in "${repo_lines[@]}"; do
			printf '%s\n' "$l"
		done
		sed '1,/^url = /d' "$CONF"
	} >"$CONF.new" && mv "$CONF.new" "$out" && chmod 600 "$out"
}

# Objects as s3rver keeps them: DIR/BUCKET/KEY._S3rver_object (with
# ._S3rver_metadata.json and ._S3rver_object.md5 beside).
s3_objects() {
	local root=$S3_DIR/data/$S3_BUCKET
	(cd "$root" 2>/dev/null &&
		find . -type f -name '*._S3rver_object' -printf '%P %s\n') |
		sed 's/\._S3rver_object / /' | grep "^${1:-}" | LC_ALL=C sort
}
