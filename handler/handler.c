/*
 * handler.c - the handler actor: request lifecycle, routing, deadlines.
 *
 * DESIGN
 * Messages in: HTTP_MSG_REQUEST from network actors, PUSH_MSG_EVENT (a
 * WebSocket connection's events, from its network actor: ws_session.c),
 * replies to the calls its routes made (call_dispatch), and pieces of
 * the bodies its routes read (hreq_stream.c): STREAM_MSG_DATA from
 * upstream actors, STREAM_MSG_UPLOAD_DATA from network actors. Messages
 * out: the request envelope, back to its network actor as
 * HTTP_MSG_RESPONSE (actor_reply: retried, never dropped, if that mailbox
 * is momentarily full), service calls (hreq_call), and the grants for
 * the bodies it reads (STREAM_MSG_CREDIT, STREAM_MSG_UPLOAD_CREDIT).
 *
 * Admission (actors/admit.h): before a request gets a context, it is
 * judged by the time it waited since it arrived (received_ns: held by
 * the network actor, queued in the mailbox); one that waited too long is
 * answered 503 + Retry-After from a static body, without running its
 * route, so shedding costs next to nothing.
 *
 * Each request gets a context (struct hreq, recycled on a free list) that
 * lives until it is answered and its last continuation has run. Contexts
 * not answered yet sit in the live list, ordered by deadline (arrival +
 * request_timeout_ms; every request has the same timeout, so appending
 * keeps the order, and a reload that changes it only delays some 504s
 * until the head expires); one ev_timer watches its head. A request whose
 * body is streamed (hreq_body_stream) has no deadline from its arrival:
 * it sits in the streaming list instead, and the body timeouts and the
 * upstream call bound it. Answered contexts still owed a continuation
 * move to the waiting list. A route that returns without answering
 * and without a call in flight is a bug in the route: answered 500, logged.
 *
 * Routes: each handler actor builds its own route table from the
 * registration functions at start, and again when it first sees a new
 * configuration snapshot (a reload), so reloads need no cross-thread
 * hand-over and never drop a request.
 *
 * Thread: handler_add_pool on the controlling thread; everything else on
 * each handler actor's own thread (handler_stats_read: any).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "handler_internal.h"
#include "actors/log.h"
#include "base/clock.h"
#include "base/log_budget.h"
#include "config/config.h"
#include "net/stream_msg.h"

const struct actor_kind handler_kind = { "handler" };

static const struct actor_ops handler_ops;

static int build_routes(const struct handler_shared *sh, const struct ad_config *cfg,
			struct route_table **out, char *err, size_t errlen)
{
	struct route_table *t = route_table_create();

	if (t == NULL) {
		snprintf(err, errlen, "routes: out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < sh->nfns; i++) {
		int rc = sh->fns[i](t, cfg, err, errlen);

		if (rc != 0) {
			route_table_destroy(t);
			return rc;
		}
	}
	*out = t;
	return 0;
}

static struct routes_ref *routes_wrap(struct route_table *t)
{
	struct routes_ref *rr = malloc(sizeof(*rr));

	if (rr == NULL) {
		route_table_destroy(t);
		return NULL;
	}
	rr->table = t;
	rr->refs = 1;
	return rr;
}

static void routes_put(struct routes_ref *rr)
{
	if (rr != NULL && --rr->refs == 0) {
		route_table_destroy(rr->table);
		free(rr);
	}
}

/* A reload published a new snapshot: rebuild the table from it. If that
 * fails the old table stays (the reload itself was already validated).
 * The old table lives on until the last request matched against it is
 * released: a continuation may still read its parameter names. */
static void maybe_rebuild_routes(struct handler *h, const struct ad_config *cfg)
{
	struct route_table *t;
	struct routes_ref *rr;
	char err[256] = "";

	if (cfg == h->routes_cfg)
		return;
	h->routes_cfg = cfg;
	if (build_routes(h->sh, cfg, &t, err, sizeof(err)) != 0 ||
	    (rr = routes_wrap(t)) == NULL) {
		log_error("%s: keeping the previous routes: %s", actor_name(h->actor),
			  err[0] != '\0' ? err : "out of memory");
		return;
	}
	routes_put(h->routes);
	h->routes = rr;
	counter_add(&h->ctr->route_rebuilds_total, 1);
}

