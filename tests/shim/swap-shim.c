/* SPDX-License-Identifier: MIT */
/* swap-shim.c: an LD_PRELOAD shim for the hostile-storage tests. When a
 * process has read a file below $MB_SWAP_DIR to its end, the shim rewrites
 * the middle of that file, as an attacker racing between a hash and a
 * second read would (reads by read() and by sendfile()); it logs "swapped PATH" and, for every later read that
 * returns bytes of a swapped file, "reread PATH" to $MB_SWAP_LOG. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SWAPPED 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *swapped[MAX_SWAPPED];
static int nswapped;

static ssize_t (*real_read_fn)(int, void *, size_t);

static ssize_t real_read(int fd, void *buf, size_t n)
{
	if (!real_read_fn)
		real_read_fn = (ssize_t (*)(int, void *, size_t))
			dlsym(RTLD_NEXT, "read");
	return real_read_fn(fd, buf, n);
}

static void log_line(const char *what, const char *path)
{
	const char *log = getenv("MB_SWAP_LOG");
	FILE *f;

	if (!log || !(f = fopen(log, "a")))
		return;
	fprintf(f, "%s %s\n", what, path);
	fclose(f);
}

static int is_swapped(const char *path)
{
	int i;

	for (i = 0; i < nswapped; i++)
		if (!strcmp(swapped[i], path))
			return 1;
	return 0;
}

static void rewrite(const char *path)
{
	char junk[4096];
	struct stat st;
	int w = open(path, O_WRONLY | O_CLOEXEC);

	if (w < 0)
		return;
	memset(junk, 0x55, sizeof(junk));
	if (!fstat(w, &st) && st.st_size > 0 &&
	    pwrite(w, junk, st.st_size / 2 > (off_t)sizeof(junk) ?
		   sizeof(junk) : (size_t)(st.st_size / 2),
		   st.st_size / 2) > 0)
		log_line("swapped", path);
	close(w);
}

static void after_read(int fd, ssize_t r)
{
	const char *dir = getenv("MB_SWAP_DIR");
	char link[64], path[4096];
	ssize_t n;

	if (!dir || r < 0)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return;
	path[n] = '\0';
	if (strncmp(path, dir, strlen(dir)))
		return;
	pthread_mutex_lock(&lock);
	if (r > 0) {
		if (is_swapped(path))
			log_line("reread", path);
	} else if (!is_swapped(path) && nswapped < MAX_SWAPPED) {
		swapped[nswapped++] = strdup(path);
		rewrite(path);
	}
	pthread_mutex_unlock(&lock);
}

ssize_t read(int fd, void *buf, size_t n)
{
	ssize_t r = real_read(fd, buf, n);

	after_read(fd, r);
	return r;
}

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	(void)buflen;
	return read(fd, buf, n);
}

/* a copy made by the kernel reads the file too */
ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	static ssize_t (*real)(int, int, off_t *, size_t);
	ssize_t r;

	if (!real)
		real = (ssize_t (*)(int, int, off_t *, size_t))
			dlsym(RTLD_NEXT, "sendfile");
	r = real(out, in, off, n);
	after_read(in, r);
	return r;
}
