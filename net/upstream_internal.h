/*
 * upstream_internal.h - what the upstream module's files share: the call
 * message's layout (upstream_call.c builds it, the actor reads it), the
 * actor, its pools and connections, and the per-upstream counters. Not a
 * public header: handlers use upstream.h.
 *
 * Owner: a `struct upstream_call` crosses mailboxes (upstream.h); a
 * `struct up_actor` and every pool and connection it holds belong to one
 * upstream actor thread; `struct up_slot` counters have that thread as
 * their single writer and are read by the metrics collector.
 */
#ifndef ACTORD_UPSTREAM_INTERNAL_H
#define ACTORD_UPSTREAM_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "upstream.h"
#include "upstream_addrs.h"
#include "upstream_parse.h"
#include "stream_msg.h"
#include "actors/backend_stats.h"
#include "base/list.h"
#include "base/log_budget.h"
#include "dns/dns.h"

#define UPSTREAM_HEAD_INLINE 384       /* request line + headers before malloc */
#define UPSTREAM_RESP_INLINE 1024      /* response before malloc */
#define UPSTREAM_READ_BUF (64u * 1024u)
#define UPSTREAM_POOL_BUCKETS 256      /* pool hash table, per actor */
#define UPSTREAM_MAX_POOLS 1024        /* upstreams an actor knows at once */
#define UPSTREAM_SLOTS 64              /* upstreams with their own metrics */
#define UPSTREAM_NAME_MAX 64           /* "address:port" */
#define UPSTREAM_LOG_PER_S 5           /* warnings per actor and second */
#define UPSTREAM_TLS_CTXS 8            /* distinct TLS settings per actor */

/* Crosses mailboxes: caller -> upstream actor -> caller. Request fields
 * are written by the caller before the send and read-only afterwards;
 * response and bookkeeping fields belong to the upstream actor until it
 * replies. msg_free (upstream_call.c) frees everything. */
struct upstream_call {
	struct call_msg c;             /* MUST be first */
	/* Request. */
	uint8_t method;                /* enum http_method */
	uint8_t family;                /* AF_INET / AF_INET6 for a literal; 0: a name */
	uint16_t port;                 /* host order */
	uint8_t addr[16];
	bool tls;                      /* https */
	bool gzip;                     /* decode a gzip response body */
	uint8_t profile;               /* TLS files: 0 upstream.*, i+1 proxy[i] */
	uint8_t redirects_left;        /* 3xx responses still followed */
	bool redirect_downgrade;       /* may follow https -> http */
	uint32_t connect_ms, first_byte_ms; /* 0: upstream.*_timeout_ms */
	uint64_t stream_over;          /* stream a body over this; 0: never */
	char host[CONFIG_HOST_MAX];    /* name or address literal, no [] */
	char *head;                    /* request line + header lines, no final CRLF */
	size_t head_len, head_cap;
	size_t fields_off;             /* where the caller's header lines start */
	char *body;                    /* malloc'd copy, or NULL */
	size_t body_len;
	bool has_body;                 /* send Content-Length even if 0 */
	bool upload;                   /* the body streams from upload_ref */
	struct upload_ref upload_ref;
	/* Response. */
	struct upstream_resp resp;
	bool streamed;                 /* the body follows as a stream: */
	uint32_t stream_from;          /*   the upstream actor sending it */
	uint64_t stream_id;
	int64_t stream_len;            /*   -1: unknown */
	/* Upstream actor bookkeeping. */
	struct upstream_call *next;    /* pool queue */
	uint64_t started_ns;           /* when the actor took it */
	uint8_t retries_left;
	_Alignas(16) char head_inl[UPSTREAM_HEAD_INLINE];
	_Alignas(16) char resp_inl[UPSTREAM_RESP_INLINE];
};
_Static_assert(offsetof(struct upstream_call, c) == 0,
	       "struct upstream_call is used through a pointer to its c");

/* upstream_call.c, shared with the redirects: the request's origin, its
 * head, the end of the request line. */
