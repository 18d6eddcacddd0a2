/* SPDX-License-Identifier: MIT */
/* cmd-diff.c: mailbackup diff. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct diff_out {
	bool json, summary, first_item, first_source;
	/* the mailboxes of the current source, printed with its total */
	char *mb;
	size_t mblen;
	FILE *mbf;
	/* --mailbox/--folder: only those entries, counted here */
	struct mail_filter mf;
	struct mb_diff_counts fc;
	/* the counts, printed after the entries */
	char *src;
	size_t srclen;
	FILE *srcf;
};

static const char *kind_name(char kind)
{
	switch (kind) {
	case '+':
		return "new";
	case '-':
		return "removed";
	case 'M':
		return "changed";
	default:
		return "flags";
	}
}

static void count_item(struct mb_diff_counts *c, const struct mb_diff_item *it)
{
	if (it->kind == '+') {
		c->new_entries++;
		c->new_bytes += it->size;
	} else if (it->kind == '-') {
		c->removed_entries++;
		c->removed_bytes += it->old_size;
	} else if (it->kind == 'M') {
		c->changed_entries++;
		c->changed_bytes += it->size;
	} else {
		c->flag_changes++;
	}
}

static int on_item(void *ud, const struct mb_diff_item *it)
{
	struct diff_out *o = ud;

	if (o->mf.prefix) {
		if (!mail_filter_match(&o->mf, it->path) &&
		    !(it->old_path && mail_filter_match(&o->mf, it->old_path)))
			return 0;
		count_item(&o->fc, it);
	}
	if (o->summary)
		return 0;
	if (!o->json) {
		const char *slash = strrchr(it->path, '/');
		size_t dl = slash ? (size_t)(slash - it->path) + 1 : 0;

		/* a flag change within cur/: only the new name */
		printf("%c ", it->kind);
		if (it->kind == 'F') {
			quote_path(stdout, it->source, it->old_path);
			fputs(" -> ", stdout);
			/* a flag change within cur/: only the new name */
			if (!strncmp(it->old_path, it->path, dl) &&
			    !strchr(it->old_path + dl, '/'))
				quote_name(stdout, it->path + dl);
			else
				quote_path(stdout, it->source, it->path);
		} else {
			quote_path(stdout, it->source, it->path);
			if (it->type == 'd')
				putchar('/');
		}
		putchar('\n');
		o->first_item = false;
		return 0;
	}
	printf("%s{\"kind\":\"%s\",\"type\":\"%c\",\"source\":",
	       o->first_item ? "" : ",", kind_name(it->kind), it->type);
	out_json_str(stdout, it->source);
	printf(",\"path\":");
	out_json_str(stdout, it->path);
	if (it->old_path) {
		printf(",\"old_path\":");
		out_json_str(stdout, it->old_path);
	}
	if (it->mailbox) {
		printf(",\"mailbox\":");
		out_json_str(stdout, it->mailbox);
	}
	printf(",\"old_size\":%llu,\"size\":%llu}",
	       (unsigned long long)it->old_size,
	       (unsigned long long)it->size);
	o->first_item = false;
	return 0;
}

static void json_counts(FILE *f, const struct mb_diff_counts *c)
{
	fprintf(f,
		"\"new\":%llu,\"new_bytes\":%llu,\"removed\":%llu,"
		"\"removed_bytes\":%llu,\"changed\":%llu,"
		"\"changed_bytes\":%llu,\"flag_changes\":%llu",
		(unsigned long long)c->new_entries,
		(unsigned long long)c->new_bytes,
		(unsigned long long)c->removed_entries,
		(unsigned long long)c->removed_bytes,
		(unsigned long long)c->changed_entries,
		(unsigned long long)c->changed_bytes,
		(unsigned long long)c->flag_changes);
}

static void text_counts(FILE *f, const char *indent, const char *name,
			const struct mb_diff_counts *c)
{
	char a[32], b[32], d[32];

	out_bytes(a, sizeof(a), c->new_bytes);
	out_bytes(b, sizeof(b), c->removed_bytes);
	out_bytes(d, sizeof(d), c->changed_bytes);
	fputs(indent, f);
	quote_name(f, name);
	fprintf(f,
		": %llu new (%s), %llu removed (%s), %llu changed (%s), %llu flag changes\n",
		(unsigned long long)c->new_entries, a,
		(unsigned long long)c->removed_entries, b,
		(unsigned long long)c->changed_entries, d,
		(unsigned long long)c->flag_changes);
}

