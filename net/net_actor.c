/*
 * net_actor.c - the network actor pool: listeners, accept, handler hand-off.
 *
 * DESIGN
 * One pool of kind "net" (actors.net.count members). Each member, in its
 * `start`, opens its own listening socket per configured address with
 * SO_REUSEPORT, so the kernel spreads new connections over the members and
 * no accept is ever shared. Accepted sockets are non-blocking with
 * TCP_NODELAY and live on the member's own ev_loop (net_io.c).
 *
 * Messages: a member sends each parsed request (HTTP_MSG_REQUEST) to a
 * handler actor chosen round-robin; a handler whose mailbox is full is
 * skipped, and when every one is full the request is held (net_hold.c:
 * its connection stops being read until a handler has room), never
 * refused.
 * It accepts HTTP_MSG_RESPONSE (the same envelope coming back) and routes it
 * to its connection by conn_id (slot + generation): a reply for a closed
 * connection is dropped and counted (and a streamed body it announced is
 * cancelled). STREAM_MSG_DATA, the pieces of a streamed body, go to
 * net_stream.c. Anything else is freed.
 *
 * Connection limit: the members share one counter of open connections
 * (http.max_connections). At the limit a member first closes its
 * longest-idle keep-alive connections (net_reclaim.c); with none left it
 * stops watching its listeners (connections wait in the kernel backlog)
 * and counts it; a close on this member, or a 50 ms timer, starts them
 * again below the limit.
 *
 * Other listener pools (net_add_listener_pool) run the same code with
 * their own addresses, their own connection counter and budget, and may
 * answer requests on their own thread through a local dispatch function
 * (the admin endpoint) instead of sending them to handler actors.
 *
 * It never runs application code and never blocks.
 *
 * Thread: net_add_pools on the controlling thread; the rest on each
 * network actor's own thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "net_internal.h"
#include "stream_msg.h"
#include "ws_internal.h"
#include "actors/log.h"
#include "base/clock.h"
#include "base/log_budget.h"

const struct actor_kind net_kind = { "net" };

static const struct actor_ops net_ops;

const struct config_http *net_limits(const struct net_actor *na)
{
	return &config_current_or(na->sh->cfg)->http;
}

void net_env_refresh(struct net_actor *na)
{
	const struct ad_config *cfg = config_current_or(na->sh->cfg);

	na->env.http = &cfg->http;
	na->env.access_log = cfg->log.access_log[0] != '\0';
}

uint32_t net_max_connections(const struct net_actor *na)
{
	uint32_t max = na->sh->spec.max_connections != NULL ?
		na->sh->spec.max_connections(config_current_or(na->sh->cfg)) :
		net_limits(na)->max_connections;

	return na->sh->spec.conn_cap != 0 && max > na->sh->spec.conn_cap ?
		na->sh->spec.conn_cap : max;
}

/* A listener pool's actors run net_ops; their pool's `user` is its
 * net_shared (immutable after start, so any thread may read it). */
const struct net_stats *net_stats_of(const struct actor *a)
{
	const struct net_shared *sh;

	if (a == NULL || actor_ops(a) != &net_ops)
		return NULL;
	sh = actor_user(a);
	return actor_index(a) < sh->count ? &sh->stats[actor_index(a)] : NULL;
}

/* Local dispatch: the pool answers on this thread. An answer given at once
 * joins the connection's queue like a handler's reply would. */
static int submit_local(struct net_actor *na, struct net_conn *c, struct http_msg *hm)
{
	if (na->sh->spec.local(na->sh->spec.local_ctx, hm) != 0)
		return 0; /* kept: answered later through our mailbox */
	hm->m.type = HTTP_MSG_RESPONSE;
	http_conn_reply(&c->hc, net_req_of(&hm->m));
	net_conn_mark_dirty(c);
	return 0;
}

/* http_conn_env.upload_wanted (net/stream_msg.h, "Uploads"): the reverse
 * proxy's prefixes (live, from the configuration) stream a body over
 * upstream.proxy_buffer_bytes, or of unknown length (chunked), within
 * upstream.proxy_max_body_bytes; a route that reads its body piece by
 * piece (spec.bodies, the route table of the start) gets every non-empty
 * body streamed, within http.max_stream_body_bytes. */
