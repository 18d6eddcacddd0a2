/* SPDX-License-Identifier: MIT */
/* test-lsort.c: the sort of a snapshot's entry lines for its listings
 * (repo/lsort.c): the order (source, then path with '/' before every
 * byte, the root first), the same lines in the same order whether they
 * stay in memory or go through many sorted runs on disk, and the errors. */
#include "mb-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

static struct mb_ctx *ctx;

#define SHA "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define NLINES 2400

static char *lines[NLINES];
static size_t nlines;

static void add(const char *src, char type, const char *path)
{
	char buf[512];

	if (type == 'd')
		snprintf(buf, sizeof(buf), "e %s d 700 1 1 5 0 - %s", src, path);
	else if (type == 'l')
		snprintf(buf, sizeof(buf), "e %s l 777 1 1 5 0 - %s t/x", src,
			 path);
	else
		snprintf(buf, sizeof(buf), "e %s f 600 1 1 5 3 " SHA " %s", src,
			 path);
	lines[nlines++] = strdup(buf);
}

/* Names around '/' in byte order: "a" "a-b" "a.b" "a/x" "a0". */
static void make_tree(void)
{
	static const char *const srcs[] = { "vmail", "conf", "dkim" };
	char p[256];
	size_t s, d, f;

	for (s = 0; s < 3; s++) {
		add(srcs[s], 'd', ".");
		add(srcs[s], 'd', "a");
		add(srcs[s], 'f', "a-b");
		add(srcs[s], 'f', "a.b");
		add(srcs[s], 'l', "a/x");
		add(srcs[s], 'f', "a0");
		for (d = 0; d < 20; d++) {
			snprintf(p, sizeof(p), "dom%zu", d);
			add(srcs[s], 'd', p);
			snprintf(p, sizeof(p), "dom%zu/cur", d);
			add(srcs[s], 'd', p);
			for (f = 0; f < 36; f++) {
				snprintf(p, sizeof(p), "dom%zu/cur/%zu.M%zu%%20x",
					 d, f * 7919 % 1000, f);
				add(srcs[s], 'f', p);
			}
		}
	}
}

static void shuffle(void)
{
	unsigned long x = 12345;
	size_t i;

	for (i = nlines - 1; i > 0; i--) {
		size_t j;
		char *t;

		x = x * 6364136223846793005UL + 1442695040888963407UL;
		j = (size_t)(x >> 33) % (i + 1);
		t = lines[i];
		lines[i] = lines[j];
		lines[j] = t;
	}
}

/* Independent of lsort.c: field 9 is the path, "." is the smallest. */
static const char *path_of(const char *l, size_t *len)
{
	int f;

	for (f = 0; f < 9; f++)
		l = strchr(l, ' ') + 1;
	*len = strcspn(l, " ");
	if (*len == 1 && *l == '.')
		*len = 0;
	return l;
}

static int ref_cmp(const char *a, const char *b)
{
	size_t sa = strcspn(a + 2, " "), sb = strcspn(b + 2, " "), la, lb, i;
	const char *pa, *pb;
	int c = strncmp(a + 2, b + 2, sa < sb ? sa : sb);

	if (c || sa != sb)
		return c ? c : sa < sb ? -1 : 1;
	pa = path_of(a, &la);
	pb = path_of(b, &lb);
	for (i = 0; i < la && i < lb; i++) {
		unsigned ca = pa[i] == '/' ? 0 : (unsigned char)pa[i];
		unsigned cb = pb[i] == '/' ? 0 : (unsigned char)pb[i];

		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return la < lb ? -1 : la > lb;
}

/* All lines through a sorter: its output, one string per line. */
static int run_sort(const char *dir, char **out, size_t *n)
{
	struct mbi_lsort *s;
	const char *l;
	size_t i;
	int rc = mbi_lsort_new(ctx, dir, &s);

	*n = 0;
	for (i = 0; !rc && i < nlines; i++)
		rc = mbi_lsort_add(s, lines[i], strlen(lines[i]));
	while (!rc && !(rc = mbi_lsort_next(s, &l)) && l && *n < NLINES)
		out[(*n)++] = strdup(l);
	mbi_lsort_free(s);
	return rc;
}

static void test_order(void)
{
	static char *mem[NLINES], *disk[NLINES];
	char dir[] = "/tmp/test-lsort-XXXXXX";
	size_t nm, nd, i, bad = 0, differ = 0;

	make_tree();
	shuffle();
	is_int(run_sort(NULL, mem, &nm), MB_OK, "the lines sort in memory");
	is_int((int)nm, (int)nlines, "every line comes out once");
	for (i = 1; i < nm; i++)
		bad += ref_cmp(mem[i - 1], mem[i]) >= 0;
	is_int((int)bad, 0, "by source, then path with '/' before any byte");
	is_str(mem[0], "e conf d 700 1 1 5 0 - .", "the root comes first");
	ok(strstr(mem[1], " a") && strstr(mem[2], " a/x") &&
	   strstr(mem[3], " a-b") && strstr(mem[4], " a.b") &&
	   strstr(mem[5], " a0"),
	   "a, a/x, a-b, a.b, a0: a directory's subtree before its siblings");
	ok(mkdtemp(dir) != NULL, "a directory for runs");
	setenv("MB_TEST_LSORT_RUN", "500", 1);
	is_int(run_sort(dir, disk, &nd), MB_OK,
	       "the lines sort in runs of 500 bytes on disk");
	is_int((int)nd, (int)nm, "as many lines from the runs");
	for (i = 0; i < nd && i < nm; i++)
		differ += strcmp(mem[i], disk[i]) != 0;
	is_int((int)differ, 0, "the runs merge into the order of memory");
	for (i = 0; i < nm; i++)
		free(mem[i]);
	for (i = 0; i < nd; i++)
		free(disk[i]);
	rmdir(dir);
}

static void test_errors(void)
{
	struct mbi_lsort *s;
	size_t i;
	int rc = MB_OK;

	setenv("MB_TEST_LSORT_RUN", "500", 1);
	is_int(mbi_lsort_new(ctx, "/nonexistent/mb-lsort", &s), MB_OK,
	       "a sorter with a missing directory");
	for (i = 0; !rc && i < nlines; i++)
		rc = mbi_lsort_add(s, lines[i], strlen(lines[i]));
	is_int(rc, MB_E_IO, "its first run cannot be written: an I/O error");
	ok(strstr(mb_ctx_errmsg(ctx), "cannot create a sort file in '/nonexistent/mb-lsort'") != NULL,
	   "naming the directory: %s", mb_ctx_errmsg(ctx));
	mbi_lsort_free(s);
	unsetenv("MB_TEST_LSORT_RUN");

	mbi_lsort_new(ctx, NULL, &s);
	is_int(mbi_lsort_add(s, "x vmail", 7), MB_E_INVAL, "not an entry");
	ok(strstr(mb_ctx_errmsg(ctx), "not an entry: 'x vmail'") != NULL,
	   "says so: %s", mb_ctx_errmsg(ctx));
	is_int(mbi_lsort_add(s, "e vmail d 700 1 1", 17), MB_E_INVAL,
	       "an entry of too few fields");
	ok(strstr(mb_ctx_errmsg(ctx), "cannot list source 'vmail': malformed entry") != NULL,
	   "names its source: %s", mb_ctx_errmsg(ctx));
	mbi_lsort_free(s);
}

int main(void)
{
	size_t i;

	if (mb_ctx_new(&ctx))
		return 1;
	test_order();
	test_errors();
	for (i = 0; i < nlines; i++)
		free(lines[i]);
	mb_ctx_free(ctx);
	return tap_done();
}
