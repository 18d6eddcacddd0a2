/* SPDX-License-Identifier: MIT */
/* keygen.c: creating a passphrase-less host or recovery key with GPGME. */
#include "mb-private.h"

#include <errno.h>
#include <gpgme.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "banned.h"

int mb_keygen(struct mb_ctx *ctx, const char *gnupg_home, const char *name,
	      char **fpr_out)
{
	gpgme_ctx_t g = NULL;
	gpgme_genkey_result_t gr;
	gpgme_key_t key = NULL;
	gpgme_error_t err;
	char *uid = NULL;
	int rc = MB_OK;

	mbi_clear_error(ctx);
	if (!gnupg_home || !name || !*name)
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "keygen needs --gnupg-home DIR and --name NAME");
	if (mbi_mkdir_p(gnupg_home, 0700))
		return mbi_error(ctx, MB_E_IO, errno, "cannot create '%s'",
				 gnupg_home);
	chmod(gnupg_home, 0700);
	gpgme_check_version(NULL);
	err = gpgme_new(&g);
	if (!err)
		err = gpgme_ctx_set_engine_info(g, GPGME_PROTOCOL_OpenPGP, NULL,
						gnupg_home);
	if (!err)
		err = gpgme_set_pinentry_mode(g, GPGME_PINENTRY_MODE_LOOPBACK);
	if (err) {
		rc = mbi_error(ctx, MB_E_CRYPTO, 0, "cannot start gpg: %s",
			       gpgme_strerror(err));
		goto out;
	}
	uid = strchr(name, '<') ? strdup(name) :
	      mbi_asprintf("%s <mailbackup@localhost>", name);
	if (!uid) {
		rc = MB_E_NOMEM;
		goto out;
	}
	err = gpgme_op_createkey(g, uid, "ed25519", 0, 0, NULL,
				 GPGME_CREATE_SIGN | GPGME_CREATE_CERT |
				 GPGME_CREATE_NOPASSWD |
				 GPGME_CREATE_NOEXPIRE | GPGME_CREATE_FORCE);
	gr = err ? NULL : gpgme_op_genkey_result(g);
	if (!gr || !gr->fpr) {
		rc = mbi_error(ctx, MB_E_CRYPTO, 0,
			       "cannot create a key in '%s': %s", gnupg_home,
			       gpgme_strerror(err));
		goto out;
	}
	err = gpgme_get_key(g, gr->fpr, &key, 1);
	if (!err)
		err = gpgme_op_createsubkey(g, key, "cv25519", 0, 0,
					    GPGME_CREATE_ENCR |
					    GPGME_CREATE_NOPASSWD |
					    GPGME_CREATE_NOEXPIRE);
	if (err) {
		rc = mbi_error(ctx, MB_E_CRYPTO, 0,
			       "cannot add an encryption subkey: %s",
			       gpgme_strerror(err));
		goto out;
	}
	*fpr_out = strdup(key->fpr);
	if (!*fpr_out)
		rc = MB_E_NOMEM;
out:
	if (key)
		gpgme_key_unref(key);
	free(uid);
	if (g)
		gpgme_release(g);
	return mbi_status(ctx, rc);
}
