/* SPDX-License-Identifier: MIT */
/* fuzz-snapname.c: snapshot object names and time selectors from untrusted
 * bytes (object names come from the storage's listing). */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s)
{
	struct mb_snapshot_info si;
	struct mb_snapshot_info again;
	char t[32];

	if (mbi_snapshot_name_parse(s, &si))
		return;
	/* what readers rely on: a valid host, a hex id, the name as given,
	 * and a canonical time that parses back to the same name */
	if (!mbi_snapshot_host_valid(si.host) || strlen(si.id) != 16 ||
	    strspn(si.id, "0123456789abcdef") != 16 || strcmp(si.name, s))
		abort();
	mbi_time_format(si.time, t, sizeof(t), true);
	if (strncmp(s, t, 16))
		abort();
	if (mbi_snapshot_name_parse(si.name, &again) ||
	    memcmp(&si, &again, sizeof(si)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	int64_t t;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_name(s);
	if (!mbi_snapshot_time_spec(s, &t)) {
		/* a selector covers at most one day after its start */
		char back[32];

		mbi_time_format(t, back, sizeof(back), false);
		if (strncmp(back, s, 10))
			abort();
	}
	free(s);
	return 0;
}
