/* SPDX-License-Identifier: MIT */
/* opts.c: the size convention of mb.h's option and result structs, which
 * lets them grow without breaking programs built against an older mb.h. */
#include "mb-private.h"

#include <string.h>

int mbi_opts_in(struct mb_ctx *ctx, void *dst, size_t dst_size,
		const void *src, const char *type)
{
	const unsigned char *s = src;
	size_t size, i;

	memset(dst, 0, dst_size);
	*(size_t *)dst = dst_size;
	if (!src)
		return MB_OK;
	memcpy(&size, src, sizeof(size));
	if (size < sizeof(size_t))
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "struct %s has size %zu: initialize it with its _INIT macro (e.g. MB_BACKUP_OPTS_INIT) before setting fields",
				 type, size);
	/* a newer caller's fields beyond ours must be unset */
	for (i = dst_size; i < size; i++)
		if (s[i])
			return mbi_error(ctx, MB_E_INVAL, 0,
					 "struct %s of %zu bytes sets a field this libmb (%s, %zu bytes) does not know: link the libmb the program was built for",
					 type, size, MB_VERSION, dst_size);
	memcpy((char *)dst + sizeof(size_t), s + sizeof(size_t),
	       (size < dst_size ? size : dst_size) - sizeof(size_t));
	return MB_OK;
}

int mbi_result_ok(struct mb_ctx *ctx, const void *res, const char *type)
{
	size_t size;

	if (!res)
		return MB_OK;
	memcpy(&size, res, sizeof(size));
	if (size < sizeof(size_t))
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "struct %s has size %zu: initialize it with its _INIT macro (e.g. MB_BACKUP_RESULT_INIT)",
				 type, size);
	return MB_OK;
}

void mbi_result_out(void *res, const void *full, size_t full_size)
{
	size_t size;

	if (!res)
		return;
	memcpy(&size, res, sizeof(size));
	if (size < sizeof(size_t))
		return;
	memcpy((char *)res + sizeof(size_t),
	       (const char *)full + sizeof(size_t),
	       (size < full_size ? size : full_size) - sizeof(size_t));
}
