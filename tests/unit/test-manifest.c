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

/*
 * A loaded snapshot keeps its manifest zstd-compressed; parse and foreach
 * decompress it a chunk (256 KiB) at a time. Entries across many chunks,
 * a line longer than a chunk, and damage found by foreach itself: a
 * truncated stream, corrupt bytes, a wrong "end" count.
 */
struct stream_seen {
	size_t n;
	size_t long_len;
	char last[64];
};

static int stream_collect(void *ud, struct mbi_mentry *e)
{
	struct stream_seen *s = ud;
	size_t l = strlen(e->path);

	if (l > 1000)
		s->long_len = l;
	else
		snprintf(s->last, sizeof(s->last), "%.40s", e->path);
	s->n++;
	return MB_OK;
}

/* N numbered entries, one of them with a path of long_path bytes, then
 * "end N + end_off". */
static void big_text(struct mbi_buf *b, size_t n, size_t long_path,
		     int end_off)
{
	struct mbi_mentry e;
	char path[64];
	size_t i;

	memset(&e, 0, sizeof(e));
	mbi_buf_addstr(b, "mailbackup-manifest 1\nid 0123456789abcdef\n"
			  "time 1700000000\nhost mx\n"
			  "source vmail maildir /var/vmail\n");
	e.source = (char *)"vmail";
	e.type = 'f';
	e.mode = 0600;
	e.has_sha = true;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "d%zu/u/cur/%zu.M%zuP1:2,S",
			 i % 10, i, i * 7919);
		e.path = path;
		e.size = i + 1;
		e.mtime_ns = (int64_t)i * 1000000007;
		memcpy(e.sha, &i, sizeof(i));
		if (i == n / 2 && long_path) {
			char *lp = malloc(long_path + 1);
			size_t k;

			for (k = 0; k < long_path; k++)
				lp[k] = k % 2 ? '/' : 'a';
			lp[long_path - 1] = 'z';
			lp[long_path] = '\0';
			e.path = lp;
			mbi_manifest_format_entry(b, &e);
			free(lp);
			continue;
		}
		mbi_manifest_format_entry(b, &e);
	}
	snprintf(path, sizeof(path), "end %zu\n", n + (size_t)end_off);
	mbi_buf_addstr(b, path);
}

/* The compressed text, owned by the caller. */
static unsigned char *squeeze(const struct mbi_buf *b, size_t *zlen)
{
	struct mbi_buf z = { 0 };

	if (mbi_zstd_compress_buf(ctx, b->data, b->len, 1, &z))
		return NULL;
	*zlen = z.len;
	return (unsigned char *)z.data;
}

/* Parse good (compressed), then let foreach read bad instead. */
static int foreach_on(const unsigned char *good, size_t goodlen,
		      const unsigned char *bad, size_t badlen,
		      struct stream_seen *s)
{
	struct mbi_manifest m;
	unsigned char *g = malloc(goodlen), *d = malloc(badlen + 1);
	int rc;

	memcpy(g, good, goodlen);
	memcpy(d, bad, badlen);
	if (mbi_manifest_parse_z(ctx, g, goodlen, &m, "snapshots/t")) {
		free(g);
		free(d);
		return -1000;
	}
	free(m.z);
	m.z = d;
	m.zlen = badlen;
	memset(s, 0, sizeof(*s));
	rc = mbi_manifest_foreach(ctx, &m, stream_collect, s);
	mbi_manifest_release(&m);
	return rc;
}

