/*
 * net_internal.h - what the network actor's files share: net_actor.c,
 * net_io.c, net_hold.c, net_stream.c, net_upload.c, and through
 * ws_internal.h the WebSocket files and http_conn.c. Not a public API.
 *
 * Owner: a `struct net_actor` and everything it points to belong to one
 * network actor thread, except `struct net_shared` (the pool's `user`),
 * which is immutable after net_add_pools apart from its `open` counter.
 */
#ifndef ACTORD_NET_INTERNAL_H
#define ACTORD_NET_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "actors/actor.h"
#include "base/list.h"
#include "config/config.h"
#include "net.h"
#include "http_conn.h"
#include "http_out.h"
#include "net_buf.h"
#include "net_req.h"
#include "net_stats.h"

#define NET_READ_BUF (64u * 1024u)     /* one recv(2) per readable event */
#define NET_ACCEPT_BATCH 64            /* accept(2) calls per listener wake-up */
#define NET_ACCEPT_RETRY_MS 50         /* re-check a paused accept this often */
#define NET_LIMIT_WARN_NS 1000000000ull/* "connection limit" log lines: 1/s */
#define NET_LINGER_MS 2000             /* read and discard after an error answer */
#define NET_LINGER_BYTES (1u << 20)
#define NET_SPARE_ENVELOPES 4096       /* per actor free list bound */
#define NET_SCRATCH_KEEP (256u * 1024u)/* larger scratch buffers are released */
#define NET_SENDFILE_MAX (1u << 20)    /* file bytes per connection per event */
#define NET_HOLD_RETRY_MS 1            /* held requests are offered again this often */

/* The pool's `user`: shared by every network actor. */
struct net_shared {
	const struct ad_config *cfg;       /* start-up config */
	struct net_pool_spec spec;         /* kind, addresses, budget, dispatch */
	unsigned count;                    /* slots: the pool's max */
	struct net_stats *stats;           /* [count], one per actor slot */
	/* Listening descriptors per actor slot ([count][lst_cap], -1: none),
	 * written by the actor, read by an upgrade (net_listen_fds). */
	_Atomic int *lfds;
	unsigned lst_cap;                  /* listeners one actor may hold */
	/* Connections open across all network actors. Not on the request
	 * path: touched once per accept and once per close. */
	_Atomic uint32_t open;
};

/* Owner: network actor thread. */
struct net_listener {
	int fd;
	ev_io io;
	struct net_actor *na;
};

enum net_conn_state { NC_OPEN, NC_LINGER };

struct ws_link;   /* ws_internal.h */
struct ws_net;

/* Owner: network actor thread. */
struct net_conn {
	struct http_conn hc;
	struct net_buf out;          /* bytes the socket did not take yet */
	ev_io io;
	ev_timer timer;
	struct net_actor *na;
	uint64_t write_ns;           /* last write progress while output waits */
	uint64_t timer_at_ns;        /* when the armed timer fires; 0: unarmed */
	uint64_t linger_until_ns;
	uint32_t slot;
	uint32_t gen;
	uint32_t lingered_bytes;
	uint8_t state;               /* enum net_conn_state */
	bool dirty;                  /* queued for the end-of-iteration flush */
	bool held;                   /* in na->held (net_hold.c) */
	struct list held_link;
	uint8_t peer_family;         /* AF_INET, AF_INET6 or 0 */
	uint16_t peer_port;          /* host order */
	uint8_t peer_addr[16];
	/* A file body being sent (sendfile) after `out` drained. */
	bool has_file;
	int file_fd;
	uint64_t file_off, file_left;
	struct ws_link *ws;          /* WebSocket (ws_conn.c): upgrading or upgraded */
	struct net_stream *stream;   /* a streamed body being relayed (net_stream.c) */
	struct net_upload *upload;   /* a request body being streamed (net_upload.c) */
};

/* Owner: network actor thread (actor_state). */
struct net_actor {
	struct actor *actor;
	struct actor_system *sys;
	struct ev_loop *loop;
	struct net_shared *sh;
	struct net_stats *stats;
	struct http_conn_env env;
	struct http_date date;
	struct net_req_pool *pool;
	actor_addr_t self;
	const struct actor_pool *handlers; /* live count read per request */
	unsigned rr;                 /* round-robin position among handlers */
	struct net_listener *lst;    /* [sh->lst_cap] */
	unsigned nlst;
	bool retiring;               /* left its pool: drains, then stops */
	bool accept_paused;
	uint64_t limit_warned_ns;    /* last "connection limit" log line */
	uint64_t reclaim_warned_ns;  /* last "closed idle connections" log line */
	struct msg *drain;           /* NET_MSG_DRAIN held until nconns == 0 */
	uint32_t nconns;             /* connections open on this actor */
	ev_timer accept_w;           /* re-checks a paused accept */
	ev_prepare flush_w;          /* end of iteration: write dirty connections */
	/* Connection table: conn_id = slot | (gen << 32). */
	struct net_conn **slots;
	uint32_t nslots;
	uint32_t slots_cap;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t next_gen;
	/* Connections with output to write at the end of this iteration. */
	uint64_t *dirty;
	uint32_t ndirty;
	uint32_t dirty_cap;
	bool dirty_lost;             /* a mark did not fit in `dirty`: scan every slot */
	struct net_buf scratch;      /* one batch of answers, before send(2) */
	char *rbuf;                  /* NET_READ_BUF */
	struct ws_net *ws;           /* WebSocket channels (ws_chan.c), on first use */
	/* Connections whose request waits for room in a handler mailbox,
	 * in arrival order (net_hold.c). */
	struct list held;
	ev_timer hold_w;             /* offers them again while any is held */
	bool hold_retrying;          /* inside net_hold_retry */
};

