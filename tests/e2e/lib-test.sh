# SPDX-License-Identifier: MIT
# lib-test.sh: what every end-to-end test sources: TAP output, a scratch directory, mailbackup helpers.
#
# A test script looks like git's t/*.sh:
#
#   . "$(dirname "$0")/lib-test.sh"
#   mb_setup_keys
#   test_expect_success 'backup works' '
#           mb_write_config "$(mb_tree_sources "$PWD/tree")" &&
#           mb init && mb backup
#   '
#   test_done
#
# The script runs in a fresh scratch directory ($SCRATCH, also the current
# directory), made short on purpose: gpg-agent's socket paths must stay under
# ~100 bytes. It is removed at exit, after every gpg-agent started for a
# GNUPGHOME inside it is stopped; MB_TEST_KEEP=1 (or --keep) keeps it.
# Test bodies run in the test shell itself (variables carry over), with
# stdin from /dev/null and their output in a log that is shown when the test
# fails; MB_TEST_VERBOSE=1 (or -v) shows it always, on stderr.
#
# Test API
#   test_expect_success [PREREQ,...] DESC BODY   a test that must succeed
#   test_expect_failure [PREREQ,...] DESC BODY   a known breakage (TAP TODO)
#   test_skip DESC REASON                       an "ok N # skip" line
#   test_skip_all REASON                        "1..0 # SKIP" and exit
#   test_set_prereq NAME / test_have_prereq NAME
#       built in: ROOT, NOT_ROOT, PYTHON3, JQ, UNSHARE (root, mount namespaces)
#   test_must_fail [--exit N] CMD...  CMD must fail (exit N if given), and not
#                                     by a signal (a crash, a sanitizer abort)
#   test_cmp EXPECTED ACTUAL          diff -u, to the log
#   test_must_be_empty FILE
#   test_grep [-v] [GREP-OPTS] PATTERN FILE   grep that shows FILE on a miss
#   test_done                         "1..N"; exits 1 when a test failed
#   say MSG                           a TAP comment
#
# mailbackup helpers
#   mb ARGS...                   $MB_BIN -c $CONF ARGS...
#   mb_keygen DIR NAME           a key pair without passphrase in DIR (a new
#                                GNUPGHOME); prints its fingerprint
#   mb_setup_keys [--dr]         the host key in $SCRATCH/gnupg -> HOST_FPR;
#                                with --dr also an offline recovery key in
#                                $SCRATCH/drkey -> DR_FPR, whose public half
#                                is imported into the host's keyring (and the
#                                host's public half into drkey)
#   mb_gpg HOME ARGS...          gpg --homedir HOME in batch mode, no prompt
#   mb_write_config [-o FILE] [LINE...]   the config ($CONF by default):
#                                [repository] url = ${MB_REPO_URL:-$SCRATCH/repo}
#                                [keys] gnupg_home = ${MB_GNUPG_HOME:-$SCRATCH/gnupg},
#                                recipients = ${MB_RECIPIENTS:-$HOST_FPR},
#                                signing_key = ${MB_SIGNING_KEY:-$HOST_FPR},
#                                trusted_signers = $MB_TRUSTED_SIGNERS if set
#                                [options] cache_dir, host = ${MB_HOST:-mbtest}
#                                then each LINE (source blocks and more)
#   mb_tree_sources TREE         source blocks for a mb-gen-mailtree TREE:
#                                vmail (maildir, with the dovecot.index
#                                caches), dkim and conf (files)
#   mb_gen_tree DIR [OPTS...]    mb-gen-mailtree OPTS DIR, quietly
#   mb_copy_tree SRC DST         copy every byte and attribute (paths over
#                                PATH_MAX too, where cp -a and tar -x fail)
#   mb_compare_trees [--mtime=s] [--skip-root] A B   every name, type, mode,
#                                owner (as root), size, mtime (ns), symlink
#                                target and every byte; says what differs.
#                                --skip-root: not the attributes of A and B
#                                themselves
#   mb_tree_files DIR            number of non-directories under DIR
#   mb_json_get KEY [FILE]       a top-level scalar of a JSON object
#   mb_forget_history            drop the cache's record of committed snapshots
#   mb_flip_byte FILE [OFFSET]   invert one byte (default: the middle one)
#   mb_manifest_decrypt HOME FILE    gpg -d | zstd -d of a manifest/index
#
# Environment (meson sets it; defaults for running a script by hand):
# MB_BIN, MB_GEN, MB_SRCDIR, MB_BUILDDIR; MB_BIN_WRAPPER runs mailbackup under
# a wrapper (e.g. "valgrind -q --error-exitcode=99").

