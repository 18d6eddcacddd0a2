/* SPDX-License-Identifier: MIT */
/*
 * mb-gen-mailtree writes a deterministic, realistic mail server tree
 * (Maildir++ mailboxes, DKIM keys, configuration) for benchmarks and tests,
 * or changes an existing one like one day of mail.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* The generated tree's "now": every time in it lies in the year before. */
#define TREE_NOW	1735689600LL	/* 2025-01-01 00:00:00 UTC */
#define DAY		86400LL
#define TREE_SPAN	(365 * DAY)
#define HOST		"mail"
#define DIR_MODE	0755
#define FILE_MODE	0644
#define DUP_PCT		3.0	/* share of messages that are copies */
#define INBOX_NEW_PCT	3	/* newest INBOX messages still in new/ */
#define TEXT_MIN	2048
#define TEXT_MAX	20480
#define ATTACH_MIN	(50 * 1024)
#define ATTACH_MAX	(2 * 1024 * 1024)
#define TINY_MIN	10
#define TINY_MAX	200
#define DEEP_LEVELS	22
#define DEEP_COMPONENT	200

/* Tags keep the PRNG streams of different purposes apart. */
enum {
	TAG_NAMES = 1,
	TAG_PLAN,
	TAG_SLOT,
	TAG_FLAGS,
	TAG_MSG,
	TAG_SHARED,
	TAG_FILE,
	TAG_JUNK,
	TAG_ODD,
	TAG_CONF,
	TAG_DAY,
	TAG_DAYMSG,
};

/* 2 while the command line is parsed: a usage error */
static int die_status = 1;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die_errno(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("mb-gen-mailtree: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(die_status);
}

static void die_errno(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	fputs("mb-gen-mailtree: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err));
	exit(die_status);
}

/* --- PRNG: splitmix64, one stream per (seed, tag, number) ---------------- */

struct rng {
	uint64_t s;
};

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rng_next(struct rng *r)
{
	return mix64(r->s += 0x9e3779b97f4a7c15ULL);
}

static void rng_init(struct rng *r, uint64_t seed, uint64_t tag, uint64_t n)
{
	r->s = mix64(seed ^ 0x6a09e667f3bcc909ULL) ^
	       mix64((tag << 56) ^ n ^ 0xd1b54a32d192ed03ULL);
}

/* A number in [0, n). */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

static uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rng_below(r, hi - lo + 1);
}

/* A double in [0, 1); only exact IEEE operations, so output is portable. */
static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1p-53;
}

static int rng_pct(struct rng *r, double pct)
{
	return rng_unit(r) * 100.0 < pct;
}

/* --- growable buffer ---------------------------------------------------- */

struct buf {
	char *p;
	size_t len;
	size_t cap;
};

static void buf_grow(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->len + more <= b->cap)
		return;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		die("out of memory");
	b->p = p;
	b->cap = cap;
}

static void buf_add(struct buf *b, const void *s, size_t n)
{
	if (!n)
		return;
	buf_grow(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	buf_grow(b, 256);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("formatting failed");
	if ((size_t)n >= b->cap - b->len) {
		buf_grow(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		die("out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		die("out of memory");
	return p;
}

/* --- files, always relative to a directory fd --------------------------- */

static void write_all(int fd, const void *p, size_t n, const char *name)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			die_errno("cannot write '%s'", name);
		}
		c += w;
		n -= (size_t)w;
	}
}

static void set_fd_time(int fd, int64_t sec, long nsec, const char *name)
{
	struct timespec ts[2] = {
		{ .tv_sec = sec, .tv_nsec = nsec },
		{ .tv_sec = sec, .tv_nsec = nsec },
	};

	if (futimens(fd, ts) < 0)
		die_errno("cannot set the times of '%s'", name);
}

/* Creates @name (which must not exist); returns -1 with errno EEXIST if it does. */
static int put_file(int dirfd, const char *name, const void *p, size_t n,
		    mode_t mode, int64_t sec, long nsec)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			mode);

	if (fd < 0) {
		if (errno == EEXIST)
			return -1;
		die_errno("cannot create '%s'", name);
	}
	write_all(fd, p, n, name);
	set_fd_time(fd, sec, nsec, name);
	if (close(fd) < 0)
		die_errno("cannot close '%s'", name);
	return 0;
}

static void put_new_file(int dirfd, const char *name, const void *p, size_t n,
			 mode_t mode, int64_t sec)
{
	if (put_file(dirfd, name, p, n, mode, sec, 0) < 0)
		die("'%s' exists already", name);
}

static int mkdir_open(int dirfd, const char *name, mode_t mode)
{
	int fd;

	if (mkdirat(dirfd, name, mode) < 0)
		die_errno("cannot create directory '%s'", name);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die_errno("cannot open directory '%s'", name);
	return fd;
}

static int open_dir(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die_errno("cannot open directory '%s'", name);
	return fd;
}

/* Sets the times of directory @fd, then closes it. */
static void close_dir(int fd, int64_t sec, const char *name)
{
	set_fd_time(fd, sec, 0, name);
	close(fd);
}

/* --- word lists ----------------------------------------------------------- */

static const char *const words[] = {
	"the", "to", "and", "of", "a", "in", "is", "for", "that", "you",
	"it", "on", "with", "we", "this", "be", "are", "as", "have", "not",
	"at", "will", "can", "from", "or", "please", "your", "our", "if",
	"all", "by", "an", "was", "they", "would", "so", "but", "there",
	"meeting", "next", "week", "thanks", "about", "could", "should",
	"team", "project", "update", "report", "attached", "find", "let",
	"me", "know", "time", "today", "tomorrow", "monday", "friday",
	"office", "review", "draft", "version", "budget", "customer",
	"order", "invoice", "payment", "delivery", "server", "backup",
	"schedule", "question", "answer", "call", "agenda", "minutes",
	"document", "contract", "proposal", "offer", "price", "quarter",
	"sales", "numbers", "figures", "forward", "reply", "regards",
	"best", "kind", "hello", "dear", "sorry", "late", "early", "morning",
	"afternoon", "evening", "lunch", "coffee", "room", "floor",
	"building", "parking", "holiday", "vacation", "sick", "leave",
	"approval", "manager", "director", "colleague", "support", "ticket",
	"issue", "problem", "solution", "fixed", "broken", "working",
	"password", "account", "access", "login", "mailbox", "folder",
	"message", "email", "phone", "number", "address", "street", "city",
	"travel", "flight", "hotel", "booking", "conference", "workshop",
	"training", "course", "slides", "presentation", "notes", "summary",
	"decision", "plan", "strategy", "goal", "target", "deadline",
	"milestone", "release", "feature", "request", "change", "risk",
	"estimate", "cost", "hours", "days", "month", "year", "soon",
	"already", "still", "again", "maybe", "probably", "definitely",
	"important", "urgent", "quick", "short", "long", "simple",
	"complicated", "new", "old", "first", "last", "other", "same",
	"different", "good", "great", "fine", "bad", "better", "worse",
	"think", "believe", "hope", "need", "want", "like", "make", "take",
	"give", "send", "get", "see", "look", "check", "confirm", "cancel",
	"postpone", "move", "discuss", "agree", "decide", "prepare",
	"finish", "start", "continue", "stop", "wait", "help", "ask",
	"tell", "write", "read", "sign", "print", "scan", "upload",
	"download", "share", "link", "file", "table", "chart", "data",
	"database", "network", "printer", "laptop", "screen", "keyboard",
	"license", "software", "hardware", "vendor", "supplier", "partner",
	"client", "board", "committee", "department", "finance", "legal",
	"marketing", "engineering", "operations", "human", "resources",
};

static unsigned char word_len[ARRAY_SIZE(words)];

static const char *const first_names[] = {
	"anna", "ben", "clara", "david", "emma", "felix", "greta", "hugo",
	"ida", "jonas", "karla", "leon", "mia", "noah", "olga", "paul",
	"quinn", "rosa", "sam", "tina", "ulf", "vera", "walter", "xenia",
	"yusuf", "zoe", "amir", "bianca", "carlos", "dana", "elif", "fatima",
	"georg", "hana", "ivan", "julia", "kenji", "lara", "marco", "nina",
	"oskar", "petra", "rafael", "sofia", "tomas", "ute", "viktor", "wei",
};

static const char *const last_names[] = {
	"mueller", "schmidt", "schneider", "fischer", "weber", "meyer",
	"wagner", "becker", "schulz", "hoffmann", "koch", "richter", "klein",
	"wolf", "neumann", "schwarz", "braun", "zimmermann", "krueger",
	"hartmann", "lange", "werner", "krause", "lehmann", "smith", "jones",
	"brown", "taylor", "wilson", "evans", "thomas", "roberts", "garcia",
	"martinez", "rossi", "russo", "dubois", "moreau", "novak",
	"kowalski", "nielsen", "larsen", "silva", "santos", "tanaka",
	"suzuki", "kim", "chen",
};

static const char *const domain_words[] = {
	"nordwind", "acme", "bluefin", "kestrel", "lindenhof", "ostwerk",
	"riverbank", "sunvalley", "graphite", "meridian", "copperleaf",
	"harbor", "alpenrose", "birchwood", "cedarline", "duneview",
};

static const char *const tlds[] = { "de", "org", "com", "net", "eu" };

static const char *const ext_domains[] = {
	"gmail.com", "web.de", "gmx.net", "posteo.de", "outlook.com",
	"yahoo.com", "mailbox.org", "protonmail.com", "example.net",
	"university.edu", "shop-newsletter.com", "lists.debian.org",
	"t-online.de", "icloud.com", "fastmail.com", "partner-firm.de",
};

