/* SPDX-License-Identifier: MIT */
/* test-index.c: the in-memory index (sha256 -> pack) and index object texts. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define NBLOBS 100000
#define NPACKS 37

static struct mb_ctx *ctx;

static void blob_sha(uint32_t i, unsigned char sha[MBI_SHA256_LEN])
{
	mbi_sha256_buf(&i, sizeof(i), sha);
}

static void pack_name(uint32_t i, char name[MBI_SHA256_HEX])
{
	unsigned char sha[MBI_SHA256_LEN];
	char s[32];

	snprintf(s, sizeof(s), "pack-%u", i);
	mbi_sha256_buf(s, strlen(s), sha);
	mbi_hex(sha, MBI_SHA256_LEN, name);
}

/* An index with NPACKS packs and NBLOBS blobs, blob i in pack i % NPACKS. */
static int fill(struct mbi_index *ix)
{
	uint32_t i, p;

	if (mbi_index_init(ix, ctx))
		return -1;
	for (i = 0; i < NPACKS; i++) {
		char name[MBI_SHA256_HEX];

		pack_name(i, name);
		if (mbi_index_add_pack(ix, name, 1000 + i, &p) || p != i)
			return -1;
	}
	for (i = 0; i < NBLOBS; i++) {
		unsigned char sha[MBI_SHA256_LEN];

		blob_sha(i, sha);
		if (mbi_index_add_blob(ix, sha, i % NPACKS, i))
			return -1;
	}
	return 0;
}

/* Every blob of fill() is found with its pack and size. */
static int check_all(struct mbi_index *ix, uint32_t first_pack)
{
	uint32_t i;
	int bad = 0;

	for (i = 0; i < NBLOBS; i++) {
		unsigned char sha[MBI_SHA256_LEN];
		const struct mbi_blobref *r;
		uint32_t want = i % NPACKS;

		blob_sha(i, sha);
		r = mbi_index_find(ix, sha);
		if (want < first_pack) {
			if (r)
				bad++;
			continue;
		}
		if (!r || r->pack != want - first_pack || r->size != i)
			bad++;
	}
	return bad;
}

static void test_add_find(void)
{
	struct mbi_index ix;
	unsigned char sha[MBI_SHA256_LEN], zero[MBI_SHA256_LEN] = { 0 };
	uint32_t i, p, missing = 0;
	size_t cap0 = 0;

	if (fill(&ix)) {
		ok(0, "fill an index with %d blobs", NBLOBS);
		return;
	}
	ok(1, "fill an index with %d blobs", NBLOBS);
	is_int(ix.count, NBLOBS, "count");
	ok(ix.cap >= ix.count * 4 / 3 && !(ix.cap & (ix.cap - 1)),
	   "the table grew to a power of two above 3/4 load (%zu)", ix.cap);
	is_int(ix.npacks, NPACKS, "packs");
	is_int(check_all(&ix, 0), 0, "every blob is found with pack and size");
	for (i = NBLOBS; i < NBLOBS + 10000; i++) {
		blob_sha(i, sha);
		if (mbi_index_find(&ix, sha))
			missing++;
	}
	is_int(missing, 0, "10000 unknown blobs are not found");
	{
		uint32_t sum = 0;

		for (i = 0; i < NPACKS; i++)
			sum += ix.packs[i].nblobs;
		is_int(sum, NBLOBS, "nblobs of the packs add up");
		is_int(ix.packs[0].nblobs, (NBLOBS + NPACKS - 1) / NPACKS,
		       "pack 0 holds its share");
	}

	/* a blob already known: the first pack wins */
	blob_sha(5, sha);
	is_int(mbi_index_add_blob(&ix, sha, 0, 999), MB_OK,
	       "adding a known blob is fine");
	is_int(ix.count, NBLOBS, "and does not count twice");
	ok(mbi_index_find(&ix, sha)->pack == 5 % NPACKS &&
	   mbi_index_find(&ix, sha)->size == 5, "the first pack wins");
	is_int(mbi_index_add_blob(&ix, zero, 0, 1), MB_E_INVAL,
	       "the all-zero key is refused");
	ok(mbi_index_find(&ix, zero) == NULL, "and never found");
	is_int(mbi_index_add_pack(&ix, "abc", 1, &p), MB_E_INVAL,
	       "a pack name that is no sha256 is refused");
	/* a placeholder pack number (a pack being written) is fine */
	blob_sha(NBLOBS + 1, sha);
	is_int(mbi_index_add_blob(&ix, sha, UINT32_MAX, 7), MB_OK,
	       "a blob of a placeholder pack");
	ok(mbi_index_find(&ix, sha) &&
	   mbi_index_find(&ix, sha)->pack == UINT32_MAX, "is found");
	mbi_index_release(&ix);

	/* growth from an empty index, blob by blob */
	if (!mbi_index_init(&ix, ctx)) {
		int bad = 0;

		cap0 = ix.cap;
		mbi_index_add_pack(&ix, "0000000000000000000000000000000000000000000000000000000000000001",
				   1, &p);
		for (i = 0; i < 5000; i++) {
			blob_sha(i, sha);
			mbi_index_add_blob(&ix, sha, p, i);
			blob_sha(i / 2, sha);
			if (!mbi_index_find(&ix, sha))
				bad++;
		}
		ok(ix.cap > cap0, "the table grows (%zu -> %zu)", cap0, ix.cap);
		is_int(bad, 0, "blobs are found while it grows");
		mbi_index_release(&ix);
	}
}

