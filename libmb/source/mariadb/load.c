/* SPDX-License-Identifier: MIT */
/* source/mariadb/load.c: loads a restored mariadb dump into a server and checks it against the manifest. */
#include "db.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mysqld_error.h>

#include "banned.h"

/* --------------------------------------------------------------- load */

struct ldb {
	char *fname;      /* directory name under dir */
	char *name;       /* the original database name */
	char *target;     /* prefix + name */
	bool exists;
	unsigned long long ntables;
	bool loaded;
};

struct load {
	struct mb_ctx *ctx;
	const struct mbi_source *src;
	struct mbi_dbconf c;
	MYSQL *my;
	const char *dir;
	struct ldb *dbs;
	size_t ndbs;
	uint64_t statements, files;
	uint64_t warnings;     /* from the server while loading */
	char *first_warning;   /* "file line N: message" */
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in a directory, sorted; dirs: the subdirectories, else the
 * table files (*.sql not starting with '_'). */
static int list_dir(struct load *l, const char *path, bool dirs, char ***out,
		    size_t *nout)
{
	DIR *dh = opendir(path);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc = MB_OK;

	if (!dh)
		return mbi_source_error(l->ctx, l->src->name, errno == ENOENT ? MB_E_NOTFOUND : MB_E_IO,
					errno, "cannot read '%s'",
					path);
	while ((de = readdir(dh))) {
		size_t len = strlen(de->d_name);
		struct stat st;
		char *full;

		if (de->d_name[0] == '.')
			continue;
		if (dirs) {
			full = mbi_asprintf("%s/%s", path, de->d_name);
			if (!full) {
				rc = MB_E_NOMEM;
				break;
			}
			if (stat(full, &st) || !S_ISDIR(st.st_mode)) {
				free(full);
				continue;
			}
			free(full);
		} else if (de->d_name[0] == '_' || len < 5 ||
			   strcmp(de->d_name + len - 4, ".sql")) {
			continue;
		}
		if (n + 1 >= cap) {
			char **nv = realloc(v, (cap = cap ? 2 * cap : 16) *
					    sizeof(*v));

			if (!nv) {
				rc = MB_E_NOMEM;
				break;
			}
			v = nv;
		}
		if (!(v[n++] = strdup(de->d_name))) {
			rc = MB_E_NOMEM;
			break;
		}
	}
	closedir(dh);
	if (rc) {
		mbi_strv_free(v, n);
		return rc;
	}
	if (v)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	*nout = n;
	return MB_OK;
}

/* Keep the first warning (a value cut to fit, a date out of range): when
 * the checksums then differ, it says why. */
static void note_warning(struct load *l, const char *file, uint64_t line)
{
	MYSQL_RES *res;
	MYSQL_ROW row;

	l->warnings += mysql_warning_count(l->my);
	if (l->first_warning || mysql_query(l->my, "SHOW WARNINGS LIMIT 1") ||
	    !(res = mysql_store_result(l->my)))
		return;
	row = mysql_fetch_row(res);
	if (row && mysql_num_fields(res) >= 3 && row[2])
		l->first_warning = mbi_asprintf("'%s' line %llu: %s", file,
						(unsigned long long)line,
						row[2]);
	mysql_free_result(res);
}

static int exec_stmt(struct load *l, const char *sql, size_t len,
		     const char *file, uint64_t line, const struct ldb *db)
{
	if (mbi_db_run(l->my, sql, len))
		return mbi_source_error(l->ctx, l->src->name, MB_E_DB, 0,
					"loading '%s' (line %llu) into database '%s' failed: %s (%u)",
					file, (unsigned long long)line,
					db->target, mysql_error(l->my),
					mysql_errno(l->my));
	l->statements++;
	if (mysql_warning_count(l->my))
		note_warning(l, file, line);
	return MB_OK;
}

static int load_file(struct load *l, const struct ldb *db, const char *name,
		     bool optional)
{
	char *path = mbi_asprintf("%s/%s/%s", l->dir, db->fname, name);
	char *rel = mbi_asprintf("%s/%s", db->fname, name);
	struct mbi_sqlreader r;
	char *stmt;
	size_t len;
	int fd = -1, rc;

	mbi_sqlreader_init(&r, -1);
	if (!path || !rel) {
		rc = MB_E_NOMEM;
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && optional) {
			rc = MB_OK;
			goto out;
		}
		rc = mbi_source_error(l->ctx, l->src->name, errno == ENOENT ? MB_E_NOTFOUND : MB_E_IO,
				      errno, "cannot open '%s'",
				      path);
		goto out;
	}
	mbi_sqlreader_init(&r, fd);
	while ((rc = mbi_sqlreader_next(&r, &stmt, &len)) == 1) {
		rc = exec_stmt(l, stmt, len, rel, r.stmt_line, db);
		if (rc)
			goto out;
	}
	if (rc == MB_E_IO)
		rc = mbi_source_error(l->ctx, l->src->name, MB_E_IO, errno,
				      "cannot read '%s'",
				      path);
	else if (rc == MB_E_INVAL)
		rc = mbi_source_error(l->ctx, l->src->name, MB_E_INVAL, 0,
				      "'%s' line %llu: %s",
				      rel, (unsigned long long)r.line,
				      r.err);
	l->files++;
out:
	if (fd >= 0)
		close(fd);
	mbi_sqlreader_release(&r);
	free(path);
	free(rel);
	return rc;
}

