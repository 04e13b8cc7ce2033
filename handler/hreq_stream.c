/*
 * hreq_stream.c - the handler actor as the consumer of a streamed body
 * (hreq_stream.h): an upstream response (net/stream_msg.h's download
 * protocol, whose other consumer is the network actor) or the request's
 * own body (its "Uploads" protocol, whose other consumer is an upstream
 * actor). Both directions use the same messages, types apart.
 *
 * DESIGN
 * hreq_read_upstream and hreq_read_body register a reader on the handler
 * (h->streams) and grant STREAM_WINDOW at once: the producer (an upstream
 * actor, or the client's network actor) keeps the body until a first
 * grant, which also tells it where to send. Each STREAM_MSG_DATA
 * goes to the route's on_piece as it arrives and is granted back when
 * the callback returns (topping the window up once a quarter of it is
 * free), so the producer is a window ahead at most and the handler holds
 * one piece at a time. A grant that meets a full mailbox is retried a
 * millisecond later (the reader's timer).
 *
 * Ends, on_end exactly once:
 *   END            0, or -EPROTO when a Content-Length does not add up;
 *   ABORT          a response: -EPROTO (the upstream actor failed
 *                  mid-body: it closed that connection); a request body:
 *                  -EMSGSIZE (over http.max_stream_body_bytes), or
 *                  -ECONNRESET (the client left, its chunked framing was
 *                  malformed, its body stalled, or the request was
 *                  answered first);
 *   on_piece != 0  -ECANCELED, and a cancel: the producer closes the
 *                  upstream connection, whose state mid-body is unknown;
 *   the request's deadline answers 504 first: -ETIMEDOUT, and a cancel;
 *   silence        -ETIMEDOUT, and a cancel: the producer owes bytes and
 *                  said nothing for its own bound (a response:
 *                  upstream.read_timeout_ms; a request body:
 *                  http.body_timeout_ms) plus STREAM_CONSUMER_GRACE_MS (it
 *                  gives up after the former, so its ABORT met a full
 *                  mailbox or the actor is gone);
 *   the handler stops: -ESHUTDOWN, and a cancel.
 * A piece for a reader that is gone (it ended while the piece travelled)
 * is answered with a cancel, so the producer never waits for grants.
 * Readers are told apart by producer, connection (0 for a response) and
 * stream id (a request's seq on its connection).
 *
 * Each reader counts as work in flight on its request (hreq.pending,
 * hreq.streams): the request is not recycled before on_end has run.
 *
 * Owner: the handler actor thread (struct hstream, h->streams).
 */
#include <errno.h>
#include <stdlib.h>

#include "hreq_stream.h"
#include "handler_internal.h"
#include "actors/log.h"
#include "base/clock.h"
#include "config/config.h"
#include "net/stream_msg.h"

#define STREAM_RETRY_MS 1

/* Owner: the handler actor thread; in h->streams until it ends. */
struct hstream {
	struct list link;              /* h->streams */
	ev_timer w;                    /* a grant to retry, or the silence bound */
	struct hreq *r;
	actor_addr_t from;             /* the producer: an upstream actor, or the
					* client's network actor (upload) */
	uint64_t conn_id;              /* upload: the client connection; else 0 */
	uint64_t id;                   /* its stream, or the request's seq */
	bool upload;                   /* the request's own body */
	int64_t len;                   /* Content-Length, -1: unknown */
	uint64_t received, granted;    /* body bytes */
	uint64_t heard_ns;             /* the last piece, or the last grant while
					* nothing was owed */
	bool retry;                    /* a grant met a full mailbox */
	hreq_piece_fn on_piece;
	hreq_read_end_fn on_end;
	void *arg;
};

/* What a body cut by its producer means for the route: an upstream
 * response broke (-EPROTO); a request body was too large (`status` 413 in
 * the ABORT) or cut short. `status` 0: the producer is gone. */
static int cut_status(const struct hstream *s, unsigned status)
{
	if (!s->upload)
		return -EPROTO;
	return status == 413 ? -EMSGSIZE : -ECONNRESET;
}

static void on_stream_timer(struct ev_loop *loop, ev_timer *w, int revents);

static uint32_t credit_type(bool upload)
{
	return upload ? STREAM_MSG_UPLOAD_CREDIT : STREAM_MSG_CREDIT;
}

/* Tell the producer to stop; best effort: one that never hears it times
 * out waiting for grants (an upstream actor closes its connection; a
 * network actor has its body timeouts). */
static void send_cancel(struct handler *h, bool upload, actor_addr_t to, uint64_t conn_id,
			uint64_t id)
{
	stream_credit_send(h->sys, credit_type(upload), to, conn_id, id, 0, true);
}

