/* SPDX-License-Identifier: MIT */
/* test-walk.c: walking sources, the Maildir rules and the exactly-once rule. */
#include "mb-private.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static struct mb_ctx *ctx;
static char root[] = "/tmp/mbt-walk-XXXXXX";

#define MAXITEMS 256

struct item {
	char *path;      /* as reported, or as opened by mbi_walk_open */
	char type;       /* 'f', 'd', 'l' */
	char *link;
	bool msg;
	bool opened;     /* mbi_walk_open gave an fd */
};

struct walk {
	struct item it[MAXITEMS];
	int n;
	bool open_files;          /* call mbi_walk_open for regular files */
	/* a scenario's action, run before the item is recorded */
	void (*hook)(struct walk *wk, struct mbi_walker *w,
		     const struct mbi_walk_item *it);
	const char *md;           /* the Maildir of the scenario, absolute */
	int fired;
};

static void put(const char *rel, const char *content)
{
	char *p = mbi_asprintf("%s/%s", root, rel);
	char *slash = strrchr(p, '/');
	int fd;

	*slash = '\0';
	mbi_mkdir_p(p, 0755);
	*slash = '/';
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (mbi_write_all(fd, content, strlen(content)))
			printf("# write %s failed\n", p);
		close(fd);
	}
	free(p);
}

static void mkd(const char *rel)
{
	char *p = mbi_asprintf("%s/%s", root, rel);

	mbi_mkdir_p(p, 0755);
	free(p);
}

static void maildir(const char *rel)
{
	char *p;

	p = mbi_asprintf("%s/cur", rel);
	mkd(p);
	free(p);
	p = mbi_asprintf("%s/new", rel);
	mkd(p);
	free(p);
	p = mbi_asprintf("%s/tmp", rel);
	mkd(p);
	free(p);
}

static void mv(const char *md, const char *from, const char *to)
{
	char *a = mbi_asprintf("%s/%s", md, from);
	char *b = mbi_asprintf("%s/%s", md, to);

	if (rename(a, b))
		printf("# rename %s -> %s failed\n", a, b);
	free(a);
	free(b);
}

static int on_item(void *ud, struct mbi_walker *w,
		   const struct mbi_walk_item *it)
{
	struct walk *wk = ud;
	struct item *m;

	if (wk->hook)
		wk->hook(wk, w, it);
	if (wk->n == MAXITEMS)
		return MB_E_NOMEM;
	m = &wk->it[wk->n++];
	m->path = strdup(it->path);
	m->type = S_ISDIR(it->st->st_mode) ? 'd' :
		  S_ISLNK(it->st->st_mode) ? 'l' :
		  S_ISREG(it->st->st_mode) ? 'f' : '?';
	m->link = it->link ? strdup(it->link) : NULL;
	m->msg = it->maildir_msg;
	if (m->type == 'f' && wk->open_files) {
		struct stat st;
		const char *path;
		int fd = mbi_walk_open(w, it, &st, &path);

		if (fd >= 0) {
			m->opened = true;
			free(m->path);
			m->path = strdup(path);
			close(fd);
		}
	}
	return MB_OK;
}

static void walk_release(struct walk *wk)
{
	int i;

	for (i = 0; i < wk->n; i++) {
		free(wk->it[i].path);
		free(wk->it[i].link);
	}
	memset(wk, 0, sizeof(*wk));
}

static int find(const struct walk *wk, const char *path)
{
	int i;

	for (i = 0; i < wk->n; i++)
		if (!strcmp(wk->it[i].path, path))
			return i;
	return -1;
}

/* How many regular files under md with unique name uniq (the part before
 * ':') would be in the snapshot: reported, and opened when we open. */
static int count_uniq(const struct walk *wk, const char *md, const char *uniq)
{
	size_t ml = strlen(md), ul = strlen(uniq);
	int i, n = 0;

	for (i = 0; i < wk->n; i++) {
		const char *p = wk->it[i].path, *name;

		if (wk->it[i].type != 'f' || strncmp(p, md, ml) || p[ml] != '/' ||
		    (wk->open_files && !wk->it[i].opened))
			continue;
		name = strrchr(p, '/') + 1;
		if (!strncmp(name, uniq, ul) && (!name[ul] || name[ul] == ':'))
			n++;
	}
	return n;
}

