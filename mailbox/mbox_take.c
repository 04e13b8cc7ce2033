/*
 * mbox_take.c - taking messages out of a mailbox, on a receiver's thread.
 *
 * DESIGN
 * Plain mailbox: one atomic exchange takes the whole stack, and reversing
 * it restores FIFO per sender; the receiver keeps that list until it is
 * delivered, then exchanges again.
 * Pool mailbox: whoever holds the dispatch token moves the stack into the
 * SPMC ring; every member dequeues one message at a time.
 *
 * Thread: the receiver's (for a pool, any member's).
 */
#include <sched.h>

#include "mbox_internal.h"

static struct msg *entry_msg(ck_stack_entry_t *e)
{
	return (struct msg *)(void *)((char *)e - offsetof(struct msg, link));
}

void mbox_release_slots(struct mbox *mb)
{
	if (mb->delivered_unreleased > 0) {
		atomic_fetch_sub_explicit(&mb->depth, mb->delivered_unreleased, memory_order_relaxed);
		mb->delivered_unreleased = 0;
	}
}

bool mbox_has_work(struct mbox *mb)
{
	if (MBOX_CK(ck_pr_load_ptr(&mb->stack.head)) != NULL || mb->local_head != NULL)
		return true;
	return mb->ring_buf != NULL && MBOX_CK(ck_ring_size(&mb->ring)) > 0;
}

/* Take the whole stack and return it oldest-first. A plain read first:
 * exchanging on an empty stack would steal the senders' cache line for
 * nothing. */
static struct msg *take_stack_fifo(struct mbox *mb, struct msg **tail)
{
	ck_stack_entry_t *e;
	struct msg *head = NULL;

	*tail = NULL;
	if (MBOX_CK(ck_pr_load_ptr(&mb->stack.head)) == NULL)
		return NULL;
	e = MBOX_CK(ck_stack_batch_pop_upmc(&mb->stack));
	*tail = e != NULL ? entry_msg(e) : NULL;
	while (e != NULL) {
		ck_stack_entry_t *next;
		struct msg *m = entry_msg(e);

		mbox_tsan_acquire(m);
		next = e->next;
		m->link.next = head != NULL ? &head->link : NULL;
		head = m;
		e = next;
	}
	return head;
}

static struct msg *take_plain(struct mbox *mb)
{
	struct msg *m;

	if (mb->local_head == NULL) {
		/* Give back the slots of what was delivered since the last
		 * exchange right before the next one: both touch the senders'
		 * line, so the line moves once. */
		mbox_release_slots(mb);
		mb->local_head = take_stack_fifo(mb, &mb->local_tail);
	}
	m = mb->local_head;
	if (m != NULL) {
		mb->local_head = m->link.next != NULL ? entry_msg(m->link.next) : NULL;
		mb->delivered_unreleased++;
	}
	return m;
}

/* Pool: move the stack into the ring if nobody else is doing it. The token
 * is a try-flag: a member that finds it taken just looks at the ring again
 * later; nobody ever waits for it. */
static unsigned dispatch_stack(struct mbox *mb)
{
	unsigned expected = 0, moved = 0;
	struct msg *tail, *m;

	if (!atomic_compare_exchange_strong(&mb->dispatch, &expected, 1))
		return 0;
	m = take_stack_fifo(mb, &tail);
	while (m != NULL) {
		struct msg *next = m->link.next != NULL ? entry_msg(m->link.next) : NULL;

		mbox_tsan_release(m);
		/* Cannot fail: depth <= capacity < ring size - 1. */
		MBOX_CK_VOID(ck_ring_enqueue_spmc(&mb->ring, mb->ring_buf, m));
		moved++;
		m = next;
	}
	atomic_store_explicit(&mb->dispatch, 0, memory_order_release);
	return moved;
}

static struct msg *take_pool(struct mbox *mb, unsigned *moved)
{
	void *p;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (MBOX_CK(ck_ring_dequeue_spmc(&mb->ring, mb->ring_buf, &p))) {
			mbox_tsan_acquire(p);
			/* A member gives its slot back before working, so the
			 * bound counts waiting messages, not busy members. */
			atomic_fetch_sub_explicit(&mb->depth, 1, memory_order_relaxed);
			return p;
		}
		if (MBOX_CK(ck_pr_load_ptr(&mb->stack.head)) == NULL)
			return NULL;
		*moved += dispatch_stack(mb);
	}
	return NULL;
}

struct msg *mbox_take_one(struct mbox *mb, unsigned *moved)
{
	*moved = 0;
	return mb->ring_buf != NULL ? take_pool(mb, moved) : take_plain(mb);
}

bool mbox_senders_quiet(struct mbox *mb)
{
	return atomic_load(&mb->depth) == 0;
}
