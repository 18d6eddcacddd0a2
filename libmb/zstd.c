/* SPDX-License-Identifier: MIT */
/* zstd.c: zstd for metadata objects (manifests, index objects), whole or a piece at a time. */
#include "mb-private.h"

#include <stdlib.h>
#include <zstd.h>

#include "banned.h"

int mbi_zstd_compress_buf(struct mb_ctx *ctx, const void *p, size_t n,
			  int level, struct mbi_buf *out)
{
	ZSTD_CCtx *z = ZSTD_createCCtx();
	struct mbi_buf b = { 0 };
	size_t bound = ZSTD_compressBound(n), r;

	if (!z || mbi_buf_reserve(&b, bound)) {
		ZSTD_freeCCtx(z);
		return MB_E_NOMEM;
	}
	ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
	r = ZSTD_compress2(z, b.data, bound, p, n);
	ZSTD_freeCCtx(z);
	if (ZSTD_isError(r)) {
		mbi_buf_release(&b);
		return mbi_error(ctx, MB_E_IO, 0, "zstd: %s",
				 ZSTD_getErrorName(r));
	}
	b.len = r;
	*out = b;
	return MB_OK;
}

int mbi_zstd_decompress_each(struct mb_ctx *ctx, const void *p, size_t n,
			     uint64_t max, const char *what,
			     int (*fn)(void *ud, const char *data, size_t len),
			     void *ud)
{
	enum { CHUNK = 256 << 10 };
	ZSTD_DCtx *z = ZSTD_createDCtx();
	char *buf = malloc(CHUNK);
	ZSTD_inBuffer in = { p, n, 0 };
	uint64_t total = 0;
	size_t r = 1;
	int rc = MB_OK;

	if (!z || !buf) {
		rc = MB_E_NOMEM;
		goto out;
	}
	ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, 27);
	while (!rc && (in.pos < in.size || r != 0)) {
		ZSTD_outBuffer o = { buf, CHUNK, 0 };

		r = ZSTD_decompressStream(z, &o, &in);
		if (ZSTD_isError(r)) {
			rc = mbi_error(ctx, MB_E_VERIFY, 0,
				       "'%s' is damaged: zstd: %s", what,
				       ZSTD_getErrorName(r));
			break;
		}
		total += o.pos;
		if (total > max)
			rc = mbi_error(ctx, MB_E_VERIFY, 0,
				       "'%s' is larger than %llu bytes", what,
				       (unsigned long long)max);
		else if (in.pos == in.size && o.pos == 0 && r != 0)
			rc = mbi_error(ctx, MB_E_VERIFY, 0,
				       "'%s' is truncated", what);
		else if (o.pos)
			rc = fn(ud, buf, o.pos);
	}
out:
	ZSTD_freeDCtx(z);
	free(buf);
	return rc;
}

static int append(void *ud, const char *data, size_t len)
{
	return mbi_buf_add(ud, data, len) ? MB_E_NOMEM : MB_OK;
}

int mbi_zstd_decompress_buf(struct mb_ctx *ctx, const void *p, size_t n,
			    struct mbi_buf *out, size_t max, const char *what)
{
	struct mbi_buf b = { 0 };
	int rc = mbi_zstd_decompress_each(ctx, p, n, max, what, append, &b);

	if (!rc && !b.data && mbi_buf_reserve(&b, 0))
		rc = MB_E_NOMEM;
	if (rc) {
		mbi_buf_release(&b);
		return rc;
	}
	b.data[b.len] = '\0';
	*out = b;
	return MB_OK;
}
