/* SPDX-License-Identifier: MIT */
/* op/restore_test.c: restore-test: restore into scratch space and prove that
 * the result is what was recorded. */
#include "mb-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "restore_test_dovecot.h"
#include "banned.h"


#define MAX_REPORTED 50

struct restore_test_run {
	struct mb_ctx *ctx;
	int root;               /* scratch/files */
	char *files_dir;
	struct mbi_buf problems; /* JSON array items */
	struct mb_restore_test_result *res;
	bool as_root;
	struct mbi_redis_dkim redis; /* Redis dumps and their DKIM keys */
	struct mbi_buf dovecot; /* the "dovecot" object of the report */
};

/* Append s as the body of a JSON string: quotes, backslashes, control
 * characters and bytes above 0x7e escaped. The one escaper of the
 * report. */
static void json_str(struct mbi_buf *b, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			mbi_buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			mbi_buf_printf(b, "\\u%04x", c);
		else
			mbi_buf_add(b, s, 1);
	}
}

static void problem(struct restore_test_run *t, const char *kind,
		    const char *source, const char *path, const char *detail)
{
	struct mbi_buf *b = &t->problems;

	t->res->mismatches++;
	if (t->res->mismatches > MAX_REPORTED) {
		if (t->res->mismatches == MAX_REPORTED + 1)
			mbi_log(t->ctx, MB_LOG_ERROR,
				"restore-test: more differences follow; only the first %d are named",
				MAX_REPORTED);
		return;
	}
	mbi_log(t->ctx, MB_LOG_ERROR, "restore-test: %s: %s/%s%s%s", kind,
		source, path, detail ? ": " : "", detail ? detail : "");
	mbi_buf_printf(b, "%s{\"kind\":\"%s\",\"source\":\"",
		       b->len ? "," : "", kind);
	json_str(b, source);
	mbi_buf_addstr(b, "\",\"path\":\"");
	json_str(b, path);
	mbi_buf_addstr(b, "\",\"detail\":\"");
	json_str(b, detail);
	mbi_buf_addstr(b, "\"}");
}

/* problem() as the checks of other files report it. */
static void finding(void *ud, const char *kind, const char *source,
		    const char *path, const char *detail)
{
	problem(ud, kind, source, path, detail);
}

/* The directory that holds rel (below root), without following symlinks;
 * *base is its last component. -1 when it is not there. */
static int open_parent(int root, const char *rel, const char **base)
{
	char *copy = strdup(rel), *p, *slash;
	int fd;

	if (!copy)
		return -1;
	slash = strrchr(copy, '/');
	*base = rel + (slash ? slash - copy + 1 : 0);
	if (!slash) {
		free(copy);
		return dup(root);
	}
	*slash = '\0';
	fd = dup(root);
	for (p = copy; fd >= 0 && p;) {
		char *next = strchr(p, '/');
		int sub;

		if (next)
			*next++ = '\0';
		sub = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			     O_CLOEXEC);
		close(fd);
		fd = sub;
		p = next;
	}
	free(copy);
	return fd;
}

static int compare_entry(void *ud, struct mbi_mentry *e)
{
	struct restore_test_run *t = ud;
	char *rel = strcmp(e->path, ".") ?
		    mbi_asprintf("%s/%s", e->source, e->path) :
		    strdup(e->source);
	const char *base;
	struct stat st;
	int dfd;
	char detail[200];

	if (!rel)
		return MB_E_NOMEM;
	t->res->entries++;
	dfd = open_parent(t->root, rel, &base);
	if (dfd < 0 || fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW)) {
		problem(t, "missing", e->source, e->path, NULL);
		goto out;
	}
	if ((e->type == 'f' && !S_ISREG(st.st_mode)) ||
	    (e->type == 'd' && !S_ISDIR(st.st_mode)) ||
	    (e->type == 'l' && !S_ISLNK(st.st_mode))) {
		problem(t, "type", e->source, e->path, NULL);
		goto out;
	}
	if (e->type != 'l' && (st.st_mode & 07777) != e->mode) {
		snprintf(detail, sizeof(detail), "mode %o, recorded %o",
			 st.st_mode & 07777, e->mode);
		problem(t, "mode", e->source, e->path, detail);
	}
	if (t->as_root && (st.st_uid != e->uid || st.st_gid != e->gid))
		problem(t, "owner", e->source, e->path, NULL);
	if (e->type == 'l') {
		char target[4097];
		ssize_t n = readlinkat(dfd, base, target, sizeof(target) - 1);

		if (n < 0 || (target[n] = '\0', strcmp(target, e->link)))
			problem(t, "link", e->source, e->path, NULL);
	} else if (e->type == 'f') {
		unsigned char sha[MBI_SHA256_LEN];
		uint64_t len = 0;
		int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		t->res->files++;
		if (fd < 0 || mbi_sha256_fd(fd, sha, &len)) {
			problem(t, "unreadable", e->source, e->path, NULL);
		} else if (len != e->size) {
			snprintf(detail, sizeof(detail),
				 "%llu bytes, recorded %llu",
				 (unsigned long long)len,
				 (unsigned long long)e->size);
			problem(t, "size", e->source, e->path, detail);
		} else if (memcmp(sha, e->sha, MBI_SHA256_LEN)) {
			problem(t, "content", e->source, e->path,
				"sha256 differs from the manifest");
		}
		t->res->bytes += len;
		if (fd >= 0)
			close(fd);
		if (mbi_dkim_is_key_path(e->path)) {
			/* keys live at short paths: a plain path is fine */
			char *full = mbi_asprintf("%s/%s", t->files_dir, rel);
			struct mbi_buf why = { 0 };

			t->res->dkim_keys++;
			if (full && mbi_dkim_check(t->ctx, full, &why) == MB_OK)
				t->res->dkim_ok++;
			else
				problem(t, "dkim", e->source, e->path,
					why.data ? why.data : "unreadable");
			mbi_buf_release(&why);
			free(full);
		}
	}
