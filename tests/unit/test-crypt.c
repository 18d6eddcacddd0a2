/* SPDX-License-Identifier: MIT */
/* test-crypt.c: OpenPGP through GPGME with real gpg and throwaway keys. */
#include "mb-private.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gpghome.h"
#include "tap.h"

static const char *dir;
static char *home, *home_b, *repo;
static char *fpr_host, *fpr_other, *fpr_b;

/* Decrypt object key with c; *out owns the plaintext on success. */
static int get_plain(struct mbi_crypt *c, struct mbi_store *s,
		     const char *key, bool verify, struct mbi_buf *out)
{
	uint64_t size;
	int fd, rc = s->ops->get(s, key, &fd, &size);

	if (rc)
		return rc;
	rc = mbi_crypt_decrypt_buf(c, fd, out, verify, key);
	close(fd);
	return rc;
}

/* Encrypt p as a pack (to the recipients, unsigned) under key. */
static int put_pack(struct mbi_crypt *c, struct mbi_store *s, const char *key,
		    const char *p)
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
	if (send(fd, p, strlen(p), MSG_NOSIGNAL) != (ssize_t)strlen(p))
		rc = MB_E_IO;
	close(fd);
	if (mbi_crypt_encrypt_end(j, sha, &size) || rc) {
		mbi_writer_abort(w);
		return MB_E_CRYPTO;
	}
	return mbi_writer_commit(w, key);
}

/* Store a copy of object from with byte at (or the length cut to) changed. */
static void damage(struct mbi_store *s, const char *from, const char *to,
		   long flip_at, long cut_to)
{
	struct mbi_buf b = { 0 };

	if (mbi_store_get_buf(s, from, &b, 1 << 26))
		return;
	if (flip_at >= 0)
		b.data[flip_at < 0 ? 0 : (size_t)flip_at % b.len] ^= 0x01;
	if (cut_to >= 0 && (size_t)cut_to < b.len)
		b.len = (size_t)cut_to;
	mbi_store_put_buf(s, to, b.data, b.len);
	mbi_buf_release(&b);
}

static void test_open_errors(void)
{
	struct mbi_crypt *c = NULL;
	struct mb_ctx *x;

	x = ctx_with("[repository]\nurl = %s\n[keys]\ngnupg_home = %s\n"
		     "recipients = 0123456789ABCDEF0123456789ABCDEF01234567\n",
		     repo, home);
	is_int(mbi_crypt_open(x, &c), MB_E_CRYPTO, "an unknown recipient");
	ok(strstr(mb_ctx_errmsg(x),
		  "recipient key '0123456789ABCDEF0123456789ABCDEF01234567' not found") != NULL,
	   "the message names the key");
	mb_ctx_free(x);

	x = ctx_with("[repository]\nurl = %s\n[keys]\ngnupg_home = %s\n",
		     repo, home);
	is_int(mbi_crypt_open(x, &c), MB_E_CONFIG, "no recipients");
	mb_ctx_free(x);

	x = ctx_with("[repository]\nurl = %s\n[keys]\ngnupg_home = %s/nope\n"
		     "recipients = %s\n", repo, dir, fpr_host);
	is_int(mbi_crypt_open(x, &c), MB_E_CONFIG, "a missing gnupg_home");
	ok(strstr(mb_ctx_errmsg(x), "mailbackup keygen --gnupg-home") != NULL,
	   "the message says how to make one");
	mb_ctx_free(x);

	x = ctx_with("[repository]\nurl = %s\n[keys]\ngnupg_home = %s\n"
		     "recipients = %s\nsigning_key = 0123456789ABCDEF0123456789ABCDEF01234567\n",
		     repo, home, fpr_host);
	is_int(mbi_crypt_open(x, &c), MB_E_CRYPTO, "an unknown signing key");
	mb_ctx_free(x);
	ok(c == NULL, "out untouched on failure");
}

