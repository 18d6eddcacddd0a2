/* SPDX-License-Identifier: MIT */
/* store_s3.c: the S3 backend: SigV4 by libcurl, retries, multipart uploads. */
#include "s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

/* Our own record of an object's SHA-256, checked on every download. */
#define META_SHA256 "x-amz-meta-mailbackup-sha256"
#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_PARTS 10000
#define MAX_COPY (5ULL << 30)      /* CopyObject's limit */
#define MAX_SINGLE (5ULL << 30)    /* PutObject's limit */
#define MAX_LIST_BODY (16 << 20)
#define MAX_ERR_BODY (256 << 10)
#define MAX_CONNECT_ATTEMPTS 3     /* an endpoint that refuses stays down */

struct s3 {
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

	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_mu;
	CURL **pool;
	size_t npool, cappool;
};

/* A request body in memory, possibly in pieces (the parts of a writer). */
struct body {
	const struct iovec *iov;
	int niov;
	uint64_t total, pos;
};

/* The response headers we look at. */
struct rhdrs {
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

struct req {
	const char *method;   /* GET PUT HEAD DELETE POST */
	const char *key;      /* full key in the bucket, NULL: the bucket */
	const char *query;    /* canonical query without '?', or NULL */
	const char *what;     /* the key as the repository names it */
	const char *verb;     /* "upload", "download", ... for messages */
	struct body *body;
	char payload_sha[MBI_SHA256_HEX];
	char content_md5[32];
	char md5_hex[33];
	const char *content_type;
	struct curl_slist *extra; /* more headers, owned by the caller */
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
	struct rhdrs h;
	struct mbi_s3_error err;
	int attempts;
};

struct part {
	struct s3w *w;
	pthread_t th;
	bool busy;
	int num;
	char *data;
	size_t len;
	int rc;
};

struct s3w {
	struct mbi_store_writer base; /* first: the store's view */
	struct s3 *s3;
	struct mbi_sha256 sha;
	uint64_t total;
	/* data not handed to an upload yet, in chunks of part_size */
	char **chunks;
	size_t nchunks, cap_chunks;
	size_t last_len, last_cap;  /* of chunks[nchunks - 1] */
	/* multipart, once the object outgrew single_max */
	char *tmpkey;
	char *upload_id;
	int nparts;
	char (*etags)[136];
	int cap_etags;
	struct part *slots;
	pthread_mutex_t mu;         /* guards etags and rc between threads */
	int rc;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---------------------------------------------------------- pure helpers */

bool mbi_s3_key_ok(const char *key)
{
	const char *p;

	if (!key || !*key || strlen(key) > MBI_S3_KEY_MAX)
		return false;
	for (p = key; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return mbi_path_is_safe(key);
}

int mbi_s3_uri_encode(struct mbi_buf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char enc[3];
		int rc;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || (c == '/' && keep_slash)) {
			rc = mbi_buf_add(b, s, 1);
		} else {
			enc[0] = '%';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			rc = mbi_buf_add(b, enc, 3);
		}
		if (rc)
			return rc;
	}
	return MB_OK;
}

static int param_cmp(const void *a, const void *b)
{
	const struct mbi_s3_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

int mbi_s3_query(struct mbi_buf *b, struct mbi_s3_param *params, size_t n)
{
	size_t i;
	int rc;

	/* names and values here are plain ASCII: sorting the raw strings
	 * sorts the encoded ones alike */
	if (n)
		qsort(params, n, sizeof(*params), param_cmp);
	for (i = 0; i < n; i++) {
		if ((i && (rc = mbi_buf_add(b, "&", 1))) ||
		    (rc = mbi_s3_uri_encode(b, params[i].name, false)) ||
		    (rc = mbi_buf_add(b, "=", 1)) ||
		    (rc = mbi_s3_uri_encode(b, params[i].value, false)))
			return rc;
	}
	/* NUL-terminated even when empty */
	return mbi_buf_add(b, "", 0);
}

static bool bucket_ok(const char *b)
{
	size_t n = strlen(b);
	const char *p;

	if (n < 3 || n > 63)
		return false;
	for (p = b; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') &&
		    !(*p >= 'A' && *p <= 'Z') && *p != '.' && *p != '-' &&
		    *p != '_')
			return false;
	return true;
}

int mbi_s3_parse_url(struct mb_ctx *ctx, const char *url, char **bucket,
		     char **prefix)
{
	const char *b, *slash;
	char *bk, *pf;
	size_t n;

	if (strncmp(url, "s3://", 5))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "repository url '%s' is not s3://BUCKET/PREFIX",
				 url);
	b = url + 5;
	slash = strchr(b, '/');
	bk = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
	if (!bk)
		return MB_E_NOMEM;
	if (!bucket_ok(bk)) {
		mbi_error(ctx, MB_E_CONFIG, 0,
			  "bucket name '%s' in repository url is not valid: use 3 to 63 letters, digits, '.' or '-'",
			  bk);
		free(bk);
		return MB_E_CONFIG;
	}
	b = slash ? slash + 1 : "";
	n = strlen(b);
	while (n && b[n - 1] == '/')
		n--;
	pf = malloc(n + 2);
	if (!pf) {
		free(bk);
		return MB_E_NOMEM;
	}
	memcpy(pf, b, n);
	pf[n] = '\0';
	if (n && !mbi_s3_key_ok(pf)) {
		mbi_error(ctx, MB_E_CONFIG, 0,
			  "prefix '%s' in repository url is not valid: no empty, '.' or '..' parts, no control characters",
			  pf);
		free(bk);
		free(pf);
		return MB_E_CONFIG;
	}
	if (n) {
		pf[n] = '/';
		pf[n + 1] = '\0';
	}
	*bucket = bk;
	*prefix = pf;
	return MB_OK;
}

int mbi_s3_url(struct mbi_buf *b, const struct mbi_s3_loc *loc,
	       const char *key, const char *query)
{
	int rc;

	if (loc->virtual_host) {
		const char *host = strstr(loc->endpoint, "://");

		host = host ? host + 3 : loc->endpoint;
		if ((rc = mbi_buf_add(b, loc->endpoint,
				      (size_t)(host - loc->endpoint))) ||
		    (rc = mbi_buf_printf(b, "%s.%s/", loc->bucket, host)))
			return rc;
	} else if ((rc = mbi_buf_printf(b, "%s/", loc->endpoint)) ||
		   (rc = mbi_s3_uri_encode(b, loc->bucket, false)) ||
		   (key && (rc = mbi_buf_add(b, "/", 1)))) {
		/* the bucket itself is "/BUCKET", without a slash after */
		return rc;
	}
	if (key && (rc = mbi_s3_uri_encode(b, key, true)))
		return rc;
	if (query && *query && ((rc = mbi_buf_add(b, "?", 1)) ||
				(rc = mbi_buf_addstr(b, query))))
		return rc;
	return MB_OK;
}

void mbi_s3_base64(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

long mbi_s3_backoff_ms(int attempt, long base_ms, long cap_ms, double rnd)
{
	long d = base_ms;
	int i;

	for (i = 1; i < attempt && d < cap_ms; i++)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	if (rnd < 0)
		rnd = 0;
	if (rnd > 1)
		rnd = 1;
	return d / 2 + (long)((double)(d - d / 2) * rnd);
}

/* Seconds since the epoch of an ISO 8601 time ("2030-01-02T03:04:05.000Z"). */
static int parse_iso_time(const char *s, int64_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return MB_E_INVAL;
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if (*end && strcmp(end, "Z") && strcmp(end, "+00:00"))
		return MB_E_INVAL;
	*out = (int64_t)timegm(&tm);
	return MB_OK;
}

static double random_unit(void)
{
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)(mbi_now() * 1e6);
	return (double)r / 4294967296.0;
}

/* ------------------------------------------------------------ handles */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access acc,
		       void *ud)
{
	struct s3 *s3 = ud;

	(void)h;
	(void)acc;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&s3->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	struct s3 *s3 = ud;

	(void)h;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&s3->share_mu[data]);
}

/* An easy handle for this thread's request: idle ones keep their
 * connections, and the share handle lets them all use each other's. */
static CURL *handle_get(struct s3 *s3)
{
	CURL *h = NULL;

	pthread_mutex_lock(&s3->pool_mu);
	if (s3->npool)
		h = s3->pool[--s3->npool];
	pthread_mutex_unlock(&s3->pool_mu);
	return h ? h : curl_easy_init();
}

static void handle_put(struct s3 *s3, CURL *h)
{
	pthread_mutex_lock(&s3->pool_mu);
	if (s3->npool < s3->cappool) {
		s3->pool[s3->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s3->pool_mu);
	if (h)
		curl_easy_cleanup(h);
}

/* ------------------------------------------------------------ callbacks */

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *ud)
{
	struct body *b = ud;
	size_t want = size * nmemb, got = 0;
	uint64_t off = b->pos;
	int i;

	for (i = 0; i < b->niov && got < want; i++) {
		size_t n;

		if (off >= b->iov[i].iov_len) {
			off -= b->iov[i].iov_len;
			continue;
		}
		n = b->iov[i].iov_len - (size_t)off;
		if (n > want - got)
			n = want - got;
		memcpy(dst + got, (const char *)b->iov[i].iov_base + off, n);
		got += n;
		off = 0;
	}
	b->pos += got;
	return got;
}

