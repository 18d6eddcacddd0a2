/* SPDX-License-Identifier: MIT */
/* zstd.c: whole-buffer zstd for metadata objects (manifests, index objects). */
#include "mb-private.h"

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

int mbi_zstd_decompress_buf(struct mb_ctx *ctx, const void *p, size_t n,
			    struct mbi_buf *out, size_t max, const char *what)
{
	ZSTD_DCtx *z = ZSTD_createDCtx();
	struct mbi_buf b = { 0 };
	ZSTD_inBuffer in = { p, n, 0 };
	size_t r = 1;
	int rc = MB_OK;

	if (!z)
		return MB_E_NOMEM;
	ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, 27);
	while (in.pos < in.size || r != 0) {
		ZSTD_outBuffer o;

		if (mbi_buf_reserve(&b, 1 << 16)) {
			rc = MB_E_NOMEM;
			break;
		}
		o.dst = b.data + b.len;
		o.size = b.cap - b.len - 1;
		o.pos = 0;
		r = ZSTD_decompressStream(z, &o, &in);
		if (ZSTD_isError(r)) {
			rc = mbi_error(ctx, MB_E_VERIFY, 0,
				       "'%s' is damaged: zstd: %s", what,
				       ZSTD_getErrorName(r));
			break;
		}
		b.len += o.pos;
		if (b.len > max) {
			rc = mbi_error(ctx, MB_E_VERIFY, 0,
				       "'%s' is larger than %zu bytes", what,
				       max);
			break;
		}
		if (in.pos == in.size && o.pos == 0 && r != 0) {
			rc = mbi_error(ctx, MB_E_VERIFY, 0,
				       "'%s' is truncated", what);
			break;
		}
	}
	ZSTD_freeDCtx(z);
	if (rc) {
		mbi_buf_release(&b);
		return rc;
	}
	if (!b.data && mbi_buf_reserve(&b, 0))
		return MB_E_NOMEM;
	b.data[b.len] = '\0';
	*out = b;
	return MB_OK;
}