static const struct {
	const char *prefix;
	const char *ext;
	const char *type;
} attach_kinds[] = {
	{ "report-", "pdf", "application/pdf" },
	{ "IMG_", "jpg", "image/jpeg" },
	{ "invoice-", "pdf", "application/pdf" },
	{ "scan", "pdf", "application/pdf" },
	{ "slides-", "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
	{ "data-", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
	{ "photos-", "zip", "application/zip" },
	{ "contract-", "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
};

static const int tz_offsets[] = { 0, 60, 60, 60, 120, -300, -480, 330, 540 };

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#define PICK(r, a)	((a)[rng_below((r), ARRAY_SIZE(a))])

/* --- text ----------------------------------------------------------------- */

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* RFC 5322 date of @t as seen in a zone @tz_min minutes east of UTC. */
static void fmt_date(char *out, size_t n, int64_t t, int tz_min)
{
	static const char *const wday[] = {
		"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed",
	};
	static const char *const mon[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	int64_t l = t + tz_min * 60, days, secs, y;
	unsigned m, d;
	int a = tz_min < 0 ? -tz_min : tz_min;

	days = l / DAY - (l % DAY < 0);
	secs = l - days * DAY;
	civil_from_days(days, &y, &m, &d);
	snprintf(out, n, "%s, %02u %s %" PRId64 " %02d:%02d:%02d %c%02d%02d",
		 wday[((days % 7) + 7) % 7], d, mon[m - 1], y,
		 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60),
		 tz_min < 0 ? '-' : '+', a / 60, a % 60);
}

static void add_hex(struct buf *b, struct rng *r, unsigned n)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t x = 0;
	unsigned i;

	buf_grow(b, n);
	for (i = 0; i < n; i++) {
		if (i % 16 == 0)
			x = rng_next(r);
		b->p[b->len++] = hex[x & 15];
		x >>= 4;
	}
}

/*
 * Appends base64 of @raw pseudo-random bytes in lines of @width characters;
 * random data encoded this way compresses about as badly as real
 * attachments (JPEG, PDF, ZIP) do.
 */
static void add_b64_random(struct buf *b, struct rng *r, size_t raw,
			   unsigned width)
{
	size_t full = raw / 3 * 4, rem = raw % 3, i = 0;
	char *p;
	uint64_t x;

	buf_grow(b, full + 4 + (full + 4) / width + 2);
	p = b->p + b->len;
	while (i < full) {
		size_t line = full - i < width ? full - i : width, j = 0;

		/* 10 characters of 6 bits from each 64-bit number */
		while (j + 10 <= line) {
			x = rng_next(r);
			p[0] = b64chars[x & 63];
			p[1] = b64chars[(x >> 6) & 63];
			p[2] = b64chars[(x >> 12) & 63];
			p[3] = b64chars[(x >> 18) & 63];
			p[4] = b64chars[(x >> 24) & 63];
			p[5] = b64chars[(x >> 30) & 63];
			p[6] = b64chars[(x >> 36) & 63];
			p[7] = b64chars[(x >> 42) & 63];
			p[8] = b64chars[(x >> 48) & 63];
			p[9] = b64chars[(x >> 54) & 63];
			p += 10;
			j += 10;
		}
		if (j < line) {
			x = rng_next(r);
			for (; j < line; j++, x >>= 6)
				*p++ = b64chars[x & 63];
		}
		i += line;
		if (i < full || !rem)
			*p++ = '\n';
	}
	if (rem) {
		x = rng_next(r);
		*p++ = b64chars[x & 63];
		if (rem == 1) {
			*p++ = b64chars[(x >> 6) & 0x30];
			*p++ = '=';
		} else {
			*p++ = b64chars[(x >> 6) & 63];
			*p++ = b64chars[(x >> 12) & 0x3c];
		}
		*p++ = '=';
		*p++ = '\n';
	}
	b->len = (size_t)(p - b->p);
}

/* Base64 of @raw random bytes as a folded header value. */
static void add_folded_b64(struct buf *b, struct rng *r, size_t raw)
{
	struct buf t = { 0 };
	size_t i;

	add_b64_random(&t, r, raw, 1u << 30);
	t.len--;
	for (i = 0; i < t.len; i += 64) {
		if (i)
			buf_str(b, "\n\t ");
		buf_add(b, t.p + i, t.len - i < 64 ? t.len - i : 64);
	}
	buf_free(&t);
}

static void add_junk(struct buf *b, struct rng *r, size_t n)
{
	size_t i;

	buf_grow(b, n + 8);
	for (i = 0; i < n; i += 8) {
		uint64_t x = rng_next(r);

		memcpy(b->p + b->len + i, &x, 8);
	}
	b->len += n;
}

static void add_line_start(struct buf *b, const char *quote, size_t *col)
{
	if (quote) {
		buf_str(b, quote);
		*col = strlen(quote);
	} else {
		*col = 0;
	}
}

/*
 * Appends sentences of pseudo-random words, wrapped at 72 columns, until
 * the buffer holds at least @until bytes; @quote starts every line.
 */
static void add_text(struct buf *b, struct rng *r, size_t until,
		     const char *quote)
{
	unsigned in_sentence = 0, sentence_len = 0, sentences = 0;
	unsigned paragraph_len = (unsigned)rng_range(r, 2, 6);
	size_t col;

	add_line_start(b, quote, &col);
	while (b->len < until) {
		uint64_t u = rng_below(r, ARRAY_SIZE(words));
		/* skewed towards the front of the list, like real text */
		size_t i = (size_t)(u * rng_below(r, ARRAY_SIZE(words)) /
				    ARRAY_SIZE(words));
		size_t wl = word_len[i];
		size_t start_of_line = quote ? strlen(quote) : 0;

		if (col > start_of_line && col + 1 + wl > 72) {
			buf_add(b, "\n", 1);
			add_line_start(b, quote, &col);
		} else if (col > start_of_line) {
			buf_add(b, " ", 1);
			col++;
		}
		buf_add(b, words[i], wl);
		if (!in_sentence)
			b->p[b->len - wl] -= 'a' - 'A';
		col += wl;
		if (!sentence_len)
			sentence_len = (unsigned)rng_range(r, 4, 16);
		if (++in_sentence < sentence_len) {
			if (rng_below(r, 12) == 0) {
				buf_add(b, ",", 1);
				col++;
			}
			continue;
		}
		buf_add(b, rng_below(r, 8) ? "." : "?", 1);
		col++;
		in_sentence = sentence_len = 0;
		if (++sentences < paragraph_len)
			continue;
		buf_str(b, "\n");
		buf_str(b, quote && quote[0] == '>' ? ">\n" : "\n");
		add_line_start(b, quote, &col);
		sentences = 0;
		paragraph_len = (unsigned)rng_range(r, 2, 6);
	}
	buf_add(b, "\n", 1);
}

/* "anna.mueller7" -> "Anna Mueller" */
static void display_name(char *out, size_t n, const char *local)
{
	size_t i, o = 0;
	int up = 1;

	for (i = 0; local[i] && local[i] != '@' && o + 1 < n; i++) {
		char c = local[i];

		if (c >= '0' && c <= '9')
			continue;
		if (c == '.' || c == '_' || c == '-') {
			out[o++] = ' ';
			up = 1;
			continue;
		}
		out[o++] = up && c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c;
		up = 0;
	}
	out[o] = 0;
}

static void random_person(struct rng *r, char *addr, size_t n)
{
	const char *f = PICK(r, first_names), *l = PICK(r, last_names);
	const char *d = PICK(r, ext_domains);

	switch (rng_below(r, 4)) {
	case 0:
		snprintf(addr, n, "%s%s@%s", f, l, d);
		break;
	case 1:
		snprintf(addr, n, "%c.%s@%s", f[0], l, d);
		break;
	default:
		snprintf(addr, n, "%s.%s@%s", f, l, d);
		break;
	}
}

/* --- messages ------------------------------------------------------------- */

struct msg_info {
	const char *from;	/* address */
	const char *to;		/* To: header value */
	const char *rcpt;	/* envelope recipient */
	int64_t t;		/* delivery time */
	int outgoing;		/* a copy in Sent or Drafts: no trace headers */
	int attach;
};

static void add_subject(struct buf *b, struct rng *r, int *reply)
{
	unsigned i, n = (unsigned)rng_range(r, 2, 7);
	size_t start;

	*reply = 0;
	switch (rng_below(r, 20)) {
	case 0: case 1: case 2: case 3: case 4: case 5:
		buf_str(b, "Re: ");
		*reply = 1;
		break;
	case 6:
		buf_str(b, "Fwd: ");
		break;
	case 7:
		buf_str(b, "[team] ");
		break;
	case 8:
		buf_str(b, "AW: ");
		*reply = 1;
		break;
	default:
		break;
	}
	start = b->len;
	for (i = 0; i < n; i++) {
		const char *w = words[rng_below(r, ARRAY_SIZE(words))];

		if (i)
			buf_add(b, " ", 1);
		buf_str(b, w);
	}
	b->p[start] -= 'a' - 'A';
	buf_add(b, "\n", 1);
}

static void add_trace(struct buf *b, struct rng *r, const struct msg_info *mi,
		      const char *from_dom)
{
	char date[64];
	unsigned ip = (unsigned)rng_next(r);

	buf_printf(b, "Return-Path: <%s>\n", mi->from);
	buf_printf(b, "Delivered-To: %s\n", mi->rcpt);
	fmt_date(date, sizeof(date), mi->t, 0);
	buf_printf(b, "Received: from " HOST " ([127.0.0.1])\n"
		   "\tby " HOST " (Dovecot) with LMTP id ");
	add_hex(b, r, 22);
	buf_printf(b, "\n\tfor <%s>; %s\n", mi->rcpt, date);
	fmt_date(date, sizeof(date), mi->t - 1, 0);
	buf_printf(b, "Received: from mx.%s (mx.%s [%u.%u.%u.%u])\n"
		   "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\n"
		   "\tby " HOST " (Postfix) with ESMTPS id ",
		   from_dom, from_dom, (ip >> 24) | 1, (ip >> 16) & 255,
		   (ip >> 8) & 255, ip & 255 ? ip & 255 : 1);
	add_hex(b, r, 10);
	buf_printf(b, "\n\tfor <%s>; %s\n", mi->rcpt, date);
	buf_printf(b, "X-Rspamd-Queue-Id: ");
	add_hex(b, r, 10);
	buf_printf(b, "\nX-Spamd-Result: default: False [%d.%02d / 15.00]\n"
		   "X-Rspamd-Server: rspamd\n",
		   (int)rng_below(r, 6) - 2, (int)rng_below(r, 100));
	buf_printf(b, "Authentication-Results: " HOST ";\n"
		   "\tdkim=pass header.d=%s header.s=dkim;\n"
		   "\tspf=pass smtp.mailfrom=%s;\n\tdmarc=pass (policy=none) header.from=%s\n",
		   from_dom, mi->from, from_dom);
	buf_printf(b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s;\n"
		   "\ts=dkim; t=%" PRId64 ";\n"
		   "\th=from:from:reply-to:subject:subject:date:date:message-id:message-id:\n"
		   "\t to:to:cc:mime-version:mime-version:content-type:content-type;\n\tbh=",
		   from_dom, mi->t - 2);
	add_folded_b64(b, r, 33);
	buf_str(b, ";\n\tb=");
	add_folded_b64(b, r, 256);
	buf_str(b, "\n");
}

/* A plausible RFC 5322 message of 2-20 KiB text, with an attachment if asked. */
static void gen_message(struct buf *b, struct rng *r, const struct msg_info *mi)
{
	char date[64], from_name[96], boundary[40];
	const char *from_dom = strchr(mi->from, '@') + 1;
	size_t target = TEXT_MIN + (size_t)((TEXT_MAX - TEXT_MIN) *
		rng_unit(r) * rng_unit(r));
	int reply, alt = rng_below(r, 4) == 0;
	int tz = tz_offsets[rng_below(r, ARRAY_SIZE(tz_offsets))];

	b->len = 0;
	if (!mi->outgoing)
		add_trace(b, r, mi, from_dom);
	fmt_date(date, sizeof(date), mi->t - (int64_t)rng_range(r, 2, 90), tz);
	display_name(from_name, sizeof(from_name), mi->from);
	buf_printf(b, "Message-ID: <");
	add_hex(b, r, 16);
	buf_add(b, ".", 1);
	add_hex(b, r, 8);
	buf_printf(b, "@%s>\nDate: %s\nFrom: %s <%s>\nTo: %s\n", from_dom,
		   date, from_name, mi->from, mi->to);
	if (rng_below(r, 6) == 0) {
		char cc[128];

		random_person(r, cc, sizeof(cc));
		buf_printf(b, "Cc: %s\n", cc);
	}
	buf_str(b, "Subject: ");
	add_subject(b, r, &reply);
	if (reply) {
		buf_str(b, "In-Reply-To: <");
		add_hex(b, r, 24);
		buf_printf(b, "@%s>\n", from_dom);
	}
	buf_str(b, "MIME-Version: 1.0\nUser-Agent: Mozilla/5.0 Thunderbird/115.6.0\n");
	snprintf(boundary, sizeof(boundary), "------------%016" PRIx64,
		 rng_next(r));
	if (mi->attach)
		buf_printf(b, "Content-Type: multipart/mixed; boundary=\"%s\"\n\n"
			   "This is a multi-part message in MIME format.\n--%s\n",
			   boundary, boundary);
	else if (alt)
		buf_printf(b, "Content-Type: multipart/alternative; boundary=\"%s\"\n\n"
			   "This is a multi-part message in MIME format.\n--%s\n",
			   boundary, boundary);
	buf_str(b, "Content-Type: text/plain; charset=UTF-8; format=flowed\n"
		"Content-Transfer-Encoding: 8bit\n\n");
	if (alt && !mi->attach)
		target = b->len + (target > b->len ? target - b->len : 512) / 2;
	add_text(b, r, target > b->len + 200 ? target : b->len + 200, NULL);
	if (reply) {
		fmt_date(date, sizeof(date), mi->t - (int64_t)rng_range(r, 600, 5 * DAY), tz);
		buf_printf(b, "\nOn %s, %s wrote:\n", date, from_name);
		add_text(b, r, b->len + rng_range(r, 200, 1500), "> ");
	}
	buf_printf(b, "\n-- \n%s\n", from_name);
	if (alt && !mi->attach) {
		size_t html_target = b->len + (b->len * 3) / 4;

		buf_printf(b, "\n--%s\nContent-Type: text/html; charset=UTF-8\n"
			   "Content-Transfer-Encoding: 8bit\n\n<html>\n  <head>\n"
			   "    <meta http-equiv=\"content-type\" content=\"text/html; charset=UTF-8\">\n"
			   "  </head>\n  <body>\n    <p>", boundary);
		add_text(b, r, html_target, "    ");
		buf_printf(b, "    </p>\n    <div class=\"moz-signature\">-- <br>%s</div>\n"
			   "  </body>\n</html>\n\n--%s--\n", from_name, boundary);
	}
	if (mi->attach) {
		unsigned k = (unsigned)rng_below(r, ARRAY_SIZE(attach_kinds));
		char fname[64];
		double u = rng_unit(r);
		size_t raw = ATTACH_MIN + (size_t)((ATTACH_MAX - ATTACH_MIN) *
						   u * u * u * u * u);

		snprintf(fname, sizeof(fname), "%s%u.%s", attach_kinds[k].prefix,
			 (unsigned)rng_below(r, 10000), attach_kinds[k].ext);
		buf_printf(b, "\n--%s\nContent-Type: %s; name=\"%s\"\n"
			   "Content-Disposition: attachment; filename=\"%s\"\n"
			   "Content-Transfer-Encoding: base64\n\n",
			   boundary, attach_kinds[k].type, fname, fname);
		add_b64_random(b, r, raw, 76);
		buf_printf(b, "\n--%s--\n", boundary);
	}
}

/* A file of 10-200 bytes for the many-small-files test; unique by @serial. */
static void gen_tiny(struct buf *b, struct rng *r, uint64_t serial)
{
	size_t size = (size_t)rng_range(r, TINY_MIN, TINY_MAX);

	b->len = 0;
	buf_printf(b, "%" PRIu64 "\n", serial);
	if (b->len < size)
		add_text(b, r, size, NULL);
	b->len = size;
	b->p[size - 1] = '\n';
}

static size_t count_lines(const char *p, size_t n)
{
	const char *end = p + n;
	size_t lines = 0;

	while ((p = memchr(p, '\n', (size_t)(end - p)))) {
		lines++;
		p++;
	}
	return lines;
}

/* --- generator state -------------------------------------------------------- */

struct stats {
	uint64_t files;
	uint64_t bytes;
	uint64_t attachments;
	uint64_t copies;
};

struct gen {
	uint64_t seed;
	uint64_t messages;
	unsigned domains;
	unsigned users;
	double attach_pct;
	int odd;
	int tiny;
	uint64_t serial;	/* one per file written, for unique names */
	struct buf msg;
	struct stats st;
};

/*
 * Writes message @m into @dirfd under a Maildir name; @flags NULL means
 * new/ (no info part). The base name (before ":2,") goes into @base.
 */
static void store_message(struct gen *g, int dirfd, const struct buf *m,
			  int64_t t, const char *flags, char *base, size_t n)
{
	char name[512];
	size_t wsize = m->len + count_lines(m->p, m->len);
	struct rng r;
	unsigned usec, pid;
	long nsec;

	rng_init(&r, g->seed, TAG_FILE, g->serial++);
	usec = (unsigned)rng_below(&r, 1000000);
	pid = (unsigned)rng_range(&r, 1000, 65000);
	nsec = (long)rng_below(&r, 1000000000);
	for (;;) {
		snprintf(base, n, "%" PRId64 ".M%uP%u." HOST ",S=%zu,W=%zu",
			 t, usec, pid, m->len, wsize);
		snprintf(name, sizeof(name), "%s%s%s", base,
			 flags ? ":2," : "", flags ? flags : "");
		if (put_file(dirfd, name, m->p, m->len, FILE_MODE, t, nsec) == 0)
			break;
		usec = (usec + 1) % 1000000;
	}
	g->st.files++;
	g->st.bytes += m->len;
}

static void write_uidlist(int dirfd, struct rng *r, const struct buf *lines,
			  uint32_t next_uid, int64_t mtime)
{
	struct buf b = { 0 };

	buf_printf(&b, "3 V%u N%u G", (unsigned)(TREE_NOW - TREE_SPAN -
		   (int64_t)rng_below(r, 30 * DAY)), next_uid);
	add_hex(&b, r, 32);
	buf_add(&b, "\n", 1);
	buf_add(&b, lines->p, lines->len);
	put_new_file(dirfd, "dovecot-uidlist", b.p, b.len, 0600, mtime);
	buf_free(&b);
}

static void write_junk(int dirfd, const char *name, struct rng *r, size_t n,
		       int64_t mtime)
{
	struct buf b = { 0 };

	add_junk(&b, r, n);
	put_new_file(dirfd, name, b.p, b.len, 0600, mtime);
	buf_free(&b);
}

/* --- the plan: domains, mailboxes, messages shared between mailboxes ----- */

#define N_FOLDERS	5
enum { F_INBOX, F_SENT, F_ARCHIVE, F_TRASH, F_DRAFTS };

static const struct {
	const char *dir;	/* NULL: the mailbox root (INBOX) */
	unsigned pct;
} folder_defs[N_FOLDERS] = {
	[F_INBOX] = { NULL, 65 },
	[F_SENT] = { ".Sent", 15 },
	[F_ARCHIVE] = { ".Archive.2024", 12 },
	[F_TRASH] = { ".Trash", 6 },
	[F_DRAFTS] = { ".Drafts", 2 },
};

struct mbox {
	char user[64];
	char addr[192];
	uint32_t dom;
	uint32_t n_unique;
	uint32_t n_shared;
	uint32_t shared_off;	/* into plan.sh_ids */
};

struct shared {
	int64_t t;
	uint32_t n;
	uint32_t rcpt[4];
};

struct plan {
	char (*dom)[64];
	uint32_t *dom_first;	/* first mailbox of each domain */
	uint32_t *dom_count;
	uint32_t n_dom;
	struct mbox *mb;
	uint32_t n_mb;
	struct shared *sh;
	uint32_t n_sh;
	uint32_t *sh_ids;
};

static void plan_names(struct gen *g, struct plan *p)
{
	struct rng r;
	uint32_t d, m, j;
	unsigned off;

	rng_init(&r, g->seed, TAG_NAMES, 0);
	p->n_dom = g->domains;
	p->n_mb = g->users;
	p->dom = xcalloc(p->n_dom, sizeof(*p->dom));
	p->dom_first = xcalloc(p->n_dom, sizeof(*p->dom_first));
	p->dom_count = xcalloc(p->n_dom, sizeof(*p->dom_count));
	p->mb = xcalloc(p->n_mb, sizeof(*p->mb));
	off = (unsigned)rng_below(&r, ARRAY_SIZE(domain_words));
	for (d = 0; d < p->n_dom; d++) {
		unsigned k = (off + d) % ARRAY_SIZE(domain_words);

		if (d < ARRAY_SIZE(domain_words))
			snprintf(p->dom[d], sizeof(p->dom[d]), "%s.%s",
				 domain_words[k], PICK(&r, tlds));
		else
			snprintf(p->dom[d], sizeof(p->dom[d]), "%s%u.%s",
				 domain_words[k], d, PICK(&r, tlds));
		p->dom_count[d] = 1;
	}
	/* the first domain is the company, the others smaller */
	for (m = p->n_dom; m < p->n_mb; m++) {
		double u = rng_unit(&r);

		p->dom_count[(uint32_t)(p->n_dom * u * u)]++;
	}
	for (d = 0, m = 0; d < p->n_dom; d++) {
		p->dom_first[d] = m;
		for (j = 0; j < p->dom_count[d]; j++, m++) {
			struct mbox *mb = &p->mb[m];
			uint32_t k;

			mb->dom = d;
			if (j == 0 && p->dom_count[d] > 1)
				snprintf(mb->user, sizeof(mb->user), "info");
			else
				snprintf(mb->user, sizeof(mb->user), "%s.%s",
					 PICK(&r, first_names),
					 PICK(&r, last_names));
			for (k = p->dom_first[d]; k < m; k++) {
				if (!strcmp(p->mb[k].user, mb->user)) {
					size_t l = strlen(mb->user);

					snprintf(mb->user + l, sizeof(mb->user) - l,
						 "%u", j);
					break;
				}
			}
			snprintf(mb->addr, sizeof(mb->addr), "%s@%s", mb->user,
				 p->dom[d]);
		}
	}
}

static int has_rcpt(const struct shared *s, uint32_t m)
{
	uint32_t i;

	for (i = 0; i < s->n; i++)
		if (s->rcpt[i] == m)
			return 1;
	return 0;
}

static void plan_messages(struct gen *g, struct plan *p)
{
	uint64_t copies = 0, target = 0, unique, sum = 0;
	double *w, wsum = 0;
	uint32_t m, i, cap = 16;
	struct rng r;

	rng_init(&r, g->seed, TAG_PLAN, 0);
	p->sh = xcalloc(cap, sizeof(*p->sh));
	if (!g->tiny && p->n_mb >= 2)
		target = (uint64_t)((double)g->messages * DUP_PCT / 100.0);
	while (copies + 2 <= target) {
		struct shared *s;
		uint32_t k = (uint32_t)rng_range(&r, 2, 4), m0, d;

		if (k > target - copies)
			k = (uint32_t)(target - copies);
		if (k > p->n_mb)
			k = p->n_mb;
		if (p->n_sh == cap) {
			cap *= 2;
			p->sh = realloc(p->sh, cap * sizeof(*p->sh));
			if (!p->sh)
				die("out of memory");
		}
		s = &p->sh[p->n_sh++];
		memset(s, 0, sizeof(*s));
		s->t = TREE_NOW - TREE_SPAN + (int64_t)rng_below(&r, TREE_SPAN - 3600);
		m0 = (uint32_t)rng_below(&r, p->n_mb);
		d = p->mb[m0].dom;
		s->rcpt[s->n++] = m0;
		while (s->n < k) {
			/* a mail to colleagues, or to anyone when the domain is small */
			m = p->dom_count[d] >= k ?
			    p->dom_first[d] + (uint32_t)rng_below(&r, p->dom_count[d]) :
			    (uint32_t)rng_below(&r, p->n_mb);
			if (!has_rcpt(s, m))
				s->rcpt[s->n++] = m;
		}
		copies += k;
	}
	g->st.copies = copies;
	unique = g->messages - copies;

	/* heavy-tailed mailbox sizes: a few big ones, many small */
	w = xcalloc(p->n_mb, sizeof(*w));
	for (m = 0; m < p->n_mb; m++) {
		w[m] = 1.0 / (0.05 + rng_unit(&r));
		wsum += w[m];
	}
	for (m = 0; m < p->n_mb; m++) {
		p->mb[m].n_unique = (uint32_t)((double)unique * w[m] / wsum);
		sum += p->mb[m].n_unique;
	}
	for (m = 0; sum < unique; m = (m + 1) % p->n_mb, sum++)
		p->mb[m].n_unique++;
	free(w);

	for (i = 0; i < p->n_sh; i++)
		for (m = 0; m < p->sh[i].n; m++)
			p->mb[p->sh[i].rcpt[m]].n_shared++;
	for (m = 0, sum = 0; m < p->n_mb; m++) {
		p->mb[m].shared_off = (uint32_t)sum;
		sum += p->mb[m].n_shared;
		p->mb[m].n_shared = 0;
	}
	p->sh_ids = xcalloc(sum, sizeof(*p->sh_ids));
	for (i = 0; i < p->n_sh; i++) {
		for (m = 0; m < p->sh[i].n; m++) {
			struct mbox *mb = &p->mb[p->sh[i].rcpt[m]];

			p->sh_ids[mb->shared_off + mb->n_shared++] = i;
		}
	}
}

/* --- one mailbox ---------------------------------------------------------- */

struct slot {
	int64_t t;
	uint64_t key;		/* content: mailbox << 32 | slot, or shared id */
	uint32_t idx;
	uint8_t folder;
	uint8_t shared;
	uint8_t is_new;
};

static int slot_cmp(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	if (x->folder != y->folder)
		return x->folder < y->folder ? -1 : 1;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static const char *cur_flags(struct rng *r, unsigned folder)
{
	unsigned u = (unsigned)rng_below(r, 100);

	switch (folder) {
	case F_INBOX:
		return u < 78 ? "S" : u < 86 ? "RS" : u < 94 ? "" :
		       u < 98 ? "FS" : "FRS";
	case F_ARCHIVE:
		return u < 90 ? "S" : "RS";
	case F_DRAFTS:
		return "DS";
	default:
		return "S";
	}
}

/* One message's content, the same bytes for every copy of a shared one. */
static void make_content(struct gen *g, const struct plan *p,
			 const struct slot *s, const struct mbox *mb)
{
	char from[192], to[1024];
	struct msg_info mi = { .t = s->t };
	struct rng r;

	rng_init(&r, g->seed, s->shared ? TAG_SHARED : TAG_MSG, s->key);
	if (g->tiny) {
		gen_tiny(&g->msg, &r, g->serial);
		return;
	}
	mi.attach = rng_pct(&r, g->attach_pct);
	if (s->shared) {
		const struct shared *sh = &p->sh[s->key];
		uint32_t i;
		size_t o = 0;

		random_person(&r, from, sizeof(from));
		for (i = 0; i < sh->n; i++)
			o += (size_t)snprintf(to + o, sizeof(to) - o, "%s%s",
					      i ? ", " : "", p->mb[sh->rcpt[i]].addr);
		mi.from = from;
		mi.to = to;
		mi.rcpt = p->mb[sh->rcpt[0]].addr;
	} else if (s->folder == F_SENT || s->folder == F_DRAFTS) {
		random_person(&r, to, sizeof(to));
		mi.from = mb->addr;
		mi.to = to;
		mi.rcpt = to;
		mi.outgoing = 1;
	} else {
		if (rng_below(&r, 5) == 0 && p->dom_count[mb->dom] > 1) {
			const struct mbox *o = &p->mb[p->dom_first[mb->dom] +
				rng_below(&r, p->dom_count[mb->dom])];

			snprintf(from, sizeof(from), "%s", o->addr);
		} else {
			random_person(&r, from, sizeof(from));
		}
		mi.from = from;
		mi.to = mb->addr;
		mi.rcpt = mb->addr;
	}
	gen_message(&g->msg, &r, &mi);
	g->st.attachments += mi.attach;
}

static void gen_odd(struct gen *g, int mbfd, int curfd);

static void gen_mailbox(struct gen *g, const struct plan *p, int domfd,
			uint32_t mbi)
{
	const struct mbox *mb = &p->mb[mbi];
	uint32_t n = mb->n_unique + mb->n_shared, i, inbox = 0, f;
	struct buf uidl[N_FOLDERS] = { { 0 } };
	uint32_t next_uid[N_FOLDERS], count[N_FOLDERS] = { 0 };
	int64_t newest[N_FOLDERS];
	int fd[N_FOLDERS][4];	/* folder, cur, new, tmp */
	uint64_t bytes = 0;
	struct slot *slots = xcalloc(n, sizeof(*slots));
	struct rng r;
	char base[512];

	rng_init(&r, g->seed, TAG_SLOT, mbi);
	for (i = 0; i < mb->n_unique; i++) {
		unsigned u = (unsigned)rng_below(&r, 100), acc = 0;

		for (f = 0; f < N_FOLDERS - 1; f++) {
			acc += folder_defs[f].pct;
			if (u < acc)
				break;
		}
		slots[i].folder = (uint8_t)f;
		slots[i].t = TREE_NOW - TREE_SPAN +
			     (int64_t)rng_below(&r, TREE_SPAN - 3600);
		slots[i].key = (uint64_t)mbi << 32 | i;
		slots[i].idx = i;
	}
	for (i = 0; i < mb->n_shared; i++) {
		struct slot *s = &slots[mb->n_unique + i];
		uint32_t id = p->sh_ids[mb->shared_off + i];

		s->folder = F_INBOX;
		s->t = p->sh[id].t;
		s->key = id;
		s->shared = 1;
		s->idx = mb->n_unique + i;
	}
	qsort(slots, n, sizeof(*slots), slot_cmp);
	while (inbox < n && slots[inbox].folder == F_INBOX)
		inbox++;
	for (i = inbox - inbox * INBOX_NEW_PCT / 100; i < inbox; i++)
		slots[i].is_new = 1;

	fd[F_INBOX][0] = mkdir_open(domfd, mb->user, DIR_MODE);
	for (f = 0; f < N_FOLDERS; f++) {
		if (f != F_INBOX)
			fd[f][0] = mkdir_open(fd[F_INBOX][0], folder_defs[f].dir,
					      DIR_MODE);
		fd[f][1] = mkdir_open(fd[f][0], "cur", DIR_MODE);
		fd[f][2] = mkdir_open(fd[f][0], "new", DIR_MODE);
		fd[f][3] = mkdir_open(fd[f][0], "tmp", DIR_MODE);
		next_uid[f] = 1;
		newest[f] = TREE_NOW - TREE_SPAN;
	}

	for (i = 0; i < n; i++) {
		const struct slot *s = &slots[i];
		struct rng fr;

		make_content(g, p, s, mb);
		rng_init(&fr, g->seed, TAG_FLAGS, (uint64_t)mbi << 32 | s->idx);
		store_message(g, fd[s->folder][s->is_new ? 2 : 1], &g->msg,
			      s->t, s->is_new ? NULL : cur_flags(&fr, s->folder),
			      base, sizeof(base));
		buf_printf(&uidl[s->folder], "%u :%s\n", next_uid[s->folder]++,
			   base);
		count[s->folder]++;
		newest[s->folder] = s->t;
		bytes += g->msg.len;
	}

	rng_init(&r, g->seed, TAG_JUNK, mbi);
	for (f = 0; f < N_FOLDERS; f++) {
		int64_t mt = newest[f] + 60;
		size_t junk = g->tiny ? 256 : 1024 + 180 * (size_t)count[f];

		write_uidlist(fd[f][0], &r, &uidl[f], next_uid[f], mt);
		write_junk(fd[f][0], "dovecot.index.cache", &r,
			   junk < 8 << 20 ? junk : 8 << 20, mt);
		if (f != F_INBOX)
			put_new_file(fd[f][0], "maildirfolder", "", 0, FILE_MODE,
				     TREE_NOW - TREE_SPAN);
		buf_free(&uidl[f]);
	}
	{
		static const char kw[] = "0 $Forwarded\n1 $Junk\n2 $NotJunk\n3 NonJunk\n";
		static const char subs[] = "Sent\nDrafts\nTrash\nArchive.2024\n";
		char mds[128];
		int l = snprintf(mds, sizeof(mds), "10737418240S,1000000C\n%" PRIu64
				 " %u\n", bytes, n);

		put_new_file(fd[F_INBOX][0], "dovecot-keywords", kw, sizeof(kw) - 1,
			     0600, TREE_NOW - TREE_SPAN + DAY);
		put_new_file(fd[F_INBOX][0], "subscriptions", subs,
			     sizeof(subs) - 1, 0600, TREE_NOW - TREE_SPAN);
		put_new_file(fd[F_INBOX][0], "maildirsize", mds, (size_t)l, 0600,
			     newest[F_INBOX] + 60);
	}
	if (g->odd && mbi == 0)
		gen_odd(g, fd[F_INBOX][0], fd[F_INBOX][1]);

	for (f = N_FOLDERS; f-- > 0;) {
		for (i = 1; i < 4; i++)
			close_dir(fd[f][i], TREE_NOW, "maildir subdirectory");
		close_dir(fd[f][0], TREE_NOW, "maildir folder");
	}
	free(slots);
}

/* --- odd names: what a careless backup tool trips over -------------------- */

static void gen_odd(struct gen *g, int mbfd, int curfd)
{
	static const char sieve[] =
		"require [\"fileinto\"];\n"
		"if header :contains \"subject\" \"[team]\" {\n"
		"  fileinto \"Archive.2024\";\n}\n";
	static const char notify[] = "#!/bin/sh\nexec logger -t sieve \"$@\"\n";
	struct buf b = { 0 };
	struct rng r;
	char name[512], comp[DEEP_COMPONENT + 1];
	int64_t t = TREE_NOW - 10 * DAY;
	int deep[DEEP_LEVELS + 1], fold[4], sfd, i;
	size_t l;
	struct timespec ts[2] = { { .tv_sec = TREE_NOW - 5 * DAY },
				  { .tv_sec = TREE_NOW - 5 * DAY } };

	rng_init(&r, g->seed, TAG_ODD, 0);
	add_text(&b, &r, 600, NULL);

	/* a folder and a message with spaces in their names */
	fold[0] = mkdir_open(mbfd, ".Odd Folder", DIR_MODE);
	fold[1] = mkdir_open(fold[0], "cur", DIR_MODE);
	fold[2] = mkdir_open(fold[0], "new", DIR_MODE);
	fold[3] = mkdir_open(fold[0], "tmp", DIR_MODE);
	put_new_file(fold[0], "maildirfolder", "", 0, FILE_MODE, t);
	snprintf(name, sizeof(name), "%" PRId64 ".M1P2.mail server with spaces,S=%zu:2,S",
		 t, b.len);
	put_new_file(fold[1], name, b.p, b.len, FILE_MODE, t);
	for (i = 3; i >= 0; i--)
		close_dir(fold[i], TREE_NOW, ".Odd Folder");

	/* bytes that are not UTF-8 */
	snprintf(name, sizeof(name), "%" PRId64 ".M3P4.\xff\xfe" "mail,S=%zu:2,S",
		 t + 1, b.len);
	put_new_file(curfd, name, b.p, b.len, FILE_MODE, t + 1);

	/* a 255-byte name, the longest one component can be */
	snprintf(name, sizeof(name), "%" PRId64 ".M5P6.", t + 2);
	l = strlen(name);
	memset(name + l, 'x', 255 - l);
	name[255] = 0;
	l = strlen(":2,S");
	memcpy(name + 255 - l, ":2,S", l);
	put_new_file(curfd, name, b.p, b.len, FILE_MODE, t + 2);

	/* an empty message, and modes other than the usual */
	snprintf(name, sizeof(name), "%" PRId64 ".M7P8.mail,S=0,W=0:2,S", t + 3);
	put_new_file(curfd, name, "", 0, FILE_MODE, t + 3);
	snprintf(name, sizeof(name), "%" PRId64 ".M9P10.mail,S=%zu:2,S", t + 4,
		 b.len);
	put_new_file(curfd, name, b.p, b.len, 0600, t + 4);

	/* a sieve directory, an executable and the usual symlink */
	sfd = mkdir_open(mbfd, "sieve", 0700);
	put_new_file(sfd, "roundcube.sieve", sieve, sizeof(sieve) - 1,
		     FILE_MODE, t);
	put_new_file(sfd, "notify.sh", notify, sizeof(notify) - 1, 0755, t);
	close_dir(sfd, t, "sieve");
	if (symlinkat("sieve/roundcube.sieve", mbfd, ".dovecot.sieve") < 0)
		die_errno("cannot create symlink '.dovecot.sieve'");
	if (utimensat(mbfd, ".dovecot.sieve", ts, AT_SYMLINK_NOFOLLOW) < 0)
		die_errno("cannot set the times of '.dovecot.sieve'");

	/* an empty directory */
	close_dir(mkdir_open(mbfd, "empty-dir", DIR_MODE), t, "empty-dir");

	/* a nest whose full path is longer than PATH_MAX */
	deep[0] = mkdir_open(mbfd, "deep", DIR_MODE);
	for (i = 1; i <= DEEP_LEVELS; i++) {
		snprintf(comp, sizeof(comp), "level-%02d-", i);
		l = strlen(comp);
		memset(comp + l, 'd', DEEP_COMPONENT - l);
		comp[DEEP_COMPONENT] = 0;
		deep[i] = mkdir_open(deep[i - 1], comp, DIR_MODE);
	}
	put_new_file(deep[DEEP_LEVELS], "bottom.txt", b.p, b.len, FILE_MODE, t);
	for (i = DEEP_LEVELS; i >= 0; i--)
		close_dir(deep[i], t, "deep");
	g->st.files += 9;
	buf_free(&b);
}

/* --- DKIM keys and configuration ------------------------------------------ */

static void put_ed25519_pkcs8(struct buf *b, struct rng *r)
{
	static const unsigned char prefix[16] = {
		0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
		0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
	};
	unsigned char der[48];
	char out[65];
	size_t i, o = 0;

	memcpy(der, prefix, sizeof(prefix));
	for (i = 16; i < sizeof(der); i += 8) {
		uint64_t x = rng_next(r);

		memcpy(der + i, &x, 8);
	}
	for (i = 0; i < sizeof(der); i += 3) {
		uint32_t v = (uint32_t)der[i] << 16 | (uint32_t)der[i + 1] << 8 |
			     der[i + 2];

		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = b64chars[(v >> 6) & 63];
		out[o++] = b64chars[v & 63];
	}
	out[o++] = '\n';
	buf_add(b, out, o);
}

static void gen_dkim(struct gen *g, const struct plan *p, int outfd)
{
	int fd = mkdir_open(outfd, "dkim", 0750);
	struct buf b = { 0 };
	char name[128];
	uint32_t d;

	for (d = 0; d < p->n_dom; d++) {
		struct rng r;

		rng_init(&r, g->seed, TAG_CONF, 100 + d);
		b.len = 0;
		/* a real (Ed25519, RFC 8463) DKIM key: PKCS#8 is a fixed
		 * prefix and any 32-byte seed, so restore-test can parse it */
		buf_str(&b, "-----BEGIN PRIVATE KEY-----\n");
		put_ed25519_pkcs8(&b, &r);
		buf_str(&b, "-----END PRIVATE KEY-----\n");
		snprintf(name, sizeof(name), "%s.dkim.key", p->dom[d]);
		put_new_file(fd, name, b.p, b.len, 0600, TREE_NOW - 200 * DAY);
	}
	close_dir(fd, TREE_NOW - 200 * DAY, "dkim");
	buf_free(&b);
}

static void gen_conf(struct gen *g, const struct plan *p, int outfd)
{
	static const char controller[] =
		"password = \"$2$qecacwgrz13owkag4gqhkbmdb$ec1xzx41uzfb9o8ofoxcd3u4x4tuz6ykhyajtgpmne3u8gdbgbfy\";\n";
	int cfd = mkdir_open(outfd, "conf", DIR_MODE), fd, fd2;
	int64_t t = TREE_NOW - 90 * DAY;
	struct buf b = { 0 };
	struct rng r;
	uint32_t d, m;

	rng_init(&r, g->seed, TAG_CONF, 0);

	fd = mkdir_open(cfd, "postfix", DIR_MODE);
	buf_printf(&b, "# managed by hand\nmyhostname = " HOST ".%s\n"
		   "mydomain = %s\nmyorigin = $mydomain\ninet_interfaces = all\n"
		   "inet_protocols = all\nmydestination = localhost\n"
		   "smtpd_tls_cert_file = /etc/ssl/mail/fullchain.pem\n"
		   "smtpd_tls_key_file = /etc/ssl/mail/privkey.pem\n"
		   "smtpd_tls_security_level = may\nsmtp_tls_security_level = dane\n"
		   "smtpd_sasl_type = dovecot\nsmtpd_sasl_path = private/auth\n"
		   "smtpd_recipient_restrictions = permit_mynetworks,\n"
		   "    permit_sasl_authenticated, reject_unauth_destination\n"
		   "virtual_mailbox_domains = /etc/postfix/virtual_domains\n"
		   "virtual_mailbox_maps = hash:/etc/postfix/virtual_mailboxes\n"
		   "virtual_transport = lmtp:unix:private/dovecot-lmtp\n"
		   "smtpd_milters = inet:localhost:11332\nnon_smtpd_milters = $smtpd_milters\n"
		   "milter_default_action = accept\nmessage_size_limit = 52428800\n",
		   p->dom[0], p->dom[0]);
	put_new_file(fd, "main.cf", b.p, b.len, FILE_MODE, t);
	b.len = 0;
	buf_str(&b, "smtp      inet  n       -       y       -       -       smtpd\n"
		"submission inet n       -       y       -       -       smtpd\n"
		"  -o syslog_name=postfix/submission\n  -o smtpd_tls_security_level=encrypt\n"
		"  -o smtpd_sasl_auth_enable=yes\n"
		"pickup    unix  n       -       y       60      1       pickup\n"
		"cleanup   unix  n       -       y       -       0       cleanup\n"
		"qmgr      unix  n       -       n       300     1       qmgr\n"
		"rewrite   unix  -       -       y       -       -       trivial-rewrite\n"
		"bounce    unix  -       -       y       -       0       bounce\n"
		"smtp      unix  -       -       y       -       -       smtp\n"
		"lmtp      unix  -       -       y       -       -       lmtp\n");
	put_new_file(fd, "master.cf", b.p, b.len, FILE_MODE, t);
	b.len = 0;
	for (d = 0; d < p->n_dom; d++)
		buf_printf(&b, "%s\n", p->dom[d]);
	put_new_file(fd, "virtual_domains", b.p, b.len, FILE_MODE, t + DAY);
	b.len = 0;
	for (m = 0; m < p->n_mb; m++)
		buf_printf(&b, "%-40s %s/%s/\n", p->mb[m].addr,
			   p->dom[p->mb[m].dom], p->mb[m].user);
	put_new_file(fd, "virtual_mailboxes", b.p, b.len, FILE_MODE, t + DAY);
	close_dir(fd, t + DAY, "postfix");

	fd = mkdir_open(cfd, "dovecot", DIR_MODE);
	b.len = 0;
	buf_str(&b, "protocols = imap lmtp sieve\nmail_location = maildir:/var/vmail/%d/%n\n"
		"mail_uid = vmail\nmail_gid = vmail\nfirst_valid_uid = 5000\n"
		"ssl = required\nssl_cert = </etc/ssl/mail/fullchain.pem\n"
		"ssl_key = </etc/ssl/mail/privkey.pem\n"
		"passdb {\n  driver = passwd-file\n  args = scheme=SHA512-CRYPT /etc/dovecot/users\n}\n"
		"userdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\n"
		"namespace inbox {\n  inbox = yes\n  separator = .\n"
		"  mailbox Sent {\n    special_use = \\Sent\n    auto = subscribe\n  }\n"
		"  mailbox Drafts {\n    special_use = \\Drafts\n    auto = subscribe\n  }\n"
		"  mailbox Trash {\n    special_use = \\Trash\n    auto = subscribe\n  }\n}\n"
		"protocol lmtp {\n  mail_plugins = $mail_plugins sieve\n}\n"
		"plugin {\n  sieve = file:~/sieve;active=~/.dovecot.sieve\n"
		"  quota = maildir:User quota\n}\n");
	put_new_file(fd, "dovecot.conf", b.p, b.len, FILE_MODE, t);
	b.len = 0;
	for (m = 0; m < p->n_mb; m++) {
		buf_printf(&b, "%s:{SHA512-CRYPT}$6$", p->mb[m].addr);
		add_b64_random(&b, &r, 12, 200);
		b.p[b.len - 1] = '$';
		add_b64_random(&b, &r, 63, 200);
		b.len--;
		buf_printf(&b, ":5000:5000::/var/vmail/%s/%s::\n",
			   p->dom[p->mb[m].dom], p->mb[m].user);
	}
	put_new_file(fd, "users", b.p, b.len, 0600, t + 2 * DAY);
	close_dir(fd, t + 2 * DAY, "dovecot");

	fd = mkdir_open(cfd, "rspamd", DIR_MODE);
	fd2 = mkdir_open(fd, "local.d", DIR_MODE);
	b.len = 0;
	buf_str(&b, "enabled = true;\nsign_authenticated = true;\nuse_domain = \"header\";\n"
		"selector = \"dkim\";\npath = \"/var/lib/rspamd/dkim/$domain.$selector.key\";\n"
		"domain {\n");
	for (d = 0; d < p->n_dom; d++)
		buf_printf(&b, "  %s {\n    selector = \"dkim\";\n"
			   "    path = \"/var/lib/rspamd/dkim/%s.dkim.key\";\n  }\n",
			   p->dom[d], p->dom[d]);
	buf_str(&b, "}\n");
	put_new_file(fd2, "dkim_signing.conf", b.p, b.len, FILE_MODE, t);
	put_new_file(fd2, "worker-controller.inc", controller,
		     sizeof(controller) - 1, 0600, t);
	close_dir(fd2, t, "local.d");
	close_dir(fd, t, "rspamd");
	close_dir(cfd, t + 2 * DAY, "conf");
	buf_free(&b);
}

/* --- generate ------------------------------------------------------------- */

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_outdir(const char *path)
{
	DIR *dir;
	struct dirent *de;
	int fd;

	if (mkdir(path, DIR_MODE) < 0 && errno != EEXIST)
		die_errno("cannot create '%s'", path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die_errno("cannot open '%s'", path);
	dir = fdopendir(dup(fd));
	if (!dir)
		die_errno("cannot read '%s'", path);
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			die("'%s' is not empty: give a new or empty directory", path);
	closedir(dir);
	return fd;
}

static void generate(struct gen *g, const char *outdir)
{
	double t0 = now_seconds();
	struct plan p = { 0 };
	int outfd = open_outdir(outdir), vfd;
	uint32_t d, m;

	if (g->users < g->domains)
		g->domains = g->users;
	plan_names(g, &p);
	plan_messages(g, &p);

	vfd = mkdir_open(outfd, "vmail", DIR_MODE);
	for (d = 0; d < p.n_dom; d++) {
		int dfd = mkdir_open(vfd, p.dom[d], DIR_MODE);

		for (m = p.dom_first[d]; m < p.dom_first[d] + p.dom_count[d]; m++)
			gen_mailbox(g, &p, dfd, m);
		close_dir(dfd, TREE_NOW, p.dom[d]);
	}
	close_dir(vfd, TREE_NOW, "vmail");
	gen_dkim(g, &p, outfd);
	gen_conf(g, &p, outfd);
	close_dir(outfd, TREE_NOW, outdir);

	fprintf(stderr, "mb-gen-mailtree: %" PRIu64 " messages (%" PRIu64
		" copies of shared ones, %" PRIu64 " with attachments) in %u "
		"mailboxes of %u domains, %.1f MiB%s%s, seed %" PRIu64
		", in %.1f s\n", g->messages, g->st.copies, g->st.attachments,
		p.n_mb, p.n_dom, (double)g->st.bytes / 1048576.0,
		g->tiny ? ", tiny files" : "", g->odd ? ", odd names" : "",
		g->seed, now_seconds() - t0);
	free(p.dom);
	free(p.dom_first);
	free(p.dom_count);
	free(p.mb);
	free(p.sh);
	free(p.sh_ids);
	buf_free(&g->msg);
}

/* --- one day of mail -------------------------------------------------------- */

struct dfolder {
	char *path;		/* relative to vmail: dom/user or dom/user/.Sent */
	uint32_t mbox;
	unsigned touched;	/* 1 root, 2 cur, 4 new */
	uint32_t next_uid;	/* 0: dovecot-uidlist not read yet */
	uint32_t added;
	struct buf uidl;
};

struct dmbox {
	char *path;		/* dom/user */
	char *addr;
	uint32_t inbox;
	uint32_t sent;		/* UINT32_MAX: none */
	int64_t bytes;		/* maildirsize deltas */
	int64_t count;
};

struct dmsg {
	char *name;
	uint32_t folder;
	uint8_t cur;
};

struct dnew {
	int64_t t;
	uint32_t key;
	uint32_t folder;
	uint8_t is_new;
	uint8_t n_rcpt;
	uint32_t rcpt[3];	/* mailboxes, for the To: header */
};

struct day {
	struct gen *g;
	int vfd;
	struct dfolder *f;
	uint32_t n_f, cap_f;
	struct dmbox *mb;
	uint32_t n_mb, cap_mb;
	struct dmsg *msg;
	uint32_t n_msg, cap_msg;
	int64_t newest;
};

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in @at/@path of directories (@want_dir) or regular files, sorted. */
static char **list_sorted(int at, const char *path, int want_dir, size_t *n)
{
	int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t cap = 64;
	char **v;
	DIR *dir;
	struct dirent *de;

	*n = 0;
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return NULL;
		die_errno("cannot open '%s'", path);
	}
	dir = fdopendir(fd);
	if (!dir)
		die_errno("cannot read '%s'", path);
	v = xcalloc(cap, sizeof(*v));
	while ((de = readdir(dir))) {
		unsigned char type = de->d_type;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dirfd(dir), de->d_name, &st,
				    AT_SYMLINK_NOFOLLOW) < 0)
				die_errno("cannot stat '%s/%s'", path, de->d_name);
			type = S_ISDIR(st.st_mode) ? DT_DIR :
			       S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
		}
		if (type != (want_dir ? DT_DIR : DT_REG))
			continue;
		if (*n == cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				die("out of memory");
		}
		v[(*n)++] = xstrdup(de->d_name);
	}
	closedir(dir);
	qsort(v, *n, sizeof(*v), str_cmp);
	return v;
}

