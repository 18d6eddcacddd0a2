/* SPDX-License-Identifier: MIT */
/* repo/listing.c: format 2's per-directory listings (docs/format.md §5.8-5.9):
 * building them from a snapshot's entries, and expanding a version-2
 * manifest back into the entries of a version-1 one. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "banned.h"

#define LISTING_MAGIC "mailbackup-listing 1"
#define MANIFEST2_MAGIC "mailbackup-manifest 2"
#define MANIFEST1_MAGIC "mailbackup-manifest 1"
/* deeper trees are refused: expansion recurses once per level */
#define LISTING_DEPTH_MAX 4096

/* ---------------------------------------------------------------- fields */

struct tok {
	const char *p[12];
	size_t l[12];
	int n;
};

/* Split s[0..len) at single spaces; -1 on an empty field or too many. */
static int tokenize(const char *s, size_t len, struct tok *t)
{
	size_t i = 0;

	t->n = 0;
	while (i <= len) {
		const char *sp = memchr(s + i, ' ', len - i);
		size_t e = sp ? (size_t)(sp - s) : len;

		if (e == i || t->n == 12)
			return -1;
		t->p[t->n] = s + i;
		t->l[t->n++] = e - i;
		i = e + 1;
		if (!sp)
			break;
	}
	return 0;
}

static bool tok_is(const struct tok *t, int i, const char *s)
{
	return t->l[i] == strlen(s) && !memcmp(t->p[i], s, t->l[i]);
}

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

/* --------------------------------------------------------------- builder */

struct item {
	const char *line;
	const char *path; /* escaped, into line */
	size_t plen;
};

struct frame {
	char *path; /* escaped; "" for the root */
	size_t plen;
	struct mbi_buf text;
	char *last; /* the last child's name, for the order check */
	size_t lastlen;
};

struct builder {
	struct mb_ctx *ctx;
	const char *what;
	struct frame *st;
	size_t n, cap;
	mbi_listing_store_fn store;
	void *ud;
	bool own; /* lines this process formatted: no need to parse them */
};

/* Paths component by component: '/' sorts before every byte a name can
 * hold, so a directory's subtree follows it and precedes its next sibling. */
static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	size_t i, n = x->plen < y->plen ? x->plen : y->plen;

	for (i = 0; i < n; i++) {
		unsigned cx = x->path[i] == '/' ? 0 : (unsigned char)x->path[i];
		unsigned cy = y->path[i] == '/' ? 0 : (unsigned char)y->path[i];

		if (cx != cy)
			return cx < cy ? -1 : 1;
	}
	return x->plen < y->plen ? -1 : x->plen > y->plen;
}

static int bad(struct builder *b, const char *why, const char *p, size_t l)
{
	return mbi_error(b->ctx, MB_E_INVAL, 0,
			 "cannot list source '%s': %s '%.*s'", b->what, why,
			 (int)l, p);
}

static int push(struct builder *b, const char *path, size_t plen)
{
	struct frame *f;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		void *p = realloc(b->st, cap * sizeof(*b->st));

		if (!p)
			return MB_E_NOMEM;
		b->st = p;
		b->cap = cap;
	}
	f = &b->st[b->n];
	memset(f, 0, sizeof(*f));
	f->path = strndup(path, plen);
	if (!f->path || mbi_buf_addstr(&f->text, LISTING_MAGIC "\n")) {
		free(f->path);
		mbi_buf_release(&f->text);
		return MB_E_NOMEM;
	}
	f->plen = plen;
	b->n++;
	return MB_OK;
}

static void frame_release(struct frame *f)
{
	free(f->path);
	free(f->last);
	mbi_buf_release(&f->text);
}

/* A child line of the top frame: names strictly increasing. */
static int add_child(struct builder *b, const char *name, size_t nlen,
		     const char *line, size_t llen)
{
	struct frame *f = &b->st[b->n - 1];
	char *nl;

	if (f->last && cmp_bytes(name, nlen, f->last, f->lastlen) <= 0)
		return bad(b, "a name appears twice", name, nlen);
	nl = strndup(name, nlen);
	if (!nl)
		return MB_E_NOMEM;
	free(f->last);
	f->last = nl;
	f->lastlen = nlen;
	return mbi_buf_add(&f->text, line, llen) ? MB_E_NOMEM : MB_OK;
}

/* Finish the top frame: store its listing, name it in its parent. */
static int pop(struct builder *b, unsigned char id[MBI_SHA256_LEN])
{
	struct frame *f = &b->st[b->n - 1];
	struct mbi_buf line = { 0 };
	char hex[MBI_SHA256_HEX];
	const char *name;
	int rc;

	mbi_sha256_buf(f->text.data, f->text.len, id);
	rc = b->store(b->ud, id, f->text.data, f->text.len);
	if (!rc && b->n > 1) {
		name = memrchr(f->path, '/', f->plen);
		name = name ? name + 1 : f->path;
		mbi_hex(id, MBI_SHA256_LEN, hex);
		rc = mbi_buf_printf(&line, "d %s %s\n", name, hex);
		b->n--;
		if (!rc)
			rc = add_child(b, name, strlen(name), line.data,
				       line.len);
		b->n++;
	}
	frame_release(f);
	b->n--;
	mbi_buf_release(&line);
	return rc;
}

static bool is_ancestor(const struct frame *f, const char *p, size_t l)
{
	if (!f->plen)
		return true;
	return f->plen <= l && !memcmp(f->path, p, f->plen) &&
	       (f->plen == l || p[f->plen] == '/');
}

