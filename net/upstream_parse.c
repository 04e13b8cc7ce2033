/*
 * upstream_parse.c - parse one upstream response (upstream_parse.h).
 *
 * DESIGN
 * Header names and values are appended to the response buffer as
 * NUL-terminated strings in arrival order (name, value, name, value...),
 * so a field split across reads just grows in place; http-parser calls
 * on_header_field again only to continue the same name, and calls
 * on_header_value (possibly with no bytes) before the next name. The body
 * follows the strings. When the response completes, the header array is
 * laid out behind the body (one buffer, one free) and its pointers set:
 * only then, because the buffer may move while it grows.
 *
 * Thread: the owner of the parser.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "upstream_parse.h"

enum { CB_NONE, CB_FIELD, CB_VALUE };

static int on_message_begin(http_parser *hp);
static int on_header_field(http_parser *hp, const char *at, size_t len);
static int on_header_value(http_parser *hp, const char *at, size_t len);
static int on_headers_complete(http_parser *hp);
static int on_body(http_parser *hp, const char *at, size_t len);
static int on_message_complete(http_parser *hp);

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void upstream_resp_init(struct upstream_resp *r, char *inl, size_t inl_cap)
{
	memset(r, 0, sizeof(*r));
	r->inl = inl;
	r->inl_cap = inl_cap;
	r->buf = inl;
	r->cap = inl_cap;
}

void upstream_resp_reset(struct upstream_resp *r)
{
	r->len = 0;
	r->body_off = r->body_len = 0;
	r->headers = NULL;
	r->status = 0;
	r->nheaders = 0;
}

void upstream_resp_dispose(struct upstream_resp *r)
{
	if (r->buf != r->inl)
		free(r->buf);
	upstream_resp_init(r, r->inl, r->inl_cap);
}

static int reserve(struct upstream_resp *r, size_t more)
{
	size_t need = r->len + more, cap = r->cap > 0 ? r->cap : 1024;
	char *p;

	if (need <= r->cap)
		return 0;
	if (need < r->len)
		return -ENOMEM;
	while (cap < need)
		cap = cap * 2 > cap ? cap * 2 : need;
	if (r->buf == r->inl) {
		p = malloc(cap);
		if (p != NULL && r->len > 0)
			memcpy(p, r->buf, r->len);
	} else {
		p = realloc(r->buf, cap);
	}
	if (p == NULL)
		return -ENOMEM;
	r->buf = p;
	r->cap = cap;
	return 0;
}

static int append(struct upstream_resp *r, const char *data, size_t len)
{
	if (reserve(r, len) != 0)
		return -ENOMEM;
	if (len > 0)
		memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

static struct upstream_parser *parser_of(http_parser *hp)
{
	return hp->data;
}

/* Record why parsing stopped; http-parser then reports a callback error. */
static int fail(struct upstream_parser *p, int err)
{
	if (p->err == 0)
		p->err = err;
	return -1;
}

void upstream_parser_start(struct upstream_parser *p, struct upstream_resp *out,
			   bool head_request, uint64_t max_body)
{
	memset(p, 0, sizeof(*p));
	http_parser_init(&p->hp, HTTP_RESPONSE);
	p->hp.data = p;
	p->out = out;
	p->max_body = max_body;
	p->head_request = head_request;
	upstream_resp_reset(out);
}

void upstream_parser_stream(struct upstream_parser *p, uint64_t over, upstream_sink_fn sink,
			    void *ctx)
{
	p->stream_over = over;
	p->sink = sink;
	p->sink_ctx = ctx;
}

static int finish(struct upstream_parser *p);

/* Complete the head (an empty body) and hand the body kept so far to the
 * sink: from now on `out` is not touched. */
static int start_streaming(struct upstream_parser *p)
{
	struct upstream_resp *r = p->out;
	size_t kept = r->body_len;

	p->streaming = true;
	r->body_len = 0;
	r->len = r->body_off;
	if (kept > 0 && p->sink(p->sink_ctx, r->buf + r->body_off, kept) != 0)
		return fail(p, -ENOMEM);
	return finish(p) != 0 ? fail(p, -ENOMEM) : 0;
}

static int on_message_begin(http_parser *hp)
{
	struct upstream_parser *p = parser_of(hp);

	/* Also after a 1xx interim response: start the real one afresh. */
	upstream_resp_reset(p->out);
	p->head_bytes = 0;
	p->last_cb = CB_NONE;
	p->in_trailers = false;
	return 0;
}

