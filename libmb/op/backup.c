/* SPDX-License-Identifier: MIT */
/* op/backup.c: the backup run: walk, hash, dedup, pack, index, commit. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "banned.h"

#define PENDING UINT32_MAX   /* blob queued for a pack not yet committed */
#define FAILED (UINT32_MAX - 1)
#define SMALL_FILE (8u << 20) /* read whole into memory below this */
#define QUEUE_JOBS 512
#define PACK_QUEUE_BYTES (32u << 20)
#define FILE_POOL_IDLE (16u << 20) /* file buffers kept for reuse */

/* A regular file to read and hash (walker -> readers). */
struct job {
	char *source;
	char *path;
	int fd;
	struct stat st;
	bool use_ctime;
	bool own_fd_only; /* emitted content (db dump): no cache record */
};

/* New content for the packer (readers -> packer). */
struct blob {
	struct blob *next;
	unsigned char sha[MBI_SHA256_LEN];
	char *name;       /* member name: source/path */
	uint64_t size;
	uint32_t mode;
	int64_t mtime_ns;
	char *buf;        /* small files */
	int fd;           /* large files, or -1 */
};

struct backup_run {
	struct mb_ctx *ctx;
	struct mbi_repo *r;
	struct mbi_index ix;       /* guarded by ix.lock */
	struct mbi_cache *cache;   /* guarded by mlock */
	uint32_t first_new_pack;

	FILE *mf;                  /* entry lines, guarded by mlock */
	char *mfbuf;               /* its stdio buffer */
	pthread_mutex_t mlock;

	pthread_mutex_t qlock;
	pthread_cond_t qfull, qempty;
	struct job *q[QUEUE_JOBS];
	size_t qhead, qn;
	bool qclosed;

	pthread_mutex_t plock;
	pthread_cond_t pfull, pempty;
	struct blob *phead, *ptail;
	uint64_t pbytes;           /* bytes of buffered blobs queued */
	uint64_t pqueued;          /* bytes of all blobs queued */
	bool pclosed;
	struct mbi_pool pool;      /* file buffers */

	int fatal;                 /* first fatal error, sticky */
	uint64_t nfailed;          /* blobs marked FAILED */
	struct mb_backup_result res;
	uint64_t items;
	uint64_t progress_bytes;
	const struct mbi_source *cur_src;
	char *tmpdir;
	struct mbi_lock *lock;
	bool *gone;                /* per ix pack: missing from packs/ */
	size_t ngone;
};

