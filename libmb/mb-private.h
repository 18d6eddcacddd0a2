/* SPDX-License-Identifier: MIT */
/* mb-private.h: declarations shared between the files of libmb (hidden). */
#ifndef MB_PRIVATE_H
#define MB_PRIVATE_H

#define MB_BUILDING_LIBRARY 1
#include "mb.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#define MBI_HIDDEN __attribute__((visibility("hidden")))
#define MBI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define MBI_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define MBI_SHA256_LEN 32
#define MBI_SHA256_HEX 65 /* 64 hex digits and the NUL */

/* ------------------------------------------------------------------ config */

struct mbi_kv {
	char *key;
	char *value;
	int line;
};

/* One [section] or [section NAME] of the INI file, keys in file order. */
struct mbi_section {
	char *kind;  /* "repository", "keys", "source", "retention", ... */
	char *name;  /* NAME of [source NAME], or NULL */
	int line;
	struct mbi_kv *kv;
	size_t nkv;
};

struct mbi_source;
struct mbi_emit;
struct mbi_manifest;

/* A kind of source (source/kinds.c, one row each): a new kind touches its
 * own module and the table only. */
struct mbi_source_kind {
	const char *name; /* the config's type = */
	bool tree;        /* a tree on disk below an absolute path, walked */
	bool maildir;     /* Maildir rules: walk, diff, --mailbox, in place */
	bool ctime;       /* the cache compares ctime too (not for Maildir,
			   * whose flag renames change it) */
	bool in_place;    /* restore --in-place merges into its path */
	/* The backup of a kind that is not a tree: its entries to em. */
	int (*emit)(struct mb_ctx *ctx, const struct mbi_source *src,
		    struct mbi_emit *em);
	/* restore --load: the restored files in dir into its server. */
	int (*load)(struct mb_ctx *ctx, const struct mbi_source *src,
		    const char *dir, const char *db_prefix, bool overwrite,
		    const struct mbi_manifest *m);
};
/* The kind named name (a config's or a manifest's type), or NULL. */
MBI_HIDDEN const struct mbi_source_kind *mbi_source_kind(const char *name);
/* Whether the kind named name follows the Maildir rules. */
MBI_HIDDEN bool mbi_source_kind_maildir(const char *name);
/* The kinds, for messages: "maildir, files, ...". */
MBI_HIDDEN extern const char *const mbi_source_kind_names;

struct mbi_source {
	char *name;
	char *type;  /* maildir, files, mariadb, command */
	const struct mbi_source_kind *kind; /* of type, set by the config */
	char *path;  /* maildir, files */
	bool one_file_system;
	char **exclude;          /* fnmatch patterns on the relative path */
	size_t nexclude;
	const struct mbi_section *sec; /* all keys, for the source kinds */
};

struct mbi_retention {
	int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly,
	    keep_yearly;
	int64_t keep_within; /* seconds, 0 = unset */
};

struct mbi_config {
	char *file;            /* the file it came from */
	struct mbi_section *secs;
	size_t nsecs;

	/* [repository] */
	char *url;             /* a directory, file:// or s3://BUCKET/PREFIX */
	char *endpoint, *region, *access_key_id, *secret_access_key;
	char *url_style, *ca_file, *storage_class;
	/* "error": check fails (exit 4) on a snapshot of this host that
	 * vanished without its forget; "warning": another host forgets */
	char *vanished_snapshots;
	uint64_t part_size;
	int s3_parallel;
	int object_lock_days;
	uint64_t pack_size;    /* target size of a pack, bytes */
	uint64_t upload_limit, download_limit; /* bytes/s, 0: none */

	/* [keys] */
	char *gnupg_home;
	char **recipients;
	size_t nrecipients;
	char *signing_key;
	char **trusted_signers;
	size_t ntrusted;

	/* [options] */
	char *cache_dir;
	char *host;
	int zstd_level;
	int threads;
	int64_t lock_timeout;  /* seconds: a lock not refreshed is stale */
	int64_t prune_grace;   /* seconds a pack stays unreferenced before
				* prune deletes it (0: none) */

	struct mbi_source *sources;
	size_t nsources;
	struct mbi_retention retention;
};

/* opts.c: mb.h's size convention. mbi_opts_in() copies the caller's
 * options (src, NULL for all defaults) over zeroed defaults in dst (of
 * dst_size): a smaller, older struct leaves the tail at its defaults; a
 * size of 0 (not initialized) or a set field this build does not know is
 * MB_E_INVAL with a message naming type. */
MBI_HIDDEN int mbi_opts_in(struct mb_ctx *ctx, void *dst, size_t dst_size,
			   const void *src, const char *type);
#define MBI_OPTS_IN(ctx, dst, src, type) \
	mbi_opts_in((ctx), (dst), sizeof(*(dst)), (src), (type))
/* A result struct the caller passed (NULL is fine): MB_E_INVAL for a size
 * of 0. mbi_result_out() copies the library's full result into it, only
 * as far as the caller's size reaches, leaving its size alone. */
MBI_HIDDEN int mbi_result_ok(struct mb_ctx *ctx, const void *res,
			     const char *type);
MBI_HIDDEN void mbi_result_out(void *res, const void *full,
			       size_t full_size);

/* The configuration schema (config.c): one row per key of every section. */
enum mbi_key_type {
	MBI_KEY_RAW,      /* no field: its module reads and checks it */
	MBI_KEY_STRING,   /* char *; an empty value is unset */
	MBI_KEY_ENUM,     /* char *, one of values ("path|virtual") */
	MBI_KEY_INT,      /* int, from min to max */
	MBI_KEY_SIZE,     /* uint64_t, a size (64K, 16M), from min to max */
	MBI_KEY_DURATION, /* int64_t seconds (30m, 1h), at least min */
};

struct mbi_config_key {
	const char *section, *key;
	enum mbi_key_type type;
	int64_t min, max;
	size_t offset;      /* of the field in struct mbi_config */
	const char *def;    /* the default, as written in the file, or NULL */
	const char *env;    /* MBI_KEY_STRING: a variable that wins if set */
	const char *values; /* MBI_KEY_ENUM: the values, '|'-separated;
			     * MBI_KEY_DURATION: examples for messages */
};

/* The rows of the schema (static), *n of them. */
MBI_HIDDEN const struct mbi_config_key *mbi_config_schema(size_t *n);

MBI_HIDDEN int mbi_config_parse(struct mb_ctx *ctx, const char *name,
				const char *buf, size_t len,
				struct mbi_config **out);
MBI_HIDDEN void mbi_config_free(struct mbi_config *cfg);
/* The unnamed section [kind] (each appears at most once), or NULL; cfg may
 * be NULL. */
MBI_HIDDEN const struct mbi_section *mbi_config_section(
	const struct mbi_config *cfg, const char *kind);
/* The value of key in sec, or NULL. */
MBI_HIDDEN const char *mbi_section_get(const struct mbi_section *sec,
				       const char *key);
/* yes/true/on/1 (any case) is true; anything else or unset is false. */
MBI_HIDDEN bool mbi_section_bool(const struct mbi_section *sec,
				 const char *key);
MBI_HIDDEN int mbi_parse_size(const char *s, uint64_t *out);
/* Replace [source NAME] type = preset:... sections by the sources of that
 * layout (preset.c). */
MBI_HIDDEN int mbi_presets_expand(struct mb_ctx *ctx, const char *file,
				  struct mbi_config *cfg);
MBI_HIDDEN int mbi_parse_duration(const char *s, int64_t *out);

/* bwlimit.c: a rate in bytes per second ("5M", "500k", "1G/s"), above 0;
 * MB_E_INVAL otherwise. */
