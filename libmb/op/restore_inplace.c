/* SPDX-License-Identifier: MIT */
/* op/restore_inplace.c: giving mail back into a live Maildir++ tree (restore --in-place), merging and never replacing, and restores of single folders. */
#include "mb-private.h"
#include "mailstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

/* What becomes of one message of the snapshot. */
enum add_how {
	ADD_NONE,              /* there already */
	ADD_NAME,              /* delivered under its own name */
	/* delivered under a name of its own: Dovecot still remembers the
	 * original one as expunged, and would log it as reappeared */
	ADD_RENAMED,
};

/* One folder of the snapshot's mailbox, and what becomes of it. */
struct folder {
	char *disk;            /* "" (INBOX) or ".Sent", in the snapshot */
	char *imap;            /* the name users see */
	char *dst_disk;        /* where it goes in the live mailbox */
	char *dst_imap;
	bool chosen;
	bool live;             /* the destination exists live */
	char **msgs;           /* "cur/NAME" or "new/NAME", in the snapshot */
	size_t nmsgs, cap;
	unsigned char *add;    /* per message: enum add_how */
	size_t nadd;
};

struct ip {
	struct mb_ctx *ctx;
	const struct mb_restore_opts *opts;
	const struct mbi_source *src;   /* the live source (in_place) */
	const char *source;             /* its name */
	char *mbox;                     /* "dom/user" in the snapshot */
	char *dst_mbox;                 /* "dom/user" written to */
	char *dst_user;                 /* USER@DOMAIN written to */
	char *live_root;                /* src->path/dst_mbox */
	uid_t uid;                      /* the live mailbox's owner */
	gid_t gid;
	char **want_disk;               /* --folder as on-disk names */
	size_t nwant;
	struct folder *f;
	size_t nf, fcap;
	char **sel;                     /* staging: the paths to restore */
	size_t nsel, selcap;
	char *staging;                  /* below src->path */
	struct mb_restore_result res;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "USER@DOMAIN" as "DOMAIN/USER". */
static int mailbox_path(struct mb_ctx *ctx, const char *mb, char **out)
{
	const char *at = strchr(mb, '@');

	if (!at || at == mb || !at[1] || strchr(mb, '/') ||
	    strchr(at + 1, '@') || !strcmp(at + 1, ".") ||
	    !strcmp(at + 1, "..") || !strncmp(mb, ".@", 2) ||
	    !strncmp(mb, "..@", 3))
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "mailbox '%s' must be USER@DOMAIN", mb);
	*out = mbi_asprintf("%s/%.*s", at + 1, (int)(at - mb), mb);
	return *out ? MB_OK : MB_E_NOMEM;
}

static struct folder *folder_get(struct ip *p, const char *disk, size_t len)
{
	size_t i;
	struct folder *f;

	for (i = p->nf; i-- > 0;)
		if (strlen(p->f[i].disk) == len &&
		    !memcmp(p->f[i].disk, disk, len))
			return &p->f[i];
	if (p->nf == p->fcap) {
		size_t nc = p->fcap ? p->fcap * 2 : 16;
		struct folder *nv = realloc(p->f, nc * sizeof(*nv));

		if (!nv)
			return NULL;
		p->f = nv;
		p->fcap = nc;
	}
	f = &p->f[p->nf];
	memset(f, 0, sizeof(*f));
	f->disk = strndup(disk, len);
	if (!f->disk)
		return NULL;
	p->nf++;
	return f;
}

/* Split the path of an entry of the mailbox (below "dom/user/") into its
 * folder and, for a message, "cur/NAME" or "new/NAME". */
static void split_entry(const char *rest, const char **disk, size_t *dlen,
			const char **msg)
{
	const char *slash;

	*msg = NULL;
	*disk = rest;
	*dlen = 0;
	if (rest[0] == '.') {
		slash = strchr(rest, '/');
		*dlen = slash ? (size_t)(slash - rest) : strlen(rest);
		rest = slash ? slash + 1 : "";
	}
	if ((!strncmp(rest, "cur/", 4) || !strncmp(rest, "new/", 4)) &&
	    rest[4] && !strchr(rest + 4, '/'))
		*msg = rest;
}

static int on_entry(void *ud, struct mbi_mentry *e)
{
	struct ip *p = ud;
	size_t l = strlen(p->mbox), dlen;
	const char *rest, *disk, *msg;
	struct folder *f;

	if (strcmp(e->source, p->source) || strncmp(e->path, p->mbox, l) ||
	    (e->path[l] != '/' && e->path[l] != '\0'))
		return MB_OK;
	rest = e->path[l] ? e->path + l + 1 : "";
	split_entry(rest, &disk, &dlen, &msg);
	if (!(f = folder_get(p, disk, dlen)))
		return MB_E_NOMEM;
	if (msg && e->type == 'f')
		return mbi_strv_push(&f->msgs, &f->nmsgs, &f->cap, strdup(msg));
	return MB_OK;
}

/* Does the folder's directory hold an entry of the snapshot at rest?
 * For INBOX only its own Maildir (not its subfolders, not the mailbox's
 * other files). */
