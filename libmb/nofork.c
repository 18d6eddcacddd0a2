/* SPDX-License-Identifier: MIT */
/* nofork.c: memory that the fork of a gpg does not copy. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "banned.h"

/*
 * GPGME starts every gpg with fork(). The child copies our page tables and
 * marks every page of ours copy-on-write; the next write to each page then
 * faults, with a TLB shootdown on the other core. The child only execs gpg,
 * so large buffers (compression windows, file contents) are mapped with
 * MADV_DONTFORK: the child does not get them and we keep writing them
 * without faults. Small allocations stay with malloc.
 */
#define NOFORK_MIN (64u << 10)
#define HDR 64 /* keeps the caller's memory 64-byte aligned */

struct nf_hdr {
	size_t len;                 /* of the mapping, header included */
	struct nf_hdr *next;        /* in a pool's free list */
	unsigned char mapped;
	unsigned char cls;          /* pool class, or NF_NOCLASS */
};

#define NF_NOCLASS 0xff

static struct nf_hdr *hdr_of(void *p)
{
	return (struct nf_hdr *)((char *)p - HDR);
}

static void *nf_alloc(size_t n, unsigned char cls)
{
	struct nf_hdr *h;
	size_t len;

	if (n > SIZE_MAX - HDR - 4096)
		return NULL;
	len = n + HDR;
	if (len < NOFORK_MIN) {
		h = malloc(len);
		if (!h)
			return NULL;
		h->mapped = 0;
	} else {
		len = (len + 4095) & ~(size_t)4095;
		h = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (h == MAP_FAILED)
			return NULL;
		madvise(h, len, MADV_DONTFORK);
		h->mapped = 1;
	}
	h->len = len;
	h->next = NULL;
	h->cls = cls;
	return (char *)h + HDR;
}

void *mbi_nofork_alloc(size_t n)
{
	return nf_alloc(n, NF_NOCLASS);
}

void mbi_nofork_free(void *p)
{
	struct nf_hdr *h;

	if (!p)
		return;
	h = hdr_of(p);
	if (h->mapped)
		munmap(h, h->len);
	else
		free(h);
}

static void *zstd_alloc(void *opaque, size_t n)
{
	(void)opaque;
	return mbi_nofork_alloc(n);
}

static void zstd_free(void *opaque, void *p)
{
	(void)opaque;
	mbi_nofork_free(p);
}

ZSTD_CCtx *mbi_nofork_zstd_cctx(void)
{
	ZSTD_customMem mem = { zstd_alloc, zstd_free, NULL };

	return ZSTD_createCCtx_advanced(mem);
}

ZSTD_DCtx *mbi_nofork_zstd_dctx(void)
{
	ZSTD_customMem mem = { zstd_alloc, zstd_free, NULL };

	return ZSTD_createDCtx_advanced(mem);
}

/* ---------------------------------------------------------------- pools */

/* Classes of powers of two from NOFORK_MIN up: a buffer is reused for any
 * size of its class, so reading files of similar sizes faults no pages. */
static unsigned pool_class(size_t n)
{
	unsigned c = 0;
	size_t cap = NOFORK_MIN - HDR;

	while (cap < n && c < MBI_POOL_CLASSES) {
		cap = ((cap + HDR) << 1) - HDR;
		c++;
	}
	return c;
}

static size_t class_size(unsigned c)
{
	return ((size_t)NOFORK_MIN << c) - HDR;
}

void mbi_pool_init(struct mbi_pool *pl, size_t max_idle)
{
	memset(pl, 0, sizeof(*pl));
	pthread_mutex_init(&pl->lock, NULL);
	pl->max_idle = max_idle;
}

void *mbi_pool_get(struct mbi_pool *pl, size_t n)
{
	unsigned c;
	struct nf_hdr *h = NULL;

	if (n + HDR < NOFORK_MIN)
		return nf_alloc(n, NF_NOCLASS);
	c = pool_class(n);
	if (c >= MBI_POOL_CLASSES)
		return nf_alloc(n, NF_NOCLASS); /* larger than any class */
	pthread_mutex_lock(&pl->lock);
	h = pl->free[c];
	if (h) {
		pl->free[c] = h->next;
		pl->idle -= h->len;
	}
	pthread_mutex_unlock(&pl->lock);
	if (h)
		return (char *)h + HDR;
	return nf_alloc(class_size(c), (unsigned char)c);
}

void mbi_pool_put(struct mbi_pool *pl, void *p)
{
	struct nf_hdr *h;

	if (!p)
		return;
	h = hdr_of(p);
	if (h->cls != NF_NOCLASS) {
		pthread_mutex_lock(&pl->lock);
		if (pl->idle + h->len <= pl->max_idle) {
			h->next = pl->free[h->cls];
			pl->free[h->cls] = h;
			pl->idle += h->len;
			h = NULL;
		}
		pthread_mutex_unlock(&pl->lock);
		if (!h)
			return;
	}
	mbi_nofork_free(p);
}

void mbi_pool_drain(struct mbi_pool *pl)
{
	struct nf_hdr *h, *next;
	unsigned c;

	pthread_mutex_lock(&pl->lock);
	for (c = 0; c < MBI_POOL_CLASSES; c++) {
		for (h = pl->free[c]; h; h = next) {
			next = h->next;
			mbi_nofork_free((char *)h + HDR);
		}
		pl->free[c] = NULL;
	}
	pl->idle = 0;
	pthread_mutex_unlock(&pl->lock);
}

void mbi_pool_release(struct mbi_pool *pl)
{
	mbi_pool_drain(pl);
	pthread_mutex_destroy(&pl->lock);
}
