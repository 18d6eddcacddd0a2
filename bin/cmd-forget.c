/* SPDX-License-Identifier: MIT */
/* cmd-forget.c: mailbackup forget, prune and unlock. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

struct forget_out {
	bool json, first;
};

static int print_item(void *ud, const struct mb_forget_item *it)
{
	struct forget_out *o = ud;
	char t[32];
	struct tm tm;
	time_t tt = (time_t)it->snap.time;

	gmtime_r(&tt, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (o->json) {
		printf("%s{\"id\":", o->first ? "" : ",");
		out_json_str(stdout, it->snap.id);
		printf(",\"time\":\"%s\",\"host\":", t);
		out_json_str(stdout, it->snap.host);
		printf(",\"sources\":");
		out_json_str(stdout, it->group);
		printf(",\"action\":\"%s\",\"reasons\":[",
		       it->keep ? "keep" : "remove");
		{
			const char *p = it->reasons;
			bool first = true;

			while (p && *p) {
				size_t l = strcspn(p, ",");

				printf("%s\"%.*s\"", first ? "" : ",", (int)l,
				       p);
				first = false;
				p += l + (p[l] == ',');
			}
		}
		printf("]}");
		o->first = false;
	} else {
		char *host = quote_name_dup(it->snap.host);

		quote_name(stdout, it->snap.id);
		printf("  %s  %-20s %-7s %s\n", t, host ? host : "?",
		       it->keep ? "keep" : "remove", it->reasons);
		free(host);
	}
	return 0;
}

int parse_seconds(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t unit = 1;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end == 'm')
		unit = 60;
	else if (*end == 'h')
		unit = 3600;
	else if (*end == 'd')
		unit = 86400;
	else if (*end && *end != 's')
		return -1;
	if (errno || (*end && end[1]) || v > INT64_MAX / 86400 / 365)
		return -1;
	*out = (int64_t)v * unit;
	return 0;
}

int prune_run(struct cli *cli, int max_unused, int64_t grace, bool dry,
	      bool json)
{
	struct mb_prune_opts po = MB_PRUNE_OPTS_INIT;
	struct mb_prune_result res = MB_PRUNE_RESULT_INIT;
	int rc;

	po.max_unused = max_unused;
	po.dry_run = dry;
	po.grace = grace;
	rc = mb_prune(cli->ctx, &po, &res);

	if (rc)
		return out_fail(cli, rc);
	if (json)
		printf("{\"dry_run\":%s,\"packs\":%llu,\"packs_deleted\":%llu,"
		       "\"packs_repacked\":%llu,\"packs_written\":%llu,"
		       "\"bytes_before\":%llu,\"bytes_freed\":%llu,"
		       "\"repack_skipped\":%d,\"packs_young\":%llu,"
		       "\"seconds\":%.3f}\n",
		       dry ? "true" : "false",
		       (unsigned long long)res.packs_total,
		       (unsigned long long)res.packs_deleted,
		       (unsigned long long)res.packs_repacked,
		       (unsigned long long)res.packs_written,
		       (unsigned long long)res.bytes_before,
		       (unsigned long long)res.bytes_freed,
		       res.repack_skipped,
		       (unsigned long long)res.packs_young, res.seconds);
	else if (cli->verbosity > 0)
		fprintf(stderr,
			"%s%llu of %llu packs deleted, %llu repacked into %llu, %.1f MiB freed\n",
			dry ? "dry run: " : "",
			(unsigned long long)res.packs_deleted,
			(unsigned long long)res.packs_total,
			(unsigned long long)res.packs_repacked,
			(unsigned long long)res.packs_written,
			(double)res.bytes_freed / 1048576.0);
	return 0;
}

static const struct option forget_opts[] = {
	{ "keep-last", required_argument, NULL, 'r' },
	{ "keep-hourly", required_argument, NULL, 'r' },
	{ "keep-daily", required_argument, NULL, 'r' },
	{ "keep-weekly", required_argument, NULL, 'r' },
	{ "keep-monthly", required_argument, NULL, 'r' },
	{ "keep-yearly", required_argument, NULL, 'r' },
	{ "keep-within", required_argument, NULL, 'r' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "json", no_argument, NULL, 'j' },
	{ "prune", no_argument, NULL, 'p' },
	{ "max-unused", required_argument, NULL, 'm' },
	{ "grace", required_argument, NULL, 'g' },
	{ NULL, 0, NULL, 0 },
};

/* --grace DURATION: 0 means none (MB_PRUNE_NO_GRACE) */
static int parse_grace(const char *s, int64_t *out)
{
	if (parse_seconds(s, out))
		return -1;
	if (!*out)
		*out = MB_PRUNE_NO_GRACE;
	return 0;
}

static int parse_pct(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end == '%')
		end++;
	if (!*s || *end || v < 0 || v > 100)
		return -1;
	*out = (int)v;
	return 0;
}

