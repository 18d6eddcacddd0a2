/* SPDX-License-Identifier: MIT */
/* config.c: the INI configuration file: parsing, validation and defaults. */
#include "mb-private.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "banned.h"

#define F(field) offsetof(struct mbi_config, field)
#define RAW(sec, key) { sec, key, MBI_KEY_RAW, 0, 0, 0, NULL, NULL, NULL }
#define STR(sec, key, field, def, env) \
	{ sec, key, MBI_KEY_STRING, 0, 0, F(field), def, env, NULL }
#define NUM(sec, key, type, min, max, field, def) \
	{ sec, key, type, min, max, F(field), def, NULL, NULL }

/*
 * The configuration schema: every key of every section (a typo is an error,
 * not a silent default), its type, range, default and the field of struct
 * mbi_config it fills. MBI_KEY_RAW keys are read by their module
 * (mbi_section_get) and checked there. docs/configuration.md documents
 * exactly these keys (tests/unit/test-config-doc.c).
 */
static const struct mbi_config_key schema[] = {
	STR("repository", "url", url, NULL, NULL),
	STR("repository", "endpoint", endpoint, NULL, NULL),
	STR("repository", "region", region, "us-east-1", NULL),
	STR("repository", "access_key_id", access_key_id, NULL,
	    "MAILBACKUP_S3_ACCESS_KEY_ID"),
	STR("repository", "secret_access_key", secret_access_key, NULL,
	    "MAILBACKUP_S3_SECRET_ACCESS_KEY"),
	{ "repository", "url_style", MBI_KEY_ENUM, 0, 0, F(url_style), "path",
	  NULL, "path|virtual" },
	STR("repository", "ca_file", ca_file, NULL, NULL),
	STR("repository", "storage_class", storage_class, NULL, NULL),
	NUM("repository", "part_size", MBI_KEY_SIZE, 5LL << 20, 5LL << 30,
	    part_size, "16M"),
	NUM("repository", "s3_parallel", MBI_KEY_INT, 1, 64, s3_parallel,
	    "4"),
	NUM("repository", "object_lock_days", MBI_KEY_INT, 0, 36500,
	    object_lock_days, "0"),
	NUM("repository", "pack_size", MBI_KEY_SIZE, 64LL << 10, 4LL << 30,
	    pack_size, "32M"),
	/* read by the S3 backend (store/s3*.c) */
	RAW("repository", "s3_timeout"),
	RAW("repository", "s3_retries"),
	RAW("repository", "object_lock_mode"),
	RAW("repository", "upload_limit"),
	RAW("repository", "download_limit"),

	STR("keys", "gnupg_home", gnupg_home, "/etc/mailbackup/gnupg", NULL),
	RAW("keys", "recipients"),
	STR("keys", "signing_key", signing_key, NULL, NULL),
	RAW("keys", "trusted_signers"),

	STR("options", "cache_dir", cache_dir, NULL, NULL),
	STR("options", "host", host, NULL, NULL),
	NUM("options", "zstd_level", MBI_KEY_INT, 1, 19, zstd_level, "2"),
	NUM("options", "threads", MBI_KEY_INT, 0, 256, threads, "0"),
	RAW("options", "metrics_file"),
	RAW("options", "log"),
	/* 30min: a bare "m" is a month */
	{ "options", "lock_timeout", MBI_KEY_DURATION, 2, 0, F(lock_timeout),
	  "30min", NULL, "30min" },
	RAW("options", "scratch_dir"),
	RAW("options", "scratch_db"),
	/* another host's forget looks like a deletion here */
	{ "options", "vanished_snapshots", MBI_KEY_ENUM, 0, 0,
	  F(vanished_snapshots), "error", NULL, "error|warning" },
	/* 0: none (tests, a full repository) */
	{ "options", "prune_grace", MBI_KEY_DURATION, 0, 0, F(prune_grace),
	  "1d", NULL, "1d (0: none)" },
	RAW("options", "doveadm"),

	NUM("retention", "keep_last", MBI_KEY_INT, 0, 1000000,
	    retention.keep_last, "0"),
	NUM("retention", "keep_hourly", MBI_KEY_INT, 0, 1000000,
	    retention.keep_hourly, "0"),
	NUM("retention", "keep_daily", MBI_KEY_INT, 0, 1000000,
	    retention.keep_daily, "0"),
	NUM("retention", "keep_weekly", MBI_KEY_INT, 0, 1000000,
	    retention.keep_weekly, "0"),
	NUM("retention", "keep_monthly", MBI_KEY_INT, 0, 1000000,
	    retention.keep_monthly, "0"),
	NUM("retention", "keep_yearly", MBI_KEY_INT, 0, 1000000,
	    retention.keep_yearly, "0"),
	/* unset: 0 */
	{ "retention", "keep_within", MBI_KEY_DURATION, 0, 0,
	  F(retention.keep_within), NULL, NULL, "30d, 12h or 1y6m" },

	RAW("hooks", "pre_backup"),
	RAW("hooks", "post_backup"),
	RAW("hooks", "on_failure"),
	RAW("hooks", "hook_timeout"),

	/* every kind of source */
	RAW("source", "type"),
	RAW("source", "path"),
	RAW("source", "exclude"),
	RAW("source", "one_file_system"),
	/* mariadb */
	RAW("source", "host"),
	RAW("source", "port"),
	RAW("source", "socket"),
	RAW("source", "user"),
	RAW("source", "password"),
	RAW("source", "password_file"),
	RAW("source", "databases"),
	RAW("source", "exclude_tables"),
	RAW("source", "tls"),
	RAW("source", "tls_ca"),
	RAW("source", "tls_cert"),
	RAW("source", "tls_key"),
	RAW("source", "lock_nontransactional"),
	RAW("source", "max_statement"),
	/* command */
	RAW("source", "command"),
	RAW("source", "filename"),
	/* presets and their sources ("user" and "socket" above override
	 * what preset:mailcow reads from mailcow.conf) */
	RAW("source", "mailcow_dir"),
	RAW("source", "volumes_dir"),
	RAW("source", "data_dir"),
	RAW("source", "include_index"),
	RAW("source", "require"),
	RAW("source", "only"),
};

