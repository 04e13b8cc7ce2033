/*
 * upstream_io.c - the sockets of an upstream actor: write one request,
 * read its response, keep the connection for the next one; every
 * connection's events and timer (resolving, connecting and the TLS
 * handshake are upstream_connect.c's).
 *
 * DESIGN
 * A connection (struct up_conn) is a non-blocking TCP socket with
 * TCP_NODELAY, one ev_io and one ev_timer, and at most one call in flight
 * (no pipelining: a slow response never holds up another request).
 * States:
 *   RESOLVING  no socket yet: waiting on the pool's DNS lookup
 *              (upstream_dns.c), then connects to the address it gives;
 *   CONNECTING waiting for EV_WRITE, then SO_ERROR;
 *   HANDSHAKE  https: SSL_connect driven by whatever OpenSSL wants next
 *              (upstream_tls.c), never blocking;
 *   BUSY       the request is written (plain: one sendmsg of head,
 *              Content-Length line and body; TLS: one SSL_write of the
 *              three gathered, or of each part past 64 KiB);
 *              EV_WRITE only while the socket is full; EV_READ feeds the
 *              response to upstream_parse.c through the actor's 64 KiB
 *              read buffer;
 *   IDLE       a kept-alive connection, read-watched so that the upstream
 *              closing it is noticed at once and it leaves the pool;
 *   STREAM     the call was answered with the head and the body goes to
 *              the client's network actor under its credit
 *              (upstream_stream.c, which has its deadlines); read only
 *              while the credit leaves room.
 *
 * Deadlines, one timer per connection, armed lazily (moving a deadline
 * later never touches the timer heap; the timer fires early, finds the
 * later deadline and re-arms): resolving, connecting and the handshake
 * until the connect timeout; then the first response byte until the
 * first-byte timeout and the whole response until upstream.
 * response_timeout_ms after the request started; all capped by the call's
 * own deadline (its total timeout); idle until upstream.idle_timeout_ms.
 * The call's own timeouts (upstream_call_set_timeouts) replace the
 * configured connect and first-byte ones.
 *
 * Failures: a connection that fails before any byte of the response
 * arrived (reset, EOF, a write error) is retryable (up_call_failed
 * decides: idempotent methods only); a failed lookup, connect or
 * handshake, a malformed or over-large response and a timeout are not. A
 * failed connect makes the pool look its name up again. The connection is
 * closed and freed before the call is resent or answered, so its slot
 * under upstream.max_connections is free again for the queue.
 *
 * Thread: the upstream actor owning the connections.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net_timer.h"
#include "upstream_internal.h"
#include "actors/log.h"
#include "actors/trace.h"
#include "base/clock.h"


static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_conn_timer(struct ev_loop *loop, ev_timer *w, int revents);

void up_conn_arm(struct up_conn *c, uint64_t now)
{
	net_timer_arm(c->pool->ua->loop, &c->timer, &c->timer_at_ns, c->deadline_ns, now);
}

void up_conn_events(struct up_conn *c, int want)
{
	struct ev_loop *loop = c->pool->ua->loop;
	int have = ev_is_active(&c->io) ? (c->io.events & (EV_READ | EV_WRITE)) : 0;

	if (have == want)
		return;
	ev_io_stop(loop, &c->io);
	if (want != 0) {
		ev_io_modify(&c->io, want);
		ev_io_start(loop, &c->io);
	}
}

void up_conn_watch_init(struct up_conn *c)
{
	ev_io_init(&c->io, on_conn_io, -1, EV_WRITE);
	c->io.data = c;
	ev_init(&c->timer, on_conn_timer);
	c->timer.data = c;
}

void up_conn_close(struct up_conn *c)
{
	struct up_pool *pl = c->pool;
	struct ev_loop *loop = pl->ua->loop;

	up_stream_close(c);
	up_upload_close(c);
	if (c->state == UC_IDLE)
		up_pool_idle_remove(pl, c);
	else
		list_remove(&c->idle_link);    /* on pl->dns_wait, or nowhere */
	ev_io_stop(loop, &c->io);
	ev_timer_stop(loop, &c->timer);
	up_tls_free(c);
	if (c->io.fd >= 0)
		close(c->io.fd);
	list_remove(&c->all_link);
	pl->nopen--;
	counter_add(&pl->st->bs.connected, -1);
	free(c);
}

