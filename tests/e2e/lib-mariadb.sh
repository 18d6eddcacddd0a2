# SPDX-License-Identifier: MIT
# lib-mariadb.sh: start a private mariadbd for an end-to-end test and stop it at exit.
#
# Source it from a tNNNN-*.sh test (after lib-test.sh), then:
#
#   mdb_start [MARIADBD-OPTION...]   a fresh server in $MDB_DIR (default
#                                    ./mariadb), listening on 127.0.0.1:$MDB_PORT
#                                    (20000 + the test number) and on $MDB_SOCKET;
#                                    user $MDB_USER with password $MDB_PASSWORD
#                                    holds all privileges
#   mdb_root [ARG...]                the mariadb client as root over the socket
#   mdb_client [ARG...]              the mariadb client as $MDB_USER over TCP
#   mdb_source_config NAME DBS       print a [source NAME] block for mailbackup
#   mdb_checksums DB                 "table rows checksum" lines of every base table
#   mdb_stop | mdb_kill | mdb_restart [MARIADBD-OPTION...]
#   mdb_wait_query PATTERN           wait until a statement of $MDB_USER that is
#                                    LIKE PATTERN runs; print its connection id
#
# The server is stopped when the test shell exits, however it exits (a
# watchdog kills it if the shell dies without running its traps). Without
# mariadbd the test is skipped, except under CI (or MB_REQUIRE_MARIADB=1),
# where that is a failure.

MDB_USER=mb
MDB_PASSWORD="mb-Pw;1#%x"

mdb__say() {
	printf '# lib-mariadb: %s\n' "$*" >&2
}

mdb__find() {
	for p in mariadbd /usr/sbin/mariadbd mysqld /usr/sbin/mysqld; do
		if command -v "$p" >/dev/null 2>&1; then
			command -v "$p"
			return 0
		fi
	done
	return 1
}

# TAP goes to fd 6 under lib-test.sh, else to stdout.
mdb__tap() {
	if { true >&6; } 2>/dev/null; then
		printf '%s\n' "$*" >&6
	else
		printf '%s\n' "$*"
	fi
}

mdb__missing() {
	if test -n "${CI:-}" || test "${MB_REQUIRE_MARIADB:-0}" = 1; then
		mdb__tap "Bail out! $1"
		exit 1
	fi
	mdb__tap "1..0 # SKIP $1"
	exit 0
}

MDBD=$(mdb__find) || mdb__missing "mariadbd not found: install mariadb-server"
command -v mariadb-install-db >/dev/null 2>&1 ||
	mdb__missing "mariadb-install-db not found: install mariadb-server"
command -v mariadb >/dev/null 2>&1 ||
	mdb__missing "the mariadb client not found: install mariadb-client"

