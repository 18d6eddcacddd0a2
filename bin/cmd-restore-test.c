/* SPDX-License-Identifier: MIT */
/* cmd-restore-test.c: mailbackup restore-test. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The report of the library; a failed run adds the members of every
 * failure object of --json (status, exit_code) to it. */
static void print_report(const char *report, int rc)
{
	size_t l = strlen(report);

	while (l && (report[l - 1] == '\n' || report[l - 1] == ' '))
		l--;
	if (!rc || !l || report[l - 1] != '}') {
		fputs(report, stdout);
		return;
	}
	printf("%.*s,\"status\":\"failed\",\"exit_code\":%d}\n",
	       (int)(l - 1), report, mb_status_exit(rc));
}

int cmd_restore_test(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "db-prefix", required_argument, NULL, 'd' },
		{ "keep", no_argument, NULL, 'k' },
		{ "report", required_argument, NULL, 'r' },
		{ "host", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	struct mb_restore_test_opts o = MB_RESTORE_TEST_OPTS_INIT;
	struct mb_restore_test_result res = MB_RESTORE_TEST_RESULT_INIT;
	const char *report_file = NULL;
	char *report = NULL;
	bool json = false;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'd':
			o.db_prefix = optarg;
			break;
		case 'k':
			o.keep = 1;
			break;
		case 'r':
			report_file = optarg;
			break;
		case 'H':
			if ((rc = out_set_host(cli, "restore-test", optarg)))
				return rc;
			break;
		default:
			return out_usage("restore-test", "bad option");
		}
	}
	if (argc - optind > 1)
		return out_usage("restore-test", "at most one SNAPSHOT");
	if (argc - optind == 1)
		o.snapshot = argv[optind];
	rc = mb_restore_test(cli->ctx, &o, &res, &report);
	if (report && json) {
		print_report(report, rc);
		cli->json_out = true;
	}
	if (report && report_file) {
		FILE *f = fopen(report_file, "w");

		if (!f || fputs(report, f) < 0 || fclose(f)) {
			out_msg(MB_LOG_ERROR, "cannot write report '%s': %s",
				report_file, strerror(errno));
			free(report);
			return MB_EXIT_FAILURE;
		}
	}
	free(report);
	if (rc)
		return out_fail(cli, rc);
	/* through out_msg: the snapshot's name comes from the repository */
	if (cli->verbosity > 0)
		out_msg(MB_LOG_INFO,
			"restore-test of %s passed: %llu entries, %llu files (%.1f MiB) identical, %llu/%llu tables, %llu/%llu DKIM keys%s",
			res.snapshot, (unsigned long long)res.entries,
			(unsigned long long)res.files,
			(double)res.bytes / 1048576.0,
			(unsigned long long)res.tables_ok,
			(unsigned long long)res.tables,
			(unsigned long long)res.dkim_ok,
			(unsigned long long)res.dkim_keys,
			res.db_checked ? "" : " (databases not loaded)");
	return 0;
}
