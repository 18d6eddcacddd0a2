/* SPDX-License-Identifier: MIT */
/* fsperm.h: files around the tool that others can write are refused. */
#ifndef MB_FSPERM_H
#define MB_FSPERM_H

#include "mb-private.h"

/*
 * Like sshd's StrictModes: PATH (what names it in the message, e.g.
 * "configuration file") and every directory above it up to / must not be
 * writable by group or others (a root-owned sticky directory such as /tmp
 * is fine above it), and must be owned by root or, when not running as
 * root, by us. Symbolic links are resolved first. MB_OK when PATH does not
 * exist (its reader says so); else MB_E_CONFIG naming the path and the fix.
 */
MBI_HIDDEN int mbi_fsperm_check(struct mb_ctx *ctx, const char *what,
				const char *path);
/* The loaded configuration file, [repository] ca_file, [keys] gnupg_home
 * and every password_file, tls_ca, tls_cert and tls_key. */
MBI_HIDDEN int mbi_fsperm_check_config(struct mb_ctx *ctx);

#endif
