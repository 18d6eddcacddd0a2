/* SPDX-License-Identifier: MIT */
/* test-manifest.c: manifest entry lines and whole manifest texts. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

static struct mb_ctx *ctx;

#define SHA_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define SHA_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

/* Format e, parse it back, compare every field. */
static void roundtrip(const struct mbi_mentry *e, const char *what)
{
	struct mbi_buf b = { 0 };
	struct mbi_mentry d;
	size_t l;
	bool same;

	if (mbi_manifest_format_entry(&b, e)) {
		ok(0, "%s: format", what);
		return;
	}
	l = strlen(b.data);
	ok(l == b.len && l > 0 && b.data[l - 1] == '\n' &&
	   !memchr(b.data, '\n', l - 1), "%s: one line, no NUL", what);
	b.data[l - 1] = '\0';
	if (mbi_manifest_parse_entry(b.data, &d)) {
		ok(0, "%s: parse back", what);
		mbi_buf_release(&b);
		return;
	}
	same = !strcmp(d.source, e->source) && !strcmp(d.path, e->path) &&
	       d.type == e->type && d.mode == e->mode && d.uid == e->uid &&
	       d.gid == e->gid && d.mtime_ns == e->mtime_ns &&
	       d.size == e->size && d.has_sha == e->has_sha &&
	       (!e->has_sha || !memcmp(d.sha, e->sha, MBI_SHA256_LEN)) &&
	       (e->type == 'l' ? d.link && !strcmp(d.link, e->link) :
				 d.link == NULL);
	ok(same, "%s: round trip", what);
	mbi_buf_release(&b);
}

static void test_roundtrip(void)
{
	struct mbi_mentry e;
	char odd[256];
	int c;

	memset(&e, 0, sizeof(e));
	e.source = (char *)"vmail";
	e.path = (char *)"example.com/user/cur/1700000000.M1P2.mx:2,S";
	e.type = 'f';
	e.mode = 0600;
	e.uid = 5000;
	e.gid = 5000;
	e.mtime_ns = 1700000000123456789LL;
	e.size = 4242;
	e.has_sha = true;
	memset(e.sha, 0xab, sizeof(e.sha));
	roundtrip(&e, "a message");

	e.path = (char *)"a b/%25/\t\n\r\x7f/\xc3\xa9t\xc3\xa9/\xff\x01";
	e.mode = 07777;
	e.uid = UINT32_MAX;
	e.gid = 0;
	e.mtime_ns = -1;
	e.size = UINT64_MAX;
	roundtrip(&e, "odd bytes and extreme numbers");

	/* every byte but NUL and '/' in one name */
	for (c = 1; c < 256; c++)
		odd[c - 1] = (char)(c == '/' ? 'x' : c);
	odd[255] = '\0';
	e.path = odd;
	roundtrip(&e, "a name with bytes 1-255");

	memset(&e, 0, sizeof(e));
	e.source = (char *)"files";
	e.type = 'd';
	e.path = (char *)".";
	e.mode = 0755;
	roundtrip(&e, "the root directory");
	e.path = (char *)"etc/dkim";
	roundtrip(&e, "a directory");

	e.type = 'l';
	e.path = (char *)"current";
	e.link = (char *)"../releases/2024 01/x%y";
	e.mode = 0777;
	roundtrip(&e, "a symlink with blanks and %");
	e.link = (char *)"/etc/ssl/certs/ca bundle.pem";
	roundtrip(&e, "a symlink to an absolute target");

	{
		struct mbi_buf b = { 0 };

		memset(&e, 0, sizeof(e));
		e.source = (char *)"s";
		e.type = 'f';
		e.path = (char *)"x y";
		e.mode = 0644;
		e.has_sha = true;
		mbi_unhex(SHA_A, MBI_SHA256_LEN, e.sha);
		mbi_manifest_format_entry(&b, &e);
		is_str(b.data, "e s f 644 0 0 0 0 " SHA_A " x%20y\n",
		       "the documented line format");
		mbi_buf_release(&b);
	}
}

/* Parse a copy of line; returns the status. */
static int parse_line(const char *line)
{
	char *copy = strdup(line);
	struct mbi_mentry e;
	int rc = mbi_manifest_parse_entry(copy, &e);

	free(copy);
	return rc;
}

