/* SPDX-License-Identifier: MIT */
/* test-config.c: the INI configuration: syntax, validation, defaults, env. */
#include "mb-private.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

static struct mb_ctx *ctx;

/* Parse text as "t.conf"; returns the status, *cfg on success. */
static int parse(const char *text, struct mbi_config **cfg)
{
	*cfg = NULL;
	return mbi_config_parse(ctx, "t.conf", text, strlen(text), cfg);
}

/* The text must fail with MB_E_CONFIG and a message holding want. */
static void fails(const char *text, const char *want, const char *what)
{
	struct mbi_config *cfg;
	int rc = parse(text, &cfg);

	is_int(rc, MB_E_CONFIG, "%s: refused", what);
	ok(strstr(mb_ctx_errmsg(ctx), want) != NULL,
	   "%s: message names '%s'", what, want);
	if (!strstr(mb_ctx_errmsg(ctx), want))
		printf("#   message: %s\n", mb_ctx_errmsg(ctx));
	if (!rc)
		mbi_config_free(cfg);
}

static const char full[] =
	"# a comment\n"
	"; another comment\n"
	"\n"
	"[repository]\n"
	"url = /var/backups/mailbackup          ; or s3://BUCKET/PREFIX\n"
	"endpoint = https://s3.example.com      # s3 only\n"
	"region = eu-central-1\n"
	"access_key_id = AKIA123\n"
	"url_style = virtual\n"
	"pack_size = 16M\n"
	"part_size = 8 MiB\n"
	"s3_parallel = 8\n"
	"  [ keys ]  \n"
	"gnupg_home = /etc/mb/gnupg\n"
	"recipients = AAAA BBBB, CCCC\n"
	"signing_key = DDDD\n"
	"[source vmail]\n"
	"type = maildir\n"
	"path = /var/vmail///\n"
	"exclude = *.bak \"Junk/*\"\n"
	"one_file_system = yes\n"
	"[source  maildb ]\n"
	"type = mariadb\n"
	"socket = /run/mysqld/mysqld.sock\n"
	"password = \"p;a #s s\"\n"
	"[options]\n"
	"host = mx1.example.com\r\n"
	"zstd_level = 9\n"
	"threads = 2\n"
	"[retention]\n"
	"keep_last = 3\n"
	"keep_daily = 7\n"
	"keep_within = 1y2m3d\n";

static void test_full(void)
{
	struct mbi_config *cfg;
	const struct mbi_source *s;

	unsetenv("MAILBACKUP_S3_SECRET_ACCESS_KEY");
	unsetenv("MAILBACKUP_S3_ACCESS_KEY_ID");
	if (parse(full, &cfg)) {
		ok(0, "the full example parses: %s", mb_ctx_errmsg(ctx));
		return;
	}
	ok(1, "the full example parses");
	is_str(cfg->file, "t.conf", "file name kept");
	is_str(cfg->url, "/var/backups/mailbackup", "inline ';' comment cut");
	is_str(cfg->endpoint, "https://s3.example.com", "inline '#' comment cut");
	is_str(cfg->region, "eu-central-1", "region");
	is_str(cfg->access_key_id, "AKIA123", "access key id");
	ok(cfg->secret_access_key == NULL, "no secret");
	is_str(cfg->url_style, "virtual", "url_style");
	is_int(cfg->pack_size, 16 << 20, "pack_size 16M");
	is_int(cfg->part_size, 8 << 20, "part_size '8 MiB'");
	is_int(cfg->s3_parallel, 8, "s3_parallel");
	is_str(cfg->gnupg_home, "/etc/mb/gnupg", "[ keys ] with blanks");
	is_int(cfg->nrecipients, 3, "three recipients, blank or comma");
	if (cfg->nrecipients == 3) {
		is_str(cfg->recipients[0], "AAAA", "recipient 1");
		is_str(cfg->recipients[2], "CCCC", "recipient 3");
	}
	is_str(cfg->signing_key, "DDDD", "signing key");
	is_int(cfg->ntrusted, 1, "trusted signers default to the signing key");
	if (cfg->ntrusted)
		is_str(cfg->trusted_signers[0], "DDDD", "that key");
	is_str(cfg->host, "mx1.example.com", "host, CR stripped");
	is_int(cfg->zstd_level, 9, "zstd_level");
	is_int(cfg->threads, 2, "threads");
	is_int(cfg->nsources, 2, "two sources");
	s = &cfg->sources[0];
	is_str(s->name, "vmail", "source name");
	is_str(s->type, "maildir", "source type");
	is_str(s->path, "/var/vmail", "trailing slashes are trimmed");
	ok(s->one_file_system, "one_file_system");
	is_int(s->nexclude, 2, "two exclude patterns");
	if (s->nexclude == 2)
		is_str(s->exclude[1], "\"Junk/*\"",
		       "exclude is split on blanks, quotes kept");
	ok(s->sec && !strcmp(s->sec->name, "vmail"), "the section is linked");
	s = &cfg->sources[1];
	is_str(s->name, "maildb", "[source  maildb ] name trimmed");
	ok(s->path == NULL, "a mariadb source needs no path");
	is_str(mbi_section_get(s->sec, "password"), "p;a #s s",
	       "quotes keep ';' and '#'");
	is_str(mbi_section_get(s->sec, "socket"), "/run/mysqld/mysqld.sock",
	       "other keys kept in the section");
	ok(mbi_section_get(s->sec, "user") == NULL, "a missing key is NULL");
	is_int(cfg->retention.keep_last, 3, "keep_last");
	is_int(cfg->retention.keep_daily, 7, "keep_daily");
	is_int(cfg->retention.keep_weekly, 0, "keep_weekly unset");
	is_int(cfg->retention.keep_within,
	       365 * 86400 + 2 * 30 * 86400 + 3 * 86400, "keep_within 1y2m3d");
	mbi_config_free(cfg);
}

