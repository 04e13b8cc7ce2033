/*
 * worker.c - the worker actors (kind "worker", worker.h): tasks, the pool,
 * its counters.
 *
 * DESIGN
 * Members share one pool mailbox (actor_pool_spec.shared_mailbox) and take
 * one message at a time. For each task: a queued task whose pool is
 * closing is answered -ESHUTDOWN, one whose deadline passed -ETIMEDOUT,
 * both without running; otherwise the worker publishes the replies it
 * already produced (mbox_flush: it is about to block), runs `fn`, and
 * sends the message back with call_reply (retried, never dropped, while
 * the caller's mailbox is full).
 *
 * Counters: one slot per member, one writer each (the member), read by the
 * collector on the admin thread with relaxed loads. The pool's `user` owns
 * them and is freed by its dispose hook.
 *
 * Thread: each worker's own; worker_add_pool on the controlling thread;
 * the collector on the admin thread; worker_task_* on the caller's.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"
#include "actors/actor.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "base/clock.h"
#include "base/counter.h"
#include "config/config.h"
#include "mailbox/mbox.h"

const struct actor_kind worker_kind = { "worker" };

/* Crosses mailboxes: caller -> worker -> caller (worker.h, Ownership). */
struct worker_task {
	struct call_msg c;            /* MUST be first */
	worker_fn fn;
	worker_cleanup_fn cleanup;
	uint64_t run_ns;              /* written by the worker */
	uint64_t wait_ns;
	bool ran;                     /* `fn` ran: the status is its own */
	alignas(16) char arg[];
};
_Static_assert(offsetof(struct worker_task, c) == 0,
	       "struct worker_task is used through a pointer to its c");

/* One member's counters: one writer (the member), relaxed. */
struct worker_counters {
	alignas(64)
	_Atomic uint64_t tasks_total;      /* functions run */
	_Atomic uint64_t errors_total;     /* ... that returned an error */
	_Atomic uint64_t expired_total;    /* deadline passed before a worker took it */
	_Atomic uint64_t refused_total;    /* queued when the pool stopped */
	_Atomic uint64_t busy;             /* gauge: 1 while a function runs */
	_Atomic uint64_t run_hist[MBOX_HIST_BUCKETS];
	_Atomic uint64_t run_sum_ns;
};

/* The pool's `user`: immutable after worker_add_pool except the counters. */
struct worker_pool {
	unsigned count;                    /* slots: the pool may grow to this */
	struct worker_counters *ctr;       /* [count] */
	struct actor_system *sys;          /* its live count: the members shown */
};

static void task_free(struct msg *m)
{
	struct worker_task *t = (struct worker_task *)(void *)m;

	if (t->cleanup != NULL)
		t->cleanup(t->arg);
	free(t);
}

struct worker_task *worker_task_new(worker_fn fn, size_t arg_size, worker_cleanup_fn cleanup)
{
	struct worker_task *t;

	if (fn == NULL || arg_size > SIZE_MAX - sizeof(*t))
		return NULL;
	t = calloc(1, sizeof(*t) + arg_size);
	if (t == NULL)
		return NULL;
	call_msg_init(&t->c, WORKER_MSG_TASK, task_free, 0);
	t->fn = fn;
	t->cleanup = cleanup;
	return t;
}

void *worker_task_arg(struct worker_task *t)
{
	return t->arg;
}

struct call_msg *worker_task_call(struct worker_task *t)
{
	return &t->c;
}

void worker_task_free(struct worker_task *t)
{
	if (t != NULL)
		msg_free(&t->c.m);
}

static struct worker_task *task_of(const struct call_msg *reply)
{
	if (reply == NULL || reply->m.type != WORKER_MSG_TASK)
		return NULL;
	return (struct worker_task *)(void *)reply;
}

void *worker_reply_arg(struct call_msg *reply)
{
	struct worker_task *t = task_of(reply);

	return t != NULL ? t->arg : NULL;
}

uint64_t worker_reply_run_ns(const struct call_msg *reply)
{
	const struct worker_task *t = task_of(reply);

	return t != NULL ? t->run_ns : 0;
}

bool worker_reply_ran(const struct call_msg *reply)
{
	const struct worker_task *t = task_of(reply);

	return t != NULL && t->ran;
}

const char *worker_reply_error(const struct call_msg *reply, char *buf, size_t len)
{
	int st = reply->status < 0 ? -reply->status : reply->status;

	if (worker_reply_ran(reply))
		snprintf(buf, len, "the task itself failed: %s", strerror(st));
	else
		snprintf(buf, len, "%s", ad_strerror(reply->status));
	return buf;
}

uint64_t worker_reply_wait_ns(const struct call_msg *reply)
{
	const struct worker_task *t = task_of(reply);

	return t != NULL ? t->wait_ns : 0;
}

/* ---- The actor ---- */

