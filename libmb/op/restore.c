/* SPDX-License-Identifier: MIT */
/* op/restore.c: restoring a snapshot, or part of it, safely into a directory. */
#include "mb-private.h"
#include "mailstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

/* One selected entry: a million stay in memory for the whole restore, so
 * no string of its own (its path in the run's names, its source one of the
 * run's sources), and its fields in an order that leaves one byte of
 * padding: 80 bytes. */
struct sel {
	const char *source;
	const char *path;      /* a symlink's target follows its NUL */
	uint32_t mode, uid, gid;
	char type;
	bool done;
	bool claimed;     /* a worker is writing this content */
	int64_t mtime_ns;
	uint64_t size;
	unsigned char sha[MBI_SHA256_LEN];
};

/* The selection's strings, in blocks that never move. */
#define NAMES_BLOCK (1u << 20)
struct names {
	char **blocks;
	size_t nblocks;
	size_t used;           /* of the last block */
	size_t last_size;
};

/* The parent directory of the last file: reused while it repeats. */
struct dircache {
	char *dir;
	int fd;
};

struct restore_run {
	struct mb_ctx *ctx;
	struct mbi_repo *r;
	const struct mb_restore_opts *opts;
	struct mbi_index ix;
	int root;              /* the target directory */
	bool named_tmp;        /* no O_TMPFILE + link here: hidden names */
	unsigned tmp_seq;
	struct sel *v;
	size_t n, cap;
	struct names names;
	char **sources;        /* the distinct sources of the selection */
	size_t nsources;
	uint32_t *by_sha;      /* indices of files, sorted by sha */
	/* where in by_sha the shas starting with each two bytes start: a
	 * million lookups (the index's lines, the packs' members) search
	 * some 15 entries, not all */
	uint32_t *by_prefix;
	size_t nfiles;
	/* from the index, by position in by_sha (first of each content):
	 * its pack, NO_PACK when none lists it; a later pack that lists it
	 * too (in case the first is gone); the first size that differs */
	uint32_t *pack_of;
	struct alt_pack {
		size_t k;
		uint32_t pack;
	} *alts;
	size_t nalts;
	size_t bad_k;
	uint64_t bad_size;
	char *mailbox_prefix;  /* "<domain>/<user>" */
	bool as_root;
	struct mb_restore_result res;
	const struct mbi_manifest *m;
	char **ancestors;      /* during collect_ancestors: sorted names */
	size_t nancestors;
	struct dircache dc;    /* for the serial steps */
	/* packs are read by two workers, each with its own directory cache:
	 * this guards the selection's flags and the result counters */
	pthread_mutex_t mu;
	uint32_t *todo;        /* pack numbers to read */
	size_t ntodo, next;
	int rc;                /* first failure of a worker */
};

static bool wanted(struct restore_run *s, const struct mbi_mentry *e)
{
	const struct mb_restore_opts *o = s->opts;

	if (o->source && strcmp(o->source, e->source))
		return false;
	if (s->mailbox_prefix) {
		size_t l = strlen(s->mailbox_prefix);
		size_t k;
		bool maildir = false;

		/* the snapshot says what its sources were: a recovery
		 * config need not declare them */
		for (k = 0; k < s->m->nsources; k++)
			if (!strcmp(s->m->sources[k].name, e->source))
				maildir = mbi_source_kind_maildir(
					s->m->sources[k].type);
		if (!maildir)
			return false;
		if (strncmp(e->path, s->mailbox_prefix, l) ||
		    (e->path[l] != '\0' && e->path[l] != '/'))
			return false;
	}
	if (o->select && !o->select(o->select_ud, e->source, e->path))
		return false;
	if (o->path_glob && fnmatch(o->path_glob, e->path, 0)) {
		/* a directory that matches takes what is below it */
		size_t i, l = strlen(e->path);
		bool under = false;

		for (i = 1; i < l && !under; i++) {
			if (e->path[i] != '/')
				continue;
			((char *)e->path)[i] = '\0';
			under = !fnmatch(o->path_glob, e->path, 0);
			((char *)e->path)[i] = '/';
		}
		if (!under)
			return false;
	}
	return true;
}

static int collect(void *ud, struct mbi_mentry *e);

/* "source/path" of an entry; "source" for its root. */
static char *full_name(const char *source, const char *path)
{
	return strcmp(path, ".") ? mbi_asprintf("%s/%s", source, path) :
				   strdup(source);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_ancestor(struct restore_run *s, const struct mbi_mentry *e)
{
	char *f = full_name(e->source, e->path);
	bool hit = f && bsearch(&f, s->ancestors, s->nancestors,
				sizeof(*s->ancestors), cmp_strp);
	size_t i;

	/* not when it was selected itself */
	for (i = 0; hit && i < s->n; i++)
		if (s->v[i].type == 'd' && !strcmp(s->v[i].source, e->source) &&
		    !strcmp(s->v[i].path, e->path))
			hit = false;
	free(f);
	return hit;
}

/* The directories above a partial selection, so that they come back with
 * their own owner, mode and time rather than as new 0700 directories. */
static int collect_ancestors(struct restore_run *s,
			     const struct mbi_manifest *m)
{
	size_t i, n = 0, cap = 0, k;
	char **v = NULL;
	int rc = MB_OK;

	for (i = 0; !rc && i < s->n; i++) {
		char *f = full_name(s->v[i].source, s->v[i].path), *slash;

		while (f && (slash = strrchr(f, '/'))) {
			*slash = '\0';
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				v = realloc(v, cap * sizeof(*v));
				if (!v) {
					rc = MB_E_NOMEM;
					break;
				}
			}
			v[n] = strdup(f);
			if (!v[n]) {
				rc = MB_E_NOMEM;
				break;
			}
			n++;
		}
		if (!f)
			rc = MB_E_NOMEM;
		free(f);
	}
	if (!rc && n) {
		qsort(v, n, sizeof(*v), cmp_strp);
		for (i = k = 0; i < n; i++) {
			if (k && !strcmp(v[k - 1], v[i])) {
				free(v[i]);
				continue;
			}
			v[k++] = v[i];
		}
		n = k;
		s->ancestors = v;
		s->nancestors = n;
		rc = mbi_manifest_foreach(s->ctx, m, collect, s);
		s->ancestors = NULL;
		s->nancestors = 0;
	}
	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
	return rc;
}

