/*
 * fuzz_ws_frame.c - libFuzzer target: arbitrary bytes from a WebSocket
 * client through the frame parser (net/ws_frame.c: headers, masking,
 * fragmentation, control frames, UTF-8, limits), checked against itself
 * and against wslay, the library it was written instead of
 * (docs/ARCHITECTURE.md, "WebSocket").
 *
 * Input layout: byte 0 picks how the rest is cut into reads (1..64
 * bytes, or all at once), byte 1 the options: bit 0 a small message
 * limit (200 bytes), bit 1 the message callback pauses after every
 * message (the caller feeds the rest again, as a network actor does when
 * a handler's mailbox is full); the remaining bytes are the client's.
 *
 * Invariants (abort on violation):
 *  - the outcome (messages and control frames with their payloads, the
 *    close code of a failure, whether a close frame ended the input) is
 *    the same however the input is cut and paused;
 *  - it is the one wslay's server context reaches on the same bytes,
 *    under the same limit: the same messages and control frames in the
 *    same order, and a failure where wslay fails, with wslay's code
 *    (wslay closes frame-level errors without a code: those must be
 *    1002 here; and it only reads a frame once a byte of its payload
 *    has come, so it may fail later than we do). Two documented
 *    differences stop the comparison: a close
 *    frame of one byte (1002 here, as Autobahn's 7.3.2 wants; wslay
 *    accepts it) and the close codes 1012-1014, registered after wslay's
 *    list (accepted here);
 *  - no leak once disposed (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>

#include "net/ws_frame.h"

#define MAX_EVENTS 64

struct event {
	uint8_t op;
	uint16_t code;
	uint32_t len;
	uint64_t hash;
};

struct outcome {
	struct event ev[MAX_EVENTS];
	unsigned n;
	int fail;                 /* close code of a failure, 0 */
	bool closed;              /* a close frame ended the input */
	bool quirk;               /* a documented difference with wslay */
	bool pause;
};

static uint64_t hash(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void record(struct outcome *o, uint8_t op, unsigned code, const uint8_t *p, size_t n)
{
	if (o->n < MAX_EVENTS)
		o->ev[o->n] = (struct event){ op, (uint16_t)code, (uint32_t)n, hash(p, n) };
	o->n++;
}

static int on_message(void *ctx, struct push_msg *ev)
{
	struct outcome *o = ctx;

	if (ev->len > 0 && ev->data[ev->len] != '\0')
		abort();
	record(o, ev->text ? WS_OP_TEXT : WS_OP_BINARY, 0, (const uint8_t *)ev->data, ev->len);
	msg_free(&ev->m);
	return o->pause ? 1 : 0;
}

static int on_control(void *ctx, enum ws_opcode op, unsigned code, const uint8_t *p, size_t n)
{
	struct outcome *o = ctx;

	if (op == WS_OP_CLOSE && code >= 1012 && code <= 1014)
		o->quirk = true;
	record(o, (uint8_t)op, code, p, n);
	if (op == WS_OP_CLOSE)
		o->closed = true;
	return 0;
}

static const struct ws_parser_cb cb = { on_message, on_control };

static void ours(struct outcome *o, const uint8_t *data, size_t size, size_t cut,
		 uint64_t max, bool pause)
{
	struct ws_parser p;
	size_t off = 0;

	memset(o, 0, sizeof(*o));
	o->pause = pause;
	ws_parser_init(&p, max);
	while (off < size && !o->closed) {
		size_t n = size - off < cut ? size - off : cut;
		ssize_t r = ws_parser_feed(&p, data + off, n, &cb, o);

		if (r < 0) {
			o->fail = (int)-r;
			if (o->fail != 1002 && o->fail != 1007 && o->fail != 1009 && o->fail != 1011)
				abort();
			break;
		}
		if ((size_t)r > n || ((size_t)r < n && !pause && !o->closed))
			abort();
		off += (size_t)r;
	}
	ws_parser_dispose(&p);
}

/* ---- wslay ---- */

struct wsl {
	const uint8_t *data;
	size_t size, off;
	struct outcome *o;
	uint8_t sent[512];
	size_t nsent;
};

static ssize_t wsl_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
			void *user)
{
	struct wsl *w = user;
	size_t n = w->size - w->off < len ? w->size - w->off : len;

	(void)flags;
	if (n == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	memcpy(buf, w->data + w->off, n);
	w->off += n;
	return (ssize_t)n;
}

static ssize_t wsl_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
			int flags, void *user)
{
	struct wsl *w = user;
	size_t n = sizeof(w->sent) - w->nsent < len ? sizeof(w->sent) - w->nsent : len;

	(void)ctx;
	(void)flags;
	memcpy(w->sent + w->nsent, data, n);
	w->nsent += n;
	return (ssize_t)len;
}

