/*
 * sched.c - the scheduler actor (kind "sched", sched.h): registration,
 * the actor, task queues and the metrics collector. Periodic tasks are in
 * sched_periodic.c.
 *
 * DESIGN
 * Messages in: SCHED_MSG_PUT requests (a call from a route or a job: the
 * item is copied into the queue and the same message goes back at once),
 * and replies to the scheduler's own calls (worker tasks, lock calls),
 * which call_dispatch takes by CALL_FLAG_REPLY. Messages out: worker tasks
 * (queue items, periodic runs) and lock calls.
 *
 * A queue is a list of items on the actor; `pump` starts items while fewer
 * than `concurrency` run. A worker pool that refuses a task (full mailbox)
 * leaves the item at the head of its queue and a 10 ms timer pumps again:
 * the queue is the backlog, the worker mailbox only its head.
 *
 * Thread: the scheduler actor's; setup and sched_add_pool on the
 * controlling thread; the collector on the admin thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched_internal.h"
#include "worker.h"
#include "actors/actor.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "base/counter.h"
#include "config/config.h"

#define PUMP_RETRY_MS 10

const struct actor_kind sched_kind = { "sched" };

/* Crosses mailboxes: caller -> scheduler -> caller; freed by the caller's
 * call_dispatch with msg_free (one allocation). */
struct sched_put {
	struct call_msg c;            /* MUST be first */
	char queue[SCHED_NAME_MAX];
	size_t len;
	char item[];
};
_Static_assert(offsetof(struct sched_put, c) == 0,
	       "struct sched_put is used through a pointer to its c");

/* A waiting or running item. Owner: the scheduler thread. */
struct sched_item {
	struct list link;             /* in sched.items[q] while waiting, sched.started
				       * while running */
	unsigned queue;
	unsigned attempts;            /* runs started */
	size_t len;
	char data[];
};

/* A worker task's argument area for one item run. */
struct item_run {
	sched_item_fn fn;
	void *data;
	unsigned attempt;
	size_t len;
	char bytes[];
};

/* ---- Registration ---- */

static bool valid_name(const char *name, char *err, size_t errlen, const char *what)
{
	size_t n = name != NULL ? strlen(name) : 0;

	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			n = 0;
	}
	if (n == 0 || n >= SCHED_NAME_MAX) {
		snprintf(err, errlen, "sched: %s '%s': use 1 to %d letters, digits, '-', '_', '.'",
			 what, name != NULL ? name : "(null)", SCHED_NAME_MAX - 1);
		return false;
	}
	return true;
}

static bool name_taken(const struct sched_setup *s, const char *name)
{
	for (unsigned i = 0; i < s->ntasks; i++)
		if (strcmp(s->tasks[i].name, name) == 0)
			return true;
	for (unsigned i = 0; i < s->nqueues; i++)
		if (strcmp(s->queues[i].name, name) == 0)
			return true;
	return false;
}

int sched_add_periodic(struct sched_setup *s, const struct sched_periodic *p,
		       char *err, size_t errlen)
{
	if (!valid_name(p->name, err, errlen, "periodic task"))
		return -EINVAL;
	if (p->period_ms == 0 || p->run == NULL || name_taken(s, p->name)) {
		snprintf(err, errlen, "sched: periodic task '%s': %s", p->name,
			 p->run == NULL ? "no function" : p->period_ms == 0 ? "period_ms is 0" :
			 "the name is taken");
		return -EINVAL;
	}
	if (s->ntasks == SCHED_MAX_TASKS) {
		snprintf(err, errlen, "sched: more than %d periodic tasks", SCHED_MAX_TASKS);
		return -ENOSPC;
	}
	s->tasks[s->ntasks] = *p;
	if (p->lock_ms == 0)
		s->tasks[s->ntasks].lock_ms = p->period_ms;
	s->ntasks++;
	return 0;
}

int sched_add_queue(struct sched_setup *s, const struct sched_queue *q,
		    char *err, size_t errlen)
{
	if (!valid_name(q->name, err, errlen, "queue"))
		return -EINVAL;
	if (q->capacity == 0 || q->concurrency == 0 || q->max_attempts == 0 || q->run == NULL ||
	    name_taken(s, q->name)) {
		snprintf(err, errlen, "sched: queue '%s': %s", q->name,
			 q->run == NULL ? "no function" : name_taken(s, q->name) ?
			 "the name is taken" : "capacity, concurrency and max_attempts must be >= 1");
		return -EINVAL;
	}
	if (s->nqueues == SCHED_MAX_QUEUES) {
		snprintf(err, errlen, "sched: more than %d queues", SCHED_MAX_QUEUES);
		return -ENOSPC;
	}
	s->queues[s->nqueues++] = *q;
	return 0;
}

