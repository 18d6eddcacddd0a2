/* SPDX-License-Identifier: MIT */
/* repo/archive_lazy.c: libarchive, loaded when a pack is first written or read. */
#include "mb-private.h"

#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "banned.h"

/*
 * libarchive brings libxml2, ICU and the C++ runtime: linked, the dynamic
 * loader mapped them at every start, about 28 ms of a run on a cold page
 * cache, though a backup without new content, and most commands, never
 * write or read a pack. So libmb is not linked with libarchive: the
 * functions repo/pack.c calls are defined here, open libarchive.so.13 on
 * first use and call through. Without it, archive_write_new and
 * archive_read_new return NULL, which pack.c reports as out of memory
 * would be ("cannot start ..."), and nothing is written.
 */
#define ARCHIVE_SONAME "libarchive.so.13"

#define FNS(X)                                                          \
	X(archive_error_string) X(archive_set_error) X(archive_write_data) \
	X(archive_entry_pathname) X(archive_write_set_format_pax)       \
	X(archive_write_set_format_option)                              \
	X(archive_write_set_bytes_per_block)                            \
	X(archive_write_set_bytes_in_last_block) X(archive_write_open2)  \
	X(archive_write_new) X(archive_write_header) X(archive_write_free) \
	X(archive_write_close) X(archive_read_support_format_tar)       \
	X(archive_read_open) X(archive_read_next_header)                \
	X(archive_read_new) X(archive_read_free) X(archive_read_data_block) \
	X(archive_read_data) X(archive_entry_xattr_reset)               \
	X(archive_entry_xattr_next) X(archive_entry_xattr_add_entry)    \
	X(archive_entry_size) X(archive_entry_set_size)                 \
	X(archive_entry_set_perm) X(archive_entry_set_pathname)         \
	X(archive_entry_set_mtime) X(archive_entry_set_filetype)        \
	X(archive_entry_new) X(archive_entry_free) X(archive_entry_filetype) \
	X(archive_entry_clear)

#define DECL(name) static __typeof__(&name) p_##name;
FNS(DECL)

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;

#define SYM(name)                                                       \
	{                                                               \
		void *s_ = dlsym(lib, #name);                           \
		if (!s_)                                                \
			return;                                         \
		memcpy(&p_##name, &s_, sizeof(s_));                     \
	}

static void load(void)
{
	void *lib = dlopen(ARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!lib)
		return;
	FNS(SYM)
	loaded = true; /* the library stays: its objects live to the end */
}

/* Only archive_write_new and archive_read_new can come first: every other
 * call takes what one of them returned. */
static bool have(void)
{
	pthread_once(&load_once, load);
	return loaded;
}

struct archive *archive_write_new(void)
{
	return have() ? p_archive_write_new() : NULL;
}

struct archive *archive_read_new(void)
{
	return have() ? p_archive_read_new() : NULL;
}

struct archive_entry *archive_entry_new(void)
{
	return have() ? p_archive_entry_new() : NULL;
}

const char *archive_error_string(struct archive *a)
{
	return p_archive_error_string(a);
}

void archive_set_error(struct archive *a, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p_archive_set_error(a, err, "%s", msg);
}

la_ssize_t archive_write_data(struct archive *a, const void *p, size_t n)
{
	return p_archive_write_data(a, p, n);
}

const char *archive_entry_pathname(struct archive_entry *e)
{
	return p_archive_entry_pathname(e);
}

int archive_write_set_format_pax(struct archive *a)
{
	return p_archive_write_set_format_pax(a);
}

int archive_write_set_format_option(struct archive *a, const char *m,
				    const char *o, const char *v)
{
	return p_archive_write_set_format_option(a, m, o, v);
}

int archive_write_set_bytes_per_block(struct archive *a, int n)
{
	return p_archive_write_set_bytes_per_block(a, n);
}

int archive_write_set_bytes_in_last_block(struct archive *a, int n)
{
	return p_archive_write_set_bytes_in_last_block(a, n);
}

int archive_write_open2(struct archive *a, void *ud,
			archive_open_callback *o, archive_write_callback *w,
			archive_close_callback *c, archive_free_callback *f)
{
	return p_archive_write_open2(a, ud, o, w, c, f);
}

int archive_write_header(struct archive *a, struct archive_entry *e)
{
	return p_archive_write_header(a, e);
}

int archive_write_free(struct archive *a)
{
	return a ? p_archive_write_free(a) : ARCHIVE_OK;
}

int archive_write_close(struct archive *a)
{
	return p_archive_write_close(a);
}

int archive_read_support_format_tar(struct archive *a)
{
	return p_archive_read_support_format_tar(a);
}

int archive_read_open(struct archive *a, void *ud, archive_open_callback *o,
		      archive_read_callback *r, archive_close_callback *c)
{
	return p_archive_read_open(a, ud, o, r, c);
}

int archive_read_next_header(struct archive *a, struct archive_entry **e)
{
	return p_archive_read_next_header(a, e);
}

int archive_read_free(struct archive *a)
{
	return a ? p_archive_read_free(a) : ARCHIVE_OK;
}

int archive_read_data_block(struct archive *a, const void **buf,
			    size_t *size, la_int64_t *offset)
{
	return p_archive_read_data_block(a, buf, size, offset);
}

la_ssize_t archive_read_data(struct archive *a, void *p, size_t n)
{
	return p_archive_read_data(a, p, n);
}

int archive_entry_xattr_reset(struct archive_entry *e)
{
	return p_archive_entry_xattr_reset(e);
}

int archive_entry_xattr_next(struct archive_entry *e, const char **name,
			     const void **value, size_t *size)
{
	return p_archive_entry_xattr_next(e, name, value, size);
}

void archive_entry_xattr_add_entry(struct archive_entry *e, const char *name,
				   const void *value, size_t size)
{
	p_archive_entry_xattr_add_entry(e, name, value, size);
}

la_int64_t archive_entry_size(struct archive_entry *e)
{
	return p_archive_entry_size(e);
}

void archive_entry_set_size(struct archive_entry *e, la_int64_t n)
{
	p_archive_entry_set_size(e, n);
}

void archive_entry_set_perm(struct archive_entry *e, __LA_MODE_T m)
{
	p_archive_entry_set_perm(e, m);
}

void archive_entry_set_pathname(struct archive_entry *e, const char *p)
{
	p_archive_entry_set_pathname(e, p);
}

void archive_entry_set_mtime(struct archive_entry *e, time_t s, long ns)
{
	p_archive_entry_set_mtime(e, s, ns);
}

void archive_entry_set_filetype(struct archive_entry *e, unsigned int t)
{
	p_archive_entry_set_filetype(e, t);
}

void archive_entry_free(struct archive_entry *e)
{
	if (e)
		p_archive_entry_free(e);
}

__LA_MODE_T archive_entry_filetype(struct archive_entry *e)
{
	return p_archive_entry_filetype(e);
}

struct archive_entry *archive_entry_clear(struct archive_entry *e)
{
	return p_archive_entry_clear(e);
}
