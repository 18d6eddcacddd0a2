/* SPDX-License-Identifier: MIT */
/* preset.c: [source NAME] type = preset:mailcow | preset:docker-mailserver,
 * expanded into the plain sources those layouts need. */
#include "mb-private.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "banned.h"

struct kvlist {
	struct mbi_kv *kv;
	size_t n;
};

static int kv_add(struct kvlist *l, const char *key, const char *value,
		  int line)
{
	struct mbi_kv *nk = realloc(l->kv, (l->n + 1) * sizeof(*nk));

	if (!nk)
		return MB_E_NOMEM;
	l->kv = nk;
	nk[l->n].key = strdup(key);
	nk[l->n].value = strdup(value);
	nk[l->n].line = line;
	l->n++;
	return nk[l->n - 1].key && nk[l->n - 1].value ? MB_OK : MB_E_NOMEM;
}

/* Append a [source NAME-SUFFIX] section. */
static int add_source(struct mbi_config *cfg, const struct mbi_section *from,
		      const char *suffix, struct kvlist *kv)
{
	struct mbi_section *ns = realloc(cfg->secs,
					 (cfg->nsecs + 1) * sizeof(*ns));
	struct mbi_section *s;

	if (!ns)
		return MB_E_NOMEM;
	cfg->secs = ns;
	s = &cfg->secs[cfg->nsecs++];
	memset(s, 0, sizeof(*s));
	s->kind = strdup("source");
	s->name = mbi_asprintf("%s-%s", from->name, suffix);
	s->line = from->line;
	s->kv = kv->kv;
	s->nkv = kv->n;
	kv->kv = NULL;
	kv->n = 0;
	return s->kind && s->name ? MB_OK : MB_E_NOMEM;
}

/* Options given on the preset section pass to each source it makes. */
static int inherit(const struct mbi_section *from, struct kvlist *kv,
		   const char *const *keys)
{
	size_t i;
	int rc = MB_OK;

	for (i = 0; !rc && keys[i]; i++) {
		const char *v = mbi_section_get(from, keys[i]);

		if (v)
			rc = kv_add(kv, keys[i], v, from->line);
	}
	return rc;
}

