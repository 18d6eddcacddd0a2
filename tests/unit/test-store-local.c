/* SPDX-License-Identifier: MIT */
/* test-store-local.c: the local directory backend. */
#include "mb-private.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static struct mb_ctx *ctx;
static char root[] = "/tmp/mbt-store-XXXXXX";

/* Entries of root/tmp (temporary objects). */
static int tmp_files(void)
{
	char *p = mbi_asprintf("%s/tmp", root);
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;

	free(p);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static bool exists(const char *key)
{
	char *p = mbi_asprintf("%s/%s", root, key);
	struct stat st;
	bool e = !lstat(p, &st);

	free(p);
	return e;
}

struct listing {
	int n;
	uint64_t bytes;
	char keys[16][128];
};

static int on_key(void *ud, const char *key, uint64_t size)
{
	struct listing *l = ud;

	if (l->n < 16)
		snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
	l->n++;
	l->bytes += size;
	return MB_OK;
}

static int stop_list(void *ud, const char *key, uint64_t size)
{
	(void)ud;
	(void)key;
	(void)size;
	return MB_E_ABORTED;
}

static bool listed(const struct listing *l, const char *key)
{
	int i;

	for (i = 0; i < l->n && i < 16; i++)
		if (!strcmp(l->keys[i], key))
			return true;
	return false;
}

static void test_write(struct mbi_store *s)
{
	struct mbi_store_writer *w;
	char buf[100];
	uint64_t size = 0;
	int fd = -1;
	ssize_t n;

	is_int(s->ops->writer_open(s, &w), MB_OK, "writer_open");
	is_int(mbi_writer_write(w, "hello ", 6), MB_OK, "write");
	is_int(mbi_writer_write(w, "world", 5), MB_OK, "write more");
	is_int(mbi_writer_write(w, "", 0), MB_OK, "write nothing");
	is_int(tmp_files(), 1, "one temporary file while writing");
	ok(!exists("snapshots/one"), "nothing under the key yet");
	is_int(mbi_writer_commit(w, "snapshots/one"), MB_OK, "commit");
	ok(exists("snapshots/one"), "the object exists");
	is_int(tmp_files(), 0, "no temporary file after commit");

	is_int(s->ops->get(s, "snapshots/one", &fd, &size), MB_OK, "get");
	is_int(size, 11, "its size");
	n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	ok(n == 11 && !memcmp(buf, "hello world", 11), "its bytes");
	ok(fd >= 0 && lseek(fd, 0, SEEK_SET) == 0, "the fd is seekable");
	if (fd >= 0)
		close(fd);
	size = 0;
	is_int(s->ops->stat(s, "snapshots/one", &size), MB_OK, "stat");
	is_int(size, 11, "stat size");

	/* abort leaves nothing */
	is_int(s->ops->writer_open(s, &w), MB_OK, "a second writer");
	mbi_writer_write(w, "partial", 7);
	mbi_writer_abort(w);
	is_int(tmp_files(), 0, "abort leaves no temporary file");
	mbi_writer_abort(NULL);
	ok(1, "abort(NULL) is a no-op");

	/* an empty object */
	is_int(mbi_store_put_buf(s, "index/empty", "", 0), MB_OK,
	       "put an empty object");
	size = 99;
	is_int(s->ops->stat(s, "index/empty", &size), MB_OK, "stat it");
	is_int(size, 0, "0 bytes");

	/* commit replaces an object (keys of packs are content hashes) */
	is_int(mbi_store_put_buf(s, "snapshots/one", "HELLO WORLD", 11), MB_OK,
	       "put over an existing key");
	{
		struct mbi_buf b = { 0 };

		is_int(mbi_store_get_buf(s, "snapshots/one", &b, 100), MB_OK,
		       "get_buf");
		is_str(b.data, "HELLO WORLD", "the new bytes");
		mbi_buf_release(&b);
		is_int(mbi_store_get_buf(s, "snapshots/one", &b, 10),
		       MB_E_VERIFY, "get_buf past max is refused");
		ok(b.data == NULL, "and leaves out alone");
	}
}

static void test_list_del(struct mbi_store *s)
{
	struct listing l;
	uint64_t size;
	int fd;

	mbi_store_put_buf(s, "packs/ab/abcd", "1234", 4);
	mbi_store_put_buf(s, "packs/ab/abef", "12", 2);
	mbi_store_put_buf(s, "packs/cd/cd01", "1", 1);
	mbi_store_put_buf(s, "snapshots/two", "x", 1);

	memset(&l, 0, sizeof(l));
	is_int(s->ops->list(s, "packs/", on_key, &l), MB_OK, "list packs/");
	is_int(l.n, 3, "three packs");
	is_int(l.bytes, 7, "with their sizes");
	ok(listed(&l, "packs/ab/abcd") && listed(&l, "packs/ab/abef") &&
	   listed(&l, "packs/cd/cd01"), "full keys, nested directories");
	memset(&l, 0, sizeof(l));
	is_int(s->ops->list(s, "snapshots/", on_key, &l), MB_OK,
	       "list snapshots/");
	is_int(l.n, 2, "two snapshots");
	ok(listed(&l, "snapshots/one") && listed(&l, "snapshots/two"),
	   "their keys");
	memset(&l, 0, sizeof(l));
	is_int(s->ops->list(s, "locks/", on_key, &l), MB_OK,
	       "listing a prefix that does not exist");
	is_int(l.n, 0, "gives nothing");
	is_int(s->ops->list(s, "packs/", stop_list, NULL), MB_E_ABORTED,
	       "a callback's code stops the listing");

	/* a temporary object is not listed */
	{
		struct mbi_store_writer *w;

		s->ops->writer_open(s, &w);
		memset(&l, 0, sizeof(l));
		s->ops->list(s, "packs/", on_key, &l);
		is_int(l.n, 3, "a writer in progress is not listed");
		mbi_writer_abort(w);
	}

	is_int(s->ops->del(s, "packs/ab/abcd"), MB_OK, "del");
	ok(!exists("packs/ab/abcd"), "the object is gone");
	is_int(s->ops->stat(s, "packs/ab/abcd", &size), MB_E_NOTFOUND,
	       "stat of a deleted object: NOTFOUND");
	is_int(s->ops->get(s, "packs/ab/abcd", &fd, &size), MB_E_NOTFOUND,
	       "get of a deleted object: NOTFOUND");
	ok(strstr(mb_ctx_errmsg(ctx), "'packs/ab/abcd' is missing") != NULL,
	   "the message names the key");
	is_int(s->ops->del(s, "packs/ab/abcd"), MB_OK,
	       "deleting a missing object is fine");
	is_int(s->ops->get(s, "never/was", &fd, &size), MB_E_NOTFOUND,
	       "get of a key never written: NOTFOUND");
	memset(&l, 0, sizeof(l));
	s->ops->list(s, "packs/", on_key, &l);
	is_int(l.n, 2, "two packs left");
}

static void test_bad_keys(struct mbi_store *s)
{
	static const char *const bad[] = {
		"../x", "/etc/passwd", "", "a/../../x", "a//b", "./a", "a/",
		"..", "a/.",
	};
	struct mbi_store_writer *w;
	uint64_t size;
	size_t i;
	int fd;

	for (i = 0; i < MBI_ARRAY_SIZE(bad); i++) {
		is_int(s->ops->get(s, bad[i], &fd, &size), MB_E_INVAL,
		       "get '%s' is refused", bad[i]);
		is_int(s->ops->stat(s, bad[i], &size), MB_E_INVAL,
		       "stat '%s' is refused", bad[i]);
		is_int(s->ops->del(s, bad[i]), MB_E_INVAL,
		       "del '%s' is refused", bad[i]);
		if (s->ops->writer_open(s, &w)) {
			ok(0, "writer_open");
			continue;
		}
		mbi_writer_write(w, "evil", 4);
		is_int(mbi_writer_commit(w, bad[i]), MB_E_INVAL,
		       "commit to '%s' is refused", bad[i]);
		is_int(tmp_files(), 0, "and leaves no temporary file");
	}
	ok(strstr(mb_ctx_errmsg(ctx), "bad object key") != NULL,
	   "the message says 'bad object key'");
	{
		char *outside = mbi_asprintf("%s/../x", root);
		struct stat st;

		ok(lstat(outside, &st) != 0, "nothing was written outside");
		free(outside);
	}

	/* a symlink planted in the repository is not followed */
	{
		char *p = mbi_asprintf("%s/snapshots/link", root);

		if (symlink("/etc/passwd", p) == 0) {
			is_int(s->ops->get(s, "snapshots/link", &fd, &size),
			       MB_E_STORE, "get of a symlink is refused");
			unlink(p);
		} else {
			ok(0, "symlink");
		}
		free(p);
	}
}

/* Deletion takes only keys of the forms mailbackup writes. */
static void test_deletable(void)
{
	static const char *const good[] = {
		"packs/ab/ab00000000000000000000000000000000000000000000000000000000000000",
		"index/0123456789abcdef0123456789abcdef",
		"snapshots/20250101T000000Z-mail.example.org-0123456789abcdef",
		"locks/mail-123-1700000000-abcdef01", "tmp/123.abcdef",
	};
	static const char *const bad[] = {
		"packs/ab/cd00000000000000000000000000000000000000000000000000000000000000",
		"packs/ab/AB00000000000000000000000000000000000000000000000000000000000000",
		"packs/ab/ab0000", "packs/ab", "packs/zz", "packs/ab/notes.txt",
		"index/", "index/a/b", "index/.hidden", "snapshots/a b",
		"locks/a\nb", "tmp/sub/file", "mailbackup.repo", "keys/x.asc",
		"other/x", "",
	};
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(good); i++)
		ok(mbi_store_key_deletable(good[i]), "deletable: '%s'",
		   good[i]);
	for (i = 0; i < MBI_ARRAY_SIZE(bad); i++)
		ok(!mbi_store_key_deletable(bad[i]), "not deletable: '%s'",
		   bad[i]);
}