static void free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

#define GROW(p, n, cap) do { \
	if ((n) == (cap)) { \
		(cap) = (cap) ? (cap) * 2 : 64; \
		(p) = realloc((p), (cap) * sizeof(*(p))); \
		if (!(p)) \
			die("out of memory"); \
	} \
} while (0)

static void scan_folder(struct day *dy, const char *path, uint32_t mbox)
{
	static const char *const subs[] = { "new", "cur" };
	uint32_t fi = dy->n_f;
	char sub[4096];
	unsigned s;

	GROW(dy->f, dy->n_f, dy->cap_f);
	memset(&dy->f[fi], 0, sizeof(dy->f[fi]));
	dy->f[fi].path = xstrdup(path);
	dy->f[fi].mbox = mbox;
	dy->n_f++;
	for (s = 0; s < 2; s++) {
		size_t n, i;
		char **v;

		snprintf(sub, sizeof(sub), "%s/%s", path, subs[s]);
		v = list_sorted(dy->vfd, sub, 0, &n);
		for (i = 0; i < n; i++) {
			int64_t t = strtoll(v[i], NULL, 10);

			GROW(dy->msg, dy->n_msg, dy->cap_msg);
			dy->msg[dy->n_msg].name = v[i];
			dy->msg[dy->n_msg].folder = fi;
			dy->msg[dy->n_msg].cur = (uint8_t)s;
			dy->n_msg++;
			if (t > dy->newest && t < TREE_NOW + 100 * 365 * DAY)
				dy->newest = t;
		}
		free(v);
	}
}