/* ---- Putting items ---- */

static void put_free(struct msg *m)
{
	free(m);
}

struct call_msg *sched_put_new(const char *queue, const void *item, size_t len)
{
	struct sched_put *p;

	if (strlen(queue) >= SCHED_NAME_MAX || len > SIZE_MAX - sizeof(*p))
		return NULL;
	p = malloc(sizeof(*p) + len);
	if (p == NULL)
		return NULL;
	call_msg_init(&p->c, SCHED_MSG_PUT, put_free, 0);
	snprintf(p->queue, sizeof(p->queue), "%s", queue);
	p->len = len;
	if (len > 0)
		memcpy(p->item, item, len);
	return &p->c;
}

/* ---- Queues ---- */

static int run_item(void *arg)
{
	struct item_run *ir = arg;

	return ir->fn(ir->bytes, ir->len, ir->attempt, ir->data);
}

static void pump(struct sched *s, unsigned q);

/* How much of an item a log line shows: its printable prefix, 64 bytes at
 * most (items are the application's bytes). */
static int shown(const struct sched_item *it)
{
	size_t n = 0;

	while (n < it->len && n < 64 && it->data[n] >= ' ' && it->data[n] <= '~')
		n++;
	return (int)n;
}

static void on_item_done(struct call_msg *reply, void *ctx, void *arg)
{
	struct sched *s = ctx;
	struct sched_item *it = arg;
	unsigned q = it->queue;          /* `it` may be freed below */
	const struct sched_queue *spec = &s->pool->set.queues[q];
	struct sched_queue_counters *c = &s->pool->queue_ctr[q];
	char why[160];

	worker_reply_error(reply, why, sizeof(why));
	list_remove(&it->link);
	s->running[q]--;
	counter_add(&c->running, -1);
	if (reply->status == 0) {
		counter_add(&c->done_total, 1);
		free(it);
	} else if (it->attempts < spec->max_attempts) {
		log_warn("queue %s: item '%.*s' failed on attempt %u of %u (%s): it goes back "
			 "in the queue", spec->name, shown(it), it->data, it->attempts,
			 spec->max_attempts, why);
		counter_add(&c->retried_total, 1);
		counter_add(&c->waiting, 1);
		list_push_back(&s->items[q], &it->link);
	} else {
		log_error("queue %s: item '%.*s' failed %u time(s) (last: %s): dropped",
			  spec->name, shown(it), it->data, it->attempts, why);
		counter_add(&c->dropped_total, 1);
		free(it);
	}
	pump(s, q);
}

static void pump(struct sched *s, unsigned q)
{
	const struct sched_queue *spec = &s->pool->set.queues[q];
	struct sched_queue_counters *c = &s->pool->queue_ctr[q];
	struct list *e;

	while (s->running[q] < spec->concurrency && (e = list_first(&s->items[q])) != NULL) {
		struct sched_item *it = list_entry(e, struct sched_item, link);
		struct worker_task *t = worker_task_new(run_item, sizeof(struct item_run) + it->len,
							NULL);
		actor_addr_t to = call_pick(s->calls, &worker_kind);
		struct item_run *ir;
		int rc;

		if (t == NULL || to == ACTOR_ADDR_NONE) {
			worker_task_free(t);
			rc = t == NULL ? -ENOMEM : -ESRCH;
		} else {
			ir = worker_task_arg(t);
			*ir = (struct item_run){ spec->run, spec->data, it->attempts + 1, it->len };
			memcpy(ir->bytes, it->data, it->len);
			rc = call_send(s->calls, to, worker_task_call(t), on_item_done, s, it);
			if (rc != 0)
				worker_task_free(t);
		}
		if (rc != 0) {
			/* The pool is full (or gone): the item stays first in line. */
			if (rc != -EAGAIN)
				log_warn("queue %s: cannot start an item: %s", spec->name,
					 ad_strerror(rc));
			if (!ev_is_active(&s->pump_w))
				ev_timer_again(actor_loop(s->a), &s->pump_w);
			return;
		}
		list_remove(&it->link);
		list_push_back(&s->started, &it->link);
		it->attempts++;
		s->running[q]++;
		counter_add(&c->waiting, -1);
		counter_add(&c->running, 1);
	}
}

static void on_pump(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sched *s = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	for (unsigned q = 0; q < s->pool->set.nqueues; q++)
		pump(s, q);
}

