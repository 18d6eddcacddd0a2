#!/bin/bash
# SPDX-License-Identifier: MIT
# t1710-others-writable: files around the tool that others can write are
# refused with their path and the fix, like sshd's StrictModes: the
# configuration file and its directories, a configuration holding a secret
# that others can read or write, password_file, ca_file, gnupg_home, a hook script, a
# hook directory and a file in it, the cache directory; as root, a file
# root does not own. Each is accepted again once fixed. A root-owned sticky
# directory above (like /tmp) is fine.
. "$(dirname "$0")/lib-test.sh"

mkdir -p "$SCRATCH/etc"
CONF=$SCRATCH/etc/mailbackup.conf

config() {
	mb_write_config "[source f]" "type = files" "path = $SCRATCH/files" \
		"$@"
}

test_expect_success 'setup' '
	mb_setup_keys &&
	mkdir files && echo hello >files/a &&
	config && mb init && mb backup
'

test_expect_success 'a configuration others can write is refused' '
	chmod 666 "$CONF" &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "configuration file .$CONF. is writable by group or others (mode 0666): run .chmod go-w $CONF." err &&
	chmod 620 "$CONF" &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "writable by group or others (mode 0620)" err &&
	chmod 644 "$CONF" &&
	mb snapshots
'

test_expect_success 'a directory above the configuration others can write is refused' '
	chmod 777 etc &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "configuration file .$CONF.: directory .$SCRATCH/etc. is writable by group or others (mode 0777): run .chmod go-w $SCRATCH/etc." err &&
	chmod 775 etc &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "directory .$SCRATCH/etc. is writable by group or others (mode 0775)" err &&
	chmod 1777 etc &&
	mb snapshots &&
	chmod 755 etc &&
	mb snapshots
'

test_expect_success 'a configuration with a secret that others can read or write is refused' '
	config "[source db]" "type = mariadb" "socket = /nonexistent.sock" \
		"user = u" "password = pw-secret" "databases = d" &&
	for m in 602 622 604 644; do
		chmod $m "$CONF" &&
		test_must_fail --exit 2 mb snapshots 2>err &&
		test_grep "$CONF" err || return 1
	done &&
	chmod 640 "$CONF" &&
	mb snapshots
'

test_expect_success 'password_file and ca_file others can write are refused' '
	echo pw-secret >pw && chmod 660 pw &&
	config "[source db]" "type = mariadb" "socket = /nonexistent.sock" \
		"user = u" "password_file = $SCRATCH/pw" "databases = d" &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "password_file .$SCRATCH/pw. is writable by group or others (mode 0660)" err &&
	chmod 600 pw &&
	mb snapshots &&
	echo key >client.key && chmod 606 client.key &&
	config "[source db]" "type = mariadb" "socket = /nonexistent.sock" \
		"user = u" "tls_cert = $SCRATCH/ca.pem" \
		"tls_key = $SCRATCH/client.key" "databases = d" &&
	echo cert >ca.pem &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "tls_key .$SCRATCH/client.key. is writable by group or others (mode 0606)" err &&
	chmod 600 client.key &&
	mb snapshots &&
	echo cert >ca.pem && chmod 646 ca.pem &&
	MB_REPO_URL="$SCRATCH/repo
ca_file = $SCRATCH/ca.pem" config &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "ca_file .$SCRATCH/ca.pem. is writable by group or others" err &&
	chmod 644 ca.pem &&
	mb snapshots
'

test_expect_success 'a gnupg_home others can write is refused' '
	config &&
	chmod 770 gnupg &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "gnupg_home .$SCRATCH/gnupg. is writable by group or others (mode 0770)" err &&
	chmod 700 gnupg &&
	mb snapshots
'

test_expect_success 'a hook script others can write does not run' '
	printf "#!/bin/sh\ntouch %s/ran\n" "$SCRATCH" >hook.sh &&
	chmod 777 hook.sh &&
	config "[hooks]" "pre_backup = $SCRATCH/hook.sh --flag" &&
	rm -f ran &&
	test_must_fail --exit 2 mb backup 2>err &&
	test_grep "hook .$SCRATCH/hook.sh. is writable by group or others (mode 0777)" err &&
	! test -e ran &&
	chmod 755 hook.sh &&
	mb backup &&
	test -e ran
'

test_expect_success 'a hook directory, or a file in it, others can write does not run' '
	mkdir pre.d &&
	printf "#!/bin/sh\ntouch %s/ran.d\n" "$SCRATCH" >pre.d/10-touch &&
	chmod 755 pre.d/10-touch && chmod 777 pre.d &&
	config "[hooks]" "pre_backup = $SCRATCH/pre.d" &&
	rm -f ran.d &&
	test_must_fail --exit 2 mb backup 2>err &&
	test_grep "hook directory .$SCRATCH/pre.d. is writable by group or others (mode 0777)" err &&
	! test -e ran.d &&
	chmod 755 pre.d && chmod 757 pre.d/10-touch &&
	test_must_fail --exit 2 mb backup 2>err &&
	test_grep "hook .$SCRATCH/pre.d/10-touch. is writable by group or others" err &&
	! test -e ran.d &&
	chmod 755 pre.d/10-touch &&
	mb backup &&
	test -e ran.d
'

test_expect_success 'a cache directory others can write is refused' '
	config &&
	dir=$(ls -d cache/*/) && dir=${dir%/} &&
	chmod 777 "$dir" &&
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "cache directory .$SCRATCH/$dir. is writable by group or others" err &&
	chmod 700 "$dir" &&
	chmod 775 cache &&
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "cache directory .$SCRATCH/$dir.: directory .$SCRATCH/cache. is writable" err &&
	chmod 755 cache &&
	mb backup
'

test_expect_success ROOT 'as root, files root does not own are refused' '
	chown nobody "$CONF" &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "configuration file .$CONF. is owned by uid [0-9]*, not by root: run .chown root $CONF." err &&
	chown root "$CONF" &&
	chown nobody etc &&
	test_must_fail --exit 2 mb snapshots 2>err &&
	test_grep "directory .$SCRATCH/etc. is owned by uid" err &&
	chown root etc &&
	mb snapshots
'

test_done
