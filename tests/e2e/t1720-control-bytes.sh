#!/bin/bash
# SPDX-License-Identifier: MIT
# t1720-control-bytes: control bytes (ESC, newline) in file names and in a
# host name reach no terminal raw: ls, ls -l, diff, snapshots, restore and
# error messages print them escaped (C escapes in double quotes, like git);
# --json keeps its own JSON escapes.
. "$(dirname "$0")/lib-test.sh"

ESC=$(printf '\033')
NL='
'

# no_raw FILE...: no ESC and no other control byte but newline and tab
no_raw() {
	if LC_ALL=C grep -l '[[:cntrl:]]' "$@" | grep -q .; then
		# [[:cntrl:]] matches neither newline here; tab is fine
		if LC_ALL=C tr -d '\n\t' <"$1" | LC_ALL=C grep -q '[[:cntrl:]]'; then
			echo "raw control bytes in $1:" >&2
			od -c "$1" | head -20 >&2
			return 1
		fi
	fi
	return 0
}

test_expect_success 'setup: names with ESC and a newline' '
	mb_setup_keys &&
	mkdir files &&
	echo one >files/plain &&
	echo two >"files/esc${ESC}[2Jname" &&
	echo three >"files/new${NL}line" &&
	mb_write_config "[source f]" "type = files" "path = $SCRATCH/files" &&
	mb init && mb backup --json >b1.json &&
	echo four >"files/late${ESC}]0;title${ESC}\\" &&
	mb backup --json >b2.json
'

test_expect_success 'ls prints the names escaped, one line each' '
	mb ls latest >out &&
	no_raw out &&
	test_grep -F "\"f/esc\\033[2Jname\"" out &&
	test_grep -F "\"f/new\\nline\"" out &&
	test_grep -x "f/plain" out &&
	test $(wc -l <out) = 5
'

test_expect_success 'ls -l prints the names escaped' '
	mb ls -l latest >out &&
	no_raw out &&
	test_grep -F "\"f/esc\\033[2Jname\"" out &&
	test_grep -F "\"f/new\\nline\"" out &&
	test $(wc -l <out) = 5
'

test_expect_success 'ls --json keeps JSON escapes' '
	mb ls --json latest >out.json &&
	no_raw out.json &&
	test_grep -F "esc\\u001b[2Jname" out.json &&
	test_grep -F "new\\u000aline" out.json
'

test_expect_success 'diff prints the names escaped' '
	a=$(mb_json_get id b1.json) && b=$(mb_json_get id b2.json) &&
	mb diff "$a" "$b" >out &&
	no_raw out &&
	test_grep -F "+ \"f/late\\033]0;title\\033\\\\\"" out
'

test_expect_success 'an error message naming a path prints it escaped' '
	test_must_fail mb ls latest "f/gone${ESC}[31m${NL}fake line" >out 2>err &&
	no_raw err &&
	test_grep -F "gone\\033[31m\\nfake line" err &&
	test $(wc -l <err) = 1
'

test_expect_success 'restore: a bad target in the message is escaped' '
	mkdir "t${ESC}[2J" && echo x >"t${ESC}[2J/full" &&
	test_must_fail mb restore latest --target "t${ESC}[2J" >out 2>err &&
	no_raw out err &&
	test_grep -F "t\\033[2J" err
'

test_expect_success 'a host name with control bytes in an object name' '
	obj=$(ls repo/snapshots | tail -n 1) &&
	new=$(echo "$obj" | sed "s/-mbtest-/-mb${ESC}[2Jtest-/") &&
	mv "repo/snapshots/$obj" "repo/snapshots/$new" &&
	{ mb snapshots >out 2>err; true; } &&
	no_raw out err &&
	cat out err >both &&
	test_grep -F "mb\\033[2Jtest" both &&
	mv "repo/snapshots/$new" "repo/snapshots/$obj" &&
	mb snapshots >out &&
	test $(wc -l <out) = 2
'

test_done