static bool folder_owns(const char *disk, const char *rest)
{
	static const char *const inbox[] = {
		"cur", "new", "tmp", "dovecot-uidlist", "dovecot-keywords",
	};
	size_t i, l;

	if (*disk) {
		l = strlen(disk);
		return !strncmp(rest, disk, l) &&
		       (rest[l] == '/' || rest[l] == '\0');
	}
	for (i = 0; i < sizeof(inbox) / sizeof(*inbox); i++) {
		l = strlen(inbox[i]);
		if (!strncmp(rest, inbox[i], l) &&
		    (rest[l] == '/' || rest[l] == '\0'))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------ the plan */

static int choose_folders(struct ip *p)
{
	size_t i, k;
	int rc;

	for (k = 0; k < p->nwant; k++) {
		for (i = 0; i < p->nf; i++)
			if (!strcmp(p->f[i].disk, p->want_disk[k]))
				break;
		if (i == p->nf)
			return mbi_error(p->ctx, MB_E_NOTFOUND, 0,
					 "folder '%s' of mailbox '%s' is not in the snapshot: see 'mailbackup ls SNAPSHOT %s/%s'",
					 p->opts->folders[k], p->opts->mailbox,
					 p->source, p->mbox);
		p->f[i].chosen = true;
	}
	for (i = 0; i < p->nf; i++) {
		struct folder *f = &p->f[i];
		char *into;

		if (!p->nwant)
			f->chosen = true;
		if (!f->chosen)
			continue;
		rc = mbi_maildir_to_imap(p->ctx, f->disk, &f->imap);
		if (rc == MB_E_INVAL && !p->opts->into_folder) {
			/* a directory no IMAP name maps to (made by another
			 * tool): it keeps its name, shown as it is */
			f->imap = strdup(f->disk);
			rc = f->imap ? MB_OK : MB_E_NOMEM;
		}
		if (rc)
			return rc;
		if (!p->opts->into_folder) {
			f->dst_disk = strdup(f->disk);
			f->dst_imap = strdup(f->imap);
			if (!f->dst_disk || !f->dst_imap)
				return MB_E_NOMEM;
			continue;
		}
		into = mbi_asprintf("%s/%s", p->opts->into_folder, f->imap);
		if (!into)
			return MB_E_NOMEM;
		f->dst_imap = into;
		if ((rc = mbi_imap_to_maildir(p->ctx, into, &f->dst_disk)))
			return rc;
	}
	return MB_OK;
}

/* The base names (before ':') of the messages in dir/cur and dir/new. */
static int live_names(struct ip *p, const char *dir, char ***out, size_t *n)
{
	static const char *const subs[] = { "cur", "new" };
	size_t cap = 0, k;
	int rc = MB_OK;

	*out = NULL;
	*n = 0;
	for (k = 0; k < 2 && !rc; k++) {
		char *d = mbi_asprintf("%s/%s", dir, subs[k]);
		DIR *dh = d ? opendir(d) : NULL;
		struct dirent *de;

		if (!dh) {
			rc = d ? mbi_error(p->ctx, MB_E_IO, errno,
					   "cannot read the live folder '%s'",
					   d) : MB_E_NOMEM;
			free(d);
			break;
		}
		while (!rc && (de = readdir(dh)))
			if (de->d_name[0] != '.')
				rc = mbi_strv_push(out, n, &cap,
					  strndup(de->d_name,
						  strcspn(de->d_name, ":")));
		closedir(dh);
		free(d);
	}
	if (!rc && *n)
		qsort(*out, *n, sizeof(**out), cmp_str);
	return rc;
}

/* The base name of message msg ("cur/NAME:2,FLAGS"), or the one it gets
 * when it is renamed: "-R" after its unique part, before ",S=...". */
static char *base_name(const char *msg, bool renamed)
{
	const char *b = msg + 4;
	size_t l = strcspn(b, ":"), u = strcspn(b, ",:");

	if (!renamed)
		return strndup(b, l);
	return mbi_asprintf("%.*s-R%.*s", (int)u, b, (int)(l - u), b + u);
}

static bool in_names(char **names, size_t n, const char *msg, bool renamed)
{
	char *base = base_name(msg, renamed);
	bool hit = base && n &&
		   bsearch(&base, names, n, sizeof(*names), cmp_str);

	free(base);
	return hit;
}

static bool has_base(char **names, size_t n, const char *msg)
{
	return in_names(names, n, msg, false) || in_names(names, n, msg, true);
}

/* The names dovecot-uidlist of dir lists (those it gave UIDs to). */
static int uidlist_names(struct ip *p, const char *dir, char ***out,
			 size_t *n)
{
	char *path = mbi_asprintf("%s/dovecot-uidlist", dir), *line, *c;
	struct mbi_buf b = { 0 };
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!path)
		return MB_E_NOMEM;
	rc = mbi_read_file(p->ctx, path, &b, 256 << 20);
	free(path);
	if (rc == MB_E_NOTFOUND)
		rc = MB_OK; /* a new folder */
	for (line = b.data; !rc && line && *line; line = c) {
		char *name = strstr(line, " :");

		c = strchr(line, '\n');
		if (c)
			*c++ = '\0';
		if (name && line != b.data)
			rc = mbi_strv_push(out, n, &cap, strdup(name + 2));
	}
	mbi_buf_release(&b);
	if (!rc && *n)
		qsort(*out, *n, sizeof(**out), cmp_str);
	return rc;
}

static int report(struct ip *p, enum mb_inplace_action a,
		  const struct folder *f, const char *name)
{
	struct mb_inplace_item it = { a, p->dst_user, f->dst_imap, name };

	if (!p->opts->on_item)
		return MB_OK;
	return p->opts->on_item(p->opts->on_item_ud, &it) ? MB_E_ABORTED :
							     MB_OK;
}

static int sel_add(struct ip *p, const char *rest)
{
	return mbi_strv_push(&p->sel, &p->nsel, &p->selcap,
		    *rest ? mbi_asprintf("%s/%s", p->mbox, rest) :
			    strdup(p->mbox));
}

/* What each chosen folder needs: all of it when it is absent live, else
 * the messages the live folder lacks and its keyword names. */
static int plan_folder(struct ip *p, struct folder *f)
{
	char *dir = mbi_asprintf("%s%s%s", p->live_root,
				 *f->dst_disk ? "/" : "", f->dst_disk);
	char *cur = dir ? mbi_asprintf("%s/cur", dir) : NULL, *kw;
	char **names = NULL, **uids = NULL;
	size_t n = 0, i, adds = 0, nuids = 0;
	struct stat st;
	int rc = MB_OK;

	if (!cur) {
		rc = MB_E_NOMEM;
		goto out;
	}
	f->live = !lstat(cur, &st) && S_ISDIR(st.st_mode);
	f->add = calloc(f->nmsgs + 1, sizeof(*f->add));
	if (!f->add) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (!f->live) {
		for (i = 0; i < f->nmsgs; i++)
			f->add[i] = ADD_NAME;
		p->res.folders_created++;
		p->res.added += f->nmsgs;
		rc = report(p, MB_INPLACE_FOLDER, f, NULL);
		for (i = 0; !rc && i < f->nmsgs; i++)
			rc = report(p, MB_INPLACE_ADD, f, f->msgs[i]);
		goto out;
	}
	if ((rc = live_names(p, dir, &names, &n)) ||
	    (rc = uidlist_names(p, dir, &uids, &nuids)))
		goto out;
	for (i = 0; !rc && i < f->nmsgs; i++) {
		f->add[i] = has_base(names, n, f->msgs[i]) ? ADD_NONE :
			    in_names(uids, nuids, f->msgs[i], false) ?
			    ADD_RENAMED : ADD_NAME;
		if (f->add[i])
			adds++;
		else
			p->res.present++;
		rc = report(p, f->add[i] ? MB_INPLACE_ADD : MB_INPLACE_PRESENT,
			    f, f->msgs[i]);
	}
	p->res.added += adds;
	f->nadd = adds;
	/* the snapshot's keyword names, for the letters of what is added */
	kw = mbi_asprintf("%s%sdovecot-keywords", f->disk, *f->disk ? "/" : "");
	if (!kw)
		rc = MB_E_NOMEM;
	else if (!rc && adds)
		rc = sel_add(p, kw);
	free(kw);
out:
	mbi_strv_free(names, n);
	mbi_strv_free(uids, nuids);
	free(cur);
	free(dir);
	return rc;
}

static int plan(struct ip *p, const struct mbi_manifest *m)
{
	size_t i, k;
	int rc;

	if ((rc = mbi_manifest_foreach(p->ctx, m, on_entry, p)))
		return rc;
	if (!p->nf)
		return mbi_error(p->ctx, MB_E_NOTFOUND, 0,
				 "mailbox '%s' is not in source '%s' of the snapshot: see 'mailbackup ls SNAPSHOT %s'",
				 p->opts->mailbox, p->source, p->source);
	if ((rc = choose_folders(p)))
		return rc;
	for (i = 0; i < p->nf && !rc; i++) {
		struct folder *f = &p->f[i];

		if (!f->chosen)
			continue;
		rc = plan_folder(p, f);
		for (k = 0; !rc && k < f->nmsgs; k++) {
			char *rel;

			if (!f->add[k] || !f->live)
				continue;
			rel = mbi_asprintf("%s%s%s", f->disk,
					   *f->disk ? "/" : "", f->msgs[k]);
			rc = rel ? sel_add(p, rel) : MB_E_NOMEM;
			free(rel);
		}
	}
	if (!rc && p->nsel)
		qsort(p->sel, p->nsel, sizeof(*p->sel), cmp_str);
	return rc;
}

/* The selection of the staging restore: the planned files, and every
 * entry of a folder that comes back whole. */
static int staging_select(void *ud, const char *source, const char *path)
{
	struct ip *p = ud;
	size_t l = strlen(p->mbox), i;
	const char *rest;

	if (strcmp(source, p->source) || strncmp(path, p->mbox, l) ||
	    (path[l] != '/' && path[l] != '\0'))
		return 0;
	if (p->nsel && bsearch(&path, p->sel, p->nsel, sizeof(*p->sel),
			       cmp_str))
		return 1;
	rest = path[l] ? path + l + 1 : "";
	for (i = 0; i < p->nf; i++)
		if (p->f[i].chosen && !p->f[i].live &&
		    folder_owns(p->f[i].disk, rest))
			return 1;
	return 0;
}

/* ------------------------------------------------------- writing live */

/* Dovecot's dotlock on dir/name: name.lock, made exclusively; *fdp is
 * the fd to write the new content into. */
static int dotlock(struct ip *p, int dirfd, const char *dir, const char *name,
		   int *fdp)
{
	char lock[64];
	int i, fd = -1;

	snprintf(lock, sizeof(lock), "%s.lock", name);
	for (i = 0; i < 200 && fd < 0; i++) {
		fd = openat(dirfd, lock, O_WRONLY | O_CREAT | O_EXCL |
			    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
		if (fd < 0) {
			struct timespec ts = { 0, 50000000 };

			nanosleep(&ts, NULL);
		}
	}
	*fdp = fd;
	if (fd < 0)
		return mbi_error(p->ctx, errno == EEXIST ? MB_E_LOCKED :
				 MB_E_IO, errno,
				 "cannot lock '%s/%s' (Dovecot holds '%s' for 10 s and more): try again",
				 dir, name, lock);
	return MB_OK;
}

/* Replace dir/name with text under its dotlock (fd of the lock file), as
 * Dovecot does: the new content goes into the lock file, which is renamed
 * over the file. Closes fd. */
static int dotlock_commit(struct ip *p, int dirfd, const char *dir,
			  const char *name, int fd, const struct mbi_buf *text)
{
	char lock[64];
	int rc = MB_OK;

	snprintf(lock, sizeof(lock), "%s.lock", name);
	if (mbi_write_all(fd, text->data, text->len) ||
	    fchown(fd, p->uid, p->gid) || fsync(fd))
		rc = mbi_error(p->ctx, MB_E_IO, errno, "cannot write '%s/%s'",
			       dir, lock);
	if (close(fd) && !rc)
		rc = mbi_error(p->ctx, MB_E_IO, errno, "cannot write '%s/%s'",
			       dir, lock);
	if (!rc && renameat(dirfd, lock, dirfd, name))
		rc = mbi_error(p->ctx, MB_E_IO, errno,
			       "cannot rename '%s/%s' to '%s'", dir, lock,
			       name);
	if (rc)
		unlinkat(dirfd, lock, 0);
	return rc;
}

/* dovecot-keywords: "N name" lines; names[N] (at most 26 letters). */
struct keywords {
	char *names[26];
};

static void keywords_parse(struct keywords *k, const char *text)
{
	const char *line = text;

	while (line && *line) {
		char *end;
		long n = strtol(line, &end, 10);
		const char *nl = strchr(line, '\n');

		if (end != line && *end == ' ' && n >= 0 && n < 26 &&
		    !k->names[n])
			k->names[n] = strndup(end + 1,
					      nl ? (size_t)(nl - end - 1) :
						   strlen(end + 1));
		line = nl ? nl + 1 : NULL;
	}
}

static void keywords_release(struct keywords *k)
{
	size_t i;

	for (i = 0; i < 26; i++)
		free(k->names[i]);
}

static int keywords_read(struct ip *p, int dirfd, const char *dir,
			 struct keywords *k, struct mbi_buf *text)
{
	int fd = openat(dirfd, "dovecot-keywords",
			O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char buf[4096];
	ssize_t n;

	memset(k, 0, sizeof(*k));
	if (fd < 0)
		return errno == ENOENT ? MB_OK :
		       mbi_error(p->ctx, MB_E_IO, errno,
				 "cannot read '%s/dovecot-keywords'", dir);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (mbi_buf_add(text, buf, (size_t)n)) {
			close(fd);
			return MB_E_NOMEM;
		}
	close(fd);
	if (n < 0)
		return mbi_error(p->ctx, MB_E_IO, errno,
				 "cannot read '%s/dovecot-keywords'", dir);
	if (mbi_buf_add(text, "", 1))
		return MB_E_NOMEM;
	text->len--;
	keywords_parse(k, text->data);
	return MB_OK;
}

/* The live letter of the snapshot's keyword letter c; the live file gains
 * names it lacks (in *added, written by keywords_commit). -1 when the
 * live folder has all 26 letters taken. */
static int keyword_letter(const struct keywords *snap, struct keywords *live,
			  char c, bool *added)
{
	const char *name = snap->names[c - 'a'];
	int i, free_slot = -1;

	if (!name)
		return c; /* unknown in the snapshot: keep the letter */
	for (i = 0; i < 26; i++) {
		if (live->names[i] && !strcmp(live->names[i], name))
			return 'a' + i;
		if (!live->names[i] && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return -1;
	live->names[free_slot] = strdup(name);
	if (!live->names[free_slot])
		return -1;
	*added = true;
	return 'a' + free_slot;
}

struct merge {
	struct ip *p;
	struct folder *f;
	int stage_fd;          /* the staged folder */
	int live_fd;           /* the live folder */
	char *live_dir;
	struct keywords snapkw, livekw;
	struct mbi_buf livetext;
	bool kw_added;
};

/* The live info of a message: ":2," + the snapshot's flags, its keyword
 * letters mapped onto the live dovecot-keywords. */
static int live_info(struct merge *mg, const char *msg, struct mbi_buf *out)
{
	const char *info = strstr(msg, ":2,");
	char kw[27] = "";
	size_t nkw = 0, i, j;

	out->len = 0;
	if (mbi_buf_addstr(out, ":2,"))
		return MB_E_NOMEM;
	for (i = 0; info && info[3 + i]; i++) {
		char c = info[3 + i];
		int l;

		if (c < 'a' || c > 'z') {
			if (mbi_buf_add(out, &c, 1))
				return MB_E_NOMEM;
			continue;
		}
		l = keyword_letter(&mg->snapkw, &mg->livekw, c, &mg->kw_added);
		if (l < 0) {
			mbi_warn(mg->p->ctx,
				 "'%s' has 26 keywords already: keyword '%s' of '%s' is left out",
				 mg->live_dir, mg->snapkw.names[c - 'a'], msg);
			continue;
		}
		if (!memchr(kw, l, nkw))
			kw[nkw++] = (char)l;
	}
	/* Maildir wants the letters sorted */
	for (i = 0; i < nkw; i++)
		for (j = i + 1; j < nkw; j++)
			if (kw[j] < kw[i]) {
				char t = kw[i];

				kw[i] = kw[j];
				kw[j] = t;
			}
	return mbi_buf_add(out, kw, nkw) ? MB_E_NOMEM : MB_OK;
}

/* The keywords the live folder lacks, added under Dovecot's dotlock to the
 * file as it is then (Dovecot may have added some meanwhile); mg->livekw
 * becomes that file, so that the letters given afterwards are its. */
static int keywords_commit(struct merge *mg)
{
	struct mbi_buf text = { 0 };
	struct keywords now;
	int rc, i, k, fd;
	const char *kwf = "dovecot-keywords";

	if (!mg->kw_added)
		return MB_OK;
	if ((rc = dotlock(mg->p, mg->live_fd, mg->live_dir, kwf, &fd)))
		return rc;
	if ((rc = keywords_read(mg->p, mg->live_fd, mg->live_dir, &now,
				&text)))
		goto fail;
	for (i = 0; i < 26; i++) {
		const char *name = mg->livekw.names[i];

		for (k = 0; name && k < 26; k++)
			if (now.names[k] && !strcmp(now.names[k], name))
				name = NULL; /* there already */
		for (k = 0; name && k < 26 && now.names[k]; k++)
			;
		if (!name || k == 26)
			continue; /* 26 taken: live_info warns */
		if (!(now.names[k] = strdup(name)) ||
		    mbi_buf_printf(&text, "%s%d %s\n",
				   text.len && text.data[text.len - 1] != '\n' ?
				   "\n" : "", k, name)) {
			rc = MB_E_NOMEM;
			goto fail;
		}
	}
	rc = dotlock_commit(mg->p, mg->live_fd, mg->live_dir, kwf, fd, &text);
	fd = -1;
	if (!rc) {
		keywords_release(&mg->livekw);
		mg->livekw = now;
		memset(&now, 0, sizeof(now));
	}
fail:
	if (fd >= 0) {
		close(fd);
		unlinkat(mg->live_fd, "dovecot-keywords.lock", 0);
	}
	keywords_release(&now);
	mbi_buf_release(&text);
	return rc;
}

/* Deliver one staged message as an MDA does: into tmp/, owned by the
 * mailbox's owner, then renamed into cur/ with its flags. */
static int deliver(struct merge *mg, const char *msg, const char *info,
		   bool renamed)
{
	struct ip *p = mg->p;
	char *base = base_name(msg, renamed);
	char *tmp = base ? mbi_asprintf("tmp/%s", base) : NULL;
	char *cur = tmp ? mbi_asprintf("cur/%s%s", base, info) : NULL;
	int rc = MB_OK;

	if (!cur) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (renameat(mg->stage_fd, msg, mg->live_fd, tmp)) {
		rc = mbi_error(p->ctx, MB_E_IO, errno,
			       "cannot move '%s' into '%s/tmp'", msg,
			       mg->live_dir);
		goto out;
	}
	if (fchownat(mg->live_fd, tmp, p->uid, p->gid, AT_SYMLINK_NOFOLLOW))
		mbi_warn(p->ctx, "cannot give '%s/%s' to the mailbox's owner: %s",
			 mg->live_dir, tmp, strerror(errno));
	if (renameat2(mg->live_fd, tmp, mg->live_fd, cur, RENAME_NOREPLACE)) {
		rc = mbi_error(p->ctx, MB_E_IO, errno,
			       "cannot deliver '%s/%s'", mg->live_dir, cur);
		unlinkat(mg->live_fd, tmp, 0);
		goto out;
	}
	p->res.files++;
out:
	free(cur);
	free(tmp);
	free(base);
	return rc;
}

static int open_dir(struct ip *p, const char *path, int *fd)
{
	*fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return *fd < 0 ? mbi_error(p->ctx, MB_E_IO, errno,
				   "cannot open directory '%s'", path) : MB_OK;
}

static int merge_folder(struct ip *p, struct folder *f, const char *staged)
{
	struct merge mg = { .p = p, .f = f, .stage_fd = -1, .live_fd = -1 };
	struct mbi_buf info = { 0 }, snaptext = { 0 };
	char *sdir = mbi_asprintf("%s%s%s", staged, *f->disk ? "/" : "",
				  f->disk);
	size_t i;
	int rc;

	mg.live_dir = mbi_asprintf("%s%s%s", p->live_root,
				   *f->dst_disk ? "/" : "", f->dst_disk);
	if (!sdir || !mg.live_dir) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if ((rc = open_dir(p, sdir, &mg.stage_fd)) ||
	    (rc = open_dir(p, mg.live_dir, &mg.live_fd)) ||
	    (rc = keywords_read(p, mg.stage_fd, sdir, &mg.snapkw,
				&snaptext)) ||
	    (rc = keywords_read(p, mg.live_fd, mg.live_dir, &mg.livekw,
				&mg.livetext)))
		goto out;
	/* keywords first: a message must not show a letter Dovecot does
	 * not know yet */
	for (i = 0; !rc && i < f->nmsgs; i++)
		if (f->add[i])
			rc = live_info(&mg, f->msgs[i], &info);
	if (!rc)
		rc = keywords_commit(&mg);
	for (i = 0; !rc && i < f->nmsgs; i++) {
		if (!f->add[i])
			continue;
		if (!(rc = live_info(&mg, f->msgs[i], &info)) &&
		    !(rc = mbi_buf_add(&info, "", 1) ? MB_E_NOMEM : MB_OK))
			rc = deliver(&mg, f->msgs[i], info.data,
				     f->add[i] == ADD_RENAMED);
	}
out:
	if (mg.stage_fd >= 0)
		close(mg.stage_fd);
	if (mg.live_fd >= 0)
		close(mg.live_fd);
	keywords_release(&mg.snapkw);
	keywords_release(&mg.livekw);
	mbi_buf_release(&mg.livetext);
	mbi_buf_release(&snaptext);
	mbi_buf_release(&info);
	free(mg.live_dir);
	free(sdir);
	return rc;
}

/* Give dir and what is in it (two levels: a Maildir) to the mailbox's
 * owner. */
static void chown_tree(struct ip *p, int fd, int depth)
{
	DIR *d;
	struct dirent *de;
	int dup_fd = dup(fd);

	if (fchown(fd, p->uid, p->gid))
		mbi_warn(p->ctx, "cannot give a restored directory to the mailbox's owner: %s",
			 strerror(errno));
	if (dup_fd < 0 || !(d = fdopendir(dup_fd))) {
		if (dup_fd >= 0)
			close(dup_fd);
		return;
	}
	while ((de = readdir(d))) {
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		sub = depth ? openat(fd, de->d_name, O_RDONLY | O_DIRECTORY |
				     O_NOFOLLOW | O_CLOEXEC) : -1;
		if (sub >= 0) {
			chown_tree(p, sub, depth - 1);
			close(sub);
		} else if (fchownat(fd, de->d_name, p->uid, p->gid,
				    AT_SYMLINK_NOFOLLOW)) {
			mbi_warn(p->ctx, "cannot give '%s' to the mailbox's owner: %s",
				 de->d_name, strerror(errno));
		}
	}
	closedir(d);
}

/* A folder's name in Dovecot's subscriptions file (version 2: levels
 * separated by a tab). */
static int subscribe(struct ip *p, const struct folder *f)
{
	struct mbi_buf text = { 0 };
	int fd = -1, lfd = -1, rc;
	char buf[4096], *c;
	ssize_t n;
	size_t start;

	if ((rc = open_dir(p, p->live_root, &fd)))
		return rc;
	/* read and rewritten under the lock, as Dovecot does */
	if ((rc = dotlock(p, fd, p->live_root, "subscriptions", &lfd)))
		goto out;
	n = openat(fd, "subscriptions", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (n >= 0) {
		int sfd = (int)n;

		while ((n = read(sfd, buf, sizeof(buf))) > 0)
			if (mbi_buf_add(&text, buf, (size_t)n))
				break;
		close(sfd);
	}
	if ((!text.len && mbi_buf_addstr(&text, "V\t2\n\n")) ||
	    (text.data[text.len - 1] != '\n' && mbi_buf_add(&text, "\n", 1))) {
		rc = MB_E_NOMEM;
		goto out;
	}
	start = text.len;
	if (mbi_buf_printf(&text, "%s\n", f->dst_imap)) {
		rc = MB_E_NOMEM;
		goto out;
	}
	for (c = text.data + start; *c; c++)
		if (*c == '/')
			*c = '\t';
	/* subscribed already (a folder deleted but not unsubscribed) */
	for (c = strstr(text.data, text.data + start);
	     c && c < text.data + start; c = strstr(c + 1, text.data + start))
		if (c == text.data || c[-1] == '\n')
			goto out;
	rc = dotlock_commit(p, fd, p->live_root, "subscriptions", lfd, &text);
	lfd = -1;
out:
	if (lfd >= 0) {
		close(lfd);
		unlinkat(fd, "subscriptions.lock", 0);
	}
	close(fd);
	mbi_buf_release(&text);
	return rc;
}

/* An INBOX comes back as a folder: its own Maildir parts, moved out of
 * the staged mailbox into a directory of their own. */
static int gather_inbox(struct ip *p, const char *staged, char **out)
{
	static const char *const parts[] = {
		"cur", "new", "tmp", "dovecot-uidlist", "dovecot-keywords",
	};
	char *dir = mbi_asprintf("%s/.mb-inbox", staged);
	size_t i;

	if (!dir)
		return MB_E_NOMEM;
	if (mkdir(dir, 0700)) {
		free(dir);
		return mbi_error(p->ctx, MB_E_IO, errno,
				 "cannot create '%s/.mb-inbox'", staged);
	}
	for (i = 0; i < sizeof(parts) / sizeof(*parts); i++) {
		char *a = mbi_asprintf("%s/%s", staged, parts[i]);
		char *b = mbi_asprintf("%s/%s", dir, parts[i]);

		if (a && b && rename(a, b) && errno != ENOENT)
			mbi_warn(p->ctx, "cannot move '%s': %s", a,
				 strerror(errno));
		free(a);
		free(b);
	}
	*out = dir;
	return MB_OK;
}

/* A folder absent live comes back whole (its dovecot-uidlist and
 * dovecot-keywords too, so UIDs and keywords are as they were), in one
 * rename, and is subscribed. */
static int place_folder(struct ip *p, struct folder *f, const char *staged)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	char *sdir = NULL, *dst;
	int fd = -1, rc = MB_OK;
	size_t i;

	if (!*f->dst_disk)
		return mbi_error(p->ctx, MB_E_IO, 0,
				 "'%s' has no INBOX (no cur/): it is no Maildir++ mailbox",
				 p->live_root);
	if (!*f->disk)
		rc = gather_inbox(p, staged, &sdir);
	else
		sdir = mbi_asprintf("%s/%s", staged, f->disk);
	dst = mbi_asprintf("%s/%s", p->live_root, f->dst_disk);
	if (rc || !sdir || !dst) {
		rc = rc ? rc : MB_E_NOMEM;
		goto out;
	}
	if ((rc = open_dir(p, sdir, &fd)))
		goto out;
	for (i = 0; i < 3; i++)
		mkdirat(fd, subs[i], 0700);
	close(openat(fd, "maildirfolder", O_WRONLY | O_CREAT | O_NOFOLLOW |
		     O_CLOEXEC, 0600));
	chown_tree(p, fd, 1);
	if (renameat2(AT_FDCWD, sdir, AT_FDCWD, dst, RENAME_NOREPLACE)) {
		rc = mbi_error(p->ctx, MB_E_IO, errno,
			       "cannot move the restored folder '%s' into place at '%s'",
			       f->dst_imap, dst);
		goto out;
	}
	p->res.files += f->nmsgs;
	if (subscribe(p, f))
		/* the folder is back; a subscription the user can make */
		mbi_warn(p->ctx, "restored folder '%s' is not subscribed: %s",
			 f->dst_imap, mb_ctx_errmsg(p->ctx));
out:
	if (fd >= 0)
		close(fd);
	free(dst);
	free(sdir);
	return rc;
}

static int stage(struct ip *p, const char *snap_id)
{
	struct mb_restore_opts so;
	struct mb_restore_result sr;
	char rnd[17];
	uint64_t warnings;
	int rc;

	mbi_random_hex(rnd, 8);
	p->staging = mbi_asprintf("%s/.mailbackup-restore-%s", p->src->path,
				  rnd);
	if (!p->staging)
		return MB_E_NOMEM;
	if (mkdir(p->staging, 0700))
		return mbi_error(p->ctx, MB_E_IO, errno,
				 "cannot create the staging directory '%s'",
				 p->staging);
	memset(&so, 0, sizeof(so));
	so.snapshot = snap_id;
	so.target = p->staging;
	so.source = p->source;
	so.select = staging_select;
	so.select_ud = p;
	warnings = p->ctx->warnings; /* mb_restore counts its own */
	rc = mbi_restore_tree(p->ctx, &so, &sr);
	p->ctx->warnings += warnings;
	p->res.packs = sr.packs;
	p->res.bytes = sr.bytes;
	return rc == MB_E_PARTIAL ? MB_OK : rc;
}

static int apply(struct ip *p)
{
	char *staged = mbi_asprintf("%s/%s/%s", p->staging, p->source,
				    p->mbox);
	size_t i;
	int rc = MB_OK;

	if (!staged)
		return MB_E_NOMEM;
	/* folders that merge first: gather_inbox takes INBOX's parts */
	for (i = 0; !rc && i < p->nf; i++)
		if (p->f[i].chosen && p->f[i].live && p->f[i].nadd)
			rc = merge_folder(p, &p->f[i], staged);
	for (i = 0; !rc && i < p->nf; i++)
		if (p->f[i].chosen && !p->f[i].live)
			rc = place_folder(p, &p->f[i], staged);
	free(staged);
	return rc;
}

/* -------------------------------------------------------- the options */

static int pick_source(struct ip *p)
{
	const struct mbi_config *cfg = p->ctx->cfg;
	size_t i;

	for (i = 0; i < cfg->nsources; i++) {
		const struct mbi_source *s = &cfg->sources[i];

		if (p->opts->source ? strcmp(s->name, p->opts->source) :
				      !s->kind->in_place)
			continue;
		if (p->src)
			return mbi_error(p->ctx, MB_E_INVAL, 0,
					 "several maildir sources: pass --source NAME");
		p->src = s;
	}
	if (!p->src && p->opts->source)
		return mbi_error(p->ctx, MB_E_CONFIG, 0,
				 "no source '%s' in the configuration: in-place restores write to a configured source's path",
				 p->opts->source);
	if (!p->src)
		return mbi_error(p->ctx, MB_E_CONFIG, 0,
				 "no maildir source in the configuration: in-place restores write to its path");
	if (!p->src->kind->in_place)
		return mbi_error(p->ctx, MB_E_INVAL, 0,
				 "source '%s' is of type %s: in-place restores merge maildir sources only; restore it with --target",
				 p->src->name, p->src->type);
	p->source = p->src->name;
	return MB_OK;
}

static int check_opts(struct mb_ctx *ctx, const struct mb_restore_opts *o)
{
	if (o->in_place && o->target)
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "--in-place writes into the source's own path: leave out --target");
	if (!o->in_place && (o->as_mailbox || o->into_folder || o->dry_run))
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "--as, --into-folder and --dry-run go with --in-place");
	if (o->in_place && (o->overwrite || o->load || o->path_glob))
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "--in-place merges maildir folders: it takes no --overwrite, --load or --path");
	if ((o->nfolders || o->as_mailbox || o->into_folder) && !o->mailbox)
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "--folder, --as and --into-folder need --mailbox USER@DOMAIN");
	if (o->in_place && !o->mailbox)
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "--in-place restores one mailbox: pass --mailbox USER@DOMAIN");
	return MB_OK;
}

