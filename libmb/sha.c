/* SPDX-License-Identifier: MIT */
/* sha.c: SHA-256 through OpenSSL's EVP interface (uses SHA-NI when there). */
#include "mb-private.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
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

/* SipHash-2-4 (Aumasson and Bernstein): a keyed 64-bit hash of p. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                       \
	do {                                                           \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                 \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                 \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

uint64_t mbi_siphash(const uint64_t k[2], const void *p, size_t n)
{
	const unsigned char *in = p;
	uint64_t v0 = k[0] ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k[0] ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k[1] ^ 0x7465646279746573ULL;
	uint64_t m, b = (uint64_t)n << 56;
	size_t i, left = n & 7;

	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&m, in + i, 8); /* little-endian hosts: the reference */
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	while (left--)
		b |= (uint64_t)in[i + left] << (8 * left);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}