# --- environment -------------------------------------------------------------

MBT_NAME=$(basename "$0" .sh)
MBT_NUMBER=$(printf '%s\n' "$MBT_NAME" | sed -n 's/^t\([0-9][0-9]*\)-.*/\1/p')
MBT_NUMBER=${MBT_NUMBER:-9999}

for mbt_arg in "$@"; do
	case "$mbt_arg" in
	-v | --verbose) MB_TEST_VERBOSE=1 ;;
	-k | --keep) MB_TEST_KEEP=1 ;;
	*) ;;
	esac
done
unset mbt_arg

mbt_abs() {
	case "$1" in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$PWD" "$1" ;;
	esac
}

MB_SRCDIR=$(mbt_abs "${MB_SRCDIR:-$(dirname "$0")/../..}")
MB_BUILDDIR=$(mbt_abs "${MB_BUILDDIR:-$MB_SRCDIR/build}")
MB_BIN=$(mbt_abs "${MB_BIN:-$MB_BUILDDIR/bin/mailbackup}")
MB_GEN=$(mbt_abs "${MB_GEN:-$MB_BUILDDIR/tests/gen/mb-gen-mailtree}")
MB_E2E_DIR=$MB_SRCDIR/tests/e2e
export MB_SRCDIR MB_BUILDDIR MB_BIN MB_GEN

# A fixed, unsurprising environment: the C locale (as under cron), UTC, no
# configuration or keyring of the user's leaking in.
export LC_ALL=C TZ=UTC
unset LANG LANGUAGE MAILBACKUP_CONFIG GNUPGHOME \
	MAILBACKUP_S3_ACCESS_KEY_ID MAILBACKUP_S3_SECRET_ACCESS_KEY \
	MAILBACKUP_DB_PASSWORD
# Sanitizer reports must end the process by a signal, so test_must_fail
# cannot mistake them for an expected failure (meson sets the same).
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_summary=1:print_stacktrace=1}

exec 6>&1 7>&2 # 6: TAP, 7: the caller's stderr

if ! test -x "$MB_BIN"; then
	echo "Bail out! mailbackup not found at '$MB_BIN': build it or set MB_BIN"
	exit 1
fi

# --- the scratch directory ---------------------------------------------------