static int seek_cb(void *ud, curl_off_t offset, int origin)
{
	struct body *b = ud;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > b->total)
		return CURL_SEEKFUNC_FAIL;
	b->pos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static void header_value(char *dst, size_t n, const char *v, size_t len)
{
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
		       v[len - 1] == ' '))
		len--;
	if (len >= n)
		len = n - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

static size_t header_cb(char *line, size_t size, size_t nmemb, void *ud)
{
	struct req *r = ud;
	size_t len = size * nmemb;
	const char *colon = memchr(line, ':', len);
	struct {
		const char *name;
		char *dst;
		size_t n;
	} const fields[] = {
		{ "etag", r->h.etag, sizeof(r->h.etag) },
		{ META_SHA256, r->h.meta_sha, sizeof(r->h.meta_sha) },
		{ "x-amz-checksum-sha256", r->h.checksum,
		  sizeof(r->h.checksum) },
		{ "x-amz-version-id", r->h.version, sizeof(r->h.version) },
		{ "x-amz-object-lock-retain-until-date", r->h.lock_until,
		  sizeof(r->h.lock_until) },
		{ "x-amz-server-side-encryption", r->h.sse,
		  sizeof(r->h.sse) },
		{ "content-range", r->h.content_range,
		  sizeof(r->h.content_range) },
	};
	size_t i, nlen;

	/* a new answer (after a 100 Continue): forget the last one's */
	if (len > 5 && !memcmp(line, "HTTP/", 5)) {
		const char *sp = memchr(line, ' ', len);

		memset(&r->h, 0, sizeof(r->h));
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return len;
	}
	if (!colon)
		return len;
	nlen = (size_t)(colon - line);
	for (i = 0; i < MBI_ARRAY_SIZE(fields); i++)
		if (strlen(fields[i].name) == nlen &&
		    !strncasecmp(line, fields[i].name, nlen))
			header_value(fields[i].dst, fields[i].n, colon + 1,
				     len - nlen - 1);
	if (nlen == 14 && !strncasecmp(line, "content-length", 14)) {
		char v[32];

		header_value(v, sizeof(v), colon + 1, len - nlen - 1);
		r->h.content_length = strtoull(v, NULL, 10);
		r->h.has_length = true;
	}
	return len;
}

static int file_reset(struct req *r)
{
	r->got = 0;
	r->has_expect = false;
	r->first_etag[0] = '\0';
	if (ftruncate(r->fd, 0))
		return -1;
	mbi_sha256_release(&r->sha);
	if (mbi_sha256_init(&r->sha) ||
	    !EVP_DigestInit_ex(r->md5, EVP_md5(), NULL))
		return -1;
	return 0;
}

/* The first bytes of a GET's body: is it what we asked for? */
static int file_begin(struct req *r)
{
	uint64_t start = 0, end = 0, total = 0;

	r->started = true;
	if (r->status == 200) {
		if (r->got && file_reset(r))
			return -1;
		if (!r->h.has_length)
			return 0;
		total = r->h.content_length;
	} else {
		/* 206: bytes START-END/TOTAL, and START must be where we are */
		if (sscanf(r->h.content_range, "bytes %lu-%lu/%lu", &start,
			   &end, &total) != 3 || start != r->got) {
			r->restart = true;
			return -1;
		}
	}
	if (r->has_expect && total != r->expect) {
		/* the object changed under us: start over */
		r->restart = true;
		return -1;
	}
	if (!r->first_etag[0])
		memcpy(r->first_etag, r->h.etag, sizeof(r->first_etag));
	r->expect = total;
	r->has_expect = true;
	return 0;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct req *r = ud;
	size_t len = size * nmemb;

	if (r->fd >= 0 && (r->status == 200 || r->status == 206)) {
		if (!r->started && file_begin(r))
			return 0;
		if (pwrite(r->fd, p, len, (off_t)r->got) != (ssize_t)len)
			return 0;
		mbi_sha256_update(&r->sha, p, len);
		EVP_DigestUpdate(r->md5, p, len);
		r->got += len;
		return len;
	}
	if (r->resp.len + len > r->max_resp) {
		r->resp_overflow = true;
		return 0;
	}
	return mbi_buf_add(&r->resp, p, len) ? 0 : len;
}

/* ------------------------------------------------------------ requests */

enum verdict { V_DONE, V_RETRY, V_FAIL };