MBI_HIDDEN int mbi_parse_rate(const char *s, uint64_t *out);
/* A token bucket shared by the threads of one direction; rate 0: none. */
struct mbi_bwlimit {
	pthread_mutex_t mu;
	uint64_t rate;   /* bytes per second */
	double free_at;  /* mbi_now() when the bytes booked so far are sent */
};
MBI_HIDDEN void mbi_bwlimit_init(struct mbi_bwlimit *b, uint64_t rate);
MBI_HIDDEN void mbi_bwlimit_release(struct mbi_bwlimit *b);
/* Wait until n more bytes fit in the limit; b may be NULL. */
MBI_HIDDEN void mbi_bwlimit_take(struct mbi_bwlimit *b, size_t n);

/* -------------------------------------------------------------------- ctx */

struct mb_ctx {
	char errmsg[1024];
	int errcode;
	mb_log_fn log_fn;
	void *log_ud;
	enum mb_log_level log_level;
	mb_progress_fn progress_fn;
	void *progress_ud;
	pthread_mutex_t lock; /* serializes errmsg and log calls from workers */
	struct mbi_config *cfg;
	uint64_t warnings;
	int progress_busy; /* a thread is in the progress callback */
	/* whose snapshots "latest" and dates pick: "" this host, "all", or
	 * a host name (mb_ctx_set_snapshot_host) */
	char snap_host[128];
	int store_full; /* a repository write failed with ENOSPC or EDQUOT */
	/* the source the recorded error names itself (mbi_source_error),
	 * "" when it names none */
	char err_source[72];
	/* prefetchers a backup started before its walk (source/prefetch.c) */
	struct mbi_prefetch *early;
};

/* Record an error (errnum: an errno value appended as ": strerror", or 0)
 * and return code. */
MBI_HIDDEN int mbi_error(struct mb_ctx *ctx, int code, int errnum,
			 const char *fmt, ...) MBI_PRINTF(4, 5);
/* Prefix the recorded message with "what: " (keeps the code). */
MBI_HIDDEN int mbi_error_prefix(struct mb_ctx *ctx, int code,
				const char *fmt, ...) MBI_PRINTF(3, 4);
/* The errors of a source kind's module: "source 'NAME': " and the message,
 * recorded as naming source, so that the operation does not name it again.
 * mbi_source_error_prefix() prefixes the recorded message so. */
MBI_HIDDEN int mbi_source_error(struct mb_ctx *ctx, const char *source,
				int code, int errnum, const char *fmt, ...)
	MBI_PRINTF(5, 6);
MBI_HIDDEN int mbi_source_error_prefix(struct mb_ctx *ctx, const char *source,
				       int code, const char *what);
/* Whether the recorded error names source (see mbi_source_error). */
MBI_HIDDEN bool mbi_error_names_source(struct mb_ctx *ctx,
				       const char *source);
MBI_HIDDEN void mbi_log(struct mb_ctx *ctx, enum mb_log_level level,
			const char *fmt, ...) MBI_PRINTF(3, 4);
/* A warning about one item: logged and counted. */
MBI_HIDDEN void mbi_warn(struct mb_ctx *ctx, const char *fmt, ...)
	MBI_PRINTF(2, 3);
MBI_HIDDEN int mbi_progress(struct mb_ctx *ctx, const char *phase,
			    uint64_t items, uint64_t bytes, uint64_t items_total,
			    uint64_t bytes_total);
/* The start of an operation that needs the configuration: clears the last
 * error; MB_E_CONFIG when none is loaded. */
MBI_HIDDEN int mbi_need_config(struct mb_ctx *ctx);
/* Forget the last error: at the start of each public function. */
MBI_HIDDEN void mbi_clear_error(struct mb_ctx *ctx);
/* The public boundary: return rc, after recording the text of its code as
 * the message when rc is a failure that recorded none. */
MBI_HIDDEN int mbi_status(struct mb_ctx *ctx, int rc);
MBI_HIDDEN double mbi_now(void);
/* *ts = CLOCK_REALTIME now plus ms milliseconds: a deadline for
 * pthread_cond_timedwait. */
struct timespec;
MBI_HIDDEN void mbi_deadline_ms(struct timespec *ts, int64_t ms);
/* This boot's id (/proc/sys/kernel/random/boot_id), or "-". */
MBI_HIDDEN void mbi_boot_id(char out[40]);
/* Append s (owned from now on; NULL means strdup failed) to the array *v of
 * *n strings with room for *cap: MB_E_NOMEM frees s. */
MBI_HIDDEN int mbi_strv_push(char ***v, size_t *n, size_t *cap, char *s);
/* Remove name below dirfd and all it holds, never following a link. */
MBI_HIDDEN void mbi_rm_tree_at(int dirfd, const char *name);

/* ------------------------------------------------------------------- util */

struct mbi_buf {
	char *data;
	size_t len, cap;
};

MBI_HIDDEN int mbi_buf_reserve(struct mbi_buf *b, size_t extra);
MBI_HIDDEN int mbi_buf_add(struct mbi_buf *b, const void *p, size_t n);
MBI_HIDDEN int mbi_buf_addstr(struct mbi_buf *b, const char *s);
MBI_HIDDEN int mbi_buf_printf(struct mbi_buf *b, const char *fmt, ...)
	MBI_PRINTF(2, 3);
MBI_HIDDEN void mbi_buf_release(struct mbi_buf *b);

MBI_HIDDEN void mbi_hex(const unsigned char *in, size_t n, char *out);
MBI_HIDDEN int mbi_unhex(const char *in, size_t n, unsigned char *out);
MBI_HIDDEN void mbi_random_hex(char *out, size_t nbytes);
MBI_HIDDEN char *mbi_strdup(const char *s);
MBI_HIDDEN char *mbi_asprintf(const char *fmt, ...) MBI_PRINTF(1, 2);
MBI_HIDDEN char **mbi_split_words(const char *s, size_t *n);
MBI_HIDDEN void mbi_strv_free(char **v, size_t n);

/* Path escaping of the manifest: bytes 0x00-0x20, '%' and 0x7f as %XX. */
MBI_HIDDEN int mbi_escape(struct mbi_buf *b, const char *s, size_t n);
/* Decode in place; returns the new length or -1 on a bad escape. */
MBI_HIDDEN ssize_t mbi_unescape(char *s);
/* A relative path that stays inside its root: no "", ".", ".." component,
 * no leading '/', no NUL. */
MBI_HIDDEN bool mbi_path_is_safe(const char *p);

MBI_HIDDEN int mbi_write_all(int fd, const void *p, size_t n);
MBI_HIDDEN ssize_t mbi_read_full(int fd, void *p, size_t n);
MBI_HIDDEN int mbi_mkdir_p(const char *path, mode_t mode);
/* Write a whole file safely: temp file, fsync, rename, fsync dir. The file
 * gets mode as given, whatever the umask. */
MBI_HIDDEN int mbi_write_file_atomic(struct mb_ctx *ctx, const char *path,
				     const void *p, size_t n, mode_t mode);
/* The same, the file being the pieces of iov one after the other. */
struct iovec;
/* A file written in place of path atomically: mbi_atomic_open makes
 * "path.tmp-PID" (a name planted there is removed first, O_EXCL,
 * O_NOFOLLOW) and returns its descriptor, or an MB_E_ code (negative);
 * mbi_atomic_commit fsyncs, closes and renames it over path when ok (and
 * fsyncs the directory), else removes it; it frees tmp either way. */
MBI_HIDDEN int mbi_atomic_open(struct mb_ctx *ctx, const char *path,
			       mode_t mode, char **tmp_out);
MBI_HIDDEN int mbi_atomic_commit(struct mb_ctx *ctx, int fd, char *tmp,
				 const char *path, bool ok);
MBI_HIDDEN int mbi_write_file_atomicv(struct mb_ctx *ctx, const char *path,
				      const struct iovec *iov, size_t niov,
				      mode_t mode);
MBI_HIDDEN int mbi_read_file(struct mb_ctx *ctx, const char *path,
			     struct mbi_buf *out, size_t max);
