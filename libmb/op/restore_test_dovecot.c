/* SPDX-License-Identifier: MIT */
/* op/restore_test_dovecot.c: restore-test judged by the mail server: doveadm
 * opens each restored mailbox of the scratch copy (a private config, its
 * own base_dir in the scratch space, nothing of the live server's), the
 * message counts per folder are compared with the manifest, and one
 * message per mail_crypt user is read through the restored keys. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailstore.h"
#include "restore_test_dovecot.h"
#include "banned.h"

#define DC_MAX_ARGS 32
#define DC_MAX_OUT (16 << 20)
/* files read per mailbox while looking for one mail_crypt message */
#define DC_CRYPT_SCAN 2000

struct dc_run {
	struct mb_ctx *ctx;
	const struct mbi_manifest *m;
	const char *files_dir, *scratch;
	mbi_finding_fn fn;
	void *ud;
	struct dc_folder *f;
	size_t nf, af, last;
	char *priv, *pub;       /* the mail_crypt keys, below files_dir */
	char *cmd;              /* a copy of the command, split in argv */
	const char *cmdline;
	char *argv[DC_MAX_ARGS];
	size_t argc;
	char *conf, *cryptconf, *out, *err;
	struct mbi_buf items;   /* the "mailboxes" array */
	unsigned long long boxes, boxes_ok, crypt, crypt_ok, skipped;
};

static int add_folder(struct dc_run *x, const char *source, const char *root,
		      size_t rootlen, const char *folder, size_t flen,
		      bool message)
{
	struct dc_folder *f;
	size_t i;

	for (i = 0; i <= x->nf; i++) {
		/* the last one first: the manifest is sorted */
		size_t k = i ? i - 1 : x->last;

		if (k >= x->nf)
			continue;
		f = &x->f[k];
		if (f->source == source && strlen(f->root) == rootlen &&
		    !strncmp(f->root, root, rootlen) &&
		    strlen(f->folder) == flen &&
		    !strncmp(f->folder, folder, flen)) {
			i = k;
			goto found;
		}
	}
	if (x->nf == x->af) {
		size_t na = x->af ? x->af * 2 : 64;
		struct dc_folder *nfp = realloc(x->f, na * sizeof(*nfp));

		if (!nfp)
			return MB_E_NOMEM;
		x->f = nfp;
		x->af = na;
	}
	f = &x->f[x->nf];
	memset(f, 0, sizeof(*f));
	f->source = source;
	f->root = strndup(root, rootlen);
	f->folder = strndup(folder, flen);
	if (!f->root || !f->folder) {
		free(f->root);
		free(f->folder);
		return MB_E_NOMEM;
	}
	i = x->nf++;
found:
	x->last = i;
	if (message)
		x->f[i].count++;
	return MB_OK;
}

/* A mail_crypt key file of the snapshot (mailcow's crypt volume). */
static int note_key(struct dc_run *x, const struct mbi_mentry *e)
{
	const char *b = strrchr(e->path, '/');
	char **slot;

	b = b ? b + 1 : e->path;
	if (!strcmp(b, "ecprivkey.pem"))
		slot = &x->priv;
	else if (!strcmp(b, "ecpubkey.pem"))
		slot = &x->pub;
	else
		return MB_OK;
	free(*slot);
	*slot = mbi_asprintf("%s/%s/%s", x->files_dir, e->source, e->path);
	return *slot ? MB_OK : MB_E_NOMEM;
}

/* Each folder of a Maildir++ tree: DIR/cur/NAME or DIR/new/NAME is a
 * message of DIR, DIR/cur a folder. DIR is a folder (".Sent") of its
 * parent when its last component starts with '.', else a mailbox (INBOX). */
static int collect(void *ud, struct mbi_mentry *e)
{
	struct dc_run *x = ud;
	const char *p = e->path, *dir_end, *fold, *src;
	size_t dlen;
	bool msg = e->type == 'f';

	if (e->type == 'f' && note_key(x, e))
		return MB_E_NOMEM;
	if ((e->type != 'f' && e->type != 'd') ||
	    !(src = mbi_dc_maildir_source(x->m, e->source)))
		return MB_OK;
	if (msg) {
		const char *s = strrchr(p, '/');

		if (!s)
			return MB_OK;
		dlen = (size_t)(s - p);
	} else {
		dlen = strlen(p);
	}
	/* p[0..dlen) must be ".../cur", ".../new" (messages) or "cur" */
	if (dlen < 3 || (strncmp(p + dlen - 3, "cur", 3) &&
			 (!msg || strncmp(p + dlen - 3, "new", 3))) ||
	    (dlen > 3 && p[dlen - 4] != '/'))
		return MB_OK;
	dir_end = dlen > 3 ? p + dlen - 4 : p;
	/* the folder directory is p..dir_end */
	fold = dir_end;
	while (fold > p && fold[-1] != '/')
		fold--;
	if (fold < dir_end && *fold == '.')
		return fold > p ?
		       add_folder(x, src, p, (size_t)(fold - 1 - p),
				  fold, (size_t)(dir_end - fold), msg) :
		       add_folder(x, src, ".", 1, fold,
				  (size_t)(dir_end - fold), msg);
	if (dir_end == p)
		return add_folder(x, src, ".", 1, "", 0, msg);
	return add_folder(x, src, p, (size_t)(dir_end - p), "", 0, msg);
}

