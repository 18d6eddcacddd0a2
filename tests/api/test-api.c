/* SPDX-License-Identifier: MIT */
/* test-api.c: a program as a stranger would write it: mb.h only, linked
 * against the shared library libmb.so. TAP output. */
#include <mb.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int n, failed;

static void ok(int cond, const char *what)
{
	n++;
	if (!cond)
		failed = 1;
	printf("%sok %d - %s\n", cond ? "" : "not ", n, what);
}

static int contains(const char *s, const char *part)
{
	return s && strstr(s, part) != NULL;
}

static void test_version(void)
{
	char buf[32];

	ok(mb_version_number() == MB_VERSION_NUMBER,
	   "mb_version_number() is the header's MB_VERSION_NUMBER");
	ok(!strcmp(mb_version_string(), MB_VERSION),
	   "mb_version_string() is the header's MB_VERSION");
	snprintf(buf, sizeof(buf), "%d.%d.%d", MB_VERSION_NUMBER / 10000,
		 MB_VERSION_NUMBER / 100 % 100, MB_VERSION_NUMBER % 100);
	ok(!strcmp(buf, MB_VERSION), "MB_VERSION_NUMBER spells MB_VERSION");
}

static void test_bad_config(struct mb_ctx *ctx)
{
	static const char bad[] = "[repository]\nurl = /x\nnosuch = 1\n";

	ok(mb_ctx_errcode(ctx) == MB_OK && !strcmp(mb_ctx_errmsg(ctx), ""),
	   "a new context has no error");
	ok(mb_ctx_load_config_buf(ctx, "bad.conf", bad, strlen(bad)) ==
	   MB_E_CONFIG, "a bad configuration is MB_E_CONFIG");
	ok(mb_ctx_errcode(ctx) == MB_E_CONFIG, "mb_ctx_errcode() says so");
	ok(contains(mb_ctx_errmsg(ctx), "bad.conf:3: unknown key 'nosuch'"),
	   "mb_ctx_errmsg() names file, line and key");
	ok(mb_ctx_config_get(ctx, "repository", "url") == NULL,
	   "nothing of the bad configuration is kept");
}

struct logged {
	struct mb_ctx *ctx;
	int calls, inner_rc;
};

/* A handler that calls back into libmb on the same context: it deadlocked
 * while the library held its lock around the call. */
