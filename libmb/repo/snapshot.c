/* SPDX-License-Identifier: MIT */
/* repo/snapshot.c: loading a snapshot (either format), snapshot object
 * names, listing and resolving "latest", dates and ids. */
#include "mb-private.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"

/* "2026-12-01", "2026-12-01T18:00", "2026-12-01T18:00:00", each with an
 * optional "Z": the last second of the day, minute or second given. */
int mbi_snapshot_time_spec(const char *s, int64_t *out)
{
	static const char *const forms[] = { "%Y-%m-%dT%H:%M:%S",
					     "%Y-%m-%dT%H:%M", "%Y-%m-%d" };
	static const int64_t span[] = { 0, 59, 86399 };
	static const size_t lens[] = { 19, 16, 10 };
	size_t len = strlen(s), i;
	char buf[32], back[32];
	struct tm tm;
	int64_t t;

	if (len && s[len - 1] == 'Z')
		len--;
	if (len >= sizeof(buf))
		return MB_E_INVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		const char *end;

		if (len != lens[i])
			continue;
		memset(&tm, 0, sizeof(tm));
		end = strptime(buf, forms[i], &tm);
		if (!end || *end || strspn(buf, "0123456789") != 4)
			return MB_E_INVAL;
		t = (int64_t)timegm(&tm);
		/* refuse what timegm would normalize: 2026-02-30 */
		mbi_time_format(t, back, sizeof(back), false);
		if (strncmp(back, buf, len))
			return MB_E_INVAL;
		*out = t + span[i];
		return MB_OK;
	}
	return MB_E_INVAL;
}

struct snap_acc {
	struct mb_snapshot_info *v;
	size_t n, cap;
	struct mb_ctx *ctx;
};

/* ------------------------------------------------- loading a snapshot */

/* A snapshot's manifest, of either format: here, above both the manifest
 * parser and the listings (a format-2 root is expanded into the entries
 * of a format-1 manifest), so that neither calls the other back. */

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

int mbi_manifest_parse_repo_z(struct mbi_repo *r, struct mbi_buf *z,
			      struct mbi_manifest *m, const char *what)
{
	struct mbi_buf plain = { 0 }, zz = { 0 }, ids = { 0 };
	int rc;

	if (!mbi_manifest_z_is_v2(r->ctx, (unsigned char *)z->data, z->len,
				  what)) {
		rc = mbi_manifest_parse_z(r->ctx, (unsigned char *)z->data,
					  z->len, m, what);
		if (!rc)
			z->data = NULL; /* owned by m */
		return rc;
	}
	/* format 2: the root is small; its listings expand into format 1's
	 * text, compressed as it is made and kept compressed like a
	 * format-1 manifest (never whole in memory) */
	rc = mbi_zstd_decompress_buf(r->ctx, z->data, z->len, &plain,
				     MBI_MANIFEST_MAX, what);
	if (!rc)
		rc = mbi_listing_expand_repo_z(r, plain.data, plain.len, &zz,
					       &ids, what);
	mbi_buf_release(&plain);
	if (!rc)
		rc = mbi_manifest_parse_z(r->ctx, (unsigned char *)zz.data,
					  zz.len, m, what);
	if (!rc) {
		zz.data = NULL; /* owned by m */
		m->listing_ids = (unsigned char *)ids.data;
		m->nlisting_ids = ids.len / MBI_SHA256_LEN;
		ids.data = NULL;
	}
	mbi_buf_release(&zz);
	mbi_buf_release(&ids);
	return rc;
}

int mbi_manifest_load_raw(struct mbi_repo *r, const char *name,
			  struct mbi_manifest *m)
{
	char *key = mbi_asprintf("snapshots/%s", name);
	struct mbi_buf z = { 0 };
	int rc;

