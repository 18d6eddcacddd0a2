/* SPDX-License-Identifier: MIT */
/* op/rekey.c: the recipients of an object (its PKESK packets, read without
 * decrypting) and the re-encryption of manifests; the packs and the index
 * are rewritten by the prune run (op/prune.c, mb_rekey). */
#include "rekey.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

#define MAX_KEYIDS 64
#define HEAD_BYTES 65536

struct keyids {
	char id[MAX_KEYIDS][17];
	size_t n;
	bool odd; /* a packet we do not read as a plain public-key session key */
};

/* One packet header at p (n bytes left): its tag, and the offset and
 * length of its body. -1 for what is not a whole, definite-length header. */
static int packet_header(const unsigned char *p, size_t n, int *tag,
			 size_t *hdr, size_t *len)
{
	if (n < 2 || !(p[0] & 0x80))
		return -1;
	if (p[0] & 0x40) { /* new format */
		*tag = p[0] & 0x3f;
		if (p[1] < 192) {
			*hdr = 2;
			*len = p[1];
		} else if (p[1] < 224) {
			if (n < 3)
				return -1;
			*hdr = 3;
			*len = ((size_t)(p[1] - 192) << 8) + p[2] + 192;
		} else if (p[1] == 255) {
			if (n < 6)
				return -1;
			*hdr = 6;
			*len = (size_t)p[2] << 24 | (size_t)p[3] << 16 |
			       (size_t)p[4] << 8 | p[5];
		} else {
			return -1; /* partial length: a data packet */
		}
		return 0;
	}
	*tag = (p[0] >> 2) & 0x0f;
	switch (p[0] & 3) {
	case 0:
		*hdr = 2;
		*len = p[1];
		return 0;
	case 1:
		if (n < 3)
			return -1;
		*hdr = 3;
		*len = (size_t)p[1] << 8 | p[2];
		return 0;
	case 2:
		if (n < 5)
			return -1;
		*hdr = 5;
		*len = (size_t)p[1] << 24 | (size_t)p[2] << 16 |
		       (size_t)p[3] << 8 | p[4];
		return 0;
	default:
		return -1;
	}
}

/* The key ids of the PKESK packets (tag 1) before the encrypted data. */
static void scan_pkesk(const unsigned char *p, size_t n, struct keyids *k)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t off = 0;

	k->n = 0;
	k->odd = false;
	while (off < n) {
		size_t hdr, len, i;
		int tag;

		if (!(p[off] & 0x80)) {
			k->odd = true;
			return;
		}
		tag = p[off] & 0x40 ? p[off] & 0x3f : (p[off] >> 2) & 0x0f;
		if (tag != 1)
			break; /* the encrypted data (or an SKESK: odd) */
		if (packet_header(p + off, n - off, &tag, &hdr, &len)) {
			k->odd = true;
			return;
		}
		if (len < 10 || hdr + len > n - off || p[off + hdr] != 3 ||
		    k->n == MAX_KEYIDS) {
			k->odd = true;
			return;
		}
		for (i = 0; i < 8; i++) {
			unsigned char b = p[off + hdr + 1 + i];

			k->id[k->n][2 * i] = hex[b >> 4];
			k->id[k->n][2 * i + 1] = hex[b & 15];
		}
		k->id[k->n][16] = '\0';
		/* a hidden recipient (id 0) is no key we can compare */
		if (!strcmp(k->id[k->n], "0000000000000000"))
			k->odd = true;
		k->n++;
		off += hdr + len;
	}
	/* a password (SKESK, tag 3) or nothing after the session keys */
	if (off >= n || !k->n ||
	    (p[off] & 0x40 ? p[off] & 0x3f : (p[off] >> 2) & 0x0f) == 3)
		k->odd = true;
}

static int read_keyids(struct mbi_repo *r, const char *key, struct keyids *k)
{
	unsigned char *head = malloc(HEAD_BYTES);
	uint64_t size;
	ssize_t got;
	int fd = -1, rc;

	if (!head)
		return MB_E_NOMEM;
	if ((rc = mbi_store_get(r->store, key, &fd, &size)))
		goto out;
	got = mbi_read_full(fd, head, HEAD_BYTES);
	if (got < 0) {
		rc = mbi_error(r->ctx, MB_E_IO, errno, "cannot read '%s'", key);
		goto out;
	}
	scan_pkesk(head, (size_t)got, k);
out:
	if (fd >= 0)
		close(fd);
	free(head);
	return rc;
}

int mbi_rekey_state(struct mbi_repo *r, const char *key,
		    enum mbi_crypt_mode mode, enum mbi_rekey_state *st)
{
	struct keyids *k = calloc(1, sizeof(*k));
	int rc;

	if (!k)
		return MB_E_NOMEM;
	if ((rc = read_keyids(r, key, k)))
		goto out;
	if (!k->odd && mbi_crypt_keyids_current(r->crypt, mode,
						(const char (*)[17])k->id,
						k->n))
		*st = MBI_REKEY_CURRENT;
	else if (mbi_crypt_has_secret_of(r->crypt, (const char (*)[17])k->id,
					 k->n))
		*st = MBI_REKEY_STALE;
	else
		*st = MBI_REKEY_LOCKED_OUT;
out:
	free(k);
	return rc;
}

static int rekey_manifest(struct mbi_repo *r, const char *key)
{
	struct mbi_buf plain = { 0 }, z = { 0 };
	int rc;

	/* only a plaintext whose signature verified is re-encrypted */
	rc = mbi_repo_get_meta(r, key, MBI_MANIFEST_MAX, &plain);
	if (!rc)
		rc = mbi_zstd_compress_buf(r->ctx, plain.data, plain.len, 3,
					   &z);
	if (!rc) {
		mbi_commit_point("rekey-manifest");
		rc = mbi_crypt_put_meta(r->crypt, r->store, key, z.data,
					z.len);
	}
	mbi_buf_release(&plain);
	mbi_buf_release(&z);
	return rc;
}

int mbi_rekey_manifests(struct mbi_repo *r, bool dry, uint64_t *total,
			uint64_t *rewritten)
{
	struct mbi_listing snaps = { 0 };
	size_t i;
	int rc = mbi_store_list_all(r->store, "snapshots/", &snaps);

	for (i = 0; !rc && i < snaps.n; i++) {
		enum mbi_rekey_state st;

		(*total)++;
		if ((rc = mbi_rekey_state(r, snaps.keys[i], MBI_CRYPT_META,
					  &st)))
			break;
		if (st == MBI_REKEY_CURRENT)
			continue;
		/* a manifest is also encrypted to the host key, which
		 * decrypts it whatever the recipients */
		if (!dry && (rc = rekey_manifest(r, snaps.keys[i])))
			break;
		(*rewritten)++;
		mbi_log(r->ctx, MB_LOG_INFO, "%s manifest %s",
			dry ? "would re-encrypt" : "re-encrypted",
			snaps.keys[i]);
	}
	mbi_listing_release(&snaps);
	return rc;
}
