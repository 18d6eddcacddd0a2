#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/complexity.sh: the complexity gate. Fails, naming each function, when
# a function of libmb/ or bin/ scores above the limit in cyclomatic complexity
# (pmccabe's modified McCabe number, first column). TAP output.
# usage: complexity.sh SRCDIR [LIMIT]
set -u
top=${1:?usage: complexity.sh SRCDIR [LIMIT]}
limit=${2:-40}
if ! command -v pmccabe >/dev/null 2>&1; then
	# in CI a missing tool is a failure, never a silent skip
	if [ -n "${CI:-}" ]; then
		echo "1..1"
		echo "not ok 1 - pmccabe not installed: apt-get install pmccabe"
		exit 1
	fi
	echo "1..0 # SKIP pmccabe not installed (apt-get install pmccabe)"
	exit 0
fi
cd "$top" || exit 1
n=0
fail=0
for f in $(find libmb bin -name "*.c" | sort); do
	n=$((n + 1))
	over=$(pmccabe "$f" 2>/dev/null | awk -v lim="$limit" '$1 > lim')
	if [ -n "$over" ]; then
		echo "not ok $n - $f"
		printf '%s\n' "$over" | awk -v lim="$limit" '{
			print "# " $7 " at " $6 " scores " $1 " (limit " lim "): split it into named steps"
		}'
		fail=1
	else
		echo "ok $n - $f"
	fi
done
echo "1..$n"
exit $fail