	if (!key)
		return MB_E_NOMEM;
	/* kept compressed: foreach decompresses it as it reads */
	rc = mbi_repo_get_meta_z(r, key, MBI_MANIFEST_MAX, &z);
	if (!rc)
		rc = mbi_manifest_parse_repo_z(r, &z, m, key);
	mbi_buf_release(&z);
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

/* ------------------------------------------------------ listing them */

static int add_snap(void *ud, const char *key, uint64_t size)
{
	struct snap_acc *a = ud;
	const char *base = key + strlen("snapshots/");

	(void)size;
	if (strchr(base, '/'))
		return MB_OK;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		void *nv = realloc(a->v, cap * sizeof(*a->v));

		if (!nv)
			return MB_E_NOMEM;
		a->v = nv;
		a->cap = cap;
	}
	if (mbi_snapshot_name_parse(base, &a->v[a->n])) {
		/* the name is the storage's: the CLI escapes its control
		 * bytes where it prints messages, like every name */
		mbi_log(a->ctx, MB_LOG_WARNING,
			"ignoring '%s': not a snapshot name (time-host-id, the host of letters, digits, '.', '_' or '-')",
			key);
		return MB_OK;
	}
	a->n++;
	return MB_OK;
}

static int cmp_snap(const void *x, const void *y)
{
	const struct mb_snapshot_info *a = x, *b = y;

	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	return strcmp(a->name, b->name);
}

int mbi_snapshots_list(struct mbi_repo *r, struct mb_snapshot_info **out,
		       size_t *n)
{
	struct snap_acc a = { .ctx = r->ctx };
	int rc = mbi_store_list(r->store, "snapshots/", add_snap, &a);

	if (rc) {
		free(a.v);
		return rc;
	}
	if (a.n)
		qsort(a.v, a.n, sizeof(*a.v), cmp_snap);
	*out = a.v;
	*n = a.n;
	return MB_OK;
}

/* The host whose snapshots "latest" and dates pick; NULL for any. By
 * default this host; but a machine that holds none (a fresh one after a
 * disaster, under another name) takes the only host there is. Among
 * several it refuses to guess. */
static int selected_host(struct mb_ctx *ctx, const char *spec,
			 const struct mb_snapshot_info *v, size_t n,
			 const char **out)
{
	const char *me = ctx->cfg && ctx->cfg->host ? ctx->cfg->host : NULL;
	size_t i;

	*out = NULL;
	if (!strcmp(ctx->snap_host, "all"))
		return MB_OK;
	if (*ctx->snap_host || !me) {
		*out = *ctx->snap_host ? ctx->snap_host : me;
		return MB_OK;
	}
	for (i = 0; i < n && strcmp(v[i].host, me); i++)
		;
	if (i < n) {
		*out = me;
		return MB_OK;
	}
	for (i = 1; i < n && !strcmp(v[i].host, v[0].host); i++)
		;
	if (i < n)
		return mbi_error(ctx, MB_E_NOTFOUND, 0,
				 "no snapshot of host '%s' for '%s', and the repository holds several hosts' ('%s', '%s', ...): pass --host NAME or --host all",
				 me, spec, v[0].host, v[i].host);
	mbi_log(ctx, MB_LOG_INFO,
		"no snapshot of host '%s': using those of host '%s', the only one in the repository",
		me, v[0].host);
	*out = v[0].host;
	return MB_OK;
}

/* Whether snapshot v's name matches its signed manifest: 1 yes, 0 no (a
 * warning names it), or a negative error of reading the manifest. */
static int name_matches(struct mbi_repo *r, const struct mb_snapshot_info *v,
			const char *spec)
{
	struct mbi_manifest m;
	int rc = mbi_manifest_load_raw(r, v->name, &m);

	if (rc)
		return rc;
	rc = mbi_snapshot_name_verify(r->ctx, v->name, &m);
	if (!rc) {
		/* kept for the reader that asked, so it is read once */
		mbi_snapshot_resolved_free(r);
		r->resolved = malloc(sizeof(*r->resolved));
		r->resolved_free = mbi_snapshot_resolved_free;
		if (r->resolved)
			*r->resolved = m;
		else
			mbi_manifest_release(&m);
		return 1;
	}
	mbi_manifest_release(&m);
	mbi_log(r->ctx, MB_LOG_WARNING, "%s; not taken for '%s'",
		mb_ctx_errmsg(r->ctx), spec);
	return 0;
}

