/* SPDX-License-Identifier: MIT */
/* op/rekey.h: what rekey asks of an object's encryption, without decrypting. */
#ifndef MB_OP_REKEY_H
#define MB_OP_REKEY_H

#include "mb-private.h"

enum mbi_rekey_state {
	MBI_REKEY_CURRENT = 0, /* encrypted exactly to the configured keys */
	MBI_REKEY_STALE,       /* to other keys, of which we hold a secret */
	MBI_REKEY_LOCKED_OUT,  /* to other keys, none of whose secrets we hold */
};

/* How the object under key is encrypted, from its PKESK packets: mode
 * says which configured set it should be encrypted to (packs: recipients;
 * metadata: recipients and host key). */
MBI_HIDDEN int mbi_rekey_state(struct mbi_repo *r, const char *key,
			       enum mbi_crypt_mode mode,
			       enum mbi_rekey_state *st);

/* Re-encrypt and re-sign every manifest that is not encrypted to the
 * configured keys, under its own name (its plaintext, hence its signed
 * time, host and id, unchanged). Counts go to *total and *rewritten. */
MBI_HIDDEN int mbi_rekey_manifests(struct mbi_repo *r, bool dry,
				   uint64_t *total, uint64_t *rewritten);

#endif
