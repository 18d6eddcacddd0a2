#!/bin/bash
# SPDX-License-Identifier: MIT
# run-bench.sh: the benchmark of issue 6, mailbackup against restic, borg and
# tar|zstd|gpg on one generated mail tree (full, one day, no change, restore);
# --scale: the same backups of a tree of 1 million tiny files (issues 16, 17).

# The tools' functions and cleanup() run indirectly (bash -c, trap).
# shellcheck disable=SC2317
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
src_root=$(cd "$here/../.." && pwd)

messages=
users=
domains=
repeat=
seed=1
tool=./build/bin/mailbackup
gen=
quick=0
peers_only=0
memory=0
scale=0
only=
keep=0
workdir=
cache_mode=auto
odd=0

usage() {
	cat <<'EOF'
usage: tests/bench/run-bench.sh [options]

Generates a mail tree with mb-gen-mailtree and runs, on that tree, mailbackup,
restic, borg and tar|zstd|gpg: a full backup, an incremental after one day of
mail, a no-change run and a full restore. Prints wall time, CPU time, peak
RSS, bytes read and repository size per tool and phase (medians), and
mailbackup's ratio to each peer.

  --messages N     messages in the tree (default 40000; 2000 with --quick;
                   with --memory: tiny files, default 1000000)
  --users N        mailboxes (default 100; 20 with --quick)
  --repeat N       runs of every phase, for medians (default 3; 1 with --quick
                   and --memory)
  --seed N         generator seed (default 1)
  --tool-dir PATH  the mailbackup binary, or the directory holding it
                   (default ./build/bin/mailbackup)
  --gen PATH       the mb-gen-mailtree binary (default: next to the build of
                   mailbackup, else built from tests/gen/ with cc)
  --quick          a small smoke run
  --peers-only     skip mailbackup (to test the script and the peers)
  --memory         peak RSS of a full backup of a tree of 1 million tiny
                   files, and of its full restore, by mailbackup (with
                   --peers-only: by the peers)
  --odd-names      generate the tree with --odd-names
  --cold           drop the page cache before every measured run (fail if
                   that is not possible); the default is to try
  --warm           never drop the page cache; read the tree before backups
  --scale          a tree of 1 million tiny files in 1000 mailboxes, 1 run
                   (--messages, --users, --repeat change that): full backup,
                   one day of mail and a no-change run by mailbackup and
                   restic (no restore), with the repository growth in bytes
                   of the one-day and no-change runs
  --tools LIST     the tools to run, comma-separated, of mailbackup, restic,
                   borg, tar (default: all four; mailbackup,restic with
                   --scale)
  --workdir DIR    where repositories and trees go (default: a new directory
                   in $TMPDIR or /tmp, removed at the end)
  --keep           keep the work directory
EOF
}

die() {
	printf 'run-bench: %s\n' "$*" >&2
	exit 2
}

note() {
	printf '%s\n' "$*" >&2
}

num_arg() {
	if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -eq 0 ]; then
		die "invalid $1 '$2': give a positive number"
	fi
}

while [ $# -gt 0 ]; do
	opt=$1
	val=
	case $opt in
	--*=*)
		val=${opt#*=}
		opt=${opt%%=*}
		;;
	--messages | --users | --repeat | --seed | --tool-dir | --gen | --workdir | \
	--tools)
		[ $# -ge 2 ] || die "$opt needs a value"
		val=$2
		shift
		;;
	esac
	case $opt in
	--messages) num_arg "$opt" "$val"; messages=$val ;;
	--users) num_arg "$opt" "$val"; users=$val ;;
	--repeat) num_arg "$opt" "$val"; repeat=$val ;;
	--seed) [[ $val =~ ^[0-9]+$ ]] || die "invalid --seed '$val'"; seed=$val ;;
	--tool-dir) tool=$val ;;
	--gen) gen=$val ;;
	--workdir) workdir=$val ;;
	--quick) quick=1 ;;
	--peers-only) peers_only=1 ;;
	--memory) memory=1 ;;
	--scale) scale=1 ;;
	--tools) only=$val ;;
	--odd-names) odd=1 ;;
	--cold) cache_mode=cold ;;
	--warm) cache_mode=warm ;;
	--keep) keep=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option '$opt'" ;;
	esac
	shift
