/* SPDX-License-Identifier: MIT */
/* store/local.c: the local directory backend (temp file, fsync, rename). */
#include "mb-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

/* random bytes (in hex) in a temporary object's name, tmp/<pid>.<hex> */
#define TMP_RANDOM_BYTES 8

/* Every path is opened from the repository's root directory, one folder at
 * a time with O_NOFOLLOW, so that a symbolic link planted inside the
 * repository never leads a read, write or delete out of it. */
struct local {
	char *dir;
	int root; /* the repository directory, -1 until it exists */
};

struct lwriter {
	struct mbi_store_writer base;
	struct mbi_store *s;
	int fd;
	int tmpdir;
	char name[64];
};

/* The folders of the layout: none of them may be a symbolic link. */
static const char *const own_dirs[] = {
	"snapshots", "index", "packs", "locks", "tmp", "keys",
};

static int check_key(struct mbi_store *s, const char *key)
{
	if (!mbi_path_is_safe(key))
		return mbi_error(s->ctx, MB_E_INVAL, 0,
				 "bad object key '%s'", key);
	return MB_OK;
}

static int link_error(struct mbi_store *s, const char *rel, size_t len)
{
	struct local *l = s->priv;

	return mbi_error(s->ctx, MB_E_STORE, 0,
			 "repository folder '%s/%.*s' is a symbolic link or not a directory: mailbackup never follows links inside a repository; replace it with the real directory (mv TARGET '%s/%.*s')",
			 l->dir, (int)len, rel, l->dir, (int)len, rel);
}

static int root_fd(struct mbi_store *s)
{
	struct local *l = s->priv;

	if (l->root < 0) {
		l->root = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (l->root < 0 && errno != ENOENT)
			return mbi_error(s->ctx, MB_E_STORE, errno,
					 "cannot open repository directory '%s'",
					 l->dir);
	}
	return l->root < 0 ? MB_E_NOTFOUND : MB_OK;
}