static int count_head(struct upstream_parser *p, size_t len)
{
	if (len > UPSTREAM_MAX_HEAD_BYTES || p->head_bytes + len > UPSTREAM_MAX_HEAD_BYTES)
		return fail(p, -EFBIG);
	p->head_bytes += (uint32_t)len;
	return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
	struct upstream_parser *p = parser_of(hp);
	struct upstream_resp *r = p->out;

	/* ": " and CRLF of a new field count as header bytes too. */
	if (count_head(p, len + (p->last_cb != CB_FIELD ? 4 : 0)) != 0)
		return -1;
	if (p->in_trailers) {
		p->last_cb = CB_FIELD;   /* trailers: counted, not kept */
		return 0;
	}
	if (p->last_cb != CB_FIELD) {
		if (r->nheaders >= UPSTREAM_MAX_HEADERS)
			return fail(p, -EFBIG);
		if (p->last_cb == CB_VALUE && append(r, "", 1) != 0)
			return fail(p, -ENOMEM);
		r->nheaders++;
		p->last_cb = CB_FIELD;
	}
	return append(r, at, len) != 0 ? fail(p, -ENOMEM) : 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
	struct upstream_parser *p = parser_of(hp);
	struct upstream_resp *r = p->out;

	if (count_head(p, len) != 0)
		return -1;
	if (p->in_trailers) {
		p->last_cb = CB_VALUE;
		return 0;
	}
	if (p->last_cb != CB_VALUE) {
		if (append(r, "", 1) != 0)     /* ends the name */
			return fail(p, -ENOMEM);
		p->last_cb = CB_VALUE;
	}
	return append(r, at, len) != 0 ? fail(p, -ENOMEM) : 0;
}

/* Whether the body's transfer coding is one we undo: none, or a single
 * "chunked" (RFC 9112 6.1). Any other (gzip, say, under chunked or ended
 * by the close) would reach the caller still applied, as if it were the
 * content, once Transfer-Encoding is dropped as hop-by-hop: such a
 * response is refused, as nginx refuses it. The header strings are still
 * name, value, name, value... from the start of the buffer. */
static bool transfer_coding_known(const struct upstream_resp *r)
{
	const char *s = r->buf;
	unsigned seen = 0;

	for (unsigned i = 0; i < r->nheaders; i++) {
		const char *v = s + strlen(s) + 1;
		size_t vlen = strlen(v), n = vlen;

		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (strcasecmp(s, "Transfer-Encoding") == 0 &&
		    (++seen > 1 || n != 7 || strncasecmp(v, "chunked", 7) != 0))
			return false;
		s = v + vlen + 1;
	}
	return true;
}

static int on_headers_complete(http_parser *hp)
{
	struct upstream_parser *p = parser_of(hp);
	struct upstream_resp *r = p->out;
	bool no_body;

	/* The status line counts too: http-parser keeps it to itself. */
	if (count_head(p, 16) != 0)
		return -1;
	if (p->last_cb == CB_FIELD && append(r, "", 1) != 0)  /* a name, no value */
		return fail(p, -ENOMEM);
	if (p->last_cb != CB_NONE && append(r, "", 1) != 0)
		return fail(p, -ENOMEM);
	p->last_cb = CB_NONE;
	p->in_trailers = true;
	/* RFC 9110 15: a status outside 100..599 is invalid and a client
	 * SHOULD treat it as a server error; passed on, a proxy would send
	 * it to its own client. */
	if (hp->http_major != 1 || hp->status_code < 100 || hp->status_code > 599 ||
	    hp->status_code == 101)
		return fail(p, -EPROTO);
	r->status = (uint16_t)hp->status_code;
	r->body_off = r->len;
	no_body = p->head_request || hp->status_code / 100 == 1 ||
		  hp->status_code == 204 || hp->status_code == 304;
	/* http-parser says whether the field came at all: most responses
	 * are not walked. */
	if (!no_body && hp->uses_transfer_encoding && !transfer_coding_known(r))
		return fail(p, -EPROTO);
	if (!no_body && !(hp->flags & F_CHUNKED) && (hp->flags & F_CONTENTLENGTH) &&
	    p->stream_over > 0 && hp->content_length > p->stream_over) {
		p->stream_len = (int64_t)hp->content_length;
		return start_streaming(p);
	}
	if (!no_body && !(hp->flags & F_CHUNKED) && (hp->flags & F_CONTENTLENGTH)) {
		if (hp->content_length > p->max_body)
			return fail(p, -EFBIG);
		/* One allocation for the body and the header array behind it. */
		if (reserve(r, (size_t)hp->content_length + alignof(struct upstream_hdr) +
			    (size_t)r->nheaders * sizeof(struct upstream_hdr)) != 0)
			return fail(p, -ENOMEM);
	}
	/* 1: no body, whatever the headers say (http-parser would wait for a
	 * 304's Content-Length bytes). */
	return no_body ? 1 : 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
	struct upstream_parser *p = parser_of(hp);
	struct upstream_resp *r = p->out;

	if (!p->streaming && p->stream_over > 0 && r->body_len + len > p->stream_over) {
		/* Unsized (a sized body over the threshold streams from its
		 * head on): chunked, or delimited by the close. */
		p->stream_len = -1;
		if (start_streaming(p) != 0)
			return -1;
	}
	if (p->streaming)
		return p->sink(p->sink_ctx, at, len) != 0 ? fail(p, -ENOMEM) : 0;
	if (len > p->max_body || r->body_len + len > p->max_body)
		return fail(p, -EFBIG);
	if (append(r, at, len) != 0)
		return fail(p, -ENOMEM);
	r->body_len += len;
	return 0;
}

