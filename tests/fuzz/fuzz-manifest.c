/* SPDX-License-Identifier: MIT */
/* fuzz-manifest.c: the manifest parser and entry walker on untrusted bytes,
 * as plaintext and zstd-compressed. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_entry(void *ud, struct mbi_mentry *e)
{
	size_t *n = ud;

	/* what restore relies on: a safe path, a sha for every file */
	if ((strcmp(e->path, ".") && !mbi_path_is_safe(e->path)) ||
	    (e->type == 'f') != e->has_sha || (e->type == 'l' && !e->link))
		abort();
	(*n)++;
	return MB_OK;
}

/* The same bytes zstd-compressed, as a snapshot is loaded: parse_z and
 * foreach's streaming reader must agree with the plaintext's parser. */
static void compressed(struct mb_ctx *ctx, const uint8_t *data, size_t size,
		       int plain_rc, size_t plain_entries)
{
	struct mbi_buf z = { 0 };
	struct mbi_manifest m;
	size_t n = 0;
	int rc;

	if (mbi_zstd_compress_buf(ctx, data, size, 1, &z))
		return;
	rc = mbi_manifest_parse_z(ctx, (unsigned char *)z.data, z.len, &m,
				  "fuzz");
	if ((rc == MB_OK) != (plain_rc == MB_OK))
		abort();
	if (rc == MB_OK) {
		if (m.nentries != plain_entries ||
		    mbi_manifest_foreach(ctx, &m, on_entry, &n) != MB_OK ||
		    n != m.nentries)
			abort();
		mbi_manifest_release(&m);
	} else {
		mbi_buf_release(&z);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_ctx *ctx;
	struct mbi_manifest m;
	char *text;
	size_t n = 0, entries = 0;
	int rc;

	if (mb_ctx_new(&ctx))
		return 0;
	/* the parser owns the text on success and cuts it up in place: give
	 * it a copy of exactly size bytes, so ASan sees any overread */
	text = malloc(size ? size : 1);
	if (!text) {
		mb_ctx_free(ctx);
		return 0;
	}
	memcpy(text, data, size);
	rc = mbi_manifest_parse(ctx, text, size, &m, "fuzz");
	if (rc == MB_OK) {
		/* parse checked every entry and counted them: walking them
		 * cannot fail and finds exactly that many (see the BUG in
		 * test-manifest.c: a header value starting with "e " breaks
		 * this) */
		if (mbi_manifest_foreach(ctx, &m, on_entry, &n) != MB_OK ||
		    n != m.nentries)
			abort();
		entries = m.nentries;
		mbi_manifest_release(&m);
	} else {
		free(text);
	}
	compressed(ctx, data, size, rc, entries);
	mb_ctx_free(ctx);
	return 0;
}
