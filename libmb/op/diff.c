/* SPDX-License-Identifier: MIT */
/* op/diff.c: what changed between two snapshots, per source and per mailbox,
 * with Maildir flag changes as such. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

#include "banned.h"

#define NONE SIZE_MAX

/* An entry of one snapshot; strings are offsets into the side's arena. */
struct dent {
	size_t source, path, link;
	char type;
	bool has_sha;
	uint32_t mode, uid, gid;
	uint64_t size;
	unsigned char sha[MBI_SHA256_LEN];
};

struct side {
	struct mbi_buf arena;
	struct dent *v;
	size_t n, cap;
	/* the sources of the header: "name\0type\0" pairs */
	struct mbi_buf sources;
};

/* A difference: kind '+', '-', 'M', 'F', or 0 once merged into an 'F'. */
struct rec {
	char kind;
	size_t ia, ib;
};

static void side_release(struct side *s)
{
	mbi_buf_release(&s->arena);
	mbi_buf_release(&s->sources);
	free(s->v);
}

static int arena_add(struct mbi_buf *a, const char *s, size_t *off)
{
	*off = a->len;
	return mbi_buf_add(a, s, strlen(s) + 1);
}

static int collect(void *ud, struct mbi_mentry *e)
{
	struct side *s = ud;
	struct dent *d;
	int rc;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		struct dent *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return MB_E_NOMEM;
		s->v = nv;
		s->cap = cap;
	}
	d = &s->v[s->n];
	memset(d, 0, sizeof(*d));
	d->link = NONE;
	/* entries come grouped by source: store its name once per run */
	if (s->n && !strcmp(s->arena.data + d[-1].source, e->source))
		d->source = d[-1].source;
	else if ((rc = arena_add(&s->arena, e->source, &d->source)))
		return rc;
	if ((rc = arena_add(&s->arena, e->path, &d->path)) ||
	    (e->link && (rc = arena_add(&s->arena, e->link, &d->link))))
		return rc;
	d->type = e->type;
	d->has_sha = e->has_sha;
	d->mode = e->mode;
	d->uid = e->uid;
	d->gid = e->gid;
	d->size = e->size;
	memcpy(d->sha, e->sha, MBI_SHA256_LEN);
	s->n++;
	return MB_OK;
}

static int cmp_dent(const void *x, const void *y, void *arg)
{
	const struct dent *a = x, *b = y;
	const char *base = arg;
	int d = strcmp(base + a->source, base + b->source);

	return d ? d : strcmp(base + a->path, base + b->path);
}

static int load_side(struct mbi_repo *r, const char *spec, struct side *s,
		     char id[MB_SNAPSHOT_ID_SIZE])
{
	struct mb_snapshot_info si;
	struct mbi_manifest m;
	size_t i;
	int rc;

	if ((rc = mbi_snapshot_resolve(r, spec, &si)) ||
	    (rc = mbi_manifest_load(r, si.name, &m)))
		return rc;
	memcpy(id, m.id, 17);
	rc = mbi_manifest_foreach(r->ctx, &m, collect, s);
	for (i = 0; !rc && i < m.nsources; i++)
		if (!(rc = mbi_buf_add(&s->sources, m.sources[i].name,
				       strlen(m.sources[i].name) + 1)))
			rc = mbi_buf_add(&s->sources, m.sources[i].type,
					 strlen(m.sources[i].type) + 1);
	mbi_manifest_release(&m);
	if (!rc && s->n)
		qsort_r(s->v, s->n, sizeof(*s->v), cmp_dent, s->arena.data);
	return rc;
}

/* The type of source name in a side's header, or NULL. */
static const char *source_type(const struct side *s, const char *name)
{
	const char *p = s->sources.data, *end = p ? p + s->sources.len : NULL;

	while (p && p < end) {
		const char *type = p + strlen(p) + 1;

		if (!strcmp(p, name))
			return type;
		p = type + strlen(type) + 1;
	}
	return NULL;
}