static void test_format_parse(void)
{
	struct mbi_index ix, back, part;
	struct mbi_buf b = { 0 }, b2 = { 0 };
	size_t lines = 0, i;

	if (fill(&ix)) {
		ok(0, "fill");
		return;
	}
	is_int(mbi_index_format(&ix, 0, &b), MB_OK, "format all packs");
	for (i = 0; i < b.len; i++)
		lines += b.data[i] == '\n';
	is_int(lines, 1 + NPACKS + NBLOBS + 1, "magic, p lines, b lines, end");
	ok(!strncmp(b.data, "mailbackup-index 1\np ", 21) &&
	   b.len > 4 && !strcmp(b.data + b.len - 4, "end\n"),
	   "starts with the magic, ends with end");
	mbi_index_init(&back, ctx);
	is_int(mbi_index_parse(&back, b.data, b.len, "ix"), MB_OK,
	       "parse it back");
	is_int(back.count, NBLOBS, "same count");
	is_int(back.npacks, NPACKS, "same packs");
	ok(back.npacks == NPACKS && !strcmp(back.packs[3].name, ix.packs[3].name) &&
	   back.packs[3].size == ix.packs[3].size &&
	   back.packs[3].nblobs == ix.packs[3].nblobs, "pack 3 is the same");
	is_int(check_all(&back, 0), 0, "every blob is found after the round trip");
	is_int(mbi_index_format(&back, 0, &b2), MB_OK, "format again");
	is_int(b2.len, b.len, "the same length");
	mbi_buf_release(&b2);

	/* parsing a second object adds to the same index */
	is_int(mbi_index_parse(&back, b.data, b.len, "ix2"), MB_OK,
	       "parse a second object into it");
	is_int(back.npacks, 2 * NPACKS, "its packs are added");
	is_int(back.count, NBLOBS, "its known blobs are not");
	mbi_index_release(&back);
	mbi_buf_release(&b);

	/* only the packs from first_pack on */
	is_int(mbi_index_format(&ix, 30, &b), MB_OK, "format packs 30..");
	mbi_index_init(&part, ctx);
	is_int(mbi_index_parse(&part, b.data, b.len, "part"), MB_OK,
	       "parse it");
	is_int(part.npacks, NPACKS - 30, "7 packs");
	is_int(check_all(&part, 30), 0,
	       "exactly the blobs of those packs, renumbered");
	mbi_index_release(&part);
	mbi_buf_release(&b);
	mbi_index_release(&ix);

	/* an index without packs */
	mbi_index_init(&ix, ctx);
	is_int(mbi_index_format(&ix, 0, &b), MB_OK, "format an empty index");
	is_str(b.data, "mailbackup-index 1\nend\n", "magic and end");
	mbi_index_init(&back, ctx);
	is_int(mbi_index_parse(&back, b.data, b.len, "empty"), MB_OK,
	       "parse it");
	is_int(back.count + back.npacks, 0, "nothing in it");
	mbi_index_release(&back);
	mbi_buf_release(&b);
	/* a pack without blobs */
	mbi_index_add_pack(&ix, "0000000000000000000000000000000000000000000000000000000000000001",
			   5, &(uint32_t){ 0 });
	mbi_index_format(&ix, 0, &b);
	is_str(b.data, "mailbackup-index 1\np 0000000000000000000000000000000000000000000000000000000000000001 5 0\nend\n",
	       "a pack without blobs");
	mbi_buf_release(&b);
	mbi_index_release(&ix);
}