static int parse_folders(struct ip *p)
{
	size_t i;
	int rc;

	if (!p->opts->nfolders)
		return MB_OK;
	p->want_disk = calloc(p->opts->nfolders, sizeof(*p->want_disk));
	if (!p->want_disk)
		return MB_E_NOMEM;
	for (i = 0; i < p->opts->nfolders; i++) {
		if ((rc = mbi_imap_to_maildir(p->ctx, p->opts->folders[i],
					      &p->want_disk[i])))
			return rc;
		p->nwant++;
	}
	if (p->opts->into_folder) {
		char *d = NULL;

		rc = mbi_imap_to_maildir(p->ctx, p->opts->into_folder, &d);
		free(d);
		if (rc)
			return rc;
	}
	return MB_OK;
}

static int live_mailbox(struct ip *p)
{
	struct stat st;

	p->live_root = mbi_asprintf("%s/%s", p->src->path, p->dst_mbox);
	if (!p->live_root)
		return MB_E_NOMEM;
	if (lstat(p->live_root, &st) || !S_ISDIR(st.st_mode))
		return mbi_error(p->ctx, MB_E_NOTFOUND, errno,
				 "mailbox '%s' is not in the live tree at '%s': let the mail server create it (log in once, or 'doveadm mailbox create -u %s INBOX'), then restore",
				 p->dst_user, p->live_root, p->dst_user);
	p->uid = st.st_uid;
	p->gid = st.st_gid;
	return MB_OK;
}

