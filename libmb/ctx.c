/* SPDX-License-Identifier: MIT */
/* ctx.c: the library context: errors, logging, progress and configuration. */
#include "mb-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "banned.h"

int mb_ctx_new(struct mb_ctx **out)
{
	struct mb_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return MB_E_NOMEM;
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

static const char *const status_text[] = {
	"success",
	"invalid argument",
	"out of memory",
	"i/o error",
	"configuration error",
	"database error",
	"gpg error",
	"repository error",
	"verification failed",
	"locked",
	"aborted",
	"not found",
	"completed with warnings",
	"already exists",
};

const char *mb_strstatus(int status)
{
	if (status > 0 || (size_t)-status >= MBI_ARRAY_SIZE(status_text))
		return "unknown error";
	return status_text[-status];
}

int mb_status_exit(int status)
{
	switch (status) {
	case MB_OK:
		return MB_EXIT_OK;
	case MB_E_CONFIG:
	case MB_E_INVAL:
		return MB_EXIT_USAGE;
	case MB_E_PARTIAL:
		return MB_EXIT_PARTIAL;
	case MB_E_VERIFY:
		return MB_EXIT_MISMATCH;
	case MB_E_LOCKED:
		return MB_EXIT_LOCKED;
	default:
		return MB_EXIT_FAILURE;
	}
}

int mbi_error(struct mb_ctx *ctx, int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	char msg[sizeof(ctx->errmsg)];
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	if (errnum && n < sizeof(msg) - 3)
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	pthread_mutex_lock(&ctx->lock);
	memcpy(ctx->errmsg, msg, sizeof(msg));
	ctx->errcode = code;
	/* what follows a full repository (gpg's broken pipe) must not hide
	 * it: the caller names it at the end */
	if (code == MB_E_STORE && (errnum == ENOSPC || errnum == EDQUOT))
		ctx->store_full = 1;
	pthread_mutex_unlock(&ctx->lock);
	return code;
}

int mbi_error_prefix(struct mb_ctx *ctx, int code, const char *fmt, ...)
{
	va_list ap;
	char msg[2 * sizeof(ctx->errmsg) + 4];
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(ctx->errmsg), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	pthread_mutex_lock(&ctx->lock);
	snprintf(msg + n, sizeof(msg) - n, ": %s", ctx->errmsg);
	msg[sizeof(ctx->errmsg) - 1] = '\0';
	memcpy(ctx->errmsg, msg, sizeof(ctx->errmsg));
	pthread_mutex_unlock(&ctx->lock);
	return code;
}

static void vlog(struct mb_ctx *ctx, enum mb_log_level level, const char *fmt,
		 va_list ap)
{
	char msg[2048];

	if (!ctx->log_fn || level > ctx->log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	pthread_mutex_lock(&ctx->lock);
	ctx->log_fn(ctx->log_ud, level, msg);
	pthread_mutex_unlock(&ctx->lock);
}

void mbi_log(struct mb_ctx *ctx, enum mb_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(ctx, level, fmt, ap);
	va_end(ap);
}

void mbi_warn(struct mb_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	__atomic_add_fetch(&ctx->warnings, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	vlog(ctx, MB_LOG_WARNING, fmt, ap);
	va_end(ap);
}

int mbi_progress(struct mb_ctx *ctx, const char *phase, uint64_t items,
		 uint64_t bytes, uint64_t items_total, uint64_t bytes_total)
{
	if (!ctx->progress_fn)
		return MB_OK;
	if (ctx->progress_fn(ctx->progress_ud, phase, items, bytes,
			     items_total, bytes_total))
		return mbi_error(ctx, MB_E_ABORTED, 0, "%s aborted", phase);
	return MB_OK;
}

int mbi_need_config(struct mb_ctx *ctx)
{
	if (!ctx->cfg)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "no configuration loaded: pass -c FILE");
	return MB_OK;
}

double mbi_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int mb_ctx_load_config_buf(struct mb_ctx *ctx, const char *name,
			   const char *buf, size_t len)
{
	struct mbi_config *cfg;
	int rc = mbi_config_parse(ctx, name, buf, len, &cfg);

	if (rc)
		return rc;
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
	int rc = mbi_read_file(ctx, path, &b, 16 << 20);

	if (rc)
		return rc == MB_E_NOTFOUND ? mbi_error(ctx, MB_E_CONFIG, 0,
			"configuration file '%s' not found: pass -c FILE or set MAILBACKUP_CONFIG",
			path) : rc;
	rc = mb_ctx_load_config_buf(ctx, path, b.data ? b.data : "", b.len);
	if (b.data)
		explicit_bzero(b.data, b.len);
	mbi_buf_release(&b);
	if (!rc && (rc = check_secret_mode(ctx, path))) {
		mbi_config_free(ctx->cfg);
		ctx->cfg = NULL;
	}
	return rc;
}
