-- SPDX-License-Identifier: MIT
-- bank.sql: two account tables and a ledger for the consistency test.
-- CALL bank_fill(N) opens N accounts of 1000 in each table; CALL
-- bank_move(K) makes up to K transfers (until a row is put in bank_stop),
-- each one transaction that moves money between a row of accounts_a and a
-- row of accounts_b and records it in the ledger. In any consistent
-- snapshot:
--   SUM(a) + SUM(b) = 2000 * N   and   SUM(a) = 1000 * N + SUM(ledger.to_a)

CREATE TABLE accounts_a (
  id INT NOT NULL PRIMARY KEY,
  balance BIGINT NOT NULL,
  note VARCHAR(100) NOT NULL DEFAULT ''
) ENGINE=InnoDB;
CREATE TABLE accounts_b LIKE accounts_a;
CREATE TABLE ledger (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  a INT NOT NULL,
  b INT NOT NULL,
  to_a BIGINT NOT NULL
) ENGINE=InnoDB;
CREATE TABLE bank_stop (stop INT) ENGINE=InnoDB;

DELIMITER ;;
CREATE PROCEDURE bank_fill(n INT)
BEGIN
  SET @q = CONCAT('INSERT INTO accounts_a SELECT seq, 1000, REPEAT(''a'', 60) ',
                  'FROM seq_0_to_', n - 1);
  PREPARE s FROM @q;
  EXECUTE s;
  DEALLOCATE PREPARE s;
  INSERT INTO accounts_b SELECT id, balance, REPEAT('b', 60) FROM accounts_a;
END;;
CREATE PROCEDURE bank_move(k INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  DECLARE n, x, y, amt INT;
  SELECT COUNT(*) INTO n FROM accounts_a;
  WHILE i < k AND NOT EXISTS (SELECT 1 FROM bank_stop) DO
    SET x = FLOOR(RAND() * n), y = FLOOR(RAND() * n),
        amt = FLOOR(RAND() * 201) - 100;
    START TRANSACTION;
    UPDATE accounts_a SET balance = balance + amt WHERE id = x;
    UPDATE accounts_b SET balance = balance - amt WHERE id = y;
    INSERT INTO ledger (a, b, to_a) VALUES (x, y, amt);
    COMMIT;
    SET i = i + 1;
  END WHILE;
END;;
DELIMITER ;
