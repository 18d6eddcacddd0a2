/* SPDX-License-Identifier: MIT */
/* op/mailstore.h: internal API of the restores of mail: into a target, or
 * merged into a live Maildir tree. */
#ifndef MB_MAILSTORE_H
#define MB_MAILSTORE_H

#include "mb-private.h"
#include "imapname.h"

/* mb_restore with in_place or folders set (restore_inplace.c). */
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
