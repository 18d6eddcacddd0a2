/* SPDX-License-Identifier: MIT */
/* cmd-copy.c: mailbackup copy, snapshots to a second repository. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static void print_json(struct cli *cli, const struct mb_copy_opts *o,
		       const struct mb_copy_result *res, int rc)
{
	printf("{%s\"dry_run\":%s,\"snapshots_selected\":%llu,"
	       "\"snapshots_present\":%llu,\"snapshots_copied\":%llu,"
	       "\"packs_copied\":%llu,\"packs_present\":%llu,"
	       "\"bytes_copied\":%llu,\"index_objects\":%llu,"
	       "\"seconds\":%.3f",
	       rc ? "" : "\"ok\":true,", o->dry_run ? "true" : "false",
	       (unsigned long long)res->snapshots_selected,
	       (unsigned long long)res->snapshots_present,
	       (unsigned long long)res->snapshots_copied,
	       (unsigned long long)res->packs_copied,
	       (unsigned long long)res->packs_present,
	       (unsigned long long)res->bytes_copied,
	       (unsigned long long)res->index_objects, res->seconds);
	if (rc)
		out_json_fail_members(cli, rc);
	printf("}\n");
	cli->json_out = true;
}

int cmd_copy(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "host", required_argument, NULL, 'H' },
		{ "source", required_argument, NULL, 's' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct mb_copy_opts o = MB_COPY_OPTS_INIT;
	struct mb_copy_result res = MB_COPY_RESULT_INIT;
	char bytes[32];
	bool json = false;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			o.to_config = optarg;
			break;
		case 'H':
			if ((rc = out_set_host(cli, "copy", optarg)))
				return rc;
			o.host = optarg;
			break;
		case 's':
			o.source = optarg;
			break;
		case 'n':
			o.dry_run = 1;
			break;
		case 'j':
			json = true;
			break;
		case 'w':
			if (parse_seconds(optarg, &o.wait))
				return out_usage("copy",
						 "--wait takes a duration (90s, 15m, 2h)");
			break;
		default:
			return out_usage("copy", "bad option");
		}
	}
	if (!o.to_config || !*o.to_config)
		return out_usage("copy",
				 "--to FILE is required: the configuration of the destination repository");
	o.snapshots = (const char *const *)(argv + optind);
	o.nsnapshots = (size_t)(argc - optind);
	rc = mb_copy(cli->ctx, &o, &res);
	if (json)
		print_json(cli, &o, &res, rc);
	if (rc)
		return out_fail(cli, rc);
	if (cli->verbosity > 0 && !json) {
		out_bytes(bytes, sizeof(bytes), res.bytes_copied);
		fprintf(stderr,
			"%s %llu of %llu snapshots (%llu there already), %llu packs (%s; %llu there already)\n",
			o.dry_run ? "would copy" : "copied",
			(unsigned long long)res.snapshots_copied,
			(unsigned long long)res.snapshots_selected,
			(unsigned long long)res.snapshots_present,
			(unsigned long long)res.packs_copied, bytes,
			(unsigned long long)res.packs_present);
	}
	return 0;
}
