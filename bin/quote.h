/* SPDX-License-Identifier: MIT */
/* quote.h: names and messages made safe for a terminal. */
#ifndef MB_QUOTE_H
#define MB_QUOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Names come from the backed-up tree, from manifests and from object keys:
 * any byte may be in them. Human output shows them like git with
 * core.quotePath=false: a name is printed as it is unless it holds a
 * control character (below 0x20, 0x7f, or U+0080 to U+009F), a byte that
 * is not part of valid UTF-8, a double quote or a backslash; then it is
 * printed in double quotes with C escapes: \a \b \t \n \v \f \r \" \\ and
 * \ooo (three octal digits, e.g. \033 for ESC) for any other such byte.
 * Valid UTF-8 (non-ASCII names) is shown unchanged.
 */

/* True when quote_name() would change s. */
bool quote_needed(const char *s);
/* Write s to f, quoted when needed. */
void quote_name(FILE *f, const char *s);
/* Write "a/b" to f, quoted as one name when needed. */
void quote_path(FILE *f, const char *a, const char *b);
/*
 * Write s to f with control characters and invalid UTF-8 escaped as
 * above, but without quotes and leaving " and \ alone: for messages, whose
 * names are quoted already ('NAME').
 */
void quote_message(FILE *f, const char *s);
/* quote_message() into a new string; NULL when out of memory. */
char *quote_message_dup(const char *s);
/* quote_name() into a new string; NULL when out of memory. */
char *quote_name_dup(const char *s);

#endif