/* KEY=VALUE lines of a shell-style env file (mailcow.conf), or NULL. */
static char *env_get(const char *text, const char *key)
{
	const char *p = text;
	size_t kl = strlen(key);

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		while (l && (*p == ' ' || *p == '\t')) {
			p++;
			l--;
		}
		if (l > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t vl = l - kl - 1;

			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			if (vl >= 2 && (v[0] == '"' || v[0] == '\'') &&
			    v[vl - 1] == v[0]) {
				v++;
				vl -= 2;
			}
			return strndup(v, vl);
		}
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static int files_source(struct mbi_config *cfg, const struct mbi_section *from,
			const char *suffix, const char *type, const char *path,
			const char *require)
{
	static const char *const pass[] = { "exclude", "one_file_system",
					    "include_index", NULL };
	struct kvlist kv = { 0 };
	int rc = kv_add(&kv, "type", type, from->line);

	if (!rc)
		rc = kv_add(&kv, "path", path, from->line);
	if (!rc && require)
		rc = kv_add(&kv, "require", require, from->line);
	if (!rc)
		rc = inherit(from, &kv, pass);
	if (!rc)
		rc = add_source(cfg, from, suffix, &kv);
	while (kv.n--) {
		free(kv.kv[kv.n].key);
		free(kv.kv[kv.n].value);
	}
	free(kv.kv);
	return rc;
}

/* The [source NAME-db] of preset:mailcow: the mysql container's socket,
 * and the user, password and database of mailcow.conf unless set. */
static int mailcow_db(struct mbi_config *cfg, const struct mbi_section *sec,
		      const char *vdir, const char *dbuser, const char *dbpass,
		      const char *dbname)
{
	static const char *const dbkeys[] = {
		"host", "port", "password_file", "tls", "tls_ca",
		"lock_nontransactional", NULL
	};
	const char *user = mbi_section_get(sec, "user");
	const char *socket = mbi_section_get(sec, "socket");
	const char *pass = mbi_section_get(sec, "password");
	struct kvlist kv = { 0 };
	char *p;
	int rc;

	p = mbi_asprintf("%s_mysql-socket-vol-1/_data/mysqld.sock", vdir);
	if (!p)
		return MB_E_NOMEM;
	rc = kv_add(&kv, "type", "mariadb", sec->line);
	if (!rc)
		rc = kv_add(&kv, "socket", socket ? socket : p, sec->line);
	if (!rc)
		rc = kv_add(&kv, "user", user ? user :
			    dbuser ? dbuser : "mailcow", sec->line);
	if (!rc && (dbpass || pass))
		/* line 0: from mailcow.conf, not from our file */
		rc = kv_add(&kv, "password", pass ? pass : dbpass,
			    pass ? sec->line : 0);
	if (!rc)
		rc = kv_add(&kv, "databases", dbname ? dbname : "mailcow",
			    sec->line);
	if (!rc)
		rc = inherit(sec, &kv, dbkeys);
	if (!rc)
		rc = add_source(cfg, sec, "db", &kv);
	while (kv.n--) {
		free(kv.kv[kv.n].key);
		free(kv.kv[kv.n].value);
	}
	free(kv.kv);
	free(p);
	return rc;
}

/* Compose v2's project name for a checkout directory: its base name in
 * lower case, other characters than letters, digits, '_' and '-' dropped. */
static char *compose_project(const char *dir)
{
	const char *b = strrchr(dir, '/');
	char *project, *c, *w;

	project = strdup(b && b[1] ? b + 1 : "mailcowdockerized");
	for (c = w = project; c && *c; c++)
		if (isalnum((unsigned char)*c) || *c == '_' || *c == '-')
			*w++ = (char)tolower((unsigned char)*c);
	if (w)
		*w = '\0';
	return project;
}

static int expand_mailcow(struct mb_ctx *ctx, const char *file,
			  struct mbi_config *cfg, const struct mbi_section *sec)
{
	const char *dir = mbi_section_get(sec, "mailcow_dir");
	const char *vols = mbi_section_get(sec, "volumes_dir");
	struct mbi_buf conf = { 0 };
	char *project = NULL, *dbname = NULL, *dbuser = NULL, *dbpass = NULL;
	char *p = NULL, *vdir = NULL;
	int rc;

	if (!dir || *dir != '/')
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s:%d: [source %s] preset:mailcow needs mailcow_dir = the absolute path of mailcow-dockerized",
				 file, sec->line, sec->name);
	p = mbi_asprintf("%s/mailcow.conf", dir);
	if (!p)
		return MB_E_NOMEM;
	/* on a recovery machine mailcow.conf may not be there yet: the
	 * sources still expand, and a backup refuses (require) */
	if (mbi_read_file(ctx, p, &conf, 1 << 20) == MB_OK) {
		project = env_get(conf.data, "COMPOSE_PROJECT_NAME");
		dbname = env_get(conf.data, "DBNAME");
		dbuser = env_get(conf.data, "DBUSER");
		dbpass = env_get(conf.data, "DBPASS");
	}
	if (!project) /* docker compose names the project after the directory */
		project = compose_project(dir);
	vdir = mbi_asprintf("%s/%s", vols ? vols : "/var/lib/docker/volumes",
			    project ? project : "mailcowdockerized");
	if (!vdir) {
		rc = MB_E_NOMEM;
		goto out;
	}
	{
		struct {
			const char *suffix, *type, *vol, *require;
		} vl[] = {
			{ "vmail", "maildir", "vmail-vol-1", NULL },
			/* without the mail_crypt keys the mail is unreadable */
			{ "crypt", "files", "crypt-vol-1",
			  "ecprivkey.pem ecpubkey.pem" },
			/* the Redis dump holds the DKIM keys */
			{ "redis", "files", "redis-vol-1", "dump.rdb" },
			{ "rspamd", "files", "rspamd-vol-1", NULL },
			{ "postfix", "files", "postfix-vol-1", NULL },
		};
		size_t i;

		for (i = 0, rc = MB_OK; !rc && i < MBI_ARRAY_SIZE(vl); i++) {
			char *path = mbi_asprintf("%s_%s/_data", vdir,
						  vl[i].vol);

			rc = path ? files_source(cfg, sec, vl[i].suffix,
						 vl[i].type, path,
						 vl[i].require) : MB_E_NOMEM;
			free(path);
		}
	}
	if (rc)
		goto out;
	free(p);
	p = mbi_asprintf("%s/data/conf", dir);
	rc = p ? files_source(cfg, sec, "conf", "files", p, NULL) : MB_E_NOMEM;
	if (rc)
		goto out;
	rc = files_source(cfg, sec, "mailcow-conf", "files", dir,
			  "mailcow.conf");
	if (rc)
		goto out;
	/* only mailcow.conf of the checkout: the rest is the git tree */
	{
		struct mbi_section *s = &cfg->secs[cfg->nsecs - 1];
		struct kvlist x = { s->kv, s->nkv };

		rc = kv_add(&x, "only", "mailcow.conf", sec->line);
		s->kv = x.kv;
		s->nkv = x.n;
		if (rc)
			goto out;
	}
	/* the database, through the socket the mysql container shares */
	rc = mailcow_db(cfg, sec, vdir, dbuser, dbpass, dbname);
out:
	if (dbpass)
		explicit_bzero(dbpass, strlen(dbpass));
	if (conf.data)
		explicit_bzero(conf.data, conf.len);
	mbi_buf_release(&conf);
	free(project);
	free(dbname);
	free(dbuser);
	free(dbpass);
	free(p);
	free(vdir);
	return rc;
}

