/* SPDX-License-Identifier: MIT */
/* repo/lock.c: repository lock objects (shared for backup, exclusive for prune). */
#include "mb-private.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

#define LOCK_MAGIC "mailbackup-lock 1\n"
#define LOCK_MAX (64 << 10)   /* a lock object is a few lines */
#define FUTURE_SLACK 86400    /* a refresh time further ahead is named */
#define SEEN_MAX (4 << 20)

struct mbi_lock {
	struct mbi_repo *r;
	char key[160];
	bool exclusive;
	int64_t created;
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	int refresh_rc;
	int64_t last_ok;  /* CLOCK_BOOTTIME (ms) of the last write that counted */
};

/* Milliseconds on a clock that also runs while the process is stopped.
 * Whole seconds are too coarse: with lock_timeout = 2s they would make a
 * refresh 1.01 s old look 2 s old. */
static int64_t boot_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* lock_timeout in milliseconds */
static int64_t timeout_ms(const struct mbi_repo *r)
{
	return r->ctx->cfg->lock_timeout * 1000;
}

void mbi_commit_point(const char *name)
{
	static int stopped;
	const char *want = getenv("MB_TEST_STOP_AT");

	/* test-only: stop once, right before the named commit, so that a
	 * test can let another host act and then resume us */
	if (want && !strcmp(want, name) &&
	    !__atomic_exchange_n(&stopped, 1, __ATOMIC_SEQ_CST))
		raise(SIGSTOP);
}

/* A lock not refreshed for lock_timeout may have been taken as stale by
 * another host, whatever happens after: it is lost for good. */
static void note_refresh(struct mbi_lock *l, bool ok)
{
	int64_t now = boot_now();

	if (now - l->last_ok >= timeout_ms(l->r))
		l->refresh_rc = MB_E_LOCKED;
	if (!ok)
		l->refresh_rc = MB_E_LOCKED;
	else if (!l->refresh_rc)
		l->last_ok = now;
}

/* ------------------------------------------------------------- parsing */

static int parse_num(const char *v, long long *out)
{
	char *end;
	long long n;

	if (*v < '0' || *v > '9')
		return MB_E_VERIFY;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || *end)
		return MB_E_VERIFY;
	*out = n;
	return MB_OK;
}

static bool host_ok(const char *h)
{
	size_t n = strlen(h);

	if (!n || n >= sizeof(((struct mbi_lockinfo *)0)->host))
		return false;
	return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789._-") == n;
}

static int parse_line(struct mbi_lockinfo *li, char *line, unsigned *seen)
{
	char *v = strchr(line, ' ');
	long long n;

	if (!v)
		return MB_E_VERIFY;
	*v++ = '\0';
	if (!strcmp(line, "kind")) {
		if (strcmp(v, "exclusive") && strcmp(v, "shared"))
			return MB_E_VERIFY;
		li->exclusive = !strcmp(v, "exclusive");
		*seen |= 1;
	} else if (!strcmp(line, "host")) {
		if (!host_ok(v))
			return MB_E_VERIFY;
		memcpy(li->host, v, strlen(v) + 1);
		*seen |= 2;
	} else if (!strcmp(line, "pid")) {
		if (parse_num(v, &n) || n > 0x7fffffff)
			return MB_E_VERIFY;
		li->pid = (long)n;
		*seen |= 4;
	} else if (!strcmp(line, "created")) {
		if (parse_num(v, &li->created))
			return MB_E_VERIFY;
		*seen |= 8;
	} else if (!strcmp(line, "refreshed")) {
		if (parse_num(v, &li->refreshed))
			return MB_E_VERIFY;
		*seen |= 16;
	} else if (!strcmp(line, "timeout")) {
		/* optional: the holder's lock_timeout */
		if (parse_num(v, &li->timeout))
			return MB_E_VERIFY;
	}
	return MB_OK; /* unknown keys: a later version may add some */
}