static struct mb_ctx *load(const char *sources)
{
	struct mb_ctx *c;
	char *text = mbi_asprintf("[repository]\nurl = /r\n%s", sources);

	mb_ctx_new(&c);
	if (mb_ctx_load_config_buf(c, "t", text, strlen(text))) {
		printf("Bail out! config: %s\n", mb_ctx_errmsg(c));
		exit(1);
	}
	free(text);
	return c;
}

static void test_maildir_rules(void)
{
	struct walk wk;
	struct mb_ctx *c;
	char *src;
	int i;
	bool order = true;

	maildir("vmail/example.com/alice");
	put("vmail/example.com/alice/new/1001.M1.mx", "new one\n");
	put("vmail/example.com/alice/new/1002.M2.mx", "new two\n");
	put("vmail/example.com/alice/cur/1000.M0.mx:2,S", "old seen\n");
	put("vmail/example.com/alice/cur/1003.M3.mx:2,", "old\n");
	put("vmail/example.com/alice/tmp/1004.M4.mx", "being delivered\n");
	put("vmail/example.com/alice/dovecot.index", "i");
	put("vmail/example.com/alice/dovecot.index.cache", "i");
	put("vmail/example.com/alice/dovecot.index.log", "i");
	put("vmail/example.com/alice/dovecot-uidlist", "3 V1 N5\n");
	put("vmail/example.com/alice/dovecot-keywords", "0 $Label1\n");
	put("vmail/example.com/alice/subscriptions", "Sent\n");
	put("vmail/example.com/alice/maildirsize", "0S\n");
	put("vmail/example.com/alice/junk.bak", "x");
	put("vmail/example.com/alice/dovecot-uidlist.lock", "");
	put("vmail/example.com/alice/dovecot-keywords.lock", "");
	put("vmail/example.com/alice/subscriptions.lock", "");
	put("vmail/example.com/alice/dovecot.list.index", "l");
	put("vmail/example.com/alice/dovecot.list.index.log", "l");
	put("vmail/example.com/alice/dovecot.mailbox.log", "m");
	put("vmail/.mailbackup-restore-0123456789abcdef/x/y", "staged");
	maildir("vmail/example.com/alice/.Sent");
	put("vmail/example.com/alice/.Sent/cur/2000.M5.mx:2,S", "sent\n");
	put("vmail/example.com/alice/.Sent/maildirfolder", "");
	put("vmail/example.com/alice/.Sent/tmp/2001.M6.mx", "x");
	put("vmail/skipdir/a", "x");
	put("vmail/outside/secret", "s");
	{
		char *p = mbi_asprintf("%s/vmail/example.com/bob", root);

		if (symlink("alice", p))
			printf("# symlink failed\n");
		free(p);
		p = mbi_asprintf("%s/vmail/example.com/alice/etc", root);
		if (symlink("/etc", p))
			printf("# symlink failed\n");
		free(p);
	}

	src = mbi_asprintf("[source vmail]\ntype = maildir\npath = %s/vmail/\n"
			   "exclude = *.bak skipdir\n", root);
	c = load(src);
	free(src);
	memset(&wk, 0, sizeof(wk));
	wk.open_files = true;
	is_int(mbi_walk_source(c, &c->cfg->sources[0], on_item, &wk), MB_OK,
	       "walk a Maildir source");
	ok(wk.n > 0 && !strcmp(wk.it[0].path, ".") && wk.it[0].type == 'd',
	   "the root comes first as '.'");
	ok(find(&wk, "example.com/alice/tmp") >= 0, "tmp/ itself is kept");
	ok(find(&wk, "example.com/alice/tmp/1004.M4.mx") < 0,
	   "tmp/ contents are skipped");
	ok(find(&wk, "example.com/alice/.Sent/tmp/2001.M6.mx") < 0,
	   "a subfolder's tmp/ contents are skipped");
	ok(find(&wk, "example.com/alice/dovecot.index") < 0 &&
	   find(&wk, "example.com/alice/dovecot.index.cache") < 0 &&
	   find(&wk, "example.com/alice/dovecot.index.log") < 0,
	   "dovecot.index* are skipped by default");
	ok(find(&wk, "example.com/alice/dovecot-uidlist") >= 0 &&
	   find(&wk, "example.com/alice/dovecot-keywords") >= 0 &&
	   find(&wk, "example.com/alice/subscriptions") >= 0 &&
	   find(&wk, "example.com/alice/maildirsize") >= 0,
	   "dovecot-uidlist, -keywords, subscriptions, maildirsize are kept");
	ok(find(&wk, "example.com/alice/dovecot-uidlist.lock") < 0 &&
	   find(&wk, "example.com/alice/dovecot-keywords.lock") < 0 &&
	   find(&wk, "example.com/alice/subscriptions.lock") < 0,
	   "Dovecot's dotlocks are skipped");
	ok(find(&wk, "example.com/alice/dovecot.list.index") < 0 &&
	   find(&wk, "example.com/alice/dovecot.list.index.log") < 0 &&
	   find(&wk, "example.com/alice/dovecot.mailbox.log") < 0,
	   "dovecot.list.index* and dovecot.mailbox.log are skipped");
	ok(find(&wk, ".mailbackup-restore-0123456789abcdef") < 0 &&
	   find(&wk, ".mailbackup-restore-0123456789abcdef/x/y") < 0,
	   "the staging directory of restore --in-place is skipped");
	i = find(&wk, "example.com/alice/new/1001.M1.mx");
	ok(i >= 0 && wk.it[i].msg && wk.it[i].opened,
	   "a message in new/ is a maildir_msg and opens");
	i = find(&wk, "example.com/alice/cur/1000.M0.mx:2,S");
	ok(i >= 0 && wk.it[i].msg, "a message in cur/ is a maildir_msg");
	i = find(&wk, "example.com/alice/dovecot-uidlist");
	ok(i >= 0 && !wk.it[i].msg, "dovecot-uidlist is no message");
	ok(find(&wk, "example.com/alice/.Sent/cur/2000.M5.mx:2,S") >= 0,
	   "a Maildir++ subfolder's message");
	ok(find(&wk, "example.com/alice/new") <
	   find(&wk, "example.com/alice/new/1001.M1.mx") &&
	   find(&wk, "example.com/alice/new/1002.M2.mx") <
	   find(&wk, "example.com/alice/cur") &&
	   find(&wk, "example.com/alice/cur") <
	   find(&wk, "example.com/alice/cur/1000.M0.mx:2,S"),
	   "new/ and its messages before cur/");
	for (i = 0; i < wk.n; i++)
		if (strstr(wk.it[i].path, "alice/cur/") &&
		    find(&wk, "example.com/alice/new/1002.M2.mx") > i)
			order = false;
	ok(order, "every message of new/ before any of cur/");
	i = find(&wk, "example.com/bob");
	ok(i >= 0 && wk.it[i].type == 'l' && wk.it[i].link &&
	   !strcmp(wk.it[i].link, "alice"), "a symlink is reported with its target");
	ok(find(&wk, "example.com/bob/new/1001.M1.mx") < 0 &&
	   find(&wk, "example.com/bob/cur") < 0,
	   "and not followed");
	i = find(&wk, "example.com/alice/etc");
	ok(i >= 0 && wk.it[i].type == 'l' && find(&wk, "example.com/alice/etc/passwd") < 0,
	   "a symlink to /etc is not followed");
	ok(find(&wk, "example.com/alice/junk.bak") < 0,
	   "exclude '*.bak' drops a file");
	ok(find(&wk, "skipdir") < 0 && find(&wk, "skipdir/a") < 0,
	   "exclude 'skipdir' drops a directory and its contents");
	ok(find(&wk, "outside/secret") >= 0, "other files are kept");
	is_int(count_uniq(&wk, "example.com/alice", "1001.M1.mx"), 1,
	       "each message once");
	walk_release(&wk);
	mb_ctx_free(c);

	/* include_index = yes keeps the dovecot.index* caches */
	src = mbi_asprintf("[source vmail]\ntype = maildir\npath = %s/vmail\n"
			   "include_index = yes\n", root);
	c = load(src);
	free(src);
	memset(&wk, 0, sizeof(wk));
	mbi_walk_source(c, &c->cfg->sources[0], on_item, &wk);
	ok(find(&wk, "example.com/alice/dovecot.index") >= 0 &&
	   find(&wk, "example.com/alice/dovecot.index.log") >= 0,
	   "include_index = yes keeps dovecot.index*");
	ok(find(&wk, "example.com/alice/dovecot-uidlist.lock") < 0 &&
	   find(&wk, "example.com/alice/dovecot.list.index") < 0,
	   "include_index = yes still skips the volatile files");
	ok(find(&wk, "example.com/alice/junk.bak") >= 0,
	   "without exclude, *.bak is kept");
	walk_release(&wk);
	mb_ctx_free(c);

	/* a files source knows no Maildir rules */
	src = mbi_asprintf("[source f]\ntype = files\npath = %s/vmail\n", root);
	c = load(src);
	free(src);
	memset(&wk, 0, sizeof(wk));
	mbi_walk_source(c, &c->cfg->sources[0], on_item, &wk);
	ok(find(&wk, "example.com/alice/tmp/1004.M4.mx") >= 0,
	   "a files source keeps tmp/ contents");
	ok(find(&wk, "example.com/alice/dovecot.index") >= 0,
	   "and dovecot.index");
	i = find(&wk, "example.com/alice/new/1001.M1.mx");
	ok(i >= 0 && !wk.it[i].msg, "and has no maildir_msg");
	walk_release(&wk);
	mb_ctx_free(c);

	/* a missing root */
	src = mbi_asprintf("[source f]\ntype = files\npath = %s/nope\n", root);
	c = load(src);
	free(src);
	memset(&wk, 0, sizeof(wk));
	is_int(mbi_walk_source(c, &c->cfg->sources[0], on_item, &wk), MB_E_IO,
	       "a missing source root is MB_E_IO");
	ok(strstr(mb_ctx_errmsg(c), "source 'f': cannot open") != NULL,
	   "naming the source");
	walk_release(&wk);
	mb_ctx_free(c);
}