static void set_fatal(struct backup_run *b, int rc)
{
	__atomic_compare_exchange_n(&b->fatal, &(int){ 0 }, rc, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static int get_fatal(struct backup_run *b)
{
	return __atomic_load_n(&b->fatal, __ATOMIC_SEQ_CST);
}

static void add_stat(uint64_t *p, uint64_t v)
{
	__atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* ------------------------------------------------------------ manifest */

static int write_entry(struct backup_run *b, const char *source,
		       const char *path, char type, const struct stat *st,
		       const char *link, const unsigned char *sha)
{
	struct mbi_mentry e;
	struct mbi_buf line = { 0 };
	int rc;

	memset(&e, 0, sizeof(e));
	e.source = (char *)source;
	e.path = (char *)path;
	e.link = (char *)link;
	e.type = type;
	e.mode = st->st_mode & 07777;
	e.uid = st->st_uid;
	e.gid = st->st_gid;
	e.mtime_ns = ts_ns(&st->st_mtim);
	e.size = type == 'f' ? (uint64_t)st->st_size : 0;
	if (sha) {
		memcpy(e.sha, sha, MBI_SHA256_LEN);
		e.has_sha = true;
	}
	rc = mbi_manifest_format_entry(&line, &e);
	if (!rc) {
		pthread_mutex_lock(&b->mlock);
		mbi_cache_line(b->cache, line.data, line.len);
		if (fwrite(line.data, 1, line.len, b->mf) != line.len)
			rc = mbi_error(b->ctx, MB_E_IO, errno,
				       "cannot write the manifest spool");
		pthread_mutex_unlock(&b->mlock);
	}
	mbi_buf_release(&line);
	return rc;
}

/* -------------------------------------------------------------- packer */

static void blob_free(struct backup_run *b, struct blob *bl)
{
	if (!bl)
		return;
	mbi_pool_put(&b->pool, bl->buf);
	if (bl->fd >= 0)
		close(bl->fd);
	free(bl->name);
	free(bl);
}

/* What a queued blob holds in memory: its data when buffered, and its
 * struct and name (which dominate for a million tiny files). */
static uint64_t blob_cost(const struct blob *bl)
{
	return (bl->buf ? bl->size : 0) + sizeof(*bl) + strlen(bl->name) + 64;
}

static void push_blob(struct backup_run *b, struct blob *bl)
{
	uint64_t cost = blob_cost(bl);

	pthread_mutex_lock(&b->plock);
	while (b->pbytes > 0 && b->pbytes + cost > PACK_QUEUE_BYTES &&
	       !get_fatal(b))
		pthread_cond_wait(&b->pfull, &b->plock);
	bl->next = NULL;
	if (b->ptail)
		b->ptail->next = bl;
	else
		b->phead = bl;
	b->ptail = bl;
	b->pbytes += cost;
	b->pqueued += bl->size;
	pthread_cond_broadcast(&b->pempty);
	pthread_mutex_unlock(&b->plock);
}

/* The second packer starts a pack only when there is this much to do: a
 * nightly run with a little new mail makes one small pack, not two. */
#define SECOND_PACK_MIN (8u << 20)

static struct blob *pop_blob(struct backup_run *b, bool helper)
{
	struct blob *bl;

	pthread_mutex_lock(&b->plock);
	while ((!b->phead || (helper && b->pqueued < SECOND_PACK_MIN)) &&
	       !b->pclosed)
		pthread_cond_wait(&b->pempty, &b->plock);
	if (helper && b->pqueued < SECOND_PACK_MIN) {
		pthread_mutex_unlock(&b->plock);
		return NULL; /* the rest is the first packer's */
	}
	bl = b->phead;
	if (bl) {
		b->phead = bl->next;
		if (!b->phead)
			b->ptail = NULL;
		b->pbytes -= blob_cost(bl);
		b->pqueued -= bl->size;
		pthread_cond_broadcast(&b->pfull);
	}
	pthread_mutex_unlock(&b->plock);
	return bl;
}

static void set_blob_pack(struct backup_run *b, const unsigned char *sha,
			  uint32_t pack)
{
	struct mbi_blobref *ref;

	if (pack == FAILED)
		add_stat(&b->nfailed, 1);
	pthread_mutex_lock(&b->ix.lock);
	ref = (struct mbi_blobref *)mbi_index_find(&b->ix, sha);
	if (ref) {
		ref->pack = pack;
		if (pack < b->ix.npacks)
			b->ix.packs[pack].nblobs++;
	}
	pthread_mutex_unlock(&b->ix.lock);
}

struct open_pack {
	struct mbi_packw *pw;
	unsigned char (*shas)[MBI_SHA256_LEN];
	size_t n, cap;
};

static int finish_pack(struct backup_run *b, struct open_pack *op)
{
	char name[MBI_SHA256_HEX];
	uint64_t size;
	uint32_t pack;
	size_t i;
	int rc = mbi_packw_close(op->pw, name, &size);

	op->pw = NULL;
	if (rc) {
		for (i = 0; i < op->n; i++)
			set_blob_pack(b, op->shas[i], FAILED);
		op->n = 0;
		return rc;
	}
	pthread_mutex_lock(&b->ix.lock);
	rc = mbi_index_add_pack(&b->ix, name, size, &pack);
	pthread_mutex_unlock(&b->ix.lock);
	if (rc)
		return rc;
	for (i = 0; i < op->n; i++)
		set_blob_pack(b, op->shas[i], pack);
	op->n = 0;
	add_stat(&b->res.bytes_stored, size);
	add_stat(&b->res.packs, 1);
	mbi_log(b->ctx, MB_LOG_DEBUG, "pack %s: %llu bytes", name,
		(unsigned long long)size);
	return MB_OK;
}

struct packer_arg {
	struct backup_run *b;
	bool helper;   /* not the first packer */
};

static void *packer_main(void *arg)
{
	struct packer_arg *pa = arg;
	struct backup_run *b = pa->b;
	struct open_pack op = { 0 };
	struct blob *bl;
	int rc;

	/* a helper with a pack open takes whatever comes, to fill it */
	while ((bl = pop_blob(b, pa->helper && !op.pw))) {
		if (get_fatal(b)) {
			set_blob_pack(b, bl->sha, FAILED);
			blob_free(b, bl);
			continue;
		}
		if (!op.pw) {
			rc = mbi_packw_open(b->r, b->ctx->cfg->zstd_level,
					    &op.pw);
			if (rc) {
				set_fatal(b, rc);
				set_blob_pack(b, bl->sha, FAILED);
				blob_free(b, bl);
				continue;
			}
		}
		if (op.n == op.cap) {
			size_t cap = op.cap ? op.cap * 2 : 1024;
			void *ns = realloc(op.shas, cap * sizeof(*op.shas));

			if (!ns) {
				set_fatal(b, MB_E_NOMEM);
				blob_free(b, bl);
				continue;
			}
			op.shas = ns;
			op.cap = cap;
		}
		rc = mbi_packw_add(op.pw, bl->name, bl->sha, bl->size,
				   bl->mode, bl->mtime_ns, bl->buf, bl->fd);
		if (rc == MB_E_VERIFY) {
			/* the file changed between hashing and packing: its
			 * member is in the pack but nothing refers to it */
			mbi_warn(b->ctx, "%s: skipped", mb_ctx_errmsg(b->ctx));
			set_blob_pack(b, bl->sha, FAILED);
		} else if (rc) {
			set_fatal(b, rc);
			set_blob_pack(b, bl->sha, FAILED);
		} else {
			memcpy(op.shas[op.n++], bl->sha, MBI_SHA256_LEN);
		}
		blob_free(b, bl);
		if (op.pw && !get_fatal(b) &&
		    mbi_packw_out_bytes(op.pw) >= b->ctx->cfg->pack_size) {
			rc = finish_pack(b, &op);
			if (rc)
				set_fatal(b, rc);
		}
	}
	if (op.pw) {
		if (get_fatal(b)) {
			size_t i;

			mbi_packw_abort(op.pw);
			for (i = 0; i < op.n; i++)
				set_blob_pack(b, op.shas[i], FAILED);
		} else if ((rc = finish_pack(b, &op))) {
			set_fatal(b, rc);
		}
	}
	free(op.shas);
	return NULL;
}

/* ------------------------------------------------------------- readers */

/* Decide whether content is new; if so claim it for this run. */
static bool claim_new(struct backup_run *b, const unsigned char *sha,
		      uint64_t size)
{
	bool fresh = false;

	struct mbi_blobref *ref;

	pthread_mutex_lock(&b->ix.lock);
	ref = (struct mbi_blobref *)mbi_index_find(&b->ix, sha);
	if (!ref) {
		fresh = mbi_index_add_blob(&b->ix, sha, PENDING, size) == MB_OK;
	} else if (ref->pack == FAILED) {
		ref->pack = PENDING; /* an earlier copy did not make it */
		fresh = true;
	}
	pthread_mutex_unlock(&b->ix.lock);
	return fresh;
}

static void process_job(struct backup_run *b, struct job *j)
{
	unsigned char sha[MBI_SHA256_LEN];
	uint64_t size = (uint64_t)j->st.st_size;
	char *buf = NULL;
	struct blob *bl;
	bool fresh;
	int rc;

	if (size <= SMALL_FILE) {
		ssize_t n;

		buf = mbi_pool_get(&b->pool, size ? size : 1);
		if (!buf) {
			set_fatal(b, MB_E_NOMEM);
			goto out;
		}
		n = mbi_read_full(j->fd, buf, size);
		if (n < 0 || (uint64_t)n != size) {
			mbi_warn(b->ctx, "cannot read '%s/%s': %s", j->source,
				 j->path, n < 0 ? strerror(errno) :
				 "it shrank while it was read");
			goto out;
		}
		mbi_sha256_buf(buf, size, sha);
	} else {
		uint64_t got;

		if (mbi_sha256_fd(j->fd, sha, &got) || got < size) {
			mbi_warn(b->ctx, "cannot read '%s/%s': %s", j->source,
				 j->path, got < size ?
				 "it shrank while it was read" :
				 strerror(errno));
			goto out;
		}
		if (got > size) {
			/* grew while read: hash what the stat said */
			struct mbi_sha256 s;
			char *tmp = malloc(1 << 20);
			uint64_t off = 0;

			if (!tmp || mbi_sha256_init(&s)) {
				free(tmp);
				set_fatal(b, MB_E_NOMEM);
				goto out;
			}
			while (off < size) {
				size_t want = size - off > (1 << 20) ?
					      (1 << 20) : (size_t)(size - off);
				ssize_t n = pread(j->fd, tmp, want, (off_t)off);

				if (n <= 0)
					break;
				mbi_sha256_update(&s, tmp, (size_t)n);
				off += (uint64_t)n;
			}
			mbi_sha256_final(&s, sha);
			mbi_sha256_release(&s);
			free(tmp);
		}
	}
	add_stat(&b->res.bytes_read, size);
	fresh = claim_new(b, sha, size);
	if (fresh) {
		bl = calloc(1, sizeof(*bl));
		if (!bl) {
			set_fatal(b, MB_E_NOMEM);
			goto out;
		}
		memcpy(bl->sha, sha, MBI_SHA256_LEN);
		bl->name = mbi_asprintf("%s/%s", j->source, j->path);
		bl->size = size;
		bl->mode = j->st.st_mode & 07777;
		bl->mtime_ns = ts_ns(&j->st.st_mtim);
		bl->buf = buf;
		bl->fd = -1;
		buf = NULL;
		if (!bl->buf) {
			bl->fd = j->fd;
			j->fd = -1;
		}
		add_stat(&b->res.bytes_new, size);
		add_stat(&b->res.files_new, 1);
		push_blob(b, bl);
	}
	rc = write_entry(b, j->source, j->path, 'f', &j->st, NULL, sha);
	if (rc) {
		set_fatal(b, rc);
		goto out;
	}
	if (!j->own_fd_only) {
		pthread_mutex_lock(&b->mlock);
		mbi_cache_record(b->cache, j->st.st_dev, j->st.st_ino, size,
				 ts_ns(&j->st.st_mtim), ts_ns(&j->st.st_ctim),
				 sha);
		pthread_mutex_unlock(&b->mlock);
	}
out:
	mbi_pool_put(&b->pool, buf);
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->source);
	free(j->path);
	free(j);
}

static void *reader_main(void *arg)
{
	struct backup_run *b = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&b->qlock);
		while (!b->qn && !b->qclosed)
			pthread_cond_wait(&b->qempty, &b->qlock);
		if (!b->qn) {
			pthread_mutex_unlock(&b->qlock);
			break;
		}
		j = b->q[b->qhead];
		b->qhead = (b->qhead + 1) % QUEUE_JOBS;
		b->qn--;
		pthread_cond_signal(&b->qfull);
		pthread_mutex_unlock(&b->qlock);
		if (!get_fatal(b))
			process_job(b, j);
		job_free(j);
	}
	return NULL;
}

