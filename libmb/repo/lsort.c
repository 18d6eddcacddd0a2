/* SPDX-License-Identifier: MIT */
/* repo/lsort.c: a snapshot's entry lines in the order its listings are
 * built in (docs/format.md §10.3): by source (configured order first),
 * then path component by component. The lines are held in one arena of at
 * most MBI_LSORT_RUN bytes; beyond that, sorted runs go to unlinked files
 * in a directory and are merged while they are read back, so that memory
 * does not grow with the number of entries. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

/* open run files at most: more are merged into one first */
#define LSORT_MAX_RUNS 64

/* The sort key of a line: offsets into its buffer. */
struct lkey {
	size_t off;   /* the line */
	size_t slen;  /* its source, at off + 2 */
	size_t poff;  /* its path (escaped); plen 0 for the root "." */
	size_t plen;
	size_t rank;  /* of its source in the configuration */
};

struct run {
	FILE *f;
	char *line;
	size_t cap;
	struct lkey k;
	bool eof;
};

struct mbi_lsort {
	struct mb_ctx *ctx;
	char *dir;
	size_t run_max;
	struct mbi_buf arena; /* NUL-terminated lines */
	struct lkey *keys;
	size_t nkeys, capkeys, next;
	struct run *runs;
	size_t nruns;
	struct run *last; /* returned its line last: read on */
	bool reading;
};

/* Test-only: MB_TEST_LSORT_RUN=BYTES makes runs small (the merge path). */
static size_t run_max(void)
{
	const char *v = getenv("MB_TEST_LSORT_RUN");
	unsigned long long n;
	char *end;

	if (v && *v) {
		errno = 0;
		n = strtoull(v, &end, 10);
		if (!errno && !*end && n > 0)
			return (size_t)n;
	}
	return MBI_LSORT_RUN;
}

int mbi_lsort_new(struct mb_ctx *ctx, const char *dir, struct mbi_lsort **out)
{
	struct mbi_lsort *s = calloc(1, sizeof(*s));

	if (!s)
		return MB_E_NOMEM;
	s->ctx = ctx;
	s->run_max = run_max();
	if (dir && !(s->dir = strdup(dir))) {
		free(s);
		return MB_E_NOMEM;
	}
	*out = s;
	return MB_OK;
}

void mbi_lsort_free(struct mbi_lsort *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nruns; i++) {
		if (s->runs[i].f)
			fclose(s->runs[i].f);
		free(s->runs[i].line);
	}
	free(s->runs);
	free(s->keys);
	mbi_buf_release(&s->arena);
	free(s->dir);
	free(s);
}

/* The key of line (NUL-terminated at base + k->off, len bytes). */
static int key_of(struct mbi_lsort *s, const char *base, size_t len,
		  struct lkey *k)
{
	const struct mbi_config *cfg = s->ctx->cfg;
	const char *line = base + k->off, *p = line, *sp;
	int field;
	size_t i;

	if (len < 3 || line[0] != 'e' || line[1] != ' ')
		return mbi_error(s->ctx, MB_E_INVAL, 0, "not an entry: '%s'",
				 line);
	k->slen = strcspn(line + 2, " ");
	for (field = 0; field < 9; field++) {
		sp = memchr(p, ' ', len - (size_t)(p - line));
		if (!sp)
			return mbi_error(s->ctx, MB_E_INVAL, 0,
					 "cannot list source '%.*s': malformed entry '%s'",
					 (int)k->slen, line + 2, line);
		p = sp + 1;
	}
	k->poff = (size_t)(p - base);
	k->plen = strcspn(p, " ");
	if (k->plen == 1 && *p == '.')
		k->plen = 0;
	k->rank = cfg ? cfg->nsources : 0;
	for (i = 0; cfg && i < cfg->nsources; i++)
		if (strlen(cfg->sources[i].name) == k->slen &&
		    !memcmp(cfg->sources[i].name, line + 2, k->slen)) {
			k->rank = i;
			break;
		}
	return MB_OK;
}

