/*
 * handler_internal.h - what the handler actor's files share: handler.c
 * (the actor, request lifecycle), hreq.c (the route-facing API), and
 * hreq_cache.c, hreq_trace.c, hreq_stream.c, hcompress.c, form.c, web.c, static_files.c
 * and ws_session.c. Not a public header.
 *
 * Owner: a `struct handler` and its `struct hreq`s belong to one handler
 * actor thread, except `stats`, which any thread reads (relaxed loads).
 */
#ifndef ACTORD_HANDLER_INTERNAL_H
#define ACTORD_HANDLER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "handler.h"
#include "route.h"
#include "actors/call.h"
#include "actors/work_timer.h"
#include "base/counter.h"
#include "base/list.h"
#include "base/log_budget.h"
#include "net/http_msg.h"
#include "storage/near.h"
#include "push/ws_push.h"

struct ws_sessions;

#define HREQ_ARENA_INLINE 2048      /* per-request memory before malloc */
#define HREQ_PARAM_BUF 1024         /* decoded route parameters (a longer path: arena) */
#define HANDLER_SPARE_HREQS 1024    /* recycled request contexts kept */
#define HANDLER_MAX_CALLS 65536     /* calls in flight per handler actor */

struct arena_chunk {
	struct arena_chunk *next;
	size_t cap, used;
	_Alignas(16) char data[];
};

/* A pending hreq_after, in the request's arena. */
struct htimer {
	struct work_timer t;          /* MUST be first */
	struct hreq *r;
	hreq_cont_fn k;
	void *arg;
};
_Static_assert(offsetof(struct htimer, t) == 0,
	       "struct htimer is used through a pointer to its t");

/* A route table and the requests whose match points into it (parameter
 * names, route data): a reload must not free it under them.
 * Owner: the handler actor thread. */
struct routes_ref {
	struct route_table *table;
	unsigned refs;                /* matched requests, +1 while current */
};

/* Owner: the handler actor thread. Recycled on its free list. */
struct hreq {
	struct handler *h;
	struct http_msg *hm;          /* the envelope; NULL once answered */
	const struct ad_config *cfg;  /* snapshot at arrival */
	struct list link;             /* in live, waiting or spare */
	uint64_t deadline_ns;
	unsigned pending;             /* calls, timers and body reads in flight */
	unsigned streams;             /* body reads in flight (hreq_stream.c) */
	bool body_read;               /* hreq_read_body was called */
	struct work_timer *timers;    /* pending hreq_after timers */
	bool answered;
	bool oom;                     /* a body builder ran out of memory */
	bool no_compress;             /* hreq_no_compress (web.h) */
	struct hweb *web;             /* forms, tokens (web_internal.h), arena */
	struct route_match match;
	struct routes_ref *routes;    /* the table `match` points into, or NULL */
	char *client;                 /* formatted on demand */
	char *headers;                /* extra response header lines (arena) */
	size_t headers_len, headers_cap;
	uint32_t body_len;            /* bytes written into hm->resp_buf */
	unsigned cache_hits;          /* of the last hreq_cache_get */
	struct msg_trace trace;       /* the request's trace (hreq_trace.c) */
	const char *tracestate;       /* validated, in the arena, or NULL */
	size_t tracestate_len;
	/* Arena: inline first, then malloc'd chunks freed with the request. */
	size_t inline_used;
	struct arena_chunk *chunks;
	char params[HREQ_PARAM_BUF];
	_Alignas(16) char inline_mem[HREQ_ARENA_INLINE];
};

/* Handler counters: single writer, relaxed. */
struct handler_counters {
	_Alignas(64)
	_Atomic uint64_t requests_total;
	_Atomic uint64_t not_found_total;
	_Atomic uint64_t method_not_allowed_total;
	_Atomic uint64_t deadline_total;
	_Atomic uint64_t no_reply_total;
	_Atomic uint64_t calls_total;
	_Atomic uint64_t call_errors_total;
	_Atomic uint64_t inflight;
	_Atomic uint64_t route_rebuilds_total;
	_Atomic uint64_t slow_total;
	_Atomic uint64_t body_reads_total;
	_Atomic uint64_t body_read_bytes_total;
	_Atomic uint64_t body_reads_cut_total;
	_Atomic uint64_t sojourn_hist[MBOX_HIST_BUCKETS];
	_Atomic uint64_t sojourn_sum_ns;
	struct admit_stats admit;
};

