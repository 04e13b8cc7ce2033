/*
 * cache_lock.h - a lock with expiry in Redis, through the cache actors:
 * what "once per cluster" periodic tasks (worker/sched.h) take, so one
 * instance of several sharing Redis runs each slot.
 *
 * DESIGN
 * Two call messages built on cache_req (cache.h), so the Redis access stays
 * in the cache actors:
 *  - acquire: SET key token NX PX ttl_ms. Ours if Redis answers OK; held by
 *    someone else if it answers nil. The expiry frees the lock of a holder
 *    that died.
 *  - release: one Lua script, so checking and deleting cannot be split by
 *    another holder's acquire: if the key still holds our token, delete it
 *    (keep_ms 0) or let it expire in keep_ms; a key that expired and was
 *    taken by someone else is left alone.
 * The signatures are those of struct sched_lock (worker/sched.h): the
 * server wires them, since storage/ and worker/ never include each other.
 *
 * Thread: the caller's (builders and reader); the commands run on a cache
 * actor.
 */
#ifndef ACTORD_CACHE_LOCK_H
#define ACTORD_CACHE_LOCK_H

#include <stdint.h>

#include "actors/call.h"

/* Call messages for &cache_kind; NULL on ENOMEM. */
struct call_msg *cache_lock_acquire(const char *key, const char *token, uint32_t ttl_ms);
struct call_msg *cache_lock_release(const char *key, const char *token, uint32_t keep_ms);

/* An acquire's reply: 1 the lock is ours, 0 it is held, -EBADMSG Redis
 * answered something else (the call's own status comes first). */
int cache_lock_acquired(const struct call_msg *reply);

#endif