static int on_group(void *ud, const struct mb_diff_group *g)
{
	struct diff_out *o = ud;

	if (o->mf.prefix)
		return 0; /* counted by on_item */

	if (!o->mbf) {
		o->mbf = open_memstream(&o->mb, &o->mblen);
		if (!o->mbf)
			return MB_E_NOMEM;
	}
	if (g->mailbox) {
		if (o->json) {
			fprintf(o->mbf, "%s{\"mailbox\":", ftell(o->mbf) ?
				"," : "");
			out_json_str(o->mbf, g->mailbox);
			fputc(',', o->mbf);
			json_counts(o->mbf, &g->c);
			fputc('}', o->mbf);
		} else {
			text_counts(o->mbf, "  ", g->mailbox, &g->c);
		}
		return 0;
	}
	if (fclose(o->mbf)) {
		o->mbf = NULL;
		return MB_E_NOMEM;
	}
	o->mbf = NULL;
	if (o->json) {
		fprintf(o->srcf, "%s{\"source\":", o->first_source ? "" : ",");
		out_json_str(o->srcf, g->source);
		fputc(',', o->srcf);
		json_counts(o->srcf, &g->c);
		fprintf(o->srcf, ",\"mailboxes\":[%s]}", o->mb ? o->mb : "");
	} else {
		text_counts(o->srcf, "", g->source, &g->c);
		fputs(o->mb ? o->mb : "", o->srcf);
	}
	free(o->mb);
	o->mb = NULL;
	o->first_source = false;
	return 0;
}

static int diff_run(struct cli *cli, struct diff_out *o_, char **argv);

int cmd_diff(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "summary", no_argument, NULL, 's' },
		{ "host", required_argument, NULL, 'H' },
		{ "mailbox", required_argument, NULL, 'm' },
		{ "folder", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct diff_out o = { .first_item = true, .first_source = true };
	const char *mailbox = NULL;
	int opt, rc;

	o.mf.cmd = "diff";
	o.mf.folders = calloc((size_t)argc + 1, sizeof(*o.mf.folders));
	if (!o.mf.folders)
		return out_fail(cli, MB_E_NOMEM);
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			o.json = true;
			break;
		case 's':
			o.summary = true;
			break;
		case 'H':
			if ((rc = out_set_host(cli, "diff", optarg)))
				return rc;
			break;
		case 'm':
			mailbox = optarg;
			break;
		case 'f':
			o.mf.folders[o.mf.nfolders++] = optarg;
			break;
		default:
			mail_filter_release(&o.mf);
			return out_usage("diff", "bad option");
		}
	}
	rc = argc - optind != 2 ? out_usage("diff", "diff needs two snapshots") :
				  mail_filter_init(cli, &o.mf, mailbox);
	if (rc) {
		mail_filter_release(&o.mf);
		return rc;
	}
	rc = diff_run(cli, &o, argv + optind);
	mail_filter_release(&o.mf);
	return rc;
}

static int diff_run(struct cli *cli, struct diff_out *o_, char **argv)
{
	struct diff_out o = *o_;
	struct mb_snapshot_info a, b;
	struct mb_diff_counts total;
	int rc, optind = 0;

	if (o.json) {
		/* name the snapshots by id, whatever the specs were */
		if ((rc = mb_snapshot_find(cli->ctx, argv[optind], &a)) ||
		    (rc = mb_snapshot_find(cli->ctx, argv[optind + 1], &b)))
			return out_fail(cli, rc);
		printf("{\"a\":");
		out_json_str(stdout, a.id);
		printf(",\"b\":");
		out_json_str(stdout, b.id);
		printf(",\"entries\":[");
	}
	o.srcf = open_memstream(&o.src, &o.srclen);
	if (!o.srcf)
		return out_fail(cli, MB_E_NOMEM);
	rc = mb_diff(cli->ctx, argv[optind], argv[optind + 1], on_item,
		     on_group, &o, &total);
	if (o.mbf)
		fclose(o.mbf);
	free(o.mb);
	if (fclose(o.srcf) && !rc)
		rc = MB_E_NOMEM;
	if (rc) {
		if (o.json) {
			printf("]");
			out_json_fail_members(cli, rc);
			printf("}\n");
		}
		free(o.src);
		return out_fail(cli, rc);
	}
	if (o.mf.prefix)
		total = o.fc; /* only the mailbox's (folders') entries */
	if (o.json) {
		printf("],\"sources\":[%s],\"total\":{", o.src);
		json_counts(stdout, &total);
		printf("}}\n");
	} else {
		if (!o.summary && !o.first_item)
			putchar('\n');
		fputs(o.src, stdout);
		text_counts(stdout, "", "total", &total);
	}
	free(o.src);
	return 0;
}
