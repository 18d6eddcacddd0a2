/* SPDX-License-Identifier: MIT */
/* source/mariadb/sql.c: SQL text of the mariadb source: quoting, file names, bounded INSERTs, splitting into statements. */
#include "db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "banned.h"

/* In a row too long for one statement, values longer than this go
 * through user variables. */
#define STAGE_MIN 256

/* ----------------------------------------------------------- SQL text */

int mbi_sql_ident(struct mbi_buf *b, const char *name)
{
	const char *p;

	if (mbi_buf_add(b, "`", 1))
		return MB_E_NOMEM;
	for (p = name; *p; p++)
		if (mbi_buf_add(b, p, 1) || (*p == '`' && mbi_buf_add(b, p, 1)))
			return MB_E_NOMEM;
	return mbi_buf_add(b, "`", 1);
}

/* The escaped form of byte c, or NULL when it stands as it is. */
static const char *escape_of(unsigned char c)
{
	switch (c) {
	case '\0':
		return "\\0";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\\':
		return "\\\\";
	case '\'':
		return "\\'";
	case 0x1a:
		return "\\Z";
	default:
		return NULL;
	}
}

static int add_escaped(struct mbi_buf *b, const char *s, size_t n)
{
	size_t i, run = 0;

	if (mbi_buf_reserve(b, n + n / 8 + 2))
		return MB_E_NOMEM;
	for (i = 0; i < n; i++) {
		const char *e = escape_of((unsigned char)s[i]);

		if (!e)
			continue;
		if (mbi_buf_add(b, s + run, i - run) || mbi_buf_add(b, e, 2))
			return MB_E_NOMEM;
		run = i + 1;
	}
	return mbi_buf_add(b, s + run, n - run);
}

int mbi_sql_string(struct mbi_buf *b, const char *s, size_t n)
{
	if (mbi_buf_add(b, "'", 1) || add_escaped(b, s, n))
		return MB_E_NOMEM;
	return mbi_buf_add(b, "'", 1);
}

static int add_hex(struct mbi_buf *b, const void *p, size_t n)
{
	if (mbi_buf_reserve(b, 2 * n))
		return MB_E_NOMEM;
	mbi_hex(p, n, b->data + b->len);
	b->len += 2 * n;
	return MB_OK;
}

int mbi_sql_hex(struct mbi_buf *b, const void *p, size_t n)
{
	if (mbi_buf_add(b, "X'", 2) || add_hex(b, p, n))
		return MB_E_NOMEM;
	return mbi_buf_add(b, "'", 1);
}

static bool fname_plain(unsigned char c, bool first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c >= 0x80)
		return true;
	return !first && (c == '_' || c == '.');
}

int mbi_db_fname_encode(struct mbi_buf *b, const char *name)
{
	const unsigned char *p;

	for (p = (const unsigned char *)name; *p; p++) {
		int rc = fname_plain(*p, p == (const unsigned char *)name) ?
			 mbi_buf_add(b, p, 1) : mbi_buf_printf(b, "@%02x", *p);

		if (rc)
			return MB_E_NOMEM;
	}
	return MB_OK;
}

char *mbi_db_fname_decode(const char *fname)
{
	size_t n = strlen(fname), i, o = 0;
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c;

		if (fname[i] != '@') {
			out[o++] = fname[i];
			continue;
		}
		if (i + 2 >= n || mbi_unhex(fname + i + 1, 1, &c) || !c)
			goto bad;
		out[o++] = (char)c;
		i += 2;
	}
	out[o] = '\0';
	if (!o)
		goto bad;
	return out;
bad:
	free(out);
	return NULL;
}

/* ------------------------------------------------------- INSERT writer */

int mbi_dbrows_init(struct mbi_dbrows *r, const char *table,
		    const char *const *cols, const enum mbi_dbval *kinds,
		    size_t ncols, size_t max_stmt, struct mbi_buf *out)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	r->out = out;
	r->kinds = kinds;
	r->ncols = ncols;
	r->max_stmt = max_stmt;
	if (mbi_buf_addstr(&r->head, "INSERT INTO ") ||
	    mbi_sql_ident(&r->head, table) || mbi_buf_addstr(&r->head, " ("))
		return MB_E_NOMEM;
	for (i = 0; i < ncols; i++)
		if ((i && mbi_buf_add(&r->head, ",", 1)) ||
		    mbi_sql_ident(&r->head, cols[i]))
			return MB_E_NOMEM;
	return mbi_buf_addstr(&r->head, ") VALUES\n");
}

