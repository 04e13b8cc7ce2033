/*
 * sched_internal.h - what the scheduler's files share: the registered
 * schedule and its counters (sched.c: setup, the actor, queues, metrics;
 * sched_periodic.c: periodic tasks). Internal to worker/.
 *
 * Owner: `struct sched_pool` is the pool's `user`: specs immutable after
 * sched_add_pool, counters written by the scheduler actor only (relaxed)
 * and read by the collector. `struct sched` and what hangs from it belong
 * to the scheduler actor's thread.
 */
#ifndef ACTORD_SCHED_INTERNAL_H
#define ACTORD_SCHED_INTERNAL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "sched.h"
#include "base/list.h"

#define SCHED_MAX_TASKS 32
#define SCHED_MAX_QUEUES 16
#define SCHED_MAX_CALLS 4096          /* worker tasks and lock calls in flight */
#define SCHED_LOCK_KEY_MAX 160
#define SCHED_TOKEN_MAX 128

/* Counters of one periodic task: one writer (the scheduler), relaxed. */
struct sched_task_counters {
	alignas(64)
	_Atomic uint64_t runs_total;       /* runs that ended (ok or not) */
	_Atomic uint64_t failures_total;   /* runs that failed, lock errors included */
	_Atomic uint64_t skipped_total;    /* ticks skipped: the last run still going, or late */
	_Atomic uint64_t elsewhere_total;  /* slots another instance held the lock for */
	_Atomic uint64_t late_sum_ns;      /* start behind schedule, summed */
};

/* Counters of one queue. */
struct sched_queue_counters {
	alignas(64)
	_Atomic uint64_t waiting;          /* gauge */
	_Atomic uint64_t running;          /* gauge */
	_Atomic uint64_t put_total;        /* items accepted */
	_Atomic uint64_t rejected_total;   /* puts refused: queue full */
	_Atomic uint64_t done_total;       /* items whose run succeeded */
	_Atomic uint64_t retried_total;    /* failed runs put back for another attempt */
	_Atomic uint64_t dropped_total;    /* items dropped after max_attempts, or at shutdown */
};

struct sched_setup {
	struct sched_periodic tasks[SCHED_MAX_TASKS];
	unsigned ntasks;
	struct sched_queue queues[SCHED_MAX_QUEUES];
	unsigned nqueues;
};

struct sched_pool {
	struct sched_setup set;
	struct sched_lock lock;            /* kind NULL: none */
	char prefix[64];                   /* lock keys: "<prefix>:periodic:<name>" */
	char instance[64];                 /* token stem: host:pid */
	struct sched_task_counters *task_ctr;   /* [set.ntasks] */
	struct sched_queue_counters *queue_ctr; /* [set.nqueues] */
};

/* A periodic task's live state. Owner: the scheduler thread. */
struct sched_ptask {
	struct sched *s;
	const struct sched_periodic *spec;
	struct sched_task_counters *ctr;
	ev_timer tick_w;
	uint64_t next_slot;               /* the slot the timer is armed for */
	uint64_t run_slot;                /* the slot being run (busy) */
	uint64_t seq;                     /* runs started: makes tokens unique */
	ev_timer renew_w;                 /* extends the lock while a worker runs */
	unsigned renewing;                /* renewal calls in flight */
	bool busy;                        /* a run (or its lock) is in flight */
	bool locked;                      /* the run holds the cluster lock */
	bool release_due;                 /* the run ended: release once renewals are back */
	char key[SCHED_LOCK_KEY_MAX];
	char token[SCHED_TOKEN_MAX];
};

/* Owner: the scheduler thread (actor_state). */
struct sched {
	struct actor *a;
	struct sched_pool *pool;
	struct call_table *calls;
	struct sched_ptask tasks[SCHED_MAX_TASKS];
	struct list items[SCHED_MAX_QUEUES];    /* waiting items, FIFO */
	unsigned running[SCHED_MAX_QUEUES];
	struct list started;              /* items running on workers, every queue */
	ev_timer pump_w;                  /* retries a queue the worker pool refused */
	uint64_t lock_warned_ns;          /* rate limit of lock error logs */
};

/* sched_periodic.c */
void sched_periodic_start(struct sched *s);
void sched_periodic_stop(struct sched *s);

#endif
