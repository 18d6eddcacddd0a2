-- SPDX-License-Identifier: MIT
-- mailcow-hostile.sql: rows with hostile values for mailcow-schema.sql.
-- Quotes, backslashes, NUL bytes, line breaks, emoji (4-byte UTF-8), NULL
-- next to empty, every byte value, zero dates and ids, and two 16 MiB
-- BLOBs. Load with the plain client after the schema; @big sets how many
-- 16 MiB values (0, 1 or 2) to add: SET @big = 2; SOURCE this file.

SET NAMES utf8mb4;
SET time_zone = '+00:00';
SET sql_mode = 'NO_AUTO_VALUE_ON_ZERO';
SET @big = IFNULL(@big, 2);

INSERT INTO domain (domain, description, created) VALUES
  ('example.org', 'plain', '2024-01-02 03:04:05'),
  ('xn--bcher-kva.example', 'B\u00fccher \'quoted\' "double" back\\slash', '2024-01-02 03:04:05'),
  ('emoji.example', 'mail 📬 with 🐄 and 𝄞', '2024-01-02 03:04:05'),
  ('empty.example', '', '2024-01-02 03:04:05'),
  ('null.example', NULL, '2024-01-02 03:04:05');

INSERT INTO mailbox (username, password, name, local_part, domain, attributes,
                     created, secret_note) VALUES
  ('alice@example.org', '{BLF-CRYPT}$2y$10$abc./XYZ', 'Alice O\'Brien', 'alice', 'example.org',
   '{"force_pw_update": "0", "tls_enforce_in": "1", "quote": "it\\"s"}', '2024-01-02 03:04:05', 'hidden \\ note'),
  ('bob@emoji.example', 'x', 'Bob 🐄\nline two\r\n\ttab', 'bob', 'emoji.example', NULL, '2024-01-02 03:04:05', NULL),
  ('nul@example.org', 'a\0b', CONCAT('before', CHAR(0), 'after'), 'nul', 'example.org', '{}', '2024-01-02 03:04:05', ''),
  ('zero@example.org', '', '', 'zero', 'example.org', '[]', '2024-01-02 03:04:05', NULL),
  ('ctrl@example.org', CONCAT(CHAR(26), CHAR(27), CHAR(127)), ';\'--', 'ctrl', 'example.org', 'null', '2024-01-02 03:04:05', ';');

INSERT INTO alias (id, address, goto, domain, created, private_comment, public_comment) VALUES
  (0, 'zero-id@example.org', 'alice@example.org', 'example.org', '2024-01-02 03:04:05', NULL, ''),
  (1, 'postmaster@example.org', 'alice@example.org', 'example.org', '2024-01-02 03:04:05', 'DROP TABLE alias; --', NULL),
  (2, 'info@emoji.example', 'bob@emoji.example,alice@example.org', 'emoji.example', '2024-01-02 03:04:05', '😀😃😄', 'x\\'),
  (3, '@example.org', 'alice@example.org', 'example.org', '2024-01-02 03:04:05', '*/ /* -- # ;', '`backtick`');

INSERT INTO alias_domain (alias_domain, target_domain, created) VALUES
  ('alias.example', 'example.org', '2024-01-02 03:04:05');

UPDATE quota2 SET bytes = 123456789012, messages = 42 WHERE username = 'alice@example.org';

INSERT INTO sieve_filters (username, script_desc, script_name, script_data, filter_type, created) VALUES
  ('alice@example.org', 'spam', 'active',
   'require ["fileinto"];\nif header :contains "X-Spam" "YES" {\n  fileinto "Junk";\n}\n', 'prefilter', '2024-01-02 03:04:05'),
  ('bob@emoji.example', 'empty', 'inactive', '', 'postfilter', '2024-01-02 03:04:05');

INSERT INTO app_passwd (name, mailbox, domain, password, created, protocols) VALUES
  ('phone 📱', 'alice@example.org', 'example.org', '{SSHA256}abc', '2024-01-02 03:04:05', 'imap,smtp,dav'),
  ('empty set', 'bob@emoji.example', 'emoji.example', 'x', '2024-01-02 03:04:05', '');