/* The same, open(2) flags added (O_NOFOLLOW for files of the cache). */
MBI_HIDDEN int mbi_read_file_flags(struct mb_ctx *ctx, const char *path,
				   int flags, struct mbi_buf *out, size_t max);
MBI_HIDDEN int mbi_fsync_dir(const char *dir);
/* A snapshot's object name is TIME-HOST-ID: TIME the compact UTC time of
 * mbi_time_format (YYYYMMDDTHHMMSSZ), ID the snapshot id. */
#define MBI_SNAPSHOT_TIME_LEN 16
#define MBI_SNAPSHOT_ID_LEN (MB_SNAPSHOT_ID_SIZE - 1)
MBI_HIDDEN void mbi_time_format(int64_t t, char *out, size_t n,
				bool compact);
MBI_HIDDEN int mbi_time_parse(const char *s, int64_t *out);

/* SHA-256 (OpenSSL EVP). */
struct mbi_sha256 {
	void *md; /* EVP_MD_CTX */
};
MBI_HIDDEN int mbi_sha256_init(struct mbi_sha256 *s);
MBI_HIDDEN void mbi_sha256_update(struct mbi_sha256 *s, const void *p,
				  size_t n);
MBI_HIDDEN void mbi_sha256_final(struct mbi_sha256 *s,
				 unsigned char out[MBI_SHA256_LEN]);
MBI_HIDDEN void mbi_sha256_release(struct mbi_sha256 *s);
MBI_HIDDEN void mbi_sha256_buf(const void *p, size_t n,
			       unsigned char out[MBI_SHA256_LEN]);
/* Hash a file descriptor from its current position to EOF. */
MBI_HIDDEN int mbi_sha256_fd(int fd, unsigned char out[MBI_SHA256_LEN],
			     uint64_t *len);

/* ------------------------------------------------------------------ store */

struct mbi_store;

/* The head of every backend's writer: a backend allocates its own larger
 * struct with this as the first member and casts. */
struct mbi_store_writer {
	struct mbi_store *s;
};

/* Called once per listed object; return non-zero to stop with that code. */
typedef int (*mbi_list_fn)(void *ud, const char *key, uint64_t size);

/*
 * A backend. Keys are relative ("packs/ab/abcd...", "snapshots/...").
 * Objects are immutable: put never leaves a partial object under its key.
 */
struct mbi_store_ops {
	const char *name;
	/* Begin an object whose key is given at commit (packs are named by the
	 * hash of their bytes). */
	int (*writer_open)(struct mbi_store *s, struct mbi_store_writer **out);
	int (*writer_write)(struct mbi_store_writer *w, const void *p,
			    size_t n);
	/* Make the object visible under key, durably; frees w. */
	int (*writer_commit)(struct mbi_store_writer *w, const char *key);
	/* Drop a writer; nothing becomes visible; frees w. NULL is a no-op. */
	void (*writer_abort)(struct mbi_store_writer *w);
	/* Open an object for reading: *fd is readable from offset 0 and
	 * seekable; *size its length. MB_E_NOTFOUND when missing. */
	int (*get)(struct mbi_store *s, const char *key, int *fd,
		   uint64_t *size);
	/* Size of an object, MB_E_NOTFOUND when missing. */
	int (*stat)(struct mbi_store *s, const char *key, uint64_t *size);
	/* List the objects under prefix ("packs/", "snapshots/"). */
	int (*list)(struct mbi_store *s, const char *prefix, mbi_list_fn fn,
		    void *ud);
	int (*del)(struct mbi_store *s, const char *key);
	void (*close)(struct mbi_store *s);
};

struct mbi_store {
	const struct mbi_store_ops *ops;
	struct mb_ctx *ctx;
	void *priv;
	/* the backend's own table, behind the key checks of store.c */
	const struct mbi_store_ops *backend;
	/* get's fd is a file others may change while we read it (local);
	 * false when it is a private copy (s3 downloads to a temp file) */
	bool shared_fds;
	/* called right before an object is committed (the repository lock
	 * proves itself fresh there); non-zero aborts the commit */
	int (*guard)(void *ud, const char *key);
	void *guard_ud;
};

MBI_HIDDEN int mbi_store_open(struct mb_ctx *ctx, struct mbi_store **out);
/* The store's operations for the layers above it (which never reach into
 * the ops table themselves). */
static inline int mbi_store_writer_open(struct mbi_store *s,
					struct mbi_store_writer **out)
{
	return s->ops->writer_open(s, out);
}
static inline int mbi_store_get(struct mbi_store *s, const char *key, int *fd,
				uint64_t *size)
{
	return s->ops->get(s, key, fd, size);
}
static inline int mbi_store_stat(struct mbi_store *s, const char *key,
				 uint64_t *size)
{
	return s->ops->stat(s, key, size);
}
static inline int mbi_store_list(struct mbi_store *s, const char *prefix,
				 mbi_list_fn fn, void *ud)
{
	return s->ops->list(s, prefix, fn, ud);
}
static inline int mbi_store_del(struct mbi_store *s, const char *key)
{
	return s->ops->del(s, key);
}
static inline int mbi_writer_write(struct mbi_store_writer *w, const void *p,
				   size_t n)
{
	return w->s->ops->writer_write(w, p, n);
}
static inline int mbi_writer_commit(struct mbi_store_writer *w,
				    const char *key)
{
	struct mbi_store *s = w->s;

	if (s->guard) {
		int rc = s->guard(s->guard_ud, key);

		if (rc) {
			s->ops->writer_abort(w);
			return rc;
		}
	}
	return s->ops->writer_commit(w, key);
}
static inline void mbi_writer_abort(struct mbi_store_writer *w)
{
	if (w)
		w->s->ops->writer_abort(w);
}
MBI_HIDDEN void mbi_store_close(struct mbi_store *s);
/* Whether key has one of the forms a backend writes and may delete:
 * packs/XX/<64 hex> (XX its first two digits), index/NAME, snapshots/NAME,
 * locks/NAME, tmp/NAME. */
MBI_HIDDEN bool mbi_store_key_deletable(const char *key);
/* Every key under prefix, with its size, appended to *out (which starts
 * zeroed); mbi_listing_release frees it. */
struct mbi_listing {
	char **keys;
	uint64_t *sizes;
	size_t n, cap;
};
MBI_HIDDEN int mbi_store_list_all(struct mbi_store *s, const char *prefix,
				  struct mbi_listing *out);
MBI_HIDDEN void mbi_listing_release(struct mbi_listing *a);
/* Convenience: a whole object from/to memory. */
MBI_HIDDEN int mbi_store_put_buf(struct mbi_store *s, const char *key,
				 const void *p, size_t n);
MBI_HIDDEN int mbi_store_get_buf(struct mbi_store *s, const char *key,
				 struct mbi_buf *out, size_t max);

MBI_HIDDEN int mbi_store_local_open(struct mb_ctx *ctx, const char *dir,
				    struct mbi_store **out);
MBI_HIDDEN int mbi_store_s3_open(struct mb_ctx *ctx, struct mbi_store **out);

/* ------------------------------------------------------------------ crypt */

struct mbi_crypt;

/* Open gpg through GPGME with the configured GNUPGHOME and keys. Looks the
 * keys up; MB_E_CRYPTO naming a missing key. */
MBI_HIDDEN int mbi_crypt_open(struct mb_ctx *ctx, struct mbi_crypt **out);
MBI_HIDDEN void mbi_crypt_free(struct mbi_crypt *c);

enum mbi_crypt_mode {
	MBI_CRYPT_PACK = 0, /* encrypt to recipients, no signature */
	MBI_CRYPT_META = 1, /* encrypt to recipients + host key, and sign */
	MBI_CRYPT_LISTING = 2, /* recipients + host key, no signature */
};

