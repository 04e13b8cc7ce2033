/*
 * upstream_connect.c - opening an upstream connection: the pool's address
 * (a literal, or the DNS answer: upstream_dns.c), a non-blocking connect
 * with TCP_NODELAY, then the TLS handshake for https (upstream_tls.c),
 * after which upstream_io.c sends the request (up_conn_send). States
 * RESOLVING, CONNECTING and HANDSHAKE of upstream_io.c's DESIGN; all of
 * them until the connect timeout (the call's own, or
 * upstream.connect_timeout_ms), capped by the call's deadline. A connect
 * refused, or not answered within its share of the timeout (what remains
 * divided among the addresses left), marks that address down and goes on
 * to the name's next address that is up (upstream_dns.c,
 * upstream_addrs.h); once all failed, the pool looks its name up again. A
 * TCP connect that succeeds puts its address back in the rotation.
 *
 * Thread: the upstream actor owning the connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "upstream_internal.h"
#include "base/clock.h"

static socklen_t fill_addr(const struct dns_addr *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, a->addr, 16);
		return sizeof(*in6);
	}
	struct sockaddr_in *in = (struct sockaddr_in *)(void *)ss;

	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	memcpy(&in->sin_addr, a->addr, 4);
	return sizeof(*in);
}

static void conn_connect(struct up_conn *c, const struct dns_addr *a);

void up_conn_connect_failed(struct up_conn *c, int err)
{
	struct up_pool *pl = c->pool;
	struct dns_addr next;
	char addr[INET6_ADDRSTRLEN], why[INET6_ADDRSTRLEN + 64];
	bool timeout = err == -ETIMEDOUT;

	if (c->addrs_tried < UINT8_MAX)
		c->addrs_tried++;
	up_pool_addr_down(pl, &c->peer);
	/* The next one only with time left (1 ms: libev's timer slack). */
	if (clock_now_ns() + NS_PER_MS >= c->connect_deadline_ns ||
	    up_pool_addr_next(pl, &c->peer, c->addrs_tried, &next) != 0) {
		up_pool_addr_failed(pl);
		up_conn_fail_errno(c, timeout ? -ETIMEDOUT : -ECONNREFUSED, false,
				   timeout ? "connect timed out" : "connect failed", err);
		return;
	}
	inet_ntop(c->peer.family, c->peer.addr, addr, sizeof(addr));
	snprintf(why, sizeof(why), "%s: %s", addr, ad_strerror(err));
	up_warn(pl, timeout ? "connect timed out, trying the next address" :
		"connect failed, trying the next address", why);
	ev_io_stop(pl->ua->loop, &c->io);
	close(c->io.fd);
	ev_io_set(&c->io, -1, EV_WRITE);
	conn_connect(c, &next);
}

/* Connect c (RESOLVING, new, or after a failed address) to `a`. */
static void conn_connect(struct up_conn *c, const struct dns_addr *a)
{
	struct up_pool *pl = c->pool;
	struct sockaddr_storage ss;
	socklen_t sslen = fill_addr(a, pl->port, &ss);
	int fd, one = 1;
	unsigned left;
	uint64_t now;

	c->peer = *a;
	fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		/* Out of descriptors: ours, not the upstream's. */
		up_conn_fail_errno(c, -EAGAIN, false, "no socket", -errno);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev_io_set(&c->io, fd, EV_WRITE);
	c->state = UC_CONNECTING;
	counter_add(&pl->st->opened_total, 1);
	if (connect(fd, (struct sockaddr *)&ss, sslen) == 0) {
		up_conn_established(c, clock_now_ns());
		return;
	}
	if (errno != EINPROGRESS) {
		up_conn_connect_failed(c, -errno);
		return;
	}
	ev_io_start(pl->ua->loop, &c->io);
	/* An address that drops the SYN must not take the whole connect
	 * timeout while others are left: each gets an equal share of what
	 * remains (curl's rule), the last one all of it. */
	left = !pl->literal && pl->addrs.n > c->addrs_tried ? pl->addrs.n - c->addrs_tried : 1;
	now = clock_now_ns();
	c->deadline_ns = c->connect_deadline_ns;    /* not an earlier address's share */
	if (left > 1 && c->connect_deadline_ns > now)
		c->deadline_ns = now + (c->connect_deadline_ns - now) / left;
	up_conn_arm(c, now);
}

