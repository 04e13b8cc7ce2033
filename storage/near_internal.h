/*
 * near_internal.h - the near cache's hub: what the near actor publishes
 * and every near cache reads (near.h). Not a public header.
 *
 * DESIGN
 * `state` is (epoch << 1) | up. The near actor bumps the epoch whenever
 * every near copy must go (the invalidation path went down or came back,
 * FLUSHALL) and sets `up` only while the path is proven to work. `ring`
 * holds the hashes of invalidated keys: invalidation number s (1, 2, ...)
 * is ring[s % NEAR_RING] = (48 high bits of the key's hash) << 16 | (s &
 * 0xffff), published by a release store of `head` = s. A reader applies
 * s = its last head + 1 .. head; a slot whose low 16 bits are not s's was
 * overwritten by a later lap (the reader fell NEAR_RING behind): it
 * flushes instead. A reader more than NEAR_RING behind flushes too. So an
 * invalidation is applied or replaced by a flush, never lost.
 *
 * Owner: the hub is the near pool's `user`, allocated before start and
 * freed by its dispose hook; the near actor is the only writer of
 * `state`, `head`, `ring` and `actor`; reader slot i is written by its
 * reader only; the admin thread reads counters (relaxed).
 */
#ifndef ACTORD_NEAR_INTERNAL_H
#define ACTORD_NEAR_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "near.h"
#include "actors/backend_stats.h"
#include "base/counter.h"
#include "config/config.h"

#define NEAR_RING 4096u                /* power of two, < 1 << NEAR_TAG_BITS */
#define NEAR_TAG_BITS 16
#define NEAR_TAG_MASK ((1ull << NEAR_TAG_BITS) - 1)

_Static_assert((NEAR_RING & (NEAR_RING - 1)) == 0 && NEAR_RING < (1u << NEAR_TAG_BITS),
	       "the ring's tag must tell laps apart");

/* One reader's figures. Single writer (the reader). */
struct near_reader_counters {
	_Alignas(64)
	counter_t hits_total;
	counter_t misses_total;       /* lookups not served here (bypass included) */
	counter_t stores_total;       /* values kept */
	counter_t refused_total;      /* values not kept: invalidated meanwhile, bypass */
	counter_t evictions_total;    /* entries dropped for room */
	counter_t invalidated_total;  /* entries dropped by invalidations */
	counter_t flushes_total;      /* whole-cache flushes applied */
	counter_t bytes;              /* gauge */
	counter_t entries;            /* gauge */
};

/* The near actor's figures. Single writer (the near actor). */
struct near_actor_counters {
	_Alignas(64)
	counter_t messages_total;     /* invalidation messages from Redis */
	counter_t keys_total;         /* keys they named */
	counter_t flushes_total;      /* flushes ordered: FLUSHALL, path down, path up */
	counter_t losses_total;       /* times the invalidation path went down */
	counter_t heartbeats_total;   /* heartbeats that came back */
	counter_t up;                 /* gauge: 1 while the path is proven up */
	counter_t delay_last_ns;      /* last heartbeat: write sent -> invalidation in */
	counter_t delay_max_ns;
};

struct near_hub {
	_Alignas(64) _Atomic uint64_t state;
	_Alignas(64) _Atomic uint64_t head;
	_Alignas(64) _Atomic uint64_t ring[NEAR_RING];
	/* Immutable after near_add_pool. */
	uint64_t seed;                /* of the key hash, random per process */
	char prefixes[CONFIG_MAX_NEAR_PREFIX][CONFIG_PREFIX_MAX];
	unsigned nprefixes;           /* 0: every key */
	unsigned nreaders;                      /* slots: one per handler slot */
	struct near_reader_counters *readers;   /* [nreaders] */
	_Atomic unsigned readers_used;          /* 1 + the highest slot ever created */
	struct near_actor_counters actor;
	struct backend_stats stats[2];          /* [0] invalidations, [1] heartbeats */
	_Atomic int last_error[2];
};

/* The 48-bit hash of a key under the hub's seed. Thread: any. */
uint64_t near_hash48(const struct near_hub *hub, const char *key, size_t klen);

/* The writer side (the near actor; tests): bump the epoch (every near
 * cache flushes) and say whether the path is up; publish one invalidated
 * key's hash. Thread: the hub's one writer. */
void near_hub_publish_state(struct near_hub *hub, bool up);
void near_hub_publish_key(struct near_hub *hub, uint64_t h48);

#endif
