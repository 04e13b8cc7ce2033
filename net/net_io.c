/*
 * net_io.c - the sockets of a network actor's connections.
 *
 * DESIGN
 * A connection (struct net_conn) is an http_conn (the protocol, in
 * http_conn.c) plus its socket, one ev_io, one ev_timer and the bytes the
 * socket has not taken yet. Connections sit in a slot table; other threads
 * name them only by conn_id = slot | (generation << 32), so a reply for a
 * closed connection finds nothing instead of freed memory.
 *
 * Reads: one recv(2) into the actor's 64 KiB read buffer per readable
 * event, parsed at once (http_conn copies what it keeps). Writes: the
 * connection is only marked dirty when answers or input arrive; at the end
 * of the loop iteration (ev_prepare) every dirty connection serialises all
 * the answers whose turn has come into the actor's scratch buffer and hands
 * them to ONE send(2). What the socket does not take is copied into the
 * connection's own buffer and written on EV_WRITE; that buffer is freed as
 * soon as it drains, so an idle keep-alive connection owns no buffer.
 *
 * Backpressure: reading stops while the unsent output exceeds
 * http.output_high_water, the pipeline is full or a request waits for room
 * in a handler mailbox (http_conn_wants_input; net_hold.c), or a window of
 * a streamed request body waits for its consumer (net_upload.c), and
 * resumes when that clears; input already read but held back is parsed only below
 * the high-water mark too.
 *
 * Timers: one per connection, armed lazily: moving a deadline later never
 * touches the timer heap; the timer fires at the old time, finds the new
 * deadline and re-arms. Deadlines: those of http_conn, the write timeout
 * (no write progress while output waits) and the linger time. While a
 * response body streams, net_stream_deadline replaces http_conn's (a
 * silent producer, a grant to send again). A piece of a streamed request
 * body refused by a full mailbox is sent again at net_upload_deadline.
 * The keep-alive period starts once the last answer has left for the
 * socket, not when it was queued: a long answer read slowly is bounded by
 * the write timeout alone, never cut at keepalive_timeout_ms.
 *
 * A client that does not read is reset at the write timeout, so its
 * unsent output does not outlive the connection in the kernel.
 *
 * File bodies (static files): http_conn_output stops after a file
 * answer's headers and hands over its descriptor; the headers leave with
 * MSG_MORE, then sendfile(2) moves at most NET_SENDFILE_MAX bytes per
 * event, page cache to socket, and later answers wait until the file is
 * out. The file actors have opened the file and read ahead, so the pages
 * are normally cached; the write timeout covers a file as any output.
 *
 * Closing: whenever actord ends a connection with an answer (an error,
 * Connection: close, HTTP/1.0 without keep-alive, the last answer of a
 * drain, the 504 backstop), the write side is shut down and the input read
 * and discarded
 * for up to NET_LINGER_MS (NET_LINGER_BYTES at most), until the client
 * closes too: a client still sending (a body we refused with 413, requests
 * pipelined after Connection: close) reads our answer instead of a
 * connection reset, which would discard it from its receive buffer.
 *
 * Thread: the owning network actor.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_internal.h"
#include "net_timer.h"
#include "ws_internal.h"
#include "base/clock.h"

#define K_LINGER ((int)NET_TIMEOUT_COUNT) /* conn_deadline kinds beyond net_timeout */
#define K_STREAM ((int)NET_TIMEOUT_COUNT + 1)
#define K_UPLOAD ((int)NET_TIMEOUT_COUNT + 2)

struct net_conn *net_conn_find(struct net_actor *na, uint64_t conn_id)
{
	uint32_t slot = (uint32_t)conn_id;
	struct net_conn *c;

	if (slot >= na->nslots)
		return NULL;
	c = na->slots[slot];
	return c != NULL && c->gen == (uint32_t)(conn_id >> 32) ? c : NULL;
}