/*
 * Streamed encryption: plaintext written to job->plain_fd (a pipe) comes
 * out encrypted into the store writer w, hashed (SHA-256 of the object
 * bytes) on the way. One gpg process and two threads per job.
 */
struct mbi_encjob;
MBI_HIDDEN int mbi_crypt_encrypt_begin(struct mbi_crypt *c,
				       enum mbi_crypt_mode mode,
				       struct mbi_store_writer *w,
				       struct mbi_encjob **out, int *plain_fd);
/* Wait for the end (the caller closed plain_fd). On success sha256 and
 * size describe the object; the writer is left for the caller to commit
 * or abort. Frees job. */
MBI_HIDDEN int mbi_crypt_encrypt_end(struct mbi_encjob *job,
				     unsigned char sha256[MBI_SHA256_LEN],
				     uint64_t *size);

/* Decrypt cipher_fd (from its start) into out_fd. With verify, a valid
 * signature from a trusted signer is required (MB_E_VERIFY otherwise);
 * what. names the object in messages. Blocking. */
MBI_HIDDEN int mbi_crypt_decrypt_fd(struct mbi_crypt *c, int cipher_fd,
				    int out_fd, bool verify, const char *what);
/* Decrypt into memory (metadata objects). */
MBI_HIDDEN int mbi_crypt_decrypt_buf(struct mbi_crypt *c, int cipher_fd,
				     struct mbi_buf *out, bool verify,
				     const char *what);
/* Encrypt+sign a memory buffer (metadata) and commit it under key. */
MBI_HIDDEN int mbi_crypt_put_meta(struct mbi_crypt *c, struct mbi_store *s,
				  const char *key, const void *p, size_t n);
/* Clearsign text (the repo file) / verify a clearsigned text and return
 * the signed plaintext. */
MBI_HIDDEN int mbi_crypt_clearsign(struct mbi_crypt *c, const char *text,
				   struct mbi_buf *out);
MBI_HIDDEN int mbi_crypt_verify_clear(struct mbi_crypt *c, const void *p,
				      size_t n, struct mbi_buf *plain,
				      const char *what);
MBI_HIDDEN bool mbi_crypt_can_decrypt_packs(struct mbi_crypt *c);
/* rekey: whether ids (OpenPGP key ids, 16 upper-case hex digits, from an
 * object's PKESK packets) are exactly the keys of mode (each names a subkey
 * of one of them and each of them is named); whether this host holds the
 * secret key of one of them. */
MBI_HIDDEN bool mbi_crypt_keyids_current(struct mbi_crypt *c,
					 enum mbi_crypt_mode mode,
					 const char (*ids)[17], size_t n);
MBI_HIDDEN bool mbi_crypt_has_secret_of(struct mbi_crypt *c,
					const char (*ids)[17], size_t n);
/* The ASCII-armoured public key of fpr. */
MBI_HIDDEN int mbi_crypt_export(struct mbi_crypt *c, const char *fpr,
				struct mbi_buf *out);

/* ------------------------------------------------------------------- zstd */

/* Compress/decompress a whole buffer (metadata). */
MBI_HIDDEN int mbi_zstd_compress_buf(struct mb_ctx *ctx, const void *p,
				     size_t n, int level, struct mbi_buf *out);
MBI_HIDDEN int mbi_zstd_decompress_buf(struct mb_ctx *ctx, const void *p,
				       size_t n, struct mbi_buf *out,
				       size_t max, const char *what);
/* The same, a piece at a time: fn gets each piece (at most 256 KiB) as
 * it is decompressed; its error stops it. */
MBI_HIDDEN int mbi_zstd_decompress_each(struct mb_ctx *ctx, const void *p,
					size_t n, uint64_t max,
					const char *what,
					int (*fn)(void *ud, const char *data,
						  size_t len),
					void *ud);

/* ----------------------------------------------------------- no-fork memory */

/* Memory that a fork (GPGME starting gpg) neither copies nor makes
 * copy-on-write: for large buffers; small sizes come from malloc. */
MBI_HIDDEN void *mbi_nofork_alloc(size_t n);
MBI_HIDDEN void mbi_nofork_free(void *p);
struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;
/* zstd contexts whose windows and tables are such memory. */
MBI_HIDDEN struct ZSTD_CCtx_s *mbi_nofork_zstd_cctx(void);
MBI_HIDDEN struct ZSTD_DCtx_s *mbi_nofork_zstd_dctx(void);

/* A pool of such buffers by power-of-two class (64 KiB to 16 MiB), for
 * buffers of varying size allocated and freed by different threads. */
#define MBI_POOL_CLASSES 9
struct mbi_pool {
	pthread_mutex_t lock;
	void *free[MBI_POOL_CLASSES];
	size_t idle, max_idle;
};
MBI_HIDDEN void mbi_pool_init(struct mbi_pool *pl, size_t max_idle);
MBI_HIDDEN void *mbi_pool_get(struct mbi_pool *pl, size_t n);
MBI_HIDDEN void mbi_pool_put(struct mbi_pool *pl, void *p);
/* Free the buffers kept for reuse; the pool stays usable. */
MBI_HIDDEN void mbi_pool_drain(struct mbi_pool *pl);
MBI_HIDDEN void mbi_pool_release(struct mbi_pool *pl);

/* ------------------------------------------------------------------- repo */

struct mbi_pack_scratch;

struct mbi_repo {
	struct mb_ctx *ctx;
	struct mbi_store *store;
	struct mbi_crypt *crypt;
	char id[33];
	/* pack writers' compression contexts and buffers, kept for the next
	 * pack: a fresh 32 MiB window per pack costs page faults */
	pthread_mutex_t scratch_lock;
	struct mbi_pack_scratch *scratch;
	/* the manifest "latest" or a time was resolved to (its name checked),
	 * handed to the next mbi_manifest_load of that name: read once */
	struct mbi_manifest *resolved;
	/* frees resolved: set beside it by the manifest layer, so that this
	 * layer below it calls no manifest function */
	void (*resolved_free)(struct mbi_repo *r);
	/* format 2: listings read so far, and the index that finds them;
	 * freed by listings_free, set beside it by the listing layer */
	struct mbi_listings *listings;
	void (*listings_free)(struct mbi_repo *r);
	int version;           /* of mailbackup.repo: 1 or 2 */
};

/* Open the configured repository and verify mailbackup.repo. */
MBI_HIDDEN int mbi_repo_open(struct mb_ctx *ctx, struct mbi_repo **out);
MBI_HIDDEN void mbi_repo_close(struct mbi_repo *r);
/* Size limits of metadata (docs/format.md, section 3.4): the plaintext of
 * a manifest or an index object, and one line of it. A stored object
 * larger than its plaintext could be (MBI_META_STORED_MAX) is refused
 * before gpg reads it. */
#define MBI_MANIFEST_MAX (4ULL << 30)
#define MBI_INDEX_MAX (1ULL << 30)
#define MBI_META_LINE_MAX (1 << 20)
#define MBI_META_STORED_MAX(plain) ((plain) + (plain) / 128 + (64 << 10))
/* Read a metadata object (index or manifest): fetch, decrypt, check its
 * signature, decompress (at most max bytes) into *plain. */
MBI_HIDDEN int mbi_repo_get_meta(struct mbi_repo *r, const char *key,
				 uint64_t max, struct mbi_buf *plain);
/* The same up to its signature check: *z is the plaintext still
 * zstd-compressed, as stored inside the OpenPGP message (not bounded by max
 * yet: whoever decompresses it does that). */
MBI_HIDDEN int mbi_repo_get_meta_z(struct mbi_repo *r, const char *key,
				   uint64_t max, struct mbi_buf *z);
/* rekey: re-sign mailbackup.repo with the configured recipient and signer
 * lines (its id and other lines kept) when it names others; *rewritten
 * tells whether it did (dry: whether it would). */
