/*
 * net_upload.c - the network actor's side of a streamed request body
 * (net/stream_msg.h, "Uploads"): keeping what the client sent until the
 * consumer asks for it, sending it under the consumer's credit, ending or
 * aborting it.
 *
 * DESIGN
 * http_conn hands the body over piece by piece (http_conn_env.upload);
 * the pieces wait in the connection's `struct net_upload` until the
 * consumer (an upstream actor) grants credit, and leave as
 * STREAM_MSG_UPLOAD_DATA of at most STREAM_CHUNK bytes. The connection is
 * read only while less than STREAM_WINDOW waits (net_upload_room), so a
 * client faster than the upstream is slowed by TCP, and at most a window
 * (plus one read) of the body is in memory per upload.
 *
 * The consumer's address is learnt from its first grant. A send that
 * meets a full mailbox is retried a millisecond later (the connection's
 * timer). States:
 *   OPEN       the body is arriving;
 *   ENDED      it is complete: END goes with its last bytes;
 *   ABORTED    it never will be: ABORT (with the status) goes once the
 *              consumer is known;
 *   CANCELLED  the consumer gave up (it answered or failed first): the
 *              rest of the body is counted and dropped.
 * The state is freed once END or ABORT is delivered, when the consumer
 * cancels after the body's end, when the request's answer arrives, or
 * with the connection. A grant for an
 * upload this actor no longer has is answered with ABORT, so the
 * consumer never waits for a body nobody will send.
 *
 * Owner: the network actor thread owning the connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net_internal.h"
#include "stream_msg.h"
#include "base/clock.h"

#define UPLOAD_RETRY_MS 1

enum upload_state { UP_OPEN, UP_ENDED, UP_ABORTED, UP_CANCELLED };

/* Owner: the connection's network actor (net_conn.upload). */
struct net_upload {
	uint64_t id;                   /* the request's seq */
	actor_addr_t to;               /* the consumer; NONE until its first grant */
	uint64_t granted, sent;        /* body bytes */
	struct net_buf buf;            /* received, not sent yet */
	uint8_t state;                 /* enum upload_state */
	uint16_t status;               /* ABORTED: 413, 400 or 0 */
	uint64_t retry_ns;             /* a refused send goes again then; 0: none */
};

static void upload_free(struct net_conn *c)
{
	if (c->upload == NULL)
		return;
	net_buf_free(&c->upload->buf);
	free(c->upload);
	c->upload = NULL;
	/* The requests behind it may be parsed now. */
	http_conn_upload_delivered(&c->hc);
	net_conn_mark_dirty(c);
}

/* One data message to the consumer: `len` bytes from the buffer, as
 * `kind`. 0, -EAGAIN (try again later) or another error (it is gone). */
static int send_piece(struct net_conn *c, uint32_t len, uint8_t kind)
{
	struct net_upload *u = c->upload;
	struct stream_data *d = stream_data_new(STREAM_MSG_UPLOAD_DATA, len);
	int rc;

	if (d == NULL)
		return -EAGAIN;
	d->conn_id = net_conn_id(c);
	d->stream_id = u->id;
	d->kind = kind;
	d->status = kind == STREAM_ABORT ? u->status : 0;
	d->len = len;
	if (len > 0)
		memcpy(d->data, net_buf_head(&u->buf), len);
	rc = actor_send(c->na->sys, u->to, &d->m);
	if (rc != 0) {
		msg_free(&d->m);
		return rc == -ENOMEM ? -EAGAIN : rc;
	}
	if (len > 0) {
		net_buf_consume(&u->buf, len);
		u->sent += len;
	}
	return 0;
}

/* Send what the credit allows, then END or ABORT when due. */
static void pump(struct net_conn *c, uint64_t now)
{
	struct net_upload *u = c->upload;
	int rc = 0;

	if (u == NULL || u->to == ACTOR_ADDR_NONE || u->state == UP_CANCELLED ||
	    (u->retry_ns != 0 && now < u->retry_ns))
		return;
	u->retry_ns = 0;
	if (u->state == UP_ABORTED) {
		rc = send_piece(c, 0, STREAM_ABORT);
		if (rc == 0) {
			upload_free(c);
			return;
		}
	}
	while (rc == 0 && u->state != UP_ABORTED && net_buf_pending(&u->buf) > 0 &&
	       u->sent < u->granted) {
		uint64_t n = net_buf_pending(&u->buf), room = u->granted - u->sent;
		bool last;

		if (n > room)
			n = room;
		if (n > STREAM_CHUNK)
			n = STREAM_CHUNK;
		last = u->state == UP_ENDED && n == net_buf_pending(&u->buf);
		rc = send_piece(c, (uint32_t)n, last ? STREAM_END : STREAM_DATA);
		if (rc == 0 && last) {
			upload_free(c);
			return;
		}
	}
	if (rc == 0 && u->state == UP_ENDED && net_buf_pending(&u->buf) == 0) {
		rc = send_piece(c, 0, STREAM_END);   /* needs no credit */
		if (rc == 0) {
			upload_free(c);
			return;
		}
	}
	if (rc == -EAGAIN) {
		u->retry_ns = now + (uint64_t)UPLOAD_RETRY_MS * NS_PER_MS;
	} else if (rc != 0) {
		/* The consumer is gone: its call failed or will; drop the rest. */
		if (u->state != UP_ABORTED)
			counter_add(&c->na->stats->uploads_aborted_total, 1);
		if (u->state == UP_OPEN) {
			u->state = UP_CANCELLED;
			http_conn_upload_cut(&c->hc);
			net_buf_free(&u->buf);
		} else {
			upload_free(c);
		}
	}
}

