/*
 * admin_collect.c - the runtime's metric collectors and readiness checks,
 * and the /admin/actors document.
 *
 * DESIGN
 * Registered once, at start-up, in one place (admin_register_collectors):
 * mailboxes, actors, HTTP listeners (every listener pool: "net" and
 * "admin"), handler actors and the process. main.c registers the log's
 * (log_collect) and the "serving" check (metrics_serving_check); backends,
 * jobs and upstream pools register their own (actors/metrics.h,
 * backend_stats.h).
 *
 * Every figure comes from a reader that uses relaxed loads on counters
 * with a single writer (mbox_read_stats, actor_read_stats, net_stats_read,
 * handler_stats_read): no figure goes backwards, figures
 * are not a consistent snapshot of each other, and no actor is ever asked
 * for anything. A pool with a shared mailbox shows that mailbox once,
 * labelled with the pool's kind.
 *
 * Readiness check: "listeners" (every public network actor has its
 * listening sockets open; they close when a drain begins).
 *
 * Thread: registration on the controlling thread; collectors, checks and
 * the document on the thread that renders (the admin actor).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "admin_internal.h"
#include "actors/admit.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "base/clock.h"
#include "handler/handler.h"
#include "net/net.h"
#include "net/net_stats.h"

#define LABELS 160

static void collect_pools(struct metrics_out *o, void *ctx);

static void actor_labels(char *out, size_t len, const char *name, const char *kind)
{
	char n[64], k[64];

	snprintf(out, len, "actor=\"%s\",kind=\"%s\"", metrics_label_value(n, sizeof(n), name),
		 metrics_label_value(k, sizeof(k), kind));
}

/* Each mailbox once: members of a shared-mailbox pool are consecutive. */
static struct mbox *next_mailbox(struct actor_system *sys, actor_addr_t *addr,
				 struct actor **owner)
{
	struct mbox *prev = *addr > 0 ? actor_mbox(actor_system_get(sys, *addr - 1)) : NULL;

	for (; *addr < actor_system_count(sys); (*addr)++) {
		struct actor *a = actor_system_get(sys, *addr);

		if (actor_mbox(a) != prev && actor_alive(a)) {
			*owner = a;
			(*addr)++;
			return actor_mbox(a);
		}
	}
	return NULL;
}

static void collect_mailboxes(struct metrics_out *o, void *ctx)
{
	struct admin *ad = ctx;
	char labels[LABELS];
	struct actor *a = NULL;
	struct mbox_stats st;
	struct mbox *mb;

	for (actor_addr_t addr = 0; (mb = next_mailbox(ad->sys, &addr, &a)) != NULL;) {
		mbox_read_stats(mb, &st);
		actor_labels(labels, sizeof(labels), mbox_name(mb), actor_kind_name(a));
		metrics_gauge(o, "mailbox_depth", "Messages in the mailbox now.", labels,
			      (double)st.depth);
		metrics_gauge(o, "mailbox_capacity",
			      "Messages the mailbox holds at most.",
			      labels, st.capacity);
		metrics_gauge(o, "mailbox_consumers",
			      "Actors taking messages from the mailbox (the pool size when shared).",
			      labels, st.consumers);
		metrics_gauge(o, "mailbox_high_water", "The largest depth the mailbox ever reached.",
			      labels, (double)st.high_water);
		metrics_counter(o, "mailbox_enqueued_total", "Messages accepted by the mailbox.",
				labels, st.enqueued_total);
		metrics_counter(o, "mailbox_dequeued_total",
				"Messages delivered to the receiving actor.", labels,
				st.dequeued_total);
		metrics_counter(o, "mailbox_rejected_total",
				"Sends refused because the mailbox was full.", labels,
				st.rejected_total);
		metrics_counter(o, "mailbox_replies_over_capacity_total",
				"Replies taken past the mailbox's capacity (a reply is never "
				"refused for being full).", labels, st.over_capacity_total);
		metrics_counter(o, "mailbox_wakeups_total",
				"Times a sleeping receiver was woken by a send.", labels,
				st.wakeups_total);
		metrics_gauge(o, "mailbox_oldest_age_seconds",
			      "Age of the oldest message at the receiver's last drain.", labels,
			      (double)st.oldest_age_ns / 1e9);
		metrics_histogram(o, "mailbox_wait_seconds",
				  "Time messages spent in the mailbox before delivery.", labels,
				  st.wait_hist, st.wait_sum_ns);
	}
}