MBI_HIDDEN int mbi_repo_resign(struct mbi_repo *r, bool dry, bool *rewritten);
/* Format 2: before the first version-2 object, mailbackup.repo is signed
 * again with "mailbackup-repository 2" (every other line kept). */
MBI_HIDDEN int mbi_repo_upgrade(struct mbi_repo *r);

/* ------------------------------------------------------------------- lock */

/*
 * Repository locks: objects under locks/, shared for a backup, exclusive
 * for a prune, refreshed by a thread while held. Another run's lock is
 * stale when its process on this host is gone, or when its content has not
 * changed for [options] lock_timeout as measured on this host's
 * CLOCK_BOOTTIME (remembered in the cache directory across runs): no remote
 * clock is trusted. A lock seen for the first time is never stale.
 * While held, every commit of an index/ or snapshots/ object first proves
 * the lock (mbi_lock_prove).
 */
struct mbi_lock;
/* Take the lock; on MB_E_LOCKED retry for up to wait seconds. */
MBI_HIDDEN int mbi_lock_acquire(struct mbi_repo *r, bool exclusive,
				int64_t wait, struct mbi_lock **out);
/* Stop refreshing and delete the lock object; NULL is a no-op. */
MBI_HIDDEN void mbi_lock_release(struct mbi_lock *l);
/* Non-zero (with a message) when refreshing failed: the lock may have
 * been taken as stale by another host, so the holder must not commit. */
MBI_HIDDEN int mbi_lock_check(struct mbi_lock *l);
/* mbi_lock_check, plus: our last refresh is recent on this host's
 * monotonic clock, and our lock object is still there and ours.
 * MB_E_LOCKED otherwise. Call right before a commit or a delete. */
MBI_HIDDEN int mbi_lock_prove(struct mbi_lock *l);
/* Remove stale locks (all: every lock object); *removed counts them. */
MBI_HIDDEN int mbi_lock_remove_stale(struct mbi_repo *r, bool all,
				     size_t *removed);
/* The reserve object of a local repository (see lock.c); put back, when
 * missing, by a successful backup. */
#define MBI_RESERVE_KEY "tmp/0.reserve"
#define MBI_RESERVE_SIZE (1u << 20)
MBI_HIDDEN void mbi_reserve_keep(struct mbi_repo *r);
/* Test-only: raise SIGSTOP once when MB_TEST_STOP_AT names this point. */
MBI_HIDDEN void mbi_commit_point(const char *name);

struct mbi_lockinfo {
	bool exclusive, parsed;
	char host[128];
	long pid;
	long long created, refreshed;
	long long timeout; /* the holder's lock_timeout in s; 0: not given */
};
/* Parse a lock object (at most 64 KiB); MB_E_VERIFY when malformed. */
MBI_HIDDEN int mbi_lock_parse(const char *text, size_t len,
			      struct mbi_lockinfo *li);

/* ------------------------------------------------------------------ index */

struct mbi_blobref {
	uint32_t pack;   /* index into mbi_index.packs */
	uint64_t size;   /* plaintext size */
};

struct mbi_packinfo {
	char name[MBI_SHA256_HEX]; /* sha256 of the object bytes, hex */
	uint64_t size;             /* object size */
	uint32_t nblobs;
	bool listing;              /* a listing pack (format 2, "q") */
};

/* All index objects of a repository in memory: sha256 -> pack. */
struct mbi_index {
	struct mb_ctx *ctx;
	unsigned char *keys;    /* open-addressed table of 32-byte keys */
	struct mbi_blobref *vals;
	size_t cap, count;
	struct mbi_packinfo *packs;
	size_t npacks, capacks;
	char **objects;         /* names of the index objects loaded */
	size_t nobjects;
	pthread_mutex_t lock;
	/* content listed again in another pack (a backup that stored again
	 * what a missing pack held): resolved by mbi_index_load */
	struct mbi_index_alt *alts;
	size_t nalts;
	/* set before mbi_index_load by a reader that needs only some of the
	 * content (restore): every blob line goes to it in order, none into
	 * the table, so that a million of them take no memory here; a
	 * non-zero return fails the load. sha NULL: forget what was given,
	 * the load starts again (a damaged cached copy). */
	int (*on_blob)(void *ud, const unsigned char *sha, uint32_t pack,
		       uint64_t size);
	void *on_blob_ud;
};

struct mbi_index_alt {
	unsigned char sha[MBI_SHA256_LEN];
	uint32_t pack;
};

MBI_HIDDEN int mbi_index_init(struct mbi_index *ix, struct mb_ctx *ctx);
MBI_HIDDEN void mbi_index_release(struct mbi_index *ix);
/* Load every index object: from the local cache of decoded ones, or with
 * fresh, downloaded and verified again. */
MBI_HIDDEN int mbi_index_load(struct mbi_index *ix, struct mbi_repo *r,
			       bool fresh);
/* From a fresh listing of packs/, which of ix's packs are missing:
 * (*gone)[i] for ix->packs[i], *ngone counts them; caller frees *gone. */
MBI_HIDDEN int mbi_index_missing_packs(struct mbi_index *ix,
				       struct mbi_repo *r, bool **gone,
				       size_t *ngone);
MBI_HIDDEN const struct mbi_blobref *mbi_index_find(struct mbi_index *ix,
						    const unsigned char *sha);
MBI_HIDDEN int mbi_index_add_pack(struct mbi_index *ix, const char *name,
				  uint64_t size, uint32_t *pack_out);
MBI_HIDDEN int mbi_index_add_blob(struct mbi_index *ix,
				  const unsigned char *sha, uint32_t pack,
				  uint64_t size);
/* Listings (format 2) share the index with content under their own key:
 * the id with its first byte inverted, so that a file whose bytes are a
 * listing's text (its hash is the listing's id) is another blob. Finding
 * content whose hash is a listing's key is a SHA-256 preimage. */
MBI_HIDDEN void mbi_listing_key(const unsigned char *id,
				unsigned char key[MBI_SHA256_LEN]);
/* Listing id's entry in ix when it is in a listing pack of ix, or NULL. */
MBI_HIDDEN const struct mbi_blobref *
mbi_index_find_listing(struct mbi_index *ix, const unsigned char *id);
/* Serialize the packs from first_pack on as one index object text. */
MBI_HIDDEN int mbi_index_format(struct mbi_index *ix, uint32_t first_pack,
				struct mbi_buf *out);
/* Write the packs from first_pack on as a new signed index object;
 * *stored (if not NULL) gets its compressed size. */
MBI_HIDDEN int mbi_index_write(struct mbi_index *ix, struct mbi_repo *r,
			       uint32_t first_pack, uint64_t *stored);
/* Parse one decoded index object text into ix. */
MBI_HIDDEN int mbi_index_parse(struct mbi_index *ix, const char *text,
			       size_t len, const char *what);

/* --------------------------------------------------------------- manifest */

/* One entry line of a manifest, decoded. Strings point into the line. */
struct mbi_mentry {
	char *source;
	char *path;
	char *link;
	char type;
	uint32_t mode, uid, gid;
	int64_t mtime_ns;
	uint64_t size;
	unsigned char sha[MBI_SHA256_LEN];
	bool has_sha;
};

/* A table's record from the dump: rows and CHECKSUM TABLE. */
struct mbi_mdb {
	char *source, *db, *table;
	uint64_t rows;
	char *checksum;
};

struct mbi_manifest {
	/* the entries' lines: the plaintext (mbi_manifest_parse) or, as a
	 * snapshot is loaded, the plaintext still zstd-compressed
	 * (mbi_manifest_parse_z), which foreach decompresses a chunk at a
	 * time; owned, NULL after mbi_manifest_drop_entries */
	char *text;
	size_t len;
	unsigned char *z;
	size_t zlen;
	char *what;            /* its name in messages (owned) */
	char id[MB_SNAPSHOT_ID_SIZE];
	char host[128];
	int64_t time;
	size_t nentries;
	/* sources named in the header */
	struct {
		char *name, *type, *path;
	} *sources;
	size_t nsources;
	struct mbi_mdb *dbs;
	size_t ndbs;
	struct {
		char *source, *key, *value;
	} *meta;
	size_t nmeta;
	char **hdr;            /* copies of the header lines (owned) */
	size_t nhdr;
	/* format 2: the ids of the listings its tree reached (32 bytes
	 * each, in the order read, repeats possible; owned) */
	unsigned char *listing_ids;
	size_t nlisting_ids;
};

