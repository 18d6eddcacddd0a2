/* SPDX-License-Identifier: MIT */
/* test-retention.c: the keep-* policy, by hand and against a simple model. */
#include "retention.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"

#include "banned.h"

#define HOUR 3600LL
#define DAY (24 * HOUR)
#define YEAR (365 * DAY)

static struct mb_ctx *ctx;

/* "2020-12-31T12:00:00", UTC. */
static int64_t at(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		abort();
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static void fmt_time(int64_t t, char *buf, size_t n)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!gmtime_r(&tt, &tm))
		snprintf(buf, n, "%" PRId64, t);
	else
		strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
}

/* ------------------------------------------------------------ the model */

/*
 * The rules as the issue states them, computed another way than the engine:
 * periods from day arithmetic (no gmtime_r, ISO weeks as "the Monday that
 * starts them"), and per rule "take the N newest periods that hold a
 * snapshot, keep the newest snapshot of each" over a sort by period, not a
 * walk with counters.
 */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b && (a < 0) != (b < 0))
		q--;
	return q;
}

/* Year and month of a day count since 1970-01-01 (proleptic Gregorian). */
static void civil_from_days(int64_t z, int64_t *y, int64_t *m)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

enum { M_LAST, M_HOURLY, M_DAILY, M_WEEKLY, M_MONTHLY, M_YEARLY, M_N };

static int64_t model_period(int rule, int64_t t)
{
	int64_t day = floor_div(t, DAY), y, m;

	switch (rule) {
	case M_HOURLY:
		return floor_div(t, HOUR);
	case M_DAILY:
		return day;
	case M_WEEKLY:
		/* 1970-01-01 was a Thursday: day 0 is weekday 3 from Monday */
		return day - (((day + 3) % 7) + 7) % 7;
	case M_MONTHLY:
		civil_from_days(day, &y, &m);
		return y * 12 + m - 1;
	case M_YEARLY:
		civil_from_days(day, &y, &m);
		return y;
	}
	return 0;
}

static int model_count(const struct mbi_retention *p, int rule)
{
	const int c[M_N] = { p->keep_last, p->keep_hourly, p->keep_daily,
			     p->keep_weekly, p->keep_monthly, p->keep_yearly };

	return c[rule];
}

struct mrec {
	int64_t key, time;
	size_t idx;
};

static const struct mbi_retain_item *model_items;

static const char *norm(const char *s)
{
	return s ? s : "";
}

static int by_group(const void *pa, const void *pb)
{
	const struct mbi_retain_item *a = &model_items[*(const size_t *)pa];
	const struct mbi_retain_item *b = &model_items[*(const size_t *)pb];
	int c = strcmp(norm(a->host), norm(b->host));

	return c ? c : strcmp(norm(a->group), norm(b->group));
}

/* Newer first: by period, then time, then place in items (later = newer). */
static int by_key_newest(const void *pa, const void *pb)
{
	const struct mrec *a = pa, *b = pb;

	if (a->key != b->key)
		return a->key > b->key ? -1 : 1;
	if (a->time != b->time)
		return a->time > b->time ? -1 : 1;
	return a->idx > b->idx ? -1 : 1;
}

static void model_group(const struct mbi_retention *pol,
			const struct mbi_retain_item *items, const size_t *g,
			size_t k, uint32_t *want, struct mrec *rec)
{
	size_t newest = g[0], oldest = g[0], j, taken, distinct;
	int rule, n;

	for (j = 1; j < k; j++) {
		const struct mbi_retain_item *it = &items[g[j]];

		if (it->time > items[newest].time ||
		    (it->time == items[newest].time && g[j] > newest))
			newest = g[j];
		if (it->time < items[oldest].time ||
		    (it->time == items[oldest].time && g[j] < oldest))
			oldest = g[j];
	}
	want[newest] |= MBI_KEEP_NEWEST;
	for (j = 0; j < k; j++)
		if (pol->keep_within > 0 &&
		    items[newest].time - items[g[j]].time < pol->keep_within)
			want[g[j]] |= MBI_KEEP_WITHIN;
	for (rule = 0; rule < M_N; rule++) {
		n = model_count(pol, rule);
		if (!n)
			continue;
		for (j = 0; j < k; j++) {
			rec[j].idx = g[j];
			rec[j].time = items[g[j]].time;
			rec[j].key = rule == M_LAST ? 0 :
				     model_period(rule, rec[j].time);
		}
		qsort(rec, k, sizeof(*rec), by_key_newest);
		taken = 0;
		distinct = 0;
		for (j = 0; j < k; j++) {
			/* keep-last: every snapshot is a period of its own */
			if (rule != M_LAST && j && rec[j].key == rec[j - 1].key)
				continue;
			distinct++;
			if (n < 0 || taken < (size_t)n) {
				want[rec[j].idx] |= 1u << rule;
				taken++;
			}
		}
		if (n < 0 || distinct < (size_t)n)
			want[oldest] |= 1u << rule;
	}
}

