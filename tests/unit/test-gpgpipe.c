/* SPDX-License-Identifier: MIT */
/* test-gpgpipe.c: pack data through our own gpg: its status lines, and real
 * gpg on good, truncated, unprotected and foreign ciphertext. */
#include "mb-private.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpghome.h"
#include "gpgpipe.h"
#include "tap.h"

static const char *dir;
static char *home, *home_b, *repo;
static char *fpr_host, *fpr_b;

/* Recorded gpg 2.2.40 status lines, one decision each. */
static bool said(const char *const *lines)
{
	struct gpg_said *s = mbi_gpg_said_new();
	bool okay;

	for (; *lines; lines++)
		mbi_gpg_status_line(s, *lines);
	okay = mbi_gpg_said_decrypted(s);
	free(s);
	return okay;
}

static void test_status_lines(void)
{
	static const char *const good[] = {
		"[GNUPG:] ENC_TO 077B73F3A6FBEAFB 1 0",
		"[GNUPG:] BEGIN_DECRYPTION", "[GNUPG:] DECRYPTION_INFO 2 9 0",
		"[GNUPG:] PLAINTEXT 62 0 ", "[GNUPG:] DECRYPTION_OKAY",
		"[GNUPG:] GOODMDC", "[GNUPG:] END_DECRYPTION", NULL };
	static const char *const aead[] = {
		"[GNUPG:] BEGIN_DECRYPTION", "[GNUPG:] DECRYPTION_INFO 0 9 2",
		"[GNUPG:] DECRYPTION_OKAY", "[GNUPG:] GOODMDC",
		"[GNUPG:] END_DECRYPTION", NULL };
	/* gpg --rfc2440: no MDC; gpg 2.2 fails it, but says OKAY nowhere */
	static const char *const nomdc[] = {
		"[GNUPG:] BEGIN_DECRYPTION", "[GNUPG:] DECRYPTION_INFO 0 9 0",
		"[GNUPG:] PLAINTEXT 62 1796524431 p",
		"gpg: WARNING: message was not integrity protected",
		"[GNUPG:] DECRYPTION_FAILED", "[GNUPG:] END_DECRYPTION", NULL };
	/* an older gpg that let it through */
	static const char *const nomdc_okay[] = {
		"[GNUPG:] BEGIN_DECRYPTION", "[GNUPG:] DECRYPTION_INFO 0 9 0",
		"[GNUPG:] DECRYPTION_OKAY", "[GNUPG:] GOODMDC",
		"[GNUPG:] END_DECRYPTION", NULL };
	static const char *const no_goodmdc[] = {
		"[GNUPG:] BEGIN_DECRYPTION", "[GNUPG:] DECRYPTION_INFO 2 9 0",
		"[GNUPG:] DECRYPTION_OKAY", "[GNUPG:] END_DECRYPTION", NULL };
	static const char *const badmdc[] = {
		"[GNUPG:] DECRYPTION_INFO 2 9 0", "[GNUPG:] BADMDC",
		"[GNUPG:] DECRYPTION_OKAY", "[GNUPG:] GOODMDC", NULL };
	static const char *const failed[] = {
		"[GNUPG:] DECRYPTION_INFO 2 9 0", "[GNUPG:] DECRYPTION_OKAY",
		"[GNUPG:] GOODMDC", "[GNUPG:] DECRYPTION_FAILED", NULL };
	static const char *const nothing[] = { "gpg: no valid OpenPGP data found.",
					       NULL };
	/* a message line that looks like a status line is not one */
	static const char *const spoof[] = {
		"gpg: [GNUPG:] DECRYPTION_OKAY", "gpg: [GNUPG:] GOODMDC", NULL };

	ok(said(good), "MDC, DECRYPTION_OKAY, GOODMDC: decrypted");
	ok(said(aead), "AEAD, DECRYPTION_OKAY, GOODMDC: decrypted");
	ok(!said(nomdc), "no MDC, DECRYPTION_FAILED: refused");
	ok(!said(nomdc_okay), "no MDC although gpg says OKAY: refused");
	ok(!said(no_goodmdc), "no GOODMDC: refused");
	ok(!said(badmdc), "BADMDC: refused");
	ok(!said(failed), "DECRYPTION_FAILED after OKAY: refused");
	ok(!said(nothing), "no status at all: refused");
	ok(!said(spoof), "status words inside a message: refused");
}

