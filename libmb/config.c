/* SPDX-License-Identifier: MIT */
/* config.c: the INI configuration file: parsing, validation and defaults. */
#include "mb-private.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

/* Keys each section accepts; a typo is an error, not a silent default. */
static const char *const repository_keys[] = {
	"url", "endpoint", "region", "access_key_id", "secret_access_key",
	"url_style", "ca_file", "storage_class", "part_size", "s3_parallel",
	"object_lock_days", "pack_size",
	/* read by store_s3.c */
	"s3_timeout", "s3_retries", "object_lock_mode", NULL
};
static const char *const keys_keys[] = {
	"gnupg_home", "recipients", "signing_key", "trusted_signers", NULL
};
static const char *const options_keys[] = {
	"cache_dir", "host", "zstd_level", "threads", "metrics_file", "log",
	"lock_timeout", "scratch_dir", "scratch_db", "prune_grace", NULL
};
static const char *const retention_keys[] = {
	"keep_last", "keep_hourly", "keep_daily", "keep_weekly",
	"keep_monthly", "keep_yearly", "keep_within", NULL
};
static const char *const hooks_keys[] = {
	"pre_backup", "post_backup", "on_failure", "hook_timeout", NULL
};
static const char *const source_keys[] = {
	/* every kind */
	"type", "path", "exclude", "one_file_system",
	/* mariadb */
	"host", "port", "socket", "user", "password", "password_file",
	"databases", "exclude_tables", "tls", "tls_ca", "tls_cert", "tls_key",
	"lock_nontransactional", "max_statement",
	/* command */
	"command", "filename",
	/* presets and their sources ("user" and "socket" above override
	 * what preset:mailcow reads from mailcow.conf) */
	"mailcow_dir", "volumes_dir", "data_dir", "include_index", "require",
	"only",
	NULL
};

static const struct {
	const char *kind;
	bool named;
	const char *const *keys;
} section_kinds[] = {
	{ "repository", false, repository_keys },
	{ "keys", false, keys_keys },
	{ "options", false, options_keys },
	{ "retention", false, retention_keys },
	{ "hooks", false, hooks_keys },
	{ "source", true, source_keys },
};

static const char *const source_types[] = {
	"maildir", "files", "mariadb", "command", NULL
};

bool mbi_section_bool(const struct mbi_section *sec, const char *key)
{
	const char *v = mbi_section_get(sec, key);

	return v && (!strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
		     !strcmp(v, "1") || !strcasecmp(v, "on"));
}

const char *mbi_section_get(const struct mbi_section *sec, const char *key)
{
	size_t i;

	if (!sec)
		return NULL;
	for (i = sec->nkv; i > 0; i--)
		if (!strcmp(sec->kv[i - 1].key, key))
			return sec->kv[i - 1].value;
	return NULL;
}

static int section_line(const struct mbi_section *sec, const char *key)
{
	size_t i;

	for (i = sec->nkv; i > 0; i--)
		if (!strcmp(sec->kv[i - 1].key, key))
			return sec->kv[i - 1].line;
	return sec->line;
}

int mbi_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		return MB_E_INVAL;
	v = strtoull(s, &end, 10);
	if (errno)
		return MB_E_INVAL;
	while (*end == ' ')
		end++;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		mul = 1ULL << 10;
		break;
	case 'M':
		mul = 1ULL << 20;
		break;
	case 'G':
		mul = 1ULL << 30;
		break;
	case 'T':
		mul = 1ULL << 40;
		break;
	default:
		return MB_E_INVAL;
	}
	if (*end) {
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'b' || *end == 'B')
			end++;
		if (*end)
			return MB_E_INVAL;
	}
	if (v > UINT64_MAX / mul)
		return MB_E_INVAL;
	*out = v * mul;
	return MB_OK;
}

