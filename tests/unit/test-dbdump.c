/* SPDX-License-Identifier: MIT */
/* test-dbdump.c: the mariadb source: SQL quoting, file names, bounded INSERTs, the statement reader, settings. */
#include "db.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static char *render_str(int (*fn)(struct mbi_buf *, const char *, size_t),
			const char *s, size_t n)
{
	struct mbi_buf b = { 0 };

	fn(&b, s, n);
	return b.data;
}

static void test_quoting(void)
{
	struct mbi_buf b = { 0 };
	char *s;

	mbi_sql_ident(&b, "we`ird");
	is_str(b.data, "`we``ird`", "a backtick in a name is doubled");
	mbi_buf_release(&b);

	s = render_str(mbi_sql_string, "a'b\\c\nd\re\0f\x1ag\"h", 15);
	is_str(s, "'a\\'b\\\\c\\nd\\re\\0f\\Zg\"h'",
	       "quote, backslash, newline, CR, NUL and ^Z are escaped");
	free(s);
	s = render_str(mbi_sql_string, "", 0);
	is_str(s, "''", "an empty string is ''");
	free(s);
	s = render_str(mbi_sql_string, "\xf0\x9f\x90\x84", 4);
	is_str(s, "'\xf0\x9f\x90\x84'", "4-byte UTF-8 passes as it is");
	free(s);

	mbi_sql_hex(&b, "\x00\xff\x27", 3);
	is_str(b.data, "X'00ff27'", "binary as a hex literal");
	b.len = 0;
	mbi_sql_hex(&b, "", 0);
	is_str(b.data, "X''", "an empty binary value is X'' (not 0x)");
	mbi_buf_release(&b);
}

static void test_fname(void)
{
	static const struct {
		const char *name, *fname;
	} cases[] = {
		{ "mailbox", "mailbox" },
		{ "_schema", "@5fschema" },
		{ "_triggers", "@5ftriggers" },
		{ "a_b.c-d", "a_b.c-d" },
		{ ".hidden", "@2ehidden" },
		{ "a/b", "a@2fb" },
		{ "x@y", "x@40y" },
		{ "a b", "a@20b" },
		{ "..", "@2e." },
		{ "B\xc3\xbc" "cher", "B\xc3\xbc" "cher" },
		{ "line\nbreak", "line@0abreak" },
	};
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(cases); i++) {
		struct mbi_buf b = { 0 };
		char *back;

		mbi_db_fname_encode(&b, cases[i].name);
		is_str(b.data, cases[i].fname, "file name of '%s'",
		       cases[i].fname);
		ok(mbi_path_is_safe(b.data) && b.data[0] != '_',
		   "'%s' is a safe name that is not ours", b.data);
		back = mbi_db_fname_decode(b.data);
		is_str(back, cases[i].name, "'%s' decodes back", b.data);
		free(back);
		mbi_buf_release(&b);
	}
	ok(!mbi_db_fname_decode("bad@zz"), "a bad escape is refused");
	ok(!mbi_db_fname_decode("cut@4"), "a cut escape is refused");
	ok(!mbi_db_fname_decode("nul@00"), "an escaped NUL is refused");
	ok(!mbi_db_fname_decode(""), "an empty name is refused");
}

/* ------------------------------------------------- the statement reader */

struct stmts {
	char **s;
	uint64_t *line;
	size_t n;
};

static void stmts_free(struct stmts *st)
{
	mbi_strv_free(st->s, st->n);
	free(st->line);
	memset(st, 0, sizeof(*st));
}

static int read_all(struct mbi_sqlreader *r, struct stmts *st)
{
	char *s;
	size_t len;
	int rc;

	memset(st, 0, sizeof(*st));
	while ((rc = mbi_sqlreader_next(r, &s, &len)) == 1) {
		st->s = realloc(st->s, (st->n + 2) * sizeof(*st->s));
		st->line = realloc(st->line, (st->n + 1) * sizeof(*st->line));
		st->s[st->n] = malloc(len + 1);
		memcpy(st->s[st->n], s, len + 1);
		st->line[st->n++] = r->stmt_line;
		if (strlen(s) != len)
			return -100;
	}
	return rc;
}

