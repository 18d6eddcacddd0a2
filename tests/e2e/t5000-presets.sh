#!/bin/bash
# SPDX-License-Identifier: MIT
# t5000-presets: preset:mailcow and preset:docker-mailserver on trees shaped
# like those servers' (keys, Redis dump, DKIM, config, a real database):
# back up, wipe, restore into a new root, compare; a preset whose keys are
# missing is refused; restore-test passes and catches a broken DKIM key.
. "$(dirname "$0")/lib-test.sh"
. "$MB_E2E_DIR/lib-mariadb.sh"
. "$MB_E2E_DIR/lib-redis.sh"

mdb_start

mk_dkim() { # DIR STEM: an RSA key and its DNS record, as rspamd/opendkim do
	openssl genrsa -out "$1/$2.private" 2048 2>/dev/null &&
	{
		printf 'mail._domainkey IN TXT ( "v=DKIM1; h=sha256; k=rsa; "\n\t  "p='
		openssl rsa -in "$1/$2.private" -pubout -outform DER 2>/dev/null |
			base64 -w0 | sed 's/.\{200\}/&"\n\t  "/g'
		printf '" )  ; ----- DKIM key mail for example.com\n'
	} >"$1/$2.txt"
}

test_expect_success 'a mailcow-shaped host' '
	mb_setup_keys &&
	mc=$SCRATCH/mc && vols=$SCRATCH/vols && p=mailcowdockerized &&
	mkdir -p "$mc/data/conf/postfix" "$mc/data/conf/rspamd" &&
	cat >"$mc/mailcow.conf" <<-CONF &&
	MAILCOW_HOSTNAME=mail.example.com
	DBNAME=mailcow
	DBUSER=mailcow
	DBPASS=mc-secret-42
	COMPOSE_PROJECT_NAME=$p
	CONF
	echo "myhostname = mail.example.com" >"$mc/data/conf/postfix/main.cf" &&
	echo "git checkout, not backed up" >"$mc/README.md" &&
	for v in vmail crypt redis rspamd postfix mysql-socket; do
		mkdir -p "$vols/${p}_$v-vol-1/_data" || return 1
	done &&
	mb_gen_tree gen --messages 300 --users 4 --domains 2 &&
	rmdir "$vols/${p}_vmail-vol-1/_data" &&
	find gen -name "dovecot.index*" -delete &&
	cp -a gen/vmail "$vols/${p}_vmail-vol-1/_data" &&
	openssl ecparam -name prime256v1 -genkey -noout -out "$vols/${p}_crypt-vol-1/_data/ecprivkey.pem" &&
	openssl ec -in "$vols/${p}_crypt-vol-1/_data/ecprivkey.pem" -pubout -out "$vols/${p}_crypt-vol-1/_data/ecpubkey.pem" 2>/dev/null &&
	redis_start "$SCRATCH/redis-src" &&
	redis_cli set session "$(head -c 30000 /dev/urandom | base64 -w0)" >/dev/null &&
	redis_save_stop &&
	cp redis-src/dump.rdb "$vols/${p}_redis-vol-1/_data/dump.rdb" &&
	mkdir -p "$vols/${p}_rspamd-vol-1/_data/dkim" &&
	mk_dkim "$vols/${p}_rspamd-vol-1/_data/dkim" example.com.mail &&
	echo "queue" >"$vols/${p}_postfix-vol-1/_data/master.lock"
'

test_expect_success 'its database, reached as the preset says' '
	mdb_root -e "CREATE DATABASE mailcow; CREATE USER mailcow@localhost IDENTIFIED BY '"'"'mc-secret-42'"'"'; GRANT ALL ON mailcow.* TO mailcow@localhost; GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO mailcow@localhost;" &&
	mdb_root mailcow -e "CREATE TABLE mailbox (username VARCHAR(255) PRIMARY KEY, quota BIGINT, active TINYINT); INSERT INTO mailbox VALUES (\"alice@example.com\", 1024, 1), (\"bob@example.com\", NULL, 0); CREATE TABLE alias (id INT AUTO_INCREMENT PRIMARY KEY, address VARCHAR(255), goto TEXT); INSERT INTO alias (address, goto) VALUES (\"a@example.com\", \"alice@example.com\");" &&
	ln -s "$MDB_SOCKET" "$vols/${p}_mysql-socket-vol-1/_data/mysqld.sock"
