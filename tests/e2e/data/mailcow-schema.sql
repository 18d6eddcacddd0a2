-- SPDX-License-Identifier: MIT
-- mailcow-schema.sql: a mail database shaped like mailcow's, for the mariadb tests.
-- Load into an empty database with the plain client. Besides mailcow's own
-- shapes it holds what a dump must get right: generated and invisible
-- columns, FLOAT, BIT, JSON, ENUM/SET, TIMESTAMP, binary keys, a table
-- without a primary key, foreign keys in both directions, a latin1 table,
-- views on views, a function, a trigger and an event.

SET NAMES utf8mb4;
SET time_zone = '+00:00';

CREATE TABLE domain (
  domain VARCHAR(255) NOT NULL,
  description VARCHAR(255),
  aliases INT(10) NOT NULL DEFAULT '0',
  mailboxes INT(10) NOT NULL DEFAULT '0',
  defquota BIGINT(20) NOT NULL DEFAULT '3072',
  maxquota BIGINT(20) NOT NULL DEFAULT '102400',
  quota BIGINT(20) NOT NULL DEFAULT '102400',
  relayhost VARCHAR(255) NOT NULL DEFAULT '0',
  backupmx TINYINT(1) NOT NULL DEFAULT '0',
  gal TINYINT(1) NOT NULL DEFAULT '1',
  relay_all_recipients TINYINT(1) NOT NULL DEFAULT '0',
  created DATETIME(0) NOT NULL DEFAULT NOW(0),
  modified DATETIME ON UPDATE CURRENT_TIMESTAMP,
  active TINYINT(1) NOT NULL DEFAULT '1',
  PRIMARY KEY (domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

CREATE TABLE mailbox (
  username VARCHAR(255) NOT NULL,
  password VARCHAR(255) NOT NULL,
  name VARCHAR(255),
  description VARCHAR(255),
  kind VARCHAR(100) NOT NULL DEFAULT '',
  multiple_bookings INT NOT NULL DEFAULT -1,
  quota BIGINT(20) NOT NULL DEFAULT '102400',
  local_part VARCHAR(255) NOT NULL,
  domain VARCHAR(255) NOT NULL,
  attributes JSON,
  custom_attributes JSON NOT NULL DEFAULT ('{}'),
  created DATETIME(0) NOT NULL DEFAULT NOW(0),
  modified DATETIME ON UPDATE CURRENT_TIMESTAMP,
  active TINYINT(1) NOT NULL DEFAULT '1',
  full_address VARCHAR(512) AS (CONCAT(local_part, '@', domain)) VIRTUAL,
  domain_lc VARCHAR(255) AS (LOWER(domain)) STORED,
  secret_note VARCHAR(255) INVISIBLE DEFAULT NULL,
  PRIMARY KEY (username),
  KEY domain (domain),
  KEY kind (kind),
  CONSTRAINT fk_mailbox_domain FOREIGN KEY (domain) REFERENCES domain (domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

CREATE TABLE alias (
  id INT NOT NULL AUTO_INCREMENT,
  address VARCHAR(255) NOT NULL,
  goto TEXT NOT NULL,
  domain VARCHAR(255) NOT NULL,
  created DATETIME(0) NOT NULL DEFAULT NOW(0),
  modified DATETIME ON UPDATE CURRENT_TIMESTAMP,
  private_comment TEXT,
  public_comment TEXT,
  sogo_visible TINYINT(1) NOT NULL DEFAULT '1',
  active TINYINT(1) NOT NULL DEFAULT '1',
  PRIMARY KEY (id),
  UNIQUE KEY address (address),
  KEY domain (domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

CREATE TABLE alias_domain (
  alias_domain VARCHAR(255) NOT NULL,
  target_domain VARCHAR(255) NOT NULL,
  created DATETIME(0) NOT NULL DEFAULT NOW(0),
  modified DATETIME ON UPDATE CURRENT_TIMESTAMP,
  active TINYINT(1) NOT NULL DEFAULT '1',
  PRIMARY KEY (alias_domain),
  KEY active (active),
  KEY target_domain (target_domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

CREATE TABLE quota2 (
  username VARCHAR(255) NOT NULL,
  bytes BIGINT(20) NOT NULL DEFAULT '0',
  messages BIGINT(20) NOT NULL DEFAULT '0',
  PRIMARY KEY (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

CREATE TABLE sieve_filters (
  id INT NOT NULL AUTO_INCREMENT,
  username VARCHAR(255) NOT NULL,
  script_desc VARCHAR(255) NOT NULL,
  script_name ENUM('active','inactive'),
  script_data TEXT NOT NULL,
  filter_type ENUM('postfilter','prefilter'),
  created DATETIME(0) NOT NULL DEFAULT NOW(0),
  modified DATETIME ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY username (username),
  KEY script_desc (script_desc),
  CONSTRAINT fk_username_sieve_global_before FOREIGN KEY (username)
    REFERENCES mailbox (username) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

CREATE TABLE app_passwd (
  id INT NOT NULL AUTO_INCREMENT,
  name VARCHAR(255) NOT NULL,
  mailbox VARCHAR(255) NOT NULL,
  domain VARCHAR(255) NOT NULL,
  password VARCHAR(255) NOT NULL,
  created DATETIME(0) NOT NULL DEFAULT NOW(0),
  modified DATETIME ON UPDATE CURRENT_TIMESTAMP,
  imap_access TINYINT(1) NOT NULL DEFAULT '1',
  smtp_access TINYINT(1) NOT NULL DEFAULT '1',
  dav_access TINYINT(1) NOT NULL DEFAULT '1',
  eas_access TINYINT(1) NOT NULL DEFAULT '1',
  pop3_access TINYINT(1) NOT NULL DEFAULT '1',
  sieve_access TINYINT(1) NOT NULL DEFAULT '1',
  protocols SET('imap','smtp','dav','eas','pop3','sieve') NOT NULL DEFAULT 'imap,smtp',
  active TINYINT(1) NOT NULL DEFAULT '1',
  PRIMARY KEY (id),
  KEY mailbox (mailbox),
  KEY domain (domain),
  CONSTRAINT fk_username_app_passwd FOREIGN KEY (mailbox)
    REFERENCES mailbox (username) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

CREATE TABLE tfa (
  id INT NOT NULL AUTO_INCREMENT,
  key_id VARCHAR(255) NOT NULL,
  username VARCHAR(255) NOT NULL,
  authmech ENUM('yubi_otp','u2f','hotp','totp','webauthn'),
  secret VARCHAR(255) DEFAULT NULL,
  keyHandle VARCHAR(1023) DEFAULT NULL,
  publicKey VARBINARY(4096) DEFAULT NULL,
  counter INT NOT NULL DEFAULT '0',
  certificate TEXT,
  flags BIT(8) NOT NULL DEFAULT b'00000000',
  active TINYINT(1) NOT NULL DEFAULT '0',
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

CREATE TABLE quarantine (
  id INT NOT NULL AUTO_INCREMENT,
  qid VARCHAR(30) NOT NULL,
  subject VARCHAR(500),
  score FLOAT(8,2),
  spam_ratio FLOAT,
  ip VARBINARY(16),
  action CHAR(20) NOT NULL DEFAULT 'unknown',
  symbols JSON,
  fuzzy_hashes JSON,
  sender VARCHAR(255) NOT NULL DEFAULT 'unknown',
  rcpt VARCHAR(255),
  msg LONGTEXT,
  domain VARCHAR(255),
  notified TINYINT(1) NOT NULL DEFAULT '0',
  created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  seen TIMESTAMP(6) NULL DEFAULT NULL,
  user VARCHAR(255) NOT NULL DEFAULT 'unknown',
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

-- no primary key, like mailcow's sender_acl
CREATE TABLE sender_acl (
  logged_in_as VARCHAR(255) NOT NULL,
  send_as VARCHAR(255) NOT NULL,
  external TINYINT(1) NOT NULL DEFAULT '0'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

CREATE TABLE spamalias (
  address VARCHAR(255) NOT NULL,
  goto TEXT NOT NULL,
  validity INT(11) NOT NULL,
  PRIMARY KEY (address)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

-- an old table in latin1
CREATE TABLE legacy_notes (
  id INT NOT NULL,
  note VARCHAR(255) CHARACTER SET latin1,
  data DECIMAL(30,10),
  day DATE,
  at TIME(3),
  y YEAR,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

-- SOGo's store, with a BLOB for the hostile values
CREATE TABLE sogo_store (
  c_folder_id INT NOT NULL,
  c_name VARCHAR(255) NOT NULL,
  c_content MEDIUMTEXT,
  c_blob LONGBLOB,
  c_creationdate INT NOT NULL,
  c_lastmodified INT NOT NULL,
  c_version INT NOT NULL,
  c_deleted INT DEFAULT NULL,
  PRIMARY KEY (c_folder_id, c_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

CREATE TABLE sogo_user_profile (
  c_uid VARCHAR(255) NOT NULL,
  c_defaults LONGTEXT,
  c_settings LONGTEXT,
  PRIMARY KEY (c_uid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC;

CREATE FUNCTION addr_domain(a VARCHAR(255)) RETURNS VARCHAR(255)
  DETERMINISTIC
  RETURN SUBSTRING_INDEX(a, '@', -1);

-- a view on a view, named so that it sorts before the one it uses (a
-- dump in name order must still load)
CREATE VIEW grouped_mail_aliases_base (username, aliases) AS
  SELECT goto, IFNULL(GROUP_CONCAT(address ORDER BY address SEPARATOR ' '), '')
  FROM alias WHERE address != goto AND active = '1' AND address NOT LIKE '@%'
  GROUP BY goto;
CREATE VIEW a_alias_domains (address, domain) AS
  SELECT username, addr_domain(aliases) FROM grouped_mail_aliases_base;
CREATE VIEW sieve_before (id, username, script_name, script_data) AS
  SELECT md5(script_data), username, script_name, script_data
  FROM sieve_filters WHERE filter_type = 'prefilter';

-- a trigger: fired by every restored row unless created after the data
CREATE TRIGGER mailbox_quota AFTER INSERT ON mailbox FOR EACH ROW
  INSERT INTO quota2 (username, bytes, messages) VALUES (NEW.username, 0, 0)
  ON DUPLICATE KEY UPDATE messages = messages + 1000000;

CREATE EVENT clean_spamalias ON SCHEDULE EVERY 1 DAY DO
  DELETE FROM spamalias WHERE validity < UNIX_TIMESTAMP();