int mbi_lock_parse(const char *text, size_t len, struct mbi_lockinfo *li)
{
	size_t ml = strlen(LOCK_MAGIC), off;
	unsigned seen = 0;

	memset(li, 0, sizeof(*li));
	if (len > LOCK_MAX || len < ml || memcmp(text, LOCK_MAGIC, ml))
		return MB_E_VERIFY;
	for (off = ml; off < len;) {
		const char *nl = memchr(text + off, '\n', len - off);
		char line[256];
		size_t n;

		if (!nl)
			return MB_E_VERIFY; /* cut short */
		n = (size_t)(nl - (text + off));
		if (n >= sizeof(line) || memchr(text + off, '\0', n))
			return MB_E_VERIFY;
		memcpy(line, text + off, n);
		line[n] = '\0';
		if (parse_line(li, line, &seen))
			return MB_E_VERIFY;
		off += n + 1;
	}
	if (seen != 31)
		return MB_E_VERIFY;
	li->parsed = true;
	return MB_OK;
}

static int put_lock(struct mbi_lock *l)
{
	struct mbi_buf b = { 0 };
	int rc = mbi_buf_printf(&b, LOCK_MAGIC "kind %s\nhost %s\npid %ld\n"
				"created %lld\nrefreshed %lld\ntimeout %lld\n",
				l->exclusive ? "exclusive" : "shared",
				l->r->ctx->cfg->host, (long)getpid(),
				(long long)l->created, (long long)time(NULL),
				(long long)l->r->ctx->cfg->lock_timeout);

	if (!rc)
		rc = mbi_store_put_buf(l->r->store, l->key, b.data, b.len);
	mbi_buf_release(&b);
	return rc;
}

static void *refresher(void *arg)
{
	struct mbi_lock *l = arg;
	int64_t every = timeout_ms(l->r) / 4;
	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		struct timespec ts;

		mbi_deadline_ms(&ts, every);
		if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT &&
		    !l->stop) {
			int64_t before = boot_now();
			bool ok;

			/* a gap before the write counts as much as after */
			if (before - l->last_ok >= timeout_ms(l->r))
				l->refresh_rc = MB_E_LOCKED;
			pthread_mutex_unlock(&l->mu);
			ok = put_lock(l) == MB_OK;
			pthread_mutex_lock(&l->mu);
			note_refresh(l, ok);
		}
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* ------------------------------------------------- other runs' locks */

enum lock_state {
	LOCK_GONE = 0, /* released between listing and reading */
	LOCK_OK,
	LOCK_BAD,      /* unparsable */
	LOCK_BIG,      /* larger than any lock this tool writes */
};

struct lockent {
	char key[1100]; /* S3 keys go up to 1024 bytes */
	enum lock_state state;
	struct mbi_lockinfo li;
	char hash[MBI_SHA256_HEX]; /* of the content, to see it change */
};

struct lock_list {
	struct lockent *v;
	size_t n, cap;
};

static int add_key(void *ud, const char *key, uint64_t size)
{
	struct lock_list *ll = ud;

	(void)size;
	if (ll->n == ll->cap) {
		size_t cap = ll->cap ? ll->cap * 2 : 8;
		void *nv = realloc(ll->v, cap * sizeof(*ll->v));

		if (!nv)
			return MB_E_NOMEM;
		ll->v = nv;
		ll->cap = cap;
	}
	memset(&ll->v[ll->n], 0, sizeof(ll->v[0]));
	snprintf(ll->v[ll->n].key, sizeof(ll->v[0].key), "%s", key);
	/* a name longer than ours can be is no lock we wrote: held, named
	 * (and removed by unlock --remove-all) */
	if (strlen(key) >= 160)
		ll->v[ll->n].state = LOCK_BAD;
	ll->n++;
	return MB_OK;
}

static int read_one(struct mbi_repo *r, struct lockent *e)
{
	struct mbi_buf b = { 0 };
	uint64_t size = 0;
	unsigned char sha[MBI_SHA256_LEN];
	int rc;

	if (e->state == LOCK_BAD) {
		snprintf(e->hash, sizeof(e->hash), "long-name");
		return MB_OK;
	}
	rc = mbi_store_stat(r->store, e->key, &size);

	if (rc == MB_E_NOTFOUND)
		return MB_OK; /* released meanwhile: LOCK_GONE */
	if (rc)
		return rc;
	if (size > LOCK_MAX) {
		/* never read more than a lock can hold; its size and name
		 * are what an observer sees change */
		e->state = LOCK_BIG;
		snprintf(e->hash, sizeof(e->hash), "size-%llu",
			 (unsigned long long)size);
		return MB_OK;
	}
	rc = mbi_store_get_buf(r->store, e->key, &b, LOCK_MAX);
	if (rc == MB_E_NOTFOUND)
		return MB_OK;
	if (rc == MB_E_VERIFY) {
		e->state = LOCK_BIG; /* grew between stat and get */
		return MB_OK;
	}
	if (rc)
		return rc;
	mbi_sha256_buf(b.data ? b.data : "", b.len, sha);
	mbi_hex(sha, sizeof(sha), e->hash);
	e->state = mbi_lock_parse(b.data ? b.data : "", b.len, &e->li) ?
		   LOCK_BAD : LOCK_OK;
	mbi_buf_release(&b);
	return MB_OK;
}

