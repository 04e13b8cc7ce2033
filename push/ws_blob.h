/*
 * ws_blob.h - one WebSocket frame, serialised once and shared by every
 * connection it goes to.
 *
 * DESIGN
 * A server frame is never masked, so the very same bytes (header and
 * payload, contiguous) suit every client: a message published to a
 * channel is framed ONCE per instance, by the publisher, and each network
 * actor's connections queue a pointer to it, never a copy. The reference
 * count is atomic because the blob crosses threads (publisher -> pubsub
 * actor -> network actors); a network actor takes the references for all
 * of a channel's members in one atomic add and each connection gives its
 * own back once the frame is written (or dropped).
 *
 * `published_ns` (monotonic) travels with the frame so the network actor
 * can measure publish-to-write latency (the fan-out histogram).
 *
 * Ownership: whoever holds a reference may read `data`; nobody writes it
 * after ws_blob_frame returned. The last ws_blob_unref frees it, on any
 * thread (plain malloc/free).
 *
 * Thread: any.
 */
#ifndef ACTORD_WS_BLOB_H
#define ACTORD_WS_BLOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 6455 opcodes. */
enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

#define WS_FRAME_HEADER_MAX 10   /* server frames: no mask key */
#define WS_CONTROL_MAX 125       /* control frame payload limit */

struct ws_blob {
	_Atomic uint32_t refs;
	uint32_t len;             /* bytes at data: header + payload */
	uint64_t published_ns;    /* monotonic; 0: not a published message */
	uint8_t opcode;
	uint8_t data[];
};

/* Write the header of an unmasked final frame; returns its length. */
size_t ws_frame_header(uint8_t *out, enum ws_opcode op, uint64_t payload_len);

/* A new blob (one reference) holding a final frame of `op` with
 * `payload`. NULL on ENOMEM or a control payload over 125 bytes. */
struct ws_blob *ws_blob_frame(enum ws_opcode op, const void *payload, size_t len);

/* A new blob (one reference) holding `len` bytes that should already be
 * a frame (a message another instance published, received through
 * Redis). They must be exactly one final, unmasked text or binary frame,
 * its length minimally encoded and its text UTF-8: anything else (a
 * stranger publishing to our channels, a truncated payload) would be
 * written as is and break the stream of every member. NULL with
 * *err = -EBADMSG (not such a frame) or -ENOMEM. */
struct ws_blob *ws_blob_copy(const void *frame, size_t len, int *err);

/* A close frame with `code` (0: none) and a reason cut to fit. */
struct ws_blob *ws_blob_close(unsigned code, const char *reason);

static inline void ws_blob_ref(struct ws_blob *b, uint32_t n)
{
	atomic_fetch_add_explicit(&b->refs, n, memory_order_relaxed);
}

/* Drop one reference; frees the blob with the last. NULL is fine. */
void ws_blob_unref(struct ws_blob *b);

#endif
