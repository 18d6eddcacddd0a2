/* SPDX-License-Identifier: MIT */
/* op/restore_test_dovecot_util.c: what the Dovecot check of restore-test needs
 * around doveadm: running it, its message, finding it, JSON strings, and a
 * message that mail_crypt encrypted. */
#include "mb-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env.h"
#include "restore_test_dovecot.h"
#include "banned.h"

void mbi_dc_json(struct mbi_buf *b, const char *s, bool utf8)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			mbi_buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f || (c > 0x7f && !utf8))
			mbi_buf_printf(b, "\\u%04x", c);
		else
			mbi_buf_add(b, s, 1);
	}
}

/* The allow-listed environment, with USER and HOME of ours replaced. */
static char **child_env(const char *home)
{
	char *hv = mbi_asprintf("HOME=%s", home ? home : "/");
	const char *extra[] = { "USER=mailbackup", hv, NULL };
	char **envp, **w, **r, **end;

	envp = hv ? mbi_env_child(extra) : NULL;
	free(hv);
	if (!envp)
		return NULL;
	/* ours first, the two of extra last */
	for (r = envp; *r; r++)
		;
	end = r - 2;
	for (r = w = envp; *r; r++) {
		if (r < end && (!strncmp(*r, "USER=", 5) ||
				!strncmp(*r, "HOME=", 5))) {
			free(*r);
			continue;
		}
		*w++ = *r;
	}
	*w = NULL;
	return envp;
}

int mbi_dc_spawn(char *const argv[], const char *home, const char *out,
		 const char *err)
{
	posix_spawn_file_actions_t fa;
	char **envp = child_env(home);
	pid_t pid;
	int st = 0, rc;

	if (!envp)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT |
					 O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT |
					 O_TRUNC, 0600);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	mbi_env_free(envp);
	if (rc)
		return -1;
	while ((rc = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	return rc == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *mbi_dc_first_line(struct mb_ctx *ctx, const char *path)
{
	struct mbi_buf b = { 0 };
	char *nl, *s;

	if (mbi_read_file(ctx, path, &b, 1 << 16) || !b.data) {
		mbi_buf_release(&b);
		return strdup("no message");
	}
	nl = strchr(b.data, '\n');
	if (nl)
		*nl = '\0';
	s = strdup(*b.data ? b.data : "no message");
	mbi_buf_release(&b);
	return s;
}

bool mbi_dc_on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy = strdup(path ? path : "/usr/bin:/bin"), *d, *save = NULL;
	bool found = false;

	for (d = copy ? strtok_r(copy, ":", &save) : NULL; d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		char *f = mbi_asprintf("%s/%s", d, prog);

		found = f && access(f, X_OK) == 0;
		free(f);
	}
	free(copy);
	return found;
}

long long mbi_dc_count_of(const char *out, const char *imap)
{
	size_t l = strlen(imap);
	const char *p;

	for (p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, imap, l) && p[l] == '\t')
			return strtoll(p + l + 1, NULL, 10);
	return -1;
}

/* The manifest's own copy of the name of a maildir source (entries are
 * parsed into a buffer that is reused), or NULL. */
const char *mbi_dc_maildir_source(const struct mbi_manifest *m,
				  const char *name)
{
	size_t i;

	for (i = 0; i < m->nsources; i++)
		if (!strcmp(m->sources[i].name, name))
			return mbi_source_kind_maildir(m->sources[i].type) ?
			       m->sources[i].name : NULL;
	return NULL;
}

int mbi_dc_cmp_folder(const void *a, const void *b)
{
	const struct dc_folder *fa = a, *fb = b;
	int c = strcmp(fa->source, fb->source);

	if (!c)
		c = strcmp(fa->root, fb->root);
	return c ? c : strcmp(fa->folder, fb->folder);
}

/* A file of dfd that starts with mail_crypt's magic: its GUID. */
static bool crypted_in(int dfd, unsigned *budget, char **guid)
{
	DIR *dir = fdopendir(dfd);
	struct dirent *de;
	bool found = false;

	if (!dir) {
		close(dfd);
		return false;
	}
	while (!found && *budget && (de = readdir(dir))) {
		char magic[7];
		int fd = openat(dirfd(dir), de->d_name, O_RDONLY | O_NOFOLLOW |
				O_NONBLOCK | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, magic, sizeof(magic)) : -1;

		(*budget)--;
		if (fd >= 0)
			close(fd);
		if (n == 7 && !memcmp(magic, "CRYPTED", 7)) {
			/* the GUID: no :2,FLAGS, no ,S=SIZE */
			*guid = strndup(de->d_name, strcspn(de->d_name, ":,"));
			found = *guid != NULL;
		}
	}
	closedir(dir);
	return found;
}

bool mbi_dc_find_crypted(const char *folder, unsigned *budget, char **guid)
{
	static const char *const sub[] = { "cur", "new" };
	size_t s;

	for (s = 0; s < 2 && *budget; s++) {
		char *d = mbi_asprintf("%s/%s", folder, sub[s]);
		int dfd = d ? open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

		free(d);
		if (dfd >= 0 && crypted_in(dfd, budget, guid))
			return true;
	}
	return false;
}
