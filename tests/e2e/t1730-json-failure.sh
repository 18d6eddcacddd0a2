#!/bin/bash
# SPDX-License-Identifier: MIT
# t1730-json-failure: with --json, every command prints exactly one JSON
# object on stdout also when it fails: {"ok":false,"status":"failed",
# "exit_code":N,"error":"..."} with N its exit code; a check that finds a
# problem prints its counts with the same members.
. "$(dirname "$0")/lib-test.sh"

test_have_prereq JQ || test_skip_all "jq is needed"

# fails WANT CMD...: CMD exits WANT and prints one JSON failure object
# naming that exit code and an error that matches $ERR (if set)
fails() {
	local want=$1 rc
	shift
	"$@" >out.json 2>err
	rc=$?
	if test "$rc" != "$want"; then
		echo "exit $rc, expected $want: $*" >&2
		cat err >&2
		return 1
	fi
	test "$(jq -s length out.json)" = 1 &&
	test "$(jq -r .ok out.json)" = false &&
	test "$(jq -r .status out.json)" = failed &&
	test "$(jq -r .exit_code out.json)" = "$want" &&
	test -n "$(jq -r .error out.json)" &&
	if test -n "${ERR-}"; then
		jq -r .error out.json | grep -q -- "$ERR" || {
			echo "error does not match '$ERR':" >&2
			cat out.json >&2
			return 1
		}
	fi
}

test_expect_success 'setup' '
	mb_setup_keys &&
	mkdir files && echo hello >files/a &&
	mb_write_config "[source f]" "type = files" "path = $SCRATCH/files" &&
	mb init && mb backup --json >b.json &&
	test "$(jq -r .status b.json)" = ok
'

test_expect_success 'restore --json: an unknown snapshot, a full target, a usage error' '
	ERR=nosuchsnap fails 1 mb restore nosuchsnap --target t1 --json &&
	mkdir full && echo x >full/x &&
	ERR=full fails 1 mb restore latest --target full --json &&
	ERR=target fails 2 mb restore latest --json
'

test_expect_success 'restore --json still prints its summary on success' '
	mb restore latest --target ok1 --json >out.json &&
	test "$(jq -r .status out.json)" = ok
'

test_expect_success 'backup --json: a failing source, a failing pre_backup hook' '
	mb_write_config -o bad.conf "[source f]" "type = files" \
		"path = $SCRATCH/nonexistent" &&
	fails 1 "$MB_BIN" -c bad.conf backup --json &&
	mb_write_config -o hook.conf "[source f]" "type = files" \
		"path = $SCRATCH/files" "[hooks]" "pre_backup = exit 7" &&
	ERR="backup not started" fails 1 "$MB_BIN" -c hook.conf backup --json &&
	ERR="bad --time" fails 2 mb backup --json --time yesterday
'

test_expect_success 'check --json: a damaged repository and a missing one' '
	for f in repo/index/*; do mb_manifest_decrypt gnupg "$f"; done >ix &&
	p=$(awk "\$1 == \"p\" { print \$2; exit }" ix) &&
	pack=repo/packs/${p%"${p#??}"}/$p &&
	cp "$pack" pack.save &&
	rm "$pack" &&
	fails 4 mb check --json &&
	test "$(jq -r .snapshots out.json)" = 1 &&
	q=$(awk "\$1 == \"q\" { print \$2; exit }" ix) &&
	mv "repo/packs/${q%"${q#??}"}/$q" listing.save &&
	ERR="problem" fails 4 mb check --json &&
	test "$(jq -r .snapshots out.json)" = 0 &&
	mv listing.save "repo/packs/${q%"${q#??}"}/$q" &&
	cp pack.save "$pack" &&
	mb check --json >out.json &&
	test "$(jq -r .ok out.json)" = true &&
	mb_write_config -o norepo.conf "[repository]" &&
	MB_REPO_URL=$SCRATCH/norepo mb_write_config -o norepo.conf &&
	fails 1 "$MB_BIN" -c norepo.conf check --json
'

test_expect_success 'other commands: a configuration error and a missing repository' '
	ERR="not found" fails 2 "$MB_BIN" -c "$SCRATCH/none.conf" snapshots --json &&
	for cmd in snapshots "ls latest" "diff latest latest" stats unlock \
		prune "forget --keep-last 1" restore-test; do
		fails 1 "$MB_BIN" -c norepo.conf $cmd --json || return 1
	done &&
	ERR="at or under" fails 1 mb ls latest nosuchpath --json &&
	fails 1 mb init --json &&
	fails 2 mb forget --json --keep-last x
'

test_done
