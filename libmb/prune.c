/* SPDX-License-Identifier: MIT */
/* prune.c: forget (retention applied to snapshots), prune and unlock. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "retention.h"

#include "banned.h"

/* ------------------------------------------------------- snapshot groups */

/* The source set of a snapshot ("conf,dkim,vmail"), from its manifest;
 * kept in the cache directory since manifests never change. */
static int snapshot_group(struct mbi_repo *r, const char *cdir,
			  const char *name, char **out)
{
	char *path = mbi_asprintf("%s/groups/%s", cdir, name);
	struct mbi_buf b = { 0 };
	struct mbi_manifest m;
	size_t i;
	int rc;

	if (!path)
		return MB_E_NOMEM;
	if (mbi_read_file(r->ctx, path, &b, 65536) == MB_OK) {
		*out = b.data;
		free(path);
		return MB_OK;
	}
	rc = mbi_manifest_load(r, name, &m);
	if (rc) {
		free(path);
		return rc;
	}
	/* names sorted, so that the same set always reads the same */
	{
		char **names = calloc(m.nsources + 1, sizeof(*names));

		for (i = 0; names && i < m.nsources; i++)
			names[i] = m.sources[i].name;
		for (i = 1; names && i < m.nsources; i++) {
			size_t j = i;

			while (j > 0 && strcmp(names[j - 1], names[j]) > 0) {
				char *t = names[j];

				names[j] = names[j - 1];
				names[j - 1] = t;
				j--;
			}
		}
		for (i = 0; names && !rc && i < m.nsources; i++)
			rc = mbi_buf_printf(&b, "%s%s", i ? "," : "",
					    names[i]);
		if (!names)
			rc = MB_E_NOMEM;
		free(names);
	}
	if (!rc && !b.data)
		rc = mbi_buf_addstr(&b, "");
	mbi_manifest_release(&m);
	if (!rc) {
		char *d = mbi_asprintf("%s/groups", cdir);

		if (d && !mbi_mkdir_p(d, 0700))
			mbi_write_file_atomic(r->ctx, path, b.data, b.len,
					      0600);
		free(d);
		*out = b.data;
	} else {
		mbi_buf_release(&b);
	}
	free(path);
	return rc;
}

/*
 * What sets an item aside or pins it: a time too far ahead of this host's
 * clock (kept, named, steers nothing), a name its manifest does not confirm
 * (the same), or being the snapshot a backup --prune has just made.
 */
static int mark_item(struct mbi_repo *r, const char *cdir,
		     const struct mb_snapshot_info *si, const char *keep,
		     uint32_t *mark, char **group)
{
	int64_t now = (int64_t)time(NULL);
	int rc;

	if (keep && *keep && (!strcmp(si->name, keep) ||
			      !strncmp(si->id, keep, strlen(keep))))
		*mark |= MBI_KEEP_CURRENT;
	if (si->time > now + MBI_CLOCK_TOLERANCE) {
		char t[32];

		mbi_time_format(si->time, t, sizeof(t), false);
		mbi_log(r->ctx, MB_LOG_WARNING,
			"snapshot '%s' is dated %s, more than a day ahead of this host's clock: kept, and left out of the retention rules (check the clock of host '%s')",
			si->name, t, si->host);
		*mark |= MBI_KEEP_FUTURE;
	}
	rc = snapshot_group(r, cdir, si->name, group);
	if (rc == MB_E_VERIFY) {
		mbi_log(r->ctx, MB_LOG_WARNING,
			"%s; kept, and left out of the retention rules",
			mb_ctx_errmsg(r->ctx));
		*mark |= MBI_KEEP_UNVERIFIED;
		*group = strdup("");
		rc = *group ? MB_OK : MB_E_NOMEM;
	}
	return rc;
}

