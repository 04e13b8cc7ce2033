/*
 * sched.h - the scheduler actor: work that no request waits for, run on
 * the worker pool. Periodic tasks (the seed's PeriodicCallback /
 * async_period_job) and bounded task queues (the seed's producer-consumer
 * queue with its _collect consumer).
 *
 * DESIGN
 * One actor (kind "sched", actors.sched.count 0 or 1) owns every periodic
 * task's schedule and every queue's items. It never blocks: it submits the
 * work to the worker actors as ordinary worker tasks (worker.h) and gets
 * the outcome back as a reply, so its timers fire on time while the work
 * runs.
 *
 * The application registers both at start-up, like routes: the server
 * calls each `sched_setup_fn` of the application once, before the actors
 * start, and the function calls sched_add_periodic / sched_add_queue with
 * values read from the configuration.
 *
 * Periodic tasks:
 *  - The schedule is the wall clock: run k of a task with period P is due
 *    at the CLOCK_REALTIME instant k * P (its `slot`), so instances sharing
 *    a task tick together, and a late or slow run never shifts later ones.
 *    A clock stepped forward skips the slots it jumped (counted); one
 *    stepped back is followed within a period (logged), the slots since
 *    the new time running again.
 *  - Never overlapping: a tick that finds the previous run still going (or
 *    still waiting for its lock) is skipped and counted.
 *  - A run's error (the function's -errno, a full worker pool) is logged
 *    with the task's name and slot and counted; the next tick runs as
 *    scheduled.
 *  - `once_per_cluster`: before each run the scheduler takes a lock named
 *    after the task through a lock service (struct sched_lock: the Redis
 *    one is storage/cache_lock.h, wired by the server): SET key token NX PX
 *    lock_ms. Whoever gets it runs that slot; the others count it as run
 *    elsewhere. When the run ends the lock is released with a Lua
 *    compare-and-delete; if the slot is not over yet its expiry is cut to
 *    the slot's end instead, so an instance whose tick came late cannot
 *    run the same slot again. The expiry (lock_ms) frees it if the holder
 *    dies: choose it longer than the longest run.
 *  - `on_sched`: a short task that never blocks may run on the scheduler
 *    actor itself (no worker needed); every other task runs on a worker.
 *
 * Queues:
 *  - A queue is a bounded FIFO of byte strings. A caller puts an item with
 *    a call (sched_put_new + hreq_call(r, &sched_kind, ...)); the answer
 *    comes at once: 0 queued, -EAGAIN full (503), -ENOENT no such queue.
 *  - The scheduler keeps at most `concurrency` items of a queue running on
 *    workers. An item whose function fails is put back at the end of the
 *    queue and run again, up to `max_attempts` runs; then it is logged and
 *    dropped. Items have no deadline.
 *  - Items live in memory (the seed's queues.Queue): at shutdown the ones
 *    not started are logged and dropped; the durable queue is the job
 *    queue (storage/job.h).
 *
 * Thread: sched_add_pool and the sched_add_* functions on the controlling
 * thread before start; sched_put_new on the caller's thread; task and item
 * functions on a worker (or, for `on_sched`, the scheduler actor).
 */
#ifndef ACTORD_SCHED_H
#define ACTORD_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/call.h"

struct actor_system;
struct ad_config;

/* The scheduler actor (pool "sched", actors.sched). */
extern const struct actor_kind sched_kind;

#define SCHED_MSG_PUT 0x53430001u    /* 'S' 'C' 1 */
#define SCHED_NAME_MAX 64

/* ---- Periodic tasks ---- */

/* What one run of a periodic task is given. */
struct sched_run {
	const char *name;
	uint64_t slot;                /* the period it runs for: due at slot * period_ms */
	uint64_t due_ms;              /* CLOCK_REALTIME ms it was due */
	void *data;                   /* as registered */
};

/* One run: 0 or -errno (logged). On a worker unless `on_sched`. */
typedef int (*sched_periodic_fn)(const struct sched_run *run);

struct sched_periodic {
	const char *name;             /* letters, digits, '-', '_', '.'; < SCHED_NAME_MAX */
	uint32_t period_ms;           /* >= 1 */
	sched_periodic_fn run;
	void *data;                   /* given to every run; must outlive the system */
	bool on_sched;                /* run on the scheduler actor: short, never blocks */
	bool once_per_cluster;        /* one instance runs each slot (needs the lock service) */
	uint32_t lock_ms;             /* once_per_cluster: the lock's expiry; 0: period_ms */
};

/* ---- Queues ---- */

/* Run one item (`attempt` 1, 2, ...): 0 done, -errno failed (retried).
 * On a worker. */
typedef int (*sched_item_fn)(const char *item, size_t len, unsigned attempt, void *data);

struct sched_queue {
	const char *name;             /* as for periodic tasks */
	uint32_t capacity;            /* items waiting; a put beyond -> -EAGAIN */
	uint32_t concurrency;         /* items running at once on workers, >= 1 */
	uint32_t max_attempts;        /* runs of a failing item, >= 1 */
	sched_item_fn run;
	void *data;                   /* given to every run; must outlive the system */
};

/* ---- Registering (at start-up) ---- */

struct sched_setup;

/* An application's registration function: add its periodic tasks and
 * queues for `cfg`. Called once, on the controlling thread, before start.
 * 0 or -errno with a reason in `err`. */
typedef int (*sched_setup_fn)(struct sched_setup *s, const struct ad_config *cfg,
			      char *err, size_t errlen);

/* Copy `p` / `q` into the schedule (names and `data` are kept by pointer:
 * literals or memory that outlives the system). 0, or -EINVAL (bad name,
 * period, bound, duplicate name) / -ENOSPC (too many) with a reason. */
int sched_add_periodic(struct sched_setup *s, const struct sched_periodic *p,
		       char *err, size_t errlen);
int sched_add_queue(struct sched_setup *s, const struct sched_queue *q,
		    char *err, size_t errlen);

/* The lock service for once_per_cluster tasks: an actor kind and the
 * builders of its messages (call.h messages). `acquired` reads a reply:
 * 1 the lock is ours, 0 someone holds it, -errno the service failed. */
struct sched_lock {
	const struct actor_kind *kind;
	struct call_msg *(*acquire)(const char *key, const char *token, uint32_t ttl_ms);
	int (*acquired)(const struct call_msg *reply);
	/* Release `key` if it still holds `token`: delete it, or when
	 * keep_ms > 0 let it expire in keep_ms. Status only. */
	struct call_msg *(*release)(const char *key, const char *token, uint32_t keep_ms);
};

/* Run the `n` setup functions, then add the "sched" pool (when actors.sched
 * .count is 1 and something was registered) and its metrics collector.
 * `lock` (may be NULL: once_per_cluster tasks then fail start-up) names the
 * lock service; its kind must already have a pool when a task needs it.
 * Lock keys are "<jobs.prefix>:periodic:<task name>". Add it after the
 * worker pool and the lock service, before the handlers.
 * 0 or -errno with a reason. Thread: controlling. */
int sched_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		   const sched_setup_fn *fns, unsigned n, const struct sched_lock *lock,
		   char *err, size_t errlen);

/* ---- Putting items (any caller) ---- */

/* A put of `len` bytes (copied) into queue `queue`, for hreq_call /
 * job_call / call_send to &sched_kind. NULL on ENOMEM or a name too long. */
struct call_msg *sched_put_new(const char *queue, const void *item, size_t len);

#endif