/* One step down: the folder name (len bytes of comp) below fd. */
static int step_dir(struct mbi_store *s, int fd, const char *rel,
		    size_t upto, const char *comp, size_t len, bool create,
		    int *out)
{
	char name[256];
	int nfd;

	if (len >= sizeof(name))
		return mbi_error(s->ctx, MB_E_INVAL, 0, "bad object key '%s'",
				 rel);
	memcpy(name, comp, len);
	name[len] = '\0';
	nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (nfd < 0 && errno == ENOENT && create) {
		if (mkdirat(fd, name, 0700) && errno != EEXIST)
			return mbi_error(s->ctx, MB_E_STORE, errno,
					 "cannot create directory '%s/%.*s'",
					 ((struct local *)s->priv)->dir,
					 (int)upto, rel);
		nfd = openat(fd, name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (nfd < 0) {
		if (errno == ENOENT)
			return MB_E_NOTFOUND;
		if (errno == ELOOP || errno == ENOTDIR)
			return link_error(s, rel, upto);
		return mbi_error(s->ctx, MB_E_STORE, errno,
				 "cannot open '%s/%.*s'",
				 ((struct local *)s->priv)->dir, (int)upto,
				 rel);
	}
	*out = nfd;
	return MB_OK;
}

/* Open the folder rel[0..len) below the root, never following a link. */
static int open_dir(struct mbi_store *s, const char *rel, size_t len,
		    bool create, int *out)
{
	struct local *l = s->priv;
	size_t pos = 0;
	int fd, rc;

	if ((rc = root_fd(s)))
		return rc;
	fd = fcntl(l->root, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return mbi_error(s->ctx, MB_E_STORE, errno, "cannot open '%s'",
				 l->dir);
	while (pos < len) {
		const char *slash = memchr(rel + pos, '/', len - pos);
		size_t clen = slash ? (size_t)(slash - rel) - pos : len - pos;
		int nfd;

		rc = step_dir(s, fd, rel, pos + clen, rel + pos, clen, create,
			      &nfd);
		close(fd);
		if (rc)
			return rc;
		fd = nfd;
		pos += clen + 1;
	}
	*out = fd;
	return MB_OK;
}

/* The folder holding key's last part, and that part. */
static int open_parent(struct mbi_store *s, const char *key, bool create,
		       int *dfd, const char **leaf)
{
	const char *slash = strrchr(key, '/');
	int rc;

	if ((rc = check_key(s, key)))
		return rc;
	*leaf = slash ? slash + 1 : key;
	return open_dir(s, key, slash ? (size_t)(slash - key) : 0, create,
			dfd);
}

static int l_writer_open(struct mbi_store *s, struct mbi_store_writer **out)
{
	struct lwriter *w = calloc(1, sizeof(*w));
	char rnd[2 * TMP_RANDOM_BYTES + 1];
	int rc;

	if (!w)
		return MB_E_NOMEM;
	w->s = w->base.s = s;
	w->fd = w->tmpdir = -1;
	mbi_random_hex(rnd, TMP_RANDOM_BYTES);
	/* tmp/<pid>.<random>: prune leaves the files of live processes */
	snprintf(w->name, sizeof(w->name), "%d.%s", (int)getpid(), rnd);
	if ((rc = open_dir(s, "tmp", 3, true, &w->tmpdir))) {
		if (rc == MB_E_NOTFOUND)
			rc = mbi_error(s->ctx, MB_E_STORE, ENOENT,
				       "cannot open repository directory '%s'",
				       ((struct local *)s->priv)->dir);
		free(w);
		return rc;
	}
	w->fd = openat(w->tmpdir, w->name,
		       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		       0600);
	if (w->fd < 0) {
		rc = mbi_error(s->ctx, MB_E_STORE, errno,
			       "cannot create '%s/tmp/%s'",
			       ((struct local *)s->priv)->dir, w->name);
		close(w->tmpdir);
		free(w);
		return rc;
	}
	*out = &w->base;
	return MB_OK;
}

static int l_writer_write(struct mbi_store_writer *bw, const void *p, size_t n)
{
	struct lwriter *w = (struct lwriter *)bw;

	if (mbi_write_all(w->fd, p, n))
		return mbi_error(w->s->ctx, MB_E_STORE, errno,
				 "cannot write '%s/tmp/%s'",
				 ((struct local *)w->s->priv)->dir, w->name);
	return MB_OK;
}

static void l_writer_abort(struct mbi_store_writer *bw)
{
	struct lwriter *w = (struct lwriter *)bw;

	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmpdir >= 0) {
		unlinkat(w->tmpdir, w->name, 0);
		close(w->tmpdir);
	}
	free(w);
}

static int l_writer_commit(struct mbi_store_writer *bw, const char *key)
{
	struct lwriter *w = (struct lwriter *)bw;
	struct mbi_store *s = w->s;
	struct local *l = s->priv;
	const char *leaf;
	int dfd = -1, rc, fd = w->fd;

	w->fd = -1;
	if (fsync(fd) | close(fd)) {
		rc = mbi_error(s->ctx, MB_E_STORE, errno,
			       "cannot write '%s/tmp/%s'", l->dir, w->name);
		goto out;
	}
	if ((rc = open_parent(s, key, true, &dfd, &leaf)))
		goto out;
	if (renameat(w->tmpdir, w->name, dfd, leaf)) {
		rc = mbi_error(s->ctx, MB_E_STORE, errno,
			       "cannot rename '%s/tmp/%s' to '%s/%s'", l->dir,
			       w->name, l->dir, key);
		goto out;
	}
	if (fsync(dfd))
		rc = mbi_error(s->ctx, MB_E_STORE, errno,
			       "cannot sync the folder of '%s/%s'", l->dir, key);
out:
	if (dfd >= 0)
		close(dfd);
	l_writer_abort(bw); /* unlinks nothing once renamed */
	return rc;
}

static int missing(struct mbi_store *s, const char *key)
{
	return mbi_error(s->ctx, MB_E_NOTFOUND, 0,
			 "object '%s' is missing from the repository", key);
}

/* The object is opened by its whole name (tests stop a run at one object
 * with strace -P, which matches names), after its folder was walked
 * without links, and must then be the very file that folder holds: a link
 * swapped in between is refused. */
static int open_leaf(struct mbi_store *s, const char *key, int dfd,
		     const char *leaf, int *out)
{
	struct local *l = s->priv;
	struct stat st, in;
	char *path = mbi_asprintf("%s/%s", l->dir, key);
	int f, rc = MB_OK;

	if (!path)
		return MB_E_NOMEM;
	f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (f < 0) {
		rc = errno == ENOENT ? missing(s, key) :
		     mbi_error(s->ctx, MB_E_STORE, errno, "cannot open '%s'%s",
			       path, errno == ELOOP ?
			       ": it is a symbolic link, which mailbackup never follows inside a repository" :
			       "");
	} else if (fstat(f, &st) || !S_ISREG(st.st_mode)) {
		rc = mbi_error(s->ctx, MB_E_STORE, errno,
			       "'%s' is not a regular file", path);
	} else if (fstatat(dfd, leaf, &in, AT_SYMLINK_NOFOLLOW) ||
		   in.st_dev != st.st_dev || in.st_ino != st.st_ino) {
		rc = mbi_error(s->ctx, MB_E_STORE, 0,
			       "'%s' was reached through a symbolic link or replaced while it was opened: refused",
			       path);
	}
	if (rc && f >= 0)
		close(f);
	if (!rc) {
		fcntl(f, F_SETFL, 0);
		*out = f;
	}
	free(path);
	return rc;
}

static int l_get(struct mbi_store *s, const char *key, int *fd,
		 uint64_t *size)
{
	const char *leaf;
	struct stat st;
	int dfd, f, rc;

	if ((rc = open_parent(s, key, false, &dfd, &leaf)))
		return rc == MB_E_NOTFOUND ? missing(s, key) : rc;
	rc = open_leaf(s, key, dfd, leaf, &f);
	close(dfd);
	if (rc)
		return rc;
	if (fstat(f, &st)) {
		rc = mbi_error(s->ctx, MB_E_STORE, errno, "cannot stat '%s'",
			       key);
		close(f);
		return rc;
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return MB_OK;
}

static int l_stat(struct mbi_store *s, const char *key, uint64_t *size)
{
	struct local *l = s->priv;
	const char *leaf;
	struct stat st;
	int dfd, rc;

	if ((rc = open_parent(s, key, false, &dfd, &leaf)))
		return rc;
	if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW))
		rc = errno == ENOENT ? MB_E_NOTFOUND :
		     mbi_error(s->ctx, MB_E_STORE, errno,
			       "cannot stat '%s/%s'", l->dir, key);
	else if (!S_ISREG(st.st_mode))
		rc = mbi_error(s->ctx, MB_E_STORE, 0,
			       "'%s/%s' is not a regular file", l->dir, key);
	else
		*size = (uint64_t)st.st_size;
	close(dfd);
	return rc;
}

static int list_dir(struct mbi_store *s, int dfd, const char *rel,
		    mbi_list_fn fn, void *ud);

/* One listed entry: recurse into folders, report files, refuse links. */
static int list_entry(struct mbi_store *s, int dfd, const char *r,
		      const char *name, mbi_list_fn fn, void *ud)
{
	struct stat st;
	char *rr;
	int sub, rc;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return errno == ENOENT ? MB_OK :
		       mbi_error(s->ctx, MB_E_STORE, errno,
				 "cannot stat '%s/%s'",
				 ((struct local *)s->priv)->dir, r);
	if (S_ISLNK(st.st_mode))
		return link_error(s, r, strlen(r));
	if (S_ISREG(st.st_mode))
		return fn(ud, r, (uint64_t)st.st_size);
	if (!S_ISDIR(st.st_mode))
		return MB_OK;
	sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return errno == ELOOP || errno == ENOTDIR ?
		       link_error(s, r, strlen(r)) :
		       mbi_error(s->ctx, MB_E_STORE, errno,
				 "cannot list '%s/%s'",
				 ((struct local *)s->priv)->dir, r);
	rr = mbi_asprintf("%s/", r);
	rc = rr ? list_dir(s, sub, rr, fn, ud) : MB_E_NOMEM;
	if (!rr)
		close(sub);
	free(rr);
	return rc;
}

/* Walk the folder dfd (key prefix rel) recursively; closes dfd. */
static int list_dir(struct mbi_store *s, int dfd, const char *rel,
		    mbi_list_fn fn, void *ud)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int rc = MB_OK;

	if (!d) {
		rc = mbi_error(s->ctx, MB_E_STORE, errno,
			       "cannot list '%s/%s'",
			       ((struct local *)s->priv)->dir, rel);
		close(dfd);
		return rc;
	}
	while (!rc && (de = readdir(d))) {
		char *r;

		if (de->d_name[0] == '.')
			continue;
		r = mbi_asprintf("%s%s", rel, de->d_name);
		rc = r ? list_entry(s, dirfd(d), r, de->d_name, fn, ud) :
			 MB_E_NOMEM;
		free(r);
	}
	closedir(d);
	return rc;
}

