/*
 * rconn.h - one Redis connection driven by an actor's own libev loop: the
 * reusable client under the cache actors (and any other actor that speaks
 * to Redis with its own connection, e.g. the job queue's).
 *
 * DESIGN
 * hiredis 0.14's async context attached to the owner's loop
 * (adapters/libev.h). Commands are pipelined: hiredis appends each command
 * to its output buffer and writes the whole buffer when the loop next polls
 * the socket, so everything submitted during one loop iteration leaves in
 * one write. hiredis 0.14 has neither reconnection nor timeouts; this module
 * adds them:
 *  - Connecting: a fresh context per attempt, bounded by connect_timeout_ms,
 *    AUTH and SELECT (or else PING) sent first: the connection is up only
 *    once Redis has answered them, so a server that accepts TCP but does
 *    not answer is a failed attempt; exponential backoff between attempts
 *    (25 ms doubling up to reconnect_max_ms). While no connection is up or
 *    being attempted, commands are refused at once with -ENOTCONN, so a
 *    caller answers 503 instead of waiting.
 *  - Deadlines: every command has one (the caller's, or now +
 *    command_timeout_ms). A command not answered by then gets -ETIMEDOUT at
 *    once and its late reply is dropped. Redis answers in order, so when
 *    the OLDEST command has missed its deadline and waited longer than
 *    command_timeout_ms the connection is stuck: it is dropped and remade.
 *  - Losing the connection answers every command in flight with -ENOTCONN
 *    (hiredis hands them a NULL reply): no callback is ever lost.
 *  - Settings are read for every attempt (the "redis" section of
 *    config_current(), or the owner's function). When a reload names
 *    another server (host, port, password or database), a new connection
 *    is made for new commands and the old one is closed gracefully once its
 *    replies have arrived (redisAsyncDisconnect): nothing in flight fails.
 * Counters go to a struct backend_stats the owner provides, and the reason
 * of the last failure to an atomic int it may provide: both outlive the
 * rconn, so a readiness check reads them from any thread.
 *
 * Redis Sentinel: with redis.sentinels set, an rconn with the default
 * settings connects to the primary Sentinel names, checks it with ROLE,
 * and follows every failover (see rconn.c and sentinel.h); the owner sees
 * the connection go down and come up on the new primary.
 *
 * Pub/sub, two ways; after either, the connection carries nothing else
 * (Redis accepts only pub/sub commands on it, RESP2):
 *  - rconn_subscribe: one channel, its own callback for the confirmation
 *    and every message, ended by the connection's loss (the near cache's
 *    invalidation connection, near_actor.c);
 *  - rconn_pubsub: SUBSCRIBE or UNSUBSCRIBE many channels; what the server
 *    pushes goes to opts.on_push (the WebSocket pub/sub actor,
 *    pubsub_actor.c). A lost connection loses its subscriptions; the owner
 *    subscribes again from its on_state(up) callback.
 *
 * Host names never block the owner's thread: each connection attempt
 * resolves the name with c-ares on the owner's loop (dns/dns.h) before
 * hiredis sees a numeric address. What it does not do: retry commands
 * (the caller decides).
 *
 * Thread: every function runs on the owner actor's thread.
 */
#ifndef ACTORD_RCONN_H
#define ACTORD_RCONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "actors/backend_stats.h"
#include "base/clock.h"
#include "config/config.h"

struct rconn;

/* Where and how to connect; read before every connection attempt. */
struct rconn_settings {
	char host[CONFIG_HOST_MAX];
	uint16_t port;
	char password[CONFIG_SECRET_MAX]; /* "": no AUTH */
	uint32_t database;                /* 0: no SELECT */
	uint32_t connect_timeout_ms;
	uint32_t command_timeout_ms;
	uint32_t reconnect_max_ms;
};

/* A command finished: status 0 and `reply` (valid only during the call;
 * it may be an error reply, see rconn_reply_status), or status < 0 and
 * reply NULL: -ENOTCONN connection lost, -ETIMEDOUT deadline passed,
 * -ESHUTDOWN rconn_destroy. */
