/* SPDX-License-Identifier: MIT */
/* main.c: the mailbackup command: global options and the table of commands. */
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const struct cmd mb_commands[] = {
	{ "init", cmd_init, CMD_CONFIG, "mailbackup [-c FILE] init [--json]",
	  "Create the repository named by [repository] url: writes the signed\n"
	  "mailbackup.repo. Refuses when a repository is there already.\n" },
	{ "keygen", cmd_keygen, 0,
	  "mailbackup keygen --gnupg-home DIR --name NAME [--json]",
	  "Create an OpenPGP key pair (ed25519 signing, cv25519 encryption)\n"
	  "without passphrase in DIR and print its fingerprint. Use it for the\n"
	  "host key (signing_key) or, on an offline machine, a recovery key.\n" },
	{ "backup", cmd_backup, CMD_CONFIG | CMD_METRICS,
	  "mailbackup [-c FILE] backup [--json] [--time TIMESTAMP] [--source NAME]... [--prune] [--wait DURATION]",
	  "Take a snapshot of the configured sources.\n\n"
	  "  --json            print a JSON summary on stdout\n"
	  "  --time TIMESTAMP  record the snapshot at this time (epoch seconds or\n"
	  "                    YYYY-MM-DDTHH:MM:SSZ): for imports and tests\n"
	  "  --source NAME     only this source (repeatable)\n"
	  "  --prune           after a clean backup, apply [retention] and prune;\n"
	  "                    a prune step that finds the repository locked is\n"
	  "                    a warning (exit 0), another failure exit 3\n"
	  "  --wait DURATION   retry for up to DURATION (90s, 15m, 2h) while the\n"
	  "                    repository is locked by a prune\n\n"
	  "Exit 0 on success, 3 when committed but some files could not be read,\n"
	  "1 on failure (no snapshot committed), 5 when locked.\n\n"
	  "[hooks] pre_backup runs first (its failure stops the backup, exit 1),\n"
	  "post_backup after a committed backup, on_failure after a failed one.\n" },
	{ "snapshots", cmd_snapshots, CMD_CONFIG,
	  "mailbackup [-c FILE] snapshots [--json]",
	  "List the snapshots, oldest first: id, time (UTC) and host.\n" },
	{ "ls", cmd_ls, CMD_CONFIG,
	  "mailbackup [-c FILE] ls [-l] [--json] SNAPSHOT [PATH]",
	  "List the entries of a snapshot as SOURCE/PATH, or those under PATH.\n"
	  "SNAPSHOT is an id, a unique id prefix or 'latest'.\n\n"
	  "  -l       long listing: type, mode, owner, size, time, hash\n"
	  "  --json   a JSON array of the entries with all their fields\n" },
	{ "restore", cmd_restore, CMD_CONFIG,
	  "mailbackup [-c FILE] restore SNAPSHOT --target DIR [--source NAME] [--mailbox USER@DOMAIN] [--path GLOB] [--overwrite] [--load [--db-prefix P]] [--json]",
	  "Restore a snapshot, or part of it, into DIR: source NAME's files go to\n"
	  "DIR/NAME/. Every file is checked against the hash recorded at backup\n"
	  "time before it becomes visible. DIR must be empty unless --overwrite.\n\n"
	  "  --source NAME          only this source\n"
	  "  --mailbox USER@DOMAIN  only this mailbox of the maildir sources\n"
	  "  --path GLOB            only paths (within the source) matching GLOB\n"
	  "  --overwrite            allow a non-empty DIR and replace files\n"
	  "  --load                 load mariadb sources into their server\n"
	  "  --db-prefix P          with --load: name the databases P + name\n"
	  "  --json                 print a JSON summary on stdout\n" },
	{ "check", cmd_check, CMD_CONFIG | CMD_METRICS,
	  "mailbackup [-c FILE] check [--read-data[=PERCENT]] [--json]",
	  "Verify the repository: signatures of mailbackup.repo, every index\n"
	  "object and manifest; that every pack a snapshot needs exists with its\n"
	  "recorded size. --read-data also downloads the packs (PERCENT of them),\n"
	  "checks their hashes, decrypts them and hashes every member.\n"
	  "Exit 4 when a problem was found.\n" },
	{ "forget", cmd_forget, CMD_CONFIG | CMD_METRICS,
	  "mailbackup [-c FILE] forget [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--keep-within DURATION] [--dry-run] [--json] [--prune [--max-unused PCT] [--grace DURATION]]",
	  "Apply a retention policy (the --keep-* rules, or [retention] of the\n"
	  "configuration) and remove the snapshots it does not keep. Each rule\n"
	  "keeps the newest snapshot of each of its last N hours, days, ISO weeks,\n"
	  "months or years that hold one (UTC); rules are OR-ed; keep-within counts\n"
	  "from the newest snapshot. Snapshots are grouped by host and source set.\n"
	  "The newest snapshot of a group is never removed; an empty policy is\n"
	  "refused. --dry-run lists every snapshot with keep/remove and the rules\n"
	  "that keep it. --prune runs prune afterwards.\n" },
	{ "prune", cmd_prune, CMD_CONFIG | CMD_METRICS,
	  "mailbackup [-c FILE] prune [--max-unused PCT] [--grace DURATION] [--dry-run] [--json]",
	  "Delete packs and index objects that no snapshot needs, and repack packs\n"
	  "with more than PCT (default 10) percent unused content when this host\n"
	  "can decrypt them. The new index is written before anything is deleted.\n"
	  "A pack is deleted only once this host has seen it unreferenced for the\n"
	  "grace period (default 1d, measured on this host's monotonic clock and\n"
	  "kept in the cache); --grace 0 deletes at once (tests, a full repository\n"
	  "where no backup runs). Takes an exclusive repository lock: exit 5 while\n"
	  "a backup runs.\n" },
	{ "restore-test", cmd_restore_test, CMD_CONFIG | CMD_METRICS,
	  "mailbackup [-c FILE] restore-test [SNAPSHOT] [--json] [--report FILE] [--db-prefix P] [--keep]",
	  "Restore SNAPSHOT (default: latest) into scratch space ([options]\n"
	  "scratch_dir, default $TMPDIR or /var/tmp) and compare every entry with\n"
	  "the manifest: type, content hash, size, mode, owner (as root) and link\n"
	  "target. Databases are loaded into a scratch MariaDB ([options]\n"
	  "scratch_db = local starts one from mariadbd) or, with --db-prefix P,\n"
	  "into the configured server as P+name, and their checksums and row\n"
	  "counts compared with those recorded at backup time. DKIM private keys\n"
	  "are parsed and matched with their public keys. --json prints the\n"
	  "report, --report FILE writes it. Exit 0 when everything matches, 4\n"
	  "when something differs.\n" },
	{ "repair", cmd_repair, CMD_CONFIG, "mailbackup [-c FILE] repair index [--json]",
	  "Under the exclusive repository lock: remove empty (partial) index and\n"
	  "snapshot objects, and drop the index entries whose pack is missing, so\n"
	  "that the next backup stores that content again. Says what it removed.\n"
	  "Damaged objects that are not empty are left for a human (see\n"
	  "docs/disaster-recovery.md). Exit 5 while another run holds the lock.\n" },
	{ "unlock", cmd_unlock, CMD_CONFIG,
	  "mailbackup [-c FILE] unlock [--remove-all] [--json]",
	  "Remove stale repository locks: those of processes that are gone on\n"
	  "this host, and those this host has seen unchanged for [options]\n"
	  "lock_timeout (run unlock again after that long).\n\n"
	  "  --remove-all  remove every lock object, stale or not. Only when no\n"
	  "                mailbackup runs on any host: a live run loses its lock\n"
	  "                and stops before its next commit (exit 5).\n" },
	{ "stats", cmd_stats, CMD_CONFIG, "mailbackup [-c FILE] stats [--json]",
	  "Repository statistics: object sizes by kind (packs, index, snapshots),\n"
	  "the number of snapshots, packs and unique contents, the plaintext size\n"
	  "of the unique contents, the logical size of all snapshots (the sum of\n"
	  "their file sizes), the dedup ratio (logical / unique) and the\n"
	  "compression ratio (unique plaintext / pack bytes). Reads every\n"
	  "manifest.\n" },
	{ "diff", cmd_diff, CMD_CONFIG,
	  "mailbackup [-c FILE] diff [--summary] [--json] SNAPSHOT-A SNAPSHOT-B",
	  "What changed from snapshot A to snapshot B: one line per entry,\n"
	  "'+' new, '-' removed, 'M' changed (content, type, link, mode or\n"
	  "owner; not an mtime alone), 'F' a Maildir message whose flags changed\n"
	  "(renamed with the same unique name and content), then counts and bytes\n"
	  "per source and, for maildir sources, per mailbox (<domain>/<user>).\n\n"
	  "  --summary  only the counts\n"
	  "  --json     one JSON document with the entries and the counts\n" },
	{ NULL, NULL, 0, NULL, NULL },
};