int cmd_forget(struct cli *cli, int argc, char **argv)
{
	const char **rules = calloc((size_t)argc * 2 + 1, sizeof(*rules));
	struct mb_forget_opts fo = MB_FORGET_OPTS_INIT;
	struct mb_forget_result res = MB_FORGET_RESULT_INIT;
	struct forget_out o = { false, true };
	size_t nr = 0;
	bool prune = false;
	int opt, idx, rc, max_unused = 10;
	int64_t grace = 0;

	if (!rules)
		return 1;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "n", forget_opts, &idx)) != -1) {
		switch (opt) {
		case 'r':
			rules[nr++] = forget_opts[idx].name;
			rules[nr++] = optarg;
			break;
		case 'n':
			fo.dry_run = 1;
			break;
		case 'j':
			o.json = true;
			break;
		case 'p':
			prune = true;
			break;
		case 'm':
			if (parse_pct(optarg, &max_unused)) {
				free(rules);
				return out_usage("forget",
						 "--max-unused takes a percentage");
			}
			break;
		case 'g':
			if (parse_grace(optarg, &grace)) {
				free(rules);
				return out_usage("forget",
						 "--grace takes a duration (90s, 15m, 2h, 1d)");
			}
			break;
		default:
			free(rules);
			return out_usage("forget", "bad option");
		}
	}
	if (optind != argc) {
		free(rules);
		return out_usage("forget", "unexpected argument '%s'",
				 argv[optind]);
	}
	fo.rules = nr ? rules : NULL;
	if (o.json)
		printf("{\"snapshots\":[");
	rc = mb_forget(cli->ctx, &fo, print_item, &o, &res);
	free(rules);
	if (o.json)
		printf("]");
	if (rc) {
		if (o.json) {
			out_json_fail_members(cli, rc);
			printf("}\n");
		}
		return out_fail(cli, rc);
	}
	cli->json_out = o.json;
	if (o.json)
		printf(",\"dry_run\":%s,\"kept\":%llu,\"removed\":%llu}\n",
		       fo.dry_run ? "true" : "false",
		       (unsigned long long)res.kept,
		       (unsigned long long)res.removed);
	else if (cli->verbosity > 0)
		fprintf(stderr, "%s%llu snapshots kept, %llu removed\n",
			fo.dry_run ? "dry run: " : "",
			(unsigned long long)res.kept,
			(unsigned long long)res.removed);
	if (prune && !fo.dry_run)
		return prune_run(cli, max_unused, grace, false, false);
	return 0;
}

int cmd_prune(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "max-unused", required_argument, NULL, 'm' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "grace", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, max_unused = 10;
	int64_t grace = 0;
	bool dry = false, json = false;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (parse_pct(optarg, &max_unused))
				return out_usage("prune",
						 "--max-unused takes a percentage");
			break;
		case 'n':
			dry = true;
			break;
		case 'j':
			json = true;
			break;
		case 'g':
			if (parse_grace(optarg, &grace))
				return out_usage("prune",
						 "--grace takes a duration (90s, 15m, 2h, 1d)");
			break;
		default:
			return out_usage("prune", "bad option");
		}
	}
	if (optind != argc)
		return out_usage("prune", "unexpected argument");
	return prune_run(cli, max_unused, grace, dry, json);
}

int cmd_unlock(struct cli *cli, int argc, char **argv)
{
	bool json = false, all = false;
	size_t removed;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--remove-all"))
			all = true;
		else
			return out_usage("unlock",
					 "unlock takes no arguments but --json and --remove-all");
	}
	rc = all ? mb_unlock_all(cli->ctx, &removed) :
		   mb_unlock(cli->ctx, &removed);
	if (rc)
		return out_fail(cli, rc);
	if (json)
		printf("{\"removed\":%zu}\n", removed);
	else if (cli->verbosity > 0)
		fprintf(stderr, "%zu %slock(s) removed\n", removed,
			all ? "" : "stale ");
	return 0;
}

int cmd_repair(struct cli *cli, int argc, char **argv)
{
	struct mb_repair_result res = MB_REPAIR_RESULT_INIT;
	bool json = false;
	int i, rc;

	if (argc < 2 || strcmp(argv[1], "index"))
		return out_usage("repair", "say what to repair: 'repair index'");
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json"))
			return out_usage("repair", "unexpected argument '%s'",
					 argv[i]);
		json = true;
	}
	rc = mb_repair_index(cli->ctx, &res);
	if (rc)
		return out_fail(cli, rc);
	if (json)
		printf("{\"objects_removed\":%llu,\"packs_dropped\":%llu,"
		       "\"blobs_dropped\":%llu,\"index_objects_written\":%llu}\n",
		       (unsigned long long)res.objects_removed,
		       (unsigned long long)res.packs_dropped,
		       (unsigned long long)res.blobs_dropped,
		       (unsigned long long)res.index_objects_written);
	else if (cli->verbosity > 0)
		fprintf(stderr,
			"%llu partial object(s) removed, %llu missing pack(s) dropped from the index (%llu entries)\n",
			(unsigned long long)res.objects_removed,
			(unsigned long long)res.packs_dropped,
			(unsigned long long)res.blobs_dropped);
	return 0;
}
