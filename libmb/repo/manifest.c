/* SPDX-License-Identifier: MIT */
/* repo/manifest.c: a snapshot: its object name (time-host-id) and its manifest,
 * the list of entries (text format, parsing, loading). */
#include "mb-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "banned.h"

#define MANIFEST_MAGIC "mailbackup-manifest 1"

/* Decimal or octal digits of v at the end of buf[24]; returns the first. */
static char *digits(char *end, unsigned long long v, unsigned base)
{
	*--end = '\0';
	do {
		*--end = (char)('0' + v % base);
		v /= base;
	} while (v);
	return end;
}

static int add_num(struct mbi_buf *b, unsigned long long v, unsigned base,
		   bool neg)
{
	char buf[24], *p = digits(buf + sizeof(buf), v, base);

	if (neg)
		*--p = '-';
	return mbi_buf_add(b, p, strlen(p)) ||
	       mbi_buf_add(b, " ", 1) ? MB_E_NOMEM : MB_OK;
}

/* One entry line; by hand rather than printf: a manifest has millions. */
int mbi_manifest_format_entry(struct mbi_buf *b, const struct mbi_mentry *e)
{
	char head[4] = { ' ', e->type, ' ', '\0' };
	unsigned long long mt = e->mtime_ns < 0 ?
				0ULL - (unsigned long long)e->mtime_ns :
				(unsigned long long)e->mtime_ns;
	int rc;

	if (mbi_buf_reserve(b, strlen(e->source) + 200))
		return MB_E_NOMEM;
	rc = mbi_buf_add(b, "e ", 2);
	if (!rc)
		rc = mbi_buf_addstr(b, e->source);
	if (!rc)
		rc = mbi_buf_add(b, head, 3);
	if (!rc)
		rc = add_num(b, e->mode, 8, false);
	if (!rc)
		rc = add_num(b, e->uid, 10, false);
	if (!rc)
		rc = add_num(b, e->gid, 10, false);
	if (!rc)
		rc = add_num(b, mt, 10, e->mtime_ns < 0);
	if (!rc)
		rc = add_num(b, e->size, 10, false);
	if (!rc && e->has_sha) {
		char hex[MBI_SHA256_HEX];

		mbi_hex(e->sha, MBI_SHA256_LEN, hex);
		rc = mbi_buf_add(b, hex, MBI_SHA256_HEX - 1);
	} else if (!rc) {
		rc = mbi_buf_add(b, "-", 1);
	}
	if (!rc)
		rc = mbi_buf_add(b, " ", 1);
	if (!rc)
		rc = mbi_escape(b, e->path, strlen(e->path));
	if (!rc && e->type == 'l') {
		rc = mbi_buf_add(b, " ", 1);
		if (!rc)
			rc = mbi_escape(b, e->link, strlen(e->link));
	}
	if (!rc)
		rc = mbi_buf_add(b, "\n", 1);
	return rc;
}

/* Split off the next space-separated field. */
static char *field(char **s)
{
	char *f = *s, *sp;

	if (!f)
		return NULL;
	sp = strchr(f, ' ');
	if (sp) {
		*sp = '\0';
		*s = sp + 1;
	} else {
		*s = NULL;
	}
	return f;
}

