/* SPDX-License-Identifier: MIT */
/* source/imapname.h: folder names as users see them (IMAP, UTF-8) and as Maildir++
 * stores them (modified UTF-7, '.'-joined). */
#ifndef MB_IMAPNAME_H
#define MB_IMAPNAME_H

#include "mb-private.h"

/* An IMAP folder name (UTF-8, '/' between levels, "INBOX") as its
 * Maildir++ directory below the mailbox: "" for INBOX, ".Sent",
 * ".Archive.2024", ".Entw&APw-rfe" (modified UTF-7, RFC 3501 5.1.3).
 * MB_E_INVAL (with a message) for a name that cannot be mapped. *out is
 * the caller's to free. */
MBI_HIDDEN int mbi_imap_to_maildir(struct mb_ctx *ctx, const char *imap,
				   char **out);
/* The reverse: "" -> "INBOX", ".Entw&APw-rfe" -> "Entwürfe". */
MBI_HIDDEN int mbi_maildir_to_imap(struct mb_ctx *ctx, const char *disk,
				   char **out);

#endif
