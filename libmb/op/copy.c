/* SPDX-License-Identifier: MIT */
/* op/copy.c: copying snapshots to a second repository as ciphertext (3-2-1):
 * packs checked against their names, a new index object, the manifests
 * byte for byte, in that order. */
#include "mb-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

#define REPO_FILE "mailbackup.repo"
#define COPY_CHUNK (1 << 20)

/* One snapshot to copy: its name and the SHA-256 of the manifest bytes
 * that were verified (the commit copies exactly those). */
struct cp_snap {
	struct mb_snapshot_info info;
	unsigned char sha[MBI_SHA256_LEN];
	uint64_t size;
};

struct cp {
	struct mb_ctx *ctx, *dctx;   /* the source's and the destination's */
	const struct mb_copy_opts *opts;
	struct mbi_repo *src, *dst;
	struct mbi_lock *slock, *dlock;
	struct mbi_index six, dix;   /* all index objects of each side */
	bool have_six, have_dix;
	struct cp_snap *snaps;       /* selected and absent at the destination */
	size_t nsnaps;
	uint8_t *need;               /* per source pack: copy it */
	bool *present;               /* per source pack: at the destination */
	struct mb_copy_result *res;
};

/* An error recorded in the destination's context, moved to ours. */
static int dfail(struct cp *c, int rc)
{
	const char *msg = mb_ctx_errmsg(c->dctx);

	if (!rc)
		return rc;
	return mbi_error(c->ctx, rc, 0, "destination '%s': %s",
			 c->opts->to_config, *msg ? msg : mb_strstatus(rc));
}

static int open_dest(struct cp *c)
{
	struct mb_ctx *ctx = c->ctx;
	int rc;

	if ((rc = mb_ctx_new(&c->dctx)))
		return mbi_error(ctx, rc, 0, "out of memory");
	mb_ctx_set_log_handler(c->dctx, ctx->log_fn, ctx->log_ud,
			       ctx->log_level);
	if ((rc = mb_ctx_load_config(c->dctx, c->opts->to_config)))
		return mbi_error(ctx, MB_E_CONFIG, 0, "%s",
				 mb_ctx_errmsg(c->dctx));
	rc = mbi_repo_open(c->dctx, &c->dst);
	if (rc == MB_E_NOTFOUND)
		return mbi_error(ctx, MB_E_NOTFOUND, 0,
				 "destination '%s': no repository at '%s': create it with 'mailbackup -c %s init'",
				 c->opts->to_config, c->dctx->cfg->url,
				 c->opts->to_config);
	if (rc)
		return dfail(c, rc);
	if (!strcmp(c->dst->id, c->src->id))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "destination '%s' is the source repository itself (id %s): name a second repository",
				 c->opts->to_config, c->src->id);
	if (!c->dctx->cfg->signing_key)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "destination '%s': no signing key to sign its index: set [keys] signing_key",
				 c->opts->to_config);
	return MB_OK;
}

/* ---------------------------------------------------------- key sets */

struct fprset {
	char **v;
	size_t n;
};

static int cmp_str_ci(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static void fprset_release(struct fprset *s)
{
	mbi_strv_free(s->v, s->n);
	s->v = NULL;
	s->n = 0;
}

/* The lines "WORD FPR" of a repository file, sorted. */
static int fprset_parse(const char *text, const char *word, struct fprset *s)
{
	size_t wl = strlen(word);
	const char *p = text;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len > wl + 1 && !strncmp(p, word, wl) && p[wl] == ' ') {
			char **nv = realloc(s->v, (s->n + 1) * sizeof(*nv));

			if (!nv)
				return MB_E_NOMEM;
			s->v = nv;
			s->v[s->n] = strndup(p + wl + 1, len - wl - 1);
			if (!s->v[s->n])
				return MB_E_NOMEM;
			s->n++;
		}
		p = nl ? nl + 1 : NULL;
	}
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), cmp_str_ci);
	return MB_OK;
}

static bool fprset_equal(const struct fprset *a, const struct fprset *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcasecmp(a->v[i], b->v[i]))
			return false;
	return true;
}