static void push_job(struct backup_run *b, struct job *j)
{
	pthread_mutex_lock(&b->qlock);
	while (b->qn == QUEUE_JOBS)
		pthread_cond_wait(&b->qfull, &b->qlock);
	b->q[(b->qhead + b->qn) % QUEUE_JOBS] = j;
	b->qn++;
	pthread_cond_signal(&b->qempty);
	pthread_mutex_unlock(&b->qlock);
}

/* -------------------------------------------------------------- walking */

static int progress(struct backup_run *b)
{
	b->items++;
	if (b->items % 256)
		return MB_OK;
	return mbi_progress(b->ctx, "backup", b->items,
			    __atomic_load_n(&b->res.bytes_read,
					    __ATOMIC_RELAXED), 0, 0);
}

static int on_item(void *ud, struct mbi_walker *w,
		   const struct mbi_walk_item *it)
{
	struct backup_run *b = ud;
	const struct mbi_source *src = b->cur_src;
	struct stat *st = it->st;
	unsigned char sha[MBI_SHA256_LEN];
	bool use_ctime = src->kind->ctime;
	struct job *j;
	const char *path;
	int fd, rc;

	if ((rc = get_fatal(b)) || (rc = progress(b)))
		return rc;
	if (S_ISDIR(st->st_mode)) {
		b->res.dirs++;
		return write_entry(b, src->name, it->path, 'd', st, NULL,
				   NULL);
	}
	if (S_ISLNK(st->st_mode))
		return write_entry(b, src->name, it->path, 'l', st, it->link,
				   NULL);
	b->res.files++;
	b->res.bytes_total += (uint64_t)st->st_size;
	/* Maildir messages never change once delivered, and a flag change
	 * is a rename, which changes ctime: for them (dev, ino, size, mtime)
	 * names the content. Elsewhere ctime counts too. */
	if (mbi_cache_lookup(b->cache, st->st_dev, st->st_ino,
			     (uint64_t)st->st_size, ts_ns(&st->st_mtim),
			     ts_ns(&st->st_ctim), use_ctime, sha)) {
		const struct mbi_blobref *ref;
		bool known;

		pthread_mutex_lock(&b->ix.lock);
		ref = mbi_index_find(&b->ix, sha);
		known = ref && ref->pack != FAILED;
		pthread_mutex_unlock(&b->ix.lock);
		if (known) {
			pthread_mutex_lock(&b->mlock);
			mbi_cache_record(b->cache, st->st_dev, st->st_ino,
					 (uint64_t)st->st_size,
					 ts_ns(&st->st_mtim),
					 ts_ns(&st->st_ctim), sha);
			pthread_mutex_unlock(&b->mlock);
			return write_entry(b, src->name, it->path, 'f', st,
					   NULL, sha);
		}
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return MB_E_NOMEM;
	fd = mbi_walk_open(w, it, &j->st, &path);
	if (fd < 0) {
		free(j);
		b->res.files--;
		b->res.bytes_total -= (uint64_t)st->st_size;
		return MB_OK;
	}
	j->fd = fd;
	j->use_ctime = use_ctime;
	j->source = strdup(src->name);
	j->path = strdup(path);
	if (!j->source || !j->path) {
		job_free(j);
		return MB_E_NOMEM;
	}
	push_job(b, j);
	return MB_OK;
}

/* The mbi_emit of sources that produce content (mariadb, command). */
struct emit_ctx {
	struct mbi_emit em;
	struct backup_run *b;
	const struct mbi_source *src;
	struct mbi_buf extra; /* db and meta lines */
};

static int em_add_file(struct mbi_emit *em, const char *relpath, int fd,
		       uint64_t size, uint32_t mode, int64_t mtime_ns)
{
	struct emit_ctx *ec = em->priv;
	struct job *j;

	if (!mbi_path_is_safe(relpath))
		return mbi_source_error(ec->b->ctx, ec->src->name, MB_E_INVAL, 0,
					"bad entry name '%s'",
					relpath);
	if (get_fatal(ec->b))
		return get_fatal(ec->b);
	j = calloc(1, sizeof(*j));
	if (!j)
		return MB_E_NOMEM;
	j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	j->source = strdup(ec->src->name);
	j->path = strdup(relpath);
	j->st.st_size = (off_t)size;
	j->st.st_mode = S_IFREG | (mode & 07777);
	j->st.st_uid = getuid();
	j->st.st_gid = getgid();
	j->st.st_mtim.tv_sec = (time_t)(mtime_ns / 1000000000);
	j->st.st_mtim.tv_nsec = (long)(mtime_ns % 1000000000);
	j->own_fd_only = true;
	if (j->fd < 0 || !j->source || !j->path) {
		job_free(j);
		return MB_E_NOMEM;
	}
	/* readers read from offset 0 with read(): rewind our dup */
	lseek(j->fd, 0, SEEK_SET);
	ec->b->res.files++;
	ec->b->res.bytes_total += size;
	push_job(ec->b, j);
	return MB_OK;
}

static int em_add_db(struct mbi_emit *em, const char *db, const char *table,
		     uint64_t rows, const char *checksum)
{
	struct emit_ctx *ec = em->priv;
	int rc = mbi_buf_printf(&ec->extra, "db %s ", ec->src->name);

	if (!rc)
		rc = mbi_escape(&ec->extra, db, strlen(db));
	if (!rc)
		rc = mbi_buf_add(&ec->extra, " ", 1);
	if (!rc)
		rc = mbi_escape(&ec->extra, table, strlen(table));
	if (!rc)
		rc = mbi_buf_printf(&ec->extra, " %llu ",
				    (unsigned long long)rows);
	if (!rc)
		rc = mbi_escape(&ec->extra, checksum && *checksum ?
				checksum : "-", checksum && *checksum ?
				strlen(checksum) : 1);
	if (!rc)
		rc = mbi_buf_add(&ec->extra, "\n", 1);
	return rc;
}

static int em_add_meta(struct mbi_emit *em, const char *key,
		       const char *value)
{
	struct emit_ctx *ec = em->priv;
	int rc = mbi_buf_printf(&ec->extra, "meta %s ", ec->src->name);

	if (!rc)
		rc = mbi_escape(&ec->extra, key, strlen(key));
	if (!rc)
		rc = mbi_buf_add(&ec->extra, " ", 1);
	if (!rc)
		rc = mbi_escape(&ec->extra, *value ? value : "-",
				*value ? strlen(value) : 1);
	if (!rc)
		rc = mbi_buf_add(&ec->extra, "\n", 1);
	return rc;
}

/* ------------------------------------------------------------- commit */

/* A streamed, signed metadata object: text -> zstd -> gpg -> store. */
struct meta_out {
	struct mbi_store_writer *w;
	struct mbi_encjob *job;
	int fd;
	ZSTD_CCtx *z;
	char *zbuf;
	size_t zcap;
	int err;
};

static int meta_push(struct meta_out *mo, const void *p, size_t n,
		     ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { p, n, 0 };
	size_t left;

	do {
		ZSTD_outBuffer o = { mo->zbuf, mo->zcap, 0 };
		const char *c = mo->zbuf;

		left = ZSTD_compressStream2(mo->z, &o, &in, mode);
		if (ZSTD_isError(left))
			return -1;
		while (o.pos) {
			ssize_t w = send(mo->fd, c, o.pos, MSG_NOSIGNAL);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				mo->err = errno;
				return -1;
			}
			c += w;
			o.pos -= (size_t)w;
		}
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return 0;
}

static int meta_open(struct backup_run *b, struct meta_out *mo)
{
	int rc;

	memset(mo, 0, sizeof(*mo));
	mo->fd = -1;
	mo->zcap = ZSTD_CStreamOutSize();
	mo->zbuf = malloc(mo->zcap);
	mo->z = ZSTD_createCCtx();
	if (!mo->zbuf || !mo->z)
		return MB_E_NOMEM;
	/* level 1: as small as 3 on manifests (hashes and paths), faster */
	ZSTD_CCtx_setParameter(mo->z, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(mo->z, ZSTD_c_checksumFlag, 1);
	if ((rc = mbi_store_writer_open(b->r->store, &mo->w)))
		return rc;
	return mbi_crypt_encrypt_begin(b->r->crypt, MBI_CRYPT_META, mo->w,
				       &mo->job, &mo->fd);
}

static int meta_close(struct backup_run *b, struct meta_out *mo,
		      const char *key, bool commit)
{
	unsigned char sha[MBI_SHA256_LEN];
	uint64_t size = 0;
	int rc = MB_OK;

	if (commit && meta_push(mo, NULL, 0, ZSTD_e_end))
		rc = mbi_error(b->ctx, MB_E_CRYPTO, mo->err,
			       "cannot write '%s'", key);
	if (mo->fd >= 0)
		close(mo->fd);
	if (mo->job) {
		int erc = mbi_crypt_encrypt_end(mo->job, sha, &size);

		if (!rc)
			rc = erc;
	}
	if (!commit && !rc)
		rc = MB_E_ABORTED;
	if (rc)
		mbi_writer_abort(mo->w);
	else
		rc = mbi_writer_commit(mo->w, key);
	if (!rc)
		b->res.bytes_stored += size;
	ZSTD_freeCCtx(mo->z);
	free(mo->zbuf);
	return rc;
}

static int write_index(struct backup_run *b)
{
	uint64_t size = 0;
	int rc;

	if (b->ix.npacks <= b->first_new_pack)
		return MB_OK;
	rc = mbi_index_write(&b->ix, b->r, b->first_new_pack, &size);
	b->res.bytes_stored += size;
	return rc;
}

static int pack_gone(struct backup_run *b, const struct mbi_mentry *e,
		     uint32_t pack)
{
	return mbi_error(b->ctx, MB_E_STORE, 0,
			 "pack '%s' holding '%s/%s' vanished from the repository during this backup (a prune deleted it?): no snapshot committed; run 'mailbackup repair index', then back up again",
			 b->ix.packs[pack].name, e->source, e->path);
}

/* Index entries whose pack is missing from the repository (a prune that
 * raced a paused backup, a lost object): their content is stored again. */
static int forget_missing_packs(struct backup_run *b)
{
	size_t i, n = 0;
	int rc = mbi_index_missing_packs(&b->ix, b->r, &b->gone, &b->ngone);

	if (rc || !b->ngone)
		goto out;
	for (i = 0; i < b->ix.cap; i++) {
		static const unsigned char zero[MBI_SHA256_LEN];
		struct mbi_blobref *v = &b->ix.vals[i];

		if (!memcmp(b->ix.keys + i * MBI_SHA256_LEN, zero,
			    MBI_SHA256_LEN))
			continue;
		if (v->pack < b->ix.npacks && b->gone[v->pack]) {
			v->pack = FAILED;
			n++;
		}
	}
	mbi_warn(b->ctx,
		 "%zu pack(s) named by the index are missing from the repository: their content (%zu blobs) is stored again; run 'mailbackup repair index' to drop the stale entries",
		 b->ngone, n);
out:
	free(b->gone);
	b->gone = NULL;
	b->ngone = 0;
	return rc;
}

/* Just before the manifest: are the packs it names all still there? */
static int recheck_packs(struct backup_run *b)
{
	free(b->gone);
	b->gone = NULL;
	return mbi_index_missing_packs(&b->ix, b->r, &b->gone, &b->ngone);
}

/* Whether a spooled entry line goes into the snapshot: entries whose
 * content did not make it into a pack are left out; when none failed, there
 * is nothing to look up. A failure when the pack vanished meanwhile. */
static int entry_kept(struct backup_run *b, const char *line, size_t len,
		      bool check, bool *keep)
{
	struct mbi_mentry e;
	const struct mbi_blobref *ref;
	char *copy;
	bool ok;
	int rc = MB_OK;

	*keep = true;
	if (!check || line[0] != 'e' || line[1] != ' ' || !strstr(line, " f "))
		return MB_OK;
	copy = strndup(line, len - 1);
	if (!copy)
		return MB_E_NOMEM;
	if (mbi_manifest_parse_entry(copy, &e) || !e.has_sha)
		goto out;
	pthread_mutex_lock(&b->ix.lock);
	ref = mbi_index_find(&b->ix, e.sha);
	ok = ref && ref->pack < b->ix.npacks;
	pthread_mutex_unlock(&b->ix.lock);
	if (ok && b->gone && b->gone[ref->pack]) {
		rc = pack_gone(b, &e, ref->pack);
	} else if (!ok && e.size > 0) {
		mbi_warn(b->ctx, "'%s/%s' left out: its content could not be stored",
			 e.source, e.path);
		*keep = false;
	}
out:
	free(copy);
	return rc;
}

/* Copy the spooled entries into the manifest, dropping any whose content
 * did not reach a committed pack (so no snapshot points at missing data). */
static int write_manifest(struct backup_run *b,
			  const struct mb_backup_opts *opts,
			  const char *header_extra, const char *key)
{
	struct meta_out mo;
	struct mbi_buf head = { 0 };
	char *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;
	bool check = __atomic_load_n(&b->nfailed, __ATOMIC_SEQ_CST) > 0 ||
		     b->ngone > 0;
	int rc;

	(void)opts;
	rc = meta_open(b, &mo);
	if (rc)
		goto out;
	if (fflush(b->mf) || fseeko(b->mf, 0, SEEK_SET)) {
		rc = mbi_error(b->ctx, MB_E_IO, errno,
			       "cannot read the manifest spool");
		goto out;
	}
	rc = mbi_buf_addstr(&head, header_extra);
	if (!rc && meta_push(&mo, head.data, head.len, ZSTD_e_continue))
		rc = MB_E_CRYPTO;
	while (!rc && (len = getline(&line, &cap, b->mf)) > 0) {
		bool keep = true;

		rc = entry_kept(b, line, (size_t)len, check, &keep);
		if (rc || !keep)
			continue;
		n++;
		if (meta_push(&mo, line, (size_t)len, ZSTD_e_continue))
			rc = MB_E_CRYPTO;
	}
	if (!rc) {
		head.len = 0;
		rc = mbi_buf_printf(&head, "end %zu\n", n);
		if (!rc && meta_push(&mo, head.data, head.len,
				     ZSTD_e_continue))
			rc = MB_E_CRYPTO;
	}
	if (rc == MB_E_CRYPTO)
		rc = mbi_error(b->ctx, MB_E_CRYPTO, mo.err,
			       "gpg stopped while the manifest was written");
out:
	{
		int crc = meta_close(b, &mo, key, rc == MB_OK);

		if (!rc)
			rc = crc;
	}
	free(line);
	mbi_buf_release(&head);
	return rc;
}

/* ------------------------------------------------------------ format 2 */

/* The kept entry lines, sorted for format 2's listings (on disk in
 * sorted runs beyond MBI_LSORT_RUN bytes: memory does not grow with the
 * number of entries). */
static int read_spool(struct backup_run *b, struct mbi_lsort *s)
{
	bool check = __atomic_load_n(&b->nfailed, __ATOMIC_SEQ_CST) > 0 ||
		     b->ngone > 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = MB_OK;

	if (fflush(b->mf) || fseeko(b->mf, 0, SEEK_SET))
		return mbi_error(b->ctx, MB_E_IO, errno,
				 "cannot read the manifest spool");
	while (!rc && (len = getline(&line, &cap, b->mf)) > 0) {
		bool keep = true;

		rc = entry_kept(b, line, (size_t)len, check, &keep);
		if (rc || !keep || len < 3)
			continue;
		rc = mbi_lsort_add(s, line, (size_t)len - 1);
	}
	free(line);
	return rc;
}

/* The kept entries as listings (docs/format.md §10.3): a tree line per
 * source; listings that the index does not have yet go into listing
 * packs, listed by this run's index. */
static int write_listings(struct backup_run *b, struct mbi_buf *trees,
			  size_t *count)
{
	struct mbi_lpw w;
	struct mbi_lsort *s = NULL;
	int rc;

	memset(&w, 0, sizeof(w));
	w.r = b->r;
	w.ix = &b->ix;
	w.gone = b->gone;
	w.zstd_level = b->ctx->cfg->zstd_level;
	w.pack_size = b->ctx->cfg->pack_size;
	if (mbi_lmemo_get(&w, b->cache, !b->nfailed && !b->ngone, b->tmpdir,
			  trees, count))
		return MB_OK; /* the same entries as a backup before */
	rc = mbi_lsort_new(b->ctx, b->tmpdir, &s);
	if (!rc)
		rc = read_spool(b, s);
	if (!rc)
		rc = mbi_listing_trees(&w, s, trees, count);
	if (!rc)
		rc = mbi_lpw_finish(&w);
	else
		mbi_lpw_abort(&w);
	mbi_lmemo_end(&w, b->tmpdir, rc, trees, *count);
	b->res.bytes_stored += w.stored;
	b->res.packs += w.packs;
	if (!rc && w.restored)
		mbi_warn(b->ctx,
			 "%llu listing(s) were in listing packs that vanished from the repository during this backup (a lost object, or a prune by another host): stored again; run 'mailbackup check' to see which snapshots lost them",
			 (unsigned long long)w.restored);
	mbi_lsort_free(s);
	return rc;
}

/* The signed root of format 2: header, tree lines, the entry count. */
static int write_root(struct backup_run *b, const struct mbi_buf *head,
		      const struct mbi_buf *trees, size_t count,
		      const char *key)
{
	struct meta_out mo;
	char end[40];
	int rc = meta_open(b, &mo), crc;

	snprintf(end, sizeof(end), "end %zu\n", count);
	if (!rc && (meta_push(&mo, head->data, head->len, ZSTD_e_continue) ||
		    (trees->len && meta_push(&mo, trees->data, trees->len,
					     ZSTD_e_continue)) ||
		    meta_push(&mo, end, strlen(end), ZSTD_e_continue)))
		rc = mbi_error(b->ctx, MB_E_CRYPTO, mo.err,
			       "gpg stopped while the manifest was written");
	crc = meta_close(b, &mo, key, rc == MB_OK);
	return rc ? rc : crc;
}

/* ------------------------------------------------------------- the run */

static int lock_cache(struct mb_ctx *ctx, const char *repo_id, int *fd_out)
{
	char *dir = mbi_cache_dir(ctx, repo_id), *path;
	int fd;

	if (!dir)
		return MB_E_IO;
	path = mbi_asprintf("%s/lock", dir);
	free(dir);
	if (!path)
		return MB_E_NOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int rc = mbi_error(ctx, MB_E_IO, errno, "cannot open '%s'",
				   path);

		free(path);
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int rc = mbi_error(ctx, MB_E_LOCKED, 0,
				   "another backup of this repository is running on this host (lock '%s')",
				   path);

		close(fd);
		free(path);
		return rc;
	}
	free(path);
	*fd_out = fd;
	return MB_OK;
}

static bool selected(const struct mb_backup_opts *opts, const char *name)
{
	const char *const *s;

	if (!opts || !opts->sources)
		return true;
	for (s = opts->sources; *s; s++)
		if (!strcmp(*s, name))
			return true;
	return false;
}

/* Files a source must hold (require = ...), e.g. the mail_crypt keys of a
 * preset: without them the snapshot would be useless, so none is made. */
static int check_required(struct mb_ctx *ctx, const struct mb_backup_opts *opts)
{
	size_t i, k, n;

	for (i = 0; i < ctx->cfg->nsources; i++) {
		const struct mbi_source *src = &ctx->cfg->sources[i];
		char **req;

		if (!selected(opts, src->name) || !src->path)
			continue;
		req = mbi_split_words(mbi_section_get(src->sec, "require"), &n);
		if (!req)
			return MB_E_NOMEM;
		for (k = 0; k < n; k++) {
			char *p = mbi_asprintf("%s/%s", src->path, req[k]);
			struct stat st;
			int missing = !p || stat(p, &st) != 0;

			if (missing) {
				int rc = p ? mbi_source_error(ctx, src->name, MB_E_NOTFOUND, 0,
					       "required file '%s' is missing: without it the backup could not be used; fix the path or restore the file (no snapshot committed)",
					       p) : MB_E_NOMEM;

				free(p);
				mbi_strv_free(req, n);
				return rc;
			}
			free(p);
		}
		mbi_strv_free(req, n);
	}
	return MB_OK;
}

/* A snapshot time is from 2000 on and at most MBI_CLOCK_TOLERANCE ahead of
 * this host's clock: a name far in the future would be "latest" for
 * years and steer retention. */
static int check_time(struct mb_ctx *ctx, const struct mb_backup_opts *opts)
{
	int64_t now = (int64_t)time(NULL), t = opts ? opts->time : 0;
	char ts[32], ns[32];

	mbi_time_format(now, ns, sizeof(ns), false);
	if (now < MBI_TIME_MIN)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "this host's clock says %s, before 2000: set the clock (or pass --time)",
				 ns);
	if (!t)
		return MB_OK;
	if (t < MBI_TIME_MIN || t > 253402300799LL)
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "snapshot time %lld is out of range (2000-01-01 to 9999)",
				 (long long)t);
	mbi_time_format(t, ts, sizeof(ts), false);
	if (t > now + MBI_CLOCK_TOLERANCE)
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "snapshot time %s is more than a day ahead of this host's clock (%s): fix the clock or the time given",
				 ts, ns);
	return MB_OK;
}

