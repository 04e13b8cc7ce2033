/*
 * net_stats.c - network actor counters (see net_stats.h).
 *
 * Thread: net_stats_response on the owning actor; net_stats_read anywhere.
 * net_stats_of lives in net_actor.c, which knows where the counters sit.
 */
#include "net_stats.h"

void net_stats_response(struct net_stats *s, unsigned status, uint64_t duration_ns)
{
	unsigned cls = status / 100;

	if (cls >= 1 && cls <= NET_STATUS_CLASSES)
		counter_add(&s->responses_total[cls - 1], 1);
	counter_add(&s->duration_hist[mbox_hist_bucket(duration_ns)], 1);
	counter_add(&s->duration_sum_ns, duration_ns);
}

static uint64_t rd(const _Atomic uint64_t *c)
{
	return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

void net_stats_read(const struct net_stats *s, struct net_stats_snapshot *out)
{
	for (unsigned i = 0; i < NET_STATUS_CLASSES; i++)
		out->responses_total[i] = rd(&s->responses_total[i]);
	for (unsigned i = 0; i < MBOX_HIST_BUCKETS; i++)
		out->duration_hist[i] = rd(&s->duration_hist[i]);
	out->duration_sum_ns = rd(&s->duration_sum_ns);
	out->conns_open = rd(&s->conns_open);
	out->conns_accepted_total = rd(&s->conns_accepted_total);
	out->conns_limit_paused_total = rd(&s->conns_limit_paused_total);
	out->conns_reclaimed_total = rd(&s->conns_reclaimed_total);
	out->accept_errors_total = rd(&s->accept_errors_total);
	out->late_replies_total = rd(&s->late_replies_total);
	out->held_total = rd(&s->held_total);
	out->held = rd(&s->held);
	for (unsigned i = 0; i < NET_ERR_COUNT; i++)
		out->errors_total[i] = rd(&s->errors_total[i]);
	for (unsigned i = 0; i < NET_TIMEOUT_COUNT; i++)
		out->timeouts_total[i] = rd(&s->timeouts_total[i]);
	out->read_pauses_total = rd(&s->read_pauses_total);
	out->bytes_in_total = rd(&s->bytes_in_total);
	out->bytes_out_total = rd(&s->bytes_out_total);
	out->listeners_open = rd(&s->listeners_open);
	out->streams_total = rd(&s->streams_total);
	out->streams_aborted_total = rd(&s->streams_aborted_total);
	out->stream_bytes_total = rd(&s->stream_bytes_total);
	out->uploads_total = rd(&s->uploads_total);
	out->upload_bytes_total = rd(&s->upload_bytes_total);
	out->uploads_aborted_total = rd(&s->uploads_aborted_total);
}