#undef F
#undef RAW
#undef STR
#undef NUM

const struct mbi_config_key *mbi_config_schema(size_t *n)
{
	*n = MBI_ARRAY_SIZE(schema);
	return schema;
}

/* The schema's row of [kind] key, or NULL. */
static const struct mbi_config_key *schema_key(const char *kind,
					       const char *key)
{
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(schema); i++)
		if (!strcmp(schema[i].section, kind) &&
		    !strcmp(schema[i].key, key))
			return &schema[i];
	return NULL;
}

static const struct {
	const char *kind;
	bool named;
} section_kinds[] = {
	{ "repository", false },
	{ "keys", false },
	{ "options", false },
	{ "retention", false },
	{ "hooks", false },
	{ "source", true },
};

bool mbi_section_bool(const struct mbi_section *sec, const char *key)
{
	const char *v = mbi_section_get(sec, key);

	return v && (!strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
		     !strcmp(v, "1") || !strcasecmp(v, "on"));
}

static int section_line(const struct mbi_section *sec, const char *key)
{
	size_t i;

	for (i = sec->nkv; i > 0; i--)
		if (!strcmp(sec->kv[i - 1].key, key))
			return sec->kv[i - 1].line;
	return sec->line;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	*e = '\0';
	return s;
}

static void free_sections(struct mbi_section *secs, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < secs[i].nkv; j++) {
			free(secs[i].kv[j].key);
			if (secs[i].kv[j].value) {
				explicit_bzero(secs[i].kv[j].value,
					       strlen(secs[i].kv[j].value));
				free(secs[i].kv[j].value);
			}
		}
		free(secs[i].kv);
		free(secs[i].kind);
		free(secs[i].name);
	}
	free(secs);
}

void mbi_config_free(struct mbi_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	free_sections(cfg->secs, cfg->nsecs);
	free(cfg->file);
	free(cfg->url);
	free(cfg->endpoint);
	free(cfg->region);
	free(cfg->access_key_id);
	if (cfg->secret_access_key) {
		explicit_bzero(cfg->secret_access_key,
			       strlen(cfg->secret_access_key));
		free(cfg->secret_access_key);
	}
	free(cfg->url_style);
	free(cfg->vanished_snapshots);
	free(cfg->ca_file);
	free(cfg->storage_class);
	free(cfg->gnupg_home);
	mbi_strv_free(cfg->recipients, cfg->nrecipients);
	free(cfg->signing_key);
	mbi_strv_free(cfg->trusted_signers, cfg->ntrusted);
	free(cfg->cache_dir);
	free(cfg->host);
	for (i = 0; i < cfg->nsources; i++) {
		free(cfg->sources[i].name);
		free(cfg->sources[i].type);
		free(cfg->sources[i].path);
		mbi_strv_free(cfg->sources[i].exclude,
			      cfg->sources[i].nexclude);
	}
	free(cfg->sources);
	free(cfg);
}

