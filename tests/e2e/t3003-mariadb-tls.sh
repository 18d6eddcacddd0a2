#!/bin/bash
# SPDX-License-Identifier: MIT
# t3003-mariadb-tls: the dump connection uses TLS when configured: the server
# certificate and name are verified against tls_ca, a client certificate is
# presented with tls_cert/tls_key, tls = unverified skips the check, and a
# user that requires TLS is refused a plain connection.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-mariadb.sh"

command -v openssl >/dev/null 2>&1 || test_skip_all "no openssl to make certificates"

mdb_start

# mkcert NAME CA SUBJECT-ALT-NAMES: a key and a certificate signed by CA.
mkcert() {
	openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" \
		-subj "/CN=$1" 2>/dev/null &&
	printf "subjectAltName=%s\n" "$3" >"$1.ext" &&
	openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
		-CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
}

mkca() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" \
		-days 2 -subj "/CN=$1" 2>/dev/null
}

tls_config() {
	mb_write_config "$(mdb_source_config db shop | sed "s/^user = .*/user = ${USER_NAME:-$MDB_USER}/")" "$@"
}

test_expect_success 'certificates, a server with TLS, users that require it' '
	mkca ca && mkca otherca &&
	mkcert server ca "IP:127.0.0.1,DNS:localhost" &&
	mkcert wrongname ca "DNS:db.example.org" &&
	mkcert client ca "DNS:client" &&
	chmod 644 *.key &&
	mdb_restart --ssl-ca="$SCRATCH/ca.pem" --ssl-cert="$SCRATCH/server.pem" \
		--ssl-key="$SCRATCH/server.key" &&
	mdb_root -e "ALTER USER '\''$MDB_USER'\''@'\''127.0.0.1'\'' REQUIRE SSL;
		CREATE USER '\''mbx'\''@'\''127.0.0.1'\'' IDENTIFIED BY '\''$MDB_PASSWORD'\''
			REQUIRE X509;
		GRANT ALL ON *.* TO '\''mbx'\''@'\''127.0.0.1'\'';
		CREATE DATABASE shop;
		CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(20));
		INSERT INTO shop.t VALUES (1, '\''over tls'\'')" &&
	mb_setup_keys &&
	tls_config &&
	mb init
'

test_expect_success 'a plain connection is refused by the server' '
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "cannot connect" err
'

test_expect_success 'tls_ca: verified TLS works' '
	tls_config "tls_ca = $SCRATCH/ca.pem" &&
	mb backup
'

test_expect_success 'a server certificate from another CA is refused' '
	tls_config "tls_ca = $SCRATCH/otherca.pem" &&
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "cannot connect" err
'

test_expect_success 'tls = unverified takes it' '
	tls_config "tls_ca = $SCRATCH/otherca.pem" "tls = unverified" &&
	mb backup
'

test_expect_success 'a certificate for another name is refused' '
	mdb_restart --ssl-ca="$SCRATCH/ca.pem" \
		--ssl-cert="$SCRATCH/wrongname.pem" \
		--ssl-key="$SCRATCH/wrongname.key" &&
	tls_config "tls_ca = $SCRATCH/ca.pem" &&
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "cannot connect" err &&
	tls_config "tls = unverified" &&
	mb backup
'

test_expect_success 'a client certificate: tls_cert and tls_key' '
	mdb_restart --ssl-ca="$SCRATCH/ca.pem" --ssl-cert="$SCRATCH/server.pem" \
		--ssl-key="$SCRATCH/server.key" &&
	USER_NAME=mbx tls_config "tls_ca = $SCRATCH/ca.pem" &&
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "cannot connect" err &&
	USER_NAME=mbx tls_config "tls_ca = $SCRATCH/ca.pem" \
		"tls_cert = $SCRATCH/client.pem" "tls_key = $SCRATCH/client.key" &&
	mb backup
'

test_expect_success 'the snapshot taken over TLS loads over TLS' '
	mb restore latest --source db --target r --load --db-prefix r_ &&
	mdb_root -N -B -e "SELECT v FROM r_shop.t" >v &&
	echo "over tls" >expect &&
	test_cmp expect v
'

test_done
