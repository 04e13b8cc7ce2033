/*
 * ws_stats.c - the WebSocket metrics of the "net" pool (docs/ADMIN.md,
 * "WebSocket"): one collector reading every network actor's struct
 * ws_stats with relaxed loads.
 *
 * Thread: ws_stats_register on the controlling thread; the collector on
 * the renderer's (the admin actor).
 */
#include <stdio.h>

#include "ws_internal.h"
#include "actors/metrics.h"

static void collect(struct metrics_out *o, void *ctx)
{
	const struct net_shared *sh = ctx;

	for (unsigned i = 0; i < sh->count; i++) {
		const struct ws_stats *s = &sh->stats[i].ws;
		uint64_t hist[MBOX_HIST_BUCKETS];
		char lb[96], lr[160];

		snprintf(lb, sizeof(lb), "actor=\"%s-%u\"", sh->spec.kind->name, i);
		metrics_gauge(o, "ws_connections", "WebSocket connections open", lb,
			      (double)counter_get(&s->open));
		metrics_counter(o, "ws_upgrades_total", "Connections upgraded to WebSocket", lb,
				counter_get(&s->upgrades_total));
		for (unsigned k = 0; k < WS_CLOSE_KINDS; k++) {
			snprintf(lr, sizeof(lr), "%s,reason=\"%s\"", lb, ws_close_kind_names[k]);
			metrics_counter(o, "ws_closed_total", "WebSocket connections closed, by reason",
					lr, counter_get(&s->closed_total[k]));
		}
		metrics_counter(o, "ws_messages_in_total", "WebSocket data messages received", lb,
				counter_get(&s->msgs_in_total));
		metrics_counter(o, "ws_messages_out_total", "WebSocket frames written", lb,
				counter_get(&s->msgs_out_total));
		metrics_counter(o, "ws_bytes_in_total", "WebSocket bytes received", lb,
				counter_get(&s->bytes_in_total));
		metrics_counter(o, "ws_bytes_out_total", "WebSocket bytes written", lb,
				counter_get(&s->bytes_out_total));
		metrics_counter(o, "ws_dropped_slow_consumer_total",
				"Frames dropped because a connection's queue was full", lb,
				counter_get(&s->dropped_slow_total));
		metrics_counter(o, "ws_dropped_closed_total",
				"Pushes for a connection that had closed or was closing", lb,
				counter_get(&s->dropped_gone_total));
		metrics_counter(o, "ws_events_delayed_total",
				"Events that met a full handler mailbox (reading paused)", lb,
				counter_get(&s->events_delayed_total));
		metrics_gauge(o, "ws_channels", "Channels with members on this actor", lb,
			      (double)counter_get(&s->channels));
		metrics_gauge(o, "ws_memberships", "Channel memberships on this actor", lb,
			      (double)counter_get(&s->memberships));
		for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++)
			hist[b] = counter_get(&s->fanout_hist[b]);
		metrics_histogram(o, "ws_fanout_latency_seconds",
				  "Published frame: publish to written to the socket, per delivery",
				  lb, hist, counter_get(&s->fanout_sum_ns));
	}
}

int ws_stats_register(struct net_shared *sh)
{
	return metrics_register(collect, sh);
}
