/* SPDX-License-Identifier: MIT */
/* test-metrics.c: merging a run into a Prometheus textfile
 * (mb_metrics_format). */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int count(const char *text, const char *needle)
{
	int n = 0;
	const char *p = text;

	while ((p = strstr(p, needle))) {
		n++;
		p += strlen(needle);
	}
	return n;
}

/* The value of the sample "name{labels}" (the whole key), or NULL. */
static char *value(const char *text, const char *key)
{
	static char v[64];
	const char *p = text;
	size_t kl = strlen(key);

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ' ') {
			size_t l = strcspn(p + kl + 1, "\n");

			if (l >= sizeof(v))
				return NULL;
			memcpy(v, p + kl + 1, l);
			v[l] = '\0';
			return v;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static char *fmt(const char *old, const struct mb_metrics_run *r)
{
	char *out = NULL;

	if (mb_metrics_format(old, old ? strlen(old) : 0, r, 1700000000, &out))
		return NULL;
	return out;
}

static void test_first_run(void)
{
	struct mb_metrics_run r;
	char *t;

	mb_metrics_run_init(&r, "backup");
	is_int(r.files, -1, "init: counters unknown");
	is_int(r.snapshots, -1, "init: snapshots unknown");
	r.time = 1700000100;
	r.seconds = 12.5;
	r.files = 42;
	r.bytes_new = 1000;
	r.bytes_stored = 600;
	r.snapshots = 3;
	t = fmt(NULL, &r);
	ok(t != NULL, "first run formats");
	if (!t)
		return;
	is_str(value(t, "mailbackup_last_run_timestamp_seconds{command=\"backup\"}"),
	       "1700000100", "run timestamp from run->time");
	is_str(value(t, "mailbackup_last_success_timestamp_seconds{command=\"backup\"}"),
	       "1700000100", "success timestamp on status ok");
	is_str(value(t, "mailbackup_last_run_status{command=\"backup\"}"), "0",
	       "status 0");
	is_str(value(t, "mailbackup_last_duration_seconds{command=\"backup\"}"),
	       "12.500", "duration");
	is_str(value(t, "mailbackup_last_files{command=\"backup\"}"), "42",
	       "files");
	is_str(value(t, "mailbackup_last_bytes_new{command=\"backup\"}"),
	       "1000", "bytes new");
	is_str(value(t, "mailbackup_last_bytes_stored{command=\"backup\"}"),
	       "600", "bytes stored");
	is_str(value(t, "mailbackup_snapshots"), "3", "snapshots, no label");
	ok(value(t, "mailbackup_last_restore_test_success") == NULL,
	   "no restore-test gauge until one ran");
	is_int(count(t, "# HELP mailbackup_"), 8, "a HELP line per metric");
	is_int(count(t, "# TYPE mailbackup_"), 8, "a TYPE line per metric");
	ok(strstr(t, "# TYPE mailbackup_last_run_status gauge\n") != NULL,
	   "gauges");
	ok(strstr(t, "# HELP mailbackup_last_run_status ") <
	   strstr(t, "mailbackup_last_run_status{"), "HELP before samples");
	ok(t[strlen(t) - 1] == '\n', "ends with a newline");
	free(t);
}

static void test_merge(void)
{
	static const char old[] =
		"# HELP mailbackup_last_run_status old help text\n"
		"# TYPE mailbackup_last_run_status gauge\n"
		"mailbackup_last_run_status{command=\"check\"} 0\n"
		"mailbackup_last_run_status{command=\"backup\"} 0\n"
		"mailbackup_last_success_timestamp_seconds{command=\"backup\"} 1600000000\n"
		"mailbackup_last_files{command=\"backup\"} 99\n"
		"mailbackup_last_restore_test_success 1\n"
		"# HELP mailbackup_future_thing from a newer version\n"
		"# TYPE mailbackup_future_thing counter\n"
		"mailbackup_future_thing{a=\"b\"} 7 1600000000000\n"
		"node_something 5\n"
		"garbage line without value\n"
		"mailbackup_broken{label=\"x\" 3\n";
	struct mb_metrics_run r;
	char *t, *t2;

	mb_metrics_run_init(&r, "backup");
	r.status = MB_RUN_FAILED;
	r.seconds = 1;
	t = fmt(old, &r);
	ok(t != NULL, "merge formats");
	if (!t)
		return;
	is_str(value(t, "mailbackup_last_run_status{command=\"backup\"}"), "1",
	       "status replaced");
	is_str(value(t, "mailbackup_last_run_status{command=\"check\"}"), "0",
	       "other command kept");
	is_str(value(t, "mailbackup_last_success_timestamp_seconds{command=\"backup\"}"),
	       "1600000000", "a failure keeps the last success");
	is_str(value(t, "mailbackup_last_run_timestamp_seconds{command=\"backup\"}"),
	       "1700000000", "run timestamp: now when time is 0");
	is_str(value(t, "mailbackup_last_files{command=\"backup\"}"), "99",
	       "unknown counters keep their value");
	is_str(value(t, "mailbackup_last_restore_test_success"), "1",
	       "restore-test gauge kept");
	is_str(value(t, "mailbackup_future_thing{a=\"b\"}"), "7 1600000000000",
	       "a newer version's metric kept, with its timestamp");
	ok(strstr(t, "# TYPE mailbackup_future_thing counter\n") != NULL,
	   "its TYPE kept");
	ok(strstr(t, "# HELP mailbackup_future_thing from a newer version\n") !=
	   NULL, "its HELP kept");
	is_int(count(t, "# HELP mailbackup_last_run_status "), 1,
	       "one HELP per name");
	ok(!strstr(t, "old help text"), "our HELP text wins");
	ok(!strstr(t, "node_something") && !strstr(t, "garbage") &&
	   !strstr(t, "mailbackup_broken"), "foreign and broken lines dropped");
	ok(strstr(t, "mailbackup_last_run_status{command=\"backup\"}") <
	   strstr(t, "mailbackup_last_run_status{command=\"check\"}"),
	   "samples sorted by label");

	/* a second merge is stable */
	t2 = fmt(t, &r);
	ok(t2 && !strcmp(t, t2), "merging the same run again changes nothing");
	free(t2);
	free(t);
}

static void test_partial_and_labels(void)
{
	struct mb_metrics_run r;
	char *t;

	mb_metrics_run_init(&r, "odd\"name\\");
	r.status = MB_RUN_PARTIAL;
	r.restore_test_success = 0;
	t = fmt(NULL, &r);
	ok(t != NULL, "formats");
	if (!t)
		return;
	is_str(value(t, "mailbackup_last_run_status{command=\"odd\\\"name\\\\\"}"),
	       "3", "label value escaped, status 3");
	ok(!strstr(t, "mailbackup_last_success_timestamp_seconds{"),
	   "partial is no success");
	is_str(value(t, "mailbackup_last_restore_test_success"), "0",
	       "restore-test gauge set");
	free(t);
}

static void test_running(void)
{
	struct mb_metrics_run r;
	char *t, *t2;

	mb_metrics_run_init(&r, "prune");
	r.status = MB_RUN_STARTED;
	r.time = 1700000200;
	t = fmt(NULL, &r);
	ok(t != NULL, "a start formats");
	if (!t)
		return;
	is_str(value(t, "mailbackup_running_since_timestamp_seconds{command=\"prune\"}"),
	       "1700000200", "a start records when");
	ok(!strstr(t, "mailbackup_last_run_status"),
	   "a start is no end: no status");
	mb_metrics_run_init(&r, "prune");
	r.time = 1700000300;
	t2 = fmt(t, &r);
	ok(t2 != NULL, "its end formats");
	if (t2) {
		is_str(value(t2, "mailbackup_running_since_timestamp_seconds{command=\"prune\"}"),
		       "0", "the end resets it to 0");
		is_str(value(t2, "mailbackup_last_run_status{command=\"prune\"}"),
		       "0", "and records the status");
	}
	free(t);
	free(t2);
}

int main(void)
{
	test_first_run();
	test_running();
	test_merge();
	test_partial_and_labels();
	return tap_done();
}
