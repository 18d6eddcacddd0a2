/* SPDX-License-Identifier: MIT */
/* cli.h: what the command files of the mailbackup CLI share. */
#ifndef MB_CLI_H
#define MB_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "mb.h"
#include "quote.h"

/* Exit codes of the CLI (docs/mailbackup.1, EXIT STATUS). */
enum mb_exit {
	MB_EXIT_OK = 0,
	MB_EXIT_FAILURE = 1,
	MB_EXIT_USAGE = 2,
	MB_EXIT_PARTIAL = 3,
	MB_EXIT_MISMATCH = 4,
	MB_EXIT_LOCKED = 5,
};

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
	/* --json was given; json_out: the command wrote its JSON document
	 * (else main prints the failure object of a failed run) */
	bool json, json_out;
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
int cmd_copy(struct cli *cli, int argc, char **argv);
int cmd_forget(struct cli *cli, int argc, char **argv);
int cmd_prune(struct cli *cli, int argc, char **argv);
int cmd_unlock(struct cli *cli, int argc, char **argv);
int cmd_repair(struct cli *cli, int argc, char **argv);
int cmd_stats(struct cli *cli, int argc, char **argv);
int cmd_diff(struct cli *cli, int argc, char **argv);
int cmd_restore_test(struct cli *cli, int argc, char **argv);
int cmd_rekey(struct cli *cli, int argc, char **argv);
/* cmd-forget.c: prune with a report; also used by backup --prune */
int prune_run(struct cli *cli, int max_unused, int64_t grace, bool dry,
	      bool json);
/* "90", "90s", "15m", "2h", "1d" in seconds; -1 when malformed. */
int parse_seconds(const char *s, int64_t *out);

/* mailfolder.c: --mailbox and --folder of ls and diff */
struct mail_filter {
	const char *cmd;
	const char **folders;  /* IMAP names (the caller allocates) */
	size_t nfolders;
	char *prefix;          /* "DOMAIN/USER", or NULL: no filter */
	char **disks;          /* the folders' Maildir++ directories */
};
/* 0, or the exit code after a message */
int mail_filter_init(struct cli *cli, struct mail_filter *mf,
		     const char *mailbox);
bool mail_filter_match(const struct mail_filter *mf, const char *path);
void mail_filter_release(struct mail_filter *mf);

/* output.c */
void out_setup(struct cli *cli);
/* Print "mailbackup: error: MSG" for a failed status and return its exit
 * code. */
int out_fail(struct cli *cli, int status);
void out_json_str(FILE *f, const char *s);
/* The failure object of --json, on stdout: {"ok":false,"status":"failed",
 * "exit_code":N,"error":"the last error message"}. */
void out_json_failure(struct cli *cli, int exit_code);
/* The same members, for a command whose own JSON object is open:
 * ,"ok":false,"status":"failed","exit_code":N,"error":"..." (no braces). */
void out_json_fail_members(struct cli *cli, int status);
/* Print the help of a command; returns 0 (exit code of --help). */
int out_cmd_help(const char *name);
/* Usage error: print the synopsis of the command and return 2. */
int out_usage(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int out_flush(void);
/* The exit code that fits a status code of libmb. */
int mb_status_exit(int status);
/* After loading the configuration (file, for messages): follow [options]
 * log (stderr|syslog). Returns 0 or the exit code of a configuration
 * error. */
int out_log_setup(struct cli *cli, const char *file);
/* --host NAME|all of the commands that take a SNAPSHOT: 0, or the exit
 * code of a usage error (a usage message printed for cmd). */
int out_set_host(struct cli *cli, const char *cmd, const char *host);
/* A message of the CLI itself, routed like the library's: to stderr (with
 * "mailbackup: error: " or "warning: " before it; none for MB_LOG_INFO,
 * used for summaries) and, with log = syslog, to syslog. */
void out_msg(enum mb_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Record in the metrics file that the command's run begins. */
void out_metrics_start(struct cli *cli);
/* Write cli->metrics for a run that ends with exit code rc; a failure to
 * write is a warning. Counts the snapshots when the command did not. */
void out_metrics(struct cli *cli, int rc);
double out_now(void);
/* bytes as "512 B", "1.5 KiB", "3.2 GiB" */
void out_bytes(char *buf, size_t n, uint64_t bytes);

#endif