static void worker_message(struct actor *a, struct msg *m)
{
	struct worker_pool *p = actor_user(a);
	struct worker_counters *c = &p->ctr[actor_index(a)];
	struct worker_task *t;
	uint64_t start, run;
	int rc;

	if (m->type != WORKER_MSG_TASK) {
		log_warn("%s: unexpected message type %#x dropped", actor_name(a), m->type);
		msg_free(m);
		return;
	}
	t = (struct worker_task *)(void *)m;
	start = clock_now_ns();
	if (mbox_closed(actor_mbox(a))) {
		counter_add(&c->refused_total, 1);
		call_reply(&t->c, -ESHUTDOWN);
		return;
	}
	if (call_expired(&t->c, start)) {
		counter_add(&c->expired_total, 1);
		call_reply(&t->c, -ETIMEDOUT);
		return;
	}
	t->wait_ns = start > m->enqueued_ns ? start - m->enqueued_ns : 0;
	/* Replies produced before must not wait for the function below. */
	mbox_flush();
	atomic_store_explicit(&c->busy, 1, memory_order_relaxed);
	rc = t->fn(t->arg);
	run = clock_now_ns() - start;
	atomic_store_explicit(&c->busy, 0, memory_order_relaxed);
	t->run_ns = run;
	t->ran = true;
	counter_add(&c->tasks_total, 1);
	if (rc != 0)
		counter_add(&c->errors_total, 1);
	counter_add(&c->run_hist[mbox_hist_bucket(run)], 1);
	counter_add(&c->run_sum_ns, run);
	call_reply(&t->c, rc);
}

/* SCHED_BATCH: a worker that wakes (a task ended, a task arrived) never
 * preempts a running thread, while the network and handler actors, which
 * keep the normal policy, still preempt a worker the moment they wake. The
 * share of CPU of a busy worker stays the same (the weight is nice 0's);
 * what changes is who waits when a hundred workers wake at once: them, not
 * the request path. Unprivileged; a refusal only costs that. */
static int worker_start(struct actor *a)
{
	struct sched_param none = { .sched_priority = 0 };
	int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &none);

	if (rc != 0)
		log_warn("%s: cannot use SCHED_BATCH: %s", actor_name(a), strerror(rc));
	return 0;
}

static const struct actor_ops worker_ops = {
	.start = worker_start,
	.message = worker_message,
};

static void collect(struct metrics_out *o, void *ctx)
{
	const struct worker_pool *p = ctx;
	char labels[64];
	uint64_t hist[MBOX_HIST_BUCKETS];
	unsigned live = 0;

	actor_system_find_kind(p->sys, &worker_kind, &live);
	for (unsigned i = 0; i < live; i++) {
		struct worker_counters *c = &p->ctr[i];

#define RD(f) atomic_load_explicit(&c->f, memory_order_relaxed)
		snprintf(labels, sizeof(labels), "actor=\"%s-%u\"", worker_kind.name, i);
		metrics_counter(o, "worker_tasks_total", "Tasks a worker ran", labels,
				RD(tasks_total));
		metrics_counter(o, "worker_task_errors_total",
				"Tasks whose function returned an error", labels, RD(errors_total));
		metrics_counter(o, "worker_expired_total",
				"Tasks whose deadline passed before a worker took them (504)",
				labels, RD(expired_total));
		metrics_counter(o, "worker_refused_total",
				"Tasks still queued when the pool stopped (never run)", labels,
				RD(refused_total));
		metrics_gauge(o, "worker_busy", "1 while the worker runs a task", labels,
			      (double)RD(busy));
		for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++)
			hist[b] = RD(run_hist[b]);
		metrics_histogram(o, "worker_run_seconds", "Time a task's function ran",
				  labels, hist, RD(run_sum_ns));
#undef RD
	}
}

static void pool_free(void *user)
{
	struct worker_pool *p = user;

	free(p->ctr);
	free(p);
}

int worker_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		    char *err, size_t errlen)
{
	struct worker_pool *p;
	struct actor_pool_spec spec;
	size_t csize = sizeof(struct worker_counters) * CONFIG_MAX_WORKERS;

	if (cfg->worker.count == 0)
		return 0;
	p = calloc(1, sizeof(*p));
	if (p != NULL)
		p->ctr = aligned_alloc(alignof(struct worker_counters), csize);
	if (p == NULL || p->ctr == NULL) {
		free(p);
		snprintf(err, errlen, "worker: out of memory");
		return -ENOMEM;
	}
	memset(p->ctr, 0, csize);
	p->count = CONFIG_MAX_WORKERS;
	p->sys = sys;
	spec = (struct actor_pool_spec){
		.kind = &worker_kind,
		.count = cfg->worker.count,
		.max = CONFIG_MAX_WORKERS,
		.mbox_capacity = cfg->worker.mailbox,
		.shared_mailbox = true,
		.ops = &worker_ops,
		.user = p,
		.dispose = pool_free,
	};
	return metrics_add_pool(sys, &spec, collect, err, errlen);
}
