/* SPDX-License-Identifier: MIT */
/* test-listing.c: format 2's listings: deterministic serialization, and
 * the expansion of a version-2 manifest into the entries of a version-1
 * one. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

static struct mb_ctx *ctx;

#define SHA_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define SHA_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

/* An in-memory store of listings: what a listing pack would hold. */
struct store {
	unsigned char id[64][MBI_SHA256_LEN];
	char *text[64];
	size_t len[64], n, calls;
};

static int put(void *ud, const unsigned char *id, const char *text,
	       size_t len)
{
	struct store *s = ud;
	size_t i;

	s->calls++;
	for (i = 0; i < s->n; i++)
		if (!memcmp(s->id[i], id, MBI_SHA256_LEN))
			return MB_OK;
	if (s->n == 64)
		return MB_E_NOMEM;
	memcpy(s->id[s->n], id, MBI_SHA256_LEN);
	s->text[s->n] = strndup(text, len);
	s->len[s->n++] = len;
	return MB_OK;
}

static int get(void *ud, const unsigned char *id, const char **text,
	       size_t *len)
{
	struct store *s = ud;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!memcmp(s->id[i], id, MBI_SHA256_LEN)) {
			*text = s->text[i];
			*len = s->len[i];
			return MB_OK;
		}
	return mbi_error(ctx, MB_E_VERIFY, 0, "no such listing");
}

static void store_free(struct store *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->text[i]);
	memset(s, 0, sizeof(*s));
}

static const char *const tree[] = {
	"e vmail d 755 5000 5000 1735689600000000000 0 - .",
	"e vmail d 700 5000 5000 1735689600000000000 0 - a.org",
	"e vmail d 700 5000 5000 1735689600000000000 0 - a.org/info",
	"e vmail d 700 5000 5000 1735689600000000000 0 - a.org/info/cur",
	"e vmail f 600 5000 5000 1734825600000000000 609 " SHA_A
	" a.org/info/cur/1734825600.M1P2.mx,S=609:2,S",
	"e vmail f 600 5000 5000 1734825600000000001 9 " SHA_B
	" a.org/info/cur/1734825601.M1P2.mx%20sp,S=9:2,",
	"e vmail d 700 5000 5000 1735689600000000000 0 - a.org/info/.Odd%20Folder",
	"e vmail d 700 5000 5000 1735689600000000000 0 - a.org/info/.Odd%20Folder/cur",
	"e vmail l 777 5000 5000 1735257600000000000 0 - a.org/info/.dovecot.sieve sieve/x.sieve",
	"e vmail f 644 0 0 -5 4 " SHA_B " a.org/info/dovecot-uidlist",
	"e vmail d 700 5000 5000 1735689600000000000 0 - b.org",
	"e vmail f 600 5000 5000 1 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 b.org/empty",
	"e vmail f 644 0 0 7 4 " SHA_A " db/mailcow/_schema.sql",
};
#define NTREE (sizeof(tree) / sizeof(*tree))

static int build(const char *const *lines, size_t n, struct store *s,
		 unsigned char root[MBI_SHA256_LEN])
{
	char **v = calloc(n + 1, sizeof(*v));
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		v[i] = strdup(lines[i]);
	rc = mbi_listing_build(ctx, "vmail", v, n, put, s, root);
	mbi_strv_free(v, n);
	return rc;
}

static const char *find_text(struct store *s, const char *start)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strstr(s->text[i], start))
			return s->text[i];
	return NULL;
}

