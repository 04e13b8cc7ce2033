/*
 * upstream_upload.c - a request body streamed from the client's network
 * actor to the upstream (net/stream_msg.h, "Uploads"): the reverse
 * proxy's large or chunked uploads, never whole in memory.
 *
 * DESIGN
 * A call made with upstream_call_stream_body carries no body, only the
 * reference to one. When its connection sends the head (with the body's
 * Content-Length, or Transfer-Encoding: chunked), up_upload_begin grants
 * the network actor STREAM_WINDOW bytes; pieces (STREAM_MSG_UPLOAD_DATA)
 * are framed into the upload's buffer (chunks when the length is
 * unknown) and written as the socket takes them; each write tops the
 * grant up again once half a window is free. So at most a window of the
 * body is here, and an upstream that reads slowly stops the grants, the
 * network actor stops reading the client, and TCP slows the client.
 *
 * Deadlines (the connection's one timer, through up_upload_deadline):
 * while bytes wait for the socket, upstream.send_timeout_ms without
 * write progress (504: the upstream does not read); while the
 * body is owed by the client, http.body_timeout_ms plus a grace (the
 * network actor times a slow client out first and sends ABORT; this is
 * the backstop for an ABORT lost to a full mailbox); a refused grant is
 * retried every millisecond.
 *
 * Ends: the last byte written frees the upload (the first-byte timeout
 * starts then: upstream_io.c); ABORT from the network actor fails the
 * call (413 for a body over upstream.proxy_max_body_bytes, else 400); the
 * connection closing first (the upstream answered early, failed, or the
 * call timed out) cancels the rest at the network actor and marks the
 * connection not reusable (the upstream saw part of a request).
 *
 * Owner: the upstream actor thread owning the connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net_buf.h"
#include "upstream_internal.h"
#include "actors/log.h"
#include "base/clock.h"
#include "config/config.h"

#define UPLOAD_RETRY_MS 1
#define UPLOAD_GRACE_MS 2000

/* Owner: the upstream actor (up_conn.upload). */
struct up_upload {
	struct list link;              /* ua->uploads */
	struct up_conn *conn;
	struct upload_ref ref;         /* the producer and the body */
	bool chunked;                  /* length unknown: sent in chunks */
	bool ended;                    /* END arrived; its bytes are in buf */
	uint64_t granted, received;    /* body bytes */
	struct net_buf buf;            /* framed bytes waiting for the socket */
	uint64_t heard_ns;             /* the last piece or grant */
	uint64_t wrote_ns;             /* the last write progress */
	uint64_t retry_ns;             /* a refused grant goes again then */
};

static void upload_free(struct up_conn *c)
{
	struct up_upload *up = c->upload;

	list_remove(&up->link);
	net_buf_free(&up->buf);
	free(up);
	c->upload = NULL;
}

/* Top the grant up to a window ahead (never past a known length) once
 * half a window is free. 0, or -ESRCH: the network actor is gone. */
static int grant(struct up_conn *c, uint64_t now)
{
	struct up_upload *up = c->upload;
	uint64_t ahead = up->granted - up->received + net_buf_pending(&up->buf), more;
	int rc;

	if (up->ended || (up->retry_ns != 0 && now < up->retry_ns) || ahead > STREAM_WINDOW / 2)
		return 0;
	more = STREAM_WINDOW - ahead;
	if (up->ref.len >= 0 && more > (uint64_t)up->ref.len - up->granted)
		more = (uint64_t)up->ref.len - up->granted;
	if (more == 0 && up->granted > 0)
		return 0;               /* all of it granted: END needs none */
	rc = stream_credit_send(actor_sys(c->pool->ua->actor), STREAM_MSG_UPLOAD_CREDIT,
				up->ref.from, up->ref.conn_id, up->ref.id, (uint32_t)more, false);
	if (rc == -EAGAIN || rc == -ENOMEM) {
		up->retry_ns = now + (uint64_t)UPLOAD_RETRY_MS * NS_PER_MS;
		return 0;
	}
	if (rc != 0)
		return -ESRCH;
	up->retry_ns = 0;
	if (up->granted == up->received)
		up->heard_ns = now;     /* nothing was owed until now */
	up->granted += more;
	return 0;
}

int up_upload_begin(struct up_conn *c, uint64_t now)
{
	struct up_upload *up = calloc(1, sizeof(*up));

	if (up == NULL)
		return -ENOMEM;
	up->conn = c;
	up->ref = c->call->upload_ref;
	up->chunked = up->ref.len < 0;
	up->heard_ns = up->wrote_ns = now;
	list_push_back(&c->pool->ua->uploads, &up->link);
	c->upload = up;
	if (up->ref.len == 0) {
		up->ended = true;       /* nothing to ask for */
		return 0;
	}
	return grant(c, now);
}

bool up_upload_sent(const struct up_conn *c)
{
	return c->upload == NULL;
}

size_t up_upload_pending(const struct up_conn *c)
{
	return c->upload != NULL ? net_buf_pending(&c->upload->buf) : 0;
}