done

[ "$memory" = 1 ] && [ "$scale" = 1 ] &&
	die "--memory and --scale are two modes: give one of them"
tiny=0
if [ "$memory" = 1 ] || [ "$scale" = 1 ]; then
	tiny=1
	: "${messages:=$([ "$quick" = 1 ] && echo 20000 || echo 1000000)}"
	: "${users:=$([ "$quick" = 1 ] && echo 50 || echo 1000)}"
	: "${repeat:=1}"
	domains=10
elif [ "$quick" = 1 ]; then
	: "${messages:=2000}" "${users:=20}" "${repeat:=1}"
	domains=3
else
	: "${messages:=40000}" "${users:=100}" "${repeat:=3}"
	domains=4
fi

# the phases of one repetition, in order: backups, then (if named) restore
if [ "$scale" = 1 ]; then
	phases=(full incr nochange)
	default_tools=mailbackup,restic
else
	phases=(full incr nochange restore)
	default_tools=mailbackup,restic,borg,tar
fi
tools=()
IFS=, read -r -a req <<<"${only:-$default_tools}"
for t in "${req[@]}"; do
	case $t in
	mailbackup) [ "$peers_only" = 1 ] && continue ;;
	restic | borg | tar) ;;
	*) die "unknown tool '$t' in --tools: give some of mailbackup,restic,borg,tar" ;;
	esac
	[[ " ${tools[*]} " == *" $t "* ]] || tools+=("$t")
done
[ ${#tools[@]} -gt 0 ] || die "no tool to run: give --tools without --peers-only, or other tools"
[[ " ${tools[*]} " == *" mailbackup "* ]] || peers_only=1

# --- tools ----------------------------------------------------------------

for c in restic borg gpg gpgconf zstd tar du awk sort; do
	command -v "$c" >/dev/null ||
		die "'$c' not found: install it (apt-get install restic borgbackup gnupg zstd tar)"
done
[ -x /usr/bin/time ] ||
	die "/usr/bin/time not found: install it (apt-get install time)"

if [ "$peers_only" = 0 ]; then
	[ -d "$tool" ] && tool=$tool/mailbackup
	[ -x "$tool" ] ||
		die "mailbackup not found at '$tool': build it (meson setup build && ninja -C build), give --tool-dir, or run with --peers-only"
	tool=$(cd "$(dirname "$tool")" && pwd)/$(basename "$tool")
fi

if [ -z "$workdir" ]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/mb-bench.XXXXXX") ||
		die "cannot create a work directory"
else
	mkdir -p "$workdir" || die "cannot create '$workdir'"
	[ -z "$(ls -A "$workdir")" ] || die "'$workdir' is not empty"
	work=$(cd "$workdir" && pwd)
	keep=1
fi

cleanup() {
	local h

	for h in "$work/gnupg-tar" "$work/gnupg-mb"; do
		[ -d "$h" ] && gpgconf --homedir "$h" --kill all >/dev/null 2>&1
	done
	if [ "$keep" = 1 ]; then
		note "run-bench: work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$gen" ]; then
	for c in "$(dirname "$tool")/../tests/gen/mb-gen-mailtree" \
		 "$src_root/build/tests/gen/mb-gen-mailtree"; do
		if [ -x "$c" ]; then
			gen=$c
			break
		fi
	done
fi
if [ -z "$gen" ]; then
	${CC:-cc} -O2 -std=gnu11 -o "$work/mb-gen-mailtree" \
		"$src_root/tests/gen/mb-gen-mailtree.c" ||
		die "cannot build tests/gen/mb-gen-mailtree.c: give --gen"
	gen=$work/mb-gen-mailtree
fi
[ -x "$gen" ] || die "generator '$gen' is not executable"
gen=$(cd "$(dirname "$gen")" && pwd)/$(basename "$gen")

display() {
	case $1 in
	tar) echo 'tar|zstd|gpg' ;;
	*) echo "$1" ;;
	esac
}