static int parse_u64(const char *s, int base, unsigned long long max,
		     unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int mbi_manifest_parse_entry(char *line, struct mbi_mentry *e)
{
	char *s = line, *f, *type, *mode, *uid, *gid, *mt, *size, *sha;
	unsigned long long v;
	long long mtime;
	char *end;
	ssize_t l;

	memset(e, 0, sizeof(*e));
	f = field(&s);
	if (!f || strcmp(f, "e"))
		return MB_E_INVAL;
	e->source = field(&s);
	type = field(&s);
	mode = field(&s);
	uid = field(&s);
	gid = field(&s);
	mt = field(&s);
	size = field(&s);
	sha = field(&s);
	e->path = field(&s);
	if (!e->path || !*e->source || strlen(type) != 1)
		return MB_E_INVAL;
	e->type = type[0];
	if (e->type != 'f' && e->type != 'd' && e->type != 'l')
		return MB_E_INVAL;
	if (parse_u64(mode, 8, 07777, &v))
		return MB_E_INVAL;
	e->mode = (uint32_t)v;
	if (parse_u64(uid, 10, UINT32_MAX, &v))
		return MB_E_INVAL;
	e->uid = (uint32_t)v;
	if (parse_u64(gid, 10, UINT32_MAX, &v))
		return MB_E_INVAL;
	e->gid = (uint32_t)v;
	errno = 0;
	mtime = strtoll(mt, &end, 10);
	if (!*mt || *end || errno)
		return MB_E_INVAL;
	e->mtime_ns = mtime;
	if (parse_u64(size, 10, UINT64_MAX, &v))
		return MB_E_INVAL;
	e->size = v;
	if (strcmp(sha, "-")) {
		if (strlen(sha) != 64 || mbi_unhex(sha, MBI_SHA256_LEN, e->sha))
			return MB_E_INVAL;
		e->has_sha = true;
	}
	if ((e->type == 'f') != e->has_sha)
		return MB_E_INVAL;
	l = mbi_unescape(e->path);
	if (l < 0)
		return MB_E_INVAL;
	if (e->type == 'l') {
		e->link = field(&s);
		if (!e->link || mbi_unescape(e->link) < 0 || !*e->link)
			return MB_E_INVAL;
	}
	if (s)
		return MB_E_INVAL;
	/* the root of a source is ".", everything else must stay inside it */
	if (strcmp(e->path, ".") && !mbi_path_is_safe(e->path))
		return MB_E_INVAL;
	if (!strcmp(e->path, ".") && e->type != 'd')
		return MB_E_INVAL;
	return MB_OK;
}

void mbi_manifest_release(struct mbi_manifest *m)
{
	mbi_strv_free(m->hdr, m->nhdr);
	free(m->text);
	free(m->z);
	free(m->what);
	free(m->sources);
	free(m->dbs);
	free(m->meta);
	free(m->listing_ids);
	memset(m, 0, sizeof(*m));
}

void mbi_manifest_drop_entries(struct mbi_manifest *m)
{
	free(m->text);
	m->text = NULL;
	m->len = 0;
	free(m->z);
	m->z = NULL;
	m->zlen = 0;
}

static void *grow_array(void *p, size_t n, size_t size)
{
	/* grow at powers of two */
	if (n & (n - 1))
		return p;
	return realloc(p, (n ? n * 2 : 1) * size);
}

/* The header, db and meta lines are copied out and cut up there; the text
 * itself stays whole, lines of entries that foreach reads again. */
static int header_line(struct mbi_manifest *m, const char *line, size_t l,
		       size_t *entries, bool *ended, bool *have_id)
{
	char *copy, *s, *f;
	void *g;

	g = grow_array(m->hdr, m->nhdr, sizeof(*m->hdr));
	if (!g)
		return MB_E_NOMEM;
	m->hdr = g;
	copy = strndup(line, l);
	if (!copy)
		return MB_E_NOMEM;
	m->hdr[m->nhdr++] = copy;
	s = copy;
	f = field(&s);
	if (!strcmp(f, "id")) {
		f = field(&s);
		if (!f || s || strlen(f) != 16 ||
		    strspn(f, "0123456789abcdef") != 16)
			return MB_E_VERIFY;
		memcpy(m->id, f, 17);
		*have_id = true;
	} else if (!strcmp(f, "time")) {
		unsigned long long t;

		if (parse_u64(field(&s), 10, INT64_MAX, &t) || s)
			return MB_E_VERIFY;
		m->time = (int64_t)t;
	} else if (!strcmp(f, "host")) {
		f = field(&s);
		if (!f || s || strlen(f) >= sizeof(m->host))
			return MB_E_VERIFY;
		memcpy(m->host, f, strlen(f) + 1);
	} else if (!strcmp(f, "source")) {
		g = grow_array(m->sources, m->nsources, sizeof(*m->sources));
		if (!g)
			return MB_E_NOMEM;
		m->sources = g;
		m->sources[m->nsources].name = field(&s);
		m->sources[m->nsources].type = field(&s);
		m->sources[m->nsources].path = field(&s);
		if (!m->sources[m->nsources].path || s ||
		    mbi_unescape(m->sources[m->nsources].path) < 0)
			return MB_E_VERIFY;
		m->nsources++;
	} else if (!strcmp(f, "db")) {
		struct mbi_mdb *d;
		unsigned long long rows;

		g = grow_array(m->dbs, m->ndbs, sizeof(*m->dbs));
		if (!g)
			return MB_E_NOMEM;
		m->dbs = g;
		d = &m->dbs[m->ndbs];
		d->source = field(&s);
		d->db = field(&s);
		d->table = field(&s);
		if (parse_u64(field(&s), 10, UINT64_MAX, &rows))
			return MB_E_VERIFY;
		d->rows = rows;
		d->checksum = field(&s);
		if (!d->checksum || s || mbi_unescape(d->db) < 0 ||
		    mbi_unescape(d->table) < 0)
			return MB_E_VERIFY;
		m->ndbs++;
	} else if (!strcmp(f, "meta")) {
		g = grow_array(m->meta, m->nmeta, sizeof(*m->meta));
		if (!g)
			return MB_E_NOMEM;
		m->meta = g;
		m->meta[m->nmeta].source = field(&s);
		m->meta[m->nmeta].key = field(&s);
		m->meta[m->nmeta].value = field(&s);
		if (!m->meta[m->nmeta].value || s ||
		    mbi_unescape(m->meta[m->nmeta].key) < 0 ||
		    mbi_unescape(m->meta[m->nmeta].value) < 0)
			return MB_E_VERIFY;
		m->nmeta++;
	} else if (!strcmp(f, "end")) {
		unsigned long long n;

		if (parse_u64(field(&s), 10, UINT64_MAX, &n) || s ||
		    n != *entries)
			return MB_E_VERIFY;
		*ended = true;
	} else {
		return MB_E_VERIFY;
	}
	return MB_OK;
}

/*
 * The lines of a manifest, one at a time: from its plaintext, or
 * decompressed from its zstd frame a chunk at a time into buf, so that no
 * reader holds the whole text (a million entries are some 150 MB of text,
 * a third of that compressed).
 */
struct lines {
	struct mb_ctx *ctx;
	const char *what;
	const char *p, *end;   /* the plaintext, or NULL */
	ZSTD_DCtx *dz;
	ZSTD_inBuffer in;
	size_t zr;             /* the last ZSTD_decompressStream result */
	uint64_t total;        /* bytes decompressed */
	char *buf;             /* [pos, len) not read yet */
	size_t pos, len, cap;
	size_t lineno;
};

#define LINES_CHUNK (256u << 10)

static int lines_open(struct lines *L, struct mb_ctx *ctx, const char *what,
		      const char *text, size_t len, const unsigned char *z,
		      size_t zlen)
{
	memset(L, 0, sizeof(*L));
	L->ctx = ctx;
	L->what = what;
	if (!z) {
		L->p = text ? text : "";
		L->end = L->p + (text ? len : 0);
		return MB_OK;
	}
	L->dz = ZSTD_createDCtx();
	L->cap = LINES_CHUNK;
	L->buf = malloc(L->cap);
	if (!L->dz || !L->buf)
		return MB_E_NOMEM;
	ZSTD_DCtx_setParameter(L->dz, ZSTD_d_windowLogMax, 27);
	L->in.src = z;
	L->in.size = zlen;
	L->zr = 1;
	return MB_OK;
}

static void lines_close(struct lines *L)
{
	ZSTD_freeDCtx(L->dz);
	free(L->buf);
}

static int lines_bad(struct lines *L)
{
	return mbi_error(L->ctx, MB_E_VERIFY, 0,
			 "manifest '%s' is malformed at line %zu: the snapshot is damaged or forged",
			 L->what, L->lineno);
}

/* Decompress more after the unread rest of buf (moved to its start). */
static int lines_fill(struct lines *L)
{
	ZSTD_outBuffer o;

	memmove(L->buf, L->buf + L->pos, L->len - L->pos);
	L->len -= L->pos;
	L->pos = 0;
	if (L->len == L->cap) {
		char *nb;

		/* one line fills the buffer */
		if (L->cap > MBI_META_LINE_MAX)
			return lines_bad(L);
		nb = realloc(L->buf, L->cap * 2);
		if (!nb)
			return MB_E_NOMEM;
		L->buf = nb;
		L->cap *= 2;
	}
	o.dst = L->buf + L->len;
	o.size = L->cap - L->len;
	o.pos = 0;
	L->zr = ZSTD_decompressStream(L->dz, &o, &L->in);
	if (ZSTD_isError(L->zr))
		return mbi_error(L->ctx, MB_E_VERIFY, 0,
				 "manifest '%s' is damaged after line %zu: zstd: %s",
				 L->what, L->lineno,
				 ZSTD_getErrorName(L->zr));
	L->len += o.pos;
	L->total += o.pos;
	if (L->total > MBI_MANIFEST_MAX)
		return mbi_error(L->ctx, MB_E_VERIFY, 0,
				 "manifest '%s' is larger than %llu bytes: it is damaged or forged",
				 L->what, (unsigned long long)MBI_MANIFEST_MAX);
	if (o.pos == 0 && L->in.pos == L->in.size && L->zr != 0)
		return mbi_error(L->ctx, MB_E_VERIFY, 0,
				 "manifest '%s' is truncated after line %zu: the snapshot is damaged",
				 L->what, L->lineno);
	return MB_OK;
}

/* The next line, NUL-terminated in place of its newline, in *line (l
 * bytes); 1 for a line, 0 at the end, or a negative code. */
static int lines_next(struct lines *L, char **line, size_t *l)
{
	const char *nl;
	int rc;

	L->lineno++;
	if (!L->dz) {
		/* the plaintext is the caller's: a copy to cut up */
		if (L->p == L->end)
			return 0;
		nl = memchr(L->p, '\n', (size_t)(L->end - L->p));
		*l = nl ? (size_t)(nl - L->p) : (size_t)(L->end - L->p);
		if (!nl || *l > MBI_META_LINE_MAX || memchr(L->p, '\0', *l))
			return lines_bad(L);
		if (*l + 1 > L->cap) {
			char *nb = realloc(L->buf, *l + 1);

			if (!nb)
				return MB_E_NOMEM;
			L->buf = nb;
			L->cap = *l + 1;
		}
		memcpy(L->buf, L->p, *l);
		L->buf[*l] = '\0';
		L->p = nl + 1;
		*line = L->buf;
		return 1;
	}
	for (;;) {
		nl = memchr(L->buf + L->pos, '\n', L->len - L->pos);
		if (nl)
			break;
		if (L->zr == 0 && L->in.pos == L->in.size) {
			if (L->pos == L->len)
				return 0;
			return lines_bad(L); /* no newline at the end */
		}
		if ((rc = lines_fill(L)))
			return rc;
	}
	*line = L->buf + L->pos;
	*l = (size_t)(nl - *line);
	L->pos += *l + 1;
	(*line)[*l] = '\0';
	if (*l > MBI_META_LINE_MAX || memchr(*line, '\0', *l))
		return lines_bad(L);
	return 1;
}

static bool is_entry_line(const char *line, size_t l)
{
	return l > 2 && line[0] == 'e' && line[1] == ' ';
}

/* Check every line, collect the header, db and meta lines into m and count
 * the entries. */
static int parse_lines(struct lines *L, struct mbi_manifest *m)
{
	size_t entries = 0;
	bool ended = false, have_id = false;
	char *line;
	size_t l;
	int rc;

	while ((rc = lines_next(L, &line, &l)) == 1) {
		if (ended)
			return lines_bad(L);
		if (L->lineno == 1) {
			if (strcmp(line, MANIFEST_MAGIC))
				return lines_bad(L);
		} else if (is_entry_line(line, l)) {
			struct mbi_mentry e;

			if (mbi_manifest_parse_entry(line, &e))
				return lines_bad(L);
			entries++;
		} else {
			rc = header_line(m, line, l, &entries, &ended,
					 &have_id);
			if (rc == MB_E_NOMEM)
				return rc;
			if (rc)
				return lines_bad(L);
		}
	}
	if (rc < 0)
		return rc;
	if (!ended || !have_id)
		return lines_bad(L);
	m->nentries = entries;
	return MB_OK;
}

static int parse_any(struct mb_ctx *ctx, char *text, size_t len,
		     unsigned char *z, size_t zlen, struct mbi_manifest *m,
		     const char *what)
{
	struct lines L;
	int rc;

	memset(m, 0, sizeof(*m));
	m->what = strdup(what);
	if (!m->what)
		return MB_E_NOMEM;
	rc = lines_open(&L, ctx, m->what, text, len, z, zlen);
	if (!rc)
		rc = parse_lines(&L, m);
	lines_close(&L);
	if (rc) {
		mbi_manifest_release(m);
		return rc;
	}
	m->text = text;
	m->len = len;
	m->z = z;
	m->zlen = zlen;
	return MB_OK;
}

int mbi_manifest_parse(struct mb_ctx *ctx, char *text, size_t len,
		       struct mbi_manifest *m, const char *what)
{
	return parse_any(ctx, text, len, NULL, 0, m, what);
}

int mbi_manifest_parse_z(struct mb_ctx *ctx, unsigned char *z, size_t zlen,
			 struct mbi_manifest *m, const char *what)
{
	return parse_any(ctx, NULL, 0, z, zlen, m, what);
}

/* An "end" line: the count of entries before it. */
static int end_line(struct lines *L, char *line, size_t entries, bool *ended)
{
	unsigned long long n;
	char *s = line, *f = field(&s);

	if (strcmp(f, "end"))
		return MB_OK;
	if (parse_u64(field(&s), 10, UINT64_MAX, &n) || s || n != entries)
		return mbi_error(L->ctx, MB_E_VERIFY, 0,
				 "manifest '%s' holds %zu entries, its end line %zu counts otherwise: the snapshot is damaged or forged",
				 L->what, entries, L->lineno);
	*ended = true;
	return MB_OK;
}

int mbi_manifest_foreach(struct mb_ctx *ctx, const struct mbi_manifest *m,
			 mbi_mentry_fn fn, void *ud)
{
	struct lines L;
	size_t entries = 0, l;
	bool ended = false;
	char *line;
	int rc;

	/* dropped: no entries */
	if (!m->text && !m->z)
		return MB_OK;
	rc = lines_open(&L, ctx, m->what ? m->what : "?", m->text, m->len,
			m->z, m->zlen);
	while (!rc) {
		struct mbi_mentry e;
		int got = lines_next(&L, &line, &l);

		if (got <= 0) {
			rc = got;
			if (!got && !ended)
				rc = mbi_error(ctx, MB_E_VERIFY, 0,
					       "manifest '%s' ends before its \"end\" line: the snapshot is damaged",
					       L.what);
			break;
		}
		if (ended || (L.lineno == 1 && strcmp(line, MANIFEST_MAGIC)))
			rc = lines_bad(&L);
		else if (!is_entry_line(line, l))
			rc = end_line(&L, line, entries, &ended);
		else if (mbi_manifest_parse_entry(line, &e))
			rc = lines_bad(&L);
		else if (!(rc = fn(ud, &e)))
			entries++;
	}
	lines_close(&L);
	return rc;
}

/* Whether the compressed plaintext z is a format-2 root: its first line. */
bool mbi_manifest_z_is_v2(struct mb_ctx *ctx, const unsigned char *z,
			  size_t zlen, const char *what)
{
	struct lines L;
	char *line;
	size_t l;
	bool v2 = false;

	if (!lines_open(&L, ctx, what, NULL, 0, z, zlen)) {
		v2 = lines_next(&L, &line, &l) > 0 &&
		     !strcmp(line, "mailbackup-manifest 2");
		lines_close(&L);
	}
	return v2;
}

bool mbi_snapshot_host_valid(const char *h)
{
	size_t n = strlen(h);

	return n >= 1 && n <= 100 &&
	       strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789._-") == n;
}

int mbi_snapshot_name_parse(const char *name, struct mb_snapshot_info *out)
{
	enum { T = MBI_SNAPSHOT_TIME_LEN, I = MBI_SNAPSHOT_ID_LEN };
	struct mb_snapshot_info si;
	size_t len = strlen(name), hl;
	char ts[MBI_SNAPSHOT_TIME_LEN + 1], back[32];

	memset(&si, 0, sizeof(si));
	/* time + '-' + host + '-' + id */
	if (len < T + 1 + 1 + 1 + I || len >= sizeof(si.name) ||
	    name[T] != '-' || name[len - I - 1] != '-')
		return MB_E_INVAL;
	memcpy(ts, name, T);
	ts[T] = '\0';
	/* only the canonical form: strptime would take "2026 1 1T..." too */
	if (strspn(ts, "0123456789") != 8 || ts[8] != 'T' ||
	    strspn(ts + 9, "0123456789") != 6 || ts[15] != 'Z' ||
	    mbi_time_parse(ts, &si.time))
		return MB_E_INVAL;
	mbi_time_format(si.time, back, sizeof(back), true);
	if (strcmp(back, ts))
		return MB_E_INVAL;
	if (strspn(name + len - I, "0123456789abcdef") != I)
		return MB_E_INVAL;
	memcpy(si.id, name + len - I, I);
	hl = len - T - 1 - I - 1;
	if (hl >= sizeof(si.host))
		return MB_E_INVAL;
	memcpy(si.host, name + T + 1, hl);
	if (!mbi_snapshot_host_valid(si.host))
		return MB_E_INVAL;
	memcpy(si.name, name, len + 1);
	*out = si;
	return MB_OK;
}

int mbi_snapshot_name_verify(struct mb_ctx *ctx, const char *name,
			     const struct mbi_manifest *m)
{
	struct mb_snapshot_info si;
	char t[32];

	if (mbi_snapshot_name_parse(name, &si))
		return mbi_error(ctx, MB_E_VERIFY, 0,
				 "snapshot object 'snapshots/%s' has no valid name",
				 name);
	mbi_time_format(m->time, t, sizeof(t), true);
	if (strcmp(si.id, m->id) || strcmp(si.host, m->host) ||
	    si.time != m->time)
		return mbi_error(ctx, MB_E_VERIFY, 0,
				 "snapshot object 'snapshots/%s' is named unlike its signed manifest (%s-%s-%s): it was renamed; remove the object or rename it back",
				 name, t, m->host, m->id);
	return MB_OK;
}

void mbi_snapshot_resolved_free(struct mbi_repo *r)
{
	if (r->resolved) {
		mbi_manifest_release(r->resolved);
		free(r->resolved);
		r->resolved = NULL;
	}
}