/* A copy of path (and after its NUL of link) among the names. */
static const char *names_add(struct names *nm, const char *path,
			     const char *link)
{
	size_t lp = strlen(path) + 1, ll = link ? strlen(link) + 1 : 0;
	char *p;

	if (!nm->nblocks || nm->used + lp + ll > nm->last_size) {
		size_t sz = lp + ll > NAMES_BLOCK ? lp + ll : NAMES_BLOCK;
		char **nb = realloc(nm->blocks,
				    (nm->nblocks + 1) * sizeof(*nb));

		if (!nb)
			return NULL;
		nm->blocks = nb;
		if (!(nb[nm->nblocks] = malloc(sz)))
			return NULL;
		nm->nblocks++;
		nm->used = 0;
		nm->last_size = sz;
	}
	p = nm->blocks[nm->nblocks - 1] + nm->used;
	memcpy(p, path, lp);
	if (link)
		memcpy(p + lp, link, ll);
	nm->used += lp + ll;
	return p;
}

static void names_release(struct names *nm)
{
	mbi_strv_free(nm->blocks, nm->nblocks);
	memset(nm, 0, sizeof(*nm));
}

/* A symlink's target: after its path. */
static const char *sel_link(const struct sel *x)
{
	return x->path + strlen(x->path) + 1;
}

/* The run's copy of the source name src. */
static const char *intern_source(struct restore_run *s, const char *src)
{
	char **nv;
	size_t i;

	for (i = s->nsources; i-- > 0;)
		if (!strcmp(s->sources[i], src))
			return s->sources[i];
	nv = realloc(s->sources, (s->nsources + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	s->sources = nv;
	if (!(nv[s->nsources] = strdup(src)))
		return NULL;
	return nv[s->nsources++];
}

static int collect(void *ud, struct mbi_mentry *e)
{
	struct restore_run *s = ud;
	struct sel *x;

	if (strchr(e->source, '/') || !mbi_path_is_safe(e->source))
		return mbi_error(s->ctx, MB_E_VERIFY, 0,
				 "manifest names a bad source '%s'", e->source);
	if (s->ancestors ? !(e->type == 'd' && is_ancestor(s, e)) :
			   !wanted(s, e))
		return MB_OK;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		void *nv = realloc(s->v, cap * sizeof(*s->v));

		if (!nv)
			return MB_E_NOMEM;
		s->v = nv;
		s->cap = cap;
	}
	x = &s->v[s->n];
	memset(x, 0, sizeof(*x));
	x->source = intern_source(s, e->source);
	x->path = names_add(&s->names, e->path, e->link);
	if (!x->source || !x->path)
		return MB_E_NOMEM;
	x->type = e->type;
	x->mode = e->mode;
	x->uid = e->uid;
	x->gid = e->gid;
	x->mtime_ns = e->mtime_ns;
	x->size = e->size;
	memcpy(x->sha, e->sha, MBI_SHA256_LEN);
	s->n++;
	return MB_OK;
}

static void dircache_drop(struct dircache *dc)
{
	if (dc->fd >= 0)
		close(dc->fd);
	free(dc->dir);
	dc->dir = NULL;
	dc->fd = -1;
}

/* Open (creating as needed) the directory source/dirname(path) below the
 * target, component by component, never following a symlink. The fd stays
 * in dc, for the next file of the same directory. */
static int open_parent(struct restore_run *s, struct dircache *dc,
		       const struct sel *x, const char **base)
{
	char *full = mbi_asprintf("%s/%s", x->source, x->path), *slash, *p;
	char *walk;
	int fd, rc = MB_OK;

	if (!full)
		return MB_E_NOMEM;
	slash = strrchr(full, '/');
	*slash = '\0';
	*base = x->path + (strrchr(x->path, '/') ?
			   strrchr(x->path, '/') - x->path + 1 : 0);
	if (!strcmp(x->path, "."))
		*base = ".";
	if (dc->dir && !strcmp(dc->dir, full)) {
		free(full);
		return dc->fd;
	}
	walk = strdup(full);
	if (!walk) {
		free(full);
		return MB_E_NOMEM;
	}
	fd = dup(s->root);
	for (p = walk; fd >= 0 && p && *p;) {
		char *next = strchr(p, '/');
		int sub;

		if (next)
			*next++ = '\0';
		sub = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			     O_CLOEXEC);
		if (sub < 0 && errno == ENOENT) {
			if (mkdirat(fd, p, 0700) && errno != EEXIST)
				rc = mbi_error(s->ctx, MB_E_IO, errno,
					       "cannot create directory '%s'",
					       p);
			sub = openat(fd, p, O_RDONLY | O_DIRECTORY |
				     O_NOFOLLOW | O_CLOEXEC);
		}
		if (sub < 0 && !rc)
			rc = mbi_error(s->ctx, errno == ELOOP ||
				       errno == ENOTDIR ? MB_E_VERIFY : MB_E_IO,
				       errno,
				       "cannot enter '%s' below the target (a symlink or file is in the way)",
				       p);
		close(fd);
		fd = sub;
		p = next;
	}
	free(walk);
	if (rc || fd < 0) {
		free(full);
		if (fd >= 0)
			close(fd);
		return rc ? rc : MB_E_IO;
	}
	dircache_drop(dc);
	dc->dir = full;
	dc->fd = fd;
	return fd;
}