static bool upload_wanted(void *ctx, unsigned method, const char *url, size_t url_len,
			  int64_t len, uint64_t *max)
{
	const struct net_actor *na = ctx;
	const struct ad_config *cfg = config_current_or(na->sh->cfg);
	const struct config_upstream *up = &cfg->upstream;
	const struct net_body_routes *bodies = &na->sh->spec.bodies;
	const char *q;

	for (unsigned i = 0; i < up->nproxy; i++) {
		size_t n = strlen(up->proxy[i].prefix);

		if (url_len < n || memcmp(url, up->proxy[i].prefix, n) != 0)
			continue;
		if (up->proxy_buffer_bytes == 0 ||
		    (len >= 0 && (uint64_t)len <= up->proxy_buffer_bytes))
			return false;
		*max = up->proxy_max_body_bytes;
		return true;
	}
	if (bodies->streams == NULL || len == 0)
		return false;
	q = memchr(url, '?', url_len);
	if (!bodies->streams(bodies->ctx, method, url, q != NULL ? (size_t)(q - url) : url_len))
		return false;
	*max = cfg->http.max_stream_body_bytes;
	return true;
}

static int submit(void *ctx, struct http_msg *hm)
{
	struct net_actor *na = ctx;
	int rc = -ENOENT;
	unsigned n;

	struct net_conn *c = net_conn_find(na, hm->conn_id);

	hm->m.type = HTTP_MSG_REQUEST;
	hm->m.reply_to = na->self;
	if (c != NULL) {
		hm->peer_family = c->peer_family;
		hm->peer_port = c->peer_port;
		memcpy(hm->peer_addr, c->peer_addr, sizeof(hm->peer_addr));
		if (na->sh->spec.local != NULL)
			return submit_local(na, c, hm);
	}
	/* Requests held for a full handler mailbox go first (net_hold.c). */
	if (!na->hold_retrying && !list_empty(&na->held))
		return -EAGAIN;
	n = na->handlers != NULL ? actor_pool_live(na->handlers) : 0;
	for (unsigned i = 0; i < n; i++) {
		actor_addr_t to;

		if (na->rr >= n)
			na->rr = 0;  /* the pool shrank */
		to = actor_pool_first(na->handlers) + na->rr;
		if (++na->rr == n)
			na->rr = 0;
		/* A retry does not knock on a mailbox that is still full. */
		if (na->hold_retrying &&
		    mbox_full(actor_mbox(actor_system_get(na->sys, to)))) {
			rc = -EAGAIN;
			continue;
		}
		rc = actor_send(na->sys, to, &hm->m);
		if (rc != -EAGAIN)
			return rc;
	}
	return rc;
}

static void listeners_start(struct net_actor *na)
{
	for (unsigned i = 0; i < na->nlst; i++)
		ev_io_start(na->loop, &na->lst[i].io);
	na->accept_paused = false;
	ev_timer_stop(na->loop, &na->accept_w);
}

static void listeners_pause(struct net_actor *na)
{
	for (unsigned i = 0; i < na->nlst; i++)
		ev_io_stop(na->loop, &na->lst[i].io);
	if (!na->accept_paused) {
		na->accept_paused = true;
		ev_timer_again(na->loop, &na->accept_w);
	}
}

void net_accept_maybe_resume(struct net_actor *na)
{
	if (na->accept_paused &&
	    atomic_load_explicit(&na->sh->open, memory_order_relaxed) <
	    net_max_connections(na))
		listeners_start(na);
}

static _Atomic int *exported(struct net_actor *na)
{
	return &na->sh->lfds[(size_t)actor_index(na->actor) * na->sh->lst_cap];
}

/* Close the listening sockets for good (drain, stop). */
static void listeners_close(struct net_actor *na)
{
	for (unsigned i = 0; i < na->nlst; i++) {
		ev_io_stop(na->loop, &na->lst[i].io);
		atomic_store_explicit(&exported(na)[i], -1, memory_order_release);
		close(na->lst[i].fd);
	}
	na->nlst = 0;
	/* Single writer; relaxed like every counter (readiness reads it). */
	atomic_store_explicit(&na->stats->listeners_open, 0, memory_order_relaxed);
	na->accept_paused = false; /* closing connections must not restart accepting */
	ev_timer_stop(na->loop, &na->accept_w);
}

