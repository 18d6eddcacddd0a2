/* SPDX-License-Identifier: MIT */
/* cmd-backup.c: mailbackup backup. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static int parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s && !*end) {
		*out = v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || (*end && strcmp(end, "Z")))
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* The environment of post_backup and on_failure: see hooks/README.md. */
struct hook_env {
	char buf[9][160];
	char error[1200];
	const char *v[11];
	size_t n;
};

static void he_add(struct hook_env *he, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void he_add(struct hook_env *he, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(he->buf[he->n], sizeof(he->buf[he->n]), fmt, ap);
	va_end(ap);
	he->v[he->n] = he->buf[he->n];
	he->n++;
}

static const char *const *hook_env(struct hook_env *he, const char *status,
				   int exit_code,
				   const struct mb_backup_result *res,
				   double seconds, const char *error)
{
	static const struct mb_backup_result none = MB_BACKUP_RESULT_INIT;

	if (!res)
		res = &none;
	he->n = 0;
	he_add(he, "MAILBACKUP_STATUS=%s", status);
	he_add(he, "MAILBACKUP_EXIT_CODE=%d", exit_code);
	he_add(he, "MAILBACKUP_SECONDS=%.0f", seconds);
	he_add(he, "MAILBACKUP_SNAPSHOT_ID=%s", res->id);
	he_add(he, "MAILBACKUP_FILES=%llu", (unsigned long long)res->files);
	he_add(he, "MAILBACKUP_BYTES_NEW=%llu",
	       (unsigned long long)res->bytes_new);
	he_add(he, "MAILBACKUP_BYTES_STORED=%llu",
	       (unsigned long long)res->bytes_stored);
	he_add(he, "MAILBACKUP_WARNINGS=%llu",
	       (unsigned long long)res->warnings);
	{
		/* hooks mail or print it: no raw control bytes of a name */
		char *q = quote_message_dup(error ? error : "");

		snprintf(he->error, sizeof(he->error), "MAILBACKUP_ERROR=%s",
			 q ? q : "");
		free(q);
	}
	he->v[he->n++] = he->error;
	he->v[he->n] = NULL;
	return he->v;
}

/* A hook's failure after the backup is a warning: the run's outcome
 * stands. */
static void run_hook(struct cli *cli, const char *name,
		     const char *const *env)
{
	if (mb_hooks_run(cli->ctx, name, env, NULL))
		out_msg(MB_LOG_WARNING, "%s", mb_ctx_errmsg(cli->ctx));
}

/* The end of a failed run: metrics, then on_failure with the error. res is
 * NULL when nothing was backed up. */
static int backup_failed(struct cli *cli, int exit_code, const char *error,
			 const struct mb_backup_result *res, bool json)
{
	struct hook_env he;
	double secs = out_now() - cli->t0;

	if (json) {
		printf("{\"ok\":false,\"status\":\"failed\",\"exit_code\":%d,"
		       "\"error\":", exit_code);
		out_json_str(stdout, error);
		printf("}\n");
		cli->json_out = true;
	}

	out_metrics(cli, exit_code);
	run_hook(cli, "on_failure",
		 hook_env(&he, "failed", exit_code, res, secs, error));
	return exit_code;
}

/* The summary, printed once everything after the commit (prune, copies)
 * has run: status "ok", "partial" (items unread), "warnings" (a prune
 * or copy step failed; error says which) or "failed" (a configuration
 * error in the prune step), the exit code, and whether the
 * prune step was skipped (another host's lock: exit 0). */
static void print_json(const struct mb_backup_result *res, const char *status,
		       int exit_code, const char *error, bool prune_skipped)
{
	printf("{\"id\":\"%s\",\"snapshot\":", res->id);
	out_json_str(stdout, res->name);
	printf(",\"files\":%llu,\"dirs\":%llu,\"bytes_total\":%llu,"
	       "\"bytes_read\":%llu,\"bytes_new\":%llu,"
	       "\"files_new\":%llu,\"bytes_stored\":%llu,"
	       "\"packs\":%llu,\"warnings\":%llu,\"seconds\":%.3f,"
	       "\"status\":\"%s\",\"exit_code\":%d",
	       (unsigned long long)res->files,
	       (unsigned long long)res->dirs,
	       (unsigned long long)res->bytes_total,
	       (unsigned long long)res->bytes_read,
	       (unsigned long long)res->bytes_new,
	       (unsigned long long)res->files_new,
	       (unsigned long long)res->bytes_stored,
	       (unsigned long long)res->packs,
	       (unsigned long long)res->warnings, res->seconds, status,
	       exit_code);
	if (prune_skipped)
		printf(",\"prune_skipped\":true");
	if (exit_code && *error) {
		printf(",\"error\":");
		out_json_str(stdout, error);
	}
	printf("}\n");
}

/* backup --copy-to FILE...: the snapshot just committed, to each
 * destination in turn. A failure is a warning (the snapshot is committed:
 * no exit code may invite a retry); non-zero when one failed. */
static int copy_after(struct cli *cli, const struct mb_backup_result *res,
		      const char **to, size_t n, char *error, size_t esize)
{
	const char *snap[1] = { res->id };
	struct mb_copy_result cr = MB_COPY_RESULT_INIT;
	int failed = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		struct mb_copy_opts o = MB_COPY_OPTS_INIT;

		o.to_config = to[i];
		o.snapshots = snap;
		o.nsnapshots = 1;
		if (!mb_copy(cli->ctx, &o, &cr)) {
			if (cli->verbosity > 0)
				out_msg(MB_LOG_INFO,
					"snapshot %s copied to '%s': %llu packs",
					res->id, to[i],
					(unsigned long long)cr.packs_copied);
			continue;
		}
		failed = 1;
		snprintf(error, esize, "%s", mb_ctx_errmsg(cli->ctx));
		out_msg(MB_LOG_WARNING,
			"snapshot %s is committed; its copy to '%s' failed: %s (run 'mailbackup copy --to %s' later)",
			res->id, to[i], error, to[i]);
	}
	return failed;
}