static void set_owner_mode_time(struct restore_run *s, int dirfd,
				const char *name, int fd, const struct sel *x)
{
	struct timespec ts[2];
	/* a signed manifest must not make a set-id program appear */
	mode_t mode = s->opts->keep_setid ? x->mode :
		      x->mode & ~(mode_t)(S_ISUID | S_ISGID);

	if (s->as_root) {
		if (fd >= 0 ? fchown(fd, x->uid, x->gid) :
		    fchownat(dirfd, name, x->uid, x->gid,
			     AT_SYMLINK_NOFOLLOW))
			mbi_warn(s->ctx, "cannot set owner of '%s/%s': %s",
				 x->source, x->path, strerror(errno));
	}
	if (x->type != 'l' && (fd >= 0 ? fchmod(fd, mode) :
			       fchmodat(dirfd, name, mode, 0)))
		mbi_warn(s->ctx, "cannot set mode of '%s/%s': %s", x->source,
			 x->path, strerror(errno));
	ts[0].tv_sec = ts[1].tv_sec = (time_t)(x->mtime_ns / 1000000000);
	ts[0].tv_nsec = ts[1].tv_nsec = (long)(x->mtime_ns % 1000000000);
	if (fd >= 0 ? futimens(fd, ts) :
	    utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW))
		mbi_warn(s->ctx, "cannot set time of '%s/%s': %s", x->source,
			 x->path, strerror(errno));
}

/* A file being restored: unnamed (O_TMPFILE) in its directory until it is
 * verified, or, where the file system cannot link such a file, under a
 * hidden temporary name that is renamed (and removed on failure). */
struct tmpf {
	int fd;
	char name[48];         /* "" while unnamed */
};

static void tmp_name(struct restore_run *s, struct tmpf *t)
{
	snprintf(t->name, sizeof(t->name), ".mb-tmp-%d-%u", (int)getpid(),
		 __atomic_add_fetch(&s->tmp_seq, 1, __ATOMIC_RELAXED));
}