/* Whether a client waits in the backlog of listener `fd`, or of any of
 * this actor's listeners (fd < 0): a poll that does not wait. */
static bool client_waiting(const struct net_actor *na, int fd)
{
	struct pollfd p[8];
	unsigned n = 0;

	if (fd >= 0)
		p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (unsigned i = 0; fd < 0 && i < na->nlst && n < 8; i++)
		p[n++] = (struct pollfd){ .fd = na->lst[i].fd, .events = POLLIN };
	return n > 0 && poll(p, n, 0) > 0;
}

/* At the limit: make room for a client that waits by closing idle
 * keep-alive connections (net_reclaim.c). Never for nothing: the accept
 * loop meets the limit again after its last client, and must not close
 * a connection then. */
static bool reclaim_for_waiting(struct net_actor *na, int fd)
{
	return client_waiting(na, fd) && net_conns_reclaim_idle(na) > 0;
}

static void on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct net_actor *na = w->data;

	(void)loop;
	(void)revents;
	net_accept_maybe_resume(na);
	/* Still at the limit: connections that went idle since accepting
	 * paused make room for a client that waits (a close resumes it). */
	if (na->accept_paused)
		reclaim_for_waiting(na, -1);
}

/* Reserve one connection under the global limit. Relaxed is enough: the
 * counter guards a soft limit and publishes no data. */
static bool reserve_conn(struct net_actor *na)
{
	uint32_t max = net_max_connections(na);

	if (atomic_fetch_add_explicit(&na->sh->open, 1, memory_order_relaxed) < max)
		return true;
	atomic_fetch_sub_explicit(&na->sh->open, 1, memory_order_relaxed);
	return false;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct net_listener *l = w->data;
	struct net_actor *na = l->na;

	(void)loop;
	(void)revents;
	for (int i = 0; i < NET_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		int fd, one = 1;

		/* At the limit, idle keep-alive connections make room first
		 * (net_reclaim.c); only when none is left does accepting
		 * pause. */
		if (!reserve_conn(na) && (!reclaim_for_waiting(na, l->fd) || !reserve_conn(na))) {
			uint64_t now = clock_now_ns();

			counter_add(&na->stats->conns_limit_paused_total, 1);
			/* At the limit this repeats after every close: once a second
			 * is enough for the log, the counter has every pause. */
			if (log_every_due(&na->limit_warned_ns, now, NET_LIMIT_WARN_NS)) {
				log_warn("%s: %u connections open (%s%s): "
					 "not accepting until one closes", actor_name(na->actor),
					 net_max_connections(na), na->sh->spec.max_connections_key,
					 net_max_connections(na) == na->sh->spec.conn_cap ?
					 ", capped by the file descriptor limit" : "");
			}
			listeners_pause(na);
			return;
		}
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int err = errno;

			atomic_fetch_sub_explicit(&na->sh->open, 1, memory_order_relaxed);
			if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR ||
			    err == ECONNABORTED)
				return;
			counter_add(&na->stats->accept_errors_total, 1);
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
				log_error("%s: accept: %s: pausing accept", actor_name(na->actor),
					  strerror(err));
				listeners_pause(na);
			}
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (net_conn_open(na, fd, (struct sockaddr *)&ss) != 0) {
			close(fd);
			atomic_fetch_sub_explicit(&na->sh->open, 1, memory_order_relaxed);
			counter_add(&na->stats->accept_errors_total, 1);
		}
	}
}

static int open_listener(struct net_actor *na, const struct config_addr *addr, int backlog,
			 bool exclusive)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	char port[8];
	int fd = -1, rc, err = EADDRNOTAVAIL;

	snprintf(port, sizeof(port), "%u", addr->port);
	rc = getaddrinfo(addr->host[0] != '\0' ? addr->host : NULL, port, &hints, &res);
	if (rc != 0) {
		log_error("%s: listen %s:%u: %s", actor_name(na->actor), addr->host,
			  addr->port, gai_strerror(rc));
		return -EADDRNOTAVAIL;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int one = 1;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    (exclusive ||
		     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0) &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		log_error("%s: listen %s:%u: %s", actor_name(na->actor), addr->host,
			  addr->port, strerror(err));
		return -err;
	}
	return fd;
}

