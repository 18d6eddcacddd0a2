/* SPDX-License-Identifier: MIT */
/* test-cache.c: the change-detection cache (dev, ino, size, mtime, ctime). */
#include "mb-private.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

#define REPO_ID "0123456789abcdef0123456789abcdef"

static struct mb_ctx *ctx;
static char root[] = "/tmp/mbt-cache-XXXXXX";

static void sha_of(uint64_t i, unsigned char sha[MBI_SHA256_LEN])
{
	mbi_sha256_buf(&i, sizeof(i), sha);
}

/* Files in dir other than "files" and the lines' key: leftovers of a
 * run. */
static int leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && strcmp(de->d_name, "files") &&
		    strcmp(de->d_name, "listings-key"))
			n++;
	closedir(d);
	return n;
}

static void test_dir(void)
{
	char *dir = mbi_cache_dir(ctx, REPO_ID), *want;
	struct stat st;

	want = mbi_asprintf("%s/cache/%s", root, REPO_ID);
	is_str(dir, want, "the cache dir is cache_dir/REPO_ID");
	ok(dir && !stat(dir, &st) && S_ISDIR(st.st_mode) &&
	   (st.st_mode & 0777) == 0700, "created 0700");
	free(dir);
	free(want);
}

static void test_cycle(void)
{
	struct mbi_cache *c;
	unsigned char sha[MBI_SHA256_LEN], got[MBI_SHA256_LEN];
	char *dir = mbi_cache_dir(ctx, REPO_ID), *path;
	uint64_t i;
	int misses = 0;
	struct stat st;

	if (mbi_cache_open(ctx, REPO_ID, &c)) {
		ok(0, "open a new cache: %s", mb_ctx_errmsg(ctx));
		return;
	}
	ok(1, "open a new cache");
	ok(!mbi_cache_lookup(c, 1, 1, 1, 1, 1, false, got),
	   "an empty cache knows nothing");
	/* records out of order, on two devices */
	for (i = 1000; i > 0; i--) {
		sha_of(i, sha);
		if (mbi_cache_record(c, i % 2 + 1, i * 7, i, (int64_t)i * 1000,
				     (int64_t)i * 2000, sha))
			misses++;
	}
	is_int(misses, 0, "1000 records");
	ok(!mbi_cache_lookup(c, 2, 7, 1, 1000, 2000, false, got),
	   "this run's records are not visible before the next run");
	is_int(mbi_cache_save(c), MB_OK, "save");
	mbi_cache_free(c);
	path = mbi_asprintf("%s/files", dir);
	ok(!stat(path, &st) && st.st_size == 8 + 1000 * 72 &&
	   (st.st_mode & 0777) == 0600, "the file: magic and 1000 records, 0600");
	is_int(leftovers(dir), 0, "no temporary file is left");

	if (mbi_cache_open(ctx, REPO_ID, &c)) {
		ok(0, "open it again");
		goto out;
	}
	misses = 0;
	for (i = 1; i <= 1000; i++) {
		sha_of(i, sha);
		memset(got, 0, sizeof(got));
		if (!mbi_cache_lookup(c, i % 2 + 1, i * 7, i, (int64_t)i * 1000,
				      (int64_t)i * 2000, true, got) ||
		    memcmp(got, sha, sizeof(sha)))
			misses++;
	}
	is_int(misses, 0, "all 1000 hit with their sha (use_ctime)");
	sha_of(10, sha);
	memset(got, 0x55, sizeof(got));
	ok(!mbi_cache_lookup(c, 1, 70, 11, 10000, 20000, false, got),
	   "another size misses");
	ok(got[0] == 0x55 && got[31] == 0x55, "and leaves sha_out alone");
	ok(!mbi_cache_lookup(c, 1, 70, 10, 10001, 20000, false, got),
	   "another mtime misses");
	ok(!mbi_cache_lookup(c, 2, 70, 10, 10000, 20000, false, got),
	   "another device misses");
	ok(!mbi_cache_lookup(c, 1, 71, 10, 10000, 20000, false, got),
	   "another inode misses");
	ok(!mbi_cache_lookup(c, 1, 70, 10, 10000, 20001, true, got),
	   "another ctime misses with use_ctime");
	ok(mbi_cache_lookup(c, 1, 70, 10, 10000, 20001, false, got) &&
	   !memcmp(got, sha, sizeof(sha)),
	   "another ctime hits without use_ctime (a Maildir flag change)");
	ok(mbi_cache_lookup(c, 1, 70, 10, 10000, 20000, true, got),
	   "the same ctime hits with use_ctime");

	/* this run sees only three files; one twice (a hard link) */
	sha_of(10, sha);
	mbi_cache_record(c, 1, 70, 10, 10000, 20001, sha);
	mbi_cache_record(c, 1, 70, 10, 10000, 20001, sha);
	sha_of(4, sha);
	mbi_cache_record(c, 1, 28, 4, 4000, 8000, sha);
	sha_of(77, sha);
	mbi_cache_record(c, 9, 9, 9, 9, 9, sha);
	is_int(mbi_cache_save(c), MB_OK, "save the second run");
	mbi_cache_free(c);
	ok(!stat(path, &st) && st.st_size == 8 + 3 * 72,
	   "the cache holds what this run saw, a hard link once");

	if (mbi_cache_open(ctx, REPO_ID, &c)) {
		ok(0, "open it a third time");
		goto out;
	}
	ok(mbi_cache_lookup(c, 1, 70, 10, 10000, 20001, true, got),
	   "the updated ctime is recorded");
	ok(mbi_cache_lookup(c, 9, 9, 9, 9, 9, true, got), "the new file");
	ok(!mbi_cache_lookup(c, 2, 7, 1, 1000, 2000, false, got),
	   "a file not seen in the last run is gone");
	/* a run that is not saved leaves the cache as it was */
	mbi_cache_record(c, 5, 5, 5, 5, 5, sha);
	mbi_cache_free(c);
	is_int(leftovers(dir), 0, "an unsaved run leaves no temporary file");
	ok(!stat(path, &st) && st.st_size == 8 + 3 * 72,
	   "and does not touch the cache");
out:
	free(path);
	free(dir);
}

