/* SPDX-License-Identifier: MIT */
/* quote.c: names and messages made safe for a terminal (see quote.h). */
#include <stdlib.h>
#include <string.h>

#include "quote.h"

/*
 * The length of the valid, printable UTF-8 sequence at s (1 to 4), or 0
 * when s starts with a byte to escape: a control character, an invalid or
 * overlong sequence, a surrogate, or a C1 control (U+0080 to U+009F, which
 * some terminals obey like ESC [).
 */
static size_t printable_len(const unsigned char *s)
{
	size_t n, i;
	unsigned int cp;

	if (*s < 0x80)
		return *s >= 0x20 && *s != 0x7f ? 1 : 0;
	if (*s >= 0xc2 && *s <= 0xdf) {
		n = 2;
		cp = *s & 0x1f;
	} else if (*s >= 0xe0 && *s <= 0xef) {
		n = 3;
		cp = *s & 0x0f;
	} else if (*s >= 0xf0 && *s <= 0xf4) {
		n = 4;
		cp = *s & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n;
}

bool quote_needed(const char *s)
{
	const unsigned char *c = (const unsigned char *)s;
	size_t n;

	while (*c) {
		if (*c == '"' || *c == '\\')
			return true;
		n = printable_len(c);
		if (!n)
			return true;
		c += n;
	}
	return false;
}

static void escape_byte(FILE *f, unsigned char b)
{
	static const char letters[] = "abtnvfr"; /* 7 to 13 */

	if (b >= 7 && b <= 13)
		fprintf(f, "\\%c", letters[b - 7]);
	else
		fprintf(f, "\\%03o", b);
}

static void escape(FILE *f, const char *s, bool name)
{
	const unsigned char *c = (const unsigned char *)s;
	size_t n;

	while (*c) {
		if (name && (*c == '"' || *c == '\\')) {
			fprintf(f, "\\%c", *c++);
			continue;
		}
		n = printable_len(c);
		if (!n) {
			escape_byte(f, *c++);
			continue;
		}
		fwrite(c, 1, n, f);
		c += n;
	}
}

void quote_name(FILE *f, const char *s)
{
	if (!quote_needed(s)) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	escape(f, s, true);
	fputc('"', f);
}

void quote_path(FILE *f, const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (!p) {
		/* the parts one by one: still safe, only the quotes differ */
		quote_name(f, a);
		fputc('/', f);
		quote_name(f, b);
		return;
	}
	snprintf(p, n, "%s/%s", a, b);
	quote_name(f, p);
	free(p);
}

void quote_message(FILE *f, const char *s)
{
	escape(f, s, false);
}

static char *dup_with(void (*fn)(FILE *, const char *), const char *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	fn(f, s);
	if (fclose(f)) {
		free(out);
		return NULL;
	}
	return out;
}

char *quote_message_dup(const char *s)
{
	return dup_with(quote_message, s);
}

char *quote_name_dup(const char *s)
{
	return dup_with(quote_name, s);
}
