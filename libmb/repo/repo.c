/* SPDX-License-Identifier: MIT */
/* repo/repo.c: creating and opening a repository (the signed mailbackup.repo). */
#include "mb-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

#define REPO_FILE "mailbackup.repo"
#define REPO_MAGIC "mailbackup-repository 1\n"
#define REPO_MAGIC2 "mailbackup-repository 2\n"

int mbi_write_format(void)
{
	const char *v = getenv("MB_TEST_FORMAT");

	return v && !strcmp(v, "1") ? 1 : 2;
}

void mbi_repo_close(struct mbi_repo *r)
{
	if (!r)
		return;
	mbi_pack_scratch_free(r);
	if (r->listings_free)
		r->listings_free(r);
	if (r->resolved_free)
		r->resolved_free(r);
	pthread_mutex_destroy(&r->scratch_lock);
	mbi_crypt_free(r->crypt);
	mbi_store_close(r->store);
	free(r);
}

int mbi_repo_get_meta_z(struct mbi_repo *r, const char *key, uint64_t max,
			struct mbi_buf *z)
{
	uint64_t size;
	int fd, rc;

	rc = mbi_store_get(r->store, key, &fd, &size);
	if (rc)
		return rc;
	/* bounded before gpg reads it into memory */
	if (size > MBI_META_STORED_MAX(max))
		rc = mbi_error(r->ctx, MB_E_VERIFY, 0,
			       "object '%s' is too large (%llu bytes; at most %llu): it is damaged or forged",
			       key, (unsigned long long)size,
			       (unsigned long long)MBI_META_STORED_MAX(max));
	else
		rc = mbi_crypt_decrypt_buf(r->crypt, fd, z, true, key);
	close(fd);
	return rc;
}

int mbi_repo_get_meta(struct mbi_repo *r, const char *key, uint64_t max,
		      struct mbi_buf *plain)
{
	struct mbi_buf z = { 0 };
	int rc;

	rc = mbi_repo_get_meta_z(r, key, max, &z);
	if (!rc)
		rc = mbi_zstd_decompress_buf(r->ctx, z.data, z.len, plain, max,
					     key);
	mbi_buf_release(&z);
	return rc;
}

static int parse_repo_file(struct mb_ctx *ctx, struct mbi_repo *r,
			   const char *text)
{
	const char *id;

	if (!strncmp(text, REPO_MAGIC2, strlen(REPO_MAGIC2)))
		r->version = 2;
	else if (!strncmp(text, REPO_MAGIC, strlen(REPO_MAGIC)))
		r->version = 1;
	else
		return mbi_error(ctx, MB_E_VERIFY, 0,
				 "'%s' is not a mailbackup repository of format 1 or 2: upgrade mailbackup",
				 REPO_FILE);
	id = strstr(text, "\nid ");
	if (!id || strspn(id + 4, "0123456789abcdef") != 32)
		return mbi_error(ctx, MB_E_VERIFY, 0, "'%s' has no valid id",
				 REPO_FILE);
	memcpy(r->id, id + 4, 32);
	r->id[32] = '\0';
	return MB_OK;
}

static int repo_alloc(struct mb_ctx *ctx, struct mbi_repo **out)
{
	struct mbi_repo *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return MB_E_NOMEM;
	r->ctx = ctx;
	pthread_mutex_init(&r->scratch_lock, NULL);
	if ((rc = mbi_store_open(ctx, &r->store)) ||
	    (rc = mbi_crypt_open(ctx, &r->crypt))) {
		mbi_repo_close(r);
		return rc;
	}
	*out = r;
	return MB_OK;
}