/* Fields of an entry (tokens) after a head, each after a space, and a
 * newline: a listing line. Without printf, whose format parsing was a fifth
 * of a no-change backup's listings. */
static int put_line(struct mbi_buf *out, const char *h1, size_t l1,
		    const char *h2, size_t l2, const struct tok *t,
		    const int *idx, int n)
{
	size_t need = l1 + l2 + 2;
	char *p;
	int i;

	for (i = 0; i < n; i++)
		need += 1 + t->l[idx[i]];
	if (mbi_buf_reserve(out, need))
		return MB_E_NOMEM;
	p = out->data + out->len;
	memcpy(p, h1, l1);
	p += l1;
	if (h2) {
		*p++ = ' ';
		memcpy(p, h2, l2);
		p += l2;
	}
	for (i = 0; i < n; i++) {
		*p++ = ' ';
		memcpy(p, t->p[idx[i]], t->l[idx[i]]);
		p += t->l[idx[i]];
	}
	*p++ = '\n';
	*p = '\0';
	out->len = (size_t)(p - out->data);
	return MB_OK;
}

/* The listing line of one v1 entry: self, f or l. */
static int entry_line(const struct tok *t, const char *name, size_t nlen,
		      struct mbi_buf *out)
{
	static const int self[] = { 3, 4, 5, 6 };
	static const int file[] = { 3, 4, 5, 6, 7, 8 };
	static const int link[] = { 3, 4, 5, 6, 10 };

	out->len = 0;
	if (t->p[2][0] == 'd')
		return put_line(out, "self", 4, NULL, 0, t, self, 4);
	if (t->p[2][0] == 'f')
		return put_line(out, t->p[2], 1, name, nlen, t, file, 6);
	if (t->n < 11)
		return MB_E_INVAL;
	return put_line(out, t->p[2], 1, name, nlen, t, link, 5);
}

/* A well-formed entry line, split into its fields. */
static int check_entry(struct builder *b, const char *line, struct tok *t)
{
	struct mbi_mentry e;
	char *copy;
	int rc = MB_OK;

	/* a backup's own entry lines, formatted from a stat a moment ago:
	 * parsing each one again was a tenth of a no-change backup's CPU */
	if (!b->own) {
		copy = strdup(line);
		if (!copy)
			return MB_E_NOMEM;
		rc = mbi_manifest_parse_entry(copy, &e);
		free(copy);
	}
	if (rc || tokenize(line, strlen(line), t) || t->n < 10)
		return bad(b, "malformed entry", line, strlen(line));
	return MB_OK;
}

static int add_item(struct builder *b, const struct item *it,
		    struct mbi_buf *line)
{
	const char *slash = memrchr(it->path, '/', it->plen);
	size_t parent = slash ? (size_t)(slash - it->path) : 0;
	const char *name = slash ? slash + 1 : it->path;
	size_t nlen = it->plen - (size_t)(name - it->path);
	unsigned char id[MBI_SHA256_LEN];
	struct tok t;
	int rc;

	if ((rc = check_entry(b, it->line, &t)))
		return rc;
	while (!is_ancestor(&b->st[b->n - 1], it->path, parent))
		if ((rc = pop(b, id)))
			return rc;
	while (b->st[b->n - 1].plen != parent) {
		size_t s = b->st[b->n - 1].plen, e;

		s += s ? 1 : 0;
		e = s;
		while (e < parent && it->path[e] != '/')
			e++;
		if ((rc = push(b, it->path, e)))
			return rc;
	}
	if ((rc = entry_line(&t, name, nlen, line)))
		return rc;
	if (t.p[2][0] != 'd')
		return add_child(b, name, nlen, line->data, line->len);
	if ((rc = push(b, it->path, it->plen)))
		return rc;
	return mbi_buf_add(&b->st[b->n - 1].text, line->data, line->len) ?
	       MB_E_NOMEM : MB_OK;
}

/* The root entry "." gives the root frame its self line. */
static int add_root(struct builder *b, const char *line, struct mbi_buf *out)
{
	struct tok t;
	int rc;

	if ((rc = check_entry(b, line, &t)))
		return rc;
	if (b->st[0].text.len != strlen(LISTING_MAGIC "\n"))
		return bad(b, "a name appears twice", ".", 1);
	if ((rc = entry_line(&t, ".", 1, out)))
		return rc;
	return mbi_buf_add(&b->st[0].text, out->data, out->len) ?
	       MB_E_NOMEM : MB_OK;
}

static int fill_items(struct builder *b, char **lines, size_t n,
		      struct item *items, size_t *nitems, const char **root)
{
	size_t i;

	*nitems = 0;
	*root = NULL;
	for (i = 0; i < n; i++) {
		struct tok t;

		if (tokenize(lines[i], strlen(lines[i]), &t) || t.n < 10)
			return bad(b, "malformed entry", lines[i],
				   strlen(lines[i]));
		if (tok_is(&t, 9, ".")) {
			if (*root)
				return bad(b, "a name appears twice", ".", 1);
			*root = lines[i];
			continue;
		}
		items[*nitems].line = lines[i];
		items[*nitems].path = t.p[9];
		items[(*nitems)++].plen = t.l[9];
	}
	return MB_OK;
}

