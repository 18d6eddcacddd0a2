/* SPDX-License-Identifier: MIT */
/* source/imapname.c: folder names as users see them (IMAP, UTF-8) and as Maildir++ stores them (modified UTF-7). */
#include "mb-private.h"
#include "imapname.h"

#include <string.h>

#include "banned.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* One UTF-8 sequence at s: its code point, or -1 when it is not valid
 * (overlong, surrogate, beyond U+10FFFF, truncated). */
static long utf8_next(const unsigned char *s, size_t *len)
{
	unsigned char c = s[0];
	long cp, min;
	size_t n, i;

	if (c < 0x80) {
		*len = 1;
		return c;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = n;
	return cp;
}

static int put_utf8(struct mbi_buf *b, long cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return mbi_buf_add(b, u, n);
}

/* The non-ASCII run s[0..n) as "&BASE64-" of its UTF-16. */
static int put_utf7_run(struct mbi_buf *b, const unsigned char *s, size_t n)
{
	unsigned long bits = 0;
	int nbits = 0;
	size_t i = 0, len;
	int rc = mbi_buf_add(b, "&", 1);

	while (!rc && i < n) {
		long cp = utf8_next(s + i, &len);
		unsigned units[2], k, nu = 1;

		i += len;
		units[0] = (unsigned)cp;
		if (cp >= 0x10000) {
			units[0] = 0xd800 + (unsigned)((cp - 0x10000) >> 10);
			units[1] = 0xdc00 + (unsigned)((cp - 0x10000) & 0x3ff);
			nu = 2;
		}
		for (k = 0; k < nu; k++) {
			bits = (bits << 16) | units[k];
			nbits += 16;
			while (!rc && nbits >= 6) {
				nbits -= 6;
				rc = mbi_buf_add(b, &b64[(bits >> nbits) & 0x3f],
						 1);
			}
			bits &= (1UL << nbits) - 1;
		}
	}
	if (!rc && nbits)
		rc = mbi_buf_add(b, &b64[(bits << (6 - nbits)) & 0x3f], 1);
	return rc ? rc : mbi_buf_add(b, "-", 1);
}

/* One component of an IMAP name, modified UTF-7 encoded. Returns -1 for
 * bytes that are not UTF-8 or not allowed in a Maildir++ name. */
static int encode_component(struct mbi_buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, len;

	while (i < n) {
		size_t j = i;

		if (u[i] >= 0x20 && u[i] < 0x7f) {
			if (u[i] == '.')
				return -1; /* the on-disk separator */
			if (mbi_buf_add(b, u[i] == '&' ? "&-" : s + i,
					u[i] == '&' ? 2 : 1))
				return -2;
			i++;
			continue;
		}
		while (j < n && (u[j] >= 0x80 || u[j] < 0x20 || u[j] == 0x7f)) {
			if (u[j] < 0x80 || utf8_next(u + j, &len) < 0 ||
			    j + len > n)
				return -1; /* control character, bad UTF-8 */
			j += len;
		}
		if (put_utf7_run(b, u + i, j - i))
			return -2;
		i = j;
	}
	return 0;
}

int mbi_imap_to_maildir(struct mb_ctx *ctx, const char *imap, char **out)
{
	struct mbi_buf b = { 0 };
	const char *p = imap, *slash;
	int rc = 0;

	if (!strcmp(imap, "INBOX")) {
		*out = strdup("");
		return *out ? MB_OK : MB_E_NOMEM;
	}
	if (!*imap || *imap == '/' || imap[strlen(imap) - 1] == '/' ||
	    strstr(imap, "//"))
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "folder '%s' cannot be mapped to Maildir++: give its IMAP name with '/' between levels, e.g. 'Archive/2024' or 'INBOX'",
				 imap);
	/* "INBOX/x" is a subfolder of INBOX, stored as .INBOX.x */
	while (!rc && p) {
		slash = strchr(p, '/');
		rc = mbi_buf_add(&b, ".", 1);
		if (!rc)
			rc = encode_component(&b, p,
					      slash ? (size_t)(slash - p) :
						      strlen(p));
		p = slash ? slash + 1 : NULL;
	}
	if (rc) {
		mbi_buf_release(&b);
		if (rc == -2)
			return MB_E_NOMEM;
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "folder '%s' cannot be mapped to Maildir++: it holds a '.', a control character or bytes that are not UTF-8 (the Maildir++ layout with '/' as separator is supported)",
				 imap);
	}
	*out = b.data;
	return MB_OK;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

/* Decode "&...-" at s (s[0] == '&'); *used gets its length. */
static int decode_run(struct mbi_buf *b, const char *s, size_t *used)
{
	unsigned long bits = 0;
	int nbits = 0, v;
	long hi = -1;
	size_t i = 1;

	if (s[1] == '-') {
		*used = 2;
		return mbi_buf_add(b, "&", 1) ? -2 : 0;
	}
	for (; (v = b64_val(s[i])) >= 0; i++) {
		bits = (bits << 6) | (unsigned)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		{
			long u = (long)((bits >> nbits) & 0xffff);

			bits &= (1UL << nbits) - 1;
			if (hi >= 0) {
				if (u < 0xdc00 || u > 0xdfff)
					return -1;
				u = 0x10000 + ((hi - 0xd800) << 10) +
				    (u - 0xdc00);
				hi = -1;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				hi = u;
				continue;
			} else if ((u >= 0xdc00 && u <= 0xdfff) ||
				   (u >= 0x20 && u < 0x7f)) {
				return -1; /* ASCII must not be encoded */
			}
			if (put_utf8(b, u))
				return -2;
		}
	}
	if (s[i] != '-' || hi >= 0 || nbits >= 6 || bits || i == 1)
		return -1;
	*used = i + 1;
	return 0;
}

int mbi_maildir_to_imap(struct mb_ctx *ctx, const char *disk, char **out)
{
	struct mbi_buf b = { 0 };
	const char *s = disk;
	bool prev_run = false;
	int rc = 0;

	if (!*disk) {
		*out = strdup("INBOX");
		return *out ? MB_OK : MB_E_NOMEM;
	}
	if (*s != '.' || !s[1] || s[1] == '.')
		rc = -1;
	for (s++; !rc && *s; ) {
		size_t used = 1;

		if (*s == '&' && prev_run && s[1] != '-')
			rc = -1; /* two runs in a row: not the shortest form */
		else if (*s == '&')
			rc = decode_run(&b, s, &used);
		else if (*s == '/')
			rc = -1;
		else if (*s == '.')
			rc = s[1] && s[1] != '.' ? mbi_buf_add(&b, "/", 1) : -1;
		else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			rc = -1;
		else
			rc = mbi_buf_add(&b, s, 1) ? -2 : 0;
		prev_run = *s == '&' && s[1] != '-';
		s += used;
	}
	if (rc) {
		mbi_buf_release(&b);
		if (rc == -2)
			return MB_E_NOMEM;
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "'%s' is no Maildir++ folder name", disk);
	}
	*out = b.data ? b.data : strdup("");
	return *out ? MB_OK : MB_E_NOMEM;
}

int mb_mail_folder_dir(struct mb_ctx *ctx, const char *imap, char **out)
{
	return mbi_imap_to_maildir(ctx, imap, out);
}
