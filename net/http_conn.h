/*
 * http_conn.h - one HTTP/1.1 connection's protocol state, without sockets.
 *
 * DESIGN
 * An http_conn turns input bytes into requests and replies into output
 * bytes; the network actor (net_io.c) owns the socket, the timers and the
 * writes, the fuzzer and the unit tests drive the very same code with
 * buffers. Parsing is Debian's http-parser; this module adds what a server
 * needs around it:
 *  - each request is copied into ONE buffer owned by its envelope (struct
 *    net_req, net/http_msg.h): URL (NUL-terminated path and query),
 *    headers (NUL-terminated, with an http_hdr array), body; then handed to
 *    env->submit. When every handler mailbox is full (-EAGAIN) the request
 *    is parked: kept, complete, while nothing more is parsed on the
 *    connection (so the owner stops reading it and TCP pushes back on the
 *    client), until the owner offers it again (http_conn_submit_parked);
 *    a full mailbox is never answered 503 here;
 *  - strict framing (RFC 9112) that the lenient http-parser build lacks:
 *    http_frame.h checks the raw bytes before the parser sees them (line
 *    endings, field-name syntax, chunked framing); the callbacks check
 *    Host (exactly one; required in HTTP/1.1), Transfer-Encoding, Expect
 *    (417 unless 100-continue) and the version (505 unless HTTP/1.x);
 *  - limits: request line (414), header bytes and count (431), body size
 *    (413, decided from Content-Length before the body is read), CL with
 *    TE or duplicate CL (400, from http-parser), malformed (400). An error
 *    is answered in its turn, then the connection closes;
 *  - memory: a body buffer grows as the body arrives, never to more than
 *    the declared Content-Length;
 *  - streamed bodies (env->upload_wanted: the reverse proxy's large
 *    uploads, and the bodies of routes that read them piece by piece):
 *    the request is submitted at the end of its head, and the
 *    body is handed to env->upload piece by piece instead of being
 *    buffered; the answer to such a request, if it comes before the body
 *    ended, closes the connection (the rest is read and discarded);
 *  - ordering: every request gets a sequence number; answers (handler
 *    replies and the actor's own errors) wait in a list sorted by it and
 *    leave strictly in request order (http_conn_output), so a batch of
 *    pipelined answers goes out in one write;
 *  - flow control: at most http.max_pipeline requests in flight; input
 *    beyond that is held, unparsed, until answers leave;
 *  - deadlines (http_conn_deadline): header block (absolute, from the
 *    request's first byte, or from accept for the first request), body
 *    idle and body rate (body_timeout_ms plus one second per
 *    http.body_min_rate bytes received, from the end of the header block
 *    or the 100 Continue), keep-alive idle, and a backstop for a handler
 *    that never replies (request_timeout_ms + 1 s: 504, then close);
 *  - Upgrade: what follows such a request is held unparsed until its
 *    answer: a 101 hands it to the WebSocket (ws_conn.c), any other answer
 *    means HTTP/1.1 goes on (RFC 9110 7.8); CONNECT closes after its answer;
 *  - Expect: 100-continue (HTTP/1.1 only; sent when the request is next in
 *    line; skipped if the body has already arrived), HEAD (no body, same
 *    Content-Length), HTTP/1.0 with and without keep-alive;
 *  - the access log: one log_access line per response written, when
 *    env->access_log is set.
 *
 * It does not read the clock (the caller passes now_ns), never blocks, and
 * never touches a socket.
 *
 * Owner: one network actor thread per connection. The struct is public
 * only so the owner can embed it; its fields are private to http_conn.c.
 */
#ifndef ACTORD_HTTP_CONN_H
#define ACTORD_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <http_parser.h>

#include "base/log_budget.h"
#include "config/config.h"
#include "http_frame.h"
#include "http_out.h"
#include "net_buf.h"
#include "net_req.h"
#include "net_stats.h"

struct http_conn;

/* A streamed request body's events (http_conn_env.upload), in order:
 * BEGIN, DATA..., then END or ABORT. */
