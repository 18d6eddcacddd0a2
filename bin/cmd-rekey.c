/* SPDX-License-Identifier: MIT */
/* cmd-rekey.c: mailbackup rekey, the repository to the configured recipients. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static void print_json(const struct mb_rekey_result *r, bool dry)
{
	printf("{\"ok\":true,\"dry_run\":%s,\"packs\":%llu,"
	       "\"packs_rewritten\":%llu,\"packs_skipped\":%llu,"
	       "\"packs_written\":%llu,\"packs_deleted\":%llu,"
	       "\"packs_young\":%llu,\"bytes_to_rewrite\":%llu,"
	       "\"bytes_read\":%llu,\"bytes_written\":%llu,"
	       "\"index_objects_written\":%llu,\"index_objects_deleted\":%llu,"
	       "\"manifests\":%llu,\"manifests_rewritten\":%llu,"
	       "\"repo_file_rewritten\":%s,\"seconds\":%.3f}\n",
	       dry ? "true" : "false",
	       (unsigned long long)r->packs_total,
	       (unsigned long long)r->packs_rewritten,
	       (unsigned long long)r->packs_skipped,
	       (unsigned long long)r->packs_written,
	       (unsigned long long)r->packs_deleted,
	       (unsigned long long)r->packs_young,
	       (unsigned long long)r->bytes_total,
	       (unsigned long long)r->bytes_read,
	       (unsigned long long)r->bytes_written,
	       (unsigned long long)r->index_objects_written,
	       (unsigned long long)r->index_objects_deleted,
	       (unsigned long long)r->manifests_total,
	       (unsigned long long)r->manifests_rewritten,
	       r->repo_file_rewritten ? "true" : "false", r->seconds);
}

int cmd_rekey(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct mb_rekey_opts ro = MB_REKEY_OPTS_INIT;
	struct mb_rekey_result res = MB_REKEY_RESULT_INIT;
	char in[32], out[32];
	bool json = false;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			ro.dry_run = 1;
			break;
		case 'j':
			json = true;
			break;
		default:
			return out_usage("rekey", "bad option");
		}
	}
	if (optind != argc)
		return out_usage("rekey", "unexpected argument '%s'",
				 argv[optind]);
	rc = mb_rekey(cli->ctx, &ro, &res);
	if (rc)
		return out_fail(cli, rc);
	if (json) {
		print_json(&res, ro.dry_run);
		cli->json_out = true;
	} else if (cli->verbosity > 0) {
		out_bytes(in, sizeof(in), ro.dry_run ? res.bytes_total :
			  res.bytes_read);
		out_bytes(out, sizeof(out), res.bytes_written);
		fprintf(stderr,
			"%s%llu of %llu packs %s (%s read, %s written into %llu), %llu already to the recipients; %llu of %llu manifests re-encrypted\n",
			ro.dry_run ? "dry run: " : "",
			(unsigned long long)res.packs_rewritten,
			(unsigned long long)res.packs_total,
			ro.dry_run ? "to rewrite" : "rewritten", in, out,
			(unsigned long long)res.packs_written,
			(unsigned long long)res.packs_skipped,
			(unsigned long long)res.manifests_rewritten,
			(unsigned long long)res.manifests_total);
	}
	return 0;
}
