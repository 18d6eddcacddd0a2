/* SPDX-License-Identifier: MIT */
/* test-pack.c: writing and reading packs (pax tar, zstd, gpg) for real. */
#include "mb-private.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpghome.h"
#include "tap.h"

static const char *dir;
static char *home, *repo;
static struct mb_ctx *ctx;

#define BIG (3u << 20)
#define NMEMBERS 6

struct member {
	const char *name;
	const char *buf;     /* or from fd */
	uint64_t size;
	unsigned char sha[MBI_SHA256_LEN];
	int fd;
};

static struct member members[NMEMBERS];
static char *bigdata;

/* What the reader saw. */
struct got {
	int n;
	char *name[16];
	bool has_sha[16], sha_ok[16], data_ok[16];
	uint64_t size[16], read[16];
	int stop_after;      /* return MB_E_ABORTED after this many, or 0 */
	bool skip_data;
	bool by_block;       /* read with mbi_packr_block */
};

static int tmpfile_with(const void *p, size_t n)
{
	char *path = mbi_asprintf("%s/src-XXXXXX", dir);
	int fd = mkstemp(path);

	if (fd < 0 || mbi_write_all(fd, p, n)) {
		printf("Bail out! cannot write a temp file\n");
		exit(1);
	}
	unlink(path);
	free(path);
	return fd;
}

static void setup_members(void)
{
	size_t i;
	uint32_t x = 12345;

	bigdata = malloc(BIG);
	/* half noise, half text: zstd has work, and it is not all equal */
	for (i = 0; i < BIG; i++) {
		x = x * 1103515245 + 12345;
		bigdata[i] = i < BIG / 2 ? (char)(x >> 16) : "mail body \n"[i % 11];
	}
	members[0] = (struct member){ "example.com/u/cur/1.M1:2,S", "hello world\n", 12, { 0 }, -1 };
	members[1] = (struct member){ "empty-from-buf", "", 0, { 0 }, -1 };
	members[2] = (struct member){ "empty-from-fd", NULL, 0, { 0 }, tmpfile_with("", 0) };
	members[3] = (struct member){ "big from fd", NULL, BIG, { 0 }, tmpfile_with(bigdata, BIG) };
	members[4] = (struct member){ "big from buf", bigdata, BIG, { 0 }, -1 };
	members[5] = (struct member){ "d\xc3\xa9j\xc3\xa0 %20 vu/\x01odd", "odd\n", 4, { 0 }, -1 };
	for (i = 0; i < NMEMBERS; i++)
		mbi_sha256_buf(members[i].buf ? members[i].buf : bigdata,
			       (size_t)members[i].size, members[i].sha);
}

static int on_member(void *ud, struct mbi_packr *pr, const char *name,
		     const unsigned char *sha, bool has_sha, uint64_t size)
{
	struct got *g = ud;
	int i = g->n;
	struct mbi_sha256 h;
	unsigned char d[MBI_SHA256_LEN];
	char buf[70000];
	ssize_t r;

	if (i >= 16)
		return MB_E_INVAL;
	g->name[i] = strdup(name);
	g->has_sha[i] = has_sha;
	g->size[i] = size;
	g->sha_ok[i] = i < NMEMBERS && has_sha &&
		       !memcmp(sha, members[i].sha, MBI_SHA256_LEN);
	g->n++;
	if (!g->skip_data) {
		const void *b;
		size_t n;

		mbi_sha256_init(&h);
		while (g->by_block &&
		       (r = mbi_packr_block(pr, &b, &n)) > 0) {
			mbi_sha256_update(&h, b, n);
			g->read[i] += n;
		}
		while (!g->by_block &&
		       (r = mbi_packr_read(pr, buf, sizeof(buf))) > 0) {
			mbi_sha256_update(&h, buf, (size_t)r);
			g->read[i] += (uint64_t)r;
		}
		mbi_sha256_final(&h, d);
		mbi_sha256_release(&h);
		if (r < 0)
			return MB_E_VERIFY;
		g->data_ok[i] = i < NMEMBERS &&
				!memcmp(d, members[i].sha, MBI_SHA256_LEN);
	}
	if (g->stop_after && g->n == g->stop_after)
		return MB_E_ABORTED;
	return MB_OK;
}