static void scan_tree(struct day *dy)
{
	char path[4096];
	size_t nd, nu, nf, d, u, f;
	char **doms = list_sorted(dy->vfd, ".", 1, &nd);

	for (d = 0; d < nd; d++) {
		char **users = list_sorted(dy->vfd, doms[d], 1, &nu);

		for (u = 0; u < nu; u++) {
			struct dmbox *mb;
			char **folders;
			uint32_t mi = dy->n_mb;

			snprintf(path, sizeof(path), "%s/%s", doms[d], users[u]);
			GROW(dy->mb, dy->n_mb, dy->cap_mb);
			mb = &dy->mb[dy->n_mb++];
			memset(mb, 0, sizeof(*mb));
			mb->path = xstrdup(path);
			snprintf(path, sizeof(path), "%s@%s", users[u], doms[d]);
			mb->addr = xstrdup(path);
			mb->inbox = dy->n_f;
			mb->sent = UINT32_MAX;
			scan_folder(dy, mb->path, mi);
			folders = list_sorted(dy->vfd, mb->path, 1, &nf);
			for (f = 0; f < nf; f++) {
				struct stat st;

				if (folders[f][0] != '.')
					continue;
				snprintf(path, sizeof(path), "%s/%s/cur",
					 dy->mb[mi].path, folders[f]);
				if (fstatat(dy->vfd, path, &st, 0) < 0 ||
				    !S_ISDIR(st.st_mode))
					continue;
				if (!strcmp(folders[f], ".Sent"))
					dy->mb[mi].sent = dy->n_f;
				snprintf(path, sizeof(path), "%s/%s",
					 dy->mb[mi].path, folders[f]);
				scan_folder(dy, path, mi);
			}
			free_list(folders, nf);
		}
		free_list(users, nu);
	}
	free_list(doms, nd);
}