/* When a producer that owes bytes has been silent too long; 0: it owes
 * nothing. */
static uint64_t silent_deadline(const struct hstream *s)
{
	const struct ad_config *cfg = config_current_or(s->r->h->sh->cfg);

	return stream_silence_deadline(s->granted, s->received, s->heard_ns,
				       s->upload ? cfg->http.body_timeout_ms :
				       cfg->upstream.read_timeout_ms);
}

static void arm(struct hstream *s, uint64_t now)
{
	struct ev_loop *loop = actor_loop(s->r->h->actor);
	uint64_t at = s->retry ? now + (uint64_t)STREAM_RETRY_MS * NS_PER_MS : silent_deadline(s);

	ev_timer_stop(loop, &s->w);
	if (at == 0)
		return;
	ev_timer_set(&s->w, at > now ? (double)(at - now) / 1e9 : 0., 0.);
	ev_timer_start(loop, &s->w);
}

/* Top the producer's credit up to the window. 0, or the error that makes
 * the producer unreachable (it is gone). */
static int grant(struct hstream *s, uint64_t now)
{
	uint64_t more = stream_grant_more(s->granted - s->received, s->granted, s->len);
	int rc;

	s->retry = false;
	if (more == 0)
		return 0;
	rc = stream_credit_send(s->r->h->sys, credit_type(s->upload), s->from, s->conn_id, s->id,
				(uint32_t)more, false);
	if (rc == -EAGAIN || rc == -ENOMEM) {
		s->retry = true;
		return 0;
	}
	if (rc != 0)
		return rc;
	if (s->granted == s->received)
		s->heard_ns = now;      /* it owes nothing until now */
	s->granted += more;
	return 0;
}

/* The read is over: unlink it, run on_end, and release the request when
 * nothing else refers to it (unless the caller will: `release` false). */
static void finish(struct hstream *s, int status, bool release)
{
	struct hreq *r = s->r;
	struct handler *h = r->h;
	uint64_t start = clock_now_ns();

	list_remove(&s->link);
	ev_timer_stop(actor_loop(h->actor), &s->w);
	if (status != 0 && status != -ECANCELED)
		counter_add(&h->ctr->body_reads_cut_total, 1);
	r->pending--;
	r->streams--;
	hreq_trace_resume(r);
	s->on_end(r, status, s->arg);
	handler_note_run(r, start, "on_end callback");
	free(s);
	if (release)
		handler_maybe_release(r);
}

static void on_stream_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hstream *s = w->data;
	uint64_t now = clock_now_ns(), silent;

	(void)loop;
	(void)revents;
	if (s->retry && grant(s, now) != 0) {
		log_warn("%s: a streamed body stopped: its producer is gone",
			 actor_name(s->r->h->actor));
		finish(s, cut_status(s, 0), true);
		trace_set_current(NULL);
		return;
	}
	silent = silent_deadline(s);
	if (!s->retry && silent != 0 && now >= silent) {
		log_warn("%s: a streamed body stopped: nothing from its producer for %llu ms",
			 actor_name(s->r->h->actor),
			 (unsigned long long)((now - s->heard_ns) / NS_PER_MS));
		send_cancel(s->r->h, s->upload, s->from, s->conn_id, s->id);
		finish(s, -ETIMEDOUT, true);
		trace_set_current(NULL);
		return;
	}
	arm(s, now);
}

/* A body kept whole: given at once, through the same callbacks. */
static int read_whole(struct hreq *r, const char *body, size_t n, hreq_piece_fn on_piece,
		      hreq_read_end_fn on_end, void *arg)
{
	int rc = n > 0 ? on_piece(r, body, n, arg) : 0;

	on_end(r, rc != 0 ? -ECANCELED : 0, arg);
	return 0;
}

/* Register a reader of stream `id` of `from` and ask for its first window. */
static int read_start(struct hreq *r, bool upload, actor_addr_t from, uint64_t conn_id,
		      uint64_t id, int64_t len, hreq_piece_fn on_piece, hreq_read_end_fn on_end,
		      void *arg)
{
	struct handler *h = r->h;
	struct hstream *s = calloc(1, sizeof(*s));
	uint64_t now = clock_now_ns();
	int rc;

	if (s == NULL)
		return -ENOMEM;
	s->r = r;
	s->upload = upload;
	s->from = from;
	s->conn_id = conn_id;
	s->id = id;
	s->len = len;
	s->heard_ns = now;
	s->on_piece = on_piece;
	s->on_end = on_end;
	s->arg = arg;
	ev_timer_init(&s->w, on_stream_timer, 0., 0.);
	s->w.data = s;
	rc = grant(s, now);
	if (rc != 0) {
		free(s);
		return rc;
	}
	list_push_back(&h->streams, &s->link);
	counter_add(&h->ctr->body_reads_total, 1);
	r->pending++;
	r->streams++;
	arm(s, now);
	return 0;
}

