/* SPDX-License-Identifier: MIT */
/* mb.h: the public interface of libmb, the mailbackup library. */
#ifndef MB_H
#define MB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MB_BUILDING_LIBRARY)
#define MB_EXPORT __attribute__((visibility("default")))
#else
#define MB_EXPORT
#endif

#define MB_VERSION "0.1.0"

/*
 * Status codes. Every public function that can fail returns MB_OK or one of
 * these negative values; the detail is in mb_ctx_errmsg(). Append-only.
 */
enum mb_status {
	MB_OK = 0,
	MB_E_INVAL = -1,     /* a bad argument or a bad value in a request */
	MB_E_NOMEM = -2,     /* out of memory */
	MB_E_IO = -3,        /* a local file system error */
	MB_E_CONFIG = -4,    /* the configuration is wrong or incomplete */
	MB_E_DB = -5,        /* the database server failed or refused */
	MB_E_CRYPTO = -6,    /* gpg failed: missing key, no secret key, ... */
	MB_E_STORE = -7,     /* the repository backend failed */
	MB_E_VERIFY = -8,    /* a signature, hash or size does not match */
	MB_E_LOCKED = -9,    /* the repository or cache is locked by another run */
	MB_E_ABORTED = -10,  /* the progress callback asked to stop */
	MB_E_NOTFOUND = -11, /* no such snapshot, object or entry */
	MB_E_PARTIAL = -12,  /* done, but some items failed (warnings logged) */
	MB_E_EXISTS = -13,   /* the target exists and overwriting was not asked */
};

/* Exit codes of the CLI, also useful to wrappers. */
enum mb_exit {
	MB_EXIT_OK = 0,
	MB_EXIT_FAILURE = 1,
	MB_EXIT_USAGE = 2,
	MB_EXIT_PARTIAL = 3,
	MB_EXIT_MISMATCH = 4,
	MB_EXIT_LOCKED = 5,
};

enum mb_log_level {
	MB_LOG_ERROR = 0,
	MB_LOG_WARNING = 1,
	MB_LOG_INFO = 2,
	MB_LOG_DEBUG = 3,
};

struct mb_ctx;

typedef void (*mb_log_fn)(void *userdata, enum mb_log_level level,
			  const char *msg);
/* Progress: what is being done ("backup", "restore", "check"), items and
 * bytes done so far, and the totals when known (0 otherwise). Return non-zero
 * to abort the operation with MB_E_ABORTED. */
typedef int (*mb_progress_fn)(void *userdata, const char *phase,
			      uint64_t items, uint64_t bytes,
			      uint64_t items_total, uint64_t bytes_total);

/* Create a context. *out owns it; free with mb_ctx_free(). Returns MB_OK or
 * MB_E_NOMEM. */
MB_EXPORT int mb_ctx_new(struct mb_ctx **out);
/* Free a context; NULL is a no-op. */
MB_EXPORT void mb_ctx_free(struct mb_ctx *ctx);
/* The message of the last error, owned by ctx; "" when none. */
MB_EXPORT const char *mb_ctx_errmsg(const struct mb_ctx *ctx);
/* Route library messages up to level (inclusive) to fn. */
MB_EXPORT void mb_ctx_set_log_handler(struct mb_ctx *ctx, mb_log_fn fn,
				      void *userdata, enum mb_log_level level);
MB_EXPORT void mb_ctx_set_progress(struct mb_ctx *ctx, mb_progress_fn fn,
				   void *userdata);
/* Load an INI configuration file. MB_E_CONFIG with a message naming the
 * file, line and key on a bad file. */
MB_EXPORT int mb_ctx_load_config(struct mb_ctx *ctx, const char *path);
/* Load a configuration from memory (name is used in messages). */
MB_EXPORT int mb_ctx_load_config_buf(struct mb_ctx *ctx, const char *name,
				     const char *buf, size_t len);
/* Human text for a status code (static). */
MB_EXPORT const char *mb_strstatus(int status);
/* The CLI exit code that fits a status code. */
MB_EXPORT int mb_status_exit(int status);

/* Create the repository named in the configuration: writes the signed
 * mailbackup.repo. MB_E_EXISTS when one is there already. */
MB_EXPORT int mb_repo_init(struct mb_ctx *ctx);

/* Create a signing+encryption key pair without passphrase in gnupg_home
 * (created 0700 if missing). *fpr_out (40 hex chars, caller frees) is its
 * fingerprint. */
MB_EXPORT int mb_keygen(struct mb_ctx *ctx, const char *gnupg_home,
			const char *name, char **fpr_out);

struct mb_backup_opts {
	int64_t time;          /* record the snapshot at this time (s); 0 = now */
	const char *const *sources; /* NULL-terminated names; NULL = all */
};

struct mb_backup_result {
	char id[17];           /* snapshot id (hex) */
	char name[256];        /* object name under snapshots/ */
	uint64_t files;        /* regular files in the snapshot */
	uint64_t dirs;
	uint64_t bytes_total;  /* bytes of all regular files */
	uint64_t bytes_read;   /* bytes read from disk (cache misses) */
	uint64_t bytes_new;    /* content not yet in the repository */
	uint64_t bytes_stored; /* bytes written to the repository */
	uint64_t files_new;    /* files whose content was new */
	uint64_t packs;        /* packs written */
	uint64_t warnings;     /* items that could not be read */
	double seconds;
};

