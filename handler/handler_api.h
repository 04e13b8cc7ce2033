/*
 * handler_api.h - the C API for writing routes (docs/HANDLERS.md).
 *
 * DESIGN
 * A route is a function that receives a request context (`struct hreq`)
 * and answers it with exactly one reply call: hreq_text, hreq_json,
 * hreq_html, hreq_send, or a body built piece by piece (hreq_write,
 * hreq_printf, hreq_write_html) then hreq_finish. It runs on a handler
 * actor's thread and must never block: slow work goes to another actor
 * with hreq_call and a continuation, which runs later on the same handler
 * actor with the same request context. A request has a deadline
 * (http.request_timeout_ms from its arrival); if it has not been answered
 * by then the handler answers 504 itself. Except a request whose body is
 * streamed (hreq_body_stream): it has no deadline from its arrival; the
 * body timeouts and the upstream call bound it.
 *
 *     static void on_world(struct hreq *r, struct call_msg *reply, void *arg)
 *     {
 *         if (reply->status != 0) {
 *             hreq_fail(r, reply->status, "world lookup");   // 503/504/500
 *             return;
 *         }
 *         hreq_json(r, 200, world_to_json(reply));
 *     }
 *
 *     static void get_world(struct hreq *r)
 *     {
 *         struct call_msg *q = build_query(r);                 // a service message
 *         int rc = hreq_call(r, &sql_kind, q, on_world, NULL);
 *         if (rc != 0)
 *             hreq_fail(r, rc, "world lookup");
 *     }
 *
 * Lifetimes: everything a route reads from the request (path, parameters,
 * query values, headers, body) and everything it allocates with
 * hreq_alloc stays valid until the request is answered AND its last
 * continuation has run. Reply calls copy what they are given (except
 * hreq_static's body) into the response, so stack buffers are fine.
 * Replying twice, or after the 504, is harmless: later replies are
 * ignored (hreq_json still frees its cJSON).
 *
 * Thread: every function here runs on the handler actor that owns `r`.
 */
#ifndef ACTORD_HANDLER_API_H
#define ACTORD_HANDLER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "actors/actor.h"
#include "actors/call.h"
#include "actors/trace.h"
#include "route.h"
#include "storage/cache.h"
#include "worker/worker.h"

struct ad_config;
struct hreq;

/* ---- Registering routes ------------------------------------------------ */

/* A module's registration function: add its routes to `t` for `cfg`.
 * Runs on every handler actor at start and again after each reload (the
 * table is rebuilt from the new configuration), so it must only read
 * `cfg` and call route_add. 0 or -errno with a reason in `err`. */
typedef int (*handler_routes_fn)(struct route_table *t, const struct ad_config *cfg,
				 char *err, size_t errlen);

/* ---- The request ------------------------------------------------------- */

/* http_parser's method number (HTTP_GET, HTTP_POST, ...). */
unsigned hreq_method(const struct hreq *r);
/* The raw path (no query string), e.g. "/jobs/abc". */
const char *hreq_path(const struct hreq *r);
/* A named route parameter (":id" -> "id"), percent-decoded; NULL if the
 * route has none of that name. */
const char *hreq_param(const struct hreq *r, const char *name);
/* The first value of query argument `name` (argument names are compared
 * percent-decoded too: "?%71=1" has q), percent-decoded ('+' is a
 * space); "" for "?name" or "?name="; NULL if absent, and also when that
 * first value has a malformed escape or a %00 (a NUL would cut it): a
 * route answers such a request as it answers one without the argument. */
const char *hreq_query(struct hreq *r, const char *name);
/* Query argument `name` as an integer: `dflt` if absent or not a whole
 * number in decimal (an optional sign then digits only: no white space,
 * "0x", '.' or exponent), else clamped to [lo, hi], also when it
 * overflows a long. */
long hreq_query_long(struct hreq *r, const char *name, long dflt, long lo, long hi);
/* A request header's value (case-insensitive name); NULL if absent. */
const char *hreq_header(const struct hreq *r, const char *name);
/* Request header `i` (0, 1, ... in arrival order): false past the last.
 * For code that forwards every header (the upstream proxy route). */
bool hreq_header_at(const struct hreq *r, unsigned i, const char **name,
		    const char **value);
/* The request's W3C trace context (actors/trace.h): the trace id and
 * actord's span id for this request (state MSG_TRACE_REMOTE when the
 * client sent a valid traceparent; otherwise actord started the trace).
 * Log lines and every call made for the request carry it by themselves;
 * these are for routes that talk to other services their own way. */
const struct msg_trace *hreq_trace(const struct hreq *r);
/* A traceparent for one outgoing call of the route's own (a new child
 * span id each time) into out[TRACE_PARENT_LEN + 1]. Upstream calls
 * (net/upstream.h) get theirs without this. */
