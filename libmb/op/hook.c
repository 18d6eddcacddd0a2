/* SPDX-License-Identifier: MIT */
/* op/hook.c: running the [hooks] commands around a backup, bounded in time
 * and without secrets. */
#include "mb-private.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "fsperm.h"
#include "banned.h"

extern char **environ;

#define HOOK_TIMEOUT_DEFAULT 3600 /* seconds */
#define HOOK_KILL_GRACE 5.0       /* seconds from SIGTERM to SIGKILL */

/* NULL-terminated "KEY=VALUE" strings, each owned. */
struct envv {
	char **v;
	size_t n, cap;
};

static void envv_release(struct envv *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

static size_t name_len(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* Set KEY=VALUE, replacing an earlier KEY: no name appears twice. */
static int envv_set(struct envv *e, const char *kv)
{
	size_t i, l = name_len(kv);
	char *dup;

	if (!l || !kv[l])
		return MB_E_INVAL;
	dup = strdup(kv);
	if (!dup)
		return MB_E_NOMEM;
	for (i = 0; i < e->n; i++)
		if (name_len(e->v[i]) == l && !strncmp(e->v[i], kv, l)) {
			free(e->v[i]);
			e->v[i] = dup;
			return MB_OK;
		}
	if (e->n + 2 > e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		char **nv = realloc(e->v, cap * sizeof(*nv));

		if (!nv) {
			free(dup);
			return MB_E_NOMEM;
		}
		e->v = nv;
		e->cap = cap;
	}
	e->v[e->n++] = dup;
	e->v[e->n] = NULL;
	return MB_OK;
}

static int envv_setf(struct envv *e, const char *key, const char *value)
{
	char *kv = mbi_asprintf("%s=%s", key, value);
	int rc;

	if (!kv)
		return MB_E_NOMEM;
	rc = envv_set(e, kv);
	free(kv);
	return rc;
}

/*
 * Variables a hook must not see: ours (MAILBACKUP_S3_SECRET_ACCESS_KEY,
 * MAILBACKUP_DB_PASSWORD, ...: the hook gets its own MAILBACKUP_* set) and
 * any whose name says it holds a secret.
 */
static bool secret_name(const char *kv)
{
	static const char *const words[] = {
		"PASSWORD", "PASSWD", "SECRET", "TOKEN", "PASSPHRASE",
		"CREDENTIAL", "PRIVATE", "MYSQL_PWD", "_PWD",
	};
	char name[256];
	size_t i, l = name_len(kv);

	if (!strncmp(kv, "MAILBACKUP_", 11))
		return true;
	if (l >= sizeof(name))
		return true; /* odd enough not to pass on */
	for (i = 0; i < l; i++)
		name[i] = (char)toupper((unsigned char)kv[i]);
	name[l] = '\0';
	for (i = 0; i < MBI_ARRAY_SIZE(words); i++)
		if (strstr(name, words[i]))
			return true;
	return false;
}

/* The repository url as a hook may see it: no user info, query or
 * fragment, where a credential could hide. */
static char *public_url(const char *url)
{
	char *u = strdup(url), *auth, *end, *at;

	if (!u)
		return NULL;
	u[strcspn(u, "?#")] = '\0';
	auth = strstr(u, "://");
	if (auth) {
		auth += 3;
		end = auth + strcspn(auth, "/");
		at = memchr(auth, '@', (size_t)(end - auth));
		if (at)
			memmove(auth, at + 1, strlen(at + 1) + 1);
	}
	return u;
}

static const struct mbi_section *hooks_section(struct mb_ctx *ctx)
{
	return mbi_config_section(ctx->cfg, "hooks");
}

int mb_hooks_configured(struct mb_ctx *ctx, const char *name)
{
	const char *v = mbi_section_get(hooks_section(ctx), name);

	return v && *v;
}

static int build_env(struct mb_ctx *ctx, const char *name,
		     const char *const *extra, struct envv *e)
{
	char **p;
	char *url;
	int rc = MB_OK;

	for (p = environ; !rc && p && *p; p++)
		if (mbi_env_allowed(*p) && !secret_name(*p))
			rc = envv_set(e, *p);
	if (rc)
		return rc;
	url = public_url(ctx->cfg->url);
	if (!url)
		return MB_E_NOMEM;
	if (!(rc = envv_setf(e, "MAILBACKUP_HOOK", name)) &&
	    !(rc = envv_setf(e, "MAILBACKUP_CONFIG", ctx->cfg->file)))
		rc = envv_setf(e, "MAILBACKUP_REPOSITORY", url);
	free(url);
	for (; !rc && extra && *extra; extra++) {
		rc = envv_set(e, *extra);
		if (rc == MB_E_INVAL)
			rc = mbi_error(ctx, MB_E_INVAL, 0,
				       "hook environment: '%s' is not KEY=VALUE",
				       *extra);
	}
	return rc;
}

/* Only async-signal-safe calls between fork and exec. */
static void child(char *const argv[], char *const envp[])
{
	sigset_t none;
	int fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* the CLI ignores SIGPIPE; an ignored signal stays ignored across
	 * exec, which would surprise the pipelines of a shell script */
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd != 0) {
		dup2(fd, 0);
		close(fd);
	}
	/* stdout of mailbackup carries data (--json): chatter to stderr */
	dup2(2, 1);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U))