static bool system_db(const char *name)
{
	return !strcasecmp(name, "mysql") ||
	       !strcasecmp(name, "information_schema") ||
	       !strcasecmp(name, "performance_schema") ||
	       !strcasecmp(name, "sys");
}

/* Find the databases in dir and what already stands on the server. */
static int survey(struct load *l, const char *prefix)
{
	char **names = NULL;
	size_t n = 0, i;
	int rc;

	rc = list_dir(l, l->dir, true, &names, &n);
	if (rc)
		return rc;
	if (!n) {
		rc = mbi_source_error(l->ctx, l->src->name, MB_E_NOTFOUND, 0,
				      "no database dump in '%s'",
				      l->dir);
		goto out;
	}
	l->dbs = calloc(n, sizeof(*l->dbs));
	if (!l->dbs) {
		rc = MB_E_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct ldb *db = &l->dbs[l->ndbs++];
		struct mbi_buf q = { 0 };
		MYSQL_RES *res;
		MYSQL_ROW row;

		db->fname = names[i];
		names[i] = NULL;
		db->name = mbi_db_fname_decode(db->fname);
		if (!db->name) {
			rc = mbi_source_error(l->ctx, l->src->name, MB_E_INVAL, 0,
					      "'%s/%s' is not the name of a dumped database",
					      l->dir, db->fname);
			goto out;
		}
		db->target = mbi_asprintf("%s%s", prefix, db->name);
		if (!db->target) {
			rc = MB_E_NOMEM;
			goto out;
		}
		if (strlen(db->target) > 64 || system_db(db->target)) {
			rc = mbi_source_error(l->ctx, l->src->name, MB_E_INVAL, 0,
					      "cannot load into a database named '%s': choose another --db-prefix",
					      db->target);
			goto out;
		}
		if (mbi_buf_addstr(&q, "SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA "
				   "WHERE SCHEMA_NAME = ") ||
		    mbi_sql_string(&q, db->target, strlen(db->target)) ||
		    mbi_buf_addstr(&q, "), (SELECT COUNT(*) FROM information_schema.TABLES "
				   "WHERE TABLE_SCHEMA = ") ||
		    mbi_sql_string(&q, db->target, strlen(db->target)) ||
		    mbi_buf_add(&q, ")", 1)) {
			mbi_buf_release(&q);
			rc = MB_E_NOMEM;
			goto out;
		}
		rc = mbi_db_query_row(l->ctx, &l->c, l->my, q.data,
				      "looking for the target database", &res,
				      &row);
		mbi_buf_release(&q);
		if (rc)
			goto out;
		if (row && row[0] && row[1]) {
			db->exists = strcmp(row[0], "0") != 0;
			db->ntables = strtoull(row[1], NULL, 10);
		}
		mysql_free_result(res);
	}
out:
	mbi_strv_free(names, n);
	return rc;
}

/* DROP DATABASE `db`, CREATE DATABASE `db` */
static int exec_simple(struct load *l, const char *verb, const char *db)
{
	struct mbi_buf q = { 0 };
	char *what = mbi_asprintf("%s '%s'", verb, db);
	int rc;

	if (!what || mbi_buf_addstr(&q, verb) || mbi_buf_add(&q, " ", 1) ||
	    mbi_sql_ident(&q, db))
		rc = MB_E_NOMEM;
	else
		rc = mbi_db_exec(l->ctx, &l->c, l->my, q.data, q.len, what);
	mbi_buf_release(&q);
	free(what);
	return rc;
}

