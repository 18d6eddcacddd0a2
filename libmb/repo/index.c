/* SPDX-License-Identifier: MIT */
/* repo/index.c: which pack holds which content, in memory and as index objects. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "banned.h"

#define INDEX_MAGIC "mailbackup-index 1"
/* format 2: with listing packs, "q" lines (docs/format.md §6.4) */
#define INDEX_MAGIC2 "mailbackup-index 2"

/* A listing's key in the index: its id with the first byte inverted, so
 * that a listing and a content of the same SHA-256 are two blobs. */
void mbi_listing_key(const unsigned char *id, unsigned char key[MBI_SHA256_LEN])
{
	memmove(key, id, MBI_SHA256_LEN); /* in place too */
	key[0] ^= 0xff;
}

const struct mbi_blobref *mbi_index_find_listing(struct mbi_index *ix,
						 const unsigned char *id)
{
	unsigned char key[MBI_SHA256_LEN];
	const struct mbi_blobref *ref;

	mbi_listing_key(id, key);
	ref = mbi_index_find(ix, key);
	return ref && ref->pack < ix->npacks && ix->packs[ref->pack].listing ?
		       ref : NULL;
}

int mbi_index_init(struct mbi_index *ix, struct mb_ctx *ctx)
{
	memset(ix, 0, sizeof(*ix));
	ix->ctx = ctx;
	ix->cap = 1024;
	ix->keys = calloc(ix->cap, MBI_SHA256_LEN);
	ix->vals = calloc(ix->cap, sizeof(*ix->vals));
	pthread_mutex_init(&ix->lock, NULL);
	if (!ix->keys || !ix->vals) {
		mbi_index_release(ix);
		return MB_E_NOMEM;
	}
	return MB_OK;
}

void mbi_index_release(struct mbi_index *ix)
{
	free(ix->keys);
	free(ix->vals);
	free(ix->packs);
	mbi_strv_free(ix->objects, ix->nobjects);
	free(ix->alts);
	pthread_mutex_destroy(&ix->lock);
	memset(ix, 0, sizeof(*ix));
}

static const unsigned char zero_key[MBI_SHA256_LEN];

static size_t slot_of(const struct mbi_index *ix, const unsigned char *sha)
{
	uint64_t h;

	memcpy(&h, sha, sizeof(h));
	return (size_t)(h & (ix->cap - 1));
}

/* Keys are SHA-256 values: an all-zero key marks an empty slot (the hash of
 * real data is never all zero). */
static size_t probe(const struct mbi_index *ix, const unsigned char *sha)
{
	size_t i = slot_of(ix, sha);
	uint64_t want, head;

	/* the first eight bytes decide almost every slot: two memcmp calls
	 * per slot were the hottest code of a no-change backup */
	memcpy(&want, sha, sizeof(want));
	for (;; i = (i + 1) & (ix->cap - 1)) {
		const unsigned char *k = ix->keys + i * MBI_SHA256_LEN;

		memcpy(&head, k, sizeof(head));
		if (head == want && !memcmp(k, sha, MBI_SHA256_LEN))
			return i;
		if (!head && !memcmp(k, zero_key, MBI_SHA256_LEN))
			return i;
	}
}

const struct mbi_blobref *mbi_index_find(struct mbi_index *ix,
					 const unsigned char *sha)
{
	size_t i = probe(ix, sha);

	if (!memcmp(ix->keys + i * MBI_SHA256_LEN, zero_key, MBI_SHA256_LEN))
		return NULL;
	return &ix->vals[i];
}

/* Rehash into a table of cap slots (a power of two above the count). */
static int rehash(struct mbi_index *ix, size_t cap)
{
	struct mbi_index n = *ix;
	size_t i;

	n.cap = cap;
	n.keys = calloc(n.cap, MBI_SHA256_LEN);
	n.vals = calloc(n.cap, sizeof(*n.vals));
	if (!n.keys || !n.vals) {
		free(n.keys);
		free(n.vals);
		return MB_E_NOMEM;
	}
	for (i = 0; i < ix->cap; i++) {
		const unsigned char *k = ix->keys + i * MBI_SHA256_LEN;
		size_t j;

		if (!memcmp(k, zero_key, MBI_SHA256_LEN))
			continue;
		j = probe(&n, k);
		memcpy(n.keys + j * MBI_SHA256_LEN, k, MBI_SHA256_LEN);
		n.vals[j] = ix->vals[i];
	}
	free(ix->keys);
	free(ix->vals);
	ix->keys = n.keys;
	ix->vals = n.vals;
	ix->cap = n.cap;
	return MB_OK;
}

