/*
 * actor.c - actor threads and the actor system registry.
 *
 * DESIGN
 * Each actor thread owns: its ev_loop, its receiver slot of the mailbox, a
 * control watcher (ev_async: stop or retire), a 100 ms loop-lag timer and
 * the prepare/check pair that measures busy time. The registry (an array
 * of actor slots indexed by address, `max` per pool) is built before start
 * and never changes afterwards, so lookups from any thread need no lock.
 * What changes is each pool's live count (release store, acquire loads)
 * and each slot's state (see actor.h: resizing).
 *
 * A slot's ev_loop and mailbox live as long as the system: a member that
 * starts again on a slot reuses both, so a sender that read a stale
 * `sleeping` flag only ever wakes a loop that still exists.
 *
 * Locks: `lock` guards the start-up handshake; `ctl` serialises resizes
 * with stopping. Both are on the control path only, never on the message
 * path.
 *
 * Owner: `struct actor` fields marked "actor thread" are touched only by
 * that thread; "control" ones by the thread holding `ctl`; the rest is
 * immutable after actor_system_add_pool().
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actor.h"
#include "log.h"
#include "trace.h"
#include "base/clock.h"
#include "base/counter.h"

#include "actor_internal.h"

static _Thread_local struct actor *tl_self;

const char *ad_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return "ok";
	case EAGAIN: return "mailbox full";
	case ESHUTDOWN: return "destination stopping";
	case ENOENT: return "unknown actor";
	case EINVAL: return "invalid argument";
	case ENOMEM: return "out of memory";
	case ETIMEDOUT: return "deadline exceeded";
	case ECONNREFUSED: return "connection refused";
	case EBADMSG: return "malformed message";
	case ENOLINK: return "connection lost after a write was sent: outcome unknown";
	case EEXIST: return "already exists (a duplicate key)";
	default: return strerror(err < 0 ? -err : err);
	}
}

struct actor_system *actor_system_create(void)
{
	struct actor_system *sys = calloc(1, sizeof(*sys));

	if (sys == NULL)
		return NULL;
	pthread_mutex_init(&sys->lock, NULL);
	pthread_cond_init(&sys->cond, NULL);
	pthread_mutex_init(&sys->ctl, NULL);
	return sys;
}

static bool valid_capacity(uint32_t c)
{
	return c >= 4 && (c & (c - 1)) == 0;
}

actor_addr_t actor_system_add_pool(struct actor_system *sys,
				   const struct actor_pool_spec *spec,
				   char *err, size_t errlen)
{
	struct actor_pool *pool;
	struct actor **grown;
	char mbname[48];
	unsigned max = spec->max > spec->count ? spec->max : spec->count;

	if (sys->started || sys->npools == MAX_POOLS || spec->kind == NULL ||
	    spec->kind->name == NULL ||
	    spec->ops == NULL || spec->ops->message == NULL || spec->count == 0 ||
	    max > 1024 || !valid_capacity(spec->mbox_capacity) ||
	    (spec->shared_mailbox && max > MBOX_MAX_CONSUMERS)) {
		snprintf(err, errlen, "actor pool %s: invalid specification",
			 spec->kind != NULL && spec->kind->name != NULL ? spec->kind->name : "(null)");
		return ACTOR_ADDR_NONE;
	}
	if (actor_system_find_kind(sys, spec->kind, NULL) != ACTOR_ADDR_NONE) {
		snprintf(err, errlen, "actor pool %s: kind already exists", spec->kind->name);
		return ACTOR_ADDR_NONE;
	}
	pool = calloc(1, sizeof(*pool));
	grown = realloc(sys->actors, sizeof(*grown) * (sys->nactors + max));
	if (pool == NULL || grown == NULL) {
		free(pool);
		if (grown != NULL)
			sys->actors = grown;
		snprintf(err, errlen, "actor pool %s: out of memory", spec->kind->name);
		return ACTOR_ADDR_NONE;
	}
	sys->actors = grown;
	snprintf(pool->kind, sizeof(pool->kind), "%s", spec->kind->name);
	pool->spec = *spec;
	pool->max = max;
	pool->resizable = spec->max > 0;
	pool->first = sys->nactors;
	atomic_init(&pool->live, spec->count);
	if (spec->shared_mailbox) {
		pool->shared = mbox_create_pool(pool->kind, spec->mbox_capacity, max);
		if (pool->shared == NULL) {
			snprintf(err, errlen, "actor pool %s: cannot create mailbox", pool->kind);
			free(pool);
			return ACTOR_ADDR_NONE;
		}
	}
	for (unsigned i = 0; i < max; i++) {
		struct actor *a = calloc(1, sizeof(*a));

		if (a == NULL) {
			snprintf(err, errlen, "actor pool %s: out of memory", pool->kind);
			return ACTOR_ADDR_NONE; /* freed by actor_system_destroy */
		}
		snprintf(a->name, sizeof(a->name), "%s-%u", pool->kind, i);
		a->addr = sys->nactors;
		a->index = i;
		a->pool = pool;
		a->sys = sys;
		if (pool->shared != NULL) {
			a->mb = pool->shared;
			a->mb_idx = i;
		} else {
			snprintf(mbname, sizeof(mbname), "%s", a->name);
			a->mb = mbox_create(mbname, spec->mbox_capacity);
			if (a->mb == NULL) {
				free(a);
				snprintf(err, errlen, "actor pool %s: cannot create mailbox", pool->kind);
				return ACTOR_ADDR_NONE;
			}
			/* A reserved slot refuses work until a member starts on
			 * it: actor_send redirects to a live member. */
			if (i >= spec->count)
				mbox_close(a->mb);
		}
		sys->actors[sys->nactors++] = a;
	}
	sys->pools[sys->npools++] = pool;
	return pool->first;
}

