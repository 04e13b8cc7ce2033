/*
 * handler.h - the handler actors: they run the routes.
 *
 * DESIGN
 * M handler actors (config: actors.handler). A network actor sends each
 * parsed request (HTTP_MSG_REQUEST, net/http_msg.h) to one of them; the
 * handler matches it against its route table, runs the route (handler_api.h)
 * and sends the same envelope back as the response. Each handler actor owns
 * its own route table, built from the registration functions given here
 * and rebuilt when a reload publishes a new configuration.
 *
 * Thread: handler_add_pool runs on the controlling thread before
 * actor_system_start(); handler_stats_read on any thread.
 */
#ifndef ACTORD_HANDLER_H
#define ACTORD_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include "actors/actor.h"
#include "actors/admit.h"
#include "handler_api.h"
#include "config/config.h"
#include "net/net.h"

/* The handler actors (pool "handler", actors.handler). */
extern const struct actor_kind handler_kind;

/* Counters of one handler actor: one writer (the actor), read anywhere
 * with relaxed loads (handler_stats_read). */
struct handler_stats {
	uint64_t requests_total;        /* requests received */
	uint64_t not_found_total;       /* answered 404 by the route table */
	uint64_t method_not_allowed_total; /* answered 405 */
	uint64_t deadline_total;        /* answered 504 at the request deadline */
	uint64_t no_reply_total;        /* routes that returned without replying
					 * or calling (answered 500) */
	uint64_t calls_total;           /* hreq_call sends */
	uint64_t call_errors_total;     /* hreq_call sends refused */
	uint64_t inflight;              /* requests not finished (gauge) */
	uint64_t route_rebuilds_total;  /* route tables rebuilt after a reload */
	uint64_t slow_total;            /* route code that held the handler longer
					 * than http.slow_handler_ms (logged) */
	uint64_t body_reads_total;      /* streamed bodies routes read piece by
					 * piece (hreq_read_upstream,
					 * hreq_read_body) */
	uint64_t body_read_bytes_total; /* their bytes given to routes */
	uint64_t body_reads_cut_total;  /* reads that ended short: the producer
					 * failed or went silent, a request body
					 * cut or too large, the deadline, a stop
					 * (not a route's own -ECANCELED) */
	/* Sojourn: from the request's arrival (http_msg received_ns) to the
	 * moment this handler took it, held time in the network actor and
	 * time in the mailbox included; log2 us buckets (mbox.h). */
	uint64_t sojourn_hist[MBOX_HIST_BUCKETS];
	uint64_t sojourn_sum_ns;
	const struct admit_stats *admit; /* what admission shed (admit.h); valid
					  * until the system is destroyed */
};

/* Add the "handler" pool; each member registers its routes with the
 * `nfns` functions in `fns` (kept by pointer: must outlive the system).
 * `bodies` (may be NULL) is filled for net_add_pools: which requests a
 * route reads the body of piece by piece (ROUTE_STREAM_BODY), asked of the
 * route table built here from `cfg`, kept unchanged until the system is
 * destroyed (so such routes are those of the start: a reload that adds
 * one takes a restart to stream its bodies). `cfg` must outlive the
 * system. Returns 0 or -errno with a reason. */
int handler_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		     const handler_routes_fn *fns, unsigned nfns,
		     struct net_body_routes *bodies, char *err, size_t errlen);

/* The counters of handler actor `a`; false if `a` is not one. Thread: any. */
bool handler_stats_read(const struct actor *a, struct handler_stats *out);

#endif
