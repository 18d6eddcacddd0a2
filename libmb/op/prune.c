/* SPDX-License-Identifier: MIT */
/* op/prune.c: forget (retention applied to snapshots), prune and unlock. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rekey.h"
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
	struct mb_forget_result fr = MB_FORGET_RESULT_INIT;
	struct mb_forget_opts o;
	size_t n = 0, i;
	int rc;

	if ((rc = MBI_OPTS_IN(ctx, &o, opts, "mb_forget_opts")) ||
	    (rc = mbi_result_ok(ctx, res, "mb_forget_result")))
		return rc;
	opts = &o;
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
		rc = mbi_store_del(r->store, key);
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
	mbi_result_out(res, &fr, sizeof(fr));
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
	bool all;                 /* rekey: every indexed blob, used or not */
	bool listing;             /* reading a listing pack (format 2) */
	bool pw_listing;          /* pw is a listing pack */
	uint64_t bytes_written;
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
	rp->ix->packs[pack].listing = rp->pw_listing;
	for (i = 0; !rc && i < rp->npending; i++)
		rc = mbi_index_add_blob(rp->ix, rp->pending[i], pack,
					rp->psizes[i]);
	rp->npending = 0;
	rp->res->packs_written++;
	rp->bytes_written += size;
	return rc;
}

/* Whether a member (by its index key) is to be left behind: done already,
 * not needed, or in the new index already. */
static bool repack_skip(struct repack *rp, const unsigned char *key)
{
	return set_has(&rp->done, key) ||
	       !(rp->all ? mbi_index_find(rp->old, key) != NULL :
		 set_has(rp->used, key)) ||
	       mbi_index_find(rp->ix, key);
}

