/* SPDX-License-Identifier: MIT */
/* cmd-restore.c: mailbackup restore. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "source", required_argument, NULL, 's' },
		{ "mailbox", required_argument, NULL, 'm' },
		{ "path", required_argument, NULL, 'p' },
		{ "overwrite", no_argument, NULL, 'o' },
		{ "load", no_argument, NULL, 'L' },
		{ "db-prefix", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "keep-setid", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct mb_restore_opts ro = { 0 };
	struct mb_restore_result res;
	int opt, rc, json = 0;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			ro.target = optarg;
			break;
		case 's':
			ro.source = optarg;
			break;
		case 'm':
			ro.mailbox = optarg;
			break;
		case 'p':
			ro.path_glob = optarg;
			break;
		case 'o':
			ro.overwrite = 1;
			break;
		case 'L':
			ro.load = 1;
			break;
		case 'd':
			ro.db_prefix = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'S':
			ro.keep_setid = 1;
			break;
		default:
			return out_usage("restore", "bad option");
		}
	}
	if (argc - optind != 1)
		return out_usage("restore", "restore needs one SNAPSHOT");
	if (!ro.target)
		return out_usage("restore", "restore needs --target DIR");
	if (ro.db_prefix && !ro.load)
		return out_usage("restore", "--db-prefix goes with --load");
	ro.snapshot = argv[optind];
	rc = mb_restore(cli->ctx, &ro, &res);
	if (rc && rc != MB_E_PARTIAL)
		return out_fail(cli, rc);
	if (json)
		printf("{\"status\":\"%s\",\"files\":%llu,\"dirs\":%llu,"
		       "\"links\":%llu,\"bytes\":%llu,\"packs\":%llu,"
		       "\"warnings\":%llu,\"seconds\":%.3f}\n",
		       rc ? "partial" : "ok", (unsigned long long)res.files,
		       (unsigned long long)res.dirs,
		       (unsigned long long)res.links,
		       (unsigned long long)res.bytes,
		       (unsigned long long)res.packs,
		       (unsigned long long)res.warnings, res.seconds);
	else if (cli->verbosity > 0)
		fprintf(stderr,
			"restored %llu files, %llu directories, %llu symlinks (%.1f MiB from %llu packs) in %.1f s\n",
			(unsigned long long)res.files,
			(unsigned long long)res.dirs,
			(unsigned long long)res.links,
			(double)res.bytes / 1048576.0,
			(unsigned long long)res.packs, res.seconds);
	return rc ? out_fail(cli, rc) : 0;
}