mbt_tmp=${TMPDIR:-/tmp}
# sockets below $SCRATCH/<home>/S.gpg-agent.browser must fit in 107 bytes
if test ${#mbt_tmp} -gt 50 || ! test -d "$mbt_tmp"; then
	mbt_tmp=/tmp
fi
SCRATCH=$(mktemp -d "$mbt_tmp/mbt.XXXXXX") || {
	echo "Bail out! cannot create a scratch directory in '$mbt_tmp'"
	exit 1
}
unset mbt_tmp
export SCRATCH
CONF=$SCRATCH/mailbackup.conf
MBT_LOG=$SCRATCH/.mbt-log
MBT_GNUPG_HOMES=
MBT_COUNT=0
MBT_FAILED=0
MBT_FIXED=0
MBT_BROKEN=0
MBT_SKIPPED=0
MBT_PREREQS=" "

# Stop every gpg-agent of a keyring in the scratch directory (whether made
# with mb_keygen or by hand), then remove it.
mbt_cleanup() {
	local rc=$? h
	trap - EXIT
	cd / || :
	{
		for h in $MBT_GNUPG_HOMES; do
			gpgconf --homedir "$h" --kill all
		done
		find "$SCRATCH" -maxdepth 4 -name 'S.gpg-agent' -print 2>/dev/null |
			while IFS= read -r h; do
				gpgconf --homedir "${h%/S.gpg-agent}" --kill all
			done
	} >/dev/null 2>&1
	if test "${MB_TEST_KEEP:-0}" = 1; then
		printf '# kept the scratch directory %s\n' "$SCRATCH" >&6
	else
		chmod -R u+rwx "$SCRATCH" 2>/dev/null
		rm -rf "$SCRATCH"
	fi
	exit $rc
}
trap mbt_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE # (a reader like "| head" went away: still clean up)

cd "$SCRATCH" || exit 1

# --- TAP ---------------------------------------------------------------------

say() {
	printf '# %s\n' "$*" >&6
}

mbt_error() {
	printf 'Bail out! lib-test.sh: %s\n' "$*" >&6
	exit 1
}

test_set_prereq() {
	MBT_PREREQS="$MBT_PREREQS$1 "
}

test_have_prereq() {
	local p rest=$1
	while test -n "$rest"; do
		p=${rest%%,*}
		case "$rest" in
		*,*) rest=${rest#*,} ;;
		*) rest= ;;
		esac
		case "$MBT_PREREQS" in
		*" $p "*) ;;
		*) MBT_MISSING=$p && return 1 ;;
		esac
	done
	return 0
}

if test "$(id -u)" = 0; then
	test_set_prereq ROOT
else
	test_set_prereq NOT_ROOT
fi
if command -v python3 >/dev/null 2>&1; then
	test_set_prereq PYTHON3
fi
if test "$(id -u)" = 0 && unshare --mount true 2>/dev/null; then
	test_set_prereq UNSHARE
fi
if command -v jq >/dev/null 2>&1; then
	test_set_prereq JQ
fi

# Show the failed test's body and the end of its output as TAP comments.
mbt_show_failure() {
	printf '%s\n' "$1" | sed 's/^/#	/' >&6
	if test "${MB_TEST_VERBOSE:-0}" != 1 && test -s "$MBT_LOG"; then
		printf '# output (last 60 lines of %s):\n' \
			"$(wc -l <"$MBT_LOG" | tr -d ' ')" >&6
		tail -n 60 "$MBT_LOG" | sed 's/^/# | /' >&6
	fi
}

# Run a test body in this shell; its output to the log (or stderr).
mbt_run() {
	local t0=$SECONDS
	if test "${MB_TEST_VERBOSE:-0}" = 1; then
		printf '\n# expecting success of %d: %s\n' "$MBT_COUNT" "$2" >&7
		eval "$1" </dev/null >&7 2>&7
	else
		eval "$1" </dev/null >"$MBT_LOG" 2>&1
	fi
	MBT_STATUS=$?
	MBT_TIME=$((SECONDS - t0))
	return $MBT_STATUS
}

# Parse [PREREQ] DESC BODY into MBT_PREREQ, MBT_DESC, MBT_BODY.
mbt_args() {
	MBT_PREREQ=
	if test $# = 3; then
		MBT_PREREQ=$1
		shift
	fi
	test $# = 2 || mbt_error "a test needs [PREREQ] DESC BODY, got $# arguments"
	MBT_DESC=$1
	MBT_BODY=$2
}