/* The listings' order: source, then path with '/' before every byte. */
static int cmp_key(const char *ab, const struct lkey *a, const char *bb,
		   const struct lkey *b)
{
	const char *x = ab + a->poff, *y = bb + b->poff;
	size_t i, n;
	int c;

	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	c = memcmp(ab + a->off + 2, bb + b->off + 2,
		   a->slen < b->slen ? a->slen : b->slen);
	if (c || a->slen != b->slen)
		return c ? c : a->slen < b->slen ? -1 : 1;
	n = a->plen < b->plen ? a->plen : b->plen;
	/* paths of one directory share long prefixes: skip the equal part
	 * eight bytes at a time, map '/' only where they differ */
	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t wx, wy;

		memcpy(&wx, x + i, 8);
		memcpy(&wy, y + i, 8);
		if (wx != wy)
			break;
	}
	while (i < n && x[i] == y[i])
		i++;
	if (i < n) {
		unsigned cx = x[i] == '/' ? 0 : (unsigned char)x[i];
		unsigned cy = y[i] == '/' ? 0 : (unsigned char)y[i];

		return cx < cy ? -1 : 1;
	}
	return a->plen < b->plen ? -1 : a->plen > b->plen;
}

static int cmp_arena(const void *a, const void *b, void *base)
{
	return cmp_key(base, a, base, b);
}

/* An unlinked file for a run in s->dir. */
static int run_file(struct mbi_lsort *s, FILE **f)
{
	int fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0 || !(*f = fdopen(fd, "w+"))) {
		int rc = mbi_error(s->ctx, MB_E_IO, errno,
				   "cannot create a sort file in '%s': free space there or set cache_dir",
				   s->dir);

		if (fd >= 0)
			close(fd);
		return rc;
	}
	return MB_OK;
}

static int run_read(struct mbi_lsort *s, struct run *r);
static int runs_rewind(struct mbi_lsort *s);
static int merge_next(struct mbi_lsort *s, const char **line);

/* Too many runs to keep open: merge them into one. */
static int merge_runs(struct mbi_lsort *s)
{
	FILE *f = NULL;
	const char *l;
	size_t i;
	int rc = run_file(s, &f);

	if (!rc)
		rc = runs_rewind(s);
	while (!rc && !(rc = merge_next(s, &l)) && l)
		if (fputs(l, f) == EOF || putc('\n', f) == EOF)
			rc = mbi_error(s->ctx, MB_E_IO, errno,
				       "cannot write a sort file in '%s': free space there or set cache_dir",
				       s->dir);
	if (!rc && fflush(f))
		rc = mbi_error(s->ctx, MB_E_IO, errno,
			       "cannot write a sort file in '%s': free space there or set cache_dir",
			       s->dir);
	for (i = 0; i < s->nruns; i++) {
		fclose(s->runs[i].f);
		free(s->runs[i].line);
	}
	memset(s->runs, 0, sizeof(*s->runs));
	s->runs[0].f = f;
	s->nruns = f ? 1 : 0;
	s->last = NULL;
	return rc;
}

/* The arena's lines, sorted, into a new run file; the arena is emptied. */
static int spill(struct mbi_lsort *s)
{
	struct run *r;
	size_t i;
	int rc;
	void *p = realloc(s->runs, (s->nruns + 1) * sizeof(*s->runs));

	if (!p)
		return MB_E_NOMEM;
	s->runs = p;
	r = &s->runs[s->nruns];
	memset(r, 0, sizeof(*r));
	qsort_r(s->keys, s->nkeys, sizeof(*s->keys), cmp_arena,
		s->arena.data);
	if ((rc = run_file(s, &r->f)))
		return rc;
	s->nruns++;
	for (i = 0; i < s->nkeys; i++) {
		const char *l = s->arena.data + s->keys[i].off;

		if (fputs(l, r->f) == EOF || putc('\n', r->f) == EOF)
			break;
	}
	if (i < s->nkeys || fflush(r->f))
		return mbi_error(s->ctx, MB_E_IO, errno,
				 "cannot write a sort file in '%s': free space there or set cache_dir",
				 s->dir);
	s->arena.len = 0;
	s->nkeys = 0;
	return s->nruns < LSORT_MAX_RUNS ? MB_OK : merge_runs(s);
}