static int open_sub(struct day *dy, uint32_t fi, const char *sub)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s%s%s", dy->f[fi].path, *sub ? "/" : "",
		 sub);
	return open_dir(dy->vfd, path);
}

/* Reads the folder's dovecot-uidlist once, for the next UID to give. */
static void uidlist_load(struct day *dy, struct dfolder *f, uint32_t fi)
{
	char buf[256];
	int dfd, fd;
	ssize_t n;
	char *p;

	if (f->next_uid)
		return;
	f->next_uid = 1;
	dfd = open_sub(dy, fi, "");
	fd = openat(dfd, "dovecot-uidlist", O_RDONLY | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	p = strstr(buf, " N");
	if (p && (!strchr(buf, '\n') || p < strchr(buf, '\n')))
		f->next_uid = (uint32_t)strtoul(p + 2, NULL, 10);
	if (!f->next_uid)
		f->next_uid = 1;
}

static void read_file_at(int dirfd, const char *name, struct buf *b)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	b->len = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		die_errno("cannot open '%s'", name);
	}
	for (;;) {
		buf_grow(b, 65536);
		n = read(fd, b->p + b->len, b->cap - b->len);
		if (n < 0)
			die_errno("cannot read '%s'", name);
		if (n == 0)
			break;
		b->len += (size_t)n;
	}
	close(fd);
}