/* The mail_crypt key paths set in one Dovecot config text (comments
 * skipped). A path inside the container's /tmp/docker-mailserver/ is the
 * config/ directory and becomes a required file of that source; any other
 * path is on a volume the preset does not know, so it says so. */
static int crypt_keys_of(struct mb_ctx *ctx, const char *file,
			 const char *text, struct mbi_buf *req)
{
	static const char *const keys[] = { "mail_crypt_global_private_key",
					     "mail_crypt_global_public_key" };
	const char *line = text;
	int rc = MB_OK;

	while (!rc && line && *line) {
		const char *nl = strchr(line, '\n'), *p = line, *lt, *end;
		size_t k, l = nl ? (size_t)(nl - line) : strlen(line);

		while (p < line + l && (*p == ' ' || *p == '\t'))
			p++;
		for (k = 0; k < MBI_ARRAY_SIZE(keys) && *p != '#'; k++) {
			size_t kl = strlen(keys[k]);

			if ((size_t)(line + l - p) <= kl ||
			    strncmp(p, keys[k], kl))
				continue;
			lt = memchr(p, '<', (size_t)(line + l - p));
			if (!lt)
				continue;
			lt++;
			end = lt;
			while (end < line + l && *end != ' ' && *end != '\t' &&
			       *end != '\r')
				end++;
			if (!strncmp(lt, "/tmp/docker-mailserver/", 23) &&
			    end > lt + 23)
				rc = mbi_buf_printf(req, "%s%.*s",
						    req->len ? " " : "",
						    (int)(end - lt - 23),
						    lt + 23);
			else
				mbi_log(ctx, MB_LOG_WARNING,
					"%s names the mail_crypt key '%.*s' outside config/: add a [source] of type files for it, or the mail in the backup cannot be read",
					file, (int)(end - lt), lt);
		}
		line = nl ? nl + 1 : NULL;
	}
	return rc;
}

/* docker-mailserver: mail_crypt keys, when configured, are named in the
 * Dovecot configs of config/ (dovecot.cf and the .conf files of dovecot/);
 * they must be in the snapshot. */
static int dms_crypt_require(struct mb_ctx *ctx, const char *cfgdir,
			     struct mbi_buf *req)
{
	char *sub = mbi_asprintf("%s/dovecot", cfgdir);
	char *top = mbi_asprintf("%s/dovecot.cf", cfgdir);
	struct mbi_buf b = { 0 };
	DIR *d;
	struct dirent *de;
	int rc = MB_OK;

	if (!sub || !top) {
		rc = MB_E_NOMEM;
		goto out;
	}
	if (!mbi_read_file(ctx, top, &b, 1 << 20))
		rc = crypt_keys_of(ctx, top, b.data, req);
	mbi_buf_release(&b);
	d = opendir(sub);
	while (!rc && d && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char *p;

		if (l < 6 || strcmp(de->d_name + l - 5, ".conf"))
			continue;
		p = mbi_asprintf("%s/%s", sub, de->d_name);
		if (!p) {
			rc = MB_E_NOMEM;
			break;
		}
		if (!mbi_read_file(ctx, p, &b, 1 << 20))
			rc = crypt_keys_of(ctx, p, b.data, req);
		mbi_buf_release(&b);
		free(p);
	}
	if (d)
		closedir(d);
out:
	free(sub);
	free(top);
	return rc;
}

