/* SPDX-License-Identifier: MIT */
/* cmd-snapshots.c: mailbackup snapshots and mailbackup ls. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void fmt_time(int64_t t, char *buf, size_t n)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cmd_snapshots(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "host", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	struct mb_snapshot_info *v;
	size_t n, i, shown = 0;
	const char *host = NULL;
	bool json = false;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'j') {
			json = true;
		} else if (opt == 'H') {
			if ((rc = out_set_host(cli, "snapshots", optarg)))
				return rc;
			/* the listing shows every host unless one is named */
			host = strcmp(optarg, "all") ? optarg : NULL;
		} else {
			return out_usage("snapshots", "bad option");
		}
	}
	if (optind != argc)
		return out_usage("snapshots", "unexpected argument");
	rc = mb_snapshots(cli->ctx, &v, &n);
	if (rc)
		return out_fail(cli, rc);
	if (json)
		printf("[");
	for (i = 0; i < n; i++) {
		char t[32];

		if (host && strcmp(v[i].host, host))
			continue;
		fmt_time(v[i].time, t, sizeof(t));
		if (json) {
			printf("%s{\"id\":", shown++ ? "," : "");
			out_json_str(stdout, v[i].id);
			printf(",\"time\":\"%s\",\"host\":", t);
			out_json_str(stdout, v[i].host);
			printf(",\"name\":");
			out_json_str(stdout, v[i].name);
			printf("}");
		} else {
			quote_name(stdout, v[i].id);
			printf("  %s  ", t);
			quote_name(stdout, v[i].host);
			putchar('\n');
		}
	}
	if (json)
		printf("]\n");
	free(v);
	return 0;
}

struct ls_opts {
	bool longfmt;
	bool json, first;
	struct mail_filter mf;
	unsigned long shown;
};

static void json_entry(struct ls_opts *o, const struct mb_entry *e)
{
	printf("%s{\"source\":", o->first ? "" : ",");
	out_json_str(stdout, e->source);
	printf(",\"path\":");
	out_json_str(stdout, e->path);
	printf(",\"type\":\"%c\",\"mode\":%u,\"uid\":%u,\"gid\":%u,"
	       "\"mtime_ns\":%lld,\"size\":%llu", e->type, e->mode, e->uid,
	       e->gid, (long long)e->mtime_ns, (unsigned long long)e->size);
	if (e->sha256)
		printf(",\"sha256\":\"%s\"", e->sha256);
	if (e->link) {
		printf(",\"link\":");
		out_json_str(stdout, e->link);
	}
	putchar('}');
	o->first = false;
}

static int print_entry(void *ud, const struct mb_entry *e)
{
	struct ls_opts *o = ud;

	if (!mail_filter_match(&o->mf, e->path))
		return 0;
	o->shown++;
	if (o->json) {
		/* the array opens with the first entry: a failure before it
		 * leaves stdout to the failure object */
		if (o->first)
			putchar('[');
		json_entry(o, e);
		return 0;
	}
	if (o->longfmt) {
		char t[32];

		fmt_time(e->mtime_ns / 1000000000, t, sizeof(t));
		printf("%c %04o %u:%u %12llu %s %s ", e->type, e->mode,
		       e->uid, e->gid, (unsigned long long)e->size, t,
		       e->sha256 ? e->sha256 : "-");
	}
	if (!strcmp(e->path, ".")) {
		quote_name(stdout, e->source);
	} else {
		quote_path(stdout, e->source, e->path);
	}
	if (o->longfmt && e->link) {
		fputs(" -> ", stdout);
		quote_name(stdout, e->link);
	}
	putchar('\n');
	return 0;
}

/* A header value as one line of text: control characters escaped. */
static void put_field(const char *s)
{
	if (!s || !*s) {
		putchar('-');
		return;
	}
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			printf("\\x%02x", (unsigned char)*s);
		else
			putchar(*s);
}

static void json_field(const char *name, const char *v)
{
	printf(",\"%s\":", name);
	if (v)
		out_json_str(stdout, v);
	else
		printf("null");
}

