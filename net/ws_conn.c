/*
 * ws_conn.c - a network actor's WebSocket connections (RFC 6455): the
 * switch from HTTP, frames in, the frame queue out, ping, the close
 * handshake, timeouts and the events a handler actor receives.
 *
 * DESIGN
 * A connection becomes a WebSocket in two steps. When a handler accepts
 * an upgrade its 101 answer comes back like any reply, flagged
 * HTTP_MSG_F_WEBSOCKET: ws_net_response attaches a struct ws_link to the
 * connection (phase PENDING) and remembers the handler. When the 101
 * leaves in its turn (http_conn_output), ws_conn_begin takes the socket
 * over: the handler gets WS_EV_OPEN, and from then on net_io.c hands
 * every socket event, timer and end-of-iteration flush to this file.
 *
 * In: one recv(2) per readable event into the actor's read buffer, fed
 * to the frame parser (ws_frame.c), which unmasks each data message
 * straight into the event message for the handler. Events go with
 * actor_reply, so they keep their order and are never dropped: when the
 * handler's mailbox is full the event waits in the actor's retry list,
 * this connection stops reading for WS_RETRY_MS, and the bytes not parsed
 * yet wait in `held` (TCP pushes back on the client meanwhile).
 *
 * Out: a FIFO of frame references (struct ws_blob, push/ws_blob.h); a
 * frame published to a channel is the same blob in every member's queue.
 * At the end of the loop iteration each dirty connection hands its queue
 * to ONE sendmsg(2) (up to WS_WRITEV_MAX frames, no copy). The queue is
 * bounded (websocket.max_queue_messages / max_queue_bytes); a frame that
 * does not fit is dropped and counted, and with slow_consumer "close" the
 * connection is closed 1008 (its unsent frames dropped too): a slow
 * reader never makes the actor buffer without bound, never stalls it.
 * The ring starts inside the link and goes back there once drained, so an
 * idle connection owns no queue memory.
 *
 * Closing: whoever speaks first, the close frame goes after the frames
 * already queued (except on a protocol error or the slow-consumer policy,
 * which drop them), nothing is sent after it, and once both close frames
 * have crossed (or ours is out after a failure) the write side is shut
 * and input discarded until the client closes or close_timeout_ms
 * passes. The handler's WS_EV_CLOSE carries the code: the client's, ours,
 * or 1006 when the TCP connection just ended; it is sent exactly once,
 * when the connection is freed (also for an upgrade that never opened).
 *
 * Timers (the connection's one lazy timer): ping after ping_interval_ms
 * without input, close 1001 after idle_timeout_ms without input, the
 * close handshake deadline, the write timeout (http.write_timeout_ms
 * without write progress: reset), and the end of a read pause.
 *
 * Thread: the owning network actor.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ws_internal.h"
#include "net_timer.h"
#include "actors/log.h"
#include "base/clock.h"

const char *const ws_close_kind_names[WS_CLOSE_KINDS] = {
	"client", "server", "protocol", "idle", "slow_consumer", "abnormal",
};

static const struct config_websocket *ws_cfg(const struct net_actor *na)
{
	return &config_current_or(na->sh->cfg)->websocket;
}

static struct ws_stats *ws_st(const struct ws_link *l)
{
	return &l->c->na->stats->ws;
}

/* One line per connection we cut off (a broken rule, a slow consumer),
 * within the actor's log budget: a flood of bad clients cannot flood the
 * log, and the counters still count every one. */