/* The index of a section kind in the table, or the table's size. */
static size_t find_kind(const char *kind)
{
	size_t k;

	for (k = 0; k < MBI_ARRAY_SIZE(section_kinds); k++)
		if (!strcmp(section_kinds[k].kind, kind))
			break;
	return k;
}

/* A "[kind]" or "[kind name]" line: check it and append the section. */
static int parse_section(struct mb_ctx *ctx, const char *name, int lineno,
			 char *s, struct mbi_config *cfg,
			 struct mbi_section **cur)
{
	char *end = strchr(s, ']'), *kind, *sname;
	struct mbi_section *ns;
	size_t k, j;
	bool named;

	if (end) {
		/* a comment may follow the header */
		char *after = trim(end + 1);

		if (*after == ';' || *after == '#')
			*after = '\0';
	}
	if (!end || *trim(end + 1))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s:%d: bad section header: write [NAME] or [source NAME]",
				 name, lineno);
	*end = '\0';
	kind = trim(s + 1);
	sname = kind + strcspn(kind, " \t");
	if (*sname) {
		*sname++ = '\0';
		sname = trim(sname);
	}
	k = find_kind(kind);
	if (k == MBI_ARRAY_SIZE(section_kinds))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s:%d: unknown section '%s'", name, lineno,
				 kind);
	named = section_kinds[k].named;
	if (named != (*sname != '\0'))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 named ?
				 "%s:%d: section '%s' needs a name: [%s NAME]" :
				 "%s:%d: section '%s' takes no name",
				 name, lineno, kind, kind);
	for (j = 0; !named && j < cfg->nsecs; j++)
		if (!strcmp(cfg->secs[j].kind, kind))
			return mbi_error(ctx, MB_E_CONFIG, 0,
					 "%s:%d: section [%s] appears twice (first at line %d): merge them",
					 name, lineno, kind,
					 cfg->secs[j].line);
	ns = realloc(cfg->secs, (cfg->nsecs + 1) * sizeof(*cfg->secs));
	if (!ns)
		return MB_E_NOMEM;
	cfg->secs = ns;
	*cur = &cfg->secs[cfg->nsecs++];
	memset(*cur, 0, sizeof(**cur));
	(*cur)->kind = strdup(kind);
	(*cur)->name = *sname ? strdup(sname) : NULL;
	(*cur)->line = lineno;
	if (!(*cur)->kind || (*sname && !(*cur)->name))
		return MB_E_NOMEM;
	return MB_OK;
}

/*
 * The value of a KEY = VALUE line, in place: "..." is taken literally,
 * otherwise an inline comment (whitespace + ; or #) is cut off.
 */
static int parse_value(struct mb_ctx *ctx, const char *name, int lineno,
		       char **valp)
{
	char *val = *valp, *c;

	if (*val == '"') {
		/* "..." is taken literally; only a comment may follow */
		char *q = strchr(val + 1, '"'), *rest;

		if (!q)
			return mbi_error(ctx, MB_E_CONFIG, 0,
					 "%s:%d: unterminated quote", name,
					 lineno);
		*q = '\0';
		rest = q + 1;
		while (*rest == ' ' || *rest == '\t')
			rest++;
		if (*rest && *rest != ';' && *rest != '#')
			return mbi_error(ctx, MB_E_CONFIG, 0,
					 "%s:%d: text after the closing quote",
					 name, lineno);
		*valp = val + 1;
		return MB_OK;
	}
	if (*val == ';' || *val == '#') {
		*valp = (char *)""; /* an empty value and a comment */
		return MB_OK;
	}
	for (c = val; *c; c++)
		if ((*c == ';' || *c == '#') && c > val &&
		    (c[-1] == ' ' || c[-1] == '\t')) {
			*c = '\0';
			break;
		}
	*valp = trim(val);
	return MB_OK;
}

/* Append KEY = VALUE to the current section, if its kind knows the key. */
static int add_key(struct mb_ctx *ctx, const char *name, int lineno,
		   struct mbi_section *cur, const char *key, const char *val)
{
	struct mbi_kv *nkv = realloc(cur->kv, (cur->nkv + 1) * sizeof(*cur->kv));