out:
	if (dfd >= 0)
		close(dfd);
	free(rel);
	return MB_OK;
}

/* Remove a tree below dirfd (no symlink followed). */
static void rm_tree(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd < 0) {
		unlinkat(parent, name, 0);
		return;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) && errno == EISDIR)
			rm_tree(dirfd(d), de->d_name);
	}
	closedir(d);
	unlinkat(parent, name, AT_REMOVEDIR);
}

/* ------------------------------------------------- a scratch MariaDB */

struct scratch_db {
	pid_t pid;
	char *dir, *sock, *pwfile;
};

static int run_wait(char *const argv[], const char *log)
{
	posix_spawn_file_actions_t fa;
	char **envp = mbi_env_child(NULL);
	pid_t pid;
	int st, rc;

	if (!envp)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT |
					 O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	mbi_env_free(envp);
	if (rc)
		return -1;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool sock_ready(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void scratch_db_stop(struct scratch_db *s)
{
	if (s->pid > 0) {
		int st;
		int i;

		kill(s->pid, SIGTERM);
		for (i = 0; i < 300; i++) {
			if (waitpid(s->pid, &st, WNOHANG) == s->pid)
				break;
			usleep(100000);
		}
		if (i == 300) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &st, 0);
		}
	}
	free(s->dir);
	free(s->sock);
	free(s->pwfile);
	memset(s, 0, sizeof(*s));
}

/* mariadbd on a private socket, without networking and without grant
 * tables: nothing but this process can reach it. */
static int scratch_db_start(struct mb_ctx *ctx, const char *scratch,
			    struct scratch_db *s)
{
	char *data = mbi_asprintf("%s/db", scratch);
	char *log = mbi_asprintf("%s/db.log", scratch);
	char *a_data = data ? mbi_asprintf("--datadir=%s", data) : NULL;
	/* a private tmpdir: not the temporary tables of other servers */
	char *tmp = mbi_asprintf("%s/dbtmp", scratch);
	char *a_tmp = tmp ? mbi_asprintf("--tmpdir=%s", tmp) : NULL;
	char *a_sock, *a_pid;
	char rnd[33];
	posix_spawn_file_actions_t fa;
	int i, rc = MB_OK;

