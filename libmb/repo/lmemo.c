/* SPDX-License-Identifier: MIT */
/* repo/lmemo.c: the listings of the last backup, kept in the cache
 * directory, so that a backup whose entries did not change does not sort
 * and build them again. */
#include "mb-private.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "banned.h"

/*
 * A backup's listings are a function of its sorted entry lines and of the
 * order of the configured sources. So the digest of the lines, in
 * whatever order the walker and the readers wrote them (mbi_cache_line),
 * with the sources' names and this file's version, names them: a
 * no-change backup finds its tree lines, its entry count and the ids of
 * all its listings here, checks that the index still lists every one in a
 * listing pack that is still in the repository, and skips the sort and
 * the build (a tenth of its time). Anything else, a miss, or a
 * damaged file: they are built as always.
 *
 * The file: magic, key, count, the length of the tree lines, the number
 * of ids, the tree lines, the ids, and the SHA-256 of all that.
 */
#define LMEMO_MAGIC "MBLMEMO1"
#define LMEMO_FILE "listings-memo"
#define LMEMO_MAX ((size_t)1 << 30)

struct lmemo_head {
	char magic[8];
	unsigned char key[MBI_SHA256_LEN];
	uint64_t count, trees_len, nids;
};

/* The memo's key: the entry lines' digest, the sources in their order. */
static bool lmemo_key(struct mb_ctx *ctx, const struct mbi_cache *c,
		      unsigned char key[MBI_SHA256_LEN])
{
	unsigned char lines[MBI_SHA256_LEN];
	struct mbi_sha256 s;
	size_t i;

	if (!mbi_cache_lines(c, lines) || mbi_sha256_init(&s))
		return false;
	mbi_sha256_update(&s, LMEMO_MAGIC, 8);
	mbi_sha256_update(&s, lines, sizeof(lines));
	for (i = 0; i < ctx->cfg->nsources; i++)
		mbi_sha256_update(&s, ctx->cfg->sources[i].name,
				  strlen(ctx->cfg->sources[i].name) + 1);
	mbi_sha256_final(&s, key);
	mbi_sha256_release(&s);
	return true;
}

static char *memo_path(const char *dir)
{
	return mbi_asprintf("%s/" LMEMO_FILE, dir);
}

/* Every id still in the index, in a listing pack that is not gone. */
static bool ids_listed(struct mbi_index *ix, const bool *gone,
		       const unsigned char *ids, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		const struct mbi_blobref *ref =
			mbi_index_find_listing(ix, ids + i * MBI_SHA256_LEN);

		if (!ref || (gone && gone[ref->pack]))
			return false;
	}
	return true;
}

/* The parts of a well-formed file, or false. */
static bool parse(const struct mbi_buf *b, struct lmemo_head *h,
		  const char **trees, const unsigned char **ids)
{
	unsigned char sha[MBI_SHA256_LEN];
	size_t body;

	if (b->len < sizeof(*h) + MBI_SHA256_LEN)
		return false;
	body = b->len - MBI_SHA256_LEN;
	memcpy(h, b->data, sizeof(*h));
	if (memcmp(h->magic, LMEMO_MAGIC, 8) ||
	    h->trees_len > body || h->nids > body / MBI_SHA256_LEN ||
	    sizeof(*h) + h->trees_len + h->nids * MBI_SHA256_LEN != body)
		return false;
	mbi_sha256_buf(b->data, body, sha);
	if (memcmp(sha, b->data + body, MBI_SHA256_LEN))
		return false;
	*trees = b->data + sizeof(*h);
	*ids = (const unsigned char *)*trees + h->trees_len;
	return true;
}

static bool memo_read(struct mbi_lpw *w, const char *dir,
		      struct mbi_buf *trees, size_t *count)
{
	struct mbi_buf b = { 0 };
	struct lmemo_head h;
	const char *t;
	const unsigned char *ids;
	char *path = memo_path(dir);
	bool hit = false;

	if (path && !mbi_read_file_flags(w->r->ctx, path, O_NOFOLLOW, &b,
					 LMEMO_MAX) &&
	    parse(&b, &h, &t, &ids) &&
	    !memcmp(h.key, w->memo_key, MBI_SHA256_LEN) &&
	    ids_listed(w->ix, w->gone, ids, h.nids) &&
	    !mbi_buf_add(trees, t, (size_t)h.trees_len)) {
		*count = (size_t)h.count;
		hit = true;
	}
	mbi_buf_release(&b);
	free(path);
	return hit;
}

bool mbi_lmemo_get(struct mbi_lpw *w, const struct mbi_cache *c,
		   bool usable, const char *dir, struct mbi_buf *trees,
		   size_t *count)
{
	w->memo = usable && dir && c && lmemo_key(w->r->ctx, c, w->memo_key);
	return w->memo && memo_read(w, dir, trees, count);
}

static int memo_write(struct mbi_lpw *w, const char *dir,
		      const struct mbi_buf *trees, size_t count)
{
	struct lmemo_head h;
	struct mbi_sha256 s;
	unsigned char sha[MBI_SHA256_LEN];
	char *path = memo_path(dir);
	int rc;

	if (!path || mbi_sha256_init(&s)) {
		free(path);
		return MB_E_NOMEM;
	}
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, LMEMO_MAGIC, 8);
	memcpy(h.key, w->memo_key, MBI_SHA256_LEN);
	h.count = count;
	h.trees_len = trees->len;
	h.nids = w->memo_ids.len / MBI_SHA256_LEN;
	mbi_sha256_update(&s, &h, sizeof(h));
	mbi_sha256_update(&s, trees->data, trees->len);
	mbi_sha256_update(&s, w->memo_ids.data, w->memo_ids.len);
	mbi_sha256_final(&s, sha);
	mbi_sha256_release(&s);
	{
		struct iovec parts[4] = {
			{ &h, sizeof(h) },
			{ trees->data, trees->len },
			{ w->memo_ids.data, w->memo_ids.len },
			{ sha, sizeof(sha) },
		};

		rc = mbi_write_file_atomicv(w->r->ctx, path, parts, 4, 0600);
	}
	free(path);
	return rc;
}

void mbi_lmemo_end(struct mbi_lpw *w, const char *dir, int rc,
		   const struct mbi_buf *trees, size_t count)
{
	/* only a cache: a backup does not fail when it cannot be written */
	if (!rc && w->memo)
		(void)memo_write(w, dir, trees, count);
	mbi_buf_release(&w->memo_ids);
}
