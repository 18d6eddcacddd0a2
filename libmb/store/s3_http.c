/* SPDX-License-Identifier: MIT */
/* store/s3_http.c: the S3 backend's requests: curl handles, SigV4 by
 * libcurl, retries with backoff, and the errors that say what to fix. */
#include "s3.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int mbi_s3_curl_init(struct mb_ctx *ctx)
{
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc)
		return mbi_error(ctx, MB_E_STORE, 0,
				 "cannot initialize libcurl: %s",
				 curl_easy_strerror(curl_init_rc));
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
	struct mbi_s3 *s3 = ud;

	(void)h;
	(void)acc;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&s3->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	struct mbi_s3 *s3 = ud;

	(void)h;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&s3->share_mu[data]);
}

/* An easy handle for this thread's request: idle ones keep their
 * connections, and the share handle lets them all use each other's. */
static CURL *handle_get(struct mbi_s3 *s3)
{
	CURL *h = NULL;

	pthread_mutex_lock(&s3->pool_mu);
	if (s3->npool)
		h = s3->pool[--s3->npool];
	pthread_mutex_unlock(&s3->pool_mu);
	return h ? h : curl_easy_init();
}

static void handle_put(struct mbi_s3 *s3, CURL *h)
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

int mbi_s3_handles_init(struct mbi_s3 *s3)
{
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
			      CURL_LOCK_DATA_SSL_SESSION))
		return MB_E_NOMEM;
	return MB_OK;
}

void mbi_s3_handles_release(struct mbi_s3 *s3)
{
	size_t i;

	for (i = 0; i < s3->npool; i++)
		curl_easy_cleanup(s3->pool[i]);
	free(s3->pool);
	if (s3->share)
		curl_share_cleanup(s3->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s3->share_mu[i]);
	pthread_mutex_destroy(&s3->pool_mu);
}

/* ------------------------------------------------------------ callbacks */

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *ud)
{
	struct mbi_s3_req *r = ud;
	struct mbi_s3_body *b = r->body;
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
	mbi_bwlimit_take(r->up, got);
	return got;
}

static int seek_cb(void *ud, curl_off_t offset, int origin)
{
	struct mbi_s3_body *b = ud;

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
	struct mbi_s3_req *r = ud;
	size_t len = size * nmemb;
	const char *colon = memchr(line, ':', len);
	struct {
		const char *name;
		char *dst;
		size_t n;
	} const fields[] = {
		{ "etag", r->h.etag, sizeof(r->h.etag) },
		{ MBI_S3_META_SHA256, r->h.meta_sha, sizeof(r->h.meta_sha) },
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

int mbi_s3_file_reset(struct mbi_s3_req *r)
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
static int file_begin(struct mbi_s3_req *r)
{
	uint64_t start = 0, end = 0, total = 0;

	r->started = true;
	if (r->status == 200) {
		if (r->got && mbi_s3_file_reset(r))
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
	struct mbi_s3_req *r = ud;
	size_t len = size * nmemb;

	mbi_bwlimit_take(r->down, len);
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

static int run_once(struct mbi_s3 *s3, CURL *h, struct mbi_s3_req *r,
		    const char *url, struct curl_slist *hdrs)
{
	curl_easy_reset(h);
	r->up = &s3->up;
	r->down = &s3->down;
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
		curl_easy_setopt(h, CURLOPT_READDATA, r);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, r->body);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)r->body->total);
	} else if (!strcmp(r->method, "POST")) {
		r->body->pos = 0;
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, r);
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

static enum verdict classify(struct mbi_s3_req *r)
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
			return r->attempts < MBI_S3_MAX_CONNECT_ATTEMPTS ? V_RETRY :
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

const char *mbi_s3_describe_status(struct mbi_s3_req *r, char *buf, size_t n)
{
	if (r->err.code[0])
		snprintf(buf, n, "HTTP %ld %s%s%s", r->status, r->err.code,
			 r->err.message[0] ? ": " : "", r->err.message);
	else
		snprintf(buf, n, "HTTP %ld", r->status);
	return buf;
}

/* Turn the last attempt into the one-line error that says what to fix. */
static int report(struct mbi_s3 *s3, struct mbi_s3_req *r)
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
	mbi_s3_describe_status(r, st, sizeof(st));
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

int mbi_s3_hdr_add(struct curl_slist **l, const char *fmt, ...)
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
					 const struct mbi_s3_req *r)
{
	struct curl_slist *n = NULL;

	for (; l; l = l->next)
		if (mbi_s3_hdr_add(&n, "%s", l->data))
			return NULL;
	if (mbi_s3_hdr_add(&n, "Range: bytes=%llu-", (unsigned long long)r->got) ||
	    (r->first_etag[0] &&
	     mbi_s3_hdr_add(&n, "If-Match: %s", r->first_etag)))
		return NULL;
	return n;
}