static int read_locks(struct mbi_repo *r, struct lock_list *ll)
{
	size_t i;
	int rc = mbi_store_list(r->store, "locks/", add_key, ll);

	for (i = 0; !rc && i < ll->n; i++)
		rc = read_one(r, &ll->v[i]);
	return rc;
}

/*
 * What this host has seen of other runs' locks: for each lock object, its
 * content hash and when (CLOCK_BOOTTIME, in this boot) that content was
 * first seen. Kept in the cache directory so that runs minutes apart add
 * up. A lock is stale when its content has not changed for lock_timeout
 * as measured here: no remote clock is trusted.
 */
struct seen {
	char key[1100];
	char hash[MBI_SHA256_HEX];
	int64_t first;
};

struct seen_list {
	char boot[40];
	struct seen *v;
	size_t n;
	char *path;
};

static void seen_load(struct mbi_repo *r, struct seen_list *sl)
{
	char *dir = mbi_cache_dir(r->ctx, r->id);
	char boot[40], line[1300];
	FILE *f;

	memset(sl, 0, sizeof(*sl));
	mbi_boot_id(sl->boot);
	if (!dir)
		return;
	/* times in ms (the older "locks-seen" held seconds) */
	sl->path = mbi_asprintf("%s/locks-seen-ms", dir);
	free(dir);
	f = sl->path ? fopen(sl->path, "re") : NULL;
	if (!f)
		return;
	/* another boot's monotonic times mean nothing now */
	if (fgets(boot, sizeof(boot), f))
		boot[strcspn(boot, "\n")] = '\0';
	else
		boot[0] = '\0';
	if (strcmp(boot, sl->boot)) {
		fclose(f);
		return;
	}
	while (sl->n < 4096 && fgets(line, sizeof(line), f)) {
		struct seen s;
		long long first;
		void *nv;

		memset(&s, 0, sizeof(s));
		if (sscanf(line, "%lld %64s %1099s", &first, s.hash, s.key) != 3)
			continue;
		s.first = first;
		nv = realloc(sl->v, (sl->n + 1) * sizeof(*sl->v));
		if (!nv)
			break;
		sl->v = nv;
		sl->v[sl->n++] = s;
	}
	fclose(f);
}

static struct seen *seen_find(struct seen_list *sl, const char *key)
{
	size_t i;

	for (i = 0; i < sl->n; i++)
		if (!strcmp(sl->v[i].key, key))
			return &sl->v[i];
	return NULL;
}

/* Write back what is seen now (the current locks only). */
static void seen_save(struct mbi_repo *r, struct seen_list *sl,
		      const struct lock_list *ll)
{
	struct mbi_buf b = { 0 };
	size_t i;
	int rc;

	if (!sl->path)
		return;
	rc = mbi_buf_printf(&b, "%s\n", sl->boot);
	for (i = 0; !rc && i < ll->n; i++) {
		struct seen *s = seen_find(sl, ll->v[i].key);

		if (s && ll->v[i].state != LOCK_GONE)
			rc = mbi_buf_printf(&b, "%lld %s %s\n",
					    (long long)s->first, s->hash,
					    s->key);
	}
	if (!rc)
		mbi_write_file_atomic(r->ctx, sl->path, b.data, b.len, 0600);
	mbi_buf_release(&b);
}

static void seen_release(struct seen_list *sl)
{
	free(sl->v);
	free(sl->path);
	memset(sl, 0, sizeof(*sl));
}

