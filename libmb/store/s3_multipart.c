/* SPDX-License-Identifier: MIT */
/* store/s3_multipart.c: the S3 backend's writer: one PUT for a small
 * object, parallel parts of a multipart upload and a copy for a large one. */
#include "s3.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"

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
	struct mbi_s3 *s3;
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

/* The headers of an object under its final name. */
struct curl_slist *mbi_s3_final_headers(struct mbi_s3 *s3, const char *key,
					const char *sha_hex)
{
	struct curl_slist *l = NULL;
	char until[40];

	if (mbi_s3_hdr_add(&l, "%s: %s", MBI_S3_META_SHA256, sha_hex))
		return NULL;
	if (s3->storage_class && !strncmp(key, "packs/", 6) &&
	    mbi_s3_hdr_add(&l, "x-amz-storage-class: %s", s3->storage_class))
		return NULL;
	if (s3->lock_days > 0 && mbi_s3_lockable(key)) {
		mbi_time_format((int64_t)time(NULL) +
				(int64_t)s3->lock_days * 86400, until,
				sizeof(until), false);
		if (mbi_s3_hdr_add(&l, "x-amz-object-lock-mode: %s", s3->lock_mode) ||
		    mbi_s3_hdr_add(&l, "x-amz-object-lock-retain-until-date: %s",
			    until))
			return NULL;
	}
	return l;
}

/* ------------------------------------------------------------ writer */

