/* SPDX-License-Identifier: MIT */
/* repo/retention.c: the keep-* policy: which snapshots a forget keeps, and why. */
#include "retention.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"

/* The rules that count periods, in the order of enum mbi_keep_reason. */
enum {
	R_LAST,
	R_HOURLY,
	R_DAILY,
	R_WEEKLY,
	R_MONTHLY,
	R_YEARLY,
	NCOUNT
};

static const struct {
	const char *name;
	size_t off; /* of the count in struct mbi_retention */
} count_rules[NCOUNT] = {
	{ "last", offsetof(struct mbi_retention, keep_last) },
	{ "hourly", offsetof(struct mbi_retention, keep_hourly) },
	{ "daily", offsetof(struct mbi_retention, keep_daily) },
	{ "weekly", offsetof(struct mbi_retention, keep_weekly) },
	{ "monthly", offsetof(struct mbi_retention, keep_monthly) },
	{ "yearly", offsetof(struct mbi_retention, keep_yearly) },
};

/* Names of the MBI_KEEP_* bits, lowest bit first. */
static const char *const reason_names[] = {
	"last", "hourly", "daily", "weekly", "monthly", "yearly", "within",
	"newest", "future", "current", "unverified",
};

#define MAX_COUNT 1000000 /* as [retention] in config.c */

static int count_of(const struct mbi_retention *pol, int r)
{
	return *(const int *)((const char *)pol + count_rules[r].off);
}

static int *count_ptr(struct mbi_retention *pol, int r)
{
	return (int *)((char *)pol + count_rules[r].off);
}

/* mbi_error for a ctx that may be NULL (mbi_retention_set's is optional). */
static int fail(struct mb_ctx *ctx, const char *fmt, ...) MBI_PRINTF(2, 3);
static int fail(struct mb_ctx *ctx, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!ctx)
		return MB_E_INVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mbi_error(ctx, MB_E_INVAL, 0, "%s", msg);
}

/* ------------------------------------------------------------- periods */

static int days_in_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 366 : 365;
}

/*
 * ISO 8601 week of a day: weeks start on Monday, and a week belongs to the
 * year that holds its Thursday (so 2021-01-03 is in 2020-W53 and 2014-12-29
 * in 2015-W01).
 */
static int64_t iso_week_key(const struct tm *tm)
{
	int64_t year = tm->tm_year + 1900LL;
	int monday_based = (tm->tm_wday + 6) % 7;
	int thursday = tm->tm_yday - monday_based + 3; /* its day of the year */

	if (thursday < 0) {
		year--;
		thursday += days_in_year(year);
	} else if (thursday >= days_in_year(year)) {
		thursday -= days_in_year(year);
		year++;
	}
	return year * 100 + thursday / 7 + 1;
}

/* One snapshot while a policy is applied. */
struct snap {
	size_t idx;                /* in the caller's items */
	int64_t time;
	const char *host, *group;
	int64_t period[NCOUNT];    /* per rule; keys grow with time */
};

static int snap_periods(struct snap *s)
{
	time_t t = (time_t)s->time;
	int64_t y, m, d;
	struct tm tm;

	if ((int64_t)t != s->time || !gmtime_r(&t, &tm))
		return MB_E_INVAL;
	y = tm.tm_year + 1900LL;
	m = tm.tm_mon + 1;
	d = tm.tm_mday;
	s->period[R_LAST] = 0; /* unused: every snapshot is its own */
	s->period[R_HOURLY] = ((y * 100 + m) * 100 + d) * 100 + tm.tm_hour;
	s->period[R_DAILY] = (y * 100 + m) * 100 + d;
	s->period[R_WEEKLY] = iso_week_key(&tm);
	s->period[R_MONTHLY] = y * 100 + m;
	s->period[R_YEARLY] = y;
	return MB_OK;
}

/* By group, then newest first; equal times by place, the later first. */
static int snap_cmp(const void *pa, const void *pb)
{
	const struct snap *a = pa, *b = pb;
	int c;

	if ((c = strcmp(a->host, b->host)) || (c = strcmp(a->group, b->group)))
		return c;
	if (a->time != b->time)
		return a->time > b->time ? -1 : 1;
	return a->idx > b->idx ? -1 : a->idx < b->idx;
}

