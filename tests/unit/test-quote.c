/* SPDX-License-Identifier: MIT */
/* test-quote.c: the CLI's escaping of names and messages (bin/quote.c). */
#include <stdlib.h>
#include <string.h>

#include "quote.h"
#include "tap.h"

static char *name(const char *s)
{
	static char *last;

	free(last);
	last = quote_name_dup(s);
	return last;
}

static char *msg(const char *s)
{
	static char *last;

	free(last);
	last = quote_message_dup(s);
	return last;
}

static char *path(const char *a, const char *b)
{
	static char *last;
	size_t len = 0;
	FILE *f;

	free(last);
	last = NULL;
	f = open_memstream(&last, &len);
	quote_path(f, a, b);
	fclose(f);
	return last;
}

int main(void)
{
	/* plain names, UTF-8 included, are printed as they are */
	is_str(name("cur/1700000000.M1P2.host:2,S"),
	       "cur/1700000000.M1P2.host:2,S", "plain name unchanged");
	is_str(name("Entw\xc3\xbcrfe/\xe2\x82\xac/\xf0\x9f\x93\xa7"),
	       "Entw\xc3\xbcrfe/\xe2\x82\xac/\xf0\x9f\x93\xa7",
	       "valid UTF-8 unchanged");
	is_str(name(""), "", "empty name");
	ok(!quote_needed("a b'c$d"), "blanks, quotes and $ need nothing");
	/* control characters */
	is_str(name("a\nb"), "\"a\\nb\"", "newline as \\n, quoted");
	is_str(name("\033[2J"), "\"\\033[2J\"", "ESC as \\033");
	is_str(name("\t\r\a\b\v\f"), "\"\\t\\r\\a\\b\\v\\f\"",
	       "C escapes for 7 to 13");
	is_str(name("x\x7fy\x01"), "\"x\\177y\\001\"", "DEL and others octal");
	is_str(name("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"",
	       "a quote or backslash makes the name quoted and is escaped");
	/* bytes that are not valid UTF-8, and C1 controls */
	is_str(name("\xff"), "\"\\377\"", "invalid byte octal");
	is_str(name("\xc2\x9b" "2J"), "\"\\302\\2332J\"",
	       "C1 CSI (U+009B) escaped byte by byte");
	is_str(name("\x9b"), "\"\\233\"", "lone 8-bit CSI escaped");
	is_str(name("\xc3"), "\"\\303\"", "truncated sequence escaped");
	is_str(name("\xc0\xaf"), "\"\\300\\257\"", "overlong escaped");
	is_str(name("\xe0\x80\xaf"), "\"\\340\\200\\257\"",
	       "overlong 3-byte escaped");
	is_str(name("\xed\xa0\x80"), "\"\\355\\240\\200\"",
	       "surrogate escaped");
	is_str(name("\xf4\x90\x80\x80"), "\"\\364\\220\\200\\200\"",
	       "beyond U+10FFFF escaped");
	is_str(name("\xc2\xa0"), "\xc2\xa0", "U+00A0 is printable");
	ok(quote_needed("a\nb") && quote_needed("\\") && !quote_needed("ab"),
	   "quote_needed agrees");
	/* a path is quoted as one name */
	is_str(path("vmail", "a/b\nc"), "\"vmail/a/b\\nc\"",
	       "source/path quoted as one");
	is_str(path("vmail", "a/b"), "vmail/a/b", "plain path unchanged");
	/* messages: names inside are escaped, quotes and backslashes kept */
	is_str(msg("cannot open 'x\033]0;pwned\007y': No such file"),
	       "cannot open 'x\\033]0;pwned\\ay': No such file",
	       "message: control bytes escaped");
	is_str(msg("path 'C:\\dir' has \"quotes\""),
	       "path 'C:\\dir' has \"quotes\"",
	       "message: backslash and quotes unchanged");
	is_str(msg("line1\nline2"), "line1\\nline2",
	       "message: a newline cannot fake a line");
	return tap_done();
}
