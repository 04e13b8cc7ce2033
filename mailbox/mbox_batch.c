/*
 * mbox_batch.c - per-thread send batches: one barrier per batch, not per
 * message.
 *
 * DESIGN
 * A locked instruction is a full barrier: it waits until the previous
 * message's stores have left the store buffer, which needs that message's
 * cache line back from the receiver's core. Paid per send, it capped the
 * mailbox at a mutex queue's speed (docs/PERFORMANCE.md). So a thread that
 * runs an actor loop (batching on) does this instead:
 *  - mbox_send reserves depth in credits of up to BATCH_CREDIT slots (one
 *    atomic add per credit, never over capacity) and links the message onto
 *    a private chain: no shared write at all. Unused credit looks like
 *    depth to every other sender until the flush, so a small mailbox gets
 *    credits of an eighth of its capacity: one sender holding a credit
 *    must not make it refuse the others (a 64-slot mailbox that held one
 *    message answered "full");
 *  - mbox_flush, at the end of the actor's drain batch or loop iteration,
 *    stamps the chain, publishes it with ONE CAS onto the mailbox's stack,
 *    gives unused credit back, then issues one full fence and wakes every
 *    receiver that sleeps.
 * The chain is newest-first, like the stack, so the receiver's reversal
 * still yields FIFO per sender. Other threads (tests, main) send at once.
 * A reply that finds no credit left on a full plain mailbox reserves its
 * own slot past capacity (mbox_reserve_over) and joins the same chain.
 *
 * Thread: per-thread state; every function may be called from any thread
 * and only touches the caller's own state plus the mailboxes' shared lines.
 */
#include <errno.h>

#include "mbox_internal.h"

#define BATCH_MAX 32      /* mailboxes one thread sends to per batch */
#define BATCH_CREDIT 64   /* most slots reserved per atomic add */

struct batch {
	struct mbox *mb;
	struct msg *newest;           /* chain head, linked through m->link */
	struct msg *oldest;
	unsigned count;
	unsigned credit;              /* reserved slots not used yet */
};

/* Owner: the calling thread (thread-local). */
static _Thread_local struct {
	bool on;
	unsigned n;
	struct batch b[BATCH_MAX];
} tl;

void mbox_set_batching(bool on)
{
	if (!on)
		mbox_flush();
	tl.on = on;
}

bool mbox_batching(void)
{
	return tl.on;
}

void mbox_wake_sleepers(struct mbox *mb, unsigned want)
{
	for (unsigned i = 0; i < mb->consumers && want > 0; i++) {
		struct mbox_rx *rx = &mb->rx[i];

		/* `sleeping` is raised only after rx->loop and rx->wake were
		 * set (attach) with a seq_cst store: acquiring it makes them
		 * visible, also for a member that joined a running pool. */
		if (atomic_load_explicit(&rx->sleeping, memory_order_acquire)) {
			ev_async_send(rx->loop, &rx->wake);
			want--;
		}
	}
}

static struct batch *batch_for(struct mbox *mb)
{
	for (unsigned i = tl.n; i > 0; i--)
		if (tl.b[i - 1].mb == mb)
			return &tl.b[i - 1];
	if (tl.n == BATCH_MAX)
		mbox_flush();
	tl.b[tl.n] = (struct batch){ .mb = mb };
	return &tl.b[tl.n++];
}

uint32_t mbox_credit_for(uint32_t capacity)
{
	uint32_t c = capacity / 8;

	return c == 0 ? 1 : c > BATCH_CREDIT ? BATCH_CREDIT : c;
}

/* Reserve up to mb->credit slots, never beyond capacity. A refusal is
 * counted as one unless the caller has a way past it (`quiet`). */
static int take_credit(struct mbox *mb, struct batch *b, unsigned refuse, bool quiet)
{
	const unsigned want = mb->credit;
	/* seq_cst: as in the unbatched send, the reservation is visible
	 * before we read `closed` (see mbox_send). */
	unsigned d = atomic_fetch_add(&mb->depth, want);
	unsigned got;

	if (atomic_load(&mb->closed) & refuse) {
		atomic_fetch_sub_explicit(&mb->depth, want, memory_order_relaxed);
		return -ESHUTDOWN;
	}
	got = d >= mb->capacity ? 0 : mb->capacity - d;
	if (got > want)
		got = want;
	if (got < want)
		atomic_fetch_sub_explicit(&mb->depth, want - got, memory_order_relaxed);
	if (got == 0) {
		if (!quiet)
			atomic_fetch_add_explicit(&mb->rejected_total, 1, memory_order_relaxed);
		return -EAGAIN;
	}
	mbox_note_high_water(mb, (uint64_t)d + got);
	b->credit = got;
	return 0;
}

int mbox_batch_send(struct mbox *mb, struct msg *m, unsigned refuse, bool over)
{
	struct batch *b = batch_for(mb);

	if (b->credit == 0) {
		int rc = take_credit(mb, b, refuse, over);

		/* A reply past capacity: its own slot, no credit. */
		if (rc == -EAGAIN && over)
			rc = mbox_reserve_over(mb);
		if (rc != 0)
			return rc;
	} else if (atomic_load_explicit(&mb->closed, memory_order_relaxed) & refuse) {
		/* Closing waits for depth to drain, and our credit counts in
		 * it: refuse now; the flush gives the credit back. */
		return -ESHUTDOWN;
	}
	if (b->credit > 0)
		b->credit--;
	m->link.next = b->newest != NULL ? &b->newest->link : NULL;
	b->newest = m;
	if (b->oldest == NULL)
		b->oldest = m;
	b->count++;
	return 0;
}

static void publish(struct batch *b)
{
	struct mbox *mb = b->mb;
	uint64_t now;

	if (b->count > 0) {
		now = mbox_now_ns();
		for (struct msg *m = b->newest; m != NULL;
		     m = m->link.next != NULL ? (struct msg *)(void *)m->link.next : NULL) {
			m->enqueued_ns = now;
			mbox_tsan_release(m);
		}
		mbox_push_chain(mb, b->newest, b->oldest);
		atomic_fetch_add_explicit(&mb->enqueued_total, b->count, memory_order_relaxed);
	}
	if (b->credit > 0)
		atomic_fetch_sub_explicit(&mb->depth, b->credit, memory_order_relaxed);
}

void mbox_flush(void)
{
	unsigned n = tl.n;

	if (n == 0)
		return;
	tl.n = 0;
	for (unsigned i = 0; i < n; i++)
		publish(&tl.b[i]);
	/* One StoreLoad for everything published: pairs with the receiver's
	 * raise-`sleeping`-then-recheck. */
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned i = 0; i < n; i++)
		if (tl.b[i].count > 0)
			mbox_wake_sleepers(tl.b[i].mb, 1);
}

void mbox_batch_forget(struct mbox *mb)
{
	unsigned j = 0;

	for (unsigned i = 0; i < tl.n; i++) {
		if (tl.b[i].mb == mb)
			publish(&tl.b[i]); /* destroy frees what is queued */
		else
			tl.b[j++] = tl.b[i];
	}
	tl.n = j;
}