static int expand_dms(struct mb_ctx *ctx, const char *file,
		      struct mbi_config *cfg, const struct mbi_section *sec)
{
	const char *dir = mbi_section_get(sec, "data_dir");
	struct mbi_buf req = { 0 };
	char *p;
	int rc;

	if (!dir || *dir != '/')
		return mbi_error(ctx, MB_E_CONFIG, 0,
				 "%s:%d: [source %s] preset:docker-mailserver needs data_dir = the directory holding mail-data/, mail-state/ and config/",
				 file, sec->line, sec->name);
	p = mbi_asprintf("%s/mail-data", dir);
	rc = p ? files_source(cfg, sec, "mail", "maildir", p, NULL) :
		 MB_E_NOMEM;
	free(p);
	if (rc)
		return rc;
	p = mbi_asprintf("%s/mail-state", dir);
	rc = p ? files_source(cfg, sec, "state", "files", p, NULL) :
		 MB_E_NOMEM;
	free(p);
	if (rc)
		return rc;
	p = mbi_asprintf("%s/config", dir);
	if (!p)
		return MB_E_NOMEM;
	/* accounts (unless LDAP), the DKIM keys (opendkim/ or rspamd/dkim/)
	 * and the mail_crypt keys live here; the last are required */
	rc = dms_crypt_require(ctx, p, &req);
	if (!rc)
		rc = files_source(cfg, sec, "config", "files", p, req.data);
	mbi_buf_release(&req);
	free(p);
	return rc;
}

/* A copy of a section: expanding a preset appends sections, which moves
 * cfg->secs, so the preset's own section must not be read from there. */
static void section_free(struct mbi_section *s)
{
	size_t i;

	for (i = 0; i < s->nkv; i++) {
		free(s->kv[i].key);
		if (s->kv[i].value)
			explicit_bzero(s->kv[i].value, strlen(s->kv[i].value));
		free(s->kv[i].value);
	}
	free(s->kv);
	free(s->kind);
	free(s->name);
	memset(s, 0, sizeof(*s));
}

static int section_dup(const struct mbi_section *from, struct mbi_section *to)
{
	size_t i;

	memset(to, 0, sizeof(*to));
	to->kind = strdup(from->kind);
	to->name = mbi_strdup(from->name);
	to->line = from->line;
	to->kv = calloc(from->nkv + 1, sizeof(*to->kv));
	if (!to->kind || !to->kv || (from->name && !to->name)) {
		section_free(to);
		return MB_E_NOMEM;
	}
	for (i = 0; i < from->nkv; i++) {
		to->kv[i].key = strdup(from->kv[i].key);
		to->kv[i].value = strdup(from->kv[i].value);
		to->kv[i].line = from->kv[i].line;
		to->nkv++;
		if (!to->kv[i].key || !to->kv[i].value) {
			section_free(to);
			return MB_E_NOMEM;
		}
	}
	return MB_OK;
}

int mbi_presets_expand(struct mb_ctx *ctx, const char *file,
		       struct mbi_config *cfg)
{
	size_t i, n = cfg->nsecs;
	int rc = MB_OK;

	for (i = 0; !rc && i < n; i++) {
		struct mbi_section sec;
		const char *type;

		if (strcmp(cfg->secs[i].kind, "source"))
			continue;
		type = mbi_section_get(&cfg->secs[i], "type");
		if (!type || strncmp(type, "preset:", 7))
			continue;
		if ((rc = section_dup(&cfg->secs[i], &sec)))
			break;
		type = mbi_section_get(&sec, "type");
		if (!strcmp(type, "preset:mailcow"))
			rc = expand_mailcow(ctx, file, cfg, &sec);
		else if (!strcmp(type, "preset:docker-mailserver"))
			rc = expand_dms(ctx, file, cfg, &sec);
		else
			rc = mbi_error(ctx, MB_E_CONFIG, 0,
				       "%s:%d: unknown preset '%s' (preset:mailcow, preset:docker-mailserver)",
				       file, sec.line, type + 7);
		section_free(&sec);
		if (!rc) {
			/* the preset itself is no source: mark it so */
			free(cfg->secs[i].kind);
			cfg->secs[i].kind = strdup("preset");
			if (!cfg->secs[i].kind)
				rc = MB_E_NOMEM;
		}
	}
	return rc;
}