void net_describe_peer(void *ctx, const struct http_conn *hc, char *buf, size_t len)
{
	/* hc is the first member of its net_conn. */
	const struct net_conn *c = (const struct net_conn *)(const void *)hc;
	char ip[INET6_ADDRSTRLEN] = "?";

	(void)ctx;
	if (c->peer_family == AF_INET || c->peer_family == AF_INET6)
		inet_ntop(c->peer_family, c->peer_addr, ip, sizeof(ip));
	snprintf(buf, len, c->peer_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, c->peer_port);
}

static int conn_deadline(const struct net_conn *c, uint64_t *deadline)
{
	const struct config_http *lim = c->na->env.http;
	enum net_timeout k = NET_TIMEOUT_HEADER;
	uint64_t d;

	if (c->state == NC_LINGER) {
		*deadline = c->linger_until_ns;
		return K_LINGER;
	}
	if (c->stream != NULL) {
		/* A streamed body: no keep-alive or handler period runs (the
		 * producer's own timeouts end a stalled upstream). */
		d = net_stream_deadline(c);
		k = (enum net_timeout)K_STREAM;
	} else {
		d = http_conn_deadline(&c->hc, &k);
		/* An answer still leaving is no idle connection: the write
		 * timeout bounds it, and the idle period starts once it is
		 * out (conn_update, conn_send_file). */
		if (k == NET_TIMEOUT_KEEPALIVE && (net_buf_pending(&c->out) > 0 || c->has_file))
			d = 0;
	}
	if (net_upload_deadline(c) != 0 && (d == 0 || net_upload_deadline(c) < d)) {
		d = net_upload_deadline(c);     /* a piece refused by a full mailbox */
		k = (enum net_timeout)K_UPLOAD;
	}
	if (net_buf_pending(&c->out) > 0 || c->has_file) {
		uint64_t w = c->write_ns + (uint64_t)lim->write_timeout_ms * NS_PER_MS;

		if (d == 0 || w < d) {
			d = w;
			k = NET_TIMEOUT_WRITE;
		}
	}
	*deadline = d;
	return (int)k;
}

static void arm_timer(struct net_conn *c, uint64_t now)
{
	uint64_t d;

	conn_deadline(c, &d);
	net_timer_arm(c->na->loop, &c->timer, &c->timer_at_ns, d, now);
}

static void set_events(struct net_conn *c, int want)
{
	struct ev_loop *loop = c->na->loop;
	int have = ev_is_active(&c->io) ? (c->io.events & (EV_READ | EV_WRITE)) : 0;

	if (have == want)
		return;
	if ((have & EV_READ) && !(want & EV_READ) && c->state == NC_OPEN &&
	    !http_conn_finished(&c->hc))
		counter_add(&c->na->stats->read_pauses_total, 1);
	ev_io_stop(loop, &c->io);
	if (want != 0) {
		ev_io_modify(&c->io, want);
		ev_io_start(loop, &c->io);
	}
}

void net_conn_close(struct net_conn *c)
{
	struct net_actor *na = c->na;

	ev_io_stop(na->loop, &c->io);
	ev_timer_stop(na->loop, &c->timer);
	close(c->io.fd);
	if (c->has_file)
		close(c->file_fd);
	net_stream_cancel(c);
	ws_conn_dispose(c);          /* WebSocket: channels, the handler's close event */
	net_hold_forget(c);
	http_conn_dispose(&c->hc);
	net_upload_close(c);         /* after dispose: it may have ended it */
	net_buf_free(&c->out);
	na->slots[c->slot] = NULL;
	na->free_slots[na->nfree++] = c->slot;
	free(c);
	/* Relaxed: a soft limit; see reserve_conn in net_actor.c. */
	atomic_fetch_sub_explicit(&na->sh->open, 1, memory_order_relaxed);
	counter_add(&na->stats->conns_open, -1);
	na->nconns--;
	if (na->drain != NULL && na->nconns == 0) {
		msg_free(na->drain); /* tells the drainer this actor is done */
		na->drain = NULL;
	}
	net_accept_maybe_resume(na);
}

