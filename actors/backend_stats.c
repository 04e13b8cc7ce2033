/*
 * backend_stats.c - recording and rendering backend counters
 * (backend_stats.h).
 *
 * Thread: backend_stats_done on the owner; collect on the renderer.
 */
#include <stdio.h>

#include "backend_stats.h"

void backend_stats_done(struct backend_stats *s, uint64_t latency_ns, bool error,
			bool timeout)
{
	counter_add(&s->latency_hist[mbox_hist_bucket(latency_ns)], 1);
	counter_add(&s->latency_sum_ns, (int64_t)latency_ns);
	if (error)
		counter_add(&s->errors_total, 1);
	if (timeout)
		counter_add(&s->timeouts_total, 1);
}

#define LD(f) atomic_load_explicit(&s->f, memory_order_relaxed)

void backend_stats_collect(struct metrics_out *o, const char *backend,
			   const char *actor, const struct backend_stats *cs)
{
	struct backend_stats *s = (struct backend_stats *)cs; /* loads only */
	char b[96], a[96], labels[256];
	uint64_t hist[MBOX_HIST_BUCKETS];

	snprintf(labels, sizeof(labels), "backend=\"%s\",actor=\"%s\"",
		 metrics_label_value(b, sizeof(b), backend),
		 metrics_label_value(a, sizeof(a), actor));
	metrics_counter(o, "backend_requests_total",
			"Requests (commands, queries) sent to the backend.", labels,
			LD(requests_total));
	metrics_counter(o, "backend_errors_total",
			"Backend requests that failed, timeouts included.", labels,
			LD(errors_total));
	metrics_counter(o, "backend_timeouts_total",
			"Backend requests that missed their deadline.", labels,
			LD(timeouts_total));
	metrics_counter(o, "backend_reconnects_total",
			"Connection attempts after a connection was lost or refused.", labels,
			LD(reconnects_total));
	metrics_counter(o, "backend_failovers_total",
			"Times the connection moved to a new primary named by Redis Sentinel "
			"(0 for backends without failover).", labels, LD(failovers_total));
	metrics_gauge(o, "backend_inflight", "Backend requests sent and not answered yet.",
		      labels, (double)LD(inflight));
	metrics_gauge(o, "backend_connected", "Backend connections that are up.", labels,
		      (double)LD(connected));
	for (unsigned i = 0; i < MBOX_HIST_BUCKETS; i++)
		hist[i] = LD(latency_hist[i]);
	metrics_histogram(o, "backend_latency_seconds",
			  "Time from sending a backend request to its answer.", labels, hist,
			  LD(latency_sum_ns));
}