typedef void (*rconn_reply_fn)(void *arg, int status, const redisReply *reply);
/* Fill `out` for the next connection attempt. */
typedef void (*rconn_settings_fn)(void *ctx, struct rconn_settings *out);
/* The connection came up (true) or went down (false). */
typedef void (*rconn_state_fn)(void *ctx, bool up);
/* Pub/sub: a reply the server pushed on a subscribed connection
 * (subscribe / unsubscribe confirmations, "message" arrays), or NULL when
 * the connection is lost (its subscriptions with it). */
typedef void (*rconn_push_fn)(void *ctx, const redisReply *reply);

struct rconn_opts {
	struct backend_stats *stats;  /* may be NULL; must outlive the rconn */
	rconn_settings_fn settings;   /* NULL: the "redis" section of config_current() */
	rconn_state_fn on_state;      /* may be NULL */
	rconn_push_fn on_push;        /* pub/sub only; may be NULL */
	void *ctx;                    /* for settings and on_state */
	/* May be NULL: set to 0 when a connection comes up, to -errno when an
	 * attempt or the connection fails (written with relaxed stores by
	 * the owner; must outlive the rconn). */
	_Atomic int *last_error;
	/* "connected" and "connection lost" at debug level (failed attempts
	 * are still warnings): for a helper connection whose owner reports
	 * what matters (sentinel.c). */
	bool quiet;
};

/* Create and start connecting on `loop`. NULL on ENOMEM.
 * Thread: owner (the loop's thread). */
struct rconn *rconn_create(struct ev_loop *loop, const struct rconn_opts *opts);

/* Close the connection(s); every command in flight gets -ESHUTDOWN before
 * this returns. Never from inside an rconn callback. Thread: owner. */
void rconn_destroy(struct rconn *c);

/* Send one command already encoded in RESP (`resp`, `len`: copied).
 * `deadline_ns`: monotonic (mbox_now_ns); 0: now + command_timeout_ms.
 * 0: `fn(arg, ...)` runs exactly once, later, on this thread. Otherwise the
 * callback never runs: -ENOTCONN no connection (or the last attempt's
 * error, e.g. -ECONNREFUSED), -ETIMEDOUT the deadline already passed,
 * -ENOMEM. Thread: owner. */
int rconn_send(struct rconn *c, const char *resp, size_t len, uint64_t deadline_ns,
	       rconn_reply_fn fn, void *arg);

/* The same with arguments (encoded here). Thread: owner. */
int rconn_command(struct rconn *c, uint64_t deadline_ns, rconn_reply_fn fn, void *arg,
		  int argc, const char **argv, const size_t *argvlen);

/* Subscribe the connection that is up to `channel`: `fn(arg, 0, reply)`
 * runs for the confirmation and for every message (reply valid during the
 * call), then once `fn(arg, -ENOTCONN / -ESHUTDOWN, NULL)` when the
 * connection goes (the subscription ends with it: subscribe again once it
 * is back, see rconn_opts.on_state). -ENOTCONN (no connection up) or
 * -ENOMEM: `fn` never runs. Send no other command on this rconn after it.
 * Thread: owner (also inside a reply callback). */
int rconn_subscribe(struct rconn *c, const char *channel, rconn_reply_fn fn, void *arg);

/* Drop the current connection (its commands get -ENOTCONN, on_state says
 * down if it was up) and reconnect on the usual backoff: for a connection
 * its owner found broken by other means. Thread: owner, not from inside
 * an rconn callback. */
void rconn_reset(struct rconn *c, const char *why);
/* Send SUBSCRIBE or UNSUBSCRIBE (`verb`) for `n` channels (binary safe).
 * 0, or -ENOTCONN while the connection is not up, -ENOMEM.
 * Thread: owner. */
int rconn_pubsub(struct rconn *c, const char *verb, int n, const char *const *channels,
		 const size_t *lens);

/* Map a reply to a call status: 0 for anything but an error reply;
 * -EAGAIN for the errors a retry cures (LOADING, BUSY, TRYAGAIN,
 * MASTERDOWN, READONLY: a failover under way; OOM, NOREPLICAS, MISCONF:
 * writes refused for now); -EBADMSG for any other error reply (BUSYKEY
 * and BUSYGROUP included). Thread: any. */
int rconn_reply_status(const redisReply *reply);

/* Whether a connection is up. Thread: owner. */
bool rconn_connected(const struct rconn *c);

/* Whether a command still waits for its reply (an actor leaving its pool
 * waits for that). Thread: owner. */
bool rconn_busy(const struct rconn *c);

#endif
