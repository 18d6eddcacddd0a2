/* SPDX-License-Identifier: MIT */
/* source/mariadb/db.h: the internals of the mariadb source: settings and connection, SQL text, dump and load. */
#ifndef MB_DB_H
#define MB_DB_H

#include "mb-private.h"

#include <mysql.h>

/*
 * The dump of one database is a directory of SQL files, all loadable with
 * the plain mariadb client in this order:
 *   <db>/_schema.sql    tables, sequences, functions, procedures, views
 *   <db>/<table>.sql    the rows of one table (or a sequence's value)
 *   <db>/_triggers.sql  triggers and events, created after the data
 * Names are encoded for the file system by mbi_db_fname_encode(), which
 * never starts a name with '_': names beginning with '_' are ours. Each
 * file sets its session first (utf8mb4, time zone +00:00, sql_mode, no
 * foreign key or unique checks), so
 *   cat _schema.sql [!_]*.sql _triggers.sql | mariadb DB
 * loads a database. Views come in the order they use each other, without
 * the name of the dumped database, so the files load into any database.
 * mbi_dbload_source() compares the rows and checksums with the manifest
 * before _triggers.sql: an event scheduled at creation must not change
 * the data it checks.
 */
#define MBI_DB_SCHEMA_FILE "_schema.sql"
#define MBI_DB_TRIGGERS_FILE "_triggers.sql"

/* The session every file sets up, and the loader too. */
#define MBI_DB_LOAD_SQL_MODE "NO_AUTO_VALUE_ON_ZERO"

#define MBI_DB_MAX_STMT_DEFAULT (1U << 20)
#define MBI_DB_MAX_STMT_MIN (4U << 10)
#define MBI_DB_MAX_STMT_MAX (16U << 20)

enum mbi_db_tls {
	MBI_DB_TLS_NO = 0,
	MBI_DB_TLS_YES,        /* required, certificate and name verified */
	MBI_DB_TLS_UNVERIFIED, /* required, nothing checked (tls_ca unused) */
};

/* The settings of a [source NAME] of type mariadb. */
struct mbi_dbconf {
	const char *source;
	const char *host, *socket, *user;
	unsigned int port;
	char *password;              /* owned; wiped by release */
	enum mbi_db_tls tls;
	const char *tls_ca, *tls_cert, *tls_key;
	char **databases;            /* none: every database but the system ones */
	size_t ndatabases;
	char **exclude;              /* fnmatch patterns on "db.table" */
	size_t nexclude;
	bool lock_nontx;
	size_t max_stmt;             /* longest statement written */
};

MBI_HIDDEN int mbi_dbconf_init(struct mb_ctx *ctx,
			       const struct mbi_source *src,
			       struct mbi_dbconf *c);
MBI_HIDDEN void mbi_dbconf_release(struct mbi_dbconf *c);
/* Connect and set the session up (utf8mb4, time zone +00:00). */
MBI_HIDDEN int mbi_db_connect(struct mb_ctx *ctx, const struct mbi_dbconf *c,
			      MYSQL **out);
/* Record the server's error about what (a phrase: "reading 'db.t'"). */
MBI_HIDDEN int mbi_db_error(struct mb_ctx *ctx, const struct mbi_dbconf *c,
			    MYSQL *my, const char *what);
/* Run a statement and throw its results away: 0, or -1 with the error in
 * mysql_error(my). */
MBI_HIDDEN int mbi_db_run(MYSQL *my, const char *sql, size_t len);
/* The same, recording the server's error about what. */
MBI_HIDDEN int mbi_db_exec(struct mb_ctx *ctx, const struct mbi_dbconf *c,
			   MYSQL *my, const char *sql, size_t len,
			   const char *what);
/* Run a query whose answer is one row; *row and *res are the caller's
 * (mysql_free_result); *row is NULL when there is no row. */
MBI_HIDDEN int mbi_db_query_row(struct mb_ctx *ctx,
				const struct mbi_dbconf *c, MYSQL *my,
				const char *sql, const char *what,
				MYSQL_RES **res, MYSQL_ROW *row);

/* ------------------------------------------------------ SQL text (sql.c) */

/* `name`, with ` doubled. */
MBI_HIDDEN int mbi_sql_ident(struct mbi_buf *b, const char *name);
/* 'text', with \0 \n \r \\ \' \Z escaped (sql_mode without
 * NO_BACKSLASH_ESCAPES, which every file sets). */
