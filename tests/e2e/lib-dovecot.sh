# SPDX-License-Identifier: MIT
# lib-dovecot.sh: start a private Dovecot for an end-to-end test, and the doveadm helpers that judge a mail store.
#
# Source it from a tNNNN-*.sh test (after lib-test.sh), then:
#
#   dc_start [--imap] [--crypt USER@DOMAIN]... USER@DOMAIN...
#                                   a fresh Dovecot (LMTP on a unix socket) in $DC_DIR (default
#                                   ./dovecot) with a private base_dir,
#                                   state_dir and log ($DC_LOG); mailboxes
#                                   in Maildir++ at $DC_VMAIL/DOMAIN/USER/
#                                   (the layout of a maildir source, as at
#                                   mailcow), owned by vmail (uid 5000,
#                                   created when missing); password "pw";
#                                   with --imap also IMAP on
#                                   127.0.0.1:$DC_IMAP_PORT (30000 + the
#                                   test number)
#                                   --crypt: mail_crypt (global keys in
#                                   $DC_CRYPT, made if missing) encrypts
#                                   the mail this user receives
#   dc_crypt_keys                   a new mail_crypt key pair in $DC_CRYPT
#   dc_stop                         stop it (also done at exit)
#   dc_doveadm ARGS...              doveadm -c $DC_CONF ARGS...
#   dc_mkfolder USER FOLDER...      create and subscribe folders
#   dc_deliver USER FOLDER ID [SUBJECT]   save a message with Message-ID
#                                   <ID@mbtest> into FOLDER (doveadm save)
#   dc_lmtp USER ID                 deliver a message to INBOX over LMTP
#                                   (Dovecot's unix socket, as an MTA does)
#   dc_flags USER FOLDER ADD|REMOVE FLAGS SEARCH...   doveadm flags
#   dc_state USER [FOLDER...]       one line per message, sorted by UID:
#                                   "FOLDER UID MESSAGE-ID FLAGS" (flags
#                                   sorted, \Recent left out); all folders
#                                   by default
#   dc_status USER FOLDER FIELDS    doveadm mailbox status -f flow
#   dc_subscribed USER              the subscribed folders, sorted
#   dc_log_clean                    fails when Dovecot logged a repair
#                                   ("Fixed a duplicate", "reappeared",
#                                   "corrupted") or an error, in its log or
#                                   on doveadm's stderr
#
# DC_MAIL_LOCATION (default maildir:~) sets mail_location, e.g.
# maildir:~/Maildir as older mailcow releases have it.
#
# Without the dovecot binary the test is skipped, except under CI (or
# MB_REQUIRE_DOVECOT=1), where that is a failure.

dc__say() {
	printf '# lib-dovecot: %s\n' "$*" >&2
}

dc__tap() {
	if { true >&6; } 2>/dev/null; then
		printf '%s\n' "$*" >&6
	else
		printf '%s\n' "$*"
	fi
}

dc__missing() {
	if test -n "${CI:-}" || test "${MB_REQUIRE_DOVECOT:-0}" = 1; then
		dc__tap "Bail out! $1"
		exit 1
	fi
	dc__tap "1..0 # SKIP $1"
	exit 0
}

DOVECOT=$(command -v dovecot || echo /usr/sbin/dovecot)
test -x "$DOVECOT" || dc__missing "dovecot not found: install dovecot-core"
DOVEADM=$(command -v doveadm || echo /usr/bin/doveadm)
test -x "$DOVEADM" || dc__missing "doveadm not found: install dovecot-core"
test "$(id -u)" = 0 || dc__missing "a private Dovecot with mail_uid vmail needs root"