static void on_message(void *ctx, struct msg *m)
{
	struct actor *a = ctx;

	/* The message's trace is current while the actor handles it: its log
	 * lines and the messages it makes carry it (trace.h). */
	trace_enter(&m->trace);
	a->pool->spec.ops->message(a, m);
	trace_leave();
	counter_add(&a->messages_total, 1);
}

static void on_check(struct ev_loop *loop, ev_check *w, int revents)
{
	struct actor *a = w->data;

	(void)loop;
	(void)revents;
	a->awake_since_ns = clock_now_ns();
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct actor *a = w->data;
	uint64_t now = clock_now_ns();

	(void)revents;
	counter_add(&a->busy_ns, now - a->awake_since_ns);
	a->awake_since_ns = now;
	atomic_store_explicit(&a->loop_iterations, ev_iteration(loop), memory_order_relaxed);
}

static void arm_lag_timer(struct actor *a)
{
	ev_now_update(a->loop);
	a->lag_expected_ns = clock_now_ns() + (uint64_t)ACTOR_LAG_PERIOD_MS * 1000000u;
	ev_timer_set(&a->lag_w, ACTOR_LAG_PERIOD_MS / 1000.0, 0.);
	ev_timer_start(a->loop, &a->lag_w);
}

/* How late the periodic timer fires is how long this loop was unable to
 * run anything: the number that proves an actor never stalls. */
static void on_lag_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct actor *a = w->data;
	uint64_t now = clock_now_ns();
	uint64_t lag = now > a->lag_expected_ns ? now - a->lag_expected_ns : 0;

	(void)loop;
	(void)revents;
	counter_add(&a->lag_hist[mbox_hist_bucket(lag)], 1);
	counter_add(&a->lag_sum_ns, lag);
	if (lag > atomic_load_explicit(&a->lag_max_ns, memory_order_relaxed))
		atomic_store_explicit(&a->lag_max_ns, lag, memory_order_relaxed);
	arm_lag_timer(a);
}

/* The mailbox of `to`, with m->from stamped when sent from an actor
 * thread; NULL for an unknown address. */
static struct mbox *dest_mbox(struct actor_system *sys, actor_addr_t to, struct msg *m)
{
	if (to >= sys->nactors)
		return NULL;
	if (tl_self != NULL)
		m->from = tl_self->addr;
	return sys->actors[to]->mb;
}

