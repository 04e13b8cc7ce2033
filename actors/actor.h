/*
 * actor.h - actors and the actor system.
 *
 * DESIGN
 * An actor is one thread, one ev_loop, one mailbox and three behaviour
 * callbacks (start, message, stop). Actors are created in pools by kind
 * ("net", "handler", "mysql", ...). The registry of all actor slots is
 * immutable once the system starts, so addresses (indexes) and the
 * registry can be read from any thread without locks.
 * Actors share no mutable state: they talk only through mailboxes.
 *
 * Resizable pools (spec.max > count) reserve `max` consecutive addresses
 * up front, so addresses never move; the pool's live count (members
 * [0, live) take new work) is published with a release store and read with
 * acquire loads by every sender that picks a member. Growing starts new
 * members on the reserved slots, then publishes the larger count. Shrinking
 * publishes the smaller count first, then tells each removed member to
 * retire: it runs its `retire` hook (a listener stops accepting), closes
 * its mailbox to new work (a sender that still picked it is redirected to a
 * live member by actor_send; replies owed to it still arrive), keeps
 * running until its mailbox is empty and `idle` says it holds nothing,
 * then stops like at shutdown and its thread exits. A shared-mailbox
 * member leaves the pool mailbox instead (the others take what waits).
 *
 * A pool created with `shared_mailbox` has one pool mailbox served by all
 * its members (database actors): sending to any member's address queues for
 * whichever member is free first.
 *
 * Stopping: actor_system_stop() stops pools in creation order. For each
 * actor: its mailbox closes at once (senders get -ESHUTDOWN; the actor may
 * ask mbox_closed() while it works through what is queued), the actor thread
 * delivers every message still queued to its `message` callback, calls
 * `stop`, leaves its loop, and is joined (actor_system_stop_kind_by: until
 * a deadline, past which a thread stuck in a task is left behind).
 *
 * Metrics per actor (read from any thread with relaxed loads; one writer
 * each): messages handled, busy time (time not sleeping in the poll),
 * loop iterations, and loop lag: how late a 100 ms periodic timer fires,
 * the proof that no actor stalls.
 */
#ifndef ACTORD_ACTOR_H
#define ACTORD_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "mailbox/mbox.h"
#include "mailbox/msg.h"

struct actor;
struct actor_pool;
struct actor_system;

typedef msg_addr_t actor_addr_t;
#define ACTOR_ADDR_NONE MSG_ADDR_NONE

struct actor_ops {
	/* On the actor thread before the first message. Non-zero aborts
	 * actor_system_start() with that error. May be NULL. */
	int (*start)(struct actor *a);
	/* One message; the actor owns it. Required. */
	void (*message)(struct actor *a, struct msg *m);
	/* On the actor thread after the mailbox drained; stop every watcher
	 * the actor started. May be NULL. */
	void (*stop)(struct actor *a);
	/* Resizing (see DESIGN), on the actor thread. `retire`: the member
	 * was removed from its pool; stop taking work from outside the
	 * mailbox (listeners). May be NULL. `idle`: true once a retiring
	 * member holds nothing (no request in progress, no reply owed to
	 * it); polled every ACTOR_RETIRE_POLL_MS. NULL: always idle. */
	void (*retire)(struct actor *a);
	bool (*idle)(struct actor *a);
};

#define ACTOR_RETIRE_POLL_MS 5

/* A kind of actor. Each module that adds a pool defines its kind once
 * (`const struct actor_kind sql_kind = { "mysql" };` with an extern in its
 * header) and everyone names the kind by that object: a misspelt kind is a
 * compile error, never a runtime "no such actor". Kinds are compared by
 * address; `name` is for names (kind-N) and metrics labels. */
struct actor_kind {
	const char *name;
};