static void model_apply(const struct mbi_retention *pol,
			const struct mbi_retain_item *items, size_t n,
			uint32_t *want)
{
	size_t *ord = malloc((n ? n : 1) * sizeof(*ord));
	struct mrec *rec = malloc((n ? n : 1) * sizeof(*rec));
	size_t i, a, b;

	if (!ord || !rec)
		abort();
	for (i = 0; i < n; i++) {
		ord[i] = i;
		want[i] = 0;
	}
	model_items = items;
	qsort(ord, n, sizeof(*ord), by_group);
	for (a = 0; a < n; a = b) {
		for (b = a + 1; b < n && !by_group(&ord[a], &ord[b]); b++)
			;
		model_group(pol, items, ord + a, b - a, want, rec);
	}
	free(ord);
	free(rec);
}

/* ------------------------------------------------- hand-written cases */

/*
 * Apply pol to snapshots of one group at times t (no two equal), in the
 * given order and reversed, and compare each item's reasons with want
 * ("" for removed).
 */
static void check_case(const char *name, const struct mbi_retention *pol,
		       const int64_t *t, size_t n, const char *const *want)
{
	struct mbi_retain_item *fw = calloc(n, sizeof(*fw));
	struct mbi_retain_item *bw = calloc(n, sizeof(*bw));
	uint32_t *model = calloc(n, sizeof(*model));
	size_t i, bad = 0;
	char got[128], when[32];
	int rc1, rc2;

	if (!fw || !bw || !model)
		abort();
	for (i = 0; i < n; i++) {
		fw[i].time = bw[n - 1 - i].time = t[i];
		fw[i].host = bw[n - 1 - i].host = "mx1.example.org";
		fw[i].group = bw[n - 1 - i].group = "conf,dkim,vmail";
	}
	rc1 = mbi_retention_apply(ctx, pol, fw, n);
	rc2 = mbi_retention_apply(ctx, pol, bw, n);
	model_apply(pol, fw, n, model);
	for (i = 0; i < n; i++) {
		mbi_retention_reasons(fw[i].reasons, got, sizeof(got));
		if (strcmp(got, want[i]) ||
		    fw[i].reasons != bw[n - 1 - i].reasons ||
		    fw[i].reasons != model[i]) {
			fmt_time(t[i], when, sizeof(when));
			printf("# %s: %s: got '%s', want '%s'%s%s\n", name,
			       when, got, want[i],
			       fw[i].reasons != bw[n - 1 - i].reasons ?
			       ", depends on order" : "",
			       fw[i].reasons != model[i] ?
			       ", model disagrees" : "");
			bad++;
		}
	}
	ok(rc1 == MB_OK && rc2 == MB_OK && !bad, "%s", name);
	free(fw);
	free(bw);
	free(model);
}

/* Is b in the same period as a (a < b) for keep-<rule> 2? */
static void check_same_period(const char *rule, const char *a, const char *b,
			      bool same)
{
	struct mbi_retention pol = { 0 };
	struct mbi_retain_item it[3];
	char name[32];
	int rc;

	/* With a count of 2 and a sentinel long before: a is kept only when
	 * it opens a period of its own, the sentinel only when it does not
	 * (then it is the second period). */
	snprintf(name, sizeof(name), "keep-%s", rule);
	if (mbi_retention_set(NULL, &pol, name, "2"))
		abort();
	memset(it, 0, sizeof(it));
	it[0].time = at(a) - 20 * YEAR;
	it[1].time = at(a);
	it[2].time = at(b);
	rc = mbi_retention_apply(ctx, &pol, it, 3);
	ok(rc == MB_OK && !!it[1].reasons == !same &&
	   !!it[0].reasons == same && it[2].reasons,
	   "%s: %s and %s are %s", name, a, b,
	   same ? "one period" : "two periods");
}