# The test number from the script name: t3001-foo.sh -> 3001.
MDB_TEST_NUMBER=${MDB_TEST_NUMBER:-$(basename "$0" | sed -n 's/^t\([0-9][0-9]*\)-.*/\1/p')}
MDB_TEST_NUMBER=${MDB_TEST_NUMBER:-9999}
MDB_TEST_NUMBER=$((10#$MDB_TEST_NUMBER % 10000))

mdb__atexit() {
	mdb_stop >/dev/null 2>&1
	if test -n "${MDB_SOCKDIR:-}"; then
		rm -rf "$MDB_SOCKDIR"
	fi
}

# Run mdb__atexit before whatever EXIT trap is set already.
mdb__hook_exit() {
	local prev
	prev=$(trap -p EXIT)
	prev=${prev#"trap -- '"}
	prev=${prev%"' EXIT"}
	case "$prev" in
	*mdb__atexit*) return 0 ;;
	esac
	# keep $? for the trap that runs next (lib-test.sh exits with it)
	eval "trap -- 'mdb__rc=\$?; mdb__atexit; (exit \$mdb__rc); $prev' EXIT"
}

mdb_root() {
	mariadb --no-defaults --socket="$MDB_SOCKET" -uroot "$@"
}

mdb_client() {
	mariadb --defaults-file="$MDB_DIR/client.cnf" "$@"
}

mdb__alive() {
	test -n "${MDB_PID:-}" && kill -0 "$MDB_PID" 2>/dev/null
}

# Start mariadbd on the data directory and wait until it answers.
mdb__run() {
	local port=$1 i
	shift
	: >"$MDB_DIR/error.log"
	local user_opt=
	if test "$(id -u)" = 0; then
		user_opt=--user=root
	fi
	"$MDBD" --no-defaults $user_opt \
		--datadir="$MDB_DIR/data" --tmpdir="$MDB_DIR/tmp" \
		--socket="$MDB_SOCKET" --port="$port" --bind-address=127.0.0.1 \
		--pid-file="$MDB_DIR/mariadbd.pid" \
		--log-error="$MDB_DIR/error.log" \
		--secure-file-priv="$MDB_DIR/tmp" \
		--skip-name-resolve --max-allowed-packet=16M \
		--innodb-buffer-pool-size=128M --innodb-log-file-size=96M \
		--innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 \
		--log-bin="$MDB_DIR/data/binlog" --server-id=1 --sync-binlog=0 \
		--character-set-server=utf8mb4 \
		--collation-server=utf8mb4_general_ci \
		"$@" </dev/null >>"$MDB_DIR/error.log" 2>&1 &
	MDB_PID=$!
	for i in $(seq 1 600); do
		if mariadb-admin --no-defaults --socket="$MDB_SOCKET" -uroot \
			--connect-timeout=2 ping >/dev/null 2>&1; then
			MDB_PORT=$port
			return 0
		fi
		mdb__alive || break
		sleep 0.05
	done
	if mdb__alive; then
		kill -9 "$MDB_PID" 2>/dev/null
		wait "$MDB_PID" 2>/dev/null
	fi
	MDB_PID=
	return 1
}

# Call it at the top level of a test: without a server nothing can be
# tested, so a failure bails out.
mdb_start() {
	mdb__start "$@" && return 0
	mdb__tap "Bail out! mariadbd did not start (its log is on stderr)"
	exit 1
}

mdb__start() {
	local t0 port ok=
	MDB_DIR=${MDB_DIR:-$PWD/mariadb}
	case "$MDB_DIR" in
	/*) ;;
	*) MDB_DIR=$PWD/$MDB_DIR ;;
	esac
	rm -rf "$MDB_DIR"
	mkdir -p "$MDB_DIR/tmp" || return 1
	# A Unix socket path must fit in 107 bytes.
	MDB_SOCKET=$MDB_DIR/mariadbd.sock
	if test ${#MDB_SOCKET} -gt 100; then
		MDB_SOCKDIR=$(mktemp -d "${TMPDIR:-/tmp}/mb-mdb.XXXXXX") || return 1
		MDB_SOCKET=$MDB_SOCKDIR/mariadbd.sock
	fi
	t0=$(date +%s%N)
	# its own tmpdir: the bootstrap's temporary tables in a shared /tmp
	# once collided with another test's ("Could not remove temporary table")
	if ! TMPDIR=$MDB_DIR/tmp mariadb-install-db --no-defaults \
		--datadir="$MDB_DIR/data" --tmpdir="$MDB_DIR/tmp" \
		$(test "$(id -u)" = 0 && echo --user=root) \
		--auth-root-authentication-method=normal --skip-test-db \
		--skip-name-resolve >"$MDB_DIR/install.log" 2>&1; then
		mdb__say "mariadb-install-db failed:"
		sed 's/^/# /' "$MDB_DIR/install.log" >&2
		return 1
	fi
	mdb__hook_exit
	# The watchdog: stop the server even if the test shell is killed.
	(
		trap '' HUP INT TERM
		while kill -0 $$ 2>/dev/null; do
			sleep 1
		done
		if test -f "$MDB_DIR/mariadbd.pid"; then
			kill -9 "$(cat "$MDB_DIR/mariadbd.pid")"
		fi
		if test -n "${MDB_SOCKDIR:-}"; then
			rm -rf "$MDB_SOCKDIR"
		fi
	) </dev/null >/dev/null 2>&1 &
	# The port from the test number; another range when it is taken.
	for port in $((20000 + MDB_TEST_NUMBER)) $((30000 + MDB_TEST_NUMBER)) \
		$((40000 + MDB_TEST_NUMBER)); do
		MDB_EXTRA_OPTS=("$@")
		if mdb__run "$port" "$@"; then
			ok=1
			break
		fi
		grep -q -i 'address already in use\|bind on tcp/ip port' \
			"$MDB_DIR/error.log" || break
	done
	if test -z "$ok"; then
		mdb__say "mariadbd did not start; its log:"
		tail -n 30 "$MDB_DIR/error.log" | sed 's/^/# /' >&2
		return 1
	fi
	mdb_root <<-EOF || return 1
	CREATE USER '$MDB_USER'@'127.0.0.1' IDENTIFIED BY '$MDB_PASSWORD';
	CREATE USER '$MDB_USER'@'localhost' IDENTIFIED BY '$MDB_PASSWORD';
	GRANT ALL PRIVILEGES ON *.* TO '$MDB_USER'@'127.0.0.1';
	GRANT ALL PRIVILEGES ON *.* TO '$MDB_USER'@'localhost';
	EOF
	cat >"$MDB_DIR/client.cnf" <<-EOF
	[client]
	host=127.0.0.1
	port=$MDB_PORT
	user=$MDB_USER
	password="$MDB_PASSWORD"
	default-character-set=utf8mb4
	EOF
	MDB_START_MS=$((($(date +%s%N) - t0) / 1000000))
	mdb__say "mariadbd pid $MDB_PID up on 127.0.0.1:$MDB_PORT in ${MDB_START_MS} ms"
	export MDB_DIR MDB_SOCKET MDB_PORT MDB_USER MDB_PASSWORD
	return 0
}

# Stop the server cleanly (a few seconds at most, then SIGKILL).
mdb_stop() {
	local i
	mdb__alive || return 0
	kill -TERM "$MDB_PID" 2>/dev/null
	for i in $(seq 1 200); do
		mdb__alive || break
		sleep 0.05
	done
	if mdb__alive; then
		kill -KILL "$MDB_PID" 2>/dev/null
	fi
	wait "$MDB_PID" 2>/dev/null
	MDB_PID=
	return 0
}

# Kill the server as a crash would.
mdb_kill() {
	mdb__alive || return 0
	kill -KILL "$MDB_PID" 2>/dev/null
	wait "$MDB_PID" 2>/dev/null
	MDB_PID=
	return 0
}

# Start the server again on the same data directory and port; with
# options, they replace those given to mdb_start.
mdb_restart() {
	mdb_stop
	if test $# -gt 0; then
		MDB_EXTRA_OPTS=("$@")
	fi
	mdb__run "$MDB_PORT" "${MDB_EXTRA_OPTS[@]}" || {
		mdb__say "mariadbd did not restart; its log:"
		tail -n 30 "$MDB_DIR/error.log" | sed 's/^/# /' >&2
		return 1
	}
}

# A [source NAME] block reaching the server over TCP as $MDB_USER.
mdb_source_config() {
	cat <<-EOF
	[source $1]
	type = mariadb
	host = 127.0.0.1
	port = $MDB_PORT
	user = $MDB_USER
	password = $MDB_PASSWORD
	databases = $2
	EOF
}

# "table rows checksum" for every base table of DB, sorted by name.
mdb_checksums() {
	local db=$1 t
	mdb_root -N -B -e "SELECT TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = '$db' AND TABLE_TYPE = 'BASE TABLE'" |
	LC_ALL=C sort | while IFS= read -r t; do
		printf '%s %s %s\n' "$t" \
			"$(mdb_root -N -B -e "SELECT COUNT(*) FROM \`$db\`.\`$t\`")" \
			"$(mdb_root -N -B -e "CHECKSUM TABLE \`$db\`.\`$t\` EXTENDED" | cut -f2)"
	done
}

# The connection id of a running statement of $MDB_USER LIKE pattern (for
# tests that break a dump in the middle); fails after 10 s.
mdb_wait_query() {
	local i id
	for i in $(seq 1 1000); do
		id=$(mdb_root -N -B -e "SELECT ID FROM information_schema.PROCESSLIST
			WHERE USER = '$MDB_USER' AND INFO LIKE '$1' LIMIT 1")
		if test -n "$id"; then
			echo "$id"
			return 0
		fi
		sleep 0.01
	done
	echo "mdb_wait_query: no statement like '$1' ran" >&2
	return 1
}
