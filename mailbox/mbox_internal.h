/*
 * mbox_internal.h - the layout of a mailbox, shared by mbox.c (senders),
 * mbox_take.c and mbox_rx.c (receivers) and mbox_batch.c (batched sends and
 * the wake-ups they defer). Not a public header: nothing outside mailbox/
 * includes it.
 *
 * Cache lines: what senders write (stack head, depth, counters) shares one
 * line, so a send costs one line transfer; what the receiver writes lives on
 * its own lines; `sleeping` flags sit alone because senders poll them.
 */
#ifndef ACTORD_MBOX_INTERNAL_H
#define ACTORD_MBOX_INTERNAL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <ck_ring.h>
#include <ck_stack.h>
#include <ev.h>

#include "mbox.h"

#define MBOX_LINE 64

/* `closed` bits: a fully closed mailbox refuses everything; one closed to
 * work still takes replies (mbox_send_reply), so an actor that is leaving
 * its pool receives the answers it is owed while new work goes elsewhere. */
#define MBOX_CLOSED_ALL 1u
#define MBOX_CLOSED_WORK 2u

/* TSan cannot see ck's synchronisation (volatile loads and stores of the
 * ring indexes and the stack head). In TSan builds we (1) hide the memory
 * accesses made inside ck's calls, since they would be reported (and
 * suppressed) by the million, and (2) tell TSan about the one hand-over that
 * matters: the sender releases the message before publishing it, the
 * receiver acquires it after taking it. Our own fields stay fully checked.
 * Compiled out of every other build. */
#if defined(__SANITIZE_THREAD__)
#define MBOX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MBOX_TSAN 1
#endif
#endif
#ifdef MBOX_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define mbox_tsan_release(p) __tsan_release(p)
#define mbox_tsan_acquire(p) __tsan_acquire(p)
#define MBOX_CK_BEGIN() (AnnotateIgnoreReadsBegin(__FILE__, __LINE__), \
			 AnnotateIgnoreWritesBegin(__FILE__, __LINE__))
#define MBOX_CK_END() (AnnotateIgnoreWritesEnd(__FILE__, __LINE__), \
		       AnnotateIgnoreReadsEnd(__FILE__, __LINE__))
#else
#define mbox_tsan_release(p) ((void)(p))
#define mbox_tsan_acquire(p) ((void)(p))
#define MBOX_CK_BEGIN() ((void)0)
#define MBOX_CK_END() ((void)0)
#endif
/* Evaluate a call into ck's lock-free structures (see above). */
#define MBOX_CK(expr) __extension__({ MBOX_CK_BEGIN(); __auto_type ck_r_ = (expr); MBOX_CK_END(); ck_r_; })
#define MBOX_CK_VOID(expr) do { MBOX_CK_BEGIN(); expr; MBOX_CK_END(); } while (0)

/* One receiver. Owner: the receiver's thread, except `sleeping`, which
 * senders read, and the counters, which any thread reads. */
struct mbox_rx {
	alignas(MBOX_LINE) atomic_uint sleeping; /* 1 only while it may block */
	alignas(MBOX_LINE) struct mbox *mb;
	unsigned idx;
	struct ev_loop *loop;
	mbox_recv_fn fn;
	void *ctx;
	unsigned budget;
	bool attached;
	ev_async wake;
	ev_prepare prepare;
	ev_check check;
	ev_idle idle;
	/* Single writer: this receiver. Relaxed stores, relaxed loads. */
	_Atomic uint64_t dequeued_total;
	_Atomic uint64_t wakeups_total;
	_Atomic uint64_t wait_sum_ns;
	_Atomic uint64_t oldest_age_ns;
	_Atomic uint64_t wait_hist[MBOX_HIST_BUCKETS];
};

struct mbox {
	/* Sender line: every successful send touches exactly this line. */
	alignas(MBOX_LINE) ck_stack_t stack;
	atomic_uint depth;            /* reserved before the push */
	_Atomic uint64_t enqueued_total;
	_Atomic uint64_t rejected_total;
	_Atomic uint64_t over_capacity_total; /* replies past capacity */
	/* Read-mostly: senders read it per send, write it only on a new max. */
	alignas(MBOX_LINE) _Atomic uint64_t high_water;
	atomic_uint closed;           /* MBOX_CLOSED_* bits */
	atomic_uint attached;         /* receivers attached now (pool members) */
	/* Immutable after create. */
	alignas(MBOX_LINE) uint32_t capacity;
	uint32_t credit;              /* slots a batching sender reserves at once */
	unsigned consumers;
	char name[48];
	struct mbox_rx *rx;           /* consumers entries */
	/* Plain mailbox: the receiver's FIFO of taken-but-undelivered messages.
	 * Owner: the single receiver. */
	struct msg *local_head;
	struct msg *local_tail;
	unsigned delivered_unreleased; /* delivered, slot not yet given back */
	/* Pool mailbox: whoever holds `dispatch` moves the stack into the
	 * SPMC ring; every member dequeues one message at a time. */
	alignas(MBOX_LINE) atomic_uint dispatch;
	ck_ring_t ring;
	ck_ring_buffer_t *ring_buf;
};

/* mbox_take.c */
bool mbox_has_work(struct mbox *mb);
/* Plain mailbox: give back the depth slots of delivered messages. */
void mbox_release_slots(struct mbox *mb);
/* After mbox_close: true once no message is queued and no sender holds a
 * reserved slot (one that passed the closed check may still be pushing). */
bool mbox_senders_quiet(struct mbox *mb);
struct msg *mbox_take_one(struct mbox *mb, unsigned *moved);

/* mbox.c */
void mbox_note_high_water(struct mbox *mb, uint64_t d);
/* Publish a chain linked newest -> oldest through m->link with one CAS. */
void mbox_push_chain(struct mbox *mb, struct msg *newest, struct msg *oldest);

/* mbox_batch.c */
bool mbox_batching(void);
/* `refuse`: the MBOX_CLOSED_* bits that make this send fail -ESHUTDOWN;
 * `over`: mbox_send_reply's rule (a plain mailbox takes it past capacity). */
int mbox_batch_send(struct mbox *mb, struct msg *m, unsigned refuse, bool over);
/* The credit a batching sender reserves at once in a mailbox of
 * `capacity`: 64, or an eighth of a smaller mailbox (at least 1). */
uint32_t mbox_credit_for(uint32_t capacity);
/* Reserve one slot past capacity for a reply (refused only by a full
 * close). 0 or -ESHUTDOWN. */
int mbox_reserve_over(struct mbox *mb);
/* Publish this thread's pending chain for `mb` (it is being destroyed). */
void mbox_batch_forget(struct mbox *mb);
/* Wake receivers of `mb` that sleep: one for a plain mailbox; for a pool,
 * up to `want` sleeping members. */
void mbox_wake_sleepers(struct mbox *mb, unsigned want);

#endif
