/*
 * sched_periodic.c - periodic tasks on the scheduler actor (sched.h).
 *
 * DESIGN
 * Each task has one timer armed for the start of its next slot on the
 * wall clock (slot k starts at CLOCK_REALTIME k * period). When it fires:
 *   busy?        -> the tick is skipped (never two runs of a task at once);
 *   once per cluster -> lock acquire call -> on_lock: ours -> run; held
 *                   elsewhere -> done for this slot; error -> logged, skipped;
 *   run          -> on this actor (on_sched) or a worker task -> finish:
 *                   an error is logged with the slot; a held lock is
 *                   released (compare-and-delete, or its expiry cut to the
 *                   slot's end so a late instance cannot run the slot again).
 * While a worker runs a task under the lock, the lock is renewed every
 * third of lock_ms (compare-and-extend, and SET NX with the same token in
 * case the key vanished: a Redis restarted without its data), so a run
 * longer than lock_ms keeps it and no other instance starts alongside;
 * lock_ms bounds only how long a dead holder blocks the task. The release
 * waits for renewals in flight: one that arrived after it would extend or
 * re-create a lock nobody holds.
 * The timer is re-armed for the following slot before anything else, from
 * the clock, so runs that are late or slow never shift the schedule; a
 * timer that fires a whole period late (a stalled machine, the wall clock
 * stepped forward) moves on to the current slot and counts the ones it
 * missed as skipped. The timer counts monotonic time, so one that fires
 * before its slot's start on the wall clock means the clock was stepped
 * back: the tick runs the slot the clock is in (logged), rather than wait
 * for the clock to come back to the old one.
 *
 * Thread: the scheduler actor's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sched_internal.h"
#include "worker.h"
#include "actors/actor.h"
#include "actors/log.h"
#include "base/clock.h"
#include "base/counter.h"
#include "base/log_budget.h"

#define LOCK_WARN_EVERY_NS (10 * NS_PER_S)

/* A worker task's argument area for one periodic run. */
struct periodic_arg {
	sched_periodic_fn fn;
	struct sched_run run;
};

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t period_ns(const struct sched_ptask *t)
{
	return (uint64_t)t->spec->period_ms * NS_PER_MS;
}

/* Arm the timer for the start of `slot`. */
static void arm(struct sched_ptask *t, uint64_t slot, uint64_t now_rt)
{
	struct ev_loop *loop = actor_loop(t->s->a);
	uint64_t at = slot * period_ns(t);

	t->next_slot = slot;
	/* ev_timer counts from the loop's cached time: refresh it, or a
	 * callback that ran long would make the timer fire early. */
	ev_now_update(loop);
	ev_timer_set(&t->tick_w, at > now_rt ? (double)(at - now_rt) / 1e9 : 0., 0.);
	ev_timer_start(loop, &t->tick_w);
}

static void on_released(struct call_msg *reply, void *ctx, void *arg)
{
	struct sched_ptask *t = ctx;

	(void)arg;
	if (reply->status != 0)
		log_warn("periodic %s: releasing the cluster lock: %s (it expires by itself)",
			 t->spec->name, ad_strerror(reply->status));
}

/* Lock errors are logged once per LOCK_WARN_EVERY_NS: a Redis down would
 * otherwise log every tick and renewal. */
static bool lock_warn_due(struct sched *s)
{
	return log_every_due(&s->lock_warned_ns, clock_now_ns(), LOCK_WARN_EVERY_NS);
}

/* Release the run's lock; the task is free for its next tick. */
static void release(struct sched_ptask *t)
{
	struct sched *s = t->s;
	uint64_t end = (t->run_slot + 1) * period_ns(t), now = realtime_ns();
	/* Keep the key until shortly before the slot ends: another
	 * instance's tick for this slot may still come. */
	uint64_t guard = period_ns(t) / 10, keep = 0;
	struct call_msg *m;
	int rc;

	if (end > now + guard)
		keep = (end - now - guard) / NS_PER_MS;
	m = s->pool->lock.release(t->key, t->token, (uint32_t)keep);
	rc = m != NULL ? call_send(s->calls, call_pick(s->calls, s->pool->lock.kind), m,
				   on_released, t, NULL) : -ENOMEM;
	if (rc != 0) {
		msg_free(m != NULL ? &m->m : NULL);
		log_warn("periodic %s: releasing the cluster lock: %s (it expires by itself)",
			 t->spec->name, ad_strerror(rc));
	}
	t->locked = false;
	t->release_due = false;
	t->busy = false;
}