static int put(struct sched *s, struct sched_put *p)
{
	const struct sched_setup *set = &s->pool->set;
	struct sched_item *it;
	unsigned q;

	for (q = 0; q < set->nqueues; q++)
		if (strcmp(set->queues[q].name, p->queue) == 0)
			break;
	if (q == set->nqueues)
		return -ENOENT;
	if (atomic_load_explicit(&s->pool->queue_ctr[q].waiting, memory_order_relaxed) >=
	    set->queues[q].capacity) {
		counter_add(&s->pool->queue_ctr[q].rejected_total, 1);
		return -EAGAIN;
	}
	it = malloc(sizeof(*it) + p->len);
	if (it == NULL)
		return -ENOMEM;
	it->queue = q;
	it->attempts = 0;
	it->len = p->len;
	memcpy(it->data, p->item, p->len);
	list_push_back(&s->items[q], &it->link);
	counter_add(&s->pool->queue_ctr[q].waiting, 1);
	counter_add(&s->pool->queue_ctr[q].put_total, 1);
	pump(s, q);
	return 0;
}

/* ---- The actor ---- */

static void sched_message(struct actor *a, struct msg *m)
{
	struct sched *s = actor_state(a);

	/* A put carries its caller's corr_id: call_dispatch takes only
	 * replies (CALL_FLAG_REPLY), never a request for one. */
	if (call_dispatch(s->calls, m))
		return;
	if (m->type == SCHED_MSG_PUT) {
		struct sched_put *p = (struct sched_put *)(void *)m;

		call_reply(&p->c, put(s, p));
		return;
	}
	log_warn("%s: unexpected message type %#x dropped", actor_name(a), m->type);
	msg_free(m);
}

static int sched_start(struct actor *a)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->a = a;
	s->pool = actor_user(a);
	s->calls = call_table_create(a, SCHED_MAX_CALLS);
	if (s->calls == NULL) {
		free(s);
		return -ENOMEM;
	}
	for (unsigned q = 0; q < SCHED_MAX_QUEUES; q++)
		list_init(&s->items[q]);
	list_init(&s->started);
	ev_init(&s->pump_w, on_pump);
	s->pump_w.repeat = PUMP_RETRY_MS / 1000.0;
	s->pump_w.data = s;
	actor_set_state(a, s);
	sched_periodic_start(s);
	return 0;
}

static void sched_stop(struct actor *a)
{
	struct sched *s = actor_state(a);
	struct list *e0;

	if (s == NULL)
		return;
	sched_periodic_stop(s);
	ev_timer_stop(actor_loop(a), &s->pump_w);
	for (unsigned q = 0; q < s->pool->set.nqueues; q++) {
		unsigned n = 0;
		struct list *e;

		while ((e = list_first(&s->items[q])) != NULL) {
			list_remove(e);
			free(list_entry(e, struct sched_item, link));
			n++;
		}
		if (n > 0) {
			log_warn("queue %s: %u item(s) not run at shutdown: dropped",
				 s->pool->set.queues[q].name, n);
			counter_add(&s->pool->queue_ctr[q].dropped_total, n);
			counter_add(&s->pool->queue_ctr[q].waiting, -(int64_t)n);
		}
	}
	/* Items still running finish on their workers (which stop after this
	 * actor); their replies find it stopped and are freed. */
	while ((e0 = list_first(&s->started)) != NULL) {
		list_remove(e0);
		free(list_entry(e0, struct sched_item, link));
	}
	call_table_destroy(s->calls);
	actor_set_state(a, NULL);
	free(s);
}

static const struct actor_ops sched_ops = {
	.start = sched_start,
	.message = sched_message,
	.stop = sched_stop,
};

/* ---- The pool ---- */

