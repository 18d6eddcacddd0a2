/* SPDX-License-Identifier: MIT */
/* source/mariadb/conn.c: the settings of a mariadb source and the connection to its server. */
#include "db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mysqld_error.h>
#include <errmsg.h>

#include "env.h"
#include "banned.h"

#define DEFAULT_SOCKET "/run/mysqld/mysqld.sock"

/* ----------------------------------------------------------- settings */

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") ||
	    !strcmp(v, "1")) {
		*out = true;
		return MB_OK;
	}
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") ||
	    !strcmp(v, "0")) {
		*out = false;
		return MB_OK;
	}
	return MB_E_INVAL;
}

/* A file holding a secret must not be open to others. */
static int check_secret_file(struct mb_ctx *ctx, const char *source,
			     const char *path, const char *what)
{
	struct stat st;

	if (stat(path, &st))
		return MB_OK; /* a configuration from memory */
	if (st.st_mode & (S_IROTH | S_IWOTH))
		return mbi_source_error(ctx, source, MB_E_CONFIG, 0,
					"%s '%s' is readable or writable by others: chmod 600 it",
					what, path);
	return MB_OK;
}

static int read_password_file(struct mb_ctx *ctx, const char *source,
			      const char *path, char **out)
{
	struct mbi_buf b = { 0 };
	int rc;

	rc = check_secret_file(ctx, source, path, "password_file");
	if (rc)
		return rc;
	rc = mbi_read_file(ctx, path, &b, 4096);
	if (rc)
		return mbi_source_error_prefix(ctx, source,
					       rc == MB_E_NOTFOUND ?
					       MB_E_CONFIG : rc,
					       "password_file");
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = '\0';
	if (!b.len || memchr(b.data, '\0', b.len)) {
		if (b.data)
			explicit_bzero(b.data, b.cap);
		mbi_buf_release(&b);
		return mbi_source_error(ctx, source, MB_E_CONFIG, 0,
					"password_file '%s' is empty or not text",
					path);
	}
	*out = b.data;
	return MB_OK;
}

static int load_password(struct mb_ctx *ctx, const struct mbi_source *src,
			 struct mbi_dbconf *c)
{
	const char *pw = mbi_section_get(src->sec, "password");
	const char *file = mbi_section_get(src->sec, "password_file");
	const char *env = mbi_getenv("MAILBACKUP_DB_PASSWORD");
	int rc;

	if (pw && file)
		return mbi_source_error(ctx, src->name, MB_E_CONFIG, 0,
					"set either 'password' or 'password_file', not both");
	if (pw) {
		if (ctx->cfg && ctx->cfg->file) {
			rc = check_secret_file(ctx, src->name, ctx->cfg->file,
					       "the configuration file holds a password, and");
			if (rc)
				return rc;
		}
		c->password = strdup(pw);
	} else if (file) {
		return read_password_file(ctx, src->name, file, &c->password);
	} else if (env && *env) {
		c->password = strdup(env);
	} else {
		return MB_OK; /* no password: unix_socket authentication */
	}
	return c->password ? MB_OK : MB_E_NOMEM;
}

int mbi_dbconf_init(struct mb_ctx *ctx, const struct mbi_source *src,
		    struct mbi_dbconf *c)
{
	const struct mbi_section *sec = src->sec;
	const char *v;
	int rc;

