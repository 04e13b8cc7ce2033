/*
 * net.h - the network actors: accept connections and speak HTTP/1.1.
 *
 * DESIGN
 * N network actors (config: actors.net), each with its own SO_REUSEPORT
 * listening socket per configured address, non-blocking on its own ev_loop.
 * They parse requests (http-parser), hand each one to a handler actor as an
 * http_msg (actors/http_msg.h) and write the replies back in request order.
 * They never run application code and never block.
 *
 * Thread: net_add_pools runs on the controlling thread before
 * actor_system_start(); everything else inside runs on the network actors.
 */
#ifndef ACTORD_NET_H
#define ACTORD_NET_H

#include <stddef.h>

#include "../actors/actor.h"
#include "../config/config.h"

/* Graceful drain (actors/signals.h): send each network actor a bare
 * struct msg of this type. It closes its listeners and idle connections,
 * answers what is in flight (the last answer on each connection says
 * "Connection: close"), drops partial requests, and frees the message with
 * msg_free() once its last connection has closed (or when it stops). */
#define NET_MSG_DRAIN 0x4e450001u

/* Add the "net" pool. Handlers are found by kind ("handler") at start.
 * `cfg` must outlive the system. Returns 0 or -errno with a reason. */
int net_add_pools(struct actor_system *sys, const struct ad_config *cfg,
		  char *err, size_t errlen);

#endif
