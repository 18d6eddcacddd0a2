/* SPDX-License-Identifier: MIT */
/* store/bwlimit.c: upload and download limits: one token bucket per direction,
 * shared by every transfer of a store, so the limit holds for the total. */
#include "mb-private.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "banned.h"

/* Credit an idle bucket may keep: short, so a limit holds over seconds. */
#define BURST_SECONDS 0.125

void mbi_bwlimit_init(struct mbi_bwlimit *b, uint64_t rate)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->mu, NULL);
	b->rate = rate;
}

void mbi_bwlimit_release(struct mbi_bwlimit *b)
{
	pthread_mutex_destroy(&b->mu);
}

/*
 * Each caller books the time its n bytes take at the rate, after every
 * booking before it, and sleeps until then: callers on other threads queue
 * behind each other, so their total never exceeds the rate.
 */
void mbi_bwlimit_take(struct mbi_bwlimit *b, size_t n)
{
	double now, wait;
	struct timespec ts;

	if (!b || !b->rate || !n)
		return;
	pthread_mutex_lock(&b->mu);
	now = mbi_now();
	if (b->free_at < now - BURST_SECONDS)
		b->free_at = now - BURST_SECONDS;
	b->free_at += (double)n / (double)b->rate;
	wait = b->free_at - now;
	pthread_mutex_unlock(&b->mu);
	if (wait <= 0)
		return;
	ts.tv_sec = (time_t)wait;
	ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int mb_ctx_set_rate_limit(struct mb_ctx *ctx, enum mb_direction dir,
			  const char *rate)
{
	const char *opt = dir == MB_UPLOAD ? "--limit-upload" :
			  "--limit-download";
	uint64_t v;

	if (dir != MB_UPLOAD && dir != MB_DOWNLOAD)
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "cannot set a rate limit: direction %d is neither MB_UPLOAD nor MB_DOWNLOAD",
				 (int)dir);
	if (!ctx->cfg)
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "cannot set a rate limit: load the configuration first");
	if (mbi_parse_rate(rate, &v))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s '%s' is not a rate: use bytes per second above 0, like 5M or 500k",
				 opt, rate ? rate : "");
	if (dir == MB_UPLOAD)
		ctx->cfg->upload_limit = v;
	else
		ctx->cfg->download_limit = v;
	return MB_OK;
}
