/* SPDX-License-Identifier: MIT */
/* mailfolder.c: --mailbox USER@DOMAIN [--folder NAME]... of ls and diff, as a filter on paths of maildir sources. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int mail_filter_init(struct cli *cli, struct mail_filter *mf,
		     const char *mailbox)
{
	const char *at = mailbox ? strchr(mailbox, '@') : NULL;
	size_t i;
	int rc;

	if (!mailbox)
		return mf->nfolders ? out_usage(mf->cmd, "--folder needs --mailbox USER@DOMAIN") : 0;
	if (!at || at == mailbox || !at[1] || strchr(mailbox, '/'))
		return out_usage(mf->cmd, "mailbox '%s' must be USER@DOMAIN",
				 mailbox);
	if (asprintf(&mf->prefix, "%s/%.*s", at + 1, (int)(at - mailbox),
		     mailbox) < 0)
		return out_fail(cli, MB_E_NOMEM);
	mf->disks = calloc(mf->nfolders + 1, sizeof(*mf->disks));
	if (!mf->disks)
		return out_fail(cli, MB_E_NOMEM);
	for (i = 0; i < mf->nfolders; i++)
		if ((rc = mb_mail_folder_dir(cli->ctx, mf->folders[i],
					     &mf->disks[i])))
			return out_fail(cli, rc);
	return 0;
}

/* Whether path (within its source) is of the mailbox and one of the
 * folders: INBOX is what is at the mailbox's root but its subfolders. */
bool mail_filter_match(const struct mail_filter *mf, const char *path)
{
	size_t l, i;
	const char *rest;

	if (!mf->prefix)
		return true;
	l = strlen(mf->prefix);
	if (strncmp(path, mf->prefix, l) || (path[l] && path[l] != '/'))
		return false;
	if (!mf->nfolders)
		return true;
	rest = path[l] ? path + l + 1 : "";
	if (!strncmp(rest, "Maildir/", 8))
		rest += 8; /* mail_location = maildir:~/Maildir */
	for (i = 0; i < mf->nfolders; i++) {
		size_t dl = strlen(mf->disks[i]);

		if (!dl ? *rest != '.' :
		    !strncmp(rest, mf->disks[i], dl) &&
		    (rest[dl] == '/' || !rest[dl]))
			return true;
	}
	return false;
}

void mail_filter_release(struct mail_filter *mf)
{
	size_t i;

	for (i = 0; mf->disks && i < mf->nfolders; i++)
		free(mf->disks[i]);
	free(mf->disks);
	free(mf->prefix);
	free(mf->folders);
}