enum http_upload_event {
	HTTP_UPLOAD_BEGIN,   /* the head was submitted; the body follows */
	HTTP_UPLOAD_DATA,    /* `len` more body bytes (de-chunked) */
	HTTP_UPLOAD_END,     /* the body is complete */
	HTTP_UPLOAD_ABORT,   /* it never will be: `status` 413 or 400 (the body
			      * was refused), or 0 (the connection ends first) */
};

/* What every connection of one owner shares. Owner: that owner's thread. */
struct http_conn_env {
	const struct config_http *http;   /* limits; may be swapped between calls */
	struct net_req_pool *pool;
	struct net_stats *stats;
	const struct http_date *date;     /* refreshed by the owner */
	/* Hand a complete request to a handler. 0: the handler owns it now.
	 * Any error leaves it with the caller (-EAGAIN: every mailbox full:
	 * the request is parked; any other error: answered 503). */
	int (*submit)(void *ctx, struct http_msg *hm);
	/* A request of `c` was parked (submit said -EAGAIN); the owner offers
	 * it again with http_conn_submit_parked. May be NULL. */
	void (*parked)(void *ctx, struct http_conn *c);
	/* Whether the body of the request whose head just ended is streamed
	 * to a consumer instead of buffered (net/stream_msg.h, "Uploads"):
	 * `method` is http_parser's, `url` the raw request target, `len` the
	 * Content-Length or -1 (chunked). If so, *max is its limit (0: none)
	 * and replaces http.max_body_bytes. May be NULL: every body is
	 * buffered. */
	bool (*upload_wanted)(void *ctx, unsigned method, const char *url, size_t url_len,
			      int64_t len, uint64_t *max);
	/* A streamed body's events (enum http_upload_event); the request's
	 * seq is c->upload_seq. Required when upload_wanted is set. */
	void (*upload)(void *ctx, struct http_conn *c, enum http_upload_event ev,
		       const char *data, size_t len, unsigned status);
	/* "ip:port" of the peer, for log lines. May be NULL. */
	void (*describe)(void *ctx, const struct http_conn *c, char *buf, size_t len);
	void *ctx;
	/* Write an access-log line (log_access) per response. The owner sets
	 * it from the live config: when off, responses cost nothing more. */
	bool access_log;
	/* Bad-request log lines: at most HTTP_CONN_LOG_PER_S per second. */
	struct log_budget log_budget;
};

#define HTTP_CONN_LOG_PER_S 20
/* The handler backstop fires this long after http.request_timeout_ms, so
 * the handler's own 504 normally wins. */
#define HTTP_CONN_HANDLER_GRACE_MS 1000

/* Owner: one network actor thread. Fields are private to http_conn.c. */
struct http_conn {
	http_parser parser;
	struct http_conn_env *env;
	uint64_t id;                  /* conn_id stamped on every request */
	struct net_req *cur;          /* request being parsed */
	struct net_req *ready;        /* answers waiting for their turn, by seq */
	struct net_req *parked;       /* complete, no handler could take it yet */
	struct net_buf *held;         /* input not parsed yet (pipeline full), or NULL */
	uint64_t now_ns;              /* time of the call in progress */
	uint64_t since_ns;            /* start of the header, body or idle period */
	uint64_t input_ns;            /* last body input */
	uint64_t head_ns;             /* since when the oldest request waits */
	uint32_t next_seq;            /* seq of the next request parsed */
	uint32_t send_seq;            /* seq of the next answer to send */
	uint32_t acc_len;             /* bytes used in cur's req_buf */
	uint32_t url_len;
	uint32_t hdr_bytes;           /* request line + header block so far */
	uint32_t piece_off;           /* length prefix of the header piece */
	uint32_t body_off;
	uint32_t checked;             /* input bytes `frame` accepted, not parsed yet */
	struct http_frame frame;
	uint16_t nheaders;
	uint16_t err_status;          /* set by a callback that fails */
	const char *err_reason;
	uint8_t phase;
	uint8_t last_cb;
	uint16_t flags;
	/* A file body whose headers were output and that the owner has not
	 * taken yet (http_conn_take_file); output stops behind it. A
	 * streamed body the same way (file_fd -1, http_conn_take_stream):
	 * its id in file_off, its length in file_len (-1: unknown). */
	bool file_ready;
	bool stream_chunked;
	int file_fd;
	uint32_t stream_from;
	uint64_t file_off, file_len;
	/* A streamed request body (HC_UPLOAD): its request, bytes, limit. */
	uint32_t upload_seq;
	uint64_t upload_bytes;
	uint64_t upload_max;          /* 0: none */
};

