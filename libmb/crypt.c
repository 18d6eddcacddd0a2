/* SPDX-License-Identifier: MIT */
/* crypt.c: OpenPGP through GPGME: streamed encryption, decryption, signatures. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <gpgme.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpgpipe.h"

#include "banned.h"

struct mbi_crypt {
	struct mb_ctx *ctx;
	char *home;
	gpgme_key_t *recipients;  /* NULL-terminated: packs */
	gpgme_key_t *meta_rcpts;  /* recipients + host key: metadata */
	gpgme_key_t signer;       /* may be NULL: restore-only hosts */
	char **trusted;           /* primary fingerprints, upper case */
	size_t ntrusted;
	pthread_mutex_t lock;
	struct key_memo *memo;    /* key listings of this run, by lock */
	size_t nmemo;
	struct mbi_crypt_gpg gpg;  /* pack data: gpg without GPGME's relay */
	const char **rcpt_fprs;    /* of recipients, for that gpg */
	size_t nrcpt;
};

/* A key listing and what it found: every listing is a gpg process, and the
 * same fingerprints come back (recipient, signer, trusted signer, each
 * verified signature). Keys do not change within a run. */
struct key_memo {
	char *pattern;
	int secret;
	gpgme_key_t key;          /* NULL: not found */
};

static pthread_once_t gpgme_once = PTHREAD_ONCE_INIT;
static const char *gpgme_version;

/*
 * GPGME asks gpgconf where the engines are (gpgconf --list-dirs and
 * --list-components), then runs every engine it found for its version
 * (gpgsm, gpgconf), before the first gpg: five processes a run, 20-40 ms
 * of a no-change backup on a cold cache. We use OpenPGP only, so GPGME runs
 * the "gpg" on PATH (GnuPG 2 on every system we support) and nothing else.
 */
static void init_gpgme(void)
{
	gpgme_set_global_flag("disable-gpgconf", "1");
	gpgme_version = gpgme_check_version(NULL);
	gpgme_set_locale(NULL, LC_CTYPE, setlocale(LC_CTYPE, NULL));
}

/*
 * Setting the engine of one context runs "gpg --version" each time (a fork
 * and exec, dozens per backup). So the first home used in the process
 * becomes GPGME's default, which new contexts copy for free; a context for
 * another home still sets its own. (A program that uses GPGME itself next
 * to libmb sees this default.)
 */
static pthread_mutex_t default_home_lock = PTHREAD_MUTEX_INITIALIZER;
static char *default_home;

static bool is_default_home(const char *home)
{
	bool same;

	pthread_mutex_lock(&default_home_lock);
	if (!default_home &&
	    !gpgme_set_engine_info(GPGME_PROTOCOL_OpenPGP, NULL, home))
		default_home = strdup(home);
	same = default_home && !strcmp(default_home, home);
	pthread_mutex_unlock(&default_home_lock);
	return same;
}

static int new_gctx(struct mbi_crypt *c, gpgme_ctx_t *out)
{
	gpgme_ctx_t g;
	gpgme_error_t err;
	bool dflt = is_default_home(c->home); /* before gpgme_new copies it */

	err = gpgme_new(&g);
	if (err)
		return mbi_error(c->ctx, MB_E_CRYPTO, 0,
				 "cannot start gpg: %s", gpgme_strerror(err));
	if (!dflt)
		err = gpgme_ctx_set_engine_info(g, GPGME_PROTOCOL_OpenPGP,
						NULL, c->home);
	if (!err)
		err = gpgme_set_pinentry_mode(g, GPGME_PINENTRY_MODE_LOOPBACK);
	if (err) {
		gpgme_release(g);
		return mbi_error(c->ctx, MB_E_CRYPTO, 0,
				 "cannot set up gpg with home '%s': %s",
				 c->home, gpgme_strerror(err));
	}
	gpgme_set_armor(g, 0);
	gpgme_set_offline(g, 1);
	*out = g;
	return MB_OK;
}