static int on_repack_member(void *ud, struct mbi_packr *pr, const char *name,
			    const unsigned char *sha, bool has_sha,
			    uint64_t size)
{
	struct repack *rp = ud;
	unsigned char got[MBI_SHA256_LEN], key[MBI_SHA256_LEN];
	struct mbi_sha256 h;
	uint64_t off = 0;
	char *data = NULL;
	int fd = -1, rc = MB_OK;

	if (!has_sha)
		return MB_OK;
	/* a listing's index key is not its id (mbi_listing_key) */
	memcpy(key, sha, MBI_SHA256_LEN);
	if (rp->listing)
		mbi_listing_key(sha, key);
	if (repack_skip(rp, key))
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
	/* listings go into listing packs, content into content packs */
	if (rp->pw && rp->pw_listing != rp->listing &&
	    (rc = repack_flush(rp)))
		goto out;
	rp->pw_listing = rp->listing;
	if (!rp->pw && (rc = mbi_packw_open_mode(rp->r,
						 rp->r->ctx->cfg->zstd_level,
						 rp->listing ?
						 MBI_CRYPT_LISTING :
						 MBI_CRYPT_PACK, &rp->pw)))
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
	memcpy(rp->pending[rp->npending], key, MBI_SHA256_LEN);
	rp->psizes[rp->npending++] = size;
	rc = set_add(&rp->done, key);
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

/* ------------------------------------------------------ the prune run */

enum pack_fate {
	FATE_KEEP = 0,
	FATE_DELETE,  /* no snapshot needs any of its content */
	FATE_REPACK,  /* sparse: live content moves to a new pack */
};

/*
 * When this host first saw each unreferenced pack, on its own monotonic
 * clock (CLOCK_BOOTTIME, valid within one boot): a pack is deleted only
 * once it has stayed unreferenced for the grace period. A backup that
 * wrote a pack and has not committed its index yet, or that proved its
 * lock and then stalled, so keeps its packs; no remote clock is trusted.
 * After a reboot the observation starts again, which only delays.
 */
struct young {
	char name[MBI_SHA256_HEX];
	int64_t first;
	bool candidate; /* unreferenced in this run: kept in the record */
};

struct prune_run {
	struct mb_ctx *ctx;
	struct mbi_repo *r;
	struct mbi_lock *lock;
	bool dry;
	int max_unused;
	int64_t grace;
	struct mbi_index old, nix;
	struct shaset used;
	struct mbi_listing packs, idx;
	struct mb_snapshot_info *snaps;
	size_t nsnaps;
	uint64_t *live, *total;
	uint32_t *nlive;  /* live blobs: an empty file has no bytes */
	enum pack_fate *fate;
	bool *orphan_young; /* per listed pack: in no index, still young */
	char **keep;      /* sorted names of packs that must stay */
	size_t nkeep;
	struct young *seen;
	size_t nseen;
	char boot[40];
	struct repack rp;
	char *cdir;
	struct mb_prune_result pr;
	bool rekey;       /* mb_rekey: every pack to the configured keys */
	struct mb_rekey_result rk;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_young(const void *a, const void *b)
{
	return strcmp(((const struct young *)a)->name,
		      ((const struct young *)b)->name);
}

static int64_t boot_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static void young_load(struct prune_run *p)
{
	char *path = mbi_asprintf("%s/prune-seen", p->cdir);
	char line[200];
	FILE *f = path ? fopen(path, "re") : NULL;

	free(path);
	mbi_boot_id(p->boot);
	if (!f)
		return;
	if (!fgets(line, sizeof(line), f) ||
	    (line[strcspn(line, "\n")] = '\0', strcmp(line, p->boot))) {
		fclose(f); /* another boot: observe afresh */
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		struct young y;
		long long first;
		void *nv;

		memset(&y, 0, sizeof(y));
		if (sscanf(line, "%lld %64s", &first, y.name) != 2)
			continue;
		y.first = first;
		nv = realloc(p->seen, (p->nseen + 1) * sizeof(*p->seen));
		if (!nv)
			break;
		p->seen = nv;
		p->seen[p->nseen++] = y;
	}
	fclose(f);
	if (p->nseen)
		qsort(p->seen, p->nseen, sizeof(*p->seen), cmp_young);
}

/* Is pack name past its grace? Records the first sighting. */
static bool grace_over(struct prune_run *p, const char *name)
{
	struct young key, *y;
	int64_t now = boot_seconds();

	if (p->grace < 0)
		return true;
	memset(&key, 0, sizeof(key));
	snprintf(key.name, sizeof(key.name), "%s", name);
	y = p->nseen ? bsearch(&key, p->seen, p->nseen, sizeof(*p->seen),
			       cmp_young) : NULL;
	if (!y) {
		void *nv = realloc(p->seen, (p->nseen + 1) * sizeof(*p->seen));

		if (!nv)
			return false;
		p->seen = nv;
		key.first = now;
		p->seen[p->nseen++] = key;
		qsort(p->seen, p->nseen, sizeof(*p->seen), cmp_young);
		y = bsearch(&key, p->seen, p->nseen, sizeof(*p->seen),
			    cmp_young);
	}
	y->candidate = true;
	if (now - y->first >= p->grace)
		return true;
	p->pr.packs_young++;
	return false;
}

static void young_save(struct prune_run *p)
{
	struct mbi_buf b = { 0 };
	char *path;
	size_t i;
	int rc;

	if (p->dry || !p->cdir)
		return;
	path = mbi_asprintf("%s/prune-seen", p->cdir);
	rc = path ? mbi_buf_printf(&b, "%s\n", p->boot) : MB_E_NOMEM;
	for (i = 0; !rc && i < p->nseen; i++)
		if (p->seen[i].candidate)
			rc = mbi_buf_printf(&b, "%lld %s\n",
					    (long long)p->seen[i].first,
					    p->seen[i].name);
	if (!rc)
		mbi_write_file_atomic(p->ctx, path, b.data, b.len, 0600);
	mbi_buf_release(&b);
	free(path);
}

static int prune_open(struct prune_run *p)
{
	int rc;

	if ((rc = mbi_need_config(p->ctx)))
		return rc;
	if (!p->dry && !p->ctx->cfg->signing_key)
		/* the new index must be signed: say so before any work */
		return mbi_error(p->ctx, MB_E_CONFIG, 0,
				 "%s writes a signed index: set [keys] signing_key to a key whose secret is in '%s'",
				 p->rekey ? "rekey" : "prune",
				 p->ctx->cfg->gnupg_home);
	if ((rc = mbi_repo_open(p->ctx, &p->r)))
		return rc;
	if (!p->dry && (rc = mbi_lock_acquire(p->r, true, 0, &p->lock)))
		return rc;
	p->cdir = mbi_cache_dir(p->ctx, p->r->id);
	if (!p->cdir)
		return MB_E_IO;
	young_load(p);
	return MB_OK;
}

/* What exists: three listings, whatever the size of the repository, and
 * the content every snapshot needs. */
static int list_repository(struct prune_run *p)
{
	struct mbi_repo *r = p->r;
	size_t i;
	int rc;

	if ((rc = mbi_store_list_all(r->store, "index/", &p->idx)) ||
	    (rc = mbi_store_list_all(r->store, "packs/", &p->packs)) ||
	    (rc = mbi_snapshots_list(r, &p->snaps, &p->nsnaps)) ||
	    (rc = mbi_index_load(&p->old, r, false)))
		return rc;
	for (i = 0; i < p->nsnaps; i++) {
		struct mbi_manifest m;

		if ((rc = mbi_manifest_load(r, p->snaps[i].name, &m)))
			return rc;
		rc = mbi_manifest_foreach(p->ctx, &m, mark_used, &p->used);
		/* format 2: the listings it reaches are used as well */
		for (size_t j = 0; !rc && j < m.nlisting_ids; j++) {
			unsigned char key[MBI_SHA256_LEN];

			mbi_listing_key(m.listing_ids + j * MBI_SHA256_LEN,
					key);
			rc = set_add(&p->used, key);
		}
		mbi_manifest_release(&m);
		if (rc)
			return rc;
	}
	return MB_OK;
}

static void count_live(struct prune_run *p)
{
	struct mbi_index *old = &p->old;
	size_t i;

	for (i = 0; i < old->cap; i++) {
		const unsigned char *k = old->keys + i * MBI_SHA256_LEN;
		const struct mbi_blobref *v = &old->vals[i];

		if (!memcmp(k, zero, MBI_SHA256_LEN) || v->pack >= old->npacks)
			continue;
		p->total[v->pack] += v->size;
		if (set_has(&p->used, k)) {
			p->live[v->pack] += v->size;
			p->nlive[v->pack]++;
		}
	}
}

static enum pack_fate judge_pack(struct prune_run *p, size_t i,
				 bool can_repack)
{
	uint64_t live = p->live[i], total = p->total[i];

	if (!p->nlive[i])
		/* unreferenced: gone only once its grace is over */
		return grace_over(p, p->old.packs[i].name) ? FATE_DELETE :
		       FATE_KEEP;
	if (total && live < total &&
	    (total - live) * 100 > total * (uint64_t)p->max_unused) {
		if (can_repack)
			return FATE_REPACK;
		p->pr.repack_skipped++;
	}
	return FATE_KEEP;
}

/* Packs in packs/ that no index object lists (a backup that died before
 * its index, or one that has not committed it yet). */
static int judge_orphans(struct prune_run *p, bool *work)
{
	char **names = calloc(p->old.npacks + 1, sizeof(*names));
	size_t i;

	p->orphan_young = calloc(p->packs.n + 1, sizeof(*p->orphan_young));
	if (!names || !p->orphan_young) {
		free(names);
		return MB_E_NOMEM;
	}
	for (i = 0; i < p->old.npacks; i++)
		names[i] = p->old.packs[i].name;
	qsort(names, p->old.npacks, sizeof(*names), cmp_name);
	for (i = 0; i < p->packs.n; i++) {
		const char *base = strrchr(p->packs.keys[i], '/');

		base = base ? base + 1 : p->packs.keys[i];
		if (p->old.npacks && bsearch(&base, names, p->old.npacks,
					     sizeof(*names), cmp_name))
			continue;
		if (grace_over(p, base))
			*work = true;
		else
			p->orphan_young[i] = true;
	}
	free(names);
	return MB_OK;
}

/* Each pack's fate; *work tells whether anything is to be done. */
static int plan_packs(struct prune_run *p, bool *work)
{
	size_t i, n = p->old.npacks;
	bool can_repack;

	p->live = calloc(n + 1, sizeof(*p->live));
	p->total = calloc(n + 1, sizeof(*p->total));
	p->fate = calloc(n + 1, sizeof(*p->fate));
	p->nlive = calloc(n + 1, sizeof(*p->nlive));
	if (!p->live || !p->total || !p->fate || !p->nlive)
		return MB_E_NOMEM;
	count_live(p);
	can_repack = mbi_crypt_can_decrypt_packs(p->r->crypt);
	p->pr.packs_total = n;
	*work = false;
	for (i = 0; i < n; i++) {
		p->pr.bytes_before += p->old.packs[i].size;
		/* listing packs are encrypted to the host key as well: a
		 * host without a recipient's key repacks them too */
		p->fate[i] = judge_pack(p, i, can_repack ||
					p->old.packs[i].listing);
		if (p->fate[i] != FATE_KEEP)
			*work = true;
		if (p->fate[i] == FATE_REPACK && p->dry)
			/* what a real run would repack (how many packs it
			 * would write is only known by packing) */
			p->pr.packs_repacked++;
	}
	if (p->pr.repack_skipped)
		mbi_log(p->ctx, MB_LOG_WARNING,
			"%d sparse pack(s) kept as they are: this host holds no recipient's secret key, so it cannot repack (only wholly unused packs are deleted)",
			p->pr.repack_skipped);
	return judge_orphans(p, work);
}

/* Kept packs as they are, with their blobs in their place. */
static int carry_kept(struct prune_run *p)
{
	struct mbi_index *old = &p->old;
	uint32_t *map = calloc(old->npacks + 1, sizeof(*map));
	size_t i;
	int rc = MB_OK;

	if (!map)
		return MB_E_NOMEM;
	for (i = 0; !rc && i < old->npacks; i++) {
		map[i] = UINT32_MAX;
		if (p->fate[i] == FATE_KEEP) {
			rc = mbi_index_add_pack(&p->nix, old->packs[i].name,
						old->packs[i].size, &map[i]);
			if (!rc)
				p->nix.packs[map[i]].listing =
					old->packs[i].listing;
		}
	}
	for (i = 0; !rc && i < old->cap; i++) {
		const unsigned char *k = old->keys + i * MBI_SHA256_LEN;
		const struct mbi_blobref *v = &old->vals[i];

		if (!memcmp(k, zero, MBI_SHA256_LEN) ||
		    v->pack >= old->npacks || map[v->pack] == UINT32_MAX)
			continue;
		rc = mbi_index_add_blob(&p->nix, k, map[v->pack], v->size);
	}
	free(map);
	return rc;
}

static int repack_sparse(struct prune_run *p)
{
	size_t i;
	int rc;

	p->rp.r = p->r;
	p->rp.old = &p->old;
	p->rp.ix = &p->nix;
	p->rp.used = &p->used;
	p->rp.res = &p->pr;
	p->rp.tmpdir = p->cdir;
	p->rp.all = p->rekey;
	p->rp.buf = malloc(1 << 20);
	if (!p->rp.buf)
		return MB_E_NOMEM;
	for (i = 0; i < p->old.npacks; i++) {
		if (p->fate[i] != FATE_REPACK)
			continue;
		if (p->rekey && (rc = mbi_progress(p->ctx, "rekey",
						   p->pr.packs_repacked,
						   p->rk.bytes_read,
						   p->rk.packs_rewritten,
						   p->rk.bytes_total)))
			return rc;
		p->rp.listing = p->old.packs[i].listing;
		rc = mbi_pack_read(p->r, p->old.packs[i].name,
				   p->old.packs[i].size, on_repack_member,
				   &p->rp);
		if (rc)
			return rc;
		p->pr.packs_repacked++;
		p->rk.bytes_read += p->old.packs[i].size;
	}
	if (p->rekey && (rc = mbi_progress(p->ctx, "rekey",
					   p->pr.packs_repacked,
					   p->rk.bytes_read,
					   p->rk.packs_rewritten,
					   p->rk.bytes_total)))
		return rc;
	return repack_flush(&p->rp);
}

/* The new index: kept packs, then repacked content; committed (the lock
 * proven first) before anything is deleted. */
static int write_new_index(struct prune_run *p)
{
	size_t i;
	int rc;

	if ((rc = carry_kept(p)) || (rc = repack_sparse(p)))
		return rc;
	/* every blob a snapshot needs must be in the new index */
	for (i = 0; i < p->used.cap; i++) {
		const unsigned char *k = p->used.keys + i * MBI_SHA256_LEN;

		if (memcmp(k, zero, MBI_SHA256_LEN) &&
		    !mbi_index_find(&p->nix, k) && mbi_index_find(&p->old, k))
			return mbi_error(p->ctx, MB_E_VERIFY, 0,
					 "prune would lose content a snapshot needs: stopping before anything is deleted");
	}
	if ((rc = mbi_index_write(&p->nix, p->r, 0, NULL)))
		return rc;
	p->pr.index_objects_written++;
	return MB_OK;
}

/* Prove the lock right before a delete: stop otherwise. */
static int may_delete(struct prune_run *p)
{
	mbi_commit_point("prune-delete");
	return mbi_lock_prove(p->lock);
}

/* Old index objects first, then packs, so that no index object ever
 * names a missing pack. */
static int delete_old_index(struct prune_run *p)
{
	size_t i;
	int rc;

	for (i = 0; i < p->idx.n; i++) {
		if ((rc = may_delete(p)))
			return rc;
		rc = mbi_store_del(p->r->store, p->idx.keys[i]);
		if (rc == MB_E_LOCKED) {
			/* under object lock: it stays, and so must every pack
			 * it names, or it would name a missing pack */
			mbi_log(p->ctx, MB_LOG_WARNING, "%s",
				mb_ctx_errmsg(p->ctx));
			if ((rc = keep_packs_of(p->r, p->idx.keys[i], &p->nix)))
				return rc;
			continue;
		}
		if (rc)
			return rc;
		forget_cached_index(p->cdir, p->idx.keys[i]);
		p->pr.index_objects_deleted++;
	}
	return MB_OK;
}

/* An index object that appeared since the listing (ours among them, or
 * one of a backup that lost its lock): every pack it names stays. */
static int keep_new_index_objects(struct prune_run *p)
{
	struct mbi_listing now = { 0 };
	char **was = calloc(p->idx.n + 1, sizeof(*was));
	size_t i;
	int rc;

	if (!was)
		return MB_E_NOMEM;
	memcpy(was, p->idx.keys, p->idx.n * sizeof(*was));
	qsort(was, p->idx.n, sizeof(*was), cmp_name);
	rc = mbi_store_list_all(p->r->store, "index/", &now);
	for (i = 0; !rc && i < now.n; i++)
		if (!p->idx.n || !bsearch(&now.keys[i], was, p->idx.n,
					  sizeof(*was), cmp_name))
			rc = keep_packs_of(p->r, now.keys[i], &p->nix);
	free(was);
	mbi_listing_release(&now);
	return rc;
}

/* The sorted names of the packs that stay: those of the new index (in a
 * dry run, where there is none, those whose fate is to be kept). */
static int collect_keep(struct prune_run *p)
{
	const struct mbi_index *ix = p->dry ? &p->old : &p->nix;
	size_t i;

	p->keep = calloc(ix->npacks + 1, sizeof(*p->keep));
	if (!p->keep)
		return MB_E_NOMEM;
	for (i = 0; i < ix->npacks; i++)
		if (!p->dry || p->fate[i] == FATE_KEEP)
			p->keep[p->nkeep++] = ix->packs[i].name;
	if (p->nkeep)
		qsort(p->keep, p->nkeep, sizeof(*p->keep), cmp_name);
	return MB_OK;
}

static int delete_packs(struct prune_run *p)
{
	size_t i;
	int rc;

	if ((rc = collect_keep(p)))
		return rc;
	for (i = 0; i < p->packs.n; i++) {
		const char *base = strrchr(p->packs.keys[i], '/');

		base = base ? base + 1 : p->packs.keys[i];
		if (p->orphan_young[i] ||
		    (p->nkeep && bsearch(&base, p->keep, p->nkeep,
					 sizeof(*p->keep), cmp_name)))
			continue;
		if (!p->dry) {
			if ((rc = may_delete(p)))
				return rc;
			if (mbi_store_del(p->r->store, p->packs.keys[i])) {
				mbi_log(p->ctx, MB_LOG_WARNING,
					"cannot delete '%s' (locked by object lock?): %s",
					p->packs.keys[i],
					mb_ctx_errmsg(p->ctx));
				continue;
			}
		}
		p->pr.packs_deleted++;
		p->pr.bytes_freed += p->packs.sizes[i];
	}
	return MB_OK;
}

/* What runs that died left half-written: under the exclusive lock no
 * live run owns anything in tmp/. */
static int clean_tmp(struct prune_run *p)
{
	struct mbi_listing tmp = { 0 };
	size_t i;
	int rc = mbi_store_list_all(p->r->store, "tmp/", &tmp);

	for (i = 0; !rc && i < tmp.n; i++) {
		const char *b = tmp.keys[i] + 4;
		char *end;
		long pid = strtol(b, &end, 10);

		/* a local writer's file names its process: keep those of
		 * live ones (our own lock refresh among them) */
		if (end != b && *end == '.' && pid > 0 &&
		    (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;
		if (!strcmp(tmp.keys[i], MBI_RESERVE_KEY))
			continue;
		if ((rc = may_delete(p)))
			break;
		if (!mbi_store_del(p->r->store, tmp.keys[i]))
			p->pr.bytes_freed += tmp.sizes[i];
	}
	mbi_listing_release(&tmp);
	return rc;
}

static int prune_steps(struct prune_run *p)
{
	bool work;
	int rc;

	if ((rc = prune_open(p)) || (rc = list_repository(p)) ||
	    (rc = plan_packs(p, &work)))
		return rc;
	if (p->dry)
		return delete_packs(p);
	/* nothing to delete, repack or tidy: leave the repository as it is
	 * rather than rewrite its index */
	if (!work)
		return MB_OK;
	if ((rc = write_new_index(p)) || (rc = delete_old_index(p)) ||
	    (rc = keep_new_index_objects(p)) || (rc = delete_packs(p)))
		return rc;
	return clean_tmp(p);
}

static void prune_release(struct prune_run *p)
{
	young_save(p);
	mbi_packw_abort(p->rp.pw);
	free(p->rp.buf);
	free(p->rp.pending);
	free(p->rp.psizes);
	free(p->rp.done.keys);
	free(p->used.keys);
	free(p->live);
	free(p->nlive);
	free(p->total);
	free(p->fate);
	free(p->orphan_young);
	free(p->keep);
	free(p->seen);
	free(p->snaps);
	free(p->cdir);
	mbi_listing_release(&p->packs);
	mbi_listing_release(&p->idx);
	mbi_index_release(&p->old);
	mbi_index_release(&p->nix);
	mbi_lock_release(p->lock);
	mbi_repo_close(p->r);
}

/* The run's two indexes: what is there, and what prune or rekey writes. */
static int indexes_init(struct prune_run *p)
{
	int rc = mbi_index_init(&p->old, p->ctx);

	if (rc)
		return rc;
	if ((rc = mbi_index_init(&p->nix, p->ctx)))
		mbi_index_release(&p->old);
	return rc;
}

int mb_prune(struct mb_ctx *ctx, const struct mb_prune_opts *opts,
	     struct mb_prune_result *res)
{
	struct mb_prune_opts o;
	struct prune_run p;
	double t0 = mbi_now();
	int rc;

	if ((rc = MBI_OPTS_IN(ctx, &o, opts, "mb_prune_opts")) ||
	    (rc = mbi_result_ok(ctx, res, "mb_prune_result")))
		return rc;
	memset(&p, 0, sizeof(p));
	p.ctx = ctx;
	p.dry = o.dry_run;
	p.max_unused = opts ? o.max_unused : 10;
	p.grace = o.grace;
	if (p.grace < MB_PRUNE_NO_GRACE)
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "prune grace %lld is negative",
				 (long long)p.grace);
	if ((rc = mbi_need_config(ctx)))
		return rc;
	if (!p.grace)
		p.grace = ctx->cfg->prune_grace ? ctx->cfg->prune_grace :
			  MB_PRUNE_NO_GRACE;
	if ((rc = indexes_init(&p)))
		return rc;
	rc = prune_steps(&p);
	p.pr.seconds = mbi_now() - t0;
	mbi_result_out(res, &p.pr, sizeof(p.pr));
	if (!rc && p.pr.packs_young)
		mbi_log(ctx, MB_LOG_INFO,
			"%llu unreferenced pack(s) kept until this host has seen them unreferenced for the grace period (prune --grace)",
			(unsigned long long)p.pr.packs_young);
	prune_release(&p);
	return rc;
}

/* ----------------------------------------------------------------- rekey */

/* A pack of the index: rewritten unless it is encrypted exactly to the
 * configured recipients; one that no secret key here opens stops the run
 * before anything is written. */
static int judge_rekey_pack(struct prune_run *p, size_t i, bool *work)
{
	const char *name = p->old.packs[i].name;
	enum mbi_rekey_state st;
	char key[MBI_SHA256_HEX + 16];
	int rc;

	snprintf(key, sizeof(key), "packs/%.2s/%s", name, name);
	/* a listing pack is encrypted to the host key as well */
	if ((rc = mbi_rekey_state(p->r, key, p->old.packs[i].listing ?
				  MBI_CRYPT_LISTING : MBI_CRYPT_PACK, &st)))
		return rc;
	if (st == MBI_REKEY_LOCKED_OUT)
		return mbi_error(p->ctx, MB_E_CRYPTO, 0,
				 "pack '%s' is encrypted to keys whose secret is not in '%s': run rekey where the secret key of a recipient the packs were written to is available (nothing was changed)",
				 key, p->ctx->cfg->gnupg_home);
	if (st == MBI_REKEY_CURRENT) {
		p->rk.packs_skipped++;
		return MB_OK;
	}
	p->fate[i] = FATE_REPACK;
	p->rk.packs_rewritten++;
	p->rk.bytes_total += p->old.packs[i].size;
	*work = true;
	return MB_OK;
}

/* Each pack's fate, and whether an index object must be rewritten. */
static int plan_rekey(struct prune_run *p, bool *work)
{
	size_t i, n = p->old.npacks;
	int rc;

	p->fate = calloc(n + 1, sizeof(*p->fate));
	if (!p->fate)
		return MB_E_NOMEM;
	*work = false;
	p->rk.packs_total = n;
	for (i = 0; i < n; i++)
		if ((rc = judge_rekey_pack(p, i, work)))
			return rc;
	for (i = 0; i < p->idx.n; i++) {
		enum mbi_rekey_state st;

		if ((rc = mbi_rekey_state(p->r, p->idx.keys[i],
					  MBI_CRYPT_META, &st)))
			return rc;
		if (st != MBI_REKEY_CURRENT)
			*work = true;
	}
	/* packs no index names (a backup that died): prune's rules */
	return judge_orphans(p, work);
}

static int rekey_steps(struct prune_run *p)
{
	bool work, resigned;
	int rc;

	if ((rc = prune_open(p)) || (rc = list_repository(p)) ||
	    (rc = plan_rekey(p, &work)))
		return rc;
	if (!p->dry && work &&
	    ((rc = write_new_index(p)) || (rc = delete_old_index(p)) ||
	     (rc = keep_new_index_objects(p)) || (rc = delete_packs(p)) ||
	     (rc = clean_tmp(p))))
		return rc;
	if (p->dry && (rc = delete_packs(p)))
		return rc;
	/* manifests last: until the packs are done, a kill leaves them as
	 * they were, and a second run finds what is left */
	if ((rc = mbi_rekey_manifests(p->r, p->dry, &p->rk.manifests_total,
				      &p->rk.manifests_rewritten)))
		return rc;
	mbi_commit_point("rekey-repo-file");
	if ((rc = mbi_repo_resign(p->r, p->dry, &resigned)))
		return rc;
	p->rk.repo_file_rewritten = resigned;
	return MB_OK;
}

int mb_rekey(struct mb_ctx *ctx, const struct mb_rekey_opts *opts,
	     struct mb_rekey_result *res)
{
	struct mb_rekey_opts o;
	struct prune_run p;
	double t0 = mbi_now();
	int rc;

	if ((rc = MBI_OPTS_IN(ctx, &o, opts, "mb_rekey_opts")) ||
	    (rc = mbi_result_ok(ctx, res, "mb_rekey_result")))
		return rc;
	memset(&p, 0, sizeof(p));
	p.ctx = ctx;
	p.rekey = true;
	p.dry = o.dry_run;
	if ((rc = mbi_need_config(ctx)))
		return rc;
	p.grace = ctx->cfg->prune_grace ? ctx->cfg->prune_grace :
		  MB_PRUNE_NO_GRACE;
	if ((rc = indexes_init(&p)))
		return rc;
	rc = rekey_steps(&p);
	p.rk.packs_written = p.pr.packs_written;
	p.rk.bytes_written = p.rp.bytes_written;
	p.rk.packs_deleted = p.pr.packs_deleted;
	p.rk.index_objects_written = p.pr.index_objects_written;
	p.rk.index_objects_deleted = p.pr.index_objects_deleted;
	p.rk.packs_young = p.pr.packs_young;
	p.rk.seconds = mbi_now() - t0;
	mbi_result_out(res, &p.rk, sizeof(p.rk));
	prune_release(&p);
	return rc;
}

/* Remove the repository's stale lock objects, or all of them. */
static int unlock_repo(struct mb_ctx *ctx, bool all, size_t *removed)
{
	struct mbi_repo *r;
	int rc = mbi_repo_open(ctx, &r);

	*removed = 0;
	if (rc)
		return rc;
	rc = mbi_lock_remove_stale(r, all, removed);
	mbi_repo_close(r);
	return rc;
}

int mb_unlock(struct mb_ctx *ctx, size_t *removed)
{
	return unlock_repo(ctx, false, removed);
}

int mb_unlock_all(struct mb_ctx *ctx, size_t *removed)
{
	return unlock_repo(ctx, true, removed);
}
