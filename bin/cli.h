/* SPDX-License-Identifier: MIT */
/* cli.h: what the command files of the mailbackup CLI share. */
#ifndef MB_CLI_H
#define MB_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "mb.h"

enum cmd_flags {
	CMD_CONFIG = 1, /* needs the configuration file */
};

struct cli {
	struct mb_ctx *ctx;
	const char *config;
	int verbosity;   /* 0 quiet, 1 normal, 2 verbose, 3 debug */
	bool progress;   /* draw a progress line on stderr */
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
/* cmd-forget.c: prune with a report; also used by backup --prune */
int prune_run(struct cli *cli, int max_unused, bool dry, bool json);

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

#endif
