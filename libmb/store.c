/* SPDX-License-Identifier: MIT */
/* store.c: picks the backend for the repository url; whole-object helpers. */
#include "mb-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

int mbi_store_open(struct mb_ctx *ctx, struct mbi_store **out)
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
