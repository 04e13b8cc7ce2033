/*
 * ws_internal.h - what the WebSocket side of a network actor shares:
 * ws_conn.c (an upgraded connection: frames in, frame queue out, close
 * handshake, timers, events to its handler), ws_chan.c (channels and
 * their members on this actor), and the hooks net_io.c, net_actor.c and
 * http_conn.c call. Not a public header.
 *
 * Owner: a struct ws_link and a struct ws_net belong to one network actor
 * thread.
 */
#ifndef ACTORD_WS_INTERNAL_H
#define ACTORD_WS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net_internal.h"
#include "ws_frame.h"
#include "base/list.h"
#include "push/ws_push.h"

#define WS_QUEUE_INLINE 4         /* queued frames before the queue allocates */
#define WS_WRITEV_MAX 64          /* frames per writev(2) */
#define WS_RETRY_MS 2             /* reading resumes after a delayed event */

enum ws_phase {
	WSP_PENDING,   /* the 101 answer is queued, HTTP still owns the socket */
	WSP_OPEN,
	WSP_CLOSING,   /* our close frame is queued or sent; waiting for theirs */
	WSP_LINGER,    /* both done (or failed): write side shut, input discarded */
};

/* One upgraded (or upgrading) connection. Owner: its network actor. */
struct ws_link {
	struct net_conn *c;
	uint64_t id;                  /* ws_id_make(actor, slot, gen) */
	actor_addr_t handler;         /* who accepted it: gets the events */
	uint8_t phase;                /* enum ws_phase */
	uint8_t close_kind;           /* enum ws_close_kind, once known */
	bool close_queued;            /* our close frame is in the queue */
	bool close_rcvd;
	bool failed;                  /* fail: linger as soon as the close is out */
	bool paused;                  /* an event waits in the retry list */
	uint16_t close_code;          /* what the CLOSE event reports */
	struct ws_parser parser;
	/* Outbound frames, FIFO: a ring of blob references. */
	struct ws_blob **q;
	uint32_t q_head, q_len, q_cap;
	uint32_t head_off;            /* bytes of q[q_head] already written */
	uint64_t q_bytes;             /* unwritten bytes in the queue */
	struct ws_blob *q_inline[WS_QUEUE_INLINE];
	struct net_buf held;          /* input kept while events are delayed */
	uint64_t in_ns;               /* last input */
	uint64_t ping_ns;             /* last ping sent (0: none since input) */
	uint64_t close_at_ns;         /* close handshake deadline */
	uint64_t resume_ns;           /* paused: read again at */
	struct list members;          /* struct ws_member.in_link */
	char close_reason[WS_REASON_MAX + 1];
};

/* A network actor's WebSocket state (na->ws, made on first use). */
struct ws_net {
	struct ws_chan **buckets;
	uint32_t nbuckets;
	uint32_t nchans;
	actor_addr_t pubsub;          /* learnt from its PUSH_MSG_SUBs */
};

/* ---- hooks (net_actor.c, net_io.c, http_conn.c) ---- */

/* net_message: a push message for this actor. Consumes `m`. */
void ws_net_message(struct net_actor *na, struct msg *m);
/* net_message: a handler accepted an upgrade (the 101 in `r`, which
 * goes on to the connection as usual). `c` is its open connection, or
 * NULL if it closed: the handler then hears 1006 at once. */
void ws_net_response(struct net_actor *na, struct net_conn *c, const struct net_req *r);
/* http_conn_output: append the 101 answer in `hm`. 0 or -ENOMEM. */
int ws_upgrade_response(struct net_buf *out, const struct http_msg *hm,
			const struct http_date *date);
/* The 101 left (in c->out or on the wire): the connection speaks
 * WebSocket from now on. -1 if it was closed. */
int ws_conn_begin(struct net_conn *c, uint64_t now);
/* Whether ws_conn.c owns the socket of `c` (upgraded). */
static inline bool ws_conn_owns(const struct net_conn *c)
{
	return c->ws != NULL && c->ws->phase != WSP_PENDING;
}
/* End-of-iteration write, socket events, timer. */
void ws_conn_flush(struct net_conn *c, uint64_t now);
void ws_conn_io(struct net_conn *c, int revents, uint64_t now);
void ws_conn_timer(struct net_conn *c, uint64_t now);
/* Drain: close 1001 "going away". */
void ws_conn_drain(struct net_conn *c);
/* net_conn_close: leave channels, tell the handler, free. */
void ws_conn_dispose(struct net_conn *c);
/* net_stop: free the channel table. */
void ws_net_free(struct net_actor *na);
/* net_add_pools: the WebSocket metrics collector (ws_stats.c). */
int ws_stats_register(struct net_shared *sh);

/* ---- ws_conn.c, for ws_chan.c ---- */

/* Queue one reference of `b` (taken by the callee, also when dropped by
 * the slow-consumer policy). */
void ws_link_queue(struct ws_link *l, struct ws_blob *b);

/* ---- ws_chan.c ---- */

struct ws_net *ws_net_get(struct net_actor *na);
/* PUSH_MSG_SUB: `l` may be NULL (the connection is gone): the pubsub
 * actor still hears that the subscription went nowhere. */
void ws_chan_join(struct net_actor *na, struct ws_link *l, const char *name, size_t len);
void ws_chan_leave(struct net_actor *na, struct ws_link *l, const char *name, size_t len);
void ws_chan_leave_all(struct net_actor *na, struct ws_link *l);
/* PUSH_MSG_FANOUT: queue `b` (one reference, taken) on every member. */
void ws_chan_fanout(struct net_actor *na, const char *name, size_t len, struct ws_blob *b);

#endif
