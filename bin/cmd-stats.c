/* SPDX-License-Identifier: MIT */
/* cmd-stats.c: mailbackup stats. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

int cmd_stats(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct mb_stats st = MB_STATS_INIT;
	bool json = false;
	char a[32], b[32], c[32], d[32], e[32], f[32];
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'j')
			return out_usage("stats", "bad option");
		json = true;
	}
	if (optind != argc)
		return out_usage("stats", "unexpected argument '%s'",
				 argv[optind]);
	rc = mb_stats(cli->ctx, &st);
	if (rc)
		return out_fail(cli, rc);
	if (json) {
		printf("{\"snapshots\":%llu,\"packs\":%llu,"
		       "\"index_objects\":%llu,\"bytes_snapshots\":%llu,"
		       "\"bytes_packs\":%llu,\"bytes_index\":%llu,"
		       "\"bytes_total\":%llu,\"blobs\":%llu,"
		       "\"bytes_blobs\":%llu,\"files\":%llu,"
		       "\"bytes_logical\":%llu,\"dedup_ratio\":%.4f,"
		       "\"compression_ratio\":%.4f,\"seconds\":%.3f}\n",
		       (unsigned long long)st.snapshots,
		       (unsigned long long)st.packs,
		       (unsigned long long)st.index_objects,
		       (unsigned long long)st.bytes_snapshots,
		       (unsigned long long)st.bytes_packs,
		       (unsigned long long)st.bytes_index,
		       (unsigned long long)st.bytes_total,
		       (unsigned long long)st.blobs,
		       (unsigned long long)st.bytes_blobs,
		       (unsigned long long)st.files,
		       (unsigned long long)st.bytes_logical, st.dedup_ratio,
		       st.compression_ratio, st.seconds);
		return 0;
	}
	out_bytes(a, sizeof(a), st.bytes_snapshots);
	out_bytes(b, sizeof(b), st.bytes_index);
	out_bytes(c, sizeof(c), st.bytes_packs);
	out_bytes(d, sizeof(d), st.bytes_total);
	out_bytes(e, sizeof(e), st.bytes_blobs);
	out_bytes(f, sizeof(f), st.bytes_logical);
	printf("snapshots          %12llu  %12s\n"
	       "index objects      %12llu  %12s\n"
	       "packs              %12llu  %12s\n"
	       "repository total   %12s  %12s\n"
	       "unique contents    %12llu  %12s  (plaintext)\n"
	       "files in snapshots %12llu  %12s  (logical)\n"
	       "dedup ratio        %12.2f  (logical / unique)\n"
	       "compression ratio  %12.2f  (unique plaintext / packs)\n",
	       (unsigned long long)st.snapshots, a,
	       (unsigned long long)st.index_objects, b,
	       (unsigned long long)st.packs, c, "", d,
	       (unsigned long long)st.blobs, e,
	       (unsigned long long)st.files, f, st.dedup_ratio,
	       st.compression_ratio);
	return 0;
}