/* Free the entry text of m once a caller has what it needs of it (the
 * header, sources and dbs stay); foreach then sees no entries. */
MBI_HIDDEN void mbi_manifest_drop_entries(struct mbi_manifest *m);
/* Format one entry line (with the trailing newline). */
MBI_HIDDEN int mbi_manifest_format_entry(struct mbi_buf *b,
					 const struct mbi_mentry *e);
/* Parse one entry line (without newline) in place. */
MBI_HIDDEN int mbi_manifest_parse_entry(char *line, struct mbi_mentry *e);
/* Parse a decoded manifest; entries are read with mbi_manifest_foreach.
 * On success m owns text. */
MBI_HIDDEN int mbi_manifest_parse(struct mb_ctx *ctx, char *text, size_t len,
				  struct mbi_manifest *m, const char *what);
/* The same from the zstd-compressed plaintext (at most MBI_MANIFEST_MAX
 * bytes once decompressed), checked in one streaming pass; on success m
 * owns z. */
MBI_HIDDEN int mbi_manifest_parse_z(struct mb_ctx *ctx, unsigned char *z,
				    size_t zlen, struct mbi_manifest *m,
				    const char *what);
MBI_HIDDEN void mbi_manifest_release(struct mbi_manifest *m);
typedef int (*mbi_mentry_fn)(void *ud, struct mbi_mentry *e);
/* Call fn for every entry, in order, reading the lines again (from the
 * compressed text: a chunk at a time); a line that does not parse, a
 * damaged or truncated stream, or an "end" count that differs fail with
 * MB_E_VERIFY naming the manifest and line; fn's non-zero return stops it
 * and is returned. */
MBI_HIDDEN int mbi_manifest_foreach(struct mb_ctx *ctx,
				    const struct mbi_manifest *m,
				    mbi_mentry_fn fn, void *ud);
/* Parse a decoded manifest of r, either version (a version-2 one is
 * expanded from r's listings, m->listing_ids set); on success m owns
 * plain's data and plain is emptied. */
MBI_HIDDEN int mbi_manifest_parse_repo(struct mbi_repo *r,
				       struct mbi_buf *plain,
				       struct mbi_manifest *m,
				       const char *what);
/* The same from the plaintext still zstd-compressed (as decrypted): a
 * format-1 manifest stays so (m owns z's data, z is emptied); a format-2
 * one is expanded and its format-1 text kept compressed too. */
MBI_HIDDEN int mbi_manifest_parse_repo_z(struct mbi_repo *r,
					 struct mbi_buf *z,
					 struct mbi_manifest *m,
					 const char *what);
/* Fetch, verify, decrypt and parse the manifest of a snapshot; its object
 * name must match it (mbi_snapshot_name_verify), MB_E_VERIFY otherwise. */
MBI_HIDDEN int mbi_manifest_load(struct mbi_repo *r, const char *name,
				 struct mbi_manifest *m);
/* Drop r->resolved (mbi_repo_close). */
MBI_HIDDEN void mbi_snapshot_resolved_free(struct mbi_repo *r);
/* The same without the check of the name. */
MBI_HIDDEN int mbi_manifest_load_raw(struct mbi_repo *r, const char *name,
				     struct mbi_manifest *m);

/* ---------------------------------------------------------------- listing */

/*
 * Format 2 (docs/format.md §5.7-5.9): one listing per directory, addressed by the
 * SHA-256 of its text; the manifest names each source's root listing.
 */
/* Called for each listing built, children before parents. */
typedef int (*mbi_listing_store_fn)(void *ud, const unsigned char *id,
				    const char *text, size_t len);
/* Build the listings of one source from its format-1 entry lines (without
 * newline; not modified): sorted, serialized deterministically, hashed and
 * handed to store; root gets the root listing's id. MB_E_INVAL (naming
 * what) for a malformed entry or a name that appears twice. */
MBI_HIDDEN int mbi_listing_build(struct mb_ctx *ctx, const char *what,
				 char **lines, size_t n,
				 mbi_listing_store_fn store, void *ud,
				 unsigned char root[MBI_SHA256_LEN]);
/* Called per line of a listing after the magic: its n fields. */
typedef int (*mbi_listing_line_fn)(void *ud, const char *const *p,
				   const size_t *l, int n);
/* Check the shape of one listing and call fn for each line. MB_E_VERIFY
 * with *bad_line set when it is malformed. */
MBI_HIDDEN int mbi_listing_parse(const char *text, size_t len,
				 mbi_listing_line_fn fn, void *ud,
				 size_t *bad_line);
/* The text of listing id, verified by its hash; valid until the getter's
 * owner is freed. */
typedef int (*mbi_listing_get_fn)(void *ud, const unsigned char *id,
				  const char **text, size_t *len);
/* Whether the compressed plaintext z of a manifest is a format-2 root. */
MBI_HIDDEN bool mbi_manifest_z_is_v2(struct mb_ctx *ctx, const unsigned char *z,
				     size_t zlen, const char *what);
MBI_HIDDEN bool mbi_manifest_is_v2(const char *text, size_t len);
/* Expand a version-2 manifest's text into the equivalent version-1 text
 * (appended to out); the ids of the listings read go to ids (if not
 * NULL). MB_E_VERIFY naming what when it is malformed. */
MBI_HIDDEN int mbi_listing_expand_manifest(struct mb_ctx *ctx,
					   const char *text, size_t len,
					   mbi_listing_get_fn get, void *ud,
					   struct mbi_buf *out,
					   struct mbi_buf *ids,
					   const char *what);
/* The same, listings read from r's listing packs (through its index, each
 * listing pack read once per repository handle). */
MBI_HIDDEN int mbi_listing_expand_repo(struct mbi_repo *r, const char *text,
				       size_t len, struct mbi_buf *out,
				       struct mbi_buf *ids, const char *what);
/* The same, the version-1 text compressed as it is made (zstd level 1,
 * one frame, appended to z): never whole in memory. */
MBI_HIDDEN int mbi_listing_expand_repo_z(struct mbi_repo *r, const char *text,
					 size_t len, struct mbi_buf *z,
					 struct mbi_buf *ids, const char *what);
MBI_HIDDEN void mbi_listings_free(struct mbi_repo *r);
/* check: from now on, manifests loaded through r leave out the listings
 * an earlier one reached (their entries were checked already), and their
 * end line counts what is left; each distinct listing is expanded once. */
MBI_HIDDEN int mbi_listings_skip_seen(struct mbi_repo *r);
/* check: after each snapshot, whether its entries were checked (the
 * listings it reached are then skipped by the next ones) or not. */
MBI_HIDDEN int mbi_listings_settle(struct mbi_repo *r, bool checked);
/* Writes new listings into listing packs and lists them in ix (a listing
 * that ix has in a listing pack is not stored again). Set r, ix,
 * zstd_level and pack_size; mbi_lpw_store is a mbi_listing_store_fn;
 * finish closes the last pack (before the index is written). */
struct mbi_lpw {
	struct mbi_repo *r;
	struct mbi_index *ix;
	const bool *gone;      /* packs of ix missing from the repository */
	int zstd_level;
	uint64_t pack_size;
	struct mbi_packw *pw;
	struct mbi_buf ids;    /* of the open pack */
	uint64_t stored, packs;
	uint64_t restored;     /* listings stored again: their pack was gone */
	bool memo;             /* keep them in the cache (repo/lmemo.c) */
	unsigned char memo_key[MBI_SHA256_LEN];
	struct mbi_buf memo_ids; /* of every listing built */
};
MBI_HIDDEN int mbi_lpw_store(void *ud, const unsigned char *id,
			     const char *text, size_t len);