static void test_defaults(void)
{
	struct mbi_config *cfg;

	if (parse("[repository]\nurl = /r\n", &cfg)) {
		ok(0, "a minimal file parses: %s", mb_ctx_errmsg(ctx));
		return;
	}
	ok(1, "a minimal file parses");
	is_str(cfg->region, "us-east-1", "default region");
	is_str(cfg->url_style, "path", "default url_style");
	is_str(cfg->gnupg_home, "/etc/mailbackup/gnupg", "default gnupg_home");
	is_int(cfg->pack_size, 32 << 20, "default pack_size 32M");
	is_int(cfg->part_size, 16 << 20, "default part_size 16M");
	is_int(cfg->s3_parallel, 4, "default s3_parallel");
	is_int(cfg->zstd_level, 2, "default zstd_level");
	is_int(cfg->threads, 0, "default threads");
	is_int(cfg->nrecipients, 0, "no recipients");
	ok(cfg->recipients && !cfg->recipients[0], "an empty vector");
	is_int(cfg->ntrusted, 0, "no trusted signers");
	ok(cfg->signing_key == NULL, "no signing key");
	ok(cfg->cache_dir == NULL, "no cache_dir");
	ok(cfg->host && *cfg->host, "host defaults to the hostname");
	is_int(cfg->nsources, 0, "no sources");
	mbi_config_free(cfg);

	if (!parse("[repository]\nurl = /r\n[keys]\nsigning_key = A\n"
		   "trusted_signers = B,C\n", &cfg)) {
		is_int(cfg->ntrusted, 2, "trusted_signers overrides the default");
		mbi_config_free(cfg);
	} else {
		ok(0, "trusted_signers parses: %s", mb_ctx_errmsg(ctx));
	}
	fails("[repository]\nurl = /r\n[keys]\n[repository]\nurl = /s\n",
	      "t.conf:4: section [repository] appears twice (first at line 1)",
	      "a repeated section");
	if (!parse("[repository]\nurl = /a\nurl = /b\n", &cfg)) {
		is_str(cfg->url, "/b", "a repeated key: the last one wins");
		mbi_config_free(cfg);
	} else {
		ok(0, "a repeated key parses");
	}
	is_int(parse("", &cfg), MB_E_CONFIG, "an empty file is refused");
	ok(strstr(mb_ctx_errmsg(ctx), "no repository: set [repository] url") !=
	   NULL, "with a hint to set the url");
}