static int print_message(void *ud, const struct mb_message *m)
{
	struct ls_opts *o = ud;

	o->shown++;
	if (o->json) {
		printf("%s{\"folder\":", o->first ? "" : ",");
		out_json_str(stdout, m->folder);
		json_field("name", m->name);
		json_field("flags", m->flags);
		json_field("date", m->date);
		json_field("from", m->from);
		json_field("subject", m->subject);
		printf(",\"size\":%llu,\"encrypted\":%s}",
		       (unsigned long long)m->size,
		       m->encrypted ? "true" : "false");
		o->first = false;
		return 0;
	}
	put_field(m->folder);
	putchar('\t');
	if (m->encrypted) {
		printf("(encrypted by mail_crypt)\t-\t-");
	} else {
		put_field(m->date);
		putchar('\t');
		put_field(m->from);
		putchar('\t');
		put_field(m->subject);
	}
	printf("\t%llu\t", (unsigned long long)m->size);
	put_field(m->flags);
	putchar('\n');
	return 0;
}

static int ls_messages(struct cli *cli, struct ls_opts *o, const char *spec,
		       const char *source, const char *mailbox)
{
	int rc;

	if (!mailbox)
		return out_usage("ls", "--messages needs --mailbox USER@DOMAIN");
	if (o->json)
		putchar('[');
	rc = mb_ls_messages(cli->ctx, spec, source, mailbox, o->mf.folders,
			    o->mf.nfolders, print_message, o);
	if (o->json)
		printf("]\n");
	if (rc && rc != MB_E_PARTIAL)
		return out_fail(cli, rc);
	if (!o->shown) {
		fprintf(stderr, "mailbackup: error: no message of mailbox '%s'%s in snapshot '%s'\n",
			mailbox, o->mf.nfolders ? " (in the folders given)" : "",
			spec);
		return 1;
	}
	return rc ? out_fail(cli, rc) : 0;
}

int cmd_ls(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "long", no_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "host", required_argument, NULL, 'H' },
		{ "mailbox", required_argument, NULL, 'm' },
		{ "folder", required_argument, NULL, 'f' },
		{ "messages", no_argument, NULL, 'M' },
		{ "source", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct ls_opts o = { false, false, true, { "ls", NULL, 0, NULL, NULL },
			     0 };
	const char *mailbox = NULL, *source = NULL;
	bool messages = false;
	int opt, rc = 0;

	o.mf.folders = calloc((size_t)argc + 1, sizeof(*o.mf.folders));
	if (!o.mf.folders)
		return out_fail(cli, MB_E_NOMEM);
	optind = 0;
	while ((opt = getopt_long(argc, argv, "l", opts, NULL)) != -1) {
		if (opt == 'l')
			o.longfmt = true;
		else if (opt == 'j')
			o.json = true;
		else if (opt == 'H')
			rc = out_set_host(cli, "ls", optarg);
		else if (opt == 'm')
			mailbox = optarg;
		else if (opt == 'f')
			o.mf.folders[o.mf.nfolders++] = optarg;
		else if (opt == 'M')
			messages = true;
		else if (opt == 's')
			source = optarg;
		else
			rc = out_usage("ls", "bad option");
		if (rc || !strchr("ljHmfMs", opt))
			goto out;
	}
	rc = 0;
	if (argc - optind < 1 || argc - optind > 2)
		rc = out_usage("ls", "ls needs SNAPSHOT [PATH]");
	else if (mailbox && argc - optind == 2)
		rc = out_usage("ls", "--mailbox goes without PATH");
	if (rc || (rc = mail_filter_init(cli, &o.mf, mailbox)))
		goto out;
	if (messages) {
		rc = ls_messages(cli, &o, argv[optind], source, mailbox);
		goto out;
	}
	rc = mb_ls(cli->ctx, argv[optind],
		   argc - optind == 2 ? argv[optind + 1] : NULL, print_entry,
		   &o);
	if (o.json && (!rc || !o.first)) {
		printf("%s]\n", o.first ? "[" : "");
		cli->json_out = true;
	}
	if (!rc && mailbox && !o.shown) {
		out_msg(MB_LOG_ERROR, "nothing of mailbox '%s'%s in snapshot '%s'",
			mailbox, o.mf.nfolders ? " (of the folders given)" : "",
			argv[optind]);
		rc = 1;
	} else if (rc) {
		rc = out_fail(cli, rc);
	}
out:
	mail_filter_release(&o.mf);
	return rc;
}
