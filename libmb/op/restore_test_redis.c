/* SPDX-License-Identifier: MIT */
/* op/restore_test_redis.c: mailcow's DKIM keys in a restored Redis dump, loaded into a
 * scratch redis-server and each private key matched with its public key. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "banned.h"

#define DUMP_NAME "dump.rdb"
#define MAX_FIELDS 100000          /* entries of one hash */
#define MAX_BULK (1 << 20)         /* one field or value */
#define START_TENTHS 300           /* 30 s to start and load */
#define IO_TIMEOUT_MS 30000

struct rd_run {
	struct mb_ctx *ctx;
	const char *files_dir, *scratch;
	mbi_finding_fn fn;
	void *ud;
	struct mbi_redis_dkim *out;
};

struct scratch_redis {
	pid_t pid;
	char *sock, *log;
};

/* A reply of HGETALL: fields and values one after the other. */
struct hash {
	struct mbi_buf *items;
	size_t n;
};

struct reader {
	int fd;
	char buf[8192];
	size_t pos, len;
};

/* ------------------------------------------------------------ the server */

/* Is the server still running? Reaps it (pid 0) when it has exited. */
static bool alive(struct scratch_redis *s)
{
	int st;

	if (s->pid <= 0)
		return false;
	if (waitpid(s->pid, &st, WNOHANG) == 0)
		return true;
	s->pid = 0;
	return false;
}

static int connect_sock(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void redis_stop(struct scratch_redis *s)
{
	int st, i;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		for (i = 0; i < 100; i++) {
			if (waitpid(s->pid, &st, WNOHANG) == s->pid)
				break;
			usleep(100000);
		}
		if (i == 100) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &st, 0);
		}
	}
	free(s->sock);
	free(s->log);
	memset(s, 0, sizeof(*s));
}

/* redis-server on a private unix socket, no TCP, never saving: it reads
 * dir/base and nothing else. A minimal environment: it needs none of ours. */
static int redis_spawn(struct scratch_redis *s, const char *dir,
		       const char *base)
{
	char *const argv[] = {
		(char *)"redis-server", (char *)"--port", (char *)"0",
		(char *)"--unixsocket", s->sock,
		(char *)"--unixsocketperm", (char *)"700",
		(char *)"--dir", (char *)dir, (char *)"--dbfilename",
		(char *)base, (char *)"--save", (char *)"",
		(char *)"--appendonly", (char *)"no",
		(char *)"--daemonize", (char *)"no",
		(char *)"--logfile", s->log, NULL
	};
	char *envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
			 (char *)"LC_ALL=C", NULL };
	posix_spawn_file_actions_t fa;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, s->log, O_WRONLY | O_CREAT |
					 O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	rc = posix_spawn(&s->pid, "/usr/bin/redis-server", &fa, NULL, argv,
			 envp);
	if (rc)
		rc = posix_spawnp(&s->pid, "redis-server", &fa, NULL, argv,
				  envp);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		s->pid = 0;
	return rc;
}

/* The server's last warning ("PID:M DATE # MESSAGE"), else its last line,
 * for a message. */
static void log_tail(struct mb_ctx *ctx, const char *log, char *out,
		     size_t n)
{
	struct mbi_buf b = { 0 };
	const char *warn = NULL, *last = NULL;
	char *line, *next, *msg;

	out[0] = '\0';
	if (mbi_read_file(ctx, log, &b, 1 << 20) || !b.len) {
		mbi_buf_release(&b);
		return;
	}
	for (line = b.data; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if ((msg = strstr(line, " # ")))
			warn = msg + 3;
		if (*line)
			last = line;
	}
	snprintf(out, n, "%s", warn ? warn : last ? last : "");
	mbi_buf_release(&b);
}

/* Did the server refuse the dump as written by a newer Redis? */
static bool too_new(struct mb_ctx *ctx, const char *log)
{
	struct mbi_buf b = { 0 };
	bool yes = false;

	if (!mbi_read_file(ctx, log, &b, 1 << 20) && b.data)
		yes = strstr(b.data, "Can't handle RDB format version") != NULL;
	mbi_buf_release(&b);
	return yes;
}

