/* SPDX-License-Identifier: MIT */
/* test-bwlimit.c: rates as written in the configuration, and one token
 * bucket shared by threads. */
#include "mb-private.h"

#include <pthread.h>
#include <string.h>

#include "tap.h"

static void test_parse(void)
{
	uint64_t v = 0;

	ok(!mbi_parse_rate("5M", &v) && v == 5ULL << 20, "5M is 5 MiB/s");
	ok(!mbi_parse_rate("500k", &v) && v == 500ULL << 10, "500k");
	ok(!mbi_parse_rate("1G/s", &v) && v == 1ULL << 30, "1G/s");
	ok(!mbi_parse_rate("4096", &v) && v == 4096, "plain bytes");
	ok(!mbi_parse_rate("2MiB", &v) && v == 2ULL << 20, "2MiB");
	ok(mbi_parse_rate("0", &v), "0 is refused");
	ok(mbi_parse_rate("0k", &v), "0k is refused");
	ok(mbi_parse_rate("-5M", &v), "a negative rate is refused");
	ok(mbi_parse_rate("5X", &v), "an unknown suffix is refused");
	ok(mbi_parse_rate("fast", &v), "a word is refused");
	ok(mbi_parse_rate("", &v), "empty is refused");
	ok(mbi_parse_rate("/s", &v), "a bare /s is refused");
	ok(mbi_parse_rate(NULL, &v), "NULL is refused");
}

struct worker {
	struct mbi_bwlimit *b;
	size_t bytes;
	pthread_t th;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	size_t done;

	for (done = 0; done < w->bytes; done += 16384)
		mbi_bwlimit_take(w->b, 16384);
	return NULL;
}

static void test_shared(void)
{
	struct mbi_bwlimit b;
	struct worker w[4];
	double t0, dt;
	int i;

	/* 4 threads x 256 KiB at 2 MiB/s in total: 0.5 s, not 0.125 s */
	mbi_bwlimit_init(&b, 2 << 20);
	t0 = mbi_now();
	for (i = 0; i < 4; i++) {
		w[i].b = &b;
		w[i].bytes = 256 << 10;
		pthread_create(&w[i].th, NULL, work, &w[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(w[i].th, NULL);
	dt = mbi_now() - t0;
	ok(dt >= 0.35 && dt < 1.5, "four threads share one limit (%.2f s)",
	   dt);
	mbi_bwlimit_release(&b);

	mbi_bwlimit_init(&b, 0);
	t0 = mbi_now();
	mbi_bwlimit_take(&b, 1 << 30);
	mbi_bwlimit_take(NULL, 1 << 30);
	ok(mbi_now() - t0 < 0.1, "rate 0 and no bucket do not wait");
	mbi_bwlimit_release(&b);
}

static void test_ctx(void)
{
	static const char conf[] =
		"[repository]\nurl = s3://bucket/p\nupload_limit = 5M\n"
		"[keys]\nrecipients = AAAA\nsigning_key = AAAA\n";
	struct mb_ctx *ctx;

	if (mb_ctx_new(&ctx))
		return;
	is_int(mb_ctx_set_rate_limit(ctx, MB_UPLOAD, "5M"), MB_E_INVAL,
	       "no configuration yet: MB_E_INVAL");
	is_int(mb_ctx_load_config_buf(ctx, "t.conf", conf, strlen(conf)),
	       MB_OK, "a configuration with upload_limit loads");
	ok(ctx->cfg && ctx->cfg->upload_limit == 5ULL << 20 &&
	   ctx->cfg->download_limit == 0, "upload_limit is 5 MiB/s");
	is_int(mb_ctx_set_rate_limit(ctx, MB_DOWNLOAD, "1k"), MB_OK,
	       "--limit-download 1k");
	ok(ctx->cfg->download_limit == 1024, "download_limit is 1 KiB/s");
	is_int(mb_ctx_set_rate_limit(ctx, MB_UPLOAD, "0"), MB_E_CONFIG,
	       "--limit-upload 0 is a config error");
	ok(strstr(mb_ctx_errmsg(ctx), "--limit-upload '0' is not a rate") !=
	   NULL, "the message names the option and the value");
	ok(ctx->cfg->upload_limit == 5ULL << 20, "and changes nothing");
	mb_ctx_free(ctx);
}

int main(void)
{
	test_parse();
	test_shared();
	test_ctx();
	return tap_done();
}