static void test_errors(void)
{
	fails("[repository]\nurl = /r\nurll = /x\n", "t.conf:3: unknown key 'urll' in [repository]",
	      "unknown key");
	fails("[repository]\nurl = /r\n\n[repo]\n", "t.conf:4: unknown section 'repo'",
	      "unknown section");
	fails("[repository]\nurl = /r\n[source a]\ntype = files\npath = /a\n"
	      "[source a]\ntype = files\npath = /b\n",
	      "t.conf:6: source 'a' is defined twice", "duplicate source");
	fails("[source]\n", "t.conf:1: section 'source' needs a name",
	      "[source] without a name");
	fails("[repository x]\n", "t.conf:1: section 'repository' takes no name",
	      "[repository x]");
	fails("[repository\n", "t.conf:1: bad section header", "unclosed [");
	fails("[repository] x\n", "t.conf:1: bad section header",
	      "text after ]");
	fails("url = /r\n", "t.conf:1: key outside a section", "key first");
	fails("[repository]\nurl /r\n", "t.conf:2: expected KEY = VALUE",
	      "no '='");
	fails("[repository]\nurl = \"/r\n", "t.conf:2: unterminated quote",
	      "unterminated quote");
	fails("[repository]\nurl = /r\n[options]\nzstd_level = 20\n",
	      "t.conf:4: 'zstd_level' must be a whole number from 1 to 19",
	      "zstd_level out of range");
	fails("[repository]\nurl = /r\n[options]\nthreads = 2x\n",
	      "t.conf:4: 'threads'", "threads not a number");
	fails("[repository]\nurl = /r\n[options]\nthreads =\n",
	      "t.conf:4: 'threads'", "threads empty");
	fails("[repository]\nurl = /r\npack_size = 1K\n",
	      "pack_size must be a size from 64K to 4G", "pack_size too small");
	fails("[repository]\nurl = /r\npack_size = 16Q\n",
	      "pack_size must be a size", "pack_size with a bad unit");
	fails("[repository]\nurl = /r\npart_size = 6G\n",
	      "part_size must be a size from 5M to 5G", "part_size too large");
	fails("[repository]\nurl = /r\nurl_style = dns\n",
	      "url_style must be 'path' or 'virtual'", "url_style");
	fails("[repository]\nurl = /r\n[options]\nhost = a b\n",
	      "host 'a b' must be", "host with a blank");
	fails("[repository]\nurl = /r\n[source a/b]\ntype = files\npath = /x\n",
	      "t.conf:3: source name 'a/b' must be", "source name with '/'");
	fails("[repository]\nurl = /r\n[source .x]\ntype = files\npath = /x\n",
	      "source name '.x' must be", "source name with a leading dot");
	fails("[repository]\nurl = /r\n[source a]\npath = /x\n",
	      "t.conf:3: [source a] has no 'type'", "source without type");
	fails("[repository]\nurl = /r\n[source a]\npath = /x\ntype = mbox\n",
	      "t.conf:5: [source a] unknown type 'mbox'", "unknown source type");
	fails("[repository]\nurl = /r\n[source a]\ntype = maildir\npath = vmail\n",
	      "t.conf:3: [source a] needs an absolute 'path'",
	      "relative maildir path");
	fails("[repository]\nurl = /r\n[source a]\ntype = files\n",
	      "[source a] needs an absolute 'path'", "files without path");
	fails("[repository]\nurl = /r\n[source a]\ntype = files\npath = /a\n"
	      "frobnicate = 1\n", "t.conf:6: unknown key 'frobnicate' in [source]",
	      "unknown source key");
	fails("[repository]\nurl = /r\n[retention]\nkeep_within = 3 days\n",
	      "t.conf:4: 'keep_within' must be a duration", "bad keep_within");
	fails("[repository]\nurl = /r\n[retention]\nkeep_last = -1\n",
	      "t.conf:4: 'keep_last'", "negative keep_last");
	fails("[repository]\n = /r\n", "t.conf:2: unknown key ''", "empty key");

	{
		static const char nul[] = "[repository]\nurl = /r\0x\n";
		struct mbi_config *cfg = NULL;

		is_int(mbi_config_parse(ctx, "t.conf", nul, sizeof(nul) - 1,
					&cfg), MB_E_CONFIG, "a NUL byte is refused");
		ok(strstr(mb_ctx_errmsg(ctx), "NUL") != NULL,
		   "and the message says so");
		ok(cfg == NULL, "out untouched on failure");
	}
}

