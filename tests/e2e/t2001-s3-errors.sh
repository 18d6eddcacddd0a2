#!/bin/bash
# SPDX-License-Identifier: MIT
# t2001-s3-errors: a wrong secret, an unknown key, a missing bucket and an
# unreachable endpoint each give one line that says what to fix, and exit 1;
# the secret never shows.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-s3.sh"

s3_start

# one line on stderr, exit 1, matching a pattern
expect_one_line_error() {
	local pat=$1
	shift
	test_must_fail --exit 1 "$@" 2>err &&
	test "$(wc -l <err)" = 1 &&
	test_grep -e "$pat" err
}

test_expect_success 'setup: a repository in the bucket' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 40 --users 2 --domains 1 &&
	s3_env &&
	s3_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup
'

for cmd in snapshots backup check; do
	test_expect_success "a wrong secret: $cmd says to fix secret_access_key" '
		MAILBACKUP_S3_SECRET_ACCESS_KEY=not-the-secret-x7 \
			expect_one_line_error "secret_access_key" mb '"$cmd"' &&
		test_grep -v "not-the-secret-x7" err
	'
done

test_expect_success 'an unknown key id says to fix access_key_id' '
	MAILBACKUP_S3_ACCESS_KEY_ID=NOSUCHKEY \
		expect_one_line_error "access_key_id" mb snapshots &&
	test_grep "NOSUCHKEY" err
'

test_expect_success 'a missing bucket says to create it or fix url' '
	cp "$CONF" conf.good &&
	sed "s#^url = s3://$S3_BUCKET/#url = s3://no-such-bucket/#" conf.good >"$CONF" &&
	expect_one_line_error "bucket .no-such-bucket. not found.*create it or fix \[repository\] url" mb snapshots &&
	expect_one_line_error "no-such-bucket" mb init &&
	cp conf.good "$CONF"
'

test_expect_success 'an unreachable endpoint says to check it' '
	port=$((S3_PORT + 7)) &&
	s3_write_config -e "http://127.0.0.1:$port" &&
	SECONDS=0 &&
	expect_one_line_error "cannot connect to s3 endpoint .http://127.0.0.1:$port.*check \[repository\] endpoint" mb snapshots &&
	test $SECONDS -lt 30 &&
	cp conf.good "$CONF"
'

test_expect_success 'a host that does not resolve says to check the endpoint' '
	s3_write_config -e "http://no-such-host.invalid:$S3_PORT" &&
	expect_one_line_error "cannot resolve the host.*check \[repository\] endpoint" mb snapshots &&
	cp conf.good "$CONF"
'

test_expect_success 'no credentials at all is a configuration error (exit 2)' '
	(
		unset MAILBACKUP_S3_ACCESS_KEY_ID MAILBACKUP_S3_SECRET_ACCESS_KEY &&
		test_must_fail --exit 2 mb snapshots 2>err
	) &&
	test_grep "MAILBACKUP_S3_SECRET_ACCESS_KEY" err
'

test_expect_success 'a bad endpoint, region or bucket name is a configuration error' '
	s3_write_config -e "ftp://127.0.0.1:$S3_PORT" &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "endpoint" err &&
	s3_write_config -p "a/../b" &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "prefix" err &&
	sed "s#^url = s3://$S3_BUCKET/#url = s3://x/#" conf.good >"$CONF" &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "bucket name" err &&
	s3_write_config -r "s3_timeout = 0" &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "s3_timeout" err &&
	cp conf.good "$CONF"
'

test_expect_success 'the secret shows nowhere, not even with -v' '
	(
		export MAILBACKUP_S3_SECRET_ACCESS_KEY=$S3_SECRET-wrong-Zq9 &&
		test_must_fail mb -v snapshots >out 2>err
	) &&
	test_grep -v "wrong-Zq9" out &&
	test_grep -v "wrong-Zq9" err &&
	s3_write_config -r "access_key_id = $S3_KEY" \
		-r "secret_access_key = $S3_SECRET" &&
	(
		unset MAILBACKUP_S3_ACCESS_KEY_ID MAILBACKUP_S3_SECRET_ACCESS_KEY &&
		mb -v snapshots >out 2>err &&
		mb -v check >>out 2>>err
	) &&
	test_grep -v "$S3_SECRET" out &&
	test_grep -v "$S3_SECRET" err &&
	cp conf.good "$CONF"
'

test_expect_success 'the repository is untouched by all this' '
	mb check --read-data
'

test_done