static void ip_release(struct ip *p)
{
	size_t i;

	for (i = 0; i < p->nf; i++) {
		free(p->f[i].disk);
		free(p->f[i].imap);
		free(p->f[i].dst_disk);
		free(p->f[i].dst_imap);
		free(p->f[i].add);
		mbi_strv_free(p->f[i].msgs, p->f[i].nmsgs);
	}
	free(p->f);
	mbi_strv_free(p->sel, p->nsel);
	mbi_strv_free(p->want_disk, p->nwant);
	if (p->staging)
		mbi_rm_tree_at(AT_FDCWD, p->staging);
	free(p->staging);
	free(p->mbox);
	free(p->dst_mbox);
	free(p->dst_user);
	free(p->live_root);
}

/* restore --target with --folder: the folders' own entries (and, as for
 * any partial restore, the directories above them). */
static int folder_select(void *ud, const char *source, const char *path)
{
	struct ip *p = ud;
	size_t l = strlen(p->mbox), i;

	(void)source;
	if (strncmp(path, p->mbox, l) || path[l] != '/')
		return 0;
	for (i = 0; i < p->nwant; i++)
		if (folder_owns(p->want_disk[i], path + l + 1))
			return 1;
	return 0;
}

/* mailcow releases with "mail_location = maildir:~/Maildir" keep the
 * Maildir one level down: the mailbox is then "dom/user/Maildir". */
