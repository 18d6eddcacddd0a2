/* SPDX-License-Identifier: MIT */
/* util.c: buffers, strings, escaping, time and careful file helpers. */
#include "mb-private.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

int mbi_buf_reserve(struct mbi_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX / 2 - b->len)
		return MB_E_NOMEM;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return MB_OK;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return MB_E_NOMEM;
	b->data = p;
	b->cap = cap;
	return MB_OK;
}

int mbi_buf_add(struct mbi_buf *b, const void *p, size_t n)
{
	if (mbi_buf_reserve(b, n))
		return MB_E_NOMEM;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return MB_OK;
}

int mbi_buf_addstr(struct mbi_buf *b, const char *s)
{
	return mbi_buf_add(b, s, strlen(s));
}

int mbi_buf_printf(struct mbi_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || mbi_buf_reserve(b, (size_t)n))
		return MB_E_NOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return MB_OK;
}

void mbi_buf_release(struct mbi_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void mbi_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* hexval() as a table, for the hashes of a whole index or manifest: the
 * value of each hex digit, 0x10 and up for anything else */
static unsigned char hex_table[256];
static pthread_once_t hex_once = PTHREAD_ONCE_INIT;

static void hex_table_init(void)
{
	int c;

	for (c = 0; c < 256; c++) {
		int v = hexval((char)c);

		hex_table[c] = (unsigned char)(v < 0 ? 0xff : v);
	}
}

int mbi_unhex(const char *in, size_t n, unsigned char *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i;

	pthread_once(&hex_once, hex_table_init);
	for (i = 0; i < n; i++) {
		unsigned hi = hex_table[p[2 * i]], lo = hex_table[p[2 * i + 1]];

		if ((hi | lo) & 0xf0)
			return MB_E_INVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return MB_OK;
}

void mbi_random_hex(char *out, size_t nbytes)
{
	unsigned char r[64];
	size_t got = 0;

	if (nbytes > sizeof(r))
		nbytes = sizeof(r);
	while (got < nbytes) {
		ssize_t n = getrandom(r + got, nbytes - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			abort(); /* no entropy at all: nothing sane to do */
		}
		got += (size_t)n;
	}
	mbi_hex(r, nbytes, out);
}

char *mbi_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *mbi_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

char **mbi_split_words(const char *s, size_t *n)
{
	char **v = NULL;
	size_t cnt = 0;

	while (s && *s) {
		size_t len;
		char **nv;

		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		len = strcspn(s, " \t,");
		if (!len)
			break;
		nv = realloc(v, (cnt + 2) * sizeof(*v));
		if (!nv)
			goto fail;
		v = nv;
		v[cnt] = strndup(s, len);
		if (!v[cnt])
			goto fail;
		v[++cnt] = NULL;
		s += len;
	}
	*n = cnt;
	if (!v)
		v = calloc(1, sizeof(*v));
	return v;
fail:
	mbi_strv_free(v, cnt);
	*n = 0;
	return NULL;
}

void mbi_strv_free(char **v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int mbi_escape(struct mbi_buf *b, const char *s, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t i = 0;

	if (mbi_buf_reserve(b, n))
		return MB_E_NOMEM;
	while (i < n) {
		size_t run = 0;
		unsigned char c;

		/* a run of bytes that stand for themselves, copied at once */
		while (i + run < n) {
			c = (unsigned char)s[i + run];
			if (c <= 0x20 || c == '%' || c == 0x7f)
				break;
			run++;
		}
		if (run && mbi_buf_add(b, s + i, run))
			return MB_E_NOMEM;
		i += run;
		if (i < n) {
			char esc[3];

			c = (unsigned char)s[i++];
			esc[0] = '%';
			esc[1] = hx[c >> 4];
			esc[2] = hx[c & 15];
			if (mbi_buf_add(b, esc, 3))
				return MB_E_NOMEM;
		}
	}
	return MB_OK;
}

ssize_t mbi_unescape(char *s)
{
	char *r = s, *w = s;

	while (*r) {
		if (*r == '%') {
			int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);

			if (lo < 0 || (hi == 0 && lo == 0))
				return -1;
			*w++ = (char)(hi << 4 | lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return w - s;
}

bool mbi_path_is_safe(const char *p)
{
	if (!p || !*p || *p == '/')
		return false;
	for (;;) {
		size_t len = strcspn(p, "/");

		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!p[len])
			return true;
		p += len + 1;
	}
}

int mbi_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t mbi_read_full(int fd, void *p, size_t n)
{
	char *c = p;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, c + got, n - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int mbi_mkdir_p(const char *path, mode_t mode)
{
	char *p = strdup(path), *s;
	int rc = 0;

	if (!p)
		return -1;
	for (s = p + 1; ; s++) {
		if (*s == '/' || !*s) {
			char c = *s;

			*s = '\0';
			if (mkdir(p, mode) && errno != EEXIST) {
				rc = -1;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

int mbi_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int mbi_write_file_atomic(struct mb_ctx *ctx, const char *path, const void *p,
			  size_t n, mode_t mode)
{
	struct iovec one = { (void *)p, n };

	return mbi_write_file_atomicv(ctx, path, &one, 1, mode);
}

int mbi_atomic_open(struct mb_ctx *ctx, const char *path, mode_t mode,
		    char **tmp_out)
{
	char *tmp = mbi_asprintf("%s.tmp-%d", path, (int)getpid());
	int fd;

	*tmp_out = NULL;
	if (!tmp)
		return MB_E_NOMEM;
	/* a name planted there (a link to a file elsewhere, hard or
	 * symbolic) is removed, never written through */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  mode);
	if (fd < 0 || fchmod(fd, mode)) {
		int rc = mbi_error(ctx, MB_E_IO, errno, "cannot create '%s'",
				   tmp);

		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		free(tmp);
		return rc;
	}
	*tmp_out = tmp;
	return fd;
}

int mbi_atomic_commit(struct mb_ctx *ctx, int fd, char *tmp,
		      const char *path, bool ok)
{
	char *dir = NULL, *slash;
	int rc = MB_OK;

	if (!ok || fsync(fd)) {
		rc = ok ? mbi_error(ctx, MB_E_IO, errno, "cannot write '%s'",
				    tmp) : MB_E_IO;
		close(fd);
		goto out;
	}
	if (close(fd)) {
		rc = mbi_error(ctx, MB_E_IO, errno, "cannot write '%s'", tmp);
		goto out;
	}
	if (rename(tmp, path)) {
		rc = mbi_error(ctx, MB_E_IO, errno, "cannot rename to '%s'",
			       path);
		goto out;
	}
	dir = strdup(path);
	if (dir && (slash = strrchr(dir, '/'))) {
		*slash = '\0';
		mbi_fsync_dir(*dir ? dir : "/");
	} else {
		mbi_fsync_dir(".");
	}
out:
	if (rc)
		unlink(tmp);
	free(tmp);
	free(dir);
	return rc;
}

int mbi_write_file_atomicv(struct mb_ctx *ctx, const char *path,
			   const struct iovec *iov, size_t niov, mode_t mode)
{
	char *tmp;
	int fd = mbi_atomic_open(ctx, path, mode, &tmp);
	bool ok = true;
	size_t i;

	if (fd < 0)
		return fd;
	for (i = 0; ok && i < niov; i++)
		ok = !mbi_write_all(fd, iov[i].iov_base, iov[i].iov_len);
	if (!ok)
		mbi_error(ctx, MB_E_IO, errno, "cannot write '%s'", tmp);
	return mbi_atomic_commit(ctx, fd, tmp, path, ok);
}

int mbi_read_file(struct mb_ctx *ctx, const char *path, struct mbi_buf *out,
		  size_t max)
{
	return mbi_read_file_flags(ctx, path, 0, out, max);
}

int mbi_read_file_flags(struct mb_ctx *ctx, const char *path, int flags,
			struct mbi_buf *out, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
	struct mbi_buf b = { 0 };
	int rc = MB_OK;

	if (fd < 0) {
		if (errno == ENOENT)
			return mbi_error(ctx, MB_E_NOTFOUND, 0,
					 "'%s' not found", path);
		return mbi_error(ctx, MB_E_IO, errno, "cannot open '%s'", path);
	}
	for (;;) {
		ssize_t r;

		if (mbi_buf_reserve(&b, 65536)) {
			rc = MB_E_NOMEM;
			break;
		}
		r = read(fd, b.data + b.len, 65536);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = mbi_error(ctx, MB_E_IO, errno, "cannot read '%s'",
				       path);
			break;
		}
		if (r == 0)
			break;
		b.len += (size_t)r;
		b.data[b.len] = '\0';
		if (b.len > max) {
			rc = mbi_error(ctx, MB_E_IO, 0, "'%s' is too large",
				       path);
			break;
		}
	}
	close(fd);
	if (rc)
		mbi_buf_release(&b);
	else
		*out = b;
	return rc;
}

void mbi_time_format(int64_t t, char *out, size_t n, bool compact)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(out, n, compact ? "%Y%m%dT%H%M%SZ" : "%Y-%m-%dT%H:%M:%SZ",
		 &tm);
}

int mbi_time_parse(const char *s, int64_t *out)
{
	struct tm tm;
	const char *end;
	char *e;
	long long v;

	memset(&tm, 0, sizeof(tm));
	/* plain epoch seconds */
	errno = 0;
	v = strtoll(s, &e, 10);
	if (*s && !*e && !errno) {
		*out = v;
		return MB_OK;
	}
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		end = strptime(s, "%Y%m%dT%H%M%S", &tm);
	if (!end)
		end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (!end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (!end || (*end && strcmp(end, "Z") != 0))
		return MB_E_INVAL;
	*out = (int64_t)timegm(&tm);
	return MB_OK;
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

int mbi_parse_rate(const char *s, uint64_t *out)
{
	char buf[64];
	size_t n;
	uint64_t v;

	if (!s)
		return MB_E_INVAL;
	n = strlen(s);
	/* "5M/s" reads like "5M" */
	if (n >= 2 && !strcmp(s + n - 2, "/s"))
		n -= 2;
	if (!n || n >= sizeof(buf))
		return MB_E_INVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (mbi_parse_size(buf, &v) || !v)
		return MB_E_INVAL;
	*out = v;
	return MB_OK;
}

void mbi_boot_id(char out[40])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	snprintf(out, 40, "-");
	if (f) {
		if (!fgets(out, 40, f))
			snprintf(out, 40, "-");
		out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
}

void mbi_rm_tree_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		unlinkat(dirfd, name, 0);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			mbi_rm_tree_at(fd, de->d_name);
	closedir(d);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

int mbi_strv_push(char ***v, size_t *n, size_t *cap, char *s)
{
	if (!s)
		return MB_E_NOMEM;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		char **nv = realloc(*v, nc * sizeof(*nv));

		if (!nv) {
			free(s);
			return MB_E_NOMEM;
		}
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = s;
	return MB_OK;
}