static void collect_actors(struct metrics_out *o, void *ctx)
{
	struct admin *ad = ctx;
	char labels[LABELS];
	struct actor_stats st;

	for (actor_addr_t addr = 0; addr < actor_system_count(ad->sys); addr++) {
		const struct actor *a = actor_system_get(ad->sys, addr);

		if (!actor_alive(a))
			continue;
		actor_read_stats(a, &st);
		actor_labels(labels, sizeof(labels), actor_name(a), actor_kind_name(a));
		metrics_counter(o, "actor_messages_total", "Messages the actor handled.", labels,
				st.messages_total);
		metrics_counter_seconds(o, "actor_busy_seconds_total",
					"Time the actor's loop was awake (not waiting for events).",
					labels, st.busy_ns);
		metrics_counter(o, "actor_loop_iterations_total", "Iterations of the actor's loop.",
				labels, st.loop_iterations);
		metrics_histogram(o, "actor_loop_lag_seconds",
				  "How late the actor's 100 ms loop-lag timer fired.", labels,
				  st.lag_hist, st.lag_sum_ns);
		metrics_gauge(o, "actor_loop_lag_max_seconds",
			      "The largest loop lag the actor ever had.", labels,
			      (double)st.lag_max_ns / 1e9);
		metrics_counter(o, "actor_replies_retried_total",
				"Replies that met a full pool mailbox and were retried.", labels,
				st.replies_retried_total);
	}
}

static void collect_http(struct metrics_out *o, void *ctx)
{
	static const char *const classes[NET_STATUS_CLASSES] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	static const char *const errors[NET_ERR_COUNT] = {
		"400", "413", "414", "417", "431", "501", "505",
	};
	static const char *const timeouts[NET_TIMEOUT_COUNT] = {
		"header", "body", "keepalive", "write", "handler",
	};
	struct admin *ad = ctx;
	char labels[LABELS], more[LABELS + 32];
	struct net_stats_snapshot st;

	for (actor_addr_t addr = 0; addr < actor_system_count(ad->sys); addr++) {
		const struct actor *a = actor_system_get(ad->sys, addr);
		const struct net_stats *ns = net_stats_of(a);

		if (ns == NULL || !actor_alive(a))
			continue;
		net_stats_read(ns, &st);
		actor_labels(labels, sizeof(labels), actor_name(a), actor_kind_name(a));
		for (unsigned i = 0; i < NET_STATUS_CLASSES; i++) {
			snprintf(more, sizeof(more), "%s,class=\"%s\"", labels, classes[i]);
			metrics_counter(o, "http_responses_total",
					"HTTP responses sent, by status class.", more,
					st.responses_total[i]);
		}
		metrics_histogram(o, "http_request_duration_seconds",
				  "From a complete request to its response written to the socket.",
				  labels, st.duration_hist, st.duration_sum_ns);
		metrics_gauge(o, "http_connections_open", "Client connections open now.", labels,
			      (double)st.conns_open);
		metrics_counter(o, "http_connections_accepted_total", "Client connections accepted.",
				labels, st.conns_accepted_total);
		metrics_counter(o, "http_accept_paused_total",
				"Times accepting paused at the connection limit (new connections "
				"wait in the kernel backlog).", labels, st.conns_limit_paused_total);
		metrics_counter(o, "http_connections_reclaimed_total",
				"Idle keep-alive connections closed at the connection limit to "
				"accept new ones.", labels, st.conns_reclaimed_total);
		metrics_counter(o, "http_accept_errors_total",
				"accept(2) failures (EMFILE, ENOBUFS...).", labels,
				st.accept_errors_total);
		metrics_gauge(o, "http_listeners_open", "Listening sockets open.", labels,
			      (double)st.listeners_open);
		metrics_counter(o, "http_requests_held_total",
				"Requests the network actor held (its connection not read) because "
				"every handler mailbox was full, or earlier requests were held.",
				labels, st.held_total);
		metrics_gauge(o, "http_requests_held",
			      "Requests held now, waiting for room in a handler mailbox.", labels,
			      (double)st.held);
		metrics_counter(o, "http_late_replies_total",
				"Replies that arrived after their connection closed or timed out.",
				labels, st.late_replies_total);
		metrics_counter(o, "http_streamed_responses_total",
				"Responses whose body was streamed from an upstream "
				"(the reverse proxy's large or unsized bodies).",
				labels, st.streams_total);
		metrics_counter(o, "http_streamed_bytes_total",
				"Body bytes of streamed responses.", labels, st.stream_bytes_total);
		metrics_counter(o, "http_streams_aborted_total",
				"Streamed responses cut short (the upstream failed, or the client "
				"left): their connection was closed.",
				labels, st.streams_aborted_total);
		metrics_counter(o, "http_streamed_requests_total",
				"Requests whose body was streamed as it arrived (the reverse "
				"proxy's large or chunked uploads, and the bodies of routes "
				"that read them piece by piece).",
				labels, st.uploads_total);
		metrics_counter(o, "http_streamed_request_bytes_total",
				"Body bytes of streamed requests, as received.", labels,
				st.upload_bytes_total);
		metrics_counter(o, "http_streamed_requests_aborted_total",
				"Streamed request bodies cut short (the client left, the body "
				"was refused, or its consumer answered or failed first).",
				labels, st.uploads_aborted_total);
		for (unsigned i = 0; i < NET_ERR_COUNT; i++) {
			snprintf(more, sizeof(more), "%s,status=\"%s\"", labels, errors[i]);
			metrics_counter(o, "http_request_errors_total",
					"Requests refused by the network actor itself, by status.",
					more, st.errors_total[i]);
		}
		for (unsigned i = 0; i < NET_TIMEOUT_COUNT; i++) {
			snprintf(more, sizeof(more), "%s,timeout=\"%s\"", labels, timeouts[i]);
			metrics_counter(o, "http_timeouts_total", "Deadlines that passed, by kind.",
					more, st.timeouts_total[i]);
		}
		metrics_counter(o, "http_read_pauses_total",
				"Times reading a connection paused for backpressure.", labels,
				st.read_pauses_total);
		metrics_counter(o, "http_received_bytes_total", "Bytes read from clients.", labels,
				st.bytes_in_total);
		metrics_counter(o, "http_sent_bytes_total", "Bytes written to clients.", labels,
				st.bytes_out_total);
	}
}