/* The headers every attempt of r sends; MB_E_NOMEM. */
static int request_headers(struct mbi_s3_req *r, struct curl_slist **out)
{
	struct curl_slist *hdrs = NULL, *e;

	if (!r->payload_sha[0])
		memcpy(r->payload_sha, MBI_S3_EMPTY_SHA256,
		       sizeof(MBI_S3_EMPTY_SHA256));
	if (mbi_s3_hdr_add(&hdrs, "x-amz-content-sha256: %s",
			   r->payload_sha) ||
	    (r->content_md5[0] &&
	     mbi_s3_hdr_add(&hdrs, "Content-MD5: %s", r->content_md5)) ||
	    (r->content_type &&
	     mbi_s3_hdr_add(&hdrs, "Content-Type: %s", r->content_type)))
		return MB_E_NOMEM;
	for (e = r->extra; e; e = e->next)
		if (mbi_s3_hdr_add(&hdrs, "%s", e->data))
			return MB_E_NOMEM;
	*out = hdrs;
	return MB_OK;
}

/* One attempt of r on a pooled handle; MB_E_NOMEM before it is sent. */
static int attempt(struct mbi_s3 *s3, struct mbi_s3_req *r, const char *url,
		   struct curl_slist *hdrs)
{
	CURL *h = handle_get(s3);
	struct curl_slist *resume = NULL;

	if (h && r->fd >= 0 && r->got)
		resume = resume_headers(hdrs, r);
	if (!h || (r->fd >= 0 && r->got && !resume)) {
		if (h)
			handle_put(s3, h);
		return MB_E_NOMEM;
	}
	r->attempts++;
	r->resp.len = 0;
	r->resp_overflow = false;
	r->started = false;
	r->restart = false;
	memset(&r->h, 0, sizeof(r->h));
	run_once(s3, h, r, url, resume ? resume : hdrs);
	handle_put(s3, h);
	curl_slist_free_all(resume);
	return MB_OK;
}

static void retry_wait(struct mbi_s3 *s3, struct mbi_s3_req *r, long delay,
		       int attempts)
{
	struct timespec ts = { delay / 1000, (delay % 1000) * 1000000 };
	char st[400];

	mbi_log(s3->ctx, MB_LOG_INFO,
		"s3: %s '%s' failed (%s), retrying in %.1f s (attempt %d of %d)",
		r->verb, r->what ? r->what : "",
		r->cerr ? (r->cerrbuf[0] ? r->cerrbuf :
			   curl_easy_strerror(r->cerr)) :
		mbi_s3_describe_status(r, st, sizeof(st)),
		(double)delay / 1000, r->attempts + 1, attempts);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * One request with retries. MB_OK for a 2xx answer (body in r->resp or the
 * file); otherwise the error is recorded: MB_E_NOTFOUND for a 404 on a key.
 */
int mbi_s3_perform(struct mbi_s3 *s3, struct mbi_s3_req *r)
{
	struct mbi_buf url = { 0 };
	struct curl_slist *hdrs = NULL;
	int attempts = s3->retries + 1, rc;
	double t0 = mbi_now();

	if (mbi_s3_url(&url, &s3->loc, r->key, r->query) ||
	    request_headers(r, &hdrs)) {
		mbi_buf_release(&url);
		return MB_E_NOMEM;
	}
	if (!r->max_resp)
		r->max_resp = MBI_S3_MAX_ERR_BODY;
	r->attempts = 0;
	for (;;) {
		enum verdict v;
		long delay;

		if ((rc = attempt(s3, r, url.data, hdrs)))
			break;
		v = classify(r);
		if (v == V_RETRY && r->fd >= 0 && r->restart &&
		    mbi_s3_file_reset(r)) {
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
		retry_wait(s3, r, delay, attempts);
	}
	curl_slist_free_all(hdrs);
	mbi_buf_release(&url);
	return rc;
}

void mbi_s3_req_init(struct mbi_s3_req *r, const char *method, const char *verb,
		     const char *key, const char *what)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->verb = verb;
	r->key = key;
	r->what = what;
	r->fd = -1;
}

void mbi_s3_req_release(struct mbi_s3_req *r)
{
	mbi_buf_release(&r->resp);
}

/* Hashes of a body for its headers. */
void mbi_s3_body_hashes(struct mbi_s3_req *r, struct mbi_s3_body *b)
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
bool mbi_s3_etag_matches(const struct mbi_s3_rhdrs *h, const char *md5_hex)
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

int mbi_s3_head_req(struct mbi_s3 *s3, const char *full, const char *key,
		    struct mbi_s3_rhdrs *out, bool quiet)
{
	struct mbi_s3_req r;
	int rc;

	mbi_s3_req_init(&r, "HEAD", "stat", full, key);
	r.quiet = quiet;
	rc = mbi_s3_perform(s3, &r);
	if (!rc) {
		*out = r.h;
		if (!r.h.has_length)
			rc = mbi_error(s3->ctx, MB_E_STORE, 0,
				       "cannot stat '%s': the server sent no Content-Length",
				       key);
	}
	mbi_s3_req_release(&r);
	return rc;
}

int mbi_s3_head(struct mbi_s3 *s3, const char *full, const char *key,
		struct mbi_s3_rhdrs *out)
{
	return mbi_s3_head_req(s3, full, key, out, false);
}

