#!/bin/bash
# SPDX-License-Identifier: MIT
# t3001-mariadb-consistency: backups taken while a writer moves money between
# rows of two tables (and logs each move) restore to databases whose totals
# hold; non-transactional tables are named in a warning, or read under a
# read lock with lock_nontransactional = yes; exclude_tables keeps only the
# definition.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-mariadb.sh"

mdb_start

N=200000

ledger_rows() {
	mdb_root -N -B -e "SELECT COUNT(*) FROM bank.ledger"
}

# The invariants of a database made by bank.sql.
check_bank() {
	mdb_root -N -B -e "
		SELECT (SELECT SUM(balance) FROM $1.accounts_a) +
		       (SELECT SUM(balance) FROM $1.accounts_b),
		       (SELECT SUM(balance) FROM $1.accounts_a) - 1000 * $N -
		       (SELECT IFNULL(SUM(to_a), 0) FROM $1.ledger),
		       (SELECT COUNT(*) FROM $1.ledger)" >"$1.inv" &&
	read -r total drift moves <"$1.inv" &&
	echo "$1: total $total, drift $drift, $moves moves" &&
	test "$total" = $((2000 * N)) &&
	test "$drift" = 0
}

test_expect_success 'a bank of two tables and a ledger' '
	mdb_root -e "CREATE DATABASE bank" &&
	mdb_root bank <"$MB_E2E_DIR/data/bank.sql" &&
	mdb_root bank -e "CALL bank_fill($N)" &&
	check_bank bank
'

test_expect_success 'keys, config and repository' '
	mb_setup_keys &&
	mb_write_config "$(mdb_source_config bankdb bank)" &&
	mb init
'

test_expect_success 'three backups while money moves' '
	mdb_root bank -e "CALL bank_move(1000000000)" >mover.log 2>&1 &
	mover=$! &&
	for i in $(seq 1 100); do
		test "$(ledger_rows)" -gt 100 && break
		sleep 0.1
	done &&
	for k in 1 2 3; do
		before=$(ledger_rows) &&
		mb backup --json >b$k.json &&
		after=$(ledger_rows) &&
		echo "backup $k: ledger $before -> $after" &&
		test "$after" -gt "$before" || break
	done
	rc=$?
	mdb_root bank -e "INSERT INTO bank_stop VALUES (1)"
	wait $mover
	test $rc = 0 &&
	check_bank bank
'

test_expect_success 'each snapshot loads, matching its checksums and row counts' '
	for k in 1 2 3; do
		id=$(mb_json_get id b$k.json) &&
		mb restore "$id" --source bankdb --target r$k --load \
			--db-prefix s${k}_ || return 1
	done
'

test_expect_success 'and in each the totals hold' '
	check_bank s1_bank &&
	check_bank s2_bank &&
	check_bank s3_bank &&
	test "$(cat s1_bank.inv)" != "$(cat s3_bank.inv)"
'

test_expect_success 'a MyISAM table written together with an InnoDB one' '
	mdb_root -e "CREATE DATABASE nontx;
		CREATE TABLE nontx.hits_m (id INT PRIMARY KEY, n BIGINT NOT NULL)
			ENGINE=MyISAM;
		CREATE TABLE nontx.hits_i (id INT PRIMARY KEY, n BIGINT NOT NULL)
			ENGINE=InnoDB;
		INSERT INTO nontx.hits_m VALUES (1, 0);
		INSERT INTO nontx.hits_i VALUES (1, 0)" &&
	mb_write_config "$(mdb_source_config shop nontx)"
'

test_expect_success 'without lock_nontransactional it is named in a warning' '
	mb backup 2>err &&
	test_grep "nontx.hits_m.*MyISAM" err &&
	test_grep "lock_nontransactional" err &&
	test_grep -v "hits_i" err
'

# A writer that counts up in the MyISAM table, then in the InnoDB one: at
# any one moment hits_m is hits_i or one more. Without a lock the dump reads
# them at different moments. (Not LOCK TABLES around both: a writer that
# locks tables the dump has read and tables it has not read yet deadlocks
# with any single-transaction dump.)
start_writer() {
	(
		while :; do
			echo "UPDATE hits_m SET n = n + 1; UPDATE hits_i SET n = n + 1;"
		done | mdb_root nontx
	) >writer.log 2>&1 &
	writer=$!
}

test_expect_success 'with lock_nontransactional = yes both are read at one moment' '
	mb_write_config "$(mdb_source_config shop nontx)" \
		"lock_nontransactional = yes" &&
	start_writer &&
	sleep 0.5 &&
	mb backup --json >n1.json 2>err1 &&
	sleep 0.3 &&
	mb backup --json >n2.json 2>err2
	rc=$?
	kill $writer
	wait $writer
	test $rc = 0 &&
	test_grep -v "not transactional" err1 &&
	for k in 1 2; do
		mb restore "$(mb_json_get id n$k.json)" --source shop \
			--target rn$k --load --db-prefix n${k}_ &&
		mdb_root -N -B -e "SELECT (SELECT n FROM n${k}_nontx.hits_m),
			(SELECT n FROM n${k}_nontx.hits_i)" >hits$k &&
		read -r m i <hits$k &&
		echo "snapshot $k: hits_m $m, hits_i $i" &&
		test "$i" -gt 0 && test $((m - i)) -ge 0 && test $((m - i)) -le 1 ||
		return 1
	done
'

test_expect_success 'exclude_tables keeps the definition, not the rows' '
	mb_write_config "$(mdb_source_config bankdb bank)" \
		"exclude_tables = bank.led*" &&
	mb backup --json >x.json &&
	mb ls latest >ls.out &&
	test_grep "bank/accounts_a.sql" ls.out &&
	test_grep -v "ledger.sql" ls.out &&
	mb restore latest --source bankdb --target rx --load --db-prefix x_ &&
	mdb_root -N -B -e "SELECT COUNT(*) FROM x_bank.ledger" >n &&
	echo 0 >expect &&
	test_cmp expect n
'

test_done