/* The newest snapshot of the selected host at or before until whose name
 * its manifest confirms. */
static int pick_by_time(struct mbi_repo *r, const char *spec, int64_t until,
			struct mb_snapshot_info *v, size_t n,
			struct mb_snapshot_info *out)
{
	const char *host;
	size_t i, of_host = 0, first = n, skipped = 0;
	int64_t now = (int64_t)time(NULL);
	char t[32];
	int rc;

	if (!n)
		return mbi_error(r->ctx, MB_E_NOTFOUND, 0,
				 "no snapshot for '%s': the repository has none",
				 spec);
	if ((rc = selected_host(r->ctx, spec, v, n, &host)))
		return rc;
	for (i = n; i-- > 0;) {
		if (host && strcmp(v[i].host, host))
			continue;
		of_host++;
		first = i;
		if (v[i].time > until)
			continue;
		if (v[i].time > now + MBI_CLOCK_TOLERANCE) {
			mbi_log(r->ctx, MB_LOG_WARNING,
				"snapshot '%s' is dated more than a day ahead of this host's clock; not taken for '%s'",
				v[i].name, spec);
			skipped++;
			continue;
		}
		rc = name_matches(r, &v[i], spec);
		if (rc < 0)
			return rc;
		if (rc) {
			*out = v[i];
			return MB_OK;
		}
		skipped++;
	}
	if (!of_host)
		return mbi_error(r->ctx, MB_E_NOTFOUND, 0,
				 "no snapshot of host '%s' for '%s': pass --host all or --host NAME for another host's",
				 host ? host : "all", spec);
	mbi_time_format(until, t, sizeof(t), false);
	if (v[first].time > until && !skipped) {
		char t0[32];

		mbi_time_format(v[first].time, t0, sizeof(t0), false);
		return mbi_error(r->ctx, MB_E_NOTFOUND, 0,
				 "no snapshot%s%s%s at or before %s: the first is at %s",
				 host ? " of host '" : "", host ? host : "",
				 host ? "'" : "", t, t0);
	}
	return mbi_error(r->ctx, MB_E_VERIFY, 0,
			 "no snapshot for '%s' whose name matches its manifest and whose time is not in the future: see the warnings and run 'mailbackup check'",
			 spec);
}

int mbi_snapshot_resolve(struct mbi_repo *r, const char *spec,
			 struct mb_snapshot_info *out)
{
	struct mb_snapshot_info *v;
	size_t n, i, found = 0, at = 0;
	int64_t until;
	int rc;

	if (!strcmp(spec, "latest"))
		until = INT64_MAX;
	else if (mbi_snapshot_time_spec(spec, &until) == MB_OK)
		;
	else if (strchr(spec, ':') ||
		 (strspn(spec, "0123456789") == 4 && spec[4] == '-'))
		/* meant as a date ("2026-12", "2026-12-01 18:00"): names
		 * start with 8 digits, ids are hex */
		return mbi_error(r->ctx, MB_E_INVAL, 0,
				 "bad snapshot time '%s': use YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS[Z] (UTC)",
				 spec);
	else
		until = -1;
	if ((rc = mbi_snapshots_list(r, &v, &n)))
		return rc;
	if (until >= 0) {
		rc = pick_by_time(r, spec, until, v, n, out);
		free(v);
		return rc;
	}
	for (i = 0; *spec && i < n; i++)
		if (!strncmp(v[i].id, spec, strlen(spec)) ||
		    !strcmp(v[i].name, spec)) {
			found++;
			at = i;
		}
	if (found == 1)
		*out = v[at];
	free(v);
	if (found > 1)
		return mbi_error(r->ctx, MB_E_INVAL, 0,
				 "snapshot id prefix '%s' is ambiguous: give more digits",
				 spec);
	if (!found)
		return mbi_error(r->ctx, MB_E_NOTFOUND, 0,
				 "no snapshot '%s': list them with 'mailbackup snapshots'",
				 spec);
	return MB_OK;
}

