/* SPDX-License-Identifier: MIT */
/* manifest.c: the snapshot's list of entries: text format, parsing, loading. */
#include "mb-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

#define MANIFEST_MAGIC "mailbackup-manifest 1"
#define MANIFEST_MAX (4ULL << 30)

int mbi_manifest_format_entry(struct mbi_buf *b, const struct mbi_mentry *e)
{
	char hex[MBI_SHA256_HEX] = "-";
	int rc;

	if (e->has_sha)
		mbi_hex(e->sha, MBI_SHA256_LEN, hex);
	rc = mbi_buf_printf(b, "e %s %c %o %u %u %lld %llu %s ", e->source,
			    e->type, e->mode, e->uid, e->gid,
			    (long long)e->mtime_ns,
			    (unsigned long long)e->size, hex);
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
	free(m->text);
	free(m->sources);
	free(m->dbs);
	free(m->meta);
	memset(m, 0, sizeof(*m));
}

static void *grow_array(void *p, size_t n, size_t size)
{
	/* grow at powers of two */
	if (n & (n - 1))
		return p;
	return realloc(p, (n ? n * 2 : 1) * size);
}

/* Parse header, db and meta lines; entries are counted and left in place. */
int mbi_manifest_parse(struct mb_ctx *ctx, char *text, size_t len,
		       struct mbi_manifest *m, const char *what)
{
	char *p = text, *end = text + len;
	size_t lineno = 0, entries = 0;
	bool ended = false, have_id = false;
	char *linebuf = NULL;
	size_t linecap = 0;

	memset(m, 0, sizeof(*m));
	m->text = text;
	m->len = len;
	if (memchr(text, '\0', len))
		goto bad;
	/* a manifest is parsed once: the text is cut up in place */
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *s, *f;

		lineno++;
		if (!nl || ended)
			goto bad;
		*nl = '\0';
		if (lineno == 1) {
			if (strcmp(p, MANIFEST_MAGIC))
				goto bad;
		} else if (p[0] == 'e' && p[1] == ' ') {
			struct mbi_mentry e;
			size_t l = (size_t)(nl - p);

			if (l + 1 > linecap) {
				char *nb = realloc(linebuf, l + 1);

				if (!nb)
					goto nomem;
				linebuf = nb;
				linecap = l + 1;
			}
			memcpy(linebuf, p, l + 1);
			if (mbi_manifest_parse_entry(linebuf, &e))
				goto bad;
			entries++;
		} else {
			s = p;
			f = field(&s);
			if (!strcmp(f, "id")) {
				f = field(&s);
				if (!f || s || strlen(f) != 16)
					goto bad;
				memcpy(m->id, f, 17);
				have_id = true;
			} else if (!strcmp(f, "time")) {
				unsigned long long t;

				if (parse_u64(field(&s), 10, INT64_MAX, &t) || s)
					goto bad;
				m->time = (int64_t)t;
			} else if (!strcmp(f, "host")) {
				f = field(&s);
				if (!f || s || strlen(f) >= sizeof(m->host))
					goto bad;
				memcpy(m->host, f, strlen(f) + 1);
			} else if (!strcmp(f, "source")) {
				void *g = grow_array(m->sources, m->nsources,
						     sizeof(*m->sources));

				if (!g)
					goto nomem;
				m->sources = g;
				m->sources[m->nsources].name = field(&s);
				m->sources[m->nsources].type = field(&s);
				m->sources[m->nsources].path = field(&s);
				if (!m->sources[m->nsources].path || s ||
				    mbi_unescape(m->sources[m->nsources].path) < 0)
					goto bad;
				m->nsources++;
			} else if (!strcmp(f, "db")) {
				struct mbi_mdb *d;
				unsigned long long rows;
				void *g = grow_array(m->dbs, m->ndbs,
						     sizeof(*m->dbs));

				if (!g)
					goto nomem;
				m->dbs = g;
				d = &m->dbs[m->ndbs];
				d->source = field(&s);
				d->db = field(&s);
				d->table = field(&s);
				if (parse_u64(field(&s), 10, UINT64_MAX, &rows))
					goto bad;
				d->rows = rows;
				d->checksum = field(&s);
				if (!d->checksum || s ||
				    mbi_unescape(d->db) < 0 ||
				    mbi_unescape(d->table) < 0)
					goto bad;
				m->ndbs++;
			} else if (!strcmp(f, "meta")) {
				void *g = grow_array(m->meta, m->nmeta,
						     sizeof(*m->meta));

				if (!g)
					goto nomem;
				m->meta = g;
				m->meta[m->nmeta].source = field(&s);
				m->meta[m->nmeta].key = field(&s);
				m->meta[m->nmeta].value = field(&s);
				if (!m->meta[m->nmeta].value || s ||
				    mbi_unescape(m->meta[m->nmeta].value) < 0)
					goto bad;
				m->nmeta++;
			} else if (!strcmp(f, "end")) {
				unsigned long long n;

				if (parse_u64(field(&s), 10, UINT64_MAX, &n) ||
				    s || n != entries)
					goto bad;
				ended = true;
			} else {
				goto bad;
			}
			/* the fields of this line point into it: keep the
			 * NUL that ends the last one */
			p = nl + 1;
			continue;
		}
		*nl = '\n';
		p = nl + 1;
	}
	if (!ended || !have_id)
		goto bad;
	free(linebuf);
	m->nentries = entries;
	return MB_OK;
nomem:
	free(linebuf);
	m->text = NULL;
	mbi_manifest_release(m);
	return MB_E_NOMEM;
bad:
	free(linebuf);
	m->text = NULL;
	mbi_manifest_release(m);
	return mbi_error(ctx, MB_E_VERIFY, 0,
			 "manifest '%s' is malformed at line %zu", what,
			 lineno);
}

int mbi_manifest_foreach(struct mb_ctx *ctx, const struct mbi_manifest *m,
			 mbi_mentry_fn fn, void *ud)
{
	const char *p = m->text, *end = m->text + m->len;
	char *line = NULL;
	size_t cap = 0;
	int rc = MB_OK;

	while (!rc && p < end) {
		/* header lines were cut at their end with a NUL by parse */
		size_t l = 0;
		struct mbi_mentry e;

		while (p + l < end && p[l] != '\n' && p[l] != '\0')
			l++;

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

int mbi_manifest_load(struct mbi_repo *r, const char *name,
		      struct mbi_manifest *m)
{
	char *key = mbi_asprintf("snapshots/%s", name);
	struct mbi_buf z = { 0 }, plain = { 0 };
	uint64_t size;
	int fd, rc;

	if (!key)
		return MB_E_NOMEM;
	rc = r->store->ops->get(r->store, key, &fd, &size);
	if (!rc) {
		rc = mbi_crypt_decrypt_buf(r->crypt, fd, &z, true, key);
		close(fd);
	}
	if (!rc)
		rc = mbi_zstd_decompress_buf(r->ctx, z.data, z.len, &plain,
					     MANIFEST_MAX, key);
	mbi_buf_release(&z);
	if (!rc) {
		rc = mbi_manifest_parse(r->ctx, plain.data, plain.len, m, key);
		if (!rc)
			plain.data = NULL; /* owned by m */
	}
	mbi_buf_release(&plain);
	if (!rc && strstr(name, m->id) == NULL) {
		mbi_manifest_release(m);
		rc = mbi_error(r->ctx, MB_E_VERIFY, 0,
			       "manifest '%s' carries another snapshot's id",
			       key);
	}
	free(key);
	return rc;
}
