/* SPDX-License-Identifier: MIT */
/* dbload.c: loading a restored mariadb source (placeholder until it lands). */
#include "mb-private.h"

#include "banned.h"

int mbi_dbload_source(struct mb_ctx *ctx, const struct mbi_source *src,
		      const char *dir, const char *db_prefix, bool overwrite,
		      const struct mbi_manifest *m)
{
	(void)dir;
	(void)db_prefix;
	(void)overwrite;
	(void)m;
	return mbi_error(ctx, MB_E_CONFIG, 0,
			 "source '%s': loading into a database is not supported by this build",
			 src->name);
}
