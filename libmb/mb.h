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

/* MB_VERSION "x.y.z" and MB_VERSION_NUMBER (x * 10000 + y * 100 + z): the
 * version this header belongs to; mb_version_number() is the library's. */
#include "mb-version.h"

/*
 * Option and result structs grow at their end without breaking programs
 * built against an older mb.h. Each starts with size_t size, which the
 * caller sets by initializing it with its macro before setting fields:
 *
 *	struct mb_backup_opts o = MB_BACKUP_OPTS_INIT;
 *	struct mb_backup_result r = MB_BACKUP_RESULT_INIT;
 *
 * Options: the library reads only the caller's size; the fields of a newer
 * libmb that an older struct lacks get their defaults (as if 0). A size of
 * 0 (a struct not initialized so) is MB_E_INVAL with a message, and so is a
 * larger struct that sets a field this libmb does not know.
 * Results: the library writes only as far as the caller's size reaches,
 * and never the size itself. Results stay plain structs rather than opaque
 * handles with getters: they are counters read once after the call, a
 * size field keeps them on the caller's stack with nothing to free, and
 * the rule is then one and the same for options and results.
 * The structs the library hands to callbacks (mb_entry, mb_forget_item,
 * mb_diff_item, ...) are the library's own and may grow at their end too.
 */

/* The size of a snapshot id string: 16 lowercase hex digits and the NUL. */
#define MB_SNAPSHOT_ID_SIZE 17

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

enum mb_log_level {
	MB_LOG_ERROR = 0,
	MB_LOG_WARNING = 1,
	MB_LOG_INFO = 2,
	MB_LOG_DEBUG = 3,
};

struct mb_ctx;

/*
 * Callbacks. libmb calls them without holding any of its locks, so they may
 * call libmb (mb_ctx_errmsg(), or an operation on another ctx).
 *
 * The log handler receives each message (msg valid during the call only).
 * It runs on the thread that called the operation and, during a backup,
 * restore or check, also on the library's worker threads, possibly on
 * several at once: a handler must be thread-safe (serialize its own output).
 */
typedef void (*mb_log_fn)(void *userdata, enum mb_log_level level,
			  const char *msg);
/* Progress: what is being done ("backup", "restore", "check"), items and
 * bytes done so far, and the totals when known (0 otherwise). Return non-zero
 * to abort the operation with MB_E_ABORTED. Never called by two threads at
 * once, but possibly on a worker thread (restore places files on several):
 * do not assume the caller's thread. */
typedef int (*mb_progress_fn)(void *userdata, const char *phase,
			      uint64_t items, uint64_t bytes,
			      uint64_t items_total, uint64_t bytes_total);

/* The version of the library linked at run time: MB_VERSION_NUMBER and
 * MB_VERSION of the library, which may be newer than the header's. */
MB_EXPORT int mb_version_number(void);
MB_EXPORT const char *mb_version_string(void);

/* Create a context. *out owns it; free with mb_ctx_free(). Returns MB_OK or
 * MB_E_NOMEM. The first call takes MAILBACKUP_S3_SECRET_ACCESS_KEY,
 * MAILBACKUP_DB_PASSWORD and MAILBACKUP_S3_ACCESS_KEY_ID out of the process environment (they are kept in
 * memory, wiped in environ), so that no child inherits them: call it while
 * the process is single-threaded. */
MB_EXPORT int mb_ctx_new(struct mb_ctx **out);
/* Free a context; NULL is a no-op. */
MB_EXPORT void mb_ctx_free(struct mb_ctx *ctx);
/*
 * Errors: every public function that takes a ctx clears the last error when
 * it starts, and every failure records a message (the text of its code when
 * nothing more precise is known). Read them after the call that failed,
 * from the thread that made it.
 */
/* The message of the last error, owned by ctx; "" when none. */
MB_EXPORT const char *mb_ctx_errmsg(const struct mb_ctx *ctx);
/* The status code of the last error (an enum mb_status), MB_OK when none. */
MB_EXPORT int mb_ctx_errcode(const struct mb_ctx *ctx);
/* Route library messages up to level (inclusive) to fn. */
MB_EXPORT void mb_ctx_set_log_handler(struct mb_ctx *ctx, mb_log_fn fn,
				      void *userdata, enum mb_log_level level);
