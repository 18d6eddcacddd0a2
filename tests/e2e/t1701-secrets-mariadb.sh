#!/bin/bash
# SPDX-License-Identifier: MIT
# t1701-secrets-mariadb: MAILBACKUP_DB_PASSWORD is used to dump a real
# database after it left our environment, and restore-test starts its
# scratch database (mariadb-install-db, then mariadbd) without it.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-mariadb.sh"

DBSECRET=$MDB_PASSWORD

test_expect_success 'setup: a server, a database, a config without password' '
	mdb_start &&
	mb_setup_keys &&
	mdb_root -e "CREATE DATABASE mail; CREATE TABLE mail.t (id INT PRIMARY KEY, v TEXT); INSERT INTO mail.t VALUES (1, \"one\"), (2, \"two\");" &&
	mb_write_config "scratch_db = local" "scratch_dir = $SCRATCH" \
		"$(mdb_source_config db mail | grep -v "^password")" &&
	mb init
'

test_expect_success 'the password comes from the environment and still works' '
	MAILBACKUP_DB_PASSWORD=$DBSECRET mb backup &&
	mb ls latest >ls &&
	test_grep "^db/mail/t.sql$" ls
'

# restore-test runs mariadb-install-db through PATH: a stand-in records
# its environment, then runs the real one
test_expect_success 'the scratch database gets no secret' '
	mkdir fakebin &&
	real=$(command -v mariadb-install-db) &&
	printf "#!/bin/sh\nenv >%s/installdb.env\nexec %s \"\$@\"\n" \
		"$SCRATCH" "$real" >fakebin/mariadb-install-db &&
	chmod 755 fakebin/mariadb-install-db &&
	PATH=$SCRATCH/fakebin:$PATH MAILBACKUP_DB_PASSWORD=$DBSECRET \
	MAILBACKUP_S3_SECRET_ACCESS_KEY=s3secret-0a0b \
		mb restore-test --json >rt.json &&
	test -s installdb.env &&
	test_grep "^PATH=$SCRATCH/fakebin:" installdb.env &&
	test_grep -v -e "$DBSECRET" -e s3secret-0a0b -e "^MAILBACKUP_" installdb.env
'

test_done