/* ------------------------------------------------------------ RESP */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int rd_fill(struct reader *r)
{
	struct pollfd p = { r->fd, POLLIN, 0 };
	ssize_t n;

	if (r->pos < r->len)
		return 0;
	if (poll(&p, 1, IO_TIMEOUT_MS) != 1)
		return -1;
	n = read(r->fd, r->buf, sizeof(r->buf));
	if (n <= 0)
		return -1;
	r->pos = 0;
	r->len = (size_t)n;
	return 0;
}

/* One line without its CRLF into line (cut to n - 1 bytes). */
static int rd_line(struct reader *r, char *line, size_t n)
{
	size_t o = 0;
	char c = 0, prev;

	for (;;) {
		if (rd_fill(r))
			return -1;
		prev = c;
		c = r->buf[r->pos++];
		if (c == '\n' && prev == '\r')
			break;
		if (o + 1 < n)
			line[o++] = c;
	}
	if (o && line[o - 1] == '\r')
		o--;
	line[o] = '\0';
	return 0;
}

static int rd_bytes(struct reader *r, struct mbi_buf *b, size_t n)
{
	while (n) {
		size_t k;

		if (rd_fill(r))
			return -1;
		k = r->len - r->pos < n ? r->len - r->pos : n;
		if (b && mbi_buf_add(b, r->buf + r->pos, k))
			return -1;
		r->pos += k;
		n -= k;
	}
	return 0;
}

static void hash_release(struct hash *h)
{
	size_t i;

	for (i = 0; h->items && i < h->n; i++)
		mbi_buf_release(&h->items[i]);
	free(h->items);
	memset(h, 0, sizeof(*h));
}

/* One bulk string "$LEN\r\nDATA\r\n" into b. */
static int read_bulk(struct reader *r, struct mbi_buf *b)
{
	char line[64], *end;
	long len;

	if (rd_line(r, line, sizeof(line)) || line[0] != '$')
		return -1;
	errno = 0;
	len = strtol(line + 1, &end, 10);
	if (errno || *end || len < 0 || len > MAX_BULK ||
	    mbi_buf_add(b, "", 0) || rd_bytes(r, b, (size_t)len) ||
	    rd_bytes(r, NULL, 2))
		return -1;
	return 0;
}

/*
 * HGETALL name. 1 with *err filled when the server answers an error
 * ("-LOADING ..."), -1 when the answer is not RESP or the connection broke.
 */
static int hgetall(int fd, const char *name, struct hash *h, char *err,
		   size_t errn)
{
	struct reader r = { .fd = fd };
	char line[512], *end, *cmd;
	long n, i;
	size_t len;

	memset(h, 0, sizeof(*h));
	cmd = mbi_asprintf("*2\r\n$7\r\nHGETALL\r\n$%zu\r\n%s\r\n",
			   strlen(name), name);
	if (!cmd)
		return -1;
	len = strlen(cmd);
	if (write_all(fd, cmd, len)) {
		free(cmd);
		return -1;
	}
	free(cmd);
	if (rd_line(&r, line, sizeof(line)))
		return -1;
	if (line[0] == '-') {
		snprintf(err, errn, "%.200s", line + 1);
		return 1;
	}
	errno = 0;
	n = line[0] == '*' ? strtol(line + 1, &end, 10) : -1;
	if (line[0] != '*' || errno || *end || n < 0 || n % 2 ||
	    n > 2 * MAX_FIELDS)
		return -1;
	h->items = calloc(n ? (size_t)n : 1, sizeof(*h->items));
	if (!h->items)
		return -1;
	for (i = 0; i < n; i++, h->n++)
		if (read_bulk(&r, &h->items[i]))
			return -1;
	return 0;
}

/* ------------------------------------------------------------ the keys */

/* base64 of the SubjectPublicKeyInfo of a PEM private key, as mailcow
 * stores it in DKIM_PUB_KEYS; NULL when pem is not a private key. */