# --- page cache -----------------------------------------------------------

can_drop=0
if [ "$cache_mode" != warm ]; then
	if sync && (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
		can_drop=1
	elif [ "$cache_mode" = cold ]; then
		die "cannot drop the page cache (/proc/sys/vm/drop_caches): run as root or use --warm"
	fi
fi
if [ "$can_drop" = 1 ]; then
	cache_note="cold: page cache dropped before every measured run"
elif [ "$cache_mode" = warm ]; then
	cache_note="WARM (--warm): caches were warm for all tools (the tree is read once before every backup)"
else
	cache_note="WARM: the page cache could not be dropped; caches were warm for all tools (the tree is read once before every backup)"
fi

prepare_caches() {
	if [ "$can_drop" = 1 ]; then
		sync
		echo 3 >/proc/sys/vm/drop_caches
	elif [ "$1" != restore ]; then
		find "$TREE" -type f -exec cat {} + >/dev/null 2>&1
	fi
}

# --- the tools' commands: run by measure() in a child bash ----------------

export TREE=$work/tree
export RESTIC_REPOSITORY=$work/repo/restic RESTIC_PASSWORD=bench
export RESTIC_CACHE_DIR=$work/cache/restic
export BORG_REPO=$work/repo/borg BORG_PASSPHRASE=bench BORG_BASE_DIR=$work/cache/borg
export BORG_DISPLAY_PASSPHRASE=no BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export TAR_REPO=$work/repo/tar TAR_SNAR=$work/cache/tar.snar
export TAR_GNUPG=$work/gnupg-tar TAR_FPR=
export MB=${tool:-} MB_CONF=$work/mailbackup.conf MB_GNUPG=$work/gnupg-mb
export MB_REPO=$work/repo/mailbackup MB_CACHE=$work/cache/mailbackup

backup_restic() {
	cd "$TREE" && restic backup --host bench vmail dkim conf
}
restore_restic() {
	restic restore latest --target "$1"
}
backup_borg() {
	cd "$TREE" && borg create --compression zstd,3 "::$1" vmail dkim conf
}
restore_borg() { # DIR [ARCHIVE]
	cd "$1" && borg extract "::${2:-nochange}"
}
backup_tar() {
	local n

	n=$(find "$TAR_REPO" -name '*.gpg' | wc -l)
	# tar's own rchar, not the pipes': see README.md
	( cd "$TREE" &&
	  tar --listed-incremental="$TAR_SNAR" -cf - vmail dkim conf
	  rc=$?
	  awk '/^rchar:/ { print $2 }' "/proc/$BASHPID/io" >"$MB_IOF"
	  exit "$rc" ) |
	zstd -T0 -3 -q |
	gpg --homedir "$TAR_GNUPG" --batch --yes --trust-model always \
		--compress-algo none --encrypt --recipient "$TAR_FPR" \
		-o "$TAR_REPO/$(printf %02d "$n")-$1.tar.zst.gpg"
}
restore_tar() {
	local a

	: >"$MB_IOF.gpg"
	for a in "$TAR_REPO"/*.gpg; do
		# gpg's own rchar: the repository reads, not the pipes'
		( gpg --homedir "$TAR_GNUPG" --batch --pinentry-mode loopback \
			--passphrase '' -q -d "$a"
		  rc=$?
		  awk '/^rchar:/ { print $2 }' "/proc/$BASHPID/io" >>"$MB_IOF.gpg"
		  exit "$rc" ) |
		zstd -d -q |
		tar -x --listed-incremental=/dev/null -C "$1" || return 1
	done
	awk '{ s += $1 } END { print s }' "$MB_IOF.gpg" >"$MB_IOF"
}
backup_mailbackup() {
	"$MB" -c "$MB_CONF" backup --json
}
restore_mailbackup() {
	"$MB" -c "$MB_CONF" restore latest --target "$1"
}
export -f backup_restic restore_restic backup_borg restore_borg backup_tar \
	restore_tar backup_mailbackup restore_mailbackup

init_tool() {
	case $1 in
	restic) restic init ;;
	borg) borg init -e repokey ;;
	tar) mkdir -p "$TAR_REPO" && rm -f "$TAR_SNAR" ;;
	mailbackup)
		cat >"$MB_CONF" <<EOF
[repository]
url = $MB_REPO
[keys]
gnupg_home = $MB_GNUPG
recipients = $MB_FPR
signing_key = $MB_FPR
[options]
cache_dir = $MB_CACHE
[source vmail]
type = maildir
path = $TREE/vmail
[source dkim]
type = files
path = $TREE/dkim
[source conf]
type = files
path = $TREE/conf
EOF
		chmod 600 "$MB_CONF" && "$MB" -c "$MB_CONF" init
		;;
	esac
}

# Where a restore into DIR put the tree's vmail, dkim and conf: DIR itself,
# or (restic with absolute paths, by version) DIR/<path of the tree>.
restored_root() { # DIR
	if [ -d "$1/vmail" ]; then
		echo "$1"
	else
		echo "$1$TREE"
	fi
}

# --- measuring ------------------------------------------------------------

results=$work/results
failures=$work/failures
mbjson=$work/mailbackup-json
mkdir -p "$work/logs" "$work/repo" "$work/cache" "$work/restore"
: >"$results"
: >"$failures"
: >"$mbjson"
fail() { # REP TOOL PHASE WHY LOG
	echo "$1 $2 $3 $4" >>"$failures"
	note "run-bench: $(display "$2") failed in $3 (rep $1): $4"
	if [ -n "${5:-}" ] && [ -s "$5" ]; then
		tail -n 15 "$5" | sed 's/^/    /' >&2
	fi
}

# measure REP TOOL PHASE CMD [ARGS]: runs CMD under /usr/bin/time in a bash
# whose /proc/PID/io, read after its children are reaped, holds their rchar.
measure() {
	local rep=$1 t=$2 phase=$3 rc=0 tl rchar repo
	local log=$work/logs/$rep-$t-$phase tf=$work/time.out
	shift 3

	rm -f "$tf" "$work/io.out" "$work/io.out.gpg"
	prepare_caches "$phase"
	# shellcheck disable=SC2016
	MB_IOF=$work/io.out /usr/bin/time -f '%e %U %S %M' -o "$tf" \
		bash -c '"$@"; rc=$?
			[ -s "$MB_IOF" ] || awk "/^rchar:/ { print \$2 }" /proc/$$/io >"$MB_IOF"
			exit $rc' measure "$@" >"$log.out" 2>"$log.err" || rc=$?
	if [ "$rc" != 0 ]; then
		fail "$rep" "$t" "$phase" "exit status $rc" "$log.err"
		return 1
	fi
	read -r tl <<<"$(tail -n 1 "$tf")"
	rchar=$(cat "$work/io.out" 2>/dev/null)
	repo=$(du -sb "$work/repo/$t" | cut -f1)
	# rep tool phase wall cpu maxrss_kib rchar repo user sys
	echo "$rep $t $phase $tl ${rchar:-0} $repo" | awk '{
		print $1, $2, $3, $4, $5 + $6, $7, $8, $9, $5, $6 }' >>"$results"
	awk -v t="$(display "$t")" -v p="$phase" '{
		printf "    %-13s %-8s %8.2f s wall %8.2f s cpu %7.1f MiB peak\n",
			t, p, $1, $2 + $3, $4 / 1024 }' <<<"$tl" >&2
	if [ "$t" = mailbackup ] && [ "$phase" != restore ]; then
		echo "$rep $phase $(tr -d '\n' <"$log.out")" >>"$mbjson"
	fi
}

# "name|type|size|mode|mtime-seconds" of every file and symlink, sorted,
# then one hash of all contents; dovecot.index* and tmp/ may be skipped by
# a Maildir-aware tool and are left out.
tree_digest() {
	(
		cd "$1" || exit 1
		find vmail dkim conf \( -type f -o -type l \) \
			! -name 'dovecot.index*' ! -path '*/tmp/*' \
			-printf '%p|%y|%s|%m|%T@\n' |
			awk -F'|' '{ sub(/\..*/, "", $5); if ($2 == "l") $4 = ""
				print $1 "|" $2 "|" $3 "|" $4 "|" $5 }' |
			LC_ALL=C sort
		find vmail dkim conf -type f ! -name 'dovecot.index*' \
			! -path '*/tmp/*' -print0 | LC_ALL=C sort -z |
			xargs -0 -r cat | sha256sum
	) | sha256sum | cut -c1-64
}