#define SNAP_PREFIX "snapshots/"

static int check_opts(struct mb_ctx *ctx, const struct mb_backup_opts *opts)
{
	size_t i, si;
	int rc;

	if (!ctx->cfg->nsources)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "nothing to back up: add a [source NAME] section");
	for (i = 0; opts && opts->sources && opts->sources[i]; i++) {
		for (si = 0; si < ctx->cfg->nsources; si++)
			if (!strcmp(ctx->cfg->sources[si].name,
				    opts->sources[i]))
				break;
		if (si == ctx->cfg->nsources)
			return mbi_error(ctx, MB_E_CONFIG, 0,
					 "no source '%s' in the configuration",
					 opts->sources[i]);
	}
	if ((rc = check_time(ctx, opts)))
		return rc;
	return check_required(ctx, opts);
}

static void bk_init(struct backup_run *b, struct mb_ctx *ctx)
{
	memset(b, 0, sizeof(*b));
	b->ctx = ctx;
	pthread_mutex_init(&b->mlock, NULL);
	pthread_mutex_init(&b->qlock, NULL);
	pthread_mutex_init(&b->plock, NULL);
	mbi_pool_init(&b->pool, FILE_POOL_IDLE);
	pthread_cond_init(&b->qfull, NULL);
	pthread_cond_init(&b->qempty, NULL);
	pthread_cond_init(&b->pfull, NULL);
	pthread_cond_init(&b->pempty, NULL);
}

