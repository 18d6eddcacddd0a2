/* SPDX-License-Identifier: MIT */
/* repo/manifest.c: a snapshot: its object name (time-host-id) and its manifest,
 * the list of entries (text format, parsing, loading). */
#include "mb-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Parse header, db and meta lines and check every entry line. */
int mbi_manifest_parse(struct mb_ctx *ctx, char *text, size_t len,
		       struct mbi_manifest *m, const char *what)
{
	const char *p = text, *end = text + len;
	size_t lineno = 0, entries = 0;
	bool ended = false, have_id = false;
	char *linebuf = NULL;
	size_t linecap = 0;
	int rc = MB_OK;

	memset(m, 0, sizeof(*m));
	if (memchr(text, '\0', len))
		goto bad;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l;

		lineno++;
		if (!nl || ended)
			goto bad;
		l = (size_t)(nl - p);
		if (l > MBI_META_LINE_MAX)
			goto bad;
		if (lineno == 1) {
			if (l != strlen(MANIFEST_MAGIC) ||
			    memcmp(p, MANIFEST_MAGIC, l))
				goto bad;
		} else if (l > 2 && p[0] == 'e' && p[1] == ' ') {
			struct mbi_mentry e;

			if (l + 1 > linecap) {
				char *nb = realloc(linebuf, l + 1);

				if (!nb) {
					rc = MB_E_NOMEM;
					goto fail;
				}
				linebuf = nb;
				linecap = l + 1;
			}
			memcpy(linebuf, p, l);
			linebuf[l] = '\0';
			if (mbi_manifest_parse_entry(linebuf, &e))
				goto bad;
			entries++;
		} else {
			rc = header_line(m, p, l, &entries, &ended, &have_id);
			if (rc == MB_E_NOMEM)
				goto fail;
			if (rc)
				goto bad;
		}
		p = nl + 1;
	}
	if (!ended || !have_id)
		goto bad;
	free(linebuf);
	m->text = text;
	m->len = len;
	m->nentries = entries;
	return MB_OK;
bad:
	rc = mbi_error(ctx, MB_E_VERIFY, 0,
		       "manifest '%s' is malformed at line %zu", what, lineno);
fail:
	free(linebuf);
	mbi_manifest_release(m);
	return rc;
}

int mbi_manifest_foreach(struct mb_ctx *ctx, const struct mbi_manifest *m,
			 mbi_mentry_fn fn, void *ud)
{
	const char *p = m->text, *end = m->text + m->len;
	char *line = NULL;
	size_t cap = 0;
	int rc = MB_OK;

	while (!rc && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct mbi_mentry e;

		if (l > 2 && p[0] == 'e' && p[1] == ' ') {
			if (l + 1 > cap) {
				char *nb = realloc(line, l + 1);

				if (!nb) {
					rc = MB_E_NOMEM;
					break;
				}
				line = nb;
				cap = l + 1;
			}
			memcpy(line, p, l);
			line[l] = '\0';
			if (mbi_manifest_parse_entry(line, &e))
				rc = mbi_error(ctx, MB_E_VERIFY, 0,
					       "manifest entry is malformed");
			else
				rc = fn(ud, &e);
		}
		p += l + 1;
	}
	free(line);
	return rc;
}

int mbi_manifest_parse_repo(struct mbi_repo *r, struct mbi_buf *plain,
			    struct mbi_manifest *m, const char *what)
{
	struct mbi_buf ids = { 0 };
	int rc = MB_OK;

	if (mbi_manifest_is_v2(plain->data, plain->len)) {
		/* format 2: the same entries, from the listings */
		struct mbi_buf v1 = { 0 };

		rc = mbi_listing_expand_repo(r, plain->data, plain->len, &v1,
					     &ids, what);
		mbi_buf_release(plain);
		*plain = v1;
	}
	if (!rc)
		rc = mbi_manifest_parse(r->ctx, plain->data, plain->len, m,
					what);
	if (!rc) {
		memset(plain, 0, sizeof(*plain)); /* owned by m */
		m->listing_ids = (unsigned char *)ids.data;
		m->nlisting_ids = ids.len / MBI_SHA256_LEN;
		ids.data = NULL;
	}
	mbi_buf_release(&ids);
	return rc;
}

int mbi_manifest_load_raw(struct mbi_repo *r, const char *name,
			  struct mbi_manifest *m)
{
	char *key = mbi_asprintf("snapshots/%s", name);
	struct mbi_buf plain = { 0 };
	int rc;

	if (!key)
		return MB_E_NOMEM;
	rc = mbi_repo_get_meta(r, key, MBI_MANIFEST_MAX, &plain);
	if (!rc)
		rc = mbi_manifest_parse_repo(r, &plain, m, key);
	mbi_buf_release(&plain);
	free(key);
	return rc;
}

int mbi_manifest_load(struct mbi_repo *r, const char *name,
		      struct mbi_manifest *m)
{
	int rc;

	/* resolved and checked a moment ago: the same bytes, not a refetch */
	if (r->resolved && !mbi_snapshot_name_verify(r->ctx, name,
						     r->resolved)) {
		*m = *r->resolved;
		free(r->resolved);
		r->resolved = NULL;
		return MB_OK;
	}
	mbi_snapshot_resolved_free(r);
	rc = mbi_manifest_load_raw(r, name, m);
	if (rc)
		return rc;
	/* the name is not signed: it must say what the manifest says */
	rc = mbi_snapshot_name_verify(r->ctx, name, m);
	if (rc)
		mbi_manifest_release(m);
	return rc;
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
