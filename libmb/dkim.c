/* SPDX-License-Identifier: MIT */
/* dkim.c: checking a restored DKIM private key against its public key. */
#include "mb-private.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

bool mbi_dkim_is_key_path(const char *path)
{
	static const char *const ext[] = { ".private", ".key", ".pem" };
	size_t l = strlen(path), i;
	const char *c;
	bool dkim = false;

	for (c = path; *c && !dkim; c++)
		dkim = !strncasecmp(c, "dkim", 4);
	if (!dkim)
		return false;
	for (i = 0; i < MBI_ARRAY_SIZE(ext); i++) {
		size_t el = strlen(ext[i]);

		if (l > el && !strcmp(path + l - el, ext[i]))
			return true;
	}
	return false;
}

/* The p= value of a DKIM DNS record as text (opendkim's .txt, split into
 * quoted strings), decoded from base64. */
static unsigned char *record_key(const char *text, size_t *len)
{
	char *flat = malloc(strlen(text) + 1), *w = flat, *p;
	const char *r;
	unsigned char *out;
	int n;

	if (!flat)
		return NULL;
	/* only what is inside quotes counts when there are quotes */
	if (strchr(text, '"')) {
		bool in = false;

		for (r = text; *r; r++) {
			if (*r == '"')
				in = !in;
			else if (in && !isspace((unsigned char)*r))
				*w++ = *r;
		}
	} else {
		for (r = text; *r; r++)
			if (!isspace((unsigned char)*r))
				*w++ = *r;
	}
	*w = '\0';
	p = strstr(flat, "p=");
	while (p && p != flat && p[-1] != ';')
		p = strstr(p + 1, "p=");
	if (!p) {
		free(flat);
		return NULL;
	}
	p += 2;
	p[strcspn(p, ";")] = '\0';
	out = malloc(strlen(p) + 4);
	n = out ? EVP_DecodeBlock(out, (const unsigned char *)p,
				  (int)strlen(p)) : -1;
	if (n < 0) {
		free(out);
		free(flat);
		return NULL;
	}
	/* EVP_DecodeBlock counts the '=' padding as zero bytes */
	while (strlen(p) && p[strlen(p) - 1] == '=') {
		p[strlen(p) - 1] = '\0';
		n--;
	}
	free(flat);
	*len = (size_t)n;
	return out;
}

int mbi_dkim_check(struct mb_ctx *ctx, const char *priv_path,
		   struct mbi_buf *why)
{
	static const char *const pubext[] = { ".txt", ".pub", ".public" };
	FILE *f = fopen(priv_path, "r");
	EVP_PKEY *key;
	unsigned char *der = NULL, *rec = NULL;
	size_t i, reclen = 0;
	int derlen, rc = MB_OK;
	char *stem, *dot;

	if (!f)
		return mbi_buf_printf(why, "cannot open: %s", strerror(errno)),
		       MB_E_VERIFY;
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!key) {
		mbi_buf_addstr(why, "not a readable PEM private key");
		return MB_E_VERIFY;
	}
	derlen = i2d_PUBKEY(key, &der);
	stem = strdup(priv_path);
	dot = stem ? strrchr(stem, '.') : NULL;
	if (dot)
		*dot = '\0';
	for (i = 0; stem && i < MBI_ARRAY_SIZE(pubext); i++) {
		char *pp = mbi_asprintf("%s%s", stem, pubext[i]);
		struct mbi_buf txt = { 0 };

		if (!pp || mbi_read_file(ctx, pp, &txt, 1 << 16)) {
			free(pp);
			continue;
		}
		free(pp);
		if (strstr(txt.data, "-----BEGIN PUBLIC KEY-----")) {
			BIO *bio = BIO_new_mem_buf(txt.data, (int)txt.len);
			EVP_PKEY *pub = bio ? PEM_read_bio_PUBKEY(bio, NULL,
								   NULL, NULL) :
					      NULL;

			if (!pub || EVP_PKEY_eq(key, pub) != 1) {
				mbi_buf_printf(why, "does not match its public key %s%s",
					       stem, pubext[i]);
				rc = MB_E_VERIFY;
			}
			EVP_PKEY_free(pub);
			BIO_free(bio);
		} else if ((rec = record_key(txt.data, &reclen))) {
			unsigned char raw[64];
			size_t rawlen = sizeof(raw);
			bool same = derlen > 0 && (size_t)derlen == reclen &&
				    !memcmp(der, rec, reclen);

			/* ed25519 DKIM records carry the raw 32-byte key */
			if (!same && reclen == 32 &&
			    EVP_PKEY_get_raw_public_key(key, raw, &rawlen) == 1)
				same = rawlen == 32 && !memcmp(raw, rec, 32);
			if (!same) {
				mbi_buf_printf(why,
					       "does not match the p= of its DNS record %s%s",
					       stem, pubext[i]);
				rc = MB_E_VERIFY;
			}
			free(rec);
		}
		mbi_buf_release(&txt);
		break;
	}
	free(stem);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	return rc;
}