static void bk_release(struct backup_run *b)
{
	if (b->mf)
		fclose(b->mf);
	free(b->mfbuf);
	mbi_cache_free(b->cache);
	free(b->gone);
	mbi_index_release(&b->ix);
	mbi_lock_release(b->lock);
	mbi_repo_close(b->r);
	free(b->tmpdir);
	pthread_mutex_destroy(&b->mlock);
	pthread_mutex_destroy(&b->qlock);
	pthread_mutex_destroy(&b->plock);
	mbi_pool_release(&b->pool);
	pthread_cond_destroy(&b->qfull);
	pthread_cond_destroy(&b->qempty);
	pthread_cond_destroy(&b->pfull);
	pthread_cond_destroy(&b->pempty);
}

static int open_spool(struct backup_run *b)
{
	int fd = open(b->tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0 || !(b->mf = fdopen(fd, "w+"))) {
		int rc = mbi_error(b->ctx, MB_E_IO, errno,
				   "cannot create a spool file in '%s'",
				   b->tmpdir);

		if (fd >= 0)
			close(fd);
		return rc;
	}
	if ((b->mfbuf = malloc(1u << 20)))
		setvbuf(b->mf, b->mfbuf, _IOFBF, 1u << 20);
	return MB_OK;
}

/* Locks, the pre_backup hook, the index, the cache and the spool. */
static int open_run(struct backup_run *b, const struct mb_backup_opts *opts,
		    int *lockfd)
{
	struct mb_ctx *ctx = b->ctx;
	int rc;

	if ((rc = mbi_index_init(&b->ix, ctx)) ||
	    (rc = mbi_repo_open(ctx, &b->r)))
		return rc;
	if (!ctx->cfg->signing_key)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "no signing key: set [keys] signing_key");
	if ((rc = lock_cache(ctx, b->r->id, lockfd)))
		return rc;
	/* a shared repository lock: no prune deletes under this backup */
	if ((rc = mbi_lock_acquire(b->r, false, opts ? opts->wait : 0,
				   &b->lock)))
		return rc;
	/* the hook runs under the lock (a prune cannot start in between) */
	if (opts && opts->pre_backup_hook &&
	    (rc = mb_hooks_run(ctx, "pre_backup", NULL, NULL)))
		return mbi_error_prefix(ctx, rc, "backup not started");
	if ((rc = mbi_index_load(&b->ix, b->r, false)) ||
	    (rc = forget_missing_packs(b)))
		return rc;
	/* snapshots of ours that vanished: a warning, the backup goes on */
	if (mbi_history_warn(b->r))
		mbi_log(ctx, MB_LOG_WARNING, "%s", mb_ctx_errmsg(ctx));
	b->first_new_pack = (uint32_t)b->ix.npacks;
	if ((rc = mbi_cache_open(ctx, b->r->id, &b->cache)))
		return rc;
	b->tmpdir = mbi_cache_dir(ctx, b->r->id);
	if (!b->tmpdir)
		return MB_E_IO;
	return open_spool(b);
}