/* ----------------------------------------------------- exactly once */

/* A: when new/1.A is reported, new/2.B moves to cur/2.B:2, (an IMAP client
 * looked): B is gone from the listing of new/ that the walker holds. */
static void hook_a(struct walk *wk, struct mbi_walker *w,
		   const struct mbi_walk_item *it)
{
	(void)w;
	if (!wk->fired && strstr(it->path, "new/1.A.mx")) {
		wk->fired = 1;
		mv(wk->md, "new/2.B.mx", "cur/2.B.mx:2,");
	}
}

/* B: when cur/3.C:2, is reported, its sibling cur/4.D:2, gets a flag. */
static void hook_b(struct walk *wk, struct mbi_walker *w,
		   const struct mbi_walk_item *it)
{
	(void)w;
	if (!wk->fired && strstr(it->path, "cur/3.C.mx:2,")) {
		wk->fired = 1;
		mv(wk->md, "cur/4.D.mx:2,", "cur/4.D.mx:2,S");
	}
}

/* C: the reported message itself gets a flag before it is opened. */
static void hook_c(struct walk *wk, struct mbi_walker *w,
		   const struct mbi_walk_item *it)
{
	(void)w;
	if (!wk->fired && strstr(it->path, "cur/5.E.mx:2,")) {
		wk->fired = 1;
		mv(wk->md, "cur/5.E.mx:2,", "cur/5.E.mx:2,RS");
	}
}

