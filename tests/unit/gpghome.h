/* SPDX-License-Identifier: MIT */
/* gpghome.h: scratch directories and throwaway gpg keys for unit tests. */
#ifndef MB_GPGHOME_H
#define MB_GPGHOME_H

#include "mb-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A scratch directory under /tmp (short: gpg-agent's socket path lives in
 * it). Returns a static path; exits on failure. */
static inline const char *scratch_dir(const char *tag)
{
	static char dir[64];

	snprintf(dir, sizeof(dir), "/tmp/mbt-%s-XXXXXX", tag);
	if (!mkdtemp(dir)) {
		printf("Bail out! cannot create a scratch directory\n");
		exit(1);
	}
	return dir;
}

/* Create a key named name in home; returns its fingerprint (caller frees)
 * or exits (a bail out: these tests need gpg). */
static inline char *make_key(const char *home, const char *name)
{
	struct mb_ctx *c;
	char *fpr = NULL;

	if (mb_ctx_new(&c) || mb_keygen(c, home, name, &fpr)) {
		printf("Bail out! mb_keygen in '%s': %s\n", home,
		       c ? mb_ctx_errmsg(c) : "no memory");
		exit(1);
	}
	mb_ctx_free(c);
	return fpr;
}

/* Copy the public key fpr from one home to another (gpg CLI). */
static inline int copy_pubkey(const char *from, const char *to,
			      const char *fpr)
{
	char *cmd = mbi_asprintf("gpg --batch --quiet --homedir '%s' --export %s | "
				 "gpg --batch --quiet --homedir '%s' --import 2>/dev/null",
				 from, fpr, to);
	int rc = system(cmd);

	free(cmd);
	return rc;
}

/* Stop the gpg-agent that gpgme started for home, then remove dir. */
static inline void cleanup(const char *const *homes, const char *dir)
{
	char *cmd;
	size_t i;

	for (i = 0; homes && homes[i]; i++) {
		cmd = mbi_asprintf("gpgconf --homedir '%s' --kill all 2>/dev/null",
				   homes[i]);
		if (system(cmd))
			printf("# cannot stop the agent of %s\n", homes[i]);
		free(cmd);
	}
	cmd = mbi_asprintf("rm -rf '%s'", dir);
	if (system(cmd))
		printf("# cannot remove %s\n", dir);
	free(cmd);
}

/* A context with a config loaded from a printf format; exits on failure. */
static inline struct mb_ctx *ctx_with(const char *fmt, ...)
	MBI_PRINTF(1, 2);
static inline struct mb_ctx *ctx_with(const char *fmt, ...)
{
	struct mb_ctx *c;
	va_list ap;
	char *text;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		exit(1);
	va_end(ap);
	if (mb_ctx_new(&c) ||
	    mb_ctx_load_config_buf(c, "test.conf", text, strlen(text))) {
		printf("Bail out! config: %s\n", c ? mb_ctx_errmsg(c) : "");
		exit(1);
	}
	free(text);
	return c;
}

#endif
