/*
 * upstream.h - calling other HTTP services: the upstream client actors and
 * the call message handlers send them (docs/HANDLERS.md, "Upstream calls").
 *
 * DESIGN
 * An upstream call is an async call (actors/call.h) like a storage call: a
 * handler builds a `struct upstream_call` (method, URL, headers, body),
 * sends it with hreq_call(r, &upstream_kind, upstream_call_msg(u), k, arg), and
 * its continuation reads the upstream's status, headers and body from the
 * reply. The message owns everything it points to, request and response.
 *
 *     static void on_fetched(struct hreq *r, struct call_msg *reply, void *arg)
 *     {
 *         const struct upstream_call *u = upstream_reply(reply);
 *         size_t len;
 *         const char *body;
 *
 *         if (reply->status != 0) {
 *             hreq_fail(r, reply->status, "upstream");  // 503 / 504 / 502
 *             return;
 *         }
 *         body = upstream_reply_body(u, &len);
 *         hreq_send(r, upstream_reply_status(u), "text/plain", body, len);
 *     }
 *
 *     struct upstream_call *u = upstream_call_new(HTTP_GET, "http://127.0.0.1:9000/", &rc);
 *     if (u == NULL || (rc = hreq_call(r, &upstream_kind, upstream_call_msg(u), on_fetched, NULL)) != 0)
 *         hreq_fail(r, rc, "upstream");
 *
 * The upstream actors (pool "upstream", actors.upstream.count) each run
 * their own libev loop and never block: non-blocking connect, one request
 * at a time per connection, keep-alive connection pools per upstream
 * origin (scheme, host, port and TLS profile: upstream.* or a proxy
 * route's TLS files), at most upstream.max_connections open per origin
 * and actor, further requests queued (upstream.max_queue) in arrival
 * order.
 * Idempotent requests (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) whose
 * connection fails before any response byte arrives (a pooled keep-alive
 * connection the upstream closed meanwhile) are resent on a new connection
 * up to upstream.retries times; POST and PATCH never are. A refused
 * connect is not retried: the answer must come fast.
 *
 * The contract of every call (call.h) holds: when hreq_call returns an
 * error the continuation never runs (and the message is already freed);
 * when it returns 0 the continuation runs exactly once, on the handler,
 * whatever happens: the upstream answered, failed, timed out, or the
 * upstream actor is stopping (the status says which).
 *
 * Outcomes (the reply's call status, and the HTTP answer a route should
 * give for it, which hreq_fail gives; upstream_error_http_status sees only
 * the kind, so it gives the same answers except 400 for both
 * UPSTREAM_REQUEST_BODY statuses):
 *
 *   status         kind                    answer
 *   0              UPSTREAM_OK             the upstream's own (any status)
 *   -ECONNREFUSED  UPSTREAM_REFUSED        503 + Retry-After (connect refused,
 *                                          unreachable)
 *   -ETIMEDOUT     UPSTREAM_TIMEOUT        504 (connect or response timeout,
 *                                          or the call's deadline)
 *   -EFBIG         UPSTREAM_TOO_LARGE      502 (upstream.max_response_bytes)
 *   -EPROTO        UPSTREAM_BAD_RESPONSE   502 (malformed, or the connection
 *                                          closed before a complete response)
 *   -EAGAIN        UPSTREAM_OVERLOADED     503 + Retry-After (queue full)
 *   -ESHUTDOWN     UPSTREAM_SHUTDOWN       503 + Retry-After (stopping)
 *   -EINVAL        UPSTREAM_INVALID        500 (the request cannot be sent)
 *   -EHOSTUNREACH  UPSTREAM_DNS            503 + Retry-After (the name did
 *                                          not resolve)
 *   -EMSGSIZE      UPSTREAM_REQUEST_BODY   413 (a streamed request body went
 *                                          over upstream.proxy_max_body_bytes)
 *   -ECONNRESET    UPSTREAM_REQUEST_BODY   400 (a streamed request body was
 *                                          cut short: the client left, or
 *                                          its chunked framing was bad)
 *   -ECONNABORTED  UPSTREAM_TLS            502 (TLS handshake failed: an
 *                                          unknown CA, an expired
 *                                          certificate, a wrong host name...)
 *
 * Every failure is also logged by the upstream actor with its reason
 * (rate-limited): "upstream-0: upstream https://api:443: TLS handshake
 * failed (certificate verify failed: certificate has expired)".
 *
 * HTTPS: https:// URLs are verified (certificate chain against
 * upstream.ca_file or the system's CA store, and the host name), with SNI,
 * TLS 1.2 or later, sessions resumed per origin (not across a reload,
 * which reads the TLS files again). Names are resolved at run time by
 * the upstream actor (c-ares on its loop, TTLs honoured within
 * upstream.dns_ttl_min_ms..dns_ttl_max_ms, connections spread over the
 * addresses, an address whose connect failed skipped for 10 s while
 * another is up, the last good answer kept while the resolver fails),
 * never on the caller's thread.
 *
 * Thread: upstream_call_* on the caller's actor thread (it owns the message
 * until it sends it); upstream_reply* in the continuation; upstream_add_pool
 * on the controlling thread before actor_system_start.
 */