/* The run of `t->run_slot` ended with `rc`; `why` words a failure. */
static void finish(struct sched_ptask *t, int rc, const char *why)
{
	counter_add(&t->ctr->runs_total, 1);
	if (rc != 0) {
		counter_add(&t->ctr->failures_total, 1);
		log_warn("periodic %s: the run for slot %" PRIu64 " failed: %s", t->spec->name,
			 t->run_slot, why);
	}
	ev_timer_stop(actor_loop(t->s->a), &t->renew_w);
	if (!t->locked)
		t->busy = false;
	else if (t->renewing > 0)
		t->release_due = true;     /* on_renewed releases it */
	else
		release(t);
}

/* A renewal's reply: `arg` is non-NULL for the SET NX, whose 1 means the
 * key had vanished under the run and is ours again. */
static void on_renewed(struct call_msg *reply, void *ctx, void *arg)
{
	struct sched_ptask *t = ctx;
	int got = reply->status != 0 ? reply->status :
		arg != NULL ? t->s->pool->lock.acquired(reply) : 0;

	t->renewing--;
	if (got < 0 && lock_warn_due(t->s))
		log_warn("periodic %s: renewing the cluster lock for slot %" PRIu64 ": %s",
			 t->spec->name, t->run_slot, ad_strerror(got));
	else if (got == 1)
		log_warn("periodic %s: the cluster lock vanished while slot %" PRIu64 " ran "
			 "(Redis restarted or failed over?): taken again", t->spec->name,
			 t->run_slot);
	if (t->release_due && t->renewing == 0)
		release(t);
}

static void renew_send(struct sched_ptask *t, struct call_msg *m, bool retake)
{
	struct sched *s = t->s;
	int rc = m != NULL ? call_send(s->calls, call_pick(s->calls, s->pool->lock.kind), m,
				       on_renewed, t, retake ? t : NULL) : -ENOMEM;

	if (rc == 0) {
		t->renewing++;
		return;
	}
	msg_free(m != NULL ? &m->m : NULL);
	if (lock_warn_due(s))
		log_warn("periodic %s: renewing the cluster lock: %s", t->spec->name,
			 ad_strerror(rc));
}

static void on_renew(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sched_ptask *t = w->data;
	const struct sched_lock *lock = &t->s->pool->lock;

	(void)loop;
	(void)revents;
	if (t->renewing > 0)
		return;                    /* the last renewal is still out */
	renew_send(t, lock->release(t->key, t->token, t->spec->lock_ms), false);
	renew_send(t, lock->acquire(t->key, t->token, t->spec->lock_ms), true);
}

static void on_ran(struct call_msg *reply, void *ctx, void *arg)
{
	char why[160];

	(void)arg;
	finish(ctx, reply->status, worker_reply_error(reply, why, sizeof(why)));
}

static int run_periodic(void *arg)
{
	struct periodic_arg *pa = arg;

	return pa->fn(&pa->run);
}

static void start_run(struct sched_ptask *t)
{
	struct sched *s = t->s;
	uint64_t due = t->run_slot * period_ns(t), now = realtime_ns();
	struct sched_run run = {
		.name = t->spec->name, .slot = t->run_slot, .due_ms = due / NS_PER_MS,
		.data = t->spec->data,
	};
	struct worker_task *wt;
	actor_addr_t to;
	int rc;

	counter_add(&t->ctr->late_sum_ns, now > due ? now - due : 0);
	if (t->spec->on_sched) {
		char why[160] = "";

		rc = t->spec->run(&run);
		if (rc != 0)
			snprintf(why, sizeof(why), "the task itself failed: %s", strerror(-rc));
		finish(t, rc, why);
		return;
	}
	wt = worker_task_new(run_periodic, sizeof(struct periodic_arg), NULL);
	to = call_pick(s->calls, &worker_kind);
	if (wt == NULL || to == ACTOR_ADDR_NONE) {
		worker_task_free(wt);
		finish(t, wt == NULL ? -ENOMEM : -ESRCH, wt == NULL ? "it never ran: no memory" :
		       "it never ran: no worker actors (actors.worker.count 0)");
		return;
	}
	*(struct periodic_arg *)worker_task_arg(wt) = (struct periodic_arg){ t->spec->run, run };
	rc = call_send(s->calls, to, worker_task_call(wt), on_ran, t, NULL);
	if (rc != 0) {
		worker_task_free(wt);
		finish(t, rc, rc == -EAGAIN ? "it never ran: every worker busy and the worker "
		       "mailbox full" : ad_strerror(rc));
		return;
	}
	if (t->locked) {
		double every = t->spec->lock_ms / 3 / 1e3;

		t->renew_w.repeat = every > 0.001 ? every : 0.001;
		ev_timer_again(actor_loop(s->a), &t->renew_w);
	}
}

