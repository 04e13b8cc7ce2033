/*
 * net_req.h - request/response envelopes owned by a network actor.
 *
 * DESIGN
 * A network actor allocates one `struct net_req` per request: the
 * `struct http_msg` handlers see (first member), plus what only the network
 * side needs (the link in its free list or in a connection's reply queue,
 * and the capacity of `req_buf` so the buffer is reused). The envelope goes
 * to a handler and comes back as the reply (net/http_msg.h), so it
 * normally returns to the thread that allocated it, which recycles it on a
 * per-actor free list: no malloc on the request path once warm.
 *
 * Ownership: an envelope has one owner at a time. msg_free(&r->hm.m) calls
 * net_req_free_msg, which is safe on ANY thread: it recycles only on the
 * thread bound to the envelope's pool (net_req_pool_bind_thread) and frees
 * everything with free() anywhere else (a handler that drops a request, a
 * mailbox destroyed after its actor stopped). The pool pointer is compared,
 * never dereferenced, off its thread.
 *
 * Owner: struct net_req_pool belongs to one network actor thread.
 */
#ifndef ACTORD_NET_REQ_H
#define ACTORD_NET_REQ_H

#include <stddef.h>
#include <stdint.h>

#include "http_msg.h"

/* net_req.flags */
#define NET_REQ_LOCAL 0x1u   /* answered by the network actor itself */
#define NET_REQ_CLOSE 0x2u   /* close the connection after this response */
#define NET_REQ_NO_LINE 0x4u /* request line unknown: logged as "- -" */

struct net_req_pool;

struct net_req {
	struct http_msg hm;          /* MUST be first: handlers see only this */
	struct net_req *next;        /* free list, or a connection's reply queue */
	struct net_req_pool *pool;   /* allocator; compared, never followed off-thread */
	uint32_t req_cap;            /* bytes allocated at hm.req_buf */
	uint32_t flags;              /* NET_REQ_* */
	/* While the request is parsed (net/http_conn_request.c), kept here
	 * rather than in every idle connection: where the records of the
	 * headers the connection code reads itself are (0: none), how many
	 * Host, Transfer-Encoding, traceparent and Expect fields came, and the buffer
	 * size a declared Content-Length needs in the end (0: unknown). */
	uint32_t host_off, te_off, expect_off, tp_off;
	uint32_t body_full;
	uint8_t host_count, te_count, tp_count, expect_count;
	uint8_t parent_id[8];        /* the caller's span (hm.m.trace from a traceparent) */
};
_Static_assert(offsetof(struct net_req, hm) == 0,
	       "struct net_req is used through a pointer to its hm");

/* A pool keeping at most `max_free` spare envelopes. NULL on ENOMEM.
 * Thread: any, before use. */
struct net_req_pool *net_req_pool_create(unsigned max_free);

/* Free the spare envelopes and the pool. Envelopes still out (in handler
 * mailboxes) are later freed with free() by net_req_free_msg.
 * Thread: the bound thread, after net_req_pool_bind_thread(NULL). */
void net_req_pool_destroy(struct net_req_pool *p);

/* Let the calling thread recycle envelopes of `p` (NULL: none). A thread
 * recycles into at most one pool. Thread: the pool's owner. */
void net_req_pool_bind_thread(struct net_req_pool *p);

/* An initialised envelope (type HTTP_MSG_REQUEST, fields zeroed, req_buf
 * kept from a previous use if any). NULL on ENOMEM. Thread: owner. */
struct net_req *net_req_get(struct net_req_pool *p);

/* Make hm.req_buf hold at least `need` bytes, keeping its contents; it
 * grows by doubling. 0 or -ENOMEM. Thread: owner of the envelope. */
int net_req_reserve(struct net_req *r, uint32_t need);

/* Make hm.req_buf hold exactly `cap` bytes unless it already holds as
 * many, keeping its contents. 0 or -ENOMEM. Thread: owner. */
int net_req_resize(struct net_req *r, uint32_t cap);

/* The envelope behind a message, or NULL if `m` is not one of ours.
 * Thread: owner of the message. */
struct net_req *net_req_of(struct msg *m);

/* msg_free() target for every net_req (see DESIGN). Thread: any. */
void net_req_free_msg(struct msg *m);

#endif
