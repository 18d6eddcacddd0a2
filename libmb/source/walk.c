/* SPDX-License-Identifier: MIT */
/* source/walk.c: walking a source's tree with dir fds, and the Maildir rules. */
#include "mb-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

/* The unique names of the messages recorded from one Maildir, so that a
 * message moved from new/ to cur/ or renamed during the walk is in the
 * snapshot exactly once. */
struct uniq_set {
	char **v;
	size_t cap, n;
};

struct mbi_walker {
	struct mb_ctx *ctx;
	const struct mbi_source *src;
	mbi_walk_fn fn;
	void *ud;
	bool maildir;
	bool include_index;
	dev_t root_dev;
	struct mbi_buf path;
	/* the Maildir being walked (cur/ and new/ belong to it) */
	int md_fd;
	struct uniq_set *seen;
	struct mbi_buf found;
	char **only;     /* names kept at the root ("only" key), or NULL */
	size_t nonly;
	int rc;
	struct mbi_prefetch *pf;
};

static uint64_t str_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n--)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static size_t uniq_len(const char *name)
{
	const char *c = strchr(name, ':');

	return c ? (size_t)(c - name) : strlen(name);
}

/* Returns true when name's unique part was new (and adds it). */
static bool uniq_add(struct uniq_set *u, const char *name)
{
	size_t l = uniq_len(name), i;

	if ((u->n + 1) * 2 > u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 256, k;
		char **nv = calloc(cap, sizeof(*nv));

		if (!nv)
			return true;
		for (k = 0; k < u->cap; k++) {
			if (!u->v[k])
				continue;
			i = str_hash(u->v[k], strlen(u->v[k])) & (cap - 1);
			while (nv[i])
				i = (i + 1) & (cap - 1);
			nv[i] = u->v[k];
		}
		free(u->v);
		u->v = nv;
		u->cap = cap;
	}
	i = str_hash(name, l) & (u->cap - 1);
	while (u->v[i]) {
		if (strlen(u->v[i]) == l && !memcmp(u->v[i], name, l))
			return false;
		i = (i + 1) & (u->cap - 1);
	}
	u->v[i] = strndup(name, l);
	if (u->v[i])
		u->n++;
	return true;
}

static void uniq_free(struct uniq_set *u)
{
	size_t i;

	if (!u)
		return;
	for (i = 0; i < u->cap; i++)
		free(u->v[i]);
	free(u->v);
	free(u);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read all names of a directory, sorted. */
static int list_names(struct mbi_walker *w, int dirfd, char ***out,
		      size_t *n)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	char **v = NULL;
	size_t cnt = 0, cap = 0;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				mbi_warn(w->ctx,
					 "cannot read a directory of '%s' fully: %s",
					 w->src->path, strerror(errno));
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nv = realloc(v, nc * sizeof(*nv));

			if (!nv)
				goto nomem;
			v = nv;
			cap = nc;
		}
		v[cnt] = strdup(de->d_name);
		if (!v[cnt])
			goto nomem;
		cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_names);
	*out = v;
	*n = cnt;
	return 0;
nomem:
	closedir(d);
	while (cnt--)
		free(v[cnt]);
	free(v);
	errno = ENOMEM;
	return -1;
}

/* Dovecot's files that change whenever a mailbox is read or locked, and
 * that harm a restore: a restored dovecot-uidlist.lock makes Dovecot report
 * the folder empty until the lock times out. Never backed up. */
bool mbi_maildir_volatile(const char *name)
{
	size_t l = strlen(name);

	if (!strncmp(name, "dovecot.list.index", 18) ||
	    !strncmp(name, "dovecot.mailbox.log", 19))
		return true;
	/* dotlocks: dovecot-uidlist.lock, dovecot-keywords.lock,
	 * subscriptions.lock, ... */
	return l > 5 && !strcmp(name + l - 5, ".lock") &&
	       (!strncmp(name, "dovecot", 7) ||
		!strcmp(name, "subscriptions.lock"));
}

static bool excluded(const struct mbi_walker *w, const char *rel,
		     const char *name, bool msg)
{
	size_t i;

	if (w->only && !strchr(rel, '/')) {
		for (i = 0; i < w->nonly; i++)
			if (!strcmp(w->only[i], name))
				break;
		if (i == w->nonly)
			return true;
	}
	for (i = 0; i < w->src->nexclude; i++)
		if (!fnmatch(w->src->exclude[i], rel, 0) ||
		    !fnmatch(w->src->exclude[i], name, 0))
			return true;
	if (w->maildir && !w->include_index &&
	    !strncmp(name, "dovecot.index", 13))
		return true;
	if (w->maildir && !msg && mbi_maildir_volatile(name))
		return true;
	/* the staging directory of a running restore --in-place */
	if (w->maildir && !strchr(rel, '/') &&
	    !strncmp(name, ".mailbackup-restore-", 20))
		return true;
	return false;
}