static void test_rejects(void)
{
	static const struct {
		const char *line, *why;
	} good[] = {
		{ "e s f 644 0 0 0 0 " SHA_A " a", "a file" },
		{ "e s d 755 0 0 -5 0 - .", "the root, negative mtime" },
		{ "e s l 777 0 0 0 0 - a b", "a symlink" },
		{ "e s f 0 4294967295 4294967295 0 18446744073709551615 " SHA_A " a",
		  "largest numbers" },
		{ "e s f 644 0 0 0 0 " SHA_A " a%2Fb", "an escaped '/' inside" },
		{ "e s f 644 0 0 0 0 " "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF" " a",
		  "upper case sha" },
	};
	static const struct {
		const char *line, *why;
	} bad[] = {
		{ "", "empty" },
		{ "e", "only e" },
		{ "x s f 644 0 0 0 0 " SHA_A " a", "not an entry" },
		{ "e s f 644 0 0 0 0 " SHA_A, "no path" },
		{ "e  f 644 0 0 0 0 " SHA_A " a", "empty source" },
		{ "e s x 644 0 0 0 0 - a", "unknown type" },
		{ "e s ff 644 0 0 0 0 " SHA_A " a", "two letter type" },
		{ "e s f 648 0 0 0 0 " SHA_A " a", "mode not octal" },
		{ "e s f 10000 0 0 0 0 " SHA_A " a", "mode past 07777" },
		{ "e s f -1 0 0 0 0 " SHA_A " a", "negative mode" },
		{ "e s f 644 4294967296 0 0 0 " SHA_A " a", "uid past 32 bits" },
		{ "e s f 644 0 -1 0 0 " SHA_A " a", "negative gid" },
		{ "e s f 644 +1 0 0 0 " SHA_A " a", "uid with '+'" },
		{ "e s f 644 0 0 x 0 " SHA_A " a", "mtime not a number" },
		{ "e s f 644 0 0 1x 0 " SHA_A " a", "mtime with junk" },
		{ "e s f 644 0 0 99999999999999999999 0 " SHA_A " a", "mtime overflow" },
		{ "e s f 644 0 0 0 -1 " SHA_A " a", "negative size" },
		{ "e s f 644 0 0 0 18446744073709551616 " SHA_A " a", "size overflow" },
		{ "e s f 644 0 0 0 0  " SHA_A " a", "a doubled blank" },
		{ "e s f 644 0 0 0 0 " SHA_A " a ", "a trailing blank" },
		{ "e s f 644 0 0 0 0 " SHA_A " a b", "a trailing field" },
		{ "e s d 755 0 0 0 0 - a b", "a trailing field on a dir" },
		{ "e s l 777 0 0 0 0 - a b c", "a trailing field on a link" },
		{ "e s l 777 0 0 0 0 - a", "a symlink without target" },
		{ "e s l 777 0 0 0 0 - a %", "a symlink with a bad escape" },
		{ "e s f 644 0 0 0 0 - a", "a file without sha" },
		{ "e s d 755 0 0 0 0 " SHA_A " a", "a dir with a sha" },
		{ "e s l 777 0 0 0 0 " SHA_A " a b", "a link with a sha" },
		{ "e s f 644 0 0 0 0 " SHA_A "0 a", "sha of 65 digits" },
		{ "e s f 644 0 0 0 0 0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff a",
		  "sha of 63 digits" },
		{ "e s f 644 0 0 0 0 g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff a",
		  "sha not hex" },
		{ "e s f 644 0 0 0 0 " SHA_A " ..", "path '..'" },
		{ "e s f 644 0 0 0 0 " SHA_A " a/../../etc", "path with '..'" },
		{ "e s f 644 0 0 0 0 " SHA_A " a/%2E%2E/b", "escaped '..'" },
		{ "e s f 644 0 0 0 0 " SHA_A " /etc/passwd", "absolute path" },
		{ "e s f 644 0 0 0 0 " SHA_A " %2Fetc/passwd", "escaped absolute path" },
		{ "e s f 644 0 0 0 0 " SHA_A " a//b", "empty component" },
		{ "e s f 644 0 0 0 0 " SHA_A " a/", "trailing '/'" },
		{ "e s f 644 0 0 0 0 " SHA_A " ./a", "'.' component" },
		{ "e s f 644 0 0 0 0 " SHA_A " .", "a file at the root" },
		{ "e s l 777 0 0 0 0 - . x", "a link at the root" },
		{ "e s f 644 0 0 0 0 " SHA_A " a%00b", "an escaped NUL" },
		{ "e s f 644 0 0 0 0 " SHA_A " a%", "a cut escape" },
		{ "e s f 644 0 0 0 0 " SHA_A " a%zz", "a bad escape" },
	};
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(good); i++)
		is_int(parse_line(good[i].line), MB_OK, "accepted: %s",
		       good[i].why);
	for (i = 0; i < MBI_ARRAY_SIZE(bad); i++)
		is_int(parse_line(bad[i].line), MB_E_INVAL, "refused: %s",
		       bad[i].why);
}