#ifndef ACTORD_UPSTREAM_H
#define ACTORD_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>          /* HTTP_GET, HTTP_POST...: the method numbers */

#include "actors/actor.h"
#include "actors/call.h"
#include "config/config.h"

/* The upstream HTTP client actors (pool "upstream", actors.upstream). */
extern const struct actor_kind upstream_kind;

/* The message type of an upstream call (struct call_msg's m.type). */
#define UPSTREAM_MSG_CALL 0x55500001u

/* Why a call failed; one per status, see the table above. */
enum upstream_error {
	UPSTREAM_OK = 0,
	UPSTREAM_REFUSED,
	UPSTREAM_TIMEOUT,
	UPSTREAM_TOO_LARGE,
	UPSTREAM_BAD_RESPONSE,
	UPSTREAM_OVERLOADED,
	UPSTREAM_SHUTDOWN,
	UPSTREAM_INVALID,
	UPSTREAM_DNS,
	UPSTREAM_TLS,
	UPSTREAM_REQUEST_BODY,
	UPSTREAM_ERROR_KINDS
};

/* A response header: NUL-terminated, inside the reply. */
struct upstream_hdr {
	const char *name;
	const char *value;
};

/* Crosses mailboxes: caller -> upstream actor -> caller. Opaque; the
 * caller frees it with upstream_call_free before sending, hreq_call /
 * call_dispatch afterwards (call.h). */
struct upstream_call;

/* ---- Building a request -------------------------------------------------
 * Thread: the caller's actor thread, which owns the message until it is
 * sent (then the upstream actor does, then the continuation). */

/* Trace context: a call built while a request's trace is current (in a
 * route or its continuation; actors/trace.h) carries `traceparent` with
 * the request's trace id and a new span id for the call, and the
 * request's `tracestate`. */

/* A request with http_parser method `method` (HTTP_GET, HTTP_POST...) to
 * "http[s]://host[:port][/path][?query]". NULL with *err = -EINVAL (bad
 * URL) or -ENOMEM. */
struct upstream_call *upstream_call_new(unsigned method, const char *url, int *err);

/* A request to a configured URL: the target is to->target followed by
 * `path` (appended as is, already percent-encoded) and, when `query` is
 * not empty, '?' (or '&' if to->target has a query) and `query`. */
struct upstream_call *upstream_call_to(unsigned method, const struct config_url *to,
				       const char *path, size_t path_len,
				       const char *query, size_t query_len, int *err);

/* Add a request header. Host, Content-Length, Transfer-Encoding and
 * Connection are the client's own, traceparent and tracestate the trace's
 * (-EPERM); a name or value with CR, LF or NUL is refused (-EINVAL).
 * 0, -EPERM, -EINVAL or -ENOMEM. */
int upstream_call_add_header(struct upstream_call *u, const char *name, const char *value);

/* The request body (copied; sent with Content-Length). 0 or -ENOMEM. */
int upstream_call_set_body(struct upstream_call *u, const void *body, size_t len);

/* A deadline (monotonic ns) earlier than the request's; 0 keeps it. */
void upstream_call_set_deadline(struct upstream_call *u, uint64_t deadline_ns);

/* This call's own timeouts (like AsyncHTTPClient's connect_timeout and
 * request_timeout), each 0 to keep the default: connecting (name lookup,
 * TCP and TLS handshake; upstream.connect_timeout_ms), the first response
 * byte after the request was sent (upstream.first_byte_timeout_ms), and
 * the whole call from now (a deadline; the request's own still applies).
 * A timeout answers -ETIMEDOUT (504). */
void upstream_call_set_timeouts(struct upstream_call *u, uint32_t connect_ms,
				uint32_t first_byte_ms, uint32_t total_ms);

/* Follow up to `max` redirects (301, 302, 303, 307, 308 with a Location):
 * 303, and 301/302 after a POST, continue as GET without a body; 307/308
 * resend the same request. The request's header lines go along (Host is
 * rewritten); a redirect from https to http is followed only when
 * `allow_downgrade`. A redirect that is not followed (the limit reached,
 * a refused downgrade, a Location that is not an http(s) URL or path) is
 * the answer itself: the caller sees the 3xx. Default: none followed. */
void upstream_call_follow_redirects(struct upstream_call *u, unsigned max,
				    bool allow_downgrade);

/* Ask for gzip (Accept-Encoding: gzip) and decode a gzip response
 * (Content-Encoding: gzip): the reply's body is the decoded one, within
 * upstream.max_response_bytes (-EFBIG past it, -EPROTO if corrupt); the
 * headers stay as the upstream sent them. 0 or -ENOMEM. */