static char *public_b64(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) :
			NULL;
	unsigned char *der = NULL;
	char *out = NULL;
	int n = key ? i2d_PUBKEY(key, &der) : -1;

	if (n > 0 && (out = malloc(4 * (((size_t)n + 2) / 3) + 1)))
		EVP_EncodeBlock((unsigned char *)out, der, n);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	BIO_free(bio);
	return out;
}

/* Equal once blanks and line breaks are left out of b. */
static bool same_b64(const char *a, const char *b)
{
	for (; *b; b++) {
		if (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')
			continue;
		if (*a++ != *b)
			return false;
	}
	return !*a;
}

/* The DKIM_PUB_KEYS value of the domain of field SELECTOR.DOMAIN: the
 * longest domain that ends the field after a non-empty selector. */
static const struct mbi_buf *pub_of(const struct hash *pub,
				    const char *field)
{
	const struct mbi_buf *best = NULL;
	size_t fl = strlen(field), i, bestl = 0;

	for (i = 0; i + 1 < pub->n; i += 2) {
		const char *d = pub->items[i].data;
		size_t dl = pub->items[i].len;

		if (dl && fl > dl + 1 && field[fl - dl - 1] == '.' &&
		    !memcmp(field + fl - dl, d, dl) && dl > bestl) {
			best = &pub->items[i + 1];
			bestl = dl;
		}
	}
	return best;
}

static void check_keys(struct rd_run *x, const struct mbi_mentry *e,
		       const struct hash *priv, const struct hash *pub)
{
	char detail[600];
	size_t i;

	for (i = 0; i + 1 < priv->n; i += 2) {
		const char *field = priv->items[i].data;
		const struct mbi_buf *want = pub_of(pub, field);
		char *have = public_b64(priv->items[i + 1].data,
					priv->items[i + 1].len);

		x->out->keys++;
		if (!have)
			snprintf(detail, sizeof(detail),
				 "DKIM_PRIV_KEYS '%.200s' is not a PEM private key",
				 field);
		else if (!want)
			snprintf(detail, sizeof(detail),
				 "DKIM_PRIV_KEYS '%.200s' has no DKIM_PUB_KEYS entry for its domain",
				 field);
		else if (!same_b64(have, want->data))
			snprintf(detail, sizeof(detail),
				 "DKIM_PRIV_KEYS '%.200s' does not match its DKIM_PUB_KEYS public key",
				 field);
		else
			detail[0] = '\0';
		if (detail[0])
			x->fn(x->ud, "dkim", e->source, e->path, detail);
		else
			x->out->ok++;
		free(have);
	}
}

/* ------------------------------------------------------------ one dump */

/* The four digits after "REDIS" into v (5 bytes; "?" when unreadable). */
static void rdb_version(const char *path, char *v)
{
	char head[9];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd >= 0 ? mbi_read_full(fd, head, sizeof(head)) : -1;

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(head)) {
		memcpy(v, "?", 2);
		return;
	}
	memcpy(v, head + 5, 4);
	v[4] = '\0';
}

/* An RDB file starts with "REDIS" and a four-digit version. */
static bool is_rdb(const char *path)
{
	char head[9];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd >= 0 ? mbi_read_full(fd, head, sizeof(head)) : -1;
	int i;

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(head) || memcmp(head, "REDIS", 5))
		return false;
	for (i = 5; i < 9; i++)
		if (head[i] < '0' || head[i] > '9')
			return false;
	return true;
}

/* Wait until the server answers both hashes, or gives up (it exited,
 * or took too long). 0; -1 with a reason in why; 1 when the dump is of a
 * newer RDB version than this redis-server reads. */
