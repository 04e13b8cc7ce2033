/*
 * upstream_io.c - the sockets of an upstream actor: connect, write one
 * request, read its response, keep the connection for the next one.
 *
 * DESIGN
 * A connection (struct up_conn) is a non-blocking TCP socket with
 * TCP_NODELAY, one ev_io and one ev_timer, and at most one call in flight
 * (no pipelining: a slow response never holds up another request).
 * States: CONNECTING (waiting for EV_WRITE, then SO_ERROR), BUSY (the
 * request is written with one sendmsg of head, Content-Length line and
 * body; EV_WRITE only while the socket is full; EV_READ feeds the
 * response to upstream_parse.c through the actor's 64 KiB read buffer),
 * IDLE (a kept-alive connection, read-watched so that the upstream
 * closing it is noticed at once and it leaves the pool).
 *
 * Deadlines, one timer per connection, armed lazily (moving a deadline
 * later never touches the timer heap; the timer fires early, finds the
 * later deadline and re-arms): connecting until upstream.connect_timeout_ms,
 * busy until upstream.response_timeout_ms after the request started, both
 * capped by the call's own deadline; idle until upstream.idle_timeout_ms.
 *
 * Failures: a connection that fails before any byte of the response
 * arrived (reset, EOF, a write error) is retryable (up_call_failed
 * decides: idempotent methods only); a failed connect, a malformed or
 * over-large response, and a timeout are not. The connection is closed
 * and freed before the call is resent or answered, so its slot under
 * upstream.max_connections is free again for the queue.
 *
 * Thread: the upstream actor owning the connections.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net_timer.h"
#include "upstream_internal.h"
#include "actors/log.h"
#include "base/clock.h"


static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_conn_timer(struct ev_loop *loop, ev_timer *w, int revents);

static uint64_t earlier(uint64_t a, uint64_t b)
{
	if (a == 0)
		return b;
	return b != 0 && b < a ? b : a;
}

static void arm_timer(struct up_conn *c, uint64_t now)
{
	net_timer_arm(c->pool->ua->loop, &c->timer, &c->timer_at_ns, c->deadline_ns, now);
}

static void set_events(struct up_conn *c, int want)
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

/* Warnings about one upstream actor's upstreams: at most a few per second,
 * so an upstream that is down does not flood the log. */
static void warn_limited(struct up_conn *c, const char *what, int err)
{
	struct up_actor *ua = c->pool->ua;
	uint64_t sec = clock_now_ns() / 1000000000u;

	if (sec != ua->log_sec) {
		ua->log_sec = sec;
		ua->log_count = 0;
	}
	if (ua->log_count++ < UPSTREAM_LOG_PER_S)
		log_warn("%s: upstream %s: %s (%s)", actor_name(ua->actor), c->pool->st->name,
			 what, ad_strerror(err));
}

