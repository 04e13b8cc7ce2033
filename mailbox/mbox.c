/*
 * mbox.c - mailbox creation, the send path, closing and statistics.
 *
 * DESIGN
 * See mbox.h. A sender thread gets a slot number on its first send. With a
 * slot below MBOX_EDGES it sends on its own SPSC edge into the mailbox
 * (ck_ring spsc: wait-free, no atomic read-modify-write at all); other
 * threads, and every sender of a pool mailbox, use the CAS-pushed stack
 * bounded by an atomic `depth`. Either way no sender ever waits for another:
 * a preempted sender holds nothing that others need.
 *
 * Thread: mbox_send, mbox_close, mbox_read_stats from any thread.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mbox_internal.h"

/* Closing must not race a sender that checked `closed` just before: a
 * Dekker handshake (sender: raise `busy`, read `closed`; closer: set
 * `closed`, read `busy`). A seq_cst store per send would cost a full
 * barrier on the hot path (it drains the store buffer: measured as most of
 * the send cost). membarrier(2) moves that barrier to the rare closer: it
 * forces a full barrier on every thread of the process, so senders need
 * only a compiler barrier. Without membarrier (or under TSan, which cannot
 * see it) senders pay the seq_cst store. */
static pthread_once_t membarrier_once = PTHREAD_ONCE_INIT;
static bool membarrier_ok;

static void membarrier_register(void)
{
#ifndef MBOX_TSAN
	membarrier_ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#endif
}

/* Sender slots: 1-based in the thread-local, 0 means "not assigned yet". */
static atomic_uint next_sender_slot;
static _Thread_local unsigned tl_slot_plus1;

static unsigned sender_slot(void)
{
	if (tl_slot_plus1 == 0)
		tl_slot_plus1 = atomic_fetch_add_explicit(&next_sender_slot, 1, memory_order_relaxed) + 1;
	return tl_slot_plus1 - 1;
}

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

	pthread_once(&membarrier_once, membarrier_register);
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
	mbox_wake_forget(mb);
	while ((m = mbox_take_one(mb, &moved)) != NULL)
		msg_free(m);
	for (unsigned i = 0; i < MBOX_EDGES; i++) {
		struct mbox_edge *e = atomic_load(&mb->edges[i]);

		if (e != NULL) {
			free(e->buf);
			free(e);
		}
	}
	free(mb->ring_buf);
	free(mb->rx);
	free(mb);
}

/* Record a new maximum depth. Senders only write when they beat the
 * current value, so the line stays shared (read-mostly) under load. */
static void note_high_water(struct mbox *mb, uint64_t d)
{
	uint64_t hw = atomic_load_explicit(&mb->high_water, memory_order_relaxed);

	while (d > hw && !atomic_compare_exchange_weak_explicit(
				 &mb->high_water, &hw, d, memory_order_relaxed,
				 memory_order_relaxed))
		;
}

/* The shared path: pool mailboxes and threads without an edge. */
static int send_stack(struct mbox *mb, struct msg *m)
{
	/* seq_cst: the reservation must be visible before we read `closed`,
	 * pairing with mbox_close + mbox_wait_senders (store closed, then read
	 * depth), so a receiver draining after close waits for this slot. */
	unsigned d = atomic_fetch_add(&mb->depth, 1);

	if (atomic_load(&mb->closed)) {
		atomic_fetch_sub_explicit(&mb->depth, 1, memory_order_relaxed);
		return -ESHUTDOWN;
	}
	if (d >= mb->capacity) {
		atomic_fetch_sub_explicit(&mb->depth, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&mb->rejected_total, 1, memory_order_relaxed);
		return -EAGAIN;
	}
	note_high_water(mb, (uint64_t)d + 1);
	m->enqueued_ns = mbox_now_ns();
	mbox_tsan_release(m);
	/* The CAS inside publishes the message (and m->link) to the receiver's
	 * exchange; a losing CAS is retried by this sender alone. */
	MBOX_CK_VOID(ck_stack_push_upmc(&mb->stack, &m->link));
	atomic_fetch_add_explicit(&mb->enqueued_total, 1, memory_order_relaxed);
	mbox_wake_note(mb);
	return 0;
}

