/* SPDX-License-Identifier: MIT */
/* dbdump.c: the mariadb source (placeholder until it lands). */
#include "mb-private.h"

#include "banned.h"

int mbi_dbdump_source(struct mb_ctx *ctx, const struct mbi_source *src,
		      struct mbi_emit *em)
{
	(void)em;
	return mbi_error(ctx, MB_E_CONFIG, 0,
			 "source '%s': mariadb sources are not supported by this build",
			 src->name);
}