int mbi_listing_build(struct mb_ctx *ctx, const char *what, char **lines,
		      size_t n, mbi_listing_store_fn store, void *ud,
		      unsigned char root[MBI_SHA256_LEN])
{
	struct builder b = { ctx, what, NULL, 0, 0, store, ud };
	struct item *items = malloc((n + 1) * sizeof(*items));
	struct mbi_buf line = { 0 };
	const char *rootline;
	size_t i, ni;
	int rc;

	if (!items)
		return MB_E_NOMEM;
	rc = fill_items(&b, lines, n, items, &ni, &rootline);
	if (!rc)
		rc = push(&b, "", 0);
	if (!rc && rootline)
		rc = add_root(&b, rootline, &line);
	if (!rc && ni)
		qsort(items, ni, sizeof(*items), cmp_item);
	for (i = 0; !rc && i < ni; i++)
		rc = add_item(&b, &items[i], &line);
	while (!rc && b.n)
		rc = pop(&b, root);
	while (b.n)
		frame_release(&b.st[--b.n]);
	free(b.st);
	free(items);
	mbi_buf_release(&line);
	return rc;
}

/* ------------------------------------------------------------- expansion */

struct expander {
	struct mb_ctx *ctx;
	const char *source;
	mbi_listing_get_fn get;
	void *ud;
	struct mbi_buf *out;
	struct mbi_buf *ids;
	struct mbi_buf path;
	size_t count;
	uint64_t max;
	/* check: listings expanded with an earlier snapshot are skipped
	 * (seen); those of this snapshot go to pending until it is read
	 * whole, so that a snapshot that cannot be read marks none */
	struct mbi_index *seen, *pending;
	bool skipped; /* a listing was left out: the end count is what is left */
	bool borrowed; /* get's text lasts only until its next call: copied */
	/* when set, out is compressed into zout whenever it holds
	 * ZFLUSH_AT bytes: the whole text is never in memory */
	ZSTD_CCtx *zc;
	struct mbi_buf *zout;
	uint64_t total; /* bytes of text compressed into zout */
};

#define ZFLUSH_AT (256u << 10)

enum { READ_NOT, READ_OK, READ_FAILED }; /* of a listing pack, per command */

/* Compress out into zout (end: and finish the frame); out is emptied. */
static int zflush(struct expander *x, ZSTD_EndDirective end)
{
	ZSTD_inBuffer in = { x->out->data, x->out->len, 0 };
	size_t left;

	do {
		ZSTD_outBuffer o;

		if (x->zout->cap - x->zout->len < ZSTD_CStreamOutSize() + 1 &&
		    mbi_buf_reserve(x->zout, ZSTD_CStreamOutSize()))
			return MB_E_NOMEM;
		o.dst = x->zout->data + x->zout->len;
		o.size = x->zout->cap - x->zout->len - 1;
		o.pos = 0;
		left = ZSTD_compressStream2(x->zc, &o, &in, end);
		if (ZSTD_isError(left))
			return mbi_error(x->ctx, MB_E_IO, 0,
					 "cannot compress the entries of a format-2 snapshot: zstd: %s",
					 ZSTD_getErrorName(left));
		x->zout->len += o.pos;
	} while (in.pos < in.size || (end == ZSTD_e_end && left));
	x->total += x->out->len;
	x->out->len = 0;
	return MB_OK;
}

static int lbad(struct expander *x, const unsigned char *id, size_t lineno)
{
	char hex[MBI_SHA256_HEX];

	mbi_hex(id, MBI_SHA256_LEN, hex);
	return mbi_error(x->ctx, MB_E_VERIFY, 0,
			 "listing '%s' of source '%s' is malformed at line %zu",
			 hex, x->source, lineno);
}

static int expand(struct expander *x, const unsigned char *id, int depth);

/* One child or self line of a listing, as v1 entry lines. */
static int expand_line(struct expander *x, const struct tok *t, size_t plen,
		       int depth)
{
	struct mbi_buf *o = x->out;
	const char *path = x->path.data ? x->path.data : "";
	int rc;

	if (t->p[0][0] == 's') { /* self: the directory, "." at the root */
		x->count++;
		return mbi_buf_printf(o, "e %s d %.*s %.*s %.*s %.*s 0 - %.*s\n",
				      x->source, (int)t->l[1], t->p[1],
				      (int)t->l[2], t->p[2], (int)t->l[3],
				      t->p[3], (int)t->l[4], t->p[4],
				      plen ? (int)plen - 1 : 1,
				      plen ? path : ".");
	}
	if (t->p[0][0] == 'd') {
		unsigned char sub[MBI_SHA256_LEN];

		if (mbi_buf_add(&x->path, t->p[1], t->l[1]) ||
		    mbi_buf_add(&x->path, "/", 1))
			return MB_E_NOMEM;
		rc = mbi_unhex(t->p[2], MBI_SHA256_LEN, sub) ? MB_E_VERIFY :
		     expand(x, sub, depth + 1);
		x->path.len = plen;
		return rc;
	}
	x->count++;
	rc = mbi_buf_printf(o, "e %s %c %.*s %.*s %.*s %.*s ", x->source,
			    t->p[0][0], (int)t->l[2], t->p[2], (int)t->l[3],
			    t->p[3], (int)t->l[4], t->p[4], (int)t->l[5],
			    t->p[5]);
	if (!rc && t->p[0][0] == 'f')
		rc = mbi_buf_printf(o, "%.*s %.*s ", (int)t->l[6], t->p[6],
				    (int)t->l[7], t->p[7]);
	else if (!rc)
		rc = mbi_buf_addstr(o, "0 - ");
	if (!rc)
		rc = mbi_buf_printf(o, "%.*s%.*s", (int)plen, path,
				    (int)t->l[1], t->p[1]);
	if (!rc && t->p[0][0] == 'l')
		rc = mbi_buf_printf(o, " %.*s", (int)t->l[6], t->p[6]);
	if (!rc)
		rc = mbi_buf_add(o, "\n", 1);
	return rc;
}

