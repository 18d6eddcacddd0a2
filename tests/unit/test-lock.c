/* SPDX-License-Identifier: MIT */
/* test-lock.c: the lock object parser (issue 13: hostile lock objects). */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int parse(const char *text, struct mbi_lockinfo *li)
{
	return mbi_lock_parse(text, strlen(text), li);
}

int main(void)
{
	struct mbi_lockinfo li;
	char *big;

	is_int(parse("mailbackup-lock 1\nkind exclusive\nhost mx1\npid 42\n"
		     "created 100\nrefreshed 200\n", &li), MB_OK,
	       "a lock as this tool writes it parses");
	ok(li.parsed && li.exclusive && li.pid == 42 && li.created == 100 &&
	   li.refreshed == 200 && !strcmp(li.host, "mx1"), "its fields");
	is_int(parse("mailbackup-lock 1\nkind shared\nhost mx1\npid 0\n"
		     "created 1\nrefreshed 9999999999\nnew-field x\n", &li),
	       MB_OK, "pid 0, a far future and an unknown field parse (judged later)");
	ok(li.pid == 0 && li.refreshed == 9999999999LL && !li.exclusive,
	   "pid 0 and the future time are kept as they are");
	is_int(parse("mailbackup-lock 1\nkind shared\nhost mx1\npid 12", &li),
	       MB_E_VERIFY, "a lock cut short is refused");
	ok(!li.parsed, "and not marked parsed");
	is_int(parse("mailbackup-lock 1\nkind shared\nhost a\033[2Jb\npid 1\n"
		     "created 1\nrefreshed 1\n", &li), MB_E_VERIFY,
	       "a host with control characters is refused");
	is_int(parse("mailbackup-lock 1\nkind shared\nhost a\npid -1\n"
		     "created 1\nrefreshed 1\n", &li), MB_E_VERIFY,
	       "a negative pid is refused");
	is_int(parse("mailbackup-lock 1\nkind shared\nhost a\n"
		     "pid 99999999999999999999\ncreated 1\nrefreshed 1\n", &li),
	       MB_E_VERIFY, "an overflowing pid is refused");
	is_int(parse("mailbackup-lock 1\nkind both\nhost a\npid 1\n"
		     "created 1\nrefreshed 1\n", &li), MB_E_VERIFY,
	       "an unknown kind is refused");
	is_int(parse("mailbackup-lock 1\nkind shared\nhost a\npid 1\n"
		     "created 1\n", &li), MB_E_VERIFY,
	       "a lock without refreshed is refused");
	is_int(parse("", &li), MB_E_VERIFY, "an empty object is refused");
	big = malloc((64 << 10) + 2);
	if (big) {
		memset(big, 'x', (64 << 10) + 1);
		memcpy(big, "mailbackup-lock 1\n", 18);
		big[(64 << 10) + 1] = '\0';
		is_int(parse(big, &li), MB_E_VERIFY,
		       "more than 64 KiB is refused without reading it all");
		free(big);
	}
	return tap_done();
}