	if (!nkv)
		return MB_E_NOMEM;
	cur->kv = nkv;
	if (!schema_key(cur->kind, key))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s:%d: unknown key '%s' in [%s]", name,
				 lineno, key, cur->kind);
	nkv[cur->nkv].key = strdup(key);
	nkv[cur->nkv].value = strdup(val);
	nkv[cur->nkv].line = lineno;
	cur->nkv++;
	if (!nkv[cur->nkv - 1].key || !nkv[cur->nkv - 1].value)
		return MB_E_NOMEM;
	return MB_OK;
}

/* One line of the file: blank, comment, section header or KEY = VALUE. */
static int parse_line(struct mb_ctx *ctx, const char *name, int lineno,
		      char *line, struct mbi_config *cfg,
		      struct mbi_section **cur)
{
	char *s = trim(line), *eq, *key, *val;
	int rc;

	if (!*s || *s == '#' || *s == ';')
		return MB_OK;
	if (*s == '[')
		return parse_section(ctx, name, lineno, s, cfg, cur);
	eq = strchr(s, '=');
	if (!eq)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s:%d: expected KEY = VALUE", name, lineno);
	if (!*cur)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s:%d: key outside a section", name, lineno);
	*eq = '\0';
	key = trim(s);
	val = trim(eq + 1);
	rc = parse_value(ctx, name, lineno, &val);
	if (rc)
		return rc;
	return add_key(ctx, name, lineno, *cur, key, val);
}

/* Split the text into sections of key = value lines. */
static int parse_ini(struct mb_ctx *ctx, const char *name, const char *buf,
		     size_t len, struct mbi_config *cfg)
{
	char *text = malloc(len + 1), *line, *next;
	int lineno = 0, rc = MB_OK;
	struct mbi_section *cur = NULL;

	if (!text)
		return MB_E_NOMEM;
	memcpy(text, buf, len);
	text[len] = '\0';
	if (memchr(buf, '\0', len)) {
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "%s: contains a NUL byte: not a text file",
			       name);
		goto out;
	}
	for (line = text; line && rc == MB_OK; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		rc = parse_line(ctx, name, lineno, line, cfg, &cur);
	}
out:
	explicit_bzero(text, len);
	free(text);
	return rc;
}

static int get_int(struct mb_ctx *ctx, const char *name,
		   const struct mbi_section *sec, const char *key, int min,
		   int max, int *out)
{
	const char *v = mbi_section_get(sec, key);
	char *end;
	long n;

	if (!v)
		return MB_OK;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || !*v || *end || n < min || n > max)
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s:%d: '%s' must be a whole number from %d to %d",
				 name, section_line(sec, key), key, min, max);
	*out = (int)n;
	return MB_OK;
}

static int dup_opt(const struct mbi_section *sec, const char *key,
		   const char *env, const char *def, char **out)
{
	const char *v = env ? mbi_getenv(env) : NULL;

	if (!v || !*v)
		v = mbi_section_get(sec, key);
	if (!v || !*v)
		v = def;
	*out = NULL;
	if (!v)
		return MB_OK;
	*out = strdup(v);
	return *out ? MB_OK : MB_E_NOMEM;
}

static char *default_host(void)
{
	char h[256] = "localhost";

	if (gethostname(h, sizeof(h) - 1))
		return strdup("localhost");
	h[sizeof(h) - 1] = '\0';
	return strdup(h);
}

static int valid_host(const char *h)
{
	const char *c;

	if (!*h || strlen(h) > 100)
		return 0;
	for (c = h; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' &&
		    *c != '-')
			return 0;
	return 1;
}

static int valid_source_name(const char *n)
{
	const char *c;

	if (!*n || strlen(n) > 64 || *n == '.')
		return 0;
	for (c = n; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' &&
		    *c != '-')
			return 0;
	return 1;
}

static int load_sources(struct mb_ctx *ctx, const char *name,
			struct mbi_config *cfg)
{
	size_t i, j, n = 0;