/* "90d", "12h", "2w", "1y2m3d", "3600" (seconds) */
int mbi_parse_duration(const char *s, int64_t *out)
{
	int64_t total = 0;

	if (!*s)
		return MB_E_INVAL;
	while (*s) {
		char *end;
		long long v;
		int64_t unit;

		if (!isdigit((unsigned char)*s))
			return MB_E_INVAL;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno || v > 1000000000)
			return MB_E_INVAL;
		switch (*end) {
		case '\0':
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 30 * 86400; /* month, as restic */
			if (end[1] == 'i' && end[2] == 'n') {
				unit = 60;
				end += 2;
			}
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		case 'w':
			unit = 7 * 86400;
			break;
		case 'y':
			unit = 365 * 86400;
			break;
		default:
			return MB_E_INVAL;
		}
		if ((int64_t)v * unit > INT64_MAX / 4 - total)
			return MB_E_INVAL; /* beyond any sensible duration */
		total += (int64_t)v * unit;
		s = *end ? end + 1 : end;
	}
	*out = total;
	return MB_OK;
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
	for (line = text; line; line = next) {
		char *s, *eq, *key, *val;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']'), *kind, *sname;
			size_t k;
			struct mbi_section *ns;

			if (end) {
				/* a comment may follow the header */
				char *after = trim(end + 1);

				if (*after == ';' || *after == '#')
					*after = '\0';
			}
			if (!end || *trim(end + 1)) {
				rc = mbi_error(ctx, MB_E_CONFIG, 0,
					       "%s:%d: bad section header: write [NAME] or [source NAME]",
					       name, lineno);
				goto out;
			}
			*end = '\0';
			kind = trim(s + 1);
			sname = kind + strcspn(kind, " \t");
			if (*sname) {
				*sname++ = '\0';
				sname = trim(sname);
			}
			for (k = 0; k < MBI_ARRAY_SIZE(section_kinds); k++)
				if (!strcmp(section_kinds[k].kind, kind))
					break;
			if (k == MBI_ARRAY_SIZE(section_kinds)) {
				rc = mbi_error(ctx, MB_E_CONFIG, 0,
					       "%s:%d: unknown section '%s'",
					       name, lineno, kind);
				goto out;
			}
			if (section_kinds[k].named != (*sname != '\0')) {
				rc = mbi_error(ctx, MB_E_CONFIG, 0,
					       section_kinds[k].named ?
					       "%s:%d: section '%s' needs a name: [%s NAME]" :
					       "%s:%d: section '%s' takes no name",
					       name, lineno, kind, kind);
				goto out;
			}
			if (!section_kinds[k].named) {
				size_t j;

				for (j = 0; j < cfg->nsecs; j++)
					if (!strcmp(cfg->secs[j].kind, kind)) {
						rc = mbi_error(ctx, MB_E_CONFIG, 0,
							       "%s:%d: section [%s] appears twice (first at line %d): merge them",
							       name, lineno, kind,
							       cfg->secs[j].line);
						goto out;
					}
			}
			ns = realloc(cfg->secs,
				     (cfg->nsecs + 1) * sizeof(*cfg->secs));
			if (!ns) {
				rc = MB_E_NOMEM;
				goto out;
			}
			cfg->secs = ns;
			cur = &cfg->secs[cfg->nsecs++];
			memset(cur, 0, sizeof(*cur));
			cur->kind = strdup(kind);
			cur->name = *sname ? strdup(sname) : NULL;
			cur->line = lineno;
			if (!cur->kind || (*sname && !cur->name)) {
				rc = MB_E_NOMEM;
				goto out;
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			rc = mbi_error(ctx, MB_E_CONFIG, 0,
				       "%s:%d: expected KEY = VALUE", name,
				       lineno);
			goto out;
		}
		if (!cur) {
			rc = mbi_error(ctx, MB_E_CONFIG, 0,
				       "%s:%d: key outside a section", name,
				       lineno);
			goto out;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		if (*val == '"') {
			/* "..." is taken literally; only a comment may follow */
			char *q = strchr(val + 1, '"'), *rest;

			if (!q) {
				rc = mbi_error(ctx, MB_E_CONFIG, 0,
					       "%s:%d: unterminated quote",
					       name, lineno);
				goto out;
			}
			*q = '\0';
			rest = q + 1;
			while (*rest == ' ' || *rest == '\t')
				rest++;
			if (*rest && *rest != ';' && *rest != '#') {
				rc = mbi_error(ctx, MB_E_CONFIG, 0,
					       "%s:%d: text after the closing quote",
					       name, lineno);
				goto out;
			}
			val++;
		} else if (*val == ';' || *val == '#') {
			val = (char *)""; /* an empty value and a comment */
		} else {
			/* an inline comment starts with whitespace + ; or # */
			char *c;

			for (c = val; *c; c++)
				if ((*c == ';' || *c == '#') && c > val &&
				    (c[-1] == ' ' || c[-1] == '\t')) {
					*c = '\0';
					break;
				}
			val = trim(val);
		}
		{
			struct mbi_kv *nkv = realloc(cur->kv,
				(cur->nkv + 1) * sizeof(*cur->kv));
			size_t k;
			const char *const *allowed = NULL;

			if (!nkv) {
				rc = MB_E_NOMEM;
				goto out;
			}
			cur->kv = nkv;
			for (k = 0; k < MBI_ARRAY_SIZE(section_kinds); k++)
				if (!strcmp(section_kinds[k].kind, cur->kind))
					allowed = section_kinds[k].keys;
			for (k = 0; allowed && allowed[k]; k++)
				if (!strcmp(allowed[k], key))
					break;
			if (!allowed || !allowed[k]) {
				rc = mbi_error(ctx, MB_E_CONFIG, 0,
					       "%s:%d: unknown key '%s' in [%s]",
					       name, lineno, key, cur->kind);
				goto out;
			}
			nkv[cur->nkv].key = strdup(key);
			nkv[cur->nkv].value = strdup(val);
			nkv[cur->nkv].line = lineno;
			cur->nkv++;
			if (!nkv[cur->nkv - 1].key || !nkv[cur->nkv - 1].value) {
				rc = MB_E_NOMEM;
				goto out;
			}
		}
	}