int mbi_index_add_blob(struct mbi_index *ix, const unsigned char *sha,
		       uint32_t pack, uint64_t size)
{
	size_t i;

	if (!memcmp(sha, zero_key, MBI_SHA256_LEN))
		return MB_E_INVAL;
	if ((ix->count + 1) * 4 > ix->cap * 3 && rehash(ix, ix->cap * 2))
		return MB_E_NOMEM;
	i = probe(ix, sha);
	if (memcmp(ix->keys + i * MBI_SHA256_LEN, zero_key, MBI_SHA256_LEN)) {
		/* known already: the first pack wins, unless it is missing
		 * (mbi_index_load looks when another pack lists it too) */
		uint32_t old = ix->vals[i].pack;
		void *na;

		if (old >= ix->npacks || pack >= ix->npacks ||
		    !strcmp(ix->packs[old].name, ix->packs[pack].name))
			return MB_OK;
		na = realloc(ix->alts, (ix->nalts + 1) * sizeof(*ix->alts));
		if (!na)
			return MB_E_NOMEM;
		ix->alts = na;
		memcpy(ix->alts[ix->nalts].sha, sha, MBI_SHA256_LEN);
		ix->alts[ix->nalts++].pack = pack;
		return MB_OK;
	}
	memcpy(ix->keys + i * MBI_SHA256_LEN, sha, MBI_SHA256_LEN);
	ix->vals[i].pack = pack;
	ix->vals[i].size = size;
	ix->count++;
	if (pack < ix->npacks) /* not a placeholder of a backup run */
		ix->packs[pack].nblobs++;
	return MB_OK;
}

int mbi_index_add_pack(struct mbi_index *ix, const char *name, uint64_t size,
		       uint32_t *pack_out)
{
	if (strlen(name) != 64)
		return MB_E_INVAL;
	if (ix->npacks == ix->capacks) {
		size_t cap = ix->capacks ? ix->capacks * 2 : 64;
		struct mbi_packinfo *p = realloc(ix->packs, cap * sizeof(*p));

		if (!p)
			return MB_E_NOMEM;
		ix->packs = p;
		ix->capacks = cap;
	}
	memcpy(ix->packs[ix->npacks].name, name, MBI_SHA256_HEX);
	ix->packs[ix->npacks].size = size;
	ix->packs[ix->npacks].nblobs = 0;
	ix->packs[ix->npacks].listing = false;
	*pack_out = (uint32_t)ix->npacks++;
	return MB_OK;
}

struct fmt_item {
	uint32_t pack;
	size_t slot;
};

static int cmp_item(const void *a, const void *b)
{
	const struct fmt_item *x = a, *y = b;

	return x->pack < y->pack ? -1 : x->pack > y->pack;
}

int mbi_index_format(struct mbi_index *ix, uint32_t first_pack,
		     struct mbi_buf *out)
{
	struct fmt_item *items;
	size_t i, n = 0, k = 0;
	uint32_t p;
	int rc = MB_OK;