static int run_once(struct s3 *s3, CURL *h, struct req *r, const char *url,
		    struct curl_slist *hdrs)
{
	curl_easy_reset(h);
	if (curl_easy_setopt(h, CURLOPT_URL, url) ||
	    curl_easy_setopt(h, CURLOPT_SHARE, s3->share) ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s3->sigv4) ||
	    curl_easy_setopt(h, CURLOPT_USERNAME, s3->akid) ||
	    curl_easy_setopt(h, CURLOPT_PASSWORD, s3->secret) ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) ||
	    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb) ||
	    curl_easy_setopt(h, CURLOPT_HEADERDATA, r) ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb) ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, r) ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->cerrbuf) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT,
			     s3->timeout < 30 ? s3->timeout : 30L) ||
	    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L) ||
	    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s3->timeout) ||
	    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L))
		return CURLE_FAILED_INIT;
	/* the file wins over the default store, and over no other */
	if (s3->ca_file && (curl_easy_setopt(h, CURLOPT_CAINFO, s3->ca_file) ||
			    curl_easy_setopt(h, CURLOPT_CAPATH, NULL)))
		return CURLE_FAILED_INIT;
	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT")) {
		r->body->pos = 0;
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, r->body);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, r->body);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)r->body->total);
	} else if (!strcmp(r->method, "POST")) {
		r->body->pos = 0;
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, r->body);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, r->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)r->body->total);
	} else if (strcmp(r->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
	r->cerrbuf[0] = '\0';
	r->status = 0;
	r->cerr = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	return r->cerr;
}

static bool retryable_code(const char *code)
{
	static const char *const codes[] = {
		"InternalError", "SlowDown", "ServiceUnavailable",
		"RequestTimeout", "RequestTimeoutException", "Throttling",
		"ThrottlingException", "OperationAborted", NULL
	};
	size_t i;

	for (i = 0; codes[i]; i++)
		if (!strcmp(code, codes[i]))
			return true;
	return false;
}

static enum verdict classify(struct req *r)
{
	r->err.code[0] = r->err.message[0] = '\0';
	/* all bytes are here, the connection broke after them */
	if (r->fd >= 0 && r->cerr != CURLE_OK && r->started &&
	    r->has_expect && r->got == r->expect)
		return V_DONE;
	/* the object changed since the first answer: start over */
	if (r->fd >= 0 && r->got && (r->status == 412 || r->status == 416)) {
		r->restart = true;
		return V_RETRY;
	}
	if (r->cerr != CURLE_OK) {
		switch (r->cerr) {
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
			return r->attempts < MAX_CONNECT_ATTEMPTS ? V_RETRY :
			       V_FAIL;
		case CURLE_WRITE_ERROR:
			/* our file or a range answer we cannot use */
			return r->restart ? V_RETRY : V_FAIL;
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
		case CURLE_SEND_FAIL_REWIND:
		case CURLE_WEIRD_SERVER_REPLY:
		case CURLE_BAD_CONTENT_ENCODING:
			return V_RETRY;
		default:
			return V_FAIL;
		}
	}
	if (r->status >= 200 && r->status < 300) {
		if (r->error_in_200 && r->resp.len &&
		    !mbi_s3xml_error(r->resp.data, r->resp.len, &r->err))
			return retryable_code(r->err.code) ? V_RETRY : V_FAIL;
		return V_DONE;
	}
	if (r->resp.len)
		mbi_s3xml_error(r->resp.data, r->resp.len, &r->err);
	if (r->status >= 500 || r->status == 429 ||
	    retryable_code(r->err.code))
		return V_RETRY;
	return V_FAIL;
}

static const char *describe_status(struct req *r, char *buf, size_t n)
{
	if (r->err.code[0])
		snprintf(buf, n, "HTTP %ld %s%s%s", r->status, r->err.code,
			 r->err.message[0] ? ": " : "", r->err.message);
	else
		snprintf(buf, n, "HTTP %ld", r->status);
	return buf;
}

/* Turn the last attempt into the one-line error that says what to fix. */
static int report(struct s3 *s3, struct req *r)
{
	struct mb_ctx *ctx = s3->ctx;
	const char *what = r->what ? r->what : "";
	char st[400], tries[48] = "";

	if (r->attempts > 1)
		snprintf(tries, sizeof(tries), " (gave up after %d attempts)",
			 r->attempts);
	if (r->cerr != CURLE_OK) {
		const char *detail = r->cerrbuf[0] ? r->cerrbuf :
				     curl_easy_strerror(r->cerr);

		switch (r->cerr) {
		case CURLE_COULDNT_RESOLVE_HOST:
			return mbi_error(ctx, MB_E_STORE, 0,
					 "cannot resolve the host of s3 endpoint '%s': check [repository] endpoint",
					 s3->endpoint);
		case CURLE_COULDNT_CONNECT:
			return mbi_error(ctx, MB_E_STORE, 0,
					 "cannot connect to s3 endpoint '%s' (%s): check [repository] endpoint and that the server is up",
					 s3->endpoint, detail);
		case CURLE_PEER_FAILED_VERIFICATION:
			return mbi_error(ctx, MB_E_STORE, 0,
					 "cannot verify the TLS certificate of s3 endpoint '%s' (%s): set [repository] ca_file to the CA that signed it",
					 s3->endpoint, detail);
		case CURLE_SSL_CACERT_BADFILE:
			return mbi_error(ctx, MB_E_CONFIG, 0,
					 "cannot use CA file '%s' (%s): fix [repository] ca_file",
					 s3->ca_file ? s3->ca_file : "", detail);
		case CURLE_OPERATION_TIMEDOUT:
			return mbi_error(ctx, MB_E_STORE, 0,
					 "cannot %s '%s': no progress from s3 endpoint '%s' for %ld s%s: check the network or raise [repository] s3_timeout",
					 r->verb, what, s3->endpoint,
					 s3->timeout, tries);
		case CURLE_WRITE_ERROR:
			if (r->resp_overflow)
				return mbi_error(ctx, MB_E_STORE, 0,
						 "cannot %s '%s': the server's answer is over %zu bytes",
						 r->verb, what, r->max_resp);
			if (!r->restart && r->fd >= 0)
				return mbi_error(ctx, MB_E_IO, 0,
						 "cannot %s '%s': cannot write the temporary file: check space in $TMPDIR or /var/tmp",
						 r->verb, what);
			break;
		default:
			break;
		}
		return mbi_error(ctx, MB_E_STORE, 0, "cannot %s '%s': %s%s",
				 r->verb, what, detail, tries);
	}
	describe_status(r, st, sizeof(st));
	if (!strcmp(r->err.code, "SignatureDoesNotMatch"))
		return mbi_error(ctx, MB_E_STORE, 0,
				 "s3 refused the signature of key id '%s' (%s): fix [repository] secret_access_key or MAILBACKUP_S3_SECRET_ACCESS_KEY",
				 s3->akid, r->err.code);
	if (!strcmp(r->err.code, "InvalidAccessKeyId"))
		return mbi_error(ctx, MB_E_STORE, 0,
				 "s3 does not know access key id '%s': fix [repository] access_key_id or MAILBACKUP_S3_ACCESS_KEY_ID",
				 s3->akid);
	if (!strcmp(r->err.code, "RequestTimeTooSkewed"))
		return mbi_error(ctx, MB_E_STORE, 0,
				 "the clock of this host is too far from the s3 server's: synchronize it (NTP)");
	if (!strcmp(r->err.code, "NoSuchBucket"))
		return mbi_error(ctx, MB_E_STORE, 0,
				 "bucket '%s' not found at '%s': create it or fix [repository] url",
				 s3->bucket, s3->endpoint);
	if (!strcmp(r->err.code, "AuthorizationHeaderMalformed") ||
	    !strcmp(r->err.code, "PermanentRedirect") || r->status == 301)
		return mbi_error(ctx, MB_E_STORE, 0,
				 "bucket '%s' is not in region '%s' (%s): fix [repository] region or endpoint",
				 s3->bucket, s3->region, st);
	if (r->status == 403)
		return mbi_error(ctx, MB_E_STORE, 0,
				 "cannot %s '%s': access denied (%s): allow key id '%s' to read, write, list and delete in bucket '%s'",
				 r->verb, what, st, s3->akid, s3->bucket);
	if (r->status == 404 && r->key)
		return mbi_error(ctx, MB_E_NOTFOUND, 0, "'%s' not found", what);
	return mbi_error(ctx, MB_E_STORE, 0, "cannot %s '%s': %s%s", r->verb,
			 what, st, tries);
}

/* Append a header to *l; on failure the list is freed and NULL. */
static int hdr_add(struct curl_slist **l, const char *fmt, ...)
	MBI_PRINTF(2, 3);
static int hdr_add(struct curl_slist **l, const char *fmt, ...)
{
	struct curl_slist *n = NULL;
	va_list ap;
	char *s;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (len >= 0) {
		n = curl_slist_append(*l, s);
		free(s);
	}
	if (!n) {
		curl_slist_free_all(*l);
		*l = NULL;
		return MB_E_NOMEM;
	}
	*l = n;
	return MB_OK;
}

/* A copy of l with the headers that resume a download where it stopped. */
static struct curl_slist *resume_headers(const struct curl_slist *l,
					 const struct req *r)
{
	struct curl_slist *n = NULL;

	for (; l; l = l->next)
		if (hdr_add(&n, "%s", l->data))
			return NULL;
	if (hdr_add(&n, "Range: bytes=%llu-", (unsigned long long)r->got) ||
	    (r->first_etag[0] &&
	     hdr_add(&n, "If-Match: %s", r->first_etag)))
		return NULL;
	return n;
}

/*
 * One request with retries. MB_OK for a 2xx answer (body in r->resp or the
 * file); otherwise the error is recorded: MB_E_NOTFOUND for a 404 on a key.
 */
static int perform(struct s3 *s3, struct req *r)
{
	struct mbi_buf url = { 0 };
	struct curl_slist *hdrs = NULL, *e;
	int attempts = s3->retries + 1, rc;
	double t0 = mbi_now();

	if (mbi_s3_url(&url, &s3->loc, r->key, r->query))
		return MB_E_NOMEM;
	if (!r->payload_sha[0])
		memcpy(r->payload_sha, EMPTY_SHA256, sizeof(EMPTY_SHA256));
	if (hdr_add(&hdrs, "x-amz-content-sha256: %s", r->payload_sha) ||
	    (r->content_md5[0] &&
	     hdr_add(&hdrs, "Content-MD5: %s", r->content_md5)) ||
	    (r->content_type &&
	     hdr_add(&hdrs, "Content-Type: %s", r->content_type))) {
		mbi_buf_release(&url);
		return MB_E_NOMEM;
	}
	for (e = r->extra; e; e = e->next)
		if (hdr_add(&hdrs, "%s", e->data)) {
			mbi_buf_release(&url);
			return MB_E_NOMEM;
		}
	if (!r->max_resp)
		r->max_resp = MAX_ERR_BODY;
	r->attempts = 0;
	for (;;) {
		CURL *h = handle_get(s3);
		struct curl_slist *resume = NULL;
		enum verdict v;
		long delay;
		char st[400];

		if (h && r->fd >= 0 && r->got)
			resume = resume_headers(hdrs, r);
		if (!h || (r->fd >= 0 && r->got && !resume)) {
			if (h)
				handle_put(s3, h);
			rc = MB_E_NOMEM;
			break;
		}
		r->attempts++;
		r->resp.len = 0;
		r->resp_overflow = false;
		r->started = false;
		r->restart = false;
		memset(&r->h, 0, sizeof(r->h));
		run_once(s3, h, r, url.data, resume ? resume : hdrs);
		handle_put(s3, h);
		curl_slist_free_all(resume);
		v = classify(r);
		if (v == V_RETRY && r->fd >= 0 && r->restart &&
		    file_reset(r)) {
			rc = mbi_error(s3->ctx, MB_E_IO, errno,
				       "cannot reset the download of '%s'",
				       r->what);
			break;
		}
		if (v == V_DONE) {
			rc = MB_OK;
			break;
		}
		if (r->status == 404 && r->key && !r->resp.len && v == V_FAIL) {
			rc = r->quiet ? MB_E_NOTFOUND :
			     mbi_error(s3->ctx, MB_E_NOTFOUND, 0,
				       "'%s' not found", r->what);
			break;
		}
		delay = mbi_s3_backoff_ms(r->attempts, 250, 20000,
					  random_unit());
		if (v == V_FAIL || r->attempts >= attempts ||
		    mbi_now() - t0 + (double)delay / 1000 > s3->max_time) {
			rc = r->quiet ? MB_E_STORE : report(s3, r);
			if (r->quiet && r->status == 404)
				rc = MB_E_NOTFOUND;
			break;
		}
		mbi_log(s3->ctx, MB_LOG_INFO,
			"s3: %s '%s' failed (%s), retrying in %.1f s (attempt %d of %d)",
			r->verb, r->what ? r->what : "",
			r->cerr ? (r->cerrbuf[0] ? r->cerrbuf :
				   curl_easy_strerror(r->cerr)) :
			describe_status(r, st, sizeof(st)),
			(double)delay / 1000, r->attempts + 1, attempts);
		{
			struct timespec ts = { delay / 1000,
					       (delay % 1000) * 1000000 };

			while (nanosleep(&ts, &ts) && errno == EINTR)
				;
		}
	}
	curl_slist_free_all(hdrs);
	mbi_buf_release(&url);
	return rc;
}

static void req_init(struct req *r, const char *method, const char *verb,
		     const char *key, const char *what)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->verb = verb;
	r->key = key;
	r->what = what;
	r->fd = -1;
}

