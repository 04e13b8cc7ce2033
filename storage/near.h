/*
 * near.h - the near cache: values read from Redis kept in the memory of
 * the thread that reads them, kept coherent by Redis itself.
 *
 * DESIGN
 * Two parts:
 *  - One near actor (kind "nearcache", near_actor.c) owns the invalidation
 *    path: a Redis connection in BCAST tracking mode redirected to itself
 *    (CLIENT TRACKING on REDIRECT <own id> BCAST PREFIX ..., then SUBSCRIBE
 *    __redis__:invalidate; RESP2, hiredis 0.14), and a second connection
 *    that writes a heartbeat key every near_cache.heartbeat_ms: its
 *    invalidation coming back proves the whole path works and measures its
 *    delay. The actor publishes what Redis says in a hub (near_internal.h):
 *    one word of state (up or not, and an epoch that a flush bumps) and a
 *    ring of the hashes of invalidated keys.
 *  - Each reading thread (every handler actor) owns a `struct near_cache`:
 *    a hash table (libck's ck_hs) of entries in LRU order, bounded in bytes,
 *    each with its own expiry. It is read and written by its owner only, so
 *    a hit costs no message, no lock and no atomic read-modify-write: two
 *    acquire loads of the hub's words, which change only when Redis reports
 *    something. Before every operation the owner applies what the hub
 *    published since its last look (near_cache_sync).
 *
 * Coherence (docs/ARCHITECTURE.md, "The near cache"):
 *  - A key written by anybody is invalidated in every instance's near
 *    caches as soon as Redis' message reaches the near actor.
 *  - A value read from Redis is kept only if no invalidation that may
 *    concern its key arrived since the read was sent: the reader takes a
 *    ticket (near_cache_ticket) before it sends the read, and
 *    near_cache_put refuses the value if the key's bucket was invalidated,
 *    or the cache flushed, after the ticket. This closes the race between
 *    a reply and the invalidation of a later write.
 *  - While the invalidation path is down (connection lost, heartbeat
 *    missing, set-up refused) every near cache is flushed and bypassed:
 *    lookups miss and nothing is kept until the path is proven up again.
 *    FLUSHALL / FLUSHDB (Redis says "every key") flush them too.
 *  - A writer's own key (near_cache_forget) keeps no value until the
 *    write's invalidation arrives: the writer reads its own write.
 *  - Only keys under near_cache.prefixes are ever kept: nothing else is
 *    tracked.
 *
 * Thread: near_add_pool on the controlling thread; near_cache_* on the
 * cache's owner thread; near_hub_find on any thread once started.
 */
#ifndef ACTORD_NEAR_H
#define ACTORD_NEAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/actor.h"

struct ad_config;
struct near_hub;
struct near_cache;

/* The near actor (pool "nearcache", one member). */
extern const struct actor_kind near_kind;

/* Add the near actor when near_cache.enabled and actors.cache.count > 0:
 * it serves `readers` near caches (one per handler actor; slot i is
 * handler i's counters). 0, or -errno with a reason. */
int near_add_pool(struct actor_system *sys, const struct ad_config *cfg, unsigned readers,
		  char *err, size_t errlen);

/* The hub of a started system, or NULL when there is no near actor.
 * Thread: any, after actor_system_start (or in an actor's start). */
struct near_hub *near_hub_find(struct actor_system *sys);

/* A ticket: where the invalidation stream stood when a read was sent. */
struct near_ticket {
	uint64_t state;
	uint64_t head;
};

/* A near cache for one owner thread, reading `hub`'s invalidations (NULL:
 * every lookup misses), counting into reader slot `slot`. At most
 * `max_bytes` of entries (header, key and value). NULL on ENOMEM.
 * Thread: the owner. */
struct near_cache *near_cache_create(struct near_hub *hub, unsigned slot, uint64_t max_bytes);
void near_cache_destroy(struct near_cache *nc);

/* Apply the invalidations published since the last call, and say whether
 * values can be served and kept now (the invalidation path is up). Call
 * it before a series of near_cache_get, in the same turn of the owner's
 * loop. */
bool near_cache_usable(struct near_cache *nc);

/* The value of `key` if it is here and fresh at `now_ns` (monotonic), as
 * of the last near_cache_usable: true with *val / *vlen (NUL-terminated;
 * valid until the next near_cache_usable, _ticket, _put or _forget, or
 * until the owner's loop turns), counted as a hit; false otherwise,
 * counted as a miss. */
bool near_cache_get(struct near_cache *nc, const char *key, size_t klen, uint64_t now_ns,
		    const char **val, size_t *vlen);

/* Take a ticket before sending a read whose values may be kept. */
void near_cache_ticket(struct near_cache *nc, struct near_ticket *t);

/* Keep `val` for `key` until `expires_ns` if the key is tracked and no
 * invalidation that may concern it arrived since `t` (see DESIGN); LRU
 * entries make room. true if kept. */
bool near_cache_put(struct near_cache *nc, const struct near_ticket *t, const char *key,
		    size_t klen, const char *val, size_t vlen, uint64_t expires_ns);

/* Drop `key` now, and refuse values for it until its own invalidation
 * (the write's) arrives, or twice redis.command_timeout_ms passed: for a
 * writer, before it writes the key. */
void near_cache_forget(struct near_cache *nc, const char *key, size_t klen);

/* Whether `key` is under a tracked prefix (only those are ever kept). */
bool near_cache_tracked(const struct near_cache *nc, const char *key, size_t klen);

#endif