/* Replaces @name in @dirfd like Dovecot does: a lock file, then rename. */
static void replace_file(int dirfd, const char *name, const struct buf *b,
			 int64_t mtime)
{
	char tmp[256];

	snprintf(tmp, sizeof(tmp), "%s.lock", name);
	unlinkat(dirfd, tmp, 0);
	put_new_file(dirfd, tmp, b->p, b->len, 0600, mtime);
	if (renameat(dirfd, tmp, dirfd, name) < 0)
		die_errno("cannot rename '%s'", tmp);
}

static void uidlist_save(struct day *dy, struct dfolder *f, uint32_t fi,
			 int64_t mtime)
{
	struct buf old = { 0 }, b = { 0 };
	int dfd = open_sub(dy, fi, "");
	char *nl, *p;

	read_file_at(dfd, "dovecot-uidlist", &old);
	nl = old.len ? memchr(old.p, '\n', old.len) : NULL;
	if (nl) {
		/* the header with the new next UID, the rest as it was */
		size_t hl = (size_t)(nl - old.p);

		buf_grow(&old, 1);
		old.p[old.len] = 0;
		p = strstr(old.p, " N");
		if (p && p < nl) {
			char *e = p + 2;

			while (e < nl && *e >= '0' && *e <= '9')
				e++;
			buf_add(&b, old.p, (size_t)(p - old.p));
			buf_printf(&b, " N%u", f->next_uid);
			buf_add(&b, e, (size_t)(nl - e) + 1);
		} else {
			buf_add(&b, old.p, hl + 1);
		}
		buf_add(&b, nl + 1, old.len - hl - 1);
	} else {
		buf_printf(&b, "3 V%" PRId64 " N%u\n", mtime, f->next_uid);
	}
	buf_add(&b, f->uidl.p, f->uidl.len);
	replace_file(dfd, "dovecot-uidlist", &b, mtime);
	f->touched |= 1;
	close(dfd);
	buf_free(&old);
	buf_free(&b);
}