static void req_release(struct req *r)
{
	mbi_buf_release(&r->resp);
}

/* Hashes of a body for its headers. */
static void body_hashes(struct req *r, struct body *b)
{
	EVP_MD_CTX *md5 = EVP_MD_CTX_new();
	struct mbi_sha256 sha;
	unsigned char d[MBI_SHA256_LEN], m[16];
	unsigned int mlen = 16;
	int i;

	mbi_sha256_init(&sha);
	if (md5)
		EVP_DigestInit_ex(md5, EVP_md5(), NULL);
	for (i = 0; i < b->niov; i++) {
		mbi_sha256_update(&sha, b->iov[i].iov_base, b->iov[i].iov_len);
		if (md5)
			EVP_DigestUpdate(md5, b->iov[i].iov_base,
					 b->iov[i].iov_len);
	}
	mbi_sha256_final(&sha, d);
	mbi_sha256_release(&sha);
	mbi_hex(d, sizeof(d), r->payload_sha);
	if (md5) {
		EVP_DigestFinal_ex(md5, m, &mlen);
		EVP_MD_CTX_free(md5);
		mbi_s3_base64(m, 16, r->content_md5);
		mbi_hex(m, 16, r->md5_hex);
	}
	r->body = b;
}

/* Does the ETag say the server got the bytes whose MD5 is md5_hex? */
static bool etag_matches(const struct rhdrs *h, const char *md5_hex)
{
	char hex[33];
	size_t i, o = 0;

	/* only a plain MD5 ETag can be checked: not multipart, not KMS */
	if (!h->etag[0] || strchr(h->etag, '-') || !md5_hex[0] ||
	    !strncasecmp(h->sse, "aws:kms", 7))
		return true;
	for (i = 0; h->etag[i]; i++) {
		if (h->etag[i] == '"')
			continue;
		if (o == 32)
			return true;
		hex[o++] = h->etag[i];
	}
	hex[o] = '\0';
	return o != 32 || !strcasecmp(hex, md5_hex);
}

/* ------------------------------------------------------------ keys */

/* The key in the bucket of a repository key. */
static int full_key(struct s3 *s3, const char *key, char **out)
{
	if (!mbi_s3_key_ok(key))
		return mbi_error(s3->ctx, MB_E_INVAL, 0,
				 "cannot store key '%s' in s3: not a plain relative name",
				 key);
	*out = mbi_asprintf("%s%s", s3->prefix, key);
	return *out ? MB_OK : MB_E_NOMEM;
}

/* Objects that Object Lock must protect: not the locks of running
 * commands, which are deleted when they end, and not temporary objects. */
static bool lockable(const char *key)
{
	return strncmp(key, "locks/", 6) != 0 && strncmp(key, "tmp/", 4) != 0;
}

/* The headers of an object under its final name. */
static struct curl_slist *final_headers(struct s3 *s3, const char *key,
					const char *sha_hex)
{
	struct curl_slist *l = NULL;
	char until[40];

	if (hdr_add(&l, "%s: %s", META_SHA256, sha_hex))
		return NULL;
	if (s3->storage_class && !strncmp(key, "packs/", 6) &&
	    hdr_add(&l, "x-amz-storage-class: %s", s3->storage_class))
		return NULL;
	if (s3->lock_days > 0 && lockable(key)) {
		mbi_time_format((int64_t)time(NULL) +
				(int64_t)s3->lock_days * 86400, until,
				sizeof(until), false);
		if (hdr_add(&l, "x-amz-object-lock-mode: %s", s3->lock_mode) ||
		    hdr_add(&l, "x-amz-object-lock-retain-until-date: %s",
			    until))
			return NULL;
	}
	return l;
}

/* ------------------------------------------------------------ writer */

static int s3_writer_open(struct mbi_store *s, struct mbi_store_writer **out)
{
	struct s3 *s3 = s->priv;
	struct s3w *w = calloc(1, sizeof(*w));

	if (!w)
		return MB_E_NOMEM;
	w->base.s = s;
	w->s3 = s3;
	w->slots = calloc((size_t)s3->parallel, sizeof(*w->slots));
	if (!w->slots || mbi_sha256_init(&w->sha)) {
		free(w->slots);
		free(w);
		return MB_E_NOMEM;
	}
	pthread_mutex_init(&w->mu, NULL);
	*out = &w->base;
	return MB_OK;
}

static void set_rc(struct s3w *w, int rc)
{
	pthread_mutex_lock(&w->mu);
	if (!w->rc)
		w->rc = rc;
	pthread_mutex_unlock(&w->mu);
}