static int split_mem(const char *text, struct stmts *st)
{
	struct mbi_sqlreader r;
	int rc;

	mbi_sqlreader_init_mem(&r, text, strlen(text));
	rc = read_all(&r, st);
	mbi_sqlreader_release(&r);
	return rc;
}

static void test_reader(void)
{
	static const char text[] =
		"-- a comment; with a semicolon\n"
		"# another; one\n"
		"/* block; comment */\n"
		"SET NAMES utf8mb4;\n"
		"INSERT INTO `t;1` VALUES ('a;b','it\\'s;','x'';y',\"d;q\"),\n"
		"('back\\\\',X'3b');\n"
		"SELECT 1 -- trailing; comment\n"
		"  + 2;\r\n"
		"DELIMITER ;;\n"
		"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END\n"
		";;\n"
		"delimiter ;\n"
		"/*!40101 SET x = 1 */;\n"
		"SELECT 'last' -- no delimiter";
	static const char *const want[] = {
		"SET NAMES utf8mb4",
		("INSERT INTO `t;1` VALUES ('a;b','it\\'s;','x'';y',\"d;q\"),\n"
		 "('back\\\\',X'3b')"),
		"SELECT 1 -- trailing; comment\n  + 2",
		"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END",
		"/*!40101 SET x = 1 */",
		"SELECT 'last' -- no delimiter",
	};
	static const uint64_t lines[] = { 4, 5, 7, 10, 13, 14 };
	struct stmts st;
	size_t i;

	is_int(split_mem(text, &st), 0, "a file splits to the end");
	is_int(st.n, MBI_ARRAY_SIZE(want), "into %zu statements",
	       MBI_ARRAY_SIZE(want));
	for (i = 0; i < st.n && i < MBI_ARRAY_SIZE(want); i++) {
		is_str(st.s[i], want[i], "statement %zu", i + 1);
		is_int(st.line[i], lines[i], "statement %zu begins on line %llu",
		       i + 1, (unsigned long long)lines[i]);
	}
	stmts_free(&st);

	is_int(split_mem("  \n-- only comments\n# here\n", &st), 0,
	       "a file of comments has no statement");
	is_int(st.n, 0, "none");
	stmts_free(&st);
	is_int(split_mem("SELECT 'open;\n", &st), MB_E_INVAL,
	       "an unterminated string is an error");
	stmts_free(&st);
	is_int(split_mem("SELECT 1; /* open", &st), MB_E_INVAL,
	       "an unterminated comment is an error");
	stmts_free(&st);
	is_int(split_mem("SELECT 1;;;SELECT 2", &st), 0, "empty statements");
	is_int(st.n, 4, "stand as they are (the server refuses them)");
	stmts_free(&st);
	is_int(split_mem("SELECT '-- x';SELECT 1--1;", &st), 0,
	       "-- without a blank");
	is_int(st.n, 2, "does not start a comment");
	if (st.n == 2)
		is_str(st.s[1], "SELECT 1--1", "and stays in the statement");
	stmts_free(&st);
}

/* The same statements from a file read in pieces as from memory, with
 * statements larger than the read buffer. */
