#!/bin/bash
# SPDX-License-Identifier: MIT
# t3002-mariadb-failures: a connection killed, or the server killed, in the
# middle of a table fails the backup with a clear error and commits no
# snapshot; a server that is down is named; a socket connection works; the
# good snapshot still loads afterwards.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-mariadb.sh"

mdb_start

N=400000

test_expect_success 'a database with two big tables' '
	mdb_root -e "CREATE DATABASE bank" &&
	mdb_root bank <"$MB_E2E_DIR/data/bank.sql" &&
	mdb_root bank -e "CALL bank_fill($N)" &&
	mdb_checksums bank >sums.orig
'

test_expect_success 'a first backup' '
	mb_setup_keys &&
	mb_write_config "$(mdb_source_config bankdb bank)" &&
	mb init &&
	mb backup &&
	ls repo/snapshots >snaps.1 &&
	test "$(wc -l <snaps.1)" = 1
'

test_expect_success 'a connection killed in the middle of a table fails the backup' '
	{ mb backup >out 2>err; echo $? >rc; } &
	bk=$! &&
	id=$(mdb_wait_query "SELECT %accounts_b%") &&
	mdb_root -e "KILL CONNECTION $id" &&
	wait $bk &&
	test "$(cat rc)" = 1 &&
	test_grep "bank.accounts_b" err &&
	test_grep "Lost connection\\|killed" err &&
	ls repo/snapshots >snaps.2 &&
	test_cmp snaps.1 snaps.2
'

test_expect_success 'a server killed in the middle of a table fails the backup' '
	{ mb backup >out 2>err; echo $? >rc; } &
	bk=$! &&
	mdb_wait_query "SELECT %accounts_a%" &&
	mdb_kill &&
	wait $bk &&
	test "$(cat rc)" = 1 &&
	test_grep "bank.accounts_a" err &&
	test_grep "Lost connection\\|server has gone away" err &&
	ls repo/snapshots >snaps.3 &&
	test_cmp snaps.1 snaps.3
'

test_expect_success 'a server that is down is named' '
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "cannot connect to the database server at 127.0.0.1:$MDB_PORT" err &&
	ls repo/snapshots >snaps.4 &&
	test_cmp snaps.1 snaps.4
'

test_expect_success 'after a restart the backup works again' '
	mdb_restart &&
	mb backup &&
	ls repo/snapshots >snaps.5 &&
	test "$(wc -l <snaps.5)" = 2
'

test_expect_success 'over the Unix socket too' '
	mb_write_config "[source bankdb]" "type = mariadb" \
		"socket = $MDB_SOCKET" "user = $MDB_USER" \
		"password = $MDB_PASSWORD" "databases = bank" &&
	mb backup --json >s.json &&
	test "$(mb_json_get files_new s.json)" = 0
'

test_expect_success 'the first snapshot loads and matches' '
	first=$(head -n 1 snaps.1 | sed "s/.*-//") &&
	mb restore "$first" --source bankdb --target r --load --db-prefix r_ &&
	mdb_checksums r_bank >sums.r &&
	test_cmp sums.orig sums.r
'

test_done
