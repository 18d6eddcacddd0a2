/* SPDX-License-Identifier: MIT */
/* store/s3.h: internals of the S3 backend: XML responses, URL and key encoding,
 * requests, the multipart writer. */
#ifndef MB_S3_H
#define MB_S3_H

#include "mb-private.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sys/uio.h>

/* Longest key S3 accepts, in bytes. */
#define MBI_S3_KEY_MAX 1024

/* ---------------------------------------------------------- s3_xml.c */

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

/* ----------------------------------------------------- store_s3_url.c */

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

/* ---------------------------------------------------- store_s3_http.c */
/* Our own record of an object's SHA-256, checked on every download. */
#define MBI_S3_META_SHA256 "x-amz-meta-mailbackup-sha256"
#define MBI_S3_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MBI_S3_MAX_PARTS 10000
#define MBI_S3_MAX_COPY (5ULL << 30)      /* CopyObject's limit */
#define MBI_S3_MAX_SINGLE (5ULL << 30)    /* PutObject's limit */
#define MBI_S3_MAX_LIST_BODY (16 << 20)
#define MBI_S3_MAX_ERR_BODY (256 << 10)
/* an endpoint that refuses stays down */
#define MBI_S3_MAX_CONNECT_ATTEMPTS 3

/* One open S3 repository: settings, and the curl handles its requests
 * share. */
struct mbi_s3 {
	struct mb_ctx *ctx;
	struct mbi_s3_loc loc;
	char *endpoint, *bucket, *prefix;
	char *akid, *secret, *sigv4, *region;
	char *ca_file, *storage_class, *lock_mode;
	uint64_t part_size, single_max;
	int parallel, lock_days, retries;
	long timeout;     /* seconds without progress before a retry */
	double max_time;  /* seconds one request may take, retries included */
	long max_keys;    /* per listing page; 0: the server's default */

	/* upload_limit, download_limit: shared by all requests */
	struct mbi_bwlimit up, down;

	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_mu;
	CURL **pool;
	size_t npool, cappool;
};

/* A request body in memory, possibly in pieces (the parts of a writer). */
struct mbi_s3_body {
	const struct iovec *iov;
	int niov;
	uint64_t total, pos;
};

/* The response headers we look at. */
struct mbi_s3_rhdrs {
	char etag[136];
	char meta_sha[72];
	char checksum[64];
	char version[256];
	char lock_until[64];
	char sse[32];
	char content_range[96];
	uint64_t content_length;
	bool has_length;
};

struct mbi_s3_req {
	const char *method;   /* GET PUT HEAD DELETE POST */
	const char *key;      /* full key in the bucket, NULL: the bucket */
	const char *query;    /* canonical query without '?', or NULL */
	const char *what;     /* the key as the repository names it */
	const char *verb;     /* "upload", "download", ... for messages */
	struct mbi_s3_body *body;
	char payload_sha[MBI_SHA256_HEX];
	char content_md5[32];
	char md5_hex[33];
	const char *content_type;
	struct curl_slist *extra; /* more headers, owned by the caller */
	struct mbi_bwlimit *up, *down; /* the store's limits */
	bool error_in_200;    /* a 200 may carry an <Error> (Complete, Copy) */
	bool quiet;           /* cleanup: keep the error already recorded */
	size_t max_resp;

	/* GET into a file */
	int fd;
	uint64_t got;         /* bytes in the file */
	uint64_t expect;      /* the object's size, from the first answer */
	bool has_expect;
	bool started;         /* the body of this answer has begun */
	char first_etag[136]; /* resumed ranges must be of the same object */
	bool restart;         /* the server ignored our range */
	struct mbi_sha256 sha;
	EVP_MD_CTX *md5;

	/* result of the last attempt */
	long status;
	CURLcode cerr;
	char cerrbuf[CURL_ERROR_SIZE];
	struct mbi_buf resp;
	bool resp_overflow;
	struct mbi_s3_rhdrs h;
	struct mbi_s3_error err;
	int attempts;
};

/* curl_global_init once per process; MB_E_STORE with a message if it
 * failed. */