static int get_rc(struct s3w *w)
{
	int rc;

	pthread_mutex_lock(&w->mu);
	rc = w->rc;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

static void *part_thread(void *arg)
{
	struct part *pt = arg;
	struct s3w *w = pt->w;
	struct s3 *s3 = w->s3;
	struct iovec iov = { pt->data, pt->len };
	struct body b = { &iov, 1, pt->len, 0 };
	struct req r;
	char *query = NULL;
	int rc;

	if (get_rc(w)) {
		pt->rc = MB_E_ABORTED;
		return NULL;
	}
	req_init(&r, "PUT", "upload part of", w->tmpkey,
		 w->tmpkey + strlen(s3->prefix));
	{
		struct mbi_buf q = { 0 };
		char num[16];
		struct mbi_s3_param p[] = {
			{ "partNumber", num }, { "uploadId", w->upload_id },
		};

		snprintf(num, sizeof(num), "%d", pt->num);
		rc = mbi_s3_query(&q, p, MBI_ARRAY_SIZE(p));
		query = q.data;
	}
	if (!rc) {
		r.query = query;
		body_hashes(&r, &b);
		rc = perform(s3, &r);
	}
	if (!rc && !r.h.etag[0])
		rc = mbi_error(s3->ctx, MB_E_STORE, 0,
			       "cannot upload part %d of '%s': the server sent no ETag",
			       pt->num, r.what);
	if (!rc && !etag_matches(&r.h, r.md5_hex))
		rc = mbi_error(s3->ctx, MB_E_STORE, 0,
			       "cannot upload part %d of '%s': the server stored other bytes (ETag %s)",
			       pt->num, r.what, r.h.etag);
	if (!rc) {
		pthread_mutex_lock(&w->mu);
		memcpy(w->etags[pt->num - 1], r.h.etag, sizeof(r.h.etag));
		pthread_mutex_unlock(&w->mu);
	}
	pt->rc = rc;
	if (rc)
		set_rc(w, rc);
	free(query);
	req_release(&r);
	return NULL;
}

static void part_join(struct part *pt)
{
	pthread_join(pt->th, NULL);
	pt->busy = false;
	free(pt->data);
	pt->data = NULL;
}

static void join_all(struct s3w *w)
{
	int i;

	for (i = 0; i < w->s3->parallel; i++)
		if (w->slots[i].busy)
			part_join(&w->slots[i]);
}

/* Hand one full chunk to an upload thread, waiting for a free slot: at
 * most s3_parallel parts are in memory and in flight per writer. */
static int submit_part(struct s3w *w, char *data, size_t len)
{
	struct s3 *s3 = w->s3;
	struct part *pt = NULL;
	int i, rc;

	if (w->nparts >= MAX_PARTS) {
		free(data);
		return mbi_error(s3->ctx, MB_E_STORE, 0,
				 "object too large for %d parts: raise [repository] part_size",
				 MAX_PARTS);
	}
	if (w->nparts == w->cap_etags) {
		int cap = w->cap_etags ? 2 * w->cap_etags : 64;
		char (*n)[136];

		pthread_mutex_lock(&w->mu);
		n = realloc(w->etags, (size_t)cap * sizeof(*n));
		if (n) {
			w->etags = n;
			w->cap_etags = cap;
		}
		pthread_mutex_unlock(&w->mu);
		if (!n) {
			free(data);
			return MB_E_NOMEM;
		}
	}
	for (i = 0; i < s3->parallel; i++)
		if (!w->slots[i].busy) {
			pt = &w->slots[i];
			break;
		}
	if (!pt) {
		/* wait for the oldest part */
		pt = &w->slots[0];
		for (i = 1; i < s3->parallel; i++)
			if (w->slots[i].num < pt->num)
				pt = &w->slots[i];
		part_join(pt);
	}
	if ((rc = get_rc(w))) {
		free(data);
		return rc;
	}
	pt->w = w;
	pt->num = ++w->nparts;
	pt->data = data;
	pt->len = len;
	pt->rc = 0;
	w->etags[pt->num - 1][0] = '\0';
	if (pthread_create(&pt->th, NULL, part_thread, pt)) {
		pt->data = NULL;
		free(data);
		return mbi_error(s3->ctx, MB_E_STORE, errno,
				 "cannot start an upload thread");
	}
	pt->busy = true;
	return MB_OK;
}

static int start_multipart(struct s3w *w)
{
	struct s3 *s3 = w->s3;
	char rnd[33], *rel;
	struct iovec iov = { NULL, 0 };
	struct body b = { &iov, 0, 0, 0 };
	struct req r;
	int rc;

	mbi_random_hex(rnd, 16);
	w->tmpkey = mbi_asprintf("%stmp/%s", s3->prefix, rnd);
	if (!w->tmpkey)
		return MB_E_NOMEM;
	rel = w->tmpkey + strlen(s3->prefix);
	req_init(&r, "POST", "start the upload of", w->tmpkey, rel);
	r.query = "uploads=";
	r.body = &b;
	r.content_type = "application/octet-stream";
	rc = perform(s3, &r);
	if (!rc && mbi_s3xml_initiate(r.resp.data, r.resp.len, &w->upload_id))
		rc = mbi_error(s3->ctx, MB_E_STORE, 0,
			       "cannot start the upload of '%s': the server's answer is not InitiateMultipartUploadResult",
			       rel);
	req_release(&r);
	return rc;
}

static int s3_writer_write(struct mbi_store_writer *wb, const void *p,
			   size_t n)
{
	struct s3w *w = (struct s3w *)wb;
	struct s3 *s3 = w->s3;
	const char *c = p;
	int rc;

	if ((rc = get_rc(w)))
		return rc;
	mbi_sha256_update(&w->sha, p, n);
	w->total += n;
	while (n) {
		size_t room, take;

		if (!w->nchunks || w->last_len == s3->part_size) {
			char **nc;

			/* the chunk before is full: past single_max it goes
			 * out as a part (and so do the ones before it) */
			if (w->nchunks && !w->upload_id &&
			    (uint64_t)w->nchunks * s3->part_size >=
			    s3->single_max) {
				size_t i;

				if ((rc = start_multipart(w)))
					goto fail;
				for (i = 0; i < w->nchunks; i++) {
					char *d = w->chunks[i];

					w->chunks[i] = NULL;
					if ((rc = submit_part(w, d,
							      s3->part_size)))
						goto fail;
				}
				w->nchunks = 0;
			} else if (w->nchunks && w->upload_id) {
				char *d = w->chunks[--w->nchunks];

				w->chunks[w->nchunks] = NULL;
				if ((rc = submit_part(w, d, s3->part_size)))
					goto fail;
			}
			if (w->nchunks == w->cap_chunks) {
				size_t cap = w->cap_chunks ? 2 * w->cap_chunks :
					     8;

				nc = realloc(w->chunks, cap * sizeof(*nc));
				if (!nc)
					return MB_E_NOMEM;
				w->chunks = nc;
				w->cap_chunks = cap;
			}
			w->chunks[w->nchunks++] = NULL;
			w->last_len = w->last_cap = 0;
		}
		room = s3->part_size - w->last_len;
		take = n < room ? n : room;
		if (w->last_len + take > w->last_cap) {
			/* grow by doubling: small objects stay small */
			size_t cap = w->last_cap ? w->last_cap : 4096;
			char *nb;

			while (cap < w->last_len + take)
				cap *= 2;
			if (cap > s3->part_size)
				cap = s3->part_size;
			nb = realloc(w->chunks[w->nchunks - 1], cap);
			if (!nb)
				return MB_E_NOMEM;
			w->chunks[w->nchunks - 1] = nb;
			w->last_cap = cap;
		}
		memcpy(w->chunks[w->nchunks - 1] + w->last_len, c, take);
		w->last_len += take;
		c += take;
		n -= take;
	}
	return MB_OK;
fail:
	set_rc(w, rc);
	return rc;
}

static void writer_free(struct s3w *w)
{
	size_t i;

	join_all(w);
	for (i = 0; i < w->nchunks; i++)
		free(w->chunks[i]);
	free(w->chunks);
	free(w->slots);
	free(w->etags);
	free(w->tmpkey);
	free(w->upload_id);
	mbi_sha256_release(&w->sha);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* Drop an unfinished multipart upload so that no parts stay billed. */
static void abort_multipart(struct s3w *w)
{
	struct s3 *s3 = w->s3;
	struct mbi_s3_param p[] = { { "uploadId", w->upload_id } };
	struct mbi_buf q = { 0 };
	struct req r;
	char st[400];

	join_all(w);
	if (mbi_s3_query(&q, p, 1))
		return;
	req_init(&r, "DELETE", "abort the upload of", w->tmpkey,
		 w->tmpkey + strlen(s3->prefix));
	r.query = q.data;
	r.quiet = true;
	if (perform(s3, &r))
		mbi_log(s3->ctx, MB_LOG_WARNING,
			"s3: cannot abort the upload of '%s' (upload id %s, %s): its parts stay stored until a lifecycle rule or you remove them",
			r.what, w->upload_id,
			r.status ? describe_status(&r, st, sizeof(st)) :
			"no answer");
	req_release(&r);
	mbi_buf_release(&q);
}

static void delete_tmp(struct s3 *s3, const char *key, const char *version)
{
	struct mbi_buf q = { 0 };
	struct mbi_s3_param p[] = { { "versionId", version } };
	struct req r;

	if (version && *version && mbi_s3_query(&q, p, 1))
		return;
	req_init(&r, "DELETE", "delete", key, key + strlen(s3->prefix));
	r.query = q.data;
	r.quiet = true;
	if (perform(s3, &r) && r.status != 404)
		mbi_log(s3->ctx, MB_LOG_WARNING,
			"s3: cannot delete temporary object '%s': remove it by hand",
			r.what);
	req_release(&r);
	mbi_buf_release(&q);
}

static int commit_single(struct s3w *w, const char *key,
			 const char *full, const char *sha_hex)
{
	struct s3 *s3 = w->s3;
	struct iovec *iov = calloc(w->nchunks ? w->nchunks : 1, sizeof(*iov));
	struct body b = { iov, (int)w->nchunks, w->total, 0 };
	struct req r;
	size_t i;
	int rc;

	if (!iov)
		return MB_E_NOMEM;
	for (i = 0; i < w->nchunks; i++) {
		iov[i].iov_base = w->chunks[i];
		iov[i].iov_len = i + 1 < w->nchunks ? s3->part_size :
				 w->last_len;
	}
	req_init(&r, "PUT", "upload", full, key);
	body_hashes(&r, &b);
	r.extra = final_headers(s3, key, sha_hex);
	rc = r.extra ? perform(s3, &r) : MB_E_NOMEM;
	if (!rc && !etag_matches(&r.h, r.md5_hex))
		rc = mbi_error(s3->ctx, MB_E_STORE, 0,
			       "cannot upload '%s': the server stored other bytes (ETag %s)",
			       key, r.h.etag);
	curl_slist_free_all(r.extra);
	req_release(&r);
	free(iov);
	return rc;
}

static int head_req(struct s3 *s3, const char *full, const char *key,
		    struct rhdrs *out, bool quiet);

static int complete_multipart(struct s3w *w, char *version,
			      size_t vlen)
{
	struct s3 *s3 = w->s3;
	struct mbi_buf xml = { 0 }, q = { 0 };
	struct mbi_s3_param p[] = { { "uploadId", w->upload_id } };
	struct iovec iov;
	struct body b = { &iov, 1, 0, 0 };
	struct mbi_s3_error err;
	struct req r;
	char *etag = NULL;
	int i, rc;

	rc = mbi_buf_addstr(&xml, "<CompleteMultipartUpload>");
	for (i = 0; !rc && i < w->nparts; i++) {
		rc = mbi_buf_printf(&xml, "<Part><PartNumber>%d</PartNumber><ETag>",
				    i + 1);
		if (!rc)
			rc = mbi_s3xml_escape(&xml, w->etags[i]);
		if (!rc)
			rc = mbi_buf_addstr(&xml, "</ETag></Part>");
	}
	if (!rc)
		rc = mbi_buf_addstr(&xml, "</CompleteMultipartUpload>");
	if (!rc)
		rc = mbi_s3_query(&q, p, 1);
	if (rc) {
		mbi_buf_release(&xml);
		mbi_buf_release(&q);
		return rc;
	}
	iov.iov_base = xml.data;
	iov.iov_len = xml.len;
	b.total = xml.len;
	req_init(&r, "POST", "complete the upload of", w->tmpkey,
		 w->tmpkey + strlen(s3->prefix));
	r.query = q.data;
	r.content_type = "application/xml";
	r.error_in_200 = true;
	body_hashes(&r, &b);
	rc = perform(s3, &r);
	if (rc && r.attempts > 1) {
		struct rhdrs h;

		/* an earlier attempt completed it and its answer was lost:
		 * then the upload is gone and the object is there (the
		 * temporary name is ours alone) */
		if (!head_req(s3, w->tmpkey, r.what, &h, true) &&
		    h.content_length == w->total) {
			snprintf(version, vlen, "%s", h.version);
			rc = MB_OK;
			goto out;
		}
	}
	if (!rc) {
		rc = mbi_s3xml_complete(r.resp.data, r.resp.len, &etag, &err);
		if (rc == MB_E_STORE)
			rc = mbi_error(s3->ctx, MB_E_STORE, 0,
				       "cannot complete the upload of '%s': %s: %s",
				       r.what, err.code, err.message);
		else if (rc)
			rc = mbi_error(s3->ctx, MB_E_STORE, 0,
				       "cannot complete the upload of '%s': the server's answer is not CompleteMultipartUploadResult",
				       r.what);
	}
	if (!rc)
		snprintf(version, vlen, "%s", r.h.version);
out:
	free(etag);
	req_release(&r);
	mbi_buf_release(&xml);
	mbi_buf_release(&q);
	return rc;
}

static int head_req(struct s3 *s3, const char *full, const char *key,
		    struct rhdrs *out, bool quiet)
{
	struct req r;
	int rc;

	req_init(&r, "HEAD", "stat", full, key);
	r.quiet = quiet;
	rc = perform(s3, &r);
	if (!rc) {
		*out = r.h;
		if (!r.h.has_length)
			rc = mbi_error(s3->ctx, MB_E_STORE, 0,
				       "cannot stat '%s': the server sent no Content-Length",
				       key);
	}
	req_release(&r);
	return rc;
}

static int head(struct s3 *s3, const char *full, const char *key,
		struct rhdrs *out)
{
	return head_req(s3, full, key, out, false);
}

/* The completed temporary object goes to its final name by a server-side
 * copy, which also records our checksum and the lock. */
static int copy_to_final(struct s3w *w, const char *key,
			 const char *full, const char *sha_hex)
{
	struct s3 *s3 = w->s3;
	struct iovec iov = { NULL, 0 };
	struct body b = { &iov, 0, 0, 0 };
	struct mbi_buf src = { 0 };
	struct mbi_s3_error err;
	struct req r;
	int rc;

	if (mbi_buf_add(&src, "/", 1) ||
	    mbi_s3_uri_encode(&src, s3->bucket, false) ||
	    mbi_buf_add(&src, "/", 1) ||
	    mbi_s3_uri_encode(&src, w->tmpkey, true))
		return MB_E_NOMEM;
	req_init(&r, "PUT", "copy to", full, key);
	r.body = &b;
	r.error_in_200 = true;
	r.extra = final_headers(s3, key, sha_hex);
	if (!r.extra ||
	    hdr_add(&r.extra, "x-amz-copy-source: %s", src.data) ||
	    hdr_add(&r.extra, "x-amz-metadata-directive: REPLACE"))
		rc = MB_E_NOMEM;
	else
		rc = perform(s3, &r);
	if (!rc) {
		rc = mbi_s3xml_copy(r.resp.data, r.resp.len, &err);
		if (rc == MB_E_STORE)
			rc = mbi_error(s3->ctx, MB_E_STORE, 0,
				       "cannot copy to '%s': %s: %s", key,
				       err.code, err.message);
		else if (rc)
			rc = mbi_error(s3->ctx, MB_E_STORE, 0,
				       "cannot copy to '%s': the server's answer is not CopyObjectResult",
				       key);
	}
	curl_slist_free_all(r.extra);
	req_release(&r);
	mbi_buf_release(&src);
	return rc;
}

static int commit_multipart(struct s3w *w, const char *key,
			    const char *full, const char *sha_hex)
{
	struct s3 *s3 = w->s3;
	struct rhdrs h;
	char version[256] = "";
	bool completed = false;
	int rc = MB_OK;

	if (w->total > MAX_COPY) {
		rc = mbi_error(s3->ctx, MB_E_STORE, 0,
			       "cannot store '%s': %llu bytes is more than an s3 copy takes (5 GiB): lower [repository] pack_size",
			       key, (unsigned long long)w->total);
		goto out;
	}
	if (w->nchunks) {
		char *d = w->chunks[0];

		/* after the switch to multipart at most one chunk waits */
		w->chunks[0] = NULL;
		w->nchunks = 0;
		rc = submit_part(w, d, w->last_len);
	}
	join_all(w);
	if (!rc)
		rc = get_rc(w);
	if (!rc)
		rc = complete_multipart(w, version, sizeof(version));
	if (rc)
		goto out;
	completed = true;
	rc = head(s3, w->tmpkey, w->tmpkey + strlen(s3->prefix), &h);
	if (!rc && h.content_length != w->total)
		rc = mbi_error(s3->ctx, MB_E_STORE, 0,
			       "cannot upload '%s': the server assembled %llu bytes, not %llu",
			       key, (unsigned long long)h.content_length,
			       (unsigned long long)w->total);
	if (!rc)
		rc = copy_to_final(w, key, full, sha_hex);
out:
	if (completed)
		delete_tmp(s3, w->tmpkey, version);
	else
		abort_multipart(w);
	return rc;
}

static int s3_writer_commit(struct mbi_store_writer *wb, const char *key)
{
	struct s3w *w = (struct s3w *)wb;
	struct s3 *s3 = w->s3;
	unsigned char d[MBI_SHA256_LEN];
	char sha_hex[MBI_SHA256_HEX], *full = NULL;
	int rc = get_rc(w);

	if (!rc)
		rc = full_key(s3, key, &full);
	if (rc) {
		if (w->upload_id)
			abort_multipart(w);
		writer_free(w);
		return rc;
	}
	mbi_sha256_final(&w->sha, d);
	mbi_hex(d, sizeof(d), sha_hex);
	if (w->upload_id)
		rc = commit_multipart(w, key, full, sha_hex);
	else
		rc = commit_single(w, key, full, sha_hex);
	if (!rc)
		mbi_log(s3->ctx, MB_LOG_DEBUG, "s3: stored '%s' (%llu bytes%s)",
			key, (unsigned long long)w->total,
			w->upload_id ? ", multipart" : "");
	free(full);
	writer_free(w);
	return rc;
}

static void s3_writer_abort(struct mbi_store_writer *wb)
{
	struct s3w *w = (struct s3w *)wb;

	if (!w)
		return;
	if (w->upload_id) {
		set_rc(w, MB_E_ABORTED);
		abort_multipart(w);
	}
	writer_free(w);
}

/* ------------------------------------------------------------ reading */

static int open_tmpfile(struct mb_ctx *ctx)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	int fd;

	if (!dir || !*dir)
		dir = "/var/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* file systems without O_TMPFILE */
	path = mbi_asprintf("%s/mailbackup-s3-XXXXXX", dir);
	if (!path)
		return -1;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	else
		mbi_error(ctx, MB_E_IO, errno,
			  "cannot create a temporary file in '%s': set TMPDIR to a writable directory",
			  dir);
	free(path);
	return fd;
}

/* Check what we downloaded against what was recorded at upload. */
static int verify_download(struct s3 *s3, struct req *r, const char *key)
{
	unsigned char d[MBI_SHA256_LEN], m[16];
	unsigned int mlen = 16;
	char hex[MBI_SHA256_HEX], b64[48], m64[33];

	if (r->has_expect && r->got != r->expect)
		return mbi_error(s3->ctx, MB_E_VERIFY, 0,
				 "'%s' is incomplete: %llu of %llu bytes",
				 key, (unsigned long long)r->got,
				 (unsigned long long)r->expect);
	mbi_sha256_final(&r->sha, d);
	EVP_DigestFinal_ex(r->md5, m, &mlen);
	mbi_hex(d, sizeof(d), hex);
	if (r->h.meta_sha[0]) {
		if (strcasecmp(hex, r->h.meta_sha))
			return mbi_error(s3->ctx, MB_E_VERIFY, 0,
					 "'%s' is corrupt: its SHA-256 is not the one recorded at upload",
					 key);
		return MB_OK;
	}
	if (r->h.checksum[0] && !strchr(r->h.checksum, '-')) {
		mbi_s3_base64(d, sizeof(d), b64);
		if (strcmp(b64, r->h.checksum))
			return mbi_error(s3->ctx, MB_E_VERIFY, 0,
					 "'%s' is corrupt: its SHA-256 is not the server's checksum",
					 key);
		return MB_OK;
	}
	mbi_hex(m, 16, m64);
	if (!etag_matches(&r->h, m64))
		return mbi_error(s3->ctx, MB_E_VERIFY, 0,
				 "'%s' is corrupt: its MD5 is not its ETag %s",
				 key, r->h.etag);
	return MB_OK;
}

static int download(struct s3 *s3, const char *full, const char *key, int fd,
		    uint64_t *size)
{
	struct req r;
	int rc, tries;

	/* a checksum mismatch gets one more download from scratch */
	for (tries = 0; tries < 2; tries++) {
		req_init(&r, "GET", "download", full, key);
		r.fd = fd;
		r.md5 = EVP_MD_CTX_new();
		if (!r.md5 || mbi_sha256_init(&r.sha) || file_reset(&r))
			rc = MB_E_NOMEM;
		else
			rc = perform(s3, &r);
		if (!rc)
			rc = verify_download(s3, &r, key);
		if (!rc)
			*size = r.got;
		mbi_sha256_release(&r.sha);
		EVP_MD_CTX_free(r.md5);
		req_release(&r);
		if (rc != MB_E_VERIFY)
			break;
		if (!tries)
			mbi_log(s3->ctx, MB_LOG_WARNING,
				"s3: '%s' does not match its checksum: downloading it again",
				key);
	}
	return rc;
}

static int s3_get(struct mbi_store *s, const char *key, int *fd_out,
		  uint64_t *size)
{
	struct s3 *s3 = s->priv;
	char *full;
	uint64_t n = 0;
	int fd, rc = full_key(s3, key, &full);

	if (rc)
		return rc;
	fd = open_tmpfile(s3->ctx);
	if (fd < 0) {
		free(full);
		return MB_E_IO;
	}
	rc = download(s3, full, key, fd, &n);
	if (!rc && lseek(fd, 0, SEEK_SET) < 0)
		rc = mbi_error(s3->ctx, MB_E_IO, errno,
			       "cannot rewind the download of '%s'", key);
	free(full);
	if (rc) {
		close(fd);
		return rc;
	}
	*fd_out = fd;
	*size = n;
	return MB_OK;
}

static int s3_stat(struct mbi_store *s, const char *key, uint64_t *size)
{
	struct s3 *s3 = s->priv;
	char *full;
	struct rhdrs h;
	int rc = full_key(s3, key, &full);

	if (rc)
		return rc;
	rc = head(s3, full, key, &h);
	free(full);
	if (!rc)
		*size = h.content_length;
	return rc;
}

static int list_page(struct s3 *s3, const char *prefix, const char *token,
		     long max_keys, const char *what,
		     struct mbi_s3_listing *out)
{
	struct mbi_s3_param p[4];
	struct mbi_buf q = { 0 };
	char mk[24];
	size_t n = 0;
	struct req r;
	int rc;

	p[n++] = (struct mbi_s3_param){ "list-type", "2" };
	p[n++] = (struct mbi_s3_param){ "prefix", prefix };
	if (token)
		p[n++] = (struct mbi_s3_param){ "continuation-token", token };
	if (max_keys > 0) {
		snprintf(mk, sizeof(mk), "%ld", max_keys);
		p[n++] = (struct mbi_s3_param){ "max-keys", mk };
	}
	if (mbi_s3_query(&q, p, n))
		return MB_E_NOMEM;
	/* a body garbled on the way is asked for again, a few times */
	for (n = 0;; n++) {
		req_init(&r, "GET", "list", NULL, what);
		r.query = q.data;
		r.max_resp = MAX_LIST_BODY;
		rc = perform(s3, &r);
		if (rc || !mbi_s3xml_list(r.resp.data, r.resp.len, out))
			break;
		req_release(&r);
		if (n == 3) {
			rc = mbi_error(s3->ctx, MB_E_STORE, 0,
				       "cannot list '%s': the server's answer is not a ListBucketResult",
				       what);
			break;
		}
		mbi_log(s3->ctx, MB_LOG_INFO,
			"s3: list '%s': garbled answer, asking again", what);
	}
	req_release(&r);
	mbi_buf_release(&q);
	return rc;
}

static int s3_list(struct mbi_store *s, const char *prefix, mbi_list_fn fn,
		   void *ud)
{
	struct s3 *s3 = s->priv;
	char *full = mbi_asprintf("%s%s", s3->prefix, prefix ? prefix : "");
	char *token = NULL;
	size_t plen = strlen(s3->prefix), flen;
	int rc = MB_OK;

	if (!full)
		return MB_E_NOMEM;
	flen = strlen(full);
	do {
		struct mbi_s3_listing l;
		size_t i;

		rc = list_page(s3, full, token, s3->max_keys,
			       prefix && *prefix ? prefix : "/", &l);
		if (rc)
			break;
		for (i = 0; !rc && i < l.nobjs; i++) {
			const char *k = l.objs[i].key;

			/* only what we asked for, and never the temporary
			 * objects of uploads in progress */
			if (strncmp(k, full, flen) ||
			    !strncmp(k + plen, "tmp/", 4) ||
			    !mbi_s3_key_ok(k + plen))
				continue;
			rc = fn(ud, k + plen, l.objs[i].size);
		}
		if (!rc && l.truncated && token &&
		    !strcmp(token, l.next_token))
			rc = mbi_error(s3->ctx, MB_E_STORE, 0,
				       "cannot list '%s': the server repeats its continuation token",
				       prefix);
		free(token);
		token = NULL;
		if (!rc && l.truncated) {
			token = l.next_token;
			l.next_token = NULL;
		}
		mbi_s3_listing_release(&l);
	} while (!rc && token);
	free(token);
	free(full);
	return rc;
}

/* ------------------------------------------------------------ deleting */

/* MB_E_LOCKED when the object is under Object Lock retention. */
static int check_lock(struct s3 *s3, const char *full, const char *key)
{
	struct rhdrs h;
	int64_t until;
	int rc;

	if (s3->lock_days <= 0 || !lockable(key))
		return MB_OK;
	rc = head(s3, full, key, &h);
	if (rc)
		return rc;
	if (h.lock_until[0] && !parse_iso_time(h.lock_until, &until) &&
	    until > (int64_t)time(NULL))
		return mbi_error(s3->ctx, MB_E_LOCKED, 0,
				 "'%s' is under object lock until %s: kept",
				 key, h.lock_until);
	return MB_OK;
}

static int s3_del(struct mbi_store *s, const char *key)
{
	struct s3 *s3 = s->priv;
	char *full;
	struct req r;
	int rc = full_key(s3, key, &full);

	if (rc)
		return rc;
	rc = check_lock(s3, full, key);
	if (rc == MB_E_NOTFOUND)
		rc = MB_OK;
	else if (!rc) {
		req_init(&r, "DELETE", "delete", full, key);
		rc = perform(s3, &r);
		if (rc == MB_E_NOTFOUND)
			rc = MB_OK;
		else if (rc && r.status == 403 && s3->lock_days > 0)
			rc = mbi_error(s3->ctx, MB_E_LOCKED, 0,
				       "'%s' cannot be deleted (%s): it may be under object lock: kept",
				       key, r.err.code);
		req_release(&r);
	}
	free(full);
	return rc;
}

int mbi_s3_delete_many(struct mbi_store *s, const char *const *keys, size_t n,
		       size_t *locked)
{
	struct s3 *s3 = s->priv;
	struct mbi_buf xml = { 0 };
	struct mbi_s3_delete_result res = { 0 };
	struct iovec iov;
	struct body b = { &iov, 1, 0, 0 };
	struct req r;
	size_t i, nlocked = 0, nsent = 0;
	int rc = MB_OK;

	if (n > 1000)
		return mbi_error(s3->ctx, MB_E_INVAL, 0,
				 "cannot delete more than 1000 objects at once");
	if (mbi_buf_addstr(&xml, "<Delete><Quiet>true</Quiet>"))
		return MB_E_NOMEM;
	for (i = 0; i < n && !rc; i++) {
		char *full;

		if ((rc = full_key(s3, keys[i], &full)))
			break;
		rc = check_lock(s3, full, keys[i]);
		if (rc == MB_E_LOCKED || rc == MB_E_NOTFOUND) {
			nlocked += rc == MB_E_LOCKED;
			rc = MB_OK;
		} else if (!rc) {
			nsent++;
			if (mbi_buf_addstr(&xml, "<Object><Key>") ||
			    mbi_s3xml_escape(&xml, full) ||
			    mbi_buf_addstr(&xml, "</Key></Object>"))
				rc = MB_E_NOMEM;
		}
		free(full);
	}
	if (!rc && mbi_buf_addstr(&xml, "</Delete>"))
		rc = MB_E_NOMEM;
	if (rc || !nsent)
		goto out;
	iov.iov_base = xml.data;
	iov.iov_len = xml.len;
	b.total = xml.len;
	req_init(&r, "POST", "delete objects in", NULL, s3->prefix);
	r.query = "delete=";
	r.content_type = "application/xml";
	body_hashes(&r, &b);
	r.max_resp = MAX_LIST_BODY;
	rc = perform(s3, &r);
	if (!rc && mbi_s3xml_delete(r.resp.data, r.resp.len, &res))
		rc = mbi_error(s3->ctx, MB_E_STORE, 0,
			       "cannot delete objects: the server's answer is not a DeleteResult");
	for (i = 0; !rc && i < res.nerrors; i++) {
		const struct mbi_s3_delete_error *e = &res.errors[i];

		if (!strcmp(e->err.code, "NoSuchKey"))
			continue;
		if (!strcmp(e->err.code, "AccessDenied") && s3->lock_days > 0) {
			nlocked++;
			continue;
		}
		rc = mbi_error(s3->ctx, MB_E_STORE, 0,
			       "cannot delete '%s': %s: %s", e->key,
			       e->err.code, e->err.message);
	}
	mbi_s3_delete_result_release(&res);
	req_release(&r);
out:
	mbi_buf_release(&xml);
	if (!rc && locked)
		*locked = nlocked;
	return rc;
}

/* ------------------------------------------------------------ open/close */

static void s3_free(struct s3 *s3)
{
	size_t i;

	if (!s3)
		return;
	for (i = 0; i < s3->npool; i++)
		curl_easy_cleanup(s3->pool[i]);
	free(s3->pool);
	if (s3->share)
		curl_share_cleanup(s3->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s3->share_mu[i]);
	pthread_mutex_destroy(&s3->pool_mu);
	if (s3->secret) {
		explicit_bzero(s3->secret, strlen(s3->secret));
		free(s3->secret);
	}
	free(s3->akid);
	free(s3->sigv4);
	free(s3->region);
	free(s3->endpoint);
	free(s3->bucket);
	free(s3->prefix);
	free(s3->ca_file);
	free(s3->storage_class);
	free(s3->lock_mode);
	free(s3);
}

static void s3_close(struct mbi_store *s)
{
	if (!s)
		return;
	s3_free(s->priv);
	free(s);
}

static const struct mbi_store_ops s3_ops = {
	.name = "s3",
	.writer_open = s3_writer_open,
	.writer_write = s3_writer_write,
	.writer_commit = s3_writer_commit,
	.writer_abort = s3_writer_abort,
	.get = s3_get,
	.stat = s3_stat,
	.list = s3_list,
	.del = s3_del,
	.close = s3_close,
};

static const struct mbi_section *repo_section(const struct mbi_config *cfg)
{
	return mbi_config_section(cfg, "repository");
}

static int int_key(struct mb_ctx *ctx, const struct mbi_section *sec,
		   const char *key, long min, long max, long *out)
{
	const char *v = mbi_section_get(sec, key);
	char *end;
	long n;

	if (!v)
		return MB_OK;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || !*v || *end || n < min || n > max)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "[repository] %s must be a whole number from %ld to %ld",
				 key, min, max);
	*out = n;
	return MB_OK;
}