void net_upload_event(void *ctx, struct http_conn *hc, enum http_upload_event ev,
		      const char *data, size_t len, unsigned status)
{
	/* hc is the first member of its net_conn. */
	struct net_conn *c = (struct net_conn *)(void *)hc;
	struct net_upload *u = c->upload;

	(void)ctx;
	switch (ev) {
	case HTTP_UPLOAD_BEGIN:
		upload_free(c);         /* a cut one whose answer never came */
		u = calloc(1, sizeof(*u));
		if (u == NULL)
			return;         /* the consumer's grant gets ABORT */
		u->id = hc->upload_seq;
		u->to = ACTOR_ADDR_NONE;
		c->upload = u;
		counter_add(&c->na->stats->uploads_total, 1);
		return;
	case HTTP_UPLOAD_DATA:
		counter_add(&c->na->stats->upload_bytes_total, len);
		if (u == NULL || u->state != UP_OPEN)
			return;         /* cancelled: dropped */
		if (net_buf_append(&u->buf, data, len) != 0) {
			u->state = UP_ABORTED;
			u->status = 0;
			net_buf_free(&u->buf);
			counter_add(&c->na->stats->uploads_aborted_total, 1);
		}
		break;
	case HTTP_UPLOAD_END:
		if (u == NULL) {
			http_conn_upload_delivered(hc);
			return;
		}
		if (u->state == UP_CANCELLED) {
			upload_free(c);
			return;
		}
		if (u->state == UP_OPEN)
			u->state = UP_ENDED;
		break;
	case HTTP_UPLOAD_ABORT:
		if (u == NULL)
			return;
		if (u->state == UP_CANCELLED) {
			upload_free(c);
			return;
		}
		if (u->state != UP_ABORTED)
			counter_add(&c->na->stats->uploads_aborted_total, 1);
		u->state = UP_ABORTED;
		u->status = (uint16_t)status;
		net_buf_free(&u->buf);
		break;
	}
	pump(c, clock_now_ns());
}

void net_upload_answered(struct net_conn *c, uint32_t seq)
{
	struct net_upload *u = c->upload;

	if (u == NULL || u->id != seq)
		return;
	/* Its answer came: nobody needs the rest of the body any more (the
	 * proxy answers once its call is over; a route that never called
	 * asked for nothing). A consumer that still waits hears ABORT, so
	 * a cancel lost to a full mailbox holds nothing up. */
	if (u->to != ACTOR_ADDR_NONE && u->state != UP_CANCELLED) {
		u->status = 0;
		send_piece(c, 0, STREAM_ABORT);
	}
	if (u->state == UP_OPEN) {
		u->state = UP_CANCELLED;
		net_buf_free(&u->buf);
		counter_add(&c->na->stats->uploads_aborted_total, 1);
	} else {
		upload_free(c);
	}
}

bool net_upload_room(const struct net_conn *c)
{
	const struct net_upload *u = c->upload;

	return u == NULL || u->state != UP_OPEN || net_buf_pending(&u->buf) < STREAM_WINDOW;
}

uint64_t net_upload_deadline(const struct net_conn *c)
{
	return c->upload != NULL ? c->upload->retry_ns : 0;
}

void net_upload_timer(struct net_conn *c, uint64_t now)
{
	pump(c, now);
}

void net_upload_close(struct net_conn *c)
{
	struct net_upload *u = c->upload;

	if (u == NULL)
		return;
	if (u->to != ACTOR_ADDR_NONE && u->state != UP_CANCELLED) {
		/* Best effort: a consumer that never hears it times out. */
		u->retry_ns = 0;
		if (u->state != UP_ABORTED) {
			u->state = UP_ABORTED;
			u->status = 0;
			counter_add(&c->na->stats->uploads_aborted_total, 1);
		}
		send_piece(c, 0, STREAM_ABORT);
	}
	upload_free(c);
}

/* Tell a consumer that asks for a body nobody will send. */
static void refuse_grant(struct net_actor *na, const struct stream_credit *k)
{
	struct stream_data *d = stream_data_new(STREAM_MSG_UPLOAD_DATA, 0);

	if (d == NULL)
		return;                 /* it times out */
	d->conn_id = k->conn_id;
	d->stream_id = k->stream_id;
	d->kind = STREAM_ABORT;
	if (actor_send(na->sys, k->m.from, &d->m) != 0)
		msg_free(&d->m);
}

void net_upload_credit(struct net_actor *na, struct stream_credit *k)
{
	struct net_conn *c = net_conn_find(na, k->conn_id);
	struct net_upload *u = c != NULL && c->state == NC_OPEN ? c->upload : NULL;
	uint64_t now = clock_now_ns();

	if (u == NULL || u->id != k->stream_id ||
	    (u->to != ACTOR_ADDR_NONE && u->to != k->m.from)) {
		if (!k->cancel)
			refuse_grant(na, k);
		msg_free(&k->m);
		return;
	}
	if (k->cancel) {
		/* The consumer answered or failed first: the rest of the body
		 * is dropped, and the answer closes the connection if it comes
		 * before the body's end (http_conn). */
		if (u->state == UP_OPEN) {
			u->state = UP_CANCELLED;
			net_buf_free(&u->buf);
			counter_add(&na->stats->uploads_aborted_total, 1);
		} else {
			upload_free(c);
		}
	} else {
		u->to = k->m.from;
		u->granted += k->bytes;
		http_conn_upload_progress(&c->hc, now);
		pump(c, now);
	}
	msg_free(&k->m);
	net_conn_mark_dirty(c);         /* reading may resume */
}
