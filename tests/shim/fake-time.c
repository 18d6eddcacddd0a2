/* SPDX-License-Identifier: MIT */
/* fake-time.c: an LD_PRELOAD shim for tests: the wall clock of one process
 * (and its children) runs MB_FAKE_TIME_OFFSET seconds ahead (or behind,
 * when negative). Monotonic clocks are left alone, as on a real host whose
 * clock is wrong. */
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

int clock_gettime(clockid_t id, struct timespec *ts);
int gettimeofday(struct timeval *tv, void *tz);
time_t time(time_t *t);

static long offset(void)
{
	const char *s = getenv("MB_FAKE_TIME_OFFSET");

	return s ? strtol(s, NULL, 10) : 0;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	int rc;

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "clock_gettime");
	rc = real(id, ts);
	if (!rc && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += offset();
	return rc;
}

int gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	(void)tz;
	if (clock_gettime(CLOCK_REALTIME, &ts))
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t time(time_t *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