static bool differs(const struct side *sa, const struct dent *a,
		    const struct side *sb, const struct dent *b)
{
	if (a->type != b->type || a->mode != b->mode || a->uid != b->uid ||
	    a->gid != b->gid)
		return true;
	if (a->type == 'f')
		return a->size != b->size ||
		       memcmp(a->sha, b->sha, MBI_SHA256_LEN);
	if (a->type == 'l')
		return (a->link == NONE) != (b->link == NONE) ||
		       (a->link != NONE &&
			strcmp(sa->arena.data + a->link,
			       sb->arena.data + b->link));
	return false;
}

/*
 * A Maildir message: .../cur/NAME or .../new/NAME. *folder_len is the
 * length of the folder's path (up to cur/new), *uniq the unique part of the
 * name (before ":2,", where the flags start) and *uniq_len its length.
 */
static bool maildir_msg(const char *path, size_t *folder_len,
			const char **uniq, size_t *uniq_len)
{
	const char *slash = strrchr(path, '/'), *flags;
	size_t dl;

	if (!slash || slash - path < 3)
		return false;
	dl = (size_t)(slash - path);
	if (strncmp(slash - 3, "cur", 3) && strncmp(slash - 3, "new", 3))
		return false;
	if (dl > 3 && slash[-4] != '/')
		return false;
	*folder_len = dl - 3;
	*uniq = slash + 1;
	flags = strstr(*uniq, ":2,");
	*uniq_len = flags ? (size_t)(flags - *uniq) : strlen(*uniq);
	return *uniq_len > 0;
}

struct cand {
	const struct side *s;
	const struct dent *d;
	size_t rec;
	size_t folder_len, uniq_len;
	const char *uniq;
};

static int cmp_cand(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;
	const char *pa = a->s->arena.data + a->d->path,
		   *pb = b->s->arena.data + b->d->path;
	int d = strcmp(a->s->arena.data + a->d->source,
		       b->s->arena.data + b->d->source);

	if (d)
		return d;
	if (a->folder_len != b->folder_len)
		return a->folder_len < b->folder_len ? -1 : 1;
	if ((d = memcmp(pa, pb, a->folder_len)))
		return d;
	if (a->uniq_len != b->uniq_len)
		return a->uniq_len < b->uniq_len ? -1 : 1;
	if ((d = memcmp(a->uniq, b->uniq, a->uniq_len)))
		return d;
	return memcmp(a->d->sha, b->d->sha, MBI_SHA256_LEN);
}

static int collect_cands(struct rec *recs, size_t nrec, const struct side *s,
			 char kind, struct cand **out, size_t *nout)
{
	struct cand *v = NULL;
	size_t i, n = 0, cap = 0;

	for (i = 0; i < nrec; i++) {
		const struct dent *d;
		const char *type;
		struct cand c;

		if (recs[i].kind != kind)
			continue;
		d = &s->v[kind == '-' ? recs[i].ia : recs[i].ib];
		type = source_type(s, s->arena.data + d->source);
		if (d->type != 'f' || !mbi_source_kind_maildir(type) ||
		    !maildir_msg(s->arena.data + d->path, &c.folder_len,
				 &c.uniq, &c.uniq_len))
			continue;
		if (n == cap) {
			struct cand *nv;

			cap = cap ? cap * 2 : 256;
			nv = realloc(v, cap * sizeof(*nv));
			if (!nv) {
				free(v);
				return MB_E_NOMEM;
			}
			v = nv;
		}
		c.s = s;
		c.d = d;
		c.rec = i;
		v[n++] = c;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_cand);
	*out = v;
	*nout = n;
	return MB_OK;
}

/* Pair each removed message with a new one of the same folder, unique name
 * and content: a flag change (or new/ -> cur/), not a removal and an
 * addition. */