static void on_log(void *ud, enum mb_log_level level, const char *msg)
{
	struct logged *l = ud;

	(void)level;
	(void)msg;
	l->calls++;
	l->inner_rc = mb_ctx_load_config_buf(l->ctx, "inner.conf", "[", 1);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void test_config_file(struct mb_ctx *ctx, const char *dir)
{
	char conf[256], cfgdir[256], cf[320], text[1024];
	struct logged l = { ctx, 0, 0 };

	snprintf(cfgdir, sizeof(cfgdir), "%.200s/config", dir);
	snprintf(cf, sizeof(cf), "%.200s/dovecot.cf", cfgdir);
	snprintf(conf, sizeof(conf), "%.200s/mailbackup.conf", dir);
	snprintf(text, sizeof(text),
		 "[repository]\nurl = %s/repo\n[options]\nlog = syslog\n"
		 "[source dms]\ntype = preset:docker-mailserver\n"
		 "data_dir = %s\n", dir, dir);
	if (mkdir(cfgdir, 0700) || write_file(conf, text) ||
	    write_file(cf, "mail_crypt_global_private_key = </etc/k.pem\n")) {
		ok(0, "write a configuration");
		return;
	}
	chmod(conf, 0600);
	mb_ctx_set_log_handler(ctx, on_log, &l, MB_LOG_WARNING);
	ok(mb_ctx_load_config(ctx, conf) == MB_OK, "a good file loads");
	ok(l.calls >= 1, "its warning reached the log handler");
	ok(l.inner_rc == MB_E_CONFIG,
	   "a handler may call libmb on the same context (no deadlock)");
	mb_ctx_set_log_handler(ctx, NULL, NULL, MB_LOG_ERROR);
	ok(contains(mb_ctx_config_get(ctx, "options", "log"), "syslog"),
	   "mb_ctx_config_get() reads [options] log");
	ok(mb_ctx_load_config(ctx, "/nonexistent/mailbackup.conf") ==
	   MB_E_CONFIG, "a missing file is MB_E_CONFIG");
	ok(contains(mb_ctx_errmsg(ctx), "'/nonexistent/mailbackup.conf' not found"),
	   "and its message names it");
	ok(!contains(mb_ctx_errmsg(ctx), "-c FILE"),
	   "the library says nothing of the CLI's options");
	ok(mb_ctx_load_config(ctx, conf) == MB_OK &&
	   mb_ctx_errcode(ctx) == MB_OK && !*mb_ctx_errmsg(ctx),
	   "the next call starts with the error cleared");
	unlink(cf);
	rmdir(cfgdir);
	unlink(conf);
}

/* A source's own error names it once: the backup does not name it again. */
static void test_source_error(struct mb_ctx *ctx)
{
	struct mb_backup_opts o = MB_BACKUP_OPTS_INIT;
	struct mb_backup_result r = MB_BACKUP_RESULT_INIT;
	const char *msg;

	ok(mb_backup(ctx, &o, &r) == MB_E_IO,
	   "a failing command source fails the backup");
	msg = mb_ctx_errmsg(ctx);
	ok(!strncmp(msg, "source 'cmd': command 'exit 3' exited with status 3",
		    51) &&
	   !contains(msg + 1, "source 'cmd'"),
	   "its message names the source once");
	if (!contains(msg, "exited with status 3"))
		printf("# %s\n", msg);
}

/* The size convention: MB_*_INIT, an older (smaller) struct, a newer one,
 * an uninitialized one; results written only as far as their size. */
static void test_struct_sizes(const char *dir)
{
	/* mb_forget_opts as a program built before dry_run and keep had */
	struct old_forget_opts {
		size_t size;
		const char *const *rules;
	} old;
	struct newer_forget_opts {
		struct mb_forget_opts o;
		int future;
	} newer;
	static const char *const rules[] = { "keep-last", "1", NULL };
	struct mb_forget_opts none = { 0 };
	struct mb_forget_result fr = MB_FORGET_RESULT_INIT;
	struct mb_stats st;
	struct mb_ctx *ctx = NULL;
	char home[256], text[1024], cmd[600], *fpr = NULL;

	snprintf(home, sizeof(home), "%.200s/gnupg", dir);
	if (mb_ctx_new(&ctx) || mb_keygen(ctx, home, "api", &fpr)) {
		ok(0, "mb_keygen() for a repository");
		mb_ctx_free(ctx);
		return;
	}
	snprintf(text, sizeof(text),
		 "[repository]\nurl = %s/repo\n[keys]\ngnupg_home = %s\n"
		 "recipients = %s\nsigning_key = %s\n[options]\n"
		 "cache_dir = %s/cache\n[source cmd]\ntype = command\n"
		 "command = exit 3\n", dir, home, fpr, fpr, dir);
	ok(mb_ctx_load_config_buf(ctx, "api.conf", text, strlen(text)) ==
	   MB_OK && mb_repo_init(ctx) == MB_OK, "a repository to work on");

	ok(mb_forget(ctx, &none, NULL, NULL, &fr) == MB_E_INVAL &&
	   contains(mb_ctx_errmsg(ctx), "struct mb_forget_opts has size 0") &&
	   contains(mb_ctx_errmsg(ctx), "_INIT"),
	   "options of size 0 (not initialized): MB_E_INVAL naming the struct");
	old.size = sizeof(old);
	old.rules = rules;
	ok(mb_forget(ctx, (const struct mb_forget_opts *)&old, NULL, NULL,
		     &fr) == MB_OK,
	   "an older, smaller options struct works (its rules are used: the configuration has none)");
	memset(&newer, 0, sizeof(newer));
	newer.o.size = sizeof(newer);
	newer.o.rules = rules;
	newer.o.dry_run = 1;
	ok(mb_forget(ctx, &newer.o, NULL, NULL, &fr) == MB_OK,
	   "a newer, larger options struct whose unknown fields are 0 works");
	newer.future = 1;
	ok(mb_forget(ctx, &newer.o, NULL, NULL, &fr) == MB_E_INVAL &&
	   contains(mb_ctx_errmsg(ctx), "does not know"),
	   "a newer struct that sets a field this libmb does not know: MB_E_INVAL");

	/* a result as a program built when mb_stats ended after packs */
	memset(&st, 0xff, sizeof(st));
	st.size = offsetof(struct mb_stats, index_objects);
	ok(mb_stats(ctx, &st) == MB_OK && st.snapshots == 0 && st.packs == 0,
	   "an older, smaller result struct is filled as far as it reaches");
	ok(st.size == offsetof(struct mb_stats, index_objects) &&
	   st.index_objects == UINT64_MAX && st.bytes_logical == UINT64_MAX,
	   "and not beyond: its size is kept, the rest untouched");
	memset(&st, 0xff, sizeof(st));
	st.size = 0;
	ok(mb_stats(ctx, &st) == MB_E_INVAL &&
	   contains(mb_ctx_errmsg(ctx), "struct mb_stats has size 0"),
	   "a result of size 0: MB_E_INVAL");
	memset(&st, 0xff, sizeof(st));
	st.size = sizeof(st);
	ok(mb_stats(ctx, &st) == MB_OK && st.index_objects == 0 &&
	   st.bytes_logical == 0 && st.seconds >= 0,
	   "a whole result struct (MB_STATS_INIT) is filled");

	test_source_error(ctx);
	mb_ctx_free(ctx);
	free(fpr);
	snprintf(cmd, sizeof(cmd),
		 "gpgconf --homedir '%s' --kill all 2>/dev/null", home);
	if (system(cmd))
		printf("# cannot stop the agent of %s\n", home);
}

int main(void)
{
	struct mb_ctx *ctx = NULL;
	char dir[] = "/tmp/mb-api.XXXXXX";

	test_version();
	ok(mb_ctx_new(&ctx) == MB_OK && ctx, "mb_ctx_new()");
	if (!ctx || !mkdtemp(dir)) {
		printf("1..%d\n", n);
		return 1;
	}
	test_bad_config(ctx);
	test_config_file(ctx, dir);
	test_struct_sizes(dir);
	ok(!strcmp(mb_strstatus(MB_E_NOMEM), "out of memory"),
	   "mb_strstatus()");
	mb_ctx_free(ctx);
	mb_ctx_free(NULL);
	ok(1, "mb_ctx_free(NULL) is a no-op");
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			printf("# cannot remove %s\n", dir);
	}
	printf("1..%d\n", n);
	return failed;
}