void up_call_set_origin(struct upstream_call *u, const struct config_url *url);
int up_call_head_append(struct upstream_call *u, const char *s, size_t n);
int up_call_finish_request_line(struct upstream_call *u, const struct config_url *url);

/* Whether a method may be sent twice (RFC 9110 9.2.2). */
bool upstream_method_idempotent(unsigned method);

/* Counters of one upstream as seen by one actor. Owner: that upstream
 * actor writes (backend_stats_add: relaxed load + store, single writer),
 * the collector reads (relaxed). */
struct up_slot {
	struct backend_stats bs;       /* requests, errors, timeouts, retries
					* (reconnects), inflight, open
					* connections (connected), latency */
	_Alignas(64)
	_Atomic uint64_t idle;         /* gauge: idle keep-alive connections */
	_Atomic uint64_t queued;       /* gauge: waiting for a connection */
	_Atomic uint64_t opened_total; /* connections opened */
	_Atomic uint64_t reused_total; /* requests sent on a kept-alive connection */
	_Atomic uint64_t addrs_down_total; /* addresses taken out of the rotation */
	_Atomic uint64_t dns_stale_total;  /* failed lookups answered by the last
					    * good addresses */
	_Atomic uint64_t errors[UPSTREAM_ERROR_KINDS]; /* failed calls by kind */
	char name[UPSTREAM_NAME_MAX];  /* written once, before publication */
};

/* Owner: one upstream actor writes; the collector reads slots [0, nslots). */
struct up_stats {
	/* Release on publication, acquire in the collector: a slot's name is
	 * complete before anyone can see the slot. */
	_Atomic uint32_t nslots;
	struct up_slot slots[UPSTREAM_SLOTS];
};

/* The pool's `user`: immutable after upstream_add_pool. */
struct up_shared {
	const struct ad_config *cfg;   /* start-up config (live: config_current) */
	unsigned count;
	struct up_stats *stats;        /* [count], one per actor */
};

enum up_conn_state { UC_RESOLVING, UC_CONNECTING, UC_HANDSHAKE, UC_BUSY, UC_IDLE,
		     UC_STREAM };    /* the head answered, the body streamed */

struct up_stream;   /* upstream_stream.c */
struct up_upload;   /* upstream_upload.c */

struct up_pool;

/* Owner: the upstream actor thread. */
struct up_conn {
	struct up_pool *pool;
	struct list idle_link;         /* in the pool's idle list (when idle) */
	struct list all_link;          /* in the pool's list of connections */
	ev_io io;
	ev_timer timer;
	uint64_t timer_at_ns;          /* when the armed timer fires; 0: unarmed */
	uint64_t deadline_ns;          /* connect, response or idle deadline */
	uint64_t resp_deadline_ns;     /* the whole response's (busy) */
	struct upstream_call *call;    /* in flight (RESOLVING .. BUSY) */
	struct ssl_st *ssl;            /* https: the TLS session, else NULL */
	struct dns_addr peer;          /* the address connected to */
	uint8_t addrs_tried;           /* addresses whose connect failed (this call) */
	uint64_t connect_deadline_ns;  /* the connect timeout's, over every address */
	struct upstream_parser parser;
	size_t sent;                   /* request bytes written */
	size_t req_total;              /* request bytes to write */
	uint32_t requests;             /* requests this connection carried */
	uint8_t state;                 /* enum up_conn_state */
	uint8_t tail_len;
	char tail[40];                 /* "Content-Length: n\r\n\r\n" */
	struct up_stream *stream;      /* UC_STREAM (and just before): the body */
	struct up_upload *upload;      /* a request body streaming out (BUSY) */
	bool uploading;                /* its call streams a body not all out yet */
	bool unfinished;               /* part of a request went out: not reusable */
};

/* Owner: the upstream actor thread. One per origin: scheme, host, port
 * and TLS profile (upstream.* or proxy[i]: whose TLS files apply), so
 * connections of one pool are interchangeable. */
