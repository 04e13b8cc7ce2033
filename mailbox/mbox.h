/*
 * mbox.h - bounded lock-free mailboxes: many senders, one receiver (mbox),
 * or many senders and a pool of receivers that share the work.
 *
 * DESIGN
 * Senders push with a CAS onto an intrusive Treiber stack (ck_stack
 * push_upmc). A sender that loses the race retries; a sender that is
 * preempted holds nothing any other sender needs. (ck_ring's mpsc enqueue
 * makes later senders spin until earlier ones publish, which convoys when
 * senders share a core: see docs/ARCHITECTURE.md.) The receiver takes the
 * whole stack with one atomic exchange and reverses it, so order is FIFO per
 * sender. The bound is an atomic depth counter reserved before the push.
 *
 * Pool mailboxes (mbox_create_pool) take every sender through the stack and
 * add one stage: the receiver that finds
 * its ring empty takes the dispatch token (a try-flag: nobody waits for it),
 * moves the stack into an SPMC ck_ring, and every pool member takes ONE
 * message at a time from that ring. A message therefore waits only while
 * every member is busy; a slow message never blocks the ones behind it.
 *
 * Batching: a thread that runs an attached receiver (every actor) chains
 * what it sends to each mailbox and publishes the chain with one CAS at the
 * end of its drain batch or loop iteration (mbox_flush), with depth reserved
 * in credits: one barrier per batch instead of one per message. Any other
 * thread (tests, main) publishes each send at once.
 *
 * Wake-ups: each receiver sleeps in its own ev_loop. Just before the loop
 * may block, the receiver raises `sleeping`, fences, and re-checks for
 * messages (Dekker with the sender's publish + fence + read of `sleeping`,
 * so no wake-up is ever lost); an eventfd write happens only when the
 * receiver really sleeps.
 *
 * A FAILED SEND LEAVES THE MESSAGE WITH THE SENDER. Do not "fix" this
 * towards freeing it: the sender needs it to hold it and retry, answer
 * 503 or count the drop. Replies (mbox_send_reply) are the exception to
 * "full": a plain mailbox takes them past its capacity.
 *
 * Thread rules: mbox_send and mbox_read_stats are safe from any thread.
 * mbox_attach, mbox_close and mbox_drain run on the receiver's thread
 * (for a pool, the member's own thread). create/destroy on the thread that
 * owns the system, with no sender or receiver running.
 */
#ifndef ACTORD_MBOX_H
#define ACTORD_MBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "msg.h"

struct mbox;

/* Log2 wait-time buckets: <=1us, <=2us, ... <=2^20us (~1.05 s), +Inf. */
#define MBOX_HIST_BUCKETS 22

/* Called once per delivered message, on the receiver's thread. The receiver
 * now owns `m`. */
typedef void (*mbox_recv_fn)(void *ctx, struct msg *m);

/* A consistent-enough snapshot read with relaxed loads; each counter has a
 * single writer so no figure ever goes backwards. */
struct mbox_stats {
	uint32_t capacity;        /* usable capacity (messages) */
	uint32_t consumers;       /* 1, or the pool members attached now */
	bool shared;              /* a pool mailbox (mbox_create_pool) */
	uint64_t depth;           /* messages queued or being handed over */
	uint64_t high_water;      /* the largest depth ever reached */
	uint64_t enqueued_total;
	uint64_t dequeued_total;
	uint64_t rejected_total;  /* sends refused because the mailbox was full */
	uint64_t over_capacity_total; /* replies taken past capacity (mbox_send_reply) */
	uint64_t wakeups_total;   /* times a sleeping receiver was woken */
	uint64_t oldest_age_ns;   /* age of the oldest message seen at last drain */
	uint64_t wait_hist[MBOX_HIST_BUCKETS]; /* time in mailbox, log2 us */
	uint64_t wait_sum_ns;
};

/* Upper bound (seconds) of wait-time bucket i; +Inf for the last one. */
double mbox_hist_bound_s(unsigned i);
/* Bucket index for a duration in ns (shared with the actor loop-lag histogram). */
unsigned mbox_hist_bucket(uint64_t ns);

/* Create a single-receiver mailbox. `capacity` must be a power of two >= 4
 * (configured sizes are validated before this). Returns NULL with errno set.
 * Thread: any, before use. */
struct mbox *mbox_create(const char *name, uint32_t capacity);