static void wsl_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
		    void *user)
{
	struct wsl *w = user;
	const uint8_t *p = a->msg;
	size_t n = a->msg_length;

	(void)ctx;
	if (a->opcode == WSLAY_CONNECTION_CLOSE) {
		if (n == 1)
			w->o->quirk = true;
		if (n >= 2) {
			p += 2;
			n -= 2;
		}
		w->o->closed = true;
	}
	record(w->o, a->opcode, a->status_code, p, n);
}

/* The code of the close frame wslay queued (0: none). */
static int sent_close_code(const struct wsl *w)
{
	size_t off = 0;
	int code = -1;

	while (off + 2 <= w->nsent) {
		uint8_t op = w->sent[off] & 0x0f, len = w->sent[off + 1] & 0x7f;

		if (op == WSLAY_CONNECTION_CLOSE)
			code = len >= 2 && off + 4 <= w->nsent ?
			       (w->sent[off + 2] << 8) | w->sent[off + 3] : 0;
		off += 2u + len;
	}
	return code;
}

static void theirs(struct outcome *o, const uint8_t *data, size_t size, uint64_t max)
{
	static const struct wslay_event_callbacks cbs = {
		.recv_callback = wsl_recv, .send_callback = wsl_send, .on_msg_recv_callback = wsl_msg,
	};
	struct wsl w = { .data = data, .size = size, .o = o };
	wslay_event_context_ptr ctx;
	int r;

	memset(o, 0, sizeof(*o));
	if (wslay_event_context_server_init(&ctx, &cbs, &w) != 0)
		abort();
	wslay_event_config_set_max_recv_msg_length(ctx, max);
	r = wslay_event_recv(ctx);
	wslay_event_send(ctx);
	if (r == WSLAY_ERR_CALLBACK_FAILURE) {
		o->fail = 1002;           /* a frame-level error, closed without a code */
	} else if (!wslay_event_get_read_enabled(ctx) && !o->closed) {
		int code = sent_close_code(&w);

		o->fail = code > 0 ? code : 1002;
	}
	wslay_event_context_free(ctx);
}

static bool same_events(const struct outcome *a, const struct outcome *b, unsigned n)
{
	for (unsigned i = 0; i < n && i < MAX_EVENTS; i++)
		if (a->ev[i].op != b->ev[i].op || a->ev[i].code != b->ev[i].code ||
		    a->ev[i].len != b->ev[i].len || a->ev[i].hash != b->ev[i].hash)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome whole, cut, lib;
	size_t step;
	uint64_t max;

	if (size < 2)
		return 0;
	step = data[0] % 65 == 0 ? size : data[0] % 65;
	max = (data[1] & 1) ? 200 : 1 << 20;
	ours(&whole, data + 2, size - 2, size, max, false);
	ours(&cut, data + 2, size - 2, step, max, (data[1] & 2) != 0);
	if (whole.n != cut.n || !same_events(&whole, &cut, whole.n) || whole.fail != cut.fail ||
	    whole.closed != cut.closed)
		abort();
	/* wslay reads in 4 KiB pieces and checks a close reason per piece:
	 * compare on inputs it reads in one. */
	if (size - 2 > 4000)
		return 0;
	theirs(&lib, data + 2, size - 2, max);
	if (whole.quirk || lib.quirk) {
		unsigned n = whole.n < lib.n ? whole.n : lib.n;

		if (n > 0 && !same_events(&whole, &lib, n - 1))
			abort();
		return 0;
	}
	/* wslay reads a frame only once a byte of its payload is there: it
	 * may not have failed yet where we refused the header itself. */
	if (whole.fail != 0 && lib.fail == 0 && !lib.closed)
		lib.fail = whole.fail;
	if (whole.n != lib.n || !same_events(&whole, &lib, whole.n) || whole.fail != lib.fail ||
	    whole.closed != lib.closed)
		abort();
	return 0;
}