static void got_release(struct got *g)
{
	int i;

	for (i = 0; i < g->n && i < 16; i++)
		free(g->name[i]);
	memset(g, 0, sizeof(*g));
}

static int count_dir(const char *sub)
{
	char *p = mbi_asprintf("%s/%s", repo, sub);
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

static int count_packs(void)
{
	char *p = mbi_asprintf("%s/packs", repo);
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;

	free(p);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *sub;

		if (de->d_name[0] == '.')
			continue;
		sub = mbi_asprintf("packs/%s", de->d_name);
		n += count_dir(sub);
		free(sub);
	}
	closedir(d);
	return n;
}

static void test_write_read(struct mbi_repo *r)
{
	struct mbi_packw *p;
	char name[MBI_SHA256_HEX], key[96];
	uint64_t size = 0, st_size = 0;
	struct got g;
	int i, bad = 0, rc;

	if (mbi_packw_open(r, 3, &p)) {
		ok(0, "packw_open: %s", mb_ctx_errmsg(ctx));
		return;
	}
	ok(1, "packw_open");
	for (i = 0; i < NMEMBERS; i++) {
		rc = mbi_packw_add(p, members[i].name, members[i].sha,
				   members[i].size, 0640,
				   1700000000123456789LL + i, members[i].buf,
				   members[i].fd);
		if (rc) {
			bad++;
			printf("# add %s: %s\n", members[i].name,
			       mb_ctx_errmsg(ctx));
		}
	}
	is_int(bad, 0, "add %d members (buffers and fds, 0 bytes, 3 MiB)",
	       NMEMBERS);
	is_int(mbi_packw_in_bytes(p), 2 * BIG + 12 + 4, "in_bytes");
	ok(mbi_packw_out_bytes(p) > 0 && mbi_packw_out_bytes(p) < 2 * BIG,
	   "out_bytes: compressed (%llu)",
	   (unsigned long long)mbi_packw_out_bytes(p));
	is_int(mbi_packw_close(p, name, &size), MB_OK, "packw_close");
	ok(strlen(name) == 64 && strspn(name, "0123456789abcdef") == 64,
	   "the pack's name is a sha256");
	mbi_pack_key(name, key, sizeof(key));
	ok(!strncmp(key, "packs/", 6) && !strncmp(key + 6, name, 2) &&
	   key[8] == '/' && !strcmp(key + 9, name), "its key packs/xx/NAME");
	is_int(r->store->ops->stat(r->store, key, &st_size), MB_OK,
	       "the pack is stored");
	ok(size > 0 && st_size == size, "with the size packw_close gave");
	{
		struct mbi_buf raw = { 0 };
		unsigned char sha[MBI_SHA256_LEN];
		char hex[MBI_SHA256_HEX];

		mbi_store_get_buf(r->store, key, &raw, 1 << 30);
		mbi_sha256_buf(raw.data, raw.len, sha);
		mbi_hex(sha, MBI_SHA256_LEN, hex);
		is_str(hex, name, "the name is the sha256 of the stored bytes");
		ok(raw.len && !memmem(raw.data, raw.len, "hello world", 11),
		   "no plaintext in it");
		mbi_buf_release(&raw);
	}
	is_int(count_dir("tmp"), 0, "no temporary object left");

	memset(&g, 0, sizeof(g));
	is_int(mbi_pack_read(r, name, size, on_member, &g), MB_OK,
	       "pack_read");
	is_int(g.n, NMEMBERS, "all members");
	for (i = 0; i < NMEMBERS && i < g.n; i++) {
		is_str(g.name[i], members[i].name, "member %d's name", i);
		ok(g.has_sha[i] && g.sha_ok[i], "member %d carries its sha256", i);
		is_int(g.size[i], members[i].size, "member %d's size", i);
		is_int(g.read[i], members[i].size, "member %d: all data read", i);
		ok(g.data_ok[i], "member %d: the data hashes to its sha256", i);
	}
	got_release(&g);

	memset(&g, 0, sizeof(g));
	g.by_block = true;
	is_int(mbi_pack_read(r, name, size, on_member, &g), MB_OK,
	       "pack_read with the data in place (mbi_packr_block)");
	for (i = 0, bad = 0; i < NMEMBERS && i < g.n; i++)
		bad += g.read[i] != members[i].size || !g.data_ok[i];
	ok(g.n == NMEMBERS && !bad,
	   "in place: every member's data, whole, hashes to its sha256");
	got_release(&g);
	bad = 0;

	memset(&g, 0, sizeof(g));
	is_int(mbi_pack_read(r, name, 0, on_member, &g), MB_OK,
	       "pack_read without expected size");
	got_release(&g);
	memset(&g, 0, sizeof(g));
	g.skip_data = true;
	is_int(mbi_pack_read(r, name, size, on_member, &g), MB_OK,
	       "pack_read skipping the data");
	is_int(g.n, NMEMBERS, "still sees all members");
	got_release(&g);
	memset(&g, 0, sizeof(g));
	g.stop_after = 1;
	is_int(mbi_pack_read(r, name, size, on_member, &g), MB_E_ABORTED,
	       "a callback's code stops pack_read");
	is_int(g.n, 1, "after the first member");
	got_release(&g);
	memset(&g, 0, sizeof(g));
	g.stop_after = 4;
	g.skip_data = true;
	is_int(mbi_pack_read(r, name, size, on_member, &g), MB_E_ABORTED,
	       "stopping in the middle of a big member");
	got_release(&g);

	/* size, name and byte checks happen before anything is decrypted */
	memset(&g, 0, sizeof(g));
	rc = mbi_pack_read(r, name, size + 1, on_member, &g);
	is_int(rc, MB_E_VERIFY, "a wrong expected size");
	ok(strstr(mb_ctx_errmsg(ctx), "the index says") != NULL,
	   "the message says what the index says");
	is_int(g.n, 0, "no member was seen");
	got_release(&g);
	{
		char other[MBI_SHA256_HEX], okey[96];
		struct mbi_buf raw = { 0 };

		memcpy(other, name, sizeof(other));
		other[10] = other[10] == '0' ? '1' : '0';
		mbi_pack_key(other, okey, sizeof(okey));
		is_int(mbi_pack_read(r, other, size, on_member, &g),
		       MB_E_NOTFOUND, "a missing pack: NOTFOUND");
		/* the same bytes under another name: a forgery */
		mbi_store_get_buf(r->store, key, &raw, 1 << 30);
		mbi_store_put_buf(r->store, okey, raw.data, raw.len);
		memset(&g, 0, sizeof(g));
		rc = mbi_pack_read(r, other, size, on_member, &g);
		is_int(rc, MB_E_VERIFY, "a pack under another name");
		ok(strstr(mb_ctx_errmsg(ctx), "does not match its name") != NULL,
		   "'does not match its name'");
		is_int(g.n, 0, "no member was seen");
		got_release(&g);
		/* one byte flipped in the stored pack */
		raw.data[raw.len / 2] ^= 0x20;
		mbi_store_put_buf(r->store, key, raw.data, raw.len);
		memset(&g, 0, sizeof(g));
		rc = mbi_pack_read(r, name, size, on_member, &g);
		is_int(rc, MB_E_VERIFY, "a flipped byte in the stored pack");
		is_int(g.n, 0, "no member was seen");
		got_release(&g);
		r->store->ops->del(r->store, okey);
		mbi_buf_release(&raw);
	}
	is_int(mbi_pack_read(r, "not-hex", 0, on_member, &g) < 0, 1,
	       "a bad pack name fails");
}