int mb_forget(struct mb_ctx *ctx, const struct mb_forget_opts *opts,
	      mb_forget_fn fn, void *userdata, struct mb_forget_result *res)
{
	struct mbi_repo *r = NULL;
	struct mbi_retention pol;
	struct mb_snapshot_info *snaps = NULL;
	struct mbi_retain_item *items = NULL;
	uint32_t *marks = NULL;
	char **groups = NULL, *cdir = NULL;
	struct mb_forget_result fr = { 0, 0 };
	size_t n = 0, i;
	int rc;

	if ((rc = mbi_need_config(ctx)))
		return rc;
	pol = ctx->cfg->retention;
	if (opts && opts->rules && opts->rules[0]) {
		memset(&pol, 0, sizeof(pol));
		for (i = 0; opts->rules[i]; i += 2) {
			if (!opts->rules[i + 1])
				return mbi_error(ctx, MB_E_INVAL, 0,
						 "rule '%s' has no value",
						 opts->rules[i]);
			rc = mbi_retention_set(ctx, &pol, opts->rules[i],
					       opts->rules[i + 1]);
			if (rc)
				return rc;
		}
	}
	if (mbi_retention_empty(&pol))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "no retention policy: set [retention] keep_* or pass --keep-* (refusing to remove every snapshot)");
	if ((rc = mbi_repo_open(ctx, &r)))
		return rc;
	cdir = mbi_cache_dir(ctx, r->id);
	if (!cdir) {
		rc = MB_E_IO;
		goto out;
	}
	if ((rc = mbi_snapshots_list(r, &snaps, &n)))
		goto out;
	items = calloc(n + 1, sizeof(*items));
	groups = calloc(n + 1, sizeof(*groups));
	marks = calloc(n + 1, sizeof(*marks));
	if (!items || !groups || !marks) {
		rc = MB_E_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((rc = mark_item(r, cdir, &snaps[i], opts ? opts->keep : NULL,
				    &marks[i], &groups[i])))
			goto out;
		items[i].time = snaps[i].time;
		items[i].host = snaps[i].host;
		items[i].group = groups[i];
	}
	if ((rc = mbi_retention_apply_marked(ctx, &pol, items, n, marks)))
		goto out;
	for (i = 0; i < n; i++) {
		char reasons[128];
		struct mb_forget_item it;

		mbi_retention_reasons(items[i].reasons, reasons,
				      sizeof(reasons));
		it.snap = snaps[i];
		it.group = groups[i];
		it.keep = items[i].reasons != 0;
		it.reasons = reasons;
		if (it.keep)
			fr.kept++;
		else
			fr.removed++;
		if (fn && (rc = fn(userdata, &it)))
			goto out;
	}
	for (i = 0; !(opts && opts->dry_run) && i < n; i++) {
		char key[300];

		if (items[i].reasons)
			continue;
		snprintf(key, sizeof(key), "snapshots/%s", snaps[i].name);
		rc = r->store->ops->del(r->store, key);
		if (rc == MB_E_LOCKED) {
			/* object lock: it goes when its retention ends */
			mbi_log(ctx, MB_LOG_WARNING, "%s", mb_ctx_errmsg(ctx));
			rc = MB_OK;
			continue;
		}
		if (rc)
			goto out;
		mbi_log(ctx, MB_LOG_INFO, "removed snapshot %s", snaps[i].id);
		if (mbi_history_add(ctx, r->id, "forget", snaps[i].name))
			mbi_log(ctx, MB_LOG_WARNING, "%s", mb_ctx_errmsg(ctx));
	}
out:
	if (res)
		*res = fr;
	for (i = 0; groups && i < n; i++)
		free(groups[i]);
	free(groups);
	free(items);
	free(marks);
	free(snaps);
	free(cdir);
	mbi_repo_close(r);
	return rc;
}

/* ----------------------------------------------------------------- prune */

/* A set of SHA-256 values: the content some kept snapshot needs. */
struct shaset {
	unsigned char *keys;
	size_t cap, n;
};

