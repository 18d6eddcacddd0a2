/* SPDX-License-Identifier: MIT */
/* store_local.c: the local directory backend (temp file, fsync, rename). */
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

struct local {
	char *dir;
};

struct lwriter {
	struct mbi_store_writer base;
	struct mbi_store *s;
	int fd;
	char *tmp;
};

static char *keypath(struct mbi_store *s, const char *key)
{
	struct local *l = s->priv;

	return mbi_asprintf("%s/%s", l->dir, key);
}

static int check_key(struct mbi_store *s, const char *key)
{
	if (!mbi_path_is_safe(key))
		return mbi_error(s->ctx, MB_E_INVAL, 0,
				 "bad object key '%s'", key);
	return MB_OK;
}

static int l_writer_open(struct mbi_store *s, struct mbi_store_writer **out)
{
	struct local *l = s->priv;
	struct lwriter *w = calloc(1, sizeof(*w));
	char rnd[2 * TMP_RANDOM_BYTES + 1];

	if (!w)
		return MB_E_NOMEM;
	mbi_random_hex(rnd, TMP_RANDOM_BYTES);
	w->s = w->base.s = s;
	/* tmp/<pid>.<random>: prune leaves the files of live processes */
	w->tmp = mbi_asprintf("%s/tmp/%d.%s", l->dir, (int)getpid(), rnd);
	if (!w->tmp) {
		free(w);
		return MB_E_NOMEM;
	}
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0 && errno == ENOENT) {
		char *t = mbi_asprintf("%s/tmp", l->dir);

		if (t)
			mkdir(t, 0700);
		free(t);
		w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			     0600);
	}
	if (w->fd < 0) {
		int rc = mbi_error(s->ctx, MB_E_STORE, errno,
				   "cannot create '%s'", w->tmp);

		free(w->tmp);
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
				 "cannot write '%s'", w->tmp);
	return MB_OK;
}

static void l_writer_abort(struct mbi_store_writer *bw)
{
	struct lwriter *w = (struct lwriter *)bw;

	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	unlink(w->tmp);
	free(w->tmp);
	free(w);
}

static int l_writer_commit(struct mbi_store_writer *bw, const char *key)
{
	struct lwriter *w = (struct lwriter *)bw;
	struct mbi_store *s = w->s;
	char *path = NULL, *dir = NULL, *slash;
	int rc;

	if ((rc = check_key(s, key)))
		goto out;
	if (fsync(w->fd)) {
		rc = mbi_error(s->ctx, MB_E_STORE, errno, "cannot write '%s'",
			       w->tmp);
		goto out;
	}
	if (close(w->fd)) {
		w->fd = -1;
		rc = mbi_error(s->ctx, MB_E_STORE, errno, "cannot write '%s'",
			       w->tmp);
		goto out;
	}
	w->fd = -1;
	path = keypath(s, key);
	dir = path ? strdup(path) : NULL;
	if (!dir) {
		rc = MB_E_NOMEM;
		goto out;
	}
	slash = strrchr(dir, '/');
	*slash = '\0';
	if (mbi_mkdir_p(dir, 0700)) {
		rc = mbi_error(s->ctx, MB_E_STORE, errno,
			       "cannot create directory '%s'", dir);
		goto out;
	}
	if (rename(w->tmp, path)) {
		rc = mbi_error(s->ctx, MB_E_STORE, errno,
			       "cannot rename '%s' to '%s'", w->tmp, path);
		goto out;
	}
	if (mbi_fsync_dir(dir))
		rc = mbi_error(s->ctx, MB_E_STORE, errno, "cannot sync '%s'",
			       dir);
out:
	free(path);
	free(dir);
	l_writer_abort(bw); /* unlinks nothing once renamed */
	return rc;
}