static void test_periods(void)
{
	static const struct {
		const char *rule, *a, *b;
		bool same;
	} cases[] = {
		/* ISO 8601 weeks around new year; Thursday decides */
		{ "weekly", "2020-12-31T12:00:00", "2021-01-03T12:00:00", 1 },
		{ "weekly", "2021-01-03T23:59:59", "2021-01-04T00:00:00", 0 },
		{ "weekly", "2020-12-27T23:59:59", "2020-12-28T00:00:00", 0 },
		{ "weekly", "2014-12-28T12:00:00", "2014-12-29T12:00:00", 0 },
		{ "weekly", "2014-12-29T00:00:00", "2015-01-04T23:59:59", 1 },
		{ "weekly", "2019-12-30T00:00:00", "2020-01-05T23:59:59", 1 },
		{ "weekly", "2015-12-31T08:00:00", "2016-01-03T20:00:00", 1 },
		{ "weekly", "2021-12-31T08:00:00", "2022-01-02T20:00:00", 1 },
		{ "weekly", "2022-01-02T23:59:59", "2022-01-03T00:00:00", 0 },
		{ "weekly", "2026-12-31T00:00:00", "2027-01-03T23:59:59", 1 },
		{ "weekly", "1969-12-29T00:00:00", "1970-01-04T23:59:59", 1 },
		{ "weekly", "2000-02-28T00:00:00", "2000-03-05T23:59:59", 1 },
		{ "weekly", "2024-06-09T23:59:59", "2024-06-10T00:00:00", 0 },
		{ "weekly", "2020-12-31T23:59:59", "2021-01-01T00:00:00", 1 },
		/* hours, days, months and years end on UTC boundaries */
		{ "hourly", "2021-03-01T10:00:00", "2021-03-01T10:59:59", 1 },
		{ "hourly", "2021-03-01T10:59:59", "2021-03-01T11:00:00", 0 },
		{ "daily", "2021-03-01T00:00:00", "2021-03-01T23:59:59", 1 },
		{ "daily", "2021-03-01T23:59:59", "2021-03-02T00:00:00", 0 },
		{ "daily", "1969-12-31T23:59:59", "1970-01-01T00:00:00", 0 },
		{ "monthly", "2021-01-31T23:59:59", "2021-02-01T00:00:00", 0 },
		{ "monthly", "2020-02-29T23:59:59", "2020-03-01T00:00:00", 0 },
		{ "monthly", "2020-02-01T00:00:00", "2020-02-29T23:59:59", 1 },
		{ "yearly", "2020-12-31T23:59:59", "2021-01-01T00:00:00", 0 },
		{ "yearly", "2021-01-01T00:00:00", "2021-12-31T23:59:59", 1 },
	};
	size_t i;

	/* 2020-W53 runs from 2020-12-28 to 2021-01-03, 2015-W01 from
	 * 2014-12-29, 2020-W01 from 2019-12-30, 2021-W52 to 2022-01-02,
	 * 2026-W53 to 2027-01-03, 1970-W01 from 1969-12-29 */
	for (i = 0; i < MBI_ARRAY_SIZE(cases); i++)
		check_same_period(cases[i].rule, cases[i].a, cases[i].b,
				  cases[i].same);
}