int mb_ctx_set_snapshot_host(struct mb_ctx *ctx, const char *host)
{
	if (!host || !*host || !strcmp(host, "all")) {
		snprintf(ctx->snap_host, sizeof(ctx->snap_host), "%s",
			 host ? host : "");
		return MB_OK;
	}
	if (!mbi_snapshot_host_valid(host))
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "bad host '%s': a host is 1 to 100 letters, digits, '.', '_' or '-', or 'all'",
				 host);
	snprintf(ctx->snap_host, sizeof(ctx->snap_host), "%s", host);
	return MB_OK;
}

int mb_snapshots(struct mb_ctx *ctx, struct mb_snapshot_info **out, size_t *n)
{
	struct mbi_repo *r;
	int rc = mbi_repo_open(ctx, &r);

	if (rc)
		return mbi_status(ctx, rc);
	rc = mbi_snapshots_list(r, out, n);
	mbi_repo_close(r);
	return mbi_status(ctx, rc);
}

int mb_snapshot_find(struct mb_ctx *ctx, const char *spec,
		     struct mb_snapshot_info *out)
{
	struct mbi_repo *r;
	int rc = mbi_repo_open(ctx, &r);

	if (rc)
		return mbi_status(ctx, rc);
	rc = mbi_snapshot_resolve(r, spec, out);
	mbi_repo_close(r);
	return mbi_status(ctx, rc);
}

struct ls_ctx {
	const char *prefix;
	mb_entry_fn fn;
	void *ud;
	char *full;
	size_t cap;
	uint64_t n;            /* entries passed to fn */
};

static int ls_one(void *ud, struct mbi_mentry *e)
{
	struct ls_ctx *l = ud;
	struct mb_entry pe;
	char hex[MBI_SHA256_HEX];

	if (l->prefix) {
		size_t sl = strlen(e->source), pl = strlen(l->prefix);
		size_t need = sl + 1 + strlen(e->path) + 1;

		if (need > l->cap) {
			char *nb = realloc(l->full, need);

			if (!nb)
				return MB_E_NOMEM;
			l->full = nb;
			l->cap = need;
		}
		memcpy(l->full, e->source, sl);
		l->full[sl] = '/';
		memcpy(l->full + sl + 1, e->path, strlen(e->path) + 1);
		if (!(!strcmp(l->prefix, e->source) ||
		      (!strncmp(l->full, l->prefix, pl) &&
		       (l->full[pl] == '\0' || l->full[pl] == '/' ||
			l->prefix[pl - 1] == '/'))))
			return MB_OK;
	}
	memset(&pe, 0, sizeof(pe));
	pe.source = e->source;
	pe.path = e->path;
	pe.link = e->link;
	pe.type = e->type;
	pe.mode = e->mode;
	pe.uid = e->uid;
	pe.gid = e->gid;
	pe.mtime_ns = e->mtime_ns;
	pe.size = e->size;
	if (e->has_sha) {
		mbi_hex(e->sha, MBI_SHA256_LEN, hex);
		pe.sha256 = hex;
	}
	l->n++;
	return l->fn(l->ud, &pe);
}

int mb_ls(struct mb_ctx *ctx, const char *spec, const char *prefix,
	  mb_entry_fn fn, void *userdata)
{
	struct mbi_repo *r;
	struct mb_snapshot_info si;
	struct mbi_manifest m;
	struct ls_ctx l = { prefix && *prefix ? prefix : NULL, fn, userdata,
			    NULL, 0, 0 };
	int rc = mbi_repo_open(ctx, &r);

	if (rc)
		return mbi_status(ctx, rc);
	rc = mbi_snapshot_resolve(r, spec, &si);
	if (!rc)
		rc = mbi_manifest_load(r, si.name, &m);
	if (!rc) {
		rc = mbi_manifest_foreach(ctx, &m, ls_one, &l);
		mbi_manifest_release(&m);
	}
	if (!rc && l.prefix && !l.n)
		rc = mbi_error(ctx, MB_E_NOTFOUND, 0,
			       "nothing in snapshot '%s' is at or under '%s'",
			       si.id, l.prefix);
	free(l.full);
	mbi_repo_close(r);
	return mbi_status(ctx, rc);
}