MB_EXPORT void mb_ctx_set_progress(struct mb_ctx *ctx, mb_progress_fn fn,
				   void *userdata);
/* Load an INI configuration file. MB_E_CONFIG with a message naming the
 * file, line and key on a bad file, and naming the path and the fix when
 * the file, its password_file, ca_file or gnupg_home, or a directory above
 * them is writable by others or not owned by root (or, not as root, by
 * us). */
MB_EXPORT int mb_ctx_load_config(struct mb_ctx *ctx, const char *path);
/* Load a configuration from memory (name is used in messages). */
MB_EXPORT int mb_ctx_load_config_buf(struct mb_ctx *ctx, const char *name,
				     const char *buf, size_t len);
/* Human text for a status code (static). */
MB_EXPORT const char *mb_strstatus(int status);
/* The raw value of KEY in the configuration's [section] (the first
 * section of that kind), or NULL when unset or no configuration is loaded.
 * Owned by ctx, valid until the next load. For settings the library does
 * not use itself, such as [options] log of the CLI. A getter: it leaves
 * the last error alone. */
MB_EXPORT const char *mb_ctx_config_get(struct mb_ctx *ctx,
					const char *section, const char *key);

/* Create the repository named in the configuration: writes the signed
 * mailbackup.repo. MB_E_EXISTS when one is there already. */
MB_EXPORT int mb_repo_init(struct mb_ctx *ctx);

/* Create a signing+encryption key pair without passphrase in gnupg_home
 * (created 0700 if missing). *fpr_out (40 hex chars, caller frees) is its
 * fingerprint. */
MB_EXPORT int mb_keygen(struct mb_ctx *ctx, const char *gnupg_home,
			const char *name, char **fpr_out);

struct mb_backup_opts {
	size_t size;           /* sizeof: set by MB_BACKUP_OPTS_INIT */
	int64_t time;          /* record the snapshot at this time (s); 0 = now */
	const char *const *sources; /* NULL-terminated names; NULL = all */
	int64_t wait;          /* seconds to retry while the repository is
				* locked by a prune (0: fail at once) */
	int pre_backup_hook;   /* run [hooks] pre_backup once the repository
				* lock is held, before anything is read; its
				* failure stops the backup (MB_E_ABORTED) */
};
#define MB_BACKUP_OPTS_INIT { .size = sizeof(struct mb_backup_opts) }

