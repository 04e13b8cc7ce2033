/*
 * hreq_stream.h - a route reading a large body piece by piece as it
 * arrives: an upstream response (hreq_read_upstream, AsyncHTTPClient's
 * `streaming_callback`) or the request's own body (hreq_read_body,
 * Tornado's `@stream_request_body`) (docs/HANDLERS.md, "Reading a large
 * body in the route").
 *
 * DESIGN
 * The call asks for a streamed body (upstream_call_stream(u, over)); the
 * continuation gets the head, and hreq_read_upstream makes the handler
 * actor the body's consumer in place of a network actor (the download
 * protocol of net/stream_msg.h). Each piece (at most STREAM_CHUNK bytes)
 * is given to `on_piece` as it arrives, then granted back to the
 * producer: the upstream actor is STREAM_WINDOW (256 KiB) ahead at most,
 * so memory stays bounded whatever the body's size, and a route slower
 * than the upstream slows it through TCP. A request body takes the same
 * road from the client's network actor (net/stream_msg.h, "Uploads"):
 * the route is registered with ROUTE_STREAM_BODY and gets the request at
 * the end of its head.
 *
 *     static int on_piece(struct hreq *r, const char *data, size_t len, void *arg)
 *     {
 *         struct tally *t = arg;                 // hreq_alloc'd by the route
 *         t->lines += count_lines(data, len);
 *         return 0;                              // non-zero: stop reading
 *     }
 *
 *     static void on_end(struct hreq *r, int status, void *arg)
 *     {
 *         struct tally *t = arg;
 *         if (status != 0) {
 *             hreq_fail(r, status, "log download");   // 502 / 504 / ...
 *             return;
 *         }
 *         hreq_printf(r, "%lu lines\n", t->lines);
 *         hreq_finish(r, 200, "text/plain");
 *     }
 *
 *     // in the call's continuation, once reply->status is 0:
 *     rc = hreq_read_upstream(r, upstream_reply(reply), on_piece, on_end, t);
 *     if (rc != 0)
 *         hreq_fail(r, rc, "log download");
 *
 * Thread: the handler actor that owns `r`; the callbacks run there.
 */
#ifndef ACTORD_HREQ_STREAM_H
#define ACTORD_HREQ_STREAM_H

#include <stddef.h>

#include "handler_api.h"
#include "net/stream_msg.h"
#include "net/upstream.h"

/* One piece of the body (`len` > 0 bytes, valid during the call only).
 * Return 0 to go on; anything else stops the read: the rest is not
 * fetched (the upstream connection is closed) and on_end gets
 * -ECANCELED. */
typedef int (*hreq_piece_fn)(struct hreq *r, const char *data, size_t len, void *arg);

/* The read is over; called exactly once, after the last on_piece:
 *   0            the whole body was given (its Content-Length checked);
 *   -ECANCELED   on_piece asked to stop;
 *   -EPROTO      an upstream response: the upstream failed mid-body
 *                (closed, malformed, stalled past
 *                upstream.read_timeout_ms): the body is cut;
 *   -EMSGSIZE    a request body: over http.max_stream_body_bytes;
 *   -ECONNRESET  a request body: cut short (the client left, its chunked
 *                framing was malformed, it stalled past
 *                http.body_timeout_ms, or the request was answered first);
 *   -ETIMEDOUT   the request's deadline answered it 504 first, or the
 *                producer went silent (its failure notice lost);
 *   -ESHUTDOWN   the handler actor is stopping (the request was answered
 *                503; free what the read holds).
 * The route answers here if it has not (hreq_fail maps these: 502, 413,
 * 400, 504, 503; -ECANCELED is the route's own decision). */
typedef void (*hreq_read_end_fn)(struct hreq *r, int status, void *arg);

/* Read the body of the upstream reply `u` (in the call's continuation,
 * reply->status 0) piece by piece. A streamed body (upstream_reply_stream:
 * over the call's upstream_call_stream threshold) is read as it arrives,
 * after this returns; a body kept whole is given at once, on_piece (when
 * it is not empty) and on_end running before this returns, so a route
 * handles both sizes with the same code. The request stays open while
 * the read lasts (its deadline still answers 504 if the route has not
 * answered); the route may also answer first and go on reading.
 * 0 (on_end will run, or has run), or -ENOMEM / the error that made the
 * producer unreachable: on_end will not run, and the body is dropped by
 * the upstream actor. */
int hreq_read_upstream(struct hreq *r, const struct upstream_call *u, hreq_piece_fn on_piece,
		       hreq_read_end_fn on_end, void *arg);

/* Read the request's own body piece by piece. A route registered with
 * ROUTE_STREAM_BODY gets every non-empty request body streamed (within
 * http.max_stream_body_bytes, not http.max_body_bytes) except under a
 * reverse-proxy prefix, and the request at the end of its head: this
 * reads it as it arrives, after this returns; any other body (empty, or
 * a route without the flag) is given at once, before this returns, as
 * for hreq_read_upstream. Answer in on_end, or after it: an answer that
 * goes first ends the read (-ECONNRESET), and a body not read to its end
 * closes the connection after the answer. Such a request has no deadline
 * (http.body_timeout_ms and http.body_min_rate bound the body). Once per
 * request: -EALREADY after the first call. 0 (on_end will run, or has
 * run), or -ENOMEM, -EALREADY: on_end will not run. */
int hreq_read_body(struct hreq *r, hreq_piece_fn on_piece, hreq_read_end_fn on_end, void *arg);

#endif