/* The settings of [repository] that only this backend reads. */
static int s3_settings(struct mb_ctx *ctx, const struct mbi_config *cfg,
		       struct s3 *s3)
{
	const struct mbi_section *sec = repo_section(cfg);
	const char *v;
	long timeout = 60, retries = 8, mk = 0;
	int rc;

	if ((rc = int_key(ctx, sec, "s3_timeout", 1, 3600, &timeout)) ||
	    (rc = int_key(ctx, sec, "s3_retries", 0, 100, &retries)))
		return rc;
	v = mbi_section_get(sec, "object_lock_mode");
	if (!v || !*v)
		v = "GOVERNANCE";
	if (strcasecmp(v, "governance") && strcasecmp(v, "compliance"))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "[repository] object_lock_mode must be 'governance' or 'compliance'");
	s3->lock_mode = strdup(!strcasecmp(v, "governance") ? "GOVERNANCE" :
			       "COMPLIANCE");
	/* for tests: small listing pages without thousands of objects */
	v = getenv("MAILBACKUP_TEST_S3_MAX_KEYS");
	if (v && *v)
		mk = strtol(v, NULL, 10);
	s3->timeout = timeout;
	s3->retries = (int)retries;
	s3->max_keys = mk > 0 && mk <= 1000 ? mk : 0;
	/* a request may wait out a few stalls and the backoff between */
	s3->max_time = (double)timeout * 4 + 120;
	return s3->lock_mode ? MB_OK : MB_E_NOMEM;
}

