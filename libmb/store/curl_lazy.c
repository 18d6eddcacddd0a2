/* SPDX-License-Identifier: MIT */
/* store/curl_lazy.c: libcurl, loaded when the S3 store first needs it. */
#define CURL_DISABLE_TYPECHECK 1
#include "mb-private.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "banned.h"

/*
 * libcurl pulls in 25 more shared libraries (TLS, HTTP/2, IDN, Kerberos,
 * LDAP, ...): linked, the dynamic loader maps them at every start, about
 * 20 ms of a run on a cold page cache, for every command and every
 * repository, local ones included. So libmb is not linked with libcurl:
 * these functions, the ones the S3 store calls, open it on first use and
 * call through. A system without it fails the first S3 operation
 * (curl_global_init: CURLE_FAILED_INIT, "cannot initialize libcurl").
 */
#define CURL_SONAME "libcurl.so.4"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static struct {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	CURLSH *(*share_init)(void);
	CURLSHcode (*share_cleanup)(CURLSH *);
	CURLSHcode (*share_setopt)(CURLSH *, CURLSHoption, ...);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} fn;
static bool loaded;

#define SYM(field, name)                                                \
	do {                                                            \
		void *s_ = dlsym(lib, name);                            \
		if (!s_)                                                \
			return;                                         \
		memcpy(&fn.field, &s_, sizeof(s_));                     \
	} while (0)

static void load(void)
{
	void *lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!lib)
		return;
	SYM(global_init, "curl_global_init");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_reset, "curl_easy_reset");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(share_init, "curl_share_init");
	SYM(share_cleanup, "curl_share_cleanup");
	SYM(share_setopt, "curl_share_setopt");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
	loaded = true; /* the library stays: its handles live to the end */
}

static bool have(void)
{
	pthread_once(&load_once, load);
	return loaded;
}

CURLcode curl_global_init(long flags)
{
	return have() ? fn.global_init(flags) : CURLE_FAILED_INIT;
}

const char *curl_easy_strerror(CURLcode code)
{
	return have() ? fn.easy_strerror(code) :
			"libcurl (" CURL_SONAME ") could not be loaded";
}

CURL *curl_easy_init(void)
{
	return have() ? fn.easy_init() : NULL;
}

void curl_easy_cleanup(CURL *h)
{
	if (have())
		fn.easy_cleanup(h);
}

void curl_easy_reset(CURL *h)
{
	if (have())
		fn.easy_reset(h);
}

CURLcode curl_easy_perform(CURL *h)
{
	return have() ? fn.easy_perform(h) : CURLE_FAILED_INIT;
}

/* One argument, of the type the option's number range says (curl.h). */
CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	CURLcode rc = CURLE_FAILED_INIT;
	va_list ap;

	va_start(ap, opt);
	if (!have())
		;
	else if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = fn.easy_setopt(h, opt, va_arg(ap, long));
	else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB)
		rc = fn.easy_setopt(h, opt, va_arg(ap, curl_off_t));
	else
		rc = fn.easy_setopt(h, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

/* Every CURLINFO takes a pointer. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	CURLcode rc = CURLE_FAILED_INIT;
	va_list ap;

	va_start(ap, info);
	if (have())
		rc = fn.easy_getinfo(h, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLSH *curl_share_init(void)
{
	return have() ? fn.share_init() : NULL;
}

CURLSHcode curl_share_cleanup(CURLSH *s)
{
	return have() ? fn.share_cleanup(s) : CURLSHE_NOT_BUILT_IN;
}

/* SHARE and UNSHARE take an int (a curl_lock_data); the others a
 * pointer (a function or the user data). */
CURLSHcode curl_share_setopt(CURLSH *s, CURLSHoption opt, ...)
{
	CURLSHcode rc = CURLSHE_NOT_BUILT_IN;
	va_list ap;

	va_start(ap, opt);
	if (!have())
		;
	else if (opt == CURLSHOPT_SHARE || opt == CURLSHOPT_UNSHARE)
		rc = fn.share_setopt(s, opt, va_arg(ap, int));
	else
		rc = fn.share_setopt(s, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
	return have() ? fn.slist_append(l, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *l)
{
	if (have())
		fn.slist_free_all(l);
}
