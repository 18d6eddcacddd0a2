/* SPDX-License-Identifier: MIT */
/* fuzz-config.c: the INI configuration parser on untrusted bytes. */
#include "mb-private.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_ctx *ctx;
	struct mbi_config *cfg;
	size_t i;

	if (mb_ctx_new(&ctx))
		return 0;
	if (!mbi_config_parse(ctx, "fuzz.conf", (const char *)data, size,
			      &cfg)) {
		/* touch what the rest of libmb reads */
		for (i = 0; i < cfg->nsources; i++)
			(void)mbi_section_get(cfg->sources[i].sec, "type");
		mbi_config_free(cfg);
	}
	mb_ctx_free(ctx);
	return 0;
}
