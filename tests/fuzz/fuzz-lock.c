/* SPDX-License-Identifier: MIT */
/* fuzz-lock.c: the lock object parser on untrusted bytes (any host can
 * write under locks/). */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mbi_lockinfo li;
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	/* exactly size bytes: a parser that reads past them trips ASan */
	memcpy(text, data, size);
	if (mbi_lock_parse(text, size, &li) == MB_OK) {
		/* what is accepted is complete and bounded */
		if (!li.parsed || !li.host[0] ||
		    strlen(li.host) >= sizeof(li.host) || li.pid < 0 ||
		    li.created < 0 || li.refreshed < 0)
			abort();
	} else if (li.parsed) {
		abort();
	}
	free(text);
	return 0;
}