static void test_reader_fd(void)
{
	struct mbi_buf text = { 0 };
	struct stmts a, b;
	struct mbi_sqlreader r;
	char path[] = "/tmp/test-dbdump-XXXXXX";
	size_t i, same = 0;
	int fd;

	for (i = 0; i < 3000; i++) {
		mbi_buf_printf(&text, "INSERT INTO t VALUES (%zu, 'semi;colon -- %zu');\n",
			       i, i);
		if (i % 1000 == 500) {
			size_t k;

			mbi_buf_addstr(&text, "INSERT INTO t VALUES ('");
			for (k = 0; k < (3U << 20) / 8; k++)
				mbi_buf_addstr(&text, "ab;c\\'d-");
			mbi_buf_addstr(&text, "');\n");
		}
	}
	fd = mkstemp(path);
	ok(fd >= 0 && !mbi_write_all(fd, text.data, text.len),
	   "a %zu-byte file", text.len);
	lseek(fd, 0, SEEK_SET);
	unlink(path);
	mbi_sqlreader_init(&r, fd);
	is_int(read_all(&r, &a), 0, "read from a file");
	mbi_sqlreader_release(&r);
	close(fd);
	is_int(split_mem(text.data, &b), 0, "read from memory");
	is_int(a.n, 3003, "3003 statements");
	for (i = 0; i < a.n && i < b.n; i++)
		same += !strcmp(a.s[i], b.s[i]) && a.line[i] == b.line[i];
	is_int(same, 3003, "the same from both");
	stmts_free(&a);
	stmts_free(&b);
	mbi_buf_release(&text);
}

/* ---------------------------------------------------- bounded INSERTs */

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Decode one literal at *p ('...', X'...', NULL or a number) into out. */
static int literal(const char **pp, struct mbi_buf *out, bool *is_null)
{
	const char *p = *pp;

	*is_null = false;
	if (!strncmp(p, "NULL", 4)) {
		*is_null = true;
		*pp = p + 4;
		return 0;
	}
	if (p[0] == 'X' && p[1] == '\'') {
		for (p += 2; *p != '\''; p += 2) {
			char c = (char)(hexval(p[0]) << 4 | hexval(p[1]));

			mbi_buf_add(out, &c, 1);
		}
		*pp = p + 1;
		return 0;
	}
	if (*p == '\'') {
		for (p++; *p != '\''; p++) {
			char c = *p;

			if (c == '\\') {
				c = *++p;
				c = c == '0' ? '\0' : c == 'n' ? '\n' :
				    c == 'r' ? '\r' : c == 'Z' ? '\x1a' : c;
			}
			mbi_buf_add(out, &c, 1);
		}
		*pp = p + 1;
		return 0;
	}
	while (*p && *p != ',' && *p != ')')
		mbi_buf_add(out, p++, 1);
	*pp = p;
	return 0;
}

static bool valid_utf8(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t l = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4, k;

		if (i + l > n)
			return false;
		for (k = 1; k < l; k++)
			if (((unsigned char)s[i + k] & 0xc0) != 0x80)
				return false;
		i += l;
	}
	return true;
}

/*
 * Replay the statements a writer made (a tiny interpreter for exactly our
 * forms) and compare the rows with what went in.
 */
struct replay {
	struct mbi_buf vars[4];
	struct mbi_buf rows[64][3];
	bool nulls[64][3];
	size_t nrows, nstmts, inserts, longest;
	bool chunks_utf8;
};