#endif
	{
		long max = sysconf(_SC_OPEN_MAX);

		for (fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
			close(fd);
	}
	execve(argv[0], argv, envp);
	_exit(127);
}

static void pause_for(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) *
						  1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Run one hook to its end or its timeout. *status: its exit code, 128+N
 * for signal N. what names it in messages.
 */
static int run_one(struct mb_ctx *ctx, const char *name, const char *what,
		   char *const argv[], char *const envp[], int64_t timeout,
		   int *status)
{
	double start = mbi_now(), deadline = start + (double)timeout,
	       delay = 0.005;
	int killed = 0, st = 0;
	pid_t pid, r;

	mbi_log(ctx, MB_LOG_INFO, "running %s hook %s", name, what);
	pid = fork();
	if (pid < 0)
		return mbi_error(ctx, MB_E_ABORTED, errno,
				 "%s hook %s: cannot start it", name, what);
	if (pid == 0)
		child(argv, envp);
	setpgid(pid, pid); /* both sides: whichever runs first */
	for (;;) {
		double t;

		r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			kill(-pid, SIGKILL);
			return mbi_error(ctx, MB_E_ABORTED, errno,
					 "%s hook %s: cannot wait for it",
					 name, what);
		}
		t = mbi_now();
		if (t >= deadline && killed == 0) {
			mbi_log(ctx, MB_LOG_WARNING,
				"%s hook %s still runs after %llds: stopping it",
				name, what, (long long)timeout);
			kill(-pid, SIGTERM);
			killed = 1;
			deadline = t + HOOK_KILL_GRACE;
		} else if (t >= deadline && killed == 1) {
			kill(-pid, SIGKILL);
			killed = 2;
		}
		pause_for(delay);
		if (delay < 0.1)
			delay *= 2;
	}
	/* what it left behind in its group goes too, after a timeout */
	if (killed)
		kill(-pid, SIGKILL);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) :
		  WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
	mbi_log(ctx, MB_LOG_DEBUG, "%s hook %s: status %d after %.1f s", name,
		what, *status, mbi_now() - start);
	if (killed)
		return mbi_error(ctx, MB_E_ABORTED, 0,
				 "%s hook %s timed out after %llds and was killed: make it faster or raise [hooks] hook_timeout",
				 name, what, (long long)timeout);
	if (WIFSIGNALED(st))
		return mbi_error(ctx, MB_E_ABORTED, 0,
				 "%s hook %s was killed by signal %d", name,
				 what, WTERMSIG(st));
	if (*status)
		return mbi_error(ctx, MB_E_ABORTED, 0,
				 "%s hook %s failed with exit code %d%s", name,
				 what, *status,
				 *status == 127 ? " (command not found?)" :
				 *status == 126 ? " (not executable?)" : "");
	return MB_OK;
}

/* Entries of a hook directory that are not hooks: hidden files, editor
 * and package manager leftovers. */
static bool skip_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] == '.' || n[l - 1] == '~' || strstr(n, ".dpkg-") ||
	       strstr(n, ".ucf-") || strstr(n, ".rpmnew") ||
	       strstr(n, ".rpmsave") || strstr(n, ".swp");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(struct mb_ctx *ctx, const char *name, const char *dir,
		    char ***out, size_t *nout)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc = MB_OK;

	if (!d)
		return mbi_error(ctx, MB_E_ABORTED, errno,
				 "%s hook directory '%s' cannot be read", name,
				 dir);
	while ((de = readdir(d))) {
		char *path;
		struct stat st;

		if (skip_name(de->d_name))
			continue;
		path = mbi_asprintf("%s/%s", dir, de->d_name);
		if (!path) {
			rc = MB_E_NOMEM;
			break;
		}
		if (stat(path, &st) || !S_ISREG(st.st_mode) ||
		    access(path, X_OK)) {
			mbi_log(ctx, MB_LOG_DEBUG,
				"%s hook directory: skipping '%s': not an executable file",
				name, path);
			free(path);
			continue;
		}
		if (n == cap) {
			char **nv;

			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(path);
				rc = MB_E_NOMEM;
				break;
			}
			v = nv;
		}
		v[n++] = path;
	}
	closedir(d);
	if (rc) {
		mbi_strv_free(v, n);
		return rc;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	*nout = n;
	return MB_OK;
}

