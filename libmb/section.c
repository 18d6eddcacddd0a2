/* SPDX-License-Identifier: MIT */
/* section.c: lookups in a parsed configuration (a section by kind and name,
 * a key's value), below config.c and every module that reads its keys. */
#include "mb-private.h"

#include <string.h>

#include "banned.h"

const char *mbi_section_get(const struct mbi_section *sec, const char *key)
{
	size_t i;

	if (!sec)
		return NULL;
	for (i = sec->nkv; i > 0; i--)
		if (!strcmp(sec->kv[i - 1].key, key))
			return sec->kv[i - 1].value;
	return NULL;
}

const struct mbi_section *mbi_config_section(const struct mbi_config *cfg,
					    const char *kind)
{
	size_t i;

	for (i = 0; cfg && i < cfg->nsecs; i++)
		if (!strcmp(cfg->secs[i].kind, kind))
			return &cfg->secs[i];
	return NULL;
}
