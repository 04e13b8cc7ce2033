/*
 * admin.h - the admin endpoint: metrics, health, configuration, reload and
 * the live dashboard, on a listener of its own.
 *
 * DESIGN
 * One actor of kind "admin" serves a separate listener (admin_listen,
 * default 127.0.0.1:9901) with the same HTTP/1.1 connection code as the
 * public side (net/net.h, net_add_listener_pool) and its own small
 * connection budget (admin.max_connections), so it answers while the public
 * side is overloaded. It answers every request on its own thread (a local
 * dispatch function): it never sends a message to the actors it inspects;
 * it reads their counters with relaxed loads (base/counter.h), so it still
 * answers while an actor is stuck.
 *
 * Access: off loopback, config validation demands admin_token; with a
 * token, every request must carry "Authorization: Bearer <token>" (401
 * otherwise). Reads are GET (and HEAD); what changes state is POST (405 the
 * other way round). No CORS headers: browsers on other origins cannot read
 * the answers.
 *
 * Endpoints and every metric: docs/ADMIN.md.
 *
 * Thread: admin_add_pool on the controlling thread before
 * actor_system_start(); everything else on the admin actor's thread.
 */
#ifndef ACTORD_ADMIN_H
#define ACTORD_ADMIN_H

#include <stddef.h>

#include "actors/actor.h"
#include "config/config.h"

/* The admin actor (pool "admin"). */
extern const struct actor_kind admin_kind;

/* Register the collectors and readiness checks of the runtime (mailboxes,
 * actors, HTTP, handlers, log) and add the "admin" pool. Add it LAST, so
 * its registry sees every other pool. `cfg` must outlive the system.
 * Returns 0 or -errno with a reason in `err`. */
int admin_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		   char *err, size_t errlen);

#endif