static void test_meta(void)
{
	struct mb_ctx *x1, *x2, *x3;
	struct mbi_crypt *c1 = NULL, *c2 = NULL, *c3 = NULL;
	struct mbi_store *s = NULL;
	struct mbi_buf b = { 0 }, big = { 0 };
	static const char text[] = "mailbackup-index 1\nend\n";
	size_t i;
	int rc;

	/* the host: recipient and signer */
	x1 = ctx_with("[repository]\nurl = %s\n[keys]\ngnupg_home = %s\n"
		      "recipients = %s\nsigning_key = %s\n", repo, home,
		      fpr_host, fpr_host);
	/* another host, same keyring, signs with its own key */
	x2 = ctx_with("[repository]\nurl = %s\n[keys]\ngnupg_home = %s\n"
		      "recipients = %s\nsigning_key = %s\n", repo, home,
		      fpr_host, fpr_other);
	/* trusts both keys */
	x3 = ctx_with("[repository]\nurl = %s\n[keys]\ngnupg_home = %s\n"
		      "recipients = %s\nsigning_key = %s\n"
		      "trusted_signers = %s, %s\n", repo, home, fpr_host,
		      fpr_host, fpr_other, fpr_host);
	if (mbi_crypt_open(x1, &c1) || mbi_crypt_open(x2, &c2) ||
	    mbi_crypt_open(x3, &c3) || mbi_store_open(x1, &s)) {
		ok(0, "crypt_open: %s / %s / %s", mb_ctx_errmsg(x1),
		   mb_ctx_errmsg(x2), mb_ctx_errmsg(x3));
		goto out;
	}
	ok(1, "crypt_open with the host key");
	ok(mbi_crypt_can_decrypt_packs(c1), "the host can decrypt packs");

	is_int(mbi_crypt_put_meta(c1, s, "index/one", text, strlen(text)),
	       MB_OK, "put_meta");
	{
		struct mbi_buf raw = { 0 };

		mbi_store_get_buf(s, "index/one", &raw, 1 << 20);
		ok(raw.len > 0 && !memmem(raw.data, raw.len, "mailbackup-index", 16),
		   "the stored object is not plaintext");
		ok(raw.len > 0 && (unsigned char)raw.data[0] & 0x80,
		   "it is binary OpenPGP (no armor)");
		mbi_buf_release(&raw);
	}
	is_int(get_plain(c1, s, "index/one", true, &b), MB_OK,
	       "decrypt_buf with verify");
	ok(b.len == strlen(text) && !memcmp(b.data, text, b.len),
	   "the same plaintext");
	mbi_buf_release(&b);

	/* decrypt_fd into a file */
	{
		char *path = mbi_asprintf("%s/plain", dir);
		int out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		uint64_t size;
		int fd;

		s->ops->get(s, "index/one", &fd, &size);
		is_int(mbi_crypt_decrypt_fd(c1, fd, out, true, "index/one"),
		       MB_OK, "decrypt_fd with verify");
		close(fd);
		close(out);
		mbi_read_file(x1, path, &b, 1 << 20);
		ok(b.len == strlen(text) && !memcmp(b.data, text, b.len),
		   "writes the plaintext");
		mbi_buf_release(&b);
		unlink(path);
		free(path);
	}

	/* signed by another key */
	is_int(mbi_crypt_put_meta(c2, s, "index/two", text, strlen(text)),
	       MB_OK, "put_meta signed by another key");
	rc = get_plain(c1, s, "index/two", true, &b);
	is_int(rc, MB_E_VERIFY, "a signature by a key outside trusted_signers");
	ok(strstr(mb_ctx_errmsg(x1), "'index/two' is signed by a key outside trusted_signers") != NULL,
	   "the message names the object and the problem");
	if (!rc)
		mbi_buf_release(&b);
	is_int(get_plain(c1, s, "index/two", false, &b), MB_OK,
	       "without verify it decrypts");
	mbi_buf_release(&b);
	is_int(get_plain(c3, s, "index/two", true, &b), MB_OK,
	       "a host that trusts that key accepts it");
	mbi_buf_release(&b);
	is_int(get_plain(c3, s, "index/one", true, &b), MB_OK,
	       "and the host key too");
	mbi_buf_release(&b);
	rc = get_plain(c2, s, "index/one", true, &b);
	is_int(rc, MB_E_VERIFY,
	       "trust is not implied by having the public key");
	if (!rc)
		mbi_buf_release(&b);

	/* a pack-mode object carries no signature */
	is_int(put_pack(c1, s, "packs/un/signed", "content"), MB_OK,
	       "encrypt unsigned");
	rc = get_plain(c1, s, "packs/un/signed", true, &b);
	is_int(rc, MB_E_VERIFY, "an unsigned object fails verify");
	ok(strstr(mb_ctx_errmsg(x1), "carries no signature") != NULL,
	   "'carries no signature'");
	if (!rc)
		mbi_buf_release(&b);
	is_int(get_plain(c1, s, "packs/un/signed", false, &b), MB_OK,
	       "and decrypts without verify");
	ok(b.len == 7 && !memcmp(b.data, "content", 7), "its plaintext");
	mbi_buf_release(&b);

	/* damage */
	for (i = 0; i < 3; i++) {
		static const long at[] = { 0, -2, -3 };
		static const char *const why[] = {
			"the first byte flipped", "a byte in the middle flipped",
			"the last byte flipped" };
		struct mbi_buf raw = { 0 };
		long pos;

		mbi_store_get_buf(s, "index/one", &raw, 1 << 20);
		pos = at[i] == 0 ? 0 : at[i] == -2 ? (long)raw.len / 2 :
		      (long)raw.len - 1;
		mbi_buf_release(&raw);
		damage(s, "index/one", "index/bad", pos, -1);
		rc = get_plain(c1, s, "index/bad", true, &b);
		ok(rc == MB_E_VERIFY, "%s: MB_E_VERIFY (got %d: %s)", why[i],
		   rc, mb_ctx_errmsg(x1));
		if (!rc)
			mbi_buf_release(&b);
	}
	damage(s, "index/one", "index/cut", -1, 40);
	rc = get_plain(c1, s, "index/cut", true, &b);
	ok(rc == MB_E_VERIFY, "a truncated object: MB_E_VERIFY (got %d: %s)",
	   rc, mb_ctx_errmsg(x1));
	if (!rc)
		mbi_buf_release(&b);
	mbi_store_put_buf(s, "index/junk", "not pgp at all", 14);
	rc = get_plain(c1, s, "index/junk", true, &b);
	ok(rc == MB_E_VERIFY, "junk: MB_E_VERIFY (got %d: %s)", rc,
	   mb_ctx_errmsg(x1));
	if (!rc)
		mbi_buf_release(&b);
	mbi_store_put_buf(s, "index/empty", "", 0);
	rc = get_plain(c1, s, "index/empty", true, &b);
	ok(rc == MB_E_VERIFY, "an empty object: MB_E_VERIFY (got %d: %s)", rc,
	   mb_ctx_errmsg(x1));
	if (!rc)
		mbi_buf_release(&b);

	/* larger than the pipes */
	for (i = 0; i < (5u << 20) / 64; i++)
		mbi_buf_printf(&big, "%063zu\n", i);
	is_int(mbi_crypt_put_meta(c1, s, "index/big", big.data, big.len),
	       MB_OK, "put_meta of 5 MiB");
	is_int(get_plain(c1, s, "index/big", true, &b), MB_OK,
	       "decrypt it");
	ok(b.len == big.len && !memcmp(b.data, big.data, b.len),
	   "the same 5 MiB");
	mbi_buf_release(&b);
	mbi_buf_release(&big);
	is_int(mbi_crypt_put_meta(c1, s, "index/zero", "", 0), MB_OK,
	       "put_meta of nothing");
	is_int(get_plain(c1, s, "index/zero", true, &b), MB_OK,
	       "decrypt it");
	is_int(b.len, 0, "nothing");
	mbi_buf_release(&b);

	/* clearsign, the mailbackup.repo way */
	{
		struct mbi_buf signed_text = { 0 }, plain = { 0 };
		const char *t = "mailbackup-repository 1\nid 00\n";
		char *p;

		is_int(mbi_crypt_clearsign(c1, t, &signed_text), MB_OK,
		       "clearsign");
		ok(strstr(signed_text.data, "-----BEGIN PGP SIGNED MESSAGE-----") != NULL,
		   "a clearsigned text");
		is_int(mbi_crypt_verify_clear(c1, signed_text.data,
					      signed_text.len, &plain, "repo"),
		       MB_OK, "verify_clear");
		ok(plain.len >= strlen(t) && !strncmp(plain.data, t, strlen(t)),
		   "gives the signed text");
		mbi_buf_release(&plain);
		rc = mbi_crypt_verify_clear(c2, signed_text.data,
					    signed_text.len, &plain, "repo");
		is_int(rc, MB_E_VERIFY, "verify_clear by another host's trust");
		if (!rc)
			mbi_buf_release(&plain);
		p = strstr(signed_text.data, "id 00");
		if (p)
			p[4] = '1';
		rc = mbi_crypt_verify_clear(c1, signed_text.data,
					    signed_text.len, &plain, "repo");
		is_int(rc, MB_E_VERIFY, "a changed clearsigned text");
		ok(strstr(mb_ctx_errmsg(x1), "'repo' has a bad signature") != NULL,
		   "'has a bad signature'");
		if (!rc)
			mbi_buf_release(&plain);
		rc = mbi_crypt_verify_clear(c1, t, strlen(t), &plain, "repo");
		is_int(rc, MB_E_VERIFY, "an unsigned text");
		if (!rc)
			mbi_buf_release(&plain);
		mbi_buf_release(&signed_text);
	}
out:
	mbi_store_close(s);
	mbi_crypt_free(c1);
	mbi_crypt_free(c2);
	mbi_crypt_free(c3);
	mb_ctx_free(x1);
	mb_ctx_free(x2);
	mb_ctx_free(x3);
}