/* The limits in force: the live config snapshot, else the start-up one. */
const struct config_http *net_limits(const struct net_actor *na);
/* This pool's connection budget in force. */
uint32_t net_max_connections(const struct net_actor *na);

/* Point na->env at the live config (limits, access log on or off): once
 * per event callback, so a reload applies from the next event on. */
void net_env_refresh(struct net_actor *na);

/* The name other threads know a connection by: slot | (generation << 32). */
static inline uint64_t net_conn_id(const struct net_conn *c)
{
	return (uint64_t)c->slot | ((uint64_t)c->gen << 32);
}

/* net_io.c: connections. Thread: the network actor. */
int net_conn_open(struct net_actor *na, int fd, const struct sockaddr *sa);
struct net_conn *net_conn_find(struct net_actor *na, uint64_t conn_id);
void net_conn_mark_dirty(struct net_conn *c);
void net_conn_close(struct net_conn *c);
void net_conns_close_all(struct net_actor *na);
/* Drain every connection: at once (SIGTERM) or gently (http_conn.h). */
void net_conns_drain(struct net_actor *na, bool gently);
void net_describe_peer(void *ctx, const struct http_conn *hc, char *buf, size_t len);
void on_net_flush(struct ev_loop *loop, ev_prepare *w, int revents);

/* net_reclaim.c: at the connection limit, close the longest-idle
 * keep-alive connections of this actor (idle 1 s at least; an eighth,
 * 1 to 32 of them).
 * Returns how many closed. Thread: the network actor. */
unsigned net_conns_reclaim_idle(struct net_actor *na);

/* net_hold.c: requests held while every handler mailbox is full.
 * Thread: the network actor. */
void net_hold_init(struct net_actor *na);
void net_hold_stop(struct net_actor *na);
/* http_conn_env.parked: `hc` has a parked request; hold its connection. */
void net_hold_add(void *ctx, struct http_conn *hc);
/* A closing connection leaves the queue. */
void net_hold_forget(struct net_conn *c);
/* Offer the held requests to the handlers again, oldest first, until
 * every handler mailbox is full again. */
void net_hold_retry(struct net_actor *na);

/* net_stream.c: a streamed response body (stream_msg.h).
 * Thread: the network actor. */
struct net_stream;
struct stream_data;
/* Relay the body `ref` names on `c` (c->stream). 0 or -ENOMEM. */
int net_stream_begin(struct net_conn *c, const struct http_stream_ref *ref);
/* Grant the producer what the window allows now. 0, or -errno when the
 * producer cannot be reached (the caller closes the connection). */
int net_stream_pump(struct net_conn *c, uint64_t now);
/* When a refused grant is tried again, or a producer that owes bytes
 * has been silent too long (0: neither). */
uint64_t net_stream_deadline(const struct net_conn *c);
/* The stream's deadline came: -1 if the producer is given up (the
 * caller closes the connection), else 0. */
int net_stream_timer(struct net_conn *c, uint64_t now);
/* The connection closes first: tell the producer, forget the stream. */
void net_stream_cancel(struct net_conn *c);
/* A STREAM_MSG_DATA for one of this actor's connections; takes it. */
void net_stream_message(struct net_actor *na, struct stream_data *d);

/* net_upload.c: a streamed request body (stream_msg.h, "Uploads").
 * Thread: the network actor. */
struct net_upload;
struct stream_credit;
/* http_conn_env.upload: the body's pieces, end or abort (ctx unused). */
void net_upload_event(void *ctx, struct http_conn *hc, enum http_upload_event ev,
		      const char *data, size_t len, unsigned status);
/* The answer to request `seq` arrived: what is left of its streamed body
 * is dropped (the rest of it is discarded as it arrives). */
void net_upload_answered(struct net_conn *c, uint32_t seq);
/* Whether the connection may be read: less than a window of the body
 * waits for its consumer. */
bool net_upload_room(const struct net_conn *c);
/* When a refused send is tried again (0: none); net_upload_timer then. */
uint64_t net_upload_deadline(const struct net_conn *c);
void net_upload_timer(struct net_conn *c, uint64_t now);
/* The connection closes: abort the upload at its consumer, forget it. */
void net_upload_close(struct net_conn *c);
/* A STREAM_MSG_UPLOAD_CREDIT for this actor; takes it. */
void net_upload_credit(struct net_actor *na, struct stream_credit *k);

/* net_actor.c: called by net_io.c when a connection closed. */
void net_accept_maybe_resume(struct net_actor *na);

#endif