/* Take a snapshot of the configured sources. Returns MB_OK, MB_E_PARTIAL
 * (committed, but some items were skipped: see warnings), or an error, in
 * which case no snapshot was committed. */
MB_EXPORT int mb_backup(struct mb_ctx *ctx, const struct mb_backup_opts *opts,
			struct mb_backup_result *res);

struct mb_snapshot_info {
	char id[17];
	char name[256];   /* object name under snapshots/ */
	char host[128];
	int64_t time;     /* seconds since the epoch, UTC */
};

/* List the snapshots, oldest first. *out (caller frees with free()) holds
 * *n items. Reads only object names. */
MB_EXPORT int mb_snapshots(struct mb_ctx *ctx, struct mb_snapshot_info **out,
			   size_t *n);

/* Resolve "latest", an id or a unique id prefix. */
MB_EXPORT int mb_snapshot_find(struct mb_ctx *ctx, const char *spec,
			       struct mb_snapshot_info *out);

/* One entry of a snapshot, as listed by mb_ls(). Strings are valid during
 * the callback only. */
struct mb_entry {
	const char *source;
	const char *path;      /* relative to the source's root */
	const char *link;      /* symlink target, or NULL */
	char type;             /* 'f' file, 'd' directory, 'l' symlink */
	uint32_t mode;         /* permission bits */
	uint32_t uid, gid;
	int64_t mtime_ns;
	uint64_t size;
	const char *sha256;    /* hex, or NULL for non-files */
};
typedef int (*mb_entry_fn)(void *userdata, const struct mb_entry *e);

/* Call fn for each entry of snapshot spec whose path (as source/path)
 * equals or lies under prefix (NULL: all). */
MB_EXPORT int mb_ls(struct mb_ctx *ctx, const char *spec, const char *prefix,
		    mb_entry_fn fn, void *userdata);

struct mb_restore_opts {
	const char *snapshot;  /* spec */
	const char *target;    /* directory; source NAME goes to target/NAME */
	const char *source;    /* only this source, or NULL */
	const char *mailbox;   /* USER@DOMAIN: <domain>/<user>/ of maildir sources */
	const char *path_glob; /* fnmatch(3) against the path within the source */
	int overwrite;         /* replace existing files; allow a non-empty target */
	int load;              /* mariadb sources: load into the server */
	const char *db_prefix; /* with load: prefix for database names */
};

struct mb_restore_result {
	uint64_t files, dirs, links, bytes, packs;
	uint64_t warnings;
	double seconds;
};

/* Restore. Verifies every signature and hash before data is made visible.
 * MB_E_EXISTS for a non-empty target without overwrite; MB_E_VERIFY when the
 * repository fails verification (the object is named). */
MB_EXPORT int mb_restore(struct mb_ctx *ctx, const struct mb_restore_opts *opts,
			 struct mb_restore_result *res);

struct mb_check_opts {
	int read_data;         /* download, decrypt and hash packs */
	int percent;           /* with read_data: 1..100, the share to read */
};

struct mb_check_result {
	uint64_t snapshots, indexes, packs, packs_read, blobs, bytes_read;
	uint64_t errors;       /* problems found (each logged) */
	double seconds;
};

/* Verify the repository. MB_E_VERIFY when a problem was found (each is
 * logged as an error naming the object). */
MB_EXPORT int mb_check(struct mb_ctx *ctx, const struct mb_check_opts *opts,
		       struct mb_check_result *res);

/* A snapshot's fate under a retention policy, as reported by mb_forget(). */
struct mb_forget_item {
	struct mb_snapshot_info snap;
	const char *group;    /* the source set, e.g. "conf,dkim,vmail" */
	int keep;
	const char *reasons;  /* the rules that keep it: "daily,monthly" */
};
typedef int (*mb_forget_fn)(void *userdata, const struct mb_forget_item *it);

struct mb_forget_opts {
	/* rule/value pairs, NULL-terminated: { "keep-daily", "7", NULL };
	 * NULL or empty: the [retention] section of the configuration */
	const char *const *rules;
	int dry_run;
};

struct mb_forget_result {
	uint64_t kept, removed;
};

/* Apply a retention policy: call fn for every snapshot (oldest first),
 * then (unless dry_run) delete the manifests of those not kept. An empty
 * policy is refused (MB_E_CONFIG); the newest snapshot of each host and
 * source set is never removed. */
MB_EXPORT int mb_forget(struct mb_ctx *ctx, const struct mb_forget_opts *opts,
			mb_forget_fn fn, void *userdata,
			struct mb_forget_result *res);

struct mb_prune_opts {
	int max_unused;  /* repack packs with more than this % unused */
	int dry_run;
};

struct mb_prune_result {
	uint64_t packs_total, packs_deleted, packs_repacked, packs_written;
	uint64_t bytes_before, bytes_freed;
	uint64_t index_objects_written, index_objects_deleted;
	int repack_skipped;    /* packs could not be repacked: no secret key */
	double seconds;
};

/* Delete what no snapshot references and repack sparse packs (when the host
 * can decrypt). Takes an exclusive lock: MB_E_LOCKED while a backup runs. */
MB_EXPORT int mb_prune(struct mb_ctx *ctx, const struct mb_prune_opts *opts,
		       struct mb_prune_result *res);

/* Remove stale lock objects; *removed counts them. */
MB_EXPORT int mb_unlock(struct mb_ctx *ctx, size_t *removed);

#ifdef __cplusplus
}
#endif
#endif
