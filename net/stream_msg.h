/*
 * stream_msg.h - a response body streamed from an upstream actor to the
 * network actor that owns the client connection (the reverse proxy's
 * large downloads, docs/ARCHITECTURE.md "Streamed responses").
 *
 * DESIGN
 * The head travels as usual (upstream actor -> handler -> network actor,
 * the envelope's resp_has_stream names the producer and the stream); the
 * body then goes directly from the producer to the network actor, in
 * pieces of at most STREAM_CHUNK bytes, under a credit window:
 *
 *   network actor --STREAM_MSG_CREDIT (grant n bytes, or cancel)--> upstream
 *   upstream      --STREAM_MSG_DATA (bytes, then END or ABORT)--> network
 *
 * The producer sends nothing before the first credit (so no piece can
 * overtake the head) and never more bytes than it was granted; the
 * network actor grants STREAM_WINDOW at first, then what has left its
 * output buffer for the socket. A client that reads slowly stops the
 * grants, the upstream actor stops reading its socket, and TCP slows the
 * upstream down: at most STREAM_WINDOW (plus one piece) of the body is in
 * actord's memory per stream, whatever its size.
 *
 * Ownership: both messages cross mailboxes; they are malloc'd by their
 * sender (stream_data_new, stream_credit_send) with free_fn = free, and
 * freed by whoever owns them last (the receiver, or the sender when the
 * send failed). They are safe to free on any thread.
 *
 * Thread: any (the helpers are used by the upstream and network actors).
 */
#ifndef ACTORD_STREAM_MSG_H
#define ACTORD_STREAM_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/actor.h"
#include "mailbox/msg.h"

#define STREAM_MSG_DATA 0x53540001u
#define STREAM_MSG_CREDIT 0x53540002u

#define STREAM_CHUNK (64u * 1024u)     /* body bytes per data message, at most */
#define STREAM_WINDOW (256u * 1024u)   /* bytes granted at once, at most */

enum stream_data_kind {
	STREAM_DATA,      /* `len` body bytes */
	STREAM_END,       /* the body is complete (len may be > 0: its last bytes) */
	STREAM_ABORT,     /* the upstream failed: the client connection must close */
};

/* upstream -> network actor. Owner: see DESIGN. */
struct stream_data {
	struct msg m;                  /* MUST be first; m.from: the producer */
	uint64_t conn_id;              /* the client connection (http_msg.conn_id) */
	uint64_t stream_id;            /* unique within the producer */
	uint32_t len;
	uint8_t kind;                  /* enum stream_data_kind */
	char data[];                   /* `len` bytes */
};
_Static_assert(offsetof(struct stream_data, m) == 0, "used through its m");

/* network actor -> upstream. Owner: see DESIGN. */
struct stream_credit {
	struct msg m;                  /* MUST be first; m.from: the network actor */
	uint64_t conn_id;
	uint64_t stream_id;
	uint32_t bytes;                /* more body bytes the producer may send */
	bool cancel;                   /* the client is gone: stop, drop the upstream */
};
_Static_assert(offsetof(struct stream_credit, m) == 0, "used through its m");

/* A data message with room for `cap` bytes (len 0), or NULL. */
struct stream_data *stream_data_new(uint32_t cap);

/* Send a grant (or a cancel) for stream `stream_id` of producer `to`.
 * 0, or the actor_send error (the message is then freed). */
int stream_credit_send(struct actor_system *sys, actor_addr_t to, uint64_t conn_id,
		       uint64_t stream_id, uint32_t bytes, bool cancel);

#endif
