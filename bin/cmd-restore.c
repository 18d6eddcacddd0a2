/* SPDX-License-Identifier: MIT */
/* cmd-restore.c: mailbackup restore. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A name as text: control characters escaped. */
static void put_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '\\')
			printf("\\x%02x", (unsigned char)*s);
		else
			putchar(*s);
}

/* restore --in-place: one line per message or folder on stdout */
static int on_item(void *ud, const struct mb_inplace_item *it)
{
	static const char *const what[] = { "add", "present", "folder" };
	(void)ud;
	printf("%-7s %s\t", what[it->action], it->mailbox);
	put_text(it->folder);
	if (it->name) {
		putchar('\t');
		put_text(it->name);
	}
	putchar('\n');
	return 0;
}

static int in_place_done(struct cli *cli, const struct mb_restore_opts *ro,
			 const struct mb_restore_result *res, int rc, int json)
{
	if (rc && rc != MB_E_PARTIAL)
		return out_fail(cli, rc);
	if (json)
		printf("{\"status\":\"%s\",\"dry_run\":%s,\"added\":%llu,"
		       "\"present\":%llu,\"folders_created\":%llu,"
		       "\"files\":%llu,\"bytes\":%llu,\"packs\":%llu,"
		       "\"warnings\":%llu,\"seconds\":%.3f}\n",
		       rc ? "partial" : "ok", ro->dry_run ? "true" : "false",
		       (unsigned long long)res->added,
		       (unsigned long long)res->present,
		       (unsigned long long)res->folders_created,
		       (unsigned long long)res->files,
		       (unsigned long long)res->bytes,
		       (unsigned long long)res->packs,
		       (unsigned long long)res->warnings, res->seconds);
	else if (cli->verbosity > 0)
		fprintf(stderr, "%s %llu messages (%llu folders whole), %llu there already\n",
			ro->dry_run ? "would add" : "added",
			(unsigned long long)res->added,
			(unsigned long long)res->folders_created,
			(unsigned long long)res->present);
	return rc ? out_fail(cli, rc) : 0;
}

static const char *restore_check(const struct mb_restore_opts *ro)
{
	if (ro->in_place && ro->target)
		return "--in-place writes into the source's own path: leave out --target";
	if (!ro->in_place && !ro->target)
		return "restore needs --target DIR or --in-place";
	if (!ro->in_place && (ro->as_mailbox || ro->into_folder || ro->dry_run))
		return "--as, --into-folder and --dry-run go with --in-place";
	if (ro->in_place && (ro->overwrite || ro->load || ro->path_glob))
		return "--in-place merges: it takes no --overwrite, --load or --path";
	if ((ro->nfolders || ro->in_place) && !ro->mailbox)
		return "--folder and --in-place need --mailbox USER@DOMAIN";
	if (ro->db_prefix && !ro->load)
		return "--db-prefix goes with --load";
	return NULL;
}

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
		{ "host", required_argument, NULL, 'H' },
		{ "in-place", no_argument, NULL, 'I' },
		{ "folder", required_argument, NULL, 'f' },
		{ "into-folder", required_argument, NULL, 'F' },
		{ "as", required_argument, NULL, 'a' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "keep-setid", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct mb_restore_opts ro = MB_RESTORE_OPTS_INIT;
	struct mb_restore_result res = MB_RESTORE_RESULT_INIT;
	const char **folders = calloc((size_t)argc + 1, sizeof(*folders));
	const char *bad;
	int opt, rc, json = 0;

	if (!folders)
		return out_fail(cli, MB_E_NOMEM);
	ro.folders = folders;

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
		case 'H':
			if ((rc = out_set_host(cli, "restore", optarg)))
				return rc;
			break;
		case 'I':
			ro.in_place = 1;
			break;
		case 'f':
			folders[ro.nfolders++] = optarg;
			break;
		case 'F':
			ro.into_folder = optarg;
			break;
		case 'a':
			ro.as_mailbox = optarg;
			break;
		case 'n':
			ro.dry_run = 1;
			break;
		case 'S':
			ro.keep_setid = 1;
			break;
		default:
			free(folders);
			return out_usage("restore", "bad option");
		}
	}
	bad = argc - optind != 1 ? "restore needs one SNAPSHOT" :
				   restore_check(&ro);
	if (bad) {
		free(folders);
		return out_usage("restore", "%s", bad);
	}
	ro.snapshot = argv[optind];
	if (ro.in_place) {
		ro.on_item = json || (!ro.dry_run && cli->verbosity < 2) ?
			     NULL : on_item;
		ro.on_item_ud = cli;
		rc = mb_restore(cli->ctx, &ro, &res);
		free(folders);
		return in_place_done(cli, &ro, &res, rc, json);
	}
	rc = mb_restore(cli->ctx, &ro, &res);
	free(folders);
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