struct up_pool {
	struct up_pool *hnext;         /* hash chain */
	struct up_actor *ua;
	struct up_slot *st;
	char host[CONFIG_HOST_MAX];
	uint16_t port;
	bool tls;
	uint8_t profile;
	/* Addresses: a literal's one, or what DNS answered (up_pool_addr),
	 * with their down marks (upstream_addrs.h). */
	struct up_addrs addrs;
	uint64_t addrs_until_ns;       /* expiry (TTL); 0: a literal, never */
	bool literal;
	bool resolving;                /* a lookup is under way */
	bool lookup_starting;          /* inside dns_resolve: an answer at once
					* is not handed out by on_resolved */
	bool refetch;                  /* every address failed: wait for a new
					* answer rather than use this one */
	bool answer_fresh;             /* up_conn_resolved hands out this answer */
	int dns_err;                   /* the last lookup's failure, until it expires */
	char dns_why[96];
	struct list dns_wait;          /* connections waiting for the lookup */
	struct ssl_ctx_st *tls_ctx;    /* https: the context for `profile` (a reference) */
	uint64_t tls_gen;              /* config_generation() tls_ctx was made for */
	struct ssl_session_st *session; /* https: resumed by new connections */
	struct list conns;             /* every connection, any state */
	struct list idle;              /* most recently used first */
	unsigned nopen;                /* connections, any state */
	unsigned nidle;
	struct upstream_call *qhead, *qtail;   /* waiting for a connection */
	unsigned nqueued;
	ev_timer qtimer;               /* the earliest queued deadline */
	uint64_t qtimer_at_ns;
};

/* Owner: the upstream actor thread (actor_state). */
struct up_actor {
	struct actor *actor;
	struct ev_loop *loop;
	struct up_shared *sh;
	struct up_stats *stats;
	struct up_pool *buckets[UPSTREAM_POOL_BUCKETS];
	unsigned npools;
	char *rbuf;                    /* UPSTREAM_READ_BUF */
	struct log_budget log_budget;  /* up_warn's */
	struct dns_resolver *dns;
	struct up_pool *current;       /* whose connection event runs: kept */
	struct up_tls_ctx {            /* TLS contexts by their files */
		char key[3 * CONFIG_PATH_MAX + 3];
		struct ssl_ctx_st *ctx;
	} tls[UPSTREAM_TLS_CTXS];
	unsigned ntls;
	uint64_t tls_gen;              /* config_generation() tls[] was read for */
	struct list streams;           /* connections streaming a body */
	uint64_t next_stream_id;
	struct list uploads;           /* connections streaming a request body */
};

/* The upstream settings in force: the live snapshot, else the start-up one. */
const struct config_upstream *up_limits(const struct up_actor *ua);

/* Warn about pool `pl` (at most UPSTREAM_LOG_PER_S a second per actor):
 * "upstream-K: upstream NAME: what (reason)". */
void up_warn(struct up_pool *pl, const char *what, const char *reason);

/* upstream_pool.c: pools, queueing and the end of every call. */
struct up_pool *up_pool_get(struct up_actor *ua, const struct upstream_call *u);
void up_pool_dispatch(struct up_pool *pl, struct upstream_call *u);
void up_pool_kick(struct up_pool *pl);
void up_pool_idle_add(struct up_pool *pl, struct up_conn *c);
void up_pool_idle_remove(struct up_pool *pl, struct up_conn *c);
void up_pools_destroy(struct up_actor *ua);
/* Answer `u` with `status` (0 or -errno) and count it. */
void up_call_done(struct up_pool *pl, struct upstream_call *u, int status);
/* A connection failed with `u` in flight (`status`): resend it if it may
 * be (retryable and retries left), else answer it. */
void up_call_failed(struct up_pool *pl, struct upstream_call *u, int status,
		    bool retryable);

/* upstream_io.c: a connection's watchers (set up once, by
 * up_conn_open), what they wait for and when they fire (lazily re-armed:
 * net_timer.h), sending c->call's request once connected, failing with
 * the reason of an errno. */
