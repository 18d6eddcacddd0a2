/* SPDX-License-Identifier: MIT */
/* test-snapshot.c: snapshot object names, their check against a manifest,
 * and time selectors. */
#include "mb-private.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"

#include "banned.h"

#define ID "0123456789abcdef"

static void names(void)
{
	struct mb_snapshot_info si;
	static const char *const bad[] = {
		"20250101T020000Z--" ID,                 /* no host */
		"20250101T020000Z-ho st-" ID,            /* space */
		"20250101T020000Z-ho\033st-" ID,         /* ESC */
		"20250101T020000Z-h\nst-" ID,            /* newline */
		"20250101T020000Z-h\xc3\xa9-" ID,        /* not ASCII */
		"20250101T020000Z-host-0123456789ABCDEF", /* upper hex */
		"20250101T020000Z-host-0123456789abcde", /* short id */
		"20250230T020000Z-host-" ID,             /* Feb 30 */
		"2025 101T020000Z-host-" ID,             /* loose digits */
		"20250101T020000-host-" ID,              /* no Z */
		"20250101T246000Z-host-" ID,             /* 24:60 */
		"",
	};
	size_t i;

	is_int(mbi_snapshot_name_parse("20250101T020000Z-mbtest-" ID, &si),
	       MB_OK, "a plain name parses");
	is_int(si.time, 1735696800, "its time");
	is_str(si.host, "mbtest", "its host");
	is_str(si.id, ID, "its id");
	is_int(mbi_snapshot_name_parse("20250101T020000Z-mail.ex-am_ple-" ID,
				       &si), MB_OK, "a host with - . _");
	is_str(si.host, "mail.ex-am_ple", "the host keeps its dashes");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(mbi_snapshot_name_parse(bad[i], &si), MB_E_INVAL,
		       "refused: bad name %zu", i);
	ok(!mbi_snapshot_host_valid("all hosts"), "a space in a host");
	ok(mbi_snapshot_host_valid("all"), "'all' is a valid host name");
}

static void verify(struct mb_ctx *ctx)
{
	struct mbi_manifest m;
	const char *name = "20250101T020000Z-mbtest-" ID;

	memset(&m, 0, sizeof(m));
	memcpy(m.id, ID, 17);
	snprintf(m.host, sizeof(m.host), "mbtest");
	m.time = 1735696800;
	is_int(mbi_snapshot_name_verify(ctx, name, &m), MB_OK,
	       "a name equal to its manifest");
	m.time++;
	is_int(mbi_snapshot_name_verify(ctx, name, &m), MB_E_VERIFY,
	       "another time in the manifest");
	ok(strstr(mb_ctx_errmsg(ctx), name) != NULL, "the message names it");
	m.time--;
	snprintf(m.host, sizeof(m.host), "other");
	is_int(mbi_snapshot_name_verify(ctx, name, &m), MB_E_VERIFY,
	       "another host in the manifest");
	snprintf(m.host, sizeof(m.host), "mbtest");
	m.id[15] = '0';
	is_int(mbi_snapshot_name_verify(ctx, name, &m), MB_E_VERIFY,
	       "another id in the manifest");
}

static void selectors(void)
{
	static const struct {
		const char *s;
		int64_t t; /* -1: refused */
	} cases[] = {
		{ "2026-12-01", 1796169599 },           /* end of the day */
		{ "2026-12-01Z", 1796169599 },
		{ "2026-12-01T18:00", 1796148059 },     /* end of the minute */
		{ "2026-12-01T18:00Z", 1796148059 },
		{ "2026-12-01T18:00:00Z", 1796148000 },
		{ "2026-12-01T18:00:00", 1796148000 },
		{ "2024-02-29", 1709251199 },
		{ "2026-02-29", -1 },
		{ "2026-12-01T24:00", -1 },
		{ "2026-12-01 18:00", -1 },
		{ "2026-12", -1 },
		{ "26-12-01", -1 },
		{ "2026-12-01T18", -1 },
		{ "2026-12-01T18:00:00+02:00", -1 },
		{ "2026-12-01T18:00:00ZZ", -1 },
		{ "latest", -1 },
		{ ID, -1 },
		{ "", -1 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = -1;
		int rc = mbi_snapshot_time_spec(cases[i].s, &t);

		if (cases[i].t < 0)
			is_int(rc, MB_E_INVAL, "selector '%s' refused",
			       cases[i].s);
		else
			is_int(rc ? -2 : t, cases[i].t, "selector '%s'",
			       cases[i].s);
	}
}

int main(void)
{
	struct mb_ctx *ctx;

	if (mb_ctx_new(&ctx))
		return 1;
	names();
	verify(ctx);
	selectors();
	ok(mb_ctx_set_snapshot_host(ctx, "all") == MB_OK, "--host all");
	ok(mb_ctx_set_snapshot_host(ctx, "a\tb") == MB_E_INVAL, "--host a\\tb");
	ok(mb_ctx_set_snapshot_host(ctx, NULL) == MB_OK, "back to this host");
	mb_ctx_free(ctx);
	return tap_done();
}
