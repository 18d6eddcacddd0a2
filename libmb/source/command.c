/* SPDX-License-Identifier: MIT */
/* source/command.c: the command source: a command's standard output as one file. */
#include "mb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "banned.h"

int mbi_command_source(struct mb_ctx *ctx, const struct mbi_source *src,
		       struct mbi_emit *em)
{
	const char *cmd = mbi_section_get(src->sec, "command");
	const char *fname = mbi_section_get(src->sec, "filename");
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", NULL, NULL };
	char **envp;
	posix_spawn_file_actions_t fa;
	struct timespec now;
	struct stat st;
	pid_t pid;
	int fd, status, rc;

	if (!cmd || !*cmd)
		return mbi_source_error(ctx, src->name, MB_E_CONFIG, 0,
					"type command needs 'command'");
	if (!fname)
		fname = "stdout";
	if (!mbi_path_is_safe(fname) || strchr(fname, '/'))
		return mbi_source_error(ctx, src->name, MB_E_CONFIG, 0,
					"filename '%s' must be a plain file name",
					fname);
	/* the output's size must be known before it goes into a pack */
	fd = open(em->tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return mbi_source_error(ctx, src->name, MB_E_IO, errno,
					"cannot create a spool file in '%s'",
					em->tmpdir);
	argv[2] = (char *)cmd;
	envp = mbi_env_child(NULL);
	if (!envp) {
		close(fd);
		return MB_E_NOMEM;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	mbi_env_free(envp);
	if (rc) {
		close(fd);
		return mbi_source_error(ctx, src->name, MB_E_IO, rc,
					"cannot run '%s'",
					cmd);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		close(fd);
		if (WIFSIGNALED(status))
			return mbi_source_error(ctx, src->name, MB_E_IO, 0,
						"command '%s' was killed by signal %d: no snapshot committed",
						cmd, WTERMSIG(status));
		return mbi_source_error(ctx, src->name, MB_E_IO, 0,
					"command '%s' exited with status %d: no snapshot committed",
					cmd, WEXITSTATUS(status));
	}
	if (fstat(fd, &st)) {
		rc = mbi_source_error(ctx, src->name, MB_E_IO, errno, "spool file");
		close(fd);
		return rc;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	rc = em->add_file(em, fname, fd, (uint64_t)st.st_size, 0600,
			  (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
	close(fd);
	return rc;
}
