/*
 * actor_access.c - the actor registry's lookups and the accessors of a
 * struct actor: read-only views that any thread may use (the registry
 * never changes after start; live counts and slot states are read with
 * acquire, counters with relaxed loads). actor_state() and
 * actor_set_state() are the exception: the actor's own thread only.
 */
#include <stdatomic.h>

#include "actor_internal.h"

unsigned actor_system_count(const struct actor_system *sys)
{
	return sys->nactors;
}

struct actor *actor_system_get(const struct actor_system *sys, actor_addr_t addr)
{
	return addr < sys->nactors ? sys->actors[addr] : NULL;
}

actor_addr_t actor_pool_first(const struct actor_pool *pool)
{
	return pool->first;
}

unsigned actor_pool_live(const struct actor_pool *pool)
{
	return atomic_load_explicit(&((struct actor_pool *)pool)->live, memory_order_acquire);
}

bool actor_alive(const struct actor *a)
{
	int st = atomic_load_explicit(&((struct actor *)a)->slot_state, memory_order_acquire);

	return st == SLOT_RUNNING || st == SLOT_RETIRING;
}

const char *actor_name(const struct actor *a) { return a->name; }
const struct actor_kind *actor_kind(const struct actor *a) { return a->pool->spec.kind; }
const char *actor_kind_name(const struct actor *a) { return a->pool->kind; }
const struct actor_ops *actor_ops(const struct actor *a) { return a->pool->spec.ops; }
actor_addr_t actor_addr(const struct actor *a) { return a->addr; }
unsigned actor_index(const struct actor *a) { return a->index; }
struct actor_system *actor_sys(const struct actor *a) { return a->sys; }
struct mbox *actor_mbox(const struct actor *a) { return a->mb; }
void *actor_user(const struct actor *a) { return a->pool->spec.user; }
struct ev_loop *actor_loop(const struct actor *a) { return a->loop; }
void *actor_state(const struct actor *a)
{
	ACTOR_ASSERT_OWNER(a);
	return a->state;
}

void actor_set_state(struct actor *a, void *state)
{
	ACTOR_ASSERT_OWNER(a);
	a->state = state;
}
void actor_read_stats(const struct actor *a, struct actor_stats *out)
{
	struct actor *w = (struct actor *)a;

	out->messages_total = atomic_load_explicit(&w->messages_total, memory_order_relaxed);
	out->busy_ns = atomic_load_explicit(&w->busy_ns, memory_order_relaxed);
	out->loop_iterations = atomic_load_explicit(&w->loop_iterations, memory_order_relaxed);
	out->lag_sum_ns = atomic_load_explicit(&w->lag_sum_ns, memory_order_relaxed);
	out->lag_max_ns = atomic_load_explicit(&w->lag_max_ns, memory_order_relaxed);
	out->replies_retried_total = atomic_load_explicit(&w->replies_retried_total,
							  memory_order_relaxed);
	for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++)
		out->lag_hist[b] = atomic_load_explicit(&w->lag_hist[b], memory_order_relaxed);
}
