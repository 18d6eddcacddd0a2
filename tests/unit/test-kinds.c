/* SPDX-License-Identifier: MIT */
/* test-kinds.c: the source kinds table (source/kinds.c) and the kind the
 * configuration gives each source. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

static const char conf[] =
	"[repository]\nurl = /r\n"
	"[source m]\ntype = maildir\npath = /srv/mail\n"
	"[source f]\ntype = files\npath = /etc/x\n"
	"[source d]\ntype = mariadb\nsocket = /run/m.sock\n"
	"[source c]\ntype = command\ncommand = true\n";

static const struct mbi_source *source(struct mb_ctx *ctx, const char *name)
{
	size_t i;

	for (i = 0; i < ctx->cfg->nsources; i++)
		if (!strcmp(ctx->cfg->sources[i].name, name))
			return &ctx->cfg->sources[i];
	return NULL;
}

static void test_config_kinds(void)
{
	const struct mbi_source *m, *f, *d, *c;
	struct mb_ctx *ctx = NULL;

	if (mb_ctx_new(&ctx) ||
	    mb_ctx_load_config_buf(ctx, "t.conf", conf, strlen(conf))) {
		ok(0, "load a configuration: %s",
		   ctx ? mb_ctx_errmsg(ctx) : "no memory");
		mb_ctx_free(ctx);
		return;
	}
	m = source(ctx, "m");
	f = source(ctx, "f");
	d = source(ctx, "d");
	c = source(ctx, "c");
	ok(m && f && d && c && m->kind && f->kind && d->kind && c->kind,
	   "every source has its kind");
	if (!m || !f || !d || !c || !m->kind || !f->kind || !d->kind ||
	    !c->kind) {
		mb_ctx_free(ctx);
		return;
	}
	is_str(m->kind->name, "maildir", "maildir's kind");
	ok(m->kind->tree && m->kind->maildir && !m->kind->ctime &&
	   m->kind->in_place && !m->kind->emit && !m->kind->load,
	   "maildir: a walked tree, Maildir rules, no ctime, in place");
	ok(f->kind->tree && !f->kind->maildir && f->kind->ctime &&
	   !f->kind->in_place && !f->kind->emit,
	   "files: a walked tree with ctime, no Maildir rules");
	ok(!d->kind->tree && d->kind->emit == mbi_dbdump_source &&
	   d->kind->load == mbi_dbload_source,
	   "mariadb: emitted by the dump, loaded by restore --load");
	ok(!c->kind->tree && c->kind->emit == mbi_command_source &&
	   !c->kind->load, "command: emitted by the command, nothing to load");
	mb_ctx_free(ctx);
}

static void test_lookup(void)
{
	struct mb_ctx *ctx = NULL;
	const char *bad = "[repository]\nurl = /r\n[source a]\ntype = mbox\n";

	ok(mbi_source_kind("maildir") && mbi_source_kind_maildir("maildir"),
	   "a manifest's 'maildir' follows the Maildir rules");
	ok(!mbi_source_kind_maildir("files") && !mbi_source_kind_maildir(NULL) &&
	   !mbi_source_kind("mbox") && !mbi_source_kind(NULL),
	   "other, unknown and missing types do not");
	if (mb_ctx_new(&ctx))
		return;
	is_int(mb_ctx_load_config_buf(ctx, "t.conf", bad, strlen(bad)),
	       MB_E_CONFIG, "an unknown type is a configuration error");
	ok(strstr(mb_ctx_errmsg(ctx),
		  "unknown type 'mbox' (maildir, files, mariadb, command)") !=
	   NULL, "that lists the kinds: %s", mb_ctx_errmsg(ctx));
	mb_ctx_free(ctx);
}

int main(void)
{
	test_config_kinds();
	test_lookup();
	return tap_done();
}