static int s3_endpoint(struct mb_ctx *ctx, const struct mbi_config *cfg,
		       struct s3 *s3)
{
	const char *e = cfg->endpoint, *host;
	size_t n;

	if (!e || !*e) {
		s3->endpoint = mbi_asprintf("https://s3.%s.amazonaws.com",
					    cfg->region);
		return s3->endpoint ? MB_OK : MB_E_NOMEM;
	}
	host = !strncmp(e, "http://", 7) ? e + 7 :
	       !strncmp(e, "https://", 8) ? e + 8 : NULL;
	if (!host || !*host || *host == '/' || *host == ':' ||
	    strpbrk(e, "?#@ \t"))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "[repository] endpoint '%s' is not a URL like https://HOST[:PORT]",
				 e);
	n = strlen(e);
	while (n && e[n - 1] == '/')
		n--;
	s3->endpoint = strndup(e, n);
	return s3->endpoint ? MB_OK : MB_E_NOMEM;
}

int mbi_store_s3_open(struct mb_ctx *ctx, struct mbi_store **out)
{
	struct mbi_config *cfg = ctx->cfg;
	struct mbi_store *s = NULL;
	struct mbi_s3_listing l;
	struct s3 *s3;
	int rc, i;

	if ((rc = mbi_need_config(ctx)))
		return rc;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc)
		return mbi_error(ctx, MB_E_STORE, 0,
				 "cannot initialize libcurl: %s",
				 curl_easy_strerror(curl_init_rc));
	s3 = calloc(1, sizeof(*s3));
	if (!s3)
		return MB_E_NOMEM;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s3->share_mu[i], NULL);
	pthread_mutex_init(&s3->pool_mu, NULL);
	s3->ctx = ctx;
	if ((rc = mbi_s3_parse_url(ctx, cfg->url, &s3->bucket, &s3->prefix)) ||
	    (rc = s3_endpoint(ctx, cfg, s3)) ||
	    (rc = s3_settings(ctx, cfg, s3)))
		goto fail;
	if (!cfg->access_key_id || !*cfg->access_key_id ||
	    !cfg->secret_access_key || !*cfg->secret_access_key) {
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "no s3 credentials: set MAILBACKUP_S3_ACCESS_KEY_ID and MAILBACKUP_S3_SECRET_ACCESS_KEY, or [repository] access_key_id and secret_access_key");
		goto fail;
	}
	if (!cfg->region || !*cfg->region || strpbrk(cfg->region, ": \t/")) {
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "[repository] region '%s' is not valid: use a name like us-east-1",
			       cfg->region ? cfg->region : "");
		goto fail;
	}
	s3->akid = strdup(cfg->access_key_id);
	s3->secret = strdup(cfg->secret_access_key);
	s3->sigv4 = mbi_asprintf("aws:amz:%s:s3", cfg->region);
	s3->region = strdup(cfg->region);
	s3->ca_file = mbi_strdup(cfg->ca_file);
	s3->storage_class = cfg->storage_class && *cfg->storage_class ?
			    strdup(cfg->storage_class) : NULL;
	if (!s3->akid || !s3->secret || !s3->sigv4 || !s3->region ||
	    (cfg->ca_file && !s3->ca_file) ||
	    (cfg->storage_class && *cfg->storage_class && !s3->storage_class)) {
		rc = MB_E_NOMEM;
		goto fail;
	}
	if (s3->ca_file && access(s3->ca_file, R_OK)) {
		rc = mbi_error(ctx, MB_E_CONFIG, errno,
			       "cannot read [repository] ca_file '%s'",
			       s3->ca_file);
		goto fail;
	}
	s3->loc.endpoint = s3->endpoint;
	s3->loc.bucket = s3->bucket;
	s3->loc.virtual_host = cfg->url_style &&
			       !strcmp(cfg->url_style, "virtual");
	s3->parallel = cfg->s3_parallel > 0 ? cfg->s3_parallel : 4;
	s3->lock_days = cfg->object_lock_days;
	s3->part_size = cfg->part_size >= (5ULL << 20) ? cfg->part_size :
			16ULL << 20;
	/* below this an object goes up as one PUT under its final key; it is
	 * also the memory a writer holds before it streams parts */
	s3->single_max = s3->part_size * (uint64_t)s3->parallel;
	if (s3->single_max > MAX_SINGLE)
		s3->single_max = MAX_SINGLE / s3->part_size * s3->part_size;
	s3->cappool = (size_t)s3->parallel * 2 + 8;
	s3->pool = calloc(s3->cappool, sizeof(*s3->pool));
	s3->share = curl_share_init();
	if (!s3->pool || !s3->share ||
	    curl_share_setopt(s3->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(s3->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(s3->share, CURLSHOPT_USERDATA, s3) ||
	    curl_share_setopt(s3->share, CURLSHOPT_SHARE,
			      CURL_LOCK_DATA_CONNECT) ||
	    curl_share_setopt(s3->share, CURLSHOPT_SHARE,
			      CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(s3->share, CURLSHOPT_SHARE,
			      CURL_LOCK_DATA_SSL_SESSION)) {
		rc = MB_E_NOMEM;
		goto fail;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		rc = MB_E_NOMEM;
		goto fail;
	}
	s->ops = &s3_ops;
	s->ctx = ctx;
	s->priv = s3;
	/* one cheap request now turns a wrong secret, a missing bucket or an
	 * unreachable endpoint into a clear error before any work is done */
	rc = list_page(s3, s3->prefix, NULL, 1, s3->prefix[0] ? s3->prefix : "/",
		       &l);
	if (rc) {
		s->priv = NULL;
		free(s);
		goto fail;
	}
	mbi_s3_listing_release(&l);
	mbi_log(ctx, MB_LOG_DEBUG, "s3: bucket '%s' prefix '%s' at '%s' (%s style)",
		s3->bucket, s3->prefix, s3->endpoint,
		s3->loc.virtual_host ? "virtual-host" : "path");
	*out = s;
	return MB_OK;
fail:
	s3_free(s3);
	return rc;
}