static int hook_timeout(struct mb_ctx *ctx, const struct mbi_section *sec,
			int64_t *out)
{
	const char *v = mbi_section_get(sec, "hook_timeout");

	*out = HOOK_TIMEOUT_DEFAULT;
	if (v && (mbi_parse_duration(v, out) || *out < 1))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s: [hooks] hook_timeout must be a duration of 1s or more, like 10m",
				 ctx->cfg->file);
	return MB_OK;
}

/* "(prog)" of a command, so messages name the hook without quoting the
 * whole command line, which may carry a token. */
static char *command_label(const char *cmd)
{
	size_t l;

	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	l = strcspn(cmd, " \t;|&<>()");
	if (l > 80)
		l = 80;
	return mbi_asprintf("(%.*s)", (int)l, cmd);
}

/* A command that starts with an absolute path to a file runs that file:
 * it must be safe from others like a hook directory. */
static int check_command_file(struct mb_ctx *ctx, const char *cmd)
{
	struct stat st;
	char *prog;
	size_t l;
	int rc = MB_OK;

	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	if (*cmd != '/')
		return MB_OK;
	l = strcspn(cmd, " \t;|&<>()");
	prog = strndup(cmd, l);
	if (!prog)
		return MB_E_NOMEM;
	if (!stat(prog, &st) && S_ISREG(st.st_mode))
		rc = mbi_fsperm_check(ctx, "hook", prog);
	free(prog);
	return rc;
}

int mb_hooks_run(struct mb_ctx *ctx, const char *name,
		 const char *const *env, int *exit_code)
{
	const struct mbi_section *sec;
	const char *value;
	struct envv e = { 0 };
	char **files = NULL;
	size_t nfiles = 0, i, l;
	int64_t timeout;
	int rc, first_rc = MB_OK, status = 0, first_status = 0;
	bool stop = name && !strcmp(name, "pre_backup");
	char first_msg[sizeof(ctx->errmsg)] = "";

	if ((rc = mbi_need_config(ctx)))
		return mbi_status(ctx, rc);
	if (!name || !*name)
		return mbi_error(ctx, MB_E_INVAL, 0, "no hook name given");
	sec = hooks_section(ctx);
	value = mbi_section_get(sec, name);
	if (!value || !*value)
		return MB_OK;
	if ((rc = hook_timeout(ctx, sec, &timeout)) ||
	    (rc = build_env(ctx, name, env, &e)))
		goto out;
	l = strlen(value);
	if (l > 2 && !strcmp(value + l - 2, ".d") && !strpbrk(value, " \t")) {
		struct stat st;

		if (stat(value, &st) || !S_ISDIR(st.st_mode)) {
			rc = mbi_error(ctx, MB_E_ABORTED, 0,
				       "%s hook directory '%s' does not exist: create it or fix [hooks] %s",
				       name, value, name);
			goto out;
		}
		if ((rc = mbi_fsperm_check(ctx, "hook directory", value)) ||
		    (rc = list_dir(ctx, name, value, &files, &nfiles)))
			goto out;
		for (i = 0; i < nfiles; i++) {
			char *argv[] = { files[i], NULL };
			char *what;

			/* a file others can write is refused, not skipped:
			 * the run stops as for a failed hook */
			if ((rc = mbi_fsperm_check(ctx, "hook", files[i])))
				goto out;
			what = mbi_asprintf("'%s'", files[i]);
			if (!what) {
				rc = MB_E_NOMEM;
				goto out;
			}
			rc = run_one(ctx, name, what, argv, e.v, timeout,
				     &status);
			free(what);
			if (rc && !first_rc) {
				first_rc = rc;
				first_status = status;
				memcpy(first_msg, ctx->errmsg,
				       sizeof(first_msg));
			} else if (rc) {
				/* the first failure is the error: the others
				 * are logged */
				mbi_log(ctx, MB_LOG_WARNING, "%s",
					ctx->errmsg);
			}
			if (rc && stop)
				break;
		}
		rc = first_rc;
		status = first_status;
		if (first_rc)
			mbi_error(ctx, first_rc, 0, "%s", first_msg);
	} else {
		char *argv[] = { (char *)"/bin/sh", (char *)"-c",
				 (char *)value, NULL };
		char *what;

		if ((rc = check_command_file(ctx, value)))
			goto out;
		what = command_label(value);
		if (!what) {
			rc = MB_E_NOMEM;
			goto out;
		}
		rc = run_one(ctx, name, what, argv, e.v, timeout, &status);
		free(what);
	}
	if (rc && exit_code)
		*exit_code = status;
out:
	mbi_strv_free(files, nfiles);
	envv_release(&e);
	return mbi_status(ctx, rc);
}
