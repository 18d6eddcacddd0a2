/* SPDX-License-Identifier: MIT */
/* cmd-init.c: mailbackup init and mailbackup keygen. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_init(struct cli *cli, int argc, char **argv)
{
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	int rc;

	if (argc != 1 && !json)
		return out_usage("init", "init takes no arguments but --json");
	rc = mb_repo_init(cli->ctx);
	if (rc)
		return out_fail(cli, rc);
	if (json)
		printf("{\"status\":\"ok\",\"created\":true}\n");
	else if (cli->verbosity > 0)
		fprintf(stderr, "mailbackup: repository created\n");
	return 0;
}

int cmd_keygen(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "gnupg-home", required_argument, NULL, 'g' },
		{ "name", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home = NULL, *name = NULL;
	char *fpr = NULL;
	bool json = false;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "g:n:", opts, NULL)) != -1) {
		switch (opt) {
		case 'g':
			home = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return out_usage("keygen", "bad option");
		}
	}
	if (optind != argc || !home || !name)
		return out_usage("keygen", "keygen needs --gnupg-home and --name");
	rc = mb_keygen(cli->ctx, home, name, &fpr);
	if (rc)
		return out_fail(cli, rc);
	if (json)
		printf("{\"fingerprint\":\"%s\"}\n", fpr);
	else
		printf("%s\n", fpr);
	free(fpr);
	return 0;
}