struct workers {
	pthread_t readers[8], packers[4];
	struct packer_arg pargs[4];
	int nreaders, npackers;
};

static int start_workers(struct backup_run *b, struct workers *w)
{
	int i, want = 2;

	if (b->ctx->cfg->threads > 0)
		want = b->ctx->cfg->threads > 8 ? 8 : b->ctx->cfg->threads;
	for (i = 0; i < want; i++) {
		if (pthread_create(&w->readers[i], NULL, reader_main, b))
			break;
		w->nreaders++;
	}
	/* two packs in flight: both cores compress, two gpg encrypt */
	for (i = 0; w->nreaders && i < 2; i++) {
		w->pargs[i].b = b;
		w->pargs[i].helper = i > 0;
		if (pthread_create(&w->packers[i], NULL, packer_main,
				   &w->pargs[i]))
			break;
		w->npackers++;
	}
	if (!w->nreaders || !w->npackers)
		return mbi_error(b->ctx, MB_E_NOMEM, 0, "cannot start threads");
	return MB_OK;
}

/* Close the queues, wait for the threads, keep the first error. */
static int stop_workers(struct backup_run *b, struct workers *w, int rc)
{
	int i;

	pthread_mutex_lock(&b->qlock);
	b->qclosed = true;
	pthread_cond_broadcast(&b->qempty);
	pthread_mutex_unlock(&b->qlock);
	for (i = 0; i < w->nreaders; i++)
		pthread_join(w->readers[i], NULL);
	if (rc)
		set_fatal(b, rc);
	pthread_mutex_lock(&b->plock);
	b->pclosed = true;
	pthread_cond_broadcast(&b->pempty);
	pthread_cond_broadcast(&b->pfull);
	pthread_mutex_unlock(&b->plock);
	for (i = 0; i < w->npackers; i++)
		pthread_join(w->packers[i], NULL);
	/* the packs are written: their compression windows and the file
	 * buffers go before the index, manifest and cache are written */
	mbi_pack_scratch_free(b->r);
	mbi_pool_drain(&b->pool);
	return rc ? rc : get_fatal(b);
}

