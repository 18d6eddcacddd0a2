/* SPDX-License-Identifier: MIT */
/* fsperm.c: refuse files around the tool (configuration, hooks, password
 * and CA files, the cache) that others can write or, as root, root does
 * not own. */
#include "fsperm.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

/* One path: p is PATH itself (resolved) or a directory above it. */
static int check_one(struct mb_ctx *ctx, const char *what, const char *path,
		     const char *p, bool above)
{
	uid_t me = geteuid();
	struct stat st;
	char *subj;
	int rc = MB_OK;

	if (stat(p, &st))
		return mbi_error(ctx, MB_E_CONFIG, errno,
				 "%s '%s': cannot check '%s'", what, path, p);
	subj = above ? mbi_asprintf("%s '%s': directory '%s'", what, path, p) :
		       mbi_asprintf("%s '%s'", what, path);
	if (!subj)
		return MB_E_NOMEM;
	if (st.st_uid != 0 && (me == 0 || st.st_uid != me))
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "%s is owned by uid %lu, not by %s: run 'chown %s %s' or move it",
			       subj, (unsigned long)st.st_uid,
			       me ? "root or you" : "root",
			       me ? "$USER" : "root", p);
	/* a root-owned sticky directory (/tmp) above it is fine: nobody
	 * else can rename or remove what we own in it */
	else if ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
		 !(above && (st.st_mode & S_ISVTX) && st.st_uid == 0))
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "%s is writable by group or others (mode %04o): run 'chmod go-w %s'",
			       subj, (unsigned)(st.st_mode & 07777), p);
	free(subj);
	return rc;
}

int mbi_fsperm_check(struct mb_ctx *ctx, const char *what, const char *path)
{
	char *real = realpath(path, NULL), *slash;
	bool above = false;
	int rc;

	if (!real)
		return errno == ENOMEM ? MB_E_NOMEM : MB_OK;
	for (;;) {
		rc = check_one(ctx, what, path, *real ? real : "/", above);
		if (rc || !*real)
			break;
		slash = strrchr(real, '/');
		if (!slash)
			break;
		*slash = '\0';
		above = true;
	}
	free(real);
	return rc;
}

int mbi_fsperm_check_config(struct mb_ctx *ctx)
{
	const struct mbi_config *cfg = ctx->cfg;
	size_t i;
	int rc;

	if (!cfg)
		return MB_OK;
	if (cfg->file &&
	    (rc = mbi_fsperm_check(ctx, "configuration file", cfg->file)))
		return rc;
	if (cfg->ca_file &&
	    (rc = mbi_fsperm_check(ctx, "[repository] ca_file", cfg->ca_file)))
		return rc;
	/* whoever can write the keyring can swap the keys we encrypt to */
	if (cfg->gnupg_home &&
	    (rc = mbi_fsperm_check(ctx, "[keys] gnupg_home", cfg->gnupg_home)))
		return rc;
	for (i = 0; i < cfg->nsecs; i++) {
		/* a database source's secret and TLS files */
		static const char *const keys[] = { "password_file", "tls_ca",
						    "tls_cert", "tls_key" };
		size_t k;

		for (k = 0; k < MBI_ARRAY_SIZE(keys); k++) {
			const char *f = mbi_section_get(&cfg->secs[i], keys[k]);

			if (f && *f && (rc = mbi_fsperm_check(ctx, keys[k], f)))
				return rc;
		}
	}
	return MB_OK;
}