static void add_listener(struct net_actor *na, int fd)
{
	struct net_listener *l = &na->lst[na->nlst];

	l->fd = fd;
	l->na = na;
	ev_io_init(&l->io, on_accept, fd, EV_READ);
	l->io.data = l;
	atomic_store_explicit(&exported(na)[na->nlst], fd, memory_order_release);
	na->nlst++;
}

static void free_actor(struct net_actor *na)
{
	free(na->lst);
	net_req_pool_bind_thread(NULL);
	net_req_pool_destroy(na->pool);
	net_buf_free(&na->scratch);
	free(na->rbuf);
	free(na->slots);
	free(na->free_slots);
	free(na->dirty);
	free(na);
}

static int net_start(struct actor *a)
{
	struct net_shared *sh = actor_user(a);
	const struct ad_config *cfg = sh->cfg;
	const struct net_pool_spec *spec = &sh->spec;
	struct net_actor *na = calloc(1, sizeof(*na));
	int backlog;

	if (na == NULL)
		return -ENOMEM;
	na->actor = a;
	na->sys = actor_sys(a);
	na->loop = actor_loop(a);
	na->sh = sh;
	na->stats = &sh->stats[actor_index(a)];
	na->self = actor_addr(a);
	na->pool = net_req_pool_create(NET_SPARE_ENVELOPES);
	na->rbuf = malloc(NET_READ_BUF);
	if (na->pool == NULL || na->rbuf == NULL) {
		free_actor(na);
		return -ENOMEM;
	}
	net_req_pool_bind_thread(na->pool);
	if (spec->local == NULL)
		na->handlers = actor_system_pool(na->sys, spec->handlers);
	if (spec->local == NULL && na->handlers == NULL)
		log_warn("%s: no handler actors: every request will be answered 503",
			 actor_name(a));
	na->env = (struct http_conn_env){
		.pool = na->pool,
		.stats = na->stats,
		.date = &na->date,
		.submit = submit,
		.parked = net_hold_add,
		/* Only routes stream request bodies: never the admin listener. */
		.upload_wanted = spec->local == NULL ? upload_wanted : NULL,
		.upload = net_upload_event,
		.describe = net_describe_peer,
		.ctx = na,
	};
	net_env_refresh(na);
	http_date_update(&na->date, (time_t)ev_now(na->loop));
	backlog = cfg->http.backlog > 0 ? (int)cfg->http.backlog : 4096;
	na->lst = calloc(sh->lst_cap, sizeof(*na->lst));
	if (na->lst == NULL) {
		free_actor(na);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < spec->nlisten; i++) {
		/* A socket handed over by the process we replace keeps the
		 * connections already waiting in its queue. */
		int fd = net_inherit_take(&spec->listen[i]);

		if (fd < 0)
			fd = open_listener(na, &spec->listen[i], backlog, spec->exclusive);
		if (fd < 0) {
			for (unsigned j = 0; j < na->nlst; j++)
				close(na->lst[j].fd);
			free_actor(na);
			return fd;
		}
		add_listener(na, fd);
		/* The last actor watches the sockets the old process had more
		 * of than we have actors: closing them would reset their queue. */
		while (actor_index(a) + 1 == actor_pool_live(actor_system_pool(na->sys, spec->kind)) &&
		       na->nlst < sh->lst_cap && (fd = net_inherit_take(&spec->listen[i])) >= 0)
			add_listener(na, fd);
	}
	ev_init(&na->accept_w, on_accept_retry);
	na->accept_w.repeat = NET_ACCEPT_RETRY_MS / 1000.0;
	na->accept_w.data = na;
	net_hold_init(na);
	ev_prepare_init(&na->flush_w, on_net_flush);
	na->flush_w.data = na;
	ev_prepare_start(na->loop, &na->flush_w);
	ev_unref(na->loop); /* the flush watcher alone must not keep the loop alive */
	atomic_store_explicit(&na->stats->listeners_open, na->nlst, memory_order_relaxed);
	listeners_start(na);
	actor_set_state(a, na);
	return 0;
}

/* NET_MSG_DRAIN / NET_MSG_HANDOVER: stop accepting, let every connection
 * finish what it owes, and keep the message until the last one has
 * closed. */
