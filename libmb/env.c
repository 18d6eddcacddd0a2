/* SPDX-License-Identifier: MIT */
/* env.c: secrets leave our environment once read; children get an
 * allow-listed environment. */
#include "env.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

extern char **environ;

static const char *const secret_vars[] = {
	"MAILBACKUP_S3_SECRET_ACCESS_KEY",
	"MAILBACKUP_DB_PASSWORD",
	"MAILBACKUP_S3_ACCESS_KEY_ID", /* half a credential: no child needs it */
};

/* the values taken out of environ; kept until exit, wiped there */
static char *taken[MBI_ARRAY_SIZE(secret_vars)];
static pthread_mutex_t take_lock = PTHREAD_MUTEX_INITIALIZER;
static bool at_exit_set;

static void wipe_taken(void)
{
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(taken); i++)
		if (taken[i]) {
			explicit_bzero(taken[i], strlen(taken[i]));
			free(taken[i]);
			taken[i] = NULL;
		}
}

/* Move secret i from environ into taken[i]: a variable set after the
 * first look (by a caller of the library) is taken when it is read. */
static void take_one(size_t i)
{
	char *v = getenv(secret_vars[i]);

	if (!v)
		return;
	if (taken[i]) {
		explicit_bzero(taken[i], strlen(taken[i]));
		free(taken[i]);
	}
	/* out of memory: the variable is still removed, and the secret
	 * looks unset (a clear error later beats a leak to children) */
	taken[i] = strdup(v);
	explicit_bzero(v, strlen(v));
	unsetenv(secret_vars[i]);
}

static void take_all(void)
{
	size_t i;

	pthread_mutex_lock(&take_lock);
	if (!at_exit_set)
		at_exit_set = !atexit(wipe_taken);
	for (i = 0; i < MBI_ARRAY_SIZE(secret_vars); i++)
		take_one(i);
	pthread_mutex_unlock(&take_lock);
}

void mbi_env_take_secrets(void)
{
	take_all();
}

const char *mbi_getenv(const char *name)
{
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(secret_vars); i++)
		if (!strcmp(name, secret_vars[i])) {
			take_all();
			return taken[i];
		}
	return getenv(name);
}

bool mbi_env_allowed(const char *kv)
{
	static const char *const names[] = { "PATH", "HOME", "LANG",
					     "LANGUAGE", "TZ", "USER",
					     "LOGNAME", "TMPDIR" };
	const char *eq = strchr(kv, '=');
	size_t i, l;

	if (!eq)
		return false;
	l = (size_t)(eq - kv);
	if (l > 3 && !strncmp(kv, "LC_", 3))
		return true;
	for (i = 0; i < MBI_ARRAY_SIZE(names); i++)
		if (strlen(names[i]) == l && !strncmp(kv, names[i], l))
			return true;
	return false;
}

void mbi_env_free(char **env)
{
	char **p;

	if (!env)
		return;
	for (p = env; *p; p++)
		free(*p);
	free(env);
}

char **mbi_env_child(const char *const *extra)
{
	size_t n = 1, i = 0;
	char **env, **p;
	const char *const *x;

	for (p = environ; p && *p; p++)
		n++;
	for (x = extra; x && *x; x++)
		n++;
	env = calloc(n, sizeof(*env));
	if (!env)
		return NULL;
	for (p = environ; p && *p; p++)
		if (mbi_env_allowed(*p) && !(env[i++] = strdup(*p)))
			goto fail;
	for (x = extra; x && *x; x++)
		if (!(env[i++] = strdup(*x)))
			goto fail;
	return env;
fail:
	mbi_env_free(env);
	return NULL;
}