static int load_db(struct load *l, struct ldb *db, bool overwrite)
{
	char **files = NULL, *path;
	size_t n = 0, i;
	int rc;

	if (db->exists && overwrite) {
		mbi_log(l->ctx, MB_LOG_INFO,
			"source '%s': dropping database '%s' to replace it",
			l->src->name, db->target);
		rc = exec_simple(l, "DROP DATABASE", db->target);
		if (rc)
			return rc;
		db->exists = false;
	}
	if (!db->exists) {
		rc = exec_simple(l, "CREATE DATABASE", db->target);
		if (rc)
			return rc;
	}
	if (mysql_select_db(l->my, db->target))
		return mbi_db_error(l->ctx, &l->c, l->my, "selecting the database");
	rc = load_file(l, db, MBI_DB_SCHEMA_FILE, false);
	if (rc)
		return rc;
	path = mbi_asprintf("%s/%s", l->dir, db->fname);
	if (!path)
		return MB_E_NOMEM;
	rc = list_dir(l, path, false, &files, &n);
	free(path);
	for (i = 0; !rc && i < n; i++)
		rc = load_file(l, db, files[i], false);
	mbi_strv_free(files, n);
	db->loaded = !rc;
	if (!rc)
		mbi_log(l->ctx, MB_LOG_INFO,
			"source '%s': loaded '%s' into '%s' (%zu tables)",
			l->src->name, db->name, db->target, n);
	return rc;
}

static const char *manifest_meta(const struct mbi_manifest *m,
				 const char *source, const char *key)
{
	size_t i;

	for (i = 0; m && i < m->nmeta; i++)
		if (m->meta[i].source && !strcmp(m->meta[i].source, source) &&
		    !strcmp(m->meta[i].key, key))
			return m->meta[i].value;
	return NULL;
}

/* Rows and CHECKSUM TABLE of a loaded table; *found false when it is
 * missing. */
static int measure(struct load *l, const char *db, const char *table,
		   bool *found, unsigned long long *rows, char **checksum)
{
	struct mbi_buf qn = { 0 };
	char *sql = NULL;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int rc = MB_OK;

	*found = false;
	*checksum = NULL;
	if (mbi_sql_ident(&qn, db) || mbi_buf_add(&qn, ".", 1) ||
	    mbi_sql_ident(&qn, table) ||
	    !(sql = mbi_asprintf("SELECT COUNT(*) FROM %s", qn.data))) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (mysql_query(l->my, sql) || !(res = mysql_store_result(l->my))) {
		if (mysql_errno(l->my) == ER_NO_SUCH_TABLE)
			goto out;
		rc = mbi_db_error(l->ctx, &l->c, l->my, "counting rows");
		goto out;
	}
	row = mysql_fetch_row(res);
	*rows = row && row[0] ? strtoull(row[0], NULL, 10) : 0;
	mysql_free_result(res);
	res = NULL;
	free(sql);
	sql = mbi_asprintf("CHECKSUM TABLE %s EXTENDED", qn.data);
	if (!sql) {
		rc = MB_E_NOMEM;
		goto out;
	}
	rc = mbi_db_query_row(l->ctx, &l->c, l->my, sql, "CHECKSUM TABLE",
			      &res, &row);
	if (rc)
		goto out;
	*checksum = strdup(row && row[1] ? row[1] : "NULL");
	*found = true;
	if (!*checksum)
		rc = MB_E_NOMEM;
out:
	if (res)
		mysql_free_result(res);
	mbi_buf_release(&qn);
	free(sql);
	return rc;
}