	memset(c, 0, sizeof(*c));
	c->source = src->name;
	c->host = mbi_section_get(sec, "host");
	c->socket = mbi_section_get(sec, "socket");
	c->user = mbi_section_get(sec, "user");
	c->tls_ca = mbi_section_get(sec, "tls_ca");
	c->tls_cert = mbi_section_get(sec, "tls_cert");
	c->tls_key = mbi_section_get(sec, "tls_key");
	c->port = 3306;
	c->max_stmt = MBI_DB_MAX_STMT_DEFAULT;
	if (c->host && c->socket)
		return mbi_source_error(ctx, src->name, MB_E_CONFIG, 0,
					"set either 'host' or 'socket', not both");
	if (!c->host && !c->socket)
		c->socket = DEFAULT_SOCKET;
	if ((v = mbi_section_get(sec, "port"))) {
		char *end;
		long p;

		errno = 0;
		p = strtol(v, &end, 10);
		if (errno || !*v || *end || p < 1 || p > 65535)
			return mbi_source_error(ctx, src->name, MB_E_CONFIG, 0,
						"'port' must be a number from 1 to 65535");
		c->port = (unsigned int)p;
	}
	c->tls = (c->tls_ca || c->tls_cert) ? MBI_DB_TLS_YES : MBI_DB_TLS_NO;
	if ((v = mbi_section_get(sec, "tls"))) {
		bool on;

		if (!strcmp(v, "unverified"))
			c->tls = MBI_DB_TLS_UNVERIFIED;
		else if (!parse_bool(v, &on))
			c->tls = on ? MBI_DB_TLS_YES : MBI_DB_TLS_NO;
		else
			return mbi_source_error(ctx, src->name, MB_E_CONFIG, 0,
						"'tls' must be yes, no or unverified");
	}
	if (!c->tls_cert != !c->tls_key)
		return mbi_source_error(ctx, src->name, MB_E_CONFIG, 0,
					"set both 'tls_cert' and 'tls_key', or neither");
	if ((v = mbi_section_get(sec, "lock_nontransactional")) &&
	    parse_bool(v, &c->lock_nontx))
		return mbi_source_error(ctx, src->name, MB_E_CONFIG, 0,
					"'lock_nontransactional' must be yes or no");
	if ((v = mbi_section_get(sec, "max_statement"))) {
		uint64_t n;

		if (mbi_parse_size(v, &n) || n < MBI_DB_MAX_STMT_MIN ||
		    n > MBI_DB_MAX_STMT_MAX)
			return mbi_source_error(ctx, src->name, MB_E_CONFIG, 0,
						"'max_statement' must be a size from 4K to 16M");
		c->max_stmt = (size_t)n;
	}
	c->databases = mbi_split_words(mbi_section_get(sec, "databases"),
				       &c->ndatabases);
	c->exclude = mbi_split_words(mbi_section_get(sec, "exclude_tables"),
				     &c->nexclude);
	if (!c->databases || !c->exclude) {
		mbi_dbconf_release(c);
		return MB_E_NOMEM;
	}
	rc = load_password(ctx, src, c);
	if (rc)
		mbi_dbconf_release(c);
	return rc;
}

void mbi_dbconf_release(struct mbi_dbconf *c)
{
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	mbi_strv_free(c->databases, c->ndatabases);
	mbi_strv_free(c->exclude, c->nexclude);
	memset(c, 0, sizeof(*c));
}

/* --------------------------------------------------------- connection */

static const char *where(const struct mbi_dbconf *c, char *buf, size_t n)
{
	if (c->socket)
		snprintf(buf, n, "socket '%s'", c->socket);
	else
		snprintf(buf, n, "%s:%u", c->host, c->port);
	return buf;
}

int mbi_db_error(struct mb_ctx *ctx, const struct mbi_dbconf *c, MYSQL *my,
		 const char *what)
{
	unsigned int e = mysql_errno(my);
	const char *hint = "";

	if (e == CR_SERVER_LOST || e == CR_SERVER_GONE_ERROR ||
	    e == ER_CONNECTION_KILLED || e == ER_SERVER_SHUTDOWN)
		hint = ": check the server and its error log";
	else if (e == ER_LOCK_DEADLOCK || e == ER_TABLE_DEF_CHANGED ||
		 e == ER_LOCK_WAIT_TIMEOUT)
		hint = ": tables were locked or altered during the backup; run it again";
	return mbi_source_error(ctx, c->source, MB_E_DB, 0, "%s failed: %s (%u)%s",
				what, mysql_error(my), e, hint);
}

int mbi_db_run(MYSQL *my, const char *sql, size_t len)
{
	MYSQL_RES *res;

	if (mysql_real_query(my, sql, len))
		return -1;
	do {
		res = mysql_store_result(my);
		if (res)
			mysql_free_result(res);
		else if (mysql_field_count(my))
			return -1;
	} while (!mysql_next_result(my));
	return mysql_errno(my) ? -1 : 0;
}

int mbi_db_exec(struct mb_ctx *ctx, const struct mbi_dbconf *c, MYSQL *my,
		const char *sql, size_t len, const char *what)
{
	if (mbi_db_run(my, sql, len))
		return mbi_db_error(ctx, c, my, what);
	return MB_OK;
}