static int dnew_cmp(const void *a, const void *b)
{
	const struct dnew *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->folder < y->folder ? -1 : x->folder > y->folder;
}

/* The flags after a client has read, answered or flagged the message. */
static void next_flags(struct rng *r, const char *old, char *out, size_t n)
{
	int has[128] = { 0 };
	size_t o = 0;
	int c;

	for (; *old; old++)
		if ((unsigned char)*old < 128)
			has[(unsigned char)*old] = 1;
	if (!has['S'])
		has['S'] = 1;
	else if (!has['R'] && rng_below(r, 2))
		has['R'] = 1;
	else
		has['F'] = !has['F'];
	for (c = 'A'; c <= 'Z' && o + 1 < n; c++)
		if (has[c])
			out[o++] = (char)c;
	for (c = 'a'; c <= 'z' && o + 1 < n; c++)
		if (has[c])
			out[o++] = (char)c;
	out[o] = 0;
}

static int64_t size_from_name(const char *name)
{
	const char *s = strstr(name, ",S=");

	return s ? strtoll(s + 3, NULL, 10) : 0;
}

static uint32_t pct_of(uint32_t n, uint32_t per_mille)
{
	uint64_t v = ((uint64_t)n * per_mille + 500) / 1000;

	return n && !v ? 1 : (uint32_t)v;
}

static void day_new_messages(struct day *dy, struct rng *r, int64_t start,
			     uint32_t want, uint32_t *attach, uint32_t *in_new)
{
	struct gen *g = dy->g;
	struct dnew *plan = NULL;
	uint32_t n = 0, cap = 0, key = 0, i, last_key = UINT32_MAX;
	char base[512], to[1024], from[192];

	while (n < want) {
		uint32_t m0 = dy->msg[rng_below(r, dy->n_msg)].folder, copies = 1, c;
		int64_t t = start + (int64_t)rng_below(r, DAY);
		uint32_t rc[3] = { 0 };

		m0 = dy->f[m0].mbox;
		rc[0] = m0;
		if (dy->n_mb > 2 && want - n >= 2 && rng_pct(r, DUP_PCT)) {
			copies = (uint32_t)rng_range(r, 2, 3);
			if (copies > want - n)
				copies = want - n;
			for (c = 1; c < copies; c++) {
				do
					rc[c] = (uint32_t)rng_below(r, dy->n_mb);
				while (rc[c] == rc[0] || (c == 2 && rc[2] == rc[1]));
			}
		}
		for (c = 0; c < copies; c++) {
			struct dmbox *mb = &dy->mb[rc[c]];
			struct dnew *dn;

			GROW(plan, n, cap);
			dn = &plan[n++];
			memset(dn, 0, sizeof(*dn));
			dn->t = t;
			dn->key = key;
			dn->n_rcpt = (uint8_t)copies;
			memcpy(dn->rcpt, rc, sizeof(rc));
			if (copies == 1 && mb->sent != UINT32_MAX &&
			    rng_below(r, 100) < 15) {
				dn->folder = mb->sent;
			} else {
				dn->folder = mb->inbox;
				dn->is_new = rng_below(r, 100) < 70;
			}
		}
		key++;
	}
	qsort(plan, n, sizeof(*plan), dnew_cmp);

	for (i = 0; i < n; i++) {
		struct dnew *dn = &plan[i];
		struct dfolder *f = &dy->f[dn->folder];
		struct dmbox *mb = &dy->mb[f->mbox];
		int dfd;

		if (dn->key != last_key) {
			struct msg_info mi = { .t = dn->t };
			struct rng mr;
			uint32_t c;
			size_t o = 0;

			rng_init(&mr, g->seed, TAG_DAYMSG,
				 (uint64_t)(start / DAY) << 32 | dn->key);
			mi.attach = rng_pct(&mr, g->attach_pct);
			random_person(&mr, from, sizeof(from));
			for (c = 0; c < dn->n_rcpt; c++)
				o += (size_t)snprintf(to + o, sizeof(to) - o, "%s%s",
					c ? ", " : "", dy->mb[dn->rcpt[c]].addr);
			if (dy->mb[dn->rcpt[0]].sent == dn->folder) {
				mi.from = mb->addr;
				mi.to = from;
				mi.rcpt = from;
				mi.outgoing = 1;
			} else {
				mi.from = from;
				mi.to = to;
				mi.rcpt = dy->mb[dn->rcpt[0]].addr;
			}
			gen_message(&g->msg, &mr, &mi);
			*attach += mi.attach;
			last_key = dn->key;
		}
		dfd = open_sub(dy, dn->folder, dn->is_new ? "new" : "cur");
		store_message(g, dfd, &g->msg, dn->t, dn->is_new ? NULL : "S",
			      base, sizeof(base));
		close(dfd);
		uidlist_load(dy, f, dn->folder);
		buf_printf(&f->uidl, "%u :%s\n", f->next_uid++, base);
		f->added++;
		f->touched |= dn->is_new ? 4 : 2;
		mb->bytes += (int64_t)g->msg.len;
		mb->count++;
		*in_new += dn->is_new;
	}
	free(plan);
}

