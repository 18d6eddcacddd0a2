/* SPDX-License-Identifier: MIT */
/* env.h: our environment without secrets, and the environment of children. */
#ifndef MB_ENV_H
#define MB_ENV_H

#include "mb-private.h"

/*
 * Take the MAILBACKUP_* secrets (MAILBACKUP_S3_SECRET_ACCESS_KEY,
 * MAILBACKUP_DB_PASSWORD, MAILBACKUP_S3_ACCESS_KEY_ID) out of the process
 * environment: their values are kept in memory, then wiped in environ and
 * unset, so that no child (gpg, gpg-agent, command sources, hooks,
 * servers) inherits them. Runs from
 * mb_ctx_new(), while the caller is single-threaded, and again when a
 * secret is read (a variable set later is taken then).
 */
MBI_HIDDEN void mbi_env_take_secrets(void);
/* getenv(), but a secret taken by mbi_env_take_secrets() is still found. */
MBI_HIDDEN const char *mbi_getenv(const char *name);
/* True for a "KEY=VALUE" whose KEY a child may see: PATH, HOME, LANG,
 * LANGUAGE, LC_*, TZ, USER, LOGNAME, TMPDIR. */
MBI_HIDDEN bool mbi_env_allowed(const char *kv);
/*
 * The environment of a child: the allowed part of ours, then extra
 * (NULL-terminated "KEY=VALUE" strings, may be NULL). NULL when out of
 * memory. Free it with mbi_env_free().
 */
MBI_HIDDEN char **mbi_env_child(const char *const *extra);
MBI_HIDDEN void mbi_env_free(char **env);

#endif