/* Record e's content; the ms it has been unchanged, seen from here. */
static int64_t observe(struct seen_list *sl, const struct lockent *e,
		       int64_t now)
{
	struct seen *s = seen_find(sl, e->key);

	if (!s) {
		void *nv = realloc(sl->v, (sl->n + 1) * sizeof(*sl->v));

		if (!nv)
			return 0;
		sl->v = nv;
		s = &sl->v[sl->n++];
		memset(s, 0, sizeof(*s));
		snprintf(s->key, sizeof(s->key), "%s", e->key);
		s->first = now;
		snprintf(s->hash, sizeof(s->hash), "%s", e->hash);
	}
	if (strcmp(s->hash, e->hash)) {
		snprintf(s->hash, sizeof(s->hash), "%s", e->hash);
		s->first = now;
	}
	return now - s->first;
}

/* How long another run's lock must be seen unchanged to be stale, in ms:
 * our lock_timeout, or the holder's when it announces a longer one (it
 * refreshes only every quarter of its own). A year at most. */
static int64_t stale_after_ms(const struct mbi_repo *r,
			      const struct mbi_lockinfo *li)
{
	int64_t t = timeout_ms(r);
	long long theirs = li->timeout;

	if (theirs > 366LL * 86400)
		theirs = 366LL * 86400;
	return theirs * 1000 > t ? theirs * 1000 : t;
}

/* A lock whose holder is gone: a dead process of this host, or content
 * that has not changed for lock_timeout as this host measures it. */
static bool is_stale(struct mbi_repo *r, struct seen_list *sl,
		     const struct lockent *e)
{
	const struct mbi_lockinfo *li = &e->li;
	int64_t unchanged = observe(sl, e, boot_now());

	if (e->state != LOCK_OK)
		return false; /* named, held: unlock --remove-all clears it */
	if (!strcmp(li->host, r->ctx->cfg->host) && li->pid > 0 &&
	    kill((pid_t)li->pid, 0) && errno == ESRCH)
		return true;
	return unchanged >= stale_after_ms(r, li);
}

static int held_error(struct mbi_repo *r, const struct lockent *e)
{
	const struct mbi_lockinfo *li = &e->li;
	long long ahead = li->refreshed - (long long)time(NULL);

	if (e->state == LOCK_BIG || e->state == LOCK_BAD)
		return mbi_error(r->ctx, MB_E_LOCKED, 0,
				 "lock object '%s' is %s, not a lock this tool writes: it counts as held; if no mailbackup runs on any host, remove every lock with 'mailbackup unlock --remove-all'",
				 e->key, e->state == LOCK_BIG ?
				 "larger than 64 KiB" : "unparsable");
	if (li->pid == 0 || ahead > FUTURE_SLACK)
		return mbi_error(r->ctx, MB_E_LOCKED, 0,
				 "the repository is locked by lock '%s' of host %s, which %s: it counts as stale once unchanged for lock_timeout (%llds) on this host's clock; if no mailbackup runs on any host, remove every lock with 'mailbackup unlock --remove-all'",
				 e->key, li->host, li->pid == 0 ?
				 "names pid 0 (no process)" :
				 "claims a refresh time far in the future",
				 (long long)r->ctx->cfg->lock_timeout);
	return mbi_error(r->ctx, MB_E_LOCKED, 0,
			 "the repository is locked by a %s on host %s (pid %ld, lock '%s'): try again later or pass --wait (a lock unchanged for %llds on this host's clock counts as stale: lock_timeout, or the holder's when longer)",
			 li->exclusive ? "prune" : "backup", li->host, li->pid,
			 e->key, (long long)(stale_after_ms(r, li) / 1000));
}

/* One look at the other locks: MB_OK when none blocks us. */
static int check_others(struct mbi_lock *l)
{
	struct mbi_repo *r = l->r;
	struct lock_list ll = { 0 };
	struct seen_list sl;
	size_t i;
	int rc;
	int held = MB_OK;

	seen_load(r, &sl);
	rc = read_locks(r, &ll);
	/* look at every lock, so that each one's observation is recorded */
	for (i = 0; !rc && i < ll.n; i++) {
		struct lockent *e = &ll.v[i];

		if (e->state == LOCK_GONE || !strcmp(e->key, l->key))
			continue;
		if (!l->exclusive && e->state == LOCK_OK && !e->li.exclusive)
			continue; /* backups share */
		if (is_stale(r, &sl, e)) {
			mbi_log(r->ctx, MB_LOG_WARNING,
				"ignoring stale lock '%s' (host %s, pid %ld): unchanged for lock_timeout on this host's clock, or its process is gone; remove it with 'mailbackup unlock'",
				e->key, e->li.host, e->li.pid);
			continue;
		}
		if (!held)
			held = held_error(r, e);
	}
	seen_save(r, &sl, &ll);
	seen_release(&sl);
	free(ll.v);
	return rc ? rc : held;
}

