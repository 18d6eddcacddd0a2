/* SPDX-License-Identifier: MIT */
/* mailstore.h: internal API of the mail store layer (folder names, restores into a live Maildir tree). */
#ifndef MB_MAILSTORE_H
#define MB_MAILSTORE_H

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

/* mb_restore with in_place or folders set (inplace.c). */
MBI_HIDDEN int mbi_restore_mail(struct mb_ctx *ctx,
				const struct mb_restore_opts *opts,
				struct mb_restore_result *res);
/* After a restore into a new target: give the target to the owner of the
 * mail it holds (0700), so that the mail server can import from it. */
MBI_HIDDEN void mbi_restore_share_target(struct mb_ctx *ctx, int root);
/* mb_restore into a target directory (restore.c), without the mail
 * restores that mb_restore sends to mbi_restore_mail. */
MBI_HIDDEN int mbi_restore_tree(struct mb_ctx *ctx,
				const struct mb_restore_opts *opts,
				struct mb_restore_result *res);

#endif