static void replay(struct replay *rp, const char *sql, size_t max)
{
	struct mbi_sqlreader r;
	char *s;
	size_t len;

	memset(rp, 0, sizeof(*rp));
	rp->chunks_utf8 = true;
	mbi_sqlreader_init_mem(&r, sql, strlen(sql));
	while (mbi_sqlreader_next(&r, &s, &len) == 1) {
		const char *p;

		rp->nstmts++;
		if (len + 1 > rp->longest)
			rp->longest = len + 1;
		if (!strncmp(s, "SET @mb_c", 9)) {
			size_t v = (size_t)atoi(s + 9) - 1;
			struct mbi_buf chunk = { 0 };
			bool null;

			p = strstr(s, " = ") + 3;
			if (!strncmp(p, "NULL", 4))
				continue;
			if (!strncmp(p, "CONCAT(", 7))
				p = strstr(p, ", ") + 2;
			else
				rp->vars[v].len = 0;
			if (*p == '\'') {
				literal(&p, &chunk, &null);
				if (!valid_utf8(chunk.data, chunk.len))
					rp->chunks_utf8 = false;
				mbi_buf_add(&rp->vars[v], chunk.data, chunk.len);
			} else {
				literal(&p, &rp->vars[v], &null);
			}
			mbi_buf_release(&chunk);
			continue;
		}
		if (strncmp(s, "INSERT INTO", 11))
			continue;
		rp->inserts++;
		p = strstr(s, "VALUES\n") + 7;
		while (*p == '(') {
			size_t c;

			p++;
			for (c = 0; c < 3; c++) {
				struct mbi_buf *out = &rp->rows[rp->nrows][c];

				if (!strncmp(p, "@mb_c", 5)) {
					size_t v = (size_t)atoi(p + 5) - 1;

					mbi_buf_add(out, rp->vars[v].data,
						    rp->vars[v].len);
					p += 6;
				} else {
					literal(&p, out, &rp->nulls[rp->nrows][c]);
				}
				if (*p == ',')
					p++;
			}
			p++; /* ) */
			rp->nrows++;
			if (!strncmp(p, ",\n", 2))
				p += 2;
		}
	}
	(void)max;
	mbi_sqlreader_release(&r);
}

static void replay_release(struct replay *rp)
{
	size_t i, c;

	for (i = 0; i < 4; i++)
		mbi_buf_release(&rp->vars[i]);
	for (i = 0; i < 64; i++)
		for (c = 0; c < 3; c++)
			mbi_buf_release(&rp->rows[i][c]);
}

