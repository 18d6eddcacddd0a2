/* SPDX-License-Identifier: MIT */
/* cli.h: what the command files of the mailbackup CLI share. */
#ifndef MB_CLI_H
#define MB_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "mb.h"

enum cmd_flags {
	CMD_CONFIG = 1,  /* needs the configuration file */
	CMD_METRICS = 2, /* its runs go to [options] metrics_file */
};

struct cli {
	struct mb_ctx *ctx;
	const char *config;
	int verbosity;   /* 0 quiet, 1 normal, 2 verbose, 3 debug */
	bool progress;   /* draw a progress line on stderr */
	/* CMD_METRICS: what the command knows of its run (main writes it
	 * at the end unless out_metrics() was called already) */
	struct mb_metrics_run metrics;
	bool metrics_done;
	double t0;       /* when the command started (CLOCK_MONOTONIC) */
};

struct cmd {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv);
	int flags;
	const char *synopsis;
	const char *help;
};

int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_keygen(struct cli *cli, int argc, char **argv);
int cmd_backup(struct cli *cli, int argc, char **argv);
int cmd_snapshots(struct cli *cli, int argc, char **argv);
int cmd_ls(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);
int cmd_forget(struct cli *cli, int argc, char **argv);
int cmd_prune(struct cli *cli, int argc, char **argv);
int cmd_unlock(struct cli *cli, int argc, char **argv);
int cmd_repair(struct cli *cli, int argc, char **argv);
int cmd_stats(struct cli *cli, int argc, char **argv);
int cmd_diff(struct cli *cli, int argc, char **argv);
int cmd_restore_test(struct cli *cli, int argc, char **argv);
/* cmd-forget.c: prune with a report; also used by backup --prune */
int prune_run(struct cli *cli, int max_unused, int64_t grace, bool dry,
	      bool json);
/* "90", "90s", "15m", "2h", "1d" in seconds; -1 when malformed. */
int parse_seconds(const char *s, int64_t *out);

/* output.c */
void out_setup(struct cli *cli);
/* Print "mailbackup: error: MSG" for a failed status and return its exit
 * code. */
int out_fail(struct cli *cli, int status);
void out_json_str(FILE *f, const char *s);
/* Print the help of a command; returns 0 (exit code of --help). */
int out_cmd_help(const char *name);
/* Usage error: print the synopsis of the command and return 2. */
int out_usage(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int out_flush(void);
/* After loading the configuration: follow [options] log (stderr|syslog).
 * Returns 0 or the exit code of a configuration error. */
int out_log_setup(struct cli *cli);
/* A message of the CLI itself, routed like the library's: to stderr (with
 * "mailbackup: error: " or "warning: " before it; none for MB_LOG_INFO,
 * used for summaries) and, with log = syslog, to syslog. */
void out_msg(enum mb_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Write cli->metrics for a run that ends with exit code rc; a failure to
 * write is a warning. Counts the snapshots when the command did not. */
void out_metrics(struct cli *cli, int rc);
double out_now(void);
/* bytes as "512 B", "1.5 KiB", "3.2 GiB" */
void out_bytes(char *buf, size_t n, uint64_t bytes);

#endif