static void log_cut(struct ws_link *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void log_cut(struct ws_link *l, const char *fmt, ...)
{
	char peer[64], what[192];
	va_list ap;

	if (!log_budget_take(&l->c->na->env.log_budget, clock_now_ns(), HTTP_CONN_LOG_PER_S))
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	net_describe_peer(NULL, &l->c->hc, peer, sizeof(peer));
	log_emit(LOGL_INFO, NULL, "websocket %s: %s", peer, what);
}

/* ---- Events to the handler ---- */

/* Send `ev` to the handler in order behind earlier events; a full mailbox
 * pauses reading. <0 (freed) if the handler is gone. */
static int emit(struct ws_link *l, struct push_msg *ev, uint64_t now)
{
	int rc;

	ev->ws_id = l->id;
	ev->m.reply_to = l->handler;
	rc = actor_reply(&ev->m);
	if (rc == 1) {
		l->paused = true;
		l->resume_ns = now + (uint64_t)WS_RETRY_MS * NS_PER_MS;
		counter_add(&ws_st(l)->events_delayed_total, 1);
		return 0;
	}
	return rc;
}

static void emit_close(actor_addr_t handler, uint64_t id, unsigned code, const char *reason)
{
	struct push_msg *ev = push_msg_new(PUSH_MSG_EVENT, reason, reason != NULL ? strlen(reason) : 0);

	if (ev == NULL) {
		log_error("websocket: no memory for a close event: the handler keeps a session");
		return;
	}
	ev->event = WS_EV_CLOSE;
	ev->code = (uint16_t)code;
	ev->ws_id = id;
	ev->m.reply_to = handler;
	actor_reply(&ev->m);
}

/* ---- The outbound queue ---- */

static struct ws_blob **q_slot(struct ws_link *l, uint32_t i)
{
	return &l->q[(l->q_head + i) % l->q_cap];
}

static bool q_push(struct ws_link *l, struct ws_blob *b)
{
	if (l->q_len == l->q_cap) {
		uint32_t cap = l->q_cap * 2;
		struct ws_blob **q = malloc(sizeof(*q) * cap);

		if (q == NULL)
			return false;
		for (uint32_t i = 0; i < l->q_len; i++)
			q[i] = *q_slot(l, i);
		if (l->q != l->q_inline)
			free(l->q);
		l->q = q;
		l->q_cap = cap;
		l->q_head = 0;
	}
	*q_slot(l, l->q_len) = b;
	l->q_len++;
	l->q_bytes += b->len;
	return true;
}

static void q_pop(struct ws_link *l)
{
	struct ws_blob *b = l->q[l->q_head];

	l->q_bytes -= b->len - l->head_off;
	l->head_off = 0;
	l->q_head = (l->q_head + 1) % l->q_cap;
	l->q_len--;
	ws_blob_unref(b);
	if (l->q_len == 0 && l->q != l->q_inline) {
		free(l->q);    /* drained: idle connections own no ring */
		l->q = l->q_inline;
		l->q_cap = WS_QUEUE_INLINE;
		l->q_head = 0;
	}
}

/* Drop what has not started to leave (a frame half written must finish:
 * cutting it would corrupt the stream). */
static void q_cut(struct ws_link *l)
{
	uint32_t keep = l->head_off > 0 ? 1 : 0;

	while (l->q_len > keep) {
		struct ws_blob **s = q_slot(l, l->q_len - 1);

		l->q_bytes -= (*s)->len;
		ws_blob_unref(*s);
		l->q_len--;
		counter_add(&ws_st(l)->dropped_slow_total, 1);
	}
}

static void q_free(struct ws_link *l)
{
	while (l->q_len > 0) {
		ws_blob_unref(*q_slot(l, 0));
		l->q_head = (l->q_head + 1) % l->q_cap;
		l->q_len--;
	}
	if (l->q != l->q_inline)
		free(l->q);
	l->q = l->q_inline;
	l->q_cap = WS_QUEUE_INLINE;
}

/* Queue our close frame; from now on nothing else is queued. */
static void start_close(struct ws_link *l, unsigned code, const char *reason,
			enum ws_close_kind kind, bool fail, bool cut)
{
	struct ws_blob *b;

	if (l->close_queued)
		return;
	if (cut)
		q_cut(l);
	l->close_code = (uint16_t)code;
	l->close_kind = (uint8_t)kind;
	snprintf(l->close_reason, sizeof(l->close_reason), "%s", reason != NULL ? reason : "");
	l->failed = fail;
	l->close_queued = true;
	l->phase = WSP_CLOSING;
	/* The handshake's clock starts once our close frame is out (until
	 * then the write timeout watches a client that does not read). */
	l->close_at_ns = 0;
	b = ws_blob_close(code, reason);
	if (b == NULL || !q_push(l, b)) {
		ws_blob_unref(b);
		l->failed = true;   /* no frame: just close */
	}
	net_conn_mark_dirty(l->c);
}

/* Whether `b` would take the queue past websocket.max_queue_messages or
 * max_queue_bytes: then it is dropped (counted), and the link closed 1008
 * if websocket.slow_consumer says so. A frame to an empty queue always
 * goes. */
static bool q_refuse(struct ws_link *l, struct ws_blob *b)
{
	const struct config_websocket *wc = ws_cfg(l->c->na);

	if (l->q_len == 0 || (l->q_len < wc->max_queue_messages &&
			      l->q_bytes + b->len <= wc->max_queue_bytes))
		return false;
	counter_add(&ws_st(l)->dropped_slow_total, 1);
	ws_blob_unref(b);
	if (wc->slow_consumer == CONFIG_WS_SLOW_CLOSE) {
		log_cut(l, "closing 1008: slow consumer (%u frames, %llu bytes waiting; "
			"websocket.max_queue_messages %u, max_queue_bytes %llu)",
			l->q_len, (unsigned long long)l->q_bytes, wc->max_queue_messages,
			(unsigned long long)wc->max_queue_bytes);
		start_close(l, 1008, "slow consumer", WS_CLOSE_SLOW, false, true);
	}
	return true;
}

void ws_link_queue(struct ws_link *l, struct ws_blob *b)
{
	if (l->close_queued || l->phase == WSP_LINGER) {
		counter_add(&ws_st(l)->dropped_gone_total, 1);
		ws_blob_unref(b);
		return;
	}
	if (q_refuse(l, b))
		return;
	if (!q_push(l, b)) {
		counter_add(&ws_st(l)->dropped_slow_total, 1);
		ws_blob_unref(b);
		return;
	}
	net_conn_mark_dirty(l->c);
}

/* How far from the queue's tail a pong still waiting is looked for. */
#define PONG_SCAN 64

/* Replace a pong that has not started to leave, near the tail, with `b`
 * (RFC 6455 5.5.3: a pong may answer only the latest ping). */
static bool pong_replace(struct ws_link *l, struct ws_blob *b)
{
	uint32_t first = l->head_off > 0 ? 1 : 0;

	for (uint32_t k = 0; k < PONG_SCAN && k + first < l->q_len; k++) {
		struct ws_blob **s = q_slot(l, l->q_len - 1 - k);

		if ((*s)->opcode != WS_OP_PONG)
			continue;
		l->q_bytes = l->q_bytes - (*s)->len + b->len;
		ws_blob_unref(*s);
		*s = b;
		return true;
	}
	return false;
}

/* A control frame of our own (pong, ping), ahead of nothing: it goes in
 * turn, after the frames already queued, which RFC 6455 allows. A pong
 * takes the place of one still waiting, so a burst of pings (a client may
 * send a thousand in one packet) costs one pong, not a queue full of
 * them and a 1008. The queue's limits hold for the rest: a client that
 * pings and never reads holds one pong and is reset at the write timeout. */
static void queue_control(struct ws_link *l, enum ws_opcode op, const uint8_t *p, size_t n)
{
	struct ws_blob *b = ws_blob_frame(op, p, n);

	if (b == NULL)
		return;
	if (op == WS_OP_PONG && pong_replace(l, b))
		return;
	if (q_refuse(l, b))
		return;
	if (!q_push(l, b))
		ws_blob_unref(b);
	net_conn_mark_dirty(l->c);
}

/* ---- Socket ---- */

static void set_events(struct ws_link *l)
{
	struct net_conn *c = l->c;
	struct ev_loop *loop = c->na->loop;
	int want = 0, have = ev_is_active(&c->io) ? (c->io.events & (EV_READ | EV_WRITE)) : 0;

	if (!l->paused)
		want |= EV_READ;
	if (l->q_len > 0 || net_buf_pending(&c->out) > 0)
		want |= EV_WRITE;
	if (have == want)
		return;
	ev_io_stop(loop, &c->io);
	if (want != 0) {
		ev_io_modify(&c->io, want);
		ev_io_start(loop, &c->io);
	}
}

static uint64_t deadline(const struct ws_link *l)
{
	const struct net_conn *c = l->c;
	const struct config_websocket *wc = ws_cfg(c->na);
	uint64_t d = 0;

#define EARLIER(t) do { uint64_t t_ = (t); if (d == 0 || t_ < d) d = t_; } while (0)
	if ((l->phase == WSP_LINGER || l->phase == WSP_CLOSING) && l->close_at_ns != 0)
		EARLIER(l->close_at_ns);
	if (l->q_len > 0 || net_buf_pending(&c->out) > 0)
		EARLIER(c->write_ns + (uint64_t)c->na->env.http->write_timeout_ms * NS_PER_MS);
	if (l->paused)
		EARLIER(l->resume_ns);
	if (l->phase == WSP_OPEN) {
		EARLIER(l->in_ns + (uint64_t)wc->idle_timeout_ms * NS_PER_MS);
		if (wc->ping_interval_ms > 0 && l->ping_ns == 0)
			EARLIER(l->in_ns + (uint64_t)wc->ping_interval_ms * NS_PER_MS);
	}
#undef EARLIER
	return d;
}

static void update(struct ws_link *l, uint64_t now)
{
	struct net_conn *c = l->c;

	set_events(l);
	net_timer_arm(c->na->loop, &c->timer, &c->timer_at_ns, deadline(l), now);
}

/* Both close frames crossed, or ours is out after a failure: shut the
 * write side and wait for the client to close. */
static void linger(struct ws_link *l, uint64_t now)
{
	shutdown(l->c->io.fd, SHUT_WR);
	l->phase = WSP_LINGER;
	l->close_at_ns = now + (uint64_t)ws_cfg(l->c->na)->close_timeout_ms * NS_PER_MS;
	net_buf_free(&l->held);
}

/* Write as much of c->out (the 101's tail) and the queue as the socket
 * takes, in one sendmsg(2). -1 if the connection was closed. */
static int write_out(struct ws_link *l, uint64_t now)
{
	struct net_conn *c = l->c;
	struct ws_stats *st = ws_st(l);
	struct iovec iov[WS_WRITEV_MAX + 1];
	struct msghdr mh = { .msg_iov = iov };
	size_t pend = net_buf_pending(&c->out);
	uint32_t nframes = l->q_len < WS_WRITEV_MAX ? l->q_len : WS_WRITEV_MAX;
	ssize_t n;
	size_t left;

	if (pend == 0 && nframes == 0)
		return 0;
	if (pend > 0)
		iov[mh.msg_iovlen++] = (struct iovec){ (void *)net_buf_head(&c->out), pend };
	for (uint32_t i = 0; i < nframes; i++) {
		struct ws_blob *b = *q_slot(l, i);
		uint32_t off = i == 0 ? l->head_off : 0;

		iov[mh.msg_iovlen++] = (struct iovec){ b->data + off, b->len - off };
	}
	n = sendmsg(c->io.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		if (l->close_code == 0) {
			l->close_code = 1006;
			l->close_kind = WS_CLOSE_ABNORMAL;
		}
		net_conn_close(c);
		return -1;
	}
	if (n > 0)
		c->write_ns = now;
	counter_add(&c->na->stats->bytes_out_total, (uint64_t)n);
	counter_add(&st->bytes_out_total, (uint64_t)n);
	left = (size_t)n;
	if (pend > 0) {
		size_t k = left < pend ? left : pend;

		net_buf_consume(&c->out, k);
		left -= k;
		if (net_buf_pending(&c->out) == 0)
			net_buf_free(&c->out);
	}
	while (left > 0 && l->q_len > 0) {
		struct ws_blob *b = l->q[l->q_head];
		size_t rest = b->len - l->head_off;

		if (left < rest) {
			l->head_off += (uint32_t)left;
			l->q_bytes -= left;
			break;
		}
		left -= rest;
		counter_add(&st->msgs_out_total, 1);
		if (b->published_ns != 0) {
			uint64_t took = now > b->published_ns ? now - b->published_ns : 0;

			counter_add(&st->fanout_hist[mbox_hist_bucket(took)], 1);
			counter_add(&st->fanout_sum_ns, took);
		}
		q_pop(l);
	}
	return 0;
}

void ws_conn_flush(struct net_conn *c, uint64_t now)
{
	struct ws_link *l = c->ws;

	if (l->phase != WSP_LINGER) {
		if (write_out(l, now) != 0)
			return;
		if (l->close_queued && l->q_len == 0 && net_buf_pending(&c->out) == 0) {
			if (l->close_rcvd || l->failed)
				linger(l, now);
			else if (l->close_at_ns == 0)   /* ours is out: theirs is due */
				l->close_at_ns = now +
					(uint64_t)ws_cfg(c->na)->close_timeout_ms * NS_PER_MS;
		}
	}
	update(l, now);
}

/* ---- Frames in ---- */

static int on_message(void *ctx, struct push_msg *ev)
{
	struct ws_link *l = ctx;
	uint64_t now = clock_now_ns();

	if (l->phase != WSP_OPEN) {
		msg_free(&ev->m);    /* after our close frame: ignored */
		return 0;
	}
	counter_add(&ws_st(l)->msgs_in_total, 1);
	if (emit(l, ev, now) < 0)
		start_close(l, 1011, "no handler", WS_CLOSE_SERVER, false, false);
	return l->paused ? 1 : 0;
}

static int on_control(void *ctx, enum ws_opcode op, unsigned code, const uint8_t *p, size_t n)
{
	struct ws_link *l = ctx;

	if (op == WS_OP_PING) {
		if (!l->close_queued)
			queue_control(l, WS_OP_PONG, p, n);
		return 0;
	}
	if (op != WS_OP_CLOSE)
		return 0;            /* a pong: its arrival already counts as input */
	l->close_rcvd = true;
	if (!l->close_queued) {
		char reason[WS_REASON_MAX + 1];

		/* Echo the client's code (RFC 6455 5.5.1); report its reason. */
		snprintf(reason, sizeof(reason), "%.*s", (int)n, (const char *)p);
		start_close(l, code, NULL, WS_CLOSE_CLIENT, false, false);
		l->close_code = (uint16_t)(code != 0 ? code : 1005);
		snprintf(l->close_reason, sizeof(l->close_reason), "%s", reason);
	}
	net_conn_mark_dirty(l->c);
	return 1;                    /* nothing after a close frame counts */
}

static const struct ws_parser_cb parser_cb = { on_message, on_control };

/* Parse `n` bytes (or keep them while events are delayed). */
static void feed(struct ws_link *l, const uint8_t *p, size_t n)
{
	ssize_t r;

	if (l->close_rcvd || l->failed || l->phase == WSP_LINGER)
		return;                  /* discarded */
	if (l->paused) {
		if (net_buf_append(&l->held, p, n) != 0)
			start_close(l, 1011, "out of memory", WS_CLOSE_SERVER, true, true);
		return;
	}
	r = ws_parser_feed(&l->parser, p, n, &parser_cb, l);
	if (r < 0) {
		unsigned code = (unsigned)-r;
		const char *why = ws_parser_error(&l->parser);

		if (why == NULL)
			why = "protocol error";
		log_cut(l, "closing %u: %s", code, why);
		start_close(l, code, why, WS_CLOSE_PROTOCOL, true, true);
		return;
	}
	if ((size_t)r < n && l->paused && net_buf_append(&l->held, p + r, n - (size_t)r) != 0)
		start_close(l, 1011, "out of memory", WS_CLOSE_SERVER, true, true);
}

/* A read pause ended: parse what waited. */
static void resume(struct ws_link *l)
{
	struct net_buf held = l->held;

	l->paused = false;
	memset(&l->held, 0, sizeof(l->held));
	if (net_buf_pending(&held) > 0)
		feed(l, (const uint8_t *)net_buf_head(&held), net_buf_pending(&held));
	net_buf_free(&held);
}

/* ---- Hooks ---- */

int ws_upgrade_response(struct net_buf *out, const struct http_msg *hm,
			const struct http_date *date)
{
	static const char head[] = "HTTP/1.1 101 Switching Protocols\r\nServer: actord\r\nDate: ";
	static const char up[] = "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";

	if (net_buf_append(out, head, sizeof(head) - 1) != 0 ||
	    net_buf_append(out, date->text, HTTP_DATE_LEN) != 0 ||
	    net_buf_append(out, up, sizeof(up) - 1) != 0 ||
	    (hm->resp_headers_len > 0 &&
	     net_buf_append(out, hm->resp_headers, hm->resp_headers_len) != 0) ||
	    net_buf_append(out, "\r\n", 2) != 0)
		return -ENOMEM;
	return 0;
}

void ws_net_response(struct net_actor *na, struct net_conn *c, const struct net_req *r)
{
	uint64_t cid = r->hm.conn_id;
	uint64_t id = ws_id_make(na->self, (uint32_t)cid, (uint32_t)(cid >> 32));
	struct ws_link *l;

	if (c == NULL || c->ws != NULL || (l = calloc(1, sizeof(*l))) == NULL) {
		/* The upgrade cannot happen: the handler frees its session. */
		emit_close(r->hm.m.from, id, 1006, "connection gone");
		return;
	}
	l->c = c;
	l->id = id;
	l->handler = r->hm.m.from;
	l->phase = WSP_PENDING;
	l->q = l->q_inline;
	l->q_cap = WS_QUEUE_INLINE;
	list_init(&l->members);
	ws_parser_init(&l->parser, ws_cfg(na)->max_message_bytes);
	c->ws = l;
}

int ws_conn_begin(struct net_conn *c, uint64_t now)
{
	struct ws_link *l = c->ws;
	struct push_msg *ev;

	if (l == NULL) {             /* cannot happen: the 101 made the link */
		net_conn_close(c);
		return -1;
	}
	l->phase = WSP_OPEN;
	l->in_ns = now;
	c->write_ns = now;
	http_conn_take_held(&c->hc, &l->held);
	counter_add(&ws_st(l)->upgrades_total, 1);
	counter_add(&ws_st(l)->open, 1);
	ev = push_msg_new(PUSH_MSG_EVENT, NULL, 0);
	if (ev == NULL) {
		start_close(l, 1011, "out of memory", WS_CLOSE_SERVER, true, true);
		return 0;
	}
	ev->event = WS_EV_OPEN;
	if (emit(l, ev, now) < 0) {
		start_close(l, 1011, "no handler", WS_CLOSE_SERVER, false, false);
		return 0;
	}
	if (c->na->drain != NULL)    /* upgraded while draining: goodbye at once */
		start_close(l, 1001, "going away", WS_CLOSE_SERVER, false, false);
	else if (net_buf_pending(&l->held) > 0 && !l->paused)
		resume(l);
	return 0;
}

void ws_conn_io(struct net_conn *c, int revents, uint64_t now)
{
	struct ws_link *l = c->ws;
	struct net_actor *na = c->na;
	ssize_t n;

	if (revents & EV_WRITE) {
		if (write_out(l, now) != 0)
			return;
		net_conn_mark_dirty(c);  /* settle (close handshake, events) at the flush */
	}
	if (!(revents & EV_READ))
		return;
	n = recv(c->io.fd, na->rbuf, NET_READ_BUF, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		n = 0;                   /* reset: as abnormal as an EOF */
	}
	if (n == 0) {
		if (l->close_code == 0) {
			l->close_code = 1006;
			l->close_kind = WS_CLOSE_ABNORMAL;
		}
		net_conn_close(c);
		return;
	}
	counter_add(&na->stats->bytes_in_total, (uint64_t)n);
	counter_add(&ws_st(l)->bytes_in_total, (uint64_t)n);
	l->in_ns = now;
	l->ping_ns = 0;
	feed(l, (const uint8_t *)na->rbuf, (size_t)n);
	net_conn_mark_dirty(c);
}

void ws_conn_timer(struct net_conn *c, uint64_t now)
{
	struct ws_link *l = c->ws;
	const struct config_websocket *wc = ws_cfg(c->na);
	uint64_t d = deadline(l);

	if (d == 0)
		return;
	if (now + NS_PER_MS < d) {   /* early, or the deadline moved later */
		update(l, now);
		return;
	}
	if ((l->phase == WSP_LINGER || l->phase == WSP_CLOSING) && l->close_at_ns != 0 &&
	    now >= l->close_at_ns) {
		net_conn_close(c);       /* the client never finished the handshake */
		return;
	}
	if ((l->q_len > 0 || net_buf_pending(&c->out) > 0) &&
	    now >= c->write_ns + (uint64_t)c->na->env.http->write_timeout_ms * NS_PER_MS) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		counter_add(&c->na->stats->timeouts_total[NET_TIMEOUT_WRITE], 1);
		log_cut(l, "reset: nothing written for http.write_timeout_ms %u (the client "
			"does not read)", c->na->env.http->write_timeout_ms);
		if (l->close_code == 0) {
			l->close_code = 1006;
			l->close_kind = WS_CLOSE_SLOW;
		}
		net_conn_close(c);
		return;
	}
	if (l->paused && now >= l->resume_ns)
		resume(l);
	if (l->phase == WSP_OPEN && now >= l->in_ns + (uint64_t)wc->idle_timeout_ms * NS_PER_MS)
		start_close(l, 1001, "idle timeout", WS_CLOSE_IDLE, false, false);
	else if (l->phase == WSP_OPEN && wc->ping_interval_ms > 0 && l->ping_ns == 0 &&
		 now >= l->in_ns + (uint64_t)wc->ping_interval_ms * NS_PER_MS) {
		l->ping_ns = now;
		queue_control(l, WS_OP_PING, NULL, 0);
	}
	net_conn_mark_dirty(c);
}

