/* SPDX-License-Identifier: MIT */
/* repo/history.c: the record, in this host's cache, of the snapshots it
 * committed and forgot, to notice those that vanished without a forget. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

/*
 * <cache>/<repo id>/history holds one line per event, appended with one
 * write(2) under flock: "commit NAME" or "forget NAME". A line without its
 * newline (a crash while writing) is ignored. The file only grows, by some
 * 60 bytes a snapshot.
 */
#define HISTORY_MAX (64u << 20)

static char *history_path(struct mb_ctx *ctx, const char *repo_id)
{
	char *dir = mbi_cache_dir(ctx, repo_id), *path;

	if (!dir)
		return NULL;
	path = mbi_asprintf("%s/history", dir);
	free(dir);
	return path;
}

/* Not a FIFO, device or directory planted under the name (errno set). */
static bool plain_file(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		return false;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return false;
	}
	return true;
}

/* Whether the file's last byte is not a newline. */
static bool torn(int fd)
{
	struct stat st;
	char c;

	return !fstat(fd, &st) && st.st_size > 0 &&
	       pread(fd, &c, 1, st.st_size - 1) == 1 && c != '\n';
}

int mbi_history_add(struct mb_ctx *ctx, const char *repo_id,
		    const char *event, const char *name)
{
	char *path = history_path(ctx, repo_id), *line = NULL;
	int fd = -1, rc = MB_OK;

	if (!path)
		return MB_E_IO;
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
		  O_NONBLOCK, 0600);
	if (fd < 0 || !plain_file(fd) || flock(fd, LOCK_EX)) {
		rc = mbi_error(ctx, MB_E_IO, errno,
			       "cannot record the %s of snapshot '%s' in '%s'",
			       event, name, path);
		goto out;
	}
	/* a line cut short by a crash is ended first, so this one stays
	 * whole */
	line = mbi_asprintf("%s%s %s\n", torn(fd) ? "\n" : "", event, name);
	if (!line) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (mbi_write_all(fd, line, strlen(line)) || fsync(fd))
		rc = mbi_error(ctx, MB_E_IO, errno,
			       "cannot record the %s of snapshot '%s' in '%s'",
			       event, name, path);
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(path);
	return rc;
}

static int read_history(struct mb_ctx *ctx, const char *path,
			struct mbi_buf *b)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int rc = MB_OK;

	if (fd < 0 && errno == ENOENT)
		return MB_OK; /* nothing recorded yet */
	if (fd < 0 || !plain_file(fd)) {
		rc = mbi_error(ctx, MB_E_IO, errno,
			       "cannot open '%s': it must be a plain file (move it away)",
			       path);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	flock(fd, LOCK_SH);
	for (;;) {
		ssize_t r;

		if (mbi_buf_reserve(b, 65536)) {
			rc = MB_E_NOMEM;
			break;
		}
		r = read(fd, b->data + b->len, 65536);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0)
				rc = mbi_error(ctx, MB_E_IO, errno,
					       "cannot read '%s'", path);
			break;
		}
		b->len += (size_t)r;
		b->data[b->len] = '\0';
		if (b->len > HISTORY_MAX) {
			rc = mbi_error(ctx, MB_E_IO, 0,
				       "'%s' is larger than %u MiB: move it away",
				       path, HISTORY_MAX >> 20);
			break;
		}
	}
	close(fd);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool in_sorted(char **v, size_t n, const char *s)
{
	return n && bsearch(&s, v, n, sizeof(*v), cmp_str) != NULL;
}

/* Split the lines into the names committed and the names forgotten (both
 * pointing into b, which they modify). */
static int split_events(struct mbi_buf *b, char ***com, size_t *ncom,
			char ***fgt, size_t *nfgt)
{
	char *p = b->data, *nl;
	size_t cap = 1;

	for (nl = p; nl && (nl = memchr(nl, '\n', b->len - (size_t)(nl - p)));
	     nl++)
		cap++;
	*com = calloc(cap, sizeof(**com));
	*fgt = calloc(cap, sizeof(**fgt));
	if (!*com || !*fgt)
		return MB_E_NOMEM;
	while (p && p < b->data + b->len &&
	       (nl = memchr(p, '\n', b->len - (size_t)(p - b->data)))) {
		*nl = '\0';
		if (!strncmp(p, "commit ", 7))
			(*com)[(*ncom)++] = p + 7;
		else if (!strncmp(p, "forget ", 7))
			(*fgt)[(*nfgt)++] = p + 7;
		p = nl + 1;
	}
	return MB_OK;
}

int mbi_history_vanished(struct mb_ctx *ctx, const char *repo_id,
			 const struct mb_snapshot_info *v, size_t n,
			 char ***out, size_t *nout)
{
	char *path = history_path(ctx, repo_id);
	char **com = NULL, **fgt = NULL, **have = NULL, **gone = NULL;
	size_t ncom = 0, nfgt = 0, ngone = 0, i;
	struct mbi_buf b = { 0 };
	int rc;

	if (!path)
		return MB_E_IO;
	if ((rc = read_history(ctx, path, &b)) || !b.len)
		goto out;
	if ((rc = split_events(&b, &com, &ncom, &fgt, &nfgt)))
		goto out;
	have = calloc(n + 1, sizeof(*have));
	gone = calloc(ncom + 1, sizeof(*gone));
	if (!have || !gone) {
		rc = MB_E_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		have[i] = (char *)v[i].name;
	qsort(have, n, sizeof(*have), cmp_str);
	qsort(fgt, nfgt, sizeof(*fgt), cmp_str);
	qsort(com, ncom, sizeof(*com), cmp_str);
	for (i = 0; !rc && i < ncom; i++) {
		if (in_sorted(fgt, nfgt, com[i]) || in_sorted(have, n, com[i]))
			continue;
		if (ngone && !strcmp(gone[ngone - 1], com[i]))
			continue;
		if (!(gone[ngone] = strdup(com[i])))
			rc = MB_E_NOMEM;
		else
			ngone++;
	}
out:
	if (!rc) {
		*out = gone;
		*nout = ngone;
		gone = NULL;
	}
	for (i = 0; gone && i < ngone; i++)
		free(gone[i]);
	free(gone);
	free(have);
	free(com);
	free(fgt);
	mbi_buf_release(&b);
	free(path);
	return rc;
}

int mbi_history_warn(struct mbi_repo *r)
{
	struct mb_snapshot_info *v = NULL;
	char **gone = NULL;
	size_t n = 0, ngone = 0, i;
	int rc = mbi_snapshots_list(r, &v, &n);

	if (!rc)
		rc = mbi_history_vanished(r->ctx, r->id, v, n, &gone, &ngone);
	for (i = 0; !rc && i < ngone; i++)
		mbi_log(r->ctx, MB_LOG_WARNING,
			"snapshot '%s', committed by this host and never forgotten by it, is gone from the repository: it was deleted or the repository was rolled back (run 'mailbackup check')",
			gone[i]);
	for (i = 0; gone && i < ngone; i++)
		free(gone[i]);
	free(gone);
	free(v);
	return rc;
}