static void test_determinism(void)
{
	struct store s1 = { 0 }, s2 = { 0 };
	unsigned char r1[MBI_SHA256_LEN], r2[MBI_SHA256_LEN];
	const char *rev[NTREE];
	const char *cur;
	size_t i;

	is_int(build(tree, NTREE, &s1, r1), MB_OK, "the tree builds");
	/* root, a.org, info, cur, .Odd Folder, .Odd Folder/cur, b.org, db,
	 * db/mailcow: the two empty cur/ share one listing? no: one is
	 * empty, the other holds two files */
	is_int(s1.calls, 9, "one listing per directory, implicit ones too");
	for (i = 0; i < NTREE; i++)
		rev[i] = tree[NTREE - 1 - i];
	is_int(build(rev, NTREE, &s2, r2), MB_OK, "reversed, it builds");
	ok(!memcmp(r1, r2, MBI_SHA256_LEN),
	   "the order of the entries does not change the root id");
	is_int(s1.n, s2.n, "and gives as many listings");
	for (i = 0; i < s1.n && i < s2.n; i++)
		ok(s1.len[i] == s2.len[i] &&
		   !memcmp(s1.text[i], s2.text[i], s1.len[i]),
		   "listing %zu: the same text", i);
	cur = find_text(&s1, "f 1734825600.M1P2");
	is_str(cur ? cur : "",
	       "mailbackup-listing 1\n"
	       "self 700 5000 5000 1735689600000000000\n"
	       "f 1734825600.M1P2.mx,S=609:2,S 600 5000 5000 1734825600000000000 609 " SHA_A "\n"
	       "f 1734825601.M1P2.mx%20sp,S=9:2, 600 5000 5000 1734825600000000001 9 " SHA_B "\n",
	       "a listing's exact text: self first, children by escaped name");
	ok(find_text(&s1, "d .Odd%20Folder ") && find_text(&s1, "l .dovecot.sieve 777 5000 5000 1735257600000000000 sieve/x.sieve\n"),
	   "subdirectories by their listing's id, links with their target");
	cur = find_text(&s1, "f _schema.sql");
	ok(cur && !strstr(cur, "self"),
	   "a directory without an entry of its own has no self line");
	store_free(&s2);
	{
		/* one file changed: its directory and the parents change, a
		 * sibling directory keeps its listing (and so its id) */
		const char *ch[NTREE];

		memcpy(ch, tree, sizeof(ch));
		ch[11] = "e vmail f 600 5000 5000 2 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 b.org/empty";
		is_int(build(ch, NTREE, &s2, r2), MB_OK, "a changed tree builds");
		ok(memcmp(r1, r2, MBI_SHA256_LEN), "its root id differs");
		ok(find_text(&s2, "f 1734825600.M1P2") &&
		   !strcmp(find_text(&s2, "f 1734825600.M1P2"),
			   find_text(&s1, "f 1734825600.M1P2")),
		   "an unchanged directory has the same listing");
		store_free(&s2);
	}
	store_free(&s1);
}

struct collect {
	char *lines[64];
	size_t n;
};