static int l_list(struct mbi_store *s, const char *prefix, mbi_list_fn fn,
		  void *ud)
{
	size_t len = strlen(prefix);
	int dfd, rc;

	/* prefixes name directories: "packs/", "snapshots/", "index/" */
	if (len && prefix[len - 1] == '/')
		len--;
	rc = open_dir(s, prefix, len, false, &dfd);
	if (rc == MB_E_NOTFOUND)
		return MB_OK;
	if (rc)
		return rc;
	return list_dir(s, dfd, prefix, fn, ud);
}

static int l_del(struct mbi_store *s, const char *key)
{
	struct local *l = s->priv;
	const char *leaf;
	int dfd, rc;

	if ((rc = open_parent(s, key, false, &dfd, &leaf)))
		return rc == MB_E_NOTFOUND ? MB_OK : rc;
	/* unlinkat removes a link itself, never what it points to */
	if (unlinkat(dfd, leaf, 0) && errno != ENOENT)
		rc = mbi_error(s->ctx, MB_E_STORE, errno,
			       "cannot delete '%s/%s'", l->dir, key);
	close(dfd);
	return rc;
}

/* Refuse a repository whose own folders are links (or not folders). */
static int check_layout(struct mbi_store *s)
{
	struct local *l = s->priv;
	struct stat st;
	size_t i;

	if (root_fd(s))
		return MB_OK; /* none yet: init creates it */
	for (i = 0; i < sizeof(own_dirs) / sizeof(own_dirs[0]); i++) {
		if (fstatat(l->root, own_dirs[i], &st, AT_SYMLINK_NOFOLLOW)) {
			if (errno == ENOENT)
				continue;
			return mbi_error(s->ctx, MB_E_STORE, errno,
					 "cannot stat '%s/%s'", l->dir,
					 own_dirs[i]);
		}
		if (!S_ISDIR(st.st_mode))
			return link_error(s, own_dirs[i],
					  strlen(own_dirs[i]));
	}
	return MB_OK;
}

static void l_close(struct mbi_store *s)
{
	struct local *l = s->priv;

	if (l->root >= 0)
		close(l->root);
	free(l->dir);
	free(l);
	free(s);
}

static const struct mbi_store_ops local_ops = {
	.name = "local",
	.writer_open = l_writer_open,
	.writer_write = l_writer_write,
	.writer_commit = l_writer_commit,
	.writer_abort = l_writer_abort,
	.get = l_get,
	.stat = l_stat,
	.list = l_list,
	.del = l_del,
	.close = l_close,
};

int mbi_store_local_open(struct mb_ctx *ctx, const char *dir,
			 struct mbi_store **out)
{
	struct mbi_store *s = calloc(1, sizeof(*s));
	struct local *l = calloc(1, sizeof(*l));
	int rc;

	if (!s || !l || !(l->dir = strdup(dir))) {
		free(s);
		free(l);
		return MB_E_NOMEM;
	}
	l->root = -1;
	s->ops = &local_ops;
	s->shared_fds = true; /* get hands out the repository's own file */
	s->ctx = ctx;
	s->priv = l;
	if ((rc = check_layout(s))) {
		l_close(s);
		return rc;
	}
	*out = s;
	return MB_OK;
}
