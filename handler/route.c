/*
 * route.c - route patterns and matching (see route.h).
 *
 * DESIGN
 * A pattern is split once into segments (literal, :param or *rest); a
 * match splits the path on '/' as it walks, without copying, and decodes
 * only parameter values. Literal segments are compared raw: registered
 * patterns contain no escapes; a parameter with a bad escape or %00 makes
 * the whole match 400, but only on the route that would run. A linear
 * scan is enough for the dozens of routes an application has; nothing
 * here allocates while matching.
 *
 * Thread: the table's owner.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "route.h"

enum seg_kind { SEG_LIT, SEG_PARAM, SEG_REST };

struct seg {
	enum seg_kind kind;
	const char *text;   /* literal text or parameter name, in `pattern` */
	size_t len;
};

struct route {
	char *pattern;      /* owns the segment texts (split in place) */
	char *text;         /* the pattern as registered (logs) */
	struct seg segs[ROUTE_MAX_SEGMENTS];
	unsigned nsegs;
	unsigned methods;
	route_fn fn;
	void *data;
	struct route *next;
};

struct route_table {
	struct route *head;
	struct route **tail;
};

struct route_table *route_table_create(void)
{
	struct route_table *t = calloc(1, sizeof(*t));

	if (t != NULL)
		t->tail = &t->head;
	return t;
}

void route_table_destroy(struct route_table *t)
{
	struct route *r, *next;

	if (t == NULL)
		return;
	for (r = t->head; r != NULL; r = next) {
		next = r->next;
		free(r->pattern);
		free(r->text);
		free(r);
	}
	free(t);
}

unsigned route_table_flags(const struct route_table *t)
{
	unsigned flags = 0;

	for (const struct route *r = t->head; r != NULL; r = r->next)
		flags |= r->methods & ~(unsigned)ROUTE_ANY;
	return flags;
}

unsigned route_method_bit(unsigned m)
{
	switch (m) {
	case HTTP_GET: return ROUTE_GET;
	case HTTP_HEAD: return ROUTE_HEAD;
	case HTTP_POST: return ROUTE_POST;
	case HTTP_PUT: return ROUTE_PUT;
	case HTTP_DELETE: return ROUTE_DELETE;
	case HTTP_PATCH: return ROUTE_PATCH;
	case HTTP_OPTIONS: return ROUTE_OPTIONS;
	default: return 0;
	}
}

static int parse_pattern(struct route *r, char *err, size_t errlen)
{
	char *p = r->pattern;

	if (*p != '/') {
		snprintf(err, errlen, "route %s: a pattern starts with '/'", r->pattern);
		return -EINVAL;
	}
	*p++ = '\0';  /* segments start after each '/' */
	unsigned nparams = 0;

	while (r->nsegs < ROUTE_MAX_SEGMENTS) {
		struct seg *s = &r->segs[r->nsegs];
		char *end = strchr(p, '/');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (end != NULL)
			*end = '\0';
		s->kind = SEG_LIT;
		s->text = p;
		s->len = len;
		if (len > 0 && (p[0] == ':' || p[0] == '*')) {
			s->kind = p[0] == ':' ? SEG_PARAM : SEG_REST;
			s->text = p + 1;
			s->len = len - 1;
			if (s->len == 0 || ++nparams > ROUTE_MAX_PARAMS ||
			    (s->kind == SEG_REST && end != NULL)) {
				snprintf(err, errlen, "a route pattern has unnamed, too many (> %d) "
					 "or non-final *rest parameters", ROUTE_MAX_PARAMS);
				return -EINVAL;
			}
		}
		r->nsegs++;
		if (end == NULL)
			return 0;
		p = end + 1;
	}
	snprintf(err, errlen, "a route pattern has more than %d segments", ROUTE_MAX_SEGMENTS);
	return -EINVAL;
}

int route_add(struct route_table *t, unsigned methods, const char *pattern,
	      route_fn fn, void *data, char *err, size_t errlen)
{
	struct route *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL || (r->pattern = strdup(pattern)) == NULL ||
	    (r->text = strdup(pattern)) == NULL) {
		if (r != NULL)
			free(r->pattern);
		free(r);
		snprintf(err, errlen, "route %s: out of memory", pattern);
		return -ENOMEM;
	}
	if (fn == NULL || (methods & ROUTE_ANY) == 0) {
		snprintf(err, errlen, "route %s: no function or no method", pattern);
		rc = -EINVAL;
	} else {
		rc = parse_pattern(r, err, errlen);
	}
	if (rc != 0) {
		free(r->pattern);
		free(r->text);
		free(r);
		return rc;
	}
	if (methods & ROUTE_GET)
		methods |= ROUTE_HEAD;
	r->methods = methods;
	r->fn = fn;
	r->data = data;
	*t->tail = r;
	t->tail = &r->next;
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