struct actor_pool_spec {
	const struct actor_kind *kind; /* names are kind->name-N */
	unsigned count;            /* actors in the pool at start, >= 1 */
	unsigned max;              /* addresses reserved: the pool may grow to
				    * this (actor_system_resize); 0: fixed */
	uint32_t mbox_capacity;    /* power of two >= 4 */
	unsigned budget;           /* messages per loop iteration; 0: 64 */
	bool shared_mailbox;       /* one pool mailbox for all members */
	const struct actor_ops *ops;
	void *user;                /* shared by the pool, read-only for actors */
	/* Frees `user` in actor_system_destroy, after every actor of every
	 * pool stopped (so collectors and readers are done); may be NULL. */
	void (*dispose)(void *user);
};

#define ACTOR_LAG_PERIOD_MS 100

struct actor_stats {
	uint64_t messages_total;
	uint64_t busy_ns;
	uint64_t loop_iterations;
	uint64_t lag_hist[MBOX_HIST_BUCKETS]; /* same log2 buckets as mbox */
	uint64_t lag_sum_ns;
	uint64_t lag_max_ns;
	uint64_t replies_retried_total;  /* replies that met a full pool mailbox */
};

/* Thread: the controlling thread (main) for every actor_system_* call
 * except the lookups marked "any". */
struct actor_system *actor_system_create(void);

/* Add a pool before start. Returns the address of its first member, or
 * ACTOR_ADDR_NONE with a reason in `err`. Members have consecutive
 * addresses. */
actor_addr_t actor_system_add_pool(struct actor_system *sys,
				   const struct actor_pool_spec *spec,
				   char *err, size_t errlen);

/* Start every thread; returns once every actor ran its `start`. On error
 * the actors already started are stopped again and the reason is in err. */
int actor_system_start(struct actor_system *sys, char *err, size_t errlen);

/* Stop and join every actor (see DESIGN). Idempotent. */
void actor_system_stop(struct actor_system *sys);

/* Stop and join just the pools of one kind, e.g. listeners before handlers. */
void actor_system_stop_kind(struct actor_system *sys, const struct actor_kind *kind);

/* The same, waiting for each thread only until `deadline_ns` (clock_now_ns).
 * A thread still busy then (a worker inside a task, a database actor inside
 * a blocking driver call: nothing can interrupt those) is left running,
 * named in the log, and counted in the return value (0: all joined). Its
 * pool counts as stopped; the process must then end without
 * actor_system_destroy, which would free what that thread still uses. */
unsigned actor_system_stop_kind_by(struct actor_system *sys, const struct actor_kind *kind,
				   uint64_t deadline_ns);

/* Stop (if needed) and free everything. */
void actor_system_destroy(struct actor_system *sys);

/* Grow or shrink the pool of `kind` to `count` live members (1..max; see
 * DESIGN). Growing returns once the new members ran `start` (a failure
 * keeps those that started and reports why); shrinking returns at once,
 * the removed members retire on their own. A slot still retiring from an
 * earlier shrink is waited for up to ACTOR_RESIZE_WAIT_MS, else -EBUSY.
 * 0 or -errno with a reason in `err`. Thread: any thread but an actor of
 * `kind` (the admin actor, the controlling thread); serialised with
 * other resizes and with stopping. */
int actor_system_resize(struct actor_system *sys, const struct actor_kind *kind,
			unsigned count, char *err, size_t errlen);

#define ACTOR_RESIZE_WAIT_MS 5000

/* A pool as seen now. Thread: any, once started. */
struct actor_pool_info {
	actor_addr_t first;
	unsigned live;             /* members taking new work */
	unsigned max;              /* reserved addresses (== live's bound) */
	unsigned retiring;         /* removed members still finishing */
	unsigned first_retiring;   /* the lowest slot of those; max if none */
	bool resizable;
};

/* 0, or -ENOENT if no pool has that kind. Thread: any. */
int actor_system_pool_info(const struct actor_system *sys, const struct actor_kind *kind,
			   struct actor_pool_info *out);

/* The kind of the pool named `name` (an admin request names pools by
 * their text), or NULL. Thread: any. */