struct seen {
	int n;
	char paths[8][64];
	char types[8];
};

static int collect(void *ud, struct mbi_mentry *e)
{
	struct seen *s = ud;

	if (s->n < 8) {
		snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s:%s",
			 e->source, e->path);
		s->types[s->n] = e->type;
	}
	s->n++;
	return MB_OK;
}

static int stop_at_two(void *ud, struct mbi_mentry *e)
{
	int *n = ud;

	(void)e;
	return ++*n == 2 ? MB_E_ABORTED : MB_OK;
}

static const char good_manifest[] =
	"mailbackup-manifest 1\n"
	"id 0123456789abcdef\n"
	"time 1700000000\n"
	"host mx1.example.com\n"
	"source vmail maildir /var/vmail\n"
	"source dkim files /var/lib/rspamd/dkim%20keys\n"
	"source maildb mariadb -\n"
	"db maildb mailcow alias 12 3456789\n"
	"db maildb mailcow mailbox 3 -\n"
	"db maildb mail%20db quota%20x 0 1\n"
	"meta maildb version 10.11.6-MariaDB\n"
	"meta maildb binlog mysql-bin.000003%20157\n"
	"e vmail d 755 0 0 0 0 - .\n"
	"e vmail f 600 5000 5000 1700000000000000000 5 " SHA_A " example.com/u/cur/1.M1:2,S\n"
	"e dkim l 777 0 0 0 0 - mail.key mail%20.key\n"
	"e maildb f 600 0 0 0 10 " SHA_B " db/mailcow/alias.sql\n"
	"end 4\n";

/* Run mbi_manifest_parse on a malloc'd copy of text; frees it on failure. */
static int parse_text(const char *text, size_t len, struct mbi_manifest *m)
{
	char *copy = malloc(len + 1);
	int rc;

	memcpy(copy, text, len);
	copy[len] = '\0';
	rc = mbi_manifest_parse(ctx, copy, len, m, "test");
	if (rc)
		free(copy);
	return rc;
}

static void test_manifest(void)
{
	struct mbi_manifest m;
	struct seen s;
	int n = 0;

	if (parse_text(good_manifest, sizeof(good_manifest) - 1, &m)) {
		ok(0, "a good manifest parses: %s", mb_ctx_errmsg(ctx));
		return;
	}
	ok(1, "a good manifest parses");
	is_str(m.id, "0123456789abcdef", "id");
	is_int(m.time, 1700000000, "time");
	is_str(m.host, "mx1.example.com", "host");
	is_int(m.nentries, 4, "four entries");
	is_int(m.nsources, 3, "three sources");
	if (m.nsources == 3) {
		is_str(m.sources[0].name, "vmail", "source name");
		is_str(m.sources[0].type, "maildir", "source type");
		is_str(m.sources[1].path, "/var/lib/rspamd/dkim keys",
		       "source path unescaped");
		is_str(m.sources[2].path, "-", "no path");
	}
	is_int(m.ndbs, 3, "three db lines");
	if (m.ndbs == 3) {
		is_str(m.dbs[0].table, "alias", "table");
		is_int(m.dbs[0].rows, 12, "rows");
		is_str(m.dbs[0].checksum, "3456789", "checksum");
		is_str(m.dbs[2].db, "mail db", "db name unescaped");
		is_str(m.dbs[2].table, "quota x", "table name unescaped");
	}
	is_int(m.nmeta, 2, "two meta lines");
	if (m.nmeta == 2)
		is_str(m.meta[1].value, "mysql-bin.000003 157",
		       "meta value unescaped");

	memset(&s, 0, sizeof(s));
	is_int(mbi_manifest_foreach(ctx, &m, collect, &s), MB_OK, "foreach");
	is_int(s.n, 4, "foreach sees four entries");
	is_str(s.paths[0], "vmail:.", "entry 1");
	is_str(s.paths[1], "vmail:example.com/u/cur/1.M1:2,S", "entry 2");
	is_str(s.paths[2], "dkim:mail.key", "entry 3");
	ok(s.types[2] == 'l', "entry 3 is a link");
	is_str(s.paths[3], "maildb:db/mailcow/alias.sql", "entry 4");
	memset(&s, 0, sizeof(s));
	is_int(mbi_manifest_foreach(ctx, &m, collect, &s), MB_OK,
	       "foreach a second time");
	is_int(s.n, 4, "the same four entries");
	is_int(mbi_manifest_foreach(ctx, &m, stop_at_two, &n), MB_E_ABORTED,
	       "a callback's code stops foreach");
	is_int(n, 2, "after two entries");
	mbi_manifest_release(&m);
	ok(m.text == NULL && m.sources == NULL, "release clears");

	/* smallest manifest */
	{
		static const char t[] = "mailbackup-manifest 1\nid 0000000000000000\nend 0\n";

		is_int(parse_text(t, sizeof(t) - 1, &m), MB_OK,
		       "a manifest without entries");
		memset(&s, 0, sizeof(s));
		is_int(mbi_manifest_foreach(ctx, &m, collect, &s), MB_OK,
		       "foreach on it");
		is_int(s.n, 0, "sees nothing");
		mbi_manifest_release(&m);
	}
}