/* The lock answered `got`: 1 ours, 0 held elsewhere, -errno failed. */
static void locked(struct sched_ptask *t, int got)
{
	struct sched *s = t->s;

	if (got == 1) {
		t->locked = true;
		start_run(t);
		return;
	}
	if (got == 0) {
		counter_add(&t->ctr->elsewhere_total, 1);
	} else {
		counter_add(&t->ctr->failures_total, 1);
		if (lock_warn_due(s))
			log_warn("periodic %s: cannot take the cluster lock for slot %" PRIu64
				 " (%s): the slot is skipped", t->spec->name, t->run_slot,
				 ad_strerror(got));
	}
	t->busy = false;
}

static void on_lock(struct call_msg *reply, void *ctx, void *arg)
{
	struct sched_ptask *t = ctx;

	(void)arg;
	locked(t, reply->status != 0 ? reply->status : t->s->pool->lock.acquired(reply));
}

static void tick(struct sched_ptask *t)
{
	struct sched *s = t->s;
	uint64_t now = realtime_ns(), slot = t->next_slot, cur = now / period_ns(t);
	struct call_msg *m;
	int rc;

	if (cur > slot) {
		/* A whole period late: run the current slot, count the rest. */
		counter_add(&t->ctr->skipped_total, cur - slot);
		slot = cur;
	} else if (cur < slot) {
		/* The wall clock was stepped back (an NTP step, a manual set):
		 * arming for `slot` would wait until the clock reaches it again,
		 * the task silent meanwhile. The schedule follows the clock, and
		 * the slots since the new time run again. */
		log_warn("periodic %s: the wall clock went back %" PRIu64 " ms: the schedule "
			 "follows it (slot %" PRIu64 " instead of %" PRIu64 ")", t->spec->name,
			 (uint64_t)((slot * period_ns(t) - now) / NS_PER_MS), cur, slot);
		slot = cur;
	}
	arm(t, slot + 1, now);
	if (t->busy) {
		counter_add(&t->ctr->skipped_total, 1);
		log_debug("periodic %s: slot %" PRIu64 " skipped: the last run has not ended",
			  t->spec->name, slot);
		return;
	}
	t->busy = true;
	t->run_slot = slot;
	t->seq++;
	if (!t->spec->once_per_cluster) {
		start_run(t);
		return;
	}
	snprintf(t->token, sizeof(t->token), "%s:%" PRIu64 ":%" PRIu64, s->pool->instance, slot,
		 t->seq);
	m = s->pool->lock.acquire(t->key, t->token, t->spec->lock_ms);
	rc = m != NULL ? call_send(s->calls, call_pick(s->calls, s->pool->lock.kind), m, on_lock,
				   t, NULL) : -ENOMEM;
	if (rc != 0) {
		msg_free(m != NULL ? &m->m : NULL);
		locked(t, rc);
	}
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	tick(w->data);
}

void sched_periodic_start(struct sched *s)
{
	const struct sched_pool *p = s->pool;
	uint64_t now = realtime_ns();

	for (unsigned i = 0; i < p->set.ntasks; i++) {
		struct sched_ptask *t = &s->tasks[i];

		t->s = s;
		t->spec = &p->set.tasks[i];
		t->ctr = &s->pool->task_ctr[i];
		snprintf(t->key, sizeof(t->key), "%s:periodic:%s", p->prefix, t->spec->name);
		ev_init(&t->tick_w, on_tick);
		t->tick_w.data = t;
		ev_init(&t->renew_w, on_renew);
		t->renew_w.data = t;
		arm(t, now / period_ns(t) + 1, now);
	}
}

void sched_periodic_stop(struct sched *s)
{
	for (unsigned i = 0; i < s->pool->set.ntasks; i++) {
		ev_timer_stop(actor_loop(s->a), &s->tasks[i].tick_w);
		ev_timer_stop(actor_loop(s->a), &s->tasks[i].renew_w);
	}
}