static void start_drain(struct net_actor *na, struct msg *m)
{
	bool gently = m->type == NET_MSG_HANDOVER;

	if (na->drain != NULL) {
		msg_free(m); /* already draining */
		return;
	}
	log_info("%s: draining %u connection(s)%s", actor_name(na->actor), na->nconns,
		 gently ? " gently" : "");
	listeners_close(na);
	na->drain = m;
	if (na->nconns == 0) {
		na->drain = NULL;
		msg_free(m);
		return;
	}
	net_conns_drain(na, gently);
}

/* Resizing: this actor left its pool. Take what already waits in the
 * accept queues first (the kernel resets what is queued on a closed
 * SO_REUSEPORT socket; the other members' sockets take new connections),
 * then stop accepting and drain gently. */
static void net_retire(struct actor *a)
{
	struct net_actor *na = actor_state(a);

	na->retiring = true;
	for (unsigned i = 0; i < na->nlst; i++)
		for (int k = 0; k < 16; k++)
			on_accept(na->loop, &na->lst[i].io, EV_READ);
	log_info("%s: leaving the pool: draining %u connection(s)", actor_name(a),
		 na->nconns);
	listeners_close(na);
	net_conns_drain(na, true);
}

static bool net_idle(struct actor *a)
{
	const struct net_actor *na = actor_state(a);

	return na->nconns == 0;
}

static void net_message(struct actor *a, struct msg *m)
{
	struct net_actor *na = actor_state(a);
	struct net_req *r = net_req_of(m);
	struct net_conn *c;

	if (m->type == NET_MSG_DRAIN || m->type == NET_MSG_HANDOVER) {
		start_drain(na, m);
		return;
	}
	if (push_msg_is(m)) {        /* WebSocket pushes: ws_conn.c */
		ws_net_message(na, m);
		return;
	}
	if (m->type == STREAM_MSG_DATA) {    /* a streamed body: net_stream.c */
		net_stream_message(na, msg_cast(m, struct stream_data));
		return;
	}
	if (m->type == STREAM_MSG_UPLOAD_CREDIT) {  /* a streamed request body */
		net_upload_credit(na, msg_cast(m, struct stream_credit));
		return;
	}
	if (m->type != HTTP_MSG_RESPONSE || r == NULL) {
		msg_free(m);
		return;
	}
	c = net_conn_find(na, r->hm.conn_id);
	if (m->flags & HTTP_MSG_F_WEBSOCKET)   /* an accepted upgrade: ws_conn.c */
		ws_net_response(na, c != NULL && c->state == NC_OPEN ? c : NULL, r);
	if (c == NULL || c->state != NC_OPEN) {
		counter_add(&na->stats->late_replies_total, 1);
		if (r->hm.resp_has_stream)   /* nobody will ask for its body */
			stream_credit_send(na->sys, STREAM_MSG_CREDIT, r->hm.stream_from, r->hm.conn_id,
					   r->hm.stream_id, 0, true);
		msg_free(m);
		return;
	}
	net_upload_answered(c, r->hm.seq);
	http_conn_reply(&c->hc, r);
	net_conn_mark_dirty(c);
}

static void net_stop(struct actor *a)
{
	struct net_actor *na = actor_state(a);

	if (na == NULL)
		return;
	listeners_close(na);
	net_hold_stop(na);
	ev_ref(na->loop);
	ev_prepare_stop(na->loop, &na->flush_w);
	net_conns_close_all(na);
	ws_net_free(na);
	if (na->sh->spec.local_stop != NULL)
		na->sh->spec.local_stop(na->sh->spec.local_ctx);
	if (na->drain != NULL) {
		msg_free(na->drain);
		na->drain = NULL;
	}
	actor_set_state(a, NULL);
	free_actor(na);
}

static const struct actor_ops net_ops = {
	.start = net_start,
	.message = net_message,
	.stop = net_stop,
	.retire = net_retire,
	.idle = net_idle,
};

/* The pool's shared part: connection budget and counters, read by the
 * admin endpoint until the system is destroyed. */
static void free_shared(struct net_shared *sh)
{
	free(sh->lfds);
	free(sh->stats);
	free(sh);
}

