/*
 * dns.c - c-ares on a libev loop (dns.h).
 *
 * DESIGN
 * c-ares tells which sockets it wants watched through its socket-state
 * callback; each gets an ev_io (a small array: a channel uses a handful of
 * sockets). Readiness calls ares_process_fd for that socket; one ev_timer,
 * re-armed after every event from ares_timeout(), drives retries and
 * timeouts. ares_getaddrinfo (hosts file, then DNS; A and AAAA) gives the
 * addresses with their TTLs.
 *
 * Why c-ares and not getaddrinfo on a thread: the loop already waits on
 * sockets; c-ares adds two more and no thread, no lock, no hand-off.
 *
 * Thread: the owner of the resolver (dns.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ares.h>

#include "dns.h"

#define DNS_MAX_SOCKS 16

struct dns_sock {
	ev_io io;
	struct dns_resolver *r;
};

struct dns_resolver {
	struct ev_loop *loop;
	ares_channel ch;
	ev_timer timer;
	struct dns_sock socks[DNS_MAX_SOCKS];
};

struct dns_query {
	dns_done_fn done;
	void *arg;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_status;

static void lib_init(void)
{
	lib_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* Re-arm the one timer from what c-ares waits for. */
static void rearm(struct dns_resolver *r)
{
	struct timeval tv, *tvp;

	ev_timer_stop(r->loop, &r->timer);
	tvp = ares_timeout(r->ch, NULL, &tv);
	if (tvp == NULL)
		return;
	ev_timer_set(&r->timer, (double)tvp->tv_sec + (double)tvp->tv_usec / 1e6, 0.);
	ev_timer_start(r->loop, &r->timer);
}

static void on_sock(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_sock *s = w->data;
	struct dns_resolver *r = s->r;
	int fd = w->fd;

	(void)loop;
	ares_process_fd(r->ch, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
			(revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	rearm(r);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dns_resolver *r = w->data;

	(void)loop;
	(void)revents;
	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm(r);
}

/* c-ares opens, changes or closes interest in a socket. */
static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;
	struct dns_sock *s = NULL, *free_slot = NULL;
	int want = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	for (unsigned i = 0; i < DNS_MAX_SOCKS; i++) {
		if (r->socks[i].r != NULL && r->socks[i].io.fd == fd) {
			s = &r->socks[i];
			break;
		}
		if (r->socks[i].r == NULL && free_slot == NULL)
			free_slot = &r->socks[i];
	}
	if (s == NULL) {
		/* More sockets than slots: its queries end by their timeout. */
		if (want == 0 || free_slot == NULL)
			return;
		s = free_slot;
		s->r = r;
		ev_io_init(&s->io, on_sock, fd, want);
		s->io.data = s;
		ev_io_start(r->loop, &s->io);
		return;
	}
	ev_io_stop(r->loop, &s->io);
	if (want == 0) {
		s->r = NULL;
		return;
	}
	ev_io_modify(&s->io, want);
	ev_io_start(r->loop, &s->io);
}

struct dns_resolver *dns_resolver_create(struct ev_loop *loop, const char *servers, int *err)
{
	struct ares_options o;
	struct dns_resolver *r;
	int rc;

	pthread_once(&lib_once, lib_init);
	if (lib_status != ARES_SUCCESS) {
		*err = -ENOMEM;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	r->loop = loop;
	ev_init(&r->timer, on_timer);
	r->timer.data = r;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = r;
	rc = ares_init_options(&r->ch, &o, ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS) {
		free(r);
		*err = rc == ARES_ENOMEM ? -ENOMEM : -EINVAL;
		return NULL;
	}
	if (servers != NULL && servers[0] != '\0' &&
	    ares_set_servers_ports_csv(r->ch, servers) != ARES_SUCCESS) {
		ares_destroy(r->ch);
		free(r);
		*err = -EINVAL;
		return NULL;
	}
	*err = 0;
	return r;
}

void dns_resolver_destroy(struct dns_resolver *r)
{
	if (r == NULL)
		return;
	/* Runs every pending callback with ARES_EDESTRUCTION. */
	ares_destroy(r->ch);
	ev_timer_stop(r->loop, &r->timer);
	for (unsigned i = 0; i < DNS_MAX_SOCKS; i++)
		if (r->socks[i].r != NULL)
			ev_io_stop(r->loop, &r->socks[i].io);
	free(r);
}

static int errno_of(int status)
{
	switch (status) {
	case ARES_ENOMEM: return -ENOMEM;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION: return -ECANCELED;
	case ARES_ETIMEOUT: return -ETIMEDOUT;
	/* An answer: the name has no address. Callers tell it from an outage
	 * (they may keep what resolved before only through the latter). */
	case ARES_ENOTFOUND:
	case ARES_ENODATA: return -ENOENT;
	default: return -EHOSTUNREACH;
	}
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct dns_query *q = arg;
	struct dns_result res;
	bool have_ttl = false;

	(void)timeouts;
	memset(&res, 0, sizeof(res));
	for (struct ares_addrinfo_node *n = ai != NULL ? ai->nodes : NULL;
	     n != NULL && res.naddr < DNS_MAX_ADDRS; n = n->ai_next) {
		struct dns_addr *a = &res.addrs[res.naddr];
		bool dup = false;

		if (n->ai_family == AF_INET) {
			a->family = AF_INET;
			memcpy(a->addr, &((struct sockaddr_in *)(void *)n->ai_addr)->sin_addr, 4);
		} else if (n->ai_family == AF_INET6) {
			a->family = AF_INET6;
			memcpy(a->addr, &((struct sockaddr_in6 *)(void *)n->ai_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		for (unsigned i = 0; i < res.naddr && !dup; i++)
			dup = res.addrs[i].family == a->family &&
			      memcmp(res.addrs[i].addr, a->addr, 16) == 0;
		if (dup) {
			memset(a, 0, sizeof(*a));
			continue;
		}
		res.naddr++;
		if (!have_ttl || (n->ai_ttl >= 0 && (uint32_t)n->ai_ttl < res.ttl_s))
			res.ttl_s = n->ai_ttl > 0 ? (uint32_t)n->ai_ttl : 0;
		have_ttl = true;
	}
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	if (status == ARES_SUCCESS && res.naddr == 0)
		status = ARES_ENODATA;
	if (status == ARES_SUCCESS)
		q->done(q->arg, 0, NULL, &res);
	else
		q->done(q->arg, errno_of(status), ares_strerror(status), NULL);
	free(q);
}

void dns_resolve(struct dns_resolver *r, const char *host, dns_done_fn done, void *arg)
{
	struct ares_addrinfo_hints hints;
	struct dns_query *q = malloc(sizeof(*q));

	if (q == NULL) {
		done(arg, -ENOMEM, "out of memory", NULL);
		return;
	}
	q->done = done;
	q->arg = arg;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	ares_getaddrinfo(r->ch, host, NULL, &hints, on_answer, q);
	rearm(r);
}
