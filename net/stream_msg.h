/*
 * stream_msg.h - a response body streamed from an upstream actor to the
 * network actor that owns the client connection (the reverse proxy's
 * large downloads, docs/ARCHITECTURE.md "Streamed responses"), or to a
 * handler actor whose route reads it (handler/hreq_stream.h: the same
 * messages, conn_id 0).
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
#include "base/clock.h"
#include "mailbox/msg.h"

#define STREAM_MSG_DATA 0x53540001u
#define STREAM_MSG_CREDIT 0x53540002u
/* The same two messages the other way round, for a request body streamed
 * from the network actor to an upstream actor (see "Uploads" below). */
#define STREAM_MSG_UPLOAD_DATA 0x53540003u
#define STREAM_MSG_UPLOAD_CREDIT 0x53540004u

#define STREAM_CHUNK (64u * 1024u)     /* body bytes per data message, at most */
#define STREAM_WINDOW (256u * 1024u)   /* bytes granted at once, at most */
/* A consumer gives up on a producer that owes bytes and said nothing for
 * upstream.read_timeout_ms plus this: the producer gives up after
 * the former and sends ABORT, which may have met a full mailbox. */
#define STREAM_CONSUMER_GRACE_MS 2000u

enum stream_data_kind {
	STREAM_DATA,      /* `len` body bytes */
	STREAM_END,       /* the body is complete (len may be > 0: its last bytes) */
	STREAM_ABORT,     /* the upstream failed: the client connection must close;
			   * an upload: the client's body failed (`status`) */
};

/* The producer to the consumer: upstream -> network actor
 * (STREAM_MSG_DATA), or network actor -> upstream for an upload
 * (STREAM_MSG_UPLOAD_DATA). Owner: see DESIGN. */
struct stream_data {
	struct msg m;                  /* MUST be first; m.from: the producer */
	uint64_t conn_id;              /* the client connection (http_msg.conn_id) */
	uint64_t stream_id;            /* unique within the producer */
	uint32_t len;
	uint8_t kind;                  /* enum stream_data_kind */
	uint16_t status;               /* an upload's ABORT: 413, 400, or 0 (the
					* client left) */
	char data[];                   /* `len` bytes */
};
_Static_assert(offsetof(struct stream_data, m) == 0, "used through its m");

/* The consumer to the producer: network actor -> upstream
 * (STREAM_MSG_CREDIT), or upstream -> network actor for an upload
 * (STREAM_MSG_UPLOAD_CREDIT). Owner: see DESIGN. */
struct stream_credit {
	struct msg m;                  /* MUST be first; m.from: the consumer */
	uint64_t conn_id;
	uint64_t stream_id;
	uint32_t bytes;                /* more body bytes the producer may send */
	bool cancel;                   /* a download: the client is gone (stop,
					* drop the upstream connection); an
					* upload: the upstream answered or failed
					* first (drop the rest of the body) */
};
_Static_assert(offsetof(struct stream_credit, m) == 0, "used through its m");

/* How many more body bytes a consumer grants now (0: none): the window
 * topped up, `ahead` being what it granted and has not consumed yet (or
 * still holds), never past a known length `len` (-1: unknown), and after
 * the first grant only once a quarter of the window is free, so a grant
 * costs a message per piece at most. */
static inline uint64_t stream_grant_more(uint64_t ahead, uint64_t granted, int64_t len)
{
	uint64_t more;

	if (ahead >= STREAM_WINDOW)
		return 0;
	more = STREAM_WINDOW - ahead;
	if (len >= 0 && more >= (uint64_t)len - granted)
		return (uint64_t)len - granted;         /* the rest: never more */
	if (more < STREAM_WINDOW / 4 && granted > 0)
		return 0;                               /* not worth a message yet */
	return more;
}

/* When a consumer gives up on its producer: one that owes bytes (more
 * `granted` than `received`) and was last heard at `heard_ns` has its
 * own bound `bound_ms` plus STREAM_CONSUMER_GRACE_MS; 0 when it owes
 * nothing (the consumer is the one behind). */
static inline uint64_t stream_silence_deadline(uint64_t granted, uint64_t received,
					       uint64_t heard_ns, uint32_t bound_ms)
{
	if (granted == received)
		return 0;
	return heard_ns + ((uint64_t)bound_ms + STREAM_CONSUMER_GRACE_MS) * NS_PER_MS;
}

/* A data message of `type` (STREAM_MSG_DATA or STREAM_MSG_UPLOAD_DATA)
 * with room for `cap` bytes (len 0), or NULL. */
struct stream_data *stream_data_new(uint32_t type, uint32_t cap);

/* Send a credit message of `type` (STREAM_MSG_CREDIT or
 * STREAM_MSG_UPLOAD_CREDIT): a grant, or a cancel, for stream `stream_id`
 * of producer `to`. 0, or the actor_send error (the message is then
 * freed). */
int stream_credit_send(struct actor_system *sys, uint32_t type, actor_addr_t to,
		       uint64_t conn_id, uint64_t stream_id, uint32_t bytes, bool cancel);

/* ---- Uploads: a request body streamed to an upstream actor ----------------
 *
 * The reverse proxy's large request bodies (upstream.proxy_buffer_bytes,
 * docs/ARCHITECTURE.md "Streamed request bodies") take the same road
 * backwards. The network actor hands the request to a handler as soon as
 * its head is parsed (http_msg.upload); the route passes the reference
 * below to the upstream call (upstream_call_stream_body); the upstream
 * actor, once its connection has sent the head, grants credit:
 *
 *   upstream --STREAM_MSG_UPLOAD_CREDIT (grant n bytes, or cancel)--> network
 *   network  --STREAM_MSG_UPLOAD_DATA (bytes, then END or ABORT)--> upstream
 *
 * The network actor sends nothing before the first grant and reads the
 * client's socket only while less than STREAM_WINDOW of the body waits
 * for one, so TCP slows a client that sends faster than the upstream
 * takes. A cancel (the upstream answered or failed first) makes the
 * network actor discard the rest of the body and close the connection
 * after the answer; an ABORT (the client left, its body was malformed or
 * over upstream.proxy_max_body_bytes) fails the call.
 *
 * Owner: the reference is plain data, copied into the call. */
struct upload_ref {
	actor_addr_t from;             /* the network actor (the producer) */
	uint64_t conn_id;              /* the client connection */
	uint64_t id;                   /* the request's seq on it */
	int64_t len;                   /* Content-Length, or -1: chunked */
};

#endif