/* The shape of a listing line: its kind and field count, a valid name. */
static bool line_ok(const struct tok *t, size_t lineno)
{
	if (tok_is(t, 0, "self"))
		return lineno == 2 && t->n == 5;
	if (t->l[0] != 1 || t->n < 2 || memchr(t->p[1], '/', t->l[1]) ||
	    tok_is(t, 1, ".") || tok_is(t, 1, ".."))
		return false;
	switch (t->p[0][0]) {
	case 'f':
		return t->n == 8;
	case 'l':
		return t->n == 7;
	case 'd':
		return t->n == 3 && t->l[2] == 64 &&
		       strspn(t->p[2], "0123456789abcdef") >= 64;
	default:
		return false;
	}
}

int mbi_listing_parse(const char *text, size_t len, mbi_listing_line_fn fn,
		      void *ud, size_t *bad_line)
{
	const char *p = text, *end = text + len, *last = NULL;
	size_t lineno = 0, lastlen = 0;
	int rc = MB_OK;

	while (!rc && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : 0;
		struct tok t;

		lineno++;
		if (!nl || memchr(p, '\0', l) || l > MBI_META_LINE_MAX)
			goto bad;
		if (lineno == 1) {
			if (l != strlen(LISTING_MAGIC) ||
			    memcmp(p, LISTING_MAGIC, l))
				goto bad;
		} else {
			if (tokenize(p, l, &t) || !line_ok(&t, lineno))
				goto bad;
			if (t.p[0][0] != 's') {
				if (last && cmp_bytes(t.p[1], t.l[1], last,
						      lastlen) <= 0)
					goto bad;
				last = t.p[1];
				lastlen = t.l[1];
			}
			rc = fn(ud, &t.p[0], &t.l[0], t.n);
		}
		p = nl + 1;
	}
	if (!lineno)
		goto bad;
	return rc;
bad:
	*bad_line = lineno;
	return MB_E_VERIFY;
}

struct expand_call {
	struct expander *x;
	size_t plen;
	int depth;
};

static int expand_cb(void *ud, const char *const *p, const size_t *l, int n)
{
	struct expand_call *c = ud;
	struct tok t;
	int i;

	t.n = n;
	for (i = 0; i < n; i++) {
		t.p[i] = p[i];
		t.l[i] = l[i];
	}
	if (c->x->zout && c->x->out->len >= ZFLUSH_AT) {
		int rc = zflush(c->x, ZSTD_e_continue);

		if (rc)
			return rc;
	}
	if (c->x->total + c->x->out->len > c->x->max)
		return mbi_error(c->x->ctx, MB_E_VERIFY, 0,
				 "the listings of source '%s' expand to more than %llu bytes: damaged or forged",
				 c->x->source, (unsigned long long)c->x->max);
	return expand_line(c->x, &t, c->plen, c->depth);
}

static int expand(struct expander *x, const unsigned char *id, int depth)
{
	struct expand_call c = { x, x->path.len, depth };
	const char *text;
	char *copy = NULL;
	size_t len, badl = 0;
	int rc;

	if (depth > LISTING_DEPTH_MAX)
		return mbi_error(x->ctx, MB_E_VERIFY, 0,
				 "the listings of source '%s' are nested more than %d deep: damaged or forged",
				 x->source, LISTING_DEPTH_MAX);
	if (x->seen) {
		/* its entries were checked with an earlier snapshot (the same
		 * directory twice in this one is expanded twice: so the end
		 * count of the first snapshot is checked as it is) */
		if (mbi_index_find(x->seen, id)) {
			x->skipped = true;
			return MB_OK;
		}
		if (!mbi_index_find(x->pending, id) &&
		    mbi_index_add_blob(x->pending, id, 0, 0))
			return MB_E_NOMEM;
	}
	if (x->ids && mbi_buf_add(x->ids, id, MBI_SHA256_LEN))
		return MB_E_NOMEM;
	if ((rc = x->get(x->ud, id, &text, &len)))
		return rc;
	if (x->borrowed) { /* the subdirectories' get reuses the buffer */
		if (!(copy = malloc(len + 1)))
			return MB_E_NOMEM;
		memcpy(copy, text, len);
		text = copy;
	}
	rc = mbi_listing_parse(text, len, expand_cb, &c, &badl);
	if (rc == MB_E_VERIFY && badl)
		rc = lbad(x, id, badl);
	free(copy);
	return rc;
}

/* "tree NAME HEX": source NAME and its root listing. */
static bool tree_line(const char *line, size_t l, char *name, size_t namecap,
		      unsigned char id[MBI_SHA256_LEN])
{
	struct tok t;

	if (tokenize(line, l, &t) || t.n != 3 || t.l[1] >= namecap ||
	    t.l[2] != 64 || strspn(t.p[2], "0123456789abcdef") < 64 ||
	    mbi_unhex(t.p[2], MBI_SHA256_LEN, id))
		return false;
	memcpy(name, t.p[1], t.l[1]);
	name[t.l[1]] = '\0';
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789._-") == t.l[1] && name[0] != '.';
}

bool mbi_manifest_is_v2(const char *text, size_t len)
{
	size_t m = strlen(MANIFEST2_MAGIC);

	return len > m && !memcmp(text, MANIFEST2_MAGIC, m) && text[m] == '\n';
}

static int expand_lines(struct expander *x, const char *text, size_t len,
			const char *what);

