/* SPDX-License-Identifier: MIT */
/* store/store.c: picks the backend for the repository url; whole-object helpers. */
#include "mb-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

static bool hex64(const char *p)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return p[64] == '\0';
}

/* One plain name: printable, no '/', not "." or "..", not hidden. */
static bool plain_name(const char *p)
{
	const unsigned char *c = (const unsigned char *)p;

	if (!*c || *c == '.' || strlen(p) > 255)
		return false;
	for (; *c; c++)
		if (*c <= 0x20 || *c == 0x7f || *c == '/' || *c == '\\')
			return false;
	return true;
}

bool mbi_store_key_deletable(const char *key)
{
	static const char *const dirs[] = { "index/", "snapshots/", "locks/",
					     "tmp/" };
	size_t i;

	if (!strncmp(key, "packs/", 6))
		return strlen(key) == 6 + 3 + 64 && key[8] == '/' &&
		       hex64(key + 9) && key[6] == key[9] &&
		       key[7] == key[10];
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (!strncmp(key, dirs[i], strlen(dirs[i])))
			return plain_name(key + strlen(dirs[i]));
	return false;
}

/* The common layer over every backend: deletes only keys of the forms we
 * write, whatever a listing of hostile storage returned. */
static int g_writer_open(struct mbi_store *s, struct mbi_store_writer **out)
{
	return s->backend->writer_open(s, out);
}

static int g_writer_write(struct mbi_store_writer *w, const void *p, size_t n)
{
	return w->s->backend->writer_write(w, p, n);
}

static int g_writer_commit(struct mbi_store_writer *w, const char *key)
{
	return w->s->backend->writer_commit(w, key);
}

static void g_writer_abort(struct mbi_store_writer *w)
{
	if (w)
		w->s->backend->writer_abort(w);
}

static int g_get(struct mbi_store *s, const char *key, int *fd,
		 uint64_t *size)
{
	return s->backend->get(s, key, fd, size);
}

static int g_stat(struct mbi_store *s, const char *key, uint64_t *size)
{
	return s->backend->stat(s, key, size);
}

static int g_list(struct mbi_store *s, const char *prefix, mbi_list_fn fn,
		  void *ud)
{
	return s->backend->list(s, prefix, fn, ud);
}

static int g_del(struct mbi_store *s, const char *key)
{
	if (!mbi_store_key_deletable(key))
		return mbi_error(s->ctx, MB_E_VERIFY, 0,
				 "refusing to delete object '%s': not a key of a form mailbackup writes; remove it by hand if it does not belong in the repository",
				 key);
	return s->backend->del(s, key);
}

static void g_close(struct mbi_store *s)
{
	s->backend->close(s);
}

static const struct mbi_store_ops guard_ops = {
	.name = "guarded",
	.writer_open = g_writer_open,
	.writer_write = g_writer_write,
	.writer_commit = g_writer_commit,
	.writer_abort = g_writer_abort,
	.get = g_get,
	.stat = g_stat,
	.list = g_list,
	.del = g_del,
	.close = g_close,
};

static int backend_open(struct mb_ctx *ctx, struct mbi_store **out)
{
	const char *url;
	int rc;

	if ((rc = mbi_need_config(ctx)))
		return rc;
	url = ctx->cfg->url;
	if (!strncmp(url, "s3://", 5))
		return mbi_store_s3_open(ctx, out);
	if (!strncmp(url, "file://", 7))
		url += 7;
	if (*url != '/')
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "repository url '%s' must be an absolute directory or s3://BUCKET/PREFIX",
				 ctx->cfg->url);
	return mbi_store_local_open(ctx, url, out);
}

int mbi_store_open(struct mb_ctx *ctx, struct mbi_store **out)
{
	struct mbi_store *s;
	int rc = backend_open(ctx, &s);

	if (rc)
		return rc;
	s->backend = s->ops;
	s->ops = &guard_ops;
	*out = s;
	return MB_OK;
}

void mbi_store_close(struct mbi_store *s)
{
	if (s)
		s->ops->close(s);
}

int mbi_store_put_buf(struct mbi_store *s, const char *key, const void *p,
		      size_t n)
{
	struct mbi_store_writer *w;
	int rc = s->ops->writer_open(s, &w);

	if (rc)
		return rc;
	rc = mbi_writer_write(w, p, n);
	if (rc) {
		mbi_writer_abort(w);
		return rc;
	}
	return mbi_writer_commit(w, key);
}

int mbi_store_get_buf(struct mbi_store *s, const char *key,
		      struct mbi_buf *out, size_t max)
{
	struct mbi_buf b = { 0 };
	uint64_t size;
	int fd, rc = s->ops->get(s, key, &fd, &size);
	ssize_t r;

	if (rc)
		return rc;
	if (size > max) {
		close(fd);
		return mbi_error(s->ctx, MB_E_VERIFY, 0,
				 "object '%s' is too large (%llu bytes)", key,
				 (unsigned long long)size);
	}
	if (mbi_buf_reserve(&b, size)) {
		close(fd);
		return MB_E_NOMEM;
	}
	r = mbi_read_full(fd, b.data, size);
	close(fd);
	if (r < 0 || (uint64_t)r != size) {
		mbi_buf_release(&b);
		return mbi_error(s->ctx, MB_E_STORE, r < 0 ? errno : 0,
				 "cannot read object '%s'", key);
	}
	b.len = size;
	b.data[size] = '\0';
	*out = b;
	return MB_OK;
}

static int collect(void *ud, const char *key, uint64_t size)
{
	struct mbi_listing *a = ud;

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		char **nk = realloc(a->keys, cap * sizeof(*nk));
		uint64_t *ns;

		if (!nk)
			return MB_E_NOMEM;
		a->keys = nk;
		ns = realloc(a->sizes, cap * sizeof(*ns));
		if (!ns)
			return MB_E_NOMEM;
		a->sizes = ns;
		a->cap = cap;
	}
	a->keys[a->n] = strdup(key);
	a->sizes[a->n] = size;
	return a->keys[a->n++] ? MB_OK : MB_E_NOMEM;
}

int mbi_store_list_all(struct mbi_store *s, const char *prefix,
		       struct mbi_listing *out)
{
	return mbi_store_list(s, prefix, collect, out);
}

void mbi_listing_release(struct mbi_listing *a)
{
	mbi_strv_free(a->keys, a->n);
	free(a->sizes);
	memset(a, 0, sizeof(*a));
}
