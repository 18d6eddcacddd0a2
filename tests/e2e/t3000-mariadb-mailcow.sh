#!/bin/bash
# SPDX-License-Identifier: MIT
# t3000-mariadb-mailcow: a mailcow-shaped database with hostile values (quotes,
# backslashes, NUL bytes, emoji, NULLs, 16 MiB BLOBs) is backed up from a
# real mariadbd, loaded into another database and compared table by table;
# the .sql files load with the plain client; unchanged tables dedup; a load
# that does not match the snapshot is exit 4.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-mariadb.sh"

# A server whose own time zone is not UTC: TIMESTAMPs must still be dumped
# and loaded in UTC.
mdb_start --default-time-zone=+05:30

DATA=$MB_E2E_DIR/data

# Everything of a database that must come back: rows and checksums of the
# tables, and the definitions of views, routines, triggers and events.
db_state() {
	mdb_checksums "$1" &&
	mdb_root -N -B -e "
		SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS
			WHERE TABLE_SCHEMA = '$1' ORDER BY TABLE_NAME;
		SELECT ROUTINE_TYPE, ROUTINE_NAME, ROUTINE_DEFINITION
			FROM information_schema.ROUTINES
			WHERE ROUTINE_SCHEMA = '$1' ORDER BY ROUTINE_NAME;
		SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS
			WHERE TRIGGER_SCHEMA = '$1' ORDER BY TRIGGER_NAME;
		SELECT EVENT_NAME, EVENT_DEFINITION, INTERVAL_VALUE, STATUS
			FROM information_schema.EVENTS
			WHERE EVENT_SCHEMA = '$1' ORDER BY EVENT_NAME;" |
	sed "s/\`$1\`\./\`DB\`./g"
}

test_expect_success 'a mailcow-shaped database with hostile values' '
	mdb_root -e "CREATE DATABASE mailcow" &&
	mdb_root mailcow <"$DATA/mailcow-schema.sql" &&
	mdb_root mailcow <"$DATA/mailcow-hostile.sql" &&
	mdb_root -N -B -e "SELECT LENGTH(c_blob) FROM mailcow.sogo_store
		WHERE c_folder_id = 3 ORDER BY c_name" >sizes &&
	printf "16777216\n16777215\n" >expect &&
	test_cmp expect sizes &&
	db_state mailcow >state.orig &&
	test_grep "^sogo_store 6 " state.orig &&
	test_grep "^a_alias_domains" state.orig
'

test_expect_success 'keys, config and repository' '
	mb_setup_keys &&
	mb_write_config "$(mdb_source_config maildb mailcow)" &&
	mb init
'

test_expect_success 'backup dumps one entry per table plus the schema' '
	mb backup --json >b1.json &&
	test "$(mb_json_get warnings b1.json)" = 0 &&
	mb ls latest >ls.out &&
	for f in _schema.sql _triggers.sql domain.sql mailbox.sql alias.sql \
		alias_domain.sql quota2.sql sieve_filters.sql app_passwd.sql \
		tfa.sql sogo_store.sql sender_acl.sql legacy_notes.sql; do
		test_grep "mailcow/$f" ls.out || return 1
	done &&
	test_grep -v "a_alias_domains.sql" ls.out
'

