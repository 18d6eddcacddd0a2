#!/bin/bash
# SPDX-License-Identifier: MIT
# t5110-hooks: [hooks] pre_backup, post_backup and on_failure: their
# environment (values, no secrets), a failing pre hook stops the backup and
# runs on_failure, .d directories in name order, post hook failures are
# warnings, partial and --prune outcomes, and hook_timeout kills a hook and
# what it started.
. "$(dirname "$0")/lib-test.sh"

# Each hook writes its environment to $SCRATCH/NAME.env.
dump() {
	printf "env >'%s/%s.env'; echo 'noise from the %s hook'" "$SCRATCH" "$1" "$1"
}

# value KEY FILE: the value of KEY=... in an env dump
value() {
	sed -n "s/^$1=//p" "$2"
}

# dead PID: the process is gone or a zombie (its parent, the hook, died
# first: whoever reaps orphans here may take a moment), within 5 s
dead() {
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		if ! test -e "/proc/$1" ||
			grep -q "^[0-9]* (.*) Z" "/proc/$1/stat" 2>/dev/null; then
			return 0
		fi
		sleep 0.5
	done
	echo "process $1 still runs" >&2
	return 1
}

hooks_config() {
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" "[hooks]" "$@"
}

test_expect_success 'set up' '
	mb_setup_keys &&
	mb_gen_tree tree --messages 60 --users 3 --domains 1 &&
	hooks_config &&
	mb init
'

test_expect_success 'pre_backup and post_backup see the run' '
	hooks_config "pre_backup = $(dump pre)" "post_backup = $(dump post)" \
		"on_failure = $(dump fail)" &&
	rm -f pre.env post.env fail.env &&
	MAILBACKUP_DB_PASSWORD=dbsecret1 \
	MAILBACKUP_S3_SECRET_ACCESS_KEY=s3secret2 \
	MY_API_TOKEN=tokensecret3 Smtp_Password=pwsecret4 MYSQL_PWD=pwsecret5 \
	HARMLESS_SETTING=visible \
		mb backup --json >b.json 2>err &&
	test -f pre.env && test -f post.env && ! test -f fail.env &&
	test "$(value MAILBACKUP_HOOK pre.env)" = pre_backup &&
	test "$(value MAILBACKUP_HOOK post.env)" = post_backup &&
	test "$(value MAILBACKUP_CONFIG pre.env)" = "$CONF" &&
	test "$(value MAILBACKUP_REPOSITORY pre.env)" = "$SCRATCH/repo" &&
	test "$(value MAILBACKUP_REPOSITORY post.env)" = "$SCRATCH/repo" &&
	! grep -q HARMLESS_SETTING pre.env &&
	test "$(value MAILBACKUP_STATUS post.env)" = ok &&
	test "$(value MAILBACKUP_EXIT_CODE post.env)" = 0 &&
	test "$(value MAILBACKUP_SNAPSHOT_ID post.env)" = "$(mb_json_get id b.json)" &&
	test "$(value MAILBACKUP_FILES post.env)" = "$(mb_json_get files b.json)" &&
	test "$(value MAILBACKUP_BYTES_NEW post.env)" = "$(mb_json_get bytes_new b.json)" &&
	test "$(value MAILBACKUP_BYTES_STORED post.env)" = "$(mb_json_get bytes_stored b.json)" &&
	test "$(value MAILBACKUP_WARNINGS post.env)" = 0 &&
	grep -q "^MAILBACKUP_ERROR=$" post.env &&
	value MAILBACKUP_SECONDS post.env | grep -q "^[0-9][0-9]*$" &&
	test "$(value MAILBACKUP_FILES post.env)" -gt 0
'

test_expect_success 'no secret reaches a hook' '
	test_grep -v -e secret -e MAILBACKUP_DB_PASSWORD -e MAILBACKUP_S3 \
		-e MY_API_TOKEN -e Smtp_Password -e MYSQL_PWD pre.env &&
	test_grep -v -e secret -e MY_API_TOKEN post.env &&
	test_grep -v "^MAILBACKUP_STATUS=" pre.env
'

test_expect_success PYTHON3 'a hook printing on stdout leaves --json intact' '
	python3 -m json.tool b.json >/dev/null &&
	test "$(mb_json_get status b.json)" = ok &&
	test_grep "noise from the pre hook" err &&
	test_grep "noise from the post hook" err
'

test_expect_success 'a failing pre_backup hook stops the backup' '
	ls repo/snapshots >before &&
	hooks_config "pre_backup = echo checking; exit 7" \
		"post_backup = $(dump post)" "on_failure = $(dump fail)" &&
	rm -f post.env fail.env &&
	test_must_fail --exit 1 mb backup --json >out 2>err &&
	test_grep "pre_backup hook (echo) failed with exit code 7" err &&
	test_grep "backup not started" err &&
	ls repo/snapshots >after &&
	test_cmp before after &&
	! test -f post.env &&
	test "$(value MAILBACKUP_HOOK fail.env)" = on_failure &&
	test "$(value MAILBACKUP_STATUS fail.env)" = failed &&
	test "$(value MAILBACKUP_EXIT_CODE fail.env)" = 1 &&
	test "$(value MAILBACKUP_SNAPSHOT_ID fail.env)" = "" &&
	value MAILBACKUP_ERROR fail.env | grep -q "exit code 7" &&
	test "$(mb_json_get status out)" = failed