rotate() { # N: the tools, rotated by N, so no tool always goes first
	local n=$1 i
	for ((i = 0; i < ${#tools[@]}; i++)); do
		printf '%s\n' "${tools[(i + n) % ${#tools[@]}]}"
	done
}

setup_keys() {
	mkdir -m 700 "$TAR_GNUPG"
	gpg --homedir "$TAR_GNUPG" --batch --passphrase '' --quick-gen-key \
		'bench <bench@localhost>' ed25519 sign never >/dev/null 2>&1 ||
		die "cannot generate the tar|zstd|gpg key"
	TAR_FPR=$(gpg --homedir "$TAR_GNUPG" --with-colons --list-keys 2>/dev/null |
		  awk -F: '/^fpr:/ { print $10; exit }')
	gpg --homedir "$TAR_GNUPG" --batch --passphrase '' --quick-add-key \
		"$TAR_FPR" cv25519 encr never >/dev/null 2>&1 ||
		die "cannot add the encryption subkey"
	export TAR_FPR

	MB_FPR=
	if [ "$peers_only" = 0 ]; then
		MB_FPR=$("$MB" keygen --gnupg-home "$MB_GNUPG" --name 'mailbackup bench' \
			2>"$work/logs/keygen.err" | tail -n 1 | tr -d '[:space:]')
		if [ -z "$MB_FPR" ]; then
			fail 0 mailbackup keygen "no fingerprint from keygen" \
				"$work/logs/keygen.err"
		fi
	fi
}

generate_tree() {
	local args=(--seed "$seed" --messages "$messages" --users "$users"
		    --domains "$domains")

	[ "$tiny" = 1 ] && args+=(--tiny)
	[ "$odd" = 1 ] && args+=(--odd-names)
	rm -rf "$TREE"
	"$gen" "${args[@]}" "$TREE" 2>"$work/logs/gen.err" ||
		die "mb-gen-mailtree failed: $(cat "$work/logs/gen.err")"
	gen_summary=$(cat "$work/logs/gen.err")
	tree_files=$(find "$TREE" -type f | wc -l)
	tree_bytes=$(du -sb "$TREE" | cut -f1)
}

reset_tool() { # TOOL: a fresh repository and cache
	rm -rf "$work/repo/$1" "$work/cache/$1" "$work/restore/$1"
	[ "$1" = tar ] && rm -f "$TAR_SNAR"
	[ "$1" = mailbackup ] && rm -rf "$MB_CACHE"
	mkdir -p "$work/cache"
}

run_rep() { # REP
	local rep=$1 t phase order live=()
	declare -A dead=()

	note "run-bench: repetition $rep of $repeat: generating the tree"
	generate_tree
	mapfile -t order < <(rotate $((rep - 1)))
	for t in "${order[@]}"; do
		reset_tool "$t"
		if [ "$t" = mailbackup ] && [ -z "$MB_FPR" ]; then
			dead[$t]=1
			continue
		fi
		if ! init_tool "$t" >"$work/logs/$rep-$t-init.out" \
			2>"$work/logs/$rep-$t-init.err"; then
			fail "$rep" "$t" init "init failed" "$work/logs/$rep-$t-init.err"
			dead[$t]=1
		fi
	done

	for phase in "${phases[@]}"; do
		[ "$phase" = restore ] && continue
		if [ "$phase" = incr ]; then
			"$gen" --day --seed "$seed" "$TREE" 2>"$work/logs/day.err" ||
				die "mb-gen-mailtree --day failed: $(cat "$work/logs/day.err")"
			day_summary=$(cat "$work/logs/day.err")
			note "$day_summary"
		fi
		note "run-bench: rep $rep: $phase"
		for t in "${order[@]}"; do
			[ -n "${dead[$t]:-}" ] && continue
			measure "$rep" "$t" "$phase" "backup_$t" "$phase" ||
				dead[$t]=1
		done
	done

	for t in "${order[@]}"; do
		[ -n "${dead[$t]:-}" ] || live+=("$t")
	done
	if [[ " ${phases[*]} " == *" restore "* ]] && [ ${#live[@]} -gt 0 ]; then
		restore_rep "$rep" "${live[@]}"
	fi
	for t in "${order[@]}"; do
		reset_tool "$t"
	done
}

restore_rep() { # REP TOOL...: every tool restores its latest snapshot
	local rep=$1 t src_digest dst root
	shift

	note "run-bench: rep $rep: restore"
	src_digest=$(tree_digest "$TREE")
	for t in "$@"; do
		dst=$work/restore/$t
		rm -rf "$dst"
		mkdir -p "$dst"
		measure "$rep" "$t" restore "restore_$t" "$dst" || continue
		root=$(restored_root "$dst")
		if [ "$(tree_digest "$root")" != "$src_digest" ]; then
			fail "$rep" "$t" restore "the restored tree differs from the source"
		fi
		rm -rf "$dst"
	done
}

run_memory() {
	local t

	note "run-bench: generating $messages tiny files"
	generate_tree
	for t in "${tools[@]}"; do
		reset_tool "$t"
		if [ "$t" = mailbackup ] && [ -z "$MB_FPR" ]; then
			continue
		fi
		if ! init_tool "$t" >"$work/logs/mem-$t-init.out" \
			2>"$work/logs/mem-$t-init.err"; then
			fail 1 "$t" init "init failed" "$work/logs/mem-$t-init.err"
			continue
		fi
		measure 1 "$t" full "backup_$t" full &&
			mkdir -p "$work/restore/$t" &&
			measure 1 "$t" restore "restore_$t" "$work/restore/$t" full
		reset_tool "$t"
	done
}

# --- report ---------------------------------------------------------------

median() {
	sort -g | awk '{ v[NR] = $1 }
		END {
			if (!NR)
				print "-"
			else if (NR % 2)
				print v[(NR + 1) / 2]
			else
				print (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# med TOOL PHASE FIELD: the median of one column of the results
med() {
	awk -v t="$1" -v p="$2" -v f="$3" '$2 == t && $3 == p { print $f }' \
		"$results" | median
}

mib() {
	awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else printf "%.1f", v / 1048576 }'
}

ratio() { # A B: A / B as "1.23x"
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2fx", a / b }'
}

# check VALUE OP LIMIT: "met" or "MISSED" (VALUE like 1.23x)
check() {
	awk -v v="${1%x}" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "-") { print "n/a"; exit }
		ok = op == ">=" ? v >= l : v <= l
		print ok ? "met" : "MISSED" }'
}

print_table() {
	local phases=("$@") phase t wall

	printf '\n%-9s %-13s %9s %9s %10s %10s %10s %5s\n' phase tool \
		'wall s' 'cpu s' 'peak MiB' 'read MiB' 'repo MiB' runs
	for phase in "${phases[@]}"; do
		for t in "${tools[@]}"; do
			wall=$(med "$t" "$phase" 4)
			if [ "$wall" = - ]; then
				printf '%-9s %-13s %9s\n' "$phase" "$(display "$t")" FAILED
				continue
			fi
			printf '%-9s %-13s %9.2f %9.2f %10s %10s %10s %5s\n' \
				"$phase" "$(display "$t")" "$wall" \
				"$(med "$t" "$phase" 5)" \
				"$(awk -v k="$(med "$t" "$phase" 6)" 'BEGIN { printf "%.1f", k / 1024 }')" \
				"$(mib "$(med "$t" "$phase" 7)")" \
				"$(mib "$(med "$t" "$phase" 8)")" \
				"$(awk -v t="$t" -v p="$phase" '$2 == t && $3 == p' "$results" | wc -l)"
		done
	done
}

# target PHASE: the target of PHASE against the peers, from print_ratios' rt
target() {
	if [ "$scale" = 1 ]; then
		case $1 in
		nochange) echo "restic >= 5x (issue 17 goal): $(check "${rt[restic]:--}" '>=' 5)" ;;
		*) echo "none (issue 16: reported)" ;;
		esac
		return
	fi
	case $1 in
	full) echo "restic >= 2x: $(check "${rt[restic]:--}" '>=' 2), tar|zstd|gpg >= 1.2x: $(check "${rt[tar]:--}" '>=' 1.2)" ;;
	incr) echo "restic >= 4x: $(check "${rt[restic]:--}" '>=' 4)" ;;
	nochange) echo "restic >= 5x: $(check "${rt[restic]:--}" '>=' 5)" ;;
	restore) echo "restic >= 1.2x: $(check "${rt[restic]:--}" '>=' 1.2), tar|zstd|gpg >= 1x: $(check "${rt[tar]:--}" '>=' 1)" ;;
	esac
}