	items = malloc((ix->count + 1) * sizeof(*items));
	if (!items)
		return MB_E_NOMEM;
	for (i = 0; i < ix->cap; i++) {
		if (!memcmp(ix->keys + i * MBI_SHA256_LEN, zero_key,
			    MBI_SHA256_LEN) || ix->vals[i].pack < first_pack ||
		    ix->vals[i].pack >= ix->npacks)
			continue;
		items[n].pack = ix->vals[i].pack;
		items[n++].slot = i;
	}
	qsort(items, n, sizeof(*items), cmp_item);
	for (p = first_pack; p < ix->npacks && !ix->packs[p].listing; p++)
		;
	rc = mbi_buf_addstr(out, p < ix->npacks ? INDEX_MAGIC2 "\n" :
					       INDEX_MAGIC "\n");
	for (p = first_pack; !rc && p < ix->npacks; p++) {
		uint32_t cnt = 0;
		size_t j;

		for (j = k; j < n && items[j].pack == p; j++)
			cnt++;
		rc = mbi_buf_printf(out, "%c %s %llu %u\n",
				    ix->packs[p].listing ? 'q' : 'p',
				    ix->packs[p].name,
				    (unsigned long long)ix->packs[p].size,
				    cnt);
		for (; !rc && k < n && items[k].pack == p; k++) {
			char hex[MBI_SHA256_HEX];

			const unsigned char *key = ix->keys +
				items[k].slot * MBI_SHA256_LEN;
			unsigned char id[MBI_SHA256_LEN];

			if (ix->packs[p].listing) { /* the listing's id */
				mbi_listing_key(key, id);
				key = id;
			}
			mbi_hex(key, MBI_SHA256_LEN, hex);
			rc = mbi_buf_printf(out, "b %s %llu\n", hex,
				(unsigned long long)ix->vals[items[k].slot].size);
		}
	}
	if (!rc)
		rc = mbi_buf_addstr(out, "end\n");
	free(items);
	return rc;
}

/* A blob line, "b SHA256 SIZE", of lowercase hex, digits and single
 * spaces (the caller checked those): the same lines as
 * sscanf("b %64[0-9a-f] %llu%n") takes, three times faster, which counts
 * with one line per blob of the repository at every backup's start. */
static bool blob_line(const char *line, size_t l, unsigned char *sha,
		      unsigned long long *size)
{
	const char *num = line + 2 + 2 * MBI_SHA256_LEN + 1;

	if (l <= (size_t)(num - line) || num[-1] != ' ' ||
	    strspn(num, "0123456789") != l - (size_t)(num - line) ||
	    mbi_unhex(line + 2, MBI_SHA256_LEN, sha))
		return false;
	*size = strtoull(num, NULL, 10);
	return true;
}

/* Room for n more keys at once: an index object of 40k blobs would
 * otherwise be rehashed six times while it is parsed. */
static int reserve(struct mbi_index *ix, size_t n)
{
	size_t cap = ix->cap;

	while ((ix->count + n) * 4 > cap * 3 && cap < ((size_t)1 << 40))
		cap *= 2;
	return cap == ix->cap ? MB_OK : rehash(ix, cap);
}

/* The parse of one index object, a line at a time: an object can be fed
 * in pieces as it is read or decompressed (a million blobs are 80 MB of
 * text, never whole in memory). */
struct idx_parse {
	struct mbi_index *ix;
	const char *what;
	uint32_t pack, expect, seen;
	bool have_pack, ended, v2, bad;
	size_t lineno;
	char part[256]; /* a line cut by the end of a piece */
	size_t npart;
};

static void idxp_init(struct idx_parse *P, struct mbi_index *ix,
		      const char *what)
{
	memset(P, 0, sizeof(*P));
	P->ix = ix;
	P->what = what;
}

static int idxp_bad(struct idx_parse *P)
{
	P->bad = true;
	return mbi_error(P->ix->ctx, MB_E_VERIFY, 0,
			 "index object '%s' is malformed at line %zu", P->what,
			 P->lineno);
}

/* fields are lowercase hex and decimal digits only: sscanf alone would
 * take signs and spaces */
static bool idxp_fields_ok(const char *line, size_t l)
{
	return line[1] == ' ' &&
	       strspn(line + 2, "0123456789abcdef ") == l - 2 &&
	       !strstr(line, "  ") && line[l - 1] != ' ';
}

static int idxp_pack(struct idx_parse *P, const char *line, bool listing)
{
	char name[MBI_SHA256_HEX];
	unsigned long long size;
	unsigned int cnt;
	int used = 0;

	if (sscanf(line, "p %64[0-9a-f] %llu %u%n", name, &size, &cnt,
		   &used) != 3 || line[used] || strlen(name) != 64 ||
	    (P->have_pack && P->seen != P->expect))
		return idxp_bad(P);
	/* room for its blobs at once (bounded: a lying count must not
	 * allocate) */
	if (mbi_index_add_pack(P->ix, name, size, &P->pack) ||
	    (!P->ix->on_blob && reserve(P->ix, cnt < (1u << 22) ? cnt : 0)))
		return MB_E_NOMEM;
	P->ix->packs[P->pack].listing = listing;
	P->have_pack = true;
	P->expect = cnt;
	P->seen = 0;
	return MB_OK;
}