int upstream_call_decode_gzip(struct upstream_call *u);

/* Use proxy route `proxy_index`'s TLS files (upstream.proxy[i].ca_file,
 * cert_file, key_file) instead of upstream.ca_file. */
void upstream_call_use_proxy_tls(struct upstream_call *u, unsigned proxy_index);

/* Stream a response body over `over` bytes (> 0; 0: never, the default)
 * instead of keeping it in the reply: a body whose Content-Length is
 * larger, or an unsized one (chunked, or delimited by the close) once it
 * grows past it. The reply then carries the status and headers with an
 * empty body, and upstream_reply_stream says how to relay the body
 * (hreq_send_stream): the upstream actor sends it to the network actor of
 * the client's connection in pieces, as fast as the client reads it
 * (net/stream_msg.h); or the route reads it piece by piece itself
 * (handler/hreq_stream.h: hreq_read_upstream).
 * upstream.max_response_bytes does not apply to it; an upstream silent
 * for upstream.read_timeout_ms between two reads (while there is room for
 * more) has the body cut.
 * Ignored for a call that follows redirects or decodes gzip (they need
 * the whole body). The reverse proxy streams over
 * upstream.proxy_buffer_bytes. */
void upstream_call_stream(struct upstream_call *u, uint64_t over);

/* Send the request body `ref` names (hreq_body_stream) as it arrives from the
 * client, instead of a body set with upstream_call_set_body: with its
 * Content-Length, or chunked when it is unknown. The upstream actor asks
 * the client's network actor for it once the connection has sent the
 * head, under a credit window (net/stream_msg.h, "Uploads"), so memory
 * stays bounded whatever its size. Such a call is never retried and
 * follows no redirect; its first-byte and response timeouts start when
 * the body is out, and while it is sent the upstream must take each piece
 * within upstream.send_timeout_ms. A body that fails on the
 * client's side fails the call (-EMSGSIZE, -ECONNRESET); an upstream that
 * answers before the body ended gets the rest of it cancelled. */
struct upload_ref;
void upstream_call_stream_body(struct upstream_call *u, const struct upload_ref *ref);

/* The message to pass to hreq_call (or call_send). */
struct call_msg *upstream_call_msg(struct upstream_call *u);

/* Free a call that was never sent. */
void upstream_call_free(struct upstream_call *u);

/* ---- Reading the reply ---------------------------------------------------
 * Thread: the caller, in the continuation; valid until it returns. */

/* The call behind a reply given to the continuation. */
const struct upstream_call *upstream_reply(const struct call_msg *reply);

/* The upstream's HTTP status (0 when the call failed). */
unsigned upstream_reply_status(const struct upstream_call *u);
/* A response header's value (case-insensitive name), or NULL. */
const char *upstream_reply_header(const struct upstream_call *u, const char *name);
/* Every response header, in order, and how many (`*n`). */
const struct upstream_hdr *upstream_reply_headers(const struct upstream_call *u, unsigned *n);
/* The body, de-chunked (never NULL) and its length. */
const char *upstream_reply_body(const struct upstream_call *u, size_t *len);
/* Whether the body is streamed (upstream_call_stream): then `*from` (the
 * upstream actor), `*id` and `*len` (the Content-Length, -1 unknown) are
 * what hreq_send_stream needs (hreq_read_upstream reads them itself).
 * Relay it, read it or not, the reply must be answered: a body nobody
 * asks for times out in the upstream actor. */
bool upstream_reply_stream(const struct upstream_call *u, uint32_t *from, uint64_t *id,
			   int64_t *len);

/* ---- Outcomes ------------------------------------------------------------
 * Thread: any. */

/* The kind of a call status (or of hreq_call's error return). */
enum upstream_error upstream_error_of(int status);
/* "ok", "refused", "timeout", "too_large", "bad_response", "overloaded",
 * "shutdown", "invalid", "dns", "tls", "request_body" (also the metrics'
 * `kind` label). */
const char *upstream_error_name(enum upstream_error e);
/* The HTTP status for a failed call's kind (table above), except 400 for
 * UPSTREAM_REQUEST_BODY: the kind does not say whether the body was too
 * large (-EMSGSIZE), so use hreq_fail with the status for its 413. */
unsigned upstream_error_http_status(enum upstream_error e);

/* ---- The actors (daemon wiring) ------------------------------------------
 * Thread: controlling, before actor_system_start. */

/* Add the "upstream" pool (actors.upstream; nothing when its count is 0)
 * and register its metrics collector (docs/ADMIN.md, "Upstreams"); no
 * readiness check: an upstream being down never makes actord unready.
 * `cfg` must outlive the system. 0 or -errno with a reason in `err`. */
int upstream_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		      char *err, size_t errlen);

#endif