/* GPGME moves data between its data objects and gpg's pipes 4 KiB at a
 * time unless told otherwise. 64 KiB buffers cut the system calls of a
 * backup by five; larger ones are slower, as GPGME 1.18 formats the whole
 * buffer for its trace at every partial write to a pipe. */
#define GPGME_IO_BUFFER "65536"

static gpgme_error_t fd_data(int fd, gpgme_data_t *out)
{
	gpgme_error_t err = gpgme_data_new_from_fd(out, fd);

	if (!err)
		gpgme_data_set_flag(*out, "io-buffer-size", GPGME_IO_BUFFER);
	return err;
}

static void upcase(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'f')
			*s = (char)(*s - 'a' + 'A');
}

/* gpgme_get_key(), without the "gpg --version" it runs for the context it
 * clones: one key listing, in a context of its own (so that a verification
 * result in the caller's context stays valid). */
static gpgme_error_t lookup_key(struct mbi_crypt *c, const char *fpr,
				int secret, gpgme_key_t *out)
{
	gpgme_ctx_t g;
	gpgme_key_t k = NULL, more = NULL;
	gpgme_error_t err;
	struct key_memo *m;
	size_t i;

	*out = NULL;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nmemo; i++) {
		m = &c->memo[i];
		if (m->secret == secret && !strcmp(m->pattern, fpr)) {
			if (m->key)
				gpgme_key_ref(m->key);
			*out = m->key;
			pthread_mutex_unlock(&c->lock);
			return m->key ? 0 : gpg_error(GPG_ERR_EOF);
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (new_gctx(c, &g))
		return gpg_error(GPG_ERR_GENERAL);
	err = gpgme_op_keylist_start(g, fpr, secret);
	if (!err)
		err = gpgme_op_keylist_next(g, &k);
	if (!err && !gpgme_op_keylist_next(g, &more)) {
		gpgme_key_unref(more);
		gpgme_key_unref(k);
		k = NULL;
		err = gpg_error(GPG_ERR_AMBIGUOUS_NAME);
	}
	gpgme_op_keylist_end(g);
	gpgme_release(g);
	*out = k;
	if (!err || gpgme_err_code(err) == GPG_ERR_EOF) {
		pthread_mutex_lock(&c->lock);
		m = realloc(c->memo, (c->nmemo + 1) * sizeof(*m));
		if (m) {
			c->memo = m;
			m = &c->memo[c->nmemo];
			m->pattern = strdup(fpr);
			m->secret = secret;
			m->key = k;
			if (m->pattern) {
				if (k)
					gpgme_key_ref(k);
				c->nmemo++;
			}
		}
		pthread_mutex_unlock(&c->lock);
	}
	return err;
}

static int get_key(struct mbi_crypt *c, const char *fpr, int secret,
		   const char *role, gpgme_key_t *out)
{
	gpgme_error_t err = lookup_key(c, fpr, secret, out);

	if (err)
		return mbi_error(c->ctx, MB_E_CRYPTO, 0,
				 "%s key '%s' not found in '%s'%s: import it or fix [keys]",
				 role, fpr, c->home,
				 secret ? " (secret key needed)" : "");
	return MB_OK;
}

void mbi_crypt_free(struct mbi_crypt *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nmemo; i++) {
		free(c->memo[i].pattern);
		if (c->memo[i].key)
			gpgme_key_unref(c->memo[i].key);
	}
	free(c->memo);
	for (i = 0; c->recipients && c->recipients[i]; i++)
		gpgme_key_unref(c->recipients[i]);
	for (i = 0; c->meta_rcpts && c->meta_rcpts[i]; i++)
		gpgme_key_unref(c->meta_rcpts[i]);
	free(c->recipients);
	free(c->meta_rcpts);
	free(c->rcpt_fprs);
	if (c->signer)
		gpgme_key_unref(c->signer);
	mbi_strv_free(c->trusted, c->ntrusted);
	free(c->home);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int mbi_crypt_open(struct mb_ctx *ctx, struct mbi_crypt **out)
{
	struct mbi_config *cfg = ctx->cfg;
	struct mbi_crypt *c;
	struct stat st;
	size_t i, n = 0;
	int rc;

	if ((rc = mbi_need_config(ctx)))
		return rc;
	pthread_once(&gpgme_once, init_gpgme);
	if (!gpgme_version)
		return mbi_error(ctx, MB_E_CRYPTO, 0,
				 "gpgme could not be initialised");
	if (stat(cfg->gnupg_home, &st) || !S_ISDIR(st.st_mode))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "gnupg_home '%s' is not a directory: create it with 'mailbackup keygen --gnupg-home %s'",
				 cfg->gnupg_home, cfg->gnupg_home);
	if (!cfg->nrecipients)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "no recipients: set [keys] recipients to the fingerprints that may decrypt");
	c = calloc(1, sizeof(*c));
	if (!c)
		return MB_E_NOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->ctx = ctx;
	c->home = strdup(cfg->gnupg_home);
	c->recipients = calloc(cfg->nrecipients + 1, sizeof(gpgme_key_t));
	c->meta_rcpts = calloc(cfg->nrecipients + 2, sizeof(gpgme_key_t));
	c->trusted = calloc(cfg->ntrusted + 1, sizeof(char *));
	c->rcpt_fprs = calloc(cfg->nrecipients + 1, sizeof(char *));
	if (!c->home || !c->recipients || !c->meta_rcpts || !c->trusted ||
	    !c->rcpt_fprs) {
		rc = MB_E_NOMEM;
		goto out;
	}
	c->gpg.home = c->home;
	if ((rc = mbi_gpg_engine(ctx, &c->gpg)))
		goto out;
	for (i = 0; i < cfg->nrecipients; i++) {
		rc = get_key(c, cfg->recipients[i], 0, "recipient",
			     &c->recipients[i]);
		if (rc)
			goto out;
		if (!c->recipients[i]->can_encrypt) {
			rc = mbi_error(ctx, MB_E_CRYPTO, 0,
				       "recipient key '%s' cannot encrypt (expired, revoked or no encryption subkey)",
				       cfg->recipients[i]);
			goto out;
		}
		gpgme_key_ref(c->recipients[i]);
		c->meta_rcpts[n++] = c->recipients[i];
		c->rcpt_fprs[c->nrcpt++] = c->recipients[i]->fpr;
	}
	if (cfg->signing_key) {
		rc = get_key(c, cfg->signing_key, 0, "signing", &c->signer);
		if (rc)
			goto out;
		if (c->signer->can_encrypt) {
			gpgme_key_ref(c->signer);
			c->meta_rcpts[n++] = c->signer;
		}
	}
	for (i = 0; i < cfg->ntrusted; i++) {
		gpgme_key_t k;

		/* a trusted signer is named by the fingerprint of its primary
		 * key; resolve what the config says to that */
		if (lookup_key(c, cfg->trusted_signers[i], 0, &k) == 0) {
			c->trusted[c->ntrusted] = strdup(k->fpr);
			gpgme_key_unref(k);
		} else {
			c->trusted[c->ntrusted] =
				strdup(cfg->trusted_signers[i]);
		}
		if (!c->trusted[c->ntrusted]) {
			rc = MB_E_NOMEM;
			goto out;
		}
		upcase(c->trusted[c->ntrusted++]);
	}
