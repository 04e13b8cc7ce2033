/*
 * net_stream.c - the network actor's side of a streamed response body
 * (net/stream_msg.h): asking the producer for the body under a credit
 * window, framing what arrives onto the connection, ending or aborting it.
 *
 * DESIGN
 * http_conn_output stops after the head of a streamed answer, as after a
 * file's (http_conn_take_stream); net_io.c then gives the connection a
 * `struct net_stream` and, until it ends, writes nothing but its body.
 * Pieces (STREAM_MSG_DATA) are appended to the connection's output buffer
 * as they arrive, in chunked framing when the length is unknown, and
 * written like any output (EV_WRITE, the write timeout).
 *
 * Credit: the producer may send `granted - received` more bytes. A grant
 * tops that up to STREAM_WINDOW minus what still waits in the output
 * buffer, and is sent only once it is worth a message (a quarter of the
 * window), so the producer is a window ahead at most and a slow client
 * holds STREAM_WINDOW of output, not the body. A grant that meets a full
 * mailbox is retried a millisecond later (the connection's timer).
 *
 * Ends: STREAM_END completes the answer (the terminating chunk, or the
 * Content-Length checked) and the answers behind it may go; STREAM_ABORT,
 * a length that does not add up or a producer that cannot be reached
 * closes the connection, so a client never takes a truncated body for a
 * whole one. So does a producer silent past its own deadline
 * (upstream.read_timeout_ms) and STREAM_CONSUMER_GRACE_MS while it
 * owes bytes: its ABORT may have met a full mailbox. A connection that
 * closes first cancels its stream; a piece for a stream nobody has any
 * more is answered by a cancel too.
 *
 * Owner: the network actor thread owning the connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_internal.h"
#include "stream_msg.h"
#include "base/clock.h"

#define STREAM_RETRY_MS 1

/* Owner: the connection's network actor (net_conn.stream). */
struct net_stream {
	actor_addr_t from;             /* the producer */
	uint64_t id;
	int64_t len;                   /* -1: unknown, chunked or closed */
	bool chunked;
	uint64_t received;             /* body bytes received */
	uint64_t granted;              /* body bytes granted */
	uint64_t retry_ns;             /* a grant to send again then; 0: none */
	uint64_t heard_ns;             /* the last piece, or the last grant */
};

/* free_fn of both messages: one malloc'd block, no pointers inside. */
static void stream_msg_free(struct msg *m)
{
	free(m);
}

struct stream_data *stream_data_new(uint32_t type, uint32_t cap)
{
	struct stream_data *d = malloc(sizeof(*d) + cap);

	if (d == NULL)
		return NULL;
	msg_init(&d->m, type, stream_msg_free);
	d->conn_id = d->stream_id = 0;
	d->len = 0;
	d->kind = STREAM_DATA;
	d->status = 0;
	return d;
}

int stream_credit_send(struct actor_system *sys, uint32_t type, actor_addr_t to,
		       uint64_t conn_id, uint64_t stream_id, uint32_t bytes, bool cancel)
{
	struct stream_credit *k = malloc(sizeof(*k));
	int rc;

	if (k == NULL)
		return -ENOMEM;
	msg_init(&k->m, type, stream_msg_free);
	k->conn_id = conn_id;
	k->stream_id = stream_id;
	k->bytes = bytes;
	k->cancel = cancel;
	rc = actor_send(sys, to, &k->m);
	if (rc != 0)
		msg_free(&k->m);
	return rc;
}

int net_stream_begin(struct net_conn *c, const struct http_stream_ref *ref)
{
	struct net_stream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->from = ref->from;
	s->id = ref->id;
	s->len = ref->len;
	s->chunked = ref->chunked;
	s->heard_ns = clock_now_ns();
	c->stream = s;
	counter_add(&c->na->stats->streams_total, 1);
	return 0;
}

int net_stream_pump(struct net_conn *c, uint64_t now)
{
	struct net_stream *s = c->stream;
	uint64_t ahead = s->granted - s->received + net_buf_pending(&c->out), more;
	int rc;

	if (s->retry_ns != 0 && now < s->retry_ns)
		return 0;
	s->retry_ns = 0;
	more = stream_grant_more(ahead, s->granted, s->len);
	if (more == 0)
		return 0;
	rc = stream_credit_send(c->na->sys, STREAM_MSG_CREDIT, s->from, net_conn_id(c), s->id,
				(uint32_t)more, false);
	if (rc == -EAGAIN || rc == -ENOMEM) {
		s->retry_ns = now + (uint64_t)STREAM_RETRY_MS * NS_PER_MS;
		return 0;
	}
	if (rc != 0)
		return rc;              /* the producer is gone */
	if (s->granted == s->received)
		s->heard_ns = now;      /* it owes nothing until now */
	s->granted += more;
	return 0;
}