/* The signed text of a repository's mailbackup.repo. */
static int repo_text(struct mbi_repo *r, struct mbi_buf *plain)
{
	struct mbi_buf raw = { 0 };
	int rc = mbi_store_get_buf(r->store, REPO_FILE, &raw, 1 << 20);

	if (!rc)
		rc = mbi_crypt_verify_clear(r->crypt, raw.data, raw.len, plain,
					    REPO_FILE);
	if (!rc && mbi_buf_add(plain, "", 1))
		rc = MB_E_NOMEM;
	mbi_buf_release(&raw);
	return rc;
}

static int compare_sets(struct cp *c, const char *stext, const char *dtext,
			const char *word, const char *what)
{
	struct fprset a = { 0 }, b = { 0 };
	int rc;

	if ((rc = fprset_parse(stext, word, &a)) ||
	    (rc = fprset_parse(dtext, word, &b)))
		goto out;
	if (!fprset_equal(&a, &b))
		rc = mbi_error(c->ctx, MB_E_CONFIG, 0,
			       "destination '%s' has other %s than the source (%zu there, %zu here): copy keeps the manifests as they are signed and encrypted, so copy only to a repository initialized with the same [keys] recipients and trusted_signers",
			       c->opts->to_config, what, b.n, a.n);
out:
	fprset_release(&a);
	fprset_release(&b);
	return rc;
}

/* Manifests are copied as they are: the destination must trust their
 * signer and its readers must hold the keys they are encrypted to. */
static int check_keys(struct cp *c)
{
	struct mbi_buf s = { 0 }, d = { 0 };
	int rc;

	if ((rc = repo_text(c->src, &s)))
		goto out;
	if ((rc = repo_text(c->dst, &d))) {
		rc = dfail(c, rc);
		goto out;
	}
	rc = compare_sets(c, s.data, d.data, "recipient", "recipients");
	if (!rc)
		rc = compare_sets(c, s.data, d.data, "signer", "signers");
out:
	mbi_buf_release(&s);
	mbi_buf_release(&d);
	return rc;
}

/* ---------------------------------------------------------- selection */

static int add_snap(struct cp *c, const struct mb_snapshot_info *si,
		    bool check_dup)
{
	struct cp_snap *nv;
	size_t i;

	for (i = 0; check_dup && i < c->nsnaps; i++)
		if (!strcmp(c->snaps[i].info.name, si->name))
			return MB_OK; /* named twice */
	nv = realloc(c->snaps, (c->nsnaps + 1) * sizeof(*nv));
	if (!nv)
		return MB_E_NOMEM;
	c->snaps = nv;
	memset(&nv[c->nsnaps], 0, sizeof(*nv));
	nv[c->nsnaps++].info = *si;
	return MB_OK;
}

static int select_snaps(struct cp *c)
{
	const struct mb_copy_opts *o = c->opts;
	struct mb_snapshot_info *v = NULL, one;
	size_t n = 0, i;
	int rc = MB_OK;

	if (o->nsnapshots) {
		for (i = 0; !rc && i < o->nsnapshots; i++) {
			rc = mbi_snapshot_resolve(c->src, o->snapshots[i], &one);
			if (!rc)
				rc = add_snap(c, &one, true);
		}
		return rc;
	}
	if ((rc = mbi_snapshots_list(c->src, &v, &n)))
		return rc;
	for (i = 0; !rc && i < n; i++) {
		if (o->host && *o->host && strcmp(o->host, "all") &&
		    strcmp(o->host, v[i].host))
			continue;
		rc = add_snap(c, &v[i], false);
	}
	free(v);
	return rc;
}

/* Drop the selected snapshots that the destination has already. */
static int drop_present(struct cp *c)
{
	struct mb_snapshot_info *v = NULL;
	size_t n = 0, i, j, k = 0;
	int rc = mbi_snapshots_list(c->dst, &v, &n);

	if (rc)
		return dfail(c, rc);
	c->res->snapshots_selected = c->nsnaps;
	for (i = 0; i < c->nsnaps; i++) {
		bool have = false;

		for (j = 0; j < n && !have; j++)
			have = !strcmp(v[j].name, c->snaps[i].info.name);
		if (have)
			c->res->snapshots_present++;
		else
			c->snaps[k++] = c->snaps[i];
	}
	c->nsnaps = k;
	free(v);
	return MB_OK;
}

/* ---------------------------------------------------------- manifests */

/* Read a whole object into memory, bounded. */
static int read_object(struct cp *c, const char *key, uint64_t max,
		       struct mbi_buf *out)
{
	uint64_t size;
	int fd, rc = mbi_store_get(c->src->store, key, &fd, &size);
	ssize_t got;

