/* SPDX-License-Identifier: MIT */
/* gpgpipe.h: pack data through a gpg of our own, off GPGME's relay. */
#ifndef MB_GPGPIPE_H
#define MB_GPGPIPE_H

#include "mb-private.h"

/* the gpg program and the home of one mbi_crypt */
struct mbi_crypt_gpg {
	const char *path;         /* the engine gpgme_get_engine_info() names */
	const char *home;
};

/* Find the gpg program GPGME would run; after gpgme_check_version(). */
MBI_HIDDEN int mbi_gpg_engine(struct mb_ctx *ctx, struct mbi_crypt_gpg *g);
/*
 * Encrypt what plain_fd gives (until its end) to the fingerprints, binary,
 * uncompressed, always trusted; every output byte goes to out_fn, whose
 * non-zero return (an MB_E_x) stops gpg and is returned. MB_OK only when gpg
 * exited 0 and said END_ENCRYPTION.
 */
MBI_HIDDEN int mbi_gpg_encrypt(struct mb_ctx *ctx, struct mbi_crypt_gpg *g,
			       const char *const *fprs, size_t nfpr,
			       int plain_fd,
			       int (*out_fn)(void *, const void *, size_t),
			       void *ud);
/*
 * Decrypt cipher_fd (from its current offset) into out_fd. MB_OK only when
 * gpg exited 0 and said DECRYPTION_OKAY and GOODMDC (integrity protected:
 * MDC or AEAD) and neither DECRYPTION_FAILED nor BADMDC; a message without
 * integrity protection is refused. MB_E_VERIFY for damaged data,
 * MB_E_CRYPTO when no secret key fits.
 */
MBI_HIDDEN int mbi_gpg_decrypt(struct mb_ctx *ctx, struct mbi_crypt_gpg *g,
			       int cipher_fd, int out_fd, const char *what);

/* The status parser, for the unit test: feed lines without newline. */
struct gpg_said;
MBI_HIDDEN struct gpg_said *mbi_gpg_said_new(void);
MBI_HIDDEN void mbi_gpg_status_line(struct gpg_said *s, const char *l);
MBI_HIDDEN bool mbi_gpg_said_decrypted(const struct gpg_said *s);

#endif
