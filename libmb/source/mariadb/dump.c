/* SPDX-License-Identifier: MIT */
/* source/mariadb/dump.c: the mariadb source: a consistent, deterministic SQL dump through Connector/C. */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <mysqld_error.h>
#include <errmsg.h>

#include "banned.h"

#define SPOOL_FLUSH (256U << 10)

/* --------------------------------------------------------------- dump */

enum tkind { T_BASE, T_VIEW, T_SEQUENCE };

struct dtable {
	char *name;
	char *engine;
	enum tkind kind;
	bool nontx;      /* an engine without transactions */
	bool excluded;   /* exclude_tables: definition only */
	bool gone;       /* dropped since it was listed */
	bool done;       /* data dumped already */
};

struct ddb {
	char *name;
	char *fname;     /* encoded for the file system */
	struct dtable *t;
	size_t nt;
};

struct dump {
	struct mb_ctx *ctx;
	const struct mbi_source *src;
	struct mbi_emit *em;
	struct mbi_dbconf c;
	MYSQL *my;
	struct ddb *dbs;
	size_t ndbs;
	int64_t mtime_ns;
	uint64_t tables, rows, bytes;
	bool proc_probed, proc_readable;
};

/* A file being written: the bytes go to an unnamed temporary file (the
 * archive needs the size before the data). */
struct spool {
	struct dump *d;
	int fd;
	uint64_t size;
	struct mbi_buf buf;
};

static int spool_open(struct dump *d, struct spool *s)
{
	const char *dir = d->em->tmpdir ? d->em->tmpdir : "/tmp";

	memset(s, 0, sizeof(*s));
	s->d = d;
	s->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (s->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR ||
			  errno == EINVAL)) {
		char *tmp = mbi_asprintf("%s/mailbackup-dump-XXXXXX", dir);

		if (!tmp)
			return MB_E_NOMEM;
		s->fd = mkostemp(tmp, O_CLOEXEC);
		if (s->fd >= 0)
			unlink(tmp);
		free(tmp);
	}
	if (s->fd < 0)
		return mbi_source_error(d->ctx, d->src->name, MB_E_IO, errno,
					"cannot create a temporary file in '%s'",
					dir);
	return MB_OK;
}

static int spool_flush(struct spool *s)
{
	if (!s->buf.len)
		return MB_OK;
	if (mbi_write_all(s->fd, s->buf.data, s->buf.len))
		return mbi_source_error(s->d->ctx, s->d->src->name, MB_E_IO, errno,
					"cannot write a temporary file in '%s'",

					s->d->em->tmpdir ? s->d->em->tmpdir : "/tmp");
	s->size += s->buf.len;
	s->buf.len = 0;
	return MB_OK;
}

static int spool_flush_cb(void *ud, struct mbi_buf *out)
{
	struct spool *s = ud;

	(void)out;
	return spool_flush(s);
}

static void spool_close(struct spool *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	mbi_buf_release(&s->buf);
}

/* Hand the file to the engine as <db>/<name>. */
static int spool_emit(struct spool *s, const struct ddb *db, const char *name)
{
	struct dump *d = s->d;
	struct mbi_buf path = { 0 };
	int rc;

	rc = spool_flush(s);
	if (rc)
		return rc;
	if (mbi_buf_printf(&path, "%s/%s", db->fname, name)) {
		rc = MB_E_NOMEM;
		goto out;
	}
	rc = d->em->add_file(d->em, path.data, s->fd, s->size, 0600,
			     d->mtime_ns);
	d->bytes += s->size;
out:
	mbi_buf_release(&path);
	return rc;
}

static const char file_session[] =
	"SET NAMES utf8mb4;\n"
	"SET time_zone = '+00:00';\n"
	"SET sql_mode = '" MBI_DB_LOAD_SQL_MODE "';\n"
	"SET foreign_key_checks = 0, unique_checks = 0;\n";

static int file_header(struct mbi_buf *b, const char *what,
		       const char *name, const char *next)
{
	size_t at, i;

	if (mbi_buf_printf(b, "-- mailbackup: %s ", what))
		return MB_E_NOMEM;
	at = b->len;
	if (mbi_sql_ident(b, name))
		return MB_E_NOMEM;
	/* a name is free to hold a line break; a comment is not */
	for (i = at; i < b->len; i++)
		if ((unsigned char)b->data[i] < 0x20)
			b->data[i] = '?';
	if (mbi_buf_printf(b, "\n-- %s\n", next) ||
	    mbi_buf_addstr(b, file_session))
		return MB_E_NOMEM;
	return MB_OK;
}

static int query_store(struct dump *d, const char *sql, const char *what,
		       MYSQL_RES **res)
{
	if (mysql_query(d->my, sql) || !(*res = mysql_store_result(d->my)))
		return mbi_db_error(d->ctx, &d->c, d->my, what);
	return MB_OK;
}

static char *qname(const char *db, const char *t)
{
	struct mbi_buf b = { 0 };

	if (mbi_sql_ident(&b, db) || (t && (mbi_buf_add(&b, ".", 1) ||
					    mbi_sql_ident(&b, t)))) {
		mbi_buf_release(&b);
		return NULL;
	}
	return b.data;
}

static bool excluded(const struct dump *d, const char *db, const char *t)
{
	char *full = mbi_asprintf("%s.%s", db, t);
	bool hit = false;
	size_t i;

	for (i = 0; full && i < d->c.nexclude && !hit; i++)
		hit = !fnmatch(d->c.exclude[i], full, 0);
	free(full);
	return hit;
}

