/* SPDX-License-Identifier: MIT */
/* op/ls_messages.c: the messages of a mailbox in a snapshot (ls --messages): Date, From, Subject, size and flags, read through the verified restore path. */
#include "mb-private.h"
#include "mailstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

struct ml {
	struct mb_ctx *ctx;
	mb_message_fn fn;
	void *ud;
	char *mbox;            /* "dom/user" */
	int rc;
};

/* Only the messages (cur/ and new/ of the mailbox's folders). */
static int only_messages(void *ud, const char *source, const char *path)
{
	struct ml *l = ud;
	size_t n = strlen(l->mbox);
	const char *rest, *slash;

	(void)source;
	if (strncmp(path, l->mbox, n) || path[n] != '/')
		return 0;
	rest = path + n + 1;
	if (!strncmp(rest, "Maildir/", 8))
		rest += 8; /* mail_location = maildir:~/Maildir */
	if (*rest == '.') {
		slash = strchr(rest, '/');
		if (!slash)
			return 1; /* the folder's directory */
		rest = slash + 1;
	}
	return !strncmp(rest, "cur", 3) || !strncmp(rest, "new", 3) ||
	       !strchr(rest, '/');
}

/* The value of header name in the header block hdr (unfolded, without
 * CR), or NULL. */
static char *header(const char *hdr, const char *name)
{
	size_t nl = strlen(name);
	const char *p = hdr;
	struct mbi_buf b = { 0 };

	while (*p && *p != '\n') {
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			p += nl + 1;
			for (;;) {
				size_t l = strcspn(p, "\n");

				while (l && (*p == ' ' || *p == '\t')) {
					p++;
					l--;
				}
				if (b.len && mbi_buf_add(&b, " ", 1))
					break;
				if (mbi_buf_add(&b, p, l) || !p[l])
					break;
				p += l + 1;
				if (*p != ' ' && *p != '\t')
					break;
			}
			if (mbi_buf_add(&b, "", 1)) {
				mbi_buf_release(&b);
				return NULL;
			}
			while (b.len > 1 && (b.data[b.len - 2] == '\r' ||
					     b.data[b.len - 2] == ' '))
				b.data[--b.len - 1] = '\0';
			return b.data;
		}
		p += strcspn(p, "\n");
		if (*p)
			p++;
	}
	return NULL;
}

static int one_message(struct ml *l, int dfd, const char *folder,
		       const char *name)
{
	struct mb_message msg = { 0 };
	char buf[65536], *end;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	ssize_t n = -1;
	const char *info = strstr(name, ":2,");
	char *date = NULL, *from = NULL, *subject = NULL;
	int rc;

	if (fd >= 0 && !fstat(fd, &st))
		n = mbi_read_full(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n < 0) {
		mbi_warn(l->ctx, "cannot read the restored '%s/%s'", folder,
			 name);
		return MB_OK;
	}
	buf[n] = '\0';
	/* the header block only */
	end = strstr(buf, "\n\n");
	if (!end)
		end = strstr(buf, "\r\n\r\n");
	if (end)
		end[1] = '\0';
	msg.encrypted = n >= 7 && !memcmp(buf, "CRYPTED", 7);
	if (!msg.encrypted) {
		date = header(buf, "Date");
		from = header(buf, "From");
		subject = header(buf, "Subject");
	}
	msg.folder = folder;
	msg.name = name;
	msg.flags = info ? info + 3 : "";
	msg.date = date;
	msg.from = from;
	msg.subject = subject;
	msg.size = (uint64_t)st.st_size;
	rc = l->fn(l->ud, &msg) ? MB_E_ABORTED : MB_OK;
	free(date);
	free(from);
	free(subject);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The messages of one folder directory (new/ then cur/), sorted by name. */
static int one_folder(struct ml *l, int mfd, const char *disk)
{
	static const char *const subs[] = { "new", "cur" };
	char *imap = NULL;
	size_t k;
	int rc = mbi_maildir_to_imap(l->ctx, disk, &imap);

	if (rc == MB_E_INVAL) {
		imap = strdup(disk); /* no IMAP name: shown as it is */
		rc = imap ? MB_OK : MB_E_NOMEM;
	}

	for (k = 0; !rc && k < 2; k++) {
		char *rel = mbi_asprintf("%s%s%s", disk, *disk ? "/" : "",
					 subs[k]);
		int dfd = rel ? openat(mfd, rel, O_RDONLY | O_DIRECTORY |
				       O_NOFOLLOW | O_CLOEXEC) : -1;
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;
		char **names = NULL;
		size_t n = 0, cap = 0, i;

		free(rel);
		if (!d) {
			if (dfd >= 0)
				close(dfd);
			continue;
		}
		while ((de = readdir(d)) && !rc) {
			if (de->d_name[0] == '.')
				continue;
			rc = mbi_strv_push(&names, &n, &cap,
					   strdup(de->d_name));
		}
		if (n)
			qsort(names, n, sizeof(*names), cmp_str);
		for (i = 0; !rc && i < n; i++)
			rc = one_message(l, dirfd(d), imap, names[i]);
		mbi_strv_free(names, n);
		closedir(d);
	}
	free(imap);
	return rc;
}

static int walk_mailbox(struct ml *l, const char *dir)
{
	int mfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int sub = mfd >= 0 ? openat(mfd, "Maildir", O_RDONLY | O_DIRECTORY |
				    O_NOFOLLOW | O_CLOEXEC) : -1;
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int rc = MB_OK;

	if (sub >= 0) {
		/* mail_location = maildir:~/Maildir */
		close(mfd);
		mfd = sub;
	}
	if (mfd < 0)
		return MB_OK; /* nothing restored */
	rc = one_folder(l, mfd, "");
	d = fdopendir(dup(mfd));
	while (!rc && d && (de = readdir(d))) {
		if (de->d_name[0] != '.' || !strcmp(de->d_name, ".") ||
		    !strcmp(de->d_name, ".."))
			continue;
		rc = mbi_strv_push(&names, &n, &cap, strdup(de->d_name));
	}
	if (d)
		closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; !rc && i < n; i++)
		rc = one_folder(l, mfd, names[i]);
	mbi_strv_free(names, n);
	close(mfd);
	return rc;
}