void up_conn_watch_init(struct up_conn *c);
void up_conn_events(struct up_conn *c, int want);
void up_conn_arm(struct up_conn *c, uint64_t now);
void up_conn_send(struct up_conn *c, uint64_t now);
void up_conn_fail_errno(struct up_conn *c, int status, bool retryable, const char *what,
			int cause);

/* upstream_connect.c: the socket is writable while connecting (its
 * SO_ERROR decides), and a TCP connection is up (TLS handshake, then the
 * request). `c` may be freed when they return. */
void up_conn_connected(struct up_conn *c, uint64_t now);
void up_conn_established(struct up_conn *c, uint64_t now);
/* The connect to c's address failed with `err` (-errno; -ETIMEDOUT: its
 * share of the connect timeout passed): the answer's next address, or the
 * call fails. `c` may be freed when it returns. */
void up_conn_connect_failed(struct up_conn *c, int err);

/* upstream_io.c: connections. up_conn_open opens a connection for `u`
 * (answering `u` itself if that fails at once); up_conn_start sends `u`
 * on an idle connection; up_conn_close closes and frees a connection
 * that carries no call. */
void up_conn_open(struct up_pool *pl, struct upstream_call *u);
void up_conn_start(struct up_conn *c, struct upstream_call *u);
void up_conn_close(struct up_conn *c);
/* (up_conn_open and up_conn_resolved: upstream_connect.c.)
 * The pool's lookup ended: connect the waiting connections, or fail them
 * (-EHOSTUNREACH). */
void up_conn_resolved(struct up_pool *pl);
/* Fail connection `c` (its call resent or answered, see up_call_failed). */
void up_conn_fail(struct up_conn *c, int status, bool retryable, const char *what,
		  const char *reason);

/* upstream_dns.c: the pool's addresses. 0 with `*out` (round-robin over
 * the answer, skipping addresses marked down), -EAGAIN while a lookup
 * runs and no answer may be used meanwhile (the caller puts its
 * connection on pl->dns_wait; up_conn_resolved follows: never before this
 * returns), or the lookup's failure (-EHOSTUNREACH, reason in
 * pl->dns_why). */
int up_pool_addr(struct up_pool *pl, struct dns_addr *out);
/* Connecting to the pool's addresses failed: look the name up again. */
void up_pool_addr_failed(struct up_pool *pl);
/* The address after `failed` in the pool's answer, for a connection whose
 * connect to `tried` of them failed: 0, or -ENOENT when none is left. */
int up_pool_addr_next(struct up_pool *pl, const struct dns_addr *failed, unsigned tried,
		      struct dns_addr *out);
/* The connect to `a` failed (marked down, counted) or succeeded (up). */
void up_pool_addr_down(struct up_pool *pl, const struct dns_addr *a);
void up_pool_addr_up(struct up_pool *pl, const struct dns_addr *a);

/* upstream_tls.c: TLS on a connection (OpenSSL, non-blocking). */
/* Make the pool's TLS context the one for the settings in force (read
 * again after a reload: a rotated file is picked up); a new context drops
 * the pool's session. 0, or -1 with the reason (the pool then has none). */
int up_pool_tls_current(struct up_pool *pl, char *why, size_t whylen);
/* Whether c's TLS context is no longer its pool's (a reload came since it
 * connected): it finishes its call, then closes rather than going idle. */
bool up_tls_stale(const struct up_conn *c);
/* Start the client side on c's socket: SNI, host verification, the pool's
 * session. 0 or -ENOMEM. */
int up_tls_start(struct up_conn *c);
/* Drive the handshake: 1 done, 0 waiting (`*want` EV_READ/EV_WRITE),
 * -ECONNABORTED failed (the reason in `why`). */
int up_tls_handshake(struct up_conn *c, int *want, char *why, size_t whylen);
/* Read / write like recv / send: bytes, 0 at the end, -EAGAIN (would
 * block), or -errno. */
