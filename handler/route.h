/*
 * route.h - the route table: method + path pattern -> handler function.
 *
 * DESIGN
 * Patterns are literal segments and named parameters: "/plaintext",
 * "/jobs/:id", "/mongo/:what", or a trailing "*rest" that matches the rest
 * of the path (pattern "/proxy/" + "*path" takes "/proxy/a/b" with path "a/b"). Matching walks the routes in registration
 * order and takes the first whose pattern matches; literal routes are
 * therefore registered before parameterised ones that overlap. A path
 * that matches some pattern but not with this method yields 405 and the
 * Allow list; no pattern at all, 404. HEAD is served by GET routes.
 *
 * A table is built once (start-up or reload) and then only read: each
 * handler actor owns its own table, so nothing is shared between threads.
 *
 * Thread: the owning handler actor (or the controlling thread while it
 * builds a table that it then hands over).
 */
#ifndef ACTORD_ROUTE_H
#define ACTORD_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define ROUTE_MAX_PARAMS 8
#define ROUTE_MAX_SEGMENTS 32

struct hreq;
typedef void (*route_fn)(struct hreq *r);

/* Method bits for route_add (a route may accept several). */
enum route_method {
	ROUTE_GET = 1u << 0,
	ROUTE_HEAD = 1u << 1,     /* implied by ROUTE_GET */
	ROUTE_POST = 1u << 2,
	ROUTE_PUT = 1u << 3,
	ROUTE_DELETE = 1u << 4,
	ROUTE_PATCH = 1u << 5,
	ROUTE_OPTIONS = 1u << 6,
	ROUTE_ANY = 0x7fu,
	/* Not a method: never compress this route's responses (the
	 * TechEmpower routes; or bodies that are compressed already). */
	ROUTE_NO_COMPRESS = 1u << 16,
	/* Not a method: the route takes a streamed request body
	 * (hreq_body_stream, hreq_read_body; the reverse proxy): every
	 * non-empty body, or under a proxy prefix the proxy's large ones.
	 * Any other route that meets one answers 413. */
	ROUTE_STREAM_BODY = 1u << 17,
};

struct route_table;

/* A matched route: the function and the parameters taken from the path
 * (pointers into `buf`, NUL-terminated, percent-decoded). */
struct route_match {
	route_fn fn;
	void *data;                          /* as given to route_add */
	const char *pattern;                 /* as given to route_add ("/jobs/:id") */
	unsigned nparams;
	const char *names[ROUTE_MAX_PARAMS];
	const char *values[ROUTE_MAX_PARAMS];
	unsigned allow;                      /* 405: the methods the path takes */
	unsigned flags;                      /* ROUTE_NO_COMPRESS, ROUTE_STREAM_BODY */
};

struct route_table *route_table_create(void);
void route_table_destroy(struct route_table *t);

/* The flags (ROUTE_NO_COMPRESS, ROUTE_STREAM_BODY) of any route in `t`,
 * or'ed together. */
unsigned route_table_flags(const struct route_table *t);

/* Add a route. `pattern` is copied. `data` is passed back in the match
 * (for routes configured at run time, such as a proxy prefix).
 * 0, -EINVAL with a reason in `err` (bad pattern, too many parameters), or
 * -ENOMEM. */
int route_add(struct route_table *t, unsigned methods, const char *pattern,
	      route_fn fn, void *data, char *err, size_t errlen);

/* The route_method bit of an http_parser method number, 0 if none. */
unsigned route_method_bit(unsigned http_method);

/* Match `path` (raw, as received) for `method_bit`. Parameter values are
 * percent-decoded into `buf` (`buflen` bytes). Returns 200 and fills `out`;
 * 404; 405 (out->allow set); 400 when the route that takes this path and
 * method has a parameter whose escapes are malformed or decode to NUL
 * (%00), or whose parameters do not fit `buf` (route_decode's errors). A
 * path no route's segments fit is 404 and a method none of them takes
 * 405, whatever its escapes. The decoded parameters never need more than
 * path_len + 1 bytes. `buf` NULL: which route, without its parameters
 * (out->nparams 0) and so never 400. */
int route_match(const struct route_table *t, unsigned method_bit, const char *path,
		size_t path_len, char *buf, size_t buflen, struct route_match *out);

/* Write an Allow header value ("GET, HEAD, POST") for `allow`. Returns its
 * length. */
size_t route_allow_string(unsigned allow, char *out, size_t outlen);

/* Percent-decode `len` bytes of `in` into `out` (at most outlen - 1
 * bytes, NUL-terminated); `plus_space` turns '+' into ' ' (query strings).
 * Returns the decoded length, or -EBADMSG for a malformed escape ("%zz",
 * "%4"), -EILSEQ for "%00" (a NUL would cut the C string: every caller
 * refuses the value rather than see a prefix of it), -ENOSPC for no
 * room. */
long route_decode(const char *in, size_t len, char *out, size_t outlen, int plus_space);

#endif
