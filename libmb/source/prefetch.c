/* SPDX-License-Identifier: MIT */
/* source/prefetch.c: reading a tree's inodes ahead of the walker, in parallel. */
#include "mb-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

/*
 * The walker stats one file after the other: on a cold cache each inode
 * read waits for the disk, one at a time. A few threads that list the same
 * directories and stat their entries keep several reads in flight, and the
 * walker then finds the inodes cached (measured on a cold 40,000-message
 * tree: 0.67 s serial, 0.30 s with four). They only warm the cache: what
 * they see is thrown away, and their errors do not matter.
 */
#define PREFETCH_THREADS 4
#define PREFETCH_LEAD 65536 /* entries ahead of the walker, at most */
/* A warm cache answers a stat in a microsecond or two, a cold one waits for
 * the disk: after this many stats at this average the prefetchers stop,
 * as they would only take the walker's CPU. */
#define PREFETCH_PROBE 1024
#define PREFETCH_WARM_S 10e-6

struct mbi_prefetch {
	int root_fd;
	dev_t dev;
	ino_t ino;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char **dirs;          /* directories to list, relative to the root */
	size_t n, cap;
	size_t busy;          /* threads listing a directory */
	bool stop;
	uint64_t done;        /* entries seen by the prefetchers */
	double stat_s;        /* seconds their stats took */
	uint64_t walked;      /* entries seen by the walker */
	pthread_t th[PREFETCH_THREADS];
	int nth;
	char *path;                 /* started early for this source */
	struct mbi_prefetch *next;  /* of ctx->early */
};

static bool push_dir(struct mbi_prefetch *pf, char *path)
{
	if (pf->n == pf->cap) {
		size_t cap = pf->cap ? pf->cap * 2 : 64;
		char **nd = realloc(pf->dirs, cap * sizeof(*nd));

		if (!nd) {
			free(path);
			return false;
		}
		pf->dirs = nd;
		pf->cap = cap;
	}
	pf->dirs[pf->n++] = path;
	return true;
}

/* List one directory and stat its entries; returns its subdirectories
 * (an array of *nsubs, or NULL), how many entries it had and the seconds
 * their stats took. */
static char **list_dir(struct mbi_prefetch *pf, const char *path,
		       size_t *nsubs, uint64_t *entries, double *spent)
{
	int fd = openat(pf->root_fd, path, O_RDONLY | O_DIRECTORY |
			O_NOFOLLOW | O_CLOEXEC);
	char **subs = NULL;
	size_t ns = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*nsubs = 0;
	*entries = 0;
	*spent = 0;
	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return NULL;
	}
	while (!__atomic_load_n(&pf->stop, __ATOMIC_RELAXED) &&
	       (de = readdir(d))) {
		struct stat st;
		double t0;
		char *sub;
		int bad;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		t0 = mbi_now();
		(*entries)++;
		bad = fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW);
		*spent += mbi_now() - t0;
		if (bad || !S_ISDIR(st.st_mode) || st.st_dev != pf->dev)
			continue;
		if (ns == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **n2 = realloc(subs, nc * sizeof(*n2));

			if (!n2)
				break;
			subs = n2;
			cap = nc;
		}
		sub = strcmp(path, ".") ? mbi_asprintf("%s/%s", path,
						       de->d_name) :
					  strdup(de->d_name);
		if (!sub)
			break;
		subs[ns++] = sub;
	}
	closedir(d);
	*nsubs = ns;
	return subs;
}