	if (rc)
		return rc;
	if (size > max) {
		rc = mbi_error(c->ctx, MB_E_VERIFY, 0,
			       "object '%s' is too large (%llu bytes): it is damaged or forged",
			       key, (unsigned long long)size);
		goto out;
	}
	if ((rc = mbi_buf_reserve(out, (size_t)size + 1)))
		goto out;
	got = mbi_read_full(fd, out->data, (size_t)size);
	if (got < 0 || (uint64_t)got != size)
		rc = mbi_error(c->ctx, MB_E_STORE, errno,
			       "cannot read object '%s'", key);
	else
		out->len = (size_t)size;
out:
	close(fd);
	return rc;
}

/* Verify the signature of the bytes in raw and parse them as the manifest
 * named name (the very bytes that will be copied). */
static int verify_manifest(struct cp *c, const char *key, const char *name,
			   const struct mbi_buf *raw, struct mbi_manifest *m)
{
	struct mbi_buf z = { 0 };
	FILE *f = tmpfile();
	int rc;

	if (!f)
		return mbi_error(c->ctx, MB_E_IO, errno,
				 "cannot create a temporary file in /tmp");
	rc = mbi_write_all(fileno(f), raw->data, raw->len);
	if (rc || lseek(fileno(f), 0, SEEK_SET))
		rc = mbi_error(c->ctx, MB_E_IO, errno,
			       "cannot write a temporary file in /tmp: is it full?");
	if (!rc)
		rc = mbi_crypt_decrypt_buf(c->src->crypt, fileno(f), &z, true,
					   key);
	/* format 2: its entries and the listings that hold them */
	if (!rc)
		rc = mbi_manifest_parse_repo_z(c->src, &z, m, key);
	if (!rc && (rc = mbi_snapshot_name_verify(c->ctx, name, m)))
		mbi_manifest_release(m);
	mbi_buf_release(&z);
	fclose(f);
	return rc;
}

struct need_ctx {
	struct cp *c;
	const char *snap;
};

static int on_entry(void *ud, struct mbi_mentry *e)
{
	struct need_ctx *nc = ud;
	struct cp *c = nc->c;
	const struct mbi_blobref *ref;
	char hex[MBI_SHA256_HEX];

	if (e->type != 'f' || !e->size || !e->has_sha)
		return MB_OK;
	if (mbi_index_find(&c->dix, e->sha))
		return MB_OK; /* the destination has it */
	ref = mbi_index_find(&c->six, e->sha);
	if (!ref) {
		mbi_hex(e->sha, MBI_SHA256_LEN, hex);
		return mbi_error(c->ctx, MB_E_VERIFY, 0,
				 "snapshot '%s': content %s of '%s/%s' is in no index of the source: run 'mailbackup check' there, nothing was copied",
				 nc->snap, hex, e->source, e->path);
	}
	c->need[ref->pack] = 1;
	return MB_OK;
}

/* Format 2: the listing packs of the listings the destination lacks. */
static int need_listings(struct cp *c, const struct mbi_manifest *m,
			 const char *snap)
{
	size_t i;

	for (i = 0; i < m->nlisting_ids; i++) {
		const unsigned char *id = m->listing_ids + i * MBI_SHA256_LEN;
		const struct mbi_blobref *ref;
		char hex[MBI_SHA256_HEX];

		if (mbi_index_find_listing(&c->dix, id))
			continue;
		ref = mbi_index_find_listing(&c->six, id);
		if (!ref) {
			mbi_hex(id, MBI_SHA256_LEN, hex);
			return mbi_error(c->ctx, MB_E_VERIFY, 0,
					 "snapshot '%s': listing %s is in no listing pack of the source: run 'mailbackup check' there, nothing was copied",
					 snap, hex);
		}
		c->need[ref->pack] = 1;
	}
	return MB_OK;
}

static bool has_source(const struct mbi_manifest *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nsources; i++)
		if (!strcmp(m->sources[i].name, name))
			return true;
	return false;
}

/* Verify each selected manifest and mark the packs its content needs.
 * *keep is false for a snapshot left out by --source. */