static void test_rules(void)
{
	struct mbi_retention pol;
	int64_t t[64];
	const char *want[64];
	size_t n, i;
	int d;

	/* 10 days, 3 a day: keep-daily 7 keeps the last of each of 7 days */
	memset(&pol, 0, sizeof(pol));
	pol.keep_daily = 7;
	n = 0;
	for (d = 1; d <= 10; d++) {
		int64_t day = at("2021-03-01T00:00:00") + (d - 1) * DAY;

		t[n] = day + 1 * HOUR, want[n++] = "";
		t[n] = day + 9 * HOUR, want[n++] = "";
		t[n] = day + 17 * HOUR, want[n++] = d >= 4 ? "daily" : "";
	}
	want[n - 1] = "daily,newest";
	check_case("keep-daily 7 over 10 days", &pol, t, n, want);

	/* 3 days, 4 a day: keep-daily 7 cannot be filled, keeps the oldest */
	n = 0;
	for (d = 0; d < 3; d++)
		for (i = 0; i < 4; i++) {
			t[n] = at("2021-03-01T00:30:00") + d * DAY +
			       (int64_t)i * 6 * HOUR;
			want[n++] = i == 3 ? "daily" : "";
		}
	want[0] = "daily";
	want[n - 1] = "daily,newest";
	check_case("keep-daily 7 over 3 days keeps the oldest too", &pol, t,
		   n, want);

	/* days without a snapshot do not count */
	pol.keep_daily = 3;
	t[0] = at("2021-03-01T12:00:00"), want[0] = "";
	t[1] = at("2021-03-02T12:00:00"), want[1] = "daily";
	t[2] = at("2021-03-10T12:00:00"), want[2] = "daily";
	t[3] = at("2021-03-11T12:00:00"), want[3] = "daily,newest";
	check_case("keep-daily 3 skips empty days", &pol, t, 4, want);

	/* keep-last */
	memset(&pol, 0, sizeof(pol));
	pol.keep_last = 3;
	for (i = 0; i < 5; i++) {
		t[i] = at("2021-03-01T12:00:00") + (int64_t)i * 60;
		want[i] = i >= 2 ? "last" : "";
	}
	want[4] = "last,newest";
	check_case("keep-last 3 of 5", &pol, t, 5, want);
	pol.keep_last = 10;
	for (i = 0; i < 4; i++)
		want[i] = "last";
	check_case("keep-last 10 of 5 keeps all", &pol, t, 5, want);

	/* keep-within counts from the newest snapshot, not from now: a job
	 * that stalled in 2019 keeps its last week */
	memset(&pol, 0, sizeof(pol));
	pol.keep_within = 7 * DAY;
	n = 0;
	for (d = 0; d < 60; d++) {
		t[n] = at("2019-01-01T12:00:00") + d * DAY;
		want[n++] = d >= 53 ? "within" : "";
	}
	want[n - 1] = "within,newest";
	check_case("keep-within 7d of a stalled job", &pol, t, n, want);
	t[n] = t[n - 1] - 7 * DAY + 1; /* 7d - 1s before the newest */
	want[n++] = "within";
	check_case("keep-within 7d: 7d-1s is in, 7d is out", &pol, t, n, want);

	/* rules are OR-ed; hourly over new year */
	memset(&pol, 0, sizeof(pol));
	pol.keep_last = 2;
	pol.keep_hourly = 3;
	pol.keep_daily = 2;
	pol.keep_monthly = 2;
	pol.keep_yearly = 5;
	n = 0;
	for (i = 0; i < 29; i++) {
		t[n] = at("2021-12-30T22:00:00") + (int64_t)i * HOUR;
		want[n++] = "";
	}
	want[0] = "yearly";                  /* 2021-12-30 22:00, the oldest */
	want[25] = "daily,monthly,yearly";   /* 2021-12-31 23:00 */
	want[26] = "hourly";                 /* 2022-01-01 00:00 */
	want[27] = "last,hourly";
	want[28] = "last,hourly,daily,monthly,yearly,newest";
	check_case("rules are or-ed, over new year", &pol, t, n, want);

	/* keep-weekly 3 over new year 2021: 2020-W52 goes */
	memset(&pol, 0, sizeof(pol));
	pol.keep_weekly = 3;
	n = 0;
	for (d = 0; d < 23; d++) {
		t[n] = at("2020-12-21T03:00:00") + d * DAY;
		want[n++] = "";
	}
	want[13] = "weekly";  /* 2021-01-03, the last day of 2020-W53 */
	want[20] = "weekly";  /* 2021-01-10, the last of 2021-W01 */
	want[22] = "weekly,newest";  /* 2021-01-12 */
	check_case("keep-weekly 3 over new year", &pol, t, n, want);

	/* unlimited: the newest of every day, and the oldest */
	memset(&pol, 0, sizeof(pol));
	pol.keep_daily = MBI_KEEP_UNLIMITED;
	for (i = 0; i < 10; i++) {
		t[i] = at("2021-03-01T06:00:00") + (int64_t)(i / 2) * DAY +
		       (int64_t)(i % 2) * 6 * HOUR;
		want[i] = i % 2 ? "daily" : "";
	}
	want[0] = "daily";
	want[9] = "daily,newest";
	check_case("keep-daily unlimited", &pol, t, 10, want);

	/* keep-yearly 2 with one snapshot a month: Decembers */
	memset(&pol, 0, sizeof(pol));
	pol.keep_yearly = 2;
	pol.keep_monthly = 3;
	for (i = 0; i < 36; i++) {
		char s[32];

		snprintf(s, sizeof(s), "%zu-%02zu-15T00:00:00", 2019 + i / 12,
			 i % 12 + 1);
		t[i] = at(s);
		want[i] = "";
	}
	want[23] = "yearly";                 /* 2020-12 */
	want[33] = "monthly";
	want[34] = "monthly";
	want[35] = "monthly,yearly,newest";  /* 2021-12 */
	check_case("keep-yearly 2, keep-monthly 3", &pol, t, 36, want);

	/* the same hour of the same day a year apart is another period */
	t[0] = at("2019-03-10T12:00:00");
	t[1] = at("2020-03-10T12:00:00");
	t[2] = at("2021-03-10T12:00:00");
	for (d = 0; d < 5; d++) {
		static const char *const rules[] = {
			"keep-hourly", "keep-daily", "keep-weekly",
			"keep-monthly", "keep-yearly",
		};
		char name[64];

		memset(&pol, 0, sizeof(pol));
		if (mbi_retention_set(ctx, &pol, rules[d], "3"))
			abort();
		want[0] = want[1] = rules[d] + 5;
		want[2] = d == 0 ? "hourly,newest" : d == 1 ? "daily,newest" :
			  d == 2 ? "weekly,newest" : d == 3 ? "monthly,newest" :
			  "yearly,newest";
		snprintf(name, sizeof(name), "%s 3 over three years", rules[d]);
		check_case(name, &pol, t, 3, want);
	}
}

