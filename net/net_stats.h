/*
 * net_stats.h - counters of one network actor, readable from any thread.
 *
 * DESIGN
 * Each network actor owns one `struct net_stats` (allocated before the
 * system starts, so its address never changes). Only that actor writes it,
 * with relaxed load + store (no locked instruction on the request path);
 * any thread reads it with net_stats_read (relaxed loads): a figure never
 * goes backwards, figures are not a consistent snapshot of each other.
 * The struct is cache-line aligned so two actors' counters never share a
 * line. The admin endpoint finds an actor's counters with net_stats_of()
 * and never sends the network actor a message to read them.
 *
 * Every counter, its meaning and its unit: the field comments below
 * (docs/ADMIN.md lists them for operators).
 */
#ifndef ACTORD_NET_STATS_H
#define ACTORD_NET_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/counter.h"
#include "mailbox/mbox.h"
#include "ws_stats.h"

struct actor;

/* Requests answered with a status the network actor produced itself. */
enum net_err {
	NET_ERR_400,   /* malformed or badly framed, CL+TE, conflicting
			* Content-Length, Host missing or repeated */
	NET_ERR_413,   /* body over http.max_body_bytes */
	NET_ERR_414,   /* request line over http.max_request_line */
	NET_ERR_417,   /* an Expect other than 100-continue */
	NET_ERR_431,   /* header block over max_header_bytes or max_headers */
	NET_ERR_501,   /* a transfer coding other than chunked */
	NET_ERR_505,   /* an HTTP major version other than 1 */
	NET_ERR_COUNT
};

/* Connections closed (or requests answered) because a deadline passed. */
enum net_timeout {
	NET_TIMEOUT_HEADER,    /* header block not complete in header_timeout_ms */
	NET_TIMEOUT_BODY,      /* no body bytes for body_timeout_ms */
	NET_TIMEOUT_KEEPALIVE, /* idle between requests for keepalive_timeout_ms */
	NET_TIMEOUT_WRITE,     /* client did not read for write_timeout_ms */
	NET_TIMEOUT_HANDLER,   /* no reply in request_timeout_ms + 1 s: 504 */
	NET_TIMEOUT_COUNT
};

#define NET_STATUS_CLASSES 5   /* 1xx .. 5xx */

/* Owner: one network actor thread writes; any thread reads (relaxed). */
struct net_stats {
	_Alignas(64)
	_Atomic uint64_t responses_total[NET_STATUS_CLASSES]; /* by status class */
	_Atomic uint64_t duration_hist[MBOX_HIST_BUCKETS]; /* request complete ->
							    * response written to
							    * the socket buffer,
							    * log2 us buckets */
	_Atomic uint64_t duration_sum_ns;
	_Atomic uint64_t conns_open;           /* gauge */
	_Atomic uint64_t conns_accepted_total;
	_Atomic uint64_t conns_limit_paused_total; /* accepting paused at
						    * http.max_connections */
	_Atomic uint64_t conns_reclaimed_total; /* idle keep-alive connections
						 * closed at the limit */
	_Atomic uint64_t accept_errors_total;  /* accept(2) failures (EMFILE...) */
	_Atomic uint64_t late_replies_total;   /* replies for closed connections */
	_Atomic uint64_t held_total;           /* requests held because every
						* handler mailbox was full (or
						* earlier ones were held) */
	_Atomic uint64_t held;                 /* gauge: requests held now */
	_Atomic uint64_t errors_total[NET_ERR_COUNT];
	_Atomic uint64_t timeouts_total[NET_TIMEOUT_COUNT];
	_Atomic uint64_t read_pauses_total;    /* reads stopped for backpressure
						* (output high water or
						* max_pipeline) */
	_Atomic uint64_t bytes_in_total;
	_Atomic uint64_t bytes_out_total;
	_Atomic uint64_t listeners_open;       /* gauge: listening sockets open
						* (0 before start and once
						* draining) */
	_Atomic uint64_t streams_total;        /* streamed bodies started
						* (net_stream.c) */
	_Atomic uint64_t streams_aborted_total; /* cut short: producer failed
						 * or client gone */
	_Atomic uint64_t stream_bytes_total;   /* streamed body bytes */
	_Atomic uint64_t uploads_total;        /* request bodies streamed
						* (net_upload.c) */
	_Atomic uint64_t upload_bytes_total;   /* their bytes, received */
	_Atomic uint64_t uploads_aborted_total; /* cut short: the client left,
						 * its body was refused, or the
						 * consumer answered or failed
						 * first */
	struct ws_stats ws;                    /* WebSocket (ws_stats.h) */
};

/* A plain copy of struct net_stats. */
struct net_stats_snapshot {
	uint64_t responses_total[NET_STATUS_CLASSES];
	uint64_t duration_hist[MBOX_HIST_BUCKETS];
	uint64_t duration_sum_ns;
	uint64_t conns_open;
	uint64_t conns_accepted_total;
	uint64_t conns_limit_paused_total;
	uint64_t conns_reclaimed_total;
	uint64_t accept_errors_total;
	uint64_t late_replies_total;
	uint64_t held_total;
	uint64_t held;
	uint64_t errors_total[NET_ERR_COUNT];
	uint64_t timeouts_total[NET_TIMEOUT_COUNT];
	uint64_t read_pauses_total;
	uint64_t bytes_in_total;
	uint64_t bytes_out_total;
	uint64_t listeners_open;
	uint64_t streams_total;
	uint64_t streams_aborted_total;
	uint64_t stream_bytes_total;
	uint64_t uploads_total;
	uint64_t upload_bytes_total;
	uint64_t uploads_aborted_total;
};

/* Count one response with `status`, `duration_ns` after its request was
 * complete. Thread: owner. */
void net_stats_response(struct net_stats *s, unsigned status, uint64_t duration_ns);

/* Copy every counter with relaxed loads. Thread: any. */
void net_stats_read(const struct net_stats *s, struct net_stats_snapshot *out);

/* The counters of network actor `a` (of any listener pool: "net",
 * "admin"), or NULL if `a` is not one.
 * Valid until actor_system_destroy(). Thread: any, once started. */
const struct net_stats *net_stats_of(const struct actor *a);

#endif
