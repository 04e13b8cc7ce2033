/*
 * upstream_stream.c - an upstream response body streamed to the network
 * actor that owns the client connection (net/stream_msg.h), instead of
 * being kept whole in the call message.
 *
 * DESIGN
 * A call that allows it (upstream_call_stream: the reverse proxy) has the
 * parser stream a body over its threshold. Then the call is answered at
 * once with the head (upstream_reply_stream names this actor and the
 * stream), the connection turns UC_STREAM, and the body bytes collect in
 * the stream's buffer. Nothing is sent before the network actor's first
 * STREAM_MSG_CREDIT, which also says where to send; after it, pieces of
 * at most STREAM_CHUNK bytes go out while credit lasts, the last one
 * marked END once the parser saw the whole body.
 *
 * Backpressure: the connection reads only what the credit leaves room for
 * (up_stream_room): with no credit it stops watching its socket, the
 * kernel's receive buffer fills and TCP slows the upstream. The buffer
 * never holds much more than the credit (plus, at the switch, the body
 * kept before it: the threshold at most).
 *
 * Deadlines (the connection's one timer): until the first credit, the
 * call's response deadline (a handler that dropped the head never asks);
 * while it may read, upstream.read_timeout_ms between two reads from the
 * upstream (the first byte's own limit no longer applies: a body may pause
 * longer than an upstream may take to start answering); while the client is behind, http.write_timeout_ms plus a
 * second (the network actor resets a client that reads nothing that long
 * and cancels). A full network mailbox is retried every millisecond.
 *
 * Ends: END after the last byte (the connection is kept alive when the
 * response allows, else closed); a failure (the upstream closed or broke
 * mid-body, a deadline) closes the connection and sends ABORT, so the
 * client's connection is closed rather than its body silently cut; a
 * CANCEL (the client left) closes the upstream connection, whose state
 * is unknown mid-body.
 *
 * Owner: the upstream actor thread owning the connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net_buf.h"
#include "upstream_internal.h"
#include "base/clock.h"

#define STREAM_RETRY_MS 1
#define STREAM_GRACE_MS 1000

/* Owner: the upstream actor (up_conn.stream). */
struct up_stream {
	struct list link;              /* ua->streams */
	struct up_conn *conn;
	uint64_t id;
	actor_addr_t to;               /* the network actor: ACTOR_ADDR_NONE until
					* its first credit */
	uint64_t conn_id;              /* its connection */
	uint64_t credit;               /* bytes we may still send */
	struct net_buf buf;            /* body bytes not sent yet */
	bool retry;                    /* a send met a full mailbox */
	bool over;                     /* ended or cancelled: nothing to abort */
	bool reusable;                 /* keep the connection after END */
};

static struct up_stream *stream_of(struct up_conn *c)
{
	struct up_actor *ua = c->pool->ua;
	struct up_stream *s = c->stream;

	if (s != NULL)
		return s;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->conn = c;
	s->id = ++ua->next_stream_id;
	s->to = ACTOR_ADDR_NONE;
	list_push_back(&ua->streams, &s->link);
	c->stream = s;
	return s;
}

int up_stream_sink(void *ctx, const char *data, size_t len)
{
	struct up_stream *s = stream_of(ctx);

	if (s == NULL)
		return -ENOMEM;
	return net_buf_append(&s->buf, data, len);
}

int up_stream_start(struct up_conn *c)
{
	struct up_pool *pl = c->pool;
	struct upstream_call *u = c->call;
	struct up_stream *s = stream_of(c);

	if (s == NULL)
		return -ENOMEM;
	u->streamed = true;
	u->stream_from = actor_addr(pl->ua->actor);
	u->stream_id = s->id;
	u->stream_len = upstream_parser_stream_len(&c->parser);
	c->call = NULL;
	c->state = UC_STREAM;
	up_call_done(pl, u, 0);
	return 0;
}

size_t up_stream_room(const struct up_conn *c)
{
	const struct up_stream *s = c->stream;
	size_t pending = net_buf_pending(&s->buf);

	if (s->to == ACTOR_ADDR_NONE || s->credit <= pending)
		return 0;
	return s->credit - pending < UPSTREAM_READ_BUF ? (size_t)(s->credit - pending) :
	       UPSTREAM_READ_BUF;
}

/* Forget the stream (the connection stays). */
static void stream_free(struct up_conn *c)
{
	struct up_stream *s = c->stream;

	list_remove(&s->link);
	net_buf_free(&s->buf);
	free(s);
	c->stream = NULL;
}