	memset(s, 0, sizeof(*s));
	s->sock = mbi_asprintf("%s/db.sock", scratch);
	s->pwfile = mbi_asprintf("%s/db.pw", scratch);
	a_sock = s->sock ? mbi_asprintf("--socket=%s", s->sock) : NULL;
	a_pid = mbi_asprintf("--pid-file=%s/db.pid", scratch);
	if (!data || !log || !a_data || !a_sock || !a_pid || !s->pwfile ||
	    !a_tmp) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (mkdir(tmp, 0700) && errno != EEXIST) {
		rc = mbi_error(ctx, MB_E_IO, errno, "cannot create '%s'", tmp);
		goto out;
	}
	mbi_random_hex(rnd, 16);
	if ((rc = mbi_write_file_atomic(ctx, s->pwfile, rnd, 32, 0600)))
		goto out;
	{
		char *argv[] = { (char *)"mariadb-install-db",
				 (char *)"--no-defaults", a_data, a_tmp,
				 (char *)"--skip-test-db",
				 (char *)"--auth-root-authentication-method=normal",
				 geteuid() == 0 ? (char *)"--user=root" : NULL,
				 NULL };

		if (run_wait(argv, log)) {
			rc = mbi_error(ctx, MB_E_DB, 0,
				       "cannot create a scratch database with mariadb-install-db (see '%s'): install mariadb-server or use --db-prefix",
				       log);
			goto out;
		}
	}
	{
		char *argv[] = { (char *)"mariadbd", (char *)"--no-defaults",
				 a_data, a_tmp, a_sock, a_pid,
				 (char *)"--skip-networking",
				 (char *)"--skip-grant-tables",
				 (char *)"--max-allowed-packet=64M",
				 (char *)"--innodb-buffer-pool-size=64M",
				 (char *)"--character-set-server=utf8mb4",
				 geteuid() == 0 ? (char *)"--user=root" : NULL,
				 NULL };
		const char *paths[] = { "/usr/sbin/mariadbd", "mariadbd" };
		char **envp = mbi_env_child(NULL);

		if (!envp) {
			rc = MB_E_NOMEM;
			goto out;
		}
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY |
						 O_CREAT | O_APPEND, 0600);
		posix_spawn_file_actions_adddup2(&fa, 1, 2);
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
						 O_RDONLY, 0);
		rc = posix_spawn(&s->pid, paths[0], &fa, NULL, argv, envp);
		if (rc)
			rc = posix_spawnp(&s->pid, paths[1], &fa, NULL, argv,
					  envp);
		posix_spawn_file_actions_destroy(&fa);
		mbi_env_free(envp);
		if (rc) {
			s->pid = 0;
			rc = mbi_error(ctx, MB_E_DB, rc,
				       "cannot start mariadbd for the scratch database");
			goto out;
		}
	}
	for (i = 0; i < 600 && !sock_ready(s->sock); i++) {
		int st;

		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			break;
		}
		usleep(100000);
	}
	if (!sock_ready(s->sock))
		rc = mbi_error(ctx, MB_E_DB, 0,
			       "the scratch mariadbd did not start (see '%s')",
			       log);
out:
	free(data);
	free(log);
	free(a_data);
	free(tmp);
	free(a_tmp);
	free(a_sock);
	free(a_pid);
	return rc;
}

static int check_databases(struct restore_test_run *t,
			   const struct mb_restore_test_opts *o,
			   const struct mbi_manifest *m, const char *scratch,
			   struct scratch_db *sdb)
{
	struct mb_ctx *ctx = t->ctx;
	size_t i, k;
	int rc = MB_OK;
	for (i = 0; i < m->nsources; i++) {
		const struct mbi_source *src = NULL;
		char *dir;
		int lrc;

		if (strcmp(m->sources[i].type, "mariadb"))
			continue;
		for (k = 0; k < ctx->cfg->nsources; k++)
			if (!strcmp(ctx->cfg->sources[k].name,
				    m->sources[i].name))
				src = &ctx->cfg->sources[k];
		if (!src) {
			problem(t, "database", m->sources[i].name, ".",
				"no [source] of that name in the configuration: not loaded");
			continue;
		}
		dir = mbi_asprintf("%s/%s", t->files_dir, src->name);
		if (!dir)
			return MB_E_NOMEM;
		if (!o->db_prefix && !sdb->pid &&
		    (rc = scratch_db_start(ctx, scratch, sdb))) {
			free(dir);
			return rc;
		}
		if (o->db_prefix) {
			lrc = mbi_dbload_source(ctx, src, dir, o->db_prefix,
						true, m);
		} else {
			/* the same source, pointed at the scratch server */
			struct mbi_kv kv[] = {
				{ (char *)"type", (char *)"mariadb", 0 },
				{ (char *)"socket", sdb->sock, 0 },
				{ (char *)"user", (char *)"root", 0 },
				{ (char *)"password_file", sdb->pwfile, 0 },
				{ (char *)"databases",
				  (char *)(mbi_section_get(src->sec,
							   "databases") ?
					   mbi_section_get(src->sec,
							   "databases") : ""),
				  0 },
			};
			struct mbi_section sec = { (char *)"source",
						   src->name, 0, kv,
						   MBI_ARRAY_SIZE(kv) };
			struct mbi_source s2 = *src;

			s2.sec = &sec;
			lrc = mbi_dbload_source(ctx, &s2, dir, NULL, true, m);
		}
		free(dir);
		for (k = 0; k < m->ndbs; k++)
			if (!strcmp(m->dbs[k].source, src->name)) {
				t->res->tables++;
				if (!lrc)
					t->res->tables_ok++;
			}
		t->res->db_checked = 1;
		if (lrc == MB_E_VERIFY)
			problem(t, "database", src->name, ".",
				mb_ctx_errmsg(ctx));
		else if (lrc)
			return lrc;
	}
	return rc;
}