/* A pack whose member has holes (a pax sparse file, which mailbackup never
 * writes) is damaged for mbi_packr_block: no byte of it is handed out as
 * if it were the member's next bytes. */
static void test_sparse(struct mbi_repo *r, const char *fpr)
{
	char *cmd, *enc, hex[MBI_SHA256_HEX], key[96];
	struct mbi_buf raw = { 0 };
	unsigned char sha[MBI_SHA256_LEN];
	struct got g;
	int rc;

	enc = mbi_asprintf("%s/sparse.pgp", dir);
	cmd = mbi_asprintf("cd '%s' && mkdir -p sp && truncate -s 4M sp/holes && "
			   "echo tail >>sp/holes && "
			   "tar --format=pax -S -cf - sp/holes | zstd -q | "
			   "gpg --batch --quiet --homedir '%s' --trust-model always "
			   "--compress-algo none -r %s -e >'%s'",
			   dir, home, fpr, enc);
	if (system("command -v zstd >/dev/null && command -v tar >/dev/null") ||
	    system(cmd)) {
		ok(0, "make a pack with a sparse member");
		goto out;
	}
	mbi_read_file(ctx, enc, &raw, 1 << 30);
	mbi_sha256_buf(raw.data, raw.len, sha);
	mbi_hex(sha, MBI_SHA256_LEN, hex);
	mbi_pack_key(hex, key, sizeof(key));
	mbi_store_put_buf(r->store, key, raw.data, raw.len);
	memset(&g, 0, sizeof(g));
	g.by_block = true;
	rc = mbi_pack_read(r, hex, raw.len, on_member, &g);
	is_int(rc, MB_E_VERIFY, "a member with holes: MB_E_VERIFY");
	ok(strstr(mb_ctx_errmsg(ctx), "has holes") != NULL,
	   "the message says it has holes (%s)", mb_ctx_errmsg(ctx));
	ok(g.n == 1 && g.read[0] < (4u << 20),
	   "not its whole size was handed out as data");
	got_release(&g);
	r->store->ops->del(r->store, key);
out:
	mbi_buf_release(&raw);
	free(cmd);
	free(enc);
}