INSERT INTO tfa (key_id, username, authmech, secret, publicKey, counter, certificate, flags, active) VALUES
  ('yubi', 'alice@example.org', 'webauthn', NULL, X'00FF00FF5C275C0027220A0D1A', 7, NULL, b'10100101', 1),
  ('empty', 'bob@emoji.example', 'totp', '', X'', 0, '', b'0', 0);

INSERT INTO quarantine (qid, subject, score, spam_ratio, ip, symbols, rcpt, msg, domain, created, seen) VALUES
  ('A1', 'Re: 💰 offer', 15.37, 0.1, X'7F000001', '[{"name": "BAYES_SPAM", "score": 5.1}]',
   'alice@example.org', 'Received: from x\r\n\r\nbody with \\ and \0 inside', 'example.org',
   '2024-03-31 01:30:00', '2024-03-31 02:30:00.123456'),
  ('A2', NULL, -0.5, 3.14159274, X'20010DB8000000000000000000000001', NULL, NULL, NULL, NULL,
   '1970-01-01 00:00:01', NULL),
  ('A3', '', 1e-10, 16777217, X'', '{}', '', '', '', '2038-01-19 03:14:07', '2038-01-19 03:14:07.999999');

INSERT INTO sender_acl (logged_in_as, send_as, external) VALUES
  ('alice@example.org', 'info@emoji.example', 0),
  ('alice@example.org', 'info@emoji.example', 0),
  ('bob@emoji.example', '@example.org', 1);

INSERT INTO spamalias (address, goto, validity) VALUES
  ('expired@example.org', 'alice@example.org', 1),
  ('valid@example.org', 'alice@example.org', 2147483647);

INSERT INTO legacy_notes (id, note, data, day, at, y) VALUES
  (0, CONVERT(X'E9E8E0FC' USING latin1), 12345678901234567890.0123456789, '0000-00-00', '-838:59:59.000', 0000),
  (1, CONVERT(X'80819FA0FF' USING latin1), -0.0000000001, '9999-12-31', '838:59:59.999', 2155),
  (2, NULL, NULL, NULL, NULL, NULL);

-- every byte value, in text, binary and blob columns
INSERT INTO sogo_store (c_folder_id, c_name, c_content, c_blob, c_creationdate, c_lastmodified, c_version, c_deleted) VALUES
  (1, 'all-bytes.vcf', 'BEGIN:VCARD\r\nFN:Ünïcødé 🙂\r\nNOTE:\\n \\ \' "\r\nEND:VCARD\r\n',
   X'000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9FA0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDFE0E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF',
   1700000000, 1700000001, 0, NULL),
  (1, 'empty.ics', '', X'', 0, 0, 0, 0),
  (1, 'null.ics', NULL, NULL, 0, 0, 0, NULL),
  (2, 'quote''s "name" \\ ;.ics', 'x', 'text in a blob: \0\Z', 1, 2, 3, 4);

-- 16 MiB values: exactly the server's default max_allowed_packet
INSERT INTO sogo_store (c_folder_id, c_name, c_content, c_blob, c_creationdate, c_lastmodified, c_version)
  SELECT 3, 'big-blob-1.bin', 'first',
         REPEAT(CONCAT(UNHEX(SHA2('a', 512)), UNHEX(SHA2('b', 512)), UNHEX(SHA2('c', 512)), UNHEX(SHA2('d', 512))), 65536),
         1, 1, 1
  FROM DUAL WHERE @big >= 1;
INSERT INTO sogo_store (c_folder_id, c_name, c_content, c_blob, c_creationdate, c_lastmodified, c_version)
  SELECT 3, 'big-blob-2.bin', REPEAT('🐄 text \\ with \' quotes\n', 65536),
         REPEAT(X'00275C0A0D1A22', 2396745),
         2, 2, 2
  FROM DUAL WHERE @big >= 2;

INSERT INTO sogo_user_profile (c_uid, c_defaults, c_settings) VALUES
  ('alice@example.org', '{"SOGoLanguage":"English","SOGoMailSignature":"--\\nAlice"}', NULL),
  ('bob@emoji.example', '', '{}');
