/* SPDX-License-Identifier: MIT */
/* cmd-check.c: mailbackup check. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cmd_check(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "read-data", optional_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct mb_check_opts co = MB_CHECK_OPTS_INIT;
	struct mb_check_result res = MB_CHECK_RESULT_INIT;
	int opt, rc, json = 0;

	co.percent = 100;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			co.read_data = 1;
			if (optarg) {
				char *end;
				long p = strtol(optarg, &end, 10);

				if (*end == '%')
					end++;
				if (*end || p < 1 || p > 100)
					return out_usage("check",
							 "--read-data takes a percentage from 1 to 100");
				co.percent = (int)p;
			}
			break;
		case 'j':
			json = 1;
			break;
		default:
			return out_usage("check", "bad option");
		}
	}
	if (optind != argc)
		return out_usage("check", "unexpected argument");
	rc = mb_check(cli->ctx, &co, &res);
	if (!rc || rc == MB_E_VERIFY)
		cli->metrics.snapshots = (int64_t)res.snapshots;
	if (json) {
		printf("{%s\"snapshots\":%llu,\"indexes\":%llu,"
		       "\"packs\":%llu,\"packs_read\":%llu,\"blobs\":%llu,"
		       "\"bytes_read\":%llu,\"errors\":%llu,\"seconds\":%.3f",
		       rc ? "" : "\"ok\":true,",
		       (unsigned long long)res.snapshots,
		       (unsigned long long)res.indexes,
		       (unsigned long long)res.packs,
		       (unsigned long long)res.packs_read,
		       (unsigned long long)res.blobs,
		       (unsigned long long)res.bytes_read,
		       (unsigned long long)res.errors, res.seconds);
		if (rc)
			out_json_fail_members(cli, rc);
		printf("}\n");
		cli->json_out = true;
	}
	if (rc)
		return out_fail(cli, rc);
	if (cli->verbosity > 0)
		fprintf(stderr,
			"no problems found: %llu snapshots, %llu index objects, %llu packs%s\n",
			(unsigned long long)res.snapshots,
			(unsigned long long)res.indexes,
			(unsigned long long)res.packs,
			co.read_data ? " (content read and hashed)" : "");
	return 0;
}
