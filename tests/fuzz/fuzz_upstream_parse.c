/*
 * fuzz_upstream_parse.c - libFuzzer target: arbitrary bytes from an
 * "upstream" through the upstream client's response parser
 * (net/upstream_parse.c: http-parser, header and body storage, limits,
 * interim responses, close-delimited bodies).
 *
 * Input layout: byte 0 picks how the rest is cut into reads (1..64 bytes,
 * or all at once), byte 1 the client's side: bit 0 the request was HEAD,
 * bit 1 a small body limit (100 bytes), bit 2 the connection closes after
 * the last byte, bit 3 a body over 50 bytes is streamed (the reverse
 * proxy's mode), bit 4 the response answers a call that follows
 * redirects (net/upstream_redirect.c resolves its Location); the
 * remaining bytes are what the upstream sends.
 *
 * Invariants checked (abort on violation): the same bytes cut differently
 * give the same outcome (complete or not, error, status, headers, body);
 * a complete response's header strings and body lie inside its buffer and
 * respect the limits; nothing is consumed after completion; replacing the
 * body (upstream_resp_set_body, as gzip decoding does) keeps every header
 * string in place; a streamed body keeps an empty one in the response and
 * reaches the sink whole and in order, however it was cut; a followed
 * redirect's request line is "GET <path>[?query] HTTP/1.1" with a path
 * free of "." and ".." segments and of spaces and control bytes; no
 * memory leaks (ASan) once disposed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/upstream_internal.h"

struct outcome {
	int err;
	bool done;
	struct upstream_resp r;
	char inl[256];
	struct upstream_parser p;
	char *sunk;                    /* the streamed body */
	size_t nsunk;
};

static int sink(void *ctx, const char *data, size_t len)
{
	struct outcome *o = ctx;
	char *p = realloc(o->sunk, o->nsunk + len + 1);

	if (p == NULL)
		abort();
	memcpy(p + o->nsunk, data, len);
	o->sunk = p;
	o->nsunk += len;
	return 0;
}

/* Replacing the body (what gzip decoding does) keeps every header where
 * it was, in the new buffer. */