/* actor_send for a reply: a plain mailbox takes it even when full
 * (mbox_send_reply); only a pool mailbox can still refuse it. Also
 * accepted by a mailbox closed only to new work (its actor is retiring
 * and waits for exactly these). */
static int send_reply(struct actor_system *sys, actor_addr_t to, struct msg *m)
{
	struct mbox *mb = dest_mbox(sys, to, m);

	return mb != NULL ? mbox_send_reply(mb, m) : -ENOENT;
}

/* Resend queued replies in order; stop at the first that is still refused
 * for being full. */
static void flush_replies(struct actor *a, bool last_chance)
{
	struct msg *m;

	while ((m = a->retry_head) != NULL) {
		struct msg *next = (struct msg *)(void *)m->link.next;
		int rc;

		m->link.next = NULL;
		rc = send_reply(a->sys, m->reply_to, m);
		if (rc == -EAGAIN && !last_chance) {
			m->link.next = (ck_stack_entry_t *)(void *)next;
			return;
		}
		if (rc != 0)
			msg_free(m);
		a->retry_head = next;
	}
	a->retry_tail = NULL;
	ev_timer_stop(a->loop, &a->retry_w);
}

static void on_retry_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	flush_replies(w->data, false);
}

int actor_reply(struct msg *m)
{
	struct actor *a = tl_self;
	int rc;

	if (a != NULL && a->retry_head != NULL) {
		rc = -EAGAIN;  /* keep the order behind earlier retries */
	} else {
		rc = a != NULL ? send_reply(a->sys, m->reply_to, m) : -ENOENT;
		if (rc == 0)
			return 0;
	}
	if (rc != -EAGAIN || a == NULL) {
		msg_free(m);
		return rc == -EAGAIN ? -ESHUTDOWN : rc;
	}
	m->link.next = NULL;
	if (a->retry_tail != NULL)
		a->retry_tail->link.next = &m->link;
	else
		a->retry_head = m;
	a->retry_tail = m;
	counter_add(&a->replies_retried_total, 1);
	if (!ev_is_active(&a->retry_w))
		ev_timer_again(a->loop, &a->retry_w);
	return 1;
}

/* Leave the loop for good: deliver what is still queued (unless the member
 * already left its shared mailbox), run `stop`, and stop every watcher. */
static void finish(struct actor *a)
{
	struct ev_loop *loop = a->loop;

	if (!a->left_pool) {
		mbox_close(a->mb);
		mbox_drain(a->mb, a->mb_idx);
	}
	if (a->pool->spec.ops->stop != NULL)
		a->pool->spec.ops->stop(a);
	flush_replies(a, true);
	mbox_detach(a->mb, a->mb_idx);
	ev_timer_stop(loop, &a->retire_w);
	/* Give back the references actor_main took away (lag timer, prepare,
	 * check): the loop lives on for the slot's next member. */
	ev_ref(loop);
	ev_ref(loop);
	ev_ref(loop);
	ev_timer_stop(loop, &a->lag_w);
	ev_prepare_stop(loop, &a->prepare_w);
	ev_check_stop(loop, &a->check_w);
	ev_async_stop(loop, &a->stop_w);
	ev_break(loop, EVBREAK_ALL);
}

/* A retiring member is done once nothing can reach it any more and it
 * holds nothing: its mailbox is empty with no sender holding a slot (after
 * mbox_close_work only replies can come, and `idle` says none is owed),
 * and no reply of its own waits for a full mailbox. */
static void on_retire_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct actor *a = w->data;
	const struct actor_ops *ops = a->pool->spec.ops;

	(void)loop;
	(void)revents;
	if (!a->left_pool && !mbox_idle(a->mb))
		return;
	if (a->retry_head != NULL || (ops->idle != NULL && !ops->idle(a)))
		return;
	finish(a);
}

