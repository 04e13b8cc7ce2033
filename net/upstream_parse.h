/*
 * upstream_parse.h - one HTTP/1.1 response read from an upstream, without
 * sockets.
 *
 * DESIGN
 * An upstream_parser turns the bytes an upstream sends into a
 * `struct upstream_resp`: status, header fields and the de-chunked body, all
 * copied into ONE buffer that the response owns (and that travels back to
 * the caller inside the call message). Parsing is Debian's http-parser
 * (type HTTP_RESPONSE); this module adds the client's rules:
 *  - limits: the status line and header block (UPSTREAM_MAX_HEAD_BYTES,
 *    UPSTREAM_MAX_HEADERS) and the decoded body (`max_body`, checked
 *    against Content-Length before the body arrives): -EFBIG;
 *  - interim 1xx responses are skipped; 101 is refused (no upgrades), and
 *    so is a status outside 100..599 (-EPROTO: 502 from a proxy);
 *  - the answer to HEAD has no body whatever its headers say;
 *  - a body's only transfer coding may be chunked (undone here): any
 *    other, alone or under chunked, is -EPROTO, never passed on as content;
 *  - a response delimited by the connection's close completes on EOF;
 *  - it stops at the end of the response: bytes after it are not parsed
 *    (the connection is then not reusable: we never pipeline);
 *  - streaming, when asked (upstream_parser_stream): a body over a size
 *    (by its Content-Length, or once an unsized body grows past it) is
 *    not kept: the response completes its head (status, headers, an
 *    empty body) and every body byte from then on, the ones kept so far
 *    first, goes to a sink; neither max_body nor the buffer applies.
 * The socket side (upstream_io.c) and the unit tests drive the same code.
 *
 * It never blocks, never reads the clock, never touches a socket.
 *
 * Owner: the upstream actor thread parsing the response; afterwards the
 * response belongs to the call message (who frees it: upstream.h).
 */
#ifndef ACTORD_UPSTREAM_PARSE_H
#define ACTORD_UPSTREAM_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <http_parser.h>

#include "upstream.h"

#define UPSTREAM_MAX_HEAD_BYTES (64u * 1024u)
#define UPSTREAM_MAX_HEADERS 128

/* Owner: see the file comment. Fields are read-only outside this module. */
struct upstream_resp {
	char *buf;                     /* `inl` or malloc'd */
	char *inl;                     /* storage inside the owner, or NULL */
	size_t len, cap, inl_cap;
	size_t body_off, body_len;
	const struct upstream_hdr *headers;  /* inside buf once complete */
	uint16_t status;
	uint16_t nheaders;
};

/* Takes `len` body bytes of a streamed response. 0 or -ENOMEM. */
typedef int (*upstream_sink_fn)(void *ctx, const char *data, size_t len);

/* Owner: the upstream actor thread. Fields are private to upstream_parse.c. */
struct upstream_parser {
	http_parser hp;
	struct upstream_resp *out;
	uint64_t max_body;
	uint32_t head_bytes;
	int err;                       /* set by a callback that fails */
	uint8_t last_cb;
	bool head_request;
	bool in_trailers;
	bool done;
	bool keep_alive;
	bool started;                  /* a byte of the response arrived */
	bool streaming;                /* the head is complete; the body goes to sink */
	uint64_t stream_over;          /* 0: never stream */
	upstream_sink_fn sink;
	void *sink_ctx;
	int64_t stream_len;            /* the streamed body's length; -1: unknown */
};

/* An empty response using `inl_cap` bytes at `inl` (may be NULL/0) before
 * it allocates. Thread: owner. */
void upstream_resp_init(struct upstream_resp *r, char *inl, size_t inl_cap);
/* Forget what was parsed, keep the memory. Thread: owner. */
void upstream_resp_reset(struct upstream_resp *r);
/* Free the memory it allocated. Thread: owner. */
void upstream_resp_dispose(struct upstream_resp *r);

/* Replace the body of a complete response by `len` bytes at `body`
 * (copied; the headers stay valid). 0 or -ENOMEM. Thread: owner. */
int upstream_resp_set_body(struct upstream_resp *r, const char *body, size_t len);

/* Start parsing a response into `out` (reset first) to a request that
 * was HEAD or not, with at most `max_body` body bytes. Thread: owner. */
void upstream_parser_start(struct upstream_parser *p, struct upstream_resp *out,
			   bool head_request, uint64_t max_body);

/* After upstream_parser_start: stream a body over `over` bytes (> 0) to
 * `sink` instead of keeping it (see DESIGN). Thread: owner. */
void upstream_parser_stream(struct upstream_parser *p, uint64_t over, upstream_sink_fn sink,
			    void *ctx);

/* Whether the body is being streamed: the head in `out` is complete and
 * stays as it is. Thread: owner. */
static inline bool upstream_parser_streaming(const struct upstream_parser *p)
{
	return p->streaming;
}

/* The streamed body's Content-Length, or -1 when it is not known
 * (chunked, or delimited by the close). Thread: owner. */
static inline int64_t upstream_parser_stream_len(const struct upstream_parser *p)
{
	return p->stream_len;
}

/* Parse `len` bytes. Returns the bytes consumed: all of them, or fewer
 * once the response is complete (upstream_parser_done; the rest is not
 * part of it). -EPROTO malformed, -EFBIG over a limit, -ENOMEM.
 * Thread: owner. */
ssize_t upstream_parser_feed(struct upstream_parser *p, const char *data, size_t len);

/* The upstream closed the connection: 0 if that completed the response
 * (or it was already complete), -EPROTO if it cut it short. Thread: owner. */
int upstream_parser_eof(struct upstream_parser *p);

/* Whether the response is complete. Thread: owner. */
static inline bool upstream_parser_done(const struct upstream_parser *p)
{
	return p->done;
}

/* Whether any byte of the response arrived (a failure before that may be
 * a pooled connection the upstream had closed: retryable). */
static inline bool upstream_parser_started(const struct upstream_parser *p)
{
	return p->started;
}

/* Whether the connection may carry another request after this complete
 * response (HTTP/1.1 without "Connection: close", framed by length or
 * chunks). Thread: owner. */
static inline bool upstream_parser_keep_alive(const struct upstream_parser *p)
{
	return p->done && p->keep_alive;
}

#endif
