/* SPDX-License-Identifier: MIT */
/* fuzz-tar.c: reading a pack's tar with libarchive as libmb does. */
#include "mb-private.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * This mirrors the reading side of libmb/pack.c (mbi_pack_read, r_read,
 * member_sha, mbi_packr_read) with the same libarchive settings: a reader
 * with archive_read_support_format_tar only (no filters: zstd is undone
 * before libarchive sees the bytes), opened with a read callback that hands
 * out up to 4 * ZSTD_DStreamOutSize() bytes at a time, every header read,
 * non-regular members skipped, the SCHILY.xattr.user.mailbackup.sha256
 * record looked up, and all data read in 1 MiB calls (check.c,
 * restore.c). Nothing is factored out of libmb: keep this in step with
 * pack.c by hand.
 */

#define SHA_XATTR "user.mailbackup.sha256"
#define CHUNK (4 * 131072)

struct src {
	const uint8_t *p;
	size_t len, pos;
};

static la_ssize_t r_read(struct archive *a, void *ud, const void **buf)
{
	struct src *s = ud;
	size_t n = s->len - s->pos;

	(void)a;
	if (n > CHUNK)
		n = CHUNK;
	*buf = s->p + s->pos;
	s->pos += n;
	return (la_ssize_t)n;
}

static bool member_sha(struct archive_entry *e, unsigned char *sha)
{
	const char *name;
	const void *val;
	size_t len;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &len) == ARCHIVE_OK)
		if (!strcmp(name, SHA_XATTR) && len == 64 &&
		    !mbi_unhex(val, MBI_SHA256_LEN, sha))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *buf;
	struct src s = { data, size, 0 };
	struct archive *a;

	if (!buf && !(buf = malloc(1 << 20)))
		return 0;
	a = archive_read_new();
	if (!a)
		return 0;
	archive_read_support_format_tar(a);
	if (archive_read_open(a, &s, NULL, r_read, NULL)) {
		archive_read_free(a);
		return 0;
	}
	for (;;) {
		struct archive_entry *e;
		unsigned char sha[MBI_SHA256_LEN];
		const char *name;
		int ar = archive_read_next_header(a, &e);
		la_ssize_t n;

		if (ar == ARCHIVE_EOF || ar < ARCHIVE_WARN)
			break;
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		(void)member_sha(e, sha);
		name = archive_entry_pathname(e) ? archive_entry_pathname(e) :
						   "?";
		(void)strlen(name);
		(void)archive_entry_size(e);
		while ((n = archive_read_data(a, buf, 1 << 20)) > 0)
			;
		if (n < 0)
			break;
	}
	archive_read_free(a);
	return 0;
}