struct sub_probe {
	struct ip *p;
	char *want;            /* "dom/user/Maildir/cur" */
	bool found;
};

static int probe_entry(void *ud, struct mbi_mentry *e)
{
	struct sub_probe *sp = ud;

	if (e->type == 'd' && !strcmp(e->path, sp->want) &&
	    (!sp->p->source || !strcmp(e->source, sp->p->source)))
		sp->found = true;
	return MB_OK;
}

static int maildir_sub(struct ip *p, const struct mbi_manifest *m)
{
	struct sub_probe sp = { p, mbi_asprintf("%s/Maildir/cur", p->mbox),
				false };
	char *a, *b;
	int rc;

	if (!sp.want)
		return MB_E_NOMEM;
	rc = mbi_manifest_foreach(p->ctx, m, probe_entry, &sp);
	free(sp.want);
	if (rc || !sp.found)
		return rc;
	a = mbi_asprintf("%s/Maildir", p->mbox);
	b = mbi_asprintf("%s/Maildir", p->dst_mbox);
	if (!a || !b) {
		free(a);
		free(b);
		return MB_E_NOMEM;
	}
	free(p->mbox);
	free(p->dst_mbox);
	p->mbox = a;
	p->dst_mbox = b;
	return MB_OK;
}

/* Which of the folders asked for the snapshot has (want_disk[i] found:
 * found[i]). */