static bool same_group(const struct snap *a, const struct snap *b)
{
	return !strcmp(a->host, b->host) && !strcmp(a->group, b->group);
}

/*
 * Judge one group, s[0] its newest and s[k - 1] its oldest. Walking back in
 * time, a rule keeps the first snapshot it meets in each new period (the
 * newest of that period) until it has kept its count; if it still has room
 * at the oldest snapshot, it keeps that one too.
 */
static void judge_group(const struct mbi_retention *pol, const struct snap *s,
			size_t k, uint32_t *got)
{
	int left[NCOUNT];
	int64_t last[NCOUNT] = { 0 };
	bool seen[NCOUNT] = { false };
	size_t i;
	int r;

	for (r = 0; r < NCOUNT; r++)
		left[r] = count_of(pol, r);
	for (i = 0; i < k; i++) {
		uint32_t why = 0;

		if (i == 0)
			why |= MBI_KEEP_NEWEST;
		if (pol->keep_within > 0 &&
		    s[0].time - s[i].time < pol->keep_within)
			why |= MBI_KEEP_WITHIN;
		for (r = 0; r < NCOUNT; r++) {
			if (!left[r])
				continue;
			if (r == R_LAST || !seen[r] ||
			    s[i].period[r] != last[r] || i == k - 1) {
				why |= 1u << r;
				last[r] = s[i].period[r];
				seen[r] = true;
				if (left[r] > 0)
					left[r]--;
			}
		}
		got[s[i].idx] = why;
	}
}

bool mbi_retention_empty(const struct mbi_retention *pol)
{
	int r;

	for (r = 0; r < NCOUNT; r++)
		if (count_of(pol, r))
			return false;
	return pol->keep_within == 0;
}

static int check_policy(struct mb_ctx *ctx, const struct mbi_retention *pol)
{
	int r;

	if (mbi_retention_empty(pol))
		return fail(ctx, "empty retention policy: set keep_* in [retention] or pass --keep-* options");
	for (r = 0; r < NCOUNT; r++)
		if (count_of(pol, r) < MBI_KEEP_UNLIMITED)
			return fail(ctx, "invalid retention policy: 'keep-%s' is %d",
				    count_rules[r].name, count_of(pol, r));
	if (pol->keep_within < 0)
		return fail(ctx, "invalid retention policy: 'keep-within' is negative");
	return MB_OK;
}

int mbi_retention_apply(struct mb_ctx *ctx, const struct mbi_retention *pol,
			struct mbi_retain_item *items, size_t n)
{
	return mbi_retention_apply_marked(ctx, pol, items, n, NULL);
}

int mbi_retention_apply_marked(struct mb_ctx *ctx,
			       const struct mbi_retention *pol,
			       struct mbi_retain_item *items, size_t n,
			       const uint32_t *marks)
{
	struct snap *snaps = NULL;
	uint32_t *got = NULL;
	size_t i, start, end, m = 0;
	int rc;

	if ((rc = check_policy(ctx, pol)) || !n)
		return rc;
	snaps = calloc(n, sizeof(*snaps));
	got = calloc(n, sizeof(*got));
	if (!snaps || !got) {
		free(snaps);
		free(got);
		return ctx ? mbi_error(ctx, MB_E_NOMEM, ENOMEM,
				       "cannot judge %zu snapshots", n) :
			     MB_E_NOMEM;
	}
	for (i = 0; i < n; i++) {
		/* a snapshot from the future steers nothing */
		if (marks && (marks[i] & MBI_KEEP_ASIDE))
			continue;
		snaps[m].idx = i;
		snaps[m].time = items[i].time;
		snaps[m].host = items[i].host ? items[i].host : "";
		snaps[m].group = items[i].group ? items[i].group : "";
		if (snap_periods(&snaps[m])) {
			rc = fail(ctx, "snapshot time %lld of host '%s' is out of range",
				  (long long)items[i].time, snaps[m].host);
			goto out;
		}
		m++;
	}
	if (m)
		qsort(snaps, m, sizeof(*snaps), snap_cmp);
	for (start = 0; start < m; start = end) {
		for (end = start + 1; end < m; end++)
			if (!same_group(&snaps[start], &snaps[end]))
				break;
		judge_group(pol, snaps + start, end - start, got);
	}
	for (i = 0; i < n; i++)
		if (marks && (marks[i] & MBI_KEEP_ASIDE))
			items[i].reasons = marks[i] & MBI_KEEP_ASIDE;
		else
			items[i].reasons = got[i] |
				(marks ? marks[i] & MBI_KEEP_CURRENT : 0);
out:
	free(snaps);
	free(got);
	return rc;
}