static void begin_retire(struct actor *a)
{
	const struct actor_ops *ops = a->pool->spec.ops;

	if (a->retiring)
		return;
	a->retiring = true;
	if (ops->retire != NULL)
		ops->retire(a);
	if (a->pool->shared != NULL) {
		/* Between messages a pool member holds none: leave the pool
		 * mailbox; the other members take what waits there. */
		mbox_detach(a->mb, a->mb_idx);
		a->left_pool = true;
	} else {
		mbox_close_work(a->mb);
	}
	ev_timer_set(&a->retire_w, 0., ACTOR_RETIRE_POLL_MS / 1000.0);
	ev_timer_start(a->loop, &a->retire_w);
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
	struct actor *a = w->data;

	(void)loop;
	(void)revents;
	switch (atomic_load_explicit(&a->cmd, memory_order_acquire)) {
	case CMD_RETIRE:
		begin_retire(a);
		break;
	case CMD_STOP:
		finish(a);
		break;
	default:
		break;
	}
}

static void report_start(struct actor *a, int rc)
{
	pthread_mutex_lock(&a->sys->lock);
	a->start_rc = rc;
	a->start_done = true;
	pthread_cond_broadcast(&a->sys->cond);
	pthread_mutex_unlock(&a->sys->lock);
}

/* The thread takes the actor's name ("net-0", "worker-12"), so that top -H,
 * ps -L, perf and gdb tell the actors apart. Linux keeps 15 bytes of it;
 * a failure only loses the label. */
static void name_thread(const struct actor *a)
{
	char name[16];

	snprintf(name, sizeof(name), "%.15s", a->name);
	(void)pthread_setname_np(pthread_self(), name);
}

static void *actor_main(void *arg)
{
	struct actor *a = arg;
	const struct actor_pool_spec *spec = &a->pool->spec;
	int rc;

	tl_self = a;
	name_thread(a);
	a->awake_since_ns = clock_now_ns();
	a->retiring = a->left_pool = false;
	ev_async_init(&a->stop_w, on_stop);
	ev_init(&a->retire_w, on_retire_poll);
	a->retire_w.data = a;
	ev_timer_init(&a->lag_w, on_lag_timer, 0., 0.);
	ev_prepare_init(&a->prepare_w, on_prepare);
	ev_check_init(&a->check_w, on_check);
	ev_init(&a->retry_w, on_retry_timer);
	a->retry_w.repeat = ACTOR_REPLY_RETRY_MS / 1000.0;
	a->stop_w.data = a->lag_w.data = a->prepare_w.data = a->check_w.data = a;
	a->retry_w.data = a;
	ev_async_start(a->loop, &a->stop_w);
	ev_prepare_start(a->loop, &a->prepare_w);
	ev_check_start(a->loop, &a->check_w);
	ev_unref(a->loop); /* prepare and check do not keep the loop alive */
	ev_unref(a->loop);
	arm_lag_timer(a);
	ev_unref(a->loop);
	rc = mbox_attach(a->mb, a->mb_idx, a->loop, on_message, a, spec->budget);
	if (rc == 0 && spec->ops->start != NULL)
		rc = spec->ops->start(a);
	report_start(a, rc);
	if (rc == 0)
		ev_run(a->loop, 0);
	else
		mbox_detach(a->mb, a->mb_idx);
	mbox_set_batching(false); /* publishes anything still pending */
	tl_self = NULL;
	atomic_store_explicit(&a->slot_state, SLOT_EXITED, memory_order_release);
	return NULL;
}

struct actor *actor_slot(const struct actor_system *sys, const struct actor_pool *pool,
			 unsigned i)
{
	return sys->actors[pool->first + i];
}

void actor_signal_cmd(struct actor *a, enum actor_cmd cmd)
{
	atomic_store_explicit(&a->cmd, cmd, memory_order_release);
	ev_async_send(a->loop, &a->stop_w);
}

/* Control: join a slot whose thread is gone or going. */
void actor_join_slot(struct actor *a)
{
	pthread_join(a->thread, NULL);
	a->has_thread = false;
	atomic_store_explicit(&a->slot_state, SLOT_EMPTY, memory_order_release);
}

