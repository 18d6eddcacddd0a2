/* SPDX-License-Identifier: MIT */
/* restoretest_dovecot.h: restore-test judged by Dovecot (doveadm) on the scratch copy. */
#ifndef MB_RESTORETEST_DOVECOT_H
#define MB_RESTORETEST_DOVECOT_H

#include "mb-private.h"

/*
 * Open every mailbox of the maildir sources of m, restored below
 * files_dir, with doveadm ([options] doveadm, else "doveadm" from PATH)
 * and a private config below scratch; compare the message count Dovecot
 * sees in each folder with the files in cur/ and new/ of the manifest;
 * for a mailbox with mail encrypted by mail_crypt, fetch one such message
 * through the mail_crypt keys of the snapshot. Differences go to fn (kind
 * "dovecot" or "mail_crypt"); the JSON object of the "dovecot" member of
 * the report is appended to json ({"checked":false,"reason":...} without
 * doveadm, or when the command cannot reach the scratch copy). An error
 * only for a failure of ours (no memory).
 */
MBI_HIDDEN int mbi_dovecot_check(struct mb_ctx *ctx,
				 const struct mbi_manifest *m,
				 const char *files_dir, const char *scratch,
				 mbi_finding_fn fn, void *ud,
				 struct mbi_buf *json);

#endif