int mbi_repo_open(struct mb_ctx *ctx, struct mbi_repo **out)
{
	struct mbi_repo *r;
	struct mbi_buf raw = { 0 }, plain = { 0 };
	int rc;

	if ((rc = repo_alloc(ctx, &r)))
		return rc;
	rc = mbi_store_get_buf(r->store, REPO_FILE, &raw, 1 << 20);
	if (rc == MB_E_NOTFOUND) {
		rc = mbi_error(ctx, MB_E_NOTFOUND, 0,
			       "no repository at '%s': run 'mailbackup init' first",
			       ctx->cfg->url);
		goto out;
	}
	if (rc)
		goto out;
	rc = mbi_crypt_verify_clear(r->crypt, raw.data, raw.len, &plain,
				    REPO_FILE);
	if (!rc)
		rc = parse_repo_file(ctx, r, plain.data);
out:
	mbi_buf_release(&raw);
	mbi_buf_release(&plain);
	if (rc) {
		mbi_repo_close(r);
		return rc;
	}
	*out = r;
	return MB_OK;
}

/* The public keys, so that a recovery machine finds the host key (its
 * fingerprint is still pinned by trusted_signers). */
static int export_keys(struct mbi_repo *r)
{
	const struct mbi_config *cfg = r->ctx->cfg;
	size_t i;
	int rc = MB_OK;

	for (i = 0; !rc && i < cfg->ntrusted + cfg->nrecipients; i++) {
		const char *fpr = i < cfg->ntrusted ? cfg->trusted_signers[i] :
				  cfg->recipients[i - cfg->ntrusted];
		struct mbi_buf pub = { 0 };
		char key[128];

		if (mbi_crypt_export(r->crypt, fpr, &pub))
			continue; /* a trusted signer may be unknown here */
		snprintf(key, sizeof(key), "keys/%s.asc", fpr);
		rc = mbi_store_put_buf(r->store, key, pub.data, pub.len);
		mbi_buf_release(&pub);
	}
	return rc;
}

/* The repository file's text with the configured recipient and signer
 * lines in place of its own (every other line kept, the id first). */
static int repo_text_now(const struct mbi_config *cfg, const char *plain,
			 struct mbi_buf *text)
{
	const char *line = plain;
	size_t i;
	int rc = MB_OK;

	while (!rc && *line) {
		size_t len = strcspn(line, "\n");

		if (strncmp(line, "recipient ", 10) &&
		    strncmp(line, "signer ", 7))
			rc = mbi_buf_printf(text, "%.*s\n", (int)len, line);
		line += len + (line[len] == '\n');
	}
	for (i = 0; !rc && i < cfg->nrecipients; i++)
		rc = mbi_buf_printf(text, "recipient %s\n", cfg->recipients[i]);
	for (i = 0; !rc && i < cfg->ntrusted; i++)
		rc = mbi_buf_printf(text, "signer %s\n",
				    cfg->trusted_signers[i]);
	return rc;
}

int mbi_repo_resign(struct mbi_repo *r, bool dry, bool *rewritten)
{
	struct mbi_buf raw = { 0 }, plain = { 0 }, text = { 0 }, sig = { 0 };
	int rc;

	*rewritten = false;
	rc = mbi_store_get_buf(r->store, REPO_FILE, &raw, 1 << 20);
	if (!rc)
		rc = mbi_crypt_verify_clear(r->crypt, raw.data, raw.len,
					    &plain, REPO_FILE);
	if (!rc)
		rc = repo_text_now(r->ctx->cfg, plain.data, &text);
	if (rc || !strcmp(text.data, plain.data))
		goto out;
	*rewritten = true;
	if (dry)
		goto out;
	if (!(rc = mbi_crypt_clearsign(r->crypt, text.data, &sig)) &&
	    !(rc = export_keys(r)))
		rc = mbi_store_put_buf(r->store, REPO_FILE, sig.data, sig.len);
out:
	mbi_buf_release(&raw);
	mbi_buf_release(&plain);
	mbi_buf_release(&text);
	mbi_buf_release(&sig);
	return rc;
}