/* zout NULL: the text goes to out; else out is a buffer and the text goes
 * compressed (zstd level 1, one frame) to zout. */
static int expand_manifest(struct mb_ctx *ctx, const char *text, size_t len,
			   mbi_listing_get_fn get, void *ud,
			   struct mbi_buf *out, struct mbi_buf *ids,
			   const char *what, struct mbi_index *seen,
			   struct mbi_index *pending, struct mbi_buf *zout,
			   bool borrowed)
{
	struct expander x = { ctx, NULL, get, ud, out, ids, { 0 }, 0,
			      MBI_MANIFEST_MAX, seen, pending, false, false,
			      NULL, zout, 0 };
	int rc;

	x.borrowed = borrowed;
	if (zout) {
		x.zc = ZSTD_createCCtx();
		if (!x.zc || ZSTD_isError(ZSTD_CCtx_setParameter(
				     x.zc, ZSTD_c_compressionLevel, 1)))
			rc = MB_E_NOMEM;
		else
			rc = expand_lines(&x, text, len, what);
		if (!rc)
			rc = zflush(&x, ZSTD_e_end);
		ZSTD_freeCCtx(x.zc);
	} else {
		rc = expand_lines(&x, text, len, what);
	}
	mbi_buf_release(&x.path);
	return rc;
}

static int expand_lines(struct expander *x, const char *text, size_t len,
			const char *what)
{
	struct mb_ctx *ctx = x->ctx;
	struct mbi_buf *out = x->out;
	struct mbi_index *seen = x->seen;
	const char *p = text, *end = text + len;
	char name[72];
	size_t lineno = 0;
	int rc = MB_OK;

	if (!mbi_manifest_is_v2(text, len))
		goto bad;
	while (!rc && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		lineno++;
		if (!nl)
			goto bad;
		if (lineno == 1)
			rc = mbi_buf_addstr(out, MANIFEST1_MAGIC "\n");
		else if (l > 5 && !memcmp(p, "tree ", 5)) {
			unsigned char id[MBI_SHA256_LEN];

			if (!tree_line(p, l, name, sizeof(name), id))
				goto bad;
			x->source = name;
			x->path.len = 0;
			rc = expand(x, id, 0);
		} else if (l > 2 && p[0] == 'e' && p[1] == ' ') {
			goto bad; /* entries live in listings only */
		} else if (seen && x->skipped && l > 4 &&
			   !memcmp(p, "end ", 4)) {
			/* what was expanded, skipped listings left out (with
			 * none left out, the count is checked as it is) */
			rc = mbi_buf_printf(out, "end %zu\n", x->count);
		} else {
			rc = mbi_buf_add(out, p, l + 1);
		}
		p = nl + 1;
	}
	return rc;
bad:
	return mbi_error(ctx, MB_E_VERIFY, 0,
			 "manifest '%s' is malformed at line %zu", what, lineno);
}

int mbi_listing_expand_manifest(struct mb_ctx *ctx, const char *text,
				size_t len, mbi_listing_get_fn get, void *ud,
				struct mbi_buf *out, struct mbi_buf *ids,
				const char *what)
{
	return expand_manifest(ctx, text, len, get, ud, out, ids, what, NULL,
			       NULL, NULL, false);
}

/* ------------------------------------------------- listings of a repository */

struct mbi_listings {
	struct mbi_index ix;       /* finds the listing pack of an id */
	bool loaded;
	unsigned char *read;       /* per ix pack: READ_OK, READ_FAILED */
	struct mbi_index seen;     /* mbi_listings_skip_seen */
	struct mbi_index pending;  /* seen by the snapshot being read */
	bool skip_seen;
	/* The listings read, in an unlinked file of the cache directory: a
	 * listing pack's texts are written there as it is read, and read
	 * back one at a time as the expansion needs them (the texts of a
	 * million files take no memory). */
	struct mbi_index texts;    /* id -> (slot in off, length) */
	int fd;                    /* -1 until a listing pack is read */
	uint64_t flen;             /* bytes written to fd */
	uint64_t *off;             /* per slot: where its text starts */
	size_t nt, capt;
	struct mbi_buf got;        /* the text repo_get returned last */
};

void mbi_listings_free(struct mbi_repo *r)
{
	struct mbi_listings *ls = r->listings;

	if (!ls)
		return;
	if (ls->loaded)
		mbi_index_release(&ls->ix);
	mbi_index_release(&ls->texts);
	if (ls->skip_seen) {
		mbi_index_release(&ls->seen);
		mbi_index_release(&ls->pending);
	}
	if (ls->fd >= 0)
		close(ls->fd);
	free(ls->off);
	mbi_buf_release(&ls->got);
	free(ls->read);
	free(ls);
	r->listings = NULL;
}

struct member_ud {
	struct mbi_repo *r;
	struct mbi_listings *ls;
	const char *pack;
};

static int spill_open(struct mbi_repo *r, struct mbi_listings *ls)
{
	char *dir = mbi_cache_dir(r->ctx, r->id);

	if (!dir)
		return MB_E_IO;
	ls->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	/* a file system without O_TMPFILE: in memory, outside the heap */
	if (ls->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR ||
			   errno == EINVAL))
		ls->fd = memfd_create("mailbackup-listings", MFD_CLOEXEC);
	if (ls->fd < 0) {
		int rc = mbi_error(r->ctx, MB_E_IO, errno,
				   "cannot create a file for the listings read in cache directory '%s': it must be writable",
				   dir);

		free(dir);
		return rc;
	}
	free(dir);
	return MB_OK;
}