struct folder_check {
	struct ip *p;
	bool *found;
};

static int check_entry(void *ud, struct mbi_mentry *e)
{
	struct folder_check *fc = ud;
	struct ip *p = fc->p;
	size_t l = strlen(p->mbox), i;

	if ((p->opts->source && strcmp(e->source, p->opts->source)) ||
	    strncmp(e->path, p->mbox, l) || e->path[l] != '/')
		return MB_OK;
	for (i = 0; i < p->nwant; i++)
		if (!fc->found[i] && (*p->want_disk[i] || e->type == 'f') &&
		    folder_owns(p->want_disk[i], e->path + l + 1))
			fc->found[i] = true;
	return MB_OK;
}

/* Every folder asked for is in the snapshot, before anything is
 * written. */
static int check_folders(struct ip *p)
{
	struct mbi_repo *r = NULL;
	struct mb_snapshot_info si;
	struct mbi_manifest m;
	struct folder_check fc = { p, calloc(p->nwant + 1, sizeof(bool)) };
	size_t i;
	int rc;

	if (!fc.found)
		return MB_E_NOMEM;
	if ((rc = mbi_repo_open(p->ctx, &r)) ||
	    (rc = mbi_snapshot_resolve(r, p->opts->snapshot, &si)) ||
	    (rc = mbi_manifest_load(r, si.name, &m)))
		goto out;
	rc = maildir_sub(p, &m);
	if (!rc)
		rc = mbi_manifest_foreach(p->ctx, &m, check_entry, &fc);
	mbi_manifest_release(&m);
	for (i = 0; !rc && i < p->nwant; i++)
		if (!fc.found[i])
			rc = mbi_error(p->ctx, MB_E_NOTFOUND, 0,
				       "folder '%s' of mailbox '%s' is not in snapshot '%s'",
				       p->opts->folders[i], p->opts->mailbox,
				       si.id);
out:
	mbi_repo_close(r);
	free(fc.found);
	return rc;
}

