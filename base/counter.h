/*
 * counter.h - single-writer counters: one thread writes, any thread reads.
 *
 * DESIGN
 * Every figure the admin endpoint shows has exactly one writer (the actor
 * that owns it). A single writer needs no locked instruction: a relaxed
 * load and a relaxed store make the increment, and readers on other
 * threads use relaxed loads (a figure may be a moment old, never torn:
 * aligned 64-bit loads and stores are atomic). A locked add would cost a
 * full barrier per request on the hot path for nothing.
 *
 * Thread: counter_add / counter_sub / counter_set on the counter's one
 * writer; counter_get anywhere.
 */
#ifndef ACTORD_BASE_COUNTER_H
#define ACTORD_BASE_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t counter_t;

/* Add `by` (may be negative for gauges). Thread: the writer. */
static inline void counter_add(counter_t *c, int64_t by)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint64_t)by,
			      memory_order_relaxed);
}

static inline void counter_set(counter_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

/* Raise `c` to `v` if `v` is larger (a maximum). Thread: the writer. */
static inline void counter_max(counter_t *c, uint64_t v)
{
	if (v > atomic_load_explicit(c, memory_order_relaxed))
		atomic_store_explicit(c, v, memory_order_relaxed);
}

/* Thread: any. */
static inline uint64_t counter_get(const counter_t *c)
{
	return atomic_load_explicit((counter_t *)c, memory_order_relaxed);
}

#endif