int hreq_read_upstream(struct hreq *r, const struct upstream_call *u, hreq_piece_fn on_piece,
		       hreq_read_end_fn on_end, void *arg)
{
	uint32_t from;
	uint64_t id;
	int64_t len;

	if (!upstream_reply_stream(u, &from, &id, &len)) {
		size_t n;
		const char *body = upstream_reply_body(u, &n);

		return read_whole(r, body, n, on_piece, on_end, arg);
	}
	return read_start(r, false, from, 0, id, len, on_piece, on_end, arg);
}

int hreq_read_body(struct hreq *r, hreq_piece_fn on_piece, hreq_read_end_fn on_end, void *arg)
{
	struct upload_ref ref;

	if (r->body_read)
		return -EALREADY;
	r->body_read = true;
	if (!hreq_body_stream(r, &ref)) {
		size_t n;
		const char *body = hreq_body(r, &n);

		return read_whole(r, body, n, on_piece, on_end, arg);
	}
	return read_start(r, true, ref.from, ref.conn_id, ref.id, ref.len, on_piece, on_end, arg);
}

static struct hstream *find(struct handler *h, bool upload, actor_addr_t from,
			    uint64_t conn_id, uint64_t id)
{
	struct list *it, *tmp;

	/* A few streams per handler at most: a list is enough. */
	list_foreach_safe(it, tmp, &h->streams) {
		struct hstream *s = list_entry(it, struct hstream, link);

		if (s->id == id && s->from == from && s->conn_id == conn_id && s->upload == upload)
			return s;
	}
	return NULL;
}

void hstream_message(struct handler *h, struct stream_data *d)
{
	bool upload = d->m.type == STREAM_MSG_UPLOAD_DATA;
	uint64_t conn_id = d->conn_id;       /* a download's: the 0 we granted with */
	struct hstream *s = find(h, upload, d->m.from, conn_id, d->stream_id);
	uint64_t now = clock_now_ns();
	struct hreq *r;
	int status = 1;                 /* > 0: the read goes on */

	if (s == NULL) {
		if (d->kind == STREAM_DATA)
			send_cancel(h, upload, d->m.from, conn_id, d->stream_id);
		msg_free(&d->m);
		return;
	}
	r = s->r;
	s->heard_ns = now;
	hreq_trace_resume(r);
	if (d->kind == STREAM_ABORT) {
		status = cut_status(s, d->status);
	} else if (d->len > 0) {
		if (s->len >= 0 && s->received + d->len > (uint64_t)s->len) {
			status = -EPROTO;
		} else {
			s->received += d->len;
			counter_add(&h->ctr->body_read_bytes_total, d->len);
			if (s->on_piece(r, d->data, d->len, s->arg) != 0)
				status = -ECANCELED;
			handler_note_run(r, now, "on_piece callback");
		}
		if (status < 0 && d->kind == STREAM_DATA)
			send_cancel(h, upload, s->from, s->conn_id, s->id);
	}
	if (status > 0 && d->kind == STREAM_END)
		status = s->len >= 0 && s->received != (uint64_t)s->len ? -EPROTO : 0;
	msg_free(&d->m);
	if (status > 0 && grant(s, now) != 0)
		status = cut_status(s, 0);     /* the producer is gone */
	if (status <= 0)
		finish(s, status, true);
	else
		arm(s, now);
	trace_set_current(NULL);
}

void hstream_request_expired(struct hreq *r)
{
	struct handler *h = r->h;
	struct list *it, *tmp;

	list_foreach_safe(it, tmp, &h->streams) {
		struct hstream *s = list_entry(it, struct hstream, link);

		if (s->r != r)
			continue;
		send_cancel(h, s->upload, s->from, s->conn_id, s->id);
		finish(s, -ETIMEDOUT, false);
		if (r->streams == 0)
			return;
	}
}

void hstreams_stop(struct handler *h)
{
	struct list *it, *tmp;

	list_foreach_safe(it, tmp, &h->streams) {
		struct hstream *s = list_entry(it, struct hstream, link);

		send_cancel(h, s->upload, s->from, s->conn_id, s->id);
		finish(s, -ESHUTDOWN, false);
	}
	trace_set_current(NULL);
}