long route_decode(const char *in, size_t len, char *out, size_t outlen, int plus_space)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -EBADMSG;
			hi = hexval((unsigned char)in[i + 1]);
			lo = hexval((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0)
				return -EBADMSG;
			c = (char)(hi << 4 | lo);
			/* The output is a C string: a NUL in it would silently
			 * cut the value there. */
			if (c == '\0')
				return -EILSEQ;
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (o + 1 >= outlen)
			return -ENOSPC;
		out[o++] = c;
	}
	if (outlen == 0)
		return -ENOSPC;
	out[o] = '\0';
	return (long)o;
}

/* Whether route `r` matches `path` segment by segment, escapes aside.
 * With `buf`, its parameters are also decoded into `out`: 400 for a bad
 * escape or %00, or for no room. The shape is judged first and without
 * decoding, so a bad escape makes a 400 only on the route the request
 * would really run: "/jobs/%zz/x" where no route has that many segments
 * stays 404, and "DELETE /jobs/%zz" on a GET route stays 405. */
static int try_route(const struct route *r, const char *path, size_t path_len,
		     char *buf, size_t buflen, struct route_match *out)
{
	const char *p = path + 1, *end = path + path_len;
	size_t used = 0;

	out->nparams = 0;
	for (unsigned i = 0; i < r->nsegs; i++) {
		const struct seg *s = &r->segs[i];
		const char *slash;
		size_t len;
		long n;

		if (p > end)
			return 404;   /* the path has fewer segments */
		if (s->kind == SEG_REST) {
			slash = end;
		} else {
			slash = memchr(p, '/', (size_t)(end - p));
			if (slash == NULL)
				slash = end;
		}
		len = (size_t)(slash - p);
		if (s->kind == SEG_LIT) {
			if (len != s->len || memcmp(p, s->text, len) != 0)
				return 404;
		} else if (len == 0 && s->kind == SEG_PARAM) {
			return 404;   /* "/jobs/" does not name a job */
		} else if (buf != NULL) {
			n = route_decode(p, len, buf + used, buflen - used, 0);
			if (n < 0)
				return 400;
			out->names[out->nparams] = s->text;
			out->values[out->nparams++] = buf + used;
			used += (size_t)n + 1;
		}
		p = slash + 1;
	}
	return p > end ? 200 : 404;   /* every path segment consumed */
}

int route_match(const struct route_table *t, unsigned method_bit, const char *path,
		size_t path_len, char *buf, size_t buflen, struct route_match *out)
{
	int status = 404;

	memset(out, 0, sizeof(*out));
	if (path_len == 0 || path[0] != '/')
		return 404;
	for (const struct route *r = t->head; r != NULL; r = r->next) {
		struct route_match m;

		if (try_route(r, path, path_len, NULL, 0, &m) != 200)
			continue;
		if ((r->methods & method_bit) == 0) {
			out->allow |= r->methods & ROUTE_ANY;
			status = 405;
			continue;
		}
		if (buf != NULL && try_route(r, path, path_len, buf, buflen, &m) != 200)
			return 400;
		m.fn = r->fn;
		m.data = r->data;
		m.pattern = r->text;
		m.allow = 0;
		m.flags = r->methods & ~(unsigned)ROUTE_ANY;
		*out = m;
		return 200;
	}
	return status;
}

size_t route_allow_string(unsigned allow, char *out, size_t outlen)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ ROUTE_GET, "GET" }, { ROUTE_HEAD, "HEAD" }, { ROUTE_POST, "POST" },
		{ ROUTE_PUT, "PUT" }, { ROUTE_DELETE, "DELETE" }, { ROUTE_PATCH, "PATCH" },
		{ ROUTE_OPTIONS, "OPTIONS" },
	};
	size_t n = 0;

	if (outlen == 0)
		return 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int w;

		if ((allow & names[i].bit) == 0)
			continue;
		w = snprintf(out + n, outlen - n, "%s%s", n > 0 ? ", " : "", names[i].name);
		if (w < 0 || (size_t)w >= outlen - n)
			break;
		n += (size_t)w;
	}
	return n;
}