/* The pool's `user`: immutable after handler_add_pool. */
struct handler_shared {
	const struct ad_config *cfg;
	struct route_table *start_routes; /* built from `cfg`; read by network
					   * actors (net_body_routes), never
					   * written after handler_add_pool */
	const handler_routes_fn *fns;
	unsigned nfns;
	unsigned count;
	struct handler_counters *counters;  /* [count] */
};

/* Owner: the handler actor thread (actor_state). */
struct handler {
	struct actor *actor;
	struct actor_system *sys;
	struct handler_shared *sh;
	struct handler_counters *ctr;
	struct call_table *calls;
	const struct ad_config *routes_cfg; /* the snapshot `routes` was built from */
	struct routes_ref *routes;    /* the current table */
	struct list spare;            /* recycled contexts */
	unsigned nspare;
	struct list live;             /* not answered yet, by deadline */
	struct list waiting;          /* answered, continuations still owed */
	struct list streaming;        /* not answered yet, body streaming: no
				       * deadline from arrival (http_msg.upload) */
	struct list streams;          /* upstream bodies its routes read
				       * (hreq_stream.c) */
	struct near_cache *near;      /* NULL when there is no near actor */
	ev_timer deadline_w;
	struct static_cache *static_cache; /* static_files.c, made on first use */
	uint64_t slow_logged_ns;      /* the last slow-route warning */
	uint64_t slow_unlogged;       /* slow runs since, not logged (rate limit) */
	struct log_budget error_log_budget; /* hreq_error's 5xx lines */
	uint64_t errors_unlogged;     /* 5xx answers since, not logged (budget) */
	struct ws_sessions *ws;       /* WebSocket sessions (ws_session.c), on first use */
	struct admit admit;           /* CoDel on the requests it takes */
};

/* handler.c: hand the answered envelope back to its network actor and
 * release the request once nothing refers to it any more. */
void handler_answer(struct hreq *r);
void handler_maybe_release(struct hreq *r);

/* handler.c: route code of `r` (`what`: "function" or "continuation") ran
 * from `start_ns` until now; past http.slow_handler_ms it is counted and
 * logged with the route, at most once per HANDLER_SLOW_LOG_NS. */
void handler_note_run(struct hreq *r, uint64_t start_ns, const char *what);
#define HANDLER_SLOW_LOG_NS 1000000000ull
/* hreq_error's 5xx lines per handler and second: a dependency that is
 * down fails every request, and one line each would flood the log. */
#define HANDLER_ERROR_LOG_PER_S 20

/* hreq.c: reset a recycled context's per-request state (stops its
 * timers: only the handler's stop path finds any). */
void hreq_reset(struct hreq *r);

/* hreq_trace.c: take the request's trace from its envelope (at arrival,
 * while the runtime has it current), and make it current again for work
 * run outside a message (timers, the deadline). */
void hreq_trace_begin(struct hreq *r);
void hreq_trace_resume(struct hreq *r);

/* hcompress.c: compress the body being finished when the route, the
 * client and the content type allow it (compress.*). */
void hcompress_response(struct hreq *r, unsigned status, const char *ctype);

/* hreq_stream.c: a piece of a body a route reads (STREAM_MSG_DATA,
 * consumed); the request's deadline answered it 504 (its reads end with
 * -ETIMEDOUT; the caller releases it); the actor stops (every read ends
 * with -ESHUTDOWN). */
struct stream_data;
void hstream_message(struct handler *h, struct stream_data *d);
void hstream_request_expired(struct hreq *r);
void hstreams_stop(struct handler *h);

/* static_files.c: free a handler's static-file cache (NULL is fine). */
void static_cache_destroy(struct static_cache *c);
/* ws_session.c: a connection event (PUSH_MSG_EVENT, consumed), and the
 * end of every session when the actor stops. */
void ws_session_event(struct handler *h, struct msg *m);
void ws_sessions_destroy(struct handler *h);

#endif