static void collect_handlers(struct metrics_out *o, void *ctx)
{
	struct admin *ad = ctx;
	char labels[LABELS];
	struct handler_stats st;

	for (actor_addr_t addr = 0; addr < actor_system_count(ad->sys); addr++) {
		const struct actor *a = actor_system_get(ad->sys, addr);

		if (!actor_alive(a) || !handler_stats_read(a, &st))
			continue;
		actor_labels(labels, sizeof(labels), actor_name(a), actor_kind_name(a));
		metrics_counter(o, "handler_requests_total", "Requests a handler actor received.",
				labels, st.requests_total);
		metrics_counter(o, "handler_not_found_total", "Requests answered 404 (no route).",
				labels, st.not_found_total);
		metrics_counter(o, "handler_method_not_allowed_total",
				"Requests answered 405 (route without that method).", labels,
				st.method_not_allowed_total);
		metrics_counter(o, "handler_deadline_exceeded_total",
				"Requests answered 504 at http.request_timeout_ms.", labels,
				st.deadline_total);
		metrics_counter(o, "handler_no_reply_total",
				"Routes that returned without answering or calling (answered 500).",
				labels, st.no_reply_total);
		metrics_counter(o, "handler_calls_total", "Service calls sent by routes.", labels,
				st.calls_total);
		metrics_counter(o, "handler_call_errors_total",
				"Service calls refused at sending (mailbox full, stopping).", labels,
				st.call_errors_total);
		metrics_gauge(o, "handler_inflight", "Requests received and not finished.", labels,
			      (double)st.inflight);
		metrics_counter(o, "handler_route_rebuilds_total",
				"Route tables rebuilt after a configuration reload.", labels,
				st.route_rebuilds_total);
		metrics_counter(o, "handler_slow_total",
				"Route functions or continuations that held the handler longer "
				"than http.slow_handler_ms.", labels, st.slow_total);
		metrics_counter(o, "handler_body_reads_total",
				"Streamed bodies routes read piece by piece (upstream "
				"responses, request bodies).", labels, st.body_reads_total);
		metrics_counter(o, "handler_body_read_bytes_total",
				"Bytes of those bodies given to routes.", labels,
				st.body_read_bytes_total);
		metrics_counter(o, "handler_body_reads_cut_total",
				"Body reads that ended short: the producer failed or went "
				"silent, a request body cut or too large, the request "
				"deadline, a stop.", labels,
				st.body_reads_cut_total);
		metrics_histogram(o, "handler_sojourn_seconds",
				  "From a request's arrival to the moment a handler took it (held "
				  "in the network actor and queued in the mailbox).", labels,
				  st.sojourn_hist, st.sojourn_sum_ns);
		admit_collect(o, labels, st.admit);
	}
}

