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
		{ "host", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	struct mb_snapshot_info *v;
	size_t n, i, shown = 0;
	const char *host = NULL;
	bool json = false;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'j') {
			json = true;
		} else if (opt == 'H') {
			if ((rc = out_set_host(cli, "snapshots", optarg)))
				return rc;
			/* the listing shows every host unless one is named */
			host = strcmp(optarg, "all") ? optarg : NULL;
		} else {
			return out_usage("snapshots", "bad option");
		}
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

		if (host && strcmp(v[i].host, host))
			continue;
		fmt_time(v[i].time, t, sizeof(t));
		if (json) {
			printf("%s{\"id\":", shown++ ? "," : "");
			out_json_str(stdout, v[i].id);
			printf(",\"time\":\"%s\",\"host\":", t);
			out_json_str(stdout, v[i].host);
			printf(",\"name\":");
			out_json_str(stdout, v[i].name);
			printf("}");
		} else {
			quote_name(stdout, v[i].id);
			printf("  %s  ", t);
			quote_name(stdout, v[i].host);
			putchar('\n');
		}
	}
	if (json)
		printf("]\n");
	free(v);
	return 0;
}

struct ls_opts {
	bool longfmt;
	bool json, first;
};

static void json_entry(struct ls_opts *o, const struct mb_entry *e)
{
	printf("%s{\"source\":", o->first ? "" : ",");
	out_json_str(stdout, e->source);
	printf(",\"path\":");
	out_json_str(stdout, e->path);
	printf(",\"type\":\"%c\",\"mode\":%u,\"uid\":%u,\"gid\":%u,"
	       "\"mtime_ns\":%lld,\"size\":%llu", e->type, e->mode, e->uid,
	       e->gid, (long long)e->mtime_ns, (unsigned long long)e->size);
	if (e->sha256)
		printf(",\"sha256\":\"%s\"", e->sha256);
	if (e->link) {
		printf(",\"link\":");
		out_json_str(stdout, e->link);
	}
	putchar('}');
	o->first = false;
}

static int print_entry(void *ud, const struct mb_entry *e)
{
	struct ls_opts *o = ud;

	if (o->json) {
		/* the array opens with the first entry: a failure before it
		 * leaves stdout to the failure object */
		if (o->first)
			putchar('[');
		json_entry(o, e);
		return 0;
	}
	if (o->longfmt) {
		char t[32];

		fmt_time(e->mtime_ns / 1000000000, t, sizeof(t));
		printf("%c %04o %u:%u %12llu %s %s ", e->type, e->mode,
		       e->uid, e->gid, (unsigned long long)e->size, t,
		       e->sha256 ? e->sha256 : "-");
	}
	if (!strcmp(e->path, ".")) {
		quote_name(stdout, e->source);
	} else {
		quote_path(stdout, e->source, e->path);
	}
	if (o->longfmt && e->link) {
		fputs(" -> ", stdout);
		quote_name(stdout, e->link);
	}
	putchar('\n');
	return 0;
}

int cmd_ls(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "long", no_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "host", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	struct ls_opts o = { false, false, true };
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "l", opts, NULL)) != -1) {
		if (opt == 'l')
			o.longfmt = true;
		else if (opt == 'j')
			o.json = true;
		else if (opt == 'H' && (rc = out_set_host(cli, "ls", optarg)))
			return rc;
		else if (opt != 'H')
			return out_usage("ls", "bad option");
	}
	if (argc - optind < 1 || argc - optind > 2)
		return out_usage("ls", "ls needs SNAPSHOT [PATH]");
	rc = mb_ls(cli->ctx, argv[optind],
		   argc - optind == 2 ? argv[optind + 1] : NULL, print_entry,
		   &o);
	if (o.json && (!rc || !o.first)) {
		printf("%s]\n", o.first ? "[" : "");
		cli->json_out = true;
	}
	if (rc)
		return out_fail(cli, rc);
	return 0;
}
