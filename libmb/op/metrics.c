/* SPDX-License-Identifier: MIT */
/* op/metrics.c: monitoring: the Prometheus textfile of [options] metrics_file
 * and the log target. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

#define METRICS_MAX (1u << 20)

static const struct {
	const char *name;
	const char *help;
} known[] = {
	{ "mailbackup_last_run_timestamp_seconds",
	  "When the last run of a command ended, in seconds since the epoch." },
	{ "mailbackup_last_success_timestamp_seconds",
	  "When the last successful run of a command ended, in seconds since the epoch." },
	{ "mailbackup_last_run_status",
	  "Result of the last run of a command: 0 ok, 1 failed, 3 partial (committed, some items unreadable)." },
	{ "mailbackup_last_duration_seconds",
	  "How long the last run of a command took." },
	{ "mailbackup_last_files",
	  "Files in the snapshot of the last backup, or restored by the last restore-test." },
	{ "mailbackup_last_bytes_new",
	  "Bytes of content the last run found new." },
	{ "mailbackup_last_bytes_stored",
	  "Bytes the last run wrote to the repository." },
	{ "mailbackup_snapshots",
	  "Snapshots in the repository after the last run." },
	{ "mailbackup_last_restore_test_success",
	  "1 when the last restore-test passed, 0 when it failed." },
	{ "mailbackup_running_since_timestamp_seconds",
	  "When the run of a command now in progress started (it holds the repository lock while it runs), in seconds since the epoch; 0 when none runs." },
	{ "mailbackup_last_prune_skipped",
	  "1 when the prune step of the last backup --prune did not run (the repository was locked), 0 when it ran." },
};

struct sample {
	char *name;
	char *labels; /* "{...}" or "" */
	char *value;  /* the rest of the line: value [timestamp] */
};

/* Samples in the order met, and the comment lines of names we do not
 * know, so a newer version's metrics survive a rewrite by an older one. */
struct mset {
	struct sample *s;
	size_t n, cap;
	struct mbi_buf comments; /* "name\0line\0" pairs */
};

static void mset_release(struct mset *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		free(m->s[i].name);
		free(m->s[i].labels);
		free(m->s[i].value);
	}
	free(m->s);
	mbi_buf_release(&m->comments);
}

static int mset_set(struct mset *m, const char *name, size_t nl,
		    const char *labels, size_t ll, const char *value)
{
	struct sample *s;
	char *v = strdup(value);
	size_t i;

	if (!v)
		return MB_E_NOMEM;
	for (i = 0; i < m->n; i++) {
		s = &m->s[i];
		if (strlen(s->name) == nl && !strncmp(s->name, name, nl) &&
		    strlen(s->labels) == ll && !strncmp(s->labels, labels, ll)) {
			free(s->value);
			s->value = v;
			return MB_OK;
		}
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 32;
		struct sample *ns = realloc(m->s, cap * sizeof(*ns));

		if (!ns) {
			free(v);
			return MB_E_NOMEM;
		}
		m->s = ns;
		m->cap = cap;
	}
	s = &m->s[m->n];
	s->name = strndup(name, nl);
	s->labels = strndup(labels, ll);
	s->value = v;
	if (!s->name || !s->labels) {
		free(s->name);
		free(s->labels);
		free(v);
		return MB_E_NOMEM;
	}
	m->n++;
	return MB_OK;
}

static bool is_known(const char *name, size_t nl)
{
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(known); i++)
		if (strlen(known[i].name) == nl &&
		    !strncmp(known[i].name, name, nl))
			return true;
	return false;
}

static size_t metric_name_len(const char *p)
{
	size_t l = 0;

	while ((p[l] >= 'a' && p[l] <= 'z') || (p[l] >= 'A' && p[l] <= 'Z') ||
	       p[l] == '_' || p[l] == ':' || (l && p[l] >= '0' && p[l] <= '9'))
		l++;
	return l;
}

/* Read the samples of a previous file; lines that do not parse are
 * dropped. */