'

write_mc_config() {
	mb_write_config "scratch_db = local" "scratch_dir = $SCRATCH" \
		"[source mc]" "type = preset:mailcow" \
		"mailcow_dir = $mc" "volumes_dir = $vols" &&
	chmod 600 "$CONF"
}

test_expect_success 'the preset expands to every source mailcow needs' '
	write_mc_config &&
	mb init &&
	mb backup --json >b.json &&
	mb ls latest >ls &&
	for s in mc-vmail mc-crypt mc-redis mc-rspamd mc-postfix mc-conf mc-mailcow-conf mc-db; do
		test_grep "^$s" ls || return 1
	done &&
	test_grep "^mc-crypt/ecprivkey.pem$" ls &&
	test_grep "^mc-redis/dump.rdb$" ls &&
	test_grep "^mc-mailcow-conf/mailcow.conf$" ls &&
	test_grep -v "README.md" ls &&
	test_grep "^mc-db/mailcow/mailbox.sql$" ls
'

test_expect_success 'wiped and restored into a new root: identical' '
	mb restore latest --target new &&
	mb_compare_trees --skip-root "$vols/${p}_crypt-vol-1/_data" new/mc-crypt &&
	mb_compare_trees --skip-root "$vols/${p}_redis-vol-1/_data" new/mc-redis &&
	mb_compare_trees --skip-root "$vols/${p}_rspamd-vol-1/_data" new/mc-rspamd &&
	mb_compare_trees --skip-root "$mc/data/conf" new/mc-conf &&
	mb_compare_trees --skip-root "$vols/${p}_vmail-vol-1/_data" new/mc-vmail &&
	cmp "$mc/mailcow.conf" new/mc-mailcow-conf/mailcow.conf &&
	test -f new/mc-db/mailcow/mailbox.sql
'

test_expect_success 'restore-test passes: files, tables in a scratch server, DKIM key' '
	mb restore-test --json >rt.json &&
	test_grep "\"ok\":true" rt.json &&
	test_grep "\"db_checked\":true" rt.json &&
	test_grep "\"dkim_keys\":1,\"dkim_ok\":1" rt.json &&
	test_grep "\"redis_dumps\":1,\"redis_checked\":1" rt.json
'

test_expect_success 'restore-test returns 4 and names an altered DKIM key' '
	f=$vols/${p}_rspamd-vol-1/_data/dkim/example.com.mail.txt &&
	cp "$f" dkim.save &&
	sed -i "s/p=MII/p=MIJ/" "$f" &&
	mb backup &&
	test_must_fail --exit 4 mb restore-test --json >rt2.json 2>err &&
	test_grep "\"kind\":\"dkim\"" rt2.json &&
	test_grep "example.com.mail.private" rt2.json &&
	cp dkim.save "$f"
'