out:
	if (rc) {
		mbi_crypt_free(c);
		return rc;
	}
	*out = c;
	return MB_OK;
}

bool mbi_crypt_can_decrypt_packs(struct mbi_crypt *c)
{
	gpgme_key_t k;
	size_t i;
	bool can = false;

	for (i = 0; !can && c->recipients[i]; i++) {
		if (lookup_key(c, c->recipients[i]->fpr, 1, &k) == 0) {
			can = true;
			gpgme_key_unref(k);
		}
	}
	return can;
}

/* ------------------------------------------------------- encryption jobs */

struct mbi_encjob {
	struct mbi_crypt *c;
	enum mbi_crypt_mode mode;
	struct mbi_store_writer *w;
	int in_rd;
	pthread_t enc_thread;
	gpgme_error_t enc_err;
	int out_rc;       /* the first failure to store the output */
	int gpg_rc;       /* pack data: the direct gpg's failure */
	struct mbi_sha256 sha;
	uint64_t size;
};

/* gpg's output, as GPGME reads it: hashed (the object's name) and handed
 * to the store in the same thread, with no pipe of ours in between. */
static ssize_t out_write(void *handle, const void *buf, size_t n)
{
	struct mbi_encjob *j = handle;

	if (!j->out_rc) {
		mbi_sha256_update(&j->sha, buf, n);
		j->size += n;
		j->out_rc = mbi_writer_write(j->w, buf, n);
	}
	if (j->out_rc) {
		errno = EIO; /* GPGME stops gpg and fails the operation */
		return -1;
	}
	return (ssize_t)n;
}

