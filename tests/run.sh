#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/run.sh: set up a fresh Debian 12 machine, build, and run the demo or
# every test. The two commands of README.md:
#   tests/run.sh demo   install what is needed, build, back up a demo mail
#                       tree to a local repository, check it and restore it
#   tests/run.sh test   install, build, run every test: a -Werror build and
#                       an ASan+UBSan build, each with the whole suite
set -euo pipefail

mode=${1:-}
case "$mode" in
demo|test) ;;
*) echo "usage: tests/run.sh demo|test" >&2; exit 2 ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

packages=(meson ninja-build pkg-config gcc libarchive-dev libgpgme-dev
	libzstd-dev libcurl4-openssl-dev libmariadb-dev libexpat1-dev libssl-dev
	gnupg zstd tar mariadb-server mariadb-client nodejs npm rclone
	python3 groff-base man-db time systemd shellcheck pmccabe
	redis-server prometheus)
# t6xxx: a private Dovecot (doveadm, LMTP, mail_crypt keys made by openssl)
packages+=(dovecot-core dovecot-imapd dovecot-lmtpd openssl)

install_packages() {
	local missing=() p sudo=
	# a node and npm from elsewhere (e.g. NodeSource, which ships npm
	# inside its nodejs and conflicts with Debian's npm) are fine
	if command -v node >/dev/null && command -v npm >/dev/null; then
		packages=("${packages[@]/#nodejs/}")
		packages=("${packages[@]/#npm/}")
	fi
	for p in "${packages[@]}"; do
		[ -n "$p" ] || continue
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "== installing: ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
}

install_node_modules() {
	if [ -f tests/s3/package-lock.json ] &&
	   [ ! -d tests/s3/node_modules/@20minutes/s3rver ]; then
		echo "== installing the S3 test server (npm ci)"
		(cd tests/s3 && npm ci --no-audit --no-fund --loglevel=error)
	fi
}

build() {
	local dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" --werror "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
}

install_packages
install_node_modules

if [ "$mode" = demo ]; then
	build build
	exec bash tests/demo.sh build
fi

build build
# CI=true: a test whose server (MariaDB, S3) cannot start fails, never skips
export CI=${CI:-true}
echo "== tests (-Werror build)"
meson test -C build --print-errorlogs --num-processes 2
echo "== tests (ASan + UBSan build)"
build build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	-Dbuildtype=debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C build-asan --print-errorlogs --num-processes 2 \
	--timeout-multiplier 3