	for (i = 0; i < cfg->nsecs; i++)
		n += !strcmp(cfg->secs[i].kind, "source");
	cfg->sources = calloc(n ? n : 1, sizeof(*cfg->sources));
	if (!cfg->sources)
		return MB_E_NOMEM;
	for (i = 0; i < cfg->nsecs; i++) {
		const struct mbi_section *sec = &cfg->secs[i];
		struct mbi_source *src;
		const char *type, *path, *v;

		if (strcmp(sec->kind, "source"))
			continue;
		if (!valid_source_name(sec->name))
			return mbi_error(ctx, MB_E_CONFIG, 0,
					 "%s:%d: source name '%s' must be letters, digits, '.', '_' or '-'",
					 name, sec->line, sec->name);
		for (j = 0; j < cfg->nsources; j++)
			if (!strcmp(cfg->sources[j].name, sec->name))
				return mbi_error(ctx, MB_E_CONFIG, 0,
						 "%s:%d: source '%s' is defined twice",
						 name, sec->line, sec->name);
		src = &cfg->sources[cfg->nsources++];
		src->sec = sec;
		src->name = strdup(sec->name);
		type = mbi_section_get(sec, "type");
		if (!type)
			return mbi_error(ctx, MB_E_CONFIG, 0,
					 "%s:%d: [source %s] has no 'type' (%s)",
					 name, sec->line, sec->name,
					 mbi_source_kind_names);
		/* presets were expanded before: each type is a kind's */
		src->kind = mbi_source_kind(type);
		if (!src->kind)
			return mbi_error(ctx, MB_E_CONFIG, 0,
					 "%s:%d: [source %s] unknown type '%s' (%s)",
					 name, section_line(sec, "type"),
					 sec->name, type,
					 mbi_source_kind_names);
		src->type = strdup(type);
		path = mbi_section_get(sec, "path");
		if (src->kind->tree && (!path || *path != '/'))
			return mbi_error(ctx, MB_E_CONFIG, 0,
					 "%s:%d: [source %s] needs an absolute 'path'",
					 name, sec->line, sec->name);
		if (path) {
			size_t l = strlen(path);

			src->path = strdup(path);
			while (src->path && l > 1 && src->path[l - 1] == '/')
				src->path[--l] = '\0';
		}
		v = mbi_section_get(sec, "exclude");
		src->exclude = mbi_split_words(v, &src->nexclude);
		src->one_file_system = mbi_section_bool(sec, "one_file_system");
		if (!src->name || !src->type || (path && !src->path) ||
		    !src->exclude)
			return MB_E_NOMEM;
	}
	return MB_OK;
}

/* "64K", "4G": a size as the file would write it. */
static void size_text(uint64_t v, char *buf, size_t n)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (v && v % 1024 == 0 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, n, "%llu", (unsigned long long)v);
	else
		snprintf(buf, n, "%llu%c", (unsigned long long)v, units[u]);
}

/* An MBI_KEY_ENUM value: one of k->values. */
static int check_enum(struct mb_ctx *ctx, const char *name,
		      const struct mbi_section *sec,
		      const struct mbi_config_key *k, const char *v)
{
	const char *p = k->values;
	size_t len = strlen(v);
	char list[256];
	size_t i, o = 0;

	while (p) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);

		if (n == len && !strncmp(p, v, n))
			return MB_OK;
		p = bar ? bar + 1 : NULL;
	}
	/* 'a' or 'b' */
	list[o++] = '\'';
	for (i = 0; k->values[i] && o + 8 < sizeof(list); i++) {
		if (k->values[i] == '|') {
			memcpy(list + o, "' or '", 6);
			o += 6;
		} else {
			list[o++] = k->values[i];
		}
	}
	list[o++] = '\'';
	list[o] = '\0';
	return mbi_error(ctx, MB_E_CONFIG, 0, "%s:%d: %s must be %s", name,
			 sec ? section_line(sec, k->key) : 0, k->key, list);
}

/* An MBI_KEY_SIZE or MBI_KEY_DURATION value (or the default). */
static int load_amount(struct mb_ctx *ctx, const char *name,
		       const struct mbi_section *sec,
		       const struct mbi_config_key *k, void *field)
{
	const char *v = mbi_section_get(sec, k->key);
	int line = v ? section_line(sec, k->key) : 0;
	char lo[32], hi[32];
	uint64_t size;
	int64_t secs;

	if (!v)
		v = k->def;
	if (k->type == MBI_KEY_SIZE) {
		if (mbi_parse_size(v, &size) || size < (uint64_t)k->min ||
		    size > (uint64_t)k->max) {
			size_text((uint64_t)k->min, lo, sizeof(lo));
			size_text((uint64_t)k->max, hi, sizeof(hi));
			return mbi_error(ctx, MB_E_CONFIG, 0,
					 "%s:%d: %s must be a size from %s to %s",
					 name, line, k->key, lo, hi);
		}
		memcpy(field, &size, sizeof(size));
		return MB_OK;
	}
	if (!v)
		return MB_OK; /* no default: the field stays 0 */
	if (mbi_parse_duration(v, &secs) || secs < k->min)
		return k->min ?
		       mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s:%d: '%s' must be a duration of %llds or more, like %s",
				 name, line, k->key, (long long)k->min,
				 k->values) :
		       mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s:%d: '%s' must be a duration like %s",
				 name, line, k->key, k->values);
	memcpy(field, &secs, sizeof(secs));
	return MB_OK;
}