#define P1 "p 1111111111111111111111111111111111111111111111111111111111111111 100 2\n"
#define Q1 "q 1111111111111111111111111111111111111111111111111111111111111111 100 2\n"
#define B1 "b aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 10\n"
#define B2 "b bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 20\n"

static void test_parse_bad(void)
{
	static const struct {
		const char *text, *why;
		int rc;
	} t[] = {
		{ "mailbackup-index 1\n" P1 B1 B2 "end\n", "a good object", MB_OK },
		{ "mailbackup-index 1\n" P1 B1 B1 "end\n",
		  "a blob twice in a pack, counted twice", MB_OK },
		{ "mailbackup-index 1\n" P1 B1 "end\n", "fewer blobs than the count",
		  MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1 B2 B2 "end\n", "more blobs than the count",
		  MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1 P1 B1 B2 "end\n",
		  "count mismatch before the next pack", MB_E_VERIFY },
		{ "mailbackup-index 1\n" B1 "end\n", "a blob before any pack",
		  MB_E_VERIFY },
		{ "mailbackup-index 3\n" P1 B1 B2 "end\n", "another version",
		  MB_E_VERIFY },
		{ "mailbackup-index 1\n" Q1 B1 B2 "end\n",
		  "a listing pack in a version-1 object", MB_E_VERIFY },
		{ P1 B1 B2 "end\n", "no magic", MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1 B2, "no end", MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1 B2 "end", "no final newline",
		  MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1 B2 "end\nend\n", "end twice",
		  MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1 B2 "end\n" P1, "a pack after end",
		  MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1 B2 "\nend\n", "an empty line",
		  MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1 B2 "end \n", "'end '", MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1
		  "b BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB 20\nend\n",
		  "upper case blob", MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1
		  "b bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 20\nend\n",
		  "63 digit blob", MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1
		  "b bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 20\nend\n",
		  "65 digit blob", MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1
		  "b bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\nend\n",
		  "blob without size", MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1
		  "b bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 20 x\nend\n",
		  "blob with a trailing field", MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1
		  "b bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 2x\nend\n",
		  "blob size with junk", MB_E_VERIFY },
		{ "mailbackup-index 1\n" P1 B1
		  "b 0000000000000000000000000000000000000000000000000000000000000000 20\nend\n",
		  "the all-zero blob", MB_E_VERIFY },
		{ "mailbackup-index 1\n"
		  "p 111111111111111111111111111111111111111111111111111111111111111 100 0\nend\n",
		  "63 digit pack", MB_E_VERIFY },
		{ "mailbackup-index 1\n"
		  "p 1111111111111111111111111111111111111111111111111111111111111111 100\nend\n",
		  "pack without count", MB_E_VERIFY },
		{ "mailbackup-index 1\n"
		  "p 1111111111111111111111111111111111111111111111111111111111111111 100 0 0\nend\n",
		  "pack with a trailing field", MB_E_VERIFY },
		{ "mailbackup-index 1\n"
		  "q 1111111111111111111111111111111111111111111111111111111111111111 100 0\nend\n",
		  "unknown line", MB_E_VERIFY },
		{ "", "empty", MB_E_VERIFY },
	};
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(t); i++) {
		struct mbi_index ix;

		mbi_index_init(&ix, ctx);
		is_int(mbi_index_parse(&ix, t[i].text, strlen(t[i].text),
				       "index/x"), t[i].rc, "%s: %s", t[i].why,
		       t[i].rc ? "refused" : "accepted");
		mbi_index_release(&ix);
	}
	ok(strstr(mb_ctx_errmsg(ctx), "index object 'index/x' is malformed at line") != NULL,
	   "the message names the object and the line");

	{
		struct mbi_index ix;
		struct mbi_buf b = { 0 };

		mbi_buf_addstr(&b, "mailbackup-index 1\n" P1 B1 "b ");
		for (i = 0; i < 300; i++)
			mbi_buf_addstr(&b, "b");
		mbi_buf_addstr(&b, " 1\nend\n");
		mbi_index_init(&ix, ctx);
		is_int(mbi_index_parse(&ix, b.data, b.len, "long"), MB_E_VERIFY,
		       "a line of 300 bytes is refused");
		mbi_index_release(&ix);
		mbi_buf_release(&b);
	}
	{
		static const char nul[] = "mailbackup-index 1\n" P1 B1 B2 "end\n";
		char copy[sizeof(nul)];
		struct mbi_index ix;

		memcpy(copy, nul, sizeof(nul));
		copy[19 + 10] = '\0';
		mbi_index_init(&ix, ctx);
		is_int(mbi_index_parse(&ix, copy, sizeof(nul) - 1, "nul"),
		       MB_E_VERIFY, "a NUL byte is refused");
		mbi_index_release(&ix);
	}
	{
		/*
		 * Regression (was a bug): sscanf's %llu and %u take a sign, so
		 * "-1" is read as 2^64-1 / 2^32-1 instead of being refused.
		 */
		static const char neg[] = "mailbackup-index 1\n"
			"p 1111111111111111111111111111111111111111111111111111111111111111 -1 0\nend\n";
		struct mbi_index ix;

		mbi_index_init(&ix, ctx);
		is_int(mbi_index_parse(&ix, neg, sizeof(neg) - 1, "neg"),
		       MB_E_VERIFY, "BUG: a negative pack size is refused");
		tap_todo = NULL;
		mbi_index_release(&ix);
	}
}