int mbi_repo_upgrade(struct mbi_repo *r)
{
	struct mbi_buf raw = { 0 }, plain = { 0 }, text = { 0 }, sig = { 0 };
	int rc;

	if (r->version >= 2)
		return MB_OK;
	rc = mbi_store_get_buf(r->store, REPO_FILE, &raw, 1 << 20);
	if (!rc)
		rc = mbi_crypt_verify_clear(r->crypt, raw.data, raw.len,
					    &plain, REPO_FILE);
	if (!rc && strncmp(plain.data, REPO_MAGIC, strlen(REPO_MAGIC)))
		rc = mbi_error(r->ctx, MB_E_VERIFY, 0,
			       "'%s' changed while this run used it: run again",
			       REPO_FILE);
	if (!rc)
		rc = mbi_buf_printf(&text, REPO_MAGIC2 "%s",
				    plain.data + strlen(REPO_MAGIC));
	if (!rc)
		rc = mbi_crypt_clearsign(r->crypt, text.data, &sig);
	if (!rc)
		rc = mbi_store_put_buf(r->store, REPO_FILE, sig.data, sig.len);
	if (!rc) {
		r->version = 2;
		mbi_log(r->ctx, MB_LOG_INFO,
			"repository upgraded to format 2 (listings shared between snapshots): mailbackup older than this one cannot read it any more");
	}
	mbi_buf_release(&raw);
	mbi_buf_release(&plain);
	mbi_buf_release(&text);
	mbi_buf_release(&sig);
	return rc;
}

int mb_repo_init(struct mb_ctx *ctx)
{
	struct mbi_repo *r = NULL;
	struct mbi_buf text = { 0 }, signed_text = { 0 };
	char id[33], when[32];
	uint64_t size;
	size_t i;
	int rc;

	if ((rc = mbi_need_config(ctx)))
		return mbi_status(ctx, rc);
	if (!ctx->cfg->signing_key)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "no signing key: set [keys] signing_key to the host key's fingerprint");
	{
		const char *dir = ctx->cfg->url;

		if (!strncmp(dir, "file://", 7))
			dir += 7;
		if (dir[0] == '/' && mbi_mkdir_p(dir, 0700))
			return mbi_error(ctx, MB_E_IO, errno,
					 "cannot create repository directory '%s'",
					 dir);
	}
	if ((rc = repo_alloc(ctx, &r)))
		return mbi_status(ctx, rc);
	rc = mbi_store_stat(r->store, REPO_FILE, &size);
	if (rc == MB_OK) {
		rc = mbi_error(ctx, MB_E_EXISTS, 0,
			       "a repository exists at '%s' already",
			       ctx->cfg->url);
		goto out;
	}
	if (rc != MB_E_NOTFOUND)
		goto out;
	mbi_random_hex(id, 16);
	mbi_time_format((int64_t)time(NULL), when, sizeof(when), false);
	rc = mbi_buf_printf(&text, "%sid %s\ncreated %s\n",
			    mbi_write_format() == 1 ? REPO_MAGIC : REPO_MAGIC2,
			    id, when);
	for (i = 0; !rc && i < ctx->cfg->nrecipients; i++)
		rc = mbi_buf_printf(&text, "recipient %s\n",
				    ctx->cfg->recipients[i]);
	for (i = 0; !rc && i < ctx->cfg->ntrusted; i++)
		rc = mbi_buf_printf(&text, "signer %s\n",
				    ctx->cfg->trusted_signers[i]);
	if (rc)
		goto out;
	if ((rc = mbi_crypt_clearsign(r->crypt, text.data, &signed_text)))
		goto out;
	rc = export_keys(r);
	if (!rc)
		rc = mbi_store_put_buf(r->store, REPO_FILE, signed_text.data,
				       signed_text.len);
out:
	mbi_buf_release(&text);
	mbi_buf_release(&signed_text);
	mbi_repo_close(r);
	return mbi_status(ctx, rc);
}
