/*
 * ws_frame.h - RFC 6455 frames from a client, without sockets: the
 * WebSocket parser of a network actor's connections (ws_conn.c), the unit
 * tests and the fuzzer drive the same code with buffers.
 *
 * DESIGN
 * Bytes go in as they arrive (any cut: a header may straddle reads); out
 * come complete messages and control frames:
 *  - a data message (text or binary, possibly fragmented) is unmasked
 *    straight into the event message the handler will receive (a
 *    struct push_msg of type PUSH_MSG_EVENT, net/../push/ws_push.h), so
 *    it is copied once; the buffer grows as bytes arrive, never ahead of
 *    them, up to websocket.max_message_bytes (past it: 1009);
 *  - control frames (ping, pong, close) may come between the fragments
 *    of a message and are handed over whole (at most 125 bytes);
 *  - every rule a server must enforce fails the parse with the close
 *    code to send: unmasked frame, RSV bits (no extension is negotiated),
 *    reserved opcode, a continuation with no message or a new message
 *    inside one, a fragmented or long control frame, a length not
 *    minimally encoded or with the top bit set, a close frame of one
 *    byte or with a code nobody may send (1002); invalid UTF-8 in a text
 *    message, checked as it arrives and again at its end, or in a close
 *    reason (1007); a message over the limit (1009).
 * The parser stops after a close frame, or when the message callback
 * asks it to (flow control: the rest stays with the caller).
 *
 * Why our own parser rather than wslay's (docs/ARCHITECTURE.md,
 * "WebSocket"): wslay's event API copies every outgoing message into its
 * own queue (no shared frame for a channel's 5,000 members), keeps two
 * 4 KiB buffers per connection for its whole life, and closes frame-level
 * errors without a status code. Its rules are the model here, and
 * tests/fuzz/fuzz_ws_frame.c checks this parser against wslay's on the
 * same bytes.
 *
 * Thread: the owner of the parser (one network actor).
 */
#ifndef ACTORD_WS_FRAME_H
#define ACTORD_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "push/ws_blob.h"
#include "push/ws_push.h"
#include "push/ws_utf8.h"

struct ws_parser_cb {
	/* A complete data message: `ev` (PUSH_MSG_EVENT, event
	 * WS_EV_MESSAGE, text, data, len) is the callee's now. Return 0 to
	 * go on, 1 to make ws_parser_feed return right after this message. */
	int (*message)(void *ctx, struct push_msg *ev);
	/* A ping, pong or (validated) close frame: `code` is the close code
	 * (0: none), payload the ping/pong data or the close reason.
	 * Return as for `message`. */
	int (*control)(void *ctx, enum ws_opcode op, unsigned code,
		       const uint8_t *payload, size_t len);
};

/* Owner: one network actor thread. Fields private to ws_frame.c. */
struct ws_parser {
	uint64_t remaining;          /* payload bytes left in this frame */
	uint64_t max_message;
	struct push_msg *msg;        /* data message being assembled */
	uint32_t msg_cap;            /* bytes allocated at msg->data */
	struct ws_utf8 utf8;         /* text message being assembled */
	struct ws_utf8 ctl_utf8;     /* close reason being received */
	uint8_t state;
	uint8_t hdr[14];
	uint8_t hdr_len;
	uint8_t hdr_need;
	uint8_t op;                  /* opcode of this frame */
	uint8_t fin;
	uint8_t mask[4];
	uint8_t mask_off;
	uint8_t msg_op;              /* WS_OP_TEXT/BINARY in progress, or 0 */
	uint8_t ctl_len;
	bool closed;                 /* a close frame was parsed */
	const char *why;             /* why the stream failed (static), or NULL */
	uint8_t ctl[WS_CONTROL_MAX];
};

void ws_parser_init(struct ws_parser *p, uint64_t max_message);

/* Free a message in progress. */
void ws_parser_dispose(struct ws_parser *p);

/* Feed `len` bytes. Returns the bytes consumed (all of them unless a
 * callback paused or a close frame ended the input), or the negated
 * close code to fail the connection with (-1002, -1007, -1009; -1011 out
 * of memory). */
ssize_t ws_parser_feed(struct ws_parser *p, const uint8_t *data, size_t len,
		       const struct ws_parser_cb *cb, void *ctx);

/* Why ws_parser_feed failed the stream (a static string), or NULL. */
const char *ws_parser_error(const struct ws_parser *p);

/* Whether a message or frame is partly received (idle connections own
 * no buffer). */
bool ws_parser_busy(const struct ws_parser *p);

/* Whether `code` may appear in a close frame (RFC 6455 7.4). */
bool ws_close_code_valid(unsigned code);

#endif