test_expect_success() {
	mbt_args "$@"
	MBT_COUNT=$((MBT_COUNT + 1))
	if test -n "$MBT_PREREQ" && ! test_have_prereq "$MBT_PREREQ"; then
		printf 'ok %d # skip %s (missing %s)\n' "$MBT_COUNT" "$MBT_DESC" \
			"$MBT_MISSING" >&6
		MBT_SKIPPED=$((MBT_SKIPPED + 1))
		return 0
	fi
	if mbt_run "$MBT_BODY" "$MBT_DESC"; then
		printf 'ok %d - %s\n' "$MBT_COUNT" "$MBT_DESC" >&6
		test "$MBT_TIME" -lt 5 || say "took ${MBT_TIME}s"
	else
		MBT_FAILED=$((MBT_FAILED + 1))
		printf 'not ok %d - %s\n' "$MBT_COUNT" "$MBT_DESC" >&6
		mbt_show_failure "$MBT_BODY"
	fi
	return 0
}

# A known breakage: TAP "not ok ... # TODO"; when it starts to work, an
# "ok ... # TODO" that meson reports as an unexpected pass.
test_expect_failure() {
	mbt_args "$@"
	MBT_COUNT=$((MBT_COUNT + 1))
	if test -n "$MBT_PREREQ" && ! test_have_prereq "$MBT_PREREQ"; then
		printf 'ok %d # skip %s (missing %s)\n' "$MBT_COUNT" "$MBT_DESC" \
			"$MBT_MISSING" >&6
		MBT_SKIPPED=$((MBT_SKIPPED + 1))
		return 0
	fi
	if mbt_run "$MBT_BODY" "$MBT_DESC"; then
		MBT_FIXED=$((MBT_FIXED + 1))
		printf 'ok %d - %s # TODO known breakage vanished\n' "$MBT_COUNT" \
			"$MBT_DESC" >&6
	else
		MBT_BROKEN=$((MBT_BROKEN + 1))
		printf 'not ok %d - %s # TODO known breakage\n' "$MBT_COUNT" \
			"$MBT_DESC" >&6
	fi
	return 0
}

test_skip() {
	MBT_COUNT=$((MBT_COUNT + 1))
	MBT_SKIPPED=$((MBT_SKIPPED + 1))
	printf 'ok %d # skip %s (%s)\n' "$MBT_COUNT" "$1" "$2" >&6
}

test_skip_all() {
	printf '1..0 # SKIP %s\n' "$1" >&6
	exit 0
}

test_done() {
	printf '1..%d\n' "$MBT_COUNT" >&6
	if test "$MBT_BROKEN" != 0; then
		say "still have $MBT_BROKEN known breakage(s)"
	fi
	if test "$MBT_FIXED" != 0; then
		say "$MBT_FIXED known breakage(s) vanished: make them test_expect_success"
	fi
	if test "$MBT_FAILED" != 0; then
		say "failed $MBT_FAILED among $MBT_COUNT test(s)"
		exit 1
	fi
	exit 0
}

# test_must_fail [--exit N] CMD...: CMD must exit non-zero (exactly N if
# given); a death by signal (crash, sanitizer abort), or a command that could
# not be run (126, 127), is never the failure we expect.
test_must_fail() {
	local want= rc
	case "${1-}" in
	--exit)
		want=$2
		shift 2
		;;
	--exit=*)
		want=${1#--exit=}
		shift
		;;
	esac
	"$@"
	rc=$?
	if test $rc = 0; then
		echo "test_must_fail: command succeeded: $*" >&2
		return 1
	elif test $rc -gt 128 && test $rc -le 192; then
		echo "test_must_fail: killed by signal $((rc - 128)): $*" >&2
		return 1
	elif test $rc = 126 || test $rc = 127; then
		echo "test_must_fail: could not run (exit $rc): $*" >&2
		return 1
	elif test -n "$want" && test "$rc" != "$want"; then
		echo "test_must_fail: exit $rc, expected $want: $*" >&2
		return 1
	fi
	return 0
}

test_cmp() {
	diff -u "$@"
}

test_must_be_empty() {
	if test -s "$1"; then
		echo "test_must_be_empty: '$1' is not empty:" >&2
		head -n 20 "$1" >&2
		return 1
	fi
}

