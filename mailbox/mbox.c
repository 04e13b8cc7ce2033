/*
 * mbox.c - mailbox creation, the send path, closing and statistics.
 *
 * DESIGN
 * See mbox.h. The unbatched send path: reserve a slot in `depth` (one
 * atomic add), check closed / full, stamp the time, CAS-push onto the stack,
 * check for a sleeping receiver. Actor threads batch instead
 * (mbox_batch.c). No sender ever waits for another: a CAS that loses is
 * retried by its own sender, and a sender preempted anywhere holds nothing
 * that others need. Stack head, depth and counters share one cache line.
 *
 * Thread: mbox_send, mbox_close, mbox_read_stats from any thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mbox_internal.h"

uint64_t mbox_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *zalloc_lines(size_t size)
{
	size_t rounded = (size + MBOX_LINE - 1) / MBOX_LINE * MBOX_LINE;
	void *p = aligned_alloc(MBOX_LINE, rounded);

	if (p != NULL)
		memset(p, 0, rounded);
	return p;
}

static struct mbox *mbox_alloc(const char *name, uint32_t capacity, unsigned consumers)
{
	struct mbox *mb;

	if (capacity < 4 || (capacity & (capacity - 1)) != 0 || capacity > (1u << 30) ||
	    consumers == 0 || consumers > MBOX_MAX_CONSUMERS) {
		errno = EINVAL;
		return NULL;
	}
	mb = zalloc_lines(sizeof(*mb));
	if (mb == NULL)
		return NULL;
	ck_stack_init(&mb->stack);
	mb->capacity = capacity;
	mb->credit = mbox_credit_for(capacity);
	mb->consumers = consumers;
	snprintf(mb->name, sizeof(mb->name), "%s", name != NULL ? name : "");
	mb->rx = zalloc_lines(sizeof(struct mbox_rx) * consumers);
	if (mb->rx == NULL) {
		free(mb);
		return NULL;
	}
	for (unsigned i = 0; i < consumers; i++) {
		mb->rx[i].mb = mb;
		mb->rx[i].idx = i;
	}
	return mb;
}

struct mbox *mbox_create(const char *name, uint32_t capacity)
{
	return mbox_alloc(name, capacity, 1);
}

struct mbox *mbox_create_pool(const char *name, uint32_t capacity, unsigned consumers)
{
	struct mbox *mb = mbox_alloc(name, capacity, consumers);

	if (mb == NULL)
		return NULL;
	/* ck_ring holds size - 1 entries: twice the capacity always fits
	 * everything the depth bound lets in. */
	mb->ring_buf = calloc((size_t)capacity * 2, sizeof(ck_ring_buffer_t));
	if (mb->ring_buf == NULL) {
		mbox_destroy(mb);
		return NULL;
	}
	ck_ring_init(&mb->ring, capacity * 2);
	return mb;
}

void mbox_destroy(struct mbox *mb)
{
	struct msg *m;
	unsigned moved;

	if (mb == NULL)
		return;
	mbox_batch_forget(mb);
	while ((m = mbox_take_one(mb, &moved)) != NULL)
		msg_free(m);
	free(mb->ring_buf);
	free(mb->rx);
	free(mb);
}

/* Record a new maximum depth. Senders only write when they beat the
 * current value, so the line stays shared (read-mostly) under load. */
void mbox_note_high_water(struct mbox *mb, uint64_t d)
{
	uint64_t hw = atomic_load_explicit(&mb->high_water, memory_order_relaxed);

	while (d > hw && !atomic_compare_exchange_weak_explicit(
				 &mb->high_water, &hw, d, memory_order_relaxed,
				 memory_order_relaxed))
		;
}

void mbox_push_chain(struct mbox *mb, struct msg *newest, struct msg *oldest)
{
	ck_stack_entry_t *head;

	/* A CAS loop on ck's stack head: a sender that loses the race relinks
	 * and retries on its own; a preempted one blocks nobody. The CAS
	 * publishes the chain (and its links) to the receiver's exchange. */
	MBOX_CK_BEGIN();
	head = ck_pr_load_ptr(&mb->stack.head);
	do {
		oldest->link.next = head;
		ck_pr_fence_store();
	} while (!ck_pr_cas_ptr_value(&mb->stack.head, head, &newest->link, &head));
	MBOX_CK_END();
}

int mbox_reserve_over(struct mbox *mb)
{
	/* seq_cst, as every reservation (see send_one). */
	unsigned d = atomic_fetch_add(&mb->depth, 1);

	if (atomic_load(&mb->closed) & MBOX_CLOSED_ALL) {
		atomic_fetch_sub_explicit(&mb->depth, 1, memory_order_relaxed);
		return -ESHUTDOWN;
	}
	mbox_note_high_water(mb, (uint64_t)d + 1);
	atomic_fetch_add_explicit(&mb->over_capacity_total, 1, memory_order_relaxed);
	return 0;
}

/* Replies past capacity only into a plain mailbox: a pool's ring holds
 * twice the capacity and no more. */