/* A pack with members that are not what the caller said. */
static void test_add_errors(struct mbi_repo *r)
{
	struct mbi_packw *p;
	unsigned char wrong[MBI_SHA256_LEN];
	int before = count_packs(), fd;

	memset(wrong, 0x42, sizeof(wrong));
	fd = tmpfile_with("changed!", 8);
	if (mbi_packw_open(r, 1, &p)) {
		ok(0, "packw_open");
		return;
	}
	mbi_packw_add(p, "fine", members[0].sha, 12, 0600, 0, members[0].buf, -1);
	is_int(mbi_packw_add(p, "changed", wrong, 8, 0600, 0, NULL, fd),
	       MB_E_VERIFY, "an fd whose bytes do not hash to sha");
	ok(strstr(mb_ctx_errmsg(ctx), "'changed' changed while it was read") != NULL,
	   "'changed while it was read'");
	mbi_packw_abort(p);
	is_int(count_packs(), before, "abort stores no pack");
	is_int(count_dir("tmp"), 0, "and leaves no temporary object");

	if (mbi_packw_open(r, 1, &p)) {
		ok(0, "packw_open");
		close(fd);
		return;
	}
	is_int(mbi_packw_add(p, "shrunk", wrong, 100, 0600, 0, NULL, fd),
	       MB_E_VERIFY, "an fd shorter than size");
	ok(strstr(mb_ctx_errmsg(ctx), "'shrunk' shrank while it was read") != NULL,
	   "'shrank while it was read'");
	mbi_packw_abort(p);
	is_int(count_packs(), before, "no pack");
	is_int(count_dir("tmp"), 0, "no temporary object");
	close(fd);
	mbi_packw_abort(NULL);
	ok(1, "packw_abort(NULL) is a no-op");

	/* an empty pack */
	if (!mbi_packw_open(r, 3, &p)) {
		char name[MBI_SHA256_HEX];
		uint64_t size;
		struct got g;

		is_int(mbi_packw_close(p, name, &size), MB_OK,
		       "a pack without members");
		memset(&g, 0, sizeof(g));
		is_int(mbi_pack_read(r, name, size, on_member, &g), MB_OK,
		       "reads back");
		is_int(g.n, 0, "with no member");
		got_release(&g);
	}
}