int up_upload_write(struct up_conn *c, uint64_t now)
{
	struct up_upload *up = c->upload;

	if (up == NULL)
		return 0;
	while (net_buf_pending(&up->buf) > 0) {
		const char *p = net_buf_head(&up->buf);
		size_t len = net_buf_pending(&up->buf);
		ssize_t n;

		if (c->ssl != NULL) {
			/* The buffer may move between retries: the context
			 * allows it (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
			n = up_tls_write(c, p, len);
			if (n == -EAGAIN)
				break;
			if (n < 0)
				return (int)n;
		} else {
			n = send(c->io.fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				break;
			if (n < 0)
				return -errno;
		}
		net_buf_consume(&up->buf, (size_t)n);
		up->wrote_ns = now;
	}
	if (up->ended && net_buf_pending(&up->buf) == 0) {
		upload_free(c);         /* the whole request is out */
		return 0;
	}
	return grant(c, now);
}

uint64_t up_upload_deadline(const struct up_conn *c)
{
	const struct up_upload *up = c->upload;
	const struct ad_config *cfg;
	uint64_t d;

	if (up == NULL)
		return 0;
	cfg = config_current_or(c->pool->ua->sh->cfg);
	if (net_buf_pending(&up->buf) > 0)
		d = up->wrote_ns + (uint64_t)cfg->upstream.send_timeout_ms * NS_PER_MS;
	else
		d = up->heard_ns +
		    ((uint64_t)cfg->http.body_timeout_ms + UPLOAD_GRACE_MS) * NS_PER_MS;
	return clock_earlier(d, up->retry_ns);
}

int up_upload_timer(struct up_conn *c, uint64_t now)
{
	struct up_upload *up = c->upload;
	bool writing = net_buf_pending(&up->buf) > 0;

	if (up->retry_ns != 0 && now + NS_PER_MS >= up->retry_ns) {
		up->retry_ns = 0;
		if (grant(c, now) == 0)
			return 0;
		up_conn_fail(c, -ECONNRESET, false, "request body lost",
			     "the client's network actor is gone");
		return -1;
	}
	if (writing)
		up_conn_fail(c, -ETIMEDOUT, false, "request body not taken in time", "timeout");
	else
		up_conn_fail(c, -ECONNRESET, false, "request body stopped arriving", "timeout");
	return -1;
}

void up_upload_close(struct up_conn *c)
{
	struct up_upload *up = c->upload;

	if (up == NULL)
		return;
	/* Part of a request went out: the connection must not be reused. */
	c->unfinished = true;
	if (!up->ended)
		/* Best effort: without it the network actor's answer still
		 * closes the client's connection and drops the rest. */
		stream_credit_send(actor_sys(c->pool->ua->actor), STREAM_MSG_UPLOAD_CREDIT,
				   up->ref.from, up->ref.conn_id, up->ref.id, 0, true);
	upload_free(c);
}

/* Append a piece, framed. 0, or -1 when it breaks the protocol (more
 * than granted or than the Content-Length said, or out of memory). */
static int append_piece(struct up_upload *up, const struct stream_data *d)
{
	char size[24];
	int n;

	if (d->len > up->granted - up->received ||
	    (up->ref.len >= 0 && up->received + d->len > (uint64_t)up->ref.len))
		return -1;
	up->received += d->len;
	if (d->len > 0 && !up->chunked)
		return net_buf_append(&up->buf, d->data, d->len) != 0 ? -1 : 0;
	if (d->len > 0) {
		n = snprintf(size, sizeof(size), "%x\r\n", (unsigned)d->len);
		if (net_buf_reserve(&up->buf, (size_t)n + d->len + 2) != 0)
			return -1;
		net_buf_append(&up->buf, size, (size_t)n);
		net_buf_append(&up->buf, d->data, d->len);
		net_buf_append(&up->buf, "\r\n", 2);
	}
	if (d->kind != STREAM_END)
		return 0;
	if (up->ref.len >= 0 && up->received != (uint64_t)up->ref.len)
		return -1;
	up->ended = true;
	return up->chunked && net_buf_append(&up->buf, "0\r\n\r\n", 5) != 0 ? -1 : 0;
}

static struct up_upload *find(struct up_actor *ua, const struct stream_data *d)
{
	struct list *it, *tmp;

	/* A few uploads per actor at most: a list is enough. */
	list_foreach_safe(it, tmp, &ua->uploads) {
		struct up_upload *up = list_entry(it, struct up_upload, link);

		if (up->ref.id == d->stream_id && up->ref.conn_id == d->conn_id &&
		    up->ref.from == d->m.from)
			return up;
	}
	return NULL;
}

void up_upload_data(struct up_actor *ua, struct stream_data *d)
{
	struct up_upload *up = find(ua, d);
	struct up_conn *c;
	struct up_pool *pl;

	if (up == NULL) {
		/* Its call ended meanwhile: stop the body (the cancel may
		 * have crossed this piece already). */
		if (d->kind == STREAM_DATA)
			stream_credit_send(actor_sys(ua->actor), STREAM_MSG_UPLOAD_CREDIT,
					   d->m.from, d->conn_id, d->stream_id, 0, true);
		msg_free(&d->m);
		return;
	}
	c = up->conn;
	pl = c->pool;
	up->heard_ns = clock_now_ns();
	if (net_buf_pending(&up->buf) == 0)
		up->wrote_ns = up->heard_ns;   /* the write timeout counts from here */
	if (d->kind == STREAM_ABORT) {
		bool large = d->status == 413;

		msg_free(&d->m);
		up->ended = true;       /* nothing to cancel */
		up_conn_fail(c, large ? -EMSGSIZE : -ECONNRESET, false,
			     "the client's request body failed",
			     large ? "over upstream.proxy_max_body_bytes" :
			     "the client left, or its body was malformed");
	} else if (append_piece(up, d) != 0) {
		msg_free(&d->m);
		up_conn_fail(c, -ECONNRESET, false, "request body lost",
			     "a piece the credit did not allow, or no memory");
	} else {
		msg_free(&d->m);
		up_conn_body_ready(c);
	}
	up_pool_kick(pl);
}
