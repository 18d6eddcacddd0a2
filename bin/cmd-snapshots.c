/* SPDX-License-Identifier: MIT */
/* cmd-snapshots.c: mailbackup snapshots and mailbackup ls. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void fmt_time(int64_t t, char *buf, size_t n)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cmd_snapshots(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct mb_snapshot_info *v;
	size_t n, i;
	bool json = false;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'j')
			return out_usage("snapshots", "bad option");
		json = true;
	}
	if (optind != argc)
		return out_usage("snapshots", "unexpected argument");
	rc = mb_snapshots(cli->ctx, &v, &n);
	if (rc)
		return out_fail(cli, rc);
	if (json)
		printf("[");
	for (i = 0; i < n; i++) {
		char t[32];

		fmt_time(v[i].time, t, sizeof(t));
		if (json) {
			printf("%s{\"id\":\"%s\",\"time\":\"%s\",\"host\":",
			       i ? "," : "", v[i].id, t);
			out_json_str(stdout, v[i].host);
			printf(",\"name\":");
			out_json_str(stdout, v[i].name);
			printf("}");
		} else {
			printf("%s  %s  %s\n", v[i].id, t, v[i].host);
		}
	}
	if (json)
		printf("]\n");
	free(v);
	return 0;
}

struct ls_opts {
	bool longfmt;
};

static int print_entry(void *ud, const struct mb_entry *e)
{
	struct ls_opts *o = ud;

	if (o->longfmt) {
		char t[32];

		fmt_time(e->mtime_ns / 1000000000, t, sizeof(t));
		printf("%c %04o %u:%u %12llu %s %s ", e->type, e->mode,
		       e->uid, e->gid, (unsigned long long)e->size, t,
		       e->sha256 ? e->sha256 : "-");
	}
	if (!strcmp(e->path, "."))
		printf("%s", e->source);
	else
		printf("%s/%s", e->source, e->path);
	if (o->longfmt && e->link)
		printf(" -> %s", e->link);
	putchar('\n');
	return 0;
}

int cmd_ls(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "long", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct ls_opts o = { false };
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "l", opts, NULL)) != -1) {
		if (opt != 'l')
			return out_usage("ls", "bad option");
		o.longfmt = true;
	}
	if (argc - optind < 1 || argc - optind > 2)
		return out_usage("ls", "ls needs SNAPSHOT [PATH]");
	rc = mb_ls(cli->ctx, argv[optind],
		   argc - optind == 2 ? argv[optind + 1] : NULL, print_entry,
		   &o);
	if (rc)
		return out_fail(cli, rc);
	return 0;
}