static int parse_old(struct mset *m, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	char *line = NULL;
	int rc = MB_OK;

	while (!rc && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *s, *labels, *v;
		size_t n, ll = 0;

		free(line);
		line = strndup(p, l);
		p += l + 1;
		if (!line)
			return MB_E_NOMEM;
		s = line;
		if (!strncmp(s, "# HELP ", 7) || !strncmp(s, "# TYPE ", 7)) {
			n = metric_name_len(s + 7);
			if (n && !is_known(s + 7, n) &&
			    (rc = mbi_buf_add(&m->comments, s + 7, n)) == 0 &&
			    (rc = mbi_buf_add(&m->comments, "", 1)) == 0)
				rc = mbi_buf_add(&m->comments, s, l + 1);
			continue;
		}
		n = metric_name_len(s);
		if (!n || strncmp(s, "mailbackup_", 11))
			continue;
		labels = s + n;
		if (*labels == '{') {
			const char *close = strchr(labels, '}');

			if (!close)
				continue;
			ll = (size_t)(close - labels) + 1;
		}
		v = labels + ll;
		if (*v != ' ' && *v != '\t')
			continue;
		while (*v == ' ' || *v == '\t')
			v++;
		if (!*v)
			continue;
		rc = mset_set(m, s, n, labels, ll, v);
	}
	free(line);
	return rc;
}

static int set_num(struct mset *m, const char *name, const char *labels,
		   const char *fmt, ...) MBI_PRINTF(4, 5);

static int set_num(struct mset *m, const char *name, const char *labels,
		   const char *fmt, ...)
{
	char v[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	return mset_set(m, name, strlen(name), labels, strlen(labels), v);
}

static int cmp_sample(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;
	int d = strcmp(x->name, y->name);

	return d ? d : strcmp(x->labels, y->labels);
}

static int emit_name(struct mbi_buf *out, struct mset *m, const char *name,
		     const char *help)
{
	size_t i, first = m->n;
	int rc = MB_OK;

	for (i = 0; i < m->n; i++)
		if (!strcmp(m->s[i].name, name)) {
			first = i;
			break;
		}
	if (first == m->n)
		return MB_OK;
	if (help) {
		rc = mbi_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n",
				    name, help, name);
	} else {
		/* the comment lines kept from the previous file */
		const char *c = m->comments.data,
			   *e = c ? c + m->comments.len : NULL;

		while (!rc && c && c < e) {
			const char *text = c + strlen(c) + 1;

			if (!strcmp(c, name))
				rc = mbi_buf_printf(out, "%s\n", text);
			c = text + strlen(text) + 1;
		}
	}
	for (i = first; !rc && i < m->n; i++)
		if (!strcmp(m->s[i].name, name))
			rc = mbi_buf_printf(out, "%s%s %s\n", m->s[i].name,
					    m->s[i].labels, m->s[i].value);
	return rc;
}

static bool mset_has(const struct mset *m, const char *name,
		     const char *labels)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (!strcmp(m->s[i].name, name) &&
		    !strcmp(m->s[i].labels, labels))
			return true;
	return false;
}

/* The samples of one run: when it began (MB_RUN_STARTED), or how it
 * ended. */
static int set_run(struct mset *m, const char *lab,
		   const struct mb_metrics_run *run, int64_t t)
{
	int rc;

	if (run->status == MB_RUN_STARTED)
		return set_num(m, "mailbackup_running_since_timestamp_seconds",
			       lab, "%lld", (long long)t);
	/* the end of a run that recorded its start */
	if (mset_has(m, "mailbackup_running_since_timestamp_seconds", lab) &&
	    (rc = set_num(m, "mailbackup_running_since_timestamp_seconds",
			  lab, "0")))
		return rc;
	if ((rc = set_num(m, "mailbackup_last_run_timestamp_seconds",
			  lab, "%lld", (long long)t)) ||
	    (rc = set_num(m, "mailbackup_last_run_status", lab, "%d",
			  (int)run->status)) ||
	    (rc = set_num(m, "mailbackup_last_duration_seconds", lab,
			  "%.3f", run->seconds)))
		return rc;
	if (run->status == MB_RUN_OK &&
	    (rc = set_num(m, "mailbackup_last_success_timestamp_seconds",
			  lab, "%lld", (long long)t)))
		return rc;
	if ((run->files >= 0 &&
	     (rc = set_num(m, "mailbackup_last_files", lab, "%lld",
			   (long long)run->files))) ||
	    (run->bytes_new >= 0 &&
	     (rc = set_num(m, "mailbackup_last_bytes_new", lab, "%lld",
			   (long long)run->bytes_new))) ||
	    (run->bytes_stored >= 0 &&
	     (rc = set_num(m, "mailbackup_last_bytes_stored", lab,
			   "%lld", (long long)run->bytes_stored))) ||
	    (run->snapshots >= 0 &&
	     (rc = set_num(m, "mailbackup_snapshots", "", "%lld",
			   (long long)run->snapshots))) ||
	    (run->restore_test_success >= 0 &&
	     (rc = set_num(m, "mailbackup_last_restore_test_success", "",
			   "%lld", (long long)run->restore_test_success))) ||
	    (run->prune_skipped >= 0 &&
	     (rc = set_num(m, "mailbackup_last_prune_skipped", lab,
			   "%lld", (long long)run->prune_skipped))))
		return rc;
	return MB_OK;
}

