/* SPDX-License-Identifier: MIT */
/* gpgpipe.c: pack data through a gpg of our own, off GPGME's relay. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <gpgme.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env.h"
#include "gpgpipe.h"

#include "banned.h"

/*
 * GPGME relays every byte between gpg's pipes and our data objects and
 * formats each buffer for a debug trace that it drops (a fifth of a
 * backup's CPU, a quarter of a restore's). Pack data, and only pack data,
 * goes through a gpg we start ourselves: the engine GPGME names, with the
 * same home and options, reading and writing our own descriptors. Its
 * status lines (on fd 3, apart from its messages on fd 2) and its exit
 * status must agree before a pack counts.
 */

#define RELAY_CHUNK (256u << 10)
#define MSG_MAX 512

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static char *engine_path;

static void find_engine(void)
{
	gpgme_engine_info_t e;

	if (gpgme_get_engine_info(&e))
		return;
	for (; e; e = e->next)
		if (e->protocol == GPGME_PROTOCOL_OpenPGP && e->file_name) {
			engine_path = strdup(e->file_name);
			return;
		}
}

/* what gpg said: status lines, and its last message for an error text */
struct gpg_said {
	char line[1024];          /* of the status stream */
	size_t len;
	char mline[MSG_MAX];      /* of the message stream */
	size_t mlen;
	char msg[MSG_MAX];
	bool end_encryption, decryption_okay, goodmdc, failed;
	bool no_seckey, have_info, info_protected;
};

static void status_line(struct gpg_said *s, const char *l)
{
	static const char pfx[] = "[GNUPG:] ";

	if (strncmp(l, pfx, sizeof(pfx) - 1))
		return;
	l += sizeof(pfx) - 1;
	if (!strcmp(l, "END_ENCRYPTION"))
		s->end_encryption = true;
	else if (!strcmp(l, "DECRYPTION_OKAY"))
		s->decryption_okay = true;
	else if (!strcmp(l, "GOODMDC"))
		s->goodmdc = true;
	else if (!strncmp(l, "DECRYPTION_FAILED", 17) ||
		 !strncmp(l, "BADMDC", 6))
		s->failed = true;
	else if (!strncmp(l, "NO_SECKEY ", 10))
		s->no_seckey = true;
	else if (!strncmp(l, "DECRYPTION_INFO ", 16)) {
		/* DECRYPTION_INFO <mdc_method> <sym_algo> [<aead_algo>] */
		long mdc = 0, sym = 0, aead = 0;
		char *e;

		mdc = strtol(l + 16, &e, 10);
		sym = strtol(e, &e, 10);
		aead = strtol(e, &e, 10);
		(void)sym;
		s->have_info = true;
		s->info_protected = mdc > 0 || aead > 0;
	}
}

/* Feed bytes of gpg's status stream (fd 3); lines are split here. */
static void status_feed(struct gpg_said *s, const char *p, size_t n)
{
	for (; n; p++, n--) {
		if (*p == '\n') {
			s->line[s->len] = '\0';
			status_line(s, s->line);
			s->len = 0;
		} else if (s->len + 1 < sizeof(s->line)) {
			s->line[s->len++] = *p;
		}
	}
}

/* Feed bytes of gpg's messages (fd 2): the last one that says something
 * goes into an error text. Never read as status. */
static void message_feed(struct gpg_said *s, const char *p, size_t n)
{
	for (; n; p++, n--) {
		if (*p != '\n') {
			if (s->mlen + 1 < sizeof(s->mline))
				s->mline[s->mlen++] = *p;
			continue;
		}
		s->mline[s->mlen] = '\0';
		if (s->mlen && !strstr(s->mline, "encrypted with") &&
		    s->mline[0] != ' ')
			memcpy(s->msg, s->mline, s->mlen + 1);
		s->mlen = 0;
	}
}

struct gpg_said *mbi_gpg_said_new(void)
{
	return calloc(1, sizeof(struct gpg_said));
}

void mbi_gpg_status_line(struct gpg_said *s, const char *l)
{
	status_line(s, l);
}

bool mbi_gpg_said_decrypted(const struct gpg_said *s)
{
	/* DECRYPTION_OKAY, an integrity check that passed (GOODMDC: gpg also
	 * says it for AEAD), and nothing that failed */
	return s->decryption_okay && s->goodmdc && !s->failed &&
	       (!s->have_info || s->info_protected);
}

static int spawn_gpg(struct mbi_crypt_gpg *g, char **argv, int in, int out,
		     const int errst[2], pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	char **envp = mbi_env_child(NULL);
	int rc;

	if (!envp)
		return ENOMEM;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, errst[0], 2);
	posix_spawn_file_actions_adddup2(&fa, errst[1], 3);
	/* GPGME's pipes of another thread's operation may lack O_CLOEXEC:
	 * a gpg of ours that held one would keep that operation waiting */
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
	rc = posix_spawn(pid, g->path, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	mbi_env_free(envp);
	return rc;
}