/* Encrypt len bytes of p as a pack under key. */
static int put_pack(struct mbi_crypt *c, struct mbi_store *s, const char *key,
		    const char *p, size_t len)
{
	struct mbi_store_writer *w;
	struct mbi_encjob *j;
	unsigned char sha[MBI_SHA256_LEN];
	uint64_t size;
	int fd, rc;

	if ((rc = s->ops->writer_open(s, &w)))
		return rc;
	if ((rc = mbi_crypt_encrypt_begin(c, MBI_CRYPT_PACK, w, &j, &fd))) {
		mbi_writer_abort(w);
		return rc;
	}
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0) {
			rc = MB_E_IO;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
	if ((rc = mbi_crypt_encrypt_end(j, sha, &size) ? MB_E_CRYPTO : rc)) {
		mbi_writer_abort(w);
		return rc;
	}
	return mbi_writer_commit(w, key);
}

/* Decrypt the file path as a pack; *out gets the plaintext. */
static int get_pack(struct mbi_crypt *c, const char *path, struct mbi_buf *out)
{
	char *tmp = mbi_asprintf("%s/plain-XXXXXX", dir);
	int in = open(path, O_RDONLY | O_CLOEXEC), o = mkstemp(tmp), rc;
	struct stat st;

	memset(out, 0, sizeof(*out));
	unlink(tmp);
	free(tmp);
	if (in < 0 || o < 0)
		return MB_E_IO;
	rc = mbi_crypt_decrypt_fd(c, in, o, false, path);
	if (!rc && !fstat(o, &st)) {
		char *m = malloc((size_t)st.st_size + 1);

		if (m && pread(o, m, (size_t)st.st_size, 0) == st.st_size)
			mbi_buf_add(out, m, (size_t)st.st_size);
		free(m);
	}
	close(in);
	close(o);
	return rc;
}

static int sh(const char *fmt, ...) MBI_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	rc = system(cmd);
	free(cmd);
	return rc;
}

static void test_real_gpg(void)
{
	struct mb_ctx *x;
	struct mbi_crypt *c = NULL;
	struct mbi_store *s = NULL;
	struct mbi_buf big = { 0 }, b = { 0 };
	char *p = NULL;
	size_t i;
	int rc;

	x = ctx_with("[repository]\nurl = %s\n[keys]\ngnupg_home = %s\n"
		     "recipients = %s\nsigning_key = %s\n", repo, home,
		     fpr_host, fpr_host);
	if (mbi_crypt_open(x, &c) || mbi_store_open(x, &s)) {
		ok(0, "crypt_open: %s", mb_ctx_errmsg(x));
		goto out;
	}
	for (i = 0; i < (3u << 20) / 64; i++)
		mbi_buf_printf(&big, "%063zu\n", i);
	is_int(put_pack(c, s, "packs/aa/good", big.data, big.len), MB_OK,
	       "a 3 MiB pack through our gpg");
	p = mbi_asprintf("%s/packs/aa/good", repo);
	is_int(get_pack(c, p, &b), MB_OK, "decrypts: %s", mb_ctx_errmsg(x));
	ok(b.len == big.len && !memcmp(b.data, big.data, b.len),
	   "the same 3 MiB");
	mbi_buf_release(&b);
	ok(!sh("gpg --homedir '%s' --batch --list-packets '%s' 2>&1 | "
	       "grep -q 'mdc_method: 2'", home, p),
	   "the pack is integrity protected (MDC)");

	/* truncated: gpg sees the end too early */
	ok(!sh("head -c 100000 '%s' >'%s.cut'", p, p), "cut the pack");
	free(p);
	p = mbi_asprintf("%s/packs/aa/good.cut", repo);
	rc = get_pack(c, p, &b);
	is_int(rc, MB_E_VERIFY, "a truncated pack: MB_E_VERIFY (%s)",
	       mb_ctx_errmsg(x));
	ok(strstr(mb_ctx_errmsg(x), "damaged or truncated") != NULL,
	   "'damaged or truncated'");
	mbi_buf_release(&b);

	/* no integrity protection: gpg 2.2 makes one with --rfc2440 */
	free(p);
	p = mbi_asprintf("%s/nomdc.gpg", dir);
	ok(!sh("echo plain | gpg --homedir '%s' --batch --quiet --rfc2440 "
	       "--trust-model always -e -r %s -o '%s' 2>/dev/null", home,
	       fpr_host, p), "gpg --rfc2440 makes a pack without MDC");
	rc = get_pack(c, p, &b);
	is_int(rc, MB_E_VERIFY, "without MDC: MB_E_VERIFY");
	ok(strstr(mb_ctx_errmsg(x), "no integrity protection") != NULL,
	   "'no integrity protection' (%s)", mb_ctx_errmsg(x));
	mbi_buf_release(&b);

	/* for a key this keyring has no secret half of */
	free(p);
	p = mbi_asprintf("%s/other.gpg", dir);
	ok(!sh("echo plain | gpg --homedir '%s' --batch --quiet "
	       "--trust-model always -e -r %s -o '%s' 2>/dev/null", home_b,
	       fpr_b, p), "a pack for another key");
	rc = get_pack(c, p, &b);
	is_int(rc, MB_E_CRYPTO, "wrong key: MB_E_CRYPTO");
	ok(strstr(mb_ctx_errmsg(x), "no secret key") != NULL,
	   "'no secret key' (%s)", mb_ctx_errmsg(x));
	mbi_buf_release(&b);

	/* junk and nothing */
	free(p);
	p = mbi_asprintf("%s/junk", dir);
	ok(!sh("echo 'not pgp at all' >'%s'", p), "junk");
	is_int(get_pack(c, p, &b), MB_E_VERIFY, "junk: MB_E_VERIFY");
	mbi_buf_release(&b);
out:
	free(p);
	mbi_buf_release(&big);
	mbi_store_close(s);
	mbi_crypt_free(c);
	mb_ctx_free(x);
}