MBI_HIDDEN int mbi_lpw_finish(struct mbi_lpw *w);
MBI_HIDDEN void mbi_lpw_abort(struct mbi_lpw *w);
/* The listings of the last backup whose entry lines were the same (their
 * digest, mbi_cache_lines), from the cache directory dir: true when found and every listing is
 * still in the index, in a listing pack not gone; trees and *count are set
 * then. usable false (entries left out, packs gone): never found. After a
 * miss, build them and call mbi_lmemo_end with the result, which keeps
 * them there for the next backup. */
struct mbi_cache;
MBI_HIDDEN bool mbi_lmemo_get(struct mbi_lpw *w, const struct mbi_cache *c,
			      bool usable, const char *dir,
			      struct mbi_buf *trees, size_t *count);
MBI_HIDDEN void mbi_lmemo_end(struct mbi_lpw *w, const char *dir, int rc,
			      const struct mbi_buf *trees, size_t count);
/* A snapshot's entry lines sorted for its listings (repo/lsort.c): by
 * source (configured order, others after) then path component by
 * component. In memory up to MBI_LSORT_RUN bytes of lines; beyond, sorted
 * runs go to unlinked files in dir (NULL: all in memory) and are merged. */
#define MBI_LSORT_RUN ((size_t)8 << 20)
struct mbi_lsort;
MBI_HIDDEN int mbi_lsort_new(struct mb_ctx *ctx, const char *dir,
			     struct mbi_lsort **out);
/* One entry line (without newline). MB_E_INVAL for a malformed one. */
MBI_HIDDEN int mbi_lsort_add(struct mbi_lsort *s, const char *line,
			     size_t len);
/* After the last add: the lines in order, *line NULL at the end; each is
 * valid until the next call. */
MBI_HIDDEN int mbi_lsort_next(struct mbi_lsort *s, const char **line);
MBI_HIDDEN void mbi_lsort_free(struct mbi_lsort *s);
/* The listings of a snapshot's entry lines (all sources, read from s in
 * one pass): "tree SOURCE ID" lines appended to trees, in the order of
 * the configured sources; *count gets the number of entries. The lines
 * must be mbi_manifest_format_entry()'s of this process: they are split
 * into fields, not parsed again. */
MBI_HIDDEN int mbi_listing_trees(struct mbi_lpw *w, struct mbi_lsort *s,
				 struct mbi_buf *trees, size_t *count);
/* Test-only: MB_TEST_FORMAT=1 makes init and backup write format 1. */
MBI_HIDDEN int mbi_write_format(void);

/* Snapshot object names: <YYYYMMDDTHHMMSSZ>-<host>-<id>. The host is 1 to
 * 100 of [A-Za-z0-9._-] (mbi_snapshot_host_valid); the time must be written
 * canonically. MB_E_INVAL otherwise. */
MBI_HIDDEN int mbi_snapshot_name_parse(const char *name,
				       struct mb_snapshot_info *out);
MBI_HIDDEN bool mbi_snapshot_host_valid(const char *host);
/* MB_E_VERIFY (message naming the object) unless the time, host and id in
 * name equal those of its signed manifest m. */
MBI_HIDDEN int mbi_snapshot_name_verify(struct mb_ctx *ctx, const char *name,
					const struct mbi_manifest *m);
/* A time selector: YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS,
 * each with an optional Z, always UTC. *out is the last second it covers
 * (a date means the end of that day). MB_E_INVAL when s is not one. */
MBI_HIDDEN int mbi_snapshot_time_spec(const char *s, int64_t *out);
/* How far (s) a snapshot or signature time may lie ahead of this host's
 * clock. */
#define MBI_CLOCK_TOLERANCE 86400
/* Snapshots before this (2000-01-01T00:00:00Z) are refused. */
#define MBI_TIME_MIN 946684800
MBI_HIDDEN int mbi_snapshots_list(struct mbi_repo *r,
				  struct mb_snapshot_info **out, size_t *n);
MBI_HIDDEN int mbi_snapshot_resolve(struct mbi_repo *r, const char *spec,
				    struct mb_snapshot_info *out);

/* ------------------------------------------------------------------- pack */

/*
 * A pack being written: pax tar members go through libzstd and gpg into a
 * store writer. Members carry their SHA-256 as the pax record
 * SCHILY.xattr.user.mailbackup.sha256.
 */
struct mbi_packw;
MBI_HIDDEN int mbi_packw_open(struct mbi_repo *r, int zstd_level,
			      struct mbi_packw **out);
/* A listing pack (format 2): encrypted to the recipients and the host key. */
MBI_HIDDEN int mbi_packw_open_mode(struct mbi_repo *r, int zstd_level,
				   enum mbi_crypt_mode mode,
				   struct mbi_packw **out);
/* Add a member; data of size bytes comes from buf (when not NULL) or is read
 * from fd at offset 0 (pread). The bytes are hashed again and must match
 * sha (MB_E_VERIFY otherwise: the file changed while it was read; the pack
 * is then unusable and must be aborted). */
MBI_HIDDEN int mbi_packw_add(struct mbi_packw *p, const char *name,
			     const unsigned char *sha, uint64_t size,
			     uint32_t mode, int64_t mtime_ns,
			     const void *buf, int fd);
/* Bytes of compressed output so far (to decide when the pack is full). */
MBI_HIDDEN uint64_t mbi_packw_out_bytes(struct mbi_packw *p);
MBI_HIDDEN uint64_t mbi_packw_in_bytes(struct mbi_packw *p);
/* Finish and commit under packs/xx/<sha>; name gets the hex name. */
MBI_HIDDEN int mbi_packw_close(struct mbi_packw *p,
			       char name[MBI_SHA256_HEX], uint64_t *size);
MBI_HIDDEN void mbi_packw_abort(struct mbi_packw *p);
/* Free the scratch space kept by closed pack writers (mbi_repo_close). */
MBI_HIDDEN void mbi_pack_scratch_free(struct mbi_repo *r);

/* Read a pack: verify its name (hash of the bytes) and size, decrypt,
 * decompress and call fn for each member. The member's data is read with
 * mbi_packr_read() or mbi_packr_block() inside the callback. */
struct mbi_packr;
typedef int (*mbi_member_fn)(void *ud, struct mbi_packr *pr,
			     const char *name, const unsigned char *sha,
			     bool has_sha, uint64_t size);
MBI_HIDDEN int mbi_pack_read(struct mbi_repo *r, const char *packname,
			     uint64_t expect_size, mbi_member_fn fn, void *ud);
MBI_HIDDEN ssize_t mbi_packr_read(struct mbi_packr *pr, void *buf, size_t n);
/* The member's next bytes in place (valid until the next call): 1 with
 * *buf and *n set, 0 at its end, -1 when the pack is damaged. */
MBI_HIDDEN int mbi_packr_block(struct mbi_packr *pr, const void **buf,
			       size_t *n);
MBI_HIDDEN void mbi_pack_key(const char *name, char *key, size_t n);

/* ------------------------------------------------------------------ cache */

/* Local change-detection cache: (dev, ino, size, mtime[, ctime]) -> sha. */
struct mbi_cache;
MBI_HIDDEN int mbi_cache_open(struct mb_ctx *ctx, const char *repo_id,
			      struct mbi_cache **out);
MBI_HIDDEN bool mbi_cache_lookup(struct mbi_cache *c, uint64_t dev,
				 uint64_t ino, uint64_t size, int64_t mtime_ns,
				 int64_t ctime_ns, bool use_ctime,
				 unsigned char *sha_out);
