/*
 * storage_pool.h - what every storage pool keeps for the admin endpoint:
 * one struct backend_stats and one "last error" per actor, a metrics
 * collector and a readiness check. Internal to storage/.
 *
 * DESIGN
 * Allocated on the controlling thread before the system starts and never
 * freed (reachable until exit): the admin actor may read them while
 * storage actors stop. Each actor writes only its own slot (relaxed
 * stores); the collector and the check read them with relaxed loads.
 *
 * Thread: storage_pool_create on the controlling thread; slots written by
 * their actor; read by the renderer.
 */
#ifndef ACTORD_STORAGE_POOL_H
#define ACTORD_STORAGE_POOL_H

#include <stdatomic.h>

#include "actors/backend_stats.h"

/* Owner: see DESIGN. */
struct storage_pool {
	const char *kind;             /* actor kind: "cache", "mysql" */
	const char *backend;          /* label and check name: "redis", "mysql" */
	unsigned count;
	struct backend_stats *stats;  /* [count] */
	_Atomic int *last_error;      /* [count]: -errno of the last failure, 0 when up */
};

/* Allocate a pool's slots and register its collector and readiness check
 * (`backend` names both). NULL with a reason in `err`. */
struct storage_pool *storage_pool_create(const char *kind, const char *backend,
					 unsigned count, char *err, size_t errlen);

#endif