/* The promise of DESIGN.md: gpg -d PACK | zstd -d | tar -x. */
static void test_standard_tools(struct mbi_repo *r)
{
	struct mbi_packw *p;
	char name[MBI_SHA256_HEX], key[96];
	uint64_t size;
	char *cmd, *out;
	struct mbi_buf b = { 0 };

	if (system("command -v zstd >/dev/null && command -v tar >/dev/null")) {
		ok(1, "# SKIP zstd or tar not installed");
		return;
	}
	if (mbi_packw_open(r, 3, &p) ||
	    mbi_packw_add(p, members[0].name, members[0].sha, 12, 0640,
			  1700000000LL * 1000000000, members[0].buf, -1) ||
	    mbi_packw_close(p, name, &size)) {
		ok(0, "write a pack");
		return;
	}
	mbi_pack_key(name, key, sizeof(key));
	out = mbi_asprintf("%s/x", dir);
	cmd = mbi_asprintf("mkdir -p '%s' && gpg --batch --quiet --homedir '%s' -d '%s/%s' 2>/dev/null | "
			   "zstd -dq | tar -x -C '%s' 2>/dev/null && cat '%s/%s'",
			   out, home, repo, key, out, out, members[0].name);
	{
		FILE *f = popen(cmd, "r");
		char line[64] = "";

		if (f) {
			if (!fgets(line, sizeof(line), f))
				line[0] = '\0';
			pclose(f);
		}
		is_str(line, "hello world\n",
		       "gpg -d | zstd -d | tar -x gives the files");
	}
	(void)b;
	free(cmd);
	free(out);
}

/* Base64 of pseudo-random bytes: what an attachment looks like. */
static char *b64_random(size_t raw, unsigned seed, size_t *len)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = raw / 3 * 4, i, o = 0;
	char *s = malloc(n + n / 76 + 2);
	uint64_t x = 0x9e3779b97f4a7c15ULL * (seed + 1);

	for (i = 0; i < n; i++) {
		x ^= x >> 12; /* xorshift64*: no period within megabytes */
		x ^= x << 25;
		x ^= x >> 27;
		s[o++] = al[((x * 0x2545f4914f6cdd1dULL) >> 58) & 63];
		if (i % 76 == 75)
			s[o++] = '\n';
	}
	*len = o;
	return s;
}

/* The same attachment in two messages (other headers) far apart in a pack,
 * with 6 MiB of other data between them, is stored about once. */
static void test_near_duplicates(struct mbi_repo *r)
{
	struct mbi_packw *p;
	char name[MBI_SHA256_HEX];
	unsigned char sha[MBI_SHA256_LEN];
	size_t alen, olen, mlen;
	char *att = b64_random(1500000, 1, &alen);
	char *other = b64_random(4500000, 2, &olen);
	char *m1 = malloc(alen + 64), *m2 = malloc(alen + 64);
	uint64_t size, one, all;
	int rc = MB_OK;

	mlen = (size_t)snprintf(m1, 64, "Delivered-To: a@example.org\n\n");
	memcpy(m1 + mlen, att, alen);
	snprintf(m2, 64, "Delivered-To: b@example.org\n\n");
	memcpy(m2 + mlen, att, alen);
	mlen += alen;
	if (mbi_packw_open(r, 3, &p)) {
		ok(0, "packw_open: %s", mb_ctx_errmsg(ctx));
		goto out;
	}
	mbi_sha256_buf(m1, mlen, sha);
	rc = mbi_packw_add(p, "s/m1", sha, mlen, 0600, 0, m1, -1);
	one = mbi_packw_out_bytes(p);
	mbi_sha256_buf(other, olen, sha);
	if (!rc)
		rc = mbi_packw_add(p, "s/other", sha, olen, 0600, 0, other, -1);
	mbi_sha256_buf(m2, mlen, sha);
	if (!rc)
		rc = mbi_packw_add(p, "s/m2", sha, mlen, 0600, 0, m2, -1);
	if (rc) {
		ok(0, "add: %s", mb_ctx_errmsg(ctx));
		mbi_packw_abort(p);
		goto out;
	}
	is_int(mbi_packw_close(p, name, &size), MB_OK, "packw_close");
	/* base64 of random bytes compresses to about 3/4; the second copy of
	 * the attachment must cost far less than the first */
	all = size;
	ok(all < (uint64_t)(olen + mlen) * 3 / 4 * 103 / 100,
	   "a repeated attachment 6 MiB later is stored once (%llu bytes in all, message %zu, other %zu)",
	   (unsigned long long)all, mlen, olen);
	(void)one;
out:
	free(att);
	free(other);
	free(m1);
	free(m2);
}

/* No-fork memory and its pool: sizes round to classes, buffers come back
 * for the next file, nothing above max_idle is kept. */