static void test_groups_and_ties(void)
{
	struct mbi_retention pol = { .keep_last = 1 };
	struct mbi_retain_item it[] = {
		{ 100, "mx1", "vmail", 0 },
		{ 200, "mx1", "vmail", 0 },
		{ 50, "mx1", "conf,dkim,vmail", 0 },
		{ 300, "mx2", "vmail", 0 },
		{ 10, "mx2", "vmail", 0 },
		{ 500, NULL, NULL, 0 },
		{ 400, "", "", 0 },
	};
	const uint32_t kept = MBI_KEEP_LAST | MBI_KEEP_NEWEST;
	const uint32_t want[] = { 0, kept, kept, kept, 0, kept, 0 };
	struct mbi_retain_item tie[3] = {
		{ 1000, "mx1", "vmail", 0 },
		{ 1000, "mx1", "vmail", 0 },
		{ 999, "mx1", "vmail", 0 },
	};
	size_t i, bad = 0;

	ok(mbi_retention_apply(ctx, &pol, it, MBI_ARRAY_SIZE(it)) == MB_OK,
	   "apply to several hosts and source sets");
	for (i = 0; i < MBI_ARRAY_SIZE(it); i++)
		if (it[i].reasons != want[i]) {
			printf("# item %zu: got %#x, want %#x\n", i,
			       it[i].reasons, want[i]);
			bad++;
		}
	ok(!bad, "each (host, source set) is judged alone; NULL is \"\"");

	ok(mbi_retention_apply(ctx, &pol, tie, 3) == MB_OK &&
	   tie[0].reasons == 0 && tie[1].reasons == kept && tie[2].reasons == 0,
	   "equal times: the later item counts as the newer");
}

/* Whatever the policy, the newest of each group stays. */
static void test_newest(void)
{
	static const char *const rules[] = {
		"keep-last", "keep-hourly", "keep-daily", "keep-weekly",
		"keep-monthly", "keep-yearly", "keep-within",
	};
	struct mbi_retain_item it[50];
	size_t r, i;

	for (r = 0; r < MBI_ARRAY_SIZE(rules); r++) {
		struct mbi_retention pol = { 0 };
		size_t newest = 0, nkept = 0;
		uint32_t bit = 1u << r;

		if (mbi_retention_set(ctx, &pol, rules[r], "1"))
			abort();
		for (i = 0; i < MBI_ARRAY_SIZE(it); i++) {
			/* 1 s apart, newest in the middle */
			it[i].time = at("2022-05-05T05:05:05") -
				     (int64_t)(i > 20 ? i - 20 : 20 - i + 30);
			it[i].host = "mx";
			it[i].group = "vmail";
			it[i].reasons = 0;
			if (it[i].time > it[newest].time)
				newest = i;
		}
		ok(mbi_retention_apply(ctx, &pol, it, MBI_ARRAY_SIZE(it)) ==
		   MB_OK && it[newest].reasons == (bit | MBI_KEEP_NEWEST),
		   "%s 1 keeps the newest", rules[r]);
		for (i = 0; i < MBI_ARRAY_SIZE(it); i++)
			nkept += it[i].reasons != 0;
		/* keep-last/hourly/daily... 1 are filled at once; keep-within
		 * 1s holds only the newest */
		is_int(nkept, 1, "%s 1 keeps nothing else", rules[r]);
	}
}

static void test_refusals(void)
{
	struct mbi_retention pol = { 0 };
	struct mbi_retain_item it[2] = {
		{ 100, "mx", "vmail", 0xdead },
		{ 200, "mx", "vmail", 0xdead },
	};

	is_int(mbi_retention_apply(ctx, &pol, it, 2), MB_E_INVAL,
	       "an empty policy is refused");
	ok(strstr(mb_ctx_errmsg(ctx), "empty retention policy") != NULL,
	   "with a message: %s", mb_ctx_errmsg(ctx));
	ok(it[0].reasons == 0xdead && it[1].reasons == 0xdead,
	   "and the items are left alone");
	is_int(mbi_retention_apply(ctx, &pol, it, 0), MB_E_INVAL,
	       "an empty policy is refused even without snapshots");
	ok(mbi_retention_empty(&pol), "mbi_retention_empty");

	pol.keep_daily = 1;
	ok(!mbi_retention_empty(&pol), "not empty with keep_daily");
	is_int(mbi_retention_apply(ctx, &pol, it, 0), MB_OK,
	       "no snapshots, nothing to do");
	pol.keep_daily = -2;
	is_int(mbi_retention_apply(ctx, &pol, it, 2), MB_E_INVAL,
	       "a negative count is refused");
	pol.keep_daily = 0;
	pol.keep_within = -5;
	is_int(mbi_retention_apply(ctx, &pol, it, 2), MB_E_INVAL,
	       "a negative keep_within is refused");
	pol.keep_within = 0;
	pol.keep_last = 1;
	it[0].time = INT64_MAX;
	is_int(mbi_retention_apply(ctx, &pol, it, 2), MB_E_INVAL,
	       "a time gmtime_r cannot convert is refused");
	ok(it[0].reasons == 0xdead && it[1].reasons == 0xdead,
	   "and the items are left alone: %s", mb_ctx_errmsg(ctx));
}