void net_conns_drain(struct net_actor *na, bool gently)
{
	for (uint32_t i = 0; i < na->nslots; i++) {
		struct net_conn *c = na->slots[i];

		if (c != NULL && ws_conn_owns(c)) {
			ws_conn_drain(c);    /* WebSocket: close 1001 */
		} else if (c != NULL && c->state == NC_OPEN) {
			if (gently)
				http_conn_drain_gently(&c->hc);
			else
				http_conn_drain(&c->hc);
			net_conn_mark_dirty(c);
		}
	}
}

static void conn_linger(struct net_conn *c, uint64_t now)
{
	shutdown(c->io.fd, SHUT_WR);
	c->state = NC_LINGER;
	c->linger_until_ns = now + (uint64_t)NET_LINGER_MS * NS_PER_MS;
	set_events(c, EV_READ);
	arm_timer(c, now);
}

/* Settle a connection after anything happened to it: close it if it is
 * over, choose what to wait for, re-arm its timer. Returns -1 if closed. */
static int conn_update(struct net_conn *c, uint64_t now)
{
	size_t pending = net_buf_pending(&c->out);
	int want = 0;

	if (c->state == NC_LINGER)
		return 0;
	if (c->stream != NULL && net_stream_pump(c, now) != 0) {
		net_conn_close(c);      /* the producer is gone */
		return -1;
	}
	if (pending == 0 && c->out.cap > 0 && c->stream == NULL) {
		net_buf_free(&c->out);
		http_conn_body_sent(&c->hc, now); /* the last answer is out now */
	}
	if (c->has_file)
		pending++;
	if (pending == 0 && c->stream == NULL && http_conn_finished(&c->hc)) {
		if (http_conn_lingers(&c->hc)) {
			conn_linger(c, now); /* after every closing answer, not only errors */
			return 0;
		}
		net_conn_close(c); /* nothing of ours to protect: an idle drain */
		return -1;
	}
	if (http_conn_wants_input(&c->hc) && pending <= c->na->env.http->output_high_water &&
	    net_upload_room(c))
		want |= EV_READ;
	if (pending > 0)
		want |= EV_WRITE;  /* (a file body counts as pending) */
	set_events(c, want);
	arm_timer(c, now);
	return 0;
}

/* send(2) what `buf` holds. Returns bytes taken (0 if the socket is full),
 * or -1 if the connection is broken. */
static ssize_t conn_send(struct net_conn *c, const struct net_buf *buf, int more)
{
	ssize_t n = send(c->io.fd, net_buf_head(buf), net_buf_pending(buf),
			 MSG_NOSIGNAL | MSG_DONTWAIT | more);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	counter_add(&c->na->stats->bytes_out_total, (uint64_t)n);
	return n;
}

/* sendfile(2) the file body once `out` has drained: at most
 * NET_SENDFILE_MAX bytes now. Returns -1 if the connection was closed. */
static int conn_send_file(struct net_conn *c, uint64_t now)
{
	uint64_t budget = NET_SENDFILE_MAX;

	while (c->has_file && c->file_left > 0 && budget > 0 && net_buf_pending(&c->out) == 0) {
		off_t off = (off_t)c->file_off;
		size_t want = (size_t)(c->file_left < budget ? c->file_left : budget);
		ssize_t n = sendfile(c->io.fd, c->file_fd, &off, want);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			/* An error, or a file that shrank: the promised
			 * Content-Length cannot be kept, the connection must end. */
			net_conn_close(c);
			return -1;
		}
		counter_add(&c->na->stats->bytes_out_total, (uint64_t)n);
		c->file_off += (uint64_t)n;
		c->file_left -= (uint64_t)n;
		budget -= (uint64_t)n;
		c->write_ns = now;
	}
	if (c->has_file && c->file_left == 0) {
		close(c->file_fd);
		c->has_file = false;
		http_conn_body_sent(&c->hc, now);
		net_conn_mark_dirty(c); /* the answers behind it may go now */
	}
	return 0;
}