'

test_expect_success 'a failing backup runs on_failure with the error' '
	MB_REPO_URL=$SCRATCH/norepo hooks_config "post_backup = $(dump post)" \
		"on_failure = $(dump fail)" &&
	rm -f post.env fail.env &&
	test_must_fail --exit 1 mb backup 2>err &&
	test "$(value MAILBACKUP_REPOSITORY fail.env)" = "$SCRATCH/norepo" &&
	! test -f post.env &&
	test "$(value MAILBACKUP_STATUS fail.env)" = failed &&
	test "$(value MAILBACKUP_ERROR fail.env)" != "" &&
	test_grep "$(value MAILBACKUP_ERROR fail.env | cut -c1-30)" err
'

test_expect_success 'a .d directory runs its executables in name order' '
	mkdir pre.d &&
	for n in 20-b 10-a 30-c; do
		printf "#!/bin/sh\necho %s >>\"%s/order\"\n" "$n" "$SCRATCH" >pre.d/$n &&
		chmod +x pre.d/$n || return 1
	done &&
	printf "#!/bin/sh\necho skipped >>\"%s/order\"\n" "$SCRATCH" >pre.d/15-not-executable &&
	cp pre.d/10-a pre.d/.hidden && cp pre.d/10-a pre.d/10-a~ &&
	hooks_config "pre_backup = $SCRATCH/pre.d" &&
	rm -f order &&
	mb backup &&
	printf "10-a\n20-b\n30-c\n" >expect &&
	test_cmp expect order
'

test_expect_success 'the first failing file of a pre_backup .d stops it' '
	printf "#!/bin/sh\necho 20-b >>\"%s/order\"\nexit 3\n" "$SCRATCH" >pre.d/20-b &&
	hooks_config "pre_backup = $SCRATCH/pre.d" "on_failure = $(dump fail)" &&
	rm -f order fail.env &&
	test_must_fail --exit 1 mb backup 2>err &&
	printf "10-a\n20-b\n" >expect &&
	test_cmp expect order &&
	test_grep "pre_backup hook .*/pre.d/20-b. failed with exit code 3" err &&
	test -f fail.env
'

test_expect_success 'a missing hook directory is an error naming it' '
	hooks_config "pre_backup = $SCRATCH/missing.d" &&
	test_must_fail --exit 1 mb backup 2>err &&
	test_grep "missing.d" err
'

test_expect_success 'a failing post_backup hook is a warning' '
	hooks_config "post_backup = exit 4" "on_failure = $(dump fail)" &&
	rm -f fail.env &&
	mb backup 2>err &&
	test_grep "warning: post_backup hook (exit) failed with exit code 4" err &&
	! test -f fail.env
'

test_expect_success 'a partial backup runs post_backup with status partial' '
	mkfifo tree/conf/a-fifo &&
	hooks_config "post_backup = $(dump post)" "on_failure = $(dump fail)" &&
	rm -f post.env fail.env &&
	test_must_fail --exit 3 mb backup 2>err &&
	rm tree/conf/a-fifo &&
	! test -f fail.env &&
	test "$(value MAILBACKUP_STATUS post.env)" = partial &&
	test "$(value MAILBACKUP_EXIT_CODE post.env)" = 3 &&
	test "$(value MAILBACKUP_WARNINGS post.env)" -gt 0 &&
	value MAILBACKUP_ERROR post.env | grep -q "could not be read"
'

test_expect_success 'a failing --prune runs on_failure with the snapshot id' '
	hooks_config "post_backup = $(dump post)" "on_failure = $(dump fail)" &&
	rm -f post.env fail.env &&
	test_must_fail --exit 2 mb backup --prune 2>err &&
	test_grep "retention" err &&
	! test -f post.env &&
	test "$(value MAILBACKUP_STATUS fail.env)" = failed &&
	test "$(value MAILBACKUP_EXIT_CODE fail.env)" = 2 &&
	test -n "$(value MAILBACKUP_SNAPSHOT_ID fail.env)"
'

test_expect_success 'a hook that outlives hook_timeout is killed, with its children' '
	hooks_config "hook_timeout = 1s" \
		"pre_backup = trap \"\" TERM; sleep 60 & echo \$! >$SCRATCH/sleep.pid; wait; wait" \
		"on_failure = $(dump fail)" &&
	rm -f fail.env sleep.pid &&
	start=$(date +%s) &&
	test_must_fail --exit 1 mb backup 2>err &&
	took=$(($(date +%s) - start)) &&
	test "$took" -lt 30 &&
	test_grep "pre_backup hook (trap) timed out after 1s and was killed" err &&
	pid=$(cat sleep.pid) &&
	dead "$pid" &&
	value MAILBACKUP_ERROR fail.env | grep -q "timed out"
'

test_expect_success 'hook_timeout must be a duration' '
	hooks_config "hook_timeout = soon" "pre_backup = true" &&
	test_must_fail --exit 2 mb backup 2>err &&
	test_grep "hook_timeout" err
'

test_expect_success 'a backup without hooks is untouched by them' '
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb backup --json >plain.json &&
	test "$(mb_json_get status plain.json)" = ok
'

test_done
