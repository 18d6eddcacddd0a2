/* SPDX-License-Identifier: MIT */
/* test-env.c: secrets leave the environment (env.c); files others can
 * write are refused (fsperm.c). */
#include "env.h"
#include "fsperm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

extern char **environ;

static bool has(char **env, const char *kv)
{
	for (; env && *env; env++)
		if (!strcmp(*env, kv))
			return true;
	return false;
}

static bool has_name(char **env, const char *name)
{
	size_t l = strlen(name);

	for (; env && *env; env++)
		if (!strncmp(*env, name, l) && (*env)[l] == '=')
			return true;
	return false;
}

static void test_secrets(void)
{
	struct mb_ctx *ctx = NULL;
	char **e;

	setenv("MAILBACKUP_S3_SECRET_ACCESS_KEY", "s3-secret", 1);
	setenv("MAILBACKUP_DB_PASSWORD", "db-secret", 1);
	mb_ctx_new(&ctx);
	ok(!getenv("MAILBACKUP_S3_SECRET_ACCESS_KEY") &&
	   !getenv("MAILBACKUP_DB_PASSWORD"), "secrets left environ");
	is_str(mbi_getenv("MAILBACKUP_S3_SECRET_ACCESS_KEY"), "s3-secret",
	       "the S3 secret is still known");
	is_str(mbi_getenv("MAILBACKUP_DB_PASSWORD"), "db-secret",
	       "the DB password is still known");
	setenv("MAILBACKUP_DB_PASSWORD", "later", 1);
	is_str(mbi_getenv("MAILBACKUP_DB_PASSWORD"), "later",
	       "a variable set later is taken when read");
	ok(!getenv("MAILBACKUP_DB_PASSWORD"), "and leaves environ then");
	setenv("PATH", "/usr/bin:/bin", 1);
	setenv("LC_TIME", "C", 1);
	setenv("SOME_TOKEN", "tok", 1);
	setenv("MAILBACKUP_CONFIG", "/x.conf", 1);
	e = mbi_env_child((const char *const[]){ "EXTRA=1", NULL });
	ok(e != NULL, "child environment built");
	ok(has(e, "PATH=/usr/bin:/bin") && has(e, "LC_TIME=C"),
	   "PATH and LC_* pass");
	ok(!has_name(e, "SOME_TOKEN") && !has_name(e, "MAILBACKUP_CONFIG"),
	   "anything else stays");
	ok(has(e, "EXTRA=1"), "extra variables are added");
	mbi_env_free(e);
	ok(mbi_env_allowed("LANG=C") && mbi_env_allowed("TZ=UTC") &&
	   !mbi_env_allowed("LC_=x") && !mbi_env_allowed("PATHX=1") &&
	   !mbi_env_allowed("PATH"), "allow-list by exact name");
	mb_ctx_free(ctx);
}

static void test_fsperm(void)
{
	char dir[] = "/tmp/mbt-fsperm.XXXXXX", *file, *sub;
	struct mb_ctx *ctx = NULL;
	FILE *f;

	mb_ctx_new(&ctx);
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	sub = mbi_asprintf("%s/sub", dir);
	file = mbi_asprintf("%s/sub/file", dir);
	mkdir(sub, 0755);
	f = fopen(file, "w");
	if (f)
		fclose(f);
	chmod(file, 0644);
	is_int(mbi_fsperm_check(ctx, "test file", file), MB_OK,
	       "0644 in 0755 directories: accepted");
	chmod(file, 0664);
	is_int(mbi_fsperm_check(ctx, "test file", file), MB_E_CONFIG,
	       "group-writable file refused");
	ok(strstr(mb_ctx_errmsg(ctx), "chmod go-w") &&
	   strstr(mb_ctx_errmsg(ctx), file), "the message names it and the fix");
	chmod(file, 0644);
	chmod(sub, 0777);
	is_int(mbi_fsperm_check(ctx, "test file", file), MB_E_CONFIG,
	       "world-writable directory above refused");
	ok(strstr(mb_ctx_errmsg(ctx), sub) != NULL, "the directory is named");
	chmod(sub, 01777);
	is_int(mbi_fsperm_check(ctx, "test file", file),
	       geteuid() == 0 ? MB_OK : MB_E_CONFIG,
	       "a sticky directory above is fine when root owns it");
	chmod(sub, 0755);
	is_int(mbi_fsperm_check(ctx, "test file", "/nonexistent/x"), MB_OK,
	       "a missing file is left to its reader");
	unlink(file);
	rmdir(sub);
	rmdir(dir);
	free(file);
	free(sub);
	mb_ctx_free(ctx);
}

int main(void)
{
	test_secrets();
	test_fsperm();
	return tap_done();
}