void ws_conn_drain(struct net_conn *c)
{
	if (c->ws->phase == WSP_OPEN)
		start_close(c->ws, 1001, "going away", WS_CLOSE_SERVER, false, false);
}

void ws_conn_dispose(struct net_conn *c)
{
	struct ws_link *l = c->ws;
	struct ws_stats *st;

	if (l == NULL)
		return;
	st = ws_st(l);
	ws_chan_leave_all(c->na, l);
	if (l->phase != WSP_PENDING) {
		counter_add(&st->open, -1);
		counter_add(&st->closed_total[l->close_code != 0 ? l->close_kind : WS_CLOSE_ABNORMAL], 1);
	}
	emit_close(l->handler, l->id, l->close_code != 0 ? l->close_code : 1006,
		   l->close_reason);
	q_free(l);
	net_buf_free(&l->held);
	ws_parser_dispose(&l->parser);
	free(l);
	c->ws = NULL;
}

/* ---- Push messages ---- */

static struct ws_link *link_of(struct net_actor *na, uint64_t id)
{
	struct net_conn *c;

	if (ws_id_actor(id) != na->self)
		return NULL;
	if (ws_id_slot(id) >= na->nslots)
		return NULL;
	c = na->slots[ws_id_slot(id)];
	if (c == NULL || (c->gen & WS_ID_GEN_MASK) != ws_id_gen(id) || c->ws == NULL)
		return NULL;
	return c->ws;
}