void mbi_dbrows_release(struct mbi_dbrows *r)
{
	mbi_buf_release(&r->head);
	mbi_buf_release(&r->stmt);
	mbi_buf_release(&r->row);
}

static int maybe_flush(struct mbi_dbrows *r)
{
	if (r->flush && r->out->len >= r->flush_at)
		return r->flush(r->flush_ud, r->out);
	return MB_OK;
}

bool mbi_sql_is_number(const char *v, size_t n)
{
	size_t i;

	if (!n)
		return false;
	for (i = 0; i < n; i++)
		if (!v[i] || !strchr("0123456789.-+eE", v[i]))
			return false;
	return true;
}

static int render(struct mbi_buf *b, enum mbi_dbval k, const char *v,
		  size_t n)
{
	if (!v)
		return mbi_buf_add(b, "NULL", 4);
	if (k == MBI_DBV_HEX)
		return mbi_sql_hex(b, v, n);
	if (k == MBI_DBV_NUM && mbi_sql_is_number(v, n))
		return mbi_buf_add(b, v, n);
	return mbi_sql_string(b, v, n);
}

static int end_stmt(struct mbi_dbrows *r)
{
	if (!r->stmt_rows)
		return MB_OK;
	if (mbi_buf_add(r->out, r->stmt.data, r->stmt.len) ||
	    mbi_buf_add(r->out, ";\n", 2))
		return MB_E_NOMEM;
	r->stmt.len = 0;
	r->stmt_rows = 0;
	return maybe_flush(r);
}

static bool staged(const struct mbi_dbrows *r, size_t i, const char *v,
		   size_t n)
{
	return v && r->kinds[i] != MBI_DBV_NUM && n > STAGE_MIN;
}

/* SET @mb_cN = <chunk>; SET @mb_cN = CONCAT(@mb_cN, <chunk>); ... each
 * statement within max_stmt. Text is cut between UTF-8 sequences. */
static int stage_value(struct mbi_dbrows *r, size_t col, enum mbi_dbval k,
		       const char *v, size_t n)
{
	size_t room = r->max_stmt - 96, pos = 0, j = 0;

	while (pos < n) {
		size_t end = pos;
		int rc;

		if (k == MBI_DBV_HEX) {
			end = pos + room / 2 < n ? pos + room / 2 : n;
		} else {
			size_t esc = 0;

			while (end < n) {
				size_t cl = 1, ce = 0, x;

				while (end + cl < n && cl < 4 &&
				       ((unsigned char)v[end + cl] & 0xc0) == 0x80)
					cl++;
				for (x = 0; x < cl; x++)
					ce += escape_of((unsigned char)v[end + x]) ? 2 : 1;
				if (esc + ce > room)
					break;
				esc += ce;
				end += cl;
			}
		}
		if (j++ == 0)
			rc = mbi_buf_printf(r->out, "SET @mb_c%zu = ", col + 1);
		else
			rc = mbi_buf_printf(r->out,
					    "SET @mb_c%zu = CONCAT(@mb_c%zu, ",
					    col + 1, col + 1);
		if (rc || (k == MBI_DBV_HEX ? mbi_sql_hex(r->out, v + pos, end - pos) :
			   mbi_sql_string(r->out, v + pos, end - pos)) ||
		    mbi_buf_addstr(r->out, j > 1 ? ");\n" : ";\n"))
			return MB_E_NOMEM;
		rc = maybe_flush(r);
		if (rc)
			return rc;
		pos = end;
	}
	return MB_OK;
}

/* A row too long for one statement: its long values go through user
 * variables, then one INSERT names them. */