static int tmp_create(struct restore_run *s, int dfd, const struct sel *x,
		      struct tmpf *t)
{
	t->name[0] = '\0';
	t->fd = -1;
	if (!s->named_tmp)
		t->fd = openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (t->fd < 0) {
		tmp_name(s, t);
		t->fd = openat(dfd, t->name, O_RDWR | O_CREAT | O_EXCL |
			       O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (t->fd < 0)
		return mbi_error(s->ctx, MB_E_IO, errno,
				 "cannot create '%s/%s' in the target",
				 x->source, x->path);
	return MB_OK;
}

static void tmp_discard(int dfd, struct tmpf *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->name[0])
		unlinkat(dfd, t->name, 0);
}

/* Close t, with the error a delayed write reports only then (NFS, quota). */
static int tmp_close(struct restore_run *s, struct tmpf *t, const struct sel *x)
{
	int bad = close(t->fd);

	t->fd = -1;
	return bad ? mbi_error(s->ctx, MB_E_IO, errno,
			       "cannot write '%s/%s' (disk full?)", x->source,
			       x->path) : MB_OK;
}

/* Link an unnamed file t as name in dfd (fails if name exists). */
static int tmp_link(const struct tmpf *t, int dfd, const char *name)
{
	char proc[32];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
	return linkat(AT_FDCWD, proc, dfd, name, AT_SYMLINK_FOLLOW);
}

/* O_TMPFILE and linking it through /proc where the target is: else hidden
 * temporary names. */
static void probe_tmpfile(struct restore_run *s)
{
	struct tmpf t = { -1, "" };

	t.fd = openat(s->root, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	tmp_name(s, &t);
	s->named_tmp = t.fd < 0 || tmp_link(&t, s->root, t.name);
	tmp_discard(s->root, &t);
}

/* Give the verified file t (its owner, mode and times set) x's name;
 * replace a file only with --overwrite. Closes t. */
static int tmp_publish(struct restore_run *s, int dfd, struct tmpf *t,
		       const struct sel *x, const char *base)
{
	struct stat st;
	bool exists;
	int rc = MB_OK;

	if (!t->name[0] && !s->opts->overwrite) {
		/* the common case: no look-up of its own, the link fails
		 * if the name exists */
		if (!tmp_link(t, dfd, base))
			rc = tmp_close(s, t, x);
		else if (errno != EEXIST)
			rc = mbi_error(s->ctx, MB_E_IO, errno,
				       "cannot create '%s/%s'", x->source,
				       x->path);
		else
			rc = mbi_error(s->ctx, MB_E_EXISTS, 0,
				       "'%s/%s' exists: pass --overwrite to replace it",
				       x->source, x->path);
		if (rc && t->fd < 0)
			unlinkat(dfd, base, 0);
		tmp_discard(dfd, t);
		return rc;
	}
	exists = !fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW);
	if (exists && !s->opts->overwrite)
		rc = mbi_error(s->ctx, MB_E_EXISTS, 0,
			       "'%s/%s' exists: pass --overwrite to replace it",
			       x->source, x->path);
	else if (exists && S_ISDIR(st.st_mode))
		rc = mbi_error(s->ctx, MB_E_EXISTS, 0,
			       "'%s/%s' is a directory in the target",
			       x->source, x->path);
	else if (!t->name[0] && !exists) {
		/* an unnamed file can be closed only once it has its name */
		if (tmp_link(t, dfd, base))
			rc = mbi_error(s->ctx, errno == EEXIST ? MB_E_EXISTS :
				       MB_E_IO, errno, "cannot create '%s/%s'",
				       x->source, x->path);
		else if ((rc = tmp_close(s, t, x)))
			unlinkat(dfd, base, 0);
	} else {
		/* replacing: a name first, then an atomic rename over */
		if (!t->name[0]) {
			tmp_name(s, t);
			if (tmp_link(t, dfd, t->name)) {
				t->name[0] = '\0';
				rc = mbi_error(s->ctx, MB_E_IO, errno,
					       "cannot create '%s/%s'",
					       x->source, x->path);
			}
		}
		if (!rc)
			rc = tmp_close(s, t, x);
		if (!rc && renameat(dfd, t->name, dfd, base))
			rc = mbi_error(s->ctx, MB_E_IO, errno,
				       "cannot create '%s/%s'", x->source,
				       x->path);
		if (!rc)
			t->name[0] = '\0';
	}
	tmp_discard(dfd, t);
	return rc;
}

/* x as a copy of the file from (another name of content restored
 * already), or, for an empty file, with nothing to copy. */
static int place_copy(struct restore_run *s, struct dircache *dc,
		      const struct sel *x, int from)
{
	const char *base;
	int dfd = open_parent(s, dc, x, &base), rc;
	struct tmpf t;
	loff_t off = 0;
	uint64_t left = x->size;

	if (dfd < 0)
		return dfd;
	if ((rc = tmp_create(s, dfd, x, &t)))
		return rc;
	while (left) {
		ssize_t n = copy_file_range(from, &off, t.fd, NULL, left, 0);

		if (n <= 0) {
			rc = mbi_error(s->ctx, MB_E_IO, n < 0 ? errno : 0,
				       "cannot copy into '%s/%s' (disk full?)",
				       x->source, x->path);
			tmp_discard(dfd, &t);
			return rc;
		}
		left -= (uint64_t)n;
	}
	set_owner_mode_time(s, dfd, base, t.fd, x);
	return tmp_publish(s, dfd, &t, x, base);
}

static int cmp_sha_idx(const void *a, const void *b, void *arg)
{
	const struct sel *v = arg;

	return memcmp(v[*(const uint32_t *)a].sha, v[*(const uint32_t *)b].sha,
		      MBI_SHA256_LEN);
}

static size_t first_of_sha(struct restore_run *s, const unsigned char *sha)
{
	unsigned p = (unsigned)sha[0] << 8 | sha[1];
	size_t lo = s->by_prefix[p], hi = s->by_prefix[p + 1];

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (memcmp(s->v[s->by_sha[mid]].sha, sha, MBI_SHA256_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct member_ctx {
	struct restore_run *s;
	const char *pack;
	struct dircache dc;
};

/* The snapshot's SIZE of x is not the size of its content. */
static int size_lie(struct restore_run *s, const struct sel *x, uint64_t real)
{
	return mbi_error(s->ctx, MB_E_VERIFY, 0,
			 "snapshot entry '%s/%s' says %llu bytes, its content has %llu: the snapshot is damaged or forged; nothing of it was restored under that name",
			 x->source, x->path, (unsigned long long)x->size,
			 (unsigned long long)real);
}

/* x has its name: count it. */
static int placed(struct restore_run *s, struct sel *x)
{
	uint64_t files, bytes;

	pthread_mutex_lock(&s->mu);
	x->done = true;
	files = ++s->res.files;
	bytes = s->res.bytes += x->size;
	pthread_mutex_unlock(&s->mu);
	/* the callback runs without our lock (mb.h) */
	return mbi_progress(s->ctx, "restore", files, bytes, 0, 0);
}

static int on_member(void *ud, struct mbi_packr *pr, const char *name,
		     const unsigned char *msha, bool has_sha, uint64_t size)
{
	struct member_ctx *mc = ud;
	struct restore_run *s = mc->s;
	size_t k = has_sha ? first_of_sha(s, msha) : s->nfiles, j;
	struct mbi_sha256 h;
	unsigned char got[MBI_SHA256_LEN];
	struct sel *x;
	struct tmpf t;
	const char *base;
	int dfd, hold = -1, rc = MB_OK;
	uint64_t total = 0;

	(void)name;
	if (k >= s->nfiles ||
	    memcmp(s->v[s->by_sha[k]].sha, msha, MBI_SHA256_LEN))
		return MB_OK; /* not wanted here */
	x = &s->v[s->by_sha[k]];
	pthread_mutex_lock(&s->mu);
	if (x->done || x->claimed) {
		pthread_mutex_unlock(&s->mu);
		return MB_OK; /* another pack had it too */
	}
	x->claimed = true;
	pthread_mutex_unlock(&s->mu);
	dfd = open_parent(s, &mc->dc, x, &base);
	if (dfd < 0)
		return dfd;
	if ((rc = tmp_create(s, dfd, x, &t)))
		return rc;
	if (mbi_sha256_init(&h)) {
		tmp_discard(dfd, &t);
		return MB_E_NOMEM;
	}
	for (;;) {
		const void *b;
		size_t n;
		int more = mbi_packr_block(pr, &b, &n);

		if (more < 0) {
			rc = MB_E_VERIFY;
			break;
		}
		if (!more)
			break;
		mbi_sha256_update(&h, b, n);
		total += (uint64_t)n;
		if (mbi_write_all(t.fd, b, n)) {
			rc = mbi_error(s->ctx, MB_E_IO, errno,
				       "cannot write '%s/%s' (disk full?)",
				       x->source, x->path);
			break;
		}
	}
	mbi_sha256_final(&h, got);
	mbi_sha256_release(&h);
	if (!rc && (memcmp(got, msha, MBI_SHA256_LEN) || total != size))
		rc = mbi_error(s->ctx, MB_E_VERIFY, 0,
			       "content of '%s/%s' in pack '%s' does not match its hash: the repository is damaged",
			       x->source, x->path, mc->pack);
	if (!rc && total != x->size)
		rc = size_lie(s, x, total);
	if (rc) {
		tmp_discard(dfd, &t);
		return rc;
	}
	/* only verified content gets a name: copies for the other names of
	 * the same content first (they may move the cache: hold this
	 * directory), then this file */
	if (k + 1 < s->nfiles &&
	    !memcmp(s->v[s->by_sha[k + 1]].sha, msha, MBI_SHA256_LEN)) {
		if ((hold = dup(dfd)) < 0)
			rc = mbi_error(s->ctx, MB_E_IO, errno,
				       "cannot restore '%s/%s'", x->source,
				       x->path);
		else
			dfd = hold;
	}
	for (j = k + 1; !rc && j < s->nfiles &&
		    !memcmp(s->v[s->by_sha[j]].sha, msha, MBI_SHA256_LEN); j++)
		if (!(rc = place_copy(s, &mc->dc, &s->v[s->by_sha[j]], t.fd)))
			rc = placed(s, &s->v[s->by_sha[j]]);
	if (!rc) {
		set_owner_mode_time(s, dfd, base, t.fd, x);
		rc = tmp_publish(s, dfd, &t, x, base);
	} else {
		tmp_discard(dfd, &t);
	}
	if (hold >= 0)
		close(hold);
	return rc ? rc : placed(s, x);
}

static void *pack_worker(void *arg)
{
	struct restore_run *s = arg;
	struct member_ctx mc = { s, NULL, { NULL, -1 } };

	for (;;) {
		uint32_t p;
		int rc;

		pthread_mutex_lock(&s->mu);
		if (s->rc || s->next == s->ntodo) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		p = s->todo[s->next++];
		pthread_mutex_unlock(&s->mu);
		mc.pack = s->ix.packs[p].name;
		rc = mbi_pack_read(s->r, s->ix.packs[p].name,
				   s->ix.packs[p].size, on_member, &mc);
		pthread_mutex_lock(&s->mu);
		if (rc && !s->rc)
			s->rc = rc;
		if (!rc)
			s->res.packs++;
		pthread_mutex_unlock(&s->mu);
	}
	dircache_drop(&mc.dc);
	return NULL;
}

static int cmp_depth_desc(const void *a, const void *b)
{
	const struct sel *x = *(struct sel *const *)a,
			 *y = *(struct sel *const *)b;
	size_t dx = 0, dy = 0;
	const char *c;

	for (c = x->path; *c; c++)
		dx += *c == '/';
	for (c = y->path; *c; c++)
		dy += *c == '/';
	return dx < dy ? 1 : dx > dy ? -1 : 0;
}

static bool dir_is_empty(int fd)
{
	int d = dup(fd);
	DIR *dir = d >= 0 ? fdopendir(d) : NULL;
	struct dirent *de;
	bool empty = true;

	if (!dir) {
		if (d >= 0)
			close(d);
		return false;
	}
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = false;
			break;
		}
	closedir(dir);
	return empty;
}

#define NO_PACK UINT32_MAX

/* Sort the files by content, before the index is read (on_blob). */
static int plan_files(struct restore_run *s)
{
	static const unsigned char empty[MBI_SHA256_LEN] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb,
		0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4,
		0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
		0xb8, 0x55,
	};
	size_t i;
	unsigned p;

	if (s->n > UINT32_MAX)
		return mbi_error(s->ctx, MB_E_INVAL, 0,
				 "more than %u entries selected: restore the snapshot in parts (--source, --path)",
				 UINT32_MAX);
	s->by_sha = malloc((s->n + 1) * sizeof(*s->by_sha));
	s->pack_of = malloc((s->n + 1) * sizeof(*s->pack_of));
	s->by_prefix = malloc(65537 * sizeof(*s->by_prefix));
	if (!s->by_sha || !s->pack_of || !s->by_prefix)
		return MB_E_NOMEM;
	memset(s->pack_of, 0xff, (s->n + 1) * sizeof(*s->pack_of));
	s->bad_k = SIZE_MAX;
	for (i = 0; i < s->n; i++) {
		if (s->v[i].type == 'f' && s->v[i].size > 0)
			s->by_sha[s->nfiles++] = (uint32_t)i;
		else if (s->v[i].type == 'f' &&
			 memcmp(s->v[i].sha, empty, MBI_SHA256_LEN))
			return mbi_error(s->ctx, MB_E_VERIFY, 0,
					 "snapshot entry '%s/%s' says 0 bytes, its content is not empty: the snapshot is damaged or forged",
					 s->v[i].source, s->v[i].path);
	}
	qsort_r(s->by_sha, s->nfiles, sizeof(*s->by_sha), cmp_sha_idx, s->v);
	for (i = 0, p = 0; p < 65536; p++) {
		s->by_prefix[p] = (uint32_t)i;
		while (i < s->nfiles &&
		       ((unsigned)s->v[s->by_sha[i]].sha[0] << 8 |
			s->v[s->by_sha[i]].sha[1]) == p)
			i++;
	}
	s->by_prefix[65536] = (uint32_t)s->nfiles;
	return MB_OK;
}

/* The index's blob lines (mbi_index_load), instead of its table: only
 * the pack of each selected content is kept. The first pack that lists it
 * wins, as in the table; another one is kept in case the first is gone. */
static int on_blob(void *ud, const unsigned char *sha, uint32_t pack,
		   uint64_t size)
{
	struct restore_run *s = ud;
	struct alt_pack *na;
	size_t k;

	if (!sha) { /* the load starts again */
		memset(s->pack_of, 0xff, (s->n + 1) * sizeof(*s->pack_of));
		s->nalts = 0;
		s->bad_k = SIZE_MAX;
		return MB_OK;
	}
	k = first_of_sha(s, sha);
	if (k >= s->nfiles ||
	    memcmp(s->v[s->by_sha[k]].sha, sha, MBI_SHA256_LEN))
		return MB_OK;
	if (s->pack_of[k] == NO_PACK) {
		s->pack_of[k] = pack;
		if (size != s->v[s->by_sha[k]].size && s->bad_k == SIZE_MAX) {
			s->bad_k = k;
			s->bad_size = size;
		}
		return MB_OK;
	}
	if (!strcmp(s->ix.packs[s->pack_of[k]].name, s->ix.packs[pack].name))
		return MB_OK;
	na = realloc(s->alts, (s->nalts + 1) * sizeof(*na));
	if (!na)
		return MB_E_NOMEM;
	s->alts = na;
	s->alts[s->nalts].k = k;
	s->alts[s->nalts++].pack = pack;
	return MB_OK;
}

/* Content that two packs hold: the one that exists. */
static int resolve_alts(struct restore_run *s)
{
	bool *gone = NULL;
	size_t ngone = 0, i;
	int rc;

	if (!s->nalts)
		return MB_OK;
	rc = mbi_index_missing_packs(&s->ix, s->r, &gone, &ngone);
	for (i = 0; !rc && ngone && i < s->nalts; i++) {
		size_t k = s->alts[i].k;

		if (gone[s->pack_of[k]] && !gone[s->alts[i].pack])
			s->pack_of[k] = s->alts[i].pack;
	}
	free(gone);
	return rc;
}

/* Find every content's pack before anything is written: a missing one, or
 * a SIZE that its content does not have, stops the restore here.
 * packs_needed counts files per pack; *np the packs. */
static int plan_content(struct restore_run *s, uint32_t *packs_needed,
			size_t *np)
{
	size_t i, first = 0;
	int rc;

	if ((rc = resolve_alts(s)))
		return rc;
	if (s->bad_k != SIZE_MAX)
		return size_lie(s, &s->v[s->by_sha[s->bad_k]], s->bad_size);
	for (i = 0; i < s->nfiles; i++) {
		struct sel *x = &s->v[s->by_sha[i]];
		uint32_t pack;
		char hex[MBI_SHA256_HEX];

		if (memcmp(x->sha, s->v[s->by_sha[first]].sha, MBI_SHA256_LEN))
			first = i;
		pack = s->pack_of[first];
		if (pack == NO_PACK) {
			mbi_hex(x->sha, MBI_SHA256_LEN, hex);
			return mbi_error(s->ctx, MB_E_VERIFY, 0,
					 "content %s of '%s/%s' is in no pack of the repository: it is damaged; run 'mailbackup check'",
					 hex, x->source, x->path);
		}
		/* the first of them has the index's size */
		if (x->size != s->v[s->by_sha[first]].size)
			return size_lie(s, x, s->v[s->by_sha[first]].size);
		if (!packs_needed[pack]++)
			(*np)++;
	}
	/* packs_needed has what the workers need of it */
	free(s->pack_of);
	s->pack_of = NULL;
	return MB_OK;
}

/* Create the directories (closed to others until their modes are set). */
static int make_dirs(struct restore_run *s, struct sel **dirs, size_t ndirs)
{
	size_t i;

	for (i = 0; i < ndirs; i++) {
		const char *base;
		struct sel probe = *dirs[i];
		char *full = mbi_asprintf("%s/.", dirs[i]->path);
		int fd;

		if (!full)
			return MB_E_NOMEM;
		probe.path = full;
		fd = open_parent(s, &s->dc, &probe, &base);
		free(full);
		if (fd < 0)
			return fd;
	}
	return MB_OK;
}

/* Content, pack by pack, two packs at a time. */
static int fetch_content(struct restore_run *s, const uint32_t *packs_needed,
			 size_t np)
{
	pthread_t th[2];
	int k, nth = 0;
	size_t i;

	s->todo = malloc((np + 1) * sizeof(*s->todo));
	if (!s->todo)
		return MB_E_NOMEM;
	for (i = 0; i < s->ix.npacks; i++)
		if (packs_needed[i])
			s->todo[s->ntodo++] = (uint32_t)i;
	for (k = 0; k < 2 && (size_t)k < s->ntodo; k++)
		if (!pthread_create(&th[nth], NULL, pack_worker, s))
			nth++;
	if (!nth && s->ntodo)
		pack_worker(s);
	for (k = 0; k < nth; k++)
		pthread_join(th[k], NULL);
	return s->rc;
}

static int make_link(struct restore_run *s, struct sel *x)
{
	const char *base;
	int dfd = open_parent(s, &s->dc, x, &base);

	if (dfd < 0)
		return dfd;
	if (s->opts->overwrite)
		unlinkat(dfd, base, 0);
	if (symlinkat(sel_link(x), dfd, base))
		return mbi_error(s->ctx, errno == EEXIST ? MB_E_EXISTS : MB_E_IO,
				 errno, "cannot create symlink '%s/%s'",
				 x->source, x->path);
	set_owner_mode_time(s, dfd, base, -1, x);
	s->res.links++;
	return MB_OK;
}

/* Empty files and symlinks, once all content is in place. */
static int place_rest(struct restore_run *s)
{
	size_t i;
	int rc;

	for (i = 0; i < s->n; i++) {
		struct sel *x = &s->v[i];

		if (x->type == 'f' && x->size > 0 && !x->done) {
			char hex[MBI_SHA256_HEX];

			mbi_hex(x->sha, MBI_SHA256_LEN, hex);
			return mbi_error(s->ctx, MB_E_VERIFY, 0,
					 "content %s of '%s/%s' was not found in its pack: the repository is damaged",
					 hex, x->source, x->path);
		}
		if (x->type == 'f' && x->size == 0) {
			if ((rc = place_copy(s, &s->dc, x, -1)) ||
			    (rc = placed(s, x)))
				return rc;
		} else if (x->type == 'l' && (rc = make_link(s, x))) {
			return rc;
		}
	}
	return MB_OK;
}

/* Directories last, deepest first, so their times stay. */
static int finish_dirs(struct restore_run *s, struct sel **dirs, size_t ndirs)
{
	size_t i;

	qsort(dirs, ndirs, sizeof(*dirs), cmp_depth_desc);
	for (i = 0; i < ndirs; i++) {
		const char *base;
		int dfd = open_parent(s, &s->dc, dirs[i], &base), fd;

		if (dfd < 0)
			return dfd;
		if (!strcmp(dirs[i]->path, ".")) {
			/* the source's root: target/<source> */
			fd = openat(s->root, dirs[i]->source,
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				    O_CLOEXEC);
			if (fd >= 0)
				set_owner_mode_time(s, -1, NULL, fd, dirs[i]);
		} else {
			fd = openat(dfd, base, O_RDONLY | O_DIRECTORY |
				    O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				set_owner_mode_time(s, dfd, base, fd, dirs[i]);
		}
		if (fd >= 0)
			close(fd);
		s->res.dirs++;
	}
	return MB_OK;
}

static int restore_sel(struct restore_run *s)
{
	struct sel **dirs = NULL;
	size_t i, ndirs = 0, np = 0;
	uint32_t *packs_needed = NULL;
	int rc;

	/* make sure all content is in the repository before writing */
	dirs = malloc((s->n + 1) * sizeof(*dirs));
	packs_needed = calloc(s->ix.npacks + 1, sizeof(*packs_needed));
	if (!dirs || !packs_needed) {
		rc = MB_E_NOMEM;
		goto out;
	}
	for (i = 0; i < s->n; i++)
		if (s->v[i].type == 'd')
			dirs[ndirs++] = &s->v[i];
	if (!(rc = plan_content(s, packs_needed, &np)) &&
	    !(rc = make_dirs(s, dirs, ndirs)) &&
	    !(rc = fetch_content(s, packs_needed, np)) &&
	    !(rc = place_rest(s)))
		rc = finish_dirs(s, dirs, ndirs);
out:
	free(packs_needed);
	free(dirs);
	return rc;
}

static void rs_release(struct restore_run *s)
{
	free(s->v);
	names_release(&s->names);
	mbi_strv_free(s->sources, s->nsources);
	free(s->by_sha);
	free(s->by_prefix);
	free(s->pack_of);
	free(s->alts);
	free(s->todo);
	free(s->mailbox_prefix);
	pthread_mutex_destroy(&s->mu);
	dircache_drop(&s->dc);
	if (s->root >= 0)
		close(s->root);
	mbi_index_release(&s->ix);
	mbi_repo_close(s->r);
}

/* --mailbox USER@DOMAIN: the prefix DOMAIN/USER of maildir paths. */
static int set_mailbox_prefix(struct restore_run *s, const char *mailbox)
{
	const char *at = strchr(mailbox, '@');

	if (!at || at == mailbox || !at[1] || strchr(mailbox, '/'))
		return mbi_error(s->ctx, MB_E_INVAL, 0,
				 "mailbox '%s' must be USER@DOMAIN", mailbox);
	s->mailbox_prefix = mbi_asprintf("%s/%.*s", at + 1,
					 (int)(at - mailbox), mailbox);
	return s->mailbox_prefix ? MB_OK : MB_E_NOMEM;
}

/* Create (if needed) and open the target; *created says whether it was
 * made here. Without --overwrite it must be empty. */
static int open_target(struct restore_run *s, bool *created)
{
	const char *target = s->opts->target;

	*created = access(target, F_OK) != 0;
	if (mbi_mkdir_p(target, 0700))
		return mbi_error(s->ctx, MB_E_IO, errno, "cannot create '%s'",
				 target);
	s->root = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root < 0)
		return mbi_error(s->ctx, MB_E_IO, errno, "cannot open '%s'",
				 target);
	if (!s->opts->overwrite && !dir_is_empty(s->root)) {
		close(s->root);
		s->root = -1;
		return mbi_error(s->ctx, MB_E_EXISTS, 0,
				 "target '%s' is not empty: choose an empty directory or pass --overwrite",
				 target);
	}
	return MB_OK;
}

/* The configured source named name of kind k, or NULL. */
static const struct mbi_source *config_db_source(
	struct mb_ctx *ctx, const char *name, const struct mbi_source_kind *k)
{
	size_t c;

	for (c = 0; c < ctx->cfg->nsources; c++)
		if (!strcmp(ctx->cfg->sources[c].name, name) &&
		    ctx->cfg->sources[c].kind == k)
			return &ctx->cfg->sources[c];
	return NULL;
}

/* --load: the snapshot's database sources, each into the server that the
 * configuration names for it. */
static int load_databases(struct restore_run *s, const struct mbi_manifest *m)
{
	const struct mb_restore_opts *opts = s->opts;
	int rc = MB_OK;
	size_t k;

	for (k = 0; !rc && k < m->nsources; k++) {
		const struct mbi_source_kind *kind =
			mbi_source_kind(m->sources[k].type);
		const struct mbi_source *src;
		char *dir;

		if (!kind || !kind->load ||
		    (opts->source && strcmp(opts->source, m->sources[k].name)))
			continue;
		src = config_db_source(s->ctx, m->sources[k].name, kind);
		if (!src)
			return mbi_error(s->ctx, MB_E_CONFIG, 0,
					 "cannot load database source '%s': add [source %s] with type = %s and the server to load into",
					 m->sources[k].name, m->sources[k].name,
					 kind->name);
		dir = mbi_asprintf("%s/%s", opts->target, src->name);
		if (!dir)
			return MB_E_NOMEM;
		rc = kind->load(s->ctx, src, dir, opts->db_prefix,
				opts->overwrite, m);
		free(dir);
	}
	return rc;
}

/* After a restore into a new target: the target belongs to the one owner
 * of the sources restored into it (vmail for a mailbox), mode 0700, so
 * that the mail server's user can import from it and no one else can
 * read it. A target holding several owners' trees stays root's. */
void mbi_restore_share_target(struct mb_ctx *ctx, int root)
{
	int d = dup(root);
	DIR *dir = d >= 0 ? fdopendir(d) : NULL;
	struct dirent *de;
	struct stat st;
	uid_t uid = 0;
	gid_t gid = 0;
	bool one = true, any = false;

	if (!dir) {
		if (d >= 0)
			close(d);
		return;
	}
	rewinddir(dir); /* the offset is shared with root's, read before */
	while ((de = readdir(dir)) && one) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    fstatat(root, de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (any && (st.st_uid != uid || st.st_gid != gid))
			one = false;
		uid = st.st_uid;
		gid = st.st_gid;
		any = true;
	}
	closedir(dir);
	if (!any || !one || uid == 0 || geteuid() != 0)
		return;
	if (fchown(root, uid, gid) || fchmod(root, 0700))
		mbi_warn(ctx, "cannot give the restore target to uid %u: %s",
			 (unsigned)uid, strerror(errno));
}

/* A restore into a target directory; mb_restore() (restore_inplace.c) sends the
 * other kinds elsewhere. */
int mbi_restore_tree(struct mb_ctx *ctx, const struct mb_restore_opts *opts,
		     struct mb_restore_result *res)
{
	struct restore_run s;
	struct mb_snapshot_info si;
	struct mbi_manifest m;
	bool have_m = false, created;
	double t0 = mbi_now();
	int rc;

	memset(&s, 0, sizeof(s));
	s.root = s.dc.fd = -1;
	pthread_mutex_init(&s.mu, NULL);
	s.ctx = ctx;
	s.opts = opts;
	s.as_root = geteuid() == 0;
	ctx->warnings = 0;
	if (!opts->target || !*opts->target) {
		pthread_mutex_destroy(&s.mu);
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "no target: pass --target DIR");
	}
	if ((opts->mailbox && (rc = set_mailbox_prefix(&s, opts->mailbox))) ||
	    (rc = mbi_index_init(&s.ix, ctx)) ||
	    (rc = mbi_repo_open(ctx, &s.r)) ||
	    (rc = mbi_snapshot_resolve(s.r, opts->snapshot, &si)) ||
	    (rc = mbi_manifest_load(s.r, si.name, &m)))
		goto out;
	have_m = true;
	s.m = &m;
	/* room for every entry at once: no copy as it grows, and of a large
	 * allocation only what a partial selection uses is ever touched */
	if (m.nentries && !(s.v = malloc(m.nentries * sizeof(*s.v)))) {
		rc = MB_E_NOMEM;
		goto out;
	}
	s.cap = m.nentries;
	if ((rc = mbi_manifest_foreach(ctx, &m, collect, &s)))
		goto out;
	if (!s.n) {
		rc = mbi_error(ctx, MB_E_NOTFOUND, 0,
			       "nothing in snapshot '%s' matches the selection",
			       si.id);
		goto out;
	}
	if ((opts->mailbox || opts->path_glob) &&
	    (rc = collect_ancestors(&s, &m)))
		goto out;
	/* the selection holds copies of what it needs: the manifest's text
	 * is not held beside it for the rest of the restore, nor the index's
	 * table: on_blob keeps the pack of each selected content */
	mbi_manifest_drop_entries(&m);
	s.ix.on_blob = on_blob;
	s.ix.on_blob_ud = &s;
	if ((rc = plan_files(&s)) ||
	    (rc = mbi_index_load(&s.ix, s.r, false)) ||
	    (rc = open_target(&s, &created)))
		goto out;
	probe_tmpfile(&s);
	rc = restore_sel(&s);
	if (!rc && created)
		mbi_restore_share_target(ctx, s.root);
	if (!rc && opts->load)
		rc = load_databases(&s, &m);
out:
	if (have_m)
		mbi_manifest_release(&m);
	s.res.warnings = ctx->warnings;
	s.res.seconds = mbi_now() - t0;
	if (res)
		*res = s.res;
	rs_release(&s);
	if (!rc && ctx->warnings)
		return MB_E_PARTIAL;
	return rc;
}