static int spill_write(struct mbi_repo *r, struct mbi_listings *ls,
		       const char *text, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(ls->fd, text + done, len - done,
				   (off_t)(ls->flen + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return mbi_error(r->ctx, MB_E_IO, n ? errno : ENOSPC,
					 "cannot write the listings read to the cache directory: free some space there");
		done += (size_t)n;
	}
	ls->flen += len;
	return MB_OK;
}

/* A listing read: to the spill file, unless known already. */
static int keep_text(struct mbi_repo *r, struct mbi_listings *ls,
		     const unsigned char *id, const char *text, size_t len)
{
	int rc;

	if (mbi_index_find(&ls->texts, id))
		return MB_OK;
	if (ls->fd < 0 && (rc = spill_open(r, ls)))
		return rc;
	if (ls->nt == ls->capt) {
		size_t cap = ls->capt ? ls->capt * 2 : 256;
		uint64_t *o = realloc(ls->off, cap * sizeof(*o));

		if (!o)
			return MB_E_NOMEM;
		ls->off = o;
		ls->capt = cap;
	}
	ls->off[ls->nt] = ls->flen;
	if ((rc = spill_write(r, ls, text, len)))
		return rc;
	if (mbi_index_add_blob(&ls->texts, id, (uint32_t)ls->nt, len))
		return MB_E_NOMEM;
	ls->nt++;
	return MB_OK;
}

/* Every member of a listing pack, kept when its bytes hash to its id. */
static int take_member(void *ud, struct mbi_packr *pr, const char *name,
		       const unsigned char *sha, bool has_sha, uint64_t size)
{
	struct member_ud *m = ud;
	unsigned char got[MBI_SHA256_LEN];
	char *text;
	uint64_t have = 0;
	int rc;

	(void)name;
	if (!has_sha || size > MBI_INDEX_MAX)
		return mbi_error(m->r->ctx, MB_E_VERIFY, 0,
				 "listing pack '%s' holds a member that is not a listing: damaged or forged",
				 m->pack);
	text = malloc(size + 1);
	if (!text)
		return MB_E_NOMEM;
	while (have < size) {
		ssize_t n = mbi_packr_read(pr, text + have, size - have);

		if (n <= 0) {
			free(text);
			return n < 0 ? MB_E_VERIFY :
			       mbi_error(m->r->ctx, MB_E_VERIFY, 0,
					 "listing pack '%s' is truncated",
					 m->pack);
		}
		have += (uint64_t)n;
	}
	text[size] = '\0';
	mbi_sha256_buf(text, size, got);
	if (memcmp(got, sha, MBI_SHA256_LEN)) {
		free(text);
		return mbi_error(m->r->ctx, MB_E_VERIFY, 0,
				 "listing pack '%s' holds a listing that does not match its hash: damaged or forged",
				 m->pack);
	}
	rc = keep_text(m->r, m->ls, sha, text, size);
	free(text);
	return rc;
}

static int ls_open(struct mbi_repo *r)
{
	struct mbi_listings *ls = calloc(1, sizeof(*ls));
	int rc;

	if (!ls)
		return MB_E_NOMEM;
	if ((rc = mbi_index_init(&ls->texts, r->ctx))) {
		free(ls);
		return rc;
	}
	ls->fd = -1;
	r->listings = ls;
	r->listings_free = mbi_listings_free;
	return MB_OK;
}

/* The index's blob lines: only those of listing packs are kept, content
 * blobs (a million at 1M files) take no memory here. */
static int ls_on_blob(void *ud, const unsigned char *sha, uint32_t pack,
		      uint64_t size)
{
	struct mbi_index *ix = ud;

	if (!sha || pack >= ix->npacks || !ix->packs[pack].listing)
		return 0; /* a restart finds the table emptied already */
	return mbi_index_add_blob(ix, sha, pack, size) ? -1 : 0;
}

static int ls_load_index(struct mbi_repo *r, struct mbi_listings *ls)
{
	int rc = mbi_index_init(&ls->ix, r->ctx);

	if (rc)
		return rc;
	ls->loaded = true;
	ls->ix.on_blob = ls_on_blob;
	ls->ix.on_blob_ud = &ls->ix;
	rc = mbi_index_load(&ls->ix, r, false);
	if (!rc) {
		ls->read = calloc(ls->ix.npacks + 1, sizeof(*ls->read));
		if (!ls->read)
			rc = MB_E_NOMEM;
	}
	return rc;
}

/* A listing's text back from the spill file, into ls->got. */
static int spill_read(struct mbi_repo *r, struct mbi_listings *ls,
		      const struct mbi_blobref *f, const char **text,
		      size_t *len)
{
	size_t done = 0, want = (size_t)f->size;

	ls->got.len = 0;
	if (mbi_buf_reserve(&ls->got, want))
		return MB_E_NOMEM;
	while (done < want) {
		ssize_t n = pread(ls->fd, ls->got.data + done, want - done,
				  (off_t)(ls->off[f->pack] + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return mbi_error(r->ctx, MB_E_IO, n ? errno : EIO,
					 "cannot read back the listings read from the cache directory");
		done += (size_t)n;
	}
	ls->got.len = want;
	ls->got.data[want] = '\0';
	*text = ls->got.data;
	*len = want;
	return MB_OK;
}

static int repo_get(void *ud, const unsigned char *id, const char **text,
		    size_t *len)
{
	struct mbi_repo *r = ud;
	struct mbi_listings *ls = r->listings;
	const struct mbi_blobref *f = mbi_index_find(&ls->texts, id);
	const struct mbi_packinfo *pi;
	struct member_ud m;
	char hex[MBI_SHA256_HEX];
	int rc;

	if (!f && !ls->loaded && (rc = ls_load_index(r, ls)))
		return rc;
	mbi_hex(id, MBI_SHA256_LEN, hex);
	if (!f) {
		const struct mbi_blobref *ref =
			mbi_index_find_listing(&ls->ix, id);

		if (!ref || ls->read[ref->pack] == READ_OK)
			return mbi_error(r->ctx, MB_E_VERIFY, 0,
					 "listing '%s' is in no listing pack of the index: the repository is damaged (run 'mailbackup check')",
					 hex);
		pi = &ls->ix.packs[ref->pack];
		if (ls->read[ref->pack] == READ_FAILED)
			return mbi_error(r->ctx, MB_E_VERIFY, 0,
					 "listing '%s' is in listing pack '%s', which could not be read: the repository is damaged (run 'mailbackup check')",
					 hex, pi->name);
		ls->read[ref->pack] = READ_FAILED;
		m.r = r;
		m.ls = ls;
		m.pack = pi->name;
		if ((rc = mbi_pack_read(r, pi->name, pi->size, take_member,
					&m)))
			return rc;
		ls->read[ref->pack] = READ_OK;
		if (!(f = mbi_index_find(&ls->texts, id)))
			return mbi_error(r->ctx, MB_E_VERIFY, 0,
					 "listing pack '%s' lacks listing '%s' that the index says it holds",
					 pi->name, hex);
	}
	return spill_read(r, ls, f, text, len);
}

/* After a snapshot's entries were checked (ok), or it could not be read:
 * what it reached counts as seen only in the first case. */
static int seen_settle(struct mbi_listings *ls, int rc)
{
	size_t i;
	int rc2;

	if (!ls->skip_seen)
		return rc;
	for (i = 0; rc == MB_OK && i < ls->pending.cap; i++) {
		static const unsigned char zero[MBI_SHA256_LEN];
		const unsigned char *k = ls->pending.keys + i * MBI_SHA256_LEN;

		if (memcmp(k, zero, MBI_SHA256_LEN) &&
		    mbi_index_add_blob(&ls->seen, k, 0, 0))
			rc = MB_E_NOMEM;
	}
	mbi_index_release(&ls->pending);
	rc2 = mbi_index_init(&ls->pending, ls->seen.ctx);
	return rc ? rc : rc2;
}

int mbi_listing_expand_repo(struct mbi_repo *r, const char *text, size_t len,
			    struct mbi_buf *out, struct mbi_buf *ids,
			    const char *what)
{
	struct mbi_listings *ls;
	int rc;

	if (!r->listings && (rc = ls_open(r)))
		return rc;
	ls = r->listings;
	rc = expand_manifest(r->ctx, text, len, repo_get, r, out, ids, what,
			     ls->skip_seen ? &ls->seen : NULL,
			     ls->skip_seen ? &ls->pending : NULL, NULL, true);
	return rc ? seen_settle(ls, rc) : MB_OK;
}

int mbi_listing_expand_repo_z(struct mbi_repo *r, const char *text,
			      size_t len, struct mbi_buf *z,
			      struct mbi_buf *ids, const char *what)
{
	struct mbi_listings *ls;
	struct mbi_buf out = { 0 };
	int rc;

	if (!r->listings && (rc = ls_open(r)))
		return rc;
	ls = r->listings;
	rc = expand_manifest(r->ctx, text, len, repo_get, r, &out, ids, what,
			     ls->skip_seen ? &ls->seen : NULL,
			     ls->skip_seen ? &ls->pending : NULL, z, true);
	mbi_buf_release(&out);
	return rc ? seen_settle(ls, rc) : MB_OK;
}

int mbi_listings_settle(struct mbi_repo *r, bool checked)
{
	if (!r->listings)
		return MB_OK;
	return seen_settle(r->listings, checked ? MB_OK : MB_E_VERIFY) ==
			       MB_E_NOMEM ? MB_E_NOMEM : MB_OK;
}

int mbi_listings_skip_seen(struct mbi_repo *r)
{
	int rc;

	if (!r->listings && (rc = ls_open(r)))
		return rc;
	if (r->listings->skip_seen)
		return MB_OK;
	if ((rc = mbi_index_init(&r->listings->seen, r->ctx)))
		return rc;
	if ((rc = mbi_index_init(&r->listings->pending, r->ctx))) {
		mbi_index_release(&r->listings->seen);
		return rc;
	}
	r->listings->skip_seen = true;
	return MB_OK;
}

/* ----------------------------------------------------- listing pack writer */

#define LISTING_PENDING UINT32_MAX /* in the open listing pack */

/* Whether the index lists id in a listing pack that is still in the
 * repository (or in the one being written). A listing whose pack vanished
 * since the backup began (a lost object, another host's prune) is stored
 * again: the writer has its text, and a manifest must not name it in a
 * pack that is gone. */
static bool have_listing(struct mbi_lpw *w, const unsigned char *key,
			 struct mbi_blobref **gone_ref)
{
	struct mbi_index *ix = w->ix;
	struct mbi_blobref *ref =
		(struct mbi_blobref *)mbi_index_find(ix, key);

	*gone_ref = NULL;
	if (!ref)
		return false;
	if (ref->pack == LISTING_PENDING)
		return true;
	if (ref->pack >= ix->npacks || !ix->packs[ref->pack].listing)
		return false;
	if (!w->gone || !w->gone[ref->pack])
		return true;
	*gone_ref = ref;
	return false;
}

static int lpw_close(struct mbi_lpw *w)
{
	char name[MBI_SHA256_HEX];
	uint64_t size;
	uint32_t pi;
	size_t i;
	int rc;

	if (!w->pw)
		return MB_OK;
	rc = mbi_packw_close(w->pw, name, &size);
	w->pw = NULL;
	if (!rc)
		rc = mbi_index_add_pack(w->ix, name, size, &pi);
	if (rc)
		return rc;
	w->ix->packs[pi].listing = true;
	for (i = 0; i < w->ids.len / MBI_SHA256_LEN; i++) {
		unsigned char key[MBI_SHA256_LEN];
		struct mbi_blobref *v;

		mbi_listing_key((const unsigned char *)w->ids.data +
				i * MBI_SHA256_LEN, key);
		v = (struct mbi_blobref *)mbi_index_find(w->ix, key);

		/* pending, or listed only in a pack that is gone */
		if (v && v->pack >= w->ix->npacks) {
			v->pack = pi;
			w->ix->packs[pi].nblobs++;
		}
	}
	w->ids.len = 0;
	w->stored += size;
	w->packs++;
	return MB_OK;
}

int mbi_lpw_store(void *ud, const unsigned char *id, const char *text,
		  size_t len)
{
	struct mbi_lpw *w = ud;
	struct mbi_blobref *gone;
	char hex[MBI_SHA256_HEX];
	unsigned char key[MBI_SHA256_LEN];
	int rc;

	if (w->memo && mbi_buf_add(&w->memo_ids, id, MBI_SHA256_LEN))
		return MB_E_NOMEM;
	mbi_listing_key(id, key);
	if (have_listing(w, key, &gone))
		return MB_OK;
	if (!w->pw && (rc = mbi_packw_open_mode(w->r, w->zstd_level,
						MBI_CRYPT_LISTING, &w->pw)))
		return rc;
	mbi_hex(id, MBI_SHA256_LEN, hex);
	rc = mbi_packw_add(w->pw, hex, id, len, 0600, 0, text, -1);
	if (!rc && gone) {
		/* moves to the new pack when it is closed */
		w->ix->packs[gone->pack].nblobs--;
		gone->pack = LISTING_PENDING;
		w->restored++;
	} else if (!rc && mbi_index_add_blob(w->ix, key, LISTING_PENDING,
					     len)) {
		rc = MB_E_NOMEM;
	}
	if (!rc && mbi_buf_add(&w->ids, id, MBI_SHA256_LEN))
		rc = MB_E_NOMEM;
	if (!rc && mbi_packw_out_bytes(w->pw) >= w->pack_size)
		rc = lpw_close(w);
	return rc;
}

int mbi_lpw_finish(struct mbi_lpw *w)
{
	int rc = lpw_close(w);

	mbi_buf_release(&w->ids);
	return rc;
}

void mbi_lpw_abort(struct mbi_lpw *w)
{
	if (w->pw)
		mbi_packw_abort(w->pw);
	w->pw = NULL;
	mbi_buf_release(&w->ids);
}

/* ------------------------------------------------------ a snapshot's trees */

/* One sorted entry line into the builder of its source. */
static int stream_line(struct builder *b, const char *line,
		       struct mbi_buf *out)
{
	struct item it;
	struct tok t;

	if (tokenize(line, strlen(line), &t) || t.n < 10)
		return bad(b, "malformed entry", line, strlen(line));
	if (tok_is(&t, 9, "."))
		return add_root(b, line, out);
	it.line = line;
	it.path = t.p[9];
	it.plen = t.l[9];
	return add_item(b, &it, out);
}

/* Close the builder of one source: its tree line. */
static int tree_end(struct builder *b, struct mbi_buf *trees)
{
	unsigned char root[MBI_SHA256_LEN] = { 0 };
	char hex[MBI_SHA256_HEX];
	int rc = MB_OK;

	while (!rc && b->n)
		rc = pop(b, root);
	mbi_hex(root, MBI_SHA256_LEN, hex);
	if (!rc)
		rc = mbi_buf_printf(trees, "tree %s %s\n", b->what, hex);
	return rc;
}

/* The next source's builder, when line starts one. */
static int tree_switch(struct builder *b, char **name, const char *line,
		       struct mbi_buf *trees)
{
	const char *src = line + 2;
	size_t sl = strcspn(src, " ");
	int rc;

	if (*name && strlen(*name) == sl && !memcmp(*name, src, sl))
		return MB_OK;
	if (*name && (rc = tree_end(b, trees)))
		return rc;
	free(*name);
	b->what = *name = strndup(src, sl);
	if (!*name)
		return MB_E_NOMEM;
	return push(b, "", 0);
}

int mbi_listing_trees(struct mbi_lpw *w, struct mbi_lsort *s,
		      struct mbi_buf *trees, size_t *count)
{
	struct builder b = { w->r->ctx, NULL, NULL, 0, 0, mbi_lpw_store, w,
			     true };
	struct mbi_buf out = { 0 };
	const char *line;
	char *name = NULL;
	int rc;

	*count = 0;
	while (!(rc = mbi_lsort_next(s, &line)) && line) {
		if ((rc = tree_switch(&b, &name, line, trees)) ||
		    (rc = stream_line(&b, line, &out)))
			break;
		(*count)++;
	}
	if (!rc && name)
		rc = tree_end(&b, trees);
	while (b.n)
		frame_release(&b.st[--b.n]);
	free(b.st);
	free(name);
	mbi_buf_release(&out);
	return rc;
}