static int restore_folders(struct ip *p, struct mb_restore_result *res)
{
	struct mb_restore_opts o = *p->opts;
	int rc = check_folders(p);

	if (rc)
		return rc;

	o.folders = NULL;
	o.nfolders = 0;
	o.select = folder_select;
	o.select_ud = p;
	return mbi_restore_tree(p->ctx, &o, res);
}

/* mail_crypt's global key files (mailcow: ecprivkey.pem, ecpubkey.pem; or
 * any *.pem of a directory named mail_crypt/mail-crypt) in a files source
 * of the snapshot that is configured here: compared with the live ones. */
static bool crypt_key_path(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t l = strlen(path);

	base = base ? base + 1 : path;
	if (!strcmp(base, "ecprivkey.pem") || !strcmp(base, "ecpubkey.pem"))
		return true;
	return l > 4 && !strcmp(path + l - 4, ".pem") &&
	       (strstr(path, "mail_crypt") || strstr(path, "mail-crypt"));
}

static int on_key_entry(void *ud, struct mbi_mentry *e)
{
	struct ip *p = ud;
	const struct mbi_config *cfg = p->ctx->cfg;
	unsigned char sha[MBI_SHA256_LEN];
	char *live;
	size_t i;
	int fd;
	bool same = false;

	if (e->type != 'f' || !crypt_key_path(e->path))
		return MB_OK;
	for (i = 0; i < cfg->nsources; i++)
		if (!strcmp(cfg->sources[i].name, e->source) &&
		    cfg->sources[i].path)
			break;
	if (i == cfg->nsources)
		return MB_OK;
	live = mbi_asprintf("%s/%s", cfg->sources[i].path, e->path);
	if (!live)
		return MB_E_NOMEM;
	fd = open(live, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		same = !mbi_sha256_fd(fd, sha, NULL) &&
		       !memcmp(sha, e->sha, MBI_SHA256_LEN);
		close(fd);
	}
	if (!same)
		mbi_warn(p->ctx,
			 "mail_crypt key '%s' differs from the snapshot's '%s/%s': messages encrypted with the snapshot's keys are unreadable with the live ones; restore the old keys beside the new (mail_crypt_global_private_key2) or import with the old keys",
			 live, e->source, e->path);
	free(live);
	return MB_OK;
}