static void run_day(struct gen *g, const char *outdir)
{
	struct day dy = { .g = g };
	uint32_t n_new, n_ren, n_del, done_ren = 0, done_del = 0, i;
	uint32_t attach = 0, in_new = 0, *perm;
	uint64_t bytes0;
	int64_t start, end;
	struct rng r;
	char date[64], flags[64], name[1024];
	int outfd = open(outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (outfd < 0)
		die_errno("cannot open '%s'", outdir);
	dy.vfd = openat(outfd, "vmail", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dy.vfd < 0)
		die_errno("cannot open '%s/vmail'", outdir);
	scan_tree(&dy);
	if (!dy.n_msg)
		die("no messages under '%s/vmail': generate a tree first", outdir);

	/* the day after the newest message, so repeated runs go on day by day */
	start = (dy.newest / DAY + 1) * DAY;
	end = start + DAY - 1;
	rng_init(&r, g->seed, TAG_DAY, (uint64_t)(start / DAY));
	/* file names of this day differ from those of every other */
	g->serial = (uint64_t)(start / DAY) << 32;
	n_new = pct_of(dy.n_msg, 10);
	n_ren = pct_of(dy.n_msg, 10);
	n_del = pct_of(dy.n_msg, 3);

	/* renames and deletions first, so they never touch today's mail */
	perm = xcalloc(dy.n_msg, sizeof(*perm));
	for (i = 0; i < dy.n_msg; i++)
		perm[i] = i;
	for (i = 0; i < dy.n_msg && (done_ren < n_ren || done_del < n_del); i++) {
		uint32_t j = i + (uint32_t)rng_below(&r, dy.n_msg - i), k = perm[j];
		struct dmsg *m = &dy.msg[k];
		struct dfolder *f = &dy.f[m->folder];
		char *info = strstr(m->name, ":2,");
		int cfd;

		perm[j] = perm[i];
		perm[i] = k;
		if (!m->cur || !info)
			continue;
		cfd = open_sub(&dy, m->folder, "cur");
		if (done_ren < n_ren && (done_del >= n_del || i % 4 != 3)) {
			next_flags(&r, info + 3, flags, sizeof(flags));
			snprintf(name, sizeof(name), "%.*s:2,%s",
				 (int)(info - m->name), m->name, flags);
			if (renameat(cfd, m->name, cfd, name) < 0) {
				/* a name at NAME_MAX has no room for a flag */
				if (errno != ENAMETOOLONG)
					die_errno("cannot rename '%s/cur/%s'",
						  f->path, m->name);
				close(cfd);
				continue;
			}
			done_ren++;
		} else {
			if (unlinkat(cfd, m->name, 0) < 0)
				die_errno("cannot delete '%s/cur/%s'", f->path,
					  m->name);
			dy.mb[f->mbox].bytes -= size_from_name(m->name);
			dy.mb[f->mbox].count--;
			done_del++;
		}
		f->touched |= 2;
		close(cfd);
	}
	free(perm);

	bytes0 = g->st.bytes;
	day_new_messages(&dy, &r, start, n_new, &attach, &in_new);

	/* what Dovecot would have written: UIDs, quota deltas, caches */
	for (i = 0; i < dy.n_f; i++) {
		struct dfolder *f = &dy.f[i];
		struct buf cache = { 0 };
		int dfd;

		if (!f->touched)
			continue;
		if (f->added)
			uidlist_save(&dy, f, i, end);
		dfd = open_sub(&dy, i, "");
		read_file_at(dfd, "dovecot.index.cache", &cache);
		if (cache.len) {
			struct rng jr;
			size_t n = cache.len + 180 * f->added;

			rng_init(&jr, g->seed, TAG_JUNK,
				 (uint64_t)(start / DAY) << 32 | i);
			cache.len = 0;
			add_junk(&cache, &jr, n);
			replace_file(dfd, "dovecot.index.cache", &cache, end);
			f->touched |= 1;
		}
		buf_free(&cache);
		close(dfd);
	}
	for (i = 0; i < dy.n_mb; i++) {
		struct dmbox *mb = &dy.mb[i];
		char line[64];
		int dfd, fd, l;

		if (!mb->count && !mb->bytes)
			continue;
		dfd = open_dir(dy.vfd, mb->path);
		fd = openat(dfd, "maildirsize", O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd >= 0) {
			l = snprintf(line, sizeof(line), "%" PRId64 " %" PRId64 "\n",
				     mb->bytes, mb->count);
			write_all(fd, line, (size_t)l, "maildirsize");
			set_fd_time(fd, end, 0, "maildirsize");
			close(fd);
		} else if (errno != ENOENT) {
			die_errno("cannot open '%s/maildirsize'", mb->path);
		}
		close(dfd);
	}
	/* directory times as Dovecot would have left them, but reproducible */
	for (i = 0; i < dy.n_f; i++) {
		static const char *const subs[] = { "", "cur", "new" };
		unsigned s;

		for (s = 0; s < 3; s++)
			if (dy.f[i].touched & (1u << s))
				close_dir(open_sub(&dy, i, subs[s]), end,
					  dy.f[i].path);
	}

	fmt_date(date, sizeof(date), start, 0);
	fprintf(stderr, "mb-gen-mailtree: day of %.16s on %u messages in %u "
		"mailboxes: %u new (%u in new/, %u with attachments, %.1f MiB), "
		"%u flag renames, %u deleted, seed %" PRIu64 "\n", date,
		dy.n_msg, dy.n_mb, n_new, in_new, attach,
		(double)(g->st.bytes - bytes0) / 1048576.0, done_ren, done_del,
		g->seed);

	for (i = 0; i < dy.n_msg; i++)
		free(dy.msg[i].name);
	for (i = 0; i < dy.n_f; i++) {
		free(dy.f[i].path);
		buf_free(&dy.f[i].uidl);
	}
	for (i = 0; i < dy.n_mb; i++) {
		free(dy.mb[i].path);
		free(dy.mb[i].addr);
	}
	free(dy.msg);
	free(dy.f);
	free(dy.mb);
	buf_free(&g->msg);
	close(dy.vfd);
	close(outfd);
}

/* --- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: mb-gen-mailtree [--seed N] [--messages N] [--domains N] [--users N]\n"
	      "                       [--attach-pct P] [--odd-names] [--tiny] OUTDIR\n"
	      "       mb-gen-mailtree --day [--seed N] [--attach-pct P] OUTDIR\n"
	      "\n"
	      "Writes a deterministic mail server tree into OUTDIR (new or empty):\n"
	      "OUTDIR/vmail/<domain>/<user>/ Maildir++ mailboxes, OUTDIR/dkim/ keys and\n"
	      "OUTDIR/conf/ configuration. The same arguments give the same bytes and times.\n"
	      "\n"
	      "  --seed N        PRNG seed (default 1)\n"
	      "  --messages N    messages in all (default 40000; 1000000 with --tiny)\n"
	      "  --domains N     mail domains (default 4; 10 with --tiny)\n"
	      "  --users N       mailboxes over all domains (default 100; 1000 with --tiny)\n"
	      "  --attach-pct P  share of messages with a base64 attachment (default 12)\n"
	      "  --odd-names     add hard names to the first mailbox: spaces, non-UTF-8,\n"
	      "                  255 bytes, paths over PATH_MAX, symlink, empty file and dir\n"
	      "  --tiny          files of 10-200 bytes instead of messages (memory tests)\n"
	      "  --day           change OUTDIR like the next day of mail: 1% new messages,\n"
	      "                  1% flag renames, 0.3% deleted\n", f);
}

static uint64_t parse_num(const char *opt, const char *s, uint64_t min,
			  uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		die("invalid %s '%s': give a number from %" PRIu64 " to %" PRIu64,
		    opt, s, min, max);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "messages", required_argument, NULL, 'm' },
		{ "domains", required_argument, NULL, 'd' },
		{ "users", required_argument, NULL, 'u' },
		{ "attach-pct", required_argument, NULL, 'a' },
		{ "odd-names", no_argument, NULL, 'o' },
		{ "tiny", no_argument, NULL, 't' },
		{ "day", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct gen g = { .seed = 1, .attach_pct = 12.0 };
	int c, day_mode = 0, shape = 0;
	size_t i;
	char *end;

	die_status = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			g.seed = parse_num("--seed", optarg, 0, UINT64_MAX);
			break;
		case 'm':
			g.messages = parse_num("--messages", optarg, 1, 100000000);
			shape = 1;
			break;
		case 'd':
			g.domains = (unsigned)parse_num("--domains", optarg, 1, 10000);
			shape = 1;
			break;
		case 'u':
			g.users = (unsigned)parse_num("--users", optarg, 1, 1000000);
			shape = 1;
			break;
		case 'a':
			g.attach_pct = strtod(optarg, &end);
			if (end == optarg || *end || !(g.attach_pct >= 0) ||
			    g.attach_pct > 100)
				die("invalid --attach-pct '%s': give a percentage from 0 to 100",
				    optarg);
			break;
		case 'o':
			g.odd = 1;
			shape = 1;
			break;
		case 't':
			g.tiny = 1;
			shape = 1;
			break;
		case 'D':
			day_mode = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	if (day_mode && shape)
		die("--day takes only --seed and --attach-pct: the tree's shape is given");
	die_status = 1;

	for (i = 0; i < ARRAY_SIZE(words); i++)
		word_len[i] = (unsigned char)strlen(words[i]);
	/* explicit modes everywhere, whatever the caller's umask */
	umask(0);
	if (!g.messages)
		g.messages = g.tiny ? 1000000 : 40000;
	if (!g.domains)
		g.domains = g.tiny ? 10 : 4;
	if (!g.users)
		g.users = g.tiny ? 1000 : 100;
	if (day_mode)
		run_day(&g, argv[optind]);
	else
		generate(&g, argv[optind]);
	return 0;
}