/* ---- Request contexts ---- */

static struct hreq *first_of(const struct list *l)
{
	struct list *e = list_first(l);

	return e != NULL ? list_entry(e, struct hreq, link) : NULL;
}

static struct hreq *hreq_get(struct handler *h)
{
	struct hreq *r = first_of(&h->spare);

	if (r != NULL) {
		list_remove(&r->link);
		h->nspare--;
	} else {
		r = malloc(sizeof(*r));
		if (r == NULL)
			return NULL;
		r->chunks = NULL;
		r->timers = NULL;
	}
	r->h = h;
	hreq_reset(r);
	r->routes = NULL;
	return r;
}

static void arm_deadline(struct handler *h, uint64_t now)
{
	struct hreq *first = first_of(&h->live);
	double after;

	if (first == NULL) {
		ev_timer_stop(actor_loop(h->actor), &h->deadline_w);
		return;
	}
	if (ev_is_active(&h->deadline_w))
		return;
	after = (double)(int64_t)(first->deadline_ns - now) / 1e9;
	ev_timer_set(&h->deadline_w, after > 0 ? after : 0., 0.);
	ev_timer_start(actor_loop(h->actor), &h->deadline_w);
}

void handler_maybe_release(struct hreq *r)
{
	struct handler *h = r->h;

	if (!r->answered || r->pending > 0)
		return;
	list_remove(&r->link);
	counter_add(&h->ctr->inflight, -1);
	routes_put(r->routes);
	r->routes = NULL;
	if (h->nspare >= HANDLER_SPARE_HREQS) {
		hreq_reset(r);
		free(r);
		return;
	}
	hreq_reset(r);
	list_push_front(&h->spare, &r->link);
	h->nspare++;
}

void handler_answer(struct hreq *r)
{
	struct http_msg *hm = r->hm;
	struct handler *h = r->h;

	list_remove(&r->link);
	list_push_back(&h->waiting, &r->link);
	r->answered = true;
	r->hm = NULL;
	hm->m.type = HTTP_MSG_RESPONSE;
	actor_reply(&hm->m);
}

/* The request deadline passed: answer 504 if the route has not answered. */
static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct handler *h = w->data;
	uint64_t now = clock_now_ns();
	struct hreq *r;

	(void)loop;
	(void)revents;
	while ((r = first_of(&h->live)) != NULL && r->deadline_ns <= now) {
		counter_add(&h->ctr->deadline_total, 1);
		hreq_trace_resume(r);
		hreq_error(r, 504, "no reply within the request deadline");
		if (r->streams > 0)
			hstream_request_expired(r);
		handler_maybe_release(r);
	}
	trace_set_current(NULL);
	ev_timer_stop(actor_loop(h->actor), &h->deadline_w);
	arm_deadline(h, now);
}

void handler_note_run(struct hreq *r, uint64_t start_ns, const char *what)
{
	struct handler *h = r->h;
	uint64_t now = clock_now_ns(), limit = (uint64_t)r->cfg->http.slow_handler_ms * NS_PER_MS;

	if (limit == 0 || now - start_ns <= limit)
		return;
	counter_add(&h->ctr->slow_total, 1);
	if (!log_every_due(&h->slow_logged_ns, now, HANDLER_SLOW_LOG_NS)) {
		h->slow_unlogged++;
		return;
	}
	/* A route that blocks stalls every request of this handler: say which. */
	log_warn("%s: route %s: its %s held the handler for %llu ms (http.slow_handler_ms "
		 "%u): blocking work belongs on a worker (hreq_work); %llu more since the "
		 "last warning", actor_name(h->actor),
		 r->match.pattern != NULL ? r->match.pattern : "?", what,
		 (unsigned long long)((now - start_ns) / NS_PER_MS), r->cfg->http.slow_handler_ms,
		 (unsigned long long)h->slow_unlogged);
	h->slow_unlogged = 0;
}

/* Answer without a request context (shed, or no memory for one): a
 * static 503 with Retry-After, the envelope straight back. */
