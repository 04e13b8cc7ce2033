/*
 * storage.h - the storage actors as the daemon sees them: adding their
 * pools to the actor system.
 *
 * DESIGN
 * Two pools, both optional (a count of 0 leaves the kind out and routes
 * that call it answer 503):
 *  - "cache" (cache_actor.c): actors.cache.count actors, each with its own
 *    mailbox and its own pipelined Redis connection (rconn.h); messages
 *    are struct cache_req (cache.h).
 *  - "mysql" (sql_actor.c): actors.mysql.count actors sharing ONE pool
 *    mailbox, each owning one blocking MariaDB connection; a message waits
 *    only while every member is busy, so a slow query holds one
 *    connection, never the pool; messages are struct sql_req (sql.h).
 * Each pool registers its counters (struct backend_stats per actor, label
 * backend="redis" / "mysql") and a readiness check ("redis", "mysql") with
 * the metrics registry; both live until the process exits, so the admin
 * endpoint may read them at any time.
 *
 * Thread: the controlling thread, before actor_system_start.
 */
#ifndef ACTORD_STORAGE_H
#define ACTORD_STORAGE_H

#include <stddef.h>

struct actor_system;
struct ad_config;

/* Add the cache and mysql pools that `cfg` asks for. 0, or -errno with a
 * reason in `err`. Add them before the handlers (they call them). */
int storage_add_pools(struct actor_system *sys, const struct ad_config *cfg,
		      char *err, size_t errlen);

/* One pool each (storage_add_pools calls both; tests may call one). */
int cache_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		   char *err, size_t errlen);
int sql_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		 char *err, size_t errlen);

#endif