static int cmp_table(const void *a, const void *b)
{
	return strcmp(((const struct dtable *)a)->name,
		      ((const struct dtable *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_databases(struct dump *d)
{
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	char **names = NULL;
	size_t n = 0, i;
	int rc = MB_OK;

	rc = query_store(d, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA",
			 "listing the databases", &res);
	if (rc)
		return rc;
	names = calloc(mysql_num_rows(res) + 1, sizeof(*names));
	if (!names) {
		rc = MB_E_NOMEM;
		goto out;
	}
	while ((row = mysql_fetch_row(res))) {
		if (!row[0])
			continue;
		if (!d->c.ndatabases &&
		    (!strcmp(row[0], "information_schema") ||
		     !strcmp(row[0], "performance_schema") ||
		     !strcmp(row[0], "mysql") || !strcmp(row[0], "sys")))
			continue;
		if (!(names[n++] = strdup(row[0]))) {
			rc = MB_E_NOMEM;
			goto out;
		}
	}
	if (d->c.ndatabases) {
		/* the configured ones, each of which must exist */
		for (i = 0; i < d->c.ndatabases; i++) {
			size_t j;

			for (j = 0; j < n; j++)
				if (!strcmp(names[j], d->c.databases[i]))
					break;
			if (j == n) {
				rc = mbi_source_error(d->ctx, d->src->name, MB_E_DB, 0,
						      "database '%s' not found on the server (or not visible to the user): fix 'databases' or the grants",
						      d->c.databases[i]);
				goto out;
			}
		}
		mbi_strv_free(names, n);
		names = NULL;
		n = d->c.ndatabases;
	} else if (!n) {
		rc = mbi_source_error(d->ctx, d->src->name, MB_E_DB, 0,
				      "the server has no database to back up: set 'databases'");
		goto out;
	}
	d->dbs = calloc(n, sizeof(*d->dbs));
	if (!d->dbs) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (names)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		struct mbi_buf f = { 0 };
		struct ddb *db;
		size_t j;

		for (j = 0; !names && j < i; j++)
			if (!strcmp(d->c.databases[j], d->c.databases[i]))
				break;
		if (!names && j < i)
			continue; /* named twice */
		db = &d->dbs[d->ndbs++];
		db->name = names ? names[i] : strdup(d->c.databases[i]);
		if (names)
			names[i] = NULL;
		if (!db->name || mbi_db_fname_encode(&f, db->name)) {
			rc = MB_E_NOMEM;
			goto out;
		}
		db->fname = f.data;
	}
out:
	mbi_strv_free(names, n);
	if (res)
		mysql_free_result(res);
	return rc;
}

static int list_tables(struct dump *d, struct ddb *db)
{
	struct mbi_buf q = { 0 };
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int rc;

	if (mbi_buf_addstr(&q, "SELECT t.TABLE_NAME, t.TABLE_TYPE, t.ENGINE, "
			   "e.TRANSACTIONS FROM information_schema.TABLES t "
			   "LEFT JOIN information_schema.ENGINES e "
			   "ON e.ENGINE = t.ENGINE WHERE t.TABLE_SCHEMA = ") ||
	    mbi_sql_string(&q, db->name, strlen(db->name))) {
		rc = MB_E_NOMEM;
		goto out;
	}
	rc = query_store(d, q.data, "listing the tables", &res);
	if (rc)
		goto out;
	db->t = calloc(mysql_num_rows(res) + 1, sizeof(*db->t));
	if (!db->t) {
		rc = MB_E_NOMEM;
		goto out;
	}
	while ((row = mysql_fetch_row(res))) {
		struct dtable *t;

		if (!row[0] || !row[1])
			continue;
		t = &db->t[db->nt++];
		t->name = strdup(row[0]);
		t->engine = strdup(row[2] ? row[2] : "");
		if (!t->name || !t->engine) {
			rc = MB_E_NOMEM;
			goto out;
		}
		if (!strcmp(row[1], "VIEW"))
			t->kind = T_VIEW;
		else if (!strcmp(row[1], "SEQUENCE"))
			t->kind = T_SEQUENCE;
		else
			t->kind = T_BASE;
		t->nontx = t->kind == T_BASE && row[3] &&
			   strcmp(row[3], "YES") != 0;
		t->excluded = t->kind == T_BASE &&
			      excluded(d, db->name, t->name);
	}
	/* byte order, so that the output never depends on a collation */
	qsort(db->t, db->nt, sizeof(*db->t), cmp_table);
out:
	if (res)
		mysql_free_result(res);
	mbi_buf_release(&q);
	return rc;
}

/*
 * The non-transactional tables: named in a warning, or (with
 * lock_nontransactional) read under a global read lock taken before the
 * snapshot and released once they are read. A global lock on this very
 * connection, because START TRANSACTION releases table locks, and because
 * table locks held by a second connection deadlock with a writer that
 * queues LOCK TABLES ... WRITE (or DDL) behind them.
 */
static int handle_nontx(struct dump *d, bool *locked)
{
	static const char timeout[] = "SET SESSION lock_wait_timeout = 120";
	static const char ftwrl[] = "FLUSH TABLES WITH READ LOCK";
	struct mbi_buf names = { 0 };
	size_t i, j, n = 0;
	int rc = MB_OK;

	*locked = false;
	for (i = 0; i < d->ndbs; i++) {
		for (j = 0; j < d->dbs[i].nt; j++) {
			struct dtable *t = &d->dbs[i].t[j];

			if (!t->nontx || t->excluded)
				continue;
			if ((n++ && mbi_buf_addstr(&names, ", ")) ||
			    mbi_buf_printf(&names, "'%s.%s' (%s)",
					   d->dbs[i].name, t->name, t->engine)) {
				rc = MB_E_NOMEM;
				goto out;
			}
		}
	}
	if (!n)
		goto out;
	if (!d->c.lock_nontx) {
		mbi_log(d->ctx, MB_LOG_WARNING,
			"source '%s': not transactional, so not in the consistent snapshot: %s; set lock_nontransactional = yes to read them under a read lock",
			d->src->name, names.data);
		goto out;
	}
	mbi_log(d->ctx, MB_LOG_INFO,
		"source '%s': holding a global read lock while reading %s",
		d->src->name, names.data);
	rc = mbi_db_exec(d->ctx, &d->c, d->my, timeout, sizeof(timeout) - 1,
			 "setting lock_wait_timeout");
	if (rc)
		goto out;
	if (mysql_real_query(d->my, ftwrl, sizeof(ftwrl) - 1)) {
		rc = mbi_source_error(d->ctx, d->src->name, MB_E_DB, 0,
				      "FLUSH TABLES WITH READ LOCK failed: %s (%u): lock_nontransactional = yes needs the RELOAD privilege",
				      mysql_error(d->my),
				      mysql_errno(d->my));
		goto out;
	}
	*locked = true;
out:
	mbi_buf_release(&names);
	return rc;
}

struct column {
	char *name;
	bool is_float;
};

static void free_columns(struct column *cols, size_t n)
{
	size_t i;

	for (i = 0; cols && i < n; i++)
		free(cols[i].name);
	free(cols);
}

/* The columns an INSERT names: all but the generated ones (invisible
 * ones included). */
static int table_columns(struct dump *d, const struct ddb *db,
			 const struct dtable *t, struct column **out,
			 size_t *nout, struct mbi_buf *order)
{
	struct mbi_buf q = { 0 };
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	struct column *cols = NULL;
	size_t n = 0;
	int rc;

	if (mbi_buf_addstr(&q, "SELECT COLUMN_NAME, DATA_TYPE, IS_GENERATED "
			   "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ") ||
	    mbi_sql_string(&q, db->name, strlen(db->name)) ||
	    mbi_buf_addstr(&q, " AND TABLE_NAME = ") ||
	    mbi_sql_string(&q, t->name, strlen(t->name)) ||
	    mbi_buf_addstr(&q, " ORDER BY ORDINAL_POSITION")) {
		rc = MB_E_NOMEM;
		goto out;
	}
	rc = query_store(d, q.data, "listing the columns", &res);
	if (rc)
		goto out;
	cols = calloc(mysql_num_rows(res) + 1, sizeof(*cols));
	if (!cols) {
		rc = MB_E_NOMEM;
		goto out;
	}
	while ((row = mysql_fetch_row(res))) {
		if (!row[0] || (row[2] && !strcmp(row[2], "ALWAYS")))
			continue;
		cols[n].is_float = row[1] && !strcmp(row[1], "float");
		if (!(cols[n++].name = strdup(row[0]))) {
			rc = MB_E_NOMEM;
			goto out;
		}
	}
	mysql_free_result(res);
	res = NULL;
	if (!n) {
		rc = mbi_source_error(d->ctx, d->src->name, MB_E_DB, 0,
				      "table '%s.%s' has no columns that can be dumped",
				      db->name, t->name);
		goto out;
	}
	/* the primary key, for a stable order */
	q.len = 0;
	if (mbi_buf_addstr(&q, "SELECT COLUMN_NAME FROM information_schema.STATISTICS "
			   "WHERE INDEX_NAME = 'PRIMARY' AND TABLE_SCHEMA = ") ||
	    mbi_sql_string(&q, db->name, strlen(db->name)) ||
	    mbi_buf_addstr(&q, " AND TABLE_NAME = ") ||
	    mbi_sql_string(&q, t->name, strlen(t->name)) ||
	    mbi_buf_addstr(&q, " ORDER BY SEQ_IN_INDEX")) {
		rc = MB_E_NOMEM;
		goto out;
	}
	rc = query_store(d, q.data, "reading the primary key", &res);
	if (rc)
		goto out;
	while ((row = mysql_fetch_row(res))) {
		if (!row[0])
			continue;
		if (mbi_buf_addstr(order, order->len ? "," : " ORDER BY ") ||
		    mbi_sql_ident(order, row[0])) {
			rc = MB_E_NOMEM;
			goto out;
		}
	}
out:
	if (res)
		mysql_free_result(res);
	mbi_buf_release(&q);
	if (rc) {
		free_columns(cols, n);
		return rc;
	}
	*out = cols;
	*nout = n;
	return MB_OK;
}

static enum mbi_dbval field_kind(const MYSQL_FIELD *f)
{
	switch (f->type) {
	case MYSQL_TYPE_DECIMAL:
	case MYSQL_TYPE_NEWDECIMAL:
	case MYSQL_TYPE_TINY:
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_FLOAT:
	case MYSQL_TYPE_DOUBLE:
	case MYSQL_TYPE_YEAR:
		return MBI_DBV_NUM;
	case MYSQL_TYPE_BIT:
	case MYSQL_TYPE_GEOMETRY:
		return MBI_DBV_HEX;
	case MYSQL_TYPE_STRING:
	case MYSQL_TYPE_VAR_STRING:
	case MYSQL_TYPE_VARCHAR:
	case MYSQL_TYPE_TINY_BLOB:
	case MYSQL_TYPE_MEDIUM_BLOB:
	case MYSQL_TYPE_LONG_BLOB:
	case MYSQL_TYPE_BLOB:
		return f->charsetnr == 63 ? MBI_DBV_HEX : MBI_DBV_STR;
	default:
		return MBI_DBV_STR;
	}
}

static int checksum_table(struct dump *d, const struct ddb *db,
			  const struct dtable *t, char **out)
{
	char *qn = qname(db->name, t->name), *sql = NULL;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int rc;

	if (!qn || !(sql = mbi_asprintf("CHECKSUM TABLE %s EXTENDED", qn))) {
		rc = MB_E_NOMEM;
		goto out;
	}
	rc = query_store(d, sql, "CHECKSUM TABLE", &res);
	if (rc)
		goto out;
	row = mysql_fetch_row(res);
	if (!row || mysql_num_fields(res) < 2 || !row[1]) {
		rc = mbi_source_error(d->ctx, d->src->name, MB_E_DB, 0,
				      "CHECKSUM TABLE '%s.%s' gave no value",
				      db->name, t->name);
		goto out;
	}
	*out = strdup(row[1]);
	rc = *out ? MB_OK : MB_E_NOMEM;
out:
	if (res)
		mysql_free_result(res);
	free(qn);
	free(sql);
	return rc;
}

/* Stream the rows of a table (in the snapshot) into INSERT statements. */
static int dump_rows(struct dump *d, const struct ddb *db,
		     const struct dtable *t, struct spool *s, uint64_t *rows)
{
	struct mbi_buf q = { 0 }, order = { 0 }, what = { 0 };
	struct column *cols = NULL;
	size_t ncols = 0, i;
	const char **names = NULL;
	enum mbi_dbval *kinds = NULL;
	struct mbi_dbrows w;
	MYSQL_RES *res = NULL;
	MYSQL_FIELD *f;
	MYSQL_ROW row;
	int rc;

	memset(&w, 0, sizeof(w));
	rc = table_columns(d, db, t, &cols, &ncols, &order);
	if (rc)
		goto out;
	names = calloc(ncols, sizeof(*names));
	kinds = calloc(ncols, sizeof(*kinds));
	if (!names || !kinds || mbi_buf_addstr(&q, "SELECT /*!40001 SQL_NO_CACHE */ ") ||
	    mbi_buf_printf(&what, "reading table '%s.%s'", db->name, t->name)) {
		rc = MB_E_NOMEM;
		goto out;
	}
	for (i = 0; i < ncols; i++) {
		/* FLOAT prints 6 digits; as DOUBLE it comes back exact */
		names[i] = cols[i].name;
		if ((i && mbi_buf_add(&q, ",", 1)) ||
		    (cols[i].is_float && mbi_buf_addstr(&q, "CAST(")) ||
		    mbi_sql_ident(&q, cols[i].name) ||
		    (cols[i].is_float && mbi_buf_addstr(&q, " AS DOUBLE)"))) {
			rc = MB_E_NOMEM;
			goto out;
		}
	}
	if (mbi_buf_addstr(&q, " FROM ") || mbi_sql_ident(&q, db->name) ||
	    mbi_buf_add(&q, ".", 1) || mbi_sql_ident(&q, t->name) ||
	    (order.len && mbi_buf_add(&q, order.data, order.len))) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (mysql_real_query(d->my, q.data, q.len) ||
	    !(res = mysql_use_result(d->my))) {
		rc = mbi_db_error(d->ctx, &d->c, d->my, what.data);
		goto out;
	}
	f = mysql_fetch_fields(res);
	if (mysql_num_fields(res) != ncols) {
		rc = mbi_source_error(d->ctx, d->src->name, MB_E_DB, 0,
				      "table '%s.%s' changed while it was read",
				      db->name, t->name);
		goto out;
	}
	for (i = 0; i < ncols; i++)
		kinds[i] = field_kind(&f[i]);
	rc = mbi_dbrows_init(&w, t->name, names, kinds, ncols,
			     d->c.max_stmt, &s->buf);
	if (rc)
		goto out;
	w.flush = spool_flush_cb;
	w.flush_ud = s;
	w.flush_at = SPOOL_FLUSH;
	while ((row = mysql_fetch_row(res))) {
		rc = mbi_dbrows_add(&w, row, mysql_fetch_lengths(res));
		if (rc)
			goto out;
	}
	if (mysql_errno(d->my)) {
		rc = mbi_db_error(d->ctx, &d->c, d->my, what.data);
		goto out;
	}
	rc = mbi_dbrows_finish(&w);
	*rows = w.rows;
out:
	if (res)
		mysql_free_result(res);
	mbi_dbrows_release(&w);
	free_columns(cols, ncols);
	free(names);
	free(kinds);
	mbi_buf_release(&q);
	mbi_buf_release(&order);
	mbi_buf_release(&what);
	return rc;
}

static int dump_sequence(struct dump *d, const struct ddb *db,
			 const struct dtable *t, struct spool *s)
{
	char *qn = qname(db->name, t->name), *sql = NULL;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int rc;

	if (!qn || !(sql = mbi_asprintf("SELECT next_not_cached_value FROM %s",
					qn))) {
		rc = MB_E_NOMEM;
		goto out;
	}
	rc = query_store(d, sql, "reading a sequence", &res);
	if (rc)
		goto out;
	row = mysql_fetch_row(res);
	if (row && row[0] && mbi_sql_is_number(row[0], strlen(row[0])) &&
	    (mbi_buf_addstr(&s->buf, "DO SETVAL(") ||
	     mbi_sql_ident(&s->buf, t->name) ||
	     mbi_buf_printf(&s->buf, ", %s, 0);\n", row[0])))
		rc = MB_E_NOMEM;
out:
	if (res)
		mysql_free_result(res);
	free(qn);
	free(sql);
	return rc;
}

static int dump_table(struct dump *d, struct ddb *db, struct dtable *t)
{
	struct spool s;
	struct mbi_buf fname = { 0 };
	char *checksum = NULL;
	uint64_t rows = 0;
	int rc;

	if (t->done || t->gone || t->excluded || t->kind == T_VIEW)
		return MB_OK;
	rc = spool_open(d, &s);
	if (rc)
		return rc;
	rc = file_header(&s.buf, t->kind == T_SEQUENCE ? "value of sequence" :
			 "rows of table", t->name,
			 "load after _schema.sql, into the database it belongs to");
	if (rc)
		goto out;
	if (t->kind == T_SEQUENCE) {
		rc = dump_sequence(d, db, t, &s);
	} else {
		rc = dump_rows(d, db, t, &s, &rows);
		if (!rc)
			rc = checksum_table(d, db, t, &checksum);
	}
	if (rc)
		goto out;
	if (mbi_db_fname_encode(&fname, t->name) ||
	    mbi_buf_addstr(&fname, ".sql")) {
		rc = MB_E_NOMEM;
		goto out;
	}
	rc = spool_emit(&s, db, fname.data);
	if (!rc && checksum)
		rc = d->em->add_db(d->em, db->name, t->name, rows, checksum);
	if (!rc) {
		mbi_log(d->ctx, MB_LOG_INFO,
			"source '%s': '%s.%s': %llu rows, %llu bytes of SQL",
			d->src->name, db->name, t->name,
			(unsigned long long)rows, (unsigned long long)s.size);
		d->tables++;
		d->rows += rows;
	}
	t->done = true;
out:
	free(checksum);
	mbi_buf_release(&fname);
	spool_close(&s);
	return rc;
}

/* SHOW CREATE ... of one object: the row, or NULL when the object is
 * gone (dropped since it was listed). */
static int show_create(struct dump *d, const char *kind, const char *db,
		       const char *name, MYSQL_RES **res, MYSQL_ROW *row)
{
	char *qn = qname(db, name), *sql = NULL;
	int rc = MB_OK;

	*res = NULL;
	*row = NULL;
	if (!qn || !(sql = mbi_asprintf("SHOW CREATE %s %s", kind, qn))) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (mysql_query(d->my, sql) || !(*res = mysql_store_result(d->my))) {
		unsigned int e = mysql_errno(d->my);

		if (e == ER_NO_SUCH_TABLE || e == ER_SP_DOES_NOT_EXIST ||
		    e == ER_TRG_DOES_NOT_EXIST || e == ER_EVENT_DOES_NOT_EXIST) {
			mbi_log(d->ctx, MB_LOG_WARNING,
				"source '%s': %s '%s.%s' was dropped during the backup: left out",
				d->src->name, kind, db, name);
			goto out;
		}
		rc = mbi_source_error(d->ctx, d->src->name, MB_E_DB, 0,
				      "SHOW CREATE %s '%s.%s' failed: %s (%u)",
				      kind, db, name, mysql_error(d->my),
				      e);
		goto out;
	}
	*row = mysql_fetch_row(*res);
out:
	free(qn);
	free(sql);
	return rc;
}

/* A delimiter that the statement does not contain. */
static const char *pick_delimiter(const char *stmt)
{
	static const char *const cands[] = {
		";;", "$$", "//", ";;;;", "$$$$", "////", "@@mb@@"
	};
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(cands); i++)
		if (!strstr(stmt, cands[i]))
			return cands[i];
	return NULL;
}

/*
 * A stored program (routine, trigger, event) with its own sql_mode,
 * collation_connection and, for events, time zone; restores the file's
 * session after.
 */
static int add_program(struct dump *d, struct mbi_buf *b, const char *kind,
		       const char *db, const char *name, const char *stmt,
		       const char *sql_mode, const char *collation,
		       const char *tz)
{
	const char *delim;

	if (!stmt)
		return mbi_source_error(d->ctx, d->src->name, MB_E_DB, 0,
					"cannot read the definition of %s '%s.%s': grant the backup user SELECT on mysql.proc (routines), TRIGGER or EVENT",
					kind, db, name);
	delim = pick_delimiter(stmt);
	if (!delim)
		return mbi_source_error(d->ctx, d->src->name, MB_E_DB, 0,
					"no delimiter fits the definition of %s '%s.%s'",
					kind, db, name);
	if (mbi_buf_addstr(b, "SET sql_mode = ") ||
	    mbi_sql_string(b, sql_mode ? sql_mode : "",
			   sql_mode ? strlen(sql_mode) : 0) ||
	    (collation && (mbi_buf_addstr(b, ", collation_connection = ") ||
			   mbi_sql_string(b, collation, strlen(collation)))) ||
	    (tz && (mbi_buf_addstr(b, ", time_zone = ") ||
		    mbi_sql_string(b, tz, strlen(tz)))) ||
	    mbi_buf_printf(b, ";\nDELIMITER %s\n%s\n%s\nDELIMITER ;\n", delim,
			   stmt, delim) ||
	    mbi_buf_addstr(b, "SET NAMES utf8mb4;\n"
			   "SET sql_mode = '" MBI_DB_LOAD_SQL_MODE "', "
			   "time_zone = '+00:00';\n\n"))
		return MB_E_NOMEM;
	return MB_OK;
}

/* The view text without the qualifier of its own database, so that it
 * loads into a database of another name: `db`.`t` -> `t`. Strings and
 * other names are left as they are. */
static int unqualify(struct mbi_buf *b, const char *text, const char *db)
{
	struct mbi_buf self = { 0 };
	const char *p = text, *run = text;
	int rc = MB_E_NOMEM;

	if (mbi_sql_ident(&self, db) || mbi_buf_add(&self, ".", 1))
		goto out;
	while (*p) {
		if (*p == '\'' || *p == '"') {
			char q = *p++;

			while (*p && *p != q)
				p += (*p == '\\' && p[1]) ? 2 : 1;
			if (*p)
				p++;
		} else if (*p == '`') {
			if (!strncmp(p, self.data, self.len) &&
			    p[self.len] == '`') {
				if (mbi_buf_add(b, run, (size_t)(p - run)))
					goto out;
				p += self.len;
				run = p;
				continue;
			}
			p++;
			while (*p && !(*p == '`' && p[1] != '`'))
				p += *p == '`' ? 2 : 1;
			if (*p)
				p++;
		} else {
			p++;
		}
	}
	rc = mbi_buf_addstr(b, run);
out:
	mbi_buf_release(&self);
	return rc;
}

/* A view that no longer works (a table it reads was dropped) cannot be
 * created again: it is left out, with a warning. A view that only this
 * user may not run (a routine it calls) is fine. */
static int view_is_valid(struct dump *d, const struct ddb *db,
			 const struct dtable *t, bool *valid)
{
	char *qn = qname(db->name, t->name), *sql = NULL;
	MYSQL_RES *res;
	int rc = MB_OK;

	*valid = true;
	if (!qn || !(sql = mbi_asprintf("SHOW COLUMNS FROM %s", qn))) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (!mysql_query(d->my, sql) && (res = mysql_store_result(d->my))) {
		mysql_free_result(res);
		goto out;
	}
	switch (mysql_errno(d->my)) {
	case ER_VIEW_INVALID:
		*valid = false;
		mbi_warn(d->ctx, "source '%s': view '%s.%s' is invalid and is left out: %s",
			 d->src->name, db->name, t->name, mysql_error(d->my));
		break;
	case CR_SERVER_LOST:
	case CR_SERVER_GONE_ERROR:
		rc = mbi_db_error(d->ctx, &d->c, d->my, "reading a view");
		break;
	default:
		break;
	}
out:
	free(qn);
	free(sql);
	return rc;
}

struct view {
	const char *name;
	char *text;       /* CREATE ... VIEW, without our database's qualifier */
	char *collation;
	bool done;
};

/* Whether the definition of a reads view b: `b` as a table, not after AS
 * (an alias) or a dot (a column). */
static bool view_uses(const struct view *a, const struct view *b)
{
	struct mbi_buf q = { 0 };
	const char *p;
	bool uses = false;

	if (a == b || mbi_sql_ident(&q, b->name))
		goto out;
	for (p = strstr(a->text, q.data); p && !uses;
	     p = strstr(p + 1, q.data)) {
		const char *s = p;

		while (s > a->text && s[-1] == ' ')
			s--;
		uses = !(s > a->text && s[-1] == '.') &&
		       !(s - a->text >= 2 && !strncasecmp(s - 2, "AS", 2));
	}
out:
	mbi_buf_release(&q);
	return uses;
}

/* Views after the views they read, so that each can be created in turn. */
static int schema_views(struct dump *d, struct ddb *db, struct mbi_buf *b)
{
	struct view *v = calloc(db->nt + 1, sizeof(*v));
	size_t i, j, n = 0, left;
	bool force = false;
	int rc = MB_OK;

	if (!v)
		return MB_E_NOMEM;
	for (i = 0; i < db->nt && !rc; i++) {
		struct dtable *t = &db->t[i];
		struct mbi_buf text = { 0 };
		MYSQL_RES *res;
		MYSQL_ROW row;
		bool valid;

		if (t->kind != T_VIEW)
			continue;
		rc = show_create(d, "VIEW", db->name, t->name, &res, &row);
		if (!rc && row && !(row[1] && !strncmp(row[1], "CREATE ", 7)))
			rc = mbi_source_error(d->ctx, d->src->name, MB_E_DB, 0,
					      "cannot read the definition of view '%s.%s': grant the backup user SHOW VIEW",
					      db->name, t->name);
		if (!rc && row)
			rc = view_is_valid(d, db, t, &valid);
		if (!rc && row && valid) {
			v[n].name = t->name;
			v[n].collation = strdup(row[3] ? row[3] : "utf8mb4_general_ci");
			if (unqualify(&text, row[1], db->name) || !v[n].collation)
				rc = MB_E_NOMEM;
			v[n++].text = text.data;
		}
		if (res)
			mysql_free_result(res);
	}
	for (left = n; !rc && left; ) {
		size_t emitted = 0;

		for (i = 0; i < n && !rc; i++) {
			bool ready = !v[i].done;

			for (j = 0; j < n && ready && !force; j++)
				ready = v[j].done || !view_uses(&v[i], &v[j]);
			if (!ready)
				continue;
			if (mbi_buf_addstr(b, "SET collation_connection = ") ||
			    mbi_sql_string(b, v[i].collation,
					   strlen(v[i].collation)) ||
			    mbi_buf_printf(b, ";\n%s;\nSET NAMES utf8mb4;\n\n",
					   v[i].text))
				rc = MB_E_NOMEM;
			v[i].done = true;
			left--;
			emitted++;
			force = false;
		}
		/* a loop (there should be none): the next one by name */
		force = !emitted;
	}
	for (i = 0; i < n; i++) {
		free(v[i].text);
		free(v[i].collation);
	}
	free(v);
	return rc;
}

/* Names of the objects of a kind in db, in byte order. */
static int list_objects(struct dump *d, const char *sql_head, const char *db,
			const char *sql_tail, char ***out, size_t *nout)
{
	struct mbi_buf q = { 0 };
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	char **v = NULL;
	size_t n = 0;
	int rc;

	if (mbi_buf_addstr(&q, sql_head) || mbi_sql_string(&q, db, strlen(db)) ||
	    mbi_buf_addstr(&q, sql_tail)) {
		rc = MB_E_NOMEM;
		goto out;
	}
	rc = query_store(d, q.data, "listing stored programs", &res);
	if (rc)
		goto out;
	v = calloc(mysql_num_rows(res) + 1, sizeof(*v));
	if (!v) {
		rc = MB_E_NOMEM;
		goto out;
	}
	while ((row = mysql_fetch_row(res))) {
		if (!row[0])
			continue;
		if (!(v[n++] = mbi_asprintf("%s%s%s", row[1] ? row[1] : "",
					    row[1] ? " " : "", row[0]))) {
			rc = MB_E_NOMEM;
			goto out;
		}
	}
out:
	if (res)
		mysql_free_result(res);
	mbi_buf_release(&q);
	if (rc) {
		mbi_strv_free(v, n);
		return rc;
	}
	*out = v;
	*nout = n;
	return MB_OK;
}

static int schema_routines(struct dump *d, struct ddb *db, struct mbi_buf *b)
{
	char **v = NULL;
	size_t n = 0, i;
	int rc;

	/* information_schema hides the routines the user has no rights on;
	 * mysql.proc (MariaDB) lists them all */
	if (!d->proc_probed) {
		static const char probe[] = "SELECT 1 FROM mysql.proc LIMIT 0";
		MYSQL_RES *res;

		d->proc_probed = true;
		if (!mysql_real_query(d->my, probe, sizeof(probe) - 1) &&
		    (res = mysql_store_result(d->my))) {
			mysql_free_result(res);
			d->proc_readable = true;
		} else if (mysql_errno(d->my) == ER_TABLEACCESS_DENIED_ERROR) {
			mbi_log(d->ctx, MB_LOG_WARNING,
				"source '%s': cannot read mysql.proc, so stored routines the user has no rights on are not seen: grant it SELECT ON mysql.proc",
				d->src->name);
		}
	}
	if (d->proc_readable)
		rc = list_objects(d, "SELECT name, type FROM mysql.proc WHERE db = ",
				  db->name, " AND type IN ('FUNCTION', 'PROCEDURE')",
				  &v, &n);
	else
		rc = list_objects(d, "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM "
				  "information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ",
				  db->name, " AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE')",
				  &v, &n);
	if (rc)
		return rc;
	/* "FUNCTION name", "PROCEDURE name": functions first, as views may
	 * call them */
	qsort(v, n, sizeof(*v), cmp_str);
	for (i = 0; i < n && !rc; i++) {
		char *kind = v[i], *name = strchr(v[i], ' ');
		MYSQL_RES *res;
		MYSQL_ROW row;

		*name++ = '\0';
		rc = show_create(d, kind, db->name, name, &res, &row);
		if (!rc && row)
			rc = add_program(d, b, kind, db->name, name, row[2],
					 row[1], row[4], NULL);
		if (res)
			mysql_free_result(res);
	}
	mbi_strv_free(v, n);
	return rc;
}

static int dump_schema(struct dump *d, struct ddb *db)
{
	struct spool s;
	struct mbi_buf q = { 0 };
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	size_t i;
	int rc;

	rc = spool_open(d, &s);
	if (rc)
		return rc;
	rc = file_header(&s.buf, "schema of database", db->name,
			 "load order: _schema.sql, each table's .sql, _triggers.sql; into an empty database");
	if (rc)
		goto out;
	if (mbi_buf_addstr(&q, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
			   "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ") ||
	    mbi_sql_string(&q, db->name, strlen(db->name))) {
		rc = MB_E_NOMEM;
		goto out;
	}
	rc = mbi_db_query_row(d->ctx, &d->c, d->my, q.data,
			      "reading the database's character set", &res,
			      &row);
	if (rc)
		goto out;
	if (row && row[0] && row[1] &&
	    mbi_buf_printf(&s.buf, "ALTER DATABASE CHARACTER SET %s COLLATE %s;\n",
			   row[0], row[1])) {
		rc = MB_E_NOMEM;
		goto out;
	}
	mysql_free_result(res);
	res = NULL;
	if (mbi_buf_add(&s.buf, "\n", 1)) {
		rc = MB_E_NOMEM;
		goto out;
	}
	/* tables, then sequences */
	for (i = 0; i < 2 * db->nt; i++) {
		struct dtable *t = &db->t[i % db->nt];

		if (t->kind != (i < db->nt ? T_BASE : T_SEQUENCE))
			continue;
		rc = show_create(d, "TABLE", db->name, t->name, &res, &row);
		if (rc)
			goto out;
		if (!row || !row[1]) {
			t->gone = true;
		} else if (mbi_buf_addstr(&s.buf, row[1]) ||
			   mbi_buf_addstr(&s.buf, ";\n\n")) {
			rc = MB_E_NOMEM;
			goto out;
		}
		if (res)
			mysql_free_result(res);
		res = NULL;
	}
	rc = schema_routines(d, db, &s.buf);
	if (!rc)
		rc = schema_views(d, db, &s.buf);
	if (!rc)
		rc = spool_emit(&s, db, MBI_DB_SCHEMA_FILE);
out:
	if (res)
		mysql_free_result(res);
	mbi_buf_release(&q);
	spool_close(&s);
	return rc;
}

static int dump_triggers(struct dump *d, struct ddb *db)
{
	struct spool s;
	char **v = NULL;
	size_t n = 0, i;
	int rc;

	rc = spool_open(d, &s);
	if (rc)
		return rc;
	rc = file_header(&s.buf, "triggers and events of database", db->name,
			 "load after the data");
	if (rc)
		goto out;
	rc = list_objects(d, "SELECT TRIGGER_NAME, NULL FROM information_schema.TRIGGERS "
			  "WHERE TRIGGER_SCHEMA = ", db->name,
			  " ORDER BY BINARY EVENT_OBJECT_TABLE, ACTION_TIMING, "
			  "EVENT_MANIPULATION, ACTION_ORDER", &v, &n);
	for (i = 0; !rc && i < n; i++) {
		MYSQL_RES *res;
		MYSQL_ROW row;

		rc = show_create(d, "TRIGGER", db->name, v[i], &res, &row);
		if (!rc && row)
			rc = add_program(d, &s.buf, "trigger", db->name, v[i],
					 row[2], row[1], row[4], NULL);
		if (res)
			mysql_free_result(res);
	}
	mbi_strv_free(v, n);
	v = NULL;
	n = 0;
	if (!rc)
		rc = list_objects(d, "SELECT EVENT_NAME, NULL FROM information_schema.EVENTS "
				  "WHERE EVENT_SCHEMA = ", db->name, "", &v, &n);
	if (!rc)
		qsort(v, n, sizeof(*v), cmp_str);
	for (i = 0; !rc && i < n; i++) {
		MYSQL_RES *res;
		MYSQL_ROW row;

		rc = show_create(d, "EVENT", db->name, v[i], &res, &row);
		if (!rc && row)
			rc = add_program(d, &s.buf, "event", db->name, v[i],
					 row[3], row[1], row[5], row[2]);
		if (res)
			mysql_free_result(res);
	}
	if (!rc)
		rc = spool_emit(&s, db, MBI_DB_TRIGGERS_FILE);
out:
	mbi_strv_free(v, n);
	spool_close(&s);
	return rc;
}

static int record_server(struct dump *d)
{
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	char *file = NULL, *pos = NULL, *both = NULL;
	int rc;

	rc = d->em->add_meta(d->em, "server_version",
			     mysql_get_server_info(d->my));
	if (rc)
		return rc;
	/* the binlog position of the snapshot, when there is a binlog */
	rc = query_store(d, "SHOW STATUS LIKE 'binlog_snapshot_%'",
			 "reading the binlog position", &res);
	if (rc)
		return rc;
	while ((row = mysql_fetch_row(res))) {
		if (!row[0] || !row[1] || !*row[1])
			continue;
		if (!strcmp(row[0], "Binlog_snapshot_file"))
			file = row[1];
		else if (!strcmp(row[0], "Binlog_snapshot_position"))
			pos = row[1];
	}
	if (file && pos) {
		both = mbi_asprintf("%s:%s", file, pos);
		rc = both ? d->em->add_meta(d->em, "binlog_snapshot", both) :
			    MB_E_NOMEM;
	}
	free(both);
	mysql_free_result(res);
	return rc;
}

static void dump_release(struct dump *d)
{
	size_t i, j;

	for (i = 0; i < d->ndbs; i++) {
		for (j = 0; j < d->dbs[i].nt; j++) {
			free(d->dbs[i].t[j].name);
			free(d->dbs[i].t[j].engine);
		}
		free(d->dbs[i].t);
		free(d->dbs[i].name);
		free(d->dbs[i].fname);
	}
	free(d->dbs);
	if (d->my)
		mysql_close(d->my);
	mbi_dbconf_release(&d->c);
}

int mbi_dbdump_source(struct mb_ctx *ctx, const struct mbi_source *src,
		      struct mbi_emit *em)
{
	static const char begin[] =
		"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ";
	static const char snapshot[] =
		"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";
	struct dump d;
	struct timespec ts;
	double t0 = mbi_now();
	bool locked = false;
	size_t i, j;
	int rc;

	memset(&d, 0, sizeof(d));
	d.ctx = ctx;
	d.src = src;
	d.em = em;
	clock_gettime(CLOCK_REALTIME, &ts);
	d.mtime_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	rc = mbi_dbconf_init(ctx, src, &d.c);
	if (rc)
		return rc;
	rc = mbi_db_connect(ctx, &d.c, &d.my);
	if (rc)
		goto out;
	rc = mbi_db_exec(ctx, &d.c, d.my, begin, sizeof(begin) - 1,
			 "setting the isolation level");
	if (!rc)
		rc = list_databases(&d);
	for (i = 0; !rc && i < d.ndbs; i++)
		rc = list_tables(&d, &d.dbs[i]);
	if (!rc)
		rc = handle_nontx(&d, &locked);
	if (!rc)
		rc = mbi_db_exec(ctx, &d.c, d.my, snapshot, sizeof(snapshot) - 1,
				 "starting the consistent snapshot");
	if (!rc)
		rc = record_server(&d);
	if (rc)
		goto out;
	if (locked) {
		/* the non-transactional tables first, then let writers go on */
		for (i = 0; !rc && i < d.ndbs; i++)
			for (j = 0; !rc && j < d.dbs[i].nt; j++)
				if (d.dbs[i].t[j].nontx)
					rc = dump_table(&d, &d.dbs[i],
							&d.dbs[i].t[j]);
		if (!rc)
			rc = mbi_db_exec(ctx, &d.c, d.my, "UNLOCK TABLES", 13,
					 "releasing the read lock");
		if (!rc)
			rc = mbi_db_exec(ctx, &d.c, d.my,
					 "SET SESSION lock_wait_timeout = DEFAULT",
					 39, "resetting lock_wait_timeout");
		if (rc)
			goto out;
	}
	for (i = 0; !rc && i < d.ndbs; i++) {
		rc = dump_schema(&d, &d.dbs[i]);
		for (j = 0; !rc && j < d.dbs[i].nt; j++)
			rc = dump_table(&d, &d.dbs[i], &d.dbs[i].t[j]);
		if (!rc)
			rc = dump_triggers(&d, &d.dbs[i]);
	}
	if (!rc)
		rc = mbi_db_exec(ctx, &d.c, d.my, "COMMIT", 6,
				 "ending the snapshot");
	if (!rc)
		mbi_log(ctx, MB_LOG_INFO,
			"source '%s': %zu databases, %llu tables, %llu rows, %llu bytes of SQL in %.1f s",
			src->name, d.ndbs, (unsigned long long)d.tables,
			(unsigned long long)d.rows, (unsigned long long)d.bytes,
			mbi_now() - t0);
out:
	dump_release(&d);
	return rc;
}