/* The connection failed with its call in flight: close it first (its slot
 * is free again), then resend or answer the call. Serving the queue is
 * left to the event callback (up_pool_kick at its end), so nothing here
 * recurses through the queue. */
void up_conn_fail(struct up_conn *c, int status, bool retryable, const char *what,
		  const char *reason)
{
	struct up_pool *pl = c->pool;
	struct upstream_call *u = c->call;

	c->call = NULL;
	if (!retryable || u == NULL || !upstream_method_idempotent(u->method) ||
	    u->retries_left == 0) {
		/* Socket events run outside any message: the warning names the
		 * failed call's trace (actors/trace.h) so the request can be
		 * followed to it; whatever was current comes back after. */
		const struct msg_trace *cur = trace_current();
		struct msg_trace saved = { .state = 0 };

		if (cur != NULL)
			saved = *cur;
		if (u != NULL)
			trace_set_current(&u->c.m.trace);
		up_warn(pl, what, reason);
		trace_set_current(&saved);
	}
	up_conn_close(c);
	if (u != NULL)
		up_call_failed(pl, u, status, retryable);
}

void up_conn_fail_errno(struct up_conn *c, int status, bool retryable, const char *what,
			int cause)
{
	up_conn_fail(c, status, retryable, what, ad_strerror(cause != 0 ? cause : status));
}

void up_conn_done(struct up_conn *c, bool reusable)
{
	struct up_pool *pl = c->pool;
	uint64_t now = clock_now_ns();

	if (!reusable || up_tls_stale(c)) {
		up_conn_close(c);
		return;
	}
	c->state = UC_IDLE;
	c->deadline_ns = clock_after_ms(now, up_limits(pl->ua)->idle_timeout_ms);
	up_pool_idle_add(pl, c);
	up_conn_events(c, EV_READ);
	up_conn_arm(c, now);
}

/* The response is complete: follow a redirect or decode the body if the
 * call asked, answer the call, then keep the connection (idle: the
 * queue's head takes it in up_pool_kick) or close it. */
static void conn_complete(struct up_conn *c, bool reusable)
{
	struct up_pool *pl = c->pool;
	struct up_actor *ua = pl->ua;
	struct upstream_call *u = c->call;
	int rc;

	c->call = NULL;
	up_conn_done(c, reusable);
	if (up_redirect(pl, u) == 1) {
		struct up_pool *next = up_pool_get(ua, u);

		if (next == NULL) {
			up_call_done(pl, u, -EAGAIN);
			return;
		}
		/* The call leaves this pool for its new origin's. */
		counter_add(&pl->st->bs.inflight, -1);
		counter_add(&next->st->bs.inflight, 1);
		counter_add(&next->st->bs.requests_total, 1);
		up_pool_dispatch(next, u);
		if (next != pl)
			up_pool_kick(next);
		return;
	}
	rc = up_decode_body(u, up_limits(ua)->max_response_bytes);
	if (rc != 0)
		up_warn(pl, rc == -EFBIG ? "decoded response too large" : "corrupt gzip body", NULL);
	up_call_done(pl, u, rc);
}

static size_t request_total(const struct up_conn *c)
{
	return c->call->head_len + c->tail_len + c->call->body_len;
}

/* The whole request went out, a streamed body included. */
static bool request_out(const struct up_conn *c)
{
	return c->sent == c->req_total && up_upload_sent(c) && !c->unfinished;
}

