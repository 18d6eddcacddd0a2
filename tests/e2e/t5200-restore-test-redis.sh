#!/bin/bash
# SPDX-License-Identifier: MIT
# t5200-restore-test-redis: mailcow's DKIM keys live in Redis (dump.rdb,
# hashes DKIM_PRIV_KEYS and DKIM_PUB_KEYS). restore-test loads the restored
# dump into a scratch redis-server and matches every private key with its
# public key: intact, with one key altered, and with a dump that is no RDB.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-redis.sh"

# restore-test's scratch space (and its redis-server) in this test's own
# directory: t5000 runs restore-test with a Redis dump too, maybe at the
# same time, and the check for a left-over server must not see that one
mkdir -p "$SCRATCH/tmp" && export TMPDIR=$SCRATCH/tmp

# mk_key NAME: an RSA key NAME.pem and NAME.pub (base64 DER, one line), as
# mailcow's admin UI makes them
mk_key() {
	openssl genrsa -out "$1.pem" 1024 2>/dev/null &&
	openssl rsa -in "$1.pem" -pubout -outform DER 2>/dev/null |
		base64 -w0 >"$1.pub" &&
	test -s "$1.pub"
}

# fill the running redis as mailcow does: two domains, the selector "dkim"
fill_redis() {
	redis_cli -x hset DKIM_PRIV_KEYS dkim.example.com <a.pem >/dev/null &&
	redis_cli -x hset DKIM_PRIV_KEYS dkim.mail.example.org <b.pem >/dev/null &&
	redis_cli hset DKIM_PUB_KEYS example.com "$(cat a.pub)" >/dev/null &&
	redis_cli hset DKIM_PUB_KEYS mail.example.org "$(cat b.pub)" >/dev/null &&
	redis_cli hset DKIM_SELECTORS example.com dkim >/dev/null &&
	redis_cli hset DKIM_SELECTORS mail.example.org dkim >/dev/null &&
	redis_cli set other-data hello >/dev/null
}

test_expect_success 'setup: real DKIM keys in a real Redis, saved to dump.rdb' '
	mb_setup_keys &&
	mk_key a && mk_key b && mk_key c &&
	redis_start "$SCRATCH/redis-vol" &&
	fill_redis &&
	redis_save_stop &&
	head -c 5 redis-vol/dump.rdb >magic &&
	test "$(cat magic)" = REDIS &&
	mkdir -p data && cp redis-vol/dump.rdb data/ &&
	mb_write_config "[source redis]" "type = files" "path = $SCRATCH/data" &&
	mb init &&
	mb backup
'

test_expect_success 'restore-test loads the dump and checks both keys' '
	mb restore-test --json >rt.json &&
	test "$(mb_json_get ok rt.json)" = True &&
	test "$(mb_json_get redis_dumps rt.json)" = 1 &&
	test "$(mb_json_get redis_checked rt.json)" = 1 &&
	test "$(mb_json_get dkim_keys rt.json)" = 2 &&
	test "$(mb_json_get dkim_ok rt.json)" = 2 &&
	test "$(mb_json_get mismatches rt.json)" = 0
'

test_expect_success 'no scratch redis-server is left running' '
	! pgrep -f "$SCRATCH/tmp/mailbackup-restore-test.*redis.sock" >/dev/null &&
	test -z "$(ls "$SCRATCH/tmp")"
'

test_expect_success 'a public key that does not match: exit 4, the field named' '
	redis_start "$SCRATCH/redis-vol" &&
	redis_cli hget DKIM_PUB_KEYS example.com >got &&
	test "$(cat got)" = "$(cat a.pub)" &&
	redis_cli hset DKIM_PUB_KEYS mail.example.org "$(cat c.pub)" >/dev/null &&
	redis_save_stop &&
	cp redis-vol/dump.rdb data/dump.rdb &&
	mb backup &&
	test_must_fail --exit 4 mb restore-test --json >rt2.json 2>err &&
	test "$(mb_json_get ok rt2.json)" = False &&
	test "$(mb_json_get dkim_keys rt2.json)" = 2 &&
	test "$(mb_json_get dkim_ok rt2.json)" = 1 &&
	test_grep "\"kind\":\"dkim\"" rt2.json &&
	test_grep "dkim.mail.example.org.* does not match its DKIM_PUB_KEYS" rt2.json &&
	test_grep -v "dkim.example.com" rt2.json &&
	test_grep "dkim.mail.example.org" err
'

test_expect_success 'a private key that is not a key: exit 4' '
	redis_start "$SCRATCH/redis-vol" &&
	redis_cli hset DKIM_PUB_KEYS mail.example.org "$(cat b.pub)" >/dev/null &&
	redis_cli hset DKIM_PRIV_KEYS dkim.example.com "garbage" >/dev/null &&
	redis_save_stop &&
	cp redis-vol/dump.rdb data/dump.rdb &&
	mb backup &&
	test_must_fail --exit 4 mb restore-test --json >rt3.json 2>err &&
	test "$(mb_json_get dkim_ok rt3.json)" = 1 &&
	test_grep "dkim.example.com.* is not a PEM private key" rt3.json
'

test_expect_success 'a dump.rdb that is not an RDB file: exit 4, said clearly' '
	head -c 4096 /dev/urandom >data/dump.rdb &&
	mb backup &&
	test_must_fail --exit 4 mb restore-test --json >rt4.json 2>err &&
	test "$(mb_json_get redis_dumps rt4.json)" = 1 &&
	test "$(mb_json_get redis_checked rt4.json)" = 0 &&
	test_grep "\"kind\":\"redis\"" rt4.json &&
	test_grep "not an RDB file" rt4.json &&
	test_grep "not an RDB file" err
'

test_expect_success 'an RDB that redis-server cannot load: exit 4, its log quoted' '
	# the end-of-file opcode, then a checksum that is wrong
	printf "REDIS0010\377xxxxxxxx" >data/dump.rdb &&
	mb backup &&
	test_must_fail --exit 4 mb restore-test --json >rt5.json 2>err &&
	test "$(mb_json_get redis_checked rt5.json)" = 1 &&
	test_grep "redis-server cannot load it: .*RDB CRC error" rt5.json
'

test_expect_success 'a dump newer than this redis-server reads: a warning only' '
	printf "REDIS0099\377xxxxxxxx" >data/dump.rdb &&
	mb backup &&
	mb restore-test --json >rt6.json 2>err &&
	test "$(mb_json_get ok rt6.json)" = True &&
	test "$(mb_json_get redis_dumps rt6.json)" = 1 &&
	test "$(mb_json_get redis_checked rt6.json)" = 0 &&
	test_grep "not checked: the dump is of RDB version 0099, newer than this redis-server reads" err
'

test_done