test_expect_success 'restore-test returns 4 when a message differs from its record' '
	# a format-1 manifest (in a format-2 repository): its entry lines
	# are forged below
	MB_TEST_FORMAT=1 mb backup &&
	latest=$(mb snapshots | tail -n 1 | cut -d" " -f1) &&
	mb_gpg gnupg -d "repo/snapshots/$(ls repo/snapshots | grep "$latest")" 2>/dev/null |
		zstd -d -q >manifest &&
	line=$(grep -m1 "^e mc-vmail f " manifest) &&
	sha=$(echo "$line" | cut -d" " -f9) &&
	case $sha in 0*) bad=1${sha#?} ;; *) bad=0${sha#?} ;; esac &&
	test "$bad" != "$sha" &&
	sed "s/ $sha / $bad /" manifest >manifest.bad &&
	zstd -q -c manifest.bad | mb_gpg gnupg --sign --encrypt -r "$HOST_FPR" -z 0 \
		>"repo/snapshots/$(ls repo/snapshots | grep "$latest")" &&
	test_must_fail --exit 4 mb restore-test "$latest" --json >rt3.json 2>err3 &&
	test_grep "\"ok\":false" rt3.json
'

test_expect_success 'a mailcow preset without its crypt keys is refused' '
	mv "$vols/${p}_crypt-vol-1/_data/ecprivkey.pem" keep.pem &&
	before=$(ls repo/snapshots | wc -l) &&
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "ecprivkey.pem" err &&
	test_grep "missing" err &&
	test "$(ls repo/snapshots | wc -l)" = "$before" &&
	mv keep.pem "$vols/${p}_crypt-vol-1/_data/ecprivkey.pem"
'

test_expect_success 'a docker-mailserver-shaped host' '
	dms=$SCRATCH/dms &&
	mkdir -p "$dms/mail-state/lib-postfix" "$dms/config/opendkim/keys/example.com" &&
	mb_gen_tree gen2 --messages 200 --users 3 --domains 1 --seed 7 &&
	find gen2 -name "dovecot.index*" -delete &&
	cp -a gen2/vmail "$dms/mail-data" &&
	echo "state" >"$dms/mail-state/lib-postfix/master.lock" &&
	echo "alice@example.com|{SHA512-CRYPT}\$6\$x" >"$dms/config/postfix-accounts.cf" &&
	mk_dkim "$dms/config/opendkim/keys/example.com" mail &&
	mkdir -p "$dms/config/dovecot-crypt" &&
	openssl ecparam -name prime256v1 -genkey -noout -out "$dms/config/dovecot-crypt/ecprivkey.pem" &&
	openssl ec -in "$dms/config/dovecot-crypt/ecprivkey.pem" -pubout -out "$dms/config/dovecot-crypt/ecpubkey.pem" 2>/dev/null &&
	cat >"$dms/config/dovecot.cf" <<-CONF &&
	mail_plugins = \$mail_plugins mail_crypt
	plugin {
	  mail_crypt_global_private_key = </tmp/docker-mailserver/dovecot-crypt/ecprivkey.pem
	  mail_crypt_global_public_key = </tmp/docker-mailserver/dovecot-crypt/ecpubkey.pem
	}
	CONF
	mb_write_config -o dms.conf "scratch_dir = $SCRATCH" \
		"[source dms]" "type = preset:docker-mailserver" "data_dir = $dms" &&
	sed -i "s#^url = .*#url = $SCRATCH/repo2#" dms.conf
'

test_expect_success 'docker-mailserver: back up, restore into a new root, compare' '
	"$MB_BIN" -c dms.conf init &&
	"$MB_BIN" -c dms.conf backup &&
	"$MB_BIN" -c dms.conf restore latest --target new2 &&
	mb_compare_trees --skip-root "$dms/mail-data" new2/dms-mail &&
	mb_compare_trees --skip-root "$dms/mail-state" new2/dms-state &&
	mb_compare_trees --skip-root "$dms/config" new2/dms-config &&
	"$MB_BIN" -c dms.conf restore-test --json >rt4.json &&
	test_grep "\"dkim_keys\":1,\"dkim_ok\":1" rt4.json
'

test_expect_success 'docker-mailserver: missing mail_crypt key refused' '
	mv "$dms/config/dovecot-crypt/ecpubkey.pem" keep2.pem &&
	test_must_fail --exit 1 "$MB_BIN" -c dms.conf backup 2>err &&
	test_grep "dovecot-crypt/ecpubkey.pem" err &&
	mv keep2.pem "$dms/config/dovecot-crypt/ecpubkey.pem"
'

test_done