void up_conn_open(struct up_pool *pl, struct upstream_call *u)
{
	struct up_actor *ua = pl->ua;
	const struct config_upstream *lim = up_limits(ua);
	uint64_t now = clock_now_ns();
	struct dns_addr a;
	struct up_conn *c;
	char why[160];
	int rc;

	if (pl->tls && up_pool_tls_current(pl, why, sizeof(why)) != 0) {
		up_warn(pl, "no TLS context", why);
		up_call_done(pl, u, -ECONNABORTED);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		up_call_done(pl, u, -EAGAIN);
		return;
	}
	c->pool = pl;
	c->call = u;
	c->state = UC_RESOLVING;
	up_conn_watch_init(c);
	list_init(&c->idle_link);
	list_push_front(&pl->conns, &c->all_link);
	pl->nopen++;
	counter_add(&pl->st->bs.connected, 1);
	c->deadline_ns = clock_earlier(clock_after_ms(now, u->connect_ms != 0 ? u->connect_ms :
						     lim->connect_timeout_ms), u->c.deadline_ns);
	c->connect_deadline_ns = c->deadline_ns;
	up_conn_arm(c, now);
	rc = up_pool_addr(pl, &a);
	if (rc == -EAGAIN) {
		list_push_back(&pl->dns_wait, &c->idle_link);   /* up_conn_resolved */
		return;
	}
	if (rc != 0) {
		up_conn_fail(c, rc, false, "cannot resolve the host", pl->dns_why);
		return;
	}
	conn_connect(c, &a);
}

void up_conn_resolved(struct up_pool *pl)
{
	/* Every connection waiting now takes this answer, whatever its TTL
	 * (a floor of 0 must not send them back to wait). */
	pl->answer_fresh = true;
	while (!list_empty(&pl->dns_wait)) {
		struct up_conn *c = list_entry(list_first(&pl->dns_wait), struct up_conn, idle_link);
		struct dns_addr a;
		int rc = up_pool_addr(pl, &a);

		if (rc == -EAGAIN)
			break;          /* c and those after it wait on a new lookup */
		list_remove(&c->idle_link);
		if (rc != 0)
			up_conn_fail(c, rc, false, "cannot resolve the host", pl->dns_why);
		else
			conn_connect(c, &a);
	}
	pl->answer_fresh = false;
}

void up_conn_established(struct up_conn *c, uint64_t now)
{
	char why[256];
	int want = 0, rc;

	c->deadline_ns = c->connect_deadline_ns;   /* the handshake: all that is left */
	if (c->state == UC_CONNECTING)
		up_pool_addr_up(c->pool, &c->peer);  /* TCP answered: back in the rotation */

	if (c->ssl == NULL && c->pool->tls) {
		if (up_tls_start(c) != 0) {
			up_conn_fail_errno(c, -EAGAIN, false, "no memory for TLS", -ENOMEM);
			return;
		}
		c->state = UC_HANDSHAKE;
	}
	if (c->state == UC_HANDSHAKE) {
		rc = up_tls_handshake(c, &want, why, sizeof(why));
		if (rc < 0) {
			up_conn_fail(c, -ECONNABORTED, false, "TLS handshake failed", why);
			return;
		}
		if (rc == 0) {
			up_conn_events(c, want);
			up_conn_arm(c, now);
			return;
		}
	}
	up_conn_send(c, now);
}

void up_conn_connected(struct up_conn *c, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		up_conn_connect_failed(c, -err);
		return;
	}
	up_conn_established(c, now);
}