static int plan_snap(struct cp *c, struct cp_snap *s, bool *keep)
{
	struct mbi_buf raw = { 0 };
	struct mbi_manifest m;
	struct need_ctx nc = { c, s->info.name };
	char *key = mbi_asprintf("snapshots/%s", s->info.name);
	int rc;

	memset(&m, 0, sizeof(m));
	*keep = true;
	if (!key)
		return MB_E_NOMEM;
	rc = read_object(c, key, MBI_META_STORED_MAX(MBI_MANIFEST_MAX), &raw);
	if (!rc)
		rc = verify_manifest(c, key, s->info.name, &raw, &m);
	if (rc)
		goto out;
	mbi_sha256_buf(raw.data, raw.len, s->sha);
	s->size = raw.len;
	if (c->opts->source && !has_source(&m, c->opts->source))
		*keep = false;
	else
		rc = mbi_manifest_foreach(c->ctx, &m, on_entry, &nc);
	if (!rc && *keep)
		rc = need_listings(c, &m, s->info.name);
	mbi_manifest_release(&m);
out:
	mbi_buf_release(&raw);
	free(key);
	return rc;
}

static int plan(struct cp *c)
{
	size_t i, k = 0;
	int rc = MB_OK;

	c->need = calloc(c->six.npacks + 1, 1);
	c->present = calloc(c->six.npacks + 1, sizeof(*c->present));
	if (!c->need || !c->present)
		return MB_E_NOMEM;
	for (i = 0; !rc && i < c->nsnaps; i++) {
		bool keep;

		rc = plan_snap(c, &c->snaps[i], &keep);
		if (!rc && keep)
			c->snaps[k++] = c->snaps[i];
		else if (!rc)
			c->res->snapshots_selected--;
	}
	c->nsnaps = k;
	return rc;
}

/* ---------------------------------------------------------- packs */

static int cmp_pack_name(const void *a, const void *b, void *arg)
{
	const struct mbi_packinfo *p = arg;

	return strcmp(p[*(const uint32_t *)a].name,
		      p[*(const uint32_t *)b].name);
}

/* Mark the needed pack named base with size as present at the
 * destination; order holds the n needed packs sorted by name. */
static void mark_present(struct cp *c, const uint32_t *order, size_t n,
			 const char *base, uint64_t size)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t p = order[mid];
		int d = strcmp(c->six.packs[p].name, base);

		if (!d) {
			c->present[p] = c->six.packs[p].size == size;
			return;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
}

/* Which needed packs exist at the destination already (a copy that
 * stopped after its packs, before its index): from one listing. */
static int find_present(struct cp *c)
{
	struct mbi_listing l = { 0 };
	uint32_t *order, p;
	size_t i, n = 0;
	int rc;

	order = malloc((c->six.npacks + 1) * sizeof(*order));
	if (!order)
		return MB_E_NOMEM;
	for (p = 0; p < c->six.npacks; p++)
		if (c->need[p])
			order[n++] = p;
	if (!n) {
		free(order);
		return MB_OK;
	}
	qsort_r(order, n, sizeof(*order), cmp_pack_name, c->six.packs);
	rc = mbi_store_list_all(c->dst->store, "packs/", &l);
	for (i = 0; !rc && i < l.n; i++) {
		const char *base = strrchr(l.keys[i], '/');

		mark_present(c, order, n, base ? base + 1 : l.keys[i],
			     l.sizes[i]);
	}
	mbi_listing_release(&l);
	free(order);
	return dfail(c, rc);
}

/* Stream an object from the source to the destination, hashing it on the
 * way; commit it under key only when its hash and size are as expected. */
