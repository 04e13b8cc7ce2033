/*
 * mbox_rx.c - the receiving side: wake-up watchers and batched delivery.
 *
 * DESIGN
 * Each receiver owns four libev watchers on its loop:
 *  - ev_async `wake`: signalled by a sender that saw `sleeping` raised;
 *  - ev_prepare: runs before the loop may block. It first flushes this
 *    thread's own deferred wake-ups (we are a sender too), then raises
 *    `sleeping`, and re-checks the mailbox (Dekker with the sender's
 *    push + fence + read of `sleeping`): if a message slipped in, it lowers
 *    the flag and keeps the loop from blocking instead of sleeping on it;
 *  - ev_check: lowers `sleeping` as soon as the loop is awake again;
 *  - ev_idle: active while messages remain after a batch hit its budget,
 *    so the loop polls its other watchers without blocking and comes back.
 * Under load the receiver never sleeps, `sleeping` stays 0 and senders make
 * no system call at all.
 *
 * Thread: every function here runs on the receiver's thread.
 */
#include <errno.h>
#include <sched.h>

#include "mbox_internal.h"

static void count_wait(struct mbox_rx *rx, const struct msg *m, uint64_t now)
{
	uint64_t wait = now > m->enqueued_ns ? now - m->enqueued_ns : 0;
	unsigned b = mbox_hist_bucket(wait);

	/* Single writer: plain load + relaxed store is enough and avoids a
	 * locked instruction per message. */
	atomic_store_explicit(&rx->wait_hist[b],
			      atomic_load_explicit(&rx->wait_hist[b], memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&rx->wait_sum_ns,
			      atomic_load_explicit(&rx->wait_sum_ns, memory_order_relaxed) + wait,
			      memory_order_relaxed);
}

static void count_dequeued(struct mbox_rx *rx, unsigned n)
{
	atomic_store_explicit(&rx->dequeued_total,
			      atomic_load_explicit(&rx->dequeued_total, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Deliver up to `budget` messages. The clock is read once per 32 messages:
 * precise enough for log2 buckets, and cheap at millions per second. Pool
 * members (the storage actors, which block inside messages) read it for
 * every message, or the messages behind a slow one would show too little
 * wait. */
static unsigned deliver(struct mbox_rx *rx, unsigned budget)
{
	struct mbox *mb = rx->mb;
	uint64_t now = 0;
	unsigned n = 0, moved;
	struct msg *m;

	while (n < budget && (m = mbox_take_one(mb, &moved)) != NULL) {
		if (moved > 1)
			mbox_wake_sleepers(mb, moved - 1);
		if ((n & 31) == 0 || mb->ring_buf != NULL) {
			now = mbox_now_ns();
			if (n == 0)
				atomic_store_explicit(&rx->oldest_age_ns,
						      now > m->enqueued_ns ? now - m->enqueued_ns : 0,
						      memory_order_relaxed);
		}
		count_wait(rx, m, now);
		n++;
		if (mb->ring_buf != NULL)
			count_dequeued(rx, 1); /* pool members share the batch */
		rx->fn(rx->ctx, m);
	}
	if (mb->ring_buf == NULL && n > 0) {
		count_dequeued(rx, n);
		/* Between batches the receiver holds no slot: depth is exact. */
		mbox_release_slots(mb);
	}
	return n;
}

static void run_batch(struct mbox_rx *rx)
{
	/* Awake now, whatever on_check has seen: libev runs the async
	 * watcher that woke us BEFORE the check watchers of the same
	 * iteration (the wake-up pipe has the top priority and feeds the
	 * async last, and pending watchers run last-in first-out). A stale 1
	 * here would make senders to a pool mailbox wake this member while it
	 * is busy in a message, instead of an idle one. */
	atomic_store_explicit(&rx->sleeping, 0, memory_order_relaxed);
	deliver(rx, rx->budget);
	/* What this batch sent leaves now: one CAS per destination and one
	 * fence for all of them. */
	mbox_flush();
	if (mbox_has_work(rx->mb))
		ev_idle_start(rx->loop, &rx->idle);
	else
		ev_idle_stop(rx->loop, &rx->idle);
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct mbox_rx *rx = w->data;

	(void)loop;
	(void)revents;
	atomic_store_explicit(&rx->wakeups_total,
			      atomic_load_explicit(&rx->wakeups_total, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	run_batch(rx);
}

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)loop;
	(void)revents;
	run_batch(w->data);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct mbox_rx *rx = w->data;

	(void)revents;
	mbox_flush();
	if (ev_is_active(&rx->idle))
		return; /* the loop will not block: no need to be woken */
	/* seq_cst store, then the re-check: pairs with the sender's push,
	 * fence, load of `sleeping`. One of the two sides sees the other. */
	atomic_store(&rx->sleeping, 1);
	if (mbox_has_work(rx->mb)) {
		atomic_store_explicit(&rx->sleeping, 0, memory_order_relaxed);
		ev_idle_start(loop, &rx->idle);
	}
}

static void on_check(struct ev_loop *loop, ev_check *w, int revents)
{
	struct mbox_rx *rx = w->data;

	(void)loop;
	(void)revents;
	/* A stale 1 seen by a sender only costs one spare wake-up. */
	atomic_store_explicit(&rx->sleeping, 0, memory_order_relaxed);
}

int mbox_attach(struct mbox *mb, unsigned idx, struct ev_loop *loop,
		mbox_recv_fn fn, void *ctx, unsigned budget)
{
	struct mbox_rx *rx;

	if (mb == NULL || idx >= mb->consumers || loop == NULL || fn == NULL)
		return -EINVAL;
	rx = &mb->rx[idx];
	if (rx->attached)
		return -EINVAL;
	rx->fn = fn;
	rx->ctx = ctx;
	rx->budget = budget > 0 ? budget : 64;
	/* A member joining again on the same loop (a resized pool's slot
	 * keeps its loop) keeps loop and watchers as detach left them
	 * (stopped): a sender that saw the previous member's stale
	 * `sleeping` may be reading them right now, and ev_async_send on a
	 * stopped watcher is harmless. */
	if (rx->loop != loop) {
		rx->loop = loop;
		ev_async_init(&rx->wake, on_wake);
		ev_prepare_init(&rx->prepare, on_prepare);
		ev_check_init(&rx->check, on_check);
		ev_idle_init(&rx->idle, on_idle);
		rx->wake.data = rx->prepare.data = rx->check.data = rx->idle.data = rx;
	}
	ev_async_start(loop, &rx->wake);
	ev_prepare_start(loop, &rx->prepare);
	ev_check_start(loop, &rx->check);
	/* Internal watchers must not keep the loop alive by themselves. */
	ev_unref(loop);
	ev_unref(loop);
	ev_unref(loop);
	rx->attached = true;
	atomic_fetch_add_explicit(&mb->attached, 1, memory_order_relaxed);
	mbox_set_batching(true);
	/* Messages may have arrived before we attached. */
	if (mbox_has_work(mb))
		ev_idle_start(loop, &rx->idle);
	return 0;
}

void mbox_detach(struct mbox *mb, unsigned idx)
{
	struct mbox_rx *rx;

	if (mb == NULL || idx >= mb->consumers || !mb->rx[idx].attached)
		return;
	rx = &mb->rx[idx];
	ev_ref(rx->loop);
	ev_ref(rx->loop);
	ev_ref(rx->loop);
	ev_async_stop(rx->loop, &rx->wake);
	ev_prepare_stop(rx->loop, &rx->prepare);
	ev_check_stop(rx->loop, &rx->check);
	ev_idle_stop(rx->loop, &rx->idle);
	atomic_store(&rx->sleeping, 0);
	rx->attached = false;
	atomic_fetch_sub_explicit(&mb->attached, 1, memory_order_relaxed);
	mbox_flush();
	/* A pool member leaving while messages wait: the fence orders our
	 * `sleeping` = 0 before the look, and a member that sleeps gets them. */
	atomic_thread_fence(memory_order_seq_cst);
	if (mb->ring_buf != NULL && mbox_has_work(mb))
		mbox_wake_sleepers(mb, 1);
}

bool mbox_idle(struct mbox *mb)
{
	return mbox_senders_quiet(mb) && !mbox_has_work(mb);
}

size_t mbox_drain(struct mbox *mb, unsigned idx)
{
	struct mbox_rx *rx = &mb->rx[idx];
	size_t total = 0;

	for (;;) {
		unsigned n = deliver(rx, 1024);

		total += n;
		mbox_flush();
		if (n > 0)
			continue;
		/* A sender that passed the closed check before the close is
		 * still pushing: let it finish. */
		if (mbox_senders_quiet(mb))
			break;
		sched_yield();
	}
	return total;
}
