/* SPDX-License-Identifier: MIT */
/* op/check.c: verifying a repository: signatures, references and, on request,
 * the content itself. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

struct check_run {
	struct mb_ctx *ctx;
	struct mbi_repo *r;
	struct mbi_index ix;
	struct mb_check_result res;
	/* sizes of the pack objects that exist, by pack number */
	uint64_t *present;
	/* per pack: blobs found while reading it */
	size_t found;
	uint32_t cur_pack;
	uint32_t *used;       /* per pack: a snapshot needs it */
	struct mbi_index ix2; /* a fresh second read, made when needed */
	bool reread, have_ix2;
};

static void problem(struct check_run *c, const char *what)
{
	c->res.errors++;
	mbi_log(c->ctx, MB_LOG_ERROR, "%s", what);
}

static int cmp_pack_name(const void *a, const void *b, void *arg)
{
	const struct mbi_packinfo *p = arg;

	return strcmp(p[*(const uint32_t *)a].name, p[*(const uint32_t *)b].name);
}

struct pack_lookup {
	struct check_run *c;
	uint32_t *order; /* pack numbers sorted by name */
};

static int on_pack_obj(void *ud, const char *key, uint64_t size)
{
	struct pack_lookup *pl = ud;
	struct check_run *c = pl->c;
	const char *base = strrchr(key, '/');
	size_t lo = 0, hi = c->ix.npacks;

	base = base ? base + 1 : key;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int d = strcmp(c->ix.packs[pl->order[mid]].name, base);

		if (!d) {
			/* two index objects may list one pack (a prune that
			 * stopped before deleting the old ones): mark all */
			size_t k = mid;

			while (k > 0 && !strcmp(c->ix.packs[pl->order[k - 1]].name,
						base))
				k--;
			for (; k < c->ix.npacks &&
			       !strcmp(c->ix.packs[pl->order[k]].name, base); k++)
				c->present[pl->order[k]] = size + 1;
			break;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return MB_OK;
}

/*
 * check --read-data=N% reads the packs whose names fall in a window of N%
 * of the name space, starting where the last run stopped (kept in the
 * cache directory), so that runs in turn cover the whole repository.
 */
static bool in_slice(const char *name, int start, int pct)
{
	unsigned v = 0;
	int pos, k;

	for (k = 0; k < 4; k++)
		v = v << 4 | (unsigned)(name[k] <= '9' ? name[k] - '0' :
					name[k] - 'a' + 10);
	pos = (int)((uint64_t)v * 10000 / 65536); /* 0..9999 */
	pos = (pos - start * 100 + 10000) % 10000;
	return pos < pct * 100;
}

static char *slice_file(struct check_run *c)
{
	char *dir = mbi_cache_dir(c->ctx, c->r->id);
	char *p = dir ? mbi_asprintf("%s/check-slice", dir) : NULL;

	free(dir);
	return p;
}

static int slice_start(struct check_run *c)
{
	char *p = slice_file(c);
	struct mbi_buf b = { 0 };
	int v = 0;

	if (p && mbi_read_file(c->ctx, p, &b, 64) == MB_OK) {
		v = atoi(b.data);
		if (v < 0 || v > 99)
			v = 0;
	}
	mbi_buf_release(&b);
	free(p);
	return v;
}

static void slice_save(struct check_run *c, int next)
{
	char *p = slice_file(c);
	char buf[16];

	snprintf(buf, sizeof(buf), "%d\n", next);
	if (p)
		mbi_write_file_atomic(c->ctx, p, buf, strlen(buf), 0600);
	free(p);
}

struct ref_ctx {
	struct check_run *c;
	const char *snap;
	uint32_t *used;
};

/* Snapshots are listed before the index is read, and an entry the index
 * does not know is looked up again in a fresh read before it is called
 * orphaned: a backup that commits meanwhile is no problem. */
static bool load_again(struct check_run *c)
{
	if (!c->reread) {
		c->reread = true;
		if (mbi_index_init(&c->ix2, c->ctx))
			return false;
		c->have_ix2 = true;
		if (mbi_index_load(&c->ix2, c->r, true)) {
			mbi_index_release(&c->ix2);
			c->have_ix2 = false;
		}
	}
	return c->have_ix2;
}

static const struct mbi_blobref *find_again(struct check_run *c,
					    const unsigned char *sha)
{
	return load_again(c) ? mbi_index_find(&c->ix2, sha) : NULL;
}

static int on_entry(void *ud, struct mbi_mentry *e)
{
	struct ref_ctx *rc = ud;
	const struct mbi_blobref *ref;
	char msg[1024], hex[MBI_SHA256_HEX];

	if (e->type == 'f' && !e->size) {
		unsigned char empty[MBI_SHA256_LEN];

		mbi_sha256_buf("", 0, empty);
		if (memcmp(e->sha, empty, MBI_SHA256_LEN)) {
			snprintf(msg, sizeof(msg),
				 "snapshot '%s': entry '%s/%s' says 0 bytes, its content is not empty",
				 rc->snap, e->source, e->path);
			problem(rc->c, msg);
		}
	}
	if (e->type != 'f' || !e->size)
		return MB_OK;
	ref = mbi_index_find(&rc->c->ix, e->sha);
	if (!ref && find_again(rc->c, e->sha))
		return MB_OK; /* committed since the first read */
	if (!ref) {
		mbi_hex(e->sha, MBI_SHA256_LEN, hex);
		snprintf(msg, sizeof(msg),
			 "snapshot '%s': content %s of '%s/%s' is in no index",
			 rc->snap, hex, e->source, e->path);
		problem(rc->c, msg);
		return MB_OK;
	}
	rc->used[ref->pack] = 1;
	if (ref->size != e->size) {
		/* the index's size is checked against the content itself by
		 * --read-data: a SIZE lie of a signed manifest shows here */
		snprintf(msg, sizeof(msg),
			 "snapshot '%s': entry '%s/%s' says %llu bytes, its content has %llu",
			 rc->snap, e->source, e->path,
			 (unsigned long long)e->size,
			 (unsigned long long)ref->size);
		problem(rc->c, msg);
	}
	return MB_OK;
}

static int on_member(void *ud, struct mbi_packr *pr, const char *name,
		     const unsigned char *sha, bool has_sha, uint64_t size)
{
	struct check_run *c = ud;
	struct mbi_sha256 h;
	unsigned char got[MBI_SHA256_LEN];
	const struct mbi_blobref *ref;
	unsigned char key[MBI_SHA256_LEN];
	uint64_t total = 0;
	char msg[1024];

	if (!has_sha)
		return MB_OK;
	memcpy(key, sha, MBI_SHA256_LEN);
	if (c->ix.packs[c->cur_pack].listing)
		mbi_listing_key(sha, key);
	ref = mbi_index_find(&c->ix, key);
	if (!ref || ref->pack != c->cur_pack)
		return MB_OK; /* not listed for this pack: unreferenced */
	if (mbi_sha256_init(&h))
		return MB_E_NOMEM;
	for (;;) {
		const void *b;
		size_t n;
		int more = mbi_packr_block(pr, &b, &n);

		if (more < 0) {
			mbi_sha256_release(&h);
			return MB_E_VERIFY;
		}
		if (!more)
			break;
		mbi_sha256_update(&h, b, n);
		total += (uint64_t)n;
	}
	mbi_sha256_final(&h, got);
	mbi_sha256_release(&h);
	c->res.blobs++;
	c->res.bytes_read += total;
	if (memcmp(got, sha, MBI_SHA256_LEN) || total != size ||
	    size != ref->size) {
		snprintf(msg, sizeof(msg),
			 "pack '%s': member '%s' does not match its hash",
			 c->ix.packs[c->cur_pack].name, name);
		problem(c, msg);
	} else {
		c->found++;
	}
	return mbi_progress(c->ctx, "check", c->res.blobs, c->res.bytes_read,
			    0, 0);
}

/* Snapshots this host committed and never forgot that are gone. */
static int report_vanished(struct check_run *c,
			   const struct mb_snapshot_info *v, size_t n)
{
	char **gone = NULL, msg[1024];
	size_t ngone = 0, i;
	int rc = mbi_history_vanished(c->ctx, c->r->id, v, n, &gone, &ngone);

	bool warn = c->ctx->cfg->vanished_snapshots &&
		    !strcmp(c->ctx->cfg->vanished_snapshots, "warning");

	for (i = 0; !rc && i < ngone; i++) {
		snprintf(msg, sizeof(msg),
			 "snapshot '%s', committed by this host and never forgotten by it, is gone from the repository: it was deleted or the repository was rolled back%s",
			 gone[i], warn ? " (or forgotten by another host: vanished_snapshots = warning)" : "");
		if (warn)
			mbi_log(c->ctx, MB_LOG_WARNING, "%s", msg);
		else
			problem(c, msg);
	}
	for (i = 0; gone && i < ngone; i++)
		free(gone[i]);
	free(gone);
	return rc;
}

static int ck_load_index(struct check_run *c)
{
	int rc;

	/* index objects are verified afresh, not read from the cache */
	rc = mbi_index_load(&c->ix, c->r, true);
	if (rc == MB_E_VERIFY || rc == MB_E_CRYPTO) {
		problem(c, mb_ctx_errmsg(c->ctx));
		return mbi_error(c->ctx, MB_E_VERIFY, 0,
				 "check found a damaged index object: the repository cannot be trusted until it is repaired; if it is a partial object, 'mailbackup repair index' removes it");
	}
	if (rc)
		return rc;
	c->res.indexes = c->ix.nobjects;
	c->present = calloc(c->ix.npacks + 1, sizeof(*c->present));
	c->used = calloc(c->ix.npacks + 1, sizeof(*c->used));
	if (!c->present || !c->used)
		return MB_E_NOMEM;
	return MB_OK;
}

static int ck_list_packs(struct check_run *c)
{
	struct pack_lookup pl = { c, calloc(c->ix.npacks + 1,
					    sizeof(uint32_t)) };
	size_t i;
	int rc;

	if (!pl.order)
		return MB_E_NOMEM;
	for (i = 0; i < c->ix.npacks; i++)
		pl.order[i] = (uint32_t)i;
	qsort_r(pl.order, c->ix.npacks, sizeof(uint32_t), cmp_pack_name,
		c->ix.packs);
	rc = mbi_store_list(c->r->store, "packs/", on_pack_obj, &pl);
	free(pl.order);
	return rc;
}

/* A listing the snapshot reaches: its listing pack is used. */
static int use_listing(struct check_run *c, struct ref_ctx *rctx,
		       const unsigned char *id)
{
	const struct mbi_blobref *ref = mbi_index_find_listing(&c->ix, id);
	char msg[1024], hex[MBI_SHA256_HEX];

	if (ref) {
		rctx->used[ref->pack] = 1;
		return MB_OK;
	}
	mbi_hex(id, MBI_SHA256_LEN, hex);
	snprintf(msg, sizeof(msg),
		 "snapshot '%s': listing %s is in no listing pack of the index",
		 rctx->snap, hex);
	problem(c, msg);
	return MB_OK;
}

/* A snapshot that cannot be read: the message names it (a listing pack
 * that is gone does not say whose listings it held). */
static void snapshot_problem(struct check_run *c, const char *name)
{
	const char *err = mb_ctx_errmsg(c->ctx);
	char *msg;

	if (strstr(err, name)) {
		problem(c, err);
		return;
	}
	msg = mbi_asprintf("snapshot '%s' cannot be read: %s", name, err);
	problem(c, msg ? msg : err);
	free(msg);
}

static int ck_snapshots(struct check_run *c, struct mb_snapshot_info *snaps,
			size_t nsnaps)
{
	size_t i, j;
	int rc;

	/* format 2: each distinct listing (and what it lists) once */
	if ((rc = mbi_listings_skip_seen(c->r)))
		return rc;
	for (i = 0; i < nsnaps; i++) {
		struct mbi_manifest m;
		struct ref_ctx rctx = { c, snaps[i].name, c->used };

		rc = mbi_manifest_load(c->r, snaps[i].name, &m);
		if (rc == MB_E_VERIFY || rc == MB_E_CRYPTO ||
		    rc == MB_E_NOTFOUND) {
			snapshot_problem(c, snaps[i].name);
			if ((rc = mbi_listings_settle(c->r, false)))
				return rc;
			continue;
		}
		if (rc)
			return rc;
		c->res.snapshots++;
		rc = mbi_manifest_foreach(c->ctx, &m, on_entry, &rctx);
		for (j = 0; !rc && j < m.nlisting_ids; j++)
			rc = use_listing(c, &rctx,
					 m.listing_ids + j * MBI_SHA256_LEN);
		mbi_manifest_release(&m);
		if (!rc)
			rc = mbi_listings_settle(c->r, true);
		if (rc)
			return rc;
	}
	return MB_OK;
}

/* Still missing on a second look (a prune may have replaced the index
 * and its packs since the listing)? */
static bool still_missing(struct check_run *c, const char *name)
{
	char key[MBI_SHA256_HEX + 16];
	uint64_t size;
	size_t k;

	snprintf(key, sizeof(key), "packs/%.2s/%s", name, name);
	if (mbi_store_stat(c->r->store, key, &size) == MB_OK)
		return false;
	if (!load_again(c))
		return true;
	for (k = 0; k < c->ix2.npacks; k++)
		if (!strcmp(c->ix2.packs[k].name, name))
			return true;
	return false;
}

static void ck_presence(struct check_run *c)
{
	char msg[1024];
	size_t i;

	for (i = 0; i < c->ix.npacks; i++) {
		if (c->used[i])
			c->res.packs++;
		if (!c->present[i]) {
			if (!still_missing(c, c->ix.packs[i].name))
				continue;
			/* an index entry whose pack is gone: later backups
			 * would refer to it */
			snprintf(msg, sizeof(msg),
				 "pack '%s' is missing from the repository%s: run 'mailbackup repair index' so that the next backup stores its content again",
				 c->ix.packs[i].name, c->used[i] ?
				 " (a snapshot needs it)" : ", but the index lists it");
			problem(c, msg);
		} else if (c->used[i] &&
			   c->present[i] - 1 != c->ix.packs[i].size) {
			snprintf(msg, sizeof(msg),
				 "pack '%s' has %llu bytes, the index says %llu",
				 c->ix.packs[i].name,
				 (unsigned long long)(c->present[i] - 1),
				 (unsigned long long)c->ix.packs[i].size);
			problem(c, msg);
		}
	}
}

static int ck_read_pack(struct check_run *c, size_t i)
{
	char msg[1024];
	int prc;

	c->cur_pack = (uint32_t)i;
	c->found = 0;
	prc = mbi_pack_read(c->r, c->ix.packs[i].name, c->ix.packs[i].size,
			    on_member, c);
	c->res.packs_read++;
	if (prc == MB_E_VERIFY || prc == MB_E_CRYPTO) {
		problem(c, mb_ctx_errmsg(c->ctx));
		return MB_OK;
	}
	if (prc)
		return prc;
	if (c->found != c->ix.packs[i].nblobs) {
		snprintf(msg, sizeof(msg),
			 "pack '%s' holds %zu of the %u blobs the index lists",
			 c->ix.packs[i].name, c->found, c->ix.packs[i].nblobs);
		problem(c, msg);
	}
	return MB_OK;
}

static int ck_read_data(struct check_run *c, const struct mb_check_opts *opts)
{
	int pct = opts->percent > 0 && opts->percent <= 100 ?
		  opts->percent : 100;
	int start = pct < 100 ? slice_start(c) : 0;
	size_t i;
	int rc;

	for (i = 0; i < c->ix.npacks; i++) {
		if (!c->used[i] || !c->present[i])
			continue;
		/* a listing pack a snapshot reaches was read whole, hashed,
		 * and each listing in it hashed, when the snapshots were read:
		 * not read a second time */
		if (c->ix.packs[i].listing) {
			c->res.packs_read++;
			continue;
		}
		if (pct < 100 && !in_slice(c->ix.packs[i].name, start, pct))
			continue;
		if ((rc = ck_read_pack(c, i)))
			return rc;
	}
	if (pct < 100 && !c->res.errors)
		slice_save(c, (start + pct) % 100);
	return MB_OK;
}

int mb_check(struct mb_ctx *ctx, const struct mb_check_opts *opts,
	     struct mb_check_result *res)
{
	struct mb_check_opts o;
	struct check_run c;
	struct mb_snapshot_info *snaps = NULL;
	size_t nsnaps = 0;
	double t0 = mbi_now();
	int rc;

	if ((rc = MBI_OPTS_IN(ctx, &o, opts, "mb_check_opts")) ||
	    (rc = mbi_result_ok(ctx, res, "mb_check_result")))
		return rc;
	opts = &o;
	memset(&c, 0, sizeof(c));
	c.ctx = ctx;
	if ((rc = mbi_index_init(&c.ix, ctx)) ||
	    (rc = mbi_repo_open(ctx, &c.r)) ||
	    (rc = mbi_snapshots_list(c.r, &snaps, &nsnaps)) ||
	    (rc = report_vanished(&c, snaps, nsnaps)) ||
	    (rc = ck_load_index(&c)) || (rc = ck_list_packs(&c)) ||
	    (rc = ck_snapshots(&c, snaps, nsnaps)))
		goto out;
	ck_presence(&c);
	if (opts && opts->read_data && (rc = ck_read_data(&c, opts)))
		goto out;
	if (c.res.errors)
		rc = mbi_error(ctx, MB_E_VERIFY, 0,
			       "check found %llu problem(s) in the repository",
			       (unsigned long long)c.res.errors);
out:
	c.res.seconds = mbi_now() - t0;
	mbi_result_out(res, &c.res, sizeof(c.res));
	free(snaps);
	free(c.used);
	free(c.present);
	mbi_index_release(&c.ix);
	if (c.have_ix2)
		mbi_index_release(&c.ix2);
	mbi_repo_close(c.r);
	return rc;
}