static void set_is(struct mbi_retention *pol, const char *rule,
		   const char *value, int rc)
{
	is_int(mbi_retention_set(ctx, pol, rule, value), rc, "set %s '%s'",
	       rule, value ? value : "(null)");
}

static void test_strings(void)
{
	struct mbi_retention pol = { 0 }, before;
	char buf[128], small[6];

	mbi_retention_reasons(0, buf, sizeof(buf));
	is_str(buf, "", "no reasons");
	mbi_retention_reasons(MBI_KEEP_LAST | MBI_KEEP_DAILY, buf, sizeof(buf));
	is_str(buf, "last,daily", "two reasons");
	mbi_retention_reasons(0xff, buf, sizeof(buf));
	is_str(buf, "last,hourly,daily,weekly,monthly,yearly,within,newest",
	       "all reasons");
	mbi_retention_reasons(0xff, small, sizeof(small));
	is_str(small, "last,", "cut to the buffer");
	is_str(mbi_retention_reason_name(MBI_KEEP_WEEKLY), "weekly",
	       "reason name");
	ok(mbi_retention_reason_name(3) == NULL &&
	   mbi_retention_reason_name(0) == NULL &&
	   mbi_retention_reason_name(2048) == NULL,
	   "no name for 0, two bits or an unknown bit");

	set_is(&pol, "keep-last", "3", MB_OK);
	set_is(&pol, "--keep-daily", "7", MB_OK);
	set_is(&pol, "keep_weekly", "unlimited", MB_OK);
	set_is(&pol, "keep-within", "30d", MB_OK);
	ok(pol.keep_last == 3 && pol.keep_daily == 7 &&
	   pol.keep_weekly == MBI_KEEP_UNLIMITED &&
	   pol.keep_within == 30 * DAY && !pol.keep_hourly &&
	   !pol.keep_monthly && !pol.keep_yearly,
	   "the policy holds what was set");
	mbi_retention_describe(&pol, buf, sizeof(buf));
	is_str(buf, "keep-last 3, keep-daily 7, keep-weekly unlimited, keep-within 30d",
	       "describe");

	before = pol;
	set_is(&pol, "keep-daily", "-1", MB_E_INVAL);
	ok(strstr(mb_ctx_errmsg(ctx), "'keep-daily' must be a number"),
	   "message: %s", mb_ctx_errmsg(ctx));
	set_is(&pol, "keep-daily", "7x", MB_E_INVAL);
	set_is(&pol, "keep-daily", "", MB_E_INVAL);
	set_is(&pol, "keep-daily", " 7", MB_E_INVAL);
	set_is(&pol, "keep-daily", "1000001", MB_E_INVAL);
	set_is(&pol, "keep-daily", "99999999999", MB_E_INVAL);
	set_is(&pol, "keep-daily", NULL, MB_E_INVAL);
	set_is(&pol, "keep-within", "soon", MB_E_INVAL);
	set_is(&pol, "keep-within", "", MB_E_INVAL);
	set_is(&pol, "keep-fortnightly", "2", MB_E_INVAL);
	ok(strstr(mb_ctx_errmsg(ctx),
		  "unknown retention rule 'keep-fortnightly'"),
	   "message: %s", mb_ctx_errmsg(ctx));
	set_is(&pol, "daily", "2", MB_E_INVAL);
	is_int(mbi_retention_set(NULL, &pol, "keeplast", "2"), MB_E_INVAL,
	       "a malformed rule, without a ctx");
	ok(!memcmp(&pol, &before, sizeof(pol)),
	   "failures leave the policy alone");

	set_is(&pol, "keep-daily", "0", MB_OK);
	set_is(&pol, "keep-within", "1y6m", MB_OK);
	is_int(pol.keep_within, 365 * DAY + 180 * DAY, "1y6m is 545 days");
	mbi_retention_describe(&pol, buf, sizeof(buf));
	is_str(buf, "keep-last 3, keep-weekly unlimited, keep-within 545d",
	       "describe after changes");
	memset(&pol, 0, sizeof(pol));
	mbi_retention_describe(&pol, buf, sizeof(buf));
	is_str(buf, "", "describe an empty policy");
	pol.keep_within = 12 * HOUR;
	mbi_retention_describe(&pol, buf, sizeof(buf));
	is_str(buf, "keep-within 12h", "describe hours");
	pol.keep_within = 90 * 60;
	mbi_retention_describe(&pol, buf, sizeof(buf));
	is_str(buf, "keep-within 90min", "describe minutes");
	pol.keep_within = 45;
	mbi_retention_describe(&pol, buf, sizeof(buf));
	is_str(buf, "keep-within 45s", "describe seconds");
}