static void test_rows(void)
{
	static const enum mbi_dbval kinds[] = {
		MBI_DBV_NUM, MBI_DBV_STR, MBI_DBV_HEX
	};
	const char *const cols[] = { "id", "te`xt", "data" };
	const size_t max = 4096;
	struct mbi_buf out = { 0 }, big_text = { 0 }, big_bin = { 0 };
	struct mbi_dbrows w;
	struct replay *rp = calloc(1, sizeof(*rp));
	char *vals[3], num[32], text[] = "it's \xf0\x9f\x93\xac";
	char bin[] = { 0, 1 };
	unsigned long lens[3];
	size_t i, good = 0;

	/* text of 4-byte characters and escapes; binary of every byte */
	for (i = 0; i < 3000; i++)
		mbi_buf_addstr(&big_text, i % 3 ? "\xf0\x9f\x90\x84" : "'\\\n");
	for (i = 0; i < 20000; i++) {
		char c = (char)(i * 7);

		mbi_buf_add(&big_bin, &c, 1);
	}
	is_int(mbi_dbrows_init(&w, "t", cols, kinds, 3, max, &out), MB_OK,
	       "a writer with 4 KiB statements");
	for (i = 0; i < 40; i++) {
		snprintf(num, sizeof(num), "%zu", i);
		vals[0] = num;
		lens[0] = strlen(num);
		vals[1] = i == 3 ? NULL : text;
		lens[1] = 10;
		vals[2] = i == 4 ? NULL : bin;
		lens[2] = i == 5 ? 0 : 2;
		if (i == 10 || i == 20) {
			vals[1] = big_text.data;
			lens[1] = big_text.len;
		}
		if (i == 20 || i == 30) {
			vals[2] = big_bin.data;
			lens[2] = big_bin.len;
		}
		mbi_dbrows_add(&w, vals, lens);
	}
	is_int(mbi_dbrows_finish(&w), MB_OK, "finished");
	is_int(w.rows, 40, "40 rows");
	mbi_dbrows_release(&w);

	replay(rp, out.data, max);
	ok(rp->longest <= max, "no statement is longer than %zu bytes (%zu)",
	   max, rp->longest);
	ok(rp->inserts > 4, "the rows take several INSERTs (%zu)", rp->inserts);
	ok(rp->chunks_utf8, "text is cut between UTF-8 characters");
	is_int(rp->nrows, 40, "the statements hold 40 rows");
	for (i = 0; i < rp->nrows && i < 40; i++) {
		const struct mbi_buf *t = &rp->rows[i][1], *d = &rp->rows[i][2];
		bool tok, dok;

		if (i == 10 || i == 20)
			tok = t->len == big_text.len &&
			      !memcmp(t->data, big_text.data, t->len);
		else if (i == 3)
			tok = rp->nulls[i][1];
		else
			tok = t->len == 10 && !memcmp(t->data, "it's \xf0\x9f\x93\xac", 10);
		if (i == 20 || i == 30)
			dok = d->len == big_bin.len &&
			      !memcmp(d->data, big_bin.data, d->len);
		else if (i == 4)
			dok = rp->nulls[i][2];
		else if (i == 5)
			dok = d->len == 0 && !rp->nulls[i][2];
		else
			dok = d->len == 2 && !memcmp(d->data, "\x00\x01", 2);
		snprintf(num, sizeof(num), "%zu", i);
		good += tok && dok && rp->rows[i][0].data &&
			!strcmp(rp->rows[i][0].data, num);
	}
	is_int(good, 40, "every value comes back, NULL apart from empty");
	ok(strstr(out.data, "SET @mb_c2 = NULL, @mb_c3 = NULL;\n") != NULL,
	   "the variables are freed after use");
	ok(strstr(out.data, "INSERT INTO `t` (`id`,`te``xt`,`data`) VALUES\n") != NULL,
	   "the INSERT names its columns");
	replay_release(rp);
	free(rp);
	mbi_buf_release(&out);
	mbi_buf_release(&big_text);
	mbi_buf_release(&big_bin);

	/* a number that is not one is quoted rather than trusted */
	{
		static const enum mbi_dbval k1[] = { MBI_DBV_NUM };
		const char *const c1[] = { "n" };
		char bad[] = "1); DROP TABLE x; --", *v1[] = { bad };
		unsigned long l1[] = { 20 };

		mbi_dbrows_init(&w, "t", c1, k1, 1, max, &out);
		mbi_dbrows_add(&w, v1, l1);
		mbi_dbrows_finish(&w);
		ok(strstr(out.data, "('1); DROP TABLE x; --');") != NULL,
		   "a bad number is written as a string");
		mbi_dbrows_release(&w);
		mbi_buf_release(&out);
	}
}

/* ------------------------------------------------------------ settings */

static int conf(const char *text, struct mbi_dbconf *c, struct mb_ctx **pctx)
{
	struct mb_ctx *ctx;
	int rc;

	mb_ctx_new(&ctx);
	*pctx = ctx;
	rc = mb_ctx_load_config_buf(ctx, "test.conf", text, strlen(text));
	if (rc)
		return rc;
	return mbi_dbconf_init(ctx, &ctx->cfg->sources[0], c);
}