static const unsigned char zero[MBI_SHA256_LEN];

static size_t set_slot(const struct shaset *s, const unsigned char *k)
{
	uint64_t h;
	size_t i;

	memcpy(&h, k, sizeof(h));
	i = (size_t)h & (s->cap - 1);
	while (memcmp(s->keys + i * MBI_SHA256_LEN, zero, MBI_SHA256_LEN) &&
	       memcmp(s->keys + i * MBI_SHA256_LEN, k, MBI_SHA256_LEN))
		i = (i + 1) & (s->cap - 1);
	return i;
}

static bool set_has(const struct shaset *s, const unsigned char *k)
{
	return s->cap && memcmp(s->keys + set_slot(s, k) * MBI_SHA256_LEN,
				zero, MBI_SHA256_LEN);
}

static int set_add(struct shaset *s, const unsigned char *k)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		struct shaset ns = { NULL, s->cap ? s->cap * 2 : 4096, 0 };

		ns.keys = calloc(ns.cap, MBI_SHA256_LEN);
		if (!ns.keys)
			return MB_E_NOMEM;
		for (i = 0; i < s->cap; i++)
			if (memcmp(s->keys + i * MBI_SHA256_LEN, zero,
				   MBI_SHA256_LEN)) {
				memcpy(ns.keys + set_slot(&ns, s->keys + i *
						MBI_SHA256_LEN) * MBI_SHA256_LEN,
				       s->keys + i * MBI_SHA256_LEN,
				       MBI_SHA256_LEN);
				ns.n++;
			}
		free(s->keys);
		*s = ns;
	}
	i = set_slot(s, k);
	if (!memcmp(s->keys + i * MBI_SHA256_LEN, zero, MBI_SHA256_LEN)) {
		memcpy(s->keys + i * MBI_SHA256_LEN, k, MBI_SHA256_LEN);
		s->n++;
	}
	return MB_OK;
}

static int mark_used(void *ud, struct mbi_mentry *e)
{
	if (e->type != 'f' || !e->has_sha)
		return MB_OK;
	return set_add(ud, e->sha);
}

struct list_acc {
	char **keys;
	uint64_t *sizes;
	size_t n, cap;
};