void hreq_traceparent(const struct hreq *r, char *out);
/* The tracestate the client sent with a valid traceparent (validated,
 * several fields joined with ','), or NULL; its length in `len`. */
const char *hreq_tracestate(const struct hreq *r, size_t *len);
/* The raw query string (without '?', not decoded; "" if none) and its
 * length. */
const char *hreq_query_string(const struct hreq *r, size_t *len);
/* The body (may be empty, never NULL) and its length. Empty when the
 * body is streamed (hreq_body_stream). */
const char *hreq_body(const struct hreq *r, size_t *len);
/* Whether the body is streamed rather than in hreq_body: a route
 * registered with ROUTE_STREAM_BODY gets every non-empty body so (under a
 * reverse-proxy prefix: those over upstream.proxy_buffer_bytes, or
 * chunked), at the end of the head, and `out` names the body for
 * upstream_call_stream_body, which relays it to the upstream as it
 * arrives (net/stream_msg.h, "Uploads"), or the route reads it itself
 * (handler/hreq_stream.h: hreq_read_body). A route that
 * answers without passing it on closes the client's connection after its
 * answer, unless the whole body had arrived by then (the rest of it is
 * read and discarded meanwhile). */
struct upload_ref;
bool hreq_body_stream(const struct hreq *r, struct upload_ref *out);
/* "ip:port" of the client. */
const char *hreq_client(struct hreq *r);
/* The `data` pointer the route was registered with. */
void *hreq_route_data(const struct hreq *r);
/* The configuration snapshot in force when the request arrived. */
const struct ad_config *hreq_config(const struct hreq *r);
/* The handler actor serving the request. */
struct actor *hreq_actor(const struct hreq *r);
/* Monotonic ns at which the request will be answered 504; 0 (none) when
 * its body is streamed (hreq_body_stream). */
uint64_t hreq_deadline_ns(const struct hreq *r);
/* Whether a reply was already given (or the deadline answered 504). */
bool hreq_answered(const struct hreq *r);

/* Memory that lives as long as the request (see Lifetimes). NULL on
 * ENOMEM, and for a size over SIZE_MAX / 2 (a count * size that wrapped). */
void *hreq_alloc(struct hreq *r, size_t n);
char *hreq_strdup(struct hreq *r, const char *s);

/* ---- Replying ---------------------------------------------------------- */

/* Add a response header (besides Server, Date, Content-Type and
 * Content-Length, which are always sent). 0, -EINVAL for a name that is
 * not a token or a value with a control character but HTAB, -EPERM for
 * Content-Length, Transfer-Encoding and Connection (the network actor
 * frames the message), -ENOMEM. */
int hreq_add_header(struct hreq *r, const char *name, const char *value);

/* Body builders: append to the response body. 0 or -ENOMEM (the reply then
 * becomes a 500). No-ops returning -EALREADY once answered. */