static void check_set_body(struct upstream_resp *r)
{
	size_t n = r->body_len;
	unsigned nh = r->nheaders;
	char *rev = malloc(n + 1), *names = malloc(r->body_off + 1);
	size_t off[UPSTREAM_MAX_HEADERS][2];

	if (rev == NULL || names == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		rev[i] = r->buf[r->body_off + n - 1 - i];
	memcpy(names, r->buf, r->body_off);
	for (unsigned i = 0; i < nh; i++) {
		off[i][0] = (size_t)(r->headers[i].name - r->buf);
		off[i][1] = (size_t)(r->headers[i].value - r->buf);
	}
	if (upstream_resp_set_body(r, rev, n) != 0)
		abort();
	if (r->body_len != n || memcmp(r->buf + r->body_off, rev, n) != 0 || r->nheaders != nh ||
	    memcmp(r->buf, names, r->body_off) != 0)
		abort();
	for (unsigned i = 0; i < nh; i++)
		if ((size_t)(r->headers[i].name - r->buf) != off[i][0] ||
		    (size_t)(r->headers[i].value - r->buf) != off[i][1])
			abort();
	/* Back as it was, for the comparison of the two cuts. */
	for (size_t i = 0; i < n; i++)
		rev[i] = r->buf[r->body_off + n - 1 - i];
	if (upstream_resp_set_body(r, rev, n) != 0)
		abort();
	free(rev);
	free(names);
}

static void run(struct outcome *o, const uint8_t *data, size_t size, size_t cut,
		uint8_t flags)
{
	uint64_t max_body = (flags & 2) ? 100 : 1 << 20;
	size_t off = 0;

	upstream_resp_init(&o->r, o->inl, sizeof(o->inl));
	upstream_parser_start(&o->p, &o->r, flags & 1, max_body);
	if (flags & 8)
		upstream_parser_stream(&o->p, 50, sink, o);
	o->nsunk = 0;
	o->err = 0;
	while (off < size && !upstream_parser_done(&o->p)) {
		size_t n = size - off < cut ? size - off : cut;
		ssize_t used = upstream_parser_feed(&o->p, (const char *)data + off, n);

		if (used < 0) {
			o->err = (int)used;
			break;
		}
		if ((size_t)used > n || ((size_t)used < n && !upstream_parser_done(&o->p)))
			abort();
		off += (size_t)used;
		if (upstream_parser_done(&o->p))
			break;
	}
	if (o->err == 0 && !upstream_parser_done(&o->p) && (flags & 4))
		o->err = upstream_parser_eof(&o->p);
	o->done = upstream_parser_done(&o->p);
	if (o->done) {
		if (upstream_parser_feed(&o->p, "x", 1) != 0)
			abort();
		if ((upstream_parser_streaming(&o->p) && (o->r.body_len != 0 || o->nsunk <= 50)) ||
		    (!upstream_parser_streaming(&o->p) && o->nsunk != 0))
			abort();
		if (o->r.body_len > max_body || o->r.body_off + o->r.body_len > o->r.len ||
		    o->r.nheaders > UPSTREAM_MAX_HEADERS || o->r.status < 200 || o->r.status > 599)
			abort();
		for (unsigned i = 0; i < o->r.nheaders; i++) {
			const char *nm = o->r.headers[i].name, *v = o->r.headers[i].value;

			if (nm < o->r.buf || v < nm || v + strlen(v) >= o->r.buf + o->r.body_off)
				abort();
		}
		check_set_body(&o->r);
	}
}

static bool same(const struct outcome *a, const struct outcome *b)
{
	if (a->done != b->done || (a->err != 0) != (b->err != 0))
		return false;
	if (!a->done)
		return true;
	if (a->nsunk != b->nsunk || (a->nsunk > 0 && memcmp(a->sunk, b->sunk, a->nsunk) != 0))
		return false;
	if (a->r.status != b->r.status || a->r.nheaders != b->r.nheaders ||
	    a->r.body_len != b->r.body_len ||
	    memcmp(a->r.buf + a->r.body_off, b->r.buf + b->r.body_off, a->r.body_len) != 0)
		return false;
	for (unsigned i = 0; i < a->r.nheaders; i++)
		if (strcmp(a->r.headers[i].name, b->r.headers[i].name) != 0 ||
		    strcmp(a->r.headers[i].value, b->r.headers[i].value) != 0)
			return false;
	return true;
}

/* The target of a followed redirect's request line: a path, then maybe a
 * query; no "." or ".." segment in the path (RFC 3986 5.2.4). */
static void check_request_line(const char *head, size_t len)
{
	const char *t = head + 4, *end = memchr(t, ' ', len - 4), *seg;

	if (len < 5 || memcmp(head, "GET /", 5) != 0 || end == NULL ||
	    (size_t)(head + len - end) < 11 || memcmp(end, " HTTP/1.1\r\n", 11) != 0)
		abort();
	for (const char *c = t; c < end; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '#')
			abort();
	for (seg = t; seg < end && *seg == '/';) {
		const char *next = seg + 1;
		size_t n;

		while (next < end && *next != '/' && *next != '?')
			next++;
		n = (size_t)(next - seg - 1);
		if ((n == 1 && seg[1] == '.') || (n == 2 && seg[1] == '.' && seg[2] == '.'))
			abort();
		seg = next;
	}
}

/* Bit 4: the bytes answer a GET of a URL with a path and a query, which
 * follows one redirect. */
static void run_redirect(const uint8_t *data, size_t size)
{
	struct upstream_parser p;
	struct upstream_call *u;
	int rc;

	u = upstream_call_new(HTTP_GET, "http://127.0.0.1:9000/dir/sub/start?q=0", &rc);
	if (u == NULL)
		abort();
	upstream_call_follow_redirects(u, 1, false);
	upstream_parser_start(&p, &u->resp, false, 1 << 20);
	if (upstream_parser_feed(&p, (const char *)data, size) >= 0 && upstream_parser_done(&p) &&
	    up_redirect(NULL, u) == 1)   /* http: no downgrade to log (pool NULL) */
		check_request_line(u->head, u->head_len);
	upstream_call_free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome whole, pieces;
	size_t cut;
	uint8_t flags;

	if (size < 2)
		return 0;
	cut = data[0] % 65 == 0 ? size : data[0] % 65;
	flags = data[1];
	data += 2;
	size -= 2;
	run(&whole, data, size, size > 0 ? size : 1, flags);
	run(&pieces, data, size, cut, flags);
	/* An error may be found at different points; a success may not. */
	if (!same(&whole, &pieces))
		abort();
	if (flags & 16)
		run_redirect(data, size);
	upstream_resp_dispose(&whole.r);
	upstream_resp_dispose(&pieces.r);
	free(whole.sunk);
	free(pieces.sunk);
	whole.sunk = pieces.sunk = NULL;
	return 0;
}