/* Format 2: "q" marks a listing pack; the magic says version 2. */
static void test_listing_packs(void)
{
	static const char v2[] =
		"mailbackup-index 2\n"
		"p 2222222222222222222222222222222222222222222222222222222222222222 100 1\n"
		B1
		"q 4444444444444444444444444444444444444444444444444444444444444444 50 1\n"
		B2 "end\n";
	struct mbi_index ix;
	struct mbi_buf b = { 0 };

	if (mbi_index_init(&ix, ctx))
		return;
	is_int(mbi_index_parse(&ix, v2, sizeof(v2) - 1, "v2"), MB_OK,
	       "a version-2 index with a listing pack parses");
	ok(ix.npacks == 2 && !ix.packs[0].listing && ix.packs[1].listing,
	   "the q pack is a listing pack, the p pack is not");
	is_int(mbi_index_format(&ix, 0, &b), MB_OK, "it formats");
	is_str(b.data ? b.data : "", v2, "back to the same text, magic 2");
	b.len = 0;
	is_int(mbi_index_format(&ix, 0, &b), MB_OK, "again");
	mbi_index_release(&ix);
	mbi_buf_release(&b);
	if (mbi_index_init(&ix, ctx))
		return;
	mbi_index_parse(&ix, v2, sizeof(v2) - 1, "v2");
	ix.packs[1].listing = false;
	mbi_index_format(&ix, 1, &b);
	ok(b.data && !strncmp(b.data, "mailbackup-index 1\np ", 21),
	   "without a listing pack: version 1, as before");
	mbi_index_release(&ix);
	mbi_buf_release(&b);
	{
		/* a file whose bytes are a listing's text has the listing's
		 * id as its hash: two blobs, one in each kind of pack */
		static const char both[] =
			"mailbackup-index 2\n"
			"p 2222222222222222222222222222222222222222222222222222222222222222 100 1\n"
			B1
			"q 4444444444444444444444444444444444444444444444444444444444444444 50 1\n"
			B1 "end\n";
		unsigned char id[MBI_SHA256_LEN], key[MBI_SHA256_LEN];
		const struct mbi_blobref *c, *l;

		if (mbi_index_init(&ix, ctx))
			return;
		is_int(mbi_index_parse(&ix, both, sizeof(both) - 1, "both"),
		       MB_OK, "content and a listing of the same hash parse");
		memset(id, 0xaa, sizeof(id));
		mbi_listing_key(id, key);
		c = mbi_index_find(&ix, id);
		l = mbi_index_find(&ix, key);
		ok(c && c->pack == 0 && l && l->pack == 1,
		   "the content is found in the content pack, the listing in the listing pack");
		is_int(mbi_index_format(&ix, 0, &b), MB_OK, "it formats");
		is_str(b.data ? b.data : "", both, "back to the same text");
		mbi_index_release(&ix);
		mbi_buf_release(&b);
	}
}

int main(void)
{
	if (mb_ctx_new(&ctx))
		return 1;
	test_add_find();
	test_format_parse();
	test_parse_bad();
	test_listing_packs();
	mb_ctx_free(ctx);
	return tap_done();
}