/* A streamed body: write what arrived of it (the head is already in
 * c->out or sent). Returns -1 if the connection was closed. */
static int conn_send_stream(struct net_conn *c, uint64_t now)
{
	ssize_t n;

	if (net_buf_pending(&c->out) == 0)
		return 0;
	n = conn_send(c, &c->out, 0);
	if (n < 0) {
		net_conn_close(c);
		return -1;
	}
	if (n > 0) {
		net_buf_consume(&c->out, (size_t)n);
		c->write_ns = now;
	}
	return 0;
}

/* Serialise every answer whose turn has come and hand them to ONE
 * send(2); what the socket does not take waits in c->out. A file body
 * goes out behind them. Returns -1 if the connection was closed. */
static int conn_write_answers(struct net_conn *c, uint64_t now)
{
	struct net_actor *na = c->na;
	bool direct = net_buf_pending(&c->out) == 0;
	struct net_buf *dst = direct ? &na->scratch : &c->out;
	struct http_stream_ref ref;
	ssize_t n;

	if (c->has_file && (conn_send_file(c, now) != 0 || c->has_file))
		return c->has_file ? 0 : -1; /* later answers wait behind the file */
	if (c->stream != NULL)
		return conn_send_stream(c, now); /* and behind a streamed body */
	if (direct)
		dst->len = dst->off = 0;
	http_conn_output(&c->hc, dst, now);
	if (http_conn_take_file(&c->hc, &c->file_fd, &c->file_off, &c->file_left)) {
		c->has_file = true;
		c->write_ns = now;
	}
	if (http_conn_take_stream(&c->hc, &ref) && net_stream_begin(c, &ref) != 0) {
		net_conn_close(c);
		return -1;
	}
	if (!direct || net_buf_pending(dst) == 0)
		return c->has_file && direct ? conn_send_file(c, now) :
		       http_conn_upgraded(&c->hc) ? ws_conn_begin(c, now) : 0;
	n = conn_send(c, dst, c->has_file ? MSG_MORE : 0);
	if (n < 0) {
		net_conn_close(c);
		return -1;
	}
	net_buf_consume(dst, (size_t)n);
	if (net_buf_pending(dst) > 0) {
		c->write_ns = now;
		if (net_buf_append(&c->out, net_buf_head(dst), net_buf_pending(dst)) != 0) {
			net_conn_close(c);
			return -1;
		}
		return 0;
	}
	return c->has_file ? conn_send_file(c, now) :
	       http_conn_upgraded(&c->hc) ? ws_conn_begin(c, now) : 0;
}

/* Write what is owed, then parse input held back by a full pipeline, but
 * only while the output is under the high-water mark: parsing held input
 * is reading too, and a client that pipelines requests without reading
 * the answers must not make us buffer them all. */
static void conn_flush(struct net_conn *c, uint64_t now)
{
	if (ws_conn_owns(c)) {       /* WebSocket: ws_conn.c */
		ws_conn_flush(c, now);
		return;
	}
	if (c->state != NC_OPEN || conn_write_answers(c, now) != 0)
		return;
	if (ws_conn_owns(c)) {       /* the 101 just went out */
		ws_conn_flush(c, now);
		return;
	}
	if (net_buf_pending(&c->out) <= c->na->env.http->output_high_water &&
	    http_conn_resume(&c->hc, now) && conn_write_answers(c, now) != 0)
		return;
	conn_update(c, now);
}

/* Never writes inline, even when the list cannot grow: the caller may be
 * inside the parser or about to use the connection (on_conn_io), and a
 * write may close it. Out of memory, the mark is kept on the connection
 * alone and the flush scans every slot for it. */
