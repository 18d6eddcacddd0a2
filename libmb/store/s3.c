/* SPDX-License-Identifier: MIT */
/* store/s3.c: the S3 backend: reading, listing, deleting, and opening it. */
#include "s3.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

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

/* ------------------------------------------------------------ keys */

/* The key in the bucket of a repository key. */
int mbi_s3_full_key(struct mbi_s3 *s3, const char *key, char **out)
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
bool mbi_s3_lockable(const char *key)
{
	return strncmp(key, "locks/", 6) != 0 && strncmp(key, "tmp/", 4) != 0;
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
static int verify_download(struct mbi_s3 *s3, struct mbi_s3_req *r,
			   const char *key)
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
	if (!mbi_s3_etag_matches(&r->h, m64))
		return mbi_error(s3->ctx, MB_E_VERIFY, 0,
				 "'%s' is corrupt: its MD5 is not its ETag %s",
				 key, r->h.etag);
	return MB_OK;
}

static int download(struct mbi_s3 *s3, const char *full, const char *key,
		    int fd, uint64_t *size)
{
	struct mbi_s3_req r;
	int rc, tries;

	/* a checksum mismatch gets one more download from scratch */
	for (tries = 0; tries < 2; tries++) {
		mbi_s3_req_init(&r, "GET", "download", full, key);
		r.fd = fd;
		r.md5 = EVP_MD_CTX_new();
		if (!r.md5 || mbi_sha256_init(&r.sha) || mbi_s3_file_reset(&r))
			rc = MB_E_NOMEM;
		else
			rc = mbi_s3_perform(s3, &r);
		if (!rc)
			rc = verify_download(s3, &r, key);
		if (!rc)
			*size = r.got;
		mbi_sha256_release(&r.sha);
		EVP_MD_CTX_free(r.md5);
		mbi_s3_req_release(&r);
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
	struct mbi_s3 *s3 = s->priv;
	char *full;
	uint64_t n = 0;
	int fd, rc = mbi_s3_full_key(s3, key, &full);

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
	struct mbi_s3 *s3 = s->priv;
	char *full;
	struct mbi_s3_rhdrs h;
	int rc = mbi_s3_full_key(s3, key, &full);

	if (rc)
		return rc;
	rc = mbi_s3_head(s3, full, key, &h);
	free(full);
	if (!rc)
		*size = h.content_length;
	return rc;
}

static int list_page(struct mbi_s3 *s3, const char *prefix, const char *token,
		     long max_keys, const char *what,
		     struct mbi_s3_listing *out)
{
	struct mbi_s3_param p[4];
	struct mbi_buf q = { 0 };
	char mk[24];
	size_t n = 0;
	struct mbi_s3_req r;
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
		mbi_s3_req_init(&r, "GET", "list", NULL, what);
		r.query = q.data;
		r.max_resp = MBI_S3_MAX_LIST_BODY;
		rc = mbi_s3_perform(s3, &r);
		if (rc || !mbi_s3xml_list(r.resp.data, r.resp.len, out))
			break;
		mbi_s3_req_release(&r);
		if (n == 3) {
			rc = mbi_error(s3->ctx, MB_E_STORE, 0,
				       "cannot list '%s': the server's answer is not a ListBucketResult",
				       what);
			break;
		}
		mbi_log(s3->ctx, MB_LOG_INFO,
			"s3: list '%s': garbled answer, asking again", what);
	}
	mbi_s3_req_release(&r);
	mbi_buf_release(&q);
	return rc;
}

