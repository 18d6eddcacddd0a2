#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/api/symbols.sh: the symbol-leak test. libmb.so must export exactly
# the functions mb.h declares with MB_EXPORT: no internal mbi_ name, no
# forgotten one. TAP output.
# usage: symbols.sh MB_H LIBMB_SO
set -u
hdr=${1:?usage: symbols.sh MB_H LIBMB_SO}
lib=${2:?usage: symbols.sh MB_H LIBMB_SO}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# the name before the first '(' of each MB_EXPORT declaration
awk '/^MB_EXPORT/ { d = $0; while (d !~ /\(/ && (getline l) > 0) d = d l;
	sub(/\(.*/, "", d); n = split(d, w, /[ *]+/); print w[n] }' "$hdr" |
	sort -u >"$tmp/header"
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { sub(/@.*/, "", $3); print $3 }' |
	sort -u >"$tmp/exported"

echo "1..3"
if [ -s "$tmp/header" ] && [ -s "$tmp/exported" ]; then
	echo "ok 1 - mb.h declares $(wc -l <"$tmp/header") functions, libmb.so exports $(wc -l <"$tmp/exported")"
else
	echo "not ok 1 - no names found in $hdr or $lib"
fi
extra=$(comm -13 "$tmp/header" "$tmp/exported")
if [ -z "$extra" ]; then
	echo "ok 2 - libmb.so exports nothing that mb.h does not declare"
else
	echo "not ok 2 - libmb.so exports names mb.h does not declare (leaks: make them static or mbi_ and hidden):"
	printf '%s\n' "$extra" | sed 's/^/#   /'
fi
missing=$(comm -23 "$tmp/header" "$tmp/exported")
if [ -z "$missing" ]; then
	echo "ok 3 - every MB_EXPORT function of mb.h is exported"
else
	echo "not ok 3 - mb.h declares functions libmb.so does not export (define them, or drop them from mb.h):"
	printf '%s\n' "$missing" | sed 's/^/#   /'
fi
[ -z "$extra" ] && [ -z "$missing" ]