static struct gpgme_data_cbs out_cbs = { NULL, out_write, NULL, NULL };

/* gpg's output, as our own relay reads it (pack data) */
static int pack_out(void *handle, const void *buf, size_t n)
{
	struct mbi_encjob *j = handle;

	mbi_sha256_update(&j->sha, buf, n);
	j->size += n;
	j->out_rc = mbi_writer_write(j->w, buf, n);
	return j->out_rc;
}

static void *enc_main(void *arg)
{
	struct mbi_encjob *j = arg;
	gpgme_ctx_t g = NULL;
	gpgme_data_t din = NULL, dout = NULL;
	gpgme_encrypt_flags_t flags = GPGME_ENCRYPT_ALWAYS_TRUST |
				      GPGME_ENCRYPT_NO_COMPRESS;
	gpgme_error_t err;

	if (j->mode == MBI_CRYPT_PACK) {
		/* bulk data: a gpg of our own reads the packer's socket */
		j->gpg_rc = mbi_gpg_encrypt(j->c->ctx, &j->c->gpg,
					    j->c->rcpt_fprs, j->c->nrcpt,
					    j->in_rd, pack_out, j);
		goto out;
	}
	if (new_gctx(j->c, &g)) {
		j->enc_err = gpg_error(GPG_ERR_GENERAL);
		goto out;
	}
	err = fd_data(j->in_rd, &din);
	if (!err)
		err = gpgme_data_new_from_cbs(&dout, &out_cbs, j);
	if (!err)
		gpgme_data_set_flag(dout, "io-buffer-size", GPGME_IO_BUFFER);
	if (!err && j->mode == MBI_CRYPT_META) {
		if (!j->c->signer)
			err = gpg_error(GPG_ERR_NO_SECKEY);
		else
			err = gpgme_signers_add(g, j->c->signer);
		if (!err)
			err = gpgme_op_encrypt_sign(g, j->c->meta_rcpts, flags,
						    din, dout);
	} else if (!err) {
		/* a listing pack: metadata the host reads, not signed */
		err = gpgme_op_encrypt(g, j->mode == MBI_CRYPT_LISTING ?
					  j->c->meta_rcpts : j->c->recipients,
				       flags, din, dout);
	}
	if (!err && j->mode == MBI_CRYPT_META) {
		gpgme_sign_result_t sr = gpgme_op_sign_result(g);

		if (!sr || !sr->signatures)
			err = gpg_error(GPG_ERR_NO_SECKEY);
	}
	j->enc_err = err;
out:
	gpgme_data_release(din);
	gpgme_data_release(dout);
	if (g)
		gpgme_release(g);
	/* end of the input: the producer sees EPIPE if it still writes */
	close(j->in_rd);
	j->in_rd = -1;
	return NULL;
}

