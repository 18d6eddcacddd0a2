/* SPDX-License-Identifier: MIT */
/* store/s3_url.c: the S3 backend's names: keys, URLs, SigV4 encoding. */
#include "s3.h"

#include <stdlib.h>
#include <string.h>

#include "banned.h"

bool mbi_s3_key_ok(const char *key)
{
	const char *p;

	if (!key || !*key || strlen(key) > MBI_S3_KEY_MAX)
		return false;
	for (p = key; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return mbi_path_is_safe(key);
}

int mbi_s3_uri_encode(struct mbi_buf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char enc[3];
		int rc;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || (c == '/' && keep_slash)) {
			rc = mbi_buf_add(b, s, 1);
		} else {
			enc[0] = '%';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			rc = mbi_buf_add(b, enc, 3);
		}
		if (rc)
			return rc;
	}
	return MB_OK;
}

static int param_cmp(const void *a, const void *b)
{
	const struct mbi_s3_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

int mbi_s3_query(struct mbi_buf *b, struct mbi_s3_param *params, size_t n)
{
	size_t i;
	int rc;

	/* names and values here are plain ASCII: sorting the raw strings
	 * sorts the encoded ones alike */
	if (n)
		qsort(params, n, sizeof(*params), param_cmp);
	for (i = 0; i < n; i++) {
		if ((i && (rc = mbi_buf_add(b, "&", 1))) ||
		    (rc = mbi_s3_uri_encode(b, params[i].name, false)) ||
		    (rc = mbi_buf_add(b, "=", 1)) ||
		    (rc = mbi_s3_uri_encode(b, params[i].value, false)))
			return rc;
	}
	/* NUL-terminated even when empty */
	return mbi_buf_add(b, "", 0);
}

static bool bucket_ok(const char *b)
{
	size_t n = strlen(b);
	const char *p;

	if (n < 3 || n > 63)
		return false;
	for (p = b; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') &&
		    !(*p >= 'A' && *p <= 'Z') && *p != '.' && *p != '-' &&
		    *p != '_')
			return false;
	return true;
}

int mbi_s3_parse_url(struct mb_ctx *ctx, const char *url, char **bucket,
		     char **prefix)
{
	const char *b, *slash;
	char *bk, *pf;
	size_t n;

	if (strncmp(url, "s3://", 5))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "repository url '%s' is not s3://BUCKET/PREFIX",
				 url);
	b = url + 5;
	slash = strchr(b, '/');
	bk = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
	if (!bk)
		return MB_E_NOMEM;
	if (!bucket_ok(bk)) {
		mbi_error(ctx, MB_E_CONFIG, 0,
			  "bucket name '%s' in repository url is not valid: use 3 to 63 letters, digits, '.' or '-'",
			  bk);
		free(bk);
		return MB_E_CONFIG;
	}
	b = slash ? slash + 1 : "";
	n = strlen(b);
	while (n && b[n - 1] == '/')
		n--;
	pf = malloc(n + 2);
	if (!pf) {
		free(bk);
		return MB_E_NOMEM;
	}
	memcpy(pf, b, n);
	pf[n] = '\0';
	if (n && !mbi_s3_key_ok(pf)) {
		mbi_error(ctx, MB_E_CONFIG, 0,
			  "prefix '%s' in repository url is not valid: no empty, '.' or '..' parts, no control characters",
			  pf);
		free(bk);
		free(pf);
		return MB_E_CONFIG;
	}
	if (n) {
		pf[n] = '/';
		pf[n + 1] = '\0';
	}
	*bucket = bk;
	*prefix = pf;
	return MB_OK;
}

int mbi_s3_url(struct mbi_buf *b, const struct mbi_s3_loc *loc,
	       const char *key, const char *query)
{
	int rc;

	if (loc->virtual_host) {
		const char *host = strstr(loc->endpoint, "://");

		host = host ? host + 3 : loc->endpoint;
		if ((rc = mbi_buf_add(b, loc->endpoint,
				      (size_t)(host - loc->endpoint))) ||
		    (rc = mbi_buf_printf(b, "%s.%s/", loc->bucket, host)))
			return rc;
	} else if ((rc = mbi_buf_printf(b, "%s/", loc->endpoint)) ||
		   (rc = mbi_s3_uri_encode(b, loc->bucket, false)) ||
		   (key && (rc = mbi_buf_add(b, "/", 1)))) {
		/* the bucket itself is "/BUCKET", without a slash after */
		return rc;
	}
	if (key && (rc = mbi_s3_uri_encode(b, key, true)))
		return rc;
	if (query && *query && ((rc = mbi_buf_add(b, "?", 1)) ||
				(rc = mbi_buf_addstr(b, query))))
		return rc;
	return MB_OK;
}

void mbi_s3_base64(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

long mbi_s3_backoff_ms(int attempt, long base_ms, long cap_ms, double rnd)
{
	long d = base_ms;
	int i;

	for (i = 1; i < attempt && d < cap_ms; i++)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	if (rnd < 0)
		rnd = 0;
	if (rnd > 1)
		rnd = 1;
	return d / 2 + (long)((double)(d - d / 2) * rnd);
}
