/* SPDX-License-Identifier: MIT */
/* fuzz-index.c: the index object parser on untrusted bytes, and its round
 * trip through mbi_index_format. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_ctx *ctx;
	struct mbi_index ix, back;
	struct mbi_buf b = { 0 };
	char *text;
	size_t i;

	if (mb_ctx_new(&ctx))
		return 0;
	text = malloc(size ? size : 1);
	if (!text || mbi_index_init(&ix, ctx)) {
		free(text);
		mb_ctx_free(ctx);
		return 0;
	}
	memcpy(text, data, size);
	if (mbi_index_parse(&ix, text, size, "fuzz") == MB_OK &&
	    mbi_index_format(&ix, 0, &b) == MB_OK &&
	    mbi_index_init(&back, ctx) == MB_OK) {
		/* what was accepted formats into what parses to the same */
		if (mbi_index_parse(&back, b.data, b.len, "again") ||
		    back.count != ix.count || back.npacks != ix.npacks)
			abort();
		for (i = 0; i < ix.cap; i++) {
			const unsigned char *k = ix.keys + i * MBI_SHA256_LEN;
			const struct mbi_blobref *r;
			static const unsigned char zero[MBI_SHA256_LEN];

			if (!memcmp(k, zero, MBI_SHA256_LEN))
				continue;
			r = mbi_index_find(&back, k);
			if (!r || r->pack != ix.vals[i].pack ||
			    r->size != ix.vals[i].size)
				abort();
		}
		mbi_index_release(&back);
	}
	mbi_buf_release(&b);
	mbi_index_release(&ix);
	free(text);
	mb_ctx_free(ctx);
	return 0;
}