/* ------------------------------------------------- random timelines */

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int64_t below(int64_t n)
{
	return n > 0 ? (int64_t)(rnd() % (uint64_t)n) : 0;
}

static bool chance(int percent)
{
	return below(100) < percent;
}

struct timeline {
	struct mbi_retain_item *it;
	size_t n, cap;
};

static void push(struct timeline *tl, int64_t t, const char *host,
		 const char *group)
{
	if (tl->n == tl->cap) {
		tl->cap = tl->cap ? 2 * tl->cap : 1024;
		tl->it = realloc(tl->it, tl->cap * sizeof(*tl->it));
		if (!tl->it)
			abort();
	}
	tl->it[tl->n].time = t;
	tl->it[tl->n].host = host;
	tl->it[tl->n].group = group;
	tl->it[tl->n].reasons = 0xdeadbeef;
	tl->n++;
}

/*
 * One host's backups of one source set: a cadence, jitter, gaps of hours
 * to months, now and then two at the same second. big: years of hourly.
 */
static void gen_stream(struct timeline *tl, const char *host,
		       const char *group, bool big)
{
	static const int64_t steps[] = { 15 * 60, HOUR, 6 * HOUR, DAY,
					 7 * DAY };
	int64_t t, step, count, i;
	int kind = (int)below(7);

	if (chance(5))
		t = -(int64_t)below(5 * YEAR); /* before 1970 */
	else
		t = 946684800 + below(35 * YEAR); /* 2000 to 2035 */
	if (big) {
		kind = 1;
		count = (1 + below(3)) * 365 * 24;
	} else {
		static const int64_t sizes[] = { 5, 50, 500, 3000 };

		count = 1 + below(sizes[below(4)]);
	}
	for (i = 0; i < count; i++) {
		push(tl, t, host, group);
		if (kind < 5) {
			step = steps[kind];
			step += below(step / 10 + 1) - step / 20;
		} else if (kind == 5) {
			step = 1 + below(2 * DAY); /* irregular */
		} else {
			/* hug hour boundaries: xx:59:59, xx:00:00, xx:00:01 */
			step = floor_div(t, HOUR) * HOUR - t +
			       (1 + below(48)) * HOUR + below(3) - 1;
		}
		if (chance(2))
			step += below(big ? 30 * DAY : 90 * DAY); /* a gap */
		if (chance(1))
			step = 0; /* two at the same second */
		t += step;
	}
}

static int rand_count(void)
{
	if (chance(50))
		return 0;
	if (chance(5))
		return MBI_KEEP_UNLIMITED;
	if (chance(70))
		return 1 + (int)below(10);
	return 1 + (int)below(200);
}

static void rand_policy(struct mbi_retention *pol)
{
	static const int64_t units[] = { 1, 60, HOUR, DAY, 7 * DAY, 30 * DAY,
					 YEAR };

	memset(pol, 0, sizeof(*pol));
	pol->keep_last = rand_count();
	pol->keep_hourly = rand_count();
	pol->keep_daily = rand_count();
	pol->keep_weekly = rand_count();
	pol->keep_monthly = rand_count();
	pol->keep_yearly = rand_count();
	if (chance(30))
		pol->keep_within = (1 + below(100)) * units[below(7)];
	if (mbi_retention_empty(pol))
		pol->keep_last = 1 + (int)below(5);
}

static const char *const hosts[] = {
	"mx1.example.org", "mx2.example.org", "mail.example.net", "", NULL,
};
static const char *const groups[] = {
	"conf,dkim,vmail", "vmail", "maildb", NULL,
};