/* Scratch space below [options] scratch_dir, $TMPDIR or /var/tmp, with
 * files/ as the restore target. */
static int rt_scratch(struct restore_test_run *t, char **scratch)
{
	const char *base = mbi_section_get(mbi_config_section(t->ctx->cfg,
							      "options"),
					   "scratch_dir");

	if (!base)
		base = getenv("TMPDIR") && *getenv("TMPDIR") ?
		       getenv("TMPDIR") : "/var/tmp";
	*scratch = mbi_asprintf("%s/mailbackup-restore-test.XXXXXX", base);
	if (!*scratch || !mkdtemp(*scratch))
		return mbi_error(t->ctx, MB_E_IO, errno,
				 "cannot create scratch space in '%s': set [options] scratch_dir",
				 base);
	t->files_dir = mbi_asprintf("%s/files", *scratch);
	return t->files_dir ? MB_OK : MB_E_NOMEM;
}

/* Restore the snapshot into files/. MB_E_VERIFY when the repository itself
 * is damaged: that is the finding (recorded), and comparing a partial
 * restore says no more. */
static int rt_restore(struct restore_test_run *t, const char *id)
{
	struct mb_restore_opts ro = MB_RESTORE_OPTS_INIT;
	struct mb_restore_result rr = MB_RESTORE_RESULT_INIT;
	int rc;

	ro.snapshot = id;
	ro.target = t->files_dir;
	/* modes are compared with the manifest; the scratch directory is
	 * private to us */
	ro.keep_setid = 1;
	rc = mb_restore(t->ctx, &ro, &rr);
	if (rc == MB_E_VERIFY)
		problem(t, "restore", "-", ".", mb_ctx_errmsg(t->ctx));
	return rc == MB_E_PARTIAL ? MB_OK : rc;
}

/* Compare the restored tree with the manifest, then load and check what
 * the restored databases and Redis dumps hold. */
static int rt_compare(struct restore_test_run *t,
		      const struct mb_restore_test_opts *o,
		      const struct mbi_manifest *m, const char *scratch,
		      struct scratch_db *sdb)
{
	struct mb_ctx *ctx = t->ctx;
	const char *dbmode = mbi_section_get(mbi_config_section(ctx->cfg,
								"options"),
					     "scratch_db");
	int rc;

	t->root = open(t->files_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->root < 0)
		return mbi_error(ctx, MB_E_IO, errno, "cannot open '%s'",
				 t->files_dir);
	if ((rc = mbi_manifest_foreach(ctx, m, compare_entry, t)))
		return rc;
	if (o->db_prefix || (dbmode && !strcmp(dbmode, "local")))
		rc = check_databases(t, o, m, scratch, sdb);
	else if (m->ndbs)
		mbi_log(ctx, MB_LOG_WARNING,
			"databases not checked: set [options] scratch_db = local or pass --db-prefix");
	if (!rc)
		rc = mbi_dkim_redis_check(ctx, m, t->files_dir, scratch,
					  finding, t, &t->redis);
	t->res->dkim_keys += t->redis.keys;
	t->res->dkim_ok += t->redis.ok;
	/* last: doveadm writes its own files into the mailboxes */
	if (!rc)
		rc = mbi_dovecot_check(ctx, m, t->files_dir, scratch, finding,
				       t, &t->dovecot);
	return rc;
}

/* The JSON report; the error (not a finding) that ended the run, if
 * any. */