static void test_damaged(void)
{
	char *dir = mbi_cache_dir(ctx, REPO_ID);
	char *path = mbi_asprintf("%s/files", dir);
	struct mbi_cache *c;
	unsigned char got[MBI_SHA256_LEN];
	struct mbi_buf b = { 0 };

	/* a cut record */
	mbi_read_file(ctx, path, &b, 1 << 20);
	mbi_write_file_atomic(ctx, path, b.data, b.len - 1, 0600);
	if (!mbi_cache_open(ctx, REPO_ID, &c)) {
		ok(!mbi_cache_lookup(c, 9, 9, 9, 9, 9, true, got),
		   "a cut cache file is ignored");
		mbi_cache_free(c);
	} else {
		ok(0, "a cut cache file opens");
	}
	/* another magic */
	memcpy(b.data, "MBCACHE2", 8);
	mbi_write_file_atomic(ctx, path, b.data, b.len, 0600);
	if (!mbi_cache_open(ctx, REPO_ID, &c)) {
		ok(!mbi_cache_lookup(c, 9, 9, 9, 9, 9, true, got),
		   "a cache of another format is ignored");
		mbi_cache_free(c);
	} else {
		ok(0, "a cache of another format opens");
	}
	/* empty */
	mbi_write_file_atomic(ctx, path, "", 0, 0600);
	if (!mbi_cache_open(ctx, REPO_ID, &c)) {
		ok(!mbi_cache_lookup(c, 9, 9, 9, 9, 9, true, got),
		   "an empty cache file is ignored");
		is_int(mbi_cache_save(c), MB_OK, "and saving replaces it");
		mbi_cache_free(c);
	} else {
		ok(0, "an empty cache file opens");
	}
	mbi_buf_release(&b);
	mbi_read_file(ctx, path, &b, 1 << 20);
	ok(b.len == 8 && !memcmp(b.data, "MBCACHE1", 8),
	   "an empty run saves the magic only");
	mbi_buf_release(&b);
	unlink(path);
	free(path);
	free(dir);
}