print_ratios() {
	local phase t mb_wall r line peers=()
	local -A rt

	for t in "${tools[@]}"; do
		[ "$t" = mailbackup ] || peers+=("$t")
	done
	printf '\nmailbackup against each peer: peer wall time / mailbackup wall time (>1: mailbackup is faster)\n'
	line=$(printf '%-9s' phase)
	for t in "${peers[@]}"; do
		line+=$(printf " %$([ "$t" = tar ] && echo 14 || echo 10)s" "$(display "$t")")
	done
	printf '%s   %s\n' "$line" target
	for phase in "${phases[@]}"; do
		mb_wall=$(med mailbackup "$phase" 4)
		line=$(printf '%-9s' "$phase")
		for t in "${peers[@]}"; do
			r=$(ratio "$(med "$t" "$phase" 4)" "$mb_wall")
			line+=$(printf ' %10s' "$r")
			[ "$t" = tar ] && line+='    '
			rt[$t]=$r
		done
		printf '%s   %s\n' "$line" "$(target "$phase")"
	done
	[ "$scale" = 1 ] && return 0
	printf '\nrepository size, mailbackup / borg (zstd,3):\n'
	for phase in full nochange; do
		r=$(ratio "$(med mailbackup "$phase" 8)" "$(med borg "$phase" 8)")
		printf '  after %-9s %8s   target <= 0.9x: %s\n' "$phase" "$r" \
			"$(check "$r" '<=' 0.9)"
	done
}

