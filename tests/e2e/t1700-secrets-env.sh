#!/bin/bash
# SPDX-License-Identifier: MIT
# t1700-secrets-env: MAILBACKUP_* secrets never reach a child: a command
# source that dumps its environment into the snapshot, a hook that dumps
# its environment, the gpg-agent that gpg starts for us, and the scratch
# database of restore-test (t1701) get an allow-listed environment.
. "$(dirname "$0")/lib-test.sh"

S3SECRET=s3secret-4f1c9a
DBSECRET=dbsecret-77ab02

# a run with every kind of secret, and some harmless noise, in its env
with_secrets() {
	MAILBACKUP_S3_SECRET_ACCESS_KEY=$S3SECRET \
	MAILBACKUP_DB_PASSWORD=$DBSECRET \
	MAILBACKUP_S3_ACCESS_KEY_ID=keyid-1234 \
	OTHER_SETTING=noise-5678 LC_MESSAGES=C "$@"
}

no_secret() {
	test_grep -v -e "$S3SECRET" -e "$DBSECRET" -e keyid-1234 \
		-e noise-5678 "$1"
}

test_expect_success 'setup' '
	mb_setup_keys &&
	mkdir files && echo hello >files/a &&
	mb_write_config "[source f]" "type = files" "path = $SCRATCH/files" \
		"[source envdump]" "type = command" "command = env" \
		"filename = env.txt" \
		"[hooks]" "pre_backup = env >$SCRATCH/hook.env" &&
	mb init
'

test_expect_success 'a command source and a hook see no secret' '
	gpgconf --homedir "$SCRATCH/gnupg" --kill gpg-agent &&
	with_secrets mb backup &&
	mb restore latest --target r1 &&
	test -s r1/envdump/env.txt &&
	no_secret r1/envdump/env.txt &&
	test_grep "^PATH=" r1/envdump/env.txt &&
	test_grep "^LC_MESSAGES=C$" r1/envdump/env.txt &&
	test -s hook.env &&
	no_secret hook.env &&
	test_grep "^MAILBACKUP_HOOK=pre_backup$" hook.env &&
	test_grep "^PATH=" hook.env
'

# the gpg-agent of our GNUPGHOME, started by the backup above
agent_pid() {
	local p
	for p in /proc/[0-9]*; do
		if tr "\0" " " <"$p/cmdline" 2>/dev/null |
			grep -q "^gpg-agent .*--homedir $SCRATCH/gnupg"; then
			echo "${p#/proc/}"
			return 0
		fi
	done
	return 1
}

test_expect_success 'the gpg-agent started by the run holds no secret' '
	pid=$(agent_pid) &&
	test -n "$pid" &&
	tr "\0" "\n" <"/proc/$pid/environ" >agent.env &&
	test_grep "^PATH=" agent.env &&
	test_grep -v -e "$S3SECRET" -e "$DBSECRET" -e keyid-1234 agent.env
'

test_done