static char *rt_report(struct restore_test_run *t, int rc)
{
	const struct mb_restore_test_result *r = t->res;
	struct mbi_buf rep = { 0 };

	mbi_buf_printf(&rep,
		       "{\"snapshot\":\"%s\",\"ok\":%s,\"entries\":%llu,"
		       "\"files\":%llu,\"bytes\":%llu,\"mismatches\":%llu,"
		       "\"db_checked\":%s,\"tables\":%llu,\"tables_ok\":%llu,"
		       "\"dkim_keys\":%llu,\"dkim_ok\":%llu,"
		       "\"redis_dumps\":%llu,\"redis_checked\":%llu,"
		       "\"seconds\":%.3f,\"problems\":[%s]",
		       r->snapshot, rc ? "false" : "true",
		       (unsigned long long)r->entries,
		       (unsigned long long)r->files,
		       (unsigned long long)r->bytes,
		       (unsigned long long)r->mismatches,
		       r->db_checked ? "true" : "false",
		       (unsigned long long)r->tables,
		       (unsigned long long)r->tables_ok,
		       (unsigned long long)r->dkim_keys,
		       (unsigned long long)r->dkim_ok,
		       (unsigned long long)t->redis.dumps,
		       (unsigned long long)t->redis.checked, r->seconds,
		       t->problems.data ? t->problems.data : "");
	if (t->dovecot.data)
		mbi_buf_printf(&rep, ",\"dovecot\":%s", t->dovecot.data);
	if (rc && rc != MB_E_VERIFY) {
		mbi_buf_addstr(&rep, ",\"error\":\"");
		json_str(&rep, mb_ctx_errmsg(t->ctx));
		mbi_buf_addstr(&rep, "\"");
	}
	mbi_buf_addstr(&rep, "}\n");
	return rep.data;
}

static void rt_remove_scratch(struct mb_ctx *ctx, char *scratch, bool keep)
{
	char *slash;
	int pfd;

	if (!scratch)
		return;
	if (keep) {
		mbi_log(ctx, MB_LOG_WARNING, "scratch space kept in '%s'",
			scratch);
		return;
	}
	slash = strrchr(scratch, '/');
	*slash = '\0';
	pfd = open(*scratch ? scratch : "/", O_RDONLY | O_DIRECTORY |
		   O_CLOEXEC);
	if (pfd >= 0) {
		rm_tree(pfd, slash + 1);
		close(pfd);
	}
	*slash = '/';
}

int mb_restore_test(struct mb_ctx *ctx, const struct mb_restore_test_opts *o,
		    struct mb_restore_test_result *res, char **report)
{
	struct mb_restore_test_opts none;
	struct mb_restore_test_result r;
	struct restore_test_run t;
	struct mbi_repo *repo = NULL;
	struct mb_snapshot_info si;
	struct mbi_manifest m;
	struct scratch_db sdb;
	bool have_m = false;
	char *scratch = NULL, *rep;
	double t0 = mbi_now();
	int rc;

	if ((rc = MBI_OPTS_IN(ctx, &none, o, "mb_restore_test_opts")) ||
	    (rc = mbi_result_ok(ctx, res, "mb_restore_test_result")))
		return rc;
	o = &none;
	memset(&r, 0, sizeof(r));
	memset(&t, 0, sizeof(t));
	memset(&sdb, 0, sizeof(sdb));
	t.ctx = ctx;
	t.res = &r;
	t.root = -1;
	t.as_root = geteuid() == 0;
	if ((rc = mbi_need_config(ctx)))
		return rc;
	if (o->db_prefix && !*o->db_prefix)
		/* P + name must never be the live database */
		return mbi_error(ctx, MB_E_INVAL, 0,
				 "restore-test --db-prefix needs a non-empty prefix: the databases it loads are overwritten");
	if ((rc = mbi_repo_open(ctx, &repo)) ||
	    (rc = mbi_snapshot_resolve(repo, o->snapshot ? o->snapshot :
				       "latest", &si)))
		goto out;
	memcpy(r.snapshot, si.id, sizeof(r.snapshot));
	if ((rc = rt_scratch(&t, &scratch)) || (rc = rt_restore(&t, si.id)))
		goto out;
	if ((rc = mbi_manifest_load(repo, si.name, &m)))
		goto out;
	have_m = true;
	rc = rt_compare(&t, o, &m, scratch, &sdb);
out:
	scratch_db_stop(&sdb);
	r.seconds = mbi_now() - t0;
	/* a damaged repository was recorded as a finding by rt_restore */
	if (rc == MB_E_VERIFY && r.mismatches)
		rc = MB_OK;
	if (!rc && r.mismatches)
		rc = mbi_error(ctx, MB_E_VERIFY, 0,
			       "restore-test of snapshot %s found %llu difference(s)",
			       r.snapshot, (unsigned long long)r.mismatches);
	rep = rt_report(&t, rc);
	if (report)
		*report = rep;
	else
		free(rep);
	mbi_result_out(res, &r, sizeof(r));
	if (have_m)
		mbi_manifest_release(&m);
	if (t.root >= 0)
		close(t.root);
	rt_remove_scratch(ctx, scratch, o->keep);
	mbi_buf_release(&t.problems);
	mbi_buf_release(&t.dovecot);
	free(t.files_dir);
	free(scratch);
	mbi_repo_close(repo);
	return rc;
}