static int s3_list(struct mbi_store *s, const char *prefix, mbi_list_fn fn,
		   void *ud)
{
	struct mbi_s3 *s3 = s->priv;
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
static int check_lock(struct mbi_s3 *s3, const char *full, const char *key)
{
	struct mbi_s3_rhdrs h;
	int64_t until;
	int rc;

	if (s3->lock_days <= 0 || !mbi_s3_lockable(key))
		return MB_OK;
	rc = mbi_s3_head(s3, full, key, &h);
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
	struct mbi_s3 *s3 = s->priv;
	char *full;
	struct mbi_s3_req r;
	int rc = mbi_s3_full_key(s3, key, &full);

	if (rc)
		return rc;
	rc = check_lock(s3, full, key);
	if (rc == MB_E_NOTFOUND)
		rc = MB_OK;
	else if (!rc) {
		mbi_s3_req_init(&r, "DELETE", "delete", full, key);
		rc = mbi_s3_perform(s3, &r);
		if (rc == MB_E_NOTFOUND)
			rc = MB_OK;
		else if (rc && r.status == 403 && s3->lock_days > 0)
			rc = mbi_error(s3->ctx, MB_E_LOCKED, 0,
				       "'%s' cannot be deleted (%s): it may be under object lock: kept",
				       key, r.err.code);
		mbi_s3_req_release(&r);
	}
	free(full);
	return rc;
}

int mbi_s3_delete_many(struct mbi_store *s, const char *const *keys, size_t n,
		       size_t *locked)
{
	struct mbi_s3 *s3 = s->priv;
	struct mbi_buf xml = { 0 };
	struct mbi_s3_delete_result res = { 0 };
	struct iovec iov;
	struct mbi_s3_body b = { &iov, 1, 0, 0 };
	struct mbi_s3_req r;
	size_t i, nlocked = 0, nsent = 0;
	int rc = MB_OK;

	if (n > 1000)
		return mbi_error(s3->ctx, MB_E_INVAL, 0,
				 "cannot delete more than 1000 objects at once");
	if (mbi_buf_addstr(&xml, "<Delete><Quiet>true</Quiet>"))
		return MB_E_NOMEM;
	for (i = 0; i < n && !rc; i++) {
		char *full;

		if ((rc = mbi_s3_full_key(s3, keys[i], &full)))
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
	mbi_s3_req_init(&r, "POST", "delete objects in", NULL, s3->prefix);
	r.query = "delete=";
	r.content_type = "application/xml";
	mbi_s3_body_hashes(&r, &b);
	r.max_resp = MBI_S3_MAX_LIST_BODY;
	rc = mbi_s3_perform(s3, &r);
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
	mbi_s3_req_release(&r);
out:
	mbi_buf_release(&xml);
	if (!rc && locked)
		*locked = nlocked;
	return rc;
}

/* ------------------------------------------------------------ open/close */

static void s3_free(struct mbi_s3 *s3)
{
	if (!s3)
		return;
	mbi_s3_handles_release(s3);
	mbi_bwlimit_release(&s3->up);
	mbi_bwlimit_release(&s3->down);
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
	.writer_open = mbi_s3_writer_open,
	.writer_write = mbi_s3_writer_write,
	.writer_commit = mbi_s3_writer_commit,
	.writer_abort = mbi_s3_writer_abort,
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
		       struct mbi_s3 *s3)
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
		       struct mbi_s3 *s3)
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

/* Credentials, region and the CA file, checked. */
static int s3_credentials(struct mb_ctx *ctx, const struct mbi_config *cfg,
			  struct mbi_s3 *s3)
{
	if (!cfg->access_key_id || !*cfg->access_key_id ||
	    !cfg->secret_access_key || !*cfg->secret_access_key)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "no s3 credentials: set MAILBACKUP_S3_ACCESS_KEY_ID and MAILBACKUP_S3_SECRET_ACCESS_KEY, or [repository] access_key_id and secret_access_key");
	if (!cfg->region || !*cfg->region || strpbrk(cfg->region, ": \t/"))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "[repository] region '%s' is not valid: use a name like us-east-1",
				 cfg->region ? cfg->region : "");
	s3->akid = strdup(cfg->access_key_id);
	s3->secret = strdup(cfg->secret_access_key);
	s3->sigv4 = mbi_asprintf("aws:amz:%s:s3", cfg->region);
	s3->region = strdup(cfg->region);
	s3->ca_file = mbi_strdup(cfg->ca_file);
	s3->storage_class = cfg->storage_class && *cfg->storage_class ?
			    strdup(cfg->storage_class) : NULL;
	if (!s3->akid || !s3->secret || !s3->sigv4 || !s3->region ||
	    (cfg->ca_file && !s3->ca_file) ||
	    (cfg->storage_class && *cfg->storage_class && !s3->storage_class))
		return MB_E_NOMEM;
	if (s3->ca_file && access(s3->ca_file, R_OK))
		return mbi_error(ctx, MB_E_CONFIG, errno,
				 "cannot read [repository] ca_file '%s'",
				 s3->ca_file);
	return MB_OK;
}

/* Where requests go, how large parts are, and the curl handles. */
static int s3_transport(const struct mbi_config *cfg, struct mbi_s3 *s3)
{
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
	if (s3->single_max > MBI_S3_MAX_SINGLE)
		s3->single_max = MBI_S3_MAX_SINGLE / s3->part_size *
				 s3->part_size;
	s3->up.rate = cfg->upload_limit;
	s3->down.rate = cfg->download_limit;
	return mbi_s3_handles_init(s3);
}

static struct mbi_s3 *s3_new(struct mb_ctx *ctx)
{
	struct mbi_s3 *s3 = calloc(1, sizeof(*s3));
	int i;

	if (!s3)
		return NULL;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s3->share_mu[i], NULL);
	pthread_mutex_init(&s3->pool_mu, NULL);
	mbi_bwlimit_init(&s3->up, 0);
	mbi_bwlimit_init(&s3->down, 0);
	s3->ctx = ctx;
	return s3;
}

int mbi_store_s3_open(struct mb_ctx *ctx, struct mbi_store **out)
{
	struct mbi_config *cfg = ctx->cfg;
	struct mbi_store *s = NULL;
	struct mbi_s3_listing l;
	struct mbi_s3 *s3;
	int rc;

	if ((rc = mbi_need_config(ctx)) || (rc = mbi_s3_curl_init(ctx)))
		return rc;
	s3 = s3_new(ctx);
	if (!s3)
		return MB_E_NOMEM;
	if ((rc = mbi_s3_parse_url(ctx, cfg->url, &s3->bucket, &s3->prefix)) ||
	    (rc = s3_endpoint(ctx, cfg, s3)) ||
	    (rc = s3_settings(ctx, cfg, s3)) ||
	    (rc = s3_credentials(ctx, cfg, s3)) ||
	    (rc = s3_transport(cfg, s3)))
		goto fail;
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