static int on_entry(void *ud, struct mbi_mentry *e)
{
	struct collect *c = ud;
	struct mbi_buf b = { 0 };

	if (c->n == 64 || mbi_manifest_format_entry(&b, e))
		return MB_E_NOMEM;
	b.data[b.len - 1] = '\0';
	c->lines[c->n++] = b.data;
	return MB_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_expand(void)
{
	struct store s = { 0 };
	unsigned char root[MBI_SHA256_LEN];
	char hex[MBI_SHA256_HEX];
	struct mbi_buf text = { 0 }, out = { 0 }, ids = { 0 };
	struct mbi_manifest m;
	struct collect c = { { 0 }, 0 };
	char *want[NTREE];
	size_t i;
	bool same = true;

	if (build(tree, NTREE, &s, root)) {
		ok(0, "build");
		return;
	}
	mbi_hex(root, MBI_SHA256_LEN, hex);
	mbi_buf_printf(&text, "mailbackup-manifest 2\nid 0123456789abcdef\n"
		       "time 1735689600\nhost mx\nsource vmail maildir /v\n"
		       "tree vmail %s\nend %zu\n", hex, NTREE);
	ok(mbi_manifest_is_v2(text.data, text.len), "a version-2 manifest");
	is_int(mbi_listing_expand_manifest(ctx, text.data, text.len, get, &s,
					   &out, &ids, "t"),
	       MB_OK, "it expands");
	is_int(ids.len / MBI_SHA256_LEN, 9, "through every listing");
	if (mbi_manifest_parse(ctx, out.data, out.len, &m, "t")) {
		ok(0, "the expansion parses as a version-1 manifest: %s",
		   mb_ctx_errmsg(ctx));
	} else {
		memset(&out, 0, sizeof(out)); /* owned by m */
		is_int(m.nentries, NTREE, "with every entry");
		is_int(mbi_manifest_foreach(ctx, &m, on_entry, &c), MB_OK,
		       "foreach reads them");
		memcpy(want, tree, sizeof(want));
		qsort(want, NTREE, sizeof(*want), cmp_str);
		qsort(c.lines, c.n, sizeof(*c.lines), cmp_str);
		for (i = 0; i < NTREE && i < c.n; i++)
			if (strcmp(want[i], c.lines[i])) {
				printf("# want %s\n#  got %s\n", want[i],
				       c.lines[i]);
				same = false;
			}
		ok(same && c.n == NTREE,
		   "the same entries as the version-1 lines built from");
		mbi_manifest_release(&m);
	}
	for (i = 0; i < c.n; i++)
		free(c.lines[i]);
	/* a wrong count, a missing listing, an entry line: refused */
	text.len = 0;
	out.len = 0;
	mbi_buf_printf(&text, "mailbackup-manifest 2\nid 0123456789abcdef\n"
		       "tree vmail %s\nend %zu\n", hex, NTREE + 1);
	if (!mbi_listing_expand_manifest(ctx, text.data, text.len, get, &s,
					 &out, NULL, "t"))
		ok(mbi_manifest_parse(ctx, out.data, out.len, &m, "t") ==
		   MB_E_VERIFY, "a wrong entry count is refused");
	text.len = 0;
	out.len = 0;
	hex[0] = hex[0] == 'a' ? 'b' : 'a';
	mbi_buf_printf(&text, "mailbackup-manifest 2\nid 0123456789abcdef\n"
		       "tree vmail %s\nend 1\n", hex);
	is_int(mbi_listing_expand_manifest(ctx, text.data, text.len, get, &s,
					   &out, NULL, "t"),
	       MB_E_VERIFY, "a listing that is not there is refused");
	text.len = 0;
	out.len = 0;
	mbi_buf_printf(&text, "mailbackup-manifest 2\nid 0123456789abcdef\n"
		       "e vmail d 755 0 0 0 0 - .\nend 1\n");
	is_int(mbi_listing_expand_manifest(ctx, text.data, text.len, get, &s,
					   &out, NULL, "t"),
	       MB_E_VERIFY, "an entry line in a version-2 manifest is refused");
	mbi_buf_release(&text);
	mbi_buf_release(&out);
	mbi_buf_release(&ids);
	store_free(&s);
}

static int noop(void *ud, const char *const *p, const size_t *l, int n)
{
	(void)ud;
	(void)p;
	(void)l;
	(void)n;
	return MB_OK;
}

static void parse_bad(const char *text, const char *what)
{
	size_t bad = 0;

	is_int(mbi_listing_parse(text, strlen(text), noop, NULL, &bad),
	       MB_E_VERIFY, "refused: %s", what);
}

static void test_parse(void)
{
	static const char good[] = "mailbackup-listing 1\nself 700 0 0 1\n"
				   "d a " SHA_A "\nf b 600 0 0 1 4 " SHA_B
				   "\nl c 777 0 0 1 x\n";
	size_t bad = 0;

	is_int(mbi_listing_parse(good, strlen(good), noop, NULL, &bad), MB_OK,
	       "a listing parses");
	parse_bad("", "empty");
	parse_bad("mailbackup-listing 2\n", "another version");
	parse_bad("mailbackup-listing 1", "no newline");
	parse_bad("mailbackup-listing 1\nf b 600 0 0 1 4 " SHA_B "\nself 700 0 0 1\n",
		  "self after a child");
	parse_bad("mailbackup-listing 1\nf b 600 0 0 1 4 " SHA_B "\nf a 600 0 0 1 4 " SHA_B "\n",
		  "children out of order");
	parse_bad("mailbackup-listing 1\nf a 600 0 0 1 4 " SHA_B "\nd a " SHA_A "\n",
		  "a name twice");
	parse_bad("mailbackup-listing 1\nd a/b " SHA_A "\n", "a slash in a name");
	parse_bad("mailbackup-listing 1\nd .. " SHA_A "\n", "a dot-dot name");
	parse_bad("mailbackup-listing 1\nd a " SHA_A "0\n", "a long id");
	parse_bad("mailbackup-listing 1\nd a 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n",
		  "an upper-case id");
	parse_bad("mailbackup-listing 1\nf a  600 0 0 1 4 " SHA_B "\n",
		  "two spaces");
	parse_bad("mailbackup-listing 1\nx a\n", "an unknown line");
}

static void test_build_bad(void)
{
	static const char *const dup[] = {
		"e s f 600 0 0 1 4 " SHA_A " a",
		"e s f 600 0 0 1 4 " SHA_A " a/b",
	};
	static const char *const twice[] = {
		"e s f 600 0 0 1 4 " SHA_A " a",
		"e s f 600 0 0 1 4 " SHA_B " a",
	};
	static const char *const junk[] = { "e s f 600 0 0 1 4 nohash a" };
	struct store s = { 0 };
	unsigned char root[MBI_SHA256_LEN];

	is_int(build(dup, 2, &s, root), MB_E_INVAL,
	       "a file that is also a directory is refused");
	store_free(&s);
	is_int(build(twice, 2, &s, root), MB_E_INVAL,
	       "a path twice is refused");
	store_free(&s);
	is_int(build(junk, 1, &s, root), MB_E_INVAL,
	       "a malformed entry is refused");
	store_free(&s);
	is_int(build(NULL, 0, &s, root), MB_OK, "no entries: an empty root");
	is_str(s.n ? s.text[0] : "", "mailbackup-listing 1\n",
	       "the empty listing");
	store_free(&s);
}

int main(void)
{
	if (mb_ctx_new(&ctx))
		return 1;
	test_determinism();
	test_expand();
	test_parse();
	test_build_bad();
	mb_ctx_free(ctx);
	return tap_done();
}