static int run_in_place(struct ip *p)
{
	struct mbi_repo *r = NULL;
	struct mb_snapshot_info si;
	struct mbi_manifest m;
	bool have_m = false;
	int rc;

	if ((rc = pick_source(p)) || (rc = mbi_repo_open(p->ctx, &r)) ||
	    (rc = mbi_snapshot_resolve(r, p->opts->snapshot, &si)) ||
	    (rc = mbi_manifest_load(r, si.name, &m)))
		goto out;
	have_m = true;
	if ((rc = maildir_sub(p, &m)) || (rc = live_mailbox(p)) ||
	    (rc = plan(p, &m)) ||
	    (rc = mbi_manifest_foreach(p->ctx, &m, on_key_entry, p)) ||
	    p->opts->dry_run)
		goto out;
	mbi_manifest_release(&m);
	have_m = false;
	mbi_repo_close(r);
	r = NULL;
	if (!p->res.added && !p->res.folders_created)
		goto out; /* all there already */
	if ((rc = stage(p, si.id)))
		goto out;
	rc = apply(p);
out:
	if (have_m)
		mbi_manifest_release(&m);
	mbi_repo_close(r);
	return rc;
}

int mbi_restore_mail(struct mb_ctx *ctx, const struct mb_restore_opts *opts,
		     struct mb_restore_result *res)
{
	struct ip p;
	double t0 = mbi_now();
	int rc;

	memset(&p, 0, sizeof(p));
	p.ctx = ctx;
	p.opts = opts;
	p.source = opts->source;
	ctx->warnings = 0;
	if ((rc = check_opts(ctx, opts)) ||
	    (rc = mailbox_path(ctx, opts->mailbox, &p.mbox)) ||
	    (rc = mailbox_path(ctx, opts->as_mailbox ? opts->as_mailbox :
				    opts->mailbox, &p.dst_mbox)) ||
	    (rc = parse_folders(&p)))
		goto out;
	if (!opts->in_place) {
		rc = restore_folders(&p, res);
		ip_release(&p);
		return rc;
	}
	if ((rc = mbi_need_config(ctx)))
		goto out;
	p.dst_user = strdup(opts->as_mailbox ? opts->as_mailbox :
			    opts->mailbox);
	rc = p.dst_user ? run_in_place(&p) : MB_E_NOMEM;
out:
	p.res.warnings = ctx->warnings;
	p.res.seconds = mbi_now() - t0;
	if (res)
		*res = p.res;
	ip_release(&p);
	if (!rc && ctx->warnings)
		return MB_E_PARTIAL;
	return rc;
}

/* The public entry of every restore: a mail restore (in place, or by the
 * folder names users see) is this file's, any other a tree restore
 * (restore.c). */
int mb_restore(struct mb_ctx *ctx, const struct mb_restore_opts *opts,
	       struct mb_restore_result *res)
{
	struct mb_restore_opts o;
	struct mb_restore_result r = MB_RESTORE_RESULT_INIT;
	int rc;

	if ((rc = MBI_OPTS_IN(ctx, &o, opts, "mb_restore_opts")) ||
	    (rc = mbi_result_ok(ctx, res, "mb_restore_result")))
		return rc;
	if (o.in_place || o.nfolders || o.as_mailbox || o.into_folder ||
	    o.dry_run)
		rc = mbi_restore_mail(ctx, &o, &r);
	else
		rc = mbi_restore_tree(ctx, &o, &r);
	mbi_result_out(res, &r, sizeof(r));
	return rc;
}