int main(void)
{
	struct mbi_store *s;
	char *cmd;

	if (mb_ctx_new(&ctx) || !mkdtemp(root))
		return 1;
	if (mbi_store_local_open(ctx, root, &s)) {
		printf("Bail out! store_local_open\n");
		return 1;
	}
	is_str(s->ops->name, "local", "the local backend");
	test_write(s);
	test_list_del(s);
	test_bad_keys(s);
	test_deletable();
	mbi_store_close(s);
	mbi_store_close(NULL);

	/* the url picks the backend */
	{
		const char *c = "[repository]\nurl = file:///tmp/x\n";

		mb_ctx_load_config_buf(ctx, "t", c, strlen(c));
		is_int(mbi_store_open(ctx, &s), MB_OK, "file:// url");
		ok(s && !strcmp(s->backend->name, "local"), "is local");
		is_int(s->ops->del(s, "packs/zz/notes.txt"), MB_E_VERIFY,
		       "the common layer refuses to delete a foreign key");
		ok(strstr(mb_ctx_errmsg(ctx), "'packs/zz/notes.txt'") != NULL,
		   "and names it");
		mbi_store_close(s);
		c = "[repository]\nurl = relative/dir\n";
		mb_ctx_load_config_buf(ctx, "t", c, strlen(c));
		is_int(mbi_store_open(ctx, &s), MB_E_CONFIG,
		       "a relative url is refused");
	}
	mb_ctx_free(ctx);
	cmd = mbi_asprintf("rm -rf '%s'", root);
	if (system(cmd))
		printf("# cannot remove %s\n", root);
	free(cmd);
	return tap_done();
}