/* Replace the first occurrence of from in good_manifest with to. */
static char *edit(const char *from, const char *to, size_t *len)
{
	const char *at = strstr(good_manifest, from);
	struct mbi_buf b = { 0 };

	if (!at)
		abort();
	mbi_buf_add(&b, good_manifest, (size_t)(at - good_manifest));
	mbi_buf_add(&b, to, strlen(to));
	mbi_buf_addstr(&b, at + strlen(from));
	*len = b.len;
	return b.data;
}

static void test_manifest_bad(void)
{
	static const struct {
		const char *from, *to, *why;
	} t[] = {
		{ "end 4\n", "end 3\n", "end count too small" },
		{ "end 4\n", "end 5\n", "end count too large" },
		{ "end 4\n", "end -4\n", "negative end count" },
		{ "end 4\n", "end 4 x\n", "end with a trailing field" },
		{ "end 4\n", "", "no end line" },
		{ "end 4\n", "end 4\nhost x\n", "a line after end" },
		{ "end 4\n", "end 4\nend 4\n", "end twice" },
		{ "end 4\n", "end 4", "no final newline" },
		{ "id 0123456789abcdef\n", "", "no id" },
		{ "id 0123456789abcdef\n", "id 0123456789abcde\n", "short id" },
		{ "id 0123456789abcdef\n", "id 0123456789abcdef0\n", "long id" },
		{ "id 0123456789abcdef\n", "id\n", "id without value" },
		{ "mailbackup-manifest 1\n", "mailbackup-manifest 2\n",
		  "another format version" },
		{ "mailbackup-manifest 1\n", "", "no magic line" },
		{ "time 1700000000\n", "time -1\n", "negative time" },
		{ "time 1700000000\n", "time 17x\n", "time with junk" },
		{ "host mx1.example.com\n", "host a b\n", "host with two fields" },
		{ "source vmail maildir /var/vmail\n", "source vmail maildir\n",
		  "source without path" },
		{ "source vmail maildir /var/vmail\n", "source vmail maildir /var/vmail x\n",
		  "source with a trailing field" },
		{ "source vmail maildir /var/vmail\n", "source vmail maildir /v%zz\n",
		  "source path with a bad escape" },
		{ "db maildb mailcow mailbox 3 -\n", "db maildb mailcow mailbox x -\n",
		  "db rows not a number" },
		{ "db maildb mailcow mailbox 3 -\n", "db maildb mailcow mailbox 3\n",
		  "db without checksum" },
		{ "db maildb mailcow mailbox 3 -\n", "db maildb mail%00 mailbox 3 -\n",
		  "db name with an escaped NUL" },
		{ "meta maildb version 10.11.6-MariaDB\n", "meta maildb version\n",
		  "meta without value" },
		{ "meta maildb version 10.11.6-MariaDB\n", "meta maildb version a b\n",
		  "meta with a trailing field" },
		{ "e vmail d 755 0 0 0 0 - .\n", "e vmail d 755 0 0 0 0 - ..\n",
		  "an entry with '..'" },
		{ "e vmail d 755 0 0 0 0 - .\n", "e vmail d 755 0 0 0 0 - /etc\n",
		  "an absolute entry" },
		{ "e vmail d 755 0 0 0 0 - .\n", "e vmail d 755 0 0 0 0 " SHA_A " .\n",
		  "a directory with a sha" },
		{ "e vmail d 755 0 0 0 0 - .\n", "x vmail d 755 0 0 0 0 - .\n",
		  "an unknown line" },
		{ "e vmail d 755 0 0 0 0 - .\n", "\n", "an empty line" },
		{ "e vmail d 755 0 0 0 0 - .\n", "e\n", "a bare 'e'" },
		{ "e vmail d 755 0 0 0 0 - .\n", " e vmail d 755 0 0 0 0 - .\n",
		  "a leading blank" },
	};
	struct mbi_manifest m;
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(t); i++) {
		size_t len;
		char *text = edit(t[i].from, t[i].to, &len);
		int rc = mbi_manifest_parse(ctx, text, len, &m, "snap-x");

		is_int(rc, MB_E_VERIFY, "refused: %s", t[i].why);
		if (rc) {
			free(text);
		} else {
			mbi_manifest_release(&m);
		}
	}
	ok(strstr(mb_ctx_errmsg(ctx), "manifest 'snap-x' is malformed at line") !=
	   NULL, "the message names the object and line");

	{
		size_t len = sizeof(good_manifest) - 1;
		char *text = malloc(len);
		int rc;

		memcpy(text, good_manifest, len);
		text[40] = '\0';
		rc = mbi_manifest_parse(ctx, text, len, &m, "nul");
		is_int(rc, MB_E_VERIFY, "a NUL byte is refused");
		if (rc)
			free(text);
		else
			mbi_manifest_release(&m);
		text = malloc(1);
		rc = mbi_manifest_parse(ctx, text, 0, &m, "empty");
		is_int(rc, MB_E_VERIFY, "an empty text is refused");
		if (rc)
			free(text);
		else
			mbi_manifest_release(&m);
	}
	{
		size_t len;
		char *text = edit("id 0123456789abcdef\n",
				  "id 0123456789abcdef\nid fedcba9876543210\n",
				  &len);

		if (!mbi_manifest_parse(ctx, text, len, &m, "x")) {
			is_str(m.id, "fedcba9876543210",
			       "two id lines: the last one counts");
			mbi_manifest_release(&m);
		} else {
			free(text);
			ok(0, "two id lines parse");
		}
	}
}