static int emit(struct mbi_walker *w, const char *path, int dirfd,
		const char *name, struct stat *st, const char *link,
		bool msg)
{
	struct mbi_walk_item it = {
		.path = path, .dirfd = dirfd, .name = name, .st = st,
		.link = link, .maildir_msg = msg,
	};

	mbi_prefetch_walked(w->pf, 1);
	return w->fn(w->ud, w, &it);
}

/* Look for a message of the current Maildir again by its unique name, in
 * cur/ then new/. Fills w->found with "cur/NAME" or "new/NAME". */
static bool find_again(struct mbi_walker *w, const char *name)
{
	static const char *const subs[] = { "cur", "new" };
	size_t l = uniq_len(name), i, k;

	if (w->md_fd < 0)
		return false;
	for (k = 0; k < 2; k++) {
		int sub = openat(w->md_fd, subs[k],
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		char **names;
		size_t n;
		bool hit = false;

		if (sub < 0)
			continue;
		if (list_names(w, sub, &names, &n)) {
			close(sub);
			continue;
		}
		for (i = 0; i < n; i++) {
			if (!hit && uniq_len(names[i]) == l &&
			    !memcmp(names[i], name, l) &&
			    strcmp(names[i], name)) {
				w->found.len = 0;
				hit = !mbi_buf_printf(&w->found, "%s/%s",
						      subs[k], names[i]);
			}
			free(names[i]);
		}
		free(names);
		close(sub);
		if (hit)
			return true;
	}
	return false;
}

int mbi_walk_open(struct mbi_walker *w, const struct mbi_walk_item *it,
		  struct stat *st, const char **path_out)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
	int fd = openat(it->dirfd, it->name, flags | O_NOATIME);

	if (fd < 0 && errno == EPERM)
		fd = openat(it->dirfd, it->name, flags);
	*path_out = it->path;
	if (fd < 0 && errno == ENOENT && it->maildir_msg &&
	    find_again(w, it->name)) {
		/* renamed since it was listed: the Maildir has it under a new
		 * name; record that one */
		const char *slash = strrchr(it->path, '/');
		size_t dl = 0;
		struct mbi_buf p = { 0 };

		fd = openat(w->md_fd, w->found.data, flags);
		if (fd >= 0 && slash) {
			/* path of the Maildir: strip "cur/NAME" */
			const char *s2 = slash;

			while (s2 > it->path && s2[-1] != '/')
				s2--;
			dl = (size_t)(s2 - it->path);
			if (!mbi_buf_add(&p, it->path, dl) &&
			    !mbi_buf_addstr(&p, w->found.data)) {
				mbi_buf_release(&w->found);
				w->found = p;
				*path_out = w->found.data;
			} else {
				mbi_buf_release(&p);
			}
		}
	}
	if (fd < 0) {
		if (errno == ENOENT)
			mbi_log(w->ctx, MB_LOG_INFO,
				"'%s/%s' vanished during the backup",
				w->src->path, it->path);
		else
			mbi_warn(w->ctx, "cannot open '%s/%s': %s",
				 w->src->path, it->path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st)) {
		mbi_warn(w->ctx, "cannot stat '%s/%s': %s", w->src->path,
			 *path_out, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		mbi_warn(w->ctx, "'%s/%s' is no longer a regular file",
			 w->src->path, *path_out);
		close(fd);
		return -1;
	}
	return fd;
}

static int walk_dir(struct mbi_walker *w, int dirfd, size_t plen);

/* Emit the message find_again() found (w->found, "cur/NAME" or "new/NAME"
 * relative to the Maildir) in place of the one at w->path that is gone.
 * It is still a message: if it is renamed once more before it is opened,
 * mbi_walk_open looks for it again. */
static int emit_found(struct mbi_walker *w)
{
	struct mbi_buf p = { 0 };
	struct stat st;
	const char *s = w->path.data + w->path.len;
	char *found = strdup(w->found.data), *slash;
	int n = 0, rc = MB_OK, sub = -1;

	if (!found)
		return MB_E_NOMEM;
	/* the Maildir is w->path less its last two components */
	while (s > w->path.data && n < 2)
		if (*--s == '/')
			n++;
	if (n == 2)
		s++;
	if (mbi_buf_add(&p, w->path.data, (size_t)(s - w->path.data)) ||
	    mbi_buf_addstr(&p, found)) {
		rc = MB_E_NOMEM;
		goto out;
	}
	slash = strchr(found, '/');
	*slash = '\0';
	sub = openat(w->md_fd, found, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		     O_CLOEXEC);
	if (sub < 0 || fstatat(sub, slash + 1, &st, AT_SYMLINK_NOFOLLOW) ||
	    !S_ISREG(st.st_mode))
		goto out; /* gone again: not there for the whole run */
	rc = emit(w, p.data, sub, slash + 1, &st, NULL, true);
out:
	if (sub >= 0)
		close(sub);
	mbi_buf_release(&p);
	free(found);
	return rc;
}

static int walk_entry(struct mbi_walker *w, int dirfd, const char *name,
		      size_t plen, bool msg)
{
	struct stat st;
	int rc = MB_OK;
	const char *rel;

	w->path.len = plen;
	if ((plen && mbi_buf_add(&w->path, "/", 1)) ||
	    mbi_buf_addstr(&w->path, name))
		return MB_E_NOMEM;
	rel = w->path.data;
	if (excluded(w, rel, name, msg))
		return MB_OK;
	if (msg && !uniq_add(w->seen, name))
		return MB_OK; /* seen already, under another name */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		if (errno == ENOENT && msg && find_again(w, name))
			return emit_found(w);
		if (errno == ENOENT)
			mbi_log(w->ctx, MB_LOG_INFO,
				"'%s/%s' vanished during the backup",
				w->src->path, rel);
		else
			mbi_warn(w->ctx, "cannot stat '%s/%s': %s",
				 w->src->path, rel, strerror(errno));
		return MB_OK;
	}
	if (S_ISDIR(st.st_mode)) {
		int sub;
		size_t mylen = w->path.len;

		if (w->src->one_file_system && st.st_dev != w->root_dev)
			return emit(w, rel, dirfd, name, &st, NULL, false);
		rc = emit(w, rel, dirfd, name, &st, NULL, false);
		if (rc)
			return rc;
		sub = openat(dirfd, name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			mbi_warn(w->ctx, "cannot open directory '%s/%s': %s",
				 w->src->path, rel, strerror(errno));
			return MB_OK;
		}
		rc = walk_dir(w, sub, mylen);
		close(sub);
		return rc;
	}
	if (S_ISLNK(st.st_mode)) {
		char target[4097];
		ssize_t n = readlinkat(dirfd, name, target,
				       sizeof(target) - 1);

		if (n < 0) {
			mbi_warn(w->ctx, "cannot read link '%s/%s': %s",
				 w->src->path, rel, strerror(errno));
			return MB_OK;
		}
		target[n] = '\0';
		return emit(w, rel, dirfd, name, &st, target, false);
	}
	if (S_ISREG(st.st_mode))
		return emit(w, rel, dirfd, name, &st, NULL, msg);
	mbi_warn(w->ctx, "skipping '%s/%s': not a file, directory or symlink",
		 w->src->path, rel);
	return MB_OK;
}

