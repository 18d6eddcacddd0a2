/* SPDX-License-Identifier: MIT */
/* source/kinds.c: the kinds of source, one row each: what the config, the
 * backup, the cache, diff and the restores need to know of a kind. */
#include "mb-private.h"

#include <string.h>

/* A new kind: its module (walk.c's rules, or an emit function like
 * command.c's), one row here, and its line in docs/configuration.md. */
static const struct mbi_source_kind kinds[] = {
	{ .name = "maildir", .tree = true, .maildir = true,
	  .ctime = false, .in_place = true },
	{ .name = "files", .tree = true, .ctime = true },
	{ .name = "mariadb", .ctime = true, .emit = mbi_dbdump_source,
	  .load = mbi_dbload_source },
	{ .name = "command", .ctime = true, .emit = mbi_command_source },
};

const char *const mbi_source_kind_names = "maildir, files, mariadb, command";

const struct mbi_source_kind *mbi_source_kind(const char *name)
{
	size_t i;

	for (i = 0; name && i < MBI_ARRAY_SIZE(kinds); i++)
		if (!strcmp(kinds[i].name, name))
			return &kinds[i];
	return NULL;
}

bool mbi_source_kind_maildir(const char *name)
{
	const struct mbi_source_kind *k = mbi_source_kind(name);

	return k && k->maildir;
}