/* ------------------------------------------------------ our own lock */

static int commit_guard(void *ud, const char *key)
{
	if (!strncmp(key, "index/", 6))
		mbi_commit_point("index-commit");
	else if (!strncmp(key, "snapshots/", 10))
		mbi_commit_point("manifest-commit");
	else
		return MB_OK;
	return mbi_lock_prove(ud);
}

void mbi_lock_release(struct mbi_lock *l)
{
	if (!l)
		return;
	if (l->running) {
		pthread_mutex_lock(&l->mu);
		l->stop = true;
		pthread_cond_signal(&l->cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
	}
	if (l->r->store->guard_ud == l) {
		l->r->store->guard = NULL;
		l->r->store->guard_ud = NULL;
	}
	if (mbi_store_del(l->r->store, l->key))
		mbi_log(l->r->ctx, MB_LOG_WARNING,
			"cannot remove lock '%s': remove it with 'mailbackup unlock' once stale",
			l->key);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}

static int lost(struct mbi_lock *l, const char *why)
{
	pthread_mutex_lock(&l->mu);
	l->refresh_rc = MB_E_LOCKED;
	pthread_mutex_unlock(&l->mu);
	return mbi_error(l->r->ctx, MB_E_LOCKED, 0,
			 "the repository lock '%s' %s: another host may have taken it as stale, so nothing more is written or deleted (this step was not committed); run the command again",
			 l->key, why);
}

int mbi_lock_check(struct mbi_lock *l)
{
	if (l) {
		pthread_mutex_lock(&l->mu);
		if (boot_now() - l->last_ok >= timeout_ms(l->r))
			l->refresh_rc = MB_E_LOCKED;
		pthread_mutex_unlock(&l->mu);
	}
	if (l && l->refresh_rc)
		return mbi_error(l->r->ctx, MB_E_LOCKED, 0,
				 "the repository lock '%s' was not refreshed within lock_timeout (the process was stopped or the store failed): another host may have taken it as stale, so nothing more is written or deleted",
				 l->key);
	return MB_OK;
}

int mbi_lock_prove(struct mbi_lock *l)
{
	struct mbi_buf b = { 0 };
	struct mbi_lockinfo li;
	int64_t age;
	int rc;

	if (!l)
		return MB_OK;
	if ((rc = mbi_lock_check(l)))
		return rc;
	pthread_mutex_lock(&l->mu);
	age = boot_now() - l->last_ok;
	pthread_mutex_unlock(&l->mu);
	/* half the timeout: what is left covers the step that follows */
	if (age * 2 > timeout_ms(l->r))
		return lost(l, "was last refreshed too long ago on this host's clock");
	rc = mbi_store_get_buf(l->r->store, l->key, &b, LOCK_MAX);
	if (rc == MB_E_NOTFOUND)
		return lost(l, "is gone (removed by another host or by 'unlock --remove-all')");
	if (rc)
		return mbi_error_prefix(l->r->ctx, rc,
					"cannot read back the repository lock '%s'",
					l->key);
	rc = mbi_lock_parse(b.data ? b.data : "", b.len, &li);
	mbi_buf_release(&b);
	if (rc || strcmp(li.host, l->r->ctx->cfg->host) ||
	    li.pid != (long)getpid() || li.created != l->created)
		return lost(l, "no longer holds what this run wrote");
	return MB_OK;
}

/*
 * A local repository keeps a reserve object that a lock holder may delete
 * when its lock cannot be written because the file system is full: prune
 * (forget, repair) can then take its lock and write its index on a full
 * repository, and free space. Each successful backup puts it back.
 */
void mbi_reserve_keep(struct mbi_repo *r)
{
	uint64_t size;
	char *z;

	if (strcmp(r->store->backend->name, "local") ||
	    mbi_store_stat(r->store, MBI_RESERVE_KEY, &size) == MB_OK)
		return;
	z = calloc(1, MBI_RESERVE_SIZE);
	if (z && mbi_store_put_buf(r->store, MBI_RESERVE_KEY, z,
				   MBI_RESERVE_SIZE))
		mbi_log(r->ctx, MB_LOG_INFO,
			"no room for the reserve object '%s' (%s)",
			MBI_RESERVE_KEY, mb_ctx_errmsg(r->ctx));
	free(z);
}

static int put_first_lock(struct mbi_lock *l)
{
	struct mb_ctx *ctx = l->r->ctx;
	int rc;

	ctx->store_full = 0;
	rc = put_lock(l);
	/* only for a prune: it frees space, a backup would take more */
	if (rc && ctx->store_full && l->exclusive &&
	    !mbi_store_del(l->r->store, MBI_RESERVE_KEY)) {
		mbi_log(ctx, MB_LOG_WARNING,
			"the repository is full: used its reserve object to take the lock");
		rc = put_lock(l);
	}
	return rc;
}

static void drop_own(struct mbi_lock *l)
{
	mbi_store_del(l->r->store, l->key);
}

int mbi_lock_acquire(struct mbi_repo *r, bool exclusive, int64_t wait,
		     struct mbi_lock **out)
{
	struct mbi_lock *l = calloc(1, sizeof(*l));
	int64_t deadline = boot_now() + (wait > 0 ? wait : 0) * 1000;
	char rnd[9];
	int rc;

	if (!l)
		return MB_E_NOMEM;
	l->r = r;
	l->exclusive = exclusive;
	l->created = (int64_t)time(NULL);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	mbi_random_hex(rnd, 4);
	snprintf(l->key, sizeof(l->key), "locks/%s-%ld-%lld-%s",
		 r->ctx->cfg->host, (long)getpid(), (long long)l->created,
		 rnd);
	for (;;) {
		/* write first, then look: of two runs that start together
		 * at least one sees the other */
		l->last_ok = boot_now();
		if ((rc = put_first_lock(l))) {
			rc = mbi_error_prefix(r->ctx, rc, "cannot write a lock");
			break;
		}
		rc = check_others(l);
		if (rc != MB_E_LOCKED || boot_now() >= deadline)
			break;
		/* step back while waiting, so that two waiters never hold
		 * each other off */
		drop_own(l);
		mbi_log(r->ctx, MB_LOG_INFO, "%s; waiting", mb_ctx_errmsg(r->ctx));
		sleep((unsigned)(deadline - boot_now() < 10000 ?
				 (deadline - boot_now()) / 1000 + 1 : 10));
	}
	if (rc) {
		drop_own(l);
		pthread_mutex_destroy(&l->mu);
		pthread_cond_destroy(&l->cv);
		free(l);
		return rc;
	}
	if (pthread_create(&l->thread, NULL, refresher, l) == 0)
		l->running = true;
	r->store->guard = commit_guard;
	r->store->guard_ud = l;
	*out = l;
	return MB_OK;
}

int mbi_lock_remove_stale(struct mbi_repo *r, bool all, size_t *removed)
{
	struct lock_list ll = { 0 };
	struct seen_list sl;
	size_t i;
	int rc;

	*removed = 0;
	seen_load(r, &sl);
	rc = read_locks(r, &ll);
	for (i = 0; !rc && i < ll.n; i++) {
		struct lockent *e = &ll.v[i];

		if (e->state == LOCK_GONE)
			continue;
		if (!all && !is_stale(r, &sl, e)) {
			if (e->state != LOCK_OK)
				mbi_log(r->ctx, MB_LOG_WARNING,
					"lock object '%s' is %s: if no mailbackup runs on any host, remove every lock with 'mailbackup unlock --remove-all'",
					e->key, e->state == LOCK_BIG ?
					"larger than 64 KiB" : "unparsable");
			continue;
		}
		rc = mbi_store_del(r->store, e->key);
		if (rc == MB_E_NOTFOUND)
			rc = MB_OK;
		else if (!rc) {
			(*removed)++;
			mbi_log(r->ctx, MB_LOG_INFO, "removed %slock '%s'",
				all ? "" : "stale ", e->key);
		}
	}
	seen_save(r, &sl, &ll);
	seen_release(&sl);
	free(ll.v);
	return rc;
}
