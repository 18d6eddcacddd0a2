/* SPDX-License-Identifier: MIT */
/* op/repair.c: mailbackup repair index: drop what would mislead later runs. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

static void forget_cached(struct mbi_repo *r, const char *key)
{
	char *cdir = mbi_cache_dir(r->ctx, r->id);
	const char *base = strrchr(key, '/');
	char *p = cdir ? mbi_asprintf("%s/index/%s", cdir,
				      base ? base + 1 : key) : NULL;

	if (p)
		unlink(p);
	free(p);
	free(cdir);
}

/* Empty metadata objects: what a full disk or a dead upload leaves. A
 * damaged but non-empty object is left alone: it may be evidence. */
static int drop_partial(struct mbi_repo *r, struct mbi_lock *lock,
			const char *prefix, struct mb_repair_result *res)
{
	struct mbi_listing a = { 0 };
	size_t i;
	int rc = mbi_store_list_all(r->store, prefix, &a);

	for (i = 0; !rc && i < a.n; i++) {
		if (a.sizes[i])
			continue;
		if ((rc = mbi_lock_prove(lock)))
			break;
		rc = mbi_store_del(r->store, a.keys[i]);
		if (rc)
			break;
		forget_cached(r, a.keys[i]);
		res->objects_removed++;
		mbi_log(r->ctx, MB_LOG_WARNING,
			"removed the empty (partial) object '%s'", a.keys[i]);
	}
	mbi_listing_release(&a);
	return rc;
}

/* A new index without the packs that are gone, then the old objects. */
static int rewrite_index(struct mbi_repo *r, struct mbi_lock *lock,
			 struct mbi_index *old, const bool *gone,
			 struct mb_repair_result *res)
{
	static const unsigned char zero[MBI_SHA256_LEN];
	struct mbi_index nix;
	uint32_t *map = calloc(old->npacks + 1, sizeof(*map));
	size_t i;
	int rc = map ? mbi_index_init(&nix, r->ctx) : MB_E_NOMEM;

	if (rc) {
		free(map);
		return rc;
	}
	for (i = 0; !rc && i < old->npacks; i++) {
		map[i] = UINT32_MAX;
		if (!gone[i]) {
			rc = mbi_index_add_pack(&nix, old->packs[i].name,
						old->packs[i].size, &map[i]);
			if (!rc) /* a listing pack stays one (format 2) */
				nix.packs[map[i]].listing =
					old->packs[i].listing;
		}
	}
	for (i = 0; !rc && i < old->cap; i++) {
		const unsigned char *k = old->keys + i * MBI_SHA256_LEN;
		const struct mbi_blobref *v = &old->vals[i];

		if (!memcmp(k, zero, MBI_SHA256_LEN) || v->pack >= old->npacks)
			continue;
		if (map[v->pack] == UINT32_MAX)
			res->blobs_dropped++;
		else
			rc = mbi_index_add_blob(&nix, k, map[v->pack], v->size);
	}
	if (!rc && (rc = mbi_index_write(&nix, r, 0, NULL)) == MB_OK)
		res->index_objects_written++;
	for (i = 0; !rc && i < old->nobjects; i++) {
		if ((rc = mbi_lock_prove(lock)))
			break;
		rc = mbi_store_del(r->store, old->objects[i]);
		if (rc == MB_E_NOTFOUND)
			rc = MB_OK;
		forget_cached(r, old->objects[i]);
	}
	mbi_index_release(&nix);
	free(map);
	return rc;
}

static int repair_steps(struct mbi_repo *r, struct mbi_lock *lock,
			struct mb_repair_result *res)
{
	struct mbi_index ix;
	bool *gone = NULL;
	size_t ngone = 0, i;
	int rc;

	if ((rc = drop_partial(r, lock, "index/", res)) ||
	    (rc = drop_partial(r, lock, "snapshots/", res)))
		return rc;
	if ((rc = mbi_index_init(&ix, r->ctx)))
		return rc;
	if (!(rc = mbi_index_load(&ix, r, true)))
		rc = mbi_index_missing_packs(&ix, r, &gone, &ngone);
	for (i = 0; !rc && i < ix.npacks; i++)
		if (gone[i])
			mbi_log(r->ctx, MB_LOG_WARNING,
				"dropping the index entries of the missing pack '%s': the next backup stores that content again",
				ix.packs[i].name);
	res->packs_dropped = ngone;
	if (!rc && ngone)
		rc = rewrite_index(r, lock, &ix, gone, res);
	free(gone);
	mbi_index_release(&ix);
	return rc;
}

int mb_repair_index(struct mb_ctx *ctx, struct mb_repair_result *res)
{
	struct mb_repair_result rr;
	struct mbi_repo *r = NULL;
	struct mbi_lock *lock = NULL;
	int rc;

	memset(&rr, 0, sizeof(rr));
	if ((rc = mbi_result_ok(ctx, res, "mb_repair_result")) ||
	    (rc = mbi_need_config(ctx)))
		return rc;
	if (!ctx->cfg->signing_key)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "repair writes a signed index: set [keys] signing_key");
	if ((rc = mbi_repo_open(ctx, &r)))
		return rc;
	if (!(rc = mbi_lock_acquire(r, true, 0, &lock)))
		rc = repair_steps(r, lock, &rr);
	mbi_lock_release(lock);
	mbi_repo_close(r);
	mbi_result_out(res, &rr, sizeof(rr));
	return rc;
}