static void test_stream(void)
{
	enum { N = 60000 };
	struct mbi_buf b = { 0 }, bb = { 0 }, bl = { 0 };
	struct mbi_manifest m;
	struct stream_seen s;
	unsigned char *z, *zb, *zl, *copy;
	size_t zlen, zblen, zllen;
	int rc;

	big_text(&b, N, 600000, 0);
	big_text(&bb, N, 0, 1);
	big_text(&bl, 10, MBI_META_LINE_MAX + 10, 0);
	z = squeeze(&b, &zlen);
	zb = squeeze(&bb, &zblen);
	zl = squeeze(&bl, &zllen);
	if (!z || !zb || !zl) {
		ok(0, "compress the test manifests");
		return;
	}
	ok(b.len > 20 * (256u << 10), "the text spans more than 20 chunks (%zu bytes)",
	   b.len);

	copy = malloc(zlen);
	memcpy(copy, z, zlen);
	rc = mbi_manifest_parse_z(ctx, copy, zlen, &m, "snapshots/big");
	is_int(rc, MB_OK, "a compressed manifest of %d entries parses: %s", N,
	       rc ? mb_ctx_errmsg(ctx) : "");
	if (!rc) {
		is_int(m.nentries, N, "all entries counted");
		is_int(m.nsources, 1, "its header read");
		memset(&s, 0, sizeof(s));
		is_int(mbi_manifest_foreach(ctx, &m, stream_collect, &s), MB_OK,
		       "foreach reads it a chunk at a time");
		is_int(s.n, N, "and sees every entry");
		is_int(s.long_len, 600000,
		       "a line longer than a chunk comes whole");
		is_str(s.last, "d9/u/cur/59999.M475132081P1:2,S",
		       "the last entry is the last one written");
		mbi_manifest_drop_entries(&m);
		memset(&s, 0, sizeof(s));
		is_int(mbi_manifest_foreach(ctx, &m, stream_collect, &s), MB_OK,
		       "foreach after drop_entries");
		is_int(s.n, 0, "sees no entries");
		mbi_manifest_release(&m);
	}

	/* found by parse */
	copy = malloc(zblen);
	memcpy(copy, zb, zblen);
	rc = mbi_manifest_parse_z(ctx, copy, zblen, &m, "snapshots/count");
	is_int(rc, MB_E_VERIFY, "a wrong end count fails parse");
	ok(strstr(mb_ctx_errmsg(ctx), "'snapshots/count' is malformed at line") != NULL,
	   "naming the manifest and line: %s", mb_ctx_errmsg(ctx));
	if (rc)
		free(copy);
	copy = malloc(zlen / 2);
	memcpy(copy, z, zlen / 2);
	rc = mbi_manifest_parse_z(ctx, copy, zlen / 2, &m, "snapshots/half");
	is_int(rc, MB_E_VERIFY, "a truncated stream fails parse");
	ok(strstr(mb_ctx_errmsg(ctx), "'snapshots/half' is truncated after line") != NULL,
	   "saying so: %s", mb_ctx_errmsg(ctx));
	if (rc)
		free(copy);
	copy = malloc(zllen);
	memcpy(copy, zl, zllen);
	rc = mbi_manifest_parse_z(ctx, copy, zllen, &m, "snapshots/long");
	is_int(rc, MB_E_VERIFY, "a line over %d bytes fails parse",
	       MBI_META_LINE_MAX);
	if (rc)
		free(copy);

	/* found by foreach (the stored text changed after parse) */
	rc = foreach_on(z, zlen, z, zlen / 2, &s);
	is_int(rc, MB_E_VERIFY, "foreach: a truncated stream fails");
	ok(s.n > 0 && s.n < N, "after some entries (%zu)", s.n);
	ok(strstr(mb_ctx_errmsg(ctx), "manifest 'snapshots/t' is truncated after line") != NULL,
	   "naming the manifest: %s", mb_ctx_errmsg(ctx));
	memcpy(bl.data, z, zlen); /* scratch: z with one byte flipped */
	((unsigned char *)bl.data)[zlen / 2] ^= 0x55;
	rc = foreach_on(z, zlen, (unsigned char *)bl.data, zlen, &s);
	is_int(rc, MB_E_VERIFY, "foreach: corrupt bytes fail");
	ok(strstr(mb_ctx_errmsg(ctx), "'snapshots/t' is damaged after line") != NULL ||
	   strstr(mb_ctx_errmsg(ctx), "'snapshots/t' is malformed at line") != NULL,
	   "naming the manifest: %s", mb_ctx_errmsg(ctx));
	rc = foreach_on(z, zlen, zb, zblen, &s);
	is_int(rc, MB_E_VERIFY, "foreach: a wrong end count fails");
	is_int(s.n, N, "after every entry");
	ok(strstr(mb_ctx_errmsg(ctx), "'snapshots/t' holds 60000 entries, its end line 60006 counts otherwise") != NULL,
	   "saying so: %s", mb_ctx_errmsg(ctx));
	free(z);
	free(zb);
	free(zl);
	mbi_buf_release(&b);
	mbi_buf_release(&bb);
	mbi_buf_release(&bl);
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
	test_stream();
	mb_ctx_free(ctx);
	return tap_done();
}