static void answer_unavailable(struct http_msg *hm, const char *body, uint32_t len)
{
	hm->status = 503;
	hm->content_type = "application/json";
	hm->resp_body = body;
	hm->resp_body_len = len;
	hm->resp_headers = "Retry-After: 1\r\n";
	hm->resp_headers_len = 16;
	hm->m.type = HTTP_MSG_RESPONSE;
	actor_reply(&hm->m);
}

#define BODY(s) s, (uint32_t)(sizeof(s) - 1)

/* Admission (actors/admit.h): a request that waited too long in a
 * standing queue is answered 503 without being run. True if it was. */
static bool shed(struct handler *h, struct http_msg *hm, const struct ad_config *cfg)
{
	uint64_t now = clock_now_ns();
	uint64_t sojourn = now > hm->received_ns ? now - hm->received_ns : 0;

	counter_add(&h->ctr->sojourn_hist[mbox_hist_bucket(sojourn)], 1);
	counter_add(&h->ctr->sojourn_sum_ns, (int64_t)sojourn);
	if (admit_check(&h->admit, sojourn, now, &cfg->admission) == ADMIT_RUN)
		return false;
	answer_unavailable(hm, BODY("{\"error\":\"overloaded: the request waited too long "
				    "in the queue, retry later\"}"));
	return true;
}

static void route_request(struct handler *h, struct http_msg *hm)
{
	const struct ad_config *cfg = config_current_or(h->sh->cfg);
	struct hreq *r;
	unsigned mbit = route_method_bit(hm->method);
	char *params;
	size_t params_len;
	int status;

	counter_add(&h->ctr->requests_total, 1);
	if (shed(h, hm, cfg))
		return;
	r = hreq_get(h);
	if (r == NULL) {
		answer_unavailable(hm, BODY("{\"error\":\"out of memory, retry later\"}"));
		return;
	}
	counter_add(&h->ctr->inflight, 1);
	r->hm = hm;
	hreq_trace_begin(r);
	r->cfg = cfg;
	if (hm->upload) {
		/* Its body is still arriving: the network actor's body
		 * timeouts and the upstream call's own bound it, not a
		 * deadline from the end of its head. */
		r->deadline_ns = 0;
		list_push_back(&h->streaming, &r->link);
	} else {
		r->deadline_ns = hm->received_ns +
			(uint64_t)cfg->http.request_timeout_ms * NS_PER_MS;
		list_push_back(&h->live, &r->link);
		arm_deadline(h, clock_now_ns());
	}

	maybe_rebuild_routes(h, cfg);
	/* The decoded parameters fit in path_len + 1 bytes (route.h): a path
	 * longer than the inline buffer, within http.max_request_line, gets
	 * room in the arena instead of a 400 (a long proxied path). */
	params = r->params;
	params_len = sizeof(r->params);
	if (hm->path_len >= params_len) {
		params_len = (size_t)hm->path_len + 1;
		params = hreq_alloc(r, params_len);
	}
	/* A method no route can take (mbit 0: TRACE, PROPFIND...) still goes
	 * through the table: 404 for a path nothing serves, else 405 with
	 * the methods that path really takes. */
	status = params == NULL ? 503
		: route_match(h->routes->table, mbit, hm->path, hm->path_len, params, params_len,
			      &r->match);
	if (status == 503) {
		hreq_fail(r, -EAGAIN, "out of memory for the route parameters");
	} else if (status == 200 && hm->upload && !(r->match.flags & ROUTE_STREAM_BODY)) {
		hreq_error(r, 413, "%s takes no streamed request body", r->match.pattern);
	} else if (status == 200) {
		uint64_t start = clock_now_ns();

		r->routes = h->routes;
		r->routes->refs++;
		r->match.fn(r);
		handler_note_run(r, start, "function");
		if (!r->answered && r->pending == 0) {
			/* One line: hreq_error logs the 500 with method and path. */
			counter_add(&h->ctr->no_reply_total, 1);
			hreq_error(r, 500, "the route returned without replying");
		}
	} else if (status == 405) {
		char allow[96];

		counter_add(&h->ctr->method_not_allowed_total, 1);
		route_allow_string(r->match.allow, allow, sizeof(allow));
		hreq_add_header(r, "Allow", allow);
		hreq_error(r, 405, "method %s not allowed", http_method_str(hm->method));
	} else if (status == 404) {
		counter_add(&h->ctr->not_found_total, 1);
		hreq_error(r, 404, "not found");
	} else {
		hreq_error(r, 400, "malformed path: a bad escape or %%00 in a route parameter");
	}
	handler_maybe_release(r);
}