int mbi_crypt_encrypt_begin(struct mbi_crypt *c, enum mbi_crypt_mode mode,
			    struct mbi_store_writer *w,
			    struct mbi_encjob **out, int *plain_fd)
{
	struct mbi_encjob *j = calloc(1, sizeof(*j));
	int in[2] = { -1, -1 };

	if (!j)
		return MB_E_NOMEM;
	j->c = c;
	j->mode = mode;
	j->w = w;
	/* a socket, not a pipe, so the producer can write with MSG_NOSIGNAL
	 * and get EPIPE instead of SIGPIPE when gpg dies */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in)) {
		int rc = mbi_error(c->ctx, MB_E_IO, errno,
				   "cannot create a pipe for gpg");

		free(j);
		return rc;
	}
	shutdown(in[0], SHUT_WR);
	shutdown(in[1], SHUT_RD);
	{
		/* large buffers: fewer wake-ups between us, gpg and GPGME */
		int sz = 4 << 20;

		setsockopt(in[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(in[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	j->in_rd = in[0];
	if (mbi_sha256_init(&j->sha)) {
		close(in[0]);
		close(in[1]);
		free(j);
		return MB_E_NOMEM;
	}
	if (pthread_create(&j->enc_thread, NULL, enc_main, j)) {
		close(in[0]);
		close(in[1]);
		mbi_sha256_release(&j->sha);
		free(j);
		return mbi_error(c->ctx, MB_E_NOMEM, 0,
				 "cannot start a thread for gpg");
	}
	*plain_fd = in[1];
	*out = j;
	return MB_OK;
}

static int gpg_err_to_rc(struct mbi_crypt *c, gpgme_error_t err,
			 const char *what, const char *verb)
{
	switch (gpgme_err_code(err)) {
	case GPG_ERR_NO_SECKEY:
		return mbi_error(c->ctx, MB_E_CRYPTO, 0,
				 "cannot %s '%s': no secret key in '%s' (restore with a recipient's private key, e.g. the disaster-recovery key)",
				 verb, what, c->home);
	case GPG_ERR_BAD_DATA:
	case GPG_ERR_DECRYPT_FAILED:
	case GPG_ERR_NO_DATA:
	case GPG_ERR_INV_PACKET:
	case GPG_ERR_CHECKSUM:
	case GPG_ERR_BAD_SIGNATURE:
	case GPG_ERR_INV_DATA:
	case GPG_ERR_EOF:
	case GPG_ERR_TRUNCATED:
	case GPG_ERR_UNEXPECTED:
	case GPG_ERR_NO_OBJ:
		return mbi_error(c->ctx, MB_E_VERIFY, 0,
				 "'%s' is damaged or truncated: gpg says: %s",
				 what, gpgme_strerror(err));
	default:
		return mbi_error(c->ctx, MB_E_CRYPTO, 0,
				 "cannot %s '%s': %s", verb, what,
				 gpgme_strerror(err));
	}
}

int mbi_crypt_encrypt_end(struct mbi_encjob *j,
			  unsigned char sha256[MBI_SHA256_LEN], uint64_t *size)
{
	int rc = MB_OK;

	pthread_join(j->enc_thread, NULL);
	if (j->out_rc) /* the store's error is the cause of GPGME's */
		rc = j->out_rc;
	else if (j->gpg_rc)
		rc = j->gpg_rc;
	else if (j->enc_err)
		rc = gpg_err_to_rc(j->c, j->enc_err, "new object",
				   "encrypt");
	if (!rc) {
		mbi_sha256_final(&j->sha, sha256);
		*size = j->size;
	}
	mbi_sha256_release(&j->sha);
	free(j);
	return rc;
}

/* ------------------------------------------------------------ decryption */

static bool trusted_fpr(struct mbi_crypt *c, const char *fpr)
{
	gpgme_key_t k;
	size_t i;
	bool ok = false;

	if (!fpr)
		return false;
	/* the signature names the signing (sub)key; trust is pinned on the
	 * primary key */
	if (lookup_key(c, fpr, 0, &k) == 0) {
		for (i = 0; i < c->ntrusted && !ok; i++)
			ok = !strcasecmp(k->fpr, c->trusted[i]);
		gpgme_key_unref(k);
	}
	for (i = 0; i < c->ntrusted && !ok; i++)
		ok = !strcasecmp(fpr, c->trusted[i]);
	return ok;
}

/* gpg accepts a signature made in the future; we allow a day of clock
 * skew between the signing host and this one, no more. */
static int sig_time_ok(struct mbi_crypt *c, gpgme_signature_t s,
		       const char *what)
{
	int64_t now = (int64_t)time(NULL), t = (int64_t)s->timestamp;
	char ts[32], ns[32];

	if (t <= now + MBI_CLOCK_TOLERANCE)
		return MB_OK;
	mbi_time_format(t, ts, sizeof(ts), false);
	mbi_time_format(now, ns, sizeof(ns), false);
	/* An index object only says which pack holds which content, all of
	 * it checked by hash: its time steers nothing, and refusing it would
	 * stop every host of a shared repository because one clock ran
	 * ahead. Manifests and the repository file stay refused. */
	if (!strncmp(what, "index/", 6)) {
		mbi_log(c->ctx, MB_LOG_WARNING,
			"'%s' has a signature made at %s, more than a day ahead of this host's clock (%s): fix the clock of the signing host",
			what, ts, ns);
		return MB_OK;
	}
	return mbi_error(c->ctx, MB_E_VERIFY, 0,
			 "'%s' has a signature made at %s, more than a day ahead of this host's clock (%s): fix the clock of the signing host or of this one",
			 what, ts, ns);
}

static int check_sigs(struct mbi_crypt *c, gpgme_ctx_t g, const char *what)
{
	gpgme_verify_result_t vr = gpgme_op_verify_result(g);
	gpgme_signature_t s;
	const char *problem = "carries no signature";
	char detail[256] = "";

	for (s = vr ? vr->signatures : NULL; s; s = s->next) {
		if (gpgme_err_code(s->status) == GPG_ERR_NO_ERROR) {
			if (trusted_fpr(c, s->fpr))
				return sig_time_ok(c, s, what);
			problem = "is signed by a key outside trusted_signers";
			snprintf(detail, sizeof(detail), " (%s)",
				 s->fpr ? s->fpr : "?");
		} else if (gpgme_err_code(s->status) == GPG_ERR_NO_PUBKEY) {
			problem = "is signed by an unknown key";
			snprintf(detail, sizeof(detail),
				 " (%s: import the host's public key)",
				 s->fpr ? s->fpr : "?");
		} else {
			problem = "has a bad signature";
			snprintf(detail, sizeof(detail), " (%s)",
				 gpgme_strerror(s->status));
			break;
		}
	}
	return mbi_error(c->ctx, MB_E_VERIFY, 0, "'%s' %s%s", what, problem,
			 detail);
}

static int decrypt_data(struct mbi_crypt *c, int cipher_fd, gpgme_data_t dout,
			bool verify, const char *what)
{
	gpgme_ctx_t g;
	gpgme_data_t din = NULL;
	gpgme_error_t err;
	int rc;

	if ((rc = new_gctx(c, &g)))
		return rc;
	if (lseek(cipher_fd, 0, SEEK_SET) < 0 && errno != ESPIPE) {
		rc = mbi_error(c->ctx, MB_E_IO, errno, "cannot read '%s'",
			       what);
		goto out;
	}
	err = fd_data(cipher_fd, &din);
	if (!err)
		err = verify ? gpgme_op_decrypt_verify(g, din, dout) :
			       gpgme_op_decrypt(g, din, dout);
	if (err) {
		rc = gpg_err_to_rc(c, err, what, "decrypt");
		goto out;
	}
	if (verify)
		rc = check_sigs(c, g, what);
out:
	gpgme_data_release(din);
	gpgme_release(g);
	return rc;
}

int mbi_crypt_decrypt_fd(struct mbi_crypt *c, int cipher_fd, int out_fd,
			 bool verify, const char *what)
{
	gpgme_data_t dout;
	int rc;

	if (!verify) {
		/* pack data (hashed before, nothing signed inside): gpg reads
		 * the pack and writes the reader's pipe, without GPGME */
		if (lseek(cipher_fd, 0, SEEK_SET) < 0 && errno != ESPIPE)
			return mbi_error(c->ctx, MB_E_IO, errno,
					 "cannot read '%s'", what);
		return mbi_gpg_decrypt(c->ctx, &c->gpg, cipher_fd, out_fd,
				       what);
	}

	if (fd_data(out_fd, &dout))
		return MB_E_NOMEM;
	rc = decrypt_data(c, cipher_fd, dout, verify, what);
	gpgme_data_release(dout);
	return rc;
}

int mbi_crypt_decrypt_buf(struct mbi_crypt *c, int cipher_fd,
			  struct mbi_buf *out, bool verify, const char *what)
{
	gpgme_data_t dout;
	char *mem;
	size_t len;
	int rc;

	if (gpgme_data_new(&dout))
		return MB_E_NOMEM;
	rc = decrypt_data(c, cipher_fd, dout, verify, what);
	mem = gpgme_data_release_and_get_mem(dout, &len);
	if (!rc) {
		struct mbi_buf b = { 0 };

		if (mbi_buf_add(&b, mem ? mem : "", mem ? len : 0))
			rc = MB_E_NOMEM;
		else
			*out = b;
	}
	gpgme_free(mem);
	return rc;
}

int mbi_crypt_put_meta(struct mbi_crypt *c, struct mbi_store *s,
		       const char *key, const void *p, size_t n)
{
	struct mbi_store_writer *w;
	struct mbi_encjob *j;
	unsigned char sha[MBI_SHA256_LEN];
	uint64_t size;
	int fd, rc, wrc = 0;
	const char *cp = p;

	if ((rc = s->ops->writer_open(s, &w)))
		return rc;
	if ((rc = mbi_crypt_encrypt_begin(c, MBI_CRYPT_META, w, &j, &fd))) {
		mbi_writer_abort(w);
		return rc;
	}
	while (n) {
		ssize_t r = send(fd, cp, n > (1 << 20) ? (1 << 20) : n,
				 MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			wrc = errno;
			break;
		}
		cp += r;
		n -= (size_t)r;
	}
	close(fd);
	rc = mbi_crypt_encrypt_end(j, sha, &size);
	if (!rc && wrc)
		rc = mbi_error(c->ctx, MB_E_CRYPTO, wrc,
			       "cannot feed gpg for '%s'", key);
	if (rc) {
		mbi_writer_abort(w);
		return mbi_error_prefix(c->ctx, rc, "cannot write '%s'", key);
	}
	return mbi_writer_commit(w, key);
}

int mbi_crypt_export(struct mbi_crypt *c, const char *fpr, struct mbi_buf *out)
{
	gpgme_ctx_t g;
	gpgme_data_t d = NULL;
	gpgme_error_t err;
	char *mem;
	size_t len;
	int rc;

	if ((rc = new_gctx(c, &g)))
		return rc;
	gpgme_set_armor(g, 1);
	err = gpgme_data_new(&d);
	if (!err)
		err = gpgme_op_export(g, fpr, 0, d);
	if (err) {
		gpgme_data_release(d);
		gpgme_release(g);
		return mbi_error(c->ctx, MB_E_CRYPTO, 0,
				 "cannot export key '%s': %s", fpr,
				 gpgme_strerror(err));
	}
	mem = gpgme_data_release_and_get_mem(d, &len);
	memset(out, 0, sizeof(*out));
	rc = len ? mbi_buf_add(out, mem, len) :
		   mbi_error(c->ctx, MB_E_CRYPTO, 0, "key '%s' not found", fpr);
	gpgme_free(mem);
	gpgme_release(g);
	return rc;
}

int mbi_crypt_clearsign(struct mbi_crypt *c, const char *text,
			struct mbi_buf *out)
{
	gpgme_ctx_t g;
	gpgme_data_t din = NULL, dout = NULL;
	gpgme_error_t err;
	char *mem;
	size_t len;
	int rc;

	if (!c->signer)
		return mbi_error(c->ctx, MB_E_CONFIG, 0,
				 "no signing key: set [keys] signing_key");
	if ((rc = new_gctx(c, &g)))
		return rc;
	gpgme_set_armor(g, 1);
	err = gpgme_data_new_from_mem(&din, text, strlen(text), 0);
	if (!err)
		err = gpgme_data_new(&dout);
	if (!err)
		err = gpgme_signers_add(g, c->signer);
	if (!err)
		err = gpgme_op_sign(g, din, dout, GPGME_SIG_MODE_CLEAR);
	if (err) {
		rc = gpg_err_to_rc(c, err, "mailbackup.repo", "sign");
		gpgme_data_release(dout);
		goto out;
	}
	mem = gpgme_data_release_and_get_mem(dout, &len);
	memset(out, 0, sizeof(*out));
	rc = mbi_buf_add(out, mem, len);
	gpgme_free(mem);
out:
	gpgme_data_release(din);
	gpgme_release(g);
	return rc;
}

int mbi_crypt_verify_clear(struct mbi_crypt *c, const void *p, size_t n,
			   struct mbi_buf *plain, const char *what)
{
	gpgme_ctx_t g;
	gpgme_data_t din = NULL, dout = NULL;
	gpgme_error_t err;
	char *mem;
	size_t len;
	int rc;

	if ((rc = new_gctx(c, &g)))
		return rc;
	err = gpgme_data_new_from_mem(&din, p, n, 0);
	if (!err)
		err = gpgme_data_new(&dout);
	if (!err)
		err = gpgme_op_verify(g, din, NULL, dout);
	if (err) {
		rc = gpg_err_to_rc(c, err, what, "verify");
		gpgme_data_release(dout);
		goto out;
	}
	rc = check_sigs(c, g, what);
	mem = gpgme_data_release_and_get_mem(dout, &len);
	if (!rc) {
		memset(plain, 0, sizeof(*plain));
		rc = mbi_buf_add(plain, mem ? mem : "", mem ? len : 0);
	}
	gpgme_free(mem);
out:
	gpgme_data_release(din);
	gpgme_release(g);
	return rc;
}

/* ------------------------------------------------------------ rekey */

static bool key_has_keyid(gpgme_key_t k, const char *id)
{
	gpgme_subkey_t sk;

	for (sk = k->subkeys; sk; sk = sk->next)
		if (sk->keyid && !strcmp(sk->keyid, id))
			return true;
	return false;
}

bool mbi_crypt_keyids_current(struct mbi_crypt *c, enum mbi_crypt_mode mode,
			      const char (*ids)[17], size_t n)
{
	gpgme_key_t *keys = mode != MBI_CRYPT_PACK ? c->meta_rcpts :
			    c->recipients;
	size_t i, k;
	bool found;

	for (i = 0; i < n; i++) {
		for (k = 0, found = false; keys[k] && !found; k++)
			found = key_has_keyid(keys[k], ids[i]);
		if (!found)
			return false;
	}
	for (k = 0; keys[k]; k++) {
		for (i = 0, found = false; i < n && !found; i++)
			found = key_has_keyid(keys[k], ids[i]);
		if (!found)
			return false;
	}
	return true;
}

bool mbi_crypt_has_secret_of(struct mbi_crypt *c, const char (*ids)[17],
			     size_t n)
{
	gpgme_key_t k;
	size_t i;

	for (i = 0; i < n; i++) {
		if (lookup_key(c, ids[i], 1, &k) == 0) {
			gpgme_key_unref(k);
			return true;
		}
	}
	return false;
}
