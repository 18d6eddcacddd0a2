/* SPDX-License-Identifier: MIT */
/* store/s3_xml.c: the XML bodies of S3 responses, parsed with expat. */
#include "s3.h"

#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

#define XP_MAX_DEPTH 16
#define XP_MAX_TEXT (64 << 10)
#define XP_NS_SEP '\x01'

/*
 * One parse: expat calls back with elements; we keep the local names of the
 * open elements and the text of the innermost one, and hand each finished
 * element to the document's handler.
 */
struct xml_parser {
	XML_Parser p;
	int rc;
	int depth; /* 1 inside the root element */
	char names[XP_MAX_DEPTH + 1][48];
	struct mbi_buf text;
	const char *const *roots; /* the root elements accepted */
	int root;                 /* index of the root seen */
	/* element at depth opens / closes; text is NUL-terminated */
	int (*start)(struct xml_parser *x);
	int (*end)(struct xml_parser *x, const char *text, size_t len);
	void *ud;
};

static const char *local_name(const XML_Char *name)
{
	const char *sep = strrchr(name, XP_NS_SEP);

	return sep ? sep + 1 : name;
}

static void parser_fail(struct xml_parser *x, int rc)
{
	if (!x->rc)
		x->rc = rc;
	XML_StopParser(x->p, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name,
			     const XML_Char **attrs)
{
	struct xml_parser *x = ud;
	const char *ln = local_name(name);
	int rc;

	(void)attrs;
	if (x->rc)
		return;
	if (x->depth == 0) {
		int i;

		for (i = 0; x->roots[i]; i++)
			if (!strcmp(x->roots[i], ln))
				break;
		if (!x->roots[i]) {
			parser_fail(x, MB_E_INVAL);
			return;
		}
		x->root = i;
	}
	if (x->depth >= XP_MAX_DEPTH) {
		parser_fail(x, MB_E_INVAL);
		return;
	}
	x->depth++;
	/* a name too long for the slot is no name we look for */
	if (strlen(ln) < sizeof(x->names[0]))
		memcpy(x->names[x->depth], ln, strlen(ln) + 1);
	else
		x->names[x->depth][0] = '\0';
	x->text.len = 0;
	if (x->text.data)
		x->text.data[0] = '\0';
	if (x->start && (rc = x->start(x)))
		parser_fail(x, rc);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct xml_parser *x = ud;
	int rc;

	(void)name;
	if (x->rc)
		return;
	if (x->end && (rc = x->end(x, x->text.data ? x->text.data : "",
				   x->text.len)))
		parser_fail(x, rc);
	x->depth--;
	/* text between child elements is not the parent's value */
	x->text.len = 0;
	if (x->text.data)
		x->text.data[0] = '\0';
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct xml_parser *x = ud;

	if (x->rc || len <= 0)
		return;
	if (x->text.len + (size_t)len > XP_MAX_TEXT) {
		parser_fail(x, MB_E_INVAL);
		return;
	}
	if (mbi_buf_add(&x->text, s, (size_t)len))
		parser_fail(x, MB_E_NOMEM);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name,
			       const XML_Char *sysid, const XML_Char *pubid,
			       int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	/* S3 never sends one; a DTD only brings entity expansion */
	parser_fail(ud, MB_E_INVAL);
}

/* The element closing now is at depth d and named name. */
static bool at(const struct xml_parser *x, int d, const char *name)
{
	return x->depth == d && !strcmp(x->names[d], name);
}

static int parser_run(struct xml_parser *x, const void *xml, size_t len)
{
	int rc;

	x->p = XML_ParserCreateNS(NULL, XP_NS_SEP);
	if (!x->p)
		return MB_E_NOMEM;
	XML_SetUserData(x->p, x);
	XML_SetElementHandler(x->p, on_start, on_end);
	XML_SetCharacterDataHandler(x->p, on_text);
	XML_SetStartDoctypeDeclHandler(x->p, on_doctype);
	x->root = -1;
	if (len > (size_t)INT32_MAX) {
		rc = MB_E_INVAL;
	} else if (XML_Parse(x->p, xml ? xml : "", (int)len, XML_TRUE) !=
		   XML_STATUS_OK) {
		rc = x->rc ? x->rc :
		     XML_GetErrorCode(x->p) == XML_ERROR_NO_MEMORY ?
		     MB_E_NOMEM : MB_E_INVAL;
	} else {
		rc = x->rc;
		if (!rc && x->root < 0)
			rc = MB_E_INVAL;
	}
	XML_ParserFree(x->p);
	mbi_buf_release(&x->text);
	return rc;
}

/* Copy a text for a one-line message: cut to fit, control bytes blanked. */
static void copy_text(char *dst, size_t n, const char *text, size_t len)
{
	size_t i;

	if (len >= n)
		len = n - 1;
	for (i = 0; i < len; i++)
		dst[i] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
	dst[len] = '\0';
}

static int dup_text(char **dst, const char *text, size_t len)
{
	char *s;

	if (memchr(text, '\0', len))
		return MB_E_INVAL;
	s = strndup(text, len);
	if (!s)
		return MB_E_NOMEM;
	free(*dst);
	*dst = s;
	return MB_OK;
}

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!len || len > 20)
		return MB_E_INVAL;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return MB_E_INVAL;
		v = v * 10 + d;
	}
	*out = v;
	return MB_OK;
}