static int idxp_blob(struct idx_parse *P, const char *line, size_t l)
{
	struct mbi_index *ix = P->ix;
	unsigned char sha[MBI_SHA256_LEN];
	unsigned long long size;

	if (!P->have_pack || !blob_line(line, l, sha, &size))
		return idxp_bad(P);
	if (ix->packs[P->pack].listing)
		mbi_listing_key(sha, sha);
	if (ix->on_blob ? !memcmp(sha, zero_key, MBI_SHA256_LEN) ||
			  ix->on_blob(ix->on_blob_ud, sha, P->pack, size) :
			  mbi_index_add_blob(ix, sha, P->pack, size))
		return idxp_bad(P);
	P->seen++;
	return MB_OK;
}

/* One line, without its LF. */
static int idxp_line(struct idx_parse *P, const char *p, size_t l)
{
	char line[256];
	bool listing = false;

	P->lineno++;
	if (l >= sizeof(line) || P->ended)
		return idxp_bad(P);
	memcpy(line, p, l);
	line[l] = '\0';
	if (P->lineno == 1) {
		P->v2 = !strcmp(line, INDEX_MAGIC2);
		return P->v2 || !strcmp(line, INDEX_MAGIC) ? MB_OK :
							     idxp_bad(P);
	}
	/* a listing pack (format 2) */
	if (P->v2 && line[0] == 'q')
		line[0] = 'p', listing = true;
	if ((line[0] == 'p' || line[0] == 'b') && !idxp_fields_ok(line, l))
		return idxp_bad(P);
	if (!strcmp(line, "end")) {
		if (P->have_pack && P->seen != P->expect)
			return idxp_bad(P);
		P->ended = true;
		return MB_OK;
	}
	if (line[0] == 'p')
		return idxp_pack(P, line, listing);
	if (line[0] == 'b')
		return idxp_blob(P, line, l);
	return idxp_bad(P);
}

static int idxp_feed(struct idx_parse *P, const char *p, size_t len)
{
	const char *end = p + len;
	int rc = MB_OK;

	while (!rc && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (P->npart + l >= sizeof(P->part)) {
			P->lineno++;
			return idxp_bad(P);
		}
		if (!nl || P->npart) {
			memcpy(P->part + P->npart, p, l);
			P->npart += l;
			if (nl) {
				rc = idxp_line(P, P->part, P->npart);
				P->npart = 0;
			}
		} else {
			rc = idxp_line(P, p, l);
		}
		p += l + (nl ? 1 : 0);
	}
	return rc;
}

static int idxp_finish(struct idx_parse *P)
{
	if (P->npart || !P->ended) {
		P->lineno++;
		return idxp_bad(P);
	}
	return MB_OK;
}

int mbi_index_parse(struct mbi_index *ix, const char *text, size_t len,
		    const char *what)
{
	struct idx_parse P;
	int rc;

	idxp_init(&P, ix, what);
	rc = idxp_feed(&P, text, len);
	return rc ? rc : idxp_finish(&P);
}

int mbi_index_write(struct mbi_index *ix, struct mbi_repo *r,
		    uint32_t first_pack, uint64_t *stored)
{
	struct mbi_buf text = { 0 }, z = { 0 };
	char id[33], key[64];
	int rc;

	mbi_random_hex(id, 16);
	snprintf(key, sizeof(key), "index/%s", id);
	rc = mbi_index_format(ix, first_pack, &text);
	if (!rc)
		rc = mbi_zstd_compress_buf(r->ctx, text.data, text.len, 3, &z);
	if (!rc)
		rc = mbi_crypt_put_meta(r->crypt, r->store, key, z.data, z.len);
	if (!rc && stored)
		*stored = z.len;
	mbi_buf_release(&text);
	mbi_buf_release(&z);
	return rc;
}