static void dispose_shared(void *user)
{
	struct net_shared *sh = user;

	if (sh->spec.local_dispose != NULL)
		sh->spec.local_dispose(sh->spec.local_ctx);
	free_shared(sh);
}

int net_add_listener_pool(struct actor_system *sys, const struct ad_config *cfg,
			  const struct net_pool_spec *spec, char *err, size_t errlen)
{
	struct actor_pool_spec pool;
	struct net_shared *sh;
	unsigned n = spec->max > spec->count ? spec->max : spec->count > 0 ? spec->count : 1;
	unsigned cap = spec->nlisten;

	if (spec->nlisten == 0 || spec->nlisten > CONFIG_MAX_LISTEN) {
		snprintf(err, errlen, "%s: no address to listen on", spec->kind->name);
		return -EINVAL;
	}
	sh = calloc(1, sizeof(*sh));
	if (sh != NULL)
		sh->stats = aligned_alloc(_Alignof(struct net_stats), sizeof(struct net_stats) * n);
	if (sh == NULL || sh->stats == NULL) {
		free(sh);
		snprintf(err, errlen, "%s: out of memory", spec->kind->name);
		return -ENOMEM;
	}
	memset(sh->stats, 0, sizeof(struct net_stats) * n);
	for (unsigned i = 0; i < spec->nlisten; i++)
		cap += net_inherit_count(&spec->listen[i]);
	sh->lfds = malloc(sizeof(*sh->lfds) * n * cap);
	if (sh->lfds == NULL) {
		free_shared(sh);
		snprintf(err, errlen, "%s: out of memory", spec->kind->name);
		return -ENOMEM;
	}
	for (size_t i = 0; i < (size_t)n * cap; i++)
		atomic_init(&sh->lfds[i], -1);
	sh->lst_cap = cap;
	sh->cfg = cfg;
	sh->spec = *spec;
	if (sh->spec.max_connections_key == NULL)
		sh->spec.max_connections_key = "http.max_connections";
	sh->count = n;
	http_conn_global_init();
	pool = (struct actor_pool_spec){
		.kind = spec->kind,
		.count = spec->count,
		.max = spec->max,
		.mbox_capacity = spec->mailbox,
		.ops = &net_ops,
		.user = sh,
		.dispose = dispose_shared,
	};
	if (actor_system_add_pool(sys, &pool, err, errlen) == ACTOR_ADDR_NONE) {
		free_shared(sh);        /* local_ctx stays with the caller */
		return -EINVAL;
	}
	/* WebSocket figures of the public pool (the pool owns sh). */
	if (spec->kind == &net_kind && ws_stats_register(sh) != 0) {
		snprintf(err, errlen, "%s: too many metrics collectors", spec->kind->name);
		return -ENOSPC;
	}
	return 0;
}

int net_add_pools(struct actor_system *sys, const struct ad_config *cfg,
		  const struct actor_kind *handlers, uint32_t conn_cap,
		  const struct net_body_routes *bodies, char *err, size_t errlen)
{
	const struct net_pool_spec spec = {
		.kind = &net_kind,
		.handlers = handlers,
		.bodies = bodies != NULL ? *bodies : (struct net_body_routes){ 0 },
		.conn_cap = conn_cap,
		.count = cfg->net.count,
		.max = CONFIG_MAX_ACTORS,
		.mailbox = cfg->net.mailbox,
		.listen = cfg->listen,
		.nlisten = cfg->nlisten,
	};

	if (cfg->nlisten == 0) {
		snprintf(err, errlen, "listen: no address to listen on");
		return -EINVAL;
	}
	return net_add_listener_pool(sys, cfg, &spec, err, errlen);
}

unsigned net_listen_fds(struct actor_system *sys, const struct actor_kind *kind, int *fds,
			unsigned max)
{
	struct actor_pool_info info;
	const struct net_shared *sh;
	unsigned n = 0;

	if (actor_system_pool_info(sys, kind, &info) != 0 || info.first == ACTOR_ADDR_NONE)
		return 0;
	sh = actor_user(actor_system_get(sys, info.first));
	for (size_t i = 0; i < (size_t)sh->count * sh->lst_cap && n < max; i++) {
		int fd = atomic_load_explicit(&sh->lfds[i], memory_order_acquire);

		if (fd >= 0)
			fds[n++] = fd;
	}
	return n;
}