/* One typed key of the schema into its field of cfg. */
static int load_key(struct mb_ctx *ctx, const char *name,
		    struct mbi_config *cfg, const struct mbi_config_key *k)
{
	const struct mbi_section *sec = mbi_config_section(cfg, k->section);
	void *field = (char *)cfg + k->offset;
	int rc, n;

	switch (k->type) {
	case MBI_KEY_RAW:
		return MB_OK;
	case MBI_KEY_STRING:
	case MBI_KEY_ENUM:
		rc = dup_opt(sec, k->key, k->env, k->def, (char **)field);
		if (rc || k->type == MBI_KEY_STRING)
			return rc;
		return check_enum(ctx, name, sec, k, *(char **)field);
	case MBI_KEY_INT:
		n = (int)strtol(k->def, NULL, 10);
		rc = get_int(ctx, name, sec, k->key, (int)k->min, (int)k->max,
			     &n);
		memcpy(field, &n, sizeof(n));
		return rc;
	case MBI_KEY_SIZE:
	case MBI_KEY_DURATION:
		return load_amount(ctx, name, sec, k, field);
	}
	return MB_OK;
}

/* Every typed key of the schema, with its default when unset. */
static int load_schema(struct mb_ctx *ctx, const char *name,
		       struct mbi_config *cfg)
{
	size_t i;
	int rc;

	for (i = 0; i < MBI_ARRAY_SIZE(schema); i++)
		if ((rc = load_key(ctx, name, cfg, &schema[i])))
			return rc;
	return MB_OK;
}

/* [keys] recipients and trusted signers, and the host name of snapshots. */
static int load_keys_host(struct mb_ctx *ctx, const char *name,
			  const struct mbi_section *keys,
			  struct mbi_config *cfg)
{
	const char *v;

	cfg->recipients = mbi_split_words(mbi_section_get(keys, "recipients"),
					  &cfg->nrecipients);
	v = mbi_section_get(keys, "trusted_signers");
	cfg->trusted_signers = mbi_split_words(v ? v : cfg->signing_key,
					       &cfg->ntrusted);
	if (!cfg->recipients || !cfg->trusted_signers)
		return MB_E_NOMEM;
	if (!cfg->host && !(cfg->host = default_host()))
		return MB_E_NOMEM;
	if (!valid_host(cfg->host))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s: host '%s' must be letters, digits, '.', '_' or '-'",
				 name, cfg->host);
	return MB_OK;
}

/* [repository] upload_limit and download_limit: bytes per second. */
static int load_limits(struct mb_ctx *ctx, const char *name,
		       struct mbi_config *cfg)
{
	const struct mbi_section *repo = mbi_config_section(cfg, "repository");
	static const char *const keys[] = { "upload_limit", "download_limit" };
	uint64_t *const dst[] = { &cfg->upload_limit, &cfg->download_limit };
	size_t i;

	for (i = 0; i < MBI_ARRAY_SIZE(keys); i++) {
		const char *v = mbi_section_get(repo, keys[i]);

		if (v && mbi_parse_rate(v, dst[i]))
			return mbi_error(ctx, MB_E_CONFIG, 0,
					 "%s:%d: '%s' must be a rate in bytes per second above 0, like 5M or 500k",
					 name, section_line(repo, keys[i]),
					 keys[i]);
	}
	return MB_OK;
}

int mbi_config_parse(struct mb_ctx *ctx, const char *name, const char *buf,
		     size_t len, struct mbi_config **out)
{
	struct mbi_config *cfg = calloc(1, sizeof(*cfg));
	int rc;

	if (!cfg)
		return MB_E_NOMEM;
	cfg->file = strdup(name);
	rc = parse_ini(ctx, name, buf, len, cfg);
	if (rc)
		goto out;
	if ((rc = load_schema(ctx, name, cfg)))
		goto out;
	if (!cfg->url) {
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "%s: no repository: set [repository] url", name);
		goto out;
	}
	if ((rc = load_keys_host(ctx, name,
				 mbi_config_section(cfg, "keys"), cfg)) ||
	    (rc = mbi_presets_expand(ctx, name, cfg)) ||
	    (rc = load_sources(ctx, name, cfg)) ||
	    (rc = load_limits(ctx, name, cfg)))
		goto out;
out:
	if (rc) {
		mbi_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return MB_OK;
}