# growth TOOL PHASE BEFORE: the median over repetitions of the repository
# growth in bytes (du -sb after PHASE less du -sb after BEFORE)
growth() {
	awk -v t="$1" -v p="$2" -v b="$3" '
		$2 == t && $3 == b { before[$1] = $8 }
		$2 == t && $3 == p { after[$1] = $8 }
		END { for (r in after) if (r in before) print after[r] - before[r] }' \
		"$results" | median
}

print_growth() {
	local t incr nochange

	printf '\nrepository growth in bytes (du -sb of the repository before and after the run; caches not counted):\n'
	printf '%-13s %16s %16s\n' tool 'one day (incr)' 'no change'
	for t in "${tools[@]}"; do
		incr=$(growth "$t" incr full)
		nochange=$(growth "$t" nochange incr)
		printf '%-13s %16s %16s\n' "$(display "$t")" "$incr" "$nochange"
	done
	[ "$peers_only" = 1 ] && return 0
	nochange=$(growth mailbackup nochange incr)
	printf 'mailbackup no-change growth < 65536 bytes (issue 17): %s\n' \
		"$(awk -v g="$nochange" 'BEGIN { if (g == "-") print "n/a"; else print g < 65536 ? "met" : "MISSED" }')"
}

print_mbjson() {
	[ -s "$mbjson" ] || return 0
	printf '\nmailbackup --json (rep 1): bytes_read counts only the files that missed its cache\n'
	awk '$1 == 1' "$mbjson" | while read -r rep phase json; do
		printf '  %-9s %s\n' "$phase" "$json"
	done
}