static struct mbox_edge *edge_create(struct mbox *mb, unsigned slot)
{
	struct mbox_edge *e = zalloc_lines(sizeof(*e));
	unsigned n;

	if (e == NULL)
		return NULL;
	/* Ring of twice the capacity: the bound is checked explicitly, so a
	 * full edge holds exactly `capacity` messages. */
	e->buf = calloc((size_t)mb->capacity * 2, sizeof(ck_ring_buffer_t));
	if (e->buf == NULL) {
		free(e);
		return NULL;
	}
	ck_ring_init(&e->ring, mb->capacity * 2);
	/* release: the receiver that loads the pointer sees an initialised ring */
	atomic_store_explicit(&mb->edges[slot], e, memory_order_release);
	n = atomic_load(&mb->nedges);
	while (n < slot + 1 && !atomic_compare_exchange_weak(&mb->nedges, &n, slot + 1))
		;
	return e;
}

static inline void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* The bound check without reading the receiver's index on every send: a
 * stale view only overestimates the depth, so the receiver's index is read
 * again only when the edge looks full. */
static bool edge_full(const struct mbox *mb, struct mbox_edge *e)
{
	if (e->produced - e->consumed_seen < mb->capacity)
		return false;
	e->consumed_seen = MBOX_CK(ck_pr_load_uint(&e->ring.c_head));
	return e->produced - e->consumed_seen >= mb->capacity;
}

int mbox_send(struct mbox *mb, struct msg *m)
{
	unsigned slot;
	struct mbox_edge *e;
	int rc = 0;

	if (mb->ring_buf != NULL || (slot = sender_slot()) >= MBOX_EDGES)
		return send_stack(mb, m);
	e = atomic_load_explicit(&mb->edges[slot], memory_order_relaxed);
	if (e == NULL && (e = edge_create(mb, slot)) == NULL)
		return send_stack(mb, m);
	/* Dekker with mbox_close + mbox_senders_quiet: raise `busy` before
	 * reading `closed`, so the closer either sees us busy and waits, or we
	 * see the mailbox closed (see membarrier_ok above for the fence). */
	if (membarrier_ok) {
		atomic_store_explicit(&e->busy, 1, memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst);
	} else {
		atomic_store(&e->busy, 1);
	}
	if (atomic_load_explicit(&mb->closed, memory_order_relaxed)) {
		rc = -ESHUTDOWN;
	} else if (edge_full(mb, e)) {
		bump(&e->rejected_total);
		rc = -EAGAIN;
	} else {
		m->enqueued_ns = mbox_now_ns();
		mbox_tsan_release(m);
		MBOX_CK_VOID(ck_ring_enqueue_spsc(&e->ring, e->buf, m));
		e->produced++;
		bump(&e->enqueued_total);
	}
	atomic_store_explicit(&e->busy, 0, memory_order_release);
	if (rc == 0)
		mbox_wake_note(mb);
	return rc;
}

void mbox_close(struct mbox *mb)
{
	atomic_store(&mb->closed, 1);
	if (membarrier_ok)
		syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
}

void mbox_read_stats(const struct mbox *cmb, struct mbox_stats *out)
{
	struct mbox *mb = (struct mbox *)cmb; /* atomics are read-only here */
	unsigned nedges = atomic_load_explicit(&mb->nedges, memory_order_acquire);

	memset(out, 0, sizeof(*out));
	out->capacity = mb->capacity;
	out->consumers = mb->consumers;
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
	for (unsigned i = 0; i < nedges; i++) {
		struct mbox_edge *e = atomic_load_explicit(&mb->edges[i], memory_order_acquire);

		if (e == NULL)
			continue;
		out->enqueued_total += atomic_load_explicit(&e->enqueued_total, memory_order_relaxed);
		out->rejected_total += atomic_load_explicit(&e->rejected_total, memory_order_relaxed);
	}
	out->high_water = atomic_load_explicit(&mb->high_water, memory_order_relaxed);
	out->depth = out->enqueued_total > out->dequeued_total ?
		out->enqueued_total - out->dequeued_total : 0;
	if (out->depth > out->high_water)
		out->high_water = out->depth;
}

const char *mbox_name(const struct mbox *mb)
{
	return mb->name;
}

uint32_t mbox_capacity(const struct mbox *mb)
{
	return mb->capacity;
}
