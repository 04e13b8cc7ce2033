/*
 * storage_pool.h - what every storage pool keeps for the admin endpoint:
 * one struct backend_stats and one "last error" per actor, a metrics
 * collector and a readiness check. Internal to storage/.
 *
 * DESIGN
 * Allocated on the controlling thread before the system starts, owned by
 * the actor pool it is the `user` of and freed by its dispose hook when
 * the system is destroyed (the admin actor, which reads it, stops first). Each actor writes only its own slot (relaxed
 * stores); the collector and the check read them with relaxed loads.
 *
 * Thread: storage_pool_create on the controlling thread; slots written by
 * their actor; read by the renderer.
 */
#ifndef ACTORD_STORAGE_POOL_H
#define ACTORD_STORAGE_POOL_H

#include <stdatomic.h>

#include "actors/actor.h"
#include "actors/admit.h"
#include "actors/backend_stats.h"

/* Owner: see DESIGN. */
struct storage_pool {
	const char *kind;             /* actor kind's name: "cache", "mysql" */
	const char *backend;          /* label and check name: "redis", "mysql" */
	unsigned count;               /* slots: the pool's max */
	const struct actor_pool *pool;/* its live count: the members shown */
	struct backend_stats *stats;  /* [count] */
	_Atomic int *last_error;      /* [count]: -errno of the last failure, 0 when up */
	struct admit_stats *admit;    /* [count] when its actors admit calls by
				       * time waited (actors/admit.h), else NULL */
};

/* Add the actor pool `spec` with a storage_pool as its `user` (spec->user
 * and spec->dispose are set here), then register the pool's collector and
 * readiness check (`backend` names both). `admits`: its actors shed calls
 * by time waited, so the pool keeps (and shows) admit_stats. Returns the
 * pool's first address, or ACTOR_ADDR_NONE with a reason in `err`.
 * Thread: controlling. */
actor_addr_t storage_pool_add(struct actor_system *sys, struct actor_pool_spec *spec,
			      const char *backend, bool admits, char *err, size_t errlen);

#endif