static bool takes_over(const struct mbox *mb)
{
	return mb->ring_buf == NULL;
}

/* `refuse`: the MBOX_CLOSED_* bits that refuse this send; `over`: it may
 * go past capacity (a reply into a plain mailbox). */
static int send_one(struct mbox *mb, struct msg *m, unsigned refuse, bool over)
{
	if (mbox_batching())
		return mbox_batch_send(mb, m, refuse, over);
	/* seq_cst: the reservation must be visible before we read `closed`,
	 * pairing with mbox_close + mbox_senders_quiet (store closed, then
	 * read depth), so a receiver draining after close waits for this slot. */
	unsigned d = atomic_fetch_add(&mb->depth, 1);

	if (atomic_load(&mb->closed) & refuse) {
		atomic_fetch_sub_explicit(&mb->depth, 1, memory_order_relaxed);
		return -ESHUTDOWN;
	}
	if (d >= mb->capacity) {
		if (!over) {
			atomic_fetch_sub_explicit(&mb->depth, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&mb->rejected_total, 1, memory_order_relaxed);
			return -EAGAIN;
		}
		atomic_fetch_add_explicit(&mb->over_capacity_total, 1, memory_order_relaxed);
	}
	mbox_note_high_water(mb, (uint64_t)d + 1);
	m->enqueued_ns = mbox_now_ns();
	mbox_tsan_release(m);
	mbox_push_chain(mb, m, m);
	atomic_fetch_add_explicit(&mb->enqueued_total, 1, memory_order_relaxed);
	/* Not batching: check for a sleeping receiver right away. */
	atomic_thread_fence(memory_order_seq_cst);
	mbox_wake_sleepers(mb, 1);
	return 0;
}

int mbox_send(struct mbox *mb, struct msg *m)
{
	return send_one(mb, m, MBOX_CLOSED_ALL | MBOX_CLOSED_WORK, false);
}

int mbox_send_reply(struct mbox *mb, struct msg *m)
{
	return send_one(mb, m, MBOX_CLOSED_ALL, takes_over(mb));
}

void mbox_close(struct mbox *mb)
{
	atomic_fetch_or(&mb->closed, MBOX_CLOSED_ALL);
}

void mbox_close_work(struct mbox *mb)
{
	atomic_fetch_or(&mb->closed, MBOX_CLOSED_WORK);
}

void mbox_reopen(struct mbox *mb)
{
	atomic_store(&mb->closed, 0);
}

bool mbox_closed(const struct mbox *cmb)
{
	struct mbox *mb = (struct mbox *)cmb; /* an atomic read */

	return (atomic_load(&mb->closed) & MBOX_CLOSED_ALL) != 0;
}

void mbox_read_stats(const struct mbox *cmb, struct mbox_stats *out)
{
	struct mbox *mb = (struct mbox *)cmb; /* atomics are read-only here */

	memset(out, 0, sizeof(*out));
	out->capacity = mb->capacity;
	/* A pool counts the members attached now (pools grow and shrink). */
	out->shared = mb->ring_buf != NULL;
	out->consumers = mb->ring_buf != NULL ?
		atomic_load_explicit(&mb->attached, memory_order_relaxed) : 1;
	/* Dequeued first, then enqueued: depth = enq - deq never goes
	 * negative while both move. */
	for (unsigned i = 0; i < mb->consumers; i++) {
		const struct mbox_rx *rx = &mb->rx[i];
		uint64_t age;

		out->dequeued_total += atomic_load_explicit(&rx->dequeued_total, memory_order_relaxed);
		out->wakeups_total += atomic_load_explicit(&rx->wakeups_total, memory_order_relaxed);
		out->wait_sum_ns += atomic_load_explicit(&rx->wait_sum_ns, memory_order_relaxed);
		age = atomic_load_explicit(&rx->oldest_age_ns, memory_order_relaxed);
		if (age > out->oldest_age_ns)
			out->oldest_age_ns = age;
		for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++)
			out->wait_hist[b] += atomic_load_explicit(&rx->wait_hist[b], memory_order_relaxed);
	}
	out->enqueued_total = atomic_load_explicit(&mb->enqueued_total, memory_order_relaxed);
	out->rejected_total = atomic_load_explicit(&mb->rejected_total, memory_order_relaxed);
	out->over_capacity_total = atomic_load_explicit(&mb->over_capacity_total,
							memory_order_relaxed);
	out->high_water = atomic_load_explicit(&mb->high_water, memory_order_relaxed);
	out->depth = out->enqueued_total > out->dequeued_total ?
		out->enqueued_total - out->dequeued_total : 0;
}

bool mbox_full(const struct mbox *cmb)
{
	struct mbox *mb = (struct mbox *)cmb; /* read only */

	return atomic_load_explicit(&mb->depth, memory_order_relaxed) >= mb->capacity;
}

const char *mbox_name(const struct mbox *mb)
{
	return mb->name;
}

uint32_t mbox_capacity(const struct mbox *mb)
{
	return mb->capacity;
}