static void usage(FILE *f)
{
	const struct cmd *c;

	fprintf(f,
		"usage: mailbackup [-c FILE] [-q|-v] [--progress] COMMAND [ARGS]\n"
		"       mailbackup COMMAND --help\n\n"
		"commands:\n");
	for (c = mb_commands; c->name; c++)
		fprintf(f, "  %s\n", c->synopsis);
	fprintf(f,
		"\nThe configuration is FILE, $MAILBACKUP_CONFIG or "
		"/etc/mailbackup/mailbackup.conf.\n"
		"Exit codes: 0 success, 1 failure, 2 usage or configuration error,\n"
		"3 backup committed with unreadable files, 4 check mismatch, "
		"5 locked.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { .verbosity = 1 };
	const struct cmd *c;
	int opt, rc;

	signal(SIGPIPE, SIG_IGN);
	/* names are bytes; C.UTF-8 lets libarchive write any of them */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "");
	while ((opt = getopt_long(argc, argv, "+c:qvh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			cli.config = optarg;
			break;
		case 'q':
			cli.verbosity = 0;
			break;
		case 'v':
			cli.verbosity++;
			break;
		case 'P':
			cli.progress = true;
			break;
		case 'h':
			usage(stdout);
			return out_flush();
		case 'V':
			printf("mailbackup %s\n", MB_VERSION);
			return out_flush();
		default:
			usage(stderr);
			return MB_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return MB_EXIT_USAGE;
	}
	for (c = mb_commands; c->name; c++)
		if (!strcmp(c->name, argv[optind]))
			break;
	if (!c->name) {
		fprintf(stderr, "mailbackup: unknown command '%s'\n",
			argv[optind]);
		usage(stderr);
		return MB_EXIT_USAGE;
	}
	if (argc - optind >= 2 && (!strcmp(argv[optind + 1], "--help") ||
				   !strcmp(argv[optind + 1], "-h")))
		return out_cmd_help(c->name) || out_flush();
	if (mb_ctx_new(&cli.ctx)) {
		fprintf(stderr, "mailbackup: error: out of memory\n");
		return MB_EXIT_FAILURE;
	}
	out_setup(&cli);
	if (c->flags & CMD_CONFIG) {
		const char *path = cli.config;

		if (!path)
			path = getenv("MAILBACKUP_CONFIG");
		if (!path)
			path = "/etc/mailbackup/mailbackup.conf";
		rc = mb_ctx_load_config(cli.ctx, path);
		if (!rc)
			rc = out_log_setup(&cli);
		else
			rc = out_fail(&cli, rc);
		if (rc) {
			mb_ctx_free(cli.ctx);
			return rc;
		}
	}
	optind++;
	mb_metrics_run_init(&cli.metrics, c->name);
	cli.t0 = out_now();
	rc = c->fn(&cli, argc - optind + 1, argv + optind - 1);
	if (c->flags & CMD_METRICS)
		out_metrics(&cli, rc);
	mb_ctx_free(cli.ctx);
	if (out_flush() && !rc)
		rc = MB_EXIT_FAILURE;
	return rc;
}