/* Control: join `a` if its thread ends by `deadline_ns` (clock_now_ns; 0:
 * wait as long as it takes). False: still running then, left as it is. */
static bool join_slot_by(struct actor *a, uint64_t deadline_ns)
{
	struct timespec ts;
	uint64_t now = clock_now_ns(), left, at;

	if (deadline_ns == 0) {
		actor_join_slot(a);
		return true;
	}
	/* pthread_timedjoin_np takes CLOCK_REALTIME: move the deadline over. */
	left = deadline_ns > now ? deadline_ns - now : 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	at = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + left;
	ts.tv_sec = (time_t)(at / 1000000000u);
	ts.tv_nsec = (long)(at % 1000000000u);
	if (pthread_timedjoin_np(a->thread, NULL, &ts) != 0)
		return false;
	a->has_thread = false;
	atomic_store_explicit(&a->slot_state, SLOT_EMPTY, memory_order_release);
	return true;
}

/* Returns the threads still running at `deadline_ns` (0: none; a
 * deadline of 0 waits for all). */
static unsigned stop_pool(struct actor_system *sys, struct actor_pool *pool,
			  uint64_t deadline_ns)
{
	unsigned left = 0;

	if (pool->stopped)
		return 0;
	for (unsigned i = 0; i < pool->max; i++) {
		struct actor *a = actor_slot(sys, pool, i);

		/* Closed here, not only when the actor gets to its stop: an
		 * actor busy in a batch of messages (a worker in a long task)
		 * sees at once that what is still queued will not be wanted
		 * (mbox_closed). */
		if (a->has_thread) {
			mbox_close(a->mb);
			actor_signal_cmd(a, CMD_STOP);
		}
	}
	for (unsigned i = 0; i < pool->max; i++) {
		struct actor *a = actor_slot(sys, pool, i);

		if (a->has_thread && !join_slot_by(a, deadline_ns)) {
			log_warn("%s: still busy (inside a task or a driver call) at the stop "
				 "deadline: not waited for", a->name);
			left++;
		}
	}
	pool->stopped = true;
	return left;
}

/* Control: start the thread of slot `a` and wait until its `start` ran. */
int actor_start_slot(struct actor_system *sys, struct actor *a, char *err, size_t errlen)
{
	int rc;

	if (a->loop == NULL) {
		/* Created here, used only by the actor thread from now on. */
		a->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
		if (a->loop == NULL) {
			snprintf(err, errlen, "%s: cannot create event loop", a->name);
			return -ENOMEM;
		}
	}
	a->start_done = false;
	a->start_rc = 0;
	atomic_store_explicit(&a->cmd, CMD_NONE, memory_order_relaxed);
	atomic_store_explicit(&a->slot_state, SLOT_RUNNING, memory_order_release);
	rc = -pthread_create(&a->thread, NULL, actor_main, a);
	if (rc != 0) {
		atomic_store_explicit(&a->slot_state, SLOT_EMPTY, memory_order_release);
		snprintf(err, errlen, "%s: cannot start thread: %s", a->name, ad_strerror(rc));
		return rc;
	}
	pthread_mutex_lock(&sys->lock);
	while (!a->start_done)
		pthread_cond_wait(&sys->cond, &sys->lock);
	rc = a->start_rc;
	pthread_mutex_unlock(&sys->lock);
	if (rc != 0) {
		pthread_join(a->thread, NULL);
		atomic_store_explicit(&a->slot_state, SLOT_EMPTY, memory_order_release);
		snprintf(err, errlen, "%s: start failed: %s", a->name, ad_strerror(rc));
		return rc;
	}
	a->has_thread = true;
	return 0;
}

int actor_system_start(struct actor_system *sys, char *err, size_t errlen)
{
	int rc = 0;

	if (sys->started) {
		snprintf(err, errlen, "actor system already started");
		return -EINVAL;
	}
	sys->started = true;
	pthread_mutex_lock(&sys->ctl);
	for (unsigned p = 0; p < sys->npools && rc == 0; p++) {
		struct actor_pool *pool = sys->pools[p];

		for (unsigned i = 0; i < pool->spec.count && rc == 0; i++)
			rc = actor_start_slot(sys, actor_slot(sys, pool, i), err, errlen);
	}
	pthread_mutex_unlock(&sys->ctl);
	if (rc != 0)
		actor_system_stop(sys);
	return rc;
}