print_header() {
	printf 'mailbackup benchmark (issue 6), %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf 'machine: %s CPUs, %s MiB RAM, %s\n' "$(nproc)" \
		"$(awk '/^MemTotal/ { printf "%d", $2 / 1024 }' /proc/meminfo)" "$(uname -r)"
	printf 'tools: %s; %s; %s; %s; %s\n' \
		"$( [ "$peers_only" = 1 ] && echo 'mailbackup skipped (--peers-only)' || echo "mailbackup $MB")" \
		"$(restic version | cut -d' ' -f1-2)" "$(borg --version)" \
		"$(tar --version | head -n 1)" \
		"zstd $(zstd --version | grep -o 'v[0-9.]*'), gpg $(gpg --version | awk 'NR == 1 { print $3 }')"
	[ "$scale" = 1 ] && printf 'mode: --scale (full, one day, no change; no restore)\n'
	printf 'tree: %s\n' "${gen_summary#mb-gen-mailtree: }"
	printf 'tree size: %s files, %s MiB (du -sb)\n' "$tree_files" "$(mib "$tree_bytes")"
	[ -n "${day_summary:-}" ] && printf 'one day: %s\n' "${day_summary#mb-gen-mailtree: }"
	printf 'page cache: %s\n' "$cache_note"
	printf 'medians of %s run(s); cpu = user + sys of all processes; peak = largest single process;\n' "$repeat"
	printf 'read = rchar (bytes returned by read(), see README.md; tar|zstd|gpg: tar, or gpg on restore)\n'
}