static void collect_process(struct metrics_out *o, void *ctx)
{
	struct admin *ad = ctx;

	metrics_gauge(o, "build_info", "Always 1; the version is a label.",
		      "version=\"" ACTORD_VERSION "\"", 1);
	metrics_gauge(o, "start_time_seconds", "When the process started (Unix time).", NULL,
		      ad->start_time_s);
	metrics_gauge(o, "ready", "1 when /readyz answers 200, else 0.", NULL,
		      metrics_run_checks(NULL) ? 1 : 0);
}

/* ---- readiness ---- */

static bool check_listeners(void *ctx, char *reason, size_t len)
{
	struct admin *ad = ctx;
	unsigned n = 0;
	actor_addr_t first = actor_system_find_kind(ad->sys, &net_kind, &n);

	if (first == ACTOR_ADDR_NONE) {
		snprintf(reason, len, "no network actors");
		return false;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct actor *a = actor_system_get(ad->sys, first + i);
		const struct net_stats *ns = net_stats_of(a);
		struct net_stats_snapshot st;

		if (ns != NULL)
			net_stats_read(ns, &st);
		if (ns == NULL || st.listeners_open == 0) {
			snprintf(reason, len, "%s has no listening socket open", actor_name(a));
			return false;
		}
	}
	return true;
}

int admin_register_collectors(struct admin *ad, char *err, size_t errlen)
{
	int rc = metrics_register(collect_mailboxes, ad);

	if (rc == 0)
		rc = metrics_register(collect_actors, ad);
	if (rc == 0)
		rc = metrics_register(collect_pools, ad);
	if (rc == 0)
		rc = metrics_register(collect_http, ad);
	if (rc == 0)
		rc = metrics_register(collect_handlers, ad);
	if (rc == 0)
		rc = metrics_register(collect_process, ad);
	if (rc == 0)
		rc = metrics_register_check("listeners", check_listeners, ad);
	if (rc != 0)
		snprintf(err, errlen, "admin: cannot register metrics: %s", ad_strerror(rc));
	return rc;
}

/* ---- /admin/actors ---- */

static void add_mailbox(cJSON *to, const struct mbox *mb)
{
	struct mbox_stats st;
	cJSON *m = cJSON_AddObjectToObject(to, "mailbox");
	uint64_t waits = 0;

	mbox_read_stats(mb, &st);
	for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++)
		waits += st.wait_hist[b];
	cJSON_AddStringToObject(m, "name", mbox_name(mb));
	cJSON_AddBoolToObject(m, "shared", st.shared);
	cJSON_AddNumberToObject(m, "consumers", st.consumers);
	cJSON_AddNumberToObject(m, "capacity", st.capacity);
	cJSON_AddNumberToObject(m, "depth", (double)st.depth);
	cJSON_AddNumberToObject(m, "high_water", (double)st.high_water);
	cJSON_AddNumberToObject(m, "enqueued_total", (double)st.enqueued_total);
	cJSON_AddNumberToObject(m, "dequeued_total", (double)st.dequeued_total);
	cJSON_AddNumberToObject(m, "rejected_total", (double)st.rejected_total);
	cJSON_AddNumberToObject(m, "replies_over_capacity_total", (double)st.over_capacity_total);
	cJSON_AddNumberToObject(m, "wakeups_total", (double)st.wakeups_total);
	cJSON_AddNumberToObject(m, "oldest_age_seconds", (double)st.oldest_age_ns / 1e9);
	cJSON_AddNumberToObject(m, "wait_mean_seconds",
				waits > 0 ? (double)st.wait_sum_ns / 1e9 / (double)waits : 0);
}

