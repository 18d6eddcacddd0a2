/* SPDX-License-Identifier: MIT */
/* s3.h: internals of the S3 backend: XML responses, URL and key encoding. */
#ifndef MB_S3_H
#define MB_S3_H

#include "mb-private.h"

/* Longest key S3 accepts, in bytes. */
#define MBI_S3_KEY_MAX 1024

/* ------------------------------------------------------------ s3xml.c */

/*
 * Each parser takes one response body (untrusted: any bytes), refuses a
 * DOCTYPE, and returns MB_OK, MB_E_NOMEM, or MB_E_INVAL when the body is not
 * well-formed XML or its root element is not the one expected. Element names
 * are matched by their local name, with or without a namespace.
 */

/* <Error><Code>..</Code><Message>..</Message></Error>; texts cut to fit. */
struct mbi_s3_error {
	char code[64];
	char message[256];
};
MBI_HIDDEN int mbi_s3xml_error(const void *xml, size_t len,
			       struct mbi_s3_error *out);

/* <ListBucketResult> of ListObjectsV2. */
struct mbi_s3_object {
	char *key;
	uint64_t size;
};
struct mbi_s3_listing {
	struct mbi_s3_object *objs;
	size_t nobjs, cap;
	bool truncated;
	char *next_token;  /* NextContinuationToken, or NULL */
};
MBI_HIDDEN int mbi_s3xml_list(const void *xml, size_t len,
			      struct mbi_s3_listing *out);
MBI_HIDDEN void mbi_s3_listing_release(struct mbi_s3_listing *l);

/* <InitiateMultipartUploadResult>: *upload_id is malloc'd. */
MBI_HIDDEN int mbi_s3xml_initiate(const void *xml, size_t len,
				  char **upload_id);

/*
 * <CompleteMultipartUploadResult> (*etag malloc'd, may be NULL when the
 * server sends none) or <Error>, which a server may send with status 200:
 * then MB_E_STORE with err filled. The same for <CopyObjectResult>.
 */
MBI_HIDDEN int mbi_s3xml_complete(const void *xml, size_t len, char **etag,
				  struct mbi_s3_error *err);
MBI_HIDDEN int mbi_s3xml_copy(const void *xml, size_t len,
			      struct mbi_s3_error *err);

/* <DeleteResult>: the keys that could not be deleted. */
struct mbi_s3_delete_error {
	char *key;
	struct mbi_s3_error err;
};
struct mbi_s3_delete_result {
	size_t ndeleted;
	struct mbi_s3_delete_error *errors;
	size_t nerrors, cap;
};
MBI_HIDDEN int mbi_s3xml_delete(const void *xml, size_t len,
				struct mbi_s3_delete_result *out);
MBI_HIDDEN void mbi_s3_delete_result_release(struct mbi_s3_delete_result *r);

/* Append s with XML's five special characters escaped. */
MBI_HIDDEN int mbi_s3xml_escape(struct mbi_buf *b, const char *s);

/* --------------------------------------------------------- store_s3.c */

/*
 * A key that libcurl sends unchanged and S3 stores as given: 1 to 1024
 * bytes, no control character, no empty, "." or ".." segment, no leading
 * '/'. (curl folds "x/./y" into "x/y", so such keys would be signed for one
 * name and stored under another.)
 */
MBI_HIDDEN bool mbi_s3_key_ok(const char *key);

/* Append s percent-encoded as SigV4 wants it: A-Z a-z 0-9 - . _ ~ as they
 * are, '/' too when keep_slash, every other byte as %XX in uppercase. */
MBI_HIDDEN int mbi_s3_uri_encode(struct mbi_buf *b, const char *s,
				 bool keep_slash);

/* A query parameter; value "" is sent as "name=". */
struct mbi_s3_param {
	const char *name;
	const char *value;
};
/* Append the canonical query: encoded, sorted by name (then value),
 * joined with '&'. Sorts params in place. */
MBI_HIDDEN int mbi_s3_query(struct mbi_buf *b, struct mbi_s3_param *params,
			    size_t n);

/* Split s3://BUCKET[/PREFIX]: *prefix is "" or ends in '/'. Both malloc'd.
 * MB_E_CONFIG with a message naming the fix. */
MBI_HIDDEN int mbi_s3_parse_url(struct mb_ctx *ctx, const char *url,
				char **bucket, char **prefix);

/* Where requests go: endpoint "scheme://host[:port][/path]" without a
 * trailing '/', and the bucket in the path or in the host name. */
struct mbi_s3_loc {
	const char *endpoint;
	const char *bucket;
	bool virtual_host;
};
/* Append the URL of key (NULL: the bucket itself) with query (canonical,
 * without '?', or NULL). */
MBI_HIDDEN int mbi_s3_url(struct mbi_buf *b, const struct mbi_s3_loc *loc,
			  const char *key, const char *query);

/* Base64 (for Content-MD5). out needs 4 * ((n + 2) / 3) + 1 bytes. */
MBI_HIDDEN void mbi_s3_base64(const unsigned char *in, size_t n, char *out);

/* Milliseconds to wait before retry number attempt (1, 2, ...): exponential
 * from base_ms, capped at cap_ms, with "equal jitter" from rnd (0..1). */
MBI_HIDDEN long mbi_s3_backoff_ms(int attempt, long base_ms, long cap_ms,
				  double rnd);

/* Delete up to 1000 keys (relative to the repository) in one request.
 * Missing keys count as deleted. Keys still under Object Lock are skipped
 * and counted in *locked (may be NULL). */
MBI_HIDDEN int mbi_s3_delete_many(struct mbi_store *s, const char *const *keys,
				  size_t n, size_t *locked);

#endif