/* A host whose keyring holds only the public recipient key. */
static void test_other_keyring(void)
{
	struct mb_ctx *xa, *xb;
	struct mbi_crypt *ca = NULL, *cb = NULL;
	struct mbi_store *s = NULL;
	struct mbi_buf b = { 0 };
	static const char text[] = "mailbackup-index 1\nend\n";
	int rc;

	if (copy_pubkey(home, home_b, fpr_host)) {
		ok(0, "copy the recipient's public key");
		return;
	}
	xa = ctx_with("[repository]\nurl = %s\n[keys]\ngnupg_home = %s\n"
		      "recipients = %s\nsigning_key = %s\n", repo, home,
		      fpr_host, fpr_host);
	xb = ctx_with("[repository]\nurl = %s\n[keys]\ngnupg_home = %s\n"
		      "recipients = %s\nsigning_key = %s\n", repo, home_b,
		      fpr_host, fpr_b);
	if (mbi_crypt_open(xa, &ca) || mbi_crypt_open(xb, &cb) ||
	    mbi_store_open(xa, &s)) {
		ok(0, "crypt_open: %s / %s", mb_ctx_errmsg(xa),
		   mb_ctx_errmsg(xb));
		goto out;
	}
	ok(!mbi_crypt_can_decrypt_packs(cb),
	   "a host that is no recipient cannot decrypt packs");
	is_int(mbi_crypt_put_meta(cb, s, "index/b", text, strlen(text)),
	       MB_OK, "it writes metadata");
	is_int(get_plain(cb, s, "index/b", true, &b), MB_OK,
	       "and reads its own metadata back (encrypted to the host key too)");
	mbi_buf_release(&b);
	rc = get_plain(ca, s, "index/b", true, &b);
	is_int(rc, MB_E_VERIFY, "the recipient without the signer's key");
	ok(strstr(mb_ctx_errmsg(xa), "is signed by an unknown key") != NULL,
	   "'signed by an unknown key'");
	if (!rc)
		mbi_buf_release(&b);
	is_int(put_pack(ca, s, "packs/fo/rb", "secret mail"), MB_OK,
	       "a pack for the recipient");
	rc = get_plain(cb, s, "packs/fo/rb", false, &b);
	is_int(rc, MB_E_CRYPTO, "the host cannot decrypt it");
	ok(strstr(mb_ctx_errmsg(xb), "no secret key") != NULL,
	   "'no secret key'");
	if (!rc)
		mbi_buf_release(&b);
out:
	mbi_store_close(s);
	mbi_crypt_free(ca);
	mbi_crypt_free(cb);
	mb_ctx_free(xa);
	mb_ctx_free(xb);
}

int main(void)
{
	const char *homes[3];

	dir = scratch_dir("crypt");
	home = mbi_asprintf("%s/g", dir);
	home_b = mbi_asprintf("%s/h", dir);
	repo = mbi_asprintf("%s/repo", dir);
	homes[0] = home;
	homes[1] = home_b;
	homes[2] = NULL;
	fpr_host = make_key(home, "host one");
	fpr_other = make_key(home, "host two");
	fpr_b = make_key(home_b, "host b");
	ok(strlen(fpr_host) == 40 && strspn(fpr_host, "0123456789ABCDEF") == 40,
	   "keygen gives a 40 digit fingerprint");
	ok(strcmp(fpr_host, fpr_other), "two keys differ");
	mbi_mkdir_p(repo, 0700);
	test_open_errors();
	test_meta();
	test_other_keyring();
	cleanup(homes, dir);
	free(fpr_host);
	free(fpr_other);
	free(fpr_b);
	free(home);
	free(home_b);
	free(repo);
	return tap_done();
}