void mb_metrics_run_init(struct mb_metrics_run *r, const char *command)
{
	memset(r, 0, sizeof(*r));
	r->command = command;
	r->status = MB_RUN_OK;
	r->files = r->bytes_new = r->bytes_stored = -1;
	r->snapshots = r->restore_test_success = -1;
	r->prune_skipped = -1;
}

int mb_metrics_format(const char *old, size_t len,
		      const struct mb_metrics_run *run, int64_t now,
		      char **out)
{
	struct mset m = { 0 };
	struct mbi_buf b = { 0 }, lab = { 0 };
	int64_t t = run->time ? run->time : now;
	const char *c;
	size_t i, j;
	int rc;

	if (old && (rc = parse_old(&m, old, len)))
		goto out;
	/* {command="NAME"}, escaped as the exposition format wants */
	rc = mbi_buf_addstr(&lab, "{command=\"");
	for (c = run->command ? run->command : "unknown"; !rc && *c; c++)
		rc = *c == '"' || *c == '\\' ? mbi_buf_printf(&lab, "\\%c", *c) :
		     *c == '\n' ? mbi_buf_addstr(&lab, "\\n") :
				  mbi_buf_add(&lab, c, 1);
	if (!rc)
		rc = mbi_buf_add(&lab, "\"}", 3);
	if (rc)
		goto out;
	if ((rc = set_run(&m, lab.data, run, t)))
		goto out;
	/* stable output: by name, then labels */
	qsort(m.s, m.n, sizeof(*m.s), cmp_sample);
	for (i = 0; !rc && i < MBI_ARRAY_SIZE(known); i++)
		rc = emit_name(&b, &m, known[i].name, known[i].help);
	/* then the names a newer version wrote, kept as they were */
	for (i = 0; !rc && i < m.n; i++) {
		for (j = 0; j < i; j++)
			if (!strcmp(m.s[j].name, m.s[i].name))
				break;
		if (j == i && !is_known(m.s[i].name, strlen(m.s[i].name)))
			rc = emit_name(&b, &m, m.s[i].name, NULL);
	}
	if (!rc)
		rc = mbi_buf_add(&b, "", 1);
	if (!rc) {
		*out = b.data;
		b.data = NULL;
	}
out:
	mset_release(&m);
	mbi_buf_release(&lab);
	mbi_buf_release(&b);
	return rc;
}

static const char *option(struct mb_ctx *ctx, const char *key)
{
	return mbi_section_get(mbi_config_section(ctx->cfg, "options"), key);
}

int mb_metrics_enabled(struct mb_ctx *ctx)
{
	const char *path = option(ctx, "metrics_file");

	return path && *path;
}

int mb_metrics_write(struct mb_ctx *ctx, const struct mb_metrics_run *run)
{
	const char *path = option(ctx, "metrics_file");
	struct mbi_buf old = { 0 };
	char *text = NULL, *dir, *slash;
	int dfd = -1, rc;

	mbi_clear_error(ctx);
	if (!path || !*path)
		return MB_OK;
	/* two commands may end at once: read, merge and write under a lock
	 * on the directory (no lock file left in node_exporter's sight) */
	dir = strdup(path);
	if (!dir)
		return mbi_status(ctx, MB_E_NOMEM);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = mbi_error(ctx, MB_E_IO, errno,
			       "metrics directory '%s' cannot be opened: create it or fix [options] metrics_file",
			       slash ? dir : ".");
		goto out;
	}
	while (flock(dfd, LOCK_EX) && errno == EINTR)
		;
	/* the first run: no file yet, and no error message either */
	if (access(path, F_OK) == 0 || errno != ENOENT) {
		rc = mbi_read_file(ctx, path, &old, METRICS_MAX);
		if (rc && rc != MB_E_NOTFOUND)
			goto out;
	}
	rc = mb_metrics_format(old.data, old.len, run, (int64_t)time(NULL),
			       &text);
	/* 0644: node_exporter runs as another user and must read it */
	if (!rc && (rc = mbi_write_file_atomic(ctx, path, text, strlen(text),
					       0644)))
		mbi_error_prefix(ctx, rc, "[options] metrics_file");
out:
	if (dfd >= 0)
		close(dfd); /* and unlock */
	free(text);
	free(dir);
	mbi_buf_release(&old);
	return mbi_status(ctx, rc);
}
