/*
 * ws_frame.c - the client frame parser (see ws_frame.h).
 *
 * DESIGN
 * Two states: reading a header (2 bytes, then as many more as the length
 * and mask need, at most 14), and reading a payload. Payload bytes are
 * unmasked as they are copied: data into the message being assembled,
 * control payloads into a 125-byte buffer inside the parser. Checks are
 * made as early as the bytes allow (header rules when the header is
 * complete, UTF-8 per chunk), so a bad client is cut off before it makes
 * us hold anything.
 *
 * Thread: the parser's owner.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

enum { ST_HEADER, ST_PAYLOAD, ST_CLOSED };

#define MSG_MIN_CAP 256u

bool ws_close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

void ws_parser_init(struct ws_parser *p, uint64_t max_message)
{
	memset(p, 0, sizeof(*p));
	p->state = ST_HEADER;
	p->hdr_need = 2;
	p->max_message = max_message;
}

void ws_parser_dispose(struct ws_parser *p)
{
	if (p->msg != NULL)
		msg_free(&p->msg->m);
	p->msg = NULL;
	p->msg_cap = 0;
	p->msg_op = 0;
}

bool ws_parser_busy(const struct ws_parser *p)
{
	return p->msg != NULL || p->msg_op != 0 || p->hdr_len > 0 || p->state == ST_PAYLOAD;
}

/* How many header bytes the first two announce. */
static uint8_t header_size(const uint8_t *h)
{
	uint8_t len7 = h[1] & 0x7fu;
	uint8_t n = 2 + ((h[1] & 0x80u) ? 4 : 0);

	return (uint8_t)(n + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0));
}

/* The stream is failed with close `code`: remember why (the log line
 * and the close frame say it). Returns -code. */
static int fail(struct ws_parser *p, unsigned code, const char *why)
{
	p->why = why;
	return -(int)code;
}

const char *ws_parser_error(const struct ws_parser *p)
{
	return p->why;
}

/* The first two bytes: every rule they decide, before waiting for the
 * rest of the header. 0 or -1002. */
static int check_start(struct ws_parser *p)
{
	const uint8_t *h = p->hdr;
	uint8_t op = h[0] & 0x0fu;

	if ((h[0] & 0x70u) != 0)
		return fail(p, 1002, "RSV bits set without an extension");
	if (!(h[1] & 0x80u))
		return fail(p, 1002, "unmasked frame from a client");
	switch (op) {
	case WS_OP_PING:
	case WS_OP_PONG:
	case WS_OP_CLOSE:
		if (!(h[0] & 0x80u))
			return fail(p, 1002, "fragmented control frame");
		return (h[1] & 0x7fu) <= WS_CONTROL_MAX ? 0 :
		       fail(p, 1002, "control frame over 125 bytes");
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		return p->msg_op == 0 ? 0 : fail(p, 1002, "new message inside a fragmented one");
	case WS_OP_CONT:
		return p->msg_op != 0 ? 0 : fail(p, 1002, "continuation frame with nothing to continue");
	default:
		return fail(p, 1002, "reserved opcode");
	}
}

/* Bytes of the extended length the first two bytes announce. */
static uint8_t ext_size(const uint8_t *h)
{
	uint8_t len7 = h[1] & 0x7fu;

	return len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
}

/* The payload length of a header whose length bytes are all there. */
static uint64_t frame_length(const uint8_t *h)
{
	uint8_t n = ext_size(h);
	uint64_t len = n == 0 ? (h[1] & 0x7fu) : 0;

	for (uint8_t i = 0; i < n; i++)
		len = (len << 8) | h[2 + i];
	return len;
}

/* The extended length is complete: minimal encoding, top bit clear
 * (before the mask key arrives). 0 or -1002. */
static int check_length(struct ws_parser *p)
{
	uint64_t len = frame_length(p->hdr);

	if (ext_size(p->hdr) == 2)
		return len < 126 ? fail(p, 1002, "payload length not minimally encoded") : 0;
	if ((len >> 63) != 0)
		return fail(p, 1002, "payload length with its top bit set");
	return len <= 0xffffu ? fail(p, 1002, "payload length not minimally encoded") : 0;
}

/* A complete header (checked as it came): set up the payload. 0 or
 * -1009. */
static int start_frame(struct ws_parser *p)
{
	const uint8_t *h = p->hdr;
	uint8_t op = h[0] & 0x0fu;
	const uint8_t *m = h + 2 + ext_size(h);
	uint64_t len = frame_length(h);

	memcpy(p->mask, m, 4);
	p->mask_off = 0;
	p->op = op;
	p->fin = (h[0] & 0x80u) != 0;
	p->remaining = len;
	if (op & 0x8u) {
		p->ctl_len = 0;
		ws_utf8_init(&p->ctl_utf8);
		return 0;
	}
	if (len > p->max_message || (p->msg != NULL && len > p->max_message - p->msg->len))
		return fail(p, 1009, "message over websocket.max_message_bytes");
	if (op != WS_OP_CONT) {
		p->msg_op = op;
		if (op == WS_OP_TEXT)
			ws_utf8_init(&p->utf8);
	}
	return 0;
}