/* A streamed body whose head was output (http_msg resp_has_stream). */
struct http_stream_ref {
	uint64_t id;
	int64_t len;                  /* -1: unknown */
	uint32_t from;                /* the producer's address */
	bool chunked;                 /* frame it in chunks (else: as is) */
};

/* Set http-parser's process-wide header limit above every limit this
 * module enforces itself. Thread: controlling, before any connection. */
void http_conn_global_init(void);

/* Start a connection at `now_ns`. Thread: owner. */
void http_conn_init(struct http_conn *c, struct http_conn_env *env,
		    uint64_t id, uint64_t now_ns);

/* Free everything the connection holds (requests being parsed, answers
 * not sent, held input). Replies still in handlers are dropped later by
 * the owner as late replies. Thread: owner. */
void http_conn_dispose(struct http_conn *c);

/* Parse `len` input bytes. Complete requests go to env->submit; errors
 * queue their answer. Input after a closing request or an error is
 * ignored. Thread: owner. */
void http_conn_feed(struct http_conn *c, const char *data, size_t len,
		    uint64_t now_ns);

/* The client closed its side (shutdown(SHUT_WR) after its requests, as
 * `nc -N` does, or it left). Like http_conn_drain: nothing more is read;
 * the requests received whole are answered, the last answer closing the
 * connection (a client that left makes that write fail); a partial
 * request, input held unparsed behind a full pipeline and a streamed body
 * not complete (ABORT) are dropped. http_conn_finished() is true at once
 * if nothing is owed. Thread: owner. */
void http_conn_eof(struct http_conn *c);

/* Graceful drain: parse nothing more (a partial request is dropped),
 * answer what is in flight, the last answer closing the connection; over
 * at once if nothing is owed. Thread: owner. */
void http_conn_drain(struct http_conn *c);

/* Drain without cutting anyone off (a binary upgrade, a network actor
 * leaving its pool): keep reading; the answer to the last request received
 * says "Connection: close"; an idle connection gets up to
 * HTTP_CONN_DRAIN_IDLE_MS (or keepalive_timeout_ms if shorter) to send its
 * next request before it is closed. A client that keeps its connection
 * busy therefore never meets a close it did not read about. */
void http_conn_drain_gently(struct http_conn *c);

#define HTTP_CONN_DRAIN_IDLE_MS 1000u

/* Parse held input if the pipeline has room again. Returns whether any
 * held input was parsed. Thread: owner. */
bool http_conn_resume(struct http_conn *c, uint64_t now_ns);

/* Whether a request is parked (see DESIGN). Thread: owner. */
bool http_conn_has_parked(const struct http_conn *c);

/* Offer the parked request to env->submit again. 0: nothing is parked any
 * more (taken by a handler, or answered 503 if submit failed otherwise
 * than -EAGAIN: the owner then has output to write and held input to
 * resume); -EAGAIN: still parked. Thread: owner. */
int http_conn_submit_parked(struct http_conn *c);

/* A handler's reply (type HTTP_MSG_RESPONSE) for this connection. A reply
 * whose request was already answered (504 backstop) is dropped and counted
 * as late. Takes ownership. Thread: owner. */
void http_conn_reply(struct http_conn *c, struct net_req *r);

/* Append every answer whose turn has come to `out` (and a pending
 * 100 Continue). Returns the bytes appended. Thread: owner. */
size_t http_conn_output(struct http_conn *c, struct net_buf *out, uint64_t now_ns);