static size_t iov_total(const struct iovec *iov, size_t n)
{
	size_t t = 0;

	for (size_t i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* Write what the socket takes of the head and a body kept in the call.
 * 0, or -errno if the connection broke. */
static int conn_write_head(struct up_conn *c)
{
	struct upstream_call *u = c->call;
	struct iovec iov[3];
	struct msghdr mh = { .msg_iov = iov };
	size_t skip = c->sent, parts[3] = { u->head_len, c->tail_len, u->body_len };
	const char *bases[3] = { u->head, c->tail, u->body };
	ssize_t n;

	for (int i = 0; i < 3; i++) {
		if (skip >= parts[i]) {
			skip -= parts[i];
			continue;
		}
		iov[mh.msg_iovlen].iov_base = (void *)(bases[i] + skip);
		iov[mh.msg_iovlen++].iov_len = parts[i] - skip;
		skip = 0;
	}
	if (mh.msg_iovlen == 0)
		return 0;
	if (c->ssl != NULL && iov_total(iov, mh.msg_iovlen) <= UPSTREAM_READ_BUF) {
		/* TLS, a request that fits the actor's buffer: one record, one
		 * write. The buffer is free here (reads come after) and a retry
		 * rebuilds the same bytes, as SSL_write's retry rule asks. */
		char *p = c->pool->ua->rbuf;
		size_t len = 0;

		for (size_t i = 0; i < mh.msg_iovlen; i++) {
			memcpy(p + len, iov[i].iov_base, iov[i].iov_len);
			len += iov[i].iov_len;
		}
		n = up_tls_write(c, p, len);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		c->sent += (size_t)n;
		return 0;
	}
	if (c->ssl != NULL) {
		/* TLS, a larger request: one record per part; OpenSSL takes a
		 * partial write of a part and the rest later
		 * (SSL_MODE_ENABLE_PARTIAL_WRITE). */
		for (size_t i = 0; i < mh.msg_iovlen; i++) {
			n = up_tls_write(c, iov[i].iov_base, iov[i].iov_len);
			if (n == -EAGAIN)
				return 0;
			if (n < 0)
				return (int)n;
			c->sent += (size_t)n;
			if ((size_t)n < iov[i].iov_len)
				return 0;
		}
		return 0;
	}
	n = sendmsg(c->io.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	c->sent += (size_t)n;
	return 0;
}

/* Write what the socket takes: the head and the body, kept or streamed.
 * 0, or -errno if the connection broke (-ESRCH: a streamed body's
 * producer is gone). */
static int conn_write(struct up_conn *c)
{
	int rc = conn_write_head(c);

	if (rc == 0 && c->sent == c->req_total)
		rc = up_upload_write(c, clock_now_ns());
	return rc;
}

/* The request is out: its first response byte and the whole response
 * are timed from now. */
static void time_response(struct up_conn *c, uint64_t now)
{
	const struct upstream_call *u = c->call;
	const struct config_upstream *lim = up_limits(c->pool->ua);
	uint32_t first_byte_ms = u->first_byte_ms != 0 ? u->first_byte_ms :
			       lim->first_byte_timeout_ms;

	c->resp_deadline_ns = clock_earlier(clock_after_ms(now, lim->response_timeout_ms),
					    u->c.deadline_ns);
	c->deadline_ns = clock_earlier(clock_after_ms(now, first_byte_ms), c->resp_deadline_ns);
}

/* Watch and time a busy connection: write while request bytes wait,
 * read always (an upstream may answer before it took the whole body). */
static void busy_watch(struct up_conn *c, uint64_t now)
{
	if (c->uploading && up_upload_sent(c)) {
		c->uploading = false;   /* the streamed body just went out */
		if (!upstream_parser_started(&c->parser))
			time_response(c, now);
	} else if (c->uploading && !upstream_parser_started(&c->parser)) {
		c->deadline_ns = clock_earlier(up_upload_deadline(c), c->call->c.deadline_ns);
	}
	up_conn_events(c, c->sent < c->req_total || up_upload_pending(c) > 0 ?
		   EV_READ | EV_WRITE : EV_READ);
	up_conn_arm(c, now);
}

static bool on_response_input(struct up_conn *c);

/* Write failed with `rc` while busy. A streamed body's producer gone is
 * the client's failure. Otherwise the upstream may have answered before
 * it stopped reading (a 413 or 401 of its own, then a close that resets
 * our writes): its answer is read before the failure counts, and EOF or a
 * reset then fails the call like any connection lost before a complete
 * response (resent when nothing of a response came and it may be). The
 * rest of a streamed body is cancelled. `c` may be freed when this
 * returns. */
static void busy_write_failed(struct up_conn *c, int rc)
{
	uint64_t now = clock_now_ns();

	if (rc == -ESRCH && c->uploading) {
		up_conn_fail(c, -ECONNRESET, false, "request body lost",
			     "the client's network actor is gone");
		return;
	}
	up_upload_close(c);
	c->uploading = false;
	c->unfinished = true;           /* never reused */
	if (c->resp_deadline_ns == 0)   /* a streamed body's call, not timed yet */
		time_response(c, now);
	up_conn_events(c, EV_READ);     /* nothing more to write */
	up_conn_arm(c, now);
	while (on_response_input(c))
		;
}

/* Start the request of c->call on a connected socket. */
void up_conn_send(struct up_conn *c, uint64_t now)
{
	struct upstream_call *u = c->call;
	const struct config_upstream *lim = up_limits(c->pool->ua);
	int n, rc;

	c->state = UC_BUSY;
	c->sent = 0;
	c->unfinished = false;
	c->uploading = u->upload;
	if (c->requests++ > 0)
		counter_add(&c->pool->st->reused_total, 1);
	if (u->upload && u->upload_ref.len < 0)
		n = snprintf(c->tail, sizeof(c->tail), "Transfer-Encoding: chunked\r\n\r\n");
	else if (u->upload)
		n = snprintf(c->tail, sizeof(c->tail), "Content-Length: %lld\r\n\r\n",
			     (long long)u->upload_ref.len);
	else if (u->has_body || u->body_len > 0)
		n = snprintf(c->tail, sizeof(c->tail), "Content-Length: %zu\r\n\r\n", u->body_len);
	else
		n = snprintf(c->tail, sizeof(c->tail), "\r\n");
	c->tail_len = (uint8_t)n;
	c->req_total = request_total(c);
	upstream_parser_start(&c->parser, &u->resp, u->method == HTTP_HEAD,
			      lim->max_response_bytes);
	if (u->stream_over > 0 && !u->gzip && u->redirects_left == 0)
		upstream_parser_stream(&c->parser, u->stream_over, up_stream_sink, c);
	if (u->upload) {
		/* Timed as it goes out (busy_watch), then as any request. */
		c->resp_deadline_ns = 0;
		rc = up_upload_begin(c, now);
		if (rc != 0) {
			up_conn_fail(c, rc == -ENOMEM ? -EAGAIN : -ECONNRESET, false,
				     "cannot stream the request body",
				     rc == -ENOMEM ? "no memory" : "the client's network actor is gone");
			return;
		}
	} else {
		time_response(c, now);
	}
	rc = conn_write(c);
	if (rc != 0) {
		busy_write_failed(c, rc);
		return;
	}
	busy_watch(c, now);
}

void up_conn_body_ready(struct up_conn *c)
{
	int rc;

	if (c->state != UC_BUSY)
		return;
	rc = conn_write(c);
	if (rc != 0) {
		busy_write_failed(c, rc);
		return;
	}
	busy_watch(c, clock_now_ns());
}

void up_conn_start(struct up_conn *c, struct upstream_call *u)
{
	c->call = u;
	up_conn_send(c, clock_now_ns());
}

static ssize_t conn_read(struct up_conn *c, char *buf, size_t len)
{
	ssize_t n;

	if (c->ssl != NULL)
		return up_tls_read(c, buf, len);
	n = recv(c->io.fd, buf, len, 0);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
	return n;
}

/* Watch and time a streaming connection as its credit allows: read
 * while there is room (never past the response's end), else let TCP
 * push back on the upstream. */
static void stream_watch(struct up_conn *c)
{
	uint64_t now = clock_now_ns();

	up_conn_events(c, up_stream_room(c) > 0 && !upstream_parser_done(&c->parser) ? EV_READ : 0);
	c->deadline_ns = up_stream_deadline(c, now);
	up_conn_arm(c, now);
}

/* Response bytes (or the end of the connection) arrived while busy.
 * Returns true while more may be read at once (TLS keeps decrypted bytes
 * that the socket no longer signals). */
static bool on_response_input(struct up_conn *c)
{
	struct up_actor *ua = c->pool->ua;
	size_t room = c->stream != NULL ? up_stream_room(c) : UPSTREAM_READ_BUF;
	ssize_t n, used;
	int rc;

	if (room == 0) {
		up_conn_events(c, 0);       /* the client is behind: TCP slows the upstream */
		return false;
	}
	n = conn_read(c, ua->rbuf, room);
	if (n == -EAGAIN)
		return false;
	if (n <= 0) {
		/* EOF or reset: completes a response framed by the close. */
		int cause = n < 0 ? (int)n : 0;

		rc = n == 0 ? upstream_parser_eof(&c->parser) : -EPROTO;
		if (rc == 0 && c->stream != NULL) {
			/* END once the rest is out; the socket is done. */
			if (up_stream_flush(c) == 0 && c->state == UC_STREAM)
				stream_watch(c);
		} else if (rc == 0)
			conn_complete(c, false);
		else
			up_conn_fail_errno(c, -EPROTO, !upstream_parser_started(&c->parser),
					"connection closed before a complete response", cause);
		return false;
	}
	if (!upstream_parser_started(&c->parser)) {
		/* The first byte: from now on the whole-response deadline
		 * (an upload's answer may come before its body is out). */
		if (c->resp_deadline_ns == 0)
			c->resp_deadline_ns = clock_earlier(
				clock_after_ms(clock_now_ns(), up_limits(ua)->response_timeout_ms),
				c->call != NULL ? c->call->c.deadline_ns : 0);
		c->deadline_ns = c->resp_deadline_ns;
	}
	used = upstream_parser_feed(&c->parser, ua->rbuf, (size_t)n);
	if (used < 0) {
		up_conn_fail_errno(c, (int)used, false, used == -EFBIG ? "response too large" :
				"malformed response", 0);
		return false;
	}
	if (upstream_parser_streaming(&c->parser)) {
		/* The head goes to the caller now, the body as credit comes;
		 * the rest of a streamed request body is not sent. */
		if (c->call != NULL)
			up_upload_close(c);
		if (c->call != NULL && up_stream_start(c) != 0) {
			up_conn_fail_errno(c, -EAGAIN, false, "no memory to stream", -ENOMEM);
			return false;
		}
		if (upstream_parser_done(&c->parser))
			up_stream_set_reusable(c, upstream_parser_keep_alive(&c->parser) &&
					       used == n && (size_t)n < room && request_out(c) &&
					       (c->ssl == NULL || up_tls_pending(c) == 0));
		if (up_stream_flush(c) != 0 || c->state != UC_STREAM)
			return false;
		stream_watch(c);
		return !upstream_parser_done(&c->parser) && c->ssl != NULL &&
		       up_tls_pending(c) > 0;
	}
	if (upstream_parser_done(&c->parser)) {
		/* Bytes after the response, or a request not fully written: the
		 * connection's state is unknown, so it is not reused. So with a
		 * read that filled its room: more may be queued behind it (the
		 * rest of the upstream's write), and a call queued for the
		 * connection would take the connection, and them for its answer,
		 * before its idle watcher could see them. */
		conn_complete(c, upstream_parser_keep_alive(&c->parser) && used == n &&
			      (size_t)n < room && request_out(c) &&
			      (c->ssl == NULL || up_tls_pending(c) == 0));
		return false;
	}
	return c->ssl != NULL && up_tls_pending(c) > 0;
}

void up_conn_stream_read(struct up_conn *c)
{
	stream_watch(c);
	/* OpenSSL may hold decrypted bytes the socket will not signal. */
	if (c->ssl != NULL && up_tls_pending(c) > 0 && !upstream_parser_done(&c->parser))
		while (on_response_input(c))
			;
}

/* An idle connection became readable: the upstream closed it (or sent
 * what nobody asked for). TLS may also have had a session ticket to read. */
static void on_idle_input(struct up_conn *c)
{
	char byte;

	if (c->ssl != NULL) {
		if (up_tls_read(c, &byte, 1) == -EAGAIN)
			return;
	} else if (recv(c->io.fd, &byte, 1, MSG_PEEK) < 0 &&
		   (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		return;
	}
	up_conn_close(c);
}

/* One event on a connection; `c` may be freed when it returns. */
static void conn_event(struct up_conn *c, int revents)
{
	switch (c->state) {
	case UC_RESOLVING:
		return;
	case UC_CONNECTING:
		up_conn_connected(c, clock_now_ns());
		return;
	case UC_HANDSHAKE:
		up_conn_established(c, clock_now_ns());
		return;
	case UC_IDLE:
		on_idle_input(c);
		return;
	case UC_STREAM:
		/* The request is out (or abandoned: up_stream_start). */
		if (revents & EV_READ)
			while (on_response_input(c))
				;
		return;
	default:
		break;
	}
	if (revents & EV_WRITE) {
		int rc = conn_write(c);

		if (rc != 0) {
			busy_write_failed(c, rc);
			return;
		}
		busy_watch(c, clock_now_ns());
	}
	if (revents & EV_READ)
		while (on_response_input(c))
			;
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct up_conn *c = w->data;
	struct up_pool *pl = c->pool;   /* outlives its connections */

	(void)loop;
	pl->ua->current = pl;           /* not reclaimed under us (redirects) */
	conn_event(c, revents);
	pl->ua->current = NULL;
	up_pool_kick(pl);
}

static void on_conn_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct up_conn *c = w->data;
	struct up_pool *pl = c->pool;
	uint64_t now = clock_now_ns();
	static const char *const what[] = {
		[UC_RESOLVING] = "name lookup timed out (connect timeout)",
		[UC_HANDSHAKE] = "TLS handshake timed out (connect timeout)",
		[UC_BUSY] = "response timed out",
	};

	(void)loop;
	(void)revents;
	c->timer_at_ns = 0;
	/* libev may fire a little before our clock says so. */
	if (c->deadline_ns == 0 || now + NS_PER_MS < c->deadline_ns) {
		up_conn_arm(c, now);
		return;
	}
	if (c->state == UC_IDLE) {
		up_conn_close(c);
	} else if (c->state == UC_BUSY && c->uploading && !upstream_parser_started(&c->parser) &&
		   (c->call->c.deadline_ns == 0 || now + NS_PER_MS < c->call->c.deadline_ns)) {
		/* The body's own deadlines (the call's falls through below). */
		if (up_upload_timer(c, now) == 0)
			busy_watch(c, now);     /* a grant went again */
	} else if (c->state == UC_STREAM) {
		up_stream_timer(c, now);
	} else if (c->state == UC_CONNECTING) {
		up_conn_connect_failed(c, -ETIMEDOUT);   /* the next address, if any */
	} else {
		up_conn_fail(c, -ETIMEDOUT, false,
			     c->state == UC_BUSY && !upstream_parser_started(&c->parser) ?
			     "no first response byte in time" : what[c->state],
			     "timeout");
	}
	up_pool_kick(pl);
}