/* Make room for `n` more bytes in the message being assembled. */
static int msg_reserve(struct ws_parser *p, size_t n)
{
	size_t used = p->msg != NULL ? p->msg->len : 0, cap = p->msg_cap;
	struct push_msg *m;

	if (p->msg != NULL && used + n <= cap)
		return 0;
	if (cap < MSG_MIN_CAP)
		cap = MSG_MIN_CAP;
	while (cap < used + n)
		cap *= 2;
	/* Never ahead of what the frame announced (remaining counts n). */
	if (cap > used + p->remaining && used + p->remaining >= used + n)
		cap = used + p->remaining;
	if (cap > UINT32_MAX - 1)
		return -ENOMEM;
	if (p->msg == NULL) {
		m = push_msg_new(PUSH_MSG_EVENT, NULL, cap);
		if (m != NULL)
			m->len = 0;
	} else {
		m = realloc(p->msg, sizeof(*m) + cap + 1);
	}
	if (m == NULL)
		return -ENOMEM;
	p->msg = m;
	p->msg_cap = (uint32_t)cap;
	return 0;
}

static void unmask(struct ws_parser *p, uint8_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] ^ p->mask[(p->mask_off + i) & 3u];
	p->mask_off = (uint8_t)((p->mask_off + n) & 3u);
}

/* A control frame is complete. Returns the callback's answer or -code. */
static int end_control(struct ws_parser *p, const struct ws_parser_cb *cb, void *ctx)
{
	unsigned code = 0;
	const uint8_t *payload = p->ctl;
	size_t len = p->ctl_len;

	if (p->op == WS_OP_CLOSE) {
		if (len == 1)
			return fail(p, 1002, "close frame with a 1-byte payload");
		if (len >= 2) {
			/* The reason's UTF-8 first: checked as it came (as
			 * wslay does), it may end inside a character. */
			if (!ws_utf8_complete(&p->ctl_utf8))
				return fail(p, 1007, "close reason is not UTF-8");
			code = ((unsigned)p->ctl[0] << 8) | p->ctl[1];
			if (!ws_close_code_valid(code))
				return fail(p, 1002, "invalid close code");
			payload += 2;
			len -= 2;
		}
		p->closed = true;
		p->state = ST_CLOSED;
	}
	return cb->control(ctx, (enum ws_opcode)p->op, code, payload, len);
}

/* A data frame is complete; if it was the last, hand the message over. */
static int end_data(struct ws_parser *p, const struct ws_parser_cb *cb, void *ctx)
{
	struct push_msg *ev;
	bool text = p->msg_op == WS_OP_TEXT;

	if (!p->fin)
		return 0;
	if (text && !ws_utf8_complete(&p->utf8))
		return fail(p, 1007, "text message is not UTF-8");
	if (p->msg == NULL && msg_reserve(p, 0) != 0)
		return fail(p, 1011, "out of memory");
	ev = p->msg;
	p->msg = NULL;
	p->msg_cap = 0;
	p->msg_op = 0;
	ev->data[ev->len] = '\0';
	ev->event = WS_EV_MESSAGE;
	ev->text = text;
	return cb->message(ctx, ev);
}

ssize_t ws_parser_feed(struct ws_parser *p, const uint8_t *data, size_t len,
		       const struct ws_parser_cb *cb, void *ctx)
{
	size_t off = 0;

	while (p->state != ST_CLOSED) {
		int rc = 0;

		if (p->state == ST_HEADER) {
			while (p->hdr_len < p->hdr_need && off < len) {
				p->hdr[p->hdr_len++] = data[off++];
				if (p->hdr_len == 2) {
					rc = check_start(p);
					if (rc < 0)
						return rc;
					p->hdr_need = header_size(p->hdr);
				}
				if (p->hdr_len == 2 + ext_size(p->hdr) && p->hdr_len > 2 &&
				    (rc = check_length(p)) < 0)
					return rc;
			}
			if (p->hdr_len < p->hdr_need)
				break;
			rc = start_frame(p);
			if (rc < 0)
				return rc;
			p->hdr_len = 0;
			p->hdr_need = 2;
			p->state = ST_PAYLOAD;
		}
		if (p->remaining > 0) {
			size_t n = len - off < p->remaining ? len - off : (size_t)p->remaining;

			if (n == 0)
				break;
			if (p->op & 0x8u) {
				size_t at = p->ctl_len;

				unmask(p, p->ctl + at, data + off, n);
				p->ctl_len = (uint8_t)(at + n);
				/* A close reason is checked as it arrives. */
				if (p->op == WS_OP_CLOSE && at + n > 2 &&
				    !ws_utf8_feed(&p->ctl_utf8, p->ctl + (at > 2 ? at : 2),
						  at + n - (at > 2 ? at : 2)))
					return fail(p, 1007, "close reason is not UTF-8");
			} else {
				uint8_t *dst;

				if (msg_reserve(p, n) != 0)
					return fail(p, 1011, "out of memory");
				dst = (uint8_t *)p->msg->data + p->msg->len;
				unmask(p, dst, data + off, n);
				p->msg->len += (uint32_t)n;
				if (p->msg_op == WS_OP_TEXT && !ws_utf8_feed(&p->utf8, dst, n))
					return fail(p, 1007, "text message is not UTF-8");
			}
			off += n;
			p->remaining -= n;
			if (p->remaining > 0)
				break;
		}
		p->state = ST_HEADER;
		rc = (p->op & 0x8u) ? end_control(p, cb, ctx) : end_data(p, cb, ctx);
		if (rc < 0)
			return rc;
		if (rc > 0)
			break;
	}
	return (ssize_t)off;
}