struct actor_pool *actor_pool_of(const struct actor_system *sys, const struct actor_kind *kind)
{
	for (unsigned i = 0; i < sys->npools; i++)
		if (sys->pools[i]->spec.kind == kind)
			return sys->pools[i];
	return NULL;
}

const struct actor_kind *actor_system_kind_named(const struct actor_system *sys,
						 const char *name)
{
	for (unsigned i = 0; i < sys->npools; i++)
		if (strcmp(sys->pools[i]->kind, name) == 0)
			return sys->pools[i]->spec.kind;
	return NULL;
}

unsigned actor_system_stop_kind_by(struct actor_system *sys, const struct actor_kind *kind,
				   uint64_t deadline_ns)
{
	unsigned left = 0;

	pthread_mutex_lock(&sys->ctl);
	for (unsigned i = 0; i < sys->npools; i++)
		if (sys->pools[i]->spec.kind == kind)
			left += stop_pool(sys, sys->pools[i], deadline_ns);
	pthread_mutex_unlock(&sys->ctl);
	return left;
}

void actor_system_stop_kind(struct actor_system *sys, const struct actor_kind *kind)
{
	actor_system_stop_kind_by(sys, kind, 0);
}

void actor_system_stop(struct actor_system *sys)
{
	pthread_mutex_lock(&sys->ctl);
	for (unsigned i = 0; i < sys->npools; i++)
		stop_pool(sys, sys->pools[i], 0);
	pthread_mutex_unlock(&sys->ctl);
}

void actor_system_destroy(struct actor_system *sys)
{
	if (sys == NULL)
		return;
	actor_system_stop(sys);
	for (unsigned i = 0; i < sys->nactors; i++) {
		struct actor *a = sys->actors[i];

		if (a->pool->shared == NULL)
			mbox_destroy(a->mb);
		if (a->loop != NULL)
			ev_loop_destroy(a->loop);
		free(a);
	}
	for (unsigned i = 0; i < sys->npools; i++) {
		struct actor_pool *pool = sys->pools[i];

		if (pool->spec.dispose != NULL)
			pool->spec.dispose(pool->spec.user);
		mbox_destroy(pool->shared);
		free(pool);
	}
	free(sys->actors);
	pthread_mutex_destroy(&sys->ctl);
	pthread_mutex_destroy(&sys->lock);
	pthread_cond_destroy(&sys->cond);
	free(sys);
}

int actor_send(struct actor_system *sys, actor_addr_t to, struct msg *m)
{
	struct mbox *mb = dest_mbox(sys, to, m);
	struct actor *a;
	unsigned live;
	int rc;

	if (mb == NULL)
		return -ENOENT;
	rc = mbox_send(mb, m);
	if (rc != -ESHUTDOWN)
		return rc;
	/* Work for a member that left its pool (the sender picked it before
	 * the smaller count was published): any live member does it. */
	a = sys->actors[to];
	live = atomic_load_explicit(&a->pool->live, memory_order_acquire);
	if (a->index < live || live == 0)
		return rc;
	return mbox_send(sys->actors[a->pool->first + a->index % live]->mb, m);
}

actor_addr_t actor_system_find_kind(const struct actor_system *sys,
				    const struct actor_kind *kind, unsigned *count)
{
	const struct actor_pool *pool = actor_pool_of(sys, kind);

	if (count != NULL)
		*count = pool != NULL ? actor_pool_live(pool) : 0;
	return pool != NULL ? pool->first : ACTOR_ADDR_NONE;
}

struct actor_pool *actor_system_pool(const struct actor_system *sys,
				     const struct actor_kind *kind)
{
	return actor_pool_of(sys, kind);
}

struct actor *actor_self(void) { return tl_self; }