MBI_HIDDEN int mbi_sql_string(struct mbi_buf *b, const char *s, size_t n);
/* X'hex' (X'' when empty). */
MBI_HIDDEN int mbi_sql_hex(struct mbi_buf *b, const void *p, size_t n);
/* Digits, sign, point and exponent only: safe to write unquoted. */
MBI_HIDDEN bool mbi_sql_is_number(const char *v, size_t n);

/* A database or table name as a file name: letters, digits, '-', '.', '_'
 * and bytes of UTF-8 sequences stay; others (and a leading '.' or '_')
 * become @xx. */
MBI_HIDDEN int mbi_db_fname_encode(struct mbi_buf *b, const char *name);
/* The reverse; NULL on a malformed name. Caller frees. */
MBI_HIDDEN char *mbi_db_fname_decode(const char *fname);

/* How a column's values are written. */
enum mbi_dbval {
	MBI_DBV_NUM = 0, /* as the server printed it (numbers) */
	MBI_DBV_STR,     /* a quoted string */
	MBI_DBV_HEX,     /* a hex literal: binary strings, BIT, GEOMETRY */
};

/*
 * Writes the rows of one table as INSERT statements of at most max_stmt
 * bytes each. A row that does not fit in one statement is built in user
 * variables first (SET @mb_cN = ..., then CONCAT(@mb_cN, ...)) so that no
 * statement exceeds the bound, whatever the size of a value.
 */
struct mbi_dbrows {
	struct mbi_buf *out;        /* statements are appended here */
	/* Called between statements when out holds more than flush_at
	 * bytes (optional). */
	int (*flush)(void *ud, struct mbi_buf *out);
	void *flush_ud;
	size_t flush_at;
	size_t max_stmt;
	size_t ncols;
	const enum mbi_dbval *kinds;
	struct mbi_buf head;        /* INSERT INTO `t` (`a`,`b`) VALUES\n */
	struct mbi_buf stmt;        /* the statement being filled */
	struct mbi_buf row;
	size_t stmt_rows;
	uint64_t rows;
};

MBI_HIDDEN int mbi_dbrows_init(struct mbi_dbrows *r, const char *table,
			       const char *const *cols,
			       const enum mbi_dbval *kinds,
			       size_t ncols, size_t max_stmt,
			       struct mbi_buf *out);
/* One row: vals[i] is NULL for SQL NULL, else lens[i] bytes. */
MBI_HIDDEN int mbi_dbrows_add(struct mbi_dbrows *r, char **vals,
			      const unsigned long *lens);
/* Write the statement being filled. */
MBI_HIDDEN int mbi_dbrows_finish(struct mbi_dbrows *r);
MBI_HIDDEN void mbi_dbrows_release(struct mbi_dbrows *r);

/* ---------------------------------------------------- statement reader */

/*
 * Splits a file of SQL into statements the way the mariadb client does:
 * the delimiter (';', or what a DELIMITER line sets) ends a statement
 * outside quotes and comments; comments before a statement are dropped.
 */
struct mbi_sqlreader {
	int fd;                 /* -1: the buffer is all there is */
	struct mbi_buf buf;
	size_t start;           /* where the current statement begins */
	size_t scan;            /* how far it has been scanned */
	int state;
	bool eof;
	bool in_stmt;
	char delim[16];
	size_t dlen;
	uint64_t line;          /* line being scanned (from 1) */
	uint64_t stmt_line;     /* line where the last statement began */
	size_t max;             /* longest statement accepted */
	const char *err;        /* what was wrong, on MB_E_INVAL */
};

MBI_HIDDEN void mbi_sqlreader_init(struct mbi_sqlreader *r, int fd);
/* Read from memory instead (copied). */
MBI_HIDDEN int mbi_sqlreader_init_mem(struct mbi_sqlreader *r, const char *p,
				      size_t n);
/* 1 and the next statement (NUL-terminated, without its delimiter, valid
 * until the next call), 0 at the end, MB_E_IO (errno set) or MB_E_INVAL
 * (r->err says why). */
MBI_HIDDEN int mbi_sqlreader_next(struct mbi_sqlreader *r, char **stmt,
				  size_t *len);
MBI_HIDDEN void mbi_sqlreader_release(struct mbi_sqlreader *r);

#endif