struct list_acc {
	char **names;
	size_t n, cap;
};

static int collect(void *ud, const char *key, uint64_t size)
{
	struct list_acc *a = ud;

	(void)size;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		char **nn = realloc(a->names, cap * sizeof(*nn));

		if (!nn)
			return MB_E_NOMEM;
		a->names = nn;
		a->cap = cap;
	}
	a->names[a->n] = strdup(key);
	return a->names[a->n++] ? MB_OK : MB_E_NOMEM;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Decoded index objects are kept in the cache directory, so a backup does
 * not start one gpg per index object every night. A copy starts with a line
 * holding the SHA-256 of the rest, written right after gpg verified the
 * object's signature: a copy that does not match it (damaged on disk, or
 * changed by someone) is dropped and the object fetched again.
 */
#define CACHED_MAGIC "mailbackup-cached-index 1 "
#define CACHED_HDR (sizeof(CACHED_MAGIC) - 1 + 64 + 1)

/* Parse the cached copy at cpath as it is read and hashed: MB_OK when it
 * matched its header's hash and parsed; MB_E_NOTFOUND when there is none
 * to trust and nothing was parsed; MB_E_VERIFY when it was parsed (part
 * of it) and then failed: it was removed, and ix holds what it gave, so
 * the caller starts again. */