void net_conn_mark_dirty(struct net_conn *c)
{
	struct net_actor *na = c->na;

	if (c->dirty)
		return;
	c->dirty = true;
	if (na->ndirty == na->dirty_cap) {
		uint32_t cap = na->dirty_cap > 0 ? na->dirty_cap * 2 : 256;
		uint64_t *d = realloc(na->dirty, sizeof(*d) * cap);

		if (d == NULL) {
			na->dirty_lost = true;
			return;
		}
		na->dirty = d;
		na->dirty_cap = cap;
	}
	na->dirty[na->ndirty++] = net_conn_id(c);
}

static void flush_marked(struct net_conn *c, uint64_t now)
{
	if (c != NULL && c->dirty) {
		c->dirty = false;
		conn_flush(c, now);
	}
}

void on_net_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct net_actor *na = w->data;
	uint32_t i = 0;
	uint64_t now;

	(void)revents;
	if (!list_empty(&na->held))
		net_hold_retry(na); /* replies came back: handlers made room */
	if (na->ndirty == 0 && !na->dirty_lost)
		return;
	net_env_refresh(na);
	http_date_update(&na->date, (time_t)ev_now(loop));
	now = clock_now_ns();
	/* Connections marked while flushing are written in this pass too. */
	for (;;) {
		for (; i < na->ndirty; i++)
			flush_marked(net_conn_find(na, na->dirty[i]), now);
		if (!na->dirty_lost)
			break;
		na->dirty_lost = false;
		for (uint32_t s = 0; s < na->nslots; s++)
			flush_marked(na->slots[s], now);
	}
	na->ndirty = 0;
	if (na->scratch.cap > NET_SCRATCH_KEEP)
		net_buf_free(&na->scratch);
	/* Requests parsed from held input were sent in this callback: publish
	 * them now rather than after the loop's next wake-up. */
	mbox_flush();
}

static int conn_read(struct net_conn *c, uint64_t now)
{
	struct net_actor *na = c->na;
	ssize_t n = recv(c->io.fd, na->rbuf, NET_READ_BUF, 0);

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		net_conn_close(c);
		return -1;
	}
	if (c->state == NC_LINGER) {
		c->lingered_bytes += (uint32_t)n;
		if (n == 0 || c->lingered_bytes > NET_LINGER_BYTES) {
			net_conn_close(c);
			return -1;
		}
		return 0;
	}
	if (n == 0) {
		/* The client closed its side: what it sent whole is still
		 * answered (http_conn_eof), nothing more is read. Not a pause
		 * for backpressure: the watcher stops here, uncounted. */
		http_conn_eof(&c->hc);
		ev_io_stop(na->loop, &c->io);
		if (http_conn_finished(&c->hc) && !c->has_file && c->stream == NULL &&
		    net_buf_pending(&c->out) == 0) {
			net_conn_close(c);
			return -1;
		}
		net_conn_mark_dirty(c);
		return 0;
	}
	counter_add(&na->stats->bytes_in_total, (uint64_t)n);
	http_conn_feed(&c->hc, na->rbuf, (size_t)n, now);
	net_conn_mark_dirty(c);
	return 0;
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct net_conn *c = w->data;
	uint64_t now = clock_now_ns();

	(void)loop;
	net_env_refresh(c->na);
	if (ws_conn_owns(c)) {       /* WebSocket: ws_conn.c */
		ws_conn_io(c, revents, now);
		return;
	}
	if (revents & EV_WRITE) {
		ssize_t n = net_buf_pending(&c->out) > 0
			? conn_send(c, &c->out, c->has_file ? MSG_MORE : 0) : 0;

		if (n < 0) {
			net_conn_close(c);
			return;
		}
		if (n > 0) {
			net_buf_consume(&c->out, (size_t)n);
			c->write_ns = now;
		}
		if (c->has_file && conn_send_file(c, now) != 0)
			return;
		if (conn_update(c, now) != 0)
			return;
		if (net_buf_pending(&c->out) == 0 && !c->has_file)
			net_conn_mark_dirty(c); /* drained: held input may resume */
	}
	if ((revents & EV_READ) && ev_is_active(&c->io) && (c->io.events & EV_READ))
		conn_read(c, now);
}