# test_grep [-v] [GREP-OPTIONS] PATTERN FILE: like grep -q, but on a miss
# (or an unexpected hit with -v) show FILE in the log.
test_grep() {
	local neg= file
	if test "${1-}" = -v; then
		neg=1
		shift
	fi
	eval "file=\${$#}"
	if test -n "$neg"; then
		if ! grep -a "$@" >/dev/null; then
			return 0
		fi
		echo "test_grep: unexpected match for '$*' in:" >&2
	else
		if grep -a "$@" >/dev/null; then
			return 0
		fi
		echo "test_grep: no match for '$*' in:" >&2
	fi
	sed 's/^/	/' "$file" | head -n 40 >&2
	return 1
}

# --- mailbackup --------------------------------------------------------------

mb() {
	${MB_BIN_WRAPPER:-} "$MB_BIN" -c "$CONF" "$@"
}

mb_gpg() {
	local home=$1
	shift
	gpg --homedir "$home" --batch --no-tty --quiet --pinentry-mode loopback \
		--passphrase '' --trust-model always "$@"
}

mbt_track_gnupg() {
	case " $MBT_GNUPG_HOMES " in
	*" $1 "*) ;;
	*) MBT_GNUPG_HOMES="$MBT_GNUPG_HOMES $1" ;;
	esac
}