int up_stream_flush(struct up_conn *c)
{
	struct up_pool *pl = c->pool;
	struct up_stream *s = c->stream;
	struct actor_system *sys = actor_sys(pl->ua->actor);

	while (s->to != ACTOR_ADDR_NONE && !s->retry) {
		size_t pending = net_buf_pending(&s->buf), n = pending;
		bool end;
		struct stream_data *d;
		int rc;

		if (n > s->credit)
			n = (size_t)s->credit;
		if (n > STREAM_CHUNK)
			n = STREAM_CHUNK;
		end = upstream_parser_done(&c->parser) && n == pending;
		if (n == 0 && !end)
			return 0;
		d = stream_data_new(STREAM_MSG_DATA, (uint32_t)n);
		if (d == NULL) {
			s->retry = true;
			return 0;
		}
		d->conn_id = s->conn_id;
		d->stream_id = s->id;
		d->len = (uint32_t)n;
		d->kind = end ? STREAM_END : STREAM_DATA;
		memcpy(d->data, net_buf_head(&s->buf), n);
		rc = actor_send(sys, s->to, &d->m);
		if (rc == -EAGAIN) {
			msg_free(&d->m);
			s->retry = true;
			return 0;
		}
		if (rc != 0) {
			msg_free(&d->m);
			s->over = true;         /* nobody to tell */
			up_warn(pl, "streamed response dropped", ad_strerror(rc));
			up_conn_close(c);
			return -1;
		}
		net_buf_consume(&s->buf, n);
		s->credit -= n;
		if (end) {
			bool reusable = s->reusable;

			s->over = true;
			stream_free(c);
			up_conn_done(c, reusable);
			return reusable ? 0 : -1;
		}
	}
	return 0;
}

void up_stream_set_reusable(struct up_conn *c, bool reusable)
{
	c->stream->reusable = reusable;
}

uint64_t up_stream_deadline(const struct up_conn *c, uint64_t now)
{
	const struct up_stream *s = c->stream;
	struct up_actor *ua = c->pool->ua;
	const struct ad_config *cfg = config_current_or(ua->sh->cfg);

	if (s->retry)
		return now + (uint64_t)STREAM_RETRY_MS * NS_PER_MS;
	if (s->to == ACTOR_ADDR_NONE)
		return c->resp_deadline_ns;
	if (up_stream_room(c) > 0 && !upstream_parser_done(&c->parser))
		return now + (uint64_t)cfg->upstream.read_timeout_ms * NS_PER_MS;
	return now + ((uint64_t)cfg->http.write_timeout_ms + STREAM_GRACE_MS) * NS_PER_MS;
}

void up_stream_timer(struct up_conn *c, uint64_t now)
{
	struct up_stream *s = c->stream;
	const char *why;

	(void)now;
	if (s->retry) {
		s->retry = false;
		if (up_stream_flush(c) == 0 && c->state == UC_STREAM)
			up_conn_stream_read(c);
		return;
	}
	why = s->to == ACTOR_ADDR_NONE ? "nobody asked for the body" :
	      up_stream_room(c) > 0 ? "the upstream sent nothing" : "the client reads nothing";
	up_warn(c->pool, "streamed response timed out", why);
	up_conn_close(c);
}

void up_stream_close(struct up_conn *c)
{
	struct up_stream *s = c->stream;
	struct stream_data *d;

	if (s == NULL)
		return;
	if (!s->over && s->to != ACTOR_ADDR_NONE && (d = stream_data_new(STREAM_MSG_DATA, 0)) != NULL) {
		/* Best effort: the network actor's own stream deadline covers a
		 * full mailbox. */
		d->conn_id = s->conn_id;
		d->stream_id = s->id;
		d->kind = STREAM_ABORT;
		if (actor_send(actor_sys(c->pool->ua->actor), s->to, &d->m) != 0)
			msg_free(&d->m);
	}
	stream_free(c);
}

void up_stream_credit(struct up_actor *ua, struct stream_credit *k)
{
	struct up_stream *s = NULL;
	struct list *it, *tmp;
	struct up_pool *pl;
	struct up_conn *c;

	/* A few streams per actor at most: a list is enough. */
	list_foreach_safe(it, tmp, &ua->streams) {
		struct up_stream *e = list_entry(it, struct up_stream, link);

		if (e->id == k->stream_id) {
			s = e;
			break;
		}
	}
	if (s == NULL) {                /* ended or failed meanwhile */
		msg_free(&k->m);
		return;
	}
	c = s->conn;
	pl = c->pool;
	ua->current = pl;               /* not reclaimed under us */
	if (k->cancel) {
		s->over = true;         /* the client is gone: the body is not wanted */
		up_conn_close(c);
	} else {
		if (s->to == ACTOR_ADDR_NONE) {
			s->to = k->m.from;
			s->conn_id = k->conn_id;
		}
		s->credit += k->bytes;
		if (up_stream_flush(c) == 0 && c->state == UC_STREAM)
			up_conn_stream_read(c);
	}
	ua->current = NULL;
	msg_free(&k->m);
	up_pool_kick(pl);
}