static int copy_object(struct cp *c, const char *key,
		       const unsigned char *sha, uint64_t expect)
{
	struct mbi_store_writer *w = NULL;
	struct mbi_sha256 h = { 0 };
	unsigned char got[MBI_SHA256_LEN];
	uint64_t size, done = 0;
	char *buf = malloc(COPY_CHUNK);
	int fd = -1, rc;

	if (!buf || mbi_sha256_init(&h)) {
		free(buf);
		return MB_E_NOMEM;
	}
	if ((rc = mbi_store_get(c->src->store, key, &fd, &size)))
		goto out;
	if (size != expect) {
		rc = mbi_error(c->ctx, MB_E_VERIFY, 0,
			       "object '%s' at the source has %llu bytes, %llu expected: run 'mailbackup check' there",
			       key, (unsigned long long)size,
			       (unsigned long long)expect);
		goto out;
	}
	if ((rc = mbi_store_writer_open(c->dst->store, &w))) {
		rc = dfail(c, rc);
		goto out;
	}
	while (!rc && done < size) {
		size_t want = size - done < COPY_CHUNK ? (size_t)(size - done) :
			COPY_CHUNK;
		ssize_t n = mbi_read_full(fd, buf, want);

		if (n <= 0) {
			rc = mbi_error(c->ctx, MB_E_STORE, n < 0 ? errno : 0,
				       "cannot read object '%s' of the source",
				       key);
			break;
		}
		mbi_sha256_update(&h, buf, (size_t)n);
		if ((rc = mbi_writer_write(w, buf, (size_t)n)))
			rc = dfail(c, rc);
		done += (uint64_t)n;
	}
	mbi_sha256_final(&h, got);
	if (!rc && memcmp(got, sha, MBI_SHA256_LEN))
		rc = mbi_error(c->ctx, MB_E_VERIFY, 0,
			       "object '%s' at the source does not match its hash: it is damaged or forged and was not copied; run 'mailbackup check --read-data' there",
			       key);
	if (!rc) {
		rc = mbi_writer_commit(w, key);
		w = NULL;
		if (rc)
			rc = dfail(c, rc);
	}
out:
	mbi_writer_abort(w);
	mbi_sha256_release(&h);
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

static int copy_packs(struct cp *c)
{
	uint64_t total = 0, items = 0, bytes = 0, ntotal = 0;
	uint32_t p;
	int rc = MB_OK;

	for (p = 0; p < c->six.npacks; p++)
		if (c->need[p] && !c->present[p]) {
			ntotal++;
			total += c->six.packs[p].size;
		}
	for (p = 0; !rc && p < c->six.npacks; p++) {
		unsigned char sha[MBI_SHA256_LEN];
		char key[128];

		if (!c->need[p])
			continue;
		if (c->present[p]) {
			c->res->packs_present++;
			continue;
		}
		c->res->packs_copied++;
		c->res->bytes_copied += c->six.packs[p].size;
		if (c->opts->dry_run)
			continue;
		mbi_pack_key(c->six.packs[p].name, key, sizeof(key));
		if (mbi_unhex(c->six.packs[p].name, MBI_SHA256_LEN, sha))
			return mbi_error(c->ctx, MB_E_VERIFY, 0,
					 "bad pack name '%s' in the source index",
					 c->six.packs[p].name);
		rc = copy_object(c, key, sha, c->six.packs[p].size);
		items++;
		bytes += c->six.packs[p].size;
		if (!rc)
			rc = mbi_progress(c->ctx, "copy", items, bytes, ntotal,
					  total);
		if (!rc)
			mbi_commit_point("copy-pack");
	}
	return rc;
}

/* ---------------------------------------------------------- index */

/* A new index object at the destination for the packs this run needs,
 * with every content of those packs from the source's index. */
static int write_index(struct cp *c)
{
	struct mbi_index nix;
	uint32_t *map = NULL, p;
	uint64_t stored = 0;
	size_t i;
	int rc;

	if ((rc = mbi_index_init(&nix, c->dctx)))
		return dfail(c, rc);
	map = calloc(c->six.npacks + 1, sizeof(*map));
	if (!map) {
		rc = MB_E_NOMEM;
		goto out;
	}
	for (p = 0; !rc && p < c->six.npacks; p++)
		if (c->need[p]) {
			rc = mbi_index_add_pack(&nix, c->six.packs[p].name,
						c->six.packs[p].size, &map[p]);
			if (!rc)
				nix.packs[map[p]].listing =
					c->six.packs[p].listing;
		}
	for (i = 0; !rc && i < c->six.cap; i++) {
		const unsigned char *k = c->six.keys + i * MBI_SHA256_LEN;
		uint32_t pk = c->six.vals[i].pack;
		static const unsigned char zero[MBI_SHA256_LEN];

		if (!memcmp(k, zero, MBI_SHA256_LEN) || pk >= c->six.npacks ||
		    !c->need[pk])
			continue;
		rc = mbi_index_add_blob(&nix, k, map[pk], c->six.vals[i].size);
	}
	/* listing packs: the destination becomes format 2 first */
	for (p = 0; !rc && p < nix.npacks; p++)
		if (nix.packs[p].listing) {
			rc = mbi_repo_upgrade(c->dst);
			break;
		}
	if (!rc && nix.npacks) {
		rc = mbi_index_write(&nix, c->dst, 0, &stored);
		if (!rc)
			c->res->index_objects++;
	}
	if (rc)
		rc = dfail(c, rc);
out:
	free(map);
	mbi_index_release(&nix);
	return rc;
}

/* ---------------------------------------------------------- run */

static int copy_manifests(struct cp *c)
{
	size_t i;
	int rc = MB_OK;

	for (i = 0; !rc && i < c->nsnaps; i++) {
		char *key = mbi_asprintf("snapshots/%s",
					 c->snaps[i].info.name);

		if (!key)
			return MB_E_NOMEM;
		rc = copy_object(c, key, c->snaps[i].sha, c->snaps[i].size);
		if (!rc) {
			c->res->snapshots_copied++;
			mbi_log(c->ctx, MB_LOG_INFO, "copied snapshot '%s'",
				c->snaps[i].info.name);
		}
		free(key);
	}
	return rc;
}

static int open_sides(struct cp *c)
{
	struct mb_ctx *ctx = c->ctx;
	int rc;

	if ((rc = mbi_repo_open(ctx, &c->src)) || (rc = open_dest(c)) ||
	    (rc = check_keys(c)))
		return rc;
	if (!c->opts->dry_run) {
		/* shared on both sides, like a backup: no prune deletes
		 * what is being read or what was just written */
		if ((rc = mbi_lock_acquire(c->src, false, c->opts->wait,
					   &c->slock)))
			return rc;
		if ((rc = mbi_lock_acquire(c->dst, false, c->opts->wait,
					   &c->dlock)))
			return dfail(c, rc);
	}
	if ((rc = mbi_index_init(&c->six, ctx)))
		return rc;
	c->have_six = true;
	if ((rc = mbi_index_init(&c->dix, c->dctx)))
		return dfail(c, rc);
	c->have_dix = true;
	if ((rc = mbi_index_load(&c->six, c->src, false)))
		return rc;
	if ((rc = mbi_index_load(&c->dix, c->dst, true)))
		return dfail(c, rc);
	return MB_OK;
}

static int run(struct cp *c)
{
	int rc;

	if ((rc = open_sides(c)) || (rc = select_snaps(c)) ||
	    (rc = drop_present(c)) || (rc = plan(c)))
		return rc;
	if ((rc = find_present(c)) || (rc = copy_packs(c)))
		return rc;
	if (c->opts->dry_run) {
		c->res->snapshots_copied = c->nsnaps;
		return MB_OK;
	}
	/* packs, then the index, then the manifests (the commit point) */
	if ((rc = mbi_lock_check(c->dlock)))
		return dfail(c, rc);
	if ((rc = write_index(c)))
		return rc;
	mbi_commit_point("copy-index");
	if ((rc = mbi_lock_check(c->dlock)))
		return dfail(c, rc);
	return copy_manifests(c);
}

int mb_copy(struct mb_ctx *ctx, const struct mb_copy_opts *opts,
	    struct mb_copy_result *res)
{
	struct mb_copy_result full = MB_COPY_RESULT_INIT;
	struct mb_copy_opts o;
	struct cp c;
	double t0 = mbi_now();
	int rc;

	if ((rc = MBI_OPTS_IN(ctx, &o, opts, "mb_copy_opts")) ||
	    (rc = mbi_result_ok(ctx, res, "mb_copy_result")) ||
	    (rc = mbi_need_config(ctx)))
		return mbi_status(ctx, rc);
	if (!o.to_config || !*o.to_config)
		return mbi_status(ctx, mbi_error(ctx, MB_E_INVAL, 0,
				  "copy needs the destination's configuration file"));
	memset(&c, 0, sizeof(c));
	c.ctx = ctx;
	c.opts = &o;
	c.res = &full;
	rc = run(&c);
	mbi_lock_release(c.dlock);
	mbi_lock_release(c.slock);
	if (c.have_six)
		mbi_index_release(&c.six);
	if (c.have_dix)
		mbi_index_release(&c.dix);
	mbi_repo_close(c.dst);
	mbi_repo_close(c.src);
	mb_ctx_free(c.dctx);
	free(c.snaps);
	free(c.need);
	free(c.present);
	full.seconds = mbi_now() - t0;
	mbi_result_out(res, &full, sizeof(full));
	return mbi_status(ctx, rc);
}