static int add_staged(struct mbi_dbrows *r, char **vals,
		      const unsigned long *lens)
{
	size_t i;
	bool any = false;
	int rc;

	for (i = 0; i < r->ncols; i++) {
		if (!staged(r, i, vals[i], lens[i]))
			continue;
		rc = stage_value(r, i, r->kinds[i], vals[i], lens[i]);
		if (rc)
			return rc;
	}
	if (mbi_buf_add(r->out, r->head.data, r->head.len) ||
	    mbi_buf_add(r->out, "(", 1))
		return MB_E_NOMEM;
	for (i = 0; i < r->ncols; i++) {
		if (i && mbi_buf_add(r->out, ",", 1))
			return MB_E_NOMEM;
		rc = staged(r, i, vals[i], lens[i]) ?
		     mbi_buf_printf(r->out, "@mb_c%zu", i + 1) :
		     render(r->out, r->kinds[i], vals[i], lens[i]);
		if (rc)
			return rc;
	}
	if (mbi_buf_add(r->out, ");\n", 3))
		return MB_E_NOMEM;
	for (i = 0; i < r->ncols; i++) {
		if (!staged(r, i, vals[i], lens[i]))
			continue;
		if (mbi_buf_printf(r->out, "%s@mb_c%zu = NULL",
				   any ? ", " : "SET ", i + 1))
			return MB_E_NOMEM;
		any = true;
	}
	if (mbi_buf_add(r->out, ";\n", 2))
		return MB_E_NOMEM;
	return maybe_flush(r);
}

int mbi_dbrows_add(struct mbi_dbrows *r, char **vals,
		   const unsigned long *lens)
{
	size_t i, least = 2 + r->ncols;
	int rc;

	/* A lower bound of the row's length, to avoid rendering a row of
	 * huge values only to find it too long. */
	for (i = 0; i < r->ncols; i++)
		least += vals[i] ? lens[i] : 4;
	r->rows++;
	if (r->head.len + least + 2 > r->max_stmt) {
		rc = end_stmt(r);
		return rc ? rc : add_staged(r, vals, lens);
	}
	r->row.len = 0;
	if (mbi_buf_add(&r->row, "(", 1))
		return MB_E_NOMEM;
	for (i = 0; i < r->ncols; i++)
		if ((i && mbi_buf_add(&r->row, ",", 1)) ||
		    render(&r->row, r->kinds[i], vals[i], lens[i]))
			return MB_E_NOMEM;
	if (mbi_buf_add(&r->row, ")", 1))
		return MB_E_NOMEM;
	if (r->stmt_rows && r->stmt.len + 2 + r->row.len + 1 > r->max_stmt) {
		rc = end_stmt(r);
		if (rc)
			return rc;
	}
	if (r->head.len + r->row.len + 1 > r->max_stmt) {
		rc = end_stmt(r);
		return rc ? rc : add_staged(r, vals, lens);
	}
	if ((r->stmt_rows ? mbi_buf_add(&r->stmt, ",\n", 2) :
	     mbi_buf_add(&r->stmt, r->head.data, r->head.len)) ||
	    mbi_buf_add(&r->stmt, r->row.data, r->row.len))
		return MB_E_NOMEM;
	r->stmt_rows++;
	return MB_OK;
}

int mbi_dbrows_finish(struct mbi_dbrows *r)
{
	return end_stmt(r);
}

/* ---------------------------------------------------- statement reader */

enum {
	S_START,   /* between statements: blanks, comments, DELIMITER */
	S_NORMAL,
	S_SQUOTE,
	S_DQUOTE,
	S_BTICK,
	S_LINE,    /* -- or # comment */
	S_BLOCK,   /* slash-star comment */
};

#define READ_CHUNK (1U << 20)
/* Bytes kept unscanned until the end of the file, so that a token is never
 * cut by the end of the buffer. */
#define LOOKAHEAD 32

void mbi_sqlreader_init(struct mbi_sqlreader *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->delim[0] = ';';
	r->dlen = 1;
	r->line = 1;
	r->max = 1U << 30;
}

int mbi_sqlreader_init_mem(struct mbi_sqlreader *r, const char *p, size_t n)
{
	mbi_sqlreader_init(r, -1);
	r->eof = true;
	return mbi_buf_add(&r->buf, p, n);
}

void mbi_sqlreader_release(struct mbi_sqlreader *r)
{
	mbi_buf_release(&r->buf);
}

