/* SPDX-License-Identifier: MIT */
/* repo/retention.h: the keep-* policy: which snapshots a forget removes. */
#ifndef MB_RETENTION_H
#define MB_RETENTION_H

#include "mb-private.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The semantics are restic's. Snapshots are grouped by (host, group) and
 * each group is judged on its own, newest first:
 *
 *  - keep-last N keeps the N newest snapshots;
 *  - keep-hourly/daily/weekly/monthly/yearly N keeps the newest snapshot of
 *    each of the N newest periods (UTC hours, days, ISO 8601 weeks, months,
 *    years) that hold a snapshot: periods without one do not count;
 *  - a count rule that cannot be filled (the group has fewer than N such
 *    periods) keeps the group's oldest snapshot too, so that the history
 *    reaches back as far as it can;
 *  - keep-within D keeps every snapshot less than D older than the newest
 *    snapshot of its group (not than now: a backup job that has stalled for
 *    months does not lose its history);
 *  - the rules are OR-ed, and the newest snapshot of each group is always
 *    kept (MBI_KEEP_NEWEST);
 *  - an item the caller marks (mbi_retention_apply_marked) MBI_KEEP_FUTURE (dated too far ahead of the
 *    clock to be trusted) or MBI_KEEP_UNVERIFIED is kept and takes no part in the rules: it is
 *    neither the newest of its group nor a bucket's snapshot, nor the
 *    reference of keep-within; one marked MBI_KEEP_CURRENT (the snapshot
 *    a backup --prune has just made) is judged and kept whatever the rules.
 *
 * A count of MBI_KEEP_UNLIMITED (-1) takes every period; 0 turns a rule off,
 * as does keep_within = 0.
 */
#define MBI_KEEP_UNLIMITED (-1)

enum mbi_keep_reason {
	MBI_KEEP_LAST = 1,
	MBI_KEEP_HOURLY = 2,
	MBI_KEEP_DAILY = 4,
	MBI_KEEP_WEEKLY = 8,
	MBI_KEEP_MONTHLY = 16,
	MBI_KEEP_YEARLY = 32,
	MBI_KEEP_WITHIN = 64,
	MBI_KEEP_NEWEST = 128,
	MBI_KEEP_FUTURE = 256,
	MBI_KEEP_CURRENT = 512,
	MBI_KEEP_UNVERIFIED = 1024, /* its name differs from its manifest */
};
/* Marks of items that are kept and take no part in the rules. */
#define MBI_KEEP_ASIDE (MBI_KEEP_FUTURE | MBI_KEEP_UNVERIFIED)

/* One snapshot, as the policy sees it. */
struct mbi_retain_item {
	int64_t time;      /* seconds since the epoch, UTC */
	const char *host;  /* NULL is the same as "" */
	const char *group; /* the source set, e.g. "conf,dkim,vmail" */
	uint32_t reasons;  /* out: MBI_KEEP_* bits, 0 = remove */
};

/*
 * Apply pol to the n items (in any order) and set each item's reasons.
 * Two snapshots of a group with the same time are ordered by their place in
 * items: the later one counts as the newer. The items are changed only on
 * success. MB_E_INVAL for an empty or invalid policy or a time that
 * gmtime_r cannot convert, MB_E_NOMEM; the message is in ctx (which may be
 * NULL). Pure: no I/O, no clock.
 */
MBI_HIDDEN int mbi_retention_apply(struct mb_ctx *ctx,
				   const struct mbi_retention *pol,
				   struct mbi_retain_item *items, size_t n);
/* The same, with marks[i] (when marks is not NULL) the caller's
 * MBI_KEEP_ASIDE and MBI_KEEP_CURRENT bits for items[i]. */
MBI_HIDDEN int mbi_retention_apply_marked(struct mb_ctx *ctx,
					  const struct mbi_retention *pol,
					  struct mbi_retain_item *items,
					  size_t n, const uint32_t *marks);

/* True when pol has no rule, which apply refuses (nothing would decide). */
MBI_HIDDEN bool mbi_retention_empty(const struct mbi_retention *pol);

/*
 * Set one rule from the command line: rule is "keep-daily" (or the config
 * key "keep_daily", with or without a leading "--"), value a count (0 to
 * 1000000, or "unlimited") or, for keep-within, a duration like "30d" or
 * "1y6m" (see mbi_parse_duration). pol is changed only on success.
 * MB_E_INVAL with a message in ctx (when ctx is not NULL) otherwise.
 */
MBI_HIDDEN int mbi_retention_set(struct mb_ctx *ctx, struct mbi_retention *pol,
				 const char *rule, const char *value);

/* The name of one MBI_KEEP_* bit ("last", "daily", ..., "newest"), or NULL. */
MBI_HIDDEN const char *mbi_retention_reason_name(uint32_t reason);

/* The names of the bits in reasons joined by ',' ("last,daily"), "" for 0,
 * into buf of size n (always terminated when n > 0; cut short if small). */
MBI_HIDDEN void mbi_retention_reasons(uint32_t reasons, char *buf, size_t n);

/* The policy in the words of the command line, e.g. "keep-last 3,
 * keep-daily 7, keep-within 30d", "" when empty; into buf of size n. */
MBI_HIDDEN void mbi_retention_describe(const struct mbi_retention *pol,
				       char *buf, size_t n);

#endif
