/* SPDX-License-Identifier: MIT */
/* op/stats.c: repository statistics: object sizes, unique content, dedup and
 * compression ratios. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

#include "banned.h"

struct sum {
	uint64_t n, bytes;
	bool snapshots; /* count only names of snapshots, not stray objects */
};

static int add_object(void *ud, const char *key, uint64_t size)
{
	struct sum *s = ud;

	if (s->snapshots) {
		struct mb_snapshot_info si;
		const char *base = strrchr(key, '/');

		if (mbi_snapshot_name_parse(base ? base + 1 : key, &si))
			return MB_OK;
	}
	s->n++;
	s->bytes += size;
	return MB_OK;
}

static int add_entry(void *ud, struct mbi_mentry *e)
{
	struct mb_stats *st = ud;

	if (e->type == 'f') {
		st->files++;
		st->bytes_logical += e->size;
	}
	return MB_OK;
}

int mb_stats(struct mb_ctx *ctx, struct mb_stats *out)
{
	struct mb_stats st;
	struct mbi_repo *r = NULL;
	struct mbi_index ix;
	struct mb_snapshot_info *snaps = NULL;
	struct sum packs = { 0 }, index = { 0 }, snap = { .snapshots = true };
	size_t nsnaps = 0, i;
	double t0 = mbi_now();
	bool have_ix = false;
	int rc;

	memset(&st, 0, sizeof(st));
	if ((rc = mbi_result_ok(ctx, out, "mb_stats")))
		return rc;
	if ((rc = mbi_repo_open(ctx, &r)))
		goto out;
	if ((rc = mbi_store_list(r->store, "packs/", add_object,
				      &packs)) ||
	    (rc = mbi_store_list(r->store, "index/", add_object,
				      &index)) ||
	    (rc = mbi_store_list(r->store, "snapshots/", add_object,
				      &snap)))
		goto out;
	st.packs = packs.n;
	st.bytes_packs = packs.bytes;
	st.index_objects = index.n;
	st.bytes_index = index.bytes;
	st.snapshots = snap.n;
	st.bytes_snapshots = snap.bytes;
	st.bytes_total = packs.bytes + index.bytes + snap.bytes;

	if ((rc = mbi_index_init(&ix, ctx)))
		goto out;
	have_ix = true;
	if ((rc = mbi_index_load(&ix, r, false)))
		goto out;
	for (i = 0; i < ix.cap; i++) {
		static const unsigned char zero[MBI_SHA256_LEN];

		if (!memcmp(ix.keys + i * MBI_SHA256_LEN, zero,
			    MBI_SHA256_LEN))
			continue;
		st.blobs++;
		st.bytes_blobs += ix.vals[i].size;
	}

	if ((rc = mbi_snapshots_list(r, &snaps, &nsnaps)))
		goto out;
	for (i = 0; i < nsnaps; i++) {
		struct mbi_manifest m;

		rc = mbi_manifest_load(r, snaps[i].name, &m);
		if (rc == MB_E_NOTFOUND) {
			/* forgotten while we looked */
			mbi_log(ctx, MB_LOG_WARNING, "%s", ctx->errmsg);
			rc = MB_OK;
			continue;
		}
		if (rc)
			goto out;
		rc = mbi_manifest_foreach(ctx, &m, add_entry, &st);
		mbi_manifest_release(&m);
		if (rc)
			goto out;
		if ((rc = mbi_progress(ctx, "stats", i + 1, st.bytes_logical,
				       nsnaps, 0)))
			goto out;
	}
	if (st.bytes_blobs)
		st.dedup_ratio = (double)st.bytes_logical /
				 (double)st.bytes_blobs;
	if (st.bytes_packs)
		st.compression_ratio = (double)st.bytes_blobs /
				       (double)st.bytes_packs;
out:
	st.seconds = mbi_now() - t0;
	if (!rc)
		mbi_result_out(out, &st, sizeof(st));
	free(snaps);
	if (have_ix)
		mbi_index_release(&ix);
	mbi_repo_close(r);
	return mbi_status(ctx, rc);
}