static void collect(struct metrics_out *o, void *ctx)
{
	const struct sched_pool *p = ctx;
	char labels[SCHED_NAME_MAX * 2 + 16], esc[SCHED_NAME_MAX * 2];

#define RD(c, f) atomic_load_explicit(&(c)->f, memory_order_relaxed)
	for (unsigned i = 0; i < p->set.ntasks; i++) {
		const struct sched_task_counters *c = &p->task_ctr[i];

		snprintf(labels, sizeof(labels), "task=\"%s\"",
			 metrics_label_value(esc, sizeof(esc), p->set.tasks[i].name));
		metrics_counter(o, "periodic_runs_total", "Runs of a periodic task that ended",
				labels, RD(c, runs_total));
		metrics_counter(o, "periodic_failures_total",
				"Runs that failed (the task's error, a full pool, a lock error)",
				labels, RD(c, failures_total));
		metrics_counter(o, "periodic_skipped_total",
				"Ticks skipped because the previous run had not ended",
				labels, RD(c, skipped_total));
		metrics_counter(o, "periodic_elsewhere_total",
				"Slots another instance held the cluster lock for", labels,
				RD(c, elsewhere_total));
		metrics_counter_seconds(o, "periodic_late_seconds_total",
					"Time runs started behind their schedule, summed",
					labels, RD(c, late_sum_ns));
	}
	for (unsigned i = 0; i < p->set.nqueues; i++) {
		const struct sched_queue_counters *c = &p->queue_ctr[i];

		snprintf(labels, sizeof(labels), "queue=\"%s\"",
			 metrics_label_value(esc, sizeof(esc), p->set.queues[i].name));
		metrics_gauge(o, "queue_waiting", "Items waiting in a task queue", labels,
			      (double)RD(c, waiting));
		metrics_gauge(o, "queue_running", "Items of a task queue running on workers",
			      labels, (double)RD(c, running));
		metrics_counter(o, "queue_put_total", "Items accepted by a task queue", labels,
				RD(c, put_total));
		metrics_counter(o, "queue_rejected_total", "Puts refused: the queue was full",
				labels, RD(c, rejected_total));
		metrics_counter(o, "queue_done_total", "Items whose run succeeded", labels,
				RD(c, done_total));
		metrics_counter(o, "queue_retried_total",
				"Failed runs put back in the queue for another attempt", labels,
				RD(c, retried_total));
		metrics_counter(o, "queue_dropped_total",
				"Items dropped after their last attempt, or at shutdown", labels,
				RD(c, dropped_total));
	}
#undef RD
}

static void pool_free(void *user)
{
	struct sched_pool *p = user;

	free(p->task_ctr);
	free(p->queue_ctr);
	free(p);
}

/* Counters on their own cache lines (their structs are 64-aligned). */
static void *zalloc_lines(size_t size)
{
	void *mem;

	size = size > 0 ? (size + 63) & ~(size_t)63 : 64;
	mem = aligned_alloc(64, size);

	if (mem != NULL)
		memset(mem, 0, size);
	return mem;
}

/* Check what the registered tasks need from the system. */
static int check_needs(struct actor_system *sys, const struct sched_pool *p,
		       char *err, size_t errlen)
{
	for (unsigned i = 0; i < p->set.ntasks; i++) {
		const struct sched_periodic *t = &p->set.tasks[i];

		if (t->once_per_cluster &&
		    (p->lock.kind == NULL ||
		     actor_system_find_kind(sys, p->lock.kind, NULL) == ACTOR_ADDR_NONE)) {
			snprintf(err, errlen, "sched: periodic task '%s' runs once per cluster, "
				 "which needs the lock service (%s actors): none configured",
				 t->name, p->lock.kind != NULL ? p->lock.kind->name : "cache");
			return -EINVAL;
		}
	}
	return 0;
}

int sched_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		   const sched_setup_fn *fns, unsigned n, const struct sched_lock *lock,
		   char *err, size_t errlen)
{
	struct sched_pool *p = calloc(1, sizeof(*p));
	struct actor_pool_spec spec;
	char host[48] = "host";
	int rc = 0;

	if (p == NULL) {
		snprintf(err, errlen, "sched: out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n && rc == 0; i++)
		rc = fns[i](&p->set, cfg, err, errlen);
	if (rc == 0 && lock != NULL)
		p->lock = *lock;
	if (rc == 0)
		rc = check_needs(sys, p, err, errlen);
	if (rc != 0 || p->set.ntasks + p->set.nqueues == 0 || cfg->sched.count == 0) {
		if (rc == 0 && p->set.ntasks + p->set.nqueues > 0)
			log_warn("sched: actors.sched.count is 0: %u periodic task(s) and %u "
				 "queue(s) are off", p->set.ntasks, p->set.nqueues);
		free(p);
		return rc;
	}
	p->task_ctr = zalloc_lines(p->set.ntasks * sizeof(struct sched_task_counters));
	p->queue_ctr = zalloc_lines(p->set.nqueues * sizeof(struct sched_queue_counters));
	if (p->task_ctr == NULL || p->queue_ctr == NULL) {
		pool_free(p);
		snprintf(err, errlen, "sched: out of memory");
		return -ENOMEM;
	}
	snprintf(p->prefix, sizeof(p->prefix), "%s", cfg->jobs.prefix);
	gethostname(host, sizeof(host) - 1);
	snprintf(p->instance, sizeof(p->instance), "%.40s:%ld", host, (long)getpid());
	spec = (struct actor_pool_spec){
		.kind = &sched_kind,
		.count = 1,
		.mbox_capacity = cfg->sched.mailbox,
		.ops = &sched_ops,
		.user = p,
		.dispose = pool_free,
	};
	return metrics_add_pool(sys, &spec, collect, err, errlen);
}
