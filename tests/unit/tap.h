/* SPDX-License-Identifier: MIT */
/* tap.h: a tiny TAP producer for the unit tests. */
#ifndef MB_TAP_H
#define MB_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;
/* While set (to a reason), checks are known failures: TAP "# TODO", not
 * counted as failed; one that passes shows as an unexpected pass, so the
 * mark is dropped once the bug is fixed. */
static const char *tap_todo;

#define ok(cond, ...)                                                   \
	do {                                                            \
		int ok_c_ = !!(cond);                                   \
		printf("%s %d - ", ok_c_ ? "ok" : "not ok", ++tap_n);   \
		printf(__VA_ARGS__);                                    \
		if (tap_todo)                                           \
			printf(" # TODO %s", tap_todo);                 \
		printf("\n");                                           \
		if (!ok_c_) {                                           \
			if (!tap_todo)                                  \
				tap_failed++;                           \
			printf("#   failed at %s:%d: %s\n", __FILE__,   \
			       __LINE__, #cond);                        \
		}                                                       \
	} while (0)

#define is_int(a, b, ...)                                               \
	do {                                                            \
		long long is_a_ = (long long)(a), is_b_ = (long long)(b); \
		ok(is_a_ == is_b_, __VA_ARGS__);                        \
		if (is_a_ != is_b_)                                     \
			printf("#   got %lld, expected %lld\n", is_a_, is_b_); \
	} while (0)

#define is_str(a, b, ...)                                               \
	do {                                                            \
		const char *is_a_ = (a), *is_b_ = (b);                  \
		int is_eq_ = is_a_ && is_b_ && !strcmp(is_a_, is_b_);   \
		ok(is_eq_, __VA_ARGS__);                                \
		if (!is_eq_)                                            \
			printf("#   got '%s', expected '%s'\n",         \
			       is_a_ ? is_a_ : "(null)",                \
			       is_b_ ? is_b_ : "(null)");               \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