static void handler_message(struct actor *a, struct msg *m)
{
	struct handler *h = actor_state(a);

	if (m->type == HTTP_MSG_REQUEST) {
		route_request(h, (struct http_msg *)(void *)m);
		return;
	}
	if (m->type == PUSH_MSG_EVENT) {     /* WebSocket: ws_session.c */
		ws_session_event(h, m);
		return;
	}
	if (m->type == STREAM_MSG_DATA || m->type == STREAM_MSG_UPLOAD_DATA) {
		/* a body a route reads: hreq_stream.c */
		hstream_message(h, (struct stream_data *)(void *)m);
		return;
	}
	if (!call_dispatch(h->calls, m)) {
		log_warn("%s: unexpected message type %#x dropped", actor_name(a), m->type);
		msg_free(m);
	}
}

static void free_handler(struct handler *h)
{
	struct hreq *r;

	while ((r = first_of(&h->live)) != NULL)
		hreq_error(r, 503, "shutting down");   /* moves it to waiting */
	while ((r = first_of(&h->streaming)) != NULL)
		hreq_error(r, 503, "shutting down");
	hstreams_stop(h);
	while ((r = first_of(&h->waiting)) != NULL) {
		list_remove(&r->link);
		routes_put(r->routes);
		hreq_reset(r);
		free(r);
	}
	while ((r = first_of(&h->spare)) != NULL) {
		list_remove(&r->link);
		free(r);
	}
	ws_sessions_destroy(h);
	call_table_destroy(h->calls);
	routes_put(h->routes);
	near_cache_destroy(h->near);
	static_cache_destroy(h->static_cache);
	free(h);
}

static int handler_start(struct actor *a)
{
	struct handler_shared *sh = actor_user(a);
	struct handler *h = calloc(1, sizeof(*h));
	struct route_table *t;
	char err[256];
	int rc;

	if (h == NULL)
		return -ENOMEM;
	h->actor = a;
	h->sys = actor_sys(a);
	h->sh = sh;
	list_init(&h->spare);
	list_init(&h->live);
	list_init(&h->streaming);
	list_init(&h->streams);
	list_init(&h->waiting);
	h->ctr = &sh->counters[actor_index(a)];
	h->calls = call_table_create(a, HANDLER_MAX_CALLS);
	if (h->calls == NULL) {
		free(h);
		return -ENOMEM;
	}
	h->routes_cfg = config_current_or(h->sh->cfg);
	/* No near actor (near_cache.enabled false, no cache actors): the near
	 * cache then misses every lookup and keeps nothing. */
	h->near = near_cache_create(near_hub_find(h->sys), actor_index(a),
				    h->routes_cfg->near_cache.max_bytes);
	if (h->near == NULL) {
		call_table_destroy(h->calls);
		free(h);
		return -ENOMEM;
	}
	rc = build_routes(sh, h->routes_cfg, &t, err, sizeof(err));
	if (rc == 0 && (h->routes = routes_wrap(t)) == NULL) {
		snprintf(err, sizeof(err), "routes: out of memory");
		rc = -ENOMEM;
	}
	if (rc != 0) {
		log_error("%s: %s", actor_name(a), err);
		call_table_destroy(h->calls);
		near_cache_destroy(h->near);
		free(h);
		return rc;
	}
	ev_init(&h->deadline_w, on_deadline);
	h->deadline_w.data = h;
	admit_init(&h->admit, &h->ctr->admit, actor_name(a));
	actor_set_state(a, h);
	return 0;
}

static void handler_stop(struct actor *a)
{
	struct handler *h = actor_state(a);

	if (h == NULL)
		return;
	ev_timer_stop(actor_loop(a), &h->deadline_w);
	actor_set_state(a, NULL);
	free_handler(h);
}

/* Leaving the pool: done once every request it took is answered and
 * every call its routes made has come back. */
static bool handler_idle(struct actor *a)
{
	const struct handler *h = actor_state(a);

	return list_empty(&h->live) && list_empty(&h->streaming) && list_empty(&h->waiting) &&
	       call_pending(h->calls) == 0;
}