static int back_up_emitted(struct backup_run *b, const struct mbi_source *src,
			   struct mbi_buf *extra)
{
	struct emit_ctx ec;
	int rc;

	memset(&ec, 0, sizeof(ec));
	ec.em.add_file = em_add_file;
	ec.em.add_db = em_add_db;
	ec.em.add_meta = em_add_meta;
	ec.em.tmpdir = b->tmpdir;
	ec.em.priv = &ec;
	ec.b = b;
	ec.src = src;
	rc = src->kind->emit(b->ctx, src, &ec.em);
	if (!rc)
		rc = mbi_buf_add(extra, ec.extra.data ? ec.extra.data : "",
				 ec.extra.len);
	mbi_buf_release(&ec.extra);
	return rc;
}

static int back_up_sources(struct backup_run *b,
			   const struct mb_backup_opts *opts,
			   struct mbi_buf *extra)
{
	struct mb_ctx *ctx = b->ctx;
	size_t si;
	int rc = MB_OK;

	for (si = 0; !rc && si < ctx->cfg->nsources; si++) {
		const struct mbi_source *src = &ctx->cfg->sources[si];

		if (!selected(opts, src->name))
			continue;
		b->cur_src = src;
		mbi_log(ctx, MB_LOG_INFO, "backing up source '%s'", src->name);
		if (src->kind->tree)
			rc = mbi_walk_source(ctx, src, on_item, b);
		else if (src->kind->emit)
			rc = back_up_emitted(b, src, extra);
		else
			rc = mbi_source_error(ctx, src->name, MB_E_CONFIG, 0,
					      "type '%s' is not supported by this build",
					      src->type);
		/* the sources' own errors name them (mbi_source_error) */
		if (rc && !mbi_error_names_source(ctx, src->name))
			mbi_error_prefix(ctx, rc, "source '%s'", src->name);
	}
	return rc;
}