const struct actor_kind *actor_system_kind_named(const struct actor_system *sys,
						 const char *name);

/* Send to an address. Same contract as mbox_send: 0 transfers ownership;
 * -EAGAIN full, -ESHUTDOWN stopping, -ENOENT unknown address leave the
 * message with the caller. New work for a member that left its pool (or
 * is leaving it) goes to a live member instead. Stamps m->from with the
 * calling actor's address when called on an actor thread. Thread: any. */
int actor_send(struct actor_system *sys, actor_addr_t to, struct msg *m);

/* Send `m` back to m->reply_to (a reply owed to a caller). Unlike
 * actor_send it never hands the message back, and a full mailbox does not
 * refuse it: a plain mailbox takes a reply past its capacity
 * (mbox_send_reply: replies are bounded by the requests their receiver
 * sent). A pool mailbox that is full is retried by the calling actor every
 * ACTOR_REPLY_RETRY_MS (in order, behind earlier retries) until it takes
 * it; a destination that is stopping or unknown gets it freed. Returns 0
 * if delivered, 1 if queued for retry, -ESHUTDOWN or -ENOENT if it was
 * freed. Thread: an actor thread (elsewhere a failed send frees the
 * message). */
int actor_reply(struct msg *m);

#define ACTOR_REPLY_RETRY_MS 1

/* Registry lookups. Thread: any, once the system is started.
 * actor_system_count counts every address, reserved slots included;
 * actor_system_get returns a slot whether or not an actor runs on it
 * (actor_alive tells). */
unsigned actor_system_count(const struct actor_system *sys);
struct actor *actor_system_get(const struct actor_system *sys, actor_addr_t addr);
/* First address and live member count of the pool of `kind` (members
 * first .. first+count-1 take new work); ACTOR_ADDR_NONE if none. */
actor_addr_t actor_system_find_kind(const struct actor_system *sys,
				    const struct actor_kind *kind, unsigned *count);
/* The pool of `kind` (NULL if none) and its live count: a sender that
 * picks members keeps the pool and reads the count per pick. */
struct actor_pool *actor_system_pool(const struct actor_system *sys,
				     const struct actor_kind *kind);
actor_addr_t actor_pool_first(const struct actor_pool *pool);
unsigned actor_pool_live(const struct actor_pool *pool);
/* An actor runs on this slot now (started, possibly retiring). */
bool actor_alive(const struct actor *a);

/* Accessors. Thread: any (immutable after start) unless noted. */
const char *actor_name(const struct actor *a);
const struct actor_kind *actor_kind(const struct actor *a);
const char *actor_kind_name(const struct actor *a);
actor_addr_t actor_addr(const struct actor *a);
unsigned actor_index(const struct actor *a);      /* index within its pool */
struct actor_system *actor_sys(const struct actor *a);
struct mbox *actor_mbox(const struct actor *a);   /* shared for pools */
void *actor_user(const struct actor *a);
/* The pool's behaviour: tells which module's actor `a` is. */
const struct actor_ops *actor_ops(const struct actor *a);
/* Thread: the actor's own. */
struct ev_loop *actor_loop(const struct actor *a);
void *actor_state(const struct actor *a);
void actor_set_state(struct actor *a, void *state);
void actor_read_stats(const struct actor *a, struct actor_stats *out);

/* The actor running on this thread, or NULL. Thread: any. */
struct actor *actor_self(void);

/* Debug builds (CMAKE_BUILD_TYPE=Debug, so the ASan and TSan test runs)
 * check the "Thread: owner" rules: the calling thread must be actor `a`'s.
 * Release builds compile it out. */
#ifdef ACTORD_DEBUG
#include <assert.h>
#define ACTOR_ASSERT_OWNER(a) assert(actor_self() == (a))
#else
#define ACTOR_ASSERT_OWNER(a) ((void)0)
#endif

const char *ad_strerror(int err);

#endif
