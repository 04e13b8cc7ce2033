/*
 * call.h - asynchronous calls between actors: a request message out, the
 * same message back as the reply, and a continuation run on the caller.
 *
 * DESIGN
 * A caller (a handler actor serving a request, a job actor running a job)
 * sends a service actor (cache, mysql, mongo, upstream...) a message that
 * starts with `struct call_msg`. The service does the work, fills the
 * typed result and `status`, and sends the SAME envelope back to
 * `m.reply_to` (call_reply). The caller's actor passes every message it
 * receives to call_dispatch first: a reply finds its pending call by
 * `m.corr_id` (slot | generation << 32, never 0) and its continuation runs.
 *
 * The contract of every async call built on this (and the one every async
 * prototype in actord states): an error
 * return from call_send means the continuation never runs; success means it
 * runs exactly once, on the caller's thread, even when the service failed,
 * timed out or is shutting down (status says which). The one exception is
 * the end of the caller itself (call_table_destroy at actor stop): pending
 * calls are abandoned and their late replies freed on arrival.
 *
 * Ownership of a call message:
 *  - the caller allocates it and sets its free_fn (which also frees any
 *    result the service attached); call_send success passes it to the
 *    service, failure leaves it with the caller;
 *  - the service owns it while working and passes it back with call_reply,
 *    which frees it if the caller can no longer be reached;
 *  - the continuation may read it and everything it points to; call_dispatch
 *    frees it with msg_free() when the continuation returns (a continuation
 *    that wants to keep part of the result detaches it first).
 *
 * Status codes (negative errno, see ad_strerror): 0 ok; -EAGAIN the service
 * is overloaded; -ECONNREFUSED / -ENOTCONN the dependency is down;
 * -ESHUTDOWN the service is stopping; -ETIMEDOUT the deadline passed;
 * -EBADMSG the request was refused as invalid (bad query); -ENOLINK the
 * connection broke after a write was sent, its outcome unknown (502, no
 * retry advice); -EEXIST a write conflicts with what is stored (a
 * duplicate key: 409); -EIO another backend failure; -ENOENT not found,
 * where a service defines it. Services log driver messages themselves:
 * callers never see raw driver text.
 *
 * Thread: a call_table belongs to one actor thread (its owner). call_reply
 * runs on the service's thread.
 */
#ifndef ACTORD_CALL_H
#define ACTORD_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actor.h"

/* Set in m.flags by call_reply, cleared by call_send: what tells a reply
 * from a request, so an actor that is both a caller and a service (a job
 * type may call a job actor, its own included) never takes a request for
 * a reply. Call messages own this bit of m.flags. */
#define CALL_FLAG_REPLY 0x80000000u

/* Crosses mailboxes: caller -> service -> caller (see DESIGN). */
struct call_msg {
	struct msg m;            /* MUST be first */
	int32_t status;          /* set by the service: 0 or -errno */
	uint32_t reserved;
	uint64_t deadline_ns;    /* monotonic; the service fails the call with
				  * -ETIMEDOUT rather than start it later */
};
_Static_assert(offsetof(struct call_msg, m) == 0,
	       "struct call_msg is used through a pointer to its m");

typedef void (*call_fn)(struct call_msg *reply, void *ctx, void *arg);

struct call_table;

/* A table for up to `max_pending` calls in flight. NULL on ENOMEM.
 * Thread: the owner actor (in its start). */
struct call_table *call_table_create(struct actor *owner, unsigned max_pending);

/* Abandon every pending call (their replies will be freed as late) and
 * free the table. Thread: owner (in its stop). */
void call_table_destroy(struct call_table *t);

/* Initialise the call header of a message the caller allocated; it takes
 * the calling thread's current trace (trace.h), so a call made for a
 * request carries that request's trace. */
void call_msg_init(struct call_msg *c, uint32_t type, msg_free_fn free_fn,
		   uint64_t deadline_ns);

/* Send `c` to `to`; `fn(reply, ctx, arg)` runs when it comes back.
 * 0: sent. -EAGAIN service mailbox full, -ESHUTDOWN stopping, -ENOENT no
 * such actor, -ENOSPC too many calls pending: the message stays with the
 * caller and `fn` never runs. Thread: owner. */
int call_send(struct call_table *t, actor_addr_t to, struct call_msg *c,
	      call_fn fn, void *ctx, void *arg);

/* If `m` is a reply (CALL_FLAG_REPLY) to one of this table's calls, run
 * its continuation, free `m` and return true. A reply to an abandoned call
 * is freed (and counted) too. Anything else: false, `m` untouched.
 * Thread: owner. */
bool call_dispatch(struct call_table *t, struct msg *m);

/* An address of an actor of `kind`, round-robin over its pool (any
 * member of a shared-mailbox pool reaches the whole pool), or
 * ACTOR_ADDR_NONE if no actor of that kind exists. The table remembers up
 * to CALL_MAX_KINDS kinds. Thread: owner. */
actor_addr_t call_pick(struct call_table *t, const struct actor_kind *kind);

#define CALL_MAX_KINDS 16

/* Calls in flight. Thread: owner. */
unsigned call_pending(const struct call_table *t);
/* Replies that arrived for abandoned calls. Thread: owner. */
uint64_t call_late_total(const struct call_table *t);

/* Service side: set `status` and send `c` back to its caller with
 * actor_reply (retried while the caller's mailbox is full, freed if the
 * caller is gone). Thread: the service actor. */
void call_reply(struct call_msg *c, int status);

/* Whether the deadline of `c` passed at `now_ns` (0: no deadline). */
static inline bool call_expired(const struct call_msg *c, uint64_t now_ns)
{
	return c->deadline_ns != 0 && now_ns >= c->deadline_ns;
}

#endif
