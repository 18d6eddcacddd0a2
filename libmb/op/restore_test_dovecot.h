/* SPDX-License-Identifier: MIT */
/* op/restore_test_dovecot.h: restore-test judged by Dovecot (doveadm) on the scratch copy. */
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

/* restore_test_dovecot_util.c */

/* A folder of a mailbox in the manifest. */
struct dc_folder {
	const char *source;
	char *root;   /* the mailbox, relative to the source ("." for it) */
	char *folder; /* Maildir++ name: "" for INBOX, ".Sent" */
	uint64_t count;
};

/* qsort: by source, mailbox, folder. */
MBI_HIDDEN int mbi_dc_cmp_folder(const void *a, const void *b);
/* Append s as a JSON string body; with utf8, bytes above 0x7f as they
 * are (the caller's string is UTF-8), else escaped one by one. */
MBI_HIDDEN void mbi_dc_json(struct mbi_buf *b, const char *s, bool utf8);
/* Run argv with the allow-listed environment (USER=mailbackup,
 * HOME=home), stdin /dev/null, stdout to out, stderr to err: the exit
 * status, -1 when it did not run or exit. */
MBI_HIDDEN int mbi_dc_spawn(char *const argv[], const char *home,
			    const char *out, const char *err);
/* The first line of the file path ("no message" when empty). */
MBI_HIDDEN char *mbi_dc_first_line(struct mb_ctx *ctx, const char *path);
/* The count of folder imap in doveadm's "-f tab mailbox status
 * messages" output, -1 when it is not there. */
MBI_HIDDEN long long mbi_dc_count_of(const char *out, const char *imap);
/* The manifest's own copy of the name of a maildir source, or NULL. */
MBI_HIDDEN const char *mbi_dc_maildir_source(const struct mbi_manifest *m,
					     const char *name);
/* True when prog is an executable in a directory of PATH. */
MBI_HIDDEN bool mbi_dc_on_path(const char *prog);
/* A message in cur/ or new/ of the Maildir folder that starts with
 * mail_crypt's magic "CRYPTED": its GUID (the base name) in *guid. At
 * most *budget files are read (counted down). */
MBI_HIDDEN bool mbi_dc_find_crypted(const char *folder, unsigned *budget,
				    char **guid);

#endif