/* Create a mailbox shared by `consumers` receivers (1..MBOX_MAX_CONSUMERS). */
#define MBOX_MAX_CONSUMERS 256
struct mbox *mbox_create_pool(const char *name, uint32_t capacity, unsigned consumers);

/* Free the mailbox. Messages still queued are freed with msg_free().
 * Thread: owner, after every receiver has detached and every sender stopped. */
void mbox_destroy(struct mbox *mb);

/* Attach receiver `idx` (0 for a plain mailbox) to `loop`: installs the
 * wake-up watchers and delivers messages to `fn`, at most `budget` per loop
 * iteration so one busy mailbox cannot starve the loop's other watchers.
 * Thread: the receiver's. Returns 0 or -EINVAL. */
int mbox_attach(struct mbox *mb, unsigned idx, struct ev_loop *loop,
		mbox_recv_fn fn, void *ctx, unsigned budget);

/* Stop the watchers of receiver `idx`; a pool member that leaves wakes a
 * sleeping member if messages wait. Thread: the receiver's. */
void mbox_detach(struct mbox *mb, unsigned idx);

/* Send. 0: the receiver owns `m` (on a batching thread it becomes visible
 * at the next mbox_flush). -EAGAIN: full (counted in rejected_total).
 * -ESHUTDOWN: the mailbox is closed. On error the caller still owns `m`.
 * Never blocks, never takes a lock. Thread: any. */
int mbox_send(struct mbox *mb, struct msg *m);

/* Send a reply: like mbox_send, except that a plain mailbox never refuses
 * it for being full. A reply answers a request its receiver sent, so how
 * many can arrive is bounded by what the receiver itself admitted;
 * refusing one would only move the same memory into the sender's retry
 * list and hold every later reply of that sender behind it. One past
 * capacity is counted in over_capacity_total (depth and high_water then
 * exceed capacity). A pool mailbox (a bounded ring) answers -EAGAIN as
 * mbox_send does. Unlike mbox_send it is accepted by a mailbox closed only
 * to new work (mbox_close_work). -ESHUTDOWN: closed. Thread: any. */
int mbox_send_reply(struct mbox *mb, struct msg *m);

/* Refuse further sends with -ESHUTDOWN. Thread: any. */
void mbox_close(struct mbox *mb);

/* Refuse new work (mbox_send: -ESHUTDOWN) but keep taking replies
 * (mbox_send_reply): an actor leaving its pool still gets the answers to
 * the calls it made. Thread: any. */
void mbox_close_work(struct mbox *mb);

/* Open a closed mailbox again, for a pool member that starts again on the
 * same address. Thread: the owner, with no receiver attached. */
void mbox_reopen(struct mbox *mb);

/* True when nothing is queued, taken-but-undelivered, or reserved by a
 * sender (after mbox_close_work: nothing more can come but replies).
 * Thread: the receiver's. */
bool mbox_idle(struct mbox *mb);

/* Whether mbox_close ran: a receiver draining at stop tells the messages
 * whose senders are gone from live work (the worker actors answer queued
 * tasks -ESHUTDOWN instead of running them). Thread: any. */
bool mbox_closed(const struct mbox *mb);

/* Deliver every message still queued to `fn` of receiver `idx`, waiting out
 * senders that reserved a slot before the close. Use after mbox_close().
 * Returns the number delivered. Thread: the receiver's. */
size_t mbox_drain(struct mbox *mb, unsigned idx);

/* Publish this thread's batched sends and wake their receivers that sleep:
 * one CAS per mailbox and one full fence for the whole batch. The mailbox
 * calls it after each drain batch and before its loop blocks. AN ACTOR THAT
 * BLOCKS inside a message (a synchronous driver call) MUST call it first, or
 * its replies wait for the call. Thread: any (acts on its own batch). */
void mbox_flush(void);

/* Turn batching on or off for the calling thread (mbox_attach turns it on;
 * off publishes what is pending). Thread: any (own state). */
void mbox_set_batching(bool on);

/* Whether the mailbox has no room now (depth >= capacity): a hint that may
 * be stale at once, for a sender that would rather not try (and count a
 * refusal) than retry a send. Thread: any. */
bool mbox_full(const struct mbox *mb);

void mbox_read_stats(const struct mbox *mb, struct mbox_stats *out);
const char *mbox_name(const struct mbox *mb);
uint32_t mbox_capacity(const struct mbox *mb);

/* Monotonic clock in ns (CLOCK_MONOTONIC, vDSO). */
uint64_t mbox_now_ns(void);

#endif
