/* SPDX-License-Identifier: MIT */
/* output.c: the CLI's log handler, progress line, JSON strings and errors. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"

extern const struct cmd mb_commands[];

static double last_draw;
static bool drawn;
/* log = syslog: messages go there, and to stderr only on a terminal */
static bool use_syslog, use_stderr = true;
/* the last error message, for the failure object of --json */
static char last_error[2048];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void clear_progress(void)
{
	if (drawn) {
		fputs("\r\033[K", stderr);
		drawn = false;
	}
}

static void emit(enum mb_log_level level, bool prefix, const char *msg)
{
	static const char *const names[] = { "error", "warning", "info",
					     "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
				    LOG_DEBUG };

	if (level == MB_LOG_ERROR)
		snprintf(last_error, sizeof(last_error), "%s", msg);
	/* the one place every human message passes: names in it (from the
	 * tree, a manifest, an object key) reach no terminal raw */
	if (use_syslog) {
		char *q = quote_message_dup(msg);

		syslog(prio[level], "%s", q ? q : "(out of memory)");
		free(q);
	}
	if (!use_stderr)
		return;
	clear_progress();
	if (prefix)
		fprintf(stderr, "mailbackup: %s: ", names[level]);
	quote_message(stderr, msg);
	fputc('\n', stderr);
}

/* libmb calls this from its worker threads too, without a lock of its
 * own: one line at a time, and the progress line's state, are ours to
 * serialize. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_log(void *ud, enum mb_log_level level, const char *msg)
{
	(void)ud;
	pthread_mutex_lock(&log_lock);
	emit(level, true, msg);
	pthread_mutex_unlock(&log_lock);
}

void out_msg(enum mb_log_level level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	emit(level, level != MB_LOG_INFO, msg);
	pthread_mutex_unlock(&log_lock);
}

int mb_status_exit(int status)
{
	switch (status) {
	case MB_OK:
		return MB_EXIT_OK;
	case MB_E_CONFIG:
	case MB_E_INVAL:
		return MB_EXIT_USAGE;
	case MB_E_PARTIAL:
		return MB_EXIT_PARTIAL;
	case MB_E_VERIFY:
		return MB_EXIT_MISMATCH;
	case MB_E_LOCKED:
		return MB_EXIT_LOCKED;
	default:
		return MB_EXIT_FAILURE;
	}
}

int out_log_setup(struct cli *cli, const char *file)
{
	const char *target = mb_ctx_config_get(cli->ctx, "options", "log");

	if (target && *target && strcmp(target, "stderr") &&
	    strcmp(target, "syslog")) {
		out_msg(MB_LOG_ERROR,
			"%s: [options] log must be 'stderr' or 'syslog', not '%s'",
			file, target);
		return MB_EXIT_USAGE;
	}
	if (target && !strcmp(target, "syslog")) {
		openlog("mailbackup", LOG_PID, LOG_DAEMON);
		use_syslog = true;
		use_stderr = isatty(2);
	}
	return 0;
}

void out_bytes(char *buf, size_t n, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
					     "PiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	if (u)
		snprintf(buf, n, "%.1f %s", v, units[u]);
	else
		snprintf(buf, n, "%llu B", (unsigned long long)bytes);
}

double out_now(void)
{
	return now();
}

void out_metrics(struct cli *cli, int rc)
{
	struct mb_metrics_run *m = &cli->metrics;

	if (cli->metrics_done || !mb_metrics_enabled(cli->ctx))
		return;
	cli->metrics_done = true;
	m->status = rc == MB_EXIT_OK ? MB_RUN_OK :
		    rc == MB_EXIT_PARTIAL ? MB_RUN_PARTIAL : MB_RUN_FAILED;
	if (m->seconds <= 0)
		m->seconds = now() - cli->t0;
	/* a usage error tested nothing */
	if (m->command && !strcmp(m->command, "restore-test") &&
	    m->restore_test_success < 0 && rc != MB_EXIT_USAGE)
		m->restore_test_success = rc == MB_EXIT_OK;
	if (m->snapshots < 0 && m->status != MB_RUN_FAILED) {
		struct mb_snapshot_info *v;
		size_t n;

		if (!mb_snapshots(cli->ctx, &v, &n)) {
			m->snapshots = (int64_t)n;
			free(v);
		}
	}
	if (mb_metrics_write(cli->ctx, m))
		out_msg(MB_LOG_WARNING, "metrics not written: %s",
			mb_ctx_errmsg(cli->ctx));
}