static int fetch_hashes(struct rd_run *x, struct scratch_redis *s,
			struct hash *priv, struct hash *pub, char *why,
			size_t n)
{
	char err[256] = "";
	int i, fd = -1, rc = -1;

	for (i = 0; i < START_TENTHS && alive(s); i++) {
		if (fd < 0)
			fd = connect_sock(s->sock);
		if (fd >= 0) {
			rc = hgetall(fd, "DKIM_PRIV_KEYS", priv, err,
				     sizeof(err));
			if (!rc)
				rc = hgetall(fd, "DKIM_PUB_KEYS", pub, err,
					     sizeof(err));
			if (rc != 1 || strncmp(err, "LOADING", 7))
				break;
			hash_release(priv);
		}
		usleep(100000);
	}
	if (fd >= 0)
		close(fd);
	if (!rc)
		return 0;
	if (rc == 1) {
		snprintf(why, n, "redis-server answered: %.200s", err);
	} else if (too_new(x->ctx, s->log)) {
		return 1;
	} else {
		char tail[300];

		log_tail(x->ctx, s->log, tail, sizeof(tail));
		snprintf(why, n, "redis-server cannot load it%s%s",
			 tail[0] ? ": " : "", tail);
	}
	return -1;
}

static int check_dump(struct rd_run *x, const struct mbi_mentry *e,
		      const char *full)
{
	struct scratch_redis s = { 0 };
	struct hash priv = { 0 }, pub = { 0 };
	char *dir = strdup(full), *slash, why[600], ver[5];
	int rc = MB_OK;

	x->out->dumps++;
	if (!is_rdb(full)) {
		x->fn(x->ud, "redis", e->source, e->path,
		      "not an RDB file (it does not start with REDIS and a version): back up the dump that redis-server writes (SAVE or BGSAVE)");
		goto out;
	}
	s.sock = mbi_asprintf("%s/redis.sock", x->scratch);
	s.log = mbi_asprintf("%s/redis.log", x->scratch);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (!s.sock || !s.log || !slash) {
		rc = MB_E_NOMEM;
		goto out;
	}
	*slash = '\0';
	/* a dump before this one used them */
	unlink(s.sock);
	unlink(s.log);
	if (strlen(s.sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		rc = mbi_error(x->ctx, MB_E_IO, 0,
			       "scratch path '%s' is too long for a unix socket: set [options] scratch_dir to a shorter one",
			       x->scratch);
		goto out;
	}
	if (redis_spawn(&s, dir, slash + 1)) {
		mbi_log(x->ctx, MB_LOG_WARNING,
			"restore-test: DKIM keys in %s/%s not checked: install redis-server",
			e->source, e->path);
		goto out;
	}
	switch (fetch_hashes(x, &s, &priv, &pub, why, sizeof(why))) {
	case 0:
		x->out->checked++;
		check_keys(x, e, &priv, &pub);
		break;
	case 1:
		/* our limit, not a fault of the backup */
		rdb_version(full, ver);
		mbi_log(x->ctx, MB_LOG_WARNING,
			"restore-test: DKIM keys in %s/%s not checked: the dump is of RDB version %s, newer than this redis-server reads: install a newer redis-server",
			e->source, e->path, ver);
		break;
	default:
		x->out->checked++;
		x->fn(x->ud, "redis", e->source, e->path, why);
		break;
	}
out:
	redis_stop(&s);
	hash_release(&priv);
	hash_release(&pub);
	free(dir);
	return rc;
}

static int each_entry(void *ud, struct mbi_mentry *e)
{
	struct rd_run *x = ud;
	const char *base = strrchr(e->path, '/');
	char *full;
	int rc;

	base = base ? base + 1 : e->path;
	if (e->type != 'f' || strcmp(base, DUMP_NAME))
		return MB_OK;
	full = mbi_asprintf("%s/%s/%s", x->files_dir, e->source, e->path);
	if (!full)
		return MB_E_NOMEM;
	rc = check_dump(x, e, full);
	free(full);
	return rc;
}

int mbi_dkim_redis_check(struct mb_ctx *ctx, const struct mbi_manifest *m,
			 const char *files_dir, const char *scratch,
			 mbi_finding_fn fn, void *ud,
			 struct mbi_redis_dkim *out)
{
	struct rd_run x = { ctx, files_dir, scratch, fn, ud, out };

	return mbi_manifest_foreach(ctx, m, each_entry, &x);
}
