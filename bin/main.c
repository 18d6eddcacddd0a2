/* SPDX-License-Identifier: MIT */
/* main.c: the mailbackup command: global options and the table of commands. */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int cmd_help(struct cli *cli, int argc, char **argv);

const struct cmd mb_commands[] = {
	{ "help", cmd_help, 0, "mailbackup help [COMMAND]",
	  "Show the usage of mailbackup, or the help of COMMAND (the same as\n"
	  "'mailbackup COMMAND --help').\n" },
	{ "init", cmd_init, CMD_CONFIG, "mailbackup [-c FILE] init [--json]",
	  "Create the repository named by [repository] url: writes the signed\n"
	  "mailbackup.repo. Refuses when a repository is there already.\n" },
	{ "keygen", cmd_keygen, 0,
	  "mailbackup keygen --gnupg-home DIR --name NAME [--json]",
	  "Create an OpenPGP key pair (ed25519 signing, cv25519 encryption)\n"
	  "without passphrase in DIR and print its fingerprint. Use it for the\n"
	  "host key (signing_key) or, on an offline machine, a recovery key.\n" },
	{ "backup", cmd_backup, CMD_CONFIG | CMD_METRICS,
	  "mailbackup [-c FILE] backup [--json] [--time TIMESTAMP] [--source NAME]... [--prune] [--wait DURATION] [--copy-to FILE]...",
	  "Take a snapshot of the configured sources.\n\n"
	  "  --json            print a JSON summary on stdout\n"
	  "  --time TIMESTAMP  record the snapshot at this time (epoch seconds or\n"
	  "                    YYYY-MM-DDTHH:MM:SSZ): for imports and tests;\n"
	  "                    from 2000 on, at most a day ahead of the clock\n"
	  "  --source NAME     only this source (repeatable)\n"
	  "  --prune           after a clean backup, apply [retention] and prune\n"
	  "                    (never forgetting the snapshot just made); a prune\n"
	  "                    step that finds the repository locked is a warning\n"
	  "                    (exit 0), another failure exit 3\n"
	  "  --wait DURATION   retry for up to DURATION (90s, 15m, 2h) while the\n"
	  "                    repository is locked by a prune\n"
	  "  --copy-to FILE    after the commit (and --prune), copy the new snapshot\n"
	  "                    to the repository of configuration FILE, as 'copy\n"
	  "                    --to FILE' does (repeatable); a failed copy is a\n"
	  "                    warning and exit 3: run 'copy --to FILE' later\n\n"
	  "Exit 0 on success, 3 when committed but some files could not be read,\n"
	  "1 on failure (no snapshot committed), 5 when locked.\n\n"
	  "[hooks] pre_backup runs first (its failure stops the backup, exit 1),\n"
	  "post_backup after a committed backup, on_failure after a failed one.\n" },
	{ "snapshots", cmd_snapshots, CMD_CONFIG,
	  "mailbackup [-c FILE] snapshots [--json] [--host NAME|all]",
	  "List the snapshots, oldest first: id, time (UTC) and host; with\n"
	  "--host NAME only those of that host.\n" },
	{ "ls", cmd_ls, CMD_CONFIG,
	  "mailbackup [-c FILE] ls [-l] [--json] [--host NAME|all] SNAPSHOT [PATH | --mailbox USER@DOMAIN [--folder NAME]...]\n"
	  "       mailbackup [-c FILE] ls --messages [--json] [--host NAME|all] SNAPSHOT [--source NAME] --mailbox USER@DOMAIN [--folder NAME]...",
	  "List the entries of a snapshot as SOURCE/PATH, or those under PATH.\n"
	  "SNAPSHOT is an id, a unique id prefix, 'latest' (this host's newest)\n"
	  "or a UTC date or time, YYYY-MM-DD[THH:MM[:SS]][Z]: this host's newest\n"
	  "snapshot at or before the end of that day, minute or second.\n\n"
	  "  -l                     long listing: type, mode, owner, size, time, hash\n"
	  "  --json                 a JSON array of the entries with all their fields\n"
	  "  --host NAME|all        whose snapshots 'latest' and times pick\n"
	  "  --mailbox USER@DOMAIN  only this mailbox (maildir sources)\n"
	  "  --folder NAME          with --mailbox: only this folder, by the name users\n"
	  "                         see ('INBOX', 'Archive/2024'); repeatable\n"
	  "  --messages             with --mailbox: one line per message, to find\n"
	  "                         the one a user lost: folder, Date, From,\n"
	  "                         Subject, size, Maildir flags (tab-separated);\n"
	  "                         reads the messages, so it needs a recipient's\n"
	  "                         secret key\n" },
	{ "restore", cmd_restore, CMD_CONFIG,
	  "mailbackup [-c FILE] restore SNAPSHOT --target DIR [--source NAME] [--mailbox USER@DOMAIN [--folder NAME]...] [--path GLOB] [--overwrite] [--keep-setid] [--load [--db-prefix P]] [--host NAME|all] [--json]\n"
	  "       mailbackup [-c FILE] restore SNAPSHOT --in-place [--source NAME] --mailbox USER@DOMAIN [--folder NAME]... [--into-folder NAME] [--as USER@DOMAIN] [--dry-run] [--host NAME|all] [--json]",
	  "Restore a snapshot, or part of it, into DIR: source NAME's files go to\n"
	  "DIR/NAME/. Every file is checked against the hash recorded at backup\n"
	  "time before it becomes visible. DIR must be empty unless --overwrite.\n"
	  "A new DIR holding one mailbox belongs to the mailbox's owner (0700), so\n"
	  "that 'doveadm import' running as that user can read it.\n\n"
	  "  --source NAME          only this source\n"
	  "  --mailbox USER@DOMAIN  only this mailbox of the maildir sources\n"
	  "  --folder NAME          with --mailbox: only this folder, by the name\n"
	  "                         users see ('INBOX', 'Archive/2024', 'Entwürfe');\n"
	  "                         repeatable; Maildir++ layout\n"
	  "  --path GLOB            only paths (within the source) matching GLOB\n"
	  "  --overwrite            allow a non-empty DIR and replace files. NOT a\n"
	  "                         merge: never use it on a live mail store (it\n"
	  "                         doubles messages, resets flags and keywords and\n"
	  "                         changes UIDs); use --in-place\n"
	  "  --keep-setid           restore set-user-ID and set-group-ID bits\n"
	  "  --load                 load mariadb sources into their server\n"
	  "  --db-prefix P          with --load: name the databases P + name\n"
	  "  --host NAME|all        whose snapshots 'latest' and a date pick\n"
	  "                         (default: this host's)\n"
	  "  --json                 print a JSON summary on stdout\n\n"
	  "--in-place gives mail back into the live mail store at the maildir\n"
	  "source's configured path, while the server runs. It merges and never\n"
	  "replaces: a message already there (by its Maildir unique name, any\n"
	  "flags) is left alone; a missing one is delivered (tmp/, then cur/ with\n"
	  "the snapshot's flags and keywords); a folder missing live comes back\n"
	  "whole with its UIDs and keywords, and is subscribed.\n\n"
	  "  --into-folder NAME     put folder F at NAME/F\n"
	  "  --as USER@DOMAIN       into this (existing) mailbox instead\n"
	  "  --dry-run              list what would be added ('add', 'folder') and\n"
	  "                         what is there already ('present'); change nothing\n"
	  "  --json                 print the counts as JSON\n" },
	{ "check", cmd_check, CMD_CONFIG | CMD_METRICS,
	  "mailbackup [-c FILE] check [--read-data[=PERCENT]] [--json]",
	  "Verify the repository: signatures of mailbackup.repo, every index\n"
	  "object and manifest; that every pack a snapshot needs exists with its\n"
	  "recorded size. --read-data also downloads the packs (PERCENT of them),\n"
	  "checks their hashes, decrypts them and hashes every member.\n"
	  "Exit 4 when a problem was found.\n" },
	{ "copy", cmd_copy, CMD_CONFIG,
	  "mailbackup [-c FILE] copy --to FILE [SNAPSHOT...] [--host NAME|all] [--source NAME] [--dry-run] [--wait DURATION] [--json]",
	  "Copy snapshots to a second repository (3-2-1: a fast local one and an\n"
	  "offsite S3 one), the one configured in FILE, a configuration file of\n"
	  "its own (its [repository] and [keys]). Copies the snapshots the\n"
	  "destination lacks: all of them, those of --host, or those the SNAPSHOT\n"
	  "arguments name (id, id prefix, latest, date or time; with --host as in\n"
	  "restore); --source NAME keeps only snapshots that hold that source.\n"
	  "Packs are copied as ciphertext, never decrypted, each checked against\n"
	  "its name (its SHA-256) before it is committed; then one new index\n"
	  "object signed by FILE's host key; then the manifests byte for byte.\n"
	  "The destination must be initialized ('mailbackup -c FILE init') with\n"
	  "the same recipients and trusted signers. Shared locks on both sides.\n"
	  "A stopped copy resumes where it stopped; a second run copies nothing.\n\n"
	  "  --dry-run        count what would be copied, write nothing\n"
	  "  --wait DURATION  wait that long for a lock held by a prune\n"
	  "  --json           print the counts as JSON\n" },
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
	{ "rekey", cmd_rekey, CMD_CONFIG | CMD_METRICS,
	  "mailbackup [-c FILE] rekey [--dry-run] [--json]",
	  "Re-encrypt the repository to [keys] recipients, after the recipients\n"
	  "changed (a new disaster-recovery key, one retired). Every pack\n"
	  "encrypted to other keys is rewritten: new packs and a new index are\n"
	  "committed before the old ones are deleted. Then every manifest is\n"
	  "re-encrypted and re-signed under its own name. Packs already encrypted\n"
	  "to the recipients are skipped, so a stopped run resumes. Run it where\n"
	  "the secret key of a recipient of the old packs is in gnupg_home (exit 1\n"
	  "otherwise, with nothing changed). Takes an exclusive repository lock:\n"
	  "exit 5 while a backup runs. --dry-run counts what would be rewritten.\n" },
	{ "restore-test", cmd_restore_test, CMD_CONFIG | CMD_METRICS,
	  "mailbackup [-c FILE] restore-test [SNAPSHOT] [--host NAME|all] [--json] [--report FILE] [--db-prefix P] [--keep]",
	  "Restore SNAPSHOT (default: latest, this host's newest, or with --host\n"
	  "that host's or any host's) into scratch space ([options]\n"
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
	  "mailbackup [-c FILE] diff [--summary] [--json] [--host NAME|all] [--mailbox USER@DOMAIN [--folder NAME]...] SNAPSHOT-A SNAPSHOT-B",
	  "What changed from snapshot A to snapshot B: one line per entry,\n"
	  "'+' new, '-' removed, 'M' changed (content, type, link, mode or\n"
	  "owner; not an mtime alone), 'F' a Maildir message whose flags changed\n"
	  "(renamed with the same unique name and content), then counts and bytes\n"
	  "per source and, for maildir sources, per mailbox (<domain>/<user>).\n\n"
	  "  --summary  only the counts\n"
	  "  --json     one JSON document with the entries and the counts\n"
	  "  --mailbox USER@DOMAIN [--folder NAME]...  only the entries of this\n"
	  "             mailbox (folders by the names users see); the counts are\n"
	  "             theirs (no per-source lines)\n" },
	{ NULL, NULL, 0, NULL, NULL },
};

