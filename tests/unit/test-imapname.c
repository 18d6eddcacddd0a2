/* SPDX-License-Identifier: MIT */
/* test-imapname.c: IMAP folder names <-> Maildir++ directory names. */
#include "mb-private.h"
#include "imapname.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

static struct mb_ctx *ctx;

static void both(const char *imap, const char *disk)
{
	char *a = NULL, *b = NULL;

	is_int(mbi_imap_to_maildir(ctx, imap, &a), MB_OK, "map %s", imap);
	ok(a && !strcmp(a, disk), "'%s' is stored as '%s' (got '%s')", imap,
	   disk, a ? a : "(null)");
	is_int(mbi_maildir_to_imap(ctx, disk, &b), MB_OK, "unmap %s", disk);
	ok(b && !strcmp(b, imap), "'%s' is shown as '%s' (got '%s')", disk,
	   imap, b ? b : "(null)");
	free(a);
	free(b);
}

static void bad_imap(const char *imap)
{
	char *a = NULL;

	is_int(mbi_imap_to_maildir(ctx, imap, &a), MB_E_INVAL,
	       "'%s' cannot be mapped", imap);
	ok(!a && strstr(mb_ctx_errmsg(ctx), "cannot be mapped"),
	   "and the error says so: %s", mb_ctx_errmsg(ctx));
}

static void bad_disk(const char *disk)
{
	char *a = NULL;

	is_int(mbi_maildir_to_imap(ctx, disk, &a), MB_E_INVAL,
	       "'%s' is no Maildir++ name", disk);
	free(a);
}

int main(void)
{
	if (mb_ctx_new(&ctx))
		return 1;
	both("INBOX", "");
	both("Sent", ".Sent");
	both("Archive/2024", ".Archive.2024");
	both("Entw\xc3\xbc" "rfe", ".Entw&APw-rfe");
	both("A&B", ".A&-B");
	both("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	     ".~peter.mail.&U,BTFw-.&ZeVnLIqe-");
	both("INBOX/x", ".INBOX.x");
	both("\xf0\x9f\x98\x80", ".&2D3eAA-");
	both("Gel\xc3\xb6scht", ".Gel&APY-scht");
	bad_imap("a.b");
	bad_imap("");
	bad_imap("/Sent");
	bad_imap("Sent/");
	bad_imap("a//b");
	bad_imap("bad\xff");
	bad_imap("ctl\x01");
	bad_imap("\xc0\xaf");
	bad_disk("Sent");
	bad_disk(".");
	bad_disk("..x");
	bad_disk(".x.");
	bad_disk(".&AGE-");   /* ASCII encoded */
	bad_disk(".&APw");    /* no closing '-' */
	bad_disk(".&2D0-");   /* a lone surrogate */
	bad_disk(".&APw-&APw-"); /* two runs in a row */
	bad_disk(".a/b");
	mb_ctx_free(ctx);
	return tap_done();
}
