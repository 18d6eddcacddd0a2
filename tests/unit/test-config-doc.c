/* SPDX-License-Identifier: MIT */
/* test-config-doc.c: docs/configuration.md documents exactly the keys of
 * the configuration schema (config.c), section by section: a key added to
 * one and not the other fails here, naming it. Also: the schema's typed
 * keys get their defaults, and a bad value is named with file and line. */
#include "mb-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define MAX_DOC_KEYS 512

struct doc_key {
	char section[32], key[64];
	int line;
	bool seen; /* found in the schema */
};

static struct doc_key doc[MAX_DOC_KEYS];
static size_t ndoc;

/* "## `[source NAME]`..." -> "source"; NULL for another heading. */
static const char *heading_section(const char *line, char *buf, size_t n)
{
	const char *p = strstr(line, "`[");
	size_t len;

	if (strncmp(line, "## ", 3) || !p)
		return NULL;
	p += 2;
	len = strcspn(p, " ]");
	if (len >= n)
		return NULL;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return buf;
}

/* The `names` of a table row's first cell: "| `a`, `b` | ..." (a row
 * whose cell starts otherwise, such as "(`VARIABLE`)", names no key). */
static void row_keys(const char *section, const char *line, int lineno)
{
	const char *p = line + 1, *end = strchr(p, '|');

	if (strncmp(line, "| `", 3))
		return;
	while (end && (p = strchr(p, '`')) && p < end) {
		const char *q = strchr(p + 1, '`');
		size_t len = q ? (size_t)(q - p - 1) : 0;

		if (!q || !len || len >= sizeof(doc[0].key) ||
		    ndoc == MAX_DOC_KEYS)
			return;
		snprintf(doc[ndoc].section, sizeof(doc[ndoc].section), "%s",
			 section);
		memcpy(doc[ndoc].key, p + 1, len);
		doc[ndoc].key[len] = '\0';
		doc[ndoc].line = lineno;
		ndoc++;
		p = q + 1;
	}
}

/* The keys of the tables whose header is "| key |", by the section of
 * the heading above them. */
static int read_doc(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[8192], sec[32] = "";
	bool in_keys = false;
	int lineno = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (heading_section(line, sec, sizeof(sec)) ||
		    !strncmp(line, "## ", 2))
			in_keys = false;
		if (!strncmp(line, "| key |", 7)) {
			in_keys = true;
			continue;
		}
		if (line[0] != '|') {
			in_keys = false;
			continue;
		}
		if (in_keys && *sec && strncmp(line, "|---", 4))
			row_keys(sec, line, lineno);
	}
	fclose(f);
	return 0;
}

/* Mark every row that documents [section] key; false when none does. */
static bool doc_mark(const char *section, const char *key)
{
	bool found = false;
	size_t i;

	for (i = 0; i < ndoc; i++)
		if (!strcmp(doc[i].section, section) &&
		    !strcmp(doc[i].key, key))
			found = doc[i].seen = true;
	return found;
}

/* Parse text as t.conf: its error message, or "" when it loads. */
static const char *parse_msg(struct mb_ctx *ctx, const char *text,
			     struct mbi_config **cfg)
{
	*cfg = NULL;
	if (mbi_config_parse(ctx, "t.conf", text, strlen(text), cfg))
		return mb_ctx_errmsg(ctx);
	return "";
}

static void test_typed(void)
{
	struct mb_ctx *ctx;
	struct mbi_config *cfg;

	if (mb_ctx_new(&ctx)) {
		ok(0, "mb_ctx_new");
		return;
	}
	is_str(parse_msg(ctx, "[repository]\nurl = /r\n", &cfg), "",
	       "a minimal file loads");
	if (cfg) {
		is_str(cfg->region, "us-east-1", "default region");
		is_str(cfg->url_style, "path", "default url_style");
		is_str(cfg->gnupg_home, "/etc/mailbackup/gnupg",
		       "default gnupg_home");
		ok(cfg->lock_timeout == 1800, "default lock_timeout 30min");
		ok(cfg->pack_size == 32ULL << 20, "default pack_size 32M");
		ok(cfg->s3_parallel == 4 && cfg->zstd_level == 2 &&
		   cfg->threads == 0 && cfg->object_lock_days == 0,
		   "default numbers");
		ok(cfg->endpoint == NULL && cfg->signing_key == NULL,
		   "no default: NULL");
		mbi_config_free(cfg);
	}
	is_str(parse_msg(ctx, "[repository]\nurl = /r\npack_size = 1K\n",
			 &cfg),
	       "t.conf:3: pack_size must be a size from 64K to 4G",
	       "a size out of range: file, line and range");
	is_str(parse_msg(ctx, "[repository]\nurl = /r\n\nurl_style = dns\n",
			 &cfg),
	       "t.conf:4: url_style must be 'path' or 'virtual'",
	       "a bad choice: file, line and the choices");
	is_str(parse_msg(ctx, "[repository]\nurl = /r\n[options]\n"
			 "lock_timeout = 1s\n", &cfg),
	       "t.conf:4: 'lock_timeout' must be a duration of 2s or more, like 30min",
	       "a duration too short: file, line, minimum and an example");
	is_str(parse_msg(ctx, "[repository]\nurl = /r\n[retention]\n"
			 "keep_daily = 7\nkeep_within = 2w\n", &cfg), "",
	       "retention loads");
	if (cfg) {
		ok(cfg->retention.keep_daily == 7 &&
		   cfg->retention.keep_within == 14 * 86400 &&
		   cfg->retention.keep_last == 0,
		   "retention through the schema");
		mbi_config_free(cfg);
	}
	is_str(parse_msg(ctx, "[repository]\nurl = /r\n[retention]\n"
			 "keep_within = soon\n", &cfg),
	       "t.conf:4: 'keep_within' must be a duration like 30d, 12h or 1y6m",
	       "a bad duration without a minimum");
	is_str(parse_msg(ctx, "[repository]\nurl = /r\n[options]\n"
			 "pack_size = 16M\n", &cfg),
	       "t.conf:4: unknown key 'pack_size' in [options]",
	       "a key of another section is unknown here");
	mb_ctx_free(ctx);
}

int main(void)
{
	const char *srcdir = getenv("MB_TEST_SRCDIR");
	const struct mbi_config_key *schema;
	size_t n, i, missing = 0, extra = 0;
	char path[4096];

	snprintf(path, sizeof(path), "%s/../../docs/configuration.md",
		 srcdir ? srcdir : "tests/unit");
	schema = mbi_config_schema(&n);
	ok(n > 50, "the schema has %zu keys", n);
	if (read_doc(path)) {
		ok(0, "cannot read '%s'", path);
		return tap_done();
	}
	ok(ndoc > 50, "docs/configuration.md documents %zu keys", ndoc);
	for (i = 0; i < n; i++) {
		if (doc_mark(schema[i].section, schema[i].key))
			continue;
		missing++;
		printf("# [%s] %s is in the schema (config.c) but not in a "
		       "'| key |' table of docs/configuration.md\n",
		       schema[i].section, schema[i].key);
	}
	ok(!missing, "every key of the schema is documented");
	for (i = 0; i < ndoc; i++) {
		if (doc[i].seen)
			continue;
		extra++;
		printf("# docs/configuration.md:%d documents [%s] %s, which "
		       "the schema (config.c) does not have\n",
		       doc[i].line, doc[i].section, doc[i].key);
	}
	ok(!extra, "every documented key is in the schema");
	test_typed();
	return tap_done();
}