int mbi_db_query_row(struct mb_ctx *ctx, const struct mbi_dbconf *c,
		     MYSQL *my, const char *sql, const char *what,
		     MYSQL_RES **res, MYSQL_ROW *row)
{
	MYSQL_RES *r;

	*res = NULL;
	*row = NULL;
	if (mysql_query(my, sql) || !(r = mysql_store_result(my)))
		return mbi_db_error(ctx, c, my, what);
	*res = r;
	*row = mysql_fetch_row(r);
	return MB_OK;
}

int mbi_db_connect(struct mb_ctx *ctx, const struct mbi_dbconf *c,
		   MYSQL **out)
{
	static const char session[] =
		"SET SESSION time_zone = '+00:00', "
		"sql_mode = '" MBI_DB_LOAD_SQL_MODE "', "
		"net_read_timeout = 3600, net_write_timeout = 3600, "
		"wait_timeout = 86400, max_statement_time = 0";
	unsigned int connect_timeout = 30, read_timeout = 3600;
	unsigned int write_timeout = 600, no_infile = 0;
	unsigned int proto = c->socket ? MYSQL_PROTOCOL_SOCKET :
					 MYSQL_PROTOCOL_TCP;
	unsigned long max_packet = 1UL << 30;
	my_bool off = 0, on = 1, verify = c->tls == MBI_DB_TLS_YES;
	char wbuf[300];
	MYSQL *my;
	int rc;

	my = mysql_init(NULL);
	if (!my)
		return mbi_source_error(ctx, c->source, MB_E_NOMEM, 0,
					"cannot start the database client");
	mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
	mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
	mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &write_timeout);
	/* A silent reconnect would leave the consistent snapshot. */
	mysql_options(my, MYSQL_OPT_RECONNECT, &off);
	mysql_options(my, MYSQL_OPT_LOCAL_INFILE, &no_infile);
	mysql_options(my, MYSQL_OPT_PROTOCOL, &proto);
	mysql_optionsv(my, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
	if (c->tls != MBI_DB_TLS_NO) {
		mysql_optionsv(my, MYSQL_OPT_SSL_ENFORCE, &on);
		mysql_optionsv(my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
		/* with a CA the library checks the chain whatever the
		 * verify flag says: unverified means neither */
		if (c->tls_ca && c->tls == MBI_DB_TLS_YES)
			mysql_optionsv(my, MYSQL_OPT_SSL_CA, c->tls_ca);
		if (c->tls_cert)
			mysql_optionsv(my, MYSQL_OPT_SSL_CERT, c->tls_cert);
		if (c->tls_key)
			mysql_optionsv(my, MYSQL_OPT_SSL_KEY, c->tls_key);
	}
	if (!mysql_real_connect(my, c->socket ? "localhost" : c->host,
				c->user, c->password ? c->password : "", NULL,
				c->socket ? 0 : c->port, c->socket, 0)) {
		rc = mbi_source_error(ctx, c->source, MB_E_DB, 0,
				      "cannot connect to the database server at %s%s%s%s: %s (%u): check host, port, socket, user, password and tls",
				      where(c, wbuf, sizeof(wbuf)),
				      c->user ? " as '" : "", c->user ? c->user : "",
				      c->user ? "'" : "", mysql_error(my),
				      mysql_errno(my));
		mysql_close(my);
		return rc;
	}
	if (c->tls != MBI_DB_TLS_NO && !mysql_get_ssl_cipher(my)) {
		mysql_close(my);
		return mbi_source_error(ctx, c->source, MB_E_DB, 0,
					"the connection to %s is not encrypted although tls is set",
					where(c, wbuf, sizeof(wbuf)));
	}
	rc = mbi_db_exec(ctx, c, my, session, sizeof(session) - 1,
			 "setting up the session");
	if (rc) {
		mysql_close(my);
		return rc;
	}
	mbi_log(ctx, MB_LOG_DEBUG, "source '%s': connected to %s, server %s%s%s",
		c->source, where(c, wbuf, sizeof(wbuf)),
		mysql_get_server_info(my),
		mysql_get_ssl_cipher(my) ? ", tls " : "",
		mysql_get_ssl_cipher(my) ? mysql_get_ssl_cipher(my) : "");
	*out = my;
	return MB_OK;
}