int mbi_s3_writer_open(struct mbi_store *s, struct mbi_store_writer **out)
{
	struct mbi_s3 *s3 = s->priv;
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
	struct mbi_s3 *s3 = w->s3;
	struct iovec iov = { pt->data, pt->len };
	struct mbi_s3_body b = { &iov, 1, pt->len, 0 };
	struct mbi_s3_req r;
	char *query = NULL;
	int rc;

	if (get_rc(w)) {
		pt->rc = MB_E_ABORTED;
		return NULL;
	}
	mbi_s3_req_init(&r, "PUT", "upload part of", w->tmpkey,
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
		mbi_s3_body_hashes(&r, &b);
		rc = mbi_s3_perform(s3, &r);
	}
	if (!rc && !r.h.etag[0])
		rc = mbi_error(s3->ctx, MB_E_STORE, 0,
			       "cannot upload part %d of '%s': the server sent no ETag",
			       pt->num, r.what);
	if (!rc && !mbi_s3_etag_matches(&r.h, r.md5_hex))
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
	mbi_s3_req_release(&r);
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
	struct mbi_s3 *s3 = w->s3;
	struct part *pt = NULL;
	int i, rc;

	if (w->nparts >= MBI_S3_MAX_PARTS) {
		free(data);
		return mbi_error(s3->ctx, MB_E_STORE, 0,
				 "object too large for %d parts: raise [repository] part_size",
				 MBI_S3_MAX_PARTS);
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
	struct mbi_s3 *s3 = w->s3;
	char rnd[33], *rel;
	struct iovec iov = { NULL, 0 };
	struct mbi_s3_body b = { &iov, 0, 0, 0 };
	struct mbi_s3_req r;
	int rc;

	mbi_random_hex(rnd, 16);
	w->tmpkey = mbi_asprintf("%stmp/%s", s3->prefix, rnd);
	if (!w->tmpkey)
		return MB_E_NOMEM;
	rel = w->tmpkey + strlen(s3->prefix);
	mbi_s3_req_init(&r, "POST", "start the upload of", w->tmpkey, rel);
	r.query = "uploads=";
	r.body = &b;
	r.content_type = "application/octet-stream";
	rc = mbi_s3_perform(s3, &r);
	if (!rc && mbi_s3xml_initiate(r.resp.data, r.resp.len, &w->upload_id))
		rc = mbi_error(s3->ctx, MB_E_STORE, 0,
			       "cannot start the upload of '%s': the server's answer is not InitiateMultipartUploadResult",
			       rel);
	mbi_s3_req_release(&r);
	return rc;
}

int mbi_s3_writer_write(struct mbi_store_writer *wb, const void *p,
			size_t n)
{
	struct s3w *w = (struct s3w *)wb;
	struct mbi_s3 *s3 = w->s3;
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
	struct mbi_s3 *s3 = w->s3;
	struct mbi_s3_param p[] = { { "uploadId", w->upload_id } };
	struct mbi_buf q = { 0 };
	struct mbi_s3_req r;
	char st[400];

	join_all(w);
	if (mbi_s3_query(&q, p, 1))
		return;
	mbi_s3_req_init(&r, "DELETE", "abort the upload of", w->tmpkey,
		 w->tmpkey + strlen(s3->prefix));
	r.query = q.data;
	r.quiet = true;
	if (mbi_s3_perform(s3, &r))
		mbi_log(s3->ctx, MB_LOG_WARNING,
			"s3: cannot abort the upload of '%s' (upload id %s, %s): its parts stay stored until a lifecycle rule or you remove them",
			r.what, w->upload_id,
			r.status ? mbi_s3_describe_status(&r, st, sizeof(st)) :
			"no answer");
	mbi_s3_req_release(&r);
	mbi_buf_release(&q);
}

static void delete_tmp(struct mbi_s3 *s3, const char *key, const char *version)
{
	struct mbi_buf q = { 0 };
	struct mbi_s3_param p[] = { { "versionId", version } };
	struct mbi_s3_req r;

	if (version && *version && mbi_s3_query(&q, p, 1))
		return;
	mbi_s3_req_init(&r, "DELETE", "delete", key, key + strlen(s3->prefix));
	r.query = q.data;
	r.quiet = true;
	if (mbi_s3_perform(s3, &r) && r.status != 404)
		mbi_log(s3->ctx, MB_LOG_WARNING,
			"s3: cannot delete temporary object '%s': remove it by hand",
			r.what);
	mbi_s3_req_release(&r);
	mbi_buf_release(&q);
}

static int commit_single(struct s3w *w, const char *key,
			 const char *full, const char *sha_hex)
{
	struct mbi_s3 *s3 = w->s3;
	struct iovec *iov = calloc(w->nchunks ? w->nchunks : 1, sizeof(*iov));
	struct mbi_s3_body b = { iov, (int)w->nchunks, w->total, 0 };
	struct mbi_s3_req r;
	size_t i;
	int rc;

	if (!iov)
		return MB_E_NOMEM;
	for (i = 0; i < w->nchunks; i++) {
		iov[i].iov_base = w->chunks[i];
		iov[i].iov_len = i + 1 < w->nchunks ? s3->part_size :
				 w->last_len;
	}
	mbi_s3_req_init(&r, "PUT", "upload", full, key);
	mbi_s3_body_hashes(&r, &b);
	r.extra = mbi_s3_final_headers(s3, key, sha_hex);
	rc = r.extra ? mbi_s3_perform(s3, &r) : MB_E_NOMEM;
	if (!rc && !mbi_s3_etag_matches(&r.h, r.md5_hex))
		rc = mbi_error(s3->ctx, MB_E_STORE, 0,
			       "cannot upload '%s': the server stored other bytes (ETag %s)",
			       key, r.h.etag);
	curl_slist_free_all(r.extra);
	mbi_s3_req_release(&r);
	free(iov);
	return rc;
}

static int complete_multipart(struct s3w *w, char *version,
			      size_t vlen)
{
	struct mbi_s3 *s3 = w->s3;
	struct mbi_buf xml = { 0 }, q = { 0 };
	struct mbi_s3_param p[] = { { "uploadId", w->upload_id } };
	struct iovec iov;
	struct mbi_s3_body b = { &iov, 1, 0, 0 };
	struct mbi_s3_error err;
	struct mbi_s3_req r;
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
	mbi_s3_req_init(&r, "POST", "complete the upload of", w->tmpkey,
		 w->tmpkey + strlen(s3->prefix));
	r.query = q.data;
	r.content_type = "application/xml";
	r.error_in_200 = true;
	mbi_s3_body_hashes(&r, &b);
	rc = mbi_s3_perform(s3, &r);
	if (rc && r.attempts > 1) {
		struct mbi_s3_rhdrs h;

		/* an earlier attempt completed it and its answer was lost:
		 * then the upload is gone and the object is there (the
		 * temporary name is ours alone) */
		if (!mbi_s3_head_req(s3, w->tmpkey, r.what, &h, true) &&
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
	mbi_s3_req_release(&r);
	mbi_buf_release(&xml);
	mbi_buf_release(&q);
	return rc;
}

/* The completed temporary object goes to its final name by a server-side
 * copy, which also records our checksum and the lock. */
static int copy_to_final(struct s3w *w, const char *key,
			 const char *full, const char *sha_hex)
{
	struct mbi_s3 *s3 = w->s3;
	struct iovec iov = { NULL, 0 };
	struct mbi_s3_body b = { &iov, 0, 0, 0 };
	struct mbi_buf src = { 0 };
	struct mbi_s3_error err;
	struct mbi_s3_req r;
	int rc;

	if (mbi_buf_add(&src, "/", 1) ||
	    mbi_s3_uri_encode(&src, s3->bucket, false) ||
	    mbi_buf_add(&src, "/", 1) ||
	    mbi_s3_uri_encode(&src, w->tmpkey, true))
		return MB_E_NOMEM;
	mbi_s3_req_init(&r, "PUT", "copy to", full, key);
	r.body = &b;
	r.error_in_200 = true;
	r.extra = mbi_s3_final_headers(s3, key, sha_hex);
	if (!r.extra ||
	    mbi_s3_hdr_add(&r.extra, "x-amz-copy-source: %s", src.data) ||
	    mbi_s3_hdr_add(&r.extra, "x-amz-metadata-directive: REPLACE"))
		rc = MB_E_NOMEM;
	else
		rc = mbi_s3_perform(s3, &r);
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
	mbi_s3_req_release(&r);
	mbi_buf_release(&src);
	return rc;
}

static int commit_multipart(struct s3w *w, const char *key,
			    const char *full, const char *sha_hex)
{
	struct mbi_s3 *s3 = w->s3;
	struct mbi_s3_rhdrs h;
	char version[256] = "";
	bool completed = false;
	int rc = MB_OK;

	if (w->total > MBI_S3_MAX_COPY) {
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
	rc = mbi_s3_head(s3, w->tmpkey, w->tmpkey + strlen(s3->prefix), &h);
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

int mbi_s3_writer_commit(struct mbi_store_writer *wb, const char *key)
{
	struct s3w *w = (struct s3w *)wb;
	struct mbi_s3 *s3 = w->s3;
	unsigned char d[MBI_SHA256_LEN];
	char sha_hex[MBI_SHA256_HEX], *full = NULL;
	int rc = get_rc(w);

	if (!rc)
		rc = mbi_s3_full_key(s3, key, &full);
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

void mbi_s3_writer_abort(struct mbi_store_writer *wb)
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

