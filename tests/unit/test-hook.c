/* SPDX-License-Identifier: MIT */
/* test-hook.c: running [hooks]: an environment without secrets, exit codes,
 * signals and the timeout. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

static char dir[] = "/tmp/mb-test-hook-XXXXXX";

static struct mb_ctx *load(const char *hooks)
{
	struct mb_ctx *ctx;
	char *conf = mbi_asprintf(
		"[repository]\n"
		"url = s3://AKIAEXAMPLE:wJalrXUt@mail-backups/host1?token=abc#frag\n"
		"[hooks]\n%s", hooks);

	if (!conf || mb_ctx_new(&ctx))
		abort();
	if (mb_ctx_load_config_buf(ctx, "hook.conf", conf, strlen(conf))) {
		printf("# config: %s\n", mb_ctx_errmsg(ctx));
		abort();
	}
	free(conf);
	return ctx;
}

/* The value of KEY in the env dump, or NULL when absent. */
static char *env_value(const char *key)
{
	static char v[1024];
	char *path = mbi_asprintf("%s/env", dir), line[2048];
	FILE *f = fopen(path, "r");
	size_t kl = strlen(key);
	char *found = NULL;

	free(path);
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == '=') {
			snprintf(v, sizeof(v), "%s", line + kl + 1);
			v[strcspn(v, "\n")] = '\0';
			found = v;
		}
	fclose(f);
	return found;
}

static void test_environment(void)
{
	char *hooks = mbi_asprintf("pre_backup = env >'%s/env'\n", dir);
	const char *extra[] = { "MAILBACKUP_STATUS=ok", "EXTRA_VALUE=x=y",
				NULL };
	struct mb_ctx *ctx = load(hooks);
	int code = -1;

	setenv("MAILBACKUP_DB_PASSWORD", "dbsecret", 1);
	setenv("MAILBACKUP_S3_SECRET_ACCESS_KEY", "s3secret", 1);
	setenv("MAILBACKUP_STATUS", "inherited", 1);
	setenv("SMTP_Password", "pw", 1);
	setenv("GITHUB_TOKEN", "tok", 1);
	setenv("SOME_PRIVATE_KEY", "pk", 1);
	setenv("PLAIN_SETTING", "dropped", 1);
	setenv("LC_TIME", "C.UTF-8", 1);
	is_int(mb_hooks_configured(ctx, "pre_backup"), 1, "pre_backup set");
	is_int(mb_hooks_configured(ctx, "post_backup"), 0,
	       "post_backup not set");
	is_int(mb_hooks_run(ctx, "pre_backup", extra, &code), MB_OK,
	       "hook runs");
	is_int(code, -1, "exit code untouched on success");
	is_str(env_value("MAILBACKUP_HOOK"), "pre_backup", "MAILBACKUP_HOOK");
	is_str(env_value("MAILBACKUP_CONFIG"), "hook.conf",
	       "MAILBACKUP_CONFIG");
	is_str(env_value("MAILBACKUP_REPOSITORY"), "s3://mail-backups/host1",
	       "repository url without user info, query, fragment");
	is_str(env_value("MAILBACKUP_STATUS"), "ok",
	       "the caller's value, not the inherited one");
	is_str(env_value("EXTRA_VALUE"), "x=y", "extra variable");
	ok(!env_value("PLAIN_SETTING"), "a variable off the allow-list is dropped");
	is_str(env_value("LC_TIME"), "C.UTF-8", "LC_* passes");
	ok(env_value("PATH") != NULL, "PATH passes");
	ok(!env_value("MAILBACKUP_DB_PASSWORD") &&
	   !env_value("MAILBACKUP_S3_SECRET_ACCESS_KEY"),
	   "our secrets removed");
	ok(!env_value("SMTP_Password") && !env_value("GITHUB_TOKEN") &&
	   !env_value("SOME_PRIVATE_KEY"), "secret-looking names removed");
	{
		const char *bad[] = { "NOEQUALS", NULL };

		is_int(mb_hooks_run(ctx, "pre_backup", bad, NULL), MB_E_INVAL,
		       "an extra entry without '=' is refused");
	}
	is_int(mb_hooks_run(ctx, "post_backup", NULL, NULL), MB_OK,
	       "an unset hook is no error");
	mb_ctx_free(ctx);
	free(hooks);
}

static void test_failures(void)
{
	struct mb_ctx *ctx;
	int code = 0;
	double t0;

	ctx = load("pre_backup = echo about to fail >&2; exit 5\n");
	is_int(mb_hooks_run(ctx, "pre_backup", NULL, &code), MB_E_ABORTED,
	       "a failing hook");
	is_int(code, 5, "its exit code");
	is_str(mb_ctx_errmsg(ctx),
	       "pre_backup hook (echo) failed with exit code 5",
	       "the message names the hook and the code");
	mb_ctx_free(ctx);

	ctx = load("on_failure = kill -9 $$\n");
	is_int(mb_hooks_run(ctx, "on_failure", NULL, &code), MB_E_ABORTED,
	       "a hook killed by a signal");
	is_int(code, 128 + 9, "128 + the signal");
	ok(strstr(mb_ctx_errmsg(ctx), "killed by signal 9") != NULL,
	   "named: %s", mb_ctx_errmsg(ctx));
	mb_ctx_free(ctx);

	ctx = load("pre_backup = /nonexistent/hook\n");
	is_int(mb_hooks_run(ctx, "pre_backup", NULL, &code), MB_E_ABORTED,
	       "a missing program");
	is_int(code, 127, "exit code 127");
	ok(strstr(mb_ctx_errmsg(ctx), "command not found") != NULL,
	   "with a hint: %s", mb_ctx_errmsg(ctx));
	mb_ctx_free(ctx);

	ctx = load("hook_timeout = 1s\npre_backup = exec sleep 30\n");
	t0 = mbi_now();
	is_int(mb_hooks_run(ctx, "pre_backup", NULL, &code), MB_E_ABORTED,
	       "a hook past its timeout");
	ok(mbi_now() - t0 < 5, "stopped soon after 1 s (%.1f s)",
	   mbi_now() - t0);
	is_int(code, 128 + 15, "by SIGTERM");
	ok(strstr(mb_ctx_errmsg(ctx), "timed out after 1s") != NULL,
	   "named: %s", mb_ctx_errmsg(ctx));
	mb_ctx_free(ctx);

	ctx = load("hook_timeout = 0s\npre_backup = true\n");
	is_int(mb_hooks_run(ctx, "pre_backup", NULL, NULL), MB_E_CONFIG,
	       "a zero timeout is refused");
	mb_ctx_free(ctx);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_environment();
	test_failures();
	{
		char *env = mbi_asprintf("%s/env", dir);

		unlink(env);
		free(env);
		rmdir(dir);
	}
	return tap_done();
}