/* The command and args in one argv; stdout to x->out, stderr to x->err;
 * the exit status, -1 when it could not run. */
static int dc_spawn(struct dc_run *x, char *const args[], const char *home)
{
	char *argv[DC_MAX_ARGS * 2];
	size_t n = 0;

	while (n < x->argc) {
		argv[n] = x->argv[n];
		n++;
	}
	while (*args && n < MBI_ARRAY_SIZE(argv) - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	return mbi_dc_spawn(argv, home, x->out, x->err);
}

/* The command line of [options] doveadm, or "doveadm" when it is on
 * PATH. false (with *why) when there is none to run. */
static bool dc_command(struct dc_run *x, char **why)
{
	const char *c = mbi_section_get(mbi_config_section(x->ctx->cfg,
							   "options"),
					"doveadm");
	char *p, *save = NULL;

	if (c && (!*c || !strcmp(c, "none"))) {
		*why = strdup("[options] doveadm = none");
		return false;
	}
	if (!c) {
		bool found = mbi_dc_on_path("doveadm");

		if (!found) {
			*why = strdup("doveadm not found on PATH: install dovecot-core or set [options] doveadm");
			return false;
		}
		c = "doveadm";
	}
	x->cmdline = c;
	x->cmd = strdup(c);
	save = NULL;
	for (p = x->cmd ? strtok_r(x->cmd, " \t", &save) : NULL;
	     p && x->argc < DC_MAX_ARGS - 1; p = strtok_r(NULL, " \t", &save))
		x->argv[x->argc++] = p;
	if (!x->argc) {
		*why = strdup("[options] doveadm is empty");
		return false;
	}
	return true;
}

/* The private configs: no listener, no auth, its own base_dir; the
 * mailbox and its owner are given with -o for each run. */
static int dc_write_confs(struct dc_run *x)
{
	struct mbi_buf b = { 0 };
	int rc;

	mbi_buf_printf(&b,
		       "# restore-test: doveadm on the scratch copy only\n"
		       "base_dir = %s/dovecot/run\n"
		       "state_dir = %s/dovecot/state\n"
		       "protocols =\nssl = no\nfirst_valid_uid = 1\nfirst_valid_gid = 0\n"
		       "mail_location = maildir:%s/dovecot/none\n"
		       "namespace inbox {\n  inbox = yes\n  separator = /\n"
		       "  prefix =\n}\n",
		       x->scratch, x->scratch, x->scratch);
	if (!b.data)
		return MB_E_NOMEM;
	rc = mbi_write_file_atomic(x->ctx, x->conf, b.data, b.len, 0644);
	if (!rc && x->priv && x->pub) {
		mbi_buf_printf(&b,
			       "mail_plugins = $mail_plugins mail_crypt\n"
			       "plugin {\n"
			       "  mail_crypt_global_private_key = <%s\n"
			       "  mail_crypt_global_public_key = <%s\n"
			       "  mail_crypt_save_version = 0\n}\n",
			       x->priv, x->pub);
		rc = b.data ? mbi_write_file_atomic(x->ctx, x->cryptconf,
						    b.data, b.len, 0644) :
		     MB_E_NOMEM;
	}
	mbi_buf_release(&b);
	return rc;
}

/* Can the command read our config (a doveadm in a container cannot)? */
static bool dc_reach(struct dc_run *x, char **why)
{
	char *args[] = { (char *)"-c", x->conf, (char *)"config", (char *)"-h",
			 (char *)"base_dir", NULL };
	struct mbi_buf b = { 0 };
	char *want = mbi_asprintf("%s/dovecot/run\n", x->scratch);
	int st = dc_spawn(x, args, x->scratch);
	bool ok;

	ok = st == 0 && want && !mbi_read_file(x->ctx, x->out, &b, 1 << 16) &&
	     b.data && !strcmp(b.data, want);
	if (!ok) {
		char *e = mbi_dc_first_line(x->ctx, x->err);

		*why = mbi_asprintf("'%s' cannot read the scratch copy in '%s' (%s): a doveadm in a container does not see it; run restore-test where the mail tree and doveadm are on one host",
				    x->argv[0], x->scratch, e ? e : "");
		free(e);
	}
	free(want);
	mbi_buf_release(&b);
	return ok;
}

/* One message file of the mailbox that mail_crypt encrypted: its folder
 * (index into x->f) and Maildir GUID, or false. */
static bool find_crypted(struct dc_run *x, size_t i, size_t j, size_t *fi,
			 char **guid)
{
	unsigned budget = DC_CRYPT_SCAN;
	size_t k;

	for (k = i; k < j && budget; k++) {
		char *d = mbi_asprintf("%s/%s/%s/%s", x->files_dir,
				       x->f[k].source, x->f[k].root,
				       x->f[k].folder);
		bool found = d && mbi_dc_find_crypted(d, &budget, guid);

		free(d);
		if (found) {
			*fi = k;
			return true;
		}
	}
	return false;
}

/* Read one encrypted message through the keys of the snapshot. */
static int check_crypt(struct dc_run *x, size_t i, size_t j, const char *dir,
		       char **loc, struct mbi_buf *it, bool *ok)
{
	struct dc_folder *f;
	char *guid = NULL, *imap = NULL, *why = NULL;
	size_t fi;
	int rc = MB_OK;

	if (!find_crypted(x, i, j, &fi, &guid)) {
		mbi_buf_addstr(it, ",\"mail_crypt\":\"not used\"");
		return MB_OK;
	}
	f = &x->f[fi];
	x->crypt++;
	if (mbi_maildir_to_imap(x->ctx, f->folder, &imap) && !imap &&
	    !(imap = strdup(f->folder))) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (!x->priv || !x->pub) {
		why = strdup("mail encrypted by mail_crypt, but the snapshot holds no mail_crypt keys (ecprivkey.pem, ecpubkey.pem): back up the key files (a [source] of type files)");
	} else {
		char *args[] = { (char *)"-c", x->cryptconf, (char *)"-o",
				 loc[0], (char *)"-o", loc[1], (char *)"-o",
				 loc[2], (char *)"fetch", (char *)"hdr",
				 (char *)"mailbox", imap, (char *)"guid", guid,
				 NULL };
		struct mbi_buf b = { 0 };
		int st = dc_spawn(x, args, dir);

		if (st != 0 || mbi_read_file(x->ctx, x->out, &b, DC_MAX_OUT) ||
		    !b.data || strncmp(b.data, "hdr:\n", 5) ||
		    !strchr(b.data + 5, ':')) {
			char *e = mbi_dc_first_line(x->ctx, x->err);

			why = mbi_asprintf("cannot read message %s through the restored mail_crypt keys (%s)",
					   guid, e ? e : "");
			free(e);
		}
		mbi_buf_release(&b);
	}
	mbi_buf_addstr(it, ",\"mail_crypt\":\"");
	mbi_buf_addstr(it, why ? "unreadable" : "readable");
	mbi_buf_addstr(it, "\",\"crypt_message\":\"");
	mbi_dc_json(it, guid, false);
	mbi_buf_addstr(it, "\"");
	if (why) {
		x->fn(x->ud, "mail_crypt", f->source, f->root, why);
		*ok = false;
	} else {
		x->crypt_ok++;
	}
out:
	free(why);
	free(imap);
	free(guid);
	return rc;
}

/* The folders of one mailbox, x->f[i..j): Dovecot's counts against the
 * manifest's. */
static int compare_folders(struct dc_run *x, size_t i, size_t j,
			   const char *out, struct mbi_buf *it, bool *ok)
{
	size_t k;
	int rc = MB_OK;

	mbi_buf_addstr(it, ",\"folders\":[");
	for (k = i; k < j && !rc; k++) {
		char *imap = NULL;
		long long seen;

		/* a name that cannot be mapped stays as it is on disk: Dovecot
		 * does not list it under that name, a finding */
		bool utf8 = !mbi_maildir_to_imap(x->ctx, x->f[k].folder, &imap);

		if (!utf8 && !imap && !(imap = strdup(x->f[k].folder))) {
			rc = MB_E_NOMEM;
			break;
		}
		seen = out ? mbi_dc_count_of(out, imap) : -1;
		mbi_buf_printf(it, "%s{\"folder\":\"", k > i ? "," : "");
		mbi_dc_json(it, imap, utf8);
		mbi_buf_printf(it, "\",\"manifest\":%llu,\"dovecot\":%lld}",
			       (unsigned long long)x->f[k].count, seen);
		if (out && seen != (long long)x->f[k].count) {
			char *d = seen < 0 ?
				  mbi_asprintf("folder '%s': Dovecot does not list it, the manifest has %llu files in cur/ and new/",
					       imap,
					       (unsigned long long)x->f[k].count) :
				  mbi_asprintf("folder '%s': Dovecot sees %lld messages, the manifest has %llu files in cur/ and new/",
					       imap, seen,
					       (unsigned long long)x->f[k].count);

			x->fn(x->ud, "dovecot", x->f[k].source, x->f[k].root,
			      d ? d : "counts differ");
			free(d);
			*ok = false;
		}
		free(imap);
	}
	mbi_buf_addstr(it, "]");
	return rc;
}

/* Dovecot refuses to open mail as root: such a mailbox (a test tree, or
 * a restore as root of mail that root owned) is not checked, which is no
 * failure. */
static int skip_root(struct dc_run *x, const struct dc_folder *f)
{
	if (!x->skipped++)
		mbi_log(x->ctx, MB_LOG_WARNING,
			"restore-test: %s/%s and any other mailbox owned by root not opened with Dovecot: it does not open mail as root",
			f->source, f->root);
	mbi_buf_printf(&x->items, "%s{\"source\":\"", x->items.len ? "," : "");
	mbi_dc_json(&x->items, f->source, false);
	mbi_buf_addstr(&x->items, "\",\"mailbox\":\"");
	mbi_dc_json(&x->items, f->root, false);
	mbi_buf_addstr(&x->items, "\",\"checked\":false,\"reason\":\"owned by root\"}");
	return MB_OK;
}

/* One mailbox, x->f[i..j). */
static int check_mailbox(struct dc_run *x, size_t i, size_t j)
{
	struct dc_folder *f = &x->f[i];
	char *dir = mbi_asprintf("%s/%s/%s", x->files_dir, f->source, f->root);
	char *loc[3] = { NULL, NULL, NULL };
	struct mbi_buf it = { 0 }, b = { 0 };
	struct stat st;
	bool ok = true;
	int rc = MB_E_NOMEM, s;

	if (!dir)
		goto out;
	if (stat(dir, &st))
		st.st_uid = geteuid(), st.st_gid = getegid();
	if (st.st_uid == 0) {
		rc = skip_root(x, f);
		goto out;
	}
	loc[0] = mbi_asprintf("mail_location=maildir:%s:INDEX=MEMORY", dir);
	loc[1] = mbi_asprintf("mail_uid=%u", (unsigned)st.st_uid);
	loc[2] = mbi_asprintf("mail_gid=%u", (unsigned)st.st_gid);
	if (!loc[0] || !loc[1] || !loc[2])
		goto out;
	{
		char *args[] = { (char *)"-c", x->conf, (char *)"-o", loc[0],
				 (char *)"-o", loc[1], (char *)"-o", loc[2],
				 (char *)"-f", (char *)"tab", (char *)"mailbox",
				 (char *)"status", (char *)"messages",
				 (char *)"*", NULL };

		s = dc_spawn(x, args, dir);
	}
	x->boxes++;
	mbi_buf_printf(&it, "%s{\"source\":\"", x->items.len ? "," : "");
	mbi_dc_json(&it, f->source, false);
	mbi_buf_addstr(&it, "\",\"mailbox\":\"");
	mbi_dc_json(&it, f->root, false);
	mbi_buf_addstr(&it, "\"");
	if (s != 0 || mbi_read_file(x->ctx, x->out, &b, DC_MAX_OUT)) {
		char *e = mbi_dc_first_line(x->ctx, x->err);
		char *d = mbi_asprintf("doveadm cannot open the mailbox (%s)",
				       e ? e : "");

		x->fn(x->ud, "dovecot", f->source, f->root,
		      d ? d : "doveadm failed");
		free(d);
		free(e);
		ok = false;
	}
	rc = compare_folders(x, i, j, ok ? (b.data ? b.data : "") : NULL,
			     &it, &ok);
	if (!rc)
		rc = check_crypt(x, i, j, dir, loc, &it, &ok);
	mbi_buf_printf(&it, ",\"ok\":%s}", ok ? "true" : "false");
	if (ok)
		x->boxes_ok++;
	if (!rc && it.data)
		mbi_buf_addstr(&x->items, it.data);
out:
	mbi_buf_release(&it);
	mbi_buf_release(&b);
	free(loc[0]);
	free(loc[1]);
	free(loc[2]);
	free(dir);
	return rc;
}

/* The paths below scratch/dovecot, and its directories. */
static int dc_paths(struct dc_run *x)
{
	char *d = mbi_asprintf("%s/dovecot", x->scratch);
	int rc = MB_OK;

	x->conf = mbi_asprintf("%s/dovecot/dovecot.conf", x->scratch);
	x->cryptconf = mbi_asprintf("%s/dovecot/dovecot-crypt.conf",
				    x->scratch);
	x->out = mbi_asprintf("%s/dovecot/out", x->scratch);
	x->err = mbi_asprintf("%s/dovecot/err", x->scratch);
	if (!d || !x->conf || !x->cryptconf || !x->out || !x->err)
		rc = MB_E_NOMEM;
	else if (mkdir(d, 0755) && errno != EEXIST)
		rc = mbi_error(x->ctx, MB_E_IO, errno, "cannot create '%s'",
			       d);
	free(d);
	return rc;
}

/* checked:false, and why. */
static void not_checked(struct dc_run *x, struct mbi_buf *json,
			const char *why, bool warn)
{
	if (warn)
		mbi_log(x->ctx, MB_LOG_WARNING,
			"restore-test: mailboxes not opened with Dovecot: %s",
			why);
	mbi_buf_addstr(json, "{\"checked\":false,\"reason\":\"");
	mbi_dc_json(json, why ? why : "out of memory", false);
	mbi_buf_addstr(json, "\"}");
}

static int dc_run_all(struct dc_run *x, struct mbi_buf *json)
{
	char *why = NULL;
	size_t i, j;
	int rc;

	if (!x->nf) {
		not_checked(x, json, "no Maildir folders in the snapshot",
			    false);
		return MB_OK;
	}
	if (!dc_command(x, &why)) {
		not_checked(x, json, why, false);
		free(why);
		return MB_OK;
	}
	if ((rc = dc_paths(x)) || (rc = dc_write_confs(x)))
		return rc;
	if (!dc_reach(x, &why)) {
		not_checked(x, json, why, true);
		free(why);
		return MB_OK;
	}
	qsort(x->f, x->nf, sizeof(*x->f), mbi_dc_cmp_folder);
	/* Dovecot reads as the owner of each mailbox: it must pass the
	 * scratch directory (0700 otherwise) */
	if (chmod(x->scratch, 0711) || chmod(x->files_dir, 0711))
		mbi_log(x->ctx, MB_LOG_WARNING, "cannot chmod '%s': %s",
			x->scratch, strerror(errno));
	for (i = 0; i < x->nf && !rc; i = j) {
		for (j = i + 1; j < x->nf &&
		     !strcmp(x->f[j].source, x->f[i].source) &&
		     !strcmp(x->f[j].root, x->f[i].root); j++)
			;
		rc = check_mailbox(x, i, j);
	}
	chmod(x->files_dir, 0700);
	chmod(x->scratch, 0700);
	if (rc)
		return rc;
	mbi_buf_addstr(json, "{\"checked\":true,\"command\":\"");
	mbi_dc_json(json, x->cmdline, false);
	mbi_buf_printf(json,
		       "\",\"mailboxes\":%llu,\"mailboxes_ok\":%llu,"
		       "\"mailboxes_skipped\":%llu,"
		       "\"mail_crypt_users\":%llu,\"mail_crypt_ok\":%llu,"
		       "\"list\":[%s]}",
		       x->boxes, x->boxes_ok, x->skipped, x->crypt, x->crypt_ok,
		       x->items.data ? x->items.data : "");
	return MB_OK;
}

int mbi_dovecot_check(struct mb_ctx *ctx, const struct mbi_manifest *m,
		      const char *files_dir, const char *scratch,
		      mbi_finding_fn fn, void *ud, struct mbi_buf *json)
{
	struct dc_run x;
	size_t i;
	int rc;

	memset(&x, 0, sizeof(x));
	x.ctx = ctx;
	x.m = m;
	x.files_dir = files_dir;
	x.scratch = scratch;
	x.fn = fn;
	x.ud = ud;
	rc = mbi_manifest_foreach(ctx, m, collect, &x);
	if (!rc)
		rc = dc_run_all(&x, json);
	for (i = 0; i < x.nf; i++) {
		free(x.f[i].root);
		free(x.f[i].folder);
	}
	free(x.f);
	free(x.priv);
	free(x.pub);
	free(x.cmd);
	free(x.conf);
	free(x.cryptconf);
	free(x.out);
	free(x.err);
	mbi_buf_release(&x.items);
	return rc;
}