/* Lay out the header array behind the body and point it at the strings,
 * dropping trailing whitespace from values. */
static int finish(struct upstream_parser *p)
{
	struct upstream_resp *r = p->out;
	size_t align = alignof(struct upstream_hdr);
	size_t pad = (align - (r->len % align)) % align;
	struct upstream_hdr *h;
	char *s;

	if (reserve(r, pad + (size_t)r->nheaders * sizeof(*h)) != 0)
		return -ENOMEM;
	h = (struct upstream_hdr *)(void *)(r->buf + r->len + pad);
	r->len += pad + (size_t)r->nheaders * sizeof(*h);
	s = r->buf;
	for (unsigned i = 0; i < r->nheaders; i++) {
		char *v;
		size_t vlen;

		h[i].name = s;
		v = s + strlen(s) + 1;
		vlen = strlen(v);
		s = v + vlen + 1;       /* step over before trimming in place */
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			v[--vlen] = '\0';
		h[i].value = v;
	}
	r->headers = h;
	return 0;
}

int upstream_resp_set_body(struct upstream_resp *r, const char *body, size_t len)
{
	size_t align = alignof(struct upstream_hdr), off = r->body_off + len;
	size_t pad = (align - (off % align)) % align;
	size_t total = off + pad + (size_t)r->nheaders * sizeof(struct upstream_hdr);
	char *p = malloc(total > 0 ? total : 1);
	struct upstream_hdr *h;

	if (p == NULL)
		return -ENOMEM;
	memcpy(p, r->buf, r->body_off);        /* the header strings */
	if (len > 0)
		memcpy(p + r->body_off, body, len);
	h = (struct upstream_hdr *)(void *)(p + off + pad);
	for (unsigned i = 0; i < r->nheaders; i++) {
		h[i].name = p + (r->headers[i].name - r->buf);
		h[i].value = p + (r->headers[i].value - r->buf);
	}
	if (r->buf != r->inl)
		free(r->buf);
	r->buf = p;
	r->cap = total;
	r->len = total;
	r->body_len = len;
	r->headers = h;
	return 0;
}

static int on_message_complete(http_parser *hp)
{
	struct upstream_parser *p = parser_of(hp);

	if (hp->status_code / 100 == 1)
		return 0;           /* interim: the real response follows */
	if (!p->streaming && finish(p) != 0)   /* streaming: finished at the switch */
		return fail(p, -ENOMEM);
	p->keep_alive = http_should_keep_alive(hp) != 0;
	p->done = true;
	/* Stop right after this response: what follows is not ours. */
	http_parser_pause(hp, 1);
	return 0;
}

ssize_t upstream_parser_feed(struct upstream_parser *p, const char *data, size_t len)
{
	size_t n;
	enum http_errno e;

	if (p->done || len == 0)
		return 0;
	p->started = true;
	n = http_parser_execute(&p->hp, &settings, data, len);
	e = HTTP_PARSER_ERRNO(&p->hp);
	if (p->done)
		return (ssize_t)n;
	if (e != HPE_OK)
		return p->err != 0 ? p->err : -EPROTO;
	return (ssize_t)n;
}

int upstream_parser_eof(struct upstream_parser *p)
{
	if (p->done)
		return 0;
	if (!p->started)
		return -EPROTO;
	http_parser_execute(&p->hp, &settings, NULL, 0);
	if (p->done)
		return 0;
	return p->err != 0 ? p->err : -EPROTO;
}
