/* SPDX-License-Identifier: MIT */
/* repo/pack.c: packs: pax tar -> zstd -> gpg -> store, and the way back. */
#include "mb-private.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zstd.h>

#include "banned.h"

#define SHA_XATTR "user.mailbackup.sha256"
#define IO_CHUNK (1 << 20)

/* What pack writers and readers need: zstd contexts and buffers, kept from
 * pack to pack. */
struct mbi_pack_scratch {
	struct mbi_pack_scratch *next;
	ZSTD_CCtx *z;
	ZSTD_DCtx *dz;        /* made by the first pack reader */
	char *zbuf;
	size_t zcap;
	char *iobuf;
};

struct mbi_packw {
	struct mbi_repo *r;
	struct archive *a;
	struct archive_entry *ent;
	struct mbi_pack_scratch *sc; /* compression context and buffers */
	struct mbi_store_writer *w;
	struct mbi_encjob *job;
	int plain_fd;
	uint64_t in_bytes, out_bytes;
	int err;      /* sticky: the first failure */
	int err_errno;
};

void mbi_pack_key(const char *name, char *key, size_t n)
{
	snprintf(key, n, "packs/%.2s/%s", name, name);
}

static int send_all(struct mbi_packw *p, const char *b, size_t n)
{
	while (n) {
		ssize_t w = send(p->plain_fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			p->err_errno = errno;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int z_push(struct mbi_packw *p, const void *src, size_t n,
		  ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { src, n, 0 };
	size_t left;

	do {
		ZSTD_outBuffer out = { p->sc->zbuf, p->sc->zcap, 0 };

		left = ZSTD_compressStream2(p->sc->z, &out, &in, mode);
		if (ZSTD_isError(left)) {
			mbi_error(p->r->ctx, MB_E_IO, 0, "zstd: %s",
				  ZSTD_getErrorName(left));
			return -1;
		}
		if (out.pos && send_all(p, p->sc->zbuf, out.pos))
			return -1;
		p->out_bytes += out.pos;
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return 0;
}

static la_ssize_t a_write(struct archive *a, void *ud, const void *buf,
			  size_t n)
{
	struct mbi_packw *p = ud;

	(void)a;
	if (z_push(p, buf, n, ZSTD_e_continue)) {
		archive_set_error(a, EIO, "compression or gpg failed");
		return -1;
	}
	return (la_ssize_t)n;
}

static int a_close(struct archive *a, void *ud)
{
	struct mbi_packw *p = ud;

	if (z_push(p, NULL, 0, ZSTD_e_end)) {
		archive_set_error(a, EIO, "compression or gpg failed");
		return ARCHIVE_FATAL;
	}
	return ARCHIVE_OK;
}

static void scratch_release(struct mbi_pack_scratch *sc)
{
	if (!sc)
		return;
	ZSTD_freeCCtx(sc->z);
	ZSTD_freeDCtx(sc->dz);
	mbi_nofork_free(sc->zbuf);
	mbi_nofork_free(sc->iobuf);
	free(sc);
}

static struct mbi_pack_scratch *scratch_get(struct mbi_repo *r)
{
	struct mbi_pack_scratch *sc;

	pthread_mutex_lock(&r->scratch_lock);
	sc = r->scratch;
	if (sc)
		r->scratch = sc->next;
	pthread_mutex_unlock(&r->scratch_lock);
	if (sc)
		return sc;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return NULL;
	sc->zcap = ZSTD_CStreamOutSize() * 4;
	sc->zbuf = mbi_nofork_alloc(sc->zcap);
	sc->iobuf = mbi_nofork_alloc(IO_CHUNK);
	sc->z = mbi_nofork_zstd_cctx();
	if (!sc->zbuf || !sc->iobuf || !sc->z) {
		scratch_release(sc);
		return NULL;
	}
	return sc;
}

/* Back to the repository for the next pack, ready for a new frame. */
static void scratch_put(struct mbi_repo *r, struct mbi_pack_scratch *sc)
{
	if (!sc)
		return;
	ZSTD_CCtx_reset(sc->z, ZSTD_reset_session_only);
	if (sc->dz)
		ZSTD_DCtx_reset(sc->dz, ZSTD_reset_session_only);
	pthread_mutex_lock(&r->scratch_lock);
	sc->next = r->scratch;
	r->scratch = sc;
	pthread_mutex_unlock(&r->scratch_lock);
}

void mbi_pack_scratch_free(struct mbi_repo *r)
{
	struct mbi_pack_scratch *sc, *next;

	pthread_mutex_lock(&r->scratch_lock);
	sc = r->scratch;
	r->scratch = NULL;
	pthread_mutex_unlock(&r->scratch_lock);
	for (; sc; sc = next) {
		next = sc->next;
		scratch_release(sc);
	}
}

void mbi_packw_abort(struct mbi_packw *p)
{
	unsigned char sha[MBI_SHA256_LEN];
	uint64_t size;

	if (!p)
		return;
	if (p->a)
		archive_write_free(p->a); /* no close: the stream stays cut */
	if (p->plain_fd >= 0)
		close(p->plain_fd);
	if (p->job)
		mbi_crypt_encrypt_end(p->job, sha, &size);
	mbi_writer_abort(p->w);
	archive_entry_free(p->ent);
	scratch_put(p->r, p->sc);
	free(p);
}

int mbi_packw_open(struct mbi_repo *r, int zstd_level, struct mbi_packw **out)
{
	return mbi_packw_open_mode(r, zstd_level, MBI_CRYPT_PACK, out);
}

int mbi_packw_open_mode(struct mbi_repo *r, int zstd_level,
			enum mbi_crypt_mode mode, struct mbi_packw **out)
{
	struct mbi_packw *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return MB_E_NOMEM;
	p->r = r;
	p->plain_fd = -1;
	p->sc = scratch_get(r);
	p->ent = archive_entry_new();
	p->a = archive_write_new();
	if (!p->sc || !p->ent || !p->a) {
		rc = MB_E_NOMEM;
		goto fail;
	}
	ZSTD_CCtx_setParameter(p->sc->z, ZSTD_c_compressionLevel, zstd_level);
	ZSTD_CCtx_setParameter(p->sc->z, ZSTD_c_checksumFlag, 1);
	/* A 32 MiB window, about a pack: the same attachment in two
	 * messages of a pack (a mail to several local users: same body,
	 * other headers) is found and stored once. Long-distance matching
	 * found nothing more on mail and cost 20% of the compression time. */
	ZSTD_CCtx_setParameter(p->sc->z, ZSTD_c_windowLog, 25);
	/* listings: a directory at a time, no attachments to find again; a
	 * small window keeps a format-2 backup's commit at format 1's memory
	 * (docs/design-listings.md) */
	if (mode == MBI_CRYPT_LISTING)
		ZSTD_CCtx_setParameter(p->sc->z, ZSTD_c_windowLog, 20);
	if (archive_write_set_format_pax(p->a) ||
	    archive_write_set_format_option(p->a, "pax", "xattrheader",
					    "SCHILY") ||
	    archive_write_set_bytes_per_block(p->a, 65536) ||
	    archive_write_set_bytes_in_last_block(p->a, 1)) {
		rc = mbi_error(r->ctx, MB_E_IO, 0, "libarchive: %s",
			       archive_error_string(p->a));
		goto fail;
	}
	if ((rc = mbi_store_writer_open(r->store, &p->w)))
		goto fail;
	rc = mbi_crypt_encrypt_begin(r->crypt, mode, p->w, &p->job,
				     &p->plain_fd);
	if (rc)
		goto fail;
	if (archive_write_open2(p->a, p, NULL, a_write, a_close, NULL)) {
		rc = mbi_error(r->ctx, MB_E_IO, 0, "libarchive: %s",
			       archive_error_string(p->a));
		goto fail;
	}
	*out = p;
	return MB_OK;
fail:
	mbi_packw_abort(p);
	return rc;
}

uint64_t mbi_packw_out_bytes(struct mbi_packw *p)
{
	return p->out_bytes;
}

uint64_t mbi_packw_in_bytes(struct mbi_packw *p)
{
	return p->in_bytes;
}

static int afail(struct mbi_packw *p, const char *name)
{
	if (p->err_errno)
		return mbi_error(p->r->ctx, MB_E_CRYPTO, p->err_errno,
				 "gpg stopped reading while packing '%s'",
				 name);
	return mbi_error(p->r->ctx, MB_E_IO, 0, "cannot pack '%s': %s", name,
			 archive_error_string(p->a));
}

int mbi_packw_add(struct mbi_packw *p, const char *name,
		  const unsigned char *sha, uint64_t size, uint32_t mode,
		  int64_t mtime_ns, const void *buf, int fd)
{
	char hex[MBI_SHA256_HEX];
	int r;

	mbi_hex(sha, MBI_SHA256_LEN, hex);
	archive_entry_clear(p->ent);
	archive_entry_set_pathname(p->ent, name);
	archive_entry_set_filetype(p->ent, AE_IFREG);
	archive_entry_set_perm(p->ent, mode & 07777);
	archive_entry_set_size(p->ent, (la_int64_t)size);
	archive_entry_set_mtime(p->ent, (time_t)(mtime_ns / 1000000000),
				(long)(mtime_ns % 1000000000));
	archive_entry_xattr_add_entry(p->ent, SHA_XATTR, hex, 64);
	r = archive_write_header(p->a, p->ent);
	if (r < ARCHIVE_WARN)
		return afail(p, name);
	if (buf) {
		if (size && archive_write_data(p->a, buf, size) !=
				    (la_ssize_t)size)
			return afail(p, name);
	} else {
		struct mbi_sha256 s;
		unsigned char got[MBI_SHA256_LEN];
		uint64_t off = 0;

		if (mbi_sha256_init(&s))
			return MB_E_NOMEM;
		while (off < size) {
			size_t want = size - off > IO_CHUNK ? IO_CHUNK :
				      (size_t)(size - off);
			ssize_t n = pread(fd, p->sc->iobuf, want, (off_t)off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				mbi_sha256_release(&s);
				return mbi_error(p->r->ctx, MB_E_VERIFY,
						 n < 0 ? errno : 0,
						 "'%s' shrank while it was read",
						 name);
			}
			mbi_sha256_update(&s, p->sc->iobuf, (size_t)n);
			if (archive_write_data(p->a, p->sc->iobuf, (size_t)n) !=
			    n) {
				mbi_sha256_release(&s);
				return afail(p, name);
			}
			off += (uint64_t)n;
		}
		mbi_sha256_final(&s, got);
		mbi_sha256_release(&s);
		if (memcmp(got, sha, MBI_SHA256_LEN))
			return mbi_error(p->r->ctx, MB_E_VERIFY, 0,
					 "'%s' changed while it was read",
					 name);
	}
	p->in_bytes += size;
	return MB_OK;
}

int mbi_packw_close(struct mbi_packw *p, char name[MBI_SHA256_HEX],
		    uint64_t *size)
{
	unsigned char sha[MBI_SHA256_LEN];
	char key[96];
	int rc = MB_OK, arc;

	arc = archive_write_close(p->a);
	if (arc != ARCHIVE_OK)
		rc = afail(p, "pack");
	close(p->plain_fd);
	p->plain_fd = -1;
	{
		int erc = mbi_crypt_encrypt_end(p->job, sha, size);

		p->job = NULL;
		if (!rc)
			rc = erc;
	}
	if (!rc) {
		mbi_hex(sha, MBI_SHA256_LEN, name);
		mbi_pack_key(name, key, sizeof(key));
		rc = mbi_writer_commit(p->w, key);
		p->w = NULL;
	}
	mbi_packw_abort(p);
	return rc;
}

/* ---------------------------------------------------------------- reading */

struct mbi_packr {
	struct mbi_repo *r;
	struct archive *a;
	ZSTD_DCtx *z;
	int fd;          /* plaintext (zstd) from gpg */
	char *in, *out;
	size_t incap, outcap;
	ZSTD_inBuffer zin;
	bool eof, zdone;
	const char *key;
	int err;
	uint64_t member_off; /* of the member's next block */
};

struct dec_thread {
	struct mbi_crypt *c;
	struct mb_ctx *c_ctx;
	char msg[512];
	int cipher_fd, out_fd;
	const char *key;
	int rc;
};

static void *dec_main(void *arg)
{
	struct dec_thread *d = arg;

	d->rc = mbi_crypt_decrypt_fd(d->c, d->cipher_fd, d->out_fd, false,
				     d->key);
	if (d->rc)
		snprintf(d->msg, sizeof(d->msg), "%s",
			 mb_ctx_errmsg(d->c_ctx));
	close(d->out_fd);
	return NULL;
}

static la_ssize_t r_read(struct archive *a, void *ud, const void **buf)
{
	struct mbi_packr *pr = ud;
	ZSTD_outBuffer o = { pr->out, pr->outcap, 0 };

	(void)a;
	while (o.pos == 0) {
		size_t rr;

		if (pr->zin.pos == pr->zin.size) {
			ssize_t n;

			if (pr->eof)
				break;
			n = read(pr->fd, pr->in, pr->incap);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				archive_set_error(a, errno, "read from gpg");
				return -1;
			}
			if (n == 0) {
				pr->eof = true;
				if (!pr->zdone) {
					archive_set_error(a, EIO,
							  "zstd stream is truncated");
					return -1;
				}
				break;
			}
			pr->zin.src = pr->in;
			pr->zin.size = (size_t)n;
			pr->zin.pos = 0;
		}
		rr = ZSTD_decompressStream(pr->z, &o, &pr->zin);
		if (ZSTD_isError(rr)) {
			archive_set_error(a, EIO, "zstd: %s",
					  ZSTD_getErrorName(rr));
			return -1;
		}
		pr->zdone = rr == 0;
	}
	*buf = pr->out;
	return (la_ssize_t)o.pos;
}

ssize_t mbi_packr_read(struct mbi_packr *pr, void *buf, size_t n)
{
	la_ssize_t r = archive_read_data(pr->a, buf, n);

	if (r < 0) {
		mbi_error(pr->r->ctx, MB_E_VERIFY, 0,
			  "pack '%s' is damaged: %s", pr->key,
			  archive_error_string(pr->a));
		return -1;
	}
	return r;
}

/* The member's next bytes where libarchive holds them, without a copy:
 * *buf and *n are set and 1 returned, 0 at the member's end, -1 on damage
 * (a member whose data comes with holes, which mailbackup never writes,
 * counts as damage). */
int mbi_packr_block(struct mbi_packr *pr, const void **buf, size_t *n)
{
	la_int64_t off;
	int r = archive_read_data_block(pr->a, buf, n, &off);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN) {
		mbi_error(pr->r->ctx, MB_E_VERIFY, 0,
			  "pack '%s' is damaged: %s", pr->key,
			  archive_error_string(pr->a));
		return -1;
	}
	if (off < 0 || (uint64_t)off != pr->member_off) {
		mbi_error(pr->r->ctx, MB_E_VERIFY, 0,
			  "pack '%s' is damaged: a member has holes", pr->key);
		return -1;
	}
	pr->member_off += *n;
	return 1;
}

static bool member_sha(struct archive_entry *e, unsigned char *sha)
{
	const char *name;
	const void *val;
	size_t len;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &len) == ARCHIVE_OK)
		if (!strcmp(name, SHA_XATTR) && len == 64 &&
		    !mbi_unhex(val, MBI_SHA256_LEN, sha))
			return true;
	return false;
}