static int l_get(struct mbi_store *s, const char *key, int *fd,
		 uint64_t *size)
{
	char *path;
	struct stat st;
	int f, rc;

	if ((rc = check_key(s, key)))
		return rc;
	path = keypath(s, key);
	if (!path)
		return MB_E_NOMEM;
	f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f < 0) {
		rc = errno == ENOENT ?
		     mbi_error(s->ctx, MB_E_NOTFOUND, 0,
			       "object '%s' is missing from the repository",
			       key) :
		     mbi_error(s->ctx, MB_E_STORE, errno, "cannot open '%s'",
			       path);
		free(path);
		return rc;
	}
	if (fstat(f, &st) || !S_ISREG(st.st_mode)) {
		rc = mbi_error(s->ctx, MB_E_STORE, errno,
			       "'%s' is not a regular file", path);
		close(f);
		free(path);
		return rc;
	}
	free(path);
	*fd = f;
	*size = (uint64_t)st.st_size;
	return MB_OK;
}

static int l_stat(struct mbi_store *s, const char *key, uint64_t *size)
{
	char *path;
	struct stat st;
	int rc = MB_OK;

	if ((rc = check_key(s, key)))
		return rc;
	path = keypath(s, key);
	if (!path)
		return MB_E_NOMEM;
	if (lstat(path, &st))
		rc = errno == ENOENT ? MB_E_NOTFOUND :
		     mbi_error(s->ctx, MB_E_STORE, errno, "cannot stat '%s'",
			       path);
	else
		*size = (uint64_t)st.st_size;
	free(path);
	return rc;
}

/* Walk dir (relative key prefix rel) recursively. */
static int list_dir(struct mbi_store *s, const char *path, const char *rel,
		    mbi_list_fn fn, void *ud)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int rc = MB_OK;

	if (!d) {
		if (errno == ENOENT)
			return MB_OK;
		return mbi_error(s->ctx, MB_E_STORE, errno, "cannot list '%s'",
				 path);
	}
	while (!rc && (de = readdir(d))) {
		char *p, *r;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		p = mbi_asprintf("%s/%s", path, de->d_name);
		r = mbi_asprintf("%s%s", rel, de->d_name);
		if (!p || !r) {
			rc = MB_E_NOMEM;
		} else if (lstat(p, &st)) {
			if (errno != ENOENT)
				rc = mbi_error(s->ctx, MB_E_STORE, errno,
					       "cannot stat '%s'", p);
		} else if (S_ISDIR(st.st_mode)) {
			char *rr = mbi_asprintf("%s/", r);

			rc = rr ? list_dir(s, p, rr, fn, ud) : MB_E_NOMEM;
			free(rr);
		} else if (S_ISREG(st.st_mode)) {
			rc = fn(ud, r, (uint64_t)st.st_size);
		}
		free(p);
		free(r);
	}
	closedir(d);
	return rc;
}

static int l_list(struct mbi_store *s, const char *prefix, mbi_list_fn fn,
		  void *ud)
{
	struct local *l = s->priv;
	char *path;
	int rc;

	/* prefixes name directories: "packs/", "snapshots/", "index/" */
	path = mbi_asprintf("%s/%s", l->dir, prefix);
	if (!path)
		return MB_E_NOMEM;
	rc = list_dir(s, path, prefix, fn, ud);
	free(path);
	return rc;
}

static int l_del(struct mbi_store *s, const char *key)
{
	char *path;
	int rc = MB_OK;

	if ((rc = check_key(s, key)))
		return rc;
	path = keypath(s, key);
	if (!path)
		return MB_E_NOMEM;
	if (unlink(path) && errno != ENOENT)
		rc = mbi_error(s->ctx, MB_E_STORE, errno, "cannot delete '%s'",
			       path);
	free(path);
	return rc;
}

static void l_close(struct mbi_store *s)
{
	struct local *l = s->priv;

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

	if (!s || !l || !(l->dir = strdup(dir))) {
		free(s);
		free(l);
		return MB_E_NOMEM;
	}
	s->ops = &local_ops;
	s->ctx = ctx;
	s->priv = l;
	*out = s;
	return MB_OK;
}