static cJSON *actor_json(const struct actor *a)
{
	cJSON *e = cJSON_CreateObject();
	struct actor_stats st;
	uint64_t lags = 0;

	actor_read_stats(a, &st);
	for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++)
		lags += st.lag_hist[b];
	cJSON_AddStringToObject(e, "name", actor_name(a));
	cJSON_AddStringToObject(e, "kind", actor_kind_name(a));
	cJSON_AddNumberToObject(e, "index", actor_index(a));
	cJSON_AddNumberToObject(e, "messages_total", (double)st.messages_total);
	cJSON_AddNumberToObject(e, "busy_seconds", (double)st.busy_ns / 1e9);
	cJSON_AddNumberToObject(e, "loop_iterations", (double)st.loop_iterations);
	cJSON_AddNumberToObject(e, "lag_mean_seconds",
				lags > 0 ? (double)st.lag_sum_ns / 1e9 / (double)lags : 0);
	cJSON_AddNumberToObject(e, "lag_max_seconds", (double)st.lag_max_ns / 1e9);
	cJSON_AddNumberToObject(e, "replies_retried_total", (double)st.replies_retried_total);
	add_mailbox(e, actor_mbox(a));
	return e;
}

/* Each pool once: its first slot always exists. */
static bool pool_head(const struct actor *a, struct actor_pool_info *info)
{
	return actor_index(a) == 0 &&
	       actor_system_pool_info(actor_sys(a), actor_kind(a), info) == 0;
}

static void add_pools(cJSON *doc, struct actor_system *sys)
{
	cJSON *pools = cJSON_AddArrayToObject(doc, "pools");
	struct actor_pool_info info;

	for (actor_addr_t addr = 0; pools != NULL && addr < actor_system_count(sys); addr++) {
		const struct actor *a = actor_system_get(sys, addr);
		cJSON *p;

		if (!pool_head(a, &info))
			continue;
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "kind", actor_kind_name(a));
		cJSON_AddNumberToObject(p, "count", info.live);
		cJSON_AddNumberToObject(p, "max", info.max);
		cJSON_AddNumberToObject(p, "retiring", info.retiring);
		cJSON_AddBoolToObject(p, "resizable", info.resizable);
		cJSON_AddItemToArray(pools, p);
	}
}

static void collect_pools(struct metrics_out *o, void *ctx)
{
	struct admin *ad = ctx;
	char labels[LABELS], k[64];
	struct actor_pool_info info;

	for (actor_addr_t addr = 0; addr < actor_system_count(ad->sys); addr++) {
		const struct actor *a = actor_system_get(ad->sys, addr);

		if (!pool_head(a, &info))
			continue;
		snprintf(labels, sizeof(labels), "kind=\"%s\"",
			 metrics_label_value(k, sizeof(k), actor_kind_name(a)));
		metrics_gauge(o, "pool_actors", "Actors of the pool taking new work.", labels,
			      info.live);
		metrics_gauge(o, "pool_actors_max",
			      "The most actors the pool may grow to (POST /admin/actors/KIND).",
			      labels, info.max);
		metrics_gauge(o, "pool_actors_retiring",
			      "Removed actors still finishing their work.", labels, info.retiring);
	}
}

/* Totals of the public listeners, for the dashboard's request rate. */
static void add_http_totals(cJSON *doc, struct actor_system *sys)
{
	static const char *const classes[NET_STATUS_CLASSES] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	uint64_t by_class[NET_STATUS_CLASSES] = { 0 }, open = 0;
	cJSON *http = cJSON_AddObjectToObject(doc, "http");
	cJSON *resp = cJSON_AddObjectToObject(http, "responses_total");
	struct actor_pool_info info;

	/* Every slot, retired ones included: totals never go backwards. */
	actor_system_pool_info(sys, &net_kind, &info);
	for (unsigned i = 0; info.first != ACTOR_ADDR_NONE && i < info.max; i++) {
		const struct net_stats *ns = net_stats_of(actor_system_get(sys, info.first + i));
		struct net_stats_snapshot st;

		if (ns == NULL)
			continue;
		net_stats_read(ns, &st);
		for (unsigned c = 0; c < NET_STATUS_CLASSES; c++)
			by_class[c] += st.responses_total[c];
		open += st.conns_open;
	}
	for (unsigned c = 0; c < NET_STATUS_CLASSES; c++)
		cJSON_AddNumberToObject(resp, classes[c], (double)by_class[c]);
	cJSON_AddNumberToObject(http, "connections_open", (double)open);
}