static int cached_parse(struct mbi_repo *r, const char *cpath,
			const char *key, struct mbi_index *ix)
{
	enum { CHUNK = 1 << 20 };
	char hdr[CACHED_HDR];
	unsigned char want[MBI_SHA256_LEN], got[MBI_SHA256_LEN];
	struct mbi_sha256 h;
	struct idx_parse P;
	uint64_t total = 0;
	char *buf = NULL;
	ssize_t n;
	int rc = MB_OK, prc = MB_OK;
	int fd = open(cpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return MB_E_NOTFOUND;
	n = mbi_read_full(fd, hdr, CACHED_HDR);
	if (n != (ssize_t)CACHED_HDR ||
	    memcmp(hdr, CACHED_MAGIC, sizeof(CACHED_MAGIC) - 1) ||
	    hdr[CACHED_HDR - 1] != '\n' ||
	    mbi_unhex(hdr + sizeof(CACHED_MAGIC) - 1, MBI_SHA256_LEN, want)) {
		/* a copy of an older mailbackup has no header (it starts
		 * as an index does): fetched again quietly */
		if (n < (ssize_t)sizeof(INDEX_MAGIC) ||
		    (memcmp(hdr, INDEX_MAGIC "\n", sizeof(INDEX_MAGIC)) &&
		     memcmp(hdr, INDEX_MAGIC2 "\n", sizeof(INDEX_MAGIC2))))
			mbi_log(r->ctx, MB_LOG_WARNING,
				"cached copy '%s' of index object '%s' does not match its hash: dropped, fetching the object again",
				cpath, key);
		close(fd);
		unlink(cpath);
		return MB_E_NOTFOUND;
	}
	if (!(buf = malloc(CHUNK)) || mbi_sha256_init(&h)) {
		free(buf);
		close(fd);
		return MB_E_NOMEM;
	}
	idxp_init(&P, ix, key);
	while ((n = read(fd, buf, CHUNK)) > 0 && total <= MBI_INDEX_MAX) {
		total += (uint64_t)n;
		mbi_sha256_update(&h, buf, (size_t)n);
		if (!prc)
			prc = idxp_feed(&P, buf, (size_t)n);
	}
	mbi_sha256_final(&h, got);
	mbi_sha256_release(&h);
	if (n < 0 || total > MBI_INDEX_MAX ||
	    memcmp(want, got, MBI_SHA256_LEN)) {
		mbi_log(r->ctx, MB_LOG_WARNING,
			"cached copy '%s' of index object '%s' does not match its hash: dropped, fetching the object again",
			cpath, key);
		rc = MB_E_VERIFY;
	} else if (prc || (prc = idxp_finish(&P))) {
		/* our own copy, verified, does not parse */
		mbi_log(r->ctx, MB_LOG_WARNING,
			"the cached copy '%s' of index object '%s' is damaged: dropped, fetched again",
			cpath, key);
		rc = prc == MB_E_NOMEM ? MB_E_NOMEM : MB_E_VERIFY;
	}
	free(buf);
	close(fd);
	if (rc)
		unlink(cpath);
	return rc;
}

/* The verified plaintext of an index object, written to the cache as it
 * is decompressed: a header with its hash, then the text. Best effort: a
 * cache that cannot be written is not an error. */
struct fetch_parse {
	struct mb_ctx *ctx;
	struct idx_parse P;
	struct mbi_sha256 h;
	char *tmp;          /* owned by mbi_atomic_commit */
	int fd;             /* -1: not caching */
	bool failed;        /* a write failed: the copy is not kept */
};

static int fetch_piece(void *ud, const char *data, size_t len)
{
	struct fetch_parse *F = ud;

	mbi_sha256_update(&F->h, data, len);
	if (F->fd >= 0 && !F->failed && mbi_write_all(F->fd, data, len))
		F->failed = true;
	return idxp_feed(&F->P, data, len);
}

static void fetch_cache_open(struct fetch_parse *F, const char *cdir,
			     const char *cpath)
{
	char *d = mbi_asprintf("%s/index", cdir);
	char blank[CACHED_HDR];

	F->fd = -1;
	if (d && !mbi_mkdir_p(d, 0700))
		F->fd = mbi_atomic_open(F->ctx, cpath, 0600, &F->tmp);
	free(d);
	memset(blank, ' ', sizeof(blank));
	if (F->fd >= 0 && mbi_write_all(F->fd, blank, sizeof(blank)))
		F->failed = true;
}

/* The header, then in place of cpath; a cache not written is no error. */
static void fetch_cache_commit(struct fetch_parse *F, const char *cpath,
			       const unsigned char *sha, bool ok)
{
	char hdr[CACHED_HDR + 1], hex[MBI_SHA256_HEX];

	if (F->fd < 0)
		return;
	mbi_hex(sha, MBI_SHA256_LEN, hex);
	snprintf(hdr, sizeof(hdr), "%s%s\n", CACHED_MAGIC, hex);
	ok = ok && !F->failed &&
	     pwrite(F->fd, hdr, CACHED_HDR, 0) == (ssize_t)CACHED_HDR;
	mbi_atomic_commit(F->ctx, F->fd, F->tmp, cpath, ok);
	F->fd = -1;
	F->tmp = NULL;
}

/* Fetch index object key, verify its signature, and parse it as it is
 * decompressed (kept compressed in memory, never whole as text). */
static int fetch_parse(struct mbi_repo *r, const char *cdir,
		       const char *cpath, const char *key,
		       struct mbi_index *ix)
{
	struct fetch_parse F;
	struct mbi_buf z = { 0 };
	unsigned char sha[MBI_SHA256_LEN];
	int rc;

	memset(&F, 0, sizeof(F));
	F.ctx = r->ctx;
	F.fd = -1;
	rc = mbi_repo_get_meta_z(r, key, MBI_INDEX_MAX, &z);
	if (rc)
		return rc;
	if (mbi_sha256_init(&F.h)) {
		mbi_buf_release(&z);
		return MB_E_NOMEM;
	}
	idxp_init(&F.P, ix, key);
	fetch_cache_open(&F, cdir, cpath);
	rc = mbi_zstd_decompress_each(r->ctx, z.data, z.len, MBI_INDEX_MAX,
				      key, fetch_piece, &F);
	if (!rc)
		rc = idxp_finish(&F.P);
	mbi_sha256_final(&F.h, sha);
	mbi_sha256_release(&F.h);
	fetch_cache_commit(&F, cpath, sha, rc == MB_OK);
	mbi_buf_release(&z);
	return rc;
}

/* Content that two packs hold: prefer the one that exists (one listing of
 * packs/, only when there is such content). */
static int resolve_alts(struct mbi_index *ix, struct mbi_repo *r)
{
	bool *gone = NULL;
	size_t ngone = 0, i;
	int rc;

	if (!ix->nalts)
		return MB_OK;
	rc = mbi_index_missing_packs(ix, r, &gone, &ngone);
	for (i = 0; !rc && ngone && i < ix->nalts; i++) {
		struct mbi_blobref *v = (struct mbi_blobref *)
			mbi_index_find(ix, ix->alts[i].sha);

		if (v && v->pack < ix->npacks && gone[v->pack] &&
		    !gone[ix->alts[i].pack]) {
			ix->packs[v->pack].nblobs--;
			v->pack = ix->alts[i].pack;
			ix->packs[v->pack].nblobs++;
		}
	}
	free(gone);
	free(ix->alts);
	ix->alts = NULL;
	ix->nalts = 0;
	return rc;
}

/* Every index object: its verified cached copy, or the object itself. */
int mbi_index_load(struct mbi_index *ix, struct mbi_repo *r, bool fresh)
{
	struct list_acc a = { 0 };
	char *cdir = mbi_cache_dir(r->ctx, r->id);
	size_t i;
	int rc;

	if (!cdir)
		return MB_E_NOMEM;
	rc = mbi_store_list(r->store, "index/", collect, &a);
	if (rc)
		goto out;
	if (a.n)
		qsort(a.names, a.n, sizeof(*a.names), cmp_str);
	for (i = 0; !rc && i < a.n; i++) {
		const char *base = strrchr(a.names[i], '/');
		char *cpath = mbi_asprintf("%s/index/%s", cdir,
					   base ? base + 1 : a.names[i]);

		if (!cpath) {
			rc = MB_E_NOMEM;
			break;
		}
		rc = fresh ? MB_E_NOTFOUND :
			     cached_parse(r, cpath, a.names[i], ix);
		if (rc == MB_E_VERIFY) {
			/* our own copy was damaged, not the repository: it
			 * is gone; start again from the objects (each
			 * restart removes one copy) */
			int (*on_blob)(void *, const unsigned char *,
				       uint32_t, uint64_t) = ix->on_blob;
			void *ud = ix->on_blob_ud;

			free(cpath);
			mbi_index_release(ix);
			if ((rc = mbi_index_init(ix, r->ctx)))
				break;
			ix->on_blob = on_blob;
			ix->on_blob_ud = ud;
			if (on_blob && (rc = on_blob(ud, NULL, 0, 0)))
				break;
			i = (size_t)-1;
			continue;
		}
		if (rc == MB_E_NOTFOUND)
			rc = fetch_parse(r, cdir, cpath, a.names[i], ix);
		free(cpath);
	}
	if (!rc) {
		ix->objects = a.names;
		ix->nobjects = a.n;
		a.names = NULL;
		rc = resolve_alts(ix, r);
	}
out:
	mbi_strv_free(a.names, a.n);
	free(cdir);
	return rc;
}

static int cmp_base(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* From a fresh listing of packs/: which of ix's packs are gone. */
int mbi_index_missing_packs(struct mbi_index *ix, struct mbi_repo *r,
			    bool **gone_out, size_t *ngone)
{
	struct list_acc a = { 0 };
	bool *gone = calloc(ix->npacks + 1, sizeof(*gone));
	size_t i;
	int rc;

	*ngone = 0;
	if (!gone)
		return MB_E_NOMEM;
	rc = mbi_store_list(r->store, "packs/", collect, &a);
	for (i = 0; !rc && i < a.n; i++) {
		const char *base = strrchr(a.names[i], '/');

		/* the name alone: sorting and searching compare it */
		memmove(a.names[i], base ? base + 1 : a.names[i],
			strlen(base ? base + 1 : a.names[i]) + 1);
	}
	if (!rc && a.n)
		qsort(a.names, a.n, sizeof(*a.names), cmp_base);
	for (i = 0; !rc && i < ix->npacks; i++) {
		const char *name = ix->packs[i].name;

		if (!a.n || !bsearch(&name, a.names, a.n, sizeof(*a.names),
				     cmp_base)) {
			gone[i] = true;
			(*ngone)++;
		}
	}
	mbi_strv_free(a.names, a.n);
	if (rc) {
		free(gone);
		return rc;
	}
	*gone_out = gone;
	return MB_OK;
}