static int pair_flags(struct rec *recs, size_t nrec, const struct side *sa,
		      const struct side *sb)
{
	struct cand *rm = NULL, *add = NULL;
	size_t nrm = 0, nadd = 0, i = 0, j = 0;
	int rc;

	if ((rc = collect_cands(recs, nrec, sa, '-', &rm, &nrm)) ||
	    (rc = collect_cands(recs, nrec, sb, '+', &add, &nadd)))
		goto out;
	while (i < nrm && j < nadd) {
		int d = cmp_cand(&rm[i], &add[j]);

		if (d < 0) {
			i++;
		} else if (d > 0) {
			j++;
		} else {
			recs[add[j].rec].kind = 'F';
			recs[add[j].rec].ia = recs[rm[i].rec].ia;
			recs[rm[i].rec].kind = 0;
			i++;
			j++;
		}
	}
out:
	free(rm);
	free(add);
	return rc;
}

struct group {
	char *mailbox;
	struct mb_diff_counts c;
};

struct groups {
	struct group *v;
	size_t n, cap, last;
};

static void groups_release(struct groups *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		free(g->v[i].mailbox);
	free(g->v);
	memset(g, 0, sizeof(*g));
}

static struct group *group_get(struct groups *g, const char *mb, size_t l)
{
	size_t i;

	/* consecutive entries mostly share a mailbox */
	if (g->n && strlen(g->v[g->last].mailbox) == l &&
	    !strncmp(g->v[g->last].mailbox, mb, l))
		return &g->v[g->last];
	for (i = 0; i < g->n; i++)
		if (strlen(g->v[i].mailbox) == l &&
		    !strncmp(g->v[i].mailbox, mb, l)) {
			g->last = i;
			return &g->v[i];
		}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct group *nv = realloc(g->v, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		g->v = nv;
		g->cap = cap;
	}
	memset(&g->v[g->n], 0, sizeof(g->v[g->n]));
	g->v[g->n].mailbox = strndup(mb, l);
	if (!g->v[g->n].mailbox)
		return NULL;
	g->last = g->n;
	return &g->v[g->n++];
}

static int cmp_group(const void *x, const void *y)
{
	return strcmp(((const struct group *)x)->mailbox,
		      ((const struct group *)y)->mailbox);
}

static void count(struct mb_diff_counts *c, const struct mb_diff_item *it)
{
	switch (it->kind) {
	case '+':
		c->new_entries++;
		c->new_bytes += it->type == 'f' ? it->size : 0;
		break;
	case '-':
		c->removed_entries++;
		c->removed_bytes += it->type == 'f' ? it->old_size : 0;
		break;
	case 'M':
		c->changed_entries++;
		c->changed_bytes += it->type == 'f' ? it->size : 0;
		break;
	case 'F':
		c->flag_changes++;
		break;
	}
}