/* ----------------------------------------------------------------- Error */

static const char *const error_roots[] = { "Error", NULL };

/* Code and Message of an <Error> element whose children are at depth d. */
static void error_field(struct xml_parser *x, int d, struct mbi_s3_error *e,
			const char *text, size_t len)
{
	if (at(x, d, "Code"))
		copy_text(e->code, sizeof(e->code), text, len);
	else if (at(x, d, "Message"))
		copy_text(e->message, sizeof(e->message), text, len);
}

static int error_end(struct xml_parser *x, const char *text, size_t len)
{
	error_field(x, 2, x->ud, text, len);
	return MB_OK;
}

int mbi_s3xml_error(const void *xml, size_t len, struct mbi_s3_error *out)
{
	struct mbi_s3_error e = { "", "" };
	struct xml_parser x = { .roots = error_roots, .end = error_end,
				.ud = &e };
	int rc = parser_run(&x, xml, len);

	if (!rc)
		*out = e;
	return rc;
}

/* ------------------------------------------------------ ListBucketResult */

struct list_state {
	struct mbi_s3_listing *l;
	bool has_key, has_size;
};

static int list_start(struct xml_parser *x)
{
	struct list_state *st = x->ud;
	struct mbi_s3_listing *l = st->l;

	if (x->depth != 2 || strcmp(x->names[2], "Contents"))
		return MB_OK;
	if (l->nobjs == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct mbi_s3_object *n = realloc(l->objs, cap * sizeof(*n));

		if (!n)
			return MB_E_NOMEM;
		l->objs = n;
		l->cap = cap;
	}
	l->objs[l->nobjs].key = NULL;
	l->objs[l->nobjs].size = 0;
	l->nobjs++;
	st->has_key = st->has_size = false;
	return MB_OK;
}

static int list_end(struct xml_parser *x, const char *text, size_t len)
{
	struct list_state *st = x->ud;
	struct mbi_s3_listing *l = st->l;
	struct mbi_s3_object *o = l->nobjs ? &l->objs[l->nobjs - 1] : NULL;

	if (at(x, 2, "IsTruncated")) {
		if (len == 4 && !memcmp(text, "true", 4))
			l->truncated = true;
		else if (len == 5 && !memcmp(text, "false", 5))
			l->truncated = false;
		else
			return MB_E_INVAL;
	} else if (at(x, 2, "NextContinuationToken")) {
		return dup_text(&l->next_token, text, len);
	} else if (at(x, 2, "Contents")) {
		/* every object has both */
		if (!st->has_key || !st->has_size)
			return MB_E_INVAL;
	} else if (o && x->depth == 3 && !strcmp(x->names[2], "Contents")) {
		if (at(x, 3, "Key")) {
			if (!len || len > MBI_S3_KEY_MAX)
				return MB_E_INVAL;
			st->has_key = true;
			return dup_text(&o->key, text, len);
		}
		if (at(x, 3, "Size")) {
			st->has_size = true;
			return parse_u64(text, len, &o->size);
		}
	}
	return MB_OK;
}

