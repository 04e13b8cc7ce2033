/*
 * actor_resize.c - growing and shrinking a pool while it runs
 * (actor_system_resize, actor.h: resizing) and reading its state
 * (actor_system_pool_info).
 *
 * Thread: the control path (the admin actor, the reload), serialised with
 * stopping by `ctl`; pool_info from any thread (atomics only).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "actor.h"
#include "base/clock.h"

#include "actor_internal.h"

/* Control: wait for a retiring slot to exit, then join it. */
static int reap_slot(struct actor *a, uint64_t deadline_ns)
{
	/* Control path only: a retiring member finishes its connections or
	 * requests; poll it gently. */
	const struct timespec ms = { 0, 1000000 };

	if (!a->has_thread)
		return 0;
	while (atomic_load_explicit(&a->slot_state, memory_order_acquire) != SLOT_EXITED) {
		if (atomic_load_explicit(&a->slot_state, memory_order_acquire) == SLOT_RUNNING ||
		    clock_now_ns() >= deadline_ns)
			return -EBUSY;
		nanosleep(&ms, NULL);
	}
	actor_join_slot(a);
	return 0;
}

static int grow(struct actor_system *sys, struct actor_pool *pool, unsigned live,
		unsigned count, char *err, size_t errlen)
{
	uint64_t deadline = clock_now_ns() + (uint64_t)ACTOR_RESIZE_WAIT_MS * NS_PER_MS;
	unsigned started = live;
	int rc = 0;

	for (unsigned i = live; i < count && rc == 0; i++) {
		struct actor *a = actor_slot(sys, pool, i);

		if (reap_slot(a, deadline) != 0) {
			snprintf(err, errlen, "%s is still retiring (finishing its work): "
				 "try again shortly", a->name);
			rc = -EBUSY;
			break;
		}
		if (pool->shared == NULL)
			mbox_reopen(a->mb);
		rc = actor_start_slot(sys, a, err, errlen);
		if (rc != 0) {
			if (pool->shared == NULL)
				mbox_close(a->mb);
			break;
		}
		started = i + 1;
		/* Publish each member as soon as it runs. */
		atomic_store_explicit(&pool->live, started, memory_order_release);
	}
	return rc;
}

int actor_system_resize(struct actor_system *sys, const struct actor_kind *kind,
			unsigned count, char *err, size_t errlen)
{
	struct actor_pool *pool = actor_pool_of(sys, kind);
	unsigned live;
	int rc = 0;

	if (pool == NULL) {
		snprintf(err, errlen, "no actor pool \"%s\"", kind != NULL ? kind->name : "");
		return -ENOENT;
	}
	if (!pool->resizable) {
		snprintf(err, errlen, "actor pool %s has a fixed size (%u): it keeps state "
			 "per member", pool->kind, pool->spec.count);
		return -EPERM;
	}
	if (count == 0 || count > pool->max) {
		snprintf(err, errlen, "actor pool %s: count %u is out of range [1, %u]",
			 pool->kind, count, pool->max);
		return -ERANGE;
	}
	pthread_mutex_lock(&sys->ctl);
	live = atomic_load_explicit(&pool->live, memory_order_relaxed);
	if (!sys->started || pool->stopped) {
		snprintf(err, errlen, "actor pool %s is not running", pool->kind);
		rc = -ESHUTDOWN;
	} else if (count > live) {
		rc = grow(sys, pool, live, count, err, errlen);
	} else if (count < live) {
		/* Senders stop picking them first; then they retire. */
		atomic_store_explicit(&pool->live, count, memory_order_release);
		for (unsigned i = count; i < live; i++) {
			struct actor *a = actor_slot(sys, pool, i);

			atomic_store_explicit(&a->slot_state, SLOT_RETIRING, memory_order_release);
			actor_signal_cmd(a, CMD_RETIRE);
		}
	}
	pthread_mutex_unlock(&sys->ctl);
	return rc;
}

int actor_system_pool_info(const struct actor_system *sys, const struct actor_kind *kind,
			   struct actor_pool_info *out)
{
	const struct actor_pool *pool = actor_pool_of(sys, kind);

	memset(out, 0, sizeof(*out));
	if (pool == NULL) {
		out->first = ACTOR_ADDR_NONE;
		return -ENOENT;
	}
	out->first = pool->first;
	out->live = atomic_load_explicit(&pool->live, memory_order_acquire);
	out->max = pool->max;
	out->resizable = pool->resizable;
	out->first_retiring = pool->max;
	for (unsigned i = 0; i < pool->max; i++) {
		if (atomic_load_explicit(&actor_slot(sys, pool, i)->slot_state, memory_order_acquire) !=
		    SLOT_RETIRING)
			continue;
		if (out->retiring++ == 0)
			out->first_retiring = i;
	}
	return 0;
}