/* The digest of a run's entry lines (repo/lmemo.c's key). */
static void lines_digest(const char *const *l, size_t n,
			 unsigned char out[MBI_SHA256_LEN], bool *ok_out)
{
	struct mbi_cache *c;
	size_t i;

	*ok_out = false;
	if (mbi_cache_open(ctx, REPO_ID, &c))
		return;
	for (i = 0; i < n; i++)
		mbi_cache_line(c, l[i], strlen(l[i]));
	*ok_out = mbi_cache_lines(c, out);
	mbi_cache_free(c);
}

static void test_lines(void)
{
	static const char *const a[] = { "e s f 1", "e s f 2", "e s d 3" };
	static const char *const b[] = { "e s d 3", "e s f 1", "e s f 2" };
	static const char *const c[] = { "e s d 3", "e s f 1", "e s f 4" };
	static const char *const d[] = { "e s d 3", "e s f 1" };
	unsigned char da[MBI_SHA256_LEN], db[MBI_SHA256_LEN];
	unsigned char dc[MBI_SHA256_LEN], dd[MBI_SHA256_LEN];
	bool oa, ob, oc, od;
	uint64_t k[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	unsigned char m[15];
	size_t i;

	lines_digest(a, 3, da, &oa);
	lines_digest(b, 3, db, &ob);
	lines_digest(c, 3, dc, &oc);
	lines_digest(d, 2, dd, &od);
	ok(oa && ob && oc && od, "the lines have a digest (a key was made)");
	ok(!memcmp(da, db, sizeof(da)),
	   "in any order, the same lines have the same digest");
	ok(memcmp(da, dc, sizeof(da)) && memcmp(da, dd, sizeof(da)),
	   "a changed or missing line changes it");
	for (i = 0; i < sizeof(m); i++)
		m[i] = (unsigned char)i;
	ok(mbi_siphash(k, m, sizeof(m)) == 0xa129ca6149be45e5ULL,
	   "SipHash-2-4: the reference vector of 15 bytes");
}

static void test_bad_dir(void)
{
	struct mb_ctx *c2;
	struct mbi_cache *c;
	char *file = mbi_asprintf("%s/plainfile", root);
	char *cfg = mbi_asprintf("[repository]\nurl = /r\n[options]\n"
				 "cache_dir = %s/sub\n", file);

	mbi_write_file_atomic(ctx, file, "x", 1, 0600);
	mb_ctx_new(&c2);
	mb_ctx_load_config_buf(c2, "t", cfg, strlen(cfg));
	is_int(mbi_cache_open(c2, REPO_ID, &c), MB_E_IO,
	       "a cache_dir that cannot be created is MB_E_IO");
	ok(strstr(mb_ctx_errmsg(c2), "cannot create cache directory") != NULL,
	   "with a message");
	mb_ctx_free(c2);
	unlink(file);
	free(file);
	free(cfg);
}

int main(void)
{
	char *cfg, *cmd;

	if (mb_ctx_new(&ctx) || !mkdtemp(root))
		return 1;
	cfg = mbi_asprintf("[repository]\nurl = %s/repo\n[options]\n"
			   "cache_dir = %s/cache\n", root, root);
	if (mb_ctx_load_config_buf(ctx, "t", cfg, strlen(cfg))) {
		printf("Bail out! config: %s\n", mb_ctx_errmsg(ctx));
		return 1;
	}
	free(cfg);
	test_dir();
	test_cycle();
	test_damaged();
	test_lines();
	test_bad_dir();
	mb_ctx_free(ctx);
	cmd = mbi_asprintf("rm -rf '%s'", root);
	if (system(cmd))
		printf("# cannot remove %s\n", root);
	free(cmd);
	return tap_done();
}