void mbi_s3_listing_release(struct mbi_s3_listing *l)
{
	size_t i;

	for (i = 0; i < l->nobjs; i++)
		free(l->objs[i].key);
	free(l->objs);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

int mbi_s3xml_list(const void *xml, size_t len, struct mbi_s3_listing *out)
{
	static const char *const roots[] = { "ListBucketResult", NULL };
	struct mbi_s3_listing l = { 0 };
	struct list_state st = { .l = &l };
	struct xml_parser x = { .roots = roots, .start = list_start,
				.end = list_end, .ud = &st };
	int rc = parser_run(&x, xml, len);

	/* a truncated listing must say where to go on */
	if (!rc && l.truncated && (!l.next_token || !*l.next_token))
		rc = MB_E_INVAL;
	if (rc) {
		mbi_s3_listing_release(&l);
		return rc;
	}
	*out = l;
	return MB_OK;
}

/* ------------------------------------------ InitiateMultipartUploadResult */

static int initiate_end(struct xml_parser *x, const char *text, size_t len)
{
	if (at(x, 2, "UploadId"))
		return dup_text(x->ud, text, len);
	return MB_OK;
}

int mbi_s3xml_initiate(const void *xml, size_t len, char **upload_id)
{
	static const char *const roots[] = {
		"InitiateMultipartUploadResult", NULL
	};
	char *id = NULL;
	struct xml_parser x = { .roots = roots, .end = initiate_end,
				.ud = &id };
	int rc = parser_run(&x, xml, len);

	if (!rc && (!id || !*id))
		rc = MB_E_INVAL;
	if (rc) {
		free(id);
		return rc;
	}
	*upload_id = id;
	return MB_OK;
}

/* ----------------------------------- CompleteMultipartUploadResult / Copy */

struct result_state {
	char *etag;
	struct mbi_s3_error err;
};

static int result_end(struct xml_parser *x, const char *text, size_t len)
{
	struct result_state *st = x->ud;

	if (x->root == 1) {
		error_field(x, 2, &st->err, text, len);
		return MB_OK;
	}
	if (at(x, 2, "ETag"))
		return dup_text(&st->etag, text, len);
	return MB_OK;
}

static int result_parse(const char *root, const void *xml, size_t len,
			char **etag, struct mbi_s3_error *err)
{
	const char *roots[] = { root, "Error", NULL };
	struct result_state st = { NULL, { "", "" } };
	struct xml_parser x = { .roots = roots, .end = result_end, .ud = &st };
	int rc = parser_run(&x, xml, len);

	if (!rc && x.root == 1) {
		if (!st.err.code[0])
			copy_text(st.err.code, sizeof(st.err.code), "Error",
				  5);
		*err = st.err;
		rc = MB_E_STORE;
	}
	if (!rc && etag) {
		*etag = st.etag;
		st.etag = NULL;
	}
	free(st.etag);
	return rc;
}

int mbi_s3xml_complete(const void *xml, size_t len, char **etag,
		       struct mbi_s3_error *err)
{
	return result_parse("CompleteMultipartUploadResult", xml, len, etag,
			    err);
}

int mbi_s3xml_copy(const void *xml, size_t len, struct mbi_s3_error *err)
{
	return result_parse("CopyObjectResult", xml, len, NULL, err);
}

/* ------------------------------------------------------------ DeleteResult */

static int delete_start(struct xml_parser *x)
{
	struct mbi_s3_delete_result *r = x->ud;

	if (x->depth == 2 && !strcmp(x->names[2], "Deleted")) {
		r->ndeleted++;
	} else if (x->depth == 2 && !strcmp(x->names[2], "Error")) {
		if (r->nerrors == r->cap) {
			size_t cap = r->cap ? 2 * r->cap : 16;
			struct mbi_s3_delete_error *n =
				realloc(r->errors, cap * sizeof(*n));

			if (!n)
				return MB_E_NOMEM;
			r->errors = n;
			r->cap = cap;
		}
		memset(&r->errors[r->nerrors], 0, sizeof(r->errors[0]));
		r->nerrors++;
	}
	return MB_OK;
}

static int delete_end(struct xml_parser *x, const char *text, size_t len)
{
	struct mbi_s3_delete_result *r = x->ud;
	struct mbi_s3_delete_error *e;

	if (x->depth != 3 || strcmp(x->names[2], "Error") || !r->nerrors)
		return MB_OK;
	e = &r->errors[r->nerrors - 1];
	if (at(x, 3, "Key"))
		return dup_text(&e->key, text, len);
	error_field(x, 3, &e->err, text, len);
	return MB_OK;
}

void mbi_s3_delete_result_release(struct mbi_s3_delete_result *r)
{
	size_t i;

	for (i = 0; i < r->nerrors; i++)
		free(r->errors[i].key);
	free(r->errors);
	memset(r, 0, sizeof(*r));
}

int mbi_s3xml_delete(const void *xml, size_t len,
		     struct mbi_s3_delete_result *out)
{
	static const char *const roots[] = { "DeleteResult", NULL };
	struct mbi_s3_delete_result r = { 0 };
	struct xml_parser x = { .roots = roots, .start = delete_start,
				.end = delete_end, .ud = &r };
	int rc = parser_run(&x, xml, len);
	size_t i;

	for (i = 0; !rc && i < r.nerrors; i++)
		if (!r.errors[i].key)
			rc = MB_E_INVAL;
	if (rc) {
		mbi_s3_delete_result_release(&r);
		return rc;
	}
	*out = r;
	return MB_OK;
}

int mbi_s3xml_escape(struct mbi_buf *b, const char *s)
{
	for (; *s; s++) {
		const char *rep = NULL;
		int rc;

		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		}
		rc = rep ? mbi_buf_addstr(b, rep) : mbi_buf_add(b, s, 1);
		if (rc)
			return rc;
	}
	return MB_OK;
}