out:
	explicit_bzero(text, len);
	free(text);
	return rc;
}

const struct mbi_section *mbi_config_section(const struct mbi_config *cfg,
					    const char *kind)
{
	size_t i;

	for (i = 0; cfg && i < cfg->nsecs; i++)
		if (!strcmp(cfg->secs[i].kind, kind))
			return &cfg->secs[i];
	return NULL;
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
	const char *v = env ? getenv(env) : NULL;

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
					 "%s:%d: [source %s] has no 'type' (maildir, files, mariadb, command)",
					 name, sec->line, sec->name);
		for (j = 0; source_types[j]; j++)
			if (!strcmp(source_types[j], type))
				break;
		if (!source_types[j] && strncmp(type, "preset:", 7))
			return mbi_error(ctx, MB_E_CONFIG, 0,
					 "%s:%d: [source %s] unknown type '%s' (maildir, files, mariadb, command)",
					 name, section_line(sec, "type"),
					 sec->name, type);
		src->type = strdup(type);
		path = mbi_section_get(sec, "path");
		if ((!strcmp(type, "maildir") || !strcmp(type, "files")) &&
		    (!path || *path != '/'))
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

static int load_retention(struct mb_ctx *ctx, const char *name,
			  struct mbi_config *cfg)
{
	const struct mbi_section *sec = mbi_config_section(cfg, "retention");
	struct mbi_retention *r = &cfg->retention;
	const char *v;
	int rc;

	if ((rc = get_int(ctx, name, sec, "keep_last", 0, 1000000, &r->keep_last)) ||
	    (rc = get_int(ctx, name, sec, "keep_hourly", 0, 1000000, &r->keep_hourly)) ||
	    (rc = get_int(ctx, name, sec, "keep_daily", 0, 1000000, &r->keep_daily)) ||
	    (rc = get_int(ctx, name, sec, "keep_weekly", 0, 1000000, &r->keep_weekly)) ||
	    (rc = get_int(ctx, name, sec, "keep_monthly", 0, 1000000, &r->keep_monthly)) ||
	    (rc = get_int(ctx, name, sec, "keep_yearly", 0, 1000000, &r->keep_yearly)))
		return rc;
	v = mbi_section_get(sec, "keep_within");
	if (v && mbi_parse_duration(v, &r->keep_within))
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s:%d: 'keep_within' must be a duration like 30d, 12h or 1y6m",
				 name, section_line(sec, "keep_within"));
	return MB_OK;
}