void out_metrics_start(struct cli *cli)
{
	struct mb_metrics_run m;

	if (!mb_metrics_enabled(cli->ctx))
		return;
	mb_metrics_run_init(&m, cli->metrics.command);
	m.status = MB_RUN_STARTED;
	if (mb_metrics_write(cli->ctx, &m))
		out_msg(MB_LOG_WARNING, "metrics not written: %s",
			mb_ctx_errmsg(cli->ctx));
}

static int on_progress(void *ud, const char *phase, uint64_t items,
		       uint64_t bytes, uint64_t items_total,
		       uint64_t bytes_total)
{
	double t = now();

	(void)ud;
	(void)items_total;
	(void)bytes_total;
	pthread_mutex_lock(&log_lock);
	if (t - last_draw >= 0.25) {
		last_draw = t;
		fprintf(stderr, "\r\033[K%s: %llu items, %.1f MiB", phase,
			(unsigned long long)items, (double)bytes / 1048576.0);
		drawn = true;
	}
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void out_setup(struct cli *cli)
{
	enum mb_log_level lvl = cli->verbosity <= 0 ? MB_LOG_ERROR :
				cli->verbosity == 1 ? MB_LOG_WARNING :
				cli->verbosity == 2 ? MB_LOG_INFO :
						      MB_LOG_DEBUG;

	mb_ctx_set_log_handler(cli->ctx, on_log, NULL, lvl);
	if (cli->progress || (isatty(2) && cli->verbosity > 0 &&
			      !getenv("MAILBACKUP_NO_PROGRESS")))
		mb_ctx_set_progress(cli->ctx, on_progress, NULL);
}

int out_fail(struct cli *cli, int status)
{
	const char *msg = mb_ctx_errmsg(cli->ctx);

	if (status == MB_E_PARTIAL)
		out_msg(MB_LOG_WARNING,
			"completed, but some items were skipped (see the warnings above)");
	else
		out_msg(MB_LOG_ERROR, "%s", *msg ? msg : mb_strstatus(status));
	return mb_status_exit(status);
}

void out_json_str(FILE *f, const char *s)
{
	const unsigned char *c = (const unsigned char *)s;

	fputc('"', f);
	for (; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c < 0x20 || *c == 0x7f)
			fprintf(f, "\\u%04x", *c);
		else if (*c >= 0x80)
			/* paths are bytes: keep JSON valid for any of them */
			fprintf(f, "\\u%04x", *c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

void out_json_fail_members(struct cli *cli, int status)
{
	const char *msg = mb_ctx_errmsg(cli->ctx);

	printf(",\"ok\":false,\"status\":\"failed\",\"exit_code\":%d,"
	       "\"error\":", mb_status_exit(status));
	out_json_str(stdout, *msg ? msg : mb_strstatus(status));
	cli->json_out = true;
}

void out_json_failure(struct cli *cli, int exit_code)
{
	printf("{\"ok\":false,\"status\":\"failed\",\"exit_code\":%d,"
	       "\"error\":", exit_code);
	out_json_str(stdout, *last_error ? last_error : "failed");
	printf("}\n");
	cli->json_out = true;
}

int out_cmd_help(const char *name)
{
	const struct cmd *c;

	for (c = mb_commands; c->name; c++)
		if (!strcmp(c->name, name)) {
			printf("usage: %s\n\n%s", c->synopsis, c->help);
			return 0;
		}
	return 2;
}

int out_usage(const char *name, const char *fmt, ...)
{
	const struct cmd *c;
	va_list ap;

	clear_progress();
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	fputs("mailbackup: ", stderr);
	quote_message(stderr, last_error);
	fputc('\n', stderr);
	for (c = mb_commands; c->name; c++)
		if (!strcmp(c->name, name))
			fprintf(stderr, "usage: %s\n", c->synopsis);
	return MB_EXIT_USAGE;
}

int out_set_host(struct cli *cli, const char *cmd, const char *host)
{
	if (mb_ctx_set_snapshot_host(cli->ctx, host))
		return out_usage(cmd, "%s", mb_ctx_errmsg(cli->ctx));
	return 0;
}

int out_flush(void)
{
	clear_progress();
	if (fflush(stdout) || ferror(stdout)) {
		if (errno == EPIPE)
			return 1; /* the reader is gone (ls | head): say nothing */
		fprintf(stderr, "mailbackup: error: cannot write to stdout\n");
		return 1;
	}
	return 0;
}