/* D: the reported message moves from new/ to cur/ before it is opened;
 * the walker lists cur/ later and sees it there again. */
static void hook_d(struct walk *wk, struct mbi_walker *w,
		   const struct mbi_walk_item *it)
{
	(void)w;
	if (!wk->fired && strstr(it->path, "new/6.F.mx")) {
		wk->fired = 1;
		mv(wk->md, "new/6.F.mx", "cur/6.F.mx:2,");
	}
}

/* E: a message reported from new/ moves to cur/ once new/ is done (when
 * the cur directory is reported, before it is listed). */
static void hook_e(struct walk *wk, struct mbi_walker *w,
		   const struct mbi_walk_item *it)
{
	size_t l = strlen(it->path);

	(void)w;
	if (!wk->fired && l >= 4 && !strcmp(it->path + l - 4, "/cur")) {
		wk->fired = 1;
		mv(wk->md, "new/7.G.mx", "cur/7.G.mx:2,S");
	}
}

/* H: new/8.H moves to cur/ after new/ was listed (found again), and gets a
 * flag when that found message is reported, before it is opened: the
 * client marks a new message read right after it moved it. */
static void hook_h(struct walk *wk, struct mbi_walker *w,
		   const struct mbi_walk_item *it)
{
	(void)w;
	if (wk->fired == 0 && strstr(it->path, "new/1.A.mx")) {
		wk->fired = 1;
		mv(wk->md, "new/8.H.mx", "cur/8.H.mx:2,");
	} else if (wk->fired == 1 && strstr(it->path, "cur/8.H.mx:2,")) {
		wk->fired = 2;
		mv(wk->md, "cur/8.H.mx:2,", "cur/8.H.mx:2,S");
	}
}