ssize_t up_tls_read(struct up_conn *c, char *buf, size_t len);
ssize_t up_tls_write(struct up_conn *c, const char *buf, size_t len);
/* Decrypted bytes OpenSSL holds that were not read yet. */
int up_tls_pending(const struct up_conn *c);
void up_tls_free(struct up_conn *c);
void up_tls_actor_free(struct up_actor *ua);

/* upstream_io.c, for the streams: read what the stream has room for
 * (TLS may hold bytes the socket no longer signals); make an idle
 * connection of one whose response is complete, or close it. */
void up_conn_stream_read(struct up_conn *c);
void up_conn_done(struct up_conn *c, bool reusable);

/* upstream_stream.c: a body streamed to a network actor (stream_msg.h).
 * The parser's sink (ctx: the connection). */
int up_stream_sink(void *ctx, const char *data, size_t len);
/* The parser switched to streaming: answer the call with the head, the
 * connection becomes UC_STREAM. 0, or -ENOMEM (the caller fails it). */
int up_stream_start(struct up_conn *c);
/* The parser saw the whole body: whether the connection may be kept. */
void up_stream_set_reusable(struct up_conn *c, bool reusable);
/* Bytes of the body the connection may read now (0: wait for credit). */
size_t up_stream_room(const struct up_conn *c);
/* Send what the credit allows, then END once the parser is done and
 * everything left. Returns -1 if the connection was closed. */
int up_stream_flush(struct up_conn *c);
/* The stream's next deadline from `now` (UC_STREAM). */
uint64_t up_stream_deadline(const struct up_conn *c, uint64_t now);
/* The deadline passed: retry a refused send, or fail the stream. */
void up_stream_timer(struct up_conn *c, uint64_t now);
/* The connection closes: tell the network actor (ABORT) unless the
 * stream ended or was cancelled; forget it. */
void up_stream_close(struct up_conn *c);
/* A STREAM_MSG_CREDIT for this actor; takes it. */
void up_stream_credit(struct up_actor *ua, struct stream_credit *k);

/* upstream_upload.c: a request body streamed from a network actor
 * (stream_msg.h, "Uploads"). Thread: the upstream actor. */
/* The head of an upload call is going out on `c`: ask for the body. 0
 * or -ENOMEM (the caller fails the call). */
int up_upload_begin(struct up_conn *c, uint64_t now);
/* Whether the whole body is out (true when the call has none to stream). */
bool up_upload_sent(const struct up_conn *c);
/* Framed body bytes waiting for the socket. */
size_t up_upload_pending(const struct up_conn *c);
/* Write what waits (after the head). 0, -ESRCH (the network actor is
 * gone), or -errno (the connection broke). */
int up_upload_write(struct up_conn *c, uint64_t now);
/* While the body goes out: its deadline (a silent client, a refused
 * grant, an upstream that does not read), 0 once it is out. */
uint64_t up_upload_deadline(const struct up_conn *c);
/* That deadline came: retry a refused grant (0), or fail the call (-1:
 * `c` is freed). */
int up_upload_timer(struct up_conn *c, uint64_t now);
/* The connection closes or its call ends: cancel the body at the
 * network actor unless it all arrived, forget it. */
void up_upload_close(struct up_conn *c);
/* A STREAM_MSG_UPLOAD_DATA for this actor; takes it. */
void up_upload_data(struct up_actor *ua, struct stream_data *d);
/* upstream_io.c: more of the body waits: write it, watch and time the
 * connection. `c` may be freed (a failed write fails its call). */
void up_conn_body_ready(struct up_conn *c);

/* upstream_redirect.c: what a complete response may still need. */
/* 1 when `u` was turned into the request a redirect asks for (send it
 * again, to the pool for its new origin), else 0. */
int up_redirect(struct up_pool *pl, struct upstream_call *u);
/* Decode a gzip body in place of the raw one when asked. 0, -EPROTO
 * (corrupt) or -EFBIG (larger than `max`). */
int up_decode_body(struct upstream_call *u, uint64_t max);

#endif