/* Packs up to this size are copied into memory, larger ones into an
 * unlinked file of the cache directory (pack_size may be up to 4 GiB, and
 * two packs are read at once). */
#define PRIVATE_MEM_MAX (256ULL << 20)

/* A file only this process can reach: memfd or O_TMPFILE. */
static int private_file(struct mbi_repo *r, uint64_t size, bool *sealable)
{
	char *dir;
	int fd;

	*sealable = size <= PRIVATE_MEM_MAX;
	if (*sealable)
		return memfd_create("mailbackup-pack",
				    MFD_CLOEXEC | MFD_ALLOW_SEALING);
	dir = mbi_cache_dir(r->ctx, r->id);
	fd = dir ? open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600) :
		   -1;
	free(dir);
	return fd;
}

/* Copy fd to the private file mfd inside the kernel (no buffer of ours):
 * 1 when the kernel cannot, before any byte was copied. */
static int kernel_copy(struct mbi_repo *r, const char *key, int fd, int mfd,
		       uint64_t *copied)
{
	for (;;) {
		ssize_t n = sendfile(mfd, fd, NULL, 1 << 30);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && !*copied && (errno == EINVAL || errno == ENOSYS))
			return 1;
		if (n < 0)
			return mbi_error(r->ctx, MB_E_STORE, errno,
					 "cannot read '%s'", key);
		if (n == 0)
			return MB_OK;
		*copied += (uint64_t)n;
	}
}