/* The upper bound of the bucket holding quantile `q` of a log2
 * histogram (0 when empty): what the dashboard and actorctl show. */
static double hist_quantile(const uint64_t *h, double q)
{
	uint64_t total = 0, seen = 0;

	for (unsigned i = 0; i < MBOX_HIST_BUCKETS; i++)
		total += h[i];
	for (unsigned i = 0; total > 0 && i < MBOX_HIST_BUCKETS; i++) {
		seen += h[i];
		if ((double)seen >= q * (double)total)
			return mbox_hist_bound_s(i);
	}
	return 0;
}

/* WebSocket totals of the public listeners (net/ws_stats.h). */
static void add_ws_totals(cJSON *doc, struct actor_system *sys)
{
	uint64_t open = 0, in = 0, out = 0, bin = 0, bout = 0, slow = 0, closed_slow = 0;
	uint64_t hist[MBOX_HIST_BUCKETS] = { 0 };
	cJSON *ws = cJSON_AddObjectToObject(doc, "websocket");
	unsigned n = 0;
	actor_addr_t first = actor_system_find_kind(sys, &net_kind, &n);

	for (unsigned i = 0; first != ACTOR_ADDR_NONE && i < n; i++) {
		const struct net_stats *ns = net_stats_of(actor_system_get(sys, first + i));

		if (ns == NULL)
			continue;
		open += counter_get(&ns->ws.open);
		in += counter_get(&ns->ws.msgs_in_total);
		out += counter_get(&ns->ws.msgs_out_total);
		bin += counter_get(&ns->ws.bytes_in_total);
		bout += counter_get(&ns->ws.bytes_out_total);
		slow += counter_get(&ns->ws.dropped_slow_total);
		closed_slow += counter_get(&ns->ws.closed_total[WS_CLOSE_SLOW]);
		for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++)
			hist[b] += counter_get(&ns->ws.fanout_hist[b]);
	}
	cJSON_AddNumberToObject(ws, "connections_open", (double)open);
	cJSON_AddNumberToObject(ws, "messages_in_total", (double)in);
	cJSON_AddNumberToObject(ws, "messages_out_total", (double)out);
	cJSON_AddNumberToObject(ws, "bytes_in_total", (double)bin);
	cJSON_AddNumberToObject(ws, "bytes_out_total", (double)bout);
	cJSON_AddNumberToObject(ws, "dropped_slow_consumer_total", (double)slow);
	cJSON_AddNumberToObject(ws, "closed_slow_consumer_total", (double)closed_slow);
	cJSON_AddNumberToObject(ws, "fanout_p50_seconds", hist_quantile(hist, 0.5));
	cJSON_AddNumberToObject(ws, "fanout_p99_seconds", hist_quantile(hist, 0.99));
}

cJSON *admin_actors_json(struct admin *ad)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *actors = cJSON_AddArrayToObject(doc, "actors");

	cJSON_AddStringToObject(doc, "version", ACTORD_VERSION);
	cJSON_AddNumberToObject(doc, "uptime_seconds",
				(double)(clock_now_ns() - ad->start_ns) / 1e9);
	cJSON_AddBoolToObject(doc, "ready", metrics_run_checks(NULL));
	cJSON_AddNumberToObject(doc, "pid", (double)getpid());
	for (actor_addr_t addr = 0; actors != NULL && addr < actor_system_count(ad->sys); addr++)
		if (actor_alive(actor_system_get(ad->sys, addr)))
			cJSON_AddItemToArray(actors, actor_json(actor_system_get(ad->sys, addr)));
	add_pools(doc, ad->sys);
	add_http_totals(doc, ad->sys);
	add_ws_totals(doc, ad->sys);
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(doc, "log"), "dropped_total",
				(double)log_dropped_total());
	return doc;
}
