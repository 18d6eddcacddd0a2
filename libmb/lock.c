/* SPDX-License-Identifier: MIT */
/* lock.c: repository lock objects (shared for backup, exclusive for prune). */
#include "mb-private.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

#define LOCK_MAGIC "mailbackup-lock 1\n"

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
	int64_t last_ok;  /* CLOCK_BOOTTIME of the last write that counted */
};

/* Seconds on a clock that also runs while the process is stopped. */
static int64_t boot_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* A lock not refreshed for lock_timeout may have been taken as stale by
 * another host, whatever happens after: it is lost for good. */
static void note_refresh(struct mbi_lock *l, bool ok)
{
	int64_t now = boot_now();

	if (now - l->last_ok >= l->r->ctx->cfg->lock_timeout)
		l->refresh_rc = MB_E_LOCKED;
	if (!ok)
		l->refresh_rc = MB_E_LOCKED;
	else if (!l->refresh_rc)
		l->last_ok = now;
}

struct lockinfo {
	char key[160];
	bool exclusive;
	char host[128];
	long pid;
	int64_t refreshed;
	bool parsed;
};

static int put_lock(struct mbi_lock *l)
{
	struct mbi_buf b = { 0 };
	int rc = mbi_buf_printf(&b, LOCK_MAGIC "kind %s\nhost %s\npid %ld\n"
				"created %lld\nrefreshed %lld\n",
				l->exclusive ? "exclusive" : "shared",
				l->r->ctx->cfg->host, (long)getpid(),
				(long long)l->created, (long long)time(NULL));

	if (!rc)
		rc = mbi_store_put_buf(l->r->store, l->key, b.data, b.len);
	mbi_buf_release(&b);
	return rc;
}

static void *refresher(void *arg)
{
	struct mbi_lock *l = arg;
	int64_t every = l->r->ctx->cfg->lock_timeout / 4;

	if (every < 1)
		every = 1;
	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)every;
		if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT &&
		    !l->stop) {
			int64_t before = boot_now();
			bool ok;

			/* a gap before the write counts as much as after */
			if (before - l->last_ok >= l->r->ctx->cfg->lock_timeout)
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

struct lock_list {
	struct lockinfo *v;
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
	ll->n++;
	return MB_OK;
}

static void parse_lock(struct lockinfo *li, const char *text)
{
	const char *p;
	long long t;

	if (strncmp(text, LOCK_MAGIC, strlen(LOCK_MAGIC)))
		return;
	li->exclusive = strstr(text, "\nkind exclusive\n") != NULL;
	p = strstr(text, "\nhost ");
	if (!p || sscanf(p, "\nhost %127s", li->host) != 1)
		return;
	p = strstr(text, "\npid ");
	if (!p || sscanf(p, "\npid %ld", &li->pid) != 1)
		return;
	p = strstr(text, "\nrefreshed ");
	if (!p || sscanf(p, "\nrefreshed %lld", &t) != 1)
		return;
	li->refreshed = t;
	li->parsed = true;
}

/* A lock whose holder is gone. */
static bool is_stale(struct mbi_repo *r, const struct lockinfo *li)
{
	if (!li->parsed)
		return false; /* unreadable: count it as held, to be safe */
	if (!strcmp(li->host, r->ctx->cfg->host) && li->pid > 0 &&
	    kill((pid_t)li->pid, 0) && errno == ESRCH)
		return true;
	return (int64_t)time(NULL) - li->refreshed > r->ctx->cfg->lock_timeout;
}

static int read_locks(struct mbi_repo *r, struct lock_list *ll)
{
	size_t i;
	int rc = r->store->ops->list(r->store, "locks/", add_key, ll);

	for (i = 0; !rc && i < ll->n; i++) {
		struct mbi_buf b = { 0 };
		int grc = mbi_store_get_buf(r->store, ll->v[i].key, &b,
					    64 << 10);

		if (grc == MB_E_NOTFOUND) {
			ll->v[i].key[0] = '\0'; /* released meanwhile */
			continue;
		}
		if (grc)
			return grc;
		parse_lock(&ll->v[i], b.data);
		mbi_buf_release(&b);
	}
	return rc;
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
	if (l->r->store->ops->del(l->r->store, l->key))
		mbi_log(l->r->ctx, MB_LOG_WARNING,
			"cannot remove lock '%s': remove it with 'mailbackup unlock' once stale",
			l->key);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}

int mbi_lock_check(struct mbi_lock *l)
{
	if (l) {
		pthread_mutex_lock(&l->mu);
		if (boot_now() - l->last_ok >= l->r->ctx->cfg->lock_timeout)
			l->refresh_rc = MB_E_LOCKED;
		pthread_mutex_unlock(&l->mu);
	}
	if (l && l->refresh_rc)
		return mbi_error(l->r->ctx, MB_E_LOCKED, 0,
				 "the repository lock '%s' was not refreshed within lock_timeout (the process was stopped or the store failed): another host may have taken it as stale, so nothing more is written or deleted",
				 l->key);
	return MB_OK;
}

int mbi_lock_acquire(struct mbi_repo *r, bool exclusive, struct mbi_lock **out)
{
	struct mbi_lock *l = calloc(1, sizeof(*l));
	struct lock_list ll = { 0 };
	char rnd[9];
	size_t i;
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
	/* write first, then look: of two runs that start together at least
	 * one sees the other */
	l->last_ok = boot_now();
	if ((rc = put_lock(l))) {
		pthread_mutex_destroy(&l->mu);
		pthread_cond_destroy(&l->cv);
		free(l);
		return mbi_error_prefix(r->ctx, rc, "cannot write a lock");
	}
	if ((rc = read_locks(r, &ll)))
		goto fail;
	for (i = 0; i < ll.n; i++) {
		struct lockinfo *li = &ll.v[i];

		if (!li->key[0] || !strcmp(li->key, l->key))
			continue;
		if (!exclusive && !li->exclusive)
			continue; /* backups share */
		if (is_stale(r, li)) {
			mbi_log(r->ctx, MB_LOG_WARNING,
				"ignoring stale lock '%s' (host %s, pid %ld): remove it with 'mailbackup unlock'",
				li->key, li->host, li->pid);
			continue;
		}
		rc = mbi_error(r->ctx, MB_E_LOCKED, 0,
			       "the repository is locked by a %s on host %s (pid %ld, lock '%s'): try again later",
			       li->exclusive ? "prune" : "backup",
			       li->parsed ? li->host : "?", li->pid, li->key);
		goto fail;
	}
	free(ll.v);
	if (pthread_create(&l->thread, NULL, refresher, l) == 0)
		l->running = true;
	*out = l;
	return MB_OK;
fail:
	free(ll.v);
	mbi_lock_release(l);
	return rc;
}

int mbi_lock_remove_stale(struct mbi_repo *r, size_t *removed)
{
	struct lock_list ll = { 0 };
	size_t i;
	int rc = read_locks(r, &ll);

	*removed = 0;
	for (i = 0; !rc && i < ll.n; i++) {
		if (!ll.v[i].key[0] || !is_stale(r, &ll.v[i]))
			continue;
		rc = r->store->ops->del(r->store, ll.v[i].key);
		if (!rc) {
			(*removed)++;
			mbi_log(r->ctx, MB_LOG_INFO, "removed stale lock '%s'",
				ll.v[i].key);
		}
	}
	free(ll.v);
	return rc;
}