static const struct actor_ops handler_ops = {
	.start = handler_start,
	.message = handler_message,
	.stop = handler_stop,
	.idle = handler_idle,
};

/* The pool's shared part: counters the admin endpoint reads until the
 * system is destroyed (actor_pool_spec.dispose). */
static void dispose_shared(void *user)
{
	struct handler_shared *sh = user;

	route_table_destroy(sh->start_routes);
	free(sh->counters);
	free(sh);
}

/* net_body_routes.streams, on network actor threads: whether the route
 * that `method path` matches in the start's table reads its body piece
 * by piece. The table is never written after handler_add_pool. */
static bool start_route_streams(const void *ctx, unsigned method, const char *path,
				size_t path_len)
{
	const struct route_table *t = ctx;
	unsigned bit = route_method_bit(method);
	struct route_match m;

	/* No parameters decoded: only which route (a long path fits too). */
	return bit != 0 && route_match(t, bit, path, path_len, NULL, 0, &m) == 200 &&
	       (m.flags & ROUTE_STREAM_BODY) != 0;
}

int handler_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		     const handler_routes_fn *fns, unsigned nfns,
		     struct net_body_routes *bodies, char *err, size_t errlen)
{
	struct handler_shared *sh;
	struct actor_pool_spec spec;
	int rc;

	sh = calloc(1, sizeof(*sh));
	if (sh != NULL)
		sh->counters = aligned_alloc(_Alignof(struct handler_counters),
					     sizeof(struct handler_counters) * CONFIG_MAX_ACTORS);
	if (sh == NULL || sh->counters == NULL) {
		free(sh);
		snprintf(err, errlen, "handler: out of memory");
		return -ENOMEM;
	}
	memset(sh->counters, 0, sizeof(struct handler_counters) * CONFIG_MAX_ACTORS);
	sh->cfg = cfg;
	sh->fns = fns;
	sh->nfns = nfns;
	sh->count = CONFIG_MAX_ACTORS;  /* counter slots: the pool may grow */
	/* Build the table once here so a bad route fails start-up with a
	 * reason instead of failing inside an actor; the network actors
	 * then ask it which bodies to stream. */
	rc = build_routes(sh, cfg, &sh->start_routes, err, errlen);
	if (rc != 0) {
		dispose_shared(sh);
		return rc;
	}
	/* No route reads a streamed body (the shipped application without
	 * proxy prefixes): the network actors need not ask. */
	if (bodies != NULL && (route_table_flags(sh->start_routes) & ROUTE_STREAM_BODY) != 0)
		*bodies = (struct net_body_routes){ start_route_streams, sh->start_routes };
	spec = (struct actor_pool_spec){
		.kind = &handler_kind,
		.count = cfg->handler.count,
		.max = CONFIG_MAX_ACTORS,
		.mbox_capacity = cfg->handler.mailbox,
		.ops = &handler_ops,
		.user = sh,
		.dispose = dispose_shared,
	};
	if (actor_system_add_pool(sys, &spec, err, errlen) == ACTOR_ADDR_NONE) {
		dispose_shared(sh);
		return -EINVAL;
	}
	return 0;
}

bool handler_stats_read(const struct actor *a, struct handler_stats *out)
{
	const struct handler_shared *sh;
	struct handler_counters *c;

	if (a == NULL || actor_kind(a) != &handler_kind || actor_user(a) == NULL)
		return false;
	sh = actor_user(a);
	if (actor_index(a) >= sh->count)
		return false;
	c = &sh->counters[actor_index(a)];
#define RD(f) out->f = atomic_load_explicit(&c->f, memory_order_relaxed)
	RD(requests_total);
	RD(not_found_total);
	RD(method_not_allowed_total);
	RD(deadline_total);
	RD(no_reply_total);
	RD(calls_total);
	RD(call_errors_total);
	RD(inflight);
	RD(route_rebuilds_total);
	RD(slow_total);
	RD(body_reads_total);
	RD(body_read_bytes_total);
	RD(body_reads_cut_total);
	RD(sojourn_sum_ns);
	for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++)
		RD(sojourn_hist[b]);
	out->admit = &c->admit;
#undef RD
	return true;
}