static void test_conf(void)
{
	struct mbi_dbconf c;
	struct mb_ctx *ctx;
	char path[] = "/tmp/test-dbdump-pw-XXXXXX", *text;
	int fd;

	unsetenv("MAILBACKUP_DB_PASSWORD");
	is_int(conf("[repository]\nurl = /r\n[source db]\ntype = mariadb\n"
		    "databases = mailcow sogo\n", &c, &ctx), MB_OK,
	       "a minimal source");
	is_str(c.socket, "/run/mysqld/mysqld.sock", "the default socket");
	is_int(c.ndatabases, 2, "two databases");
	is_int(c.max_stmt, 1 << 20, "1 MiB statements by default");
	is_int(c.tls, MBI_DB_TLS_NO, "no tls by default");
	ok(!c.password, "no password");
	mbi_dbconf_release(&c);
	mb_ctx_free(ctx);

	setenv("MAILBACKUP_DB_PASSWORD", "from-env", 1);
	is_int(conf("[repository]\nurl = /r\n[source db]\ntype = mariadb\n"
		    "host = 127.0.0.1\nport = 3307\ntls_ca = /ca.pem\n",
		    &c, &ctx), MB_OK, "host, port and a CA");
	is_str(c.password, "from-env", "the password from the environment");
	ok(!c.socket && c.port == 3307, "TCP on port 3307");
	is_int(c.tls, MBI_DB_TLS_YES, "a CA means verified tls");
	mbi_dbconf_release(&c);
	mb_ctx_free(ctx);

	is_int(conf("[repository]\nurl = /r\n[source db]\ntype = mariadb\n"
		    "password = in-config\n", &c, &ctx), MB_OK,
	       "a password in the configuration");
	is_str(c.password, "in-config", "wins over the environment");
	mbi_dbconf_release(&c);
	mb_ctx_free(ctx);
	unsetenv("MAILBACKUP_DB_PASSWORD");

	fd = mkstemp(path);
	ok(fd >= 0 && !mbi_write_all(fd, "s3cret\r\n", 8), "a password file");
	close(fd);
	text = mbi_asprintf("[repository]\nurl = /r\n[source db]\ntype = mariadb\n"
			    "password_file = %s\ntls = unverified\n", path);
	is_int(conf(text, &c, &ctx), MB_OK, "password_file");
	is_str(c.password, "s3cret", "is read without its line break");
	is_int(c.tls, MBI_DB_TLS_UNVERIFIED, "tls = unverified");
	mbi_dbconf_release(&c);
	mb_ctx_free(ctx);
	fd = open(path, O_WRONLY | O_TRUNC);
	ok(fd >= 0 && !mbi_write_all(fd, "\n", 1), "an empty password file");
	close(fd);
	is_int(conf(text, &c, &ctx), MB_E_CONFIG, "is refused");
	mb_ctx_free(ctx);
	chmod(path, 0644);
	is_int(conf(text, &c, &ctx), MB_E_CONFIG,
	       "a password file readable by others is refused");
	ok(strstr(mb_ctx_errmsg(ctx), "chmod 600") != NULL,
	   "saying what to do: %s", mb_ctx_errmsg(ctx));
	ok(!strstr(mb_ctx_errmsg(ctx), "s3cret"), "without the secret");
	mb_ctx_free(ctx);
	unlink(path);
	free(text);

	is_int(conf("[repository]\nurl = /r\n[source db]\ntype = mariadb\n"
		    "host = h\nsocket = /s\n", &c, &ctx), MB_E_CONFIG,
	       "host and socket together are refused");
	mb_ctx_free(ctx);
	is_int(conf("[repository]\nurl = /r\n[source db]\ntype = mariadb\n"
		    "port = 70000\n", &c, &ctx), MB_E_CONFIG,
	       "a port out of range is refused");
	mb_ctx_free(ctx);
	is_int(conf("[repository]\nurl = /r\n[source db]\ntype = mariadb\n"
		    "tls = maybe\n", &c, &ctx), MB_E_CONFIG,
	       "an unknown tls value is refused");
	mb_ctx_free(ctx);
	is_int(conf("[repository]\nurl = /r\n[source db]\ntype = mariadb\n"
		    "max_statement = 100\n", &c, &ctx), MB_E_CONFIG,
	       "a tiny max_statement is refused");
	mb_ctx_free(ctx);
	is_int(conf("[repository]\nurl = /r\n[source db]\ntype = mariadb\n"
		    "password = x\npassword_file = /f\n", &c, &ctx),
	       MB_E_CONFIG, "password and password_file together are refused");
	ok(!strstr(mb_ctx_errmsg(ctx), "= x"), "without the secret");
	mb_ctx_free(ctx);
}

int main(void)
{
	test_quoting();
	test_fname();
	test_reader();
	test_reader_fd();
	test_rows();
	test_conf();
	return tap_done();
}