/* Compare every table the manifest recorded for this source. */
static int verify(struct load *l, const struct mbi_manifest *m)
{
	const char *dumped = manifest_meta(m, l->src->name, "server_version");
	const char *here = mysql_get_server_info(l->my);
	size_t i, j, checked = 0, bad = 0;
	char first[512] = "";
	int rc = MB_OK;

	for (i = 0; m && i < m->ndbs; i++) {
		const struct mbi_mdb *e = &m->dbs[i];
		const struct ldb *db = NULL;
		unsigned long long rows = 0;
		char *sum = NULL, msg[512];
		bool found = false;

		if (!e->source || strcmp(e->source, l->src->name))
			continue;
		for (j = 0; j < l->ndbs; j++)
			if (!strcmp(l->dbs[j].name, e->db))
				db = &l->dbs[j];
		if (db && db->loaded) {
			rc = measure(l, db->target, e->table, &found, &rows,
				     &sum);
			if (rc)
				return rc;
		}
		checked++;
		if (!found)
			snprintf(msg, sizeof(msg),
				 "table '%s.%s' is missing after the load",
				 e->db, e->table);
		else if (rows != e->rows || strcmp(sum, e->checksum))
			snprintf(msg, sizeof(msg),
				 "table '%s.%s' loaded as '%s.%s': %llu rows, checksum %s; the snapshot recorded %llu rows, checksum %s",
				 e->db, e->table, db->target, e->table, rows,
				 sum, (unsigned long long)e->rows, e->checksum);
		else
			msg[0] = '\0';
		free(sum);
		if (!msg[0])
			continue;
		if (!bad++)
			snprintf(first, sizeof(first), "%s", msg);
		mbi_log(l->ctx, MB_LOG_WARNING, "source '%s': %s", l->src->name,
			msg);
	}
	if (bad) {
		bool other = dumped && strcmp(dumped, here);

		return mbi_source_error(l->ctx, l->src->name, MB_E_VERIFY, 0,
					"%zu of %zu tables differ from the snapshot, first: %s%s%s%s%s%s%s%s",
					bad, checked, first,
					other ? " (dumped from server " : "",
					other ? dumped : "",
					other ? ", loaded into " : "",
					other ? here : "", other ? ")" : "",
					l->first_warning ? "; the server warned while loading, first at " : "",
				 l->first_warning ? l->first_warning : "");
	}
	mbi_log(l->ctx, MB_LOG_INFO,
		"source '%s': %zu tables match the snapshot's rows and checksums",
		l->src->name, checked);
	return MB_OK;
}

int mbi_dbload_source(struct mb_ctx *ctx, const struct mbi_source *src,
		      const char *dir, const char *db_prefix, bool overwrite,
		      const struct mbi_manifest *m)
{
	static const char session[] =
		"SET SESSION foreign_key_checks = 0, unique_checks = 0";
	struct load l;
	size_t i;
	int rc, vrc = MB_OK;

	memset(&l, 0, sizeof(l));
	l.ctx = ctx;
	l.src = src;
	l.dir = dir;
	rc = mbi_dbconf_init(ctx, src, &l.c);
	if (rc)
		return rc;
	rc = mbi_db_connect(ctx, &l.c, &l.my);
	if (!rc)
		rc = mbi_db_exec(ctx, &l.c, l.my, session, sizeof(session) - 1,
				 "setting up the session");
	if (!rc)
		rc = survey(&l, db_prefix ? db_prefix : "");
	if (rc)
		goto out;
	for (i = 0; i < l.ndbs; i++) {
		if (l.dbs[i].exists && l.dbs[i].ntables && !overwrite) {
			rc = mbi_source_error(ctx, src->name, MB_E_EXISTS, 0,
					      "database '%s' exists and has tables: pass --overwrite to replace it or --db-prefix to load beside it",
					      l.dbs[i].target);
			goto out;
		}
	}
	for (i = 0; !rc && i < l.ndbs; i++)
		rc = load_db(&l, &l.dbs[i], overwrite);
	if (rc)
		goto out;
	/* before the triggers and events, which may change the data */
	vrc = verify(&l, m);
	if (vrc && vrc != MB_E_VERIFY) {
		rc = vrc;
		goto out;
	}
	for (i = 0; !rc && i < l.ndbs; i++) {
		if (mysql_select_db(l.my, l.dbs[i].target)) {
			rc = mbi_db_error(ctx, &l.c, l.my,
					  "selecting the database");
			break;
		}
		rc = load_file(&l, &l.dbs[i], MBI_DB_TRIGGERS_FILE, true);
	}
	if (!rc)
		mbi_log(ctx, MB_LOG_INFO,
			"source '%s': %llu files, %llu statements loaded, %llu warnings%s%s",
			src->name, (unsigned long long)l.files,
			(unsigned long long)l.statements,
			(unsigned long long)l.warnings,
			l.first_warning ? ", the first: " : "",
			l.first_warning ? l.first_warning : "");
out:
	free(l.first_warning);
	for (i = 0; i < l.ndbs; i++) {
		free(l.dbs[i].fname);
		free(l.dbs[i].name);
		free(l.dbs[i].target);
	}
	free(l.dbs);
	if (l.my)
		mysql_close(l.my);
	mbi_dbconf_release(&l.c);
	/* a mismatch keeps its message unless loading failed after it */
	return rc ? rc : vrc;
}