test_expect_success 'the password is in no log, output or manifest' '
	mb -v backup >out 2>err &&
	! grep -a -F "$MDB_PASSWORD" out err &&
	for m in repo/snapshots/*; do
		mb_manifest_decrypt gnupg "$m" >manifest &&
		! grep -a -F "$MDB_PASSWORD" manifest || return 1
	done &&
	test_grep "server_version" manifest &&
	test_grep "sogo_store" manifest
'

test_expect_success 'restore --load into another database: every table the same' '
	mb restore latest --source maildb --target r1 --load \
		--db-prefix restored_ 2>err &&
	db_state restored_mailcow >state.restored &&
	test_cmp state.orig state.restored
'

test_expect_success 'the restored database works: views on views, function, trigger' '
	mdb_root -N -B -e "SELECT address, domain FROM restored_mailcow.a_alias_domains
		ORDER BY address" >views &&
	test_grep "example.org" views &&
	mdb_root -N -B -e "SELECT restored_mailcow.addr_domain(\"a@b.c\")" >fn &&
	echo b.c >expect && test_cmp expect fn &&
	mdb_root restored_mailcow -e "INSERT INTO mailbox (username, password,
		local_part, domain) VALUES (\"new@example.org\", \"x\", \"new\",
		\"example.org\")" &&
	mdb_root -N -B -e "SELECT COUNT(*) FROM restored_mailcow.quota2
		WHERE username = \"new@example.org\"" >trig &&
	echo 1 >expect && test_cmp expect trig
'

test_expect_success 'a database that exists with tables is refused' '
	test_must_fail mb restore latest --source maildb --target r2 --load \
		--db-prefix restored_ 2>err &&
	test_grep "restored_mailcow.*exists" err &&
	test_grep "overwrite" err
'

test_expect_success '--overwrite replaces it' '
	mb restore latest --source maildb --target r3 --load \
		--db-prefix restored_ --overwrite &&
	db_state restored_mailcow >state.restored &&
	test_cmp state.orig state.restored
'

test_expect_success 'restore --target writes .sql files that the plain client loads' '
	mb restore latest --source maildb --target files &&
	test -f files/maildb/mailcow/_schema.sql &&
	test -f files/maildb/mailcow/sogo_store.sql &&
	mdb_root -e "CREATE DATABASE plain" &&
	(cd files/maildb/mailcow &&
	 cat _schema.sql $(ls | grep -v "^_") _triggers.sql) |
		mdb_client plain &&
	db_state plain >state.plain &&
	test_cmp state.orig state.plain
'

test_expect_success 'TIMESTAMP values are written in UTC' '
	test_grep "'\''2024-03-31 01:30:00'\'','\''2024-03-31 02:30:00.123456'\''" \
		files/maildb/mailcow/quarantine.sql &&
	test_grep "^SET time_zone = '\''+00:00'\'';" files/maildb/mailcow/quarantine.sql
'

test_expect_success 'no statement is longer than 1 MiB, 16 MiB values included' '
	awk "length(\$0) > 1048576 { print FILENAME \": \" length(\$0); bad = 1 }
		END { exit bad }" files/maildb/mailcow/*.sql &&
	test_grep "^SET @mb_c4 = CONCAT(@mb_c4, X" files/maildb/mailcow/sogo_store.sql
'

test_expect_success 'unchanged tables dedup; a changed table is one new file' '
	mb backup --json >b3.json &&
	test "$(mb_json_get files_new b3.json)" = 0 &&
	test "$(mb_json_get bytes_new b3.json)" = 0 &&
	mdb_root mailcow -e "UPDATE quota2 SET bytes = bytes + 1
		WHERE username = \"alice@example.org\"" &&
	mb backup --json >b4.json &&
	test "$(mb_json_get files_new b4.json)" = 1 &&
	test "$(mb_json_get bytes_new b4.json)" -lt 1000
'

test_expect_success 'a load that differs from the snapshot is exit 4, naming the table' '
	mdb_root -e "SET GLOBAL max_allowed_packet = 4194304" &&
	test_must_fail --exit 4 mb restore latest --source maildb --target r4 \
		--load --db-prefix small_ 2>err;
	rc=$?
	mdb_root -e "SET GLOBAL max_allowed_packet = 16777216" &&
	test $rc = 0 &&
	test_grep "mailcow.sogo_store" err &&
	test_grep "max_allowed_packet" err
'

test_expect_success 'the password may come from the environment or a file' '
	mb_write_config "$(mdb_source_config maildb mailcow | grep -v password)" &&
	MAILBACKUP_DB_PASSWORD=$MDB_PASSWORD mb backup &&
	printf "%s\n" "$MDB_PASSWORD" >pw &&
	chmod 600 pw &&
	mb_write_config "$(mdb_source_config maildb mailcow | grep -v password)" \
		"password_file = $SCRATCH/pw" &&
	mb backup
'

test_expect_success 'a password file or config open to others is refused' '
	chmod 644 pw &&
	test_must_fail --exit 2 mb backup 2>err &&
	test_grep "chmod 600" err &&
	mb_write_config "$(mdb_source_config maildb mailcow)" &&
	chmod 644 "$CONF" &&
	test_must_fail --exit 2 mb backup 2>err &&
	test_grep "chmod 600" err &&
	! grep -a -F "$MDB_PASSWORD" err &&
	chmod 600 "$CONF"
'

test_expect_success 'a wrong password fails clearly, without the password' '
	mb_write_config "$(mdb_source_config maildb mailcow |
		sed "s/^password = .*/password = wrong-Secret-42/")" &&
	ls repo/snapshots >before &&
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "cannot connect" err &&
	test_grep "Access denied" err &&
	! grep -a -F "wrong-Secret-42" err &&
	ls repo/snapshots >after &&
	test_cmp before after
'

test_expect_success 'a database that is not there is named' '
	mb_write_config "$(mdb_source_config maildb "mailcow nosuchdb")" &&
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "nosuchdb" err
'

test_expect_success 'a user with the documented grants dumps what root dumps' '
	mdb_root -e "CREATE USER '\''ro'\''@'\''127.0.0.1'\'' IDENTIFIED BY '\''ro-Pw-1'\'';
		GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON mailcow.* TO '\''ro'\''@'\''127.0.0.1'\'';
		GRANT SELECT ON mysql.proc TO '\''ro'\''@'\''127.0.0.1'\''" &&
	mb_write_config "$(mdb_source_config maildb mailcow)" &&
	mb backup --json >root.json &&
	mb_write_config "$(mdb_source_config maildb mailcow |
		sed -e "s/^user = .*/user = ro/" -e "s/^password = .*/password = ro-Pw-1/")" &&
	mb backup --json >ro.json 2>err &&
	test_grep -v "mysql.proc" err &&
	mb restore "$(mb_json_get id root.json)" --source maildb --target d.root &&
	mb restore "$(mb_json_get id ro.json)" --source maildb --target d.ro &&
	diff -r d.root d.ro
'

test_expect_success 'a view whose table is gone is left out: a warning, exit 3' '
	mb_write_config "$(mdb_source_config maildb mailcow)" &&
	mdb_root mailcow -e "CREATE TABLE gone (a INT);
		CREATE VIEW v_gone AS SELECT a FROM gone; DROP TABLE gone" &&
	test_must_fail --exit 3 mb backup 2>err &&
	test_grep "v_gone" err &&
	mb restore latest --source maildb --target r5 --load --db-prefix v_ &&
	mdb_root -N -B -e "SELECT COUNT(*) FROM information_schema.VIEWS
		WHERE TABLE_SCHEMA = '\''v_mailcow'\''" >n &&
	echo 3 >expect &&
	test_cmp expect n
'

test_done