static int collect(void *ud, const char *key, uint64_t size)
{
	struct list_acc *a = ud;

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

static void acc_release(struct list_acc *a)
{
	mbi_strv_free(a->keys, a->n);
	free(a->sizes);
	memset(a, 0, sizeof(*a));
}

/* Repacking: live members of sparse packs go into fresh packs. */
struct repack {
	struct mbi_repo *r;
	struct mbi_index *old;
	struct mbi_index *ix;     /* the new index */
	struct shaset *used;
	struct shaset done;       /* blobs already rewritten */
	struct mbi_packw *pw;
	unsigned char (*pending)[MBI_SHA256_LEN];
	uint64_t *psizes;
	size_t npending, cap;
	char *buf;
	char *tmpdir;
	struct mb_prune_result *res;
};

static int repack_flush(struct repack *rp)
{
	char name[MBI_SHA256_HEX];
	uint64_t size;
	uint32_t pack;
	size_t i;
	int rc;

	if (!rp->pw)
		return MB_OK;
	rc = mbi_packw_close(rp->pw, name, &size);
	rp->pw = NULL;
	if (rc)
		return rc;
	if ((rc = mbi_index_add_pack(rp->ix, name, size, &pack)))
		return rc;
	for (i = 0; !rc && i < rp->npending; i++)
		rc = mbi_index_add_blob(rp->ix, rp->pending[i], pack,
					rp->psizes[i]);
	rp->npending = 0;
	rp->res->packs_written++;
	return rc;
}

static int on_repack_member(void *ud, struct mbi_packr *pr, const char *name,
			    const unsigned char *sha, bool has_sha,
			    uint64_t size)
{
	struct repack *rp = ud;
	unsigned char got[MBI_SHA256_LEN];
	struct mbi_sha256 h;
	uint64_t off = 0;
	char *data = NULL;
	int fd = -1, rc = MB_OK;

	if (!has_sha || !set_has(rp->used, sha) || set_has(&rp->done, sha) ||
	    mbi_index_find(rp->ix, sha))
		return MB_OK;
	if (size <= (8u << 20)) {
		data = malloc(size ? size : 1);
		if (!data)
			return MB_E_NOMEM;
	} else {
		fd = open(rp->tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0)
			return mbi_error(rp->r->ctx, MB_E_IO, errno,
					 "cannot create a temporary file in '%s'",
					 rp->tmpdir);
	}
	if (mbi_sha256_init(&h)) {
		rc = MB_E_NOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = mbi_packr_read(pr, data ? data + off : rp->buf,
					   data ? (size_t)(size - off) :
					   (1 << 20));

		if (n < 0) {
			rc = MB_E_VERIFY;
			break;
		}
		if (!n)
			break;
		mbi_sha256_update(&h, data ? data + off : rp->buf, (size_t)n);
		if (!data && mbi_write_all(fd, rp->buf, (size_t)n)) {
			rc = mbi_error(rp->r->ctx, MB_E_IO, errno,
				       "cannot write a temporary file");
			break;
		}
		off += (uint64_t)n;
		if (data && off == size)
			break;
	}
	mbi_sha256_final(&h, got);
	mbi_sha256_release(&h);
	if (!rc && (off != size || memcmp(got, sha, MBI_SHA256_LEN)))
		rc = mbi_error(rp->r->ctx, MB_E_VERIFY, 0,
			       "member '%s' does not match its hash: not repacking a damaged pack",
			       name);
	if (rc)
		goto out;
	if (!rp->pw && (rc = mbi_packw_open(rp->r, rp->r->ctx->cfg->zstd_level,
					    &rp->pw)))
		goto out;
	rc = mbi_packw_add(rp->pw, name, sha, size, 0600, 0, data, fd);
	if (rc)
		goto out;
	if (rp->npending == rp->cap) {
		size_t cap = rp->cap ? rp->cap * 2 : 1024;
		void *np = realloc(rp->pending, cap * sizeof(*rp->pending));
		void *ns;

		if (!np) {
			rc = MB_E_NOMEM;
			goto out;
		}
		rp->pending = np;
		ns = realloc(rp->psizes, cap * sizeof(*rp->psizes));
		if (!ns) {
			rc = MB_E_NOMEM;
			goto out;
		}
		rp->psizes = ns;
		rp->cap = cap;
	}
	memcpy(rp->pending[rp->npending], sha, MBI_SHA256_LEN);
	rp->psizes[rp->npending++] = size;
	rc = set_add(&rp->done, sha);
	if (!rc && mbi_packw_out_bytes(rp->pw) >= rp->r->ctx->cfg->pack_size)
		rc = repack_flush(rp);
out:
	free(data);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Add the packs that index object key names to ix (as kept packs, with
 * no blobs of their own), so that the deletion pass leaves them alone. */
static int keep_packs_of(struct mbi_repo *r, const char *key,
			 struct mbi_index *ix)
{
	struct mbi_index one;
	struct mbi_buf plain = { 0 };
	size_t i;
	int rc;

	if ((rc = mbi_index_init(&one, r->ctx)))
		return rc;
	rc = mbi_repo_get_meta(r, key, 1u << 30, &plain);
	if (!rc)
		rc = mbi_index_parse(&one, plain.data, plain.len, key);
	for (i = 0; !rc && i < one.npacks; i++) {
		uint32_t p;
		size_t k;
		bool known = false;

		for (k = 0; k < ix->npacks && !known; k++)
			known = !strcmp(ix->packs[k].name, one.packs[i].name);
		if (!known)
			rc = mbi_index_add_pack(ix, one.packs[i].name,
						one.packs[i].size, &p);
	}
	mbi_buf_release(&plain);
	mbi_index_release(&one);
	return rc;
}

static void forget_cached_index(const char *cdir, const char *key)
{
	const char *base = strrchr(key, '/');
	char *p = mbi_asprintf("%s/index/%s", cdir, base ? base + 1 : key);

	if (p)
		unlink(p);
	free(p);
}

int mb_prune(struct mb_ctx *ctx, const struct mb_prune_opts *opts,
	     struct mb_prune_result *res)
{
	struct mb_prune_result pr;
	struct mbi_repo *r = NULL;
	struct mbi_lock *lock = NULL;
	struct mbi_index old, nix;
	struct shaset used = { 0 };
	struct list_acc packs = { 0 }, idx = { 0 };
	struct mb_snapshot_info *snaps = NULL;
	size_t nsnaps = 0, i;
	uint64_t *live = NULL, *total = NULL;
	uint32_t *nlive = NULL; /* live blobs: an empty file has no bytes */
	unsigned char *fate = NULL; /* 0 keep, 1 delete, 2 repack */
	struct repack rp;
	char *cdir = NULL;
	double t0 = mbi_now();
	int max_unused = opts ? opts->max_unused : 10;
	bool dry = opts && opts->dry_run, can_repack;
	int rc;

	memset(&pr, 0, sizeof(pr));
	memset(&rp, 0, sizeof(rp));
	if ((rc = mbi_index_init(&old, ctx)))
		return rc;
	if ((rc = mbi_index_init(&nix, ctx))) {
		mbi_index_release(&old);
		return rc;
	}
	if ((rc = mbi_need_config(ctx)))
		goto out;
	if (!dry && !ctx->cfg->signing_key) {
		/* the new index must be signed: say so before any work */
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "prune writes a signed index: set [keys] signing_key to a key whose secret is in '%s'",
			       ctx->cfg->gnupg_home);
		goto out;
	}
	if ((rc = mbi_repo_open(ctx, &r)))
		goto out;
	if (!dry && (rc = mbi_lock_acquire(r, true, &lock)))
		goto out;
	cdir = mbi_cache_dir(ctx, r->id);
	if (!cdir) {
		rc = MB_E_IO;
		goto out;
	}
	/* what exists: three listings, whatever the size of the repository */
	if ((rc = r->store->ops->list(r->store, "index/", collect, &idx)) ||
	    (rc = r->store->ops->list(r->store, "packs/", collect, &packs)) ||
	    (rc = mbi_snapshots_list(r, &snaps, &nsnaps)))
		goto out;
	if ((rc = mbi_index_load(&old, r, false)))
		goto out;
	for (i = 0; i < nsnaps; i++) {
		struct mbi_manifest m;

		if ((rc = mbi_manifest_load(r, snaps[i].name, &m)))
			goto out;
		rc = mbi_manifest_foreach(ctx, &m, mark_used, &used);
		mbi_manifest_release(&m);
		if (rc)
			goto out;
	}
	live = calloc(old.npacks + 1, sizeof(*live));
	total = calloc(old.npacks + 1, sizeof(*total));
	fate = calloc(old.npacks + 1, 1);
	nlive = calloc(old.npacks + 1, sizeof(*nlive));
	if (!live || !total || !fate || !nlive) {
		rc = MB_E_NOMEM;
		goto out;
	}
	for (i = 0; i < old.cap; i++) {
		const unsigned char *k = old.keys + i * MBI_SHA256_LEN;
		const struct mbi_blobref *v = &old.vals[i];

		if (!memcmp(k, zero, MBI_SHA256_LEN) || v->pack >= old.npacks)
			continue;
		total[v->pack] += v->size;
		if (set_has(&used, k)) {
			live[v->pack] += v->size;
			nlive[v->pack]++;
		}
	}
	can_repack = mbi_crypt_can_decrypt_packs(r->crypt);
	pr.packs_total = old.npacks;
	for (i = 0; i < old.npacks; i++) {
		pr.bytes_before += old.packs[i].size;
		if (!nlive[i] && old.packs[i].nblobs) {
			fate[i] = 1;
		} else if (total[i] && live[i] < total[i] &&
			   (total[i] - live[i]) * 100 > total[i] *
			   (uint64_t)max_unused) {
			if (can_repack)
				fate[i] = 2;
			else
				pr.repack_skipped++;
		} else if (!nlive[i] && !old.packs[i].nblobs) {
			fate[i] = 1;
		}
	}
	if (pr.repack_skipped)
		mbi_log(ctx, MB_LOG_WARNING,
			"%d sparse pack(s) kept as they are: this host holds no recipient's secret key, so it cannot repack (only wholly unused packs are deleted)",
			pr.repack_skipped);
	if (dry) {
		/* what a real run would repack (how many packs it would write
		 * is only known by packing) */
		for (i = 0; i < old.npacks; i++)
			if (fate[i] == 2)
				pr.packs_repacked++;
		goto count;
	}
	{
		/* nothing to delete, repack or tidy: leave the repository as
		 * it is rather than rewrite its index */
		bool work = packs.n != old.npacks;

		for (i = 0; !work && i < old.npacks; i++)
			work = fate[i] != 0;
		if (!work)
			goto out;
	}

	/* 1. the new index: kept packs as they are, then repacked content */
	for (i = 0; i < old.npacks; i++) {
		uint32_t p;

		if (fate[i])
			continue;
		if ((rc = mbi_index_add_pack(&nix, old.packs[i].name,
					     old.packs[i].size, &p)))
			goto out;
	}
	{
		/* blobs of kept packs keep their place */
		uint32_t *map = calloc(old.npacks + 1, sizeof(*map));
		uint32_t next = 0;

		if (!map) {
			rc = MB_E_NOMEM;
			goto out;
		}
		for (i = 0; i < old.npacks; i++)
			map[i] = fate[i] ? UINT32_MAX : next++;
		for (i = 0; !rc && i < old.cap; i++) {
			const unsigned char *k = old.keys + i * MBI_SHA256_LEN;
			const struct mbi_blobref *v = &old.vals[i];

			if (!memcmp(k, zero, MBI_SHA256_LEN) ||
			    v->pack >= old.npacks || map[v->pack] == UINT32_MAX)
				continue;
			rc = mbi_index_add_blob(&nix, k, map[v->pack], v->size);
		}
		free(map);
		if (rc)
			goto out;
	}
	rp.r = r;
	rp.old = &old;
	rp.ix = &nix;
	rp.used = &used;
	rp.res = &pr;
	rp.tmpdir = cdir;
	rp.buf = malloc(1 << 20);
	if (!rp.buf) {
		rc = MB_E_NOMEM;
		goto out;
	}
	for (i = 0; i < old.npacks; i++) {
		if (fate[i] != 2)
			continue;
		rc = mbi_pack_read(r, old.packs[i].name, old.packs[i].size,
				   on_repack_member, &rp);
		if (rc)
			goto out;
		pr.packs_repacked++;
	}
	if ((rc = repack_flush(&rp)))
		goto out;
	/* every blob a snapshot needs must be in the new index */
	for (i = 0; i < used.cap; i++) {
		const unsigned char *k = used.keys + i * MBI_SHA256_LEN;

		if (memcmp(k, zero, MBI_SHA256_LEN) &&
		    !mbi_index_find(&nix, k) && mbi_index_find(&old, k)) {
			rc = mbi_error(ctx, MB_E_VERIFY, 0,
				       "prune would lose content a snapshot needs: stopping before anything is deleted");
			goto out;
		}
	}
	if ((rc = mbi_lock_check(lock)) ||
	    (rc = mbi_index_write(&nix, r, 0, NULL)))
		goto out;
	pr.index_objects_written++;
	/* 2. only now delete: old index objects first, then packs, so that no
	 * index object ever names a missing pack */
	for (i = 0; i < idx.n; i++) {
		if ((rc = mbi_lock_check(lock)))
			goto out;
		rc = r->store->ops->del(r->store, idx.keys[i]);
		if (rc == MB_E_LOCKED) {
			/* under object lock: it stays, and so must every pack
			 * it names, or it would name a missing pack */
			mbi_log(ctx, MB_LOG_WARNING, "%s", mb_ctx_errmsg(ctx));
			rc = keep_packs_of(r, idx.keys[i], &nix);
			if (rc)
				goto out;
			continue;
		}
		if (rc)
			goto out;
		forget_cached_index(cdir, idx.keys[i]);
		pr.index_objects_deleted++;
	}
count:
	for (i = 0; i < packs.n; i++) {
		const char *base = strrchr(packs.keys[i], '/');
		size_t k;
		bool del = true;

		base = base ? base + 1 : packs.keys[i];
		for (k = 0; k < nix.npacks && del; k++)
			if (!strcmp(nix.packs[k].name, base))
				del = false;
		if (dry) {
			/* in a dry run nix is empty: judge by fate; a pack
			 * that two index objects list is kept if one keeps it */
			del = true;
			for (k = 0; k < old.npacks; k++)
				if (!strcmp(old.packs[k].name, base))
					del = del && fate[k] != 0;
		}
		if (!del)
			continue;
		if (!dry) {
			int drc;

			if ((rc = mbi_lock_check(lock)))
				goto out;
			drc = r->store->ops->del(r->store, packs.keys[i]);

			if (drc) {
				mbi_log(ctx, MB_LOG_WARNING,
					"cannot delete '%s' (locked by object lock?): %s",
					packs.keys[i], mb_ctx_errmsg(ctx));
				continue;
			}
		}
		pr.packs_deleted++;
		pr.bytes_freed += packs.sizes[i];
	}
	if (!dry && !rc) {
		/* what runs that died left half-written: under the exclusive
		 * lock no live run owns anything in tmp/ */
		struct list_acc tmp = { 0 };

		rc = r->store->ops->list(r->store, "tmp/", collect, &tmp);
		for (i = 0; !rc && i < tmp.n; i++) {
			const char *b = tmp.keys[i] + 4;
			char *end;
			long pid = strtol(b, &end, 10);

			/* a local writer's file names its process: keep those
			 * of live ones (our own lock refresh among them) */
			if (end != b && *end == '.' && pid > 0 &&
			    (kill((pid_t)pid, 0) == 0 || errno == EPERM))
				continue;
			if ((rc = mbi_lock_check(lock)))
				break;
			if (!r->store->ops->del(r->store, tmp.keys[i]))
				pr.bytes_freed += tmp.sizes[i];
		}
		acc_release(&tmp);
	}
out:
	pr.seconds = mbi_now() - t0;
	if (res)
		*res = pr;
	mbi_packw_abort(rp.pw);
	free(rp.buf);
	free(rp.pending);
	free(rp.psizes);
	free(rp.done.keys);
	free(used.keys);
	free(live);
	free(nlive);
	free(total);
	free(fate);
	free(snaps);
	free(cdir);
	acc_release(&packs);
	acc_release(&idx);
	mbi_index_release(&old);
	mbi_index_release(&nix);
	mbi_lock_release(lock);
	mbi_repo_close(r);
	return rc;
}

int mb_unlock(struct mb_ctx *ctx, size_t *removed)
{
	struct mbi_repo *r;
	int rc = mbi_repo_open(ctx, &r);

	*removed = 0;
	if (rc)
		return rc;
	rc = mbi_lock_remove_stale(r, removed);
	mbi_repo_close(r);
	return rc;
}