void up_conn_close(struct up_conn *c)
{
	struct up_pool *pl = c->pool;
	struct ev_loop *loop = pl->ua->loop;

	if (c->state == UC_IDLE)
		up_pool_idle_remove(pl, c);
	ev_io_stop(loop, &c->io);
	ev_timer_stop(loop, &c->timer);
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
static void conn_fail(struct up_conn *c, int status, bool retryable, const char *what,
		      int cause)
{
	struct up_pool *pl = c->pool;
	struct upstream_call *u = c->call;

	c->call = NULL;
	if (!retryable || u == NULL || !upstream_method_idempotent(u->method) ||
	    u->retries_left == 0)
		warn_limited(c, what, cause != 0 ? cause : status);
	up_conn_close(c);
	if (u != NULL)
		up_call_failed(pl, u, status, retryable);
}

/* The response is complete: answer the call, then keep the connection
 * (idle: the queue's head takes it in up_pool_kick) or close it. */
static void conn_complete(struct up_conn *c, bool reusable)
{
	struct up_pool *pl = c->pool;
	struct upstream_call *u = c->call;
	uint64_t now = clock_now_ns();

	c->call = NULL;
	up_call_done(pl, u, 0);
	if (!reusable) {
		up_conn_close(c);
	} else {
		c->state = UC_IDLE;
		c->deadline_ns = now + (uint64_t)up_limits(pl->ua)->idle_timeout_ms * NS_PER_MS;
		up_pool_idle_add(pl, c);
		set_events(c, EV_READ);
		arm_timer(c, now);
	}
}

static size_t request_total(const struct up_conn *c)
{
	return c->call->head_len + c->tail_len + c->call->body_len;
}

/* Write what the socket takes. 0, or -errno if the connection broke. */
static int conn_write(struct up_conn *c)
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
	n = sendmsg(c->io.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	c->sent += (size_t)n;
	return 0;
}

/* Start the request of c->call on a connected socket. */
static void conn_send(struct up_conn *c, uint64_t now)
{
	struct upstream_call *u = c->call;
	const struct config_upstream *lim = up_limits(c->pool->ua);
	int n, rc;

	c->state = UC_BUSY;
	c->sent = 0;
	if (c->requests++ > 0)
		counter_add(&c->pool->st->reused_total, 1);
	n = u->has_body || u->body_len > 0 ?
		snprintf(c->tail, sizeof(c->tail), "Content-Length: %zu\r\n\r\n", u->body_len) :
		snprintf(c->tail, sizeof(c->tail), "\r\n");
	c->tail_len = (uint8_t)n;
	upstream_parser_start(&c->parser, &u->resp, u->method == HTTP_HEAD,
			      lim->max_response_bytes);
	c->deadline_ns = earlier(now + (uint64_t)lim->response_timeout_ms * NS_PER_MS,
				 u->c.deadline_ns);
	rc = conn_write(c);
	if (rc != 0) {
		conn_fail(c, -EPROTO, true, "write failed", rc);
		return;
	}
	set_events(c, c->sent < request_total(c) ? EV_READ | EV_WRITE : EV_READ);
	arm_timer(c, now);
}

void up_conn_start(struct up_conn *c, struct upstream_call *u)
{
	c->call = u;
	conn_send(c, clock_now_ns());
}

static int fill_addr(const struct up_pool *pl, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (pl->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)(void *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(pl->port);
		memcpy(&in->sin_addr, pl->addr, 4);
		*len = sizeof(*in);
		return 0;
	}
	if (pl->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(pl->port);
		memcpy(&in6->sin6_addr, pl->addr, 16);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

void up_conn_open(struct up_pool *pl, struct upstream_call *u)
{
	struct up_actor *ua = pl->ua;
	const struct config_upstream *lim = up_limits(ua);
	struct sockaddr_storage ss;
	socklen_t sslen;
	uint64_t now = clock_now_ns();
	struct up_conn *c;
	int fd, one = 1, rc;

	if (fill_addr(pl, &ss, &sslen) != 0) {
		up_call_done(pl, u, -EINVAL);
		return;
	}
	c = calloc(1, sizeof(*c));
	fd = c != NULL ? socket(pl->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
	if (fd < 0) {
		/* Out of descriptors or memory: ours, not the upstream's. */
		free(c);
		up_call_done(pl, u, -EAGAIN);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->pool = pl;
	c->call = u;
	ev_io_init(&c->io, on_conn_io, fd, EV_WRITE);
	c->io.data = c;
	ev_init(&c->timer, on_conn_timer);
	c->timer.data = c;
	list_init(&c->idle_link);
	list_push_front(&pl->conns, &c->all_link);
	pl->nopen++;
	counter_add(&pl->st->bs.connected, 1);
	counter_add(&pl->st->opened_total, 1);
	rc = connect(fd, (struct sockaddr *)&ss, sslen);
	if (rc == 0) {
		conn_send(c, now);
		return;
	}
	if (errno != EINPROGRESS) {
		conn_fail(c, -ECONNREFUSED, false, "connect failed", -errno);
		return;
	}
	c->state = UC_CONNECTING;
	c->deadline_ns = earlier(now + (uint64_t)lim->connect_timeout_ms * NS_PER_MS,
				 u->c.deadline_ns);
	ev_io_start(ua->loop, &c->io);
	arm_timer(c, now);
}

static void on_connected(struct up_conn *c, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		conn_fail(c, -ECONNREFUSED, false, "connect failed", -err);
		return;
	}
	conn_send(c, now);
}

/* Response bytes (or the end of the connection) arrived while busy. */
static void on_response_input(struct up_conn *c)
{
	struct up_actor *ua = c->pool->ua;
	ssize_t n = recv(c->io.fd, ua->rbuf, UPSTREAM_READ_BUF, 0), used;
	int rc;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		/* EOF or reset: completes a response framed by the close. */
		int cause = n < 0 ? -errno : 0;

		rc = n == 0 ? upstream_parser_eof(&c->parser) : -EPROTO;
		if (rc == 0)
			conn_complete(c, false);
		else
			conn_fail(c, -EPROTO, !upstream_parser_started(&c->parser),
				  "connection closed before a complete response", cause);
		return;
	}
	used = upstream_parser_feed(&c->parser, ua->rbuf, (size_t)n);
	if (used < 0) {
		conn_fail(c, (int)used, false, used == -EFBIG ? "response too large" :
			  "malformed response", 0);
		return;
	}
	if (upstream_parser_done(&c->parser))
		/* Bytes after the response, or a request not fully written: the
		 * connection's state is unknown, so it is not reused. */
		conn_complete(c, upstream_parser_keep_alive(&c->parser) && used == n &&
			      c->sent == request_total(c));
}

/* One event on a connection; `c` may be freed when it returns. */
static void conn_event(struct up_conn *c, int revents)
{
	char byte;

	switch (c->state) {
	case UC_CONNECTING:
		on_connected(c, clock_now_ns());
		return;
	case UC_IDLE:
		/* The upstream closed it (or sent what nobody asked for). */
		if (recv(c->io.fd, &byte, 1, MSG_PEEK) < 0 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		up_conn_close(c);
		return;
	default:
		break;
	}
	if (revents & EV_WRITE) {
		int rc = conn_write(c);

		if (rc != 0) {
			conn_fail(c, -EPROTO, !upstream_parser_started(&c->parser),
				  "write failed", rc);
			return;
		}
		if (c->sent == request_total(c))
			set_events(c, EV_READ);
	}
	if (revents & EV_READ)
		on_response_input(c);
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct up_conn *c = w->data;
	struct up_pool *pl = c->pool;   /* outlives its connections */

	(void)loop;
	conn_event(c, revents);
	up_pool_kick(pl);
}

static void on_conn_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct up_conn *c = w->data;
	struct up_pool *pl = c->pool;
	uint64_t now = clock_now_ns();

	(void)loop;
	(void)revents;
	c->timer_at_ns = 0;
	/* libev may fire a little before our clock says so. */
	if (c->deadline_ns == 0 || now + NS_PER_MS < c->deadline_ns) {
		arm_timer(c, now);
		return;
	}
	if (c->state == UC_IDLE)
		up_conn_close(c);
	else
		conn_fail(c, -ETIMEDOUT, false, c->state == UC_CONNECTING ?
			  "connect timed out" : "response timed out", 0);
	up_pool_kick(pl);
}