/* -------------------------------------------------------- command line */

static int parse_count(const char *s, int *out)
{
	long v = 0;

	if (!strcmp(s, "unlimited")) {
		*out = MBI_KEEP_UNLIMITED;
		return MB_OK;
	}
	if (!*s || strlen(s) > 7)
		return MB_E_INVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return MB_E_INVAL;
		v = v * 10 + (*s - '0');
	}
	if (v > MAX_COUNT)
		return MB_E_INVAL;
	*out = (int)v;
	return MB_OK;
}

int mbi_retention_set(struct mb_ctx *ctx, struct mbi_retention *pol,
		      const char *rule, const char *value)
{
	const char *name = rule;
	int64_t d;
	int r, v;

	if (!strncmp(name, "--", 2))
		name += 2;
	if (strncmp(name, "keep", 4) || (name[4] != '-' && name[4] != '_'))
		goto unknown;
	name += 5;
	if (!value)
		return fail(ctx, "'keep-%s' needs a value", name);
	if (!strcmp(name, "within")) {
		if (mbi_parse_duration(value, &d) || d < 0)
			return fail(ctx, "'keep-within' must be a duration like 30d, 12h or 1y6m, not '%s'",
				    value);
		pol->keep_within = d;
		return MB_OK;
	}
	for (r = 0; r < NCOUNT; r++) {
		if (strcmp(name, count_rules[r].name))
			continue;
		if (parse_count(value, &v))
			return fail(ctx, "'keep-%s' must be a number from 0 to %d or 'unlimited', not '%s'",
				    name, MAX_COUNT, value);
		*count_ptr(pol, r) = v;
		return MB_OK;
	}
unknown:
	return fail(ctx, "unknown retention rule '%s': use keep-last, keep-hourly, keep-daily, keep-weekly, keep-monthly, keep-yearly or keep-within",
		    rule);
}

/* ------------------------------------------------------------ printing */

/* Append to buf (size n, used *len), always terminated, cut when full. */
static void append(char *buf, size_t n, size_t *len, const char *fmt, ...)
	MBI_PRINTF(4, 5);
static void append(char *buf, size_t n, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*len >= n)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *len, n - *len, fmt, ap);
	va_end(ap);
	if (w < 0)
		buf[*len] = '\0';
	else if ((size_t)w >= n - *len)
		*len = n - 1;
	else
		*len += (size_t)w;
}

const char *mbi_retention_reason_name(uint32_t reason)
{
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(reason_names); i++)
		if (reason == 1u << i)
			return reason_names[i];
	return NULL;
}

void mbi_retention_reasons(uint32_t reasons, char *buf, size_t n)
{
	size_t i, len = 0;

	if (!n)
		return;
	buf[0] = '\0';
	for (i = 0; i < MBI_ARRAY_SIZE(reason_names); i++)
		if (reasons & (1u << i))
			append(buf, n, &len, "%s%s", len ? "," : "",
			       reason_names[i]);
}

void mbi_retention_describe(const struct mbi_retention *pol, char *buf,
			    size_t n)
{
	static const struct {
		int64_t secs;
		const char *suffix; /* as mbi_parse_duration reads it */
	} units[] = {
		{ 86400, "d" }, { 3600, "h" }, { 60, "min" }, { 1, "s" },
	};
	size_t len = 0, u;
	int r, v;

	if (!n)
		return;
	buf[0] = '\0';
	for (r = 0; r < NCOUNT; r++) {
		v = count_of(pol, r);
		if (v == MBI_KEEP_UNLIMITED)
			append(buf, n, &len, "%skeep-%s unlimited",
			       len ? ", " : "", count_rules[r].name);
		else if (v)
			append(buf, n, &len, "%skeep-%s %d", len ? ", " : "",
			       count_rules[r].name, v);
	}
	if (pol->keep_within <= 0)
		return;
	for (u = 0; pol->keep_within % units[u].secs; u++)
		;
	append(buf, n, &len, "%skeep-within %lld%s", len ? ", " : "",
	       (long long)(pol->keep_within / units[u].secs), units[u].suffix);
}