static int fill(struct mbi_sqlreader *r)
{
	ssize_t n;

	if (r->start > 0) {
		memmove(r->buf.data, r->buf.data + r->start,
			r->buf.len - r->start);
		r->buf.len -= r->start;
		r->scan -= r->start;
		r->start = 0;
	}
	if (r->fd < 0) {
		r->eof = true;
		return MB_OK;
	}
	if (mbi_buf_reserve(&r->buf, READ_CHUNK))
		return MB_E_NOMEM;
	do
		n = read(r->fd, r->buf.data + r->buf.len, READ_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return MB_E_IO;
	if (n == 0)
		r->eof = true;
	r->buf.len += (size_t)n;
	r->buf.data[r->buf.len] = '\0';
	return MB_OK;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

/* "-- " starts a comment only when a blank or control character follows. */
static bool dash_comment(const char *p, size_t avail)
{
	return avail >= 2 && p[0] == '-' && p[1] == '-' &&
	       (avail == 2 || (unsigned char)p[2] <= ' ');
}

/* DELIMITER xx at the start of a statement. 1: handled (or more input is
 * needed: *need), 0: not one, <0: an error. */
static int delimiter_line(struct mbi_sqlreader *r, size_t i, bool *need)
{
	const char *p = r->buf.data + i, *nl, *a, *e;
	size_t avail = r->buf.len - i;

	*need = false;
	if (avail < 10 || strncasecmp(p, "delimiter", 9) ||
	    (p[9] != ' ' && p[9] != '\t'))
		return 0;
	nl = memchr(p, '\n', avail);
	if (!nl && !r->eof) {
		*need = true;
		return 1;
	}
	e = nl ? nl : p + avail;
	for (a = p + 10; a < e && is_blank(*a); a++)
		;
	while (e > a && is_blank(e[-1]))
		e--;
	if (e == a || (size_t)(e - a) >= sizeof(r->delim)) {
		r->err = "bad DELIMITER line";
		return MB_E_INVAL;
	}
	memcpy(r->delim, a, (size_t)(e - a));
	r->delim[e - a] = '\0';
	r->dlen = (size_t)(e - a);
	r->scan = nl ? (size_t)(nl - r->buf.data) + 1 : r->buf.len;
	if (nl)
		r->line++;
	r->start = r->scan;
	return 1;
}

static void reader_end(struct mbi_sqlreader *r, size_t end, char **stmt,
		     size_t *len)
{
	char *p = r->buf.data;

	while (end > r->start && is_blank(p[end - 1]))
		end--;
	p[end] = '\0';
	*stmt = p + r->start;
	*len = end - r->start;
	r->in_stmt = false;
	r->state = S_START;
}

/* What one step of the scanner asks of its caller. */
enum scan_step { STEP_NEXT, STEP_MORE, STEP_STMT };

/* Between statements: skip blanks and comments, take DELIMITER lines. */
static int step_start(struct mbi_sqlreader *r, size_t i, size_t avail)
{
	const char *p = r->buf.data;
	char c = p[i];

	if (is_blank(c)) {
		r->line += c == '\n';
		r->start = r->scan = i + 1;
		return STEP_NEXT;
	}
	if (c == '#' || dash_comment(p + i, avail)) {
		r->state = S_LINE;
		r->scan = i + 1;
		return STEP_NEXT;
	}
	if (c == '/' && avail >= 3 && p[i + 1] == '*' && p[i + 2] != '!') {
		r->state = S_BLOCK;
		r->scan = i + 2;
		return STEP_NEXT;
	}
	if (c == 'd' || c == 'D') {
		bool need;
		int rc = delimiter_line(r, i, &need);

		if (rc < 0)
			return rc;
		if (need)
			return STEP_MORE;
		if (rc)
			return STEP_NEXT;
	}
	r->start = i;
	r->stmt_line = r->line;
	r->in_stmt = true;
	r->state = S_NORMAL;
	return STEP_NEXT;
}

/* Inside a statement, outside quotes and comments. */
static int step_normal(struct mbi_sqlreader *r, size_t i, size_t avail,
		       char **stmt, size_t *len)
{
	const char *p = r->buf.data;
	char c = p[i];

	if (avail >= r->dlen && !memcmp(p + i, r->delim, r->dlen)) {
		r->scan = i + r->dlen;
		reader_end(r, i, stmt, len);
		r->start = r->scan;
		return STEP_STMT;
	}
	if (c == '\'')
		r->state = S_SQUOTE;
	else if (c == '"')
		r->state = S_DQUOTE;
	else if (c == '`')
		r->state = S_BTICK;
	else if (c == '#' || dash_comment(p + i, avail))
		r->state = S_LINE;
	else if (c == '/' && avail >= 2 && p[i + 1] == '*')
		r->state = S_BLOCK, i++;
	else if (c == '\n')
		r->line++;
	r->scan = i + 1;
	return STEP_NEXT;
}

/* Inside '...', "..." or `...`. */
static void step_quoted(struct mbi_sqlreader *r, size_t i, size_t avail)
{
	const char *p = r->buf.data;
	char c = p[i];

	if (r->state != S_BTICK && c == '\\' && avail >= 2) {
		r->line += p[i + 1] == '\n';
		r->scan = i + 2;
		return;
	}
	if (c == (r->state == S_SQUOTE ? '\'' :
		  r->state == S_DQUOTE ? '"' : '`'))
		r->state = S_NORMAL;
	r->line += c == '\n';
	r->scan = i + 1;
}

/* Inside a -- or # line comment, or a block comment. */
static void step_comment(struct mbi_sqlreader *r, size_t i, size_t avail)
{
	const char *p = r->buf.data;
	char c = p[i];

	if (r->state == S_LINE) {
		if (c == '\n') {
			r->line++;
			r->state = r->in_stmt ? S_NORMAL : S_START;
			if (!r->in_stmt)
				r->start = i + 1;
		}
		r->scan = i + 1;
		return;
	}
	if (c == '*' && avail >= 2 && p[i + 1] == '/') {
		r->state = r->in_stmt ? S_NORMAL : S_START;
		r->scan = i + 2;
		if (!r->in_stmt)
			r->start = r->scan;
		return;
	}
	r->line += c == '\n';
	r->scan = i + 1;
}

/* One byte (or a few) at r->scan, by the state of the scanner. */
static int step(struct mbi_sqlreader *r, char **stmt, size_t *len)
{
	size_t i = r->scan, avail = r->buf.len - i;

	switch (r->state) {
	case S_START:
		return step_start(r, i, avail);
	case S_NORMAL:
		return step_normal(r, i, avail, stmt, len);
	case S_SQUOTE:
	case S_DQUOTE:
	case S_BTICK:
		step_quoted(r, i, avail);
		return STEP_NEXT;
	case S_LINE:
	case S_BLOCK:
		step_comment(r, i, avail);
		return STEP_NEXT;
	}
	return STEP_NEXT;
}

/* All input scanned: the last statement, or an error if one is open. */
static int reader_eof(struct mbi_sqlreader *r, char **stmt, size_t *len)
{
	if (r->state == S_SQUOTE || r->state == S_DQUOTE ||
	    r->state == S_BTICK) {
		r->err = "unterminated quoted string";
		return MB_E_INVAL;
	}
	if (r->state == S_BLOCK) {
		r->err = "unterminated comment";
		return MB_E_INVAL;
	}
	if (!r->in_stmt)
		return 0;
	/* the last statement may lack its delimiter */
	reader_end(r, r->buf.len, stmt, len);
	r->start = r->scan = r->buf.len;
	if (*len)
		return 1;
	return 0;
}

int mbi_sqlreader_next(struct mbi_sqlreader *r, char **stmt, size_t *len)
{
	int rc;

	for (;;) {
		while (r->scan < r->buf.len) {
			size_t avail = r->buf.len - r->scan;

			if (!r->eof && avail < LOOKAHEAD)
				break;
			if (r->in_stmt && r->scan - r->start > r->max) {
				r->err = "statement too long";
				return MB_E_INVAL;
			}
			rc = step(r, stmt, len);
			if (rc < 0)
				return rc;
			if (rc == STEP_STMT)
				return 1;
			if (rc == STEP_MORE)
				break;
		}
		if (r->eof && r->scan >= r->buf.len)
			return reader_eof(r, stmt, len);
		rc = fill(r);
		if (rc)
			return rc;
	}
}