/* argv of gpg: the options the GPGME path gives, then the operation's */
static char **gpg_argv(struct mbi_crypt_gpg *g, const char *const *op,
		       size_t nop)
{
	static const char *const base[] = {
		"--batch", "--no-tty", "--no-greeting", "--status-fd", "3",
		"--pinentry-mode", "loopback", "--disable-dirmngr",
		"--no-sk-comments", "--homedir",
	};
	size_t nb = sizeof(base) / sizeof(base[0]), i, k = 0;
	char **v = calloc(nb + nop + 3, sizeof(char *));

	if (!v)
		return NULL;
	v[k++] = (char *)"gpg";
	for (i = 0; i < nb; i++)
		v[k++] = (char *)base[i];
	v[k++] = (char *)g->home;
	for (i = 0; i < nop; i++)
		v[k++] = (char *)op[i];
	v[k] = NULL;
	return v;
}

int mbi_gpg_engine(struct mb_ctx *ctx, struct mbi_crypt_gpg *g)
{
	pthread_once(&engine_once, find_engine);
	if (!engine_path)
		return mbi_error(ctx, MB_E_CRYPTO, 0,
				 "gpgme names no gpg program: install gnupg");
	g->path = engine_path;
	return MB_OK;
}

static int wait_gpg(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

static void describe_exit(int st, char *buf, size_t n)
{
	if (st < 0)
		snprintf(buf, n, "lost track of gpg");
	else if (WIFSIGNALED(st))
		snprintf(buf, n, "gpg was killed by signal %d",
			 WTERMSIG(st));
	else
		snprintf(buf, n, "gpg exited with status %d",
			 WEXITSTATUS(st));
}

/* Hand what the relay gathered to out_fn; a failure stops gpg. */
static void relay_flush(int *out_rc, size_t *have, const char *buf, pid_t pid,
			int (*out_fn)(void *, const void *, size_t), void *ud)
{
	if (*have && !*out_rc) {
		*out_rc = out_fn(ud, buf, *have);
		if (*out_rc)
			kill(pid, SIGTERM);
	}
	*have = 0;
}

/* Read gpg's output (hashed and stored by out_fn), its messages and its
 * status lines until all three end (fds: output, messages, status). gpg
 * writes 8 KiB at a time: its output is gathered into writes of up to
 * RELAY_CHUNK. A failure of out_fn stops gpg. */
static int relay(const int fds[3], struct gpg_said *s, pid_t pid,
		 int (*out_fn)(void *, const void *, size_t), void *ud)
{
	char *buf = mbi_nofork_alloc(RELAY_CHUNK), small[4096];
	struct pollfd pf[3] = { { fds[0], POLLIN, 0 }, { fds[1], POLLIN, 0 },
				{ fds[2], POLLIN, 0 } };
	int open_fds = 3, out_rc = 0;
	size_t have = 0;

	if (!buf)
		return MB_E_NOMEM;
	while (open_fds) {
		int i;

		if (poll(pf, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			out_rc = MB_E_IO;
			break;
		}
		for (i = 0; i < 3; i++) {
			ssize_t n;

			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			n = i ? read(pf[i].fd, small, sizeof(small)) :
				read(pf[i].fd, buf + have, RELAY_CHUNK - have);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				pf[i].fd = -1;
				open_fds--;
			} else if (i == 1) {
				message_feed(s, small, (size_t)n);
			} else if (i == 2) {
				status_feed(s, small, (size_t)n);
			} else {
				have += (size_t)n;
			}
			if (!i && (n <= 0 || have > RELAY_CHUNK / 2))
				relay_flush(&out_rc, &have, buf, pid, out_fn,
					    ud);
		}
	}
	relay_flush(&out_rc, &have, buf, pid, out_fn, ud);
	mbi_nofork_free(buf);
	return out_rc;
}

/* Encrypt plain_fd to the recipients; gpg's output goes to out_fn. */
int mbi_gpg_encrypt(struct mb_ctx *ctx, struct mbi_crypt_gpg *g,
		    const char *const *fprs, size_t nfpr, int plain_fd,
		    int (*out_fn)(void *, const void *, size_t), void *ud)
{
	const char *op[64];
	size_t nop = 0, i;
	char **argv = NULL, why[96];
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, statp[2] = { -1, -1 };
	int rc, st, out_rc;
	pid_t pid;
	struct gpg_said s;

	memset(&s, 0, sizeof(s));
	if (nfpr > 24)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "too many recipients (%zu): at most 24", nfpr);
	op[nop++] = "--trust-model";
	op[nop++] = "always";
	op[nop++] = "--compress-algo";
	op[nop++] = "none";
	for (i = 0; i < nfpr; i++) {
		op[nop++] = "-r";
		op[nop++] = fprs[i];
	}
	op[nop++] = "--output";
	op[nop++] = "-";
	op[nop++] = "--encrypt";
	argv = gpg_argv(g, op, nop);
	if (!argv)
		return MB_E_NOMEM;
	if (pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC) ||
	    pipe2(statp, O_CLOEXEC)) {
		rc = mbi_error(ctx, MB_E_IO, errno,
			       "cannot create a pipe for gpg");
		goto out;
	}
	rc = spawn_gpg(g, argv, plain_fd, outp[1],
		       (const int[2]){ errp[1], statp[1] }, &pid);
	if (rc) {
		rc = mbi_error(ctx, MB_E_CRYPTO, rc,
			       "cannot start gpg '%s': check the gnupg installation",
			       g->path);
		goto out;
	}
	close(outp[1]);
	close(errp[1]);
	close(statp[1]);
	outp[1] = errp[1] = statp[1] = -1;
	out_rc = relay((const int[3]){ outp[0], errp[0], statp[0] }, &s, pid,
		       out_fn, ud);
	st = wait_gpg(pid);
	if (out_rc) {
		rc = out_rc;
	} else if (st != 0 || !s.end_encryption || s.failed) {
		describe_exit(st, why, sizeof(why));
		rc = mbi_error(ctx, MB_E_CRYPTO, 0,
			       "cannot encrypt a pack with '%s' (home '%s'): %s%s%s",
			       g->path, g->home, why, *s.msg ? ": " : "",
			       s.msg);
	}