static bool check_timeline(int nr, bool big, size_t *total)
{
	struct timeline tl = { 0 };
	struct mbi_retention pol;
	uint32_t *want;
	size_t i, bad = 0, nkept = 0;
	int streams, s, rc;
	char desc[256];

	streams = big ? 2 + (int)below(3) : 1 + (int)below(6);
	for (s = 0; s < streams; s++)
		gen_stream(&tl, hosts[below(MBI_ARRAY_SIZE(hosts))],
			   groups[below(MBI_ARRAY_SIZE(groups))], big);
	for (i = tl.n; i > 1; i--) { /* any order */
		size_t j = (size_t)below((int64_t)i);
		struct mbi_retain_item x = tl.it[i - 1];

		tl.it[i - 1] = tl.it[j];
		tl.it[j] = x;
	}
	rand_policy(&pol);
	want = malloc(tl.n * sizeof(*want));
	if (!want)
		abort();
	rc = mbi_retention_apply(ctx, &pol, tl.it, tl.n);
	model_apply(&pol, tl.it, tl.n, want);
	for (i = 0; i < tl.n; i++) {
		nkept += tl.it[i].reasons != 0;
		if (tl.it[i].reasons == want[i])
			continue;
		if (bad++ < 5) {
			char when[32], got[128], exp[128];

			fmt_time(tl.it[i].time, when, sizeof(when));
			mbi_retention_reasons(tl.it[i].reasons, got,
					      sizeof(got));
			mbi_retention_reasons(want[i], exp, sizeof(exp));
			printf("# item %zu %s host '%s' group '%s': got '%s', model '%s'\n",
			       i, when, norm(tl.it[i].host),
			       norm(tl.it[i].group), got, exp);
		}
	}
	mbi_retention_describe(&pol, desc, sizeof(desc));
	ok(rc == MB_OK && !bad,
	   "timeline %d%s: %zu snapshots in %d streams, %zu kept; %s", nr,
	   big ? " (years of hourly)" : "", tl.n, streams, nkept, desc);
	if (rc)
		printf("# %s\n", mb_ctx_errmsg(ctx));
	*total += tl.n;
	free(want);
	free(tl.it);
	return rc == MB_OK && !bad;
}

static void test_random(void)
{
	const char *env = getenv("MB_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 20240501;
	const int nsmall = 400, nbig = 16;
	size_t total = 0;
	int i, failed = 0;

	printf("# random timelines with seed %" PRIu64
	       " (set MB_TEST_SEED to change)\n", seed);
	for (i = 0; i < nsmall + nbig; i++) {
		/* each timeline has its own seed, so one can be replayed */
		rng = seed * 1000003 + (uint64_t)i;
		failed += !check_timeline(i, i >= nsmall, &total);
	}
	printf("# %d timelines, %zu snapshots checked against the model, %d failed\n",
	       nsmall + nbig, total, failed);
}

/* Marked items: one from the future steers nothing, the current one stays. */
static void test_marks(void)
{
	struct mbi_retention pol = { .keep_within = 2 * DAY };
	struct mbi_retain_item it[] = {
		{ at("2025-01-01T02:00:00"), "mx", "vmail", 0xdead },
		{ at("2025-01-02T02:00:00"), "mx", "vmail", 0xdead },
		{ at("2025-01-03T02:00:00"), "mx", "vmail", 0xdead },
		{ at("2099-12-31T23:59:59"), "mx", "vmail", 0xdead },
	};
	const uint32_t marks[] = { 0, 0, 0, MBI_KEEP_FUTURE };
	const uint32_t cur[] = { MBI_KEEP_CURRENT, 0, 0, 0 };
	struct mbi_retention last = { .keep_last = 1 };

	ok(mbi_retention_apply_marked(ctx, &pol, it, 4, marks) == MB_OK &&
	   it[0].reasons == 0 && it[1].reasons == MBI_KEEP_WITHIN &&
	   it[2].reasons == (MBI_KEEP_WITHIN | MBI_KEEP_NEWEST) &&
	   it[3].reasons == MBI_KEEP_FUTURE,
	   "a future item is kept and does not steer keep-within");
	ok(mbi_retention_apply(ctx, &pol, it, 4) == MB_OK &&
	   it[2].reasons == 0 && it[3].reasons != 0,
	   "unmarked, it would have (the bug this guards against)");
	ok(mbi_retention_apply_marked(ctx, &last, it, 3, cur) == MB_OK &&
	   it[0].reasons == MBI_KEEP_CURRENT && it[1].reasons == 0 &&
	   it[2].reasons == (MBI_KEEP_LAST | MBI_KEEP_NEWEST),
	   "the current item is kept whatever its time");
	is_str(mbi_retention_reason_name(MBI_KEEP_FUTURE), "future",
	       "reason name of a future item");
}

int main(void)
{
	/* periods are UTC whatever the local zone says */
	setenv("TZ", "Asia/Kolkata", 1);
	tzset();
	if (mb_ctx_new(&ctx))
		return 1;
	test_periods();
	test_rules();
	test_groups_and_ties();
	test_newest();
	test_refusals();
	test_strings();
	test_random();
	test_marks();
	mb_ctx_free(ctx);
	return tap_done();
}