static void test_comments(void)
{
	struct mbi_config *cfg;

	if (parse("[repository]\nurl = /a;b#c ; comment # more\n"
		  "[source s]\ntype = files\npath = /p\t# tab comment\n"
		  "exclude = \"x ; y\" \n", &cfg)) {
		ok(0, "comments parse: %s", mb_ctx_errmsg(ctx));
		return;
	}
	is_str(cfg->url, "/a;b#c", "';' and '#' inside a word are kept");
	is_str(cfg->sources[0].path, "/p", "a comment after a tab");
	is_str(mbi_section_get(cfg->sources[0].sec, "exclude"), "x ; y",
	       "a quoted value keeps its blanks and ';'");
	mbi_config_free(cfg);

	if (parse("[repository]\nurl = \"\"\n", &cfg) == MB_E_CONFIG)
		ok(1, "an empty quoted url is no url");
	else {
		ok(0, "an empty quoted url is no url");
		mbi_config_free(cfg);
	}

	/*
	 * Regression (was a bug): an inline comment after an empty value is taken as
	 * the value. The value is trimmed before the comment is looked for,
	 * so the blank that makes "; x" a comment is gone:
	 *   endpoint =      ; s3 only
	 * sets endpoint to "; s3 only".
	 */
	if (!parse("[repository]\nurl = /r\nendpoint =      ; s3 only\n",
		   &cfg)) {
		ok(cfg->endpoint == NULL,
		   "BUG: a comment after an empty value is no value");
		if (cfg->endpoint)
			printf("#   endpoint = '%s'\n", cfg->endpoint);
		mbi_config_free(cfg);
	} else {
		ok(0, "an empty value with a comment parses");
	}
	tap_todo = NULL;

	/*
	 * Regression (was a bug): after a quoted value, the closing quote is the last
	 * '"' of the line, so a comment that holds a quote becomes part of
	 * the value, and text after the closing quote is dropped silently.
	 */
	if (!parse("[repository]\nurl = /r\n[source db]\ntype = mariadb\n"
		   "password = \"s3cret\"  ; the \"db\" password\n", &cfg)) {
		is_str(mbi_section_get(cfg->sources[0].sec, "password"),
		       "s3cret", "BUG: a quoted value followed by a comment with quotes");
		mbi_config_free(cfg);
	} else {
		ok(0, "a quoted value with a comment parses");
	}

	/*
	 * BUG (reported, minor): an inline comment is allowed after a value
	 * but not after a section header: "[source vmail]   ; mailboxes" is
	 * "bad section header".
	 */
	if (!parse("[repository]   ; where\nurl = /r\n", &cfg)) {
		ok(1, "BUG: an inline comment after [repository]");
		mbi_config_free(cfg);
	} else {
		ok(0, "BUG: an inline comment after [repository]");
	}
	tap_todo = NULL;
}

static void test_sizes(void)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} t[] = {
		{ "0", MB_OK, 0 },
		{ "1", MB_OK, 1 },
		{ "64K", MB_OK, 64 << 10 },
		{ "64k", MB_OK, 64 << 10 },
		{ "16M", MB_OK, 16 << 20 },
		{ "16 M", MB_OK, 16 << 20 },
		{ "16MB", MB_OK, 16 << 20 },
		{ "16MiB", MB_OK, 16 << 20 },
		{ "16mib", MB_OK, 16 << 20 },
		{ "4G", MB_OK, 4ULL << 30 },
		{ "2T", MB_OK, 2ULL << 40 },
		{ "16777215T", MB_OK, 16777215ULL << 40 },
		{ "16777216T", MB_E_INVAL, 0 },  /* 2^64 */
		{ "18446744073709551615", MB_OK, UINT64_MAX },
		{ "18446744073709551616", MB_E_INVAL, 0 },
		{ "", MB_E_INVAL, 0 },
		{ "M", MB_E_INVAL, 0 },
		{ "-1", MB_E_INVAL, 0 },
		{ " 1", MB_E_INVAL, 0 },
		{ "1.5G", MB_E_INVAL, 0 },
		{ "16X", MB_E_INVAL, 0 },
		{ "16MM", MB_E_INVAL, 0 },
		{ "16Mx", MB_E_INVAL, 0 },
		{ "16 MiB x", MB_E_INVAL, 0 },
	};
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(t); i++) {
		uint64_t v = 12345;
		int rc = mbi_parse_size(t[i].s, &v);

		is_int(rc, t[i].rc, "size '%s' -> %s", t[i].s,
		       t[i].rc ? "refused" : "ok");
		if (!t[i].rc)
			ok(v == t[i].v, "size '%s' = %llu", t[i].s,
			   (unsigned long long)t[i].v);
		else
			is_int(v, 12345, "size '%s': out untouched", t[i].s);
	}
}