int mbi_lsort_add(struct mbi_lsort *s, const char *line, size_t len)
{
	struct lkey k;
	int rc;

	if (s->dir && s->nkeys && s->arena.len + len + 1 > s->run_max &&
	    (rc = spill(s)))
		return rc;
	if (s->nkeys == s->capkeys) {
		size_t cap = s->capkeys ? s->capkeys * 2 : 1024;
		void *p = realloc(s->keys, cap * sizeof(*s->keys));

		if (!p)
			return MB_E_NOMEM;
		s->keys = p;
		s->capkeys = cap;
	}
	k.off = s->arena.len;
	if (mbi_buf_add(&s->arena, line, len) || mbi_buf_add(&s->arena, "", 1))
		return MB_E_NOMEM;
	if ((rc = key_of(s, s->arena.data, len, &k)))
		return rc;
	s->keys[s->nkeys++] = k;
	return MB_OK;
}

/* The next line of run r (its key too), or r->eof. */
static int run_read(struct mbi_lsort *s, struct run *r)
{
	ssize_t n = getline(&r->line, &r->cap, r->f);

	if (n <= 0) {
		if (ferror(r->f))
			return mbi_error(s->ctx, MB_E_IO, errno,
					 "cannot read a sort file in '%s'",
					 s->dir);
		r->eof = true;
		return MB_OK;
	}
	if (r->line[n - 1] == '\n')
		r->line[--n] = '\0';
	r->k.off = 0;
	return key_of(s, r->line, (size_t)n, &r->k);
}

/* Every run from its start, its first line read. */
static int runs_rewind(struct mbi_lsort *s)
{
	size_t i;
	int rc;

	for (i = 0; i < s->nruns; i++) {
		s->runs[i].eof = false;
		if (fflush(s->runs[i].f) ||
		    fseeko(s->runs[i].f, 0, SEEK_SET))
			return mbi_error(s->ctx, MB_E_IO, errno,
					 "cannot read a sort file in '%s'",
					 s->dir);
		if ((rc = run_read(s, &s->runs[i])))
			return rc;
	}
	return MB_OK;
}

/* Sort what is in memory, or spill it too and start the merge. */
static int start_reading(struct mbi_lsort *s)
{
	int rc;

	s->reading = true;
	if (!s->nruns) {
		if (s->nkeys)
			qsort_r(s->keys, s->nkeys, sizeof(*s->keys),
				cmp_arena, s->arena.data);
		return MB_OK;
	}
	if (s->nkeys && (rc = spill(s)))
		return rc;
	mbi_buf_release(&s->arena);
	free(s->keys);
	s->keys = NULL;
	s->capkeys = 0;
	return runs_rewind(s);
}

int mbi_lsort_next(struct mbi_lsort *s, const char **line)
{
	int rc;

	*line = NULL;
	if (!s->reading && (rc = start_reading(s)))
		return rc;
	if (!s->nruns) {
		if (s->next < s->nkeys)
			*line = s->arena.data + s->keys[s->next++].off;
		return MB_OK;
	}
	return merge_next(s, line);
}

/* The smallest next line of the runs. */
static int merge_next(struct mbi_lsort *s, const char **line)
{
	struct run *min = NULL;
	size_t i;
	int rc;

	*line = NULL;
	if (s->last && (rc = run_read(s, s->last)))
		return rc;
	s->last = NULL;
	for (i = 0; i < s->nruns; i++) {
		struct run *r = &s->runs[i];

		if (!r->eof && (!min || cmp_key(r->line, &r->k, min->line,
						&min->k) < 0))
			min = r;
	}
	if (min) {
		*line = min->line;
		s->last = min;
	}
	return MB_OK;
}