int mbi_config_parse(struct mb_ctx *ctx, const char *name, const char *buf,
		     size_t len, struct mbi_config **out)
{
	struct mbi_config *cfg = calloc(1, sizeof(*cfg));
	const struct mbi_section *repo, *keys, *opts;
	const char *v;
	int rc;

	if (!cfg)
		return MB_E_NOMEM;
	cfg->file = strdup(name);
	rc = parse_ini(ctx, name, buf, len, cfg);
	if (rc)
		goto out;
	repo = mbi_config_section(cfg, "repository");
	keys = mbi_config_section(cfg, "keys");
	opts = mbi_config_section(cfg, "options");

	if ((rc = dup_opt(repo, "url", NULL, NULL, &cfg->url)) ||
	    (rc = dup_opt(repo, "endpoint", NULL, NULL, &cfg->endpoint)) ||
	    (rc = dup_opt(repo, "region", NULL, "us-east-1", &cfg->region)) ||
	    (rc = dup_opt(repo, "access_key_id", "MAILBACKUP_S3_ACCESS_KEY_ID",
			  NULL, &cfg->access_key_id)) ||
	    (rc = dup_opt(repo, "secret_access_key",
			  "MAILBACKUP_S3_SECRET_ACCESS_KEY", NULL,
			  &cfg->secret_access_key)) ||
	    (rc = dup_opt(repo, "url_style", NULL, "path", &cfg->url_style)) ||
	    (rc = dup_opt(repo, "ca_file", NULL, NULL, &cfg->ca_file)) ||
	    (rc = dup_opt(repo, "storage_class", NULL, NULL,
			  &cfg->storage_class)) ||
	    (rc = dup_opt(keys, "gnupg_home", NULL, "/etc/mailbackup/gnupg",
			  &cfg->gnupg_home)) ||
	    (rc = dup_opt(keys, "signing_key", NULL, NULL,
			  &cfg->signing_key)) ||
	    (rc = dup_opt(opts, "cache_dir", NULL, NULL, &cfg->cache_dir)) ||
	    (rc = dup_opt(opts, "host", NULL, NULL, &cfg->host)))
		goto out;
	if (!cfg->url) {
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "%s: no repository: set [repository] url", name);
		goto out;
	}
	if (strcmp(cfg->url_style, "path") &&
	    strcmp(cfg->url_style, "virtual")) {
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "%s: url_style must be 'path' or 'virtual'",
			       name);
		goto out;
	}
	cfg->pack_size = 32ULL << 20;
	cfg->part_size = 16ULL << 20;
	cfg->s3_parallel = 4;
	cfg->zstd_level = 3;
	cfg->threads = 0;
	if ((v = mbi_section_get(repo, "pack_size")) &&
	    (mbi_parse_size(v, &cfg->pack_size) ||
	     cfg->pack_size < (64 << 10) || cfg->pack_size > (4ULL << 30))) {
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "%s: pack_size must be a size from 64K to 4G",
			       name);
		goto out;
	}
	if ((v = mbi_section_get(repo, "part_size")) &&
	    (mbi_parse_size(v, &cfg->part_size) ||
	     cfg->part_size < (5ULL << 20) || cfg->part_size > (5ULL << 30))) {
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "%s: part_size must be a size from 5M to 5G",
			       name);
		goto out;
	}
	if ((rc = get_int(ctx, name, repo, "s3_parallel", 1, 64,
			  &cfg->s3_parallel)) ||
	    (rc = get_int(ctx, name, repo, "object_lock_days", 0, 36500,
			  &cfg->object_lock_days)) ||
	    (rc = get_int(ctx, name, opts, "zstd_level", 1, 19,
			  &cfg->zstd_level)) ||
	    (rc = get_int(ctx, name, opts, "threads", 0, 256,
			  &cfg->threads)))
		goto out;
	cfg->lock_timeout = 1800;
	if ((v = mbi_section_get(opts, "lock_timeout")) &&
	    (mbi_parse_duration(v, &cfg->lock_timeout) ||
	     cfg->lock_timeout < 2)) {
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "%s: lock_timeout must be a duration of 2s or more, like 30m",
			       name);
		goto out;
	}
	cfg->prune_grace = 24 * 3600;
	if ((v = mbi_section_get(opts, "prune_grace")) &&
	    mbi_parse_duration(v, &cfg->prune_grace)) {
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "%s: prune_grace must be a duration, like 1d (0: none)",
			       name);
		goto out;
	}
	cfg->recipients = mbi_split_words(mbi_section_get(keys, "recipients"),
					  &cfg->nrecipients);
	v = mbi_section_get(keys, "trusted_signers");
	cfg->trusted_signers = mbi_split_words(v ? v : cfg->signing_key,
					       &cfg->ntrusted);
	if (!cfg->recipients || !cfg->trusted_signers) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (!cfg->host && !(cfg->host = default_host())) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (!valid_host(cfg->host)) {
		rc = mbi_error(ctx, MB_E_CONFIG, 0,
			       "%s: host '%s' must be letters, digits, '.', '_' or '-'",
			       name, cfg->host);
		goto out;
	}
	if ((rc = mbi_presets_expand(ctx, name, cfg)) ||
	    (rc = load_sources(ctx, name, cfg)) ||
	    (rc = load_retention(ctx, name, cfg)))
		goto out;
out:
	if (rc) {
		mbi_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return MB_OK;
}