DC_TEST_NUMBER=$(basename "$0" | sed -n 's/^t\([0-9][0-9]*\)-.*/\1/p')
DC_TEST_NUMBER=$((10#${DC_TEST_NUMBER:-9999} % 10000))
DC_IMAP_PORT=$((30000 + DC_TEST_NUMBER))
DC_PID=

dc__atexit() {
	dc_stop >/dev/null 2>&1
}

dc__hook_exit() {
	local prev
	prev=$(trap -p EXIT)
	prev=${prev#"trap -- '"}
	prev=${prev%"' EXIT"}
	case "$prev" in
	*dc__atexit*) return 0 ;;
	esac
	eval "trap -- 'dc__rc=\$?; dc__atexit; (exit \$dc__rc); $prev' EXIT"
}

# The mail user: uid 5000 as at mailcow and docker-mailserver.
dc__vmail_user() {
	id vmail >/dev/null 2>&1 && return 0
	useradd -r -u 5000 -U -M -d /nonexistent -s /usr/sbin/nologin vmail \
		>/dev/null 2>&1
	# another test may have made it in the meantime
	id vmail >/dev/null 2>&1
}

dc__config() {
	local proto=lmtp
	if test "$1" = imap; then
		proto="lmtp imap"
	fi
	cat <<EOF
base_dir = $DC_DIR/run
state_dir = $DC_DIR/state
log_path = $DC_LOG
info_log_path = $DC_LOG
debug_log_path = $DC_LOG
protocols = $proto
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 100
mail_uid = vmail
mail_gid = vmail
mail_location = ${DC_MAIL_LOCATION:-maildir:~}
mail_fsync = always
$(dc__crypt_config)
namespace inbox {
  inbox = yes
  separator = /
  prefix =
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DC_DIR/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $DC_DIR/users
  default_fields = uid=vmail gid=vmail home=$DC_VMAIL/%d/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DC_IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0600
  }
  unix_listener stats-writer {
    mode = 0600
  }
}
EOF
}

# mail_crypt with global keys in $DC_CRYPT; only the users given with
# --crypt save encrypted (mail_crypt_save_version=2 from their userdb
# entry), the others not (version 0). Reading works for all.
dc__crypt_config() {
	test -n "${DC_CRYPT_USERS:-}" || return 0
	# shellcheck disable=SC2016 # Dovecot expands $mail_plugins
	printf 'mail_plugins = $mail_plugins mail_crypt\n'
	printf 'plugin {\n'
	printf '  mail_crypt_global_private_key = <%s/ecprivkey.pem\n' "$DC_CRYPT"
	printf '  mail_crypt_global_public_key = <%s/ecpubkey.pem\n' "$DC_CRYPT"
	printf '  mail_crypt_save_version = 0\n'
	printf '}\n'
}

# A new mail_crypt key pair in $DC_CRYPT (as mailcow makes it).
dc_crypt_keys() {
	mkdir -p "$DC_CRYPT" &&
		openssl ecparam -name prime256v1 -genkey 2>/dev/null |
		openssl pkey -out "$DC_CRYPT/ecprivkey.pem" 2>/dev/null &&
		openssl pkey -in "$DC_CRYPT/ecprivkey.pem" -pubout \
			-out "$DC_CRYPT/ecpubkey.pem" 2>/dev/null &&
		chmod 644 "$DC_CRYPT"/*.pem
}

dc_start() {
	local proto=none u
	DC_CRYPT_USERS=
	while :; do
		case "${1:-}" in
		--imap) proto=imap ;;
		--crypt) DC_CRYPT_USERS="$DC_CRYPT_USERS $2"; shift ;;
		*) break ;;
		esac
		shift
	done
	dc__vmail_user || dc__missing "cannot create the user vmail"
	DC_DIR=${DC_DIR:-$SCRATCH/dovecot}
	DC_VMAIL=${DC_VMAIL:-$SCRATCH/vmail}
	DC_CRYPT=${DC_CRYPT:-$SCRATCH/crypt}
	if test -n "$DC_CRYPT_USERS" && ! test -e "$DC_CRYPT/ecprivkey.pem"; then
		dc_crypt_keys || return 1
	fi
	DC_CONF=$DC_DIR/dovecot.conf
	DC_LOG=$DC_DIR/dovecot.log
	# the dovecot and vmail users must reach the config and the mail tree
	chmod o+x "$SCRATCH"
	mkdir -p "$DC_DIR/run" "$DC_DIR/state" "$DC_VMAIL" || return 1
	chmod 755 "$DC_DIR"
	chown vmail:vmail "$DC_VMAIL"
	: >"$DC_DIR/users"
	for u in $DC_CRYPT_USERS "$@"; do
		case " $DC_CRYPT_USERS " in
		*" $u "*) printf '%s:{PLAIN}pw::::::userdb_mail_crypt_save_version=2\n' "$u" ;;
		*) printf '%s:{PLAIN}pw::::::\n' "$u" ;;
		esac >>"$DC_DIR/users"
	done
	# shellcheck disable=SC2086 # a list of addresses
	set -- $DC_CRYPT_USERS "$@"
	chmod 644 "$DC_DIR/users"
	: >"$DC_LOG"
	dc__config "$proto" >"$DC_CONF"
	dc__hook_exit
	"$DOVECOT" -c "$DC_CONF" || {
		dc__say "dovecot did not start:"
		cat "$DC_LOG" >&2
		return 1
	}
	for _ in $(seq 1 100); do
		if test -s "$DC_DIR/run/master.pid" &&
			test -S "$DC_DIR/run/auth-userdb"; then
			DC_PID=$(cat "$DC_DIR/run/master.pid")
			break
		fi
		sleep 0.05
	done
	test -n "$DC_PID" || {
		dc__say "dovecot did not come up:"
		cat "$DC_LOG" >&2
		return 1
	}
	# each mailbox exists (INBOX) once dovecot has opened it
	for u in "$@"; do
		dc_doveadm mailbox status -u "$u" messages INBOX >/dev/null ||
			return 1
	done
}

dc_stop() {
	test -n "${DC_PID:-}" || return 0
	kill -TERM "$DC_PID" 2>/dev/null
	for _ in $(seq 1 200); do
		kill -0 "$DC_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$DC_PID" 2>/dev/null && kill -KILL "$DC_PID" 2>/dev/null
	DC_PID=
	return 0
}

# doveadm's stderr is kept too: it reports repairs there, not in the log
dc_doveadm() {
	local rc=0
	"$DOVEADM" -c "$DC_CONF" "$@" 2>"$DC_DIR/doveadm.last" || rc=$?
	cat "$DC_DIR/doveadm.last" >&2
	cat "$DC_DIR/doveadm.last" >>"$DC_DIR/doveadm.err"
	return $rc
}

dc_mkfolder() {
	local u=$1 f
	shift
	for f in "$@"; do
		dc_doveadm mailbox create -s -u "$u" "$f" || return 1
	done
}

dc__message() {
	printf 'From: sender@example.org\nTo: %s\nSubject: %s\n' "$1" "$3"
	printf 'Date: Mon, 30 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@mbtest>\n' "$2"
	printf '\nbody of %s\n' "$2"
}

dc_deliver() {
	dc__message "$1" "$3" "${4:-message $3}" |
		dc_doveadm save -u "$1" -m "$2"
}

dc_lmtp() {
	dc__message "$1" "$2" "message $2" |
		python3 -c '
import smtplib, sys
c = smtplib.LMTP(sys.argv[1])
c.sendmail("sender@example.org", [sys.argv[2]], sys.stdin.buffer.read())
c.quit()' "$DC_DIR/run/lmtp" "$1"
}

dc_flags() {
	local u=$1 f=$2 op=$3 flags=$4
	shift 4
	dc_doveadm flags "$op" -u "$u" "$flags" mailbox "$f" "$@"
}

# FOLDER UID MESSAGE-ID FLAGS, by folder then UID.
dc_state() {
	local u=$1 f all
	shift
	if test $# = 0; then
		mapfile -t all < <(dc_doveadm mailbox list -u "$u" | LC_ALL=C sort)
		set -- "${all[@]}"
	fi
	for f in "$@"; do
		dc_doveadm fetch -u "$u" 'uid hdr.message-id flags' \
			mailbox "$f" ALL |
			awk -v f="$f" '
			/^uid: / { uid = $2 }
			/^hdr.message-id: / { mid = $2 }
			/^flags:/ {
				n = split(substr($0, 8), a, " "); s = ""
				for (i = 1; i <= n; i++)
					if (a[i] != "\\Recent") s = s " " a[i]
				flags = s
				print f, uid, mid, flags
			}' | LC_ALL=C sort -k1,1 -k2,2n |
			awk '{ n = split($0, w, " "); out = w[1] " " w[2] " " w[3];
				m = 0; delete fl
				for (i = 4; i <= n; i++) fl[++m] = w[i]
				for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
					if (fl[j] < fl[i]) { t = fl[i]; fl[i] = fl[j]; fl[j] = t }
				for (i = 1; i <= m; i++) out = out " " fl[i]
				print out }'
	done
}

dc_status() {
	dc_doveadm -f flow mailbox status -u "$1" "$3" "$2"
}

dc_subscribed() {
	dc_doveadm mailbox list -s -u "$1" | LC_ALL=C sort
}

dc_log_clean() {
	touch "$DC_DIR/doveadm.err"
	if grep -E 'Fixed a duplicate|reappeared|orrupted|Error:|Panic:|Fatal:' \
		"$DC_LOG" "$DC_DIR/doveadm.err" >&2; then
		return 1
	fi
	return 0
}