static void json_summary(struct cli *cli, bool json, bool partial,
			 const struct mb_backup_result *res, int ec,
			 const char *error)
{
	if (!json)
		return;
	print_json(res, partial ? "partial" : ec == 3 ? "warnings" :
		   ec ? "failed" : "ok", ec, error,
		   cli->metrics.prune_skipped == 1);
	cli->json_out = true;
}

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "time", required_argument, NULL, 't' },
		{ "source", required_argument, NULL, 's' },
		{ "prune", no_argument, NULL, 'p' },
		{ "wait", required_argument, NULL, 'w' },
		{ "copy-to", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	struct mb_backup_opts bo = MB_BACKUP_OPTS_INIT;
	struct mb_backup_result res = MB_BACKUP_RESULT_INIT;
	const char **sources = calloc((size_t)argc + 1, sizeof(*sources));
	const char **copy_to = calloc((size_t)argc + 1, sizeof(*copy_to));
	char error[1024];
	struct hook_env he;
	size_t ns = 0, nc = 0;
	bool json = false, prune = false, partial;
	int opt, rc, ec;

	if (!sources || !copy_to) {
		free(sources);
		free(copy_to);
		return 1;
	}
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 't':
			if (parse_time(optarg, &bo.time)) {
				free(sources);
				free(copy_to);
				return out_usage("backup",
						 "bad --time '%s': use epoch seconds or YYYY-MM-DDTHH:MM:SSZ",
						 optarg);
			}
			/* 0 would mean "now" to the library */
			if (bo.time < 946684800) {
				free(sources);
				free(copy_to);
				return out_usage("backup",
						 "bad --time '%s': snapshot times before 2000-01-01T00:00:00Z are refused",
						 optarg);
			}
			break;
		case 's':
			sources[ns++] = optarg;
			break;
		case 'C':
			copy_to[nc++] = optarg;
			break;
		case 'p':
			prune = true;
			break;
		case 'w':
			if (parse_seconds(optarg, &bo.wait)) {
				free(sources);
				free(copy_to);
				return out_usage("backup",
						 "--wait takes a duration (90s, 15m, 2h)");
			}
			break;
		default:
			free(sources);
			free(copy_to);
			return out_usage("backup", "bad option");
		}
	}
	if (optind != argc) {
		free(sources);
		free(copy_to);
		return out_usage("backup", "unexpected argument '%s'",
				 argv[optind]);
	}
	if (ns)
		bo.sources = sources;

	/* pre_backup runs inside, under the repository lock */
	bo.pre_backup_hook = 1;
	rc = mb_backup(cli->ctx, &bo, &res);
	free(sources);
	if (rc && rc != MB_E_PARTIAL) {
		snprintf(error, sizeof(error), "%s", *mb_ctx_errmsg(cli->ctx) ?
			 mb_ctx_errmsg(cli->ctx) : mb_strstatus(rc));
		ec = out_fail(cli, rc);
		free(copy_to);
		return backup_failed(cli, ec, error, NULL, json);
	}
	cli->metrics.files = (int64_t)res.files;
	cli->metrics.bytes_new = (int64_t)res.bytes_new;
	cli->metrics.bytes_stored = (int64_t)res.bytes_stored;
	if (!json && cli->verbosity > 0)
		out_msg(MB_LOG_INFO,
			"snapshot %s saved: %llu files, %.1f MiB read, %.1f MiB new, %.1f MiB stored in %.1f s",
			res.id, (unsigned long long)res.files,
			(double)res.bytes_read / 1048576.0,
			(double)res.bytes_new / 1048576.0,
			(double)res.bytes_stored / 1048576.0, res.seconds);
	*error = '\0';
	ec = 0;
	partial = rc == MB_E_PARTIAL;
	if (partial) {
		/* not a clean run: nothing removed */
		ec = out_fail(cli, rc);
		snprintf(error, sizeof(error),
			 "%llu item(s) could not be read",
			 (unsigned long long)res.warnings);
	} else if (prune) {
		/* never the snapshot just made, whatever its time says */
		struct mb_forget_opts fo = MB_FORGET_OPTS_INIT;
		struct mb_forget_result fr = MB_FORGET_RESULT_INIT;

		fo.keep = res.name;
		cli->metrics.prune_skipped = 0;
		rc = mb_forget(cli->ctx, &fo, NULL, NULL, &fr);
		if (rc) {
			ec = out_fail(cli, rc);
		} else {
			if (cli->verbosity > 0)
				out_msg(MB_LOG_INFO,
					"%llu snapshots kept, %llu removed",
					(unsigned long long)fr.kept,
					(unsigned long long)fr.removed);
			ec = prune_run(cli, 10, 0, false, false);
		}
		if (ec) {
			/* the snapshot is committed: no exit code may invite a
			 * retry (that would make a second one). A prune that
			 * lost the race for the lock is for the next night. */
			snprintf(error, sizeof(error), "%s",
				 mb_ctx_errmsg(cli->ctx));
			out_msg(MB_LOG_WARNING,
				"snapshot %s is committed; its prune step did not run: %s",
				res.id, error);
			cli->metrics.prune_skipped = 1;
			if (ec != 5 && ec != 1) {
				/* a configuration error stays one */
				free(copy_to);
				json_summary(cli, json, partial, &res, ec,
					     error);
				return backup_failed(cli, ec, error, &res,
						     false);
			}
			ec = ec == 5 ? 0 : 3;
		}
	}
	if (copy_after(cli, &res, copy_to, nc, error, sizeof(error)) && !ec)
		ec = 3;
	free(copy_to);
	json_summary(cli, json, partial, &res, ec, error);
	out_metrics(cli, ec);
	run_hook(cli, "post_backup",
		 hook_env(&he, ec ? "partial" : "ok", ec, &res,
			  out_now() - cli->t0, error));
	return ec;
}