# mb_keygen DIR NAME: a key pair in a new keyring DIR; prints the fingerprint.
mb_keygen() {
	local fpr
	case "$1" in
	/*) ;;
	*) set -- "$PWD/$1" "$2" ;;
	esac
	mbt_track_gnupg "$1"
	fpr=$("$MB_BIN" keygen --gnupg-home "$1" --name "$2") || return 1
	case "$fpr" in
	[0-9A-F][0-9A-F][0-9A-F][0-9A-F]*) ;;
	*)
		echo "mb_keygen: no fingerprint from keygen: '$fpr'" >&2
		return 1
		;;
	esac
	test ${#fpr} = 40 || {
		echo "mb_keygen: not a v4 fingerprint: '$fpr'" >&2
		return 1
	}
	printf '%s\n' "$fpr"
}

mb_setup_keys() {
	HOST_FPR=$(mb_keygen "$SCRATCH/gnupg" "mbtest host") || return 1
	export HOST_FPR
	if test "${1-}" = --dr; then
		DR_FPR=$(mb_keygen "$SCRATCH/drkey" "mbtest disaster recovery") ||
			return 1
		export DR_FPR
		mb_gpg "$SCRATCH/drkey" --export "$DR_FPR" |
			mb_gpg "$SCRATCH/gnupg" --import || return 1
		mb_gpg "$SCRATCH/gnupg" --export "$HOST_FPR" |
			mb_gpg "$SCRATCH/drkey" --import || return 1
	fi
	return 0
}

mb_write_config() {
	local file=$CONF l
	if test "${1-}" = -o; then
		file=$2
		shift 2
	fi
	{
		echo "[repository]"
		echo "url = ${MB_REPO_URL:-$SCRATCH/repo}"
		echo "[keys]"
		echo "gnupg_home = ${MB_GNUPG_HOME:-$SCRATCH/gnupg}"
		echo "recipients = ${MB_RECIPIENTS:-$HOST_FPR}"
		echo "signing_key = ${MB_SIGNING_KEY:-$HOST_FPR}"
		if test -n "${MB_TRUSTED_SIGNERS:-}"; then
			echo "trusted_signers = $MB_TRUSTED_SIGNERS"
		fi
		echo "[options]"
		echo "cache_dir = ${MB_CACHE_DIR:-$SCRATCH/cache}"
		echo "host = ${MB_HOST:-mbtest}"
		for l in "$@"; do
			printf '%s\n' "$l"
		done
	} >"$file" && chmod 600 "$file"
}

mb_tree_sources() {
	cat <<-EOF
	[source vmail]
	type = maildir
	path = $1/vmail
	include_index = yes
	[source dkim]
	type = files
	path = $1/dkim
	[source conf]
	type = files
	path = $1/conf
	EOF
}

mb_gen_tree() {
	local dir=$1
	shift
	"$MB_GEN" "$@" "$dir" 2>"$SCRATCH/.gen.log" || {
		cat "$SCRATCH/.gen.log" >&2
		return 1
	}
	sed 's/^/gen: /' "$SCRATCH/.gen.log"
}

# Copies with *at() calls from directory descriptors, so no path is ever
# longer than one name; hard links become copies.
mb_copy_tree() {
	command -v python3 >/dev/null 2>&1 || {
		echo "mb_copy_tree: needs python3 (cp -a fails on paths over PATH_MAX)" >&2
		return 1
	}
	python3 - "$1" "$2" <<-'EOF'
	import os, stat, sys
	root = os.geteuid() == 0
	def attrs(st, fd=None, name=None, dfd=None):
	    follow = not stat.S_ISLNK(st.st_mode)
	    target = fd if fd is not None else name
	    kw = {} if fd is not None else {"dir_fd": dfd, "follow_symlinks": follow}
	    if root:
	        os.chown(target, st.st_uid, st.st_gid, **kw)
	    if follow:
	        os.chmod(target, stat.S_IMODE(st.st_mode), **kw)
	    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), **kw)
	def copy(sfd, dfd):
	    for name in sorted(os.listdir(sfd)):
	        st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
	        m = st.st_mode
	        if stat.S_ISDIR(m):
	            os.mkdir(name, 0o700, dir_fd=dfd)
	            s2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=sfd)
	            d2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd)
	            copy(s2, d2)
	            attrs(st, fd=d2)
	            os.close(s2)
	            os.close(d2)
	        elif stat.S_ISREG(m):
	            s2 = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=sfd)
	            d2 = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=dfd)
	            while True:
	                b = os.read(s2, 1 << 20)
	                if not b:
	                    break
	                os.write(d2, b)
	            attrs(st, fd=d2)
	            os.close(s2)
	            os.close(d2)
	        elif stat.S_ISLNK(m):
	            os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
	            attrs(st, name=name, dfd=dfd)
	        elif stat.S_ISFIFO(m):
	            os.mkfifo(name, 0o600, dir_fd=dfd)
	            attrs(st, name=name, dfd=dfd)
	        else:
	            sys.exit("mb_copy_tree: cannot copy %r" % name)
	src, dst = sys.argv[1], sys.argv[2]
	os.mkdir(dst, 0o700)
	s = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
	d = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
	copy(s, d)
	attrs(os.fstat(s), fd=d)
	EOF
}

# One NUL-terminated record per entry: type, mode, owner (as root), size (not
# for directories), mtime, name, symlink target. find walks with descriptors,
# so paths over PATH_MAX are fine.
mbt_tree_list() {
	local own= depth=0
	if test "$(id -u)" = 0; then
		own=' %U:%G'
	fi
	if test -n "$4"; then
		depth=1
	fi
	(cd "$1" && find . -mindepth $depth \( -type d -printf "d %m$own - %T@ %p\\0" \) -o \
		-printf "%y %m$own %s %T@ %p -> %l\\0") >"$2.raw" || return 1
	if test "$3" = s; then
		sed -z -E 's/^(([^ ]+ ){3,4}[0-9]+)\.[0-9]+ /\1 /' "$2.raw" >"$2.tmp" ||
			return 1
		mv "$2.tmp" "$2.raw"
	fi
	LC_ALL=C sort -z "$2.raw" >"$2" && rm -f "$2.raw"
}

# The bytes of a tree as a tar stream in name order (GNU tar archives paths
# over PATH_MAX; it cannot compare or extract them).
# With a second argument, without the directory itself.
mbt_tree_tar() {
	local own='--owner=0 --group=0'
	if test "$(id -u)" = 0; then
		own=--numeric-owner
	fi
	if test -n "${2-}"; then
		(cd "$1" && find . -mindepth 1 -maxdepth 1 -print0 | LC_ALL=C sort -z |
			tar --sort=name --format=gnu $own --hard-dereference \
				--null --no-unquote -T - -cf -)
	else
		tar --sort=name --format=gnu $own --hard-dereference -C "$1" -cf - .
	fi
}

mbt_tree_hashes() {
	mbt_tree_tar "$1" "${2-}" | tar -xf - --to-command='
		printf "%s %s\n" "$(sha256sum | cut -c1-64)" "$TAR_FILENAME"' |
		LC_ALL=C sort -k2
}

mb_compare_trees() {
	local prec=ns skip= d=$SCRATCH/.cmp ha hb
	while :; do
		case "${1-}" in
		--mtime=s) prec=s ;;
		--skip-root) skip=1 ;;
		*) break ;;
		esac
		shift
	done
	test -d "$1" || {
		echo "mb_compare_trees: '$1' is not a directory" >&2
		return 1
	}
	test -d "$2" || {
		echo "mb_compare_trees: '$2' is not a directory" >&2
		return 1
	}
	mkdir -p "$d" &&
		mbt_tree_list "$1" "$d/a" $prec $skip &&
		mbt_tree_list "$2" "$d/b" $prec $skip || return 1
	if ! cmp -s "$d/a" "$d/b"; then
		echo "mb_compare_trees: entries of '$1' (-) and '$2' (+) differ:" >&2
		tr '\0' '\n' <"$d/a" >"$d/a.txt"
		tr '\0' '\n' <"$d/b" >"$d/b.txt"
		diff -u "$d/a.txt" "$d/b.txt" | sed 1,2d | grep -a '^[-+]' |
			head -n 40 >&2
		return 1
	fi
	ha=$(mbt_tree_tar "$1" $skip | sha256sum) &&
		hb=$(mbt_tree_tar "$2" $skip | sha256sum) || return 1
	if test "$ha" != "$hb"; then
		echo "mb_compare_trees: contents of '$1' (-) and '$2' (+) differ:" >&2
		mbt_tree_hashes "$1" $skip >"$d/a.sum"
		mbt_tree_hashes "$2" $skip >"$d/b.sum"
		diff -u "$d/a.sum" "$d/b.sum" | sed 1,2d | grep -a '^[-+]' |
			head -n 40 >&2
		return 1
	fi
	return 0
}

mb_tree_files() {
	find "$1" ! -type d -printf x | wc -c
}

# mb_json_get KEY [FILE]: a top-level string or number of a JSON object.
mb_json_get() {
	local f=${2:--}
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import json, sys
f = sys.argv[2]
o = json.load(sys.stdin if f == "-" else open(f))
print(o[sys.argv[1]])' "$1" "$f"
	else
		cat "$f" | sed -n 's/.*"'"$1"'": *"\{0,1\}\([^",}]*\).*/\1/p' | head -n 1
	fi
}

# mb_forget_history: drop this host's record of the snapshots it committed
# (CACHE/<repo id>/history), as a test that rolls its repository back on
# purpose must; otherwise check reports the rolled-back snapshots as gone
mb_forget_history() {
	rm -f "${MB_CACHE_DIR:-$SCRATCH/cache}"/*/history
}

mb_flip_byte() {
	local f=$1 off=${2:-} size b
	size=$(stat -c %s "$f") || return 1
	test -n "$off" || off=$((size / 2))
	b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
	test -n "$b" || {
		echo "mb_flip_byte: no byte at $off in '$f'" >&2
		return 1
	}
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o' $((b ^ 255)))" |
		dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

mb_manifest_decrypt() {
	mb_gpg "$1" --decrypt "$2" | zstd -q -d
}