/* The SHA-256 of the private copy itself, read through a mapping: the
 * bytes gpg will read, hashed without another copy. */
static int hash_copy(struct mbi_repo *r, const char *key, int mfd,
		     uint64_t n, unsigned char *sha)
{
	void *m;

	if (!n) {
		mbi_sha256_buf("", 0, sha);
		return MB_OK;
	}
	m = mmap(NULL, (size_t)n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, mfd,
		 0);
	if (m == MAP_FAILED)
		return mbi_error(r->ctx, MB_E_IO, errno,
				 "cannot read the private copy of '%s'", key);
	mbi_sha256_buf(m, (size_t)n, sha);
	munmap(m, (size_t)n);
	return MB_OK;
}

/* Hash the object on fd; when others can change the file behind fd (a
 * local repository), replace fd by a private copy and hash that copy (or
 * hash what one read copies), so that gpg decrypts exactly the bytes that
 * were hashed. */
static int hash_private(struct mbi_repo *r, const char *key, int *fd,
			uint64_t size, unsigned char *sha, uint64_t *hashed)
{
	struct mbi_sha256 h;
	char *buf = NULL;
	bool sealable, in_kernel = false;
	int mfd = -1, rc = MB_OK;

	if (!r->store->shared_fds)
		return mbi_sha256_fd(*fd, sha, hashed) ?
		       mbi_error(r->ctx, MB_E_STORE, errno,
				 "cannot read '%s'", key) : MB_OK;
	*hashed = 0;
	mfd = private_file(r, size, &sealable);
	if (mfd < 0) {
		rc = mbi_error(r->ctx, MB_E_IO, errno,
			       "cannot make a private copy of '%s'", key);
		goto out;
	}
	rc = kernel_copy(r, key, *fd, mfd, hashed);
	in_kernel = rc == MB_OK;
	if (rc < 0)
		goto out;
	rc = MB_OK;
	buf = in_kernel ? NULL : malloc(IO_CHUNK);
	if (!in_kernel && (!buf || mbi_sha256_init(&h))) {
		rc = MB_E_NOMEM;
		goto out;
	}
	while (!in_kernel && !rc) {
		ssize_t n = read(*fd, buf, IO_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				rc = mbi_error(r->ctx, MB_E_STORE, errno,
					       "cannot read '%s'", key);
			break;
		}
		mbi_sha256_update(&h, buf, (size_t)n);
		*hashed += (uint64_t)n;
		if (mbi_write_all(mfd, buf, (size_t)n))
			rc = mbi_error(r->ctx, MB_E_IO, errno,
				       "cannot make a private copy of '%s'",
				       key);
	}
	if (!in_kernel) {
		mbi_sha256_final(&h, sha);
		mbi_sha256_release(&h);
	}
	if (!rc && sealable &&
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_WRITE | F_SEAL_SEAL))
		rc = mbi_error(r->ctx, MB_E_IO, errno,
			       "cannot seal the private copy of '%s'", key);
	if (!rc && in_kernel)
		rc = hash_copy(r, key, mfd, *hashed, sha);
	if (!rc) {
		close(*fd);
		*fd = mfd;
		mfd = -1;
	}