int hreq_write(struct hreq *r, const void *data, size_t len);
int hreq_printf(struct hreq *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append text escaped for HTML (&, <, >, ", '); raw UTF-8 stays as is. */
int hreq_write_html(struct hreq *r, const char *s, size_t len);
/* Send what the builders wrote, with `status` and `content_type`. For
 * every reply call: a status outside 200..599, or a content type with a
 * control character, is answered 500 instead (logged). */
void hreq_finish(struct hreq *r, unsigned status, const char *content_type);

/* One-call replies. */
void hreq_send(struct hreq *r, unsigned status, const char *content_type,
	       const void *body, size_t len);
/* `body` must outlive the response (a string literal): not copied. */
void hreq_static(struct hreq *r, unsigned status, const char *content_type,
		 const char *body, size_t len);
void hreq_text(struct hreq *r, unsigned status, const char *text);   /* text/plain */
void hreq_html(struct hreq *r, unsigned status, const char *html, size_t len);
/* Serialises and frees `json` (also when the request is already answered,
 * and when `json` is NULL, which answers 500). application/json. */
void hreq_json(struct hreq *r, unsigned status, cJSON *json);
/* {"error": "<message>"} with `status`; 503 adds Retry-After: 1. 5xx are
 * logged with the request's method and path, at most
 * HANDLER_ERROR_LOG_PER_S (20) lines a second per handler actor; the next
 * line logged counts those that were not. */
void hreq_error(struct hreq *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Answer a failed call or operation by its status (see call.h):
 * -EAGAIN, -ECONNREFUSED, -ENOTCONN, -ESHUTDOWN, -ESRCH, -EHOSTUNREACH (a
 * host name that did not resolve) -> 503 with Retry-After; -ETIMEDOUT ->
 * 504; -ENOENT -> 404; -ECONNABORTED (a failed TLS handshake), -EPROTO (a
 * bad response from an upstream) and -EFBIG (an upstream response too
 * large) -> 502; -EMSGSIZE (a streamed request body too large) -> 413;
 * -ECONNRESET (a streamed request body cut short) -> 400; anything else
 * -> 500.
 * `what` names the operation in the log line and the error body; the
 * dependency's own error text never reaches the client. */
void hreq_fail(struct hreq *r, int status, const char *what);

/* ---- Asynchronous work ------------------------------------------------- */

typedef void (*hreq_cont_fn)(struct hreq *r, struct call_msg *reply, void *arg);

/* Send `m` (a service message, see call.h) to an actor of `kind`
 * (round-robin over the pool) and run `k(r, reply, arg)` on this handler
 * when the reply comes back. A zero m->deadline_ns becomes the request's
 * deadline. 0: sent, `k` runs exactly once, even after the request was
 * answered 504 (so it can free `arg`). On error `m` is freed, `k` never
 * runs, and the error says why: -ESRCH no actor of that kind is
 * configured, -EAGAIN its mailbox is full, -ESHUTDOWN it is stopping,
 * -ENOSPC too many calls pending on this handler. The reply and what it
 * points to are freed when `k` returns. */
int hreq_call(struct hreq *r, const struct actor_kind *kind, struct call_msg *m,
	      hreq_cont_fn k, void *arg);

/* Run worker task `t` (worker/worker.h: a function and its argument area)
 * on a worker actor, where blocking and long computations are allowed, and
 * run `k(r, reply, arg)` on this handler when it is done:
 * worker_reply_arg(reply) is the argument area with the function's
 * results, reply->status its return value or -ETIMEDOUT (the request's
 * deadline passed before a worker took it: it never ran) or -ESHUTDOWN.
 * hreq_call(r, &worker_kind, worker_task_call(t), k, arg) with its
 * contract: 0 and `k` runs exactly once; an error and `k` never runs and
 * `t` is freed: -EAGAIN every worker is busy and the pool mailbox
 * (actors.worker.mailbox) is full (hreq_fail: 503 + Retry-After), -ESRCH
 * no worker configured, -ENOMEM `t` is NULL (worker_task_new failed). */
int hreq_work(struct hreq *r, struct worker_task *t, hreq_cont_fn k, void *arg);

/* Run `k(r, NULL, arg)` on this handler after `ms` milliseconds (a
 * backoff, a deliberately slow test route). Same contract as hreq_call:
 * 0 and `k` runs exactly once (unless the handler stops first), or
 * -ENOMEM and it never runs. */
int hreq_after(struct hreq *r, unsigned ms, hreq_cont_fn k, void *arg);

/* ---- Reading Redis through the near cache ----------------------------- */

/* The values of hreq_cache_get, one per key in the order given:
 * CACHE_STRING, or CACHE_NIL when Redis has no such key; NULL when
 * `status` is not 0 (-ENOTCONN, -EAGAIN... as for a cache call: pass it
 * to hreq_fail). Valid until the function returns: copy what you keep. */
typedef void (*hreq_cached_fn)(struct hreq *r, int status, const struct cache_value *vals,
			       void *arg);

#define HREQ_CACHE_MAX_KEYS 4096

/* GET `n` keys (1..HREQ_CACHE_MAX_KEYS), binary-safe, through this
 * handler's near cache when `near` is true: the values it holds are
 * served from memory, the rest are read from Redis with one MGET on the
 * cache actors and kept in the near cache (when their keys are under
 * near_cache.prefixes) for at most `ttl_ms` (0 or more than
 * near_cache.ttl_ms: near_cache.ttl_ms), unless Redis invalidated them
 * while they were read. `near` false: a plain MGET (the route's own
 * on/off switch). Coherence: docs/HANDLERS.md, "The near cache".
 * 0: `k` runs exactly once; when every key was in the near cache it runs
 * BEFORE hreq_cache_get returns (no message at all), otherwise later, like
 * a continuation. Otherwise `k` never runs and the error says why (the
 * errors of hreq_call, or -EINVAL for a bad `n`). Keys are copied. */
int hreq_cache_get(struct hreq *r, unsigned n, const char *const *keys, const size_t *klens,
		   uint32_t ttl_ms, bool near, hreq_cached_fn k, void *arg);

/* How many values of the last hreq_cache_get came from the near cache. */
unsigned hreq_cache_near_hits(const struct hreq *r);

/* Before writing `key` to Redis: drop this handler's near copy now and
 * keep none read before the write's own invalidation comes back (the other
 * handlers and instances drop theirs when Redis reports the write). */
void hreq_cache_forget(struct hreq *r, const char *key, size_t klen);

#endif