struct counted {
	size_t calls, bytes;
	int fail_with;
};

static int count_out(void *ud, const void *p, size_t n)
{
	struct counted *k = ud;

	(void)p;
	k->calls++;
	k->bytes += n;
	return k->fail_with;
}

/* gpg writes 8 KiB at a time; the relay hands its output on in writes of
 * more than 128 KiB (but the last), and a failure to store stops gpg. */
static void test_relay_gathers(void)
{
	struct mb_ctx *x = ctx_with("[repository]\nurl = %s\n", repo);
	struct mbi_crypt_gpg g = { NULL, home };
	const char *fprs[1] = { fpr_host };
	struct counted k = { 0, 0, 0 };
	char *path = mbi_asprintf("%s/plain-4m", dir);
	int fd = -1, rc;

	if (sh("head -c 4194304 /dev/urandom >'%s'", path) ||
	    mbi_gpg_engine(x, &g) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		ok(0, "set up a 4 MiB plaintext");
		goto out;
	}
	rc = mbi_gpg_encrypt(x, &g, fprs, 1, fd, count_out, &k);
	is_int(rc, MB_OK, "4 MiB through our gpg");
	ok(k.bytes > (4u << 20) && k.calls <= k.bytes / (128u << 10) + 1,
	   "in %zu writes for %zu bytes (each but the last > 128 KiB)",
	   k.calls, k.bytes);
	memset(&k, 0, sizeof(k));
	k.fail_with = MB_E_STORE;
	lseek(fd, 0, SEEK_SET);
	rc = mbi_gpg_encrypt(x, &g, fprs, 1, fd, count_out, &k);
	is_int(rc, MB_E_STORE, "a failure to store stops the pack");
	is_int(k.calls, 1, "after one write");
out:
	if (fd >= 0)
		close(fd);
	free(path);
	mb_ctx_free(x);
}

int main(void)
{
	const char *homes[3];

	test_status_lines();
	dir = scratch_dir("gpgpipe");
	home = mbi_asprintf("%s/g", dir);
	home_b = mbi_asprintf("%s/h", dir);
	repo = mbi_asprintf("%s/repo", dir);
	homes[0] = home;
	homes[1] = home_b;
	homes[2] = NULL;
	fpr_host = make_key(home, "host one");
	fpr_b = make_key(home_b, "host b");
	mbi_mkdir_p(repo, 0700);
	test_real_gpg();
	test_relay_gathers();
	cleanup(homes, dir);
	free(fpr_host);
	free(fpr_b);
	free(home);
	free(home_b);
	free(repo);
	return tap_done();
}