static void test_durations(void)
{
	static const struct {
		const char *s;
		int rc;
		int64_t v;
	} t[] = {
		{ "3600", MB_OK, 3600 },
		{ "0", MB_OK, 0 },
		{ "30s", MB_OK, 30 },
		{ "30min", MB_OK, 1800 },
		{ "12h", MB_OK, 12 * 3600 },
		{ "90d", MB_OK, 90 * 86400 },
		{ "2w", MB_OK, 14 * 86400 },
		{ "6m", MB_OK, 6 * 30 * 86400 },
		{ "1y", MB_OK, 365 * 86400 },
		{ "1y6m", MB_OK, 365 * 86400 + 180 * 86400 },
		{ "1d12h", MB_OK, 86400 + 12 * 3600 },
		{ "1000000000s", MB_OK, 1000000000 },
		{ "1000000001s", MB_E_INVAL, 0 },
		{ "", MB_E_INVAL, 0 },
		{ "d", MB_E_INVAL, 0 },
		{ "-1d", MB_E_INVAL, 0 },
		{ "1x", MB_E_INVAL, 0 },
		{ "1 d", MB_E_INVAL, 0 },
		{ "1d ", MB_E_INVAL, 0 },
		{ "1mi", MB_E_INVAL, 0 },
		{ "1dd", MB_E_INVAL, 0 },
	};
	struct mbi_buf big = { 0 };
	int64_t v = 0;
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(t); i++) {
		int rc;

		v = 12345;
		rc = mbi_parse_duration(t[i].s, &v);
		is_int(rc, t[i].rc, "duration '%s' -> %s", t[i].s,
		       t[i].rc ? "refused" : "ok");
		if (!t[i].rc)
			is_int(v, t[i].v, "duration '%s' value", t[i].s);
	}

	/*
	 * Regression (was a bug): each part is capped at 10^9 units, but their sum is
	 * not checked: 293 x "1000000000y" overflows int64_t (undefined
	 * behaviour; UBSan: signed integer overflow in mbi_parse_duration),
	 * and the wrapped value is accepted. keep_within reaches it.
	 */
	for (i = 0; i < 300; i++)
		mbi_buf_addstr(&big, "1000000000y");
	ok(mbi_parse_duration(big.data, &v) == MB_E_INVAL,
	   "BUG: a duration past int64_t is refused");
	tap_todo = NULL;
	mbi_buf_release(&big);
}

static void test_env(void)
{
	struct mbi_config *cfg;
	static const char text[] =
		"[repository]\nurl = s3://b/p\nsecret_access_key = fromfile\n"
		"access_key_id = idfile\n";

	setenv("MAILBACKUP_S3_SECRET_ACCESS_KEY", "fromenv", 1);
	setenv("MAILBACKUP_S3_ACCESS_KEY_ID", "idenv", 1);
	if (!parse(text, &cfg)) {
		is_str(cfg->secret_access_key, "fromenv",
		       "MAILBACKUP_S3_SECRET_ACCESS_KEY overrides the file");
		is_str(cfg->access_key_id, "idenv",
		       "MAILBACKUP_S3_ACCESS_KEY_ID overrides the file");
		mbi_config_free(cfg);
	} else {
		ok(0, "env config parses");
	}
	if (!parse("[repository]\nurl = s3://b/p\n", &cfg)) {
		is_str(cfg->secret_access_key, "fromenv",
		       "the env gives a secret the file lacks");
		mbi_config_free(cfg);
	} else {
		ok(0, "env config parses");
	}
	setenv("MAILBACKUP_S3_SECRET_ACCESS_KEY", "", 1);
	if (!parse(text, &cfg)) {
		is_str(cfg->secret_access_key, "fromfile",
		       "an empty variable does not count");
		mbi_config_free(cfg);
	} else {
		ok(0, "env config parses");
	}
	unsetenv("MAILBACKUP_S3_SECRET_ACCESS_KEY");
	unsetenv("MAILBACKUP_S3_ACCESS_KEY_ID");
	if (!parse(text, &cfg)) {
		is_str(cfg->secret_access_key, "fromfile",
		       "without the variable the file counts");
		mbi_config_free(cfg);
	} else {
		ok(0, "env config parses");
	}
}

static void test_ctx_load(void)
{
	const char *text = "[repository]\nurl = /one\n";

	is_int(mb_ctx_load_config_buf(ctx, "mem", text, strlen(text)), MB_OK,
	       "mb_ctx_load_config_buf");
	ok(ctx->cfg && !strcmp(ctx->cfg->url, "/one"), "the config is in ctx");
	is_int(mb_ctx_load_config_buf(ctx, "mem", "[x]\n", 4), MB_E_CONFIG,
	       "a bad config is refused");
	ok(ctx->cfg && !strcmp(ctx->cfg->url, "/one"),
	   "and the old one stays");
	is_int(mb_ctx_load_config(ctx, "/nonexistent/mb.conf"), MB_E_CONFIG,
	       "a missing file is a config error");
	ok(strstr(mb_ctx_errmsg(ctx), "'/nonexistent/mb.conf' not found") != NULL,
	   "naming the file");
}

int main(void)
{
	if (mb_ctx_new(&ctx))
		return 1;
	test_full();
	test_defaults();
	test_errors();
	test_comments();
	test_sizes();
	test_durations();
	test_env();
	test_ctx_load();
	mb_ctx_free(ctx);
	return tap_done();
}