/* The manifest's header: id, time, host, sources, what sources added. */
static int manifest_head(struct backup_run *b,
			 const struct mb_backup_opts *opts, const char *id,
			 int64_t when, const struct mbi_buf *extra,
			 struct mbi_buf *head, int version)
{
	const struct mbi_config *cfg = b->ctx->cfg;
	size_t si;
	int rc = mbi_buf_printf(head,
				"mailbackup-manifest %d\nid %s\ntime %lld\nhost %s\n",
				version, id, (long long)when, cfg->host);

	for (si = 0; !rc && si < cfg->nsources; si++) {
		const struct mbi_source *src = &cfg->sources[si];

		if (!selected(opts, src->name))
			continue;
		rc = mbi_buf_printf(head, "source %s %s ", src->name,
				    src->type);
		if (!rc)
			rc = src->path ? mbi_escape(head, src->path,
						    strlen(src->path)) :
					 mbi_buf_add(head, "-", 1);
		if (!rc)
			rc = mbi_buf_add(head, "\n", 1);
	}
	if (!rc && extra->len)
		rc = mbi_buf_add(head, extra->data, extra->len);
	return rc;
}

static void snapshot_id(char id[MB_SNAPSHOT_ID_SIZE],
			const struct timespec *now)
{
	/* the id starts with the fraction of the second, so that names
	 * (time, host, id) sort two snapshots of one second in the order
	 * they were made, and "latest" is the last one: the fraction and
	 * the snapshot's second come from one reading of the clock */
	snprintf(id, 9, "%08x", (unsigned)(((uint64_t)now->tv_nsec << 32) /
					   1000000000u));
	mbi_random_hex(id + 8, 4);
}

/* The index object, then the manifest: the manifest is the commit. */
static int commit(struct backup_run *b, const struct mb_backup_opts *opts,
		  const struct mbi_buf *extra)
{
	struct mb_ctx *ctx = b->ctx;
	struct mbi_buf head = { 0 }, trees = { 0 };
	struct timespec now;
	int64_t when;
	char id[MB_SNAPSHOT_ID_SIZE], ts[32];
	char key[sizeof(SNAP_PREFIX) - 1 + sizeof(b->res.name)];
	bool v2 = mbi_write_format() == 2;
	size_t count = 0;
	int rc;

	/* format 2: the listings, then (once) the repository's new version,
	 * before the first object an older mailbackup could not read */
	if ((rc = mbi_lock_check(b->lock)) ||
	    (v2 && (mbi_commit_point("listings"),
		    (rc = recheck_packs(b)) ||
		    (rc = write_listings(b, &trees, &count)) ||
		    (mbi_commit_point("listings-written"),
		     (rc = mbi_repo_upgrade(b->r))))) ||
	    (rc = write_index(b))) {
		mbi_buf_release(&trees);
		return rc;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	when = opts && opts->time ? opts->time : (int64_t)now.tv_sec;
	snapshot_id(id, &now);
	mbi_time_format(when, ts, sizeof(ts), true);
	snprintf(key, sizeof(key), SNAP_PREFIX "%s-%s-%s", ts,
		 ctx->cfg->host, id);
	rc = manifest_head(b, opts, id, when, extra, &head, v2 ? 2 : 1);
	if (!rc)
		rc = mbi_lock_check(b->lock);
	if (!rc && !v2)
		rc = recheck_packs(b);
	if (!rc)
		rc = v2 ? write_root(b, &head, &trees, count, key) :
			  write_manifest(b, opts, head.data, key);
	mbi_buf_release(&head);
	mbi_buf_release(&trees);
	if (rc)
		return rc;
	if (mbi_history_add(ctx, b->r->id, "commit", key + strlen(SNAP_PREFIX)))
		mbi_log(ctx, MB_LOG_WARNING, "%s", mb_ctx_errmsg(ctx));
	/* the index is done with: its memory goes before the cache's sort */
	mbi_index_release(&b->ix);
	if (mbi_cache_save(b->cache))
		/* committed: a failure now is a warning (exit 3), never a
		 * failure that would invite a second snapshot */
		mbi_warn(ctx,
			 "snapshot %s is committed, but the local cache could not be saved (%s): the next backup reads every file again",
			 id, mb_ctx_errmsg(ctx));
	mbi_reserve_keep(b->r);
	memcpy(b->res.id, id, sizeof(id));
	snprintf(b->res.name, sizeof(b->res.name), "%s",
		 key + strlen(SNAP_PREFIX));
	return MB_OK;
}

int mb_backup(struct mb_ctx *ctx, const struct mb_backup_opts *opts,
	      struct mb_backup_result *res)
{
	struct mb_backup_opts o;
	struct backup_run b;
	struct workers w = { 0 };
	struct mbi_buf extra = { 0 };
	double t0 = mbi_now();
	int lockfd = -1, rc;

	if ((rc = MBI_OPTS_IN(ctx, &o, opts, "mb_backup_opts")) ||
	    (rc = mbi_result_ok(ctx, res, "mb_backup_result")))
		return rc;
	opts = &o;
	if ((rc = mbi_need_config(ctx)) || (rc = check_opts(ctx, opts)))
		return rc;
	ctx->warnings = 0;
	ctx->store_full = 0;
	bk_init(&b, ctx);
	mbi_prefetch_early(ctx, opts->sources);
	if ((rc = open_run(&b, opts, &lockfd)))
		goto out;
	rc = start_workers(&b, &w);
	if (!rc)
		rc = back_up_sources(&b, opts, &extra);
	if ((rc = stop_workers(&b, &w, rc)))
		goto out;
	rc = commit(&b, opts, &extra);
out:
	b.res.warnings = ctx->warnings;
	b.res.seconds = mbi_now() - t0;
	mbi_prefetch_early_stop(ctx);
	mbi_result_out(res, &b.res, sizeof(b.res));
	bk_release(&b);
	if (lockfd >= 0)
		close(lockfd);
	mbi_buf_release(&extra);
	if (rc && rc != MB_E_PARTIAL && ctx->store_full)
		rc = mbi_error(ctx, MB_E_STORE, ENOSPC,
			       "the repository is full (%s): no snapshot committed; free space with 'mailbackup forget' and 'mailbackup prune' (they work on a full repository), or make it larger",
			       ctx->cfg->url);
	if (!rc && ctx->warnings)
		return MB_E_PARTIAL;
	return rc;
}
