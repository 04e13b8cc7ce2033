/*
 * msg.h - the message envelope every mailbox carries.
 *
 * DESIGN
 * A message is a value with exactly one owner at any time. Type-specific
 * messages embed `struct msg` as their FIRST member and are recovered with
 * msg_cast(). The envelope is intrusive (it carries its own queue link), so
 * sending allocates nothing.
 *
 * Ownership: whoever holds the message frees it exactly once with msg_free(),
 * which calls the `free_fn` set by the allocator. A successful send
 * (return 0) passes ownership to the receiver; any error return leaves it
 * with the sender (unlike skynet's unbounded queues: a bounded mailbox must
 * let the sender answer 503 with the very message it could not send).
 * The receiver does one thing with a message: replies (it may reuse the
 * envelope, which then travels back to its allocator's thread), forwards it,
 * or frees it.
 *
 * `free_fn` may return the message to a free list owned by the allocating
 * thread; such allocators document that free_fn is only called there (for
 * request/reply pairs the reply naturally returns to the allocator).
 *
 * Thread: a message is touched only by its current owner.
 */
#ifndef ACTORD_MSG_H
#define ACTORD_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <ck_stack.h>

/* Actor address: an index in the actor system's registry. Stable for the
 * life of the system; never a pointer, so a stale address cannot crash. */
typedef uint32_t msg_addr_t;
#define MSG_ADDR_NONE UINT32_MAX

struct msg;
typedef void (*msg_free_fn)(struct msg *m);

/* The W3C trace context of the work a message belongs to, carried by value
 * (actors/trace.h fills and reads it). `state` 0: none. */
#define MSG_TRACE_SET 0x1u      /* trace_id and span_id are set */
#define MSG_TRACE_REMOTE 0x2u   /* continued from a caller's traceparent */
struct msg_trace {
	uint8_t trace_id[16];
	uint8_t span_id[8];     /* the span the work belongs to (actord's, for a request) */
	uint8_t flags;          /* trace-flags (bit 0: sampled) */
	uint8_t state;          /* MSG_TRACE_* */
	uint8_t pad[6];
};
_Static_assert(sizeof(struct msg_trace) == 32, "struct msg_trace is copied as 32 bytes");

struct msg {
	ck_stack_entry_t link;  /* queue link, owned by the mailbox while queued */
	uint32_t type;          /* meaning agreed between sender and receiver */
	uint32_t flags;         /* free for the message type's use */
	msg_addr_t from;        /* sender, or MSG_ADDR_NONE */
	msg_addr_t reply_to;    /* where the answer goes, or MSG_ADDR_NONE */
	uint64_t corr_id;       /* correlates a reply with its request */
	uint64_t enqueued_ns;   /* monotonic ns, stamped by the mailbox on send */
	msg_free_fn free_fn;    /* releases the whole message; NULL: nothing */
	void *payload;          /* optional; owned by the message, freed by free_fn */
	struct msg_trace trace; /* the trace of the work it carries (state 0: none) */
};

/* Initialise an envelope. Thread: owner. */
static inline void msg_init(struct msg *m, uint32_t type, msg_free_fn free_fn)
{
	m->link.next = NULL;
	m->type = type;
	m->flags = 0;
	m->from = MSG_ADDR_NONE;
	m->reply_to = MSG_ADDR_NONE;
	m->corr_id = 0;
	m->enqueued_ns = 0;
	m->free_fn = free_fn;
	m->payload = NULL;
	m->trace.state = 0;
}

/* Release a message through its allocator. Thread: owner. */
static inline void msg_free(struct msg *m)
{
	if (m != NULL && m->free_fn != NULL)
		m->free_fn(m);
}

#define msg_cast(ptr, type) ((type *)(void *)(ptr))

#endif