static void on_conn_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct net_conn *c = w->data;
	uint64_t now = clock_now_ns(), d;
	int kind;

	(void)loop;
	(void)revents;
	net_env_refresh(c->na);
	c->timer_at_ns = 0;
	if (ws_conn_owns(c)) {       /* WebSocket: ws_conn.c */
		ws_conn_timer(c, now);
		return;
	}
	kind = conn_deadline(c, &d);
	if (d == 0)
		return;
	/* libev may fire a little before our clock says so. */
	if (now + NS_PER_MS < d) {
		arm_timer(c, now);
		return;
	}
	if (kind == K_LINGER) {
		net_conn_close(c);
	} else if (kind == K_UPLOAD) {
		net_upload_timer(c, now);
		conn_update(c, now);
	} else if (kind == K_STREAM) {
		if (net_stream_timer(c, now) != 0)
			net_conn_close(c);      /* the producer went silent */
		else
			conn_update(c, now);    /* grant again (net_stream_pump) */
	} else if (kind == NET_TIMEOUT_WRITE) {
		/* Reset rather than close: a graceful close would leave the
		 * kernel an orphan socket still trickling megabytes to a client
		 * that does not read (nginx's reset_timedout_connection). */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		http_conn_expire(&c->hc, NET_TIMEOUT_WRITE, now); /* counted, logged */
		net_conn_close(c);
	} else if (http_conn_expire(&c->hc, (enum net_timeout)kind, now)) {
		net_conn_close(c);
	} else {
		net_conn_mark_dirty(c);
	}
}

static int grow_slots(struct net_actor *na)
{
	uint32_t cap = na->slots_cap > 0 ? na->slots_cap * 2 : 1024;
	struct net_conn **slots = realloc(na->slots, sizeof(*slots) * cap);
	uint32_t *free_slots;

	if (slots == NULL)
		return -ENOMEM;
	na->slots = slots;
	free_slots = realloc(na->free_slots, sizeof(*free_slots) * cap);
	if (free_slots == NULL)
		return -ENOMEM;
	na->free_slots = free_slots;
	na->slots_cap = cap;
	return 0;
}

int net_conn_open(struct net_actor *na, int fd, const struct sockaddr *sa)
{
	uint64_t now = clock_now_ns();
	struct net_conn *c;
	uint32_t slot;

	if (na->nfree == 0 && na->nslots == na->slots_cap && grow_slots(na) != 0)
		return -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	slot = na->nfree > 0 ? na->free_slots[--na->nfree] : na->nslots++;
	na->slots[slot] = c;
	c->na = na;
	c->slot = slot;
	if (++na->next_gen == 0)
		na->next_gen = 1;
	c->gen = na->next_gen;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		c->peer_family = AF_INET;
		c->peer_port = ntohs(in->sin_port);
		memcpy(c->peer_addr, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		c->peer_family = AF_INET6;
		c->peer_port = ntohs(in6->sin6_port);
		memcpy(c->peer_addr, &in6->sin6_addr, 16);
	}
	net_env_refresh(na);
	http_conn_init(&c->hc, &na->env, net_conn_id(c), now);
	ev_io_init(&c->io, on_conn_io, fd, EV_READ);
	c->io.data = c;
	ev_init(&c->timer, on_conn_timer);
	c->timer.data = c;
	ev_io_start(na->loop, &c->io);
	arm_timer(c, now);
	counter_add(&na->stats->conns_accepted_total, 1);
	counter_add(&na->stats->conns_open, 1);
	na->nconns++;
	return 0;
}

void net_conns_close_all(struct net_actor *na)
{
	for (uint32_t i = 0; i < na->nslots; i++)
		if (na->slots[i] != NULL)
			net_conn_close(na->slots[i]);
}
