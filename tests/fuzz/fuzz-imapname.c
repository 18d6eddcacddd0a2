/* SPDX-License-Identifier: MIT */
/* fuzz-imapname.c: folder names from users and from disk (modified UTF-7): both ways, and back again unchanged. */
#include "mb-private.h"
#include "imapname.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_ctx *ctx;
	char *s = malloc(size + 1), *disk = NULL, *imap = NULL, *back = NULL;

	if (!s || mb_ctx_new(&ctx)) {
		free(s);
		return 0;
	}
	memcpy(s, data, size);
	s[size] = '\0';
	/* a name a user gives maps to a name that maps back to it */
	if (!mbi_imap_to_maildir(ctx, s, &disk)) {
		if (mbi_maildir_to_imap(ctx, disk, &back) || strcmp(back, s))
			abort();
	}
	/* a name found on disk maps to one that maps back to it */
	if (!mbi_maildir_to_imap(ctx, s, &imap)) {
		char *again = NULL;

		if (!mbi_imap_to_maildir(ctx, imap, &again) &&
		    strcmp(again, s) && strcmp(imap, "INBOX"))
			abort();
		free(again);
	}
	free(disk);
	free(imap);
	free(back);
	free(s);
	mb_ctx_free(ctx);
	return 0;
}
