/* SPDX-License-Identifier: MIT */
/* fuzz-manifest.c: the manifest parser and entry walker on untrusted bytes. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_ctx *ctx;
	struct mbi_manifest m;
	char *text;
	size_t n = 0;

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
	if (mbi_manifest_parse(ctx, text, size, &m, "fuzz") == MB_OK) {
		/* parse checked every entry and counted them: walking them
		 * cannot fail and finds exactly that many (see the BUG in
		 * test-manifest.c: a header value starting with "e " breaks
		 * this) */
		if (mbi_manifest_foreach(ctx, &m, on_entry, &n) != MB_OK ||
		    n != m.nentries)
			abort();
		mbi_manifest_release(&m);
	} else {
		free(text);
	}
	mb_ctx_free(ctx);
	return 0;
}