static void scenario(const char *name,
		     void (*hook)(struct walk *, struct mbi_walker *,
				  const struct mbi_walk_item *),
		     const char *const *uniqs, const char *want_path,
		     const char *todo_uniq, const char *todo)
{
	char *mdrel = mbi_asprintf("once-%s/d.org/u", name);
	char *md = mbi_asprintf("%s/%s", root, mdrel);
	char *src, *p;
	struct mb_ctx *c;
	struct walk wk;
	size_t i;

	maildir(mdrel);
	p = mbi_asprintf("%s/new/1.A.mx", mdrel); put(p, "A"); free(p);
	p = mbi_asprintf("%s/new/2.B.mx", mdrel); put(p, "B"); free(p);
	p = mbi_asprintf("%s/new/6.F.mx", mdrel); put(p, "F"); free(p);
	p = mbi_asprintf("%s/new/7.G.mx", mdrel); put(p, "G"); free(p);
	p = mbi_asprintf("%s/new/8.H.mx", mdrel); put(p, "H"); free(p);
	p = mbi_asprintf("%s/cur/3.C.mx:2,", mdrel); put(p, "C"); free(p);
	p = mbi_asprintf("%s/cur/4.D.mx:2,", mdrel); put(p, "D"); free(p);
	p = mbi_asprintf("%s/cur/5.E.mx:2,", mdrel); put(p, "E"); free(p);

	src = mbi_asprintf("[source m]\ntype = maildir\npath = %s/once-%s\n",
			   root, name);
	c = load(src);
	memset(&wk, 0, sizeof(wk));
	wk.open_files = true;
	wk.hook = hook;
	wk.md = md;
	is_int(mbi_walk_source(c, &c->cfg->sources[0], on_item, &wk), MB_OK,
	       "%s: walk", name);
	ok(wk.fired, "%s: the rename happened", name);
	for (i = 0; uniqs[i]; i++) {
		if (todo_uniq && !strcmp(uniqs[i], todo_uniq))
			tap_todo = todo;
		is_int(count_uniq(&wk, "d.org/u", uniqs[i]), 1,
		       "%s: message %s exactly once", name, uniqs[i]);
		tap_todo = NULL;
	}
	tap_todo = todo;
	if (want_path) {
		int k = find(&wk, want_path);

		ok(k >= 0 && wk.it[k].opened, "%s: recorded and opened as '%s'",
		   name, want_path);
	}
	tap_todo = NULL;
	walk_release(&wk);
	mb_ctx_free(c);
	free(src);
	free(md);
	free(mdrel);
}

static void test_exactly_once(void)
{
	static const char *const all[] = {
		"1.A.mx", "2.B.mx", "3.C.mx", "4.D.mx", "5.E.mx", "6.F.mx",
		"7.G.mx", "8.H.mx", NULL
	};

	scenario("a", hook_a, all, "d.org/u/cur/2.B.mx:2,", NULL, NULL);
	scenario("b", hook_b, all, "d.org/u/cur/4.D.mx:2,S", NULL, NULL);
	scenario("c", hook_c, all, "d.org/u/cur/5.E.mx:2,RS", NULL, NULL);
	scenario("d", hook_d, all, "d.org/u/cur/6.F.mx:2,", NULL, NULL);
	scenario("e", hook_e, all, NULL, NULL, NULL);
	/* a message found again (moved new/ -> cur/) and renamed once more
	 * (\Seen set) before it is opened is still there exactly once */
	scenario("h", hook_h, all, "d.org/u/cur/8.H.mx:2,S", NULL, NULL);
}

int main(void)
{
	char *cmd;

	if (mb_ctx_new(&ctx) || !mkdtemp(root))
		return 1;
	test_maildir_rules();
	test_exactly_once();
	mb_ctx_free(ctx);
	cmd = mbi_asprintf("rm -rf '%s'", root);
	if (system(cmd))
		printf("# cannot remove %s\n", root);
	free(cmd);
	return tap_done();
}