static void add_counts(struct mb_diff_counts *t,
		       const struct mb_diff_counts *c)
{
	t->new_entries += c->new_entries;
	t->new_bytes += c->new_bytes;
	t->removed_entries += c->removed_entries;
	t->removed_bytes += c->removed_bytes;
	t->changed_entries += c->changed_entries;
	t->changed_bytes += c->changed_bytes;
	t->flag_changes += c->flag_changes;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sources of both snapshots, sorted, without duplicates. */
static int source_names(const struct side *sa, const struct side *sb,
			const char ***out, size_t *nout)
{
	const struct side *sides[2] = { sa, sb };
	const char **v = NULL;
	size_t n = 0, cap = 0, k, i, w;

	for (k = 0; k < 4; k++) {
		const struct side *s = sides[k / 2];
		const char *p = s->sources.data,
			   *end = p ? p + s->sources.len : NULL;
		size_t e = 0;

		for (;;) {
			const char *name;

			if (k % 2 == 0) {
				/* the sources of the header */
				if (!p || p >= end)
					break;
				name = p;
				p += strlen(p) + 1;
				p += strlen(p) + 1;
			} else {
				/* and of the entries, should one be missing
				 * there: every record must find its source */
				while (e < s->n && e &&
				       !strcmp(s->arena.data + s->v[e].source,
					       s->arena.data +
					       s->v[e - 1].source))
					e++;
				if (e >= s->n)
					break;
				name = s->arena.data + s->v[e++].source;
			}
			if (n == cap) {
				const char **nv;

				cap = cap ? cap * 2 : 16;
				nv = realloc(v, cap * sizeof(*nv));
				if (!nv) {
					free(v);
					return MB_E_NOMEM;
				}
				v = nv;
			}
			v[n++] = name;
		}
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	for (i = 0, w = 0; i < n; i++)
		if (!w || strcmp(v[w - 1], v[i]))
			v[w++] = v[i];
	*out = v;
	*nout = w;
	return MB_OK;
}

/* The Maildir++ mailbox of a path: its first two components. */
static size_t mailbox_len(const char *path)
{
	const char *s1 = strchr(path, '/'), *s2;

	if (!s1)
		return 0;
	s2 = strchr(s1 + 1, '/');
	return s2 ? (size_t)(s2 - path) : strlen(path);
}

/* One comparison: both snapshots, their differences and the callbacks. */
struct diff_run {
	struct side sa, sb;
	struct rec *recs;
	size_t nrec, caprec;
	struct groups g;
	char *mbox;
	mb_diff_fn item_fn;
	mb_diff_group_fn group_fn;
	void *userdata;
};

static int add_rec(struct diff_run *dr, const struct rec *rr)
{
	if (dr->nrec == dr->caprec) {
		size_t cap = dr->caprec ? dr->caprec * 2 : 1024;
		struct rec *nv = realloc(dr->recs, cap * sizeof(*nv));

		if (!nv)
			return MB_E_NOMEM;
		dr->recs = nv;
		dr->caprec = cap;
	}
	dr->recs[dr->nrec++] = *rr;
	return MB_OK;
}

/* Merge the two sorted lists into records of what was added, removed or
 * changed. */
static int merge_sides(struct diff_run *dr)
{
	const struct side *sa = &dr->sa, *sb = &dr->sb;
	size_t i = 0, j = 0;
	int rc;

	while (i < sa->n || j < sb->n) {
		struct rec rr = { 0, NONE, NONE };
		int d;

		if (i < sa->n && j < sb->n) {
			d = strcmp(sa->arena.data + sa->v[i].source,
				   sb->arena.data + sb->v[j].source);
			if (!d)
				d = strcmp(sa->arena.data + sa->v[i].path,
					   sb->arena.data + sb->v[j].path);
		} else {
			d = i < sa->n ? -1 : 1;
		}
		if (d < 0) {
			rr.kind = '-';
			rr.ia = i++;
		} else if (d > 0) {
			rr.kind = '+';
			rr.ib = j++;
		} else {
			if (differs(sa, &sa->v[i], sb, &sb->v[j])) {
				rr.kind = 'M';
				rr.ia = i;
				rr.ib = j;
			}
			i++;
			j++;
		}
		if (rr.kind && (rc = add_rec(dr, &rr)))
			return rc;
	}
	return MB_OK;
}

/* Report one record: the item callback, and the counts of its source and
 * of its mailbox (maildir sources). */
static int report_rec(struct diff_run *dr, const struct rec *rr,
		      const char *src, bool maildir,
		      struct mb_diff_counts *sc)
{
	const struct dent *da = rr->ia != NONE ? &dr->sa.v[rr->ia] : NULL;
	const struct dent *db = rr->ib != NONE ? &dr->sb.v[rr->ib] : NULL;
	const struct side *ss = db ? &dr->sb : &dr->sa;
	const struct dent *d = db ? db : da;
	struct mb_diff_item it;
	size_t ml;

	memset(&it, 0, sizeof(it));
	it.kind = rr->kind;
	it.type = d->type;
	it.source = src;
	it.path = ss->arena.data + d->path;
	if (rr->kind == 'F')
		it.old_path = dr->sa.arena.data + da->path;
	it.old_size = da ? da->size : 0;
	it.size = db ? db->size : 0;
	ml = maildir ? mailbox_len(it.path) : 0;
	free(dr->mbox);
	dr->mbox = ml ? strndup(it.path, ml) : NULL;
	if (ml && !dr->mbox)
		return MB_E_NOMEM;
	it.mailbox = dr->mbox;
	count(sc, &it);
	if (ml) {
		struct group *gr = group_get(&dr->g, it.path, ml);

		if (!gr)
			return MB_E_NOMEM;
		count(&gr->c, &it);
	}
	return dr->item_fn ? dr->item_fn(dr->userdata, &it) : MB_OK;
}

/* Report the records of one source, from *at on (records are in (source,
 * path) order: one source after another), then its groups. */
static int report_source(struct diff_run *dr, const char *src, size_t *at,
			 struct mb_diff_counts *tot)
{
	const char *ta = source_type(&dr->sa, src),
		   *tb = source_type(&dr->sb, src);
	bool maildir = tb ? mbi_source_kind_maildir(tb) :
			    mbi_source_kind_maildir(ta);
	struct mb_diff_counts sc;
	size_t i;
	int rc;

	memset(&sc, 0, sizeof(sc));
	for (; *at < dr->nrec; (*at)++) {
		const struct rec *rr = &dr->recs[*at];
		const struct side *ss = rr->ib != NONE ? &dr->sb : &dr->sa;
		const struct dent *d = rr->ib != NONE ? &dr->sb.v[rr->ib] :
					&dr->sa.v[rr->ia];

		if (strcmp(ss->arena.data + d->source, src))
			break;
		if (!rr->kind)
			continue;
		if ((rc = report_rec(dr, rr, src, maildir, &sc)))
			return rc;
	}
	if (dr->g.n)
		qsort(dr->g.v, dr->g.n, sizeof(*dr->g.v), cmp_group);
	for (i = 0; dr->group_fn && i < dr->g.n; i++) {
		struct mb_diff_group gg = { src, dr->g.v[i].mailbox,
					    dr->g.v[i].c };

		if ((rc = dr->group_fn(dr->userdata, &gg)))
			return rc;
	}
	groups_release(&dr->g);
	add_counts(tot, &sc);
	if (dr->group_fn) {
		struct mb_diff_group gg = { src, NULL, sc };

		if ((rc = dr->group_fn(dr->userdata, &gg)))
			return rc;
	}
	return MB_OK;
}

int mb_diff(struct mb_ctx *ctx, const char *spec_a, const char *spec_b,
	    mb_diff_fn item_fn, mb_diff_group_fn group_fn, void *userdata,
	    struct mb_diff_counts *total)
{
	struct mbi_repo *r = NULL;
	struct diff_run dr;
	size_t k, nsrc = 0, at = 0;
	const char **srcs = NULL;
	struct mb_diff_counts tot;
	char ida[MB_SNAPSHOT_ID_SIZE], idb[MB_SNAPSHOT_ID_SIZE];
	int rc;

	memset(&dr, 0, sizeof(dr));
	memset(&tot, 0, sizeof(tot));
	dr.item_fn = item_fn;
	dr.group_fn = group_fn;
	dr.userdata = userdata;
	if ((rc = mbi_repo_open(ctx, &r)) ||
	    (rc = load_side(r, spec_a, &dr.sa, ida)) ||
	    (rc = load_side(r, spec_b, &dr.sb, idb)))
		goto out;
	mbi_log(ctx, MB_LOG_INFO,
		"comparing snapshot %s (%zu entries) with %s (%zu entries)",
		ida, dr.sa.n, idb, dr.sb.n);
	if ((rc = merge_sides(&dr)) ||
	    (rc = pair_flags(dr.recs, dr.nrec, &dr.sa, &dr.sb)) ||
	    (rc = source_names(&dr.sa, &dr.sb, &srcs, &nsrc)))
		goto out;
	for (k = 0; k < nsrc; k++)
		if ((rc = report_source(&dr, srcs[k], &at, &tot)))
			goto out;
	if (total)
		*total = tot;
out:
	free(dr.mbox);
	groups_release(&dr.g);
	free(srcs);
	free(dr.recs);
	side_release(&dr.sa);
	side_release(&dr.sb);
	mbi_repo_close(r);
	return mbi_status(ctx, rc);
}