/*
 * Regression (was a bug): mbi_manifest_parse cuts header lines into fields with NUL
 * bytes and unescapes some of them in place; mbi_manifest_foreach then
 * takes every NUL-or-newline separated piece that starts with "e " for an
 * entry. A database or table name that starts with "e " (legal in MariaDB
 * with backquotes), escaped as "e%20...", becomes such a piece: foreach
 * fails with MB_E_VERIFY (the snapshot cannot be listed or restored), or,
 * when the name is a whole entry line, reports an entry that the manifest
 * does not hold (and that "end N" did not count).
 */
static void test_foreach_header_values(void)
{
	static const char t1[] =
		"mailbackup-manifest 1\nid 0123456789abcdef\n"
		"db maildb mailcow e%20x 1 2\n"
		"e maildb f 600 0 0 0 10 " SHA_B " db/mailcow/e%20x.sql\n"
		"end 1\n";
	static const char t2[] =
		"mailbackup-manifest 1\nid 0123456789abcdef\n"
		"meta s k e%20s%20f%20644%200%200%200%200%20" SHA_A "%20ghost\n"
		"end 0\n";
	struct mbi_manifest m;
	struct seen s;

	if (!parse_text(t1, sizeof(t1) - 1, &m)) {
		memset(&s, 0, sizeof(s));
		is_int(mbi_manifest_foreach(ctx, &m, collect, &s), MB_OK,
		       "BUG: a table named 'e x' does not break foreach");
		is_int(s.n, 1, "BUG: and foreach sees the one entry");
		mbi_manifest_release(&m);
	} else {
		ok(0, "a table named 'e x' parses");
	}
	if (!parse_text(t2, sizeof(t2) - 1, &m)) {
		memset(&s, 0, sizeof(s));
		mbi_manifest_foreach(ctx, &m, collect, &s);
		is_int(s.n, (int)m.nentries,
		       "BUG: foreach sees no entry that end did not count");
		mbi_manifest_release(&m);
	} else {
		ok(0, "a meta value with blanks parses");
	}
	tap_todo = NULL;

	/*
	 * Also reported: the writer escapes meta keys (backup.c
	 * em_add_meta), the parser leaves them escaped.
	 */
	{
		static const char t3[] =
			"mailbackup-manifest 1\nid 0123456789abcdef\n"
			"meta s binlog%20file x\nend 0\n";

		if (!parse_text(t3, sizeof(t3) - 1, &m)) {
			is_str(m.meta[0].key, "binlog file",
			       "BUG: a meta key is unescaped like its value");
			tap_todo = NULL;
			mbi_manifest_release(&m);
		} else {
			ok(0, "an escaped meta key parses");
		}
	}
}

int main(void)
{
	if (mb_ctx_new(&ctx))
		return 1;
	test_roundtrip();
	test_rejects();
	test_manifest();
	test_manifest_bad();
	test_foreach_header_values();
	mb_ctx_free(ctx);
	return tap_done();
}