/* When a producer that owes bytes has been silent too long. */
static uint64_t silent_deadline(const struct net_conn *c)
{
	const struct net_stream *s = c->stream;

	return stream_silence_deadline(s->granted, s->received, s->heard_ns,
				       config_current_or(c->na->sh->cfg)->upstream.read_timeout_ms);
}

uint64_t net_stream_deadline(const struct net_conn *c)
{
	return clock_earlier(silent_deadline(c), c->stream->retry_ns);
}

int net_stream_timer(struct net_conn *c, uint64_t now)
{
	uint64_t silent = silent_deadline(c);

	/* Closing cancels it (net_stream_cancel) and counts it aborted. */
	return silent != 0 && now + NS_PER_MS >= silent ? -1 : 0;
}

void net_stream_cancel(struct net_conn *c)
{
	struct net_stream *s = c->stream;

	if (s == NULL)
		return;
	/* Best effort: a producer that never hears it times out. */
	stream_credit_send(c->na->sys, STREAM_MSG_CREDIT, s->from, net_conn_id(c), s->id, 0,
			   true);
	counter_add(&c->na->stats->streams_aborted_total, 1);
	free(s);
	c->stream = NULL;
}

/* Append a piece's bytes, framed. 0, or -1 when the connection must close
 * (out of memory, more bytes than the Content-Length said). */
static int stream_append(struct net_conn *c, const struct stream_data *d)
{
	struct net_stream *s = c->stream;
	char size[24];
	int n;

	if (d->len == 0)
		return 0;
	if (s->len >= 0 && s->received + d->len > (uint64_t)s->len)
		return -1;
	s->received += d->len;
	if (!s->chunked)
		return net_buf_append(&c->out, d->data, d->len) != 0 ? -1 : 0;
	n = snprintf(size, sizeof(size), "%x\r\n", (unsigned)d->len);
	if (net_buf_reserve(&c->out, (size_t)n + d->len + 2) != 0)
		return -1;
	net_buf_append(&c->out, size, (size_t)n);
	net_buf_append(&c->out, d->data, d->len);
	net_buf_append(&c->out, "\r\n", 2);
	return 0;
}

void net_stream_message(struct net_actor *na, struct stream_data *d)
{
	struct net_conn *c = net_conn_find(na, d->conn_id);
	struct net_stream *s = c != NULL ? c->stream : NULL;
	uint64_t now;

	if (s == NULL || s->id != d->stream_id || s->from != d->m.from || c->state != NC_OPEN) {
		/* Its connection closed: the cancel may have crossed this. */
		if (d->kind == STREAM_DATA)
			stream_credit_send(na->sys, STREAM_MSG_CREDIT, d->m.from, d->conn_id,
					   d->stream_id, 0, true);
		msg_free(&d->m);
		return;
	}
	now = clock_now_ns();
	s->heard_ns = now;
	if (net_buf_pending(&c->out) == 0)
		c->write_ns = now;      /* the write timeout counts from here */
	if (d->kind == STREAM_ABORT || stream_append(c, d) != 0 ||
	    (d->kind == STREAM_END && s->len >= 0 && s->received != (uint64_t)s->len) ||
	    (d->kind == STREAM_END && s->chunked &&
	     net_buf_append(&c->out, "0\r\n\r\n", 5) != 0)) {
		/* Cut short: closing is the only way to tell the client. */
		counter_add(&na->stats->streams_aborted_total, 1);
		free(s);
		c->stream = NULL;
		msg_free(&d->m);
		net_conn_close(c);
		return;
	}
	counter_add(&na->stats->stream_bytes_total, d->len);
	if (d->kind == STREAM_END) {
		free(s);
		c->stream = NULL;
		http_conn_body_sent(&c->hc, now);
	}
	msg_free(&d->m);
	net_conn_mark_dirty(c);         /* write it; the answers behind may go */
}