out:
	for (i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (statp[i] >= 0)
			close(statp[i]);
	}
	free(argv);
	return rc;
}

static int no_out(void *ud, const void *p, size_t n)
{
	(void)ud;
	(void)p;
	(void)n;
	return MB_OK;
}

/* Decrypt cipher_fd (read from where it stands) to out_fd. */
int mbi_gpg_decrypt(struct mb_ctx *ctx, struct mbi_crypt_gpg *g,
		    int cipher_fd, int out_fd, const char *what)
{
	static const char *const op[] = { "--output", "-", "--decrypt" };
	char **argv = gpg_argv(g, op, 3), why[96];
	int errp[2] = { -1, -1 }, statp[2] = { -1, -1 }, nullp[2] = { -1, -1 };
	int rc = MB_OK, st, i;
	pid_t pid;
	struct gpg_said s;

	memset(&s, 0, sizeof(s));
	if (!argv)
		return MB_E_NOMEM;
	/* an empty pipe stands in for gpg's standard output in relay() */
	if (pipe2(errp, O_CLOEXEC) || pipe2(statp, O_CLOEXEC) ||
	    pipe2(nullp, O_CLOEXEC)) {
		rc = mbi_error(ctx, MB_E_IO, errno,
			       "cannot create a pipe for gpg");
		goto out;
	}
	close(nullp[1]);
	nullp[1] = -1;
	rc = spawn_gpg(g, argv, cipher_fd, out_fd,
		       (const int[2]){ errp[1], statp[1] }, &pid);
	if (rc) {
		rc = mbi_error(ctx, MB_E_CRYPTO, rc,
			       "cannot start gpg '%s': check the gnupg installation",
			       g->path);
		goto out;
	}
	close(errp[1]);
	close(statp[1]);
	errp[1] = statp[1] = -1;
	rc = relay((const int[3]){ nullp[0], errp[0], statp[0] }, &s, pid,
		   no_out, NULL);
	st = wait_gpg(pid);
	if (rc)
		goto out;
	if (s.have_info && !s.info_protected)
		rc = mbi_error(ctx, MB_E_VERIFY, 0,
			       "'%s' has no integrity protection (no MDC or AEAD): it was not written by mailbackup; refusing it",
			       what);
	else if (st == 0 && mbi_gpg_said_decrypted(&s))
		rc = MB_OK;
	else if (st < 0 || (WIFSIGNALED(st) && !s.failed)) {
		/* gpg itself failed (killed, out of memory): not the pack */
		describe_exit(st, why, sizeof(why));
		rc = mbi_error(ctx, MB_E_CRYPTO, 0,
			       "cannot decrypt '%s' with '%s': %s; the pack was not judged, run the command again",
			       what, g->path, why);
	} else if (s.no_seckey && !s.decryption_okay)
		rc = mbi_error(ctx, MB_E_CRYPTO, 0,
			       "cannot decrypt '%s': no secret key in '%s' (restore with a recipient's private key, e.g. the disaster-recovery key)",
			       what, g->home);
	else {
		describe_exit(st, why, sizeof(why));
		rc = mbi_error(ctx, MB_E_VERIFY, 0,
			       "'%s' is damaged or truncated: %s%s%s", what,
			       why, *s.msg ? ": " : "", s.msg);
	}
out:
	for (i = 0; i < 2; i++) {
		if (errp[i] >= 0)
			close(errp[i]);
		if (statp[i] >= 0)
			close(statp[i]);
		if (nullp[i] >= 0)
			close(nullp[i]);
	}
	free(argv);
	return rc;
}