static void usage(FILE *f)
{
	const struct cmd *c;

	fprintf(f,
		"usage: mailbackup [-c FILE] [-q|-v] [--progress] [--limit-upload RATE]\n"
		"                  [--limit-download RATE] COMMAND [ARGS]\n"
		"       mailbackup COMMAND --help | mailbackup help COMMAND\n\n"
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

static int cmd_help(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	if (argc > 2)
		return out_usage("help", "help takes one COMMAND");
	if (argc < 2) {
		usage(stdout);
		return MB_EXIT_OK;
	}
	if (out_cmd_help(argv[1])) {
		fprintf(stderr, "mailbackup: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return MB_EXIT_USAGE;
	}
	return MB_EXIT_OK;
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
		{ "limit-upload", required_argument, NULL, 'U' },
		{ "limit-download", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { .verbosity = 1 };
	const char *limit_up = NULL, *limit_down = NULL;
	const struct cmd *c;
	int opt, rc, i;

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
		case 'U':
			limit_up = optarg;
			break;
		case 'D':
			limit_down = optarg;
			break;
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
	/* every command with --json prints one JSON object, also on failure */
	for (i = optind + 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json"))
			cli.json = true;
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
		if (!rc && limit_up)
			rc = mb_ctx_set_rate_limit(cli.ctx, MB_UPLOAD, limit_up);
		if (!rc && limit_down)
			rc = mb_ctx_set_rate_limit(cli.ctx, MB_DOWNLOAD,
						   limit_down);
		if (!rc)
			rc = out_log_setup(&cli, path);
		else if (access(path, F_OK) && errno == ENOENT) {
			out_msg(MB_LOG_ERROR,
				"configuration file '%s' not found: pass -c FILE or set MAILBACKUP_CONFIG",
				path);
			rc = MB_EXIT_USAGE;
		} else
			rc = out_fail(&cli, rc);
		if (rc) {
			if (cli.json)
				out_json_failure(&cli, rc);
			mb_ctx_free(cli.ctx);
			out_flush();
			return rc;
		}
	}
	optind++;
	mb_metrics_run_init(&cli.metrics, c->name);
	if (c->flags & CMD_METRICS)
		out_metrics_start(&cli);
	cli.t0 = out_now();
	rc = c->fn(&cli, argc - optind + 1, argv + optind - 1);
	if (cli.json && !cli.json_out && rc != MB_EXIT_OK &&
	    rc != MB_EXIT_PARTIAL)
		out_json_failure(&cli, rc);
	if (c->flags & CMD_METRICS)
		out_metrics(&cli, rc);
	mb_ctx_free(cli.ctx);
	if (out_flush() && !rc)
		rc = MB_EXIT_FAILURE;
	return rc;
}