static void *prefetch_main(void *arg)
{
	struct mbi_prefetch *pf = arg;

	pthread_mutex_lock(&pf->lock);
	for (;;) {
		char *path, **subs;
		uint64_t entries;
		double spent;
		size_t nsubs;

		if (pf->stop || (!pf->n && !pf->busy))
			break;
		if (!pf->n || pf->done >
		    __atomic_load_n(&pf->walked, __ATOMIC_RELAXED) +
		    PREFETCH_LEAD) {
			/* nothing to list yet, or far enough ahead: the
			 * walker does not signal, so look again shortly */
			struct timespec ts;

			mbi_deadline_ms(&ts, 5);
			pthread_cond_timedwait(&pf->cond, &pf->lock, &ts);
			continue;
		}
		path = pf->dirs[--pf->n];
		pf->busy++;
		pthread_mutex_unlock(&pf->lock);
		subs = list_dir(pf, path, &nsubs, &entries, &spent);
		free(path);
		pthread_mutex_lock(&pf->lock);
		pf->busy--;
		pf->done += entries;
		pf->stat_s += spent;
		if (pf->done >= PREFETCH_PROBE && pf->done - entries <
		    PREFETCH_PROBE &&
		    pf->stat_s / (double)pf->done < PREFETCH_WARM_S)
			__atomic_store_n(&pf->stop, true, __ATOMIC_RELAXED);
		/* pushed in reverse, so the first is listed next */
		while (nsubs--)
			if (pf->stop || !push_dir(pf, subs[nsubs]))
				free(subs[nsubs]);
		free(subs);
		pthread_cond_broadcast(&pf->cond);
	}
	pthread_cond_broadcast(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
	return NULL;
}

struct mbi_prefetch *mbi_prefetch_start(int root_fd)
{
	struct mbi_prefetch *pf = calloc(1, sizeof(*pf));
	struct stat st;
	char *root;
	int i;

	if (!pf)
		return NULL;
	pf->root_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
	root = strdup(".");
	if (pf->root_fd < 0 || fstat(pf->root_fd, &st) || !root ||
	    !push_dir(pf, root)) {
		if (pf->root_fd >= 0)
			close(pf->root_fd);
		free(pf->dirs);
		free(pf);
		return NULL;
	}
	pf->dev = st.st_dev;
	pf->ino = st.st_ino;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->cond, NULL);
	for (i = 0; i < PREFETCH_THREADS; i++)
		if (!pthread_create(&pf->th[pf->nth], NULL, prefetch_main, pf))
			pf->nth++;
	return pf;
}

void mbi_prefetch_walked(struct mbi_prefetch *pf, uint64_t n)
{
	if (pf)
		__atomic_add_fetch(&pf->walked, n, __ATOMIC_RELAXED);
}

void mbi_prefetch_stop(struct mbi_prefetch *pf)
{
	int i;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	__atomic_store_n(&pf->stop, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
	for (i = 0; i < pf->nth; i++)
		pthread_join(pf->th[i], NULL);
	while (pf->n)
		free(pf->dirs[--pf->n]);
	free(pf->dirs);
	close(pf->root_fd);
	pthread_mutex_destroy(&pf->lock);
	pthread_cond_destroy(&pf->cond);
	free(pf->path);
	free(pf);
}

/*
 * A backup spends its first ~100 ms on gpg, the lock, the index and the
 * cache before it walks: on a cold page cache, prefetchers started first
 * read the tree's first directories and inodes meanwhile.
 */
static bool named(const char *const *only, const char *name)
{
	for (; only && *only; only++)
		if (!strcmp(*only, name))
			return true;
	return !only;
}

void mbi_prefetch_early(struct mb_ctx *ctx, const char *const *only)
{
	size_t i;

	for (i = 0; ctx->cfg && i < ctx->cfg->nsources; i++) {
		const struct mbi_source *src = &ctx->cfg->sources[i];
		struct mbi_prefetch *pf;
		int fd;

		if (!src->kind->tree || !src->path || !named(only, src->name))
			continue;
		fd = open(src->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue; /* its walk says why */
		pf = mbi_prefetch_start(fd);
		close(fd);
		if (pf && !(pf->path = strdup(src->path))) {
			mbi_prefetch_stop(pf);
			continue;
		}
		if (pf) {
			pf->next = ctx->early;
			ctx->early = pf;
		}
	}
}

struct mbi_prefetch *mbi_prefetch_take(struct mb_ctx *ctx, const char *path,
				       int root_fd)
{
	struct mbi_prefetch **p;
	struct stat st;

	for (p = &ctx->early; *p; p = &(*p)->next)
		if (!strcmp((*p)->path, path)) {
			struct mbi_prefetch *pf = *p;

			*p = pf->next;
			/* the same directory still (not a snapshot that a
			 * pre_backup hook mounted there since) */
			if (!fstat(root_fd, &st) && st.st_dev == pf->dev &&
			    st.st_ino == pf->ino)
				return pf;
			mbi_prefetch_stop(pf);
			break;
		}
	return mbi_prefetch_start(root_fd);
}

void mbi_prefetch_early_stop(struct mb_ctx *ctx)
{
	while (ctx->early) {
		struct mbi_prefetch *pf = ctx->early;

		ctx->early = pf->next;
		mbi_prefetch_stop(pf);
	}
}
