/*
 * ws_stats.h - WebSocket counters of one network actor (docs/ADMIN.md,
 * "WebSocket"). Part of struct net_stats: the same single writer (the
 * network actor, relaxed load + store) and readers (relaxed loads, any
 * thread).
 */
#ifndef ACTORD_WS_STATS_H
#define ACTORD_WS_STATS_H

#include <stdint.h>

#include "base/counter.h"
#include "mailbox/mbox.h"

/* Why a connection was closed (the code actord sent, or saw). */
enum ws_close_kind {
	WS_CLOSE_CLIENT,      /* the client's close frame */
	WS_CLOSE_SERVER,      /* the application (ws_close) or a drain */
	WS_CLOSE_PROTOCOL,    /* 1002, 1007, 1009: the client broke a rule */
	WS_CLOSE_IDLE,        /* websocket.idle_timeout_ms without input */
	WS_CLOSE_SLOW,        /* slow consumer policy "close" */
	WS_CLOSE_ABNORMAL,    /* the TCP connection ended without a close frame */
	WS_CLOSE_KINDS
};

/* Owner: the network actor (writer); any thread reads. */
struct ws_stats {
	counter_t open;                     /* gauge: upgraded connections */
	counter_t upgrades_total;
	counter_t closed_total[WS_CLOSE_KINDS];
	counter_t msgs_in_total;            /* data messages from clients */
	counter_t msgs_out_total;           /* frames written to clients */
	counter_t bytes_in_total;
	counter_t bytes_out_total;
	counter_t dropped_slow_total;       /* frames dropped: a full queue
					     * (policy "drop", or the queue
					     * cut when closing 1008) */
	counter_t dropped_gone_total;       /* pushes for a connection
					     * that had closed */
	counter_t events_delayed_total;     /* events that met a full handler
					     * mailbox (reading paused) */
	counter_t channels;                 /* gauge: channels with members here */
	counter_t memberships;              /* gauge */
	counter_t fanout_hist[MBOX_HIST_BUCKETS]; /* publish -> written to the
					     * socket, per delivery */
	counter_t fanout_sum_ns;
};

extern const char *const ws_close_kind_names[WS_CLOSE_KINDS];

#endif
