/* SPDX-License-Identifier: MIT */
/* error.c: errors, log messages and progress reports of a context: the layer
 * below every other file of the library. */
#include "mb-private.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "banned.h"

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

void mbi_clear_error(struct mb_ctx *ctx)
{
	pthread_mutex_lock(&ctx->lock);
	ctx->errmsg[0] = '\0';
	ctx->errcode = MB_OK;
	ctx->err_source[0] = '\0';
	pthread_mutex_unlock(&ctx->lock);
}

int mbi_status(struct mb_ctx *ctx, int rc)
{
	bool none;

	if (rc >= 0)
		return rc;
	pthread_mutex_lock(&ctx->lock);
	none = ctx->errcode == MB_OK && !ctx->errmsg[0];
	pthread_mutex_unlock(&ctx->lock);
	/* a bare return (mostly MB_E_NOMEM from deep inside) still says
	 * what went wrong */
	if (none)
		mbi_error(ctx, rc, 0, "%s", mb_strstatus(rc));
	return rc;
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
	ctx->err_source[0] = '\0';
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

static void names_source(struct mb_ctx *ctx, const char *source)
{
	pthread_mutex_lock(&ctx->lock);
	snprintf(ctx->err_source, sizeof(ctx->err_source), "%s", source);
	pthread_mutex_unlock(&ctx->lock);
}

int mbi_source_error(struct mb_ctx *ctx, const char *source, int code,
		     int errnum, const char *fmt, ...)
{
	va_list ap;
	char msg[sizeof(ctx->errmsg)];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mbi_error(ctx, code, errnum, "source '%s': %s", source, msg);
	names_source(ctx, source);
	return code;
}

int mbi_source_error_prefix(struct mb_ctx *ctx, const char *source, int code,
			    const char *what)
{
	mbi_error_prefix(ctx, code, "source '%s': %s", source, what);
	names_source(ctx, source);
	return code;
}

bool mbi_error_names_source(struct mb_ctx *ctx, const char *source)
{
	bool names;

	pthread_mutex_lock(&ctx->lock);
	names = ctx->err_source[0] && !strcmp(ctx->err_source, source);
	pthread_mutex_unlock(&ctx->lock);
	return names;
}

static void vlog(struct mb_ctx *ctx, enum mb_log_level level, const char *fmt,
		 va_list ap)
{
	char msg[2048];

	if (!ctx->log_fn || level > ctx->log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* no lock held: the handler may call libmb (mb.h says it must be
	 * thread-safe itself) */
	ctx->log_fn(ctx->log_ud, level, msg);
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
	int stop;

	if (!ctx->progress_fn)
		return MB_OK;
	/* one call at a time, without a lock held: a worker that finds
	 * another in the callback skips this report (the next one comes) */
	if (__atomic_exchange_n(&ctx->progress_busy, 1, __ATOMIC_ACQUIRE))
		return MB_OK;
	stop = ctx->progress_fn(ctx->progress_ud, phase, items, bytes,
				items_total, bytes_total);
	__atomic_store_n(&ctx->progress_busy, 0, __ATOMIC_RELEASE);
	if (stop)
		return mbi_error(ctx, MB_E_ABORTED, 0, "%s aborted", phase);
	return MB_OK;
}