out:
	if (mfd >= 0)
		close(mfd);
	free(buf);
	return rc;
}

int mbi_pack_read(struct mbi_repo *r, const char *packname,
		  uint64_t expect_size, mbi_member_fn fn, void *ud)
{
	struct mbi_packr pr;
	struct mbi_pack_scratch *sc = NULL;
	struct dec_thread d;
	char saved[1024] = "";
	pthread_t th;
	bool started = false;
	char key[96];
	unsigned char sha[MBI_SHA256_LEN], want[MBI_SHA256_LEN];
	uint64_t size, hashed;
	int fd = -1, pfd[2] = { -1, -1 }, rc;

	memset(&pr, 0, sizeof(pr));
	pr.fd = -1;
	mbi_pack_key(packname, key, sizeof(key));
	pr.r = r;
	pr.key = key;
	if ((rc = mbi_store_get(r->store, key, &fd, &size)))
		return rc;
	if (expect_size && size != expect_size) {
		rc = mbi_error(r->ctx, MB_E_VERIFY, 0,
			       "pack '%s' has %llu bytes, the index says %llu: damaged or truncated",
			       key, (unsigned long long)size,
			       (unsigned long long)expect_size);
		goto out;
	}
	if (mbi_unhex(packname, MBI_SHA256_LEN, want)) {
		rc = mbi_error(r->ctx, MB_E_VERIFY, 0, "bad pack name '%s'",
			       packname);
		goto out;
	}
	/* hash before decrypting: a pack is trusted because the signed index
	 * names it by the hash of its bytes; gpg reads exactly those bytes */
	if ((rc = hash_private(r, key, &fd, size, sha, &hashed)))
		goto out;
	if (memcmp(sha, want, MBI_SHA256_LEN) || hashed != size) {
		rc = mbi_error(r->ctx, MB_E_VERIFY, 0,
			       "pack '%s' does not match its name: it is damaged or was tampered with",
			       key);
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC)) {
		rc = mbi_error(r->ctx, MB_E_IO, errno, "cannot create a pipe");
		goto out;
	}
	d.c = r->crypt;
	d.c_ctx = r->ctx;
	d.cipher_fd = fd;
	d.out_fd = pfd[1];
	d.key = key;
	d.rc = 0;
	pfd[1] = -1;
	if (pthread_create(&th, NULL, dec_main, &d)) {
		close(d.out_fd);
		rc = mbi_error(r->ctx, MB_E_NOMEM, 0, "cannot start a thread");
		goto out;
	}
	started = true;
	pr.fd = pfd[0];
	/* the buffers and the 32 MiB window of the last pack read */
	sc = scratch_get(r);
	if (sc && !sc->dz)
		sc->dz = mbi_nofork_zstd_dctx();
	pr.a = archive_read_new();
	if (!sc || !sc->dz || !pr.a) {
		rc = MB_E_NOMEM;
		goto out;
	}
	pr.in = sc->zbuf;
	pr.incap = sc->zcap;
	pr.out = sc->iobuf;
	pr.outcap = IO_CHUNK;
	pr.z = sc->dz;
	ZSTD_DCtx_setParameter(pr.z, ZSTD_d_windowLogMax, 27);
	archive_read_support_format_tar(pr.a);
	if (archive_read_open(pr.a, &pr, NULL, r_read, NULL)) {
		rc = mbi_error(r->ctx, MB_E_VERIFY, 0,
			       "pack '%s' cannot be read: %s", key,
			       archive_error_string(pr.a));
		goto out;
	}
	for (;;) {
		struct archive_entry *e;
		int ar = archive_read_next_header(pr.a, &e);
		bool has;

		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			rc = mbi_error(r->ctx, MB_E_VERIFY, 0,
				       "pack '%s' is damaged: %s", key,
				       archive_error_string(pr.a));
			break;
		}
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		has = member_sha(e, sha);
		pr.member_off = 0;
		rc = fn(ud, &pr, archive_entry_pathname(e) ?
			archive_entry_pathname(e) : "?", sha, has,
			(uint64_t)archive_entry_size(e));
		if (rc)
			break;
	}
	/* read what follows the tar end, so gpg finishes and reports */
	while (!rc && !pr.eof) {
		ssize_t n = read(pr.fd, pr.in, pr.incap);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
	}
out:
	/* gpg, cut off by an early stop, records its own error in the same
	 * context: keep the message of the failure that stopped us */
	if (rc)
		snprintf(saved, sizeof(saved), "%s", mb_ctx_errmsg(r->ctx));
	if (pr.a)
		archive_read_free(pr.a);
	if (pr.fd >= 0)
		close(pr.fd); /* gpg gets EPIPE if we stopped early */
	if (started) {
		pthread_join(th, NULL);
		/* when gpg failed (no secret key, a damaged packet) the
		 * reader only saw the stream end early: gpg's error is the
		 * cause to report */
		/* gpg's error is the cause when it ended the stream (no
		 * secret key, a damaged packet); when we stopped first, gpg
		 * only saw a broken pipe */
		if (d.rc && (!rc || (rc == MB_E_VERIFY && pr.eof))) {
			if (rc)
				mbi_error(r->ctx, d.rc, 0, "%s", d.msg);
			rc = d.rc;
		} else if (rc && d.rc) {
			mbi_error(r->ctx, rc, 0, "%s", saved);
		}
	}
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (fd >= 0)
		close(fd);
	scratch_put(r, sc);
	return rc;
}