struct mb_backup_result {
	size_t size;           /* sizeof: set by MB_BACKUP_RESULT_INIT */
	char id[MB_SNAPSHOT_ID_SIZE]; /* snapshot id (hex) */
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
#define MB_BACKUP_RESULT_INIT { .size = sizeof(struct mb_backup_result) }

/* Take a snapshot of the configured sources. Returns MB_OK, MB_E_PARTIAL
 * (committed, but some items were skipped: see warnings), or an error, in
 * which case no snapshot was committed. */
MB_EXPORT int mb_backup(struct mb_ctx *ctx, const struct mb_backup_opts *opts,
			struct mb_backup_result *res);

struct mb_snapshot_info {
	char id[MB_SNAPSHOT_ID_SIZE];
	char name[256];   /* object name under snapshots/ */
	char host[128];
	int64_t time;     /* seconds since the epoch, UTC */
};

/* List the snapshots, oldest first. *out (caller frees with free()) holds
 * *n items. Reads only object names. */
MB_EXPORT int mb_snapshots(struct mb_ctx *ctx, struct mb_snapshot_info **out,
			   size_t *n);

/* Resolve "latest", an ISO date or time (YYYY-MM-DD, YYYY-MM-DDTHH:MM or
 * YYYY-MM-DDTHH:MM:SS, optional Z, always UTC: the newest snapshot at or
 * before the end of that day, minute or second), an id, a unique id prefix
 * or an object name. "latest" and times pick among the snapshots of the
 * host set by mb_ctx_set_snapshot_host() and skip (with a warning) any
 * whose object name differs from its signed manifest. MB_E_NOTFOUND when
 * nothing matches, MB_E_INVAL for a malformed time or an ambiguous prefix. */
MB_EXPORT int mb_snapshot_find(struct mb_ctx *ctx, const char *spec,
			       struct mb_snapshot_info *out);

/* Whose snapshots "latest" and times pick (here and in every function that
 * takes a snapshot spec): NULL or "" this host ([options] host or the
 * hostname), "all" any host, or a host name. MB_E_INVAL for a host that
 * is not 1 to 100 of [A-Za-z0-9._-]. */
MB_EXPORT int mb_ctx_set_snapshot_host(struct mb_ctx *ctx, const char *host);

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
 * equals or lies under prefix (NULL: all). MB_E_NOTFOUND if a prefix
 * matches nothing. */
MB_EXPORT int mb_ls(struct mb_ctx *ctx, const char *spec, const char *prefix,
		    mb_entry_fn fn, void *userdata);

/* What restore --in-place does with one message or folder. */
enum mb_inplace_action {
	MB_INPLACE_ADD,        /* missing live: delivered from the snapshot */
	MB_INPLACE_PRESENT,    /* there already (any flags): left alone */
	MB_INPLACE_FOLDER,     /* folder absent live: comes back whole */
};

struct mb_inplace_item {
	enum mb_inplace_action action;
	const char *mailbox;   /* USER@DOMAIN written to */
	const char *folder;    /* its IMAP name */
	const char *name;      /* the message's Maildir name; NULL for a folder */
};

struct mb_restore_opts {
	size_t size;           /* sizeof: set by MB_RESTORE_OPTS_INIT */
	const char *snapshot;  /* spec */
	const char *target;    /* directory; source NAME goes to target/NAME */
	const char *source;    /* only this source, or NULL */
	const char *mailbox;   /* USER@DOMAIN: <domain>/<user>/ of maildir sources */
	const char *path_glob; /* fnmatch(3) against the path within the source */
	int overwrite;         /* replace existing files; allow a non-empty target */
	int load;              /* mariadb sources: load into the server */
	const char *db_prefix; /* with load: prefix for database names */
	/* Mail folders by their IMAP names (UTF-8, '/'-separated, "INBOX"),
	 * of the one mailbox; Maildir++ layout */
	const char *const *folders;
	size_t nfolders;
	/* Merge into the live tree at the source's configured path (maildir
	 * sources), never replacing: no target */
	int in_place;
	const char *into_folder; /* in_place: folder F goes to INTO/F */
	const char *as_mailbox;  /* in_place: into this USER@DOMAIN */
	int dry_run;             /* in_place: report, change nothing */
	/* in_place: called for each message added (or that would be) and
	 * each one already there, on the calling thread */
	int (*on_item)(void *ud, const struct mb_inplace_item *it);
	void *on_item_ud;
	/* Narrows the selection further: called for each entry of the
	 * snapshot that the other criteria keep; 0 leaves it out */
	int (*select)(void *ud, const char *source, const char *path);
	void *select_ud;
	int keep_setid;        /* restore set-user-ID and set-group-ID bits */
};
#define MB_RESTORE_OPTS_INIT { .size = sizeof(struct mb_restore_opts) }

struct mb_restore_result {
	size_t size;           /* sizeof: set by MB_RESTORE_RESULT_INIT */
	uint64_t files, dirs, links, bytes, packs;
	uint64_t warnings;
	double seconds;
	/* in_place */
	uint64_t added, present, folders_created;
};
#define MB_RESTORE_RESULT_INIT { .size = sizeof(struct mb_restore_result) }

/* A message of a mailbox in a snapshot, for finding the one a user lost.
 * Header values are raw (RFC 2047 words not decoded); NULL when absent or
 * when the message is encrypted by Dovecot's mail_crypt. */
struct mb_message {
	const char *folder;    /* IMAP name */
	const char *name;      /* Maildir file name */
	const char *flags;     /* Maildir flag letters after ":2," */
	const char *date, *from, *subject;
	uint64_t size;
	int encrypted;         /* mail_crypt: the headers cannot be read */
};
typedef int (*mb_message_fn)(void *userdata, const struct mb_message *m);

/* Call fn for each message of mailbox (USER@DOMAIN) in snapshot spec, of
 * folders (IMAP names; nfolders 0: all), by folder. Reads (and verifies)
 * the messages, so it needs a recipient's secret key (MB_E_CRYPTO with a
 * message saying so). source: the maildir source, or NULL for all. */
MB_EXPORT int mb_ls_messages(struct mb_ctx *ctx, const char *spec,
			     const char *source, const char *mailbox,
			     const char *const *folders, size_t nfolders,
			     mb_message_fn fn, void *userdata);

/* The Maildir++ directory of IMAP folder imap (UTF-8, '/' between levels)
 * below its mailbox: "" for INBOX, ".Archive.2024", ".Entw&APw-rfe".
 * MB_E_INVAL (with a message) when it cannot be mapped. *out is the
 * caller's to free(). */
MB_EXPORT int mb_mail_folder_dir(struct mb_ctx *ctx, const char *imap,
				 char **out);

/* Restore. Verifies every signature and hash before data is made visible.
 * MB_E_EXISTS for a non-empty target without overwrite; MB_E_VERIFY when the
 * repository fails verification (the object is named). A target it creates
 * for the mail of one owner belongs to that owner (mode 0700). With
 * in_place: merges mailbox's folders into the live tree (no target);
 * MB_E_NOTFOUND for a folder or mailbox not in the snapshot or not live,
 * MB_E_INVAL for a name that cannot be mapped or options that do not go
 * together, MB_E_PARTIAL with warnings (e.g. other mail_crypt keys);
 * res->added, present, folders_created count what it did (dry_run: would
 * do). */
MB_EXPORT int mb_restore(struct mb_ctx *ctx, const struct mb_restore_opts *opts,
			 struct mb_restore_result *res);

struct mb_check_opts {
	size_t size;           /* sizeof: set by MB_CHECK_OPTS_INIT */
	int read_data;         /* download, decrypt and hash packs */
	int percent;           /* with read_data: 1..100, the share to read */
};
#define MB_CHECK_OPTS_INIT { .size = sizeof(struct mb_check_opts) }

struct mb_check_result {
	size_t size;           /* sizeof: set by MB_CHECK_RESULT_INIT */
	uint64_t snapshots, indexes, packs, packs_read, blobs, bytes_read;
	uint64_t errors;       /* problems found (each logged) */
	double seconds;
};
#define MB_CHECK_RESULT_INIT { .size = sizeof(struct mb_check_result) }

/* Verify the repository. MB_E_VERIFY when a problem was found (each is
 * logged as an error naming the object). */
MB_EXPORT int mb_check(struct mb_ctx *ctx, const struct mb_check_opts *opts,
		       struct mb_check_result *res);

struct mb_restore_test_opts {
	size_t size;           /* sizeof: set by MB_RESTORE_TEST_OPTS_INIT */
	const char *snapshot;  /* spec; NULL = latest */
	const char *db_prefix; /* load DBs into the configured server as
				* PREFIX+name; NULL: [options] scratch_db */
	int keep;              /* keep the scratch directory */
};
#define MB_RESTORE_TEST_OPTS_INIT \
	{ .size = sizeof(struct mb_restore_test_opts) }

struct mb_restore_test_result {
	size_t size;           /* sizeof: set by MB_RESTORE_TEST_RESULT_INIT */
	char snapshot[MB_SNAPSHOT_ID_SIZE];
	uint64_t entries, files, bytes, mismatches;
	uint64_t tables, tables_ok, dkim_keys, dkim_ok;
	int db_checked;        /* databases were loaded and compared */
	double seconds;
};
#define MB_RESTORE_TEST_RESULT_INIT \
	{ .size = sizeof(struct mb_restore_test_result) }

/*
 * Restore a snapshot into scratch space and prove it: every entry is
 * compared with the manifest (type, hash, size, mode, link target), each
 * database is loaded into a scratch MariaDB and its checksums and row
 * counts compared, and every DKIM private key is parsed and matched with
 * its public key when one is there. report (if not NULL) receives a JSON
 * document (caller frees). MB_E_VERIFY when anything differs.
 */
MB_EXPORT int mb_restore_test(struct mb_ctx *ctx,
			      const struct mb_restore_test_opts *opts,
			      struct mb_restore_test_result *res,
			      char **report);

/* A snapshot's fate under a retention policy, as reported by mb_forget(). */
struct mb_forget_item {
	struct mb_snapshot_info snap;
	const char *group;    /* the source set, e.g. "conf,dkim,vmail" */
	int keep;
	const char *reasons;  /* the rules that keep it: "daily,monthly" */
};
typedef int (*mb_forget_fn)(void *userdata, const struct mb_forget_item *it);

struct mb_forget_opts {
	size_t size;           /* sizeof: set by MB_FORGET_OPTS_INIT */
	/* rule/value pairs, NULL-terminated: { "keep-daily", "7", NULL };
	 * NULL or empty: the [retention] section of the configuration */
	const char *const *rules;
	int dry_run;
	/* a snapshot name or id kept whatever the policy (backup --prune
	 * passes the one it has just made), or NULL */
	const char *keep;
};
#define MB_FORGET_OPTS_INIT { .size = sizeof(struct mb_forget_opts) }

struct mb_forget_result {
	size_t size;           /* sizeof: set by MB_FORGET_RESULT_INIT */
	uint64_t kept, removed;
};
#define MB_FORGET_RESULT_INIT { .size = sizeof(struct mb_forget_result) }

/* Apply a retention policy: call fn for every snapshot (oldest first),
 * then (unless dry_run) delete the manifests of those not kept. An empty
 * policy is refused (MB_E_CONFIG); the newest snapshot of each host and
 * source set is never removed. */
MB_EXPORT int mb_forget(struct mb_ctx *ctx, const struct mb_forget_opts *opts,
			mb_forget_fn fn, void *userdata,
			struct mb_forget_result *res);

struct mb_prune_opts {
	size_t size;           /* sizeof: set by MB_PRUNE_OPTS_INIT */
	int max_unused;  /* repack packs with more than this % unused */
	int dry_run;
	/* seconds a pack must have been seen unreferenced by this host (on
	 * its own monotonic clock, recorded in the cache) before it is
	 * deleted: 0 = [options] prune_grace (default 1 day);
	 * MB_PRUNE_NO_GRACE = none */
	int64_t grace;
};
#define MB_PRUNE_OPTS_INIT { .size = sizeof(struct mb_prune_opts) }
#define MB_PRUNE_NO_GRACE (-1)

struct mb_prune_result {
	size_t size;           /* sizeof: set by MB_PRUNE_RESULT_INIT */
	uint64_t packs_total, packs_deleted, packs_repacked, packs_written;
	uint64_t bytes_before, bytes_freed;
	uint64_t index_objects_written, index_objects_deleted;
	int repack_skipped;    /* packs could not be repacked: no secret key */
	uint64_t packs_young;  /* unreferenced, kept until their grace ends */
	double seconds;
};
#define MB_PRUNE_RESULT_INIT { .size = sizeof(struct mb_prune_result) }

/* Delete what no snapshot references and repack sparse packs (when the host
 * can decrypt). Takes an exclusive lock: MB_E_LOCKED while a backup runs. */
MB_EXPORT int mb_prune(struct mb_ctx *ctx, const struct mb_prune_opts *opts,
		       struct mb_prune_result *res);

/* Remove stale lock objects; *removed counts them. */
MB_EXPORT int mb_unlock(struct mb_ctx *ctx, size_t *removed);
struct mb_repair_result {
	size_t size;           /* sizeof: set by MB_REPAIR_RESULT_INIT */
	uint64_t objects_removed;       /* empty (partial) metadata objects */
	uint64_t packs_dropped;         /* missing packs the index named */
	uint64_t blobs_dropped;         /* index entries that named them */
	uint64_t index_objects_written;
};
#define MB_REPAIR_RESULT_INIT { .size = sizeof(struct mb_repair_result) }

/* Under the exclusive lock: remove empty index/ and snapshots/ objects,
 * and replace the index by one without the entries whose pack is missing,
 * so that the next backup stores that content again. Each removal is
 * logged as a warning. MB_E_LOCKED while another run holds the lock. */
MB_EXPORT int mb_repair_index(struct mb_ctx *ctx,
			      struct mb_repair_result *res);

/* Remove every lock object, stale or not: only when no run is alive on
 * any host (a live run loses its lock and stops before its next commit). */
MB_EXPORT int mb_unlock_all(struct mb_ctx *ctx, size_t *removed);

/* ---- hooks, metrics, stats, diff (hook.c, metrics.c, stats.c, diff.c) ---- */

/*
 * Run the hooks configured as [hooks] NAME ("pre_backup", "post_backup",
 * "on_failure"): a command run with /bin/sh -c, or a directory whose name
 * ends in ".d", whose executable files run in name order. A hook runs with
 * stdin from /dev/null and stdout sent to stderr, in its own process group,
 * killed (SIGTERM, then SIGKILL) after [hooks] hook_timeout (default 1h).
 * Its environment is allow-listed: PATH, HOME, LANG, LANGUAGE, LC_*, TZ,
 * USER, LOGNAME and TMPDIR of ours (none whose name suggests a secret), plus
 * MAILBACKUP_HOOK=NAME, MAILBACKUP_CONFIG and MAILBACKUP_REPOSITORY (the
 * url without user info or query), plus env: NULL-terminated "KEY=VALUE"
 * strings (may be NULL), which win over the others.
 * A pre_backup directory stops at its first failing file; other hooks run
 * every file. Returns MB_OK when nothing is configured or every hook exited
 * 0; MB_E_ABORTED when one failed, was killed or timed out (the message
 * names it and its exit status; *exit_code, if not NULL, gets that status,
 * 128+N for signal N); MB_E_CONFIG for a bad hook_timeout.
 */
MB_EXPORT int mb_hooks_run(struct mb_ctx *ctx, const char *name,
			   const char *const *env, int *exit_code);
/* Non-zero when [hooks] NAME is set. */
MB_EXPORT int mb_hooks_configured(struct mb_ctx *ctx, const char *name);

/* The status values of the mailbackup_last_run_status metric. */
enum mb_run_status {
	MB_RUN_OK = 0,
	MB_RUN_FAILED = 1,
	MB_RUN_PARTIAL = 3,
	/* not an end: the run begins, and mb_metrics_write() records only
	 * mailbackup_running_since_timestamp_seconds (reset to 0 by the run's
	 * end) */
	MB_RUN_STARTED = 16,
};

/* One finished run of a command, for mb_metrics_write(). Counters set to -1
 * are unknown: the values of the previous file are kept. */
struct mb_metrics_run {
	const char *command;   /* "backup", "check", "prune", "forget", ... */
	enum mb_run_status status;
	int64_t time;          /* when the run ended (s); 0 = now */
	double seconds;        /* its duration */
	int64_t files, bytes_new, bytes_stored; /* backup, restore-test */
	int64_t snapshots;     /* snapshots in the repository afterwards */
	int64_t restore_test_success; /* restore-test: 1 ok, 0 not */
	int64_t prune_skipped; /* backup --prune: 1 when its prune step did
				* not run (lock held elsewhere), 0 when it did */
};

/* Reset r: every counter -1 (unknown), status MB_RUN_OK. */
MB_EXPORT void mb_metrics_run_init(struct mb_metrics_run *r,
				   const char *command);
/* Merge run into the Prometheus textfile [options] metrics_file (no-op
 * when unset): the samples of other commands are kept, the file is
 * replaced atomically (temp file, fsync, rename) with mode 0644. MB_E_IO
 * when it cannot be written. */
MB_EXPORT int mb_metrics_write(struct mb_ctx *ctx,
			       const struct mb_metrics_run *run);
/* Non-zero when [options] metrics_file is set. */
MB_EXPORT int mb_metrics_enabled(struct mb_ctx *ctx);
/* Merge run into the text of a previous metrics file (old, len; NULL for
 * none); *out (caller frees) is the new text. now is used when run->time
 * is 0. MB_E_NOMEM only. */
MB_EXPORT int mb_metrics_format(const char *old, size_t len,
				const struct mb_metrics_run *run, int64_t now,
				char **out);

struct mb_stats {
	size_t size;           /* sizeof: set by MB_STATS_INIT */
	uint64_t snapshots;        /* snapshot objects */
	uint64_t packs;            /* pack objects */
	uint64_t index_objects;
	uint64_t bytes_snapshots;  /* object sizes by kind */
	uint64_t bytes_packs;
	uint64_t bytes_index;
	uint64_t bytes_total;      /* the three above */
	uint64_t blobs;            /* unique contents listed in the index */
	uint64_t bytes_blobs;      /* their plaintext size */
	uint64_t files;            /* file entries over all snapshots */
	uint64_t bytes_logical;    /* their sizes: what restoring all would write */
	double dedup_ratio;        /* bytes_logical / bytes_blobs (0 if none) */
	double compression_ratio;  /* bytes_blobs / bytes_packs (0 if none) */
	double seconds;
};
#define MB_STATS_INIT { .size = sizeof(struct mb_stats) }

/* Repository statistics: lists the objects, loads the index and reads every
 * manifest (one gpg run each). */
MB_EXPORT int mb_stats(struct mb_ctx *ctx, struct mb_stats *out);

/* One difference between two snapshots; strings valid during the callback
 * only. */
struct mb_diff_item {
	char kind;             /* '+' new, '-' removed, 'M' changed,
				* 'F' Maildir flags changed (renamed, same
				* content and unique name) */
	char type;             /* 'f', 'd' or 'l' (in B; in A for '-') */
	const char *source;
	const char *path;      /* in B; in A for '-' */
	const char *old_path;  /* 'F': the path in A; otherwise NULL */
	const char *mailbox;   /* maildir sources: "<domain>/<user>", or NULL */
	uint64_t old_size;     /* in A ('-', 'M', 'F'), 0 otherwise */
	uint64_t size;         /* in B ('+', 'M', 'F'), 0 otherwise */
};

struct mb_diff_counts {
	uint64_t new_entries, new_bytes;
	uint64_t removed_entries, removed_bytes;
	uint64_t changed_entries, changed_bytes; /* bytes: the size in B */
	uint64_t flag_changes;
};

/* The counts of a source (mailbox NULL) or of one of its mailboxes. */
struct mb_diff_group {
	const char *source;
	const char *mailbox;
	struct mb_diff_counts c;
};

typedef int (*mb_diff_fn)(void *userdata, const struct mb_diff_item *it);
typedef int (*mb_diff_group_fn)(void *userdata, const struct mb_diff_group *g);

/* Compare snapshots spec_a (older) and spec_b: item_fn (may be NULL) for
 * each difference in (source, path) order, then group_fn (may be NULL)
 * for each source in name order: first its mailboxes in name order, then
 * the source itself (mailbox NULL). Changed means other content, type,
 * link target, mode or owner; an mtime alone is no change. A non-zero
 * return of a callback stops with that value. *total (may be NULL) gets
 * the counts over all sources. */
MB_EXPORT int mb_diff(struct mb_ctx *ctx, const char *spec_a,
		      const char *spec_b, mb_diff_fn item_fn,
		      mb_diff_group_fn group_fn, void *userdata,
		      struct mb_diff_counts *total);
/* ---- end of hooks, metrics, stats, diff ---- */

/* ---- bandwidth limits ---- */
enum mb_direction {
	MB_UPLOAD = 0,
	MB_DOWNLOAD = 1,
};
/* Override [repository] upload_limit or download_limit for this context:
 * rate is bytes per second with an optional K, M or G suffix (1024-based),
 * like "5M" or "500k". The limit holds for the total of all transfers to
 * or from an S3 repository; a local repository is not limited. Call after
 * loading the configuration. MB_E_CONFIG (with a message) for 0, a
 * negative rate or junk; MB_E_INVAL without a configuration. */
MB_EXPORT int mb_ctx_set_rate_limit(struct mb_ctx *ctx, enum mb_direction dir,
				    const char *rate);
/* ---- end of bandwidth limits ---- */

/* ---- copy ---- */
/* What mb_copy copies: the snapshots of this context's repository that
 * the repository of a second configuration file lacks. */
struct mb_copy_opts {
	size_t size; /* sizeof: set by MB_COPY_OPTS_INIT */
	const char *to_config;   /* the destination's configuration file */
	/* SNAPSHOT selectors (id, id prefix, latest, a date or time, resolved
	 * like restore's with mb_ctx_set_snapshot_host); none: every snapshot
	 * of host */
	const char *const *snapshots;
	size_t nsnapshots;
	const char *host;        /* without selectors: only this host's
				  * snapshots; NULL or "all": every host */
	const char *source;      /* only snapshots holding this source, or
				  * NULL */
	int dry_run;             /* count what would be copied, write nothing */
	int64_t wait;            /* seconds to wait for the locks */
};
#define MB_COPY_OPTS_INIT { .size = sizeof(struct mb_copy_opts) }

struct mb_copy_result {
	size_t size; /* sizeof: set by MB_COPY_RESULT_INIT */
	uint64_t snapshots_selected; /* selected at the source */
	uint64_t snapshots_present;  /* of them at the destination already */
	uint64_t snapshots_copied;   /* (dry run: would be) */
	uint64_t packs_copied;       /* (dry run: would be) */
	uint64_t packs_present;      /* needed, at the destination already */
	uint64_t bytes_copied;       /* pack bytes (dry run: would be) */
	uint64_t index_objects;      /* written at the destination */
	double seconds;
};
#define MB_COPY_RESULT_INIT { .size = sizeof(struct mb_copy_result) }

/* Copy snapshots to the repository of opts->to_config as ciphertext: the
 * packs they need that the destination lacks (each checked against its
 * name, the SHA-256 of its bytes, before it is committed), one new index
 * object for them signed by the destination's host key, then the signed
 * manifests byte for byte (the commit point). Shared locks on both
 * repositories. The destination must be initialized with the same
 * recipients and signers (MB_E_CONFIG otherwise); MB_E_NOTFOUND when it
 * is not initialized; MB_E_VERIFY when the source is damaged (nothing of
 * the damaged object is copied). A stopped copy resumes: what is at the
 * destination is not copied again. res may be NULL. */
MB_EXPORT int mb_copy(struct mb_ctx *ctx, const struct mb_copy_opts *opts,
		      struct mb_copy_result *res);
/* ---- end of copy ---- */

/* ---- rekey ---- */
struct mb_rekey_opts {
	size_t size; /* sizeof: set by MB_REKEY_OPTS_INIT */
	int dry_run; /* count what would be rewritten; change nothing */
};
#define MB_REKEY_OPTS_INIT { .size = sizeof(struct mb_rekey_opts) }

struct mb_rekey_result {
	size_t size; /* sizeof: set by MB_REKEY_RESULT_INIT */
	uint64_t packs_total;     /* packs the index names */
	uint64_t packs_rewritten; /* encrypted to other keys: rewritten */
	uint64_t packs_skipped;   /* encrypted to the configured recipients */
	uint64_t packs_written, packs_deleted;
	uint64_t bytes_total;     /* of the packs to rewrite */
	uint64_t bytes_read, bytes_written;
	uint64_t index_objects_written, index_objects_deleted;
	uint64_t manifests_total, manifests_rewritten;
	uint64_t packs_young;     /* in no index, kept until their grace ends */
	int repo_file_rewritten;  /* mailbackup.repo re-signed with the
				   * configured recipient and signer lines */
	double seconds;
};
#define MB_REKEY_RESULT_INIT { .size = sizeof(struct mb_rekey_result) }

/* Re-encrypt the repository to the configuration's recipients: every pack
 * encrypted to another set of keys is rewritten (new packs and a new index
 * committed first, then the old ones deleted, under an exclusive lock),
 * then every manifest is re-encrypted and re-signed under its own name.
 * A pack already encrypted to the configured recipients is skipped, so a
 * run that was stopped resumes. Needs the secret key of a recipient the
 * old packs were written to (MB_E_CRYPTO before anything is written
 * otherwise) and [keys] signing_key (MB_E_CONFIG). Progress phase "rekey"
 * (packs, bytes). MB_E_LOCKED while another run holds the lock. */
MB_EXPORT int mb_rekey(struct mb_ctx *ctx, const struct mb_rekey_opts *opts,
		       struct mb_rekey_result *res);
/* ---- end of rekey ---- */

#ifdef __cplusplus
}
#endif
#endif