MBI_HIDDEN int mbi_s3_curl_init(struct mb_ctx *ctx);
/* The share handle and the pool of easy handles of s3 (its mutexes are
 * initialized by the caller); MB_E_NOMEM. Released by
 * mbi_s3_handles_release, which also destroys the mutexes. */
MBI_HIDDEN int mbi_s3_handles_init(struct mbi_s3 *s3);
MBI_HIDDEN void mbi_s3_handles_release(struct mbi_s3 *s3);

MBI_HIDDEN void mbi_s3_req_init(struct mbi_s3_req *r, const char *method,
				const char *verb, const char *key,
				const char *what);
MBI_HIDDEN void mbi_s3_req_release(struct mbi_s3_req *r);
/*
 * One request with retries. MB_OK for a 2xx answer (body in r->resp or the
 * file); otherwise the error is recorded: MB_E_NOTFOUND for a 404 on a key.
 */
MBI_HIDDEN int mbi_s3_perform(struct mbi_s3 *s3, struct mbi_s3_req *r);
/* HEAD of full (key: its repository name, for messages); quiet keeps the
 * error already recorded. */
MBI_HIDDEN int mbi_s3_head_req(struct mbi_s3 *s3, const char *full,
			       const char *key, struct mbi_s3_rhdrs *out,
			       bool quiet);
MBI_HIDDEN int mbi_s3_head(struct mbi_s3 *s3, const char *full,
			   const char *key, struct mbi_s3_rhdrs *out);
/* Empty the download file of r and its hashes, to start over; -1 on
 * failure. */
MBI_HIDDEN int mbi_s3_file_reset(struct mbi_s3_req *r);
/* "HTTP 503 SlowDown: ..." of the last answer, in buf. */
MBI_HIDDEN const char *mbi_s3_describe_status(struct mbi_s3_req *r,
					      char *buf, size_t n);
/* Append a header to *l; on failure the list is freed and NULL. */
MBI_HIDDEN int mbi_s3_hdr_add(struct curl_slist **l, const char *fmt, ...)
	MBI_PRINTF(2, 3);
/* SHA-256 and MD5 of a body for its headers; sets r->body. */
MBI_HIDDEN void mbi_s3_body_hashes(struct mbi_s3_req *r,
				   struct mbi_s3_body *b);
/* Does the ETag say the server got the bytes whose MD5 is md5_hex? */
MBI_HIDDEN bool mbi_s3_etag_matches(const struct mbi_s3_rhdrs *h,
				    const char *md5_hex);

/* ----------------------------------------------- store_s3_multipart.c */

/* The store's writer: one PUT below single_max, a multipart upload to a
 * temporary key and a server-side copy above. */
MBI_HIDDEN int mbi_s3_writer_open(struct mbi_store *s,
				  struct mbi_store_writer **out);
MBI_HIDDEN int mbi_s3_writer_write(struct mbi_store_writer *wb,
				   const void *p, size_t n);
MBI_HIDDEN int mbi_s3_writer_commit(struct mbi_store_writer *wb,
				    const char *key);
MBI_HIDDEN void mbi_s3_writer_abort(struct mbi_store_writer *wb);
/* The headers of an object under its final name, or NULL (no memory). */
MBI_HIDDEN struct curl_slist *mbi_s3_final_headers(struct mbi_s3 *s3,
						   const char *key,
						   const char *sha_hex);

/* -------------------------------------------------------------- s3.c */

/* The key in the bucket of a repository key (malloc'd). */
MBI_HIDDEN int mbi_s3_full_key(struct mbi_s3 *s3, const char *key,
			       char **out);
/* Objects that Object Lock must protect: not the locks of running
 * commands, which are deleted when they end, and not temporary objects. */
MBI_HIDDEN bool mbi_s3_lockable(const char *key);

/* Delete up to 1000 keys (relative to the repository) in one request.
 * Missing keys count as deleted. Keys still under Object Lock are skipped
 * and counted in *locked (may be NULL). */
MBI_HIDDEN int mbi_s3_delete_many(struct mbi_store *s, const char *const *keys,
				  size_t n, size_t *locked);

#endif
