/* SPDX-License-Identifier: MIT */
/* sha.c: SHA-256 through OpenSSL's EVP interface (uses SHA-NI when there). */
#include "mb-private.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#include "banned.h"

int mbi_sha256_init(struct mbi_sha256 *s)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		s->md = NULL;
		return MB_E_NOMEM;
	}
	s->md = md;
	return MB_OK;
}

void mbi_sha256_update(struct mbi_sha256 *s, const void *p, size_t n)
{
	EVP_DigestUpdate(s->md, p, n);
}

void mbi_sha256_final(struct mbi_sha256 *s, unsigned char out[MBI_SHA256_LEN])
{
	unsigned int len = MBI_SHA256_LEN;

	EVP_DigestFinal_ex(s->md, out, &len);
	EVP_DigestInit_ex(s->md, EVP_sha256(), NULL);
}

void mbi_sha256_release(struct mbi_sha256 *s)
{
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
}

void mbi_sha256_buf(const void *p, size_t n, unsigned char out[MBI_SHA256_LEN])
{
	unsigned int len = MBI_SHA256_LEN;

	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

int mbi_sha256_fd(int fd, unsigned char out[MBI_SHA256_LEN], uint64_t *len)
{
	struct mbi_sha256 s;
	char *buf = malloc(1 << 20);
	uint64_t total = 0;
	int rc = MB_OK;

	if (!buf || mbi_sha256_init(&s)) {
		free(buf);
		return MB_E_NOMEM;
	}
	for (;;) {
		ssize_t r = read(fd, buf, 1 << 20);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = MB_E_IO;
			break;
		}
		if (r == 0)
			break;
		mbi_sha256_update(&s, buf, (size_t)r);
		total += (uint64_t)r;
	}
	if (!rc) {
		mbi_sha256_final(&s, out);
		if (len)
			*len = total;
	}
	mbi_sha256_release(&s);
	free(buf);
	return rc;
}
