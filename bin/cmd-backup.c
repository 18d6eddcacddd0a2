/* SPDX-License-Identifier: MIT */
/* cmd-backup.c: mailbackup backup. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static int parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s && !*end) {
		*out = v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || (*end && strcmp(end, "Z")))
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "time", required_argument, NULL, 't' },
		{ "source", required_argument, NULL, 's' },
		{ "prune", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct mb_backup_opts bo = { 0 };
	struct mb_backup_result res;
	const char **sources = calloc((size_t)argc + 1, sizeof(*sources));
	size_t ns = 0;
	bool json = false, prune = false;
	int opt, rc;

	if (!sources)
		return 1;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 't':
			if (parse_time(optarg, &bo.time)) {
				free(sources);
				return out_usage("backup",
						 "bad --time '%s': use epoch seconds or YYYY-MM-DDTHH:MM:SSZ",
						 optarg);
			}
			break;
		case 's':
			sources[ns++] = optarg;
			break;
		case 'p':
			prune = true;
			break;
		default:
			free(sources);
			return out_usage("backup", "bad option");
		}
	}
	if (optind != argc) {
		free(sources);
		return out_usage("backup", "unexpected argument '%s'",
				 argv[optind]);
	}
	if (ns)
		bo.sources = sources;
	rc = mb_backup(cli->ctx, &bo, &res);
	free(sources);
	if (rc && rc != MB_E_PARTIAL)
		return out_fail(cli, rc);
	if (json) {
		printf("{\"id\":\"%s\",\"snapshot\":", res.id);
		out_json_str(stdout, res.name);
		printf(",\"files\":%llu,\"dirs\":%llu,\"bytes_total\":%llu,"
		       "\"bytes_read\":%llu,\"bytes_new\":%llu,"
		       "\"files_new\":%llu,\"bytes_stored\":%llu,"
		       "\"packs\":%llu,\"warnings\":%llu,\"seconds\":%.3f}\n",
		       (unsigned long long)res.files,
		       (unsigned long long)res.dirs,
		       (unsigned long long)res.bytes_total,
		       (unsigned long long)res.bytes_read,
		       (unsigned long long)res.bytes_new,
		       (unsigned long long)res.files_new,
		       (unsigned long long)res.bytes_stored,
		       (unsigned long long)res.packs,
		       (unsigned long long)res.warnings, res.seconds);
	} else if (cli->verbosity > 0) {
		fprintf(stderr,
			"snapshot %s saved: %llu files, %.1f MiB read, %.1f MiB new, %.1f MiB stored in %.1f s\n",
			res.id, (unsigned long long)res.files,
			(double)res.bytes_read / 1048576.0,
			(double)res.bytes_new / 1048576.0,
			(double)res.bytes_stored / 1048576.0, res.seconds);
	}
	if (rc == MB_E_PARTIAL)
		return out_fail(cli, rc); /* not a clean run: nothing removed */
	if (prune) {
		struct mb_forget_result fr;

		rc = mb_forget(cli->ctx, NULL, NULL, NULL, &fr);
		if (rc)
			return out_fail(cli, rc);
		if (cli->verbosity > 0)
			fprintf(stderr, "%llu snapshots kept, %llu removed\n",
				(unsigned long long)fr.kept,
				(unsigned long long)fr.removed);
		return prune_run(cli, 10, false, false);
	}
	return 0;
}
