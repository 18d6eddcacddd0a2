#!/bin/bash
# SPDX-License-Identifier: MIT
# t2005-s3-tls: HTTPS to the S3 server: a certificate from an unknown CA is
# refused with a message naming ca_file; with ca_file everything works, and
# ca_file wins over the CA variables of the environment.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-s3.sh"

command -v openssl >/dev/null 2>&1 || test_skip_all "openssl not found"

s3_start --https

test_expect_success 'setup: keys and a tree' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 60 --users 2 --domains 1 &&
	s3_env
'

test_expect_success 'a server certificate of an unknown CA is refused' '
	s3_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	test_must_fail --exit 1 mb init 2>err &&
	test "$(wc -l <err)" = 1 &&
	test_grep "TLS certificate of s3 endpoint .$S3_ENDPOINT.*ca_file" err
'

test_expect_success 'with ca_file: init, backup, restore, check' '
	s3_write_config -r "ca_file = $S3_CA" "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb init &&
	mb backup &&
	mb restore latest --target "$SCRATCH/r1" &&
	mb_compare_trees tree/vmail r1/vmail &&
	mb check --read-data
'

test_expect_success 'ca_file wins over CURL_CA_BUNDLE, SSL_CERT_FILE, AWS_CA_BUNDLE' '
	printf "not a certificate\n" >bogus.pem &&
	CURL_CA_BUNDLE=$SCRATCH/bogus.pem SSL_CERT_FILE=$SCRATCH/bogus.pem \
	AWS_CA_BUNDLE=$SCRATCH/bogus.pem SSL_CERT_DIR=$SCRATCH \
		mb snapshots >list &&
	test "$(wc -l <list)" = 1
'

test_expect_success 'a ca_file without the server'\''s CA fails' '
	s3_write_config -r "ca_file = /etc/ssl/certs/ca-certificates.crt" &&
	test_must_fail --exit 1 mb snapshots 2>err &&
	test_grep "ca_file" err
'

test_expect_success 'an unreadable ca_file is a configuration error' '
	s3_write_config -r "ca_file = $SCRATCH/no-such.pem" &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "no-such.pem" err
'

test_done
