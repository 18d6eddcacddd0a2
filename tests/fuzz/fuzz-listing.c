/* SPDX-License-Identifier: MIT */
/* fuzz-listing.c: the parser of format 2's listings (docs/format.md §5.8) on
 * untrusted bytes. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(void *ud, const char *const *p, const size_t *l, int n)
{
	size_t *lines = ud;
	int i;

	/* every field is a non-empty slice without a space or newline */
	for (i = 0; i < n; i++)
		if (!l[i] || memchr(p[i], ' ', l[i]) || memchr(p[i], '\n', l[i]))
			abort();
	(*lines)++;
	return MB_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	size_t lines = 0, bad = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	if (mbi_listing_parse(text, size, count, &lines, &bad) == MB_OK &&
	    (!size || text[size - 1] != '\n'))
		abort(); /* accepted text ends with a newline */
	free(text);
	return 0;
}