/* After http_conn_output: the file body of the last answer output (its
 * headers are the last bytes appended), which the owner now owns and
 * must send (sendfile) before anything else, then close. False if none.
 * Until it is taken, http_conn_output outputs nothing more.
 * Thread: owner. */
bool http_conn_take_file(struct http_conn *c, int *fd, uint64_t *off, uint64_t *len);

/* After http_conn_output: the streamed body of the last answer output
 * (net/stream_msg.h), which the owner must now get from its producer and
 * send before anything else, then call http_conn_body_sent. False if
 * none. Until it is taken, http_conn_output outputs nothing more.
 * Thread: owner. */
bool http_conn_take_stream(struct http_conn *c, struct http_stream_ref *s);

/* A file or streamed body is out: the idle and handler periods start now.
 * Thread: owner. */
void http_conn_body_sent(struct http_conn *c, uint64_t now_ns);

/* A streamed request body's consumer took more of it: the body idle
 * period starts again (reading paused while it waited). Thread: owner. */
void http_conn_upload_progress(struct http_conn *c, uint64_t now_ns);

/* A streamed request body's consumer stopped taking it (it answered or
 * failed first): the rest is dropped as it comes, and the answer closes the
 * connection even if the client's last byte is read before it goes out,
 * so one rule holds whichever comes first. Thread: owner. */
void http_conn_upload_cut(struct http_conn *c);

/* The owner no longer holds a streamed body (all of it passed on, or
 * dropped): the requests after it may be parsed (http_conn_resume).
 * Until then, from the body's END, nothing more is parsed, so one
 * streamed body at a time waits in the owner. Thread: owner. */
void http_conn_upload_delivered(struct http_conn *c);

/* Whether the owner should read more input now. Thread: owner. */
bool http_conn_wants_input(const struct http_conn *c);

/* Whether the connection is over: a closing answer went out, or the client
 * closed. The owner closes it once its output has drained (at once after
 * an EOF). Thread: owner. */
bool http_conn_finished(const struct http_conn *c);

/* Whether it ended with a closing answer (an error, Connection: close,
 * HTTP/1.0, the last answer of a drain, the 504 backstop) that the client
 * must be able to read: the owner half-closes and lingers rather than
 * closing at once. False when nothing was owed (a drain of an idle
 * connection). Thread: owner. */
bool http_conn_lingers(const struct http_conn *c);

/* Whether the connection waits, idle, for its next request after at
 * least one answer (nothing parsed, queued, held or owed; not upgraded,
 * not over); if so *since_ns is when its last answer went out. Such a
 * connection may be closed at any time (RFC 9112 9.3): the owner closes
 * the oldest ones at the connection limit. Thread: owner. */
bool http_conn_idle(const struct http_conn *c, uint64_t *since_ns);

/* Whether the connection owes nothing and waits for a request that has
 * not arrived whole: none sent yet, or a header block in progress; if so
 * *since_ns is when it began waiting (the accept, or the request's first
 * byte). The admin endpoint's pool closes the oldest such at its limit.
 * Thread: owner. */
bool http_conn_unfinished(const struct http_conn *c, uint64_t *since_ns);

/* WebSocket: whether a 101 accepting an upgrade went out (the connection
 * is then over for HTTP), and move the input that followed the upgrade
 * request into `out` (empty if none). Thread: owner. */
bool http_conn_upgraded(const struct http_conn *c);
void http_conn_take_held(struct http_conn *c, struct net_buf *out);

/* Requests parsed and not answered yet. Thread: owner. */
uint32_t http_conn_inflight(const struct http_conn *c);

/* The next deadline (monotonic ns) and which timeout it is, or 0 if none
 * applies (the owner adds its write timeout). Thread: owner. */
uint64_t http_conn_deadline(const struct http_conn *c, enum net_timeout *kind);

/* Deadline `kind` passed (also the owner's write timeout, to be counted
 * and logged). Returns true if the owner must close the connection now;
 * false if an answer was queued (the handler backstop's 504) and the
 * connection closes after it. Thread: owner. */
bool http_conn_expire(struct http_conn *c, enum net_timeout kind, uint64_t now_ns);

#endif
