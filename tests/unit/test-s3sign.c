/* SPDX-License-Identifier: MIT */
/* test-s3sign.c: the canonical forms libcurl's SigV4 signs as we write them. */
#include "s3.h"

#include <string.h>

#include "tap.h"

static char *enc(const char *s, bool keep_slash)
{
	static struct mbi_buf b;

	b.len = 0;
	if (mbi_s3_uri_encode(&b, s, keep_slash) || mbi_buf_add(&b, "", 0))
		return NULL;
	return b.data;
}

static void test_encode(void)
{
	is_str(enc("packs/ab/abcdef0123", true), "packs/ab/abcdef0123",
	       "a pack key stays as it is");
	is_str(enc("a b+c=d&e", true), "a%20b%2Bc%3Dd%26e",
	       "space, plus, equals and ampersand are encoded");
	is_str(enc("A-Z_a.z~0", true), "A-Z_a.z~0",
	       "unreserved characters stay");
	is_str(enc("x/y", false), "x%2Fy", "a slash in a query value is encoded");
	is_str(enc("snapshots/20240102T030405Z-mail.example.org-0a1b", true),
	       "snapshots/20240102T030405Z-mail.example.org-0a1b",
	       "a snapshot key stays as it is");
	is_str(enc("\xc3\xa9*'()!", true), "%C3%A9%2A%27%28%29%21",
	       "UTF-8 and sub-delims are encoded with uppercase hex");
	is_str(enc("%41", true), "%2541", "a percent sign is encoded once");
}

static char *query(struct mbi_s3_param *p, size_t n)
{
	static struct mbi_buf b;

	b.len = 0;
	if (mbi_s3_query(&b, p, n))
		return NULL;
	return b.data;
}

static void test_query(void)
{
	struct mbi_s3_param list[] = {
		{ "prefix", "repo/packs/" },
		{ "list-type", "2" },
		{ "continuation-token", "1a/b+c==" },
		{ "max-keys", "1" },
	};
	struct mbi_s3_param uploads[] = { { "uploads", "" } };
	struct mbi_s3_param part[] = {
		{ "uploadId", "xyz" }, { "partNumber", "10" },
	};

	is_str(query(list, 4),
	       "continuation-token=1a%2Fb%2Bc%3D%3D&list-type=2&max-keys=1&prefix=repo%2Fpacks%2F",
	       "parameters are sorted by name and their values encoded");
	is_str(query(uploads, 1), "uploads=",
	       "a parameter without value is sent as 'name='");
	is_str(query(part, 2), "partNumber=10&uploadId=xyz",
	       "partNumber sorts before uploadId");
	is_str(query(NULL, 0), "", "no parameters: an empty query");
}