void ws_net_message(struct net_actor *na, struct msg *m)
{
	struct push_msg *p = (struct push_msg *)(void *)m;
	struct ws_link *l;

	switch (m->type) {
	case PUSH_MSG_SEND:
		l = link_of(na, p->ws_id);
		if (l != NULL && p->blob != NULL) {
			ws_link_queue(l, p->blob);
			p->blob = NULL;
		} else {
			counter_add(&na->stats->ws.dropped_gone_total, 1);
		}
		break;
	case PUSH_MSG_CLOSE:
		l = link_of(na, p->ws_id);
		if (l != NULL && l->phase == WSP_OPEN)
			start_close(l, p->code, p->data, WS_CLOSE_SERVER, false, false);
		break;
	case PUSH_MSG_SUB:
		ws_net_get(na)->pubsub = m->from;
		ws_chan_join(na, link_of(na, p->ws_id), p->data, p->len);
		break;
	case PUSH_MSG_UNSUB:
		l = link_of(na, p->ws_id);
		if (l != NULL)
			ws_chan_leave(na, l, p->data, p->len);
		break;
	case PUSH_MSG_FANOUT:
		ws_chan_fanout(na, p->data, p->len, p->blob);
		p->blob = NULL;
		break;
	default:
		break;
	}
	msg_free(m);
}
