/* SPDX-License-Identifier: MIT */
/* ctx.c: the library context: its life, its settings and its configuration
 * (errors, logs and progress are error.c's). */
#include "mb-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "env.h"
#include "fsperm.h"
#include "banned.h"

int mb_version_number(void)
{
	return MB_VERSION_NUMBER;
}

const char *mb_version_string(void)
{
	return MB_VERSION;
}

int mb_ctx_new(struct mb_ctx **out)
{
	struct mb_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return MB_E_NOMEM;
	/* before any thread or child: no secret outlives its reading */
	mbi_env_take_secrets();
	pthread_mutex_init(&ctx->lock, NULL);
	ctx->log_level = MB_LOG_WARNING;
	*out = ctx;
	return MB_OK;
}

void mb_ctx_free(struct mb_ctx *ctx)
{
	if (!ctx)
		return;
	mbi_config_free(ctx->cfg);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

const char *mb_ctx_errmsg(const struct mb_ctx *ctx)
{
	return ctx ? ctx->errmsg : "";
}

int mb_ctx_errcode(const struct mb_ctx *ctx)
{
	return ctx ? ctx->errcode : MB_OK;
}

void mb_ctx_set_log_handler(struct mb_ctx *ctx, mb_log_fn fn, void *userdata,
			    enum mb_log_level level)
{
	ctx->log_fn = fn;
	ctx->log_ud = userdata;
	ctx->log_level = level;
}

void mb_ctx_set_progress(struct mb_ctx *ctx, mb_progress_fn fn, void *userdata)
{
	ctx->progress_fn = fn;
	ctx->progress_ud = userdata;
}

const char *mb_ctx_config_get(struct mb_ctx *ctx, const char *section,
			      const char *key)
{
	if (!ctx)
		return NULL;
	return mbi_section_get(mbi_config_section(ctx->cfg, section), key);
}

int mbi_need_config(struct mb_ctx *ctx)
{
	/* the start of every operation that needs the configuration */
	mbi_clear_error(ctx);
	if (!ctx->cfg)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "no configuration loaded: load one with mb_ctx_load_config() first");
	return MB_OK;
}

double mbi_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void mbi_deadline_ms(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int mb_ctx_load_config_buf(struct mb_ctx *ctx, const char *name,
			   const char *buf, size_t len)
{
	struct mbi_config *cfg;
	int rc;

	mbi_clear_error(ctx);
	rc = mbi_config_parse(ctx, name, buf, len, &cfg);
	if (rc)
		return mbi_status(ctx, rc);
	mbi_config_free(ctx->cfg);
	ctx->cfg = cfg;
	return MB_OK;
}

/* A file that holds a secret must not be readable by others. */
static int check_secret_mode(struct mb_ctx *ctx, const char *path)
{
	static const char *const secrets[] = { "secret_access_key",
					       "password" };
	struct stat st;
	size_t i, k;

	if (stat(path, &st) || !(st.st_mode & S_IROTH))
		return MB_OK;
	for (i = 0; i < ctx->cfg->nsecs; i++) {
		const struct mbi_section *sec = &ctx->cfg->secs[i];
		size_t j;

		/* values a preset read from elsewhere (line 0) do not count */
		for (j = 0; j < sec->nkv; j++)
			for (k = 0; k < MBI_ARRAY_SIZE(secrets); k++)
				if (sec->kv[j].line > 0 &&
				    !strcmp(sec->kv[j].key, secrets[k]))
					return mbi_error(ctx, MB_E_CONFIG, 0,
							 "'%s' holds a secret (%s) and is readable by others: run 'chmod 600 %s' or pass the secret in the environment",
							 path, secrets[k], path);
	}
	return MB_OK;
}

int mb_ctx_load_config(struct mb_ctx *ctx, const char *path)
{
	struct mbi_buf b = { 0 };
	int rc;

	mbi_clear_error(ctx);
	rc = mbi_read_file(ctx, path, &b, 16 << 20);
	if (rc)
		return rc == MB_E_NOTFOUND ? mbi_error(ctx, MB_E_CONFIG, 0,
			"configuration file '%s' not found", path) :
			mbi_status(ctx, rc);
	rc = mb_ctx_load_config_buf(ctx, path, b.data ? b.data : "", b.len);
	if (b.data)
		explicit_bzero(b.data, b.len);
	mbi_buf_release(&b);
	if (!rc && ((rc = check_secret_mode(ctx, path)) ||
		    (rc = mbi_fsperm_check_config(ctx)))) {
		mbi_config_free(ctx->cfg);
		ctx->cfg = NULL;
	}
	return mbi_status(ctx, rc);
}
