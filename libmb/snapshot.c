/* SPDX-License-Identifier: MIT */
/* snapshot.c: snapshot object names, listing and resolving "latest"/ids. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

#include "banned.h"

int mbi_snapshot_name_parse(const char *name, struct mb_snapshot_info *out)
{
	enum { T = MBI_SNAPSHOT_TIME_LEN, I = MBI_SNAPSHOT_ID_LEN };
	struct mb_snapshot_info si;
	size_t len = strlen(name), hl;
	char ts[MBI_SNAPSHOT_TIME_LEN + 1];

	memset(&si, 0, sizeof(si));
	/* time + '-' + host + '-' + id */
	if (len < T + 1 + 1 + 1 + I || len >= sizeof(si.name) ||
	    name[T] != '-' || name[len - I - 1] != '-')
		return MB_E_INVAL;
	memcpy(ts, name, T);
	ts[T] = '\0';
	if (mbi_time_parse(ts, &si.time))
		return MB_E_INVAL;
	if (strspn(name + len - I, "0123456789abcdef") != I)
		return MB_E_INVAL;
	memcpy(si.id, name + len - I, I);
	hl = len - T - 1 - I - 1;
	if (hl >= sizeof(si.host))
		return MB_E_INVAL;
	memcpy(si.host, name + T + 1, hl);
	memcpy(si.name, name, len + 1);
	*out = si;
	return MB_OK;
}

struct snap_acc {
	struct mb_snapshot_info *v;
	size_t n, cap;
	struct mb_ctx *ctx;
};

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
		mbi_log(a->ctx, MB_LOG_WARNING,
			"ignoring '%s': not a snapshot name", key);
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
	int rc = r->store->ops->list(r->store, "snapshots/", add_snap, &a);

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

int mbi_snapshot_resolve(struct mbi_repo *r, const char *spec,
			 struct mb_snapshot_info *out)
{
	struct mb_snapshot_info *v;
	size_t n, i, found = 0, at = 0;
	int rc = mbi_snapshots_list(r, &v, &n);

	if (rc)
		return rc;
	if (!strcmp(spec, "latest")) {
		if (n) {
			found = 1;
			at = n - 1;
		}
	} else if (*spec) {
		for (i = 0; i < n; i++)
			if (!strncmp(v[i].id, spec, strlen(spec)) ||
			    !strcmp(v[i].name, spec)) {
				found++;
				at = i;
			}
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