MBI_HIDDEN int mbi_cache_record(struct mbi_cache *c, uint64_t dev, uint64_t ino,
				uint64_t size, int64_t mtime_ns,
				int64_t ctime_ns, const unsigned char *sha);
/* One entry line of this run's snapshot, in any order: the lines' digest
 * (a sum of keyed hashes, the key secret in the cache directory) names
 * their listings in repo/lmemo.c. Guarded like mbi_cache_record. */
MBI_HIDDEN void mbi_cache_line(struct mbi_cache *c, const char *line,
			       size_t len);
/* That digest, or false when there is none (no key). */
MBI_HIDDEN bool mbi_cache_lines(const struct mbi_cache *c,
				unsigned char out[MBI_SHA256_LEN]);
/* SipHash-2-4 of p[0..n) with key k (repo/lmemo.c). */
MBI_HIDDEN uint64_t mbi_siphash(const uint64_t k[2], const void *p, size_t n);
/* Write the entries recorded in this run as the new cache (atomic). */
MBI_HIDDEN int mbi_cache_save(struct mbi_cache *c);
MBI_HIDDEN void mbi_cache_free(struct mbi_cache *c);
/* The cache directory of repository repo_id (created 0700); caller frees. */
MBI_HIDDEN char *mbi_cache_dir(struct mb_ctx *ctx, const char *repo_id);

/* ---------------------------------------------------------------- history */

/* Append "EVENT NAME" ("commit" or "forget") to this host's record of the
 * repository's snapshots (history.c). MB_E_IO with a message. */
MBI_HIDDEN int mbi_history_add(struct mb_ctx *ctx, const char *repo_id,
			       const char *event, const char *name);
/* The names (*out, *nout; caller frees each and the array) this host
 * committed and never forgot that are not among the n listed in v. */
MBI_HIDDEN int mbi_history_vanished(struct mb_ctx *ctx, const char *repo_id,
				    const struct mb_snapshot_info *v, size_t n,
				    char ***out, size_t *nout);
/* List the snapshots and log a warning for each vanished one. */
MBI_HIDDEN int mbi_history_warn(struct mbi_repo *r);

/* ------------------------------------------------------------------- walk */

/* What the walker saw: a directory, symlink or regular file of a source. */
struct mbi_walk_item {
	const char *path;      /* relative to the source root; "." for it */
	int dirfd;             /* the parent directory */
	const char *name;      /* within dirfd */
	struct stat *st;
	const char *link;      /* symlink target */
	bool maildir_msg;      /* a message in a Maildir's cur/ or new/ */
};

struct mbi_walker;
typedef int (*mbi_walk_fn)(void *ud, struct mbi_walker *w,
			   const struct mbi_walk_item *it);

/* Threads that stat a tree's entries ahead of its walker, to keep the
 * disk busy on a cold cache (prefetch.c); NULL if they cannot start. */
struct mbi_prefetch;
MBI_HIDDEN struct mbi_prefetch *mbi_prefetch_start(int root_fd);
MBI_HIDDEN void mbi_prefetch_walked(struct mbi_prefetch *pf, uint64_t n);
MBI_HIDDEN void mbi_prefetch_stop(struct mbi_prefetch *pf);
/* Start prefetchers for the tree sources (all, or those named in the
 * NULL-terminated only) now, before the repository is opened: their
 * walks take them over (mbi_prefetch_take). */
MBI_HIDDEN void mbi_prefetch_early(struct mb_ctx *ctx,
				   const char *const *only);
/* The prefetcher started early for path, or one started now on root_fd. */
MBI_HIDDEN struct mbi_prefetch *mbi_prefetch_take(struct mb_ctx *ctx,
						  const char *path,
						  int root_fd);
/* Stop those no walk took over. */
MBI_HIDDEN void mbi_prefetch_early_stop(struct mb_ctx *ctx);

/* Walk a source's tree (files or maildir rules). Calls fn for each item;
 * items that vanish or cannot be read are warned about and skipped. */
MBI_HIDDEN int mbi_walk_source(struct mb_ctx *ctx,
			       const struct mbi_source *src, mbi_walk_fn fn,
			       void *ud);
/* Inside fn for a regular file: open it (O_NOFOLLOW). For a Maildir message
 * that was renamed since it was listed (a flag change, new/ -> cur/) it
 * finds the message again by its unique name; *st and *path_out then
 * describe the file that was opened (path_out is owned by the walker,
 * valid until the next call). Returns an fd, or -1 (warned, skip it). */
MBI_HIDDEN int mbi_walk_open(struct mbi_walker *w,
			     const struct mbi_walk_item *it, struct stat *st,
			     const char **path_out);
/* Dovecot's volatile files of a Maildir (dotlocks, dovecot.list.index*,
 * dovecot.mailbox.log*): never backed up, never restored in place. */
MBI_HIDDEN bool mbi_maildir_volatile(const char *name);

/* ---------------------------------------------------------------- sources */

/*
 * Where the kinds of source that do not walk a tree (mariadb, command) put
 * their entries during a backup.
 */
struct mbi_emit {
	/* A regular file whose content is fd from offset 0, size bytes; the
	 * callee has finished with fd when this returns. */
	int (*add_file)(struct mbi_emit *em, const char *relpath, int fd,
			uint64_t size, uint32_t mode, int64_t mtime_ns);
	/* A table's row count and CHECKSUM TABLE value. */
	int (*add_db)(struct mbi_emit *em, const char *db, const char *table,
		      uint64_t rows, const char *checksum);
	/* Free-form facts (server version, binlog position). */
	int (*add_meta)(struct mbi_emit *em, const char *key,
			const char *value);
	/* A directory for temporary files (spooled table dumps). */
	const char *tmpdir;
	void *priv;
};

/* dkim.c: a path that looks like a DKIM private key; and the check that
 * the key parses and matches its public key (.txt DNS record, .pub) when
 * one lies beside it. MB_E_VERIFY with the reason appended to why. */
MBI_HIDDEN bool mbi_dkim_is_key_path(const char *path);
MBI_HIDDEN int mbi_dkim_check(struct mb_ctx *ctx, const char *priv_path,
			      struct mbi_buf *why);

/* op/restore_test_redis.c: each Redis dump ("dump.rdb", as the mailcow preset backs it
 * up) of manifest m, restored below files_dir, is loaded into a scratch
 * redis-server (socket and log in scratch); every DKIM_PRIV_KEYS entry
 * (field SELECTOR.DOMAIN, a PEM private key) must parse and match the
 * DKIM_PUB_KEYS entry of its domain (base64 of the public key). Findings
 * (kind "redis" or "dkim") go to fn, counts to *out. An error only for a
 * failure of ours (no memory, a scratch path too long). */
typedef void (*mbi_finding_fn)(void *ud, const char *kind,
			       const char *source, const char *path,
			       const char *detail);
struct mbi_redis_dkim {
	uint64_t dumps;    /* dump.rdb files restored */
	uint64_t checked;  /* of them loaded into redis-server */
	uint64_t keys, ok; /* DKIM_PRIV_KEYS entries, and those that match */
};
MBI_HIDDEN int mbi_dkim_redis_check(struct mb_ctx *ctx,
				    const struct mbi_manifest *m,
				    const char *files_dir, const char *scratch,
				    mbi_finding_fn fn, void *ud,
				    struct mbi_redis_dkim *out);

MBI_HIDDEN int mbi_command_source(struct mb_ctx *ctx,
				  const struct mbi_source *src,
				  struct mbi_emit *em);
MBI_HIDDEN int mbi_dbdump_source(struct mb_ctx *ctx,
				 const struct mbi_source *src,
				 struct mbi_emit *em);
/* Load a restored source's .sql files (in dir) into its server. */
MBI_HIDDEN int mbi_dbload_source(struct mb_ctx *ctx,
				 const struct mbi_source *src, const char *dir,
				 const char *db_prefix, bool overwrite,
				 const struct mbi_manifest *m);

#endif
