/*
 * net.h - the network actors: accept connections and speak HTTP/1.1.
 *
 * DESIGN
 * N network actors (config: actors.net), each with its own SO_REUSEPORT
 * listening socket per configured address, non-blocking on its own ev_loop.
 * They parse requests (http-parser), hand each one to a handler actor as an
 * http_msg (net/http_msg.h) and write the replies back in request order.
 * They never run application code and never block.
 *
 * The same code serves other listener pools (net_add_listener_pool): the
 * admin endpoint is one, with its own addresses and connection budget, and
 * answers its requests on its own thread through a local dispatch function.
 *
 * Thread: net_add_pools runs on the controlling thread before
 * actor_system_start(); everything else inside runs on the network actors.
 */
#ifndef ACTORD_NET_H
#define ACTORD_NET_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "actors/actor.h"
#include "http_msg.h"
#include "config/config.h"

/* The network actors (pool "net", actors.net). */
extern const struct actor_kind net_kind;

/* Graceful drain (server/signals.h): send each network actor a bare
 * struct msg of this type. It closes its listeners and idle connections,
 * answers what is in flight (the last answer on each connection says
 * "Connection: close"), drops partial requests, and frees the message with
 * msg_free() once its last connection has closed (or when it stops). */
#define NET_MSG_DRAIN 0x4e450001u

/* The same, gently (a binary upgrade hands the listeners to the new
 * process): connections keep being read, the answer to the last request
 * received closes, and an idle connection gets a moment to send one more
 * (http_conn_drain_gently), so no client meets a close it did not read
 * about. Freed like NET_MSG_DRAIN. */
#define NET_MSG_HANDOVER 0x4e450002u

/* Which requests a route reads the body of piece by piece (routes
 * registered with ROUTE_STREAM_BODY: handler_add_pool fills this from the
 * route table it builds at start). `streams` runs on network actor
 * threads: `ctx` must be immutable and outlive the system. */
struct net_body_routes {
	bool (*streams)(const void *ctx, unsigned method, const char *path, size_t path_len);
	const void *ctx;
};

/* Add the "net" pool; requests go to the actors of kind `handlers`
 * (handler/handler.h's handler_kind), found at start. `conn_cap`: at most
 * this many connections at once whatever http.max_connections says (what
 * the process's file descriptors allow; server/fdlimit.h), 0 for none.
 * `bodies`: the routes that read streamed bodies (copied; NULL: only the
 * reverse proxy's prefixes stream request bodies). `cfg` must outlive the
 * system. Returns 0 or -errno with a reason. */
int net_add_pools(struct actor_system *sys, const struct ad_config *cfg,
		  const struct actor_kind *handlers, uint32_t conn_cap,
		  const struct net_body_routes *bodies, char *err, size_t errlen);

/* A request that a listener pool answers on its own thread (the admin
 * endpoint) instead of sending it to a handler actor. Either fill the
 * response fields of `hm` (status, content_type, resp_*; resp_buf is freed
 * with the envelope) and return 0: it is sent in its turn. Or keep `hm` and
 * return 1: answer it later from the same thread by setting m.type to
 * HTTP_MSG_RESPONSE and calling actor_reply(&hm->m) (reply_to is set), or
 * free it with msg_free() in `local_stop`.
 * Thread: the pool's network actor. */
typedef int (*net_local_fn)(void *ctx, struct http_msg *hm);

/* A listener pool: the same connection code as "net" (http_conn, net_io)
 * with its own addresses, connection budget and, optionally, a local
 * dispatch function. Everything pointed to must outlive the system. */
struct net_pool_spec {
	const struct actor_kind *kind;     /* pool kind: actors are kind-N */
	unsigned count;
	unsigned max;                      /* resizable up to this; 0: fixed */
	uint32_t mailbox;                  /* power of two >= 4 */
	const struct config_addr *listen;  /* [nlisten] */
	unsigned nlisten;
	/* Bind without SO_REUSEPORT (a pool of one): no other socket, public
	 * listener or other process, can join the address, and binding
	 * where one listens fails. */
	bool exclusive;
	/* The pool's connection budget, read from the live config at each
	 * accept; NULL: http.max_connections. */
	uint32_t (*max_connections)(const struct ad_config *live);
	const char *max_connections_key;  /* named in log lines */
	uint32_t conn_cap;                 /* and never more than this; 0: no cap */
	/* At the limit, connections whose request has not arrived whole a
	 * second after it began (or after the accept) are closed too, not
	 * only idle keep-alive ones (net_reclaim.c): for a pool whose
	 * clients are tools that send a request at once (the admin
	 * endpoint), so stalled clients cannot hold every slot. */
	bool reclaim_unfinished;
	net_local_fn local;                /* NULL: send to `handlers` actors */
	const struct actor_kind *handlers; /* who answers requests without `local` */
	struct net_body_routes bodies;     /* streams NULL: none but the proxy's */
	void (*local_stop)(void *ctx);     /* on the actor thread at stop; may be NULL */
	void (*local_dispose)(void *ctx);  /* frees local_ctx when the system is
					    * destroyed; may be NULL */
	void *local_ctx;
};

/* Add a listener pool described by `spec` (net_add_pools is this with
 * net_kind, cfg->listen and the handler actors). Returns 0 or -errno
 * with a reason; on failure `local_ctx` stays with the caller. Thread: controlling, before actor_system_start(). */
int net_add_listener_pool(struct actor_system *sys, const struct ad_config *cfg,
			  const struct net_pool_spec *spec, char *err, size_t errlen);

/* Binary upgrade (server/upgrade.c): the environment variable that lists
 * the listening descriptors a new process inherits ("5,6,7"). */
#define NET_INHERIT_ENV "ACTORD_LISTEN_FDS"

/* Keep the listening sockets listed in `list` (NET_INHERIT_ENV's value)
 * for the listener pools to take (net_inherit.c). 0 or -errno with a
 * reason. Thread: controlling, before actor_system_start(). */
int net_inherit_load(const char *list, char *err, size_t errlen);
/* An inherited socket bound to `addr` not taken yet, now taken; -1 if
 * none. Thread: a listener pool's actor. */
int net_inherit_take(const struct config_addr *addr);
/* How many inherited sockets are bound to `addr`. Thread: any. */
unsigned net_inherit_count(const struct config_addr *addr);
/* Close the inherited sockets nobody took. Thread: controlling, after
 * actor_system_start(). */
void net_inherit_close_unused(void);

/* The listening descriptors the actors of listener pool `kind` hold now,
 * at most `max` of them, for a new process to inherit. Returns how many.
 * Thread: any. */
unsigned net_listen_fds(struct actor_system *sys, const struct actor_kind *kind, int *fds,
			unsigned max);

#endif
