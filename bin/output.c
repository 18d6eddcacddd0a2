/* SPDX-License-Identifier: MIT */
/* output.c: the CLI's log handler, progress line, JSON strings and errors. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

extern const struct cmd mb_commands[];

static double last_draw;
static bool drawn;

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

static void on_log(void *ud, enum mb_log_level level, const char *msg)
{
	static const char *const names[] = { "error", "warning", "info",
					     "debug" };

	(void)ud;
	clear_progress();
	fprintf(stderr, "mailbackup: %s: %s\n", names[level], msg);
}

static int on_progress(void *ud, const char *phase, uint64_t items,
		       uint64_t bytes, uint64_t items_total,
		       uint64_t bytes_total)
{
	double t = now();

	(void)ud;
	(void)items_total;
	(void)bytes_total;
	if (t - last_draw < 0.25)
		return 0;
	last_draw = t;
	fprintf(stderr, "\r\033[K%s: %llu items, %.1f MiB", phase,
		(unsigned long long)items, (double)bytes / 1048576.0);
	drawn = true;
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

	clear_progress();
	if (status == MB_E_PARTIAL)
		fprintf(stderr,
			"mailbackup: warning: completed, but some items were skipped (see the warnings above)\n");
	else
		fprintf(stderr, "mailbackup: error: %s\n",
			*msg ? msg : mb_strstatus(status));
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
	fputs("mailbackup: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (c = mb_commands; c->name; c++)
		if (!strcmp(c->name, name))
			fprintf(stderr, "usage: %s\n", c->synopsis);
	return MB_EXIT_USAGE;
}

int out_flush(void)
{
	clear_progress();
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "mailbackup: error: cannot write to stdout\n");
		return 1;
	}
	return 0;
}