int mb_ls_messages(struct mb_ctx *ctx, const char *spec, const char *source,
		   const char *mailbox, const char *const *folders,
		   size_t nfolders, mb_message_fn fn, void *userdata)
{
	struct ml l = { ctx, fn, userdata, NULL, MB_OK };
	struct mb_restore_opts o = MB_RESTORE_OPTS_INIT;
	struct mb_restore_result res = MB_RESTORE_RESULT_INIT;
	const char *tmp = getenv("TMPDIR");
	char *scratch = NULL, *dir = NULL, *at;
	int rc;

	if (!mailbox || !(at = strchr(mailbox, '@')) || at == mailbox ||
	    !at[1] || strchr(mailbox, '/'))
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "ls --messages needs --mailbox USER@DOMAIN");
	l.mbox = mbi_asprintf("%s/%.*s", at + 1, (int)(at - mailbox),
			      mailbox);
	scratch = mbi_asprintf("%s/mailbackup-ls-XXXXXX",
			       tmp && *tmp == '/' ? tmp : "/var/tmp");
	if (!l.mbox || !scratch) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (!mkdtemp(scratch)) {
		rc = mbi_error(ctx, MB_E_IO, errno,
			       "cannot create a scratch directory '%s': set TMPDIR",
			       scratch);
		free(scratch);
		scratch = NULL;
		goto out;
	}
	o.snapshot = spec;
	o.target = scratch;
	o.source = source;
	o.mailbox = mailbox;
	o.folders = folders;
	o.nfolders = nfolders;
	o.select = only_messages;
	o.select_ud = &l;
	rc = mb_restore(ctx, &o, &res);
	if (rc == MB_E_CRYPTO)
		rc = mbi_error_prefix(ctx, rc,
				      "ls --messages reads the messages and needs the secret key of a recipient in gnupg_home");
	if (rc && rc != MB_E_PARTIAL)
		goto out;
	dir = mbi_asprintf("%s/%s/%s", scratch,
			   source ? source : "", l.mbox);
	if (!dir) {
		rc = MB_E_NOMEM;
		goto out;
	}
	rc = source ? walk_mailbox(&l, dir) : MB_OK;
	if (!source) {
		/* each maildir source restored: target/<source>/dom/user */
		DIR *d = opendir(scratch);
		struct dirent *de;

		while (!rc && d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			free(dir);
			dir = mbi_asprintf("%s/%s/%s", scratch, de->d_name,
					   l.mbox);
			rc = dir ? walk_mailbox(&l, dir) : MB_E_NOMEM;
		}
		if (d)
			closedir(d);
	}
out:
	if (scratch)
		mbi_rm_tree_at(AT_FDCWD, scratch);
	free(scratch);
	free(dir);
	free(l.mbox);
	return rc;
}