static bool has_name(char **names, size_t n, const char *name)
{
	return n && bsearch(&name, names, n, sizeof(*names), cmp_names);
}

static int walk_dir(struct mbi_walker *w, int dirfd, size_t plen)
{
	char **names;
	size_t n, i;
	int rc = MB_OK;
	bool is_md;
	int saved_md = w->md_fd;
	struct uniq_set *saved_seen = w->seen;
	char *dirpath = strndup(w->path.data ? w->path.data : "", plen);

	if (!dirpath)
		return MB_E_NOMEM;
	if (list_names(w, dirfd, &names, &n)) {
		mbi_warn(w->ctx, "cannot list '%s/%s': %s", w->src->path,
			 dirpath, strerror(errno));
		free(dirpath);
		return MB_OK;
	}
	is_md = w->maildir && has_name(names, n, "cur") &&
		has_name(names, n, "new");
	if (is_md) {
		w->md_fd = dirfd;
		w->seen = calloc(1, sizeof(*w->seen));
		if (!w->seen) {
			rc = MB_E_NOMEM;
			goto out;
		}
	}
	/* in a Maildir: new/ before cur/, so that a message delivered during
	 * the walk and moved to cur/ is found in one of them */
	for (i = 0; is_md && i < 2 && !rc; i++) {
		const char *sub = i ? "cur" : "new";
		int sfd;
		struct stat st;
		char **msgs;
		size_t nm, k;
		size_t sublen;

		w->path.len = plen;
		if ((plen && mbi_buf_add(&w->path, "/", 1)) ||
		    mbi_buf_addstr(&w->path, sub)) {
			rc = MB_E_NOMEM;
			break;
		}
		sublen = w->path.len;
		if (fstatat(dirfd, sub, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISDIR(st.st_mode))
			continue;
		rc = emit(w, w->path.data, dirfd, sub, &st, NULL, false);
		if (rc)
			continue;
		sfd = openat(dirfd, sub,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0 || list_names(w, sfd, &msgs, &nm)) {
			mbi_warn(w->ctx, "cannot read directory '%s/%s': %s",
				 w->src->path, w->path.data, strerror(errno));
			if (sfd >= 0)
				close(sfd);
			continue;
		}
		for (k = 0; k < nm; k++) {
			if (!rc)
				rc = walk_entry(w, sfd, msgs[k], sublen, true);
			free(msgs[k]);
		}
		free(msgs);
		close(sfd);
	}
	for (i = 0; i < n; i++) {
		if (!rc && is_md && !strcmp(names[i], "tmp")) {
			struct stat st;

			/* tmp/ holds deliveries in progress: only the
			 * directory itself is kept */
			w->path.len = plen;
			if ((plen && mbi_buf_add(&w->path, "/", 1)) ||
			    mbi_buf_addstr(&w->path, "tmp"))
				rc = MB_E_NOMEM;
			else if (!fstatat(dirfd, "tmp", &st,
					  AT_SYMLINK_NOFOLLOW) &&
				 S_ISDIR(st.st_mode))
				rc = emit(w, w->path.data, dirfd, "tmp", &st,
					  NULL, false);
		} else if (!rc && !(is_md && (!strcmp(names[i], "cur") ||
					      !strcmp(names[i], "new")))) {
			rc = walk_entry(w, dirfd, names[i], plen, false);
		}
		free(names[i]);
	}
	free(names);
out:
	if (is_md) {
		uniq_free(w->seen);
		w->seen = saved_seen;
		w->md_fd = saved_md;
	}
	free(dirpath);
	return rc;
}

int mbi_walk_source(struct mb_ctx *ctx, const struct mbi_source *src,
		    mbi_walk_fn fn, void *ud)
{
	struct mbi_walker w;
	struct stat st;
	int fd, rc;

	memset(&w, 0, sizeof(w));
	w.ctx = ctx;
	w.src = src;
	w.fn = fn;
	w.ud = ud;
	w.md_fd = -1;
	w.maildir = src->kind->maildir;
	w.include_index = mbi_section_bool(src->sec, "include_index");
	if (mbi_section_get(src->sec, "only")) {
		w.only = mbi_split_words(mbi_section_get(src->sec, "only"),
					 &w.nonly);
		if (!w.only)
			return MB_E_NOMEM;
	}
	fd = open(src->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOTDIR) {
		/* a single file: it is the only entry, under its name */
		char *dir = strdup(src->path), *slash;

		if (!dir) {
			mbi_strv_free(w.only, w.nonly);
			return MB_E_NOMEM;
		}
		slash = strrchr(dir, '/');
		*slash = '\0';
		fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = fd < 0 ? mbi_source_error(ctx, src->name, MB_E_IO, errno,
					       "cannot open '%s'",
					       src->path) :
			    walk_entry(&w, fd, slash + 1, 0, false);
		if (fd >= 0)
			close(fd);
		free(dir);
		mbi_strv_free(w.only, w.nonly);
		mbi_buf_release(&w.path);
		mbi_buf_release(&w.found);
		return rc;
	}
	if (fd < 0 || fstat(fd, &st)) {
		rc = mbi_source_error(ctx, src->name, MB_E_IO, errno,
				      "cannot open '%s'",
				      src->path);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	w.root_dev = st.st_dev;
	if (mbi_buf_reserve(&w.path, 256)) {
		close(fd);
		return MB_E_NOMEM;
	}
	w.path.data[0] = '\0';
	w.pf = mbi_prefetch_take(ctx, src->path, fd);
	rc = emit(&w, ".", fd, ".", &st, NULL, false);
	if (!rc)
		rc = walk_dir(&w, fd, 0);
	mbi_prefetch_stop(w.pf);
	close(fd);
	mbi_strv_free(w.only, w.nonly);
	mbi_buf_release(&w.path);
	mbi_buf_release(&w.found);
	return rc;
}