static void test_keys(void)
{
	char long_key[MBI_S3_KEY_MAX + 2];

	ok(mbi_s3_key_ok("packs/ab/abcd"), "a pack key is fine");
	ok(mbi_s3_key_ok("mailbackup.repo"), "the repository file is fine");
	ok(!mbi_s3_key_ok("packs/./ab"), "a '.' segment is refused (curl folds it)");
	ok(!mbi_s3_key_ok("packs/../ab"), "a '..' segment is refused");
	ok(!mbi_s3_key_ok("/packs"), "a leading slash is refused");
	ok(!mbi_s3_key_ok("packs//ab"), "an empty segment is refused");
	ok(!mbi_s3_key_ok("packs/a\nb"), "a control character is refused");
	ok(!mbi_s3_key_ok(""), "an empty key is refused");
	memset(long_key, 'a', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	ok(!mbi_s3_key_ok(long_key), "a key over 1024 bytes is refused");
	long_key[MBI_S3_KEY_MAX] = '\0';
	ok(mbi_s3_key_ok(long_key), "a key of 1024 bytes is fine");
}

static void test_parse_url(struct mb_ctx *ctx)
{
	char *b = NULL, *p = NULL;

	is_int(mbi_s3_parse_url(ctx, "s3://my-bucket/backups/mail", &b, &p),
	       MB_OK, "s3://BUCKET/PREFIX parses");
	is_str(b, "my-bucket", "bucket");
	is_str(p, "backups/mail/", "the prefix ends in a slash");
	free(b);
	free(p);
	is_int(mbi_s3_parse_url(ctx, "s3://my-bucket", &b, &p), MB_OK,
	       "s3://BUCKET parses");
	is_str(p, "", "no prefix");
	free(b);
	free(p);
	is_int(mbi_s3_parse_url(ctx, "s3://my-bucket///", &b, &p), MB_OK,
	       "trailing slashes are dropped");
	is_str(p, "", "still no prefix");
	free(b);
	free(p);
	is_int(mbi_s3_parse_url(ctx, "s3://ab/x", &b, &p), MB_E_CONFIG,
	       "a two-letter bucket is refused");
	ok(strstr(mb_ctx_errmsg(ctx), "bucket name 'ab'") != NULL,
	   "the message names the bucket: %s", mb_ctx_errmsg(ctx));
	is_int(mbi_s3_parse_url(ctx, "s3://bucket/a/../b", &b, &p),
	       MB_E_CONFIG, "a '..' in the prefix is refused");
	is_int(mbi_s3_parse_url(ctx, "http://bucket/x", &b, &p), MB_E_CONFIG,
	       "not s3://");
}

static char *url(const char *endpoint, bool virt, const char *key,
		 const char *q)
{
	static struct mbi_buf b;
	struct mbi_s3_loc loc = { endpoint, "bkt", virt };

	b.len = 0;
	if (mbi_s3_url(&b, &loc, key, q))
		return NULL;
	return b.data;
}

static void test_url(void)
{
	is_str(url("http://127.0.0.1:9000", false, "p/a b", NULL),
	       "http://127.0.0.1:9000/bkt/p/a%20b", "path style, encoded key");
	is_str(url("https://s3.example.com", true, "p/x", "uploads="),
	       "https://bkt.s3.example.com/p/x?uploads=",
	       "virtual-host style with a query");
	is_str(url("https://s3.example.com", false, NULL, "list-type=2"),
	       "https://s3.example.com/bkt?list-type=2",
	       "the bucket itself, path style, has no trailing slash");
	is_str(url("https://s3.example.com", true, NULL, "list-type=2"),
	       "https://bkt.s3.example.com/?list-type=2",
	       "the bucket itself, virtual-host style, is '/'");
	is_str(url("https://gw.example.com/s3", false, "k", NULL),
	       "https://gw.example.com/s3/bkt/k", "an endpoint with a path");
}

static void test_base64(void)
{
	char out[64];
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	unsigned char md5_empty[16] = {
		0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04,
		0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e,
	};
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(v); i++) {
		mbi_s3_base64((const unsigned char *)v[i].in, strlen(v[i].in),
			      out);
		is_str(out, v[i].out, "base64 of '%s' (RFC 4648)", v[i].in);
	}
	mbi_s3_base64(md5_empty, 16, out);
	is_str(out, "1B2M2Y8AsgTpgAmY7PhCfg==", "Content-MD5 of no bytes");
}

static void test_backoff(void)
{
	long d;
	int a;

	is_int(mbi_s3_backoff_ms(1, 250, 20000, 0), 125,
	       "first retry, no jitter: half the base");
	is_int(mbi_s3_backoff_ms(1, 250, 20000, 1), 250,
	       "first retry, full jitter: the base");
	is_int(mbi_s3_backoff_ms(3, 250, 20000, 1), 1000,
	       "third retry: four times the base");
	is_int(mbi_s3_backoff_ms(30, 250, 20000, 1), 20000, "capped");
	for (a = 1; a < 40; a++) {
		d = mbi_s3_backoff_ms(a, 250, 20000, 0.5);
		if (d < 0 || d > 20000)
			break;
	}
	is_int(a, 40, "never negative, never past the cap");
}

int main(void)
{
	struct mb_ctx *ctx;

	if (mb_ctx_new(&ctx))
		return 1;
	test_encode();
	test_query();
	test_keys();
	test_parse_url(ctx);
	test_url();
	test_base64();
	test_backoff();
	mb_ctx_free(ctx);
	return tap_done();
}