# --- main -----------------------------------------------------------------

setup_keys
gen_summary=
day_summary=

if [ "$memory" = 1 ]; then
	run_memory
	print_header
	print_table full restore
	if [ "$peers_only" = 0 ]; then
		echo
		for phase in full restore; do
			k=$(med mailbackup "$phase" 6)
			printf 'mailbackup peak RSS for a %s of %s tiny files: %s MiB (target < 256 MiB): %s\n' \
				"$([ "$phase" = full ] && echo 'full backup' || echo 'full restore')" \
				"$messages" "$(awk -v k="$k" 'BEGIN { if (k == "-") print "-"; else printf "%.1f", k / 1024 }')" \
				"$(awk -v k="$k" 'BEGIN { if (k == "-") print "n/a"; else print k < 262144 ? "met" : "MISSED" }')"
		done
	fi
else
	for ((rep = 1; rep <= repeat; rep++)); do
		run_rep "$rep"
	done
	print_header
	print_table "${phases[@]}"
	[ "$scale" = 1 ] && print_growth
	if [ "$peers_only" = 0 ]; then
		print_ratios
		print_mbjson
	fi
fi

if [ -s "$failures" ]; then
	printf '\nFAILED:\n'
	sed 's/^/  rep /' "$failures"
	note "run-bench: logs are in $work/logs"
	keep=1
	exit 1
fi
exit 0