static void test_pool(void)
{
	struct mbi_pool pl;
	char *a, *b, *c, *small;

	mbi_pool_init(&pl, 3u << 20);
	a = mbi_pool_get(&pl, 100000);
	ok(a != NULL, "pool: a 100 kB buffer");
	memset(a, 'x', 100000);
	mbi_pool_put(&pl, a);
	b = mbi_pool_get(&pl, 120000);
	ok(b == a, "pool: a buffer of the same class comes back");
	c = mbi_pool_get(&pl, 5u << 20);
	ok(c != NULL && c != a, "pool: a 5 MiB buffer of its own");
	memset(c, 'y', 5u << 20);
	mbi_pool_put(&pl, b);
	mbi_pool_put(&pl, c);
	is_int(pl.idle, 128u << 10, "pool: a buffer over max_idle is freed, not kept");
	small = mbi_pool_get(&pl, 100);
	ok(small != NULL, "pool: small sizes come from malloc");
	memset(small, 'z', 100);
	mbi_pool_put(&pl, small);
	is_int(pl.idle, 128u << 10, "pool: small buffers are not kept");
	mbi_pool_drain(&pl);
	is_int(pl.idle, 0, "pool: drained, nothing kept");
	a = mbi_pool_get(&pl, 100000);
	ok(a != NULL, "pool: usable after a drain");
	mbi_pool_put(&pl, a);
	mbi_pool_release(&pl);
	a = mbi_nofork_alloc(1u << 20);
	ok(a != NULL, "nofork_alloc 1 MiB");
	memset(a, 1, 1u << 20);
	mbi_nofork_free(a);
}

int main(void)
{
	const char *homes[2];
	struct mbi_repo *r = NULL;
	char *fpr;
	int i;

	dir = scratch_dir("pack");
	home = mbi_asprintf("%s/g", dir);
	repo = mbi_asprintf("%s/repo", dir);
	homes[0] = home;
	homes[1] = NULL;
	fpr = make_key(home, "pack host");
	ctx = ctx_with("[repository]\nurl = %s\n[keys]\ngnupg_home = %s\n"
		       "recipients = %s\nsigning_key = %s\n[options]\n"
		       "cache_dir = %s/cache\n", repo, home, fpr, fpr, dir);
	setup_members();

	is_int(mbi_repo_open(ctx, &r), MB_E_NOTFOUND,
	       "no repository before init");
	ok(strstr(mb_ctx_errmsg(ctx), "run 'mailbackup init' first") != NULL,
	   "says to run init");
	is_int(mb_repo_init(ctx), MB_OK, "mb_repo_init");
	is_int(mb_repo_init(ctx), MB_E_EXISTS, "a second init: MB_E_EXISTS");
	if (mbi_repo_open(ctx, &r)) {
		ok(0, "mbi_repo_open: %s", mb_ctx_errmsg(ctx));
		goto out;
	}
	ok(1, "mbi_repo_open");
	ok(strlen(r->id) == 32 && strspn(r->id, "0123456789abcdef") == 32,
	   "the repository id");
	test_write_read(r);
	test_add_errors(r);
	test_standard_tools(r);
	test_sparse(r, fpr);
	test_near_duplicates(r);
	test_pool();
	mbi_repo_close(r);

	/* a repository file changed by hand fails its signature */
	{
		char *path = mbi_asprintf("%s/mailbackup.repo", repo);
		struct mbi_buf b = { 0 };
		char *at;

		mbi_read_file(ctx, path, &b, 1 << 20);
		at = b.data ? strstr(b.data, "\nid ") : NULL;
		if (at) {
			at[4] = at[4] == 'a' ? 'b' : 'a';
			mbi_write_file_atomic(ctx, path, b.data, b.len, 0600);
		}
		r = NULL;
		is_int(mbi_repo_open(ctx, &r), MB_E_VERIFY,
		       "an edited mailbackup.repo is refused");
		mbi_repo_close(r);
		mbi_buf_release(&b);
		free(path);
	}
out:
	mb_ctx_free(ctx);
	for (i = 0; i < NMEMBERS; i++)
		if (members[i].fd >= 0)
			close(members[i].fd);
	free(bigdata);
	cleanup(homes, dir);
	free(fpr);
	free(home);
	free(repo);
	return tap_done();
}
