/* SPDX-License-Identifier: MIT */
/* repo/cache.c: the local change-detection cache (file identity -> content hash). */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fsperm.h"
#include "banned.h"

#define CACHE_MAGIC "MBCACHE1"

/* One file as seen by the last backup. Sorted by (dev, ino) on disk. */
struct rec {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
	unsigned char sha[MBI_SHA256_LEN];
};

struct mbi_cache {
	struct mb_ctx *ctx;
	char *dir, *path, *tmp;
	struct rec *old;
	size_t nold;
	FILE *out;    /* this run's records, unsorted */
	char *outbuf; /* its stdio buffer */
	size_t nnew;
	int err;
	/* the records as loaded: a run that saw the same files again (a
	 * no-change backup) leaves the file as it is */
	unsigned char old_sha[MBI_SHA256_LEN];
	size_t old_n;
	bool have_old;
	/* the digest of this run's entry lines (mbi_cache_line) */
	uint64_t lkey[2], lsum[2], nlines;
	bool have_lkey;
};

#define LINES_KEY "listings-key"
#define LINES_KEY_LEN 16

#define CACHE_OUT_BUFFER (256u << 10)

char *mbi_cache_dir(struct mb_ctx *ctx, const char *repo_id)
{
	const char *base = ctx->cfg ? ctx->cfg->cache_dir : NULL;
	char *root = NULL, *dir;

	if (base) {
		root = strdup(base);
	} else if (geteuid() == 0) {
		root = strdup("/var/cache/mailbackup");
	} else if (getenv("XDG_CACHE_HOME") && *getenv("XDG_CACHE_HOME")) {
		root = mbi_asprintf("%s/mailbackup", getenv("XDG_CACHE_HOME"));
	} else {
		root = mbi_asprintf("%s/.cache/mailbackup",
				    getenv("HOME") ? getenv("HOME") : "/tmp");
	}
	if (!root)
		return NULL;
	dir = mbi_asprintf("%s/%s", root, repo_id);
	free(root);
	if (dir && mbi_mkdir_p(dir, 0700)) {
		mbi_error(ctx, MB_E_IO, errno,
			  "cannot create cache directory '%s'", dir);
		free(dir);
		return NULL;
	}
	if (dir && mbi_fsperm_check(ctx, "cache directory", dir)) {
		free(dir);
		return NULL;
	}
	return dir;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

void mbi_cache_free(struct mbi_cache *c)
{
	if (!c)
		return;
	if (c->out) {
		fclose(c->out);
		unlink(c->tmp);
	}
	free(c->outbuf);
	free(c->old);
	free(c->dir);
	free(c->path);
	free(c->tmp);
	free(c);
}

/* The records are read straight into place: through a buffer, a million
 * files (72 MB) would take twice that at the moment of the copy. */
static void load_old(struct mbi_cache *c)
{
	char magic[8];
	struct stat st;
	size_t n = 0;
	int fd = open(c->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return; /* no cache: everything is read */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < 8 ||
	    (uint64_t)st.st_size > ((uint64_t)1 << 34) ||
	    ((uint64_t)st.st_size - 8) % sizeof(struct rec) ||
	    mbi_read_full(fd, magic, 8) != 8 ||
	    memcmp(magic, CACHE_MAGIC, 8))
		goto bad;
	n = ((size_t)st.st_size - 8) / sizeof(struct rec);
	c->old = malloc(n ? n * sizeof(struct rec) : 1);
	if (!c->old)
		goto out;
	if (mbi_read_full(fd, c->old, n * sizeof(struct rec)) !=
	    (ssize_t)(n * sizeof(struct rec))) {
		free(c->old);
		c->old = NULL;
		goto bad;
	}
	mbi_sha256_buf(c->old, n * sizeof(struct rec), c->old_sha);
	c->old_n = n;
	c->have_old = true;
	c->nold = n;
	goto out;
bad:
	mbi_log(c->ctx, MB_LOG_WARNING, "ignoring damaged cache '%s'",
		c->path);
out:
	close(fd);
}

/* The secret key of the lines' digest: made once per cache directory. A
 * digest that others cannot compute is one they cannot aim a tree at. */
static void load_lines_key(struct mbi_cache *c)
{
	struct mbi_buf b = { 0 };
	unsigned char k[LINES_KEY_LEN];
	char *p = mbi_asprintf("%s/" LINES_KEY, c->dir);

	if (!p)
		return;
	if (!mbi_read_file_flags(c->ctx, p, O_NOFOLLOW, &b, 64) &&
	    b.len == LINES_KEY_LEN) {
		memcpy(k, b.data, LINES_KEY_LEN);
		c->have_lkey = true;
	} else if (getrandom(k, sizeof(k), 0) == (ssize_t)sizeof(k) &&
		   !mbi_write_file_atomic(c->ctx, p, k, sizeof(k), 0600)) {
		c->have_lkey = true;
	}
	if (c->have_lkey)
		memcpy(c->lkey, k, sizeof(c->lkey));
	explicit_bzero(k, sizeof(k));
	if (b.data)
		explicit_bzero(b.data, b.len);
	mbi_buf_release(&b);
	free(p);
}

void mbi_cache_line(struct mbi_cache *c, const char *line, size_t len)
{
	uint64_t k2[2] = { c->lkey[0] ^ 0x6c6973746c696e31ULL, c->lkey[1] };

	/* two lanes of a sum: the order the lines came in does not count */
	c->lsum[0] += mbi_siphash(c->lkey, line, len);
	c->lsum[1] += mbi_siphash(k2, line, len);
	c->nlines++;
}

bool mbi_cache_lines(const struct mbi_cache *c,
		     unsigned char out[MBI_SHA256_LEN])
{
	uint64_t v[3] = { c->lsum[0], c->lsum[1], c->nlines };

	if (!c->have_lkey)
		return false;
	mbi_sha256_buf(v, sizeof(v), out);
	return true;
}

int mbi_cache_open(struct mb_ctx *ctx, const char *repo_id,
		   struct mbi_cache **out)
{
	struct mbi_cache *c = calloc(1, sizeof(*c));
	int fd;

	if (!c)
		return MB_E_NOMEM;
	c->ctx = ctx;
	c->dir = mbi_cache_dir(ctx, repo_id);
	if (!c->dir) {
		free(c);
		return MB_E_IO;
	}
	c->path = mbi_asprintf("%s/files", c->dir);
	c->tmp = mbi_asprintf("%s/files.new-%d", c->dir, (int)getpid());
	if (!c->path || !c->tmp) {
		mbi_cache_free(c);
		return MB_E_NOMEM;
	}
	load_old(c);
	load_lines_key(c);
	/* files.new-PID of a run that died, or a name planted there: removed
	 * (a link goes, not what it points to), then made anew */
	unlink(c->tmp);
	fd = open(c->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0 || !(c->out = fdopen(fd, "w"))) {
		int rc = mbi_error(ctx, MB_E_IO, errno, "cannot create '%s'",
				   c->tmp);

		if (fd >= 0)
			close(fd);
		mbi_cache_free(c);
		return rc;
	}
	/* one record a file: 4 KiB of stdio buffer was a write(2) for every
	 * 46 files */
	c->outbuf = malloc(CACHE_OUT_BUFFER);
	if (c->outbuf)
		setvbuf(c->out, c->outbuf, _IOFBF, CACHE_OUT_BUFFER);
	*out = c;
	return MB_OK;
}

bool mbi_cache_lookup(struct mbi_cache *c, uint64_t dev, uint64_t ino,
		      uint64_t size, int64_t mtime_ns, int64_t ctime_ns,
		      bool use_ctime, unsigned char *sha_out)
{
	struct rec key = { .dev = dev, .ino = ino };
	const struct rec *r;

	if (!c->nold)
		return false;
	r = bsearch(&key, c->old, c->nold, sizeof(*r), cmp_rec);
	if (!r || r->size != size || r->mtime_ns != mtime_ns ||
	    (use_ctime && r->ctime_ns != ctime_ns))
		return false;
	memcpy(sha_out, r->sha, MBI_SHA256_LEN);
	return true;
}

int mbi_cache_record(struct mbi_cache *c, uint64_t dev, uint64_t ino,
		     uint64_t size, int64_t mtime_ns, int64_t ctime_ns,
		     const unsigned char *sha)
{
	struct rec r;

	memset(&r, 0, sizeof(r));
	r.dev = dev;
	r.ino = ino;
	r.size = size;
	r.mtime_ns = mtime_ns;
	r.ctime_ns = ctime_ns;
	memcpy(r.sha, sha, MBI_SHA256_LEN);
	if (fwrite(&r, sizeof(r), 1, c->out) != 1 && !c->err)
		c->err = errno ? errno : EIO;
	c->nnew++;
	return MB_OK;
}

/* Whether the file already holds exactly these records (and is still
 * there, at its size): then writing it again, and its two fsyncs, would
 * change nothing. */
static bool unchanged(struct mbi_cache *c, const struct rec *v, size_t k)
{
	unsigned char sha[MBI_SHA256_LEN];
	struct stat st;

	if (!c->have_old || k != c->old_n ||
	    lstat(c->path, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != 8 + (uint64_t)k * sizeof(*v))
		return false;
	mbi_sha256_buf(v, k * sizeof(*v), sha);
	return !memcmp(sha, c->old_sha, MBI_SHA256_LEN);
}

int mbi_cache_save(struct mbi_cache *c)
{
	struct rec *v = NULL;
	int rc = MB_OK, fd = -1;
	size_t n = c->nnew, i, k = 0;

	free(c->old);
	c->old = NULL;
	c->nold = 0;
	if (fflush(c->out) || c->err) {
		rc = mbi_error(c->ctx, MB_E_IO, c->err ? c->err : errno,
			       "cannot write cache '%s'", c->tmp);
		goto out;
	}
	v = malloc(n ? n * sizeof(*v) : 1);
	fd = open(c->tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (!v || fd < 0 ||
	    mbi_read_full(fd, v, n * sizeof(*v)) != (ssize_t)(n * sizeof(*v))) {
		rc = mbi_error(c->ctx, MB_E_IO, errno, "cannot read '%s'",
			       c->tmp);
		goto out;
	}
	qsort(v, n, sizeof(*v), cmp_rec);
	/* a file seen twice (a hard link) is kept once */
	for (i = 0; i < n; i++)
		if (!k || cmp_rec(&v[k - 1], &v[i]))
			v[k++] = v[i];
	if (unchanged(c, v, k))
		goto out;
	{
		/* the records are written from where they are sorted: a
		 * second copy would double the peak for a million files */
		struct iovec parts[2] = { { (void *)CACHE_MAGIC, 8 },
					  { v, k * sizeof(*v) } };

		rc = mbi_write_file_atomicv(c->ctx, c->path, parts, 2, 0600);
	}
out:
	if (fd >= 0)
		close(fd);
	free(v);
	return rc;
}
