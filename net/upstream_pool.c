/*
 * upstream_pool.c - an upstream actor's connection pools: one per upstream
 * origin (scheme, host, port, and for https the TLS profile), its idle
 * keep-alive connections, its queue of calls waiting for a connection, its
 * TLS session, and the end of every call. Its addresses: upstream_dns.c.
 *
 * DESIGN
 * A call goes to, in this order: the most recently used idle connection
 * (the warmest, and the least likely to have been closed by the upstream's
 * own keep-alive timeout), a new connection while fewer than
 * upstream.max_connections are open, the pool's FIFO queue while it holds
 * fewer than upstream.max_queue, else it fails at once as overloaded
 * (-EAGAIN: a full queue is an answer, never a stall). A connection that
 * finishes a response goes idle and the queue's head takes it at once; a
 * connection that closes lets the head open a new one. Queued calls wait
 * at most until their own deadline; one timer per pool watches the
 * earliest.
 *
 * Pools are never freed while anything refers to them: a pool with no
 * connection, no queued call and no lookup under way is reclaimed only
 * when the table is full (UPSTREAM_MAX_POOLS), and never the one whose
 * connection event is running (a redirect looks up its next pool there).
 *
 * Counters: each pool writes the metrics slot of its origin (the
 * first UPSTREAM_SLOTS - 1 upstreams an actor meets get their own; the
 * rest share "other"), so the figures survive the pool.
 *
 * Thread: the upstream actor owning the pools.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "upstream_internal.h"
#include "actors/log.h"
#include "base/clock.h"


static unsigned hash_key(const char *host, uint16_t port, bool tls, uint8_t profile)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	for (const char *p = host; *p != '\0'; p++)
		h = (h ^ (uint8_t)(*p | 0x20)) * 16777619u;
	h = (h ^ (port & 0xffu)) * 16777619u;
	h = (h ^ (port >> 8)) * 16777619u;
	h = (h ^ (tls ? 1u : 0u)) * 16777619u;
	h = (h ^ profile) * 16777619u;
	return h % UPSTREAM_POOL_BUCKETS;
}

static bool same_key(const struct up_pool *pl, const struct upstream_call *u)
{
	return pl->port == u->port && pl->tls == u->tls && pl->profile == u->profile &&
	       strcasecmp(pl->host, u->host) == 0;
}

/* The metrics slot named `name`, taking a new one (published with release)
 * if there is room; the last slot is "other". */
static struct up_slot *slot_for(struct up_stats *st, const char *name)
{
	uint32_t n = atomic_load_explicit(&st->nslots, memory_order_relaxed);
	struct up_slot *s;

	for (uint32_t i = 0; i < n; i++)
		if (strcmp(st->slots[i].name, name) == 0)
			return &st->slots[i];
	if (n == UPSTREAM_SLOTS)
		return &st->slots[UPSTREAM_SLOTS - 1];
	s = &st->slots[n];
	snprintf(s->name, sizeof(s->name), "%s", n == UPSTREAM_SLOTS - 1 ? "other" : name);
	/* Release: the name is written before the collector can see the slot. */
	atomic_store_explicit(&st->nslots, n + 1, memory_order_release);
	return s;
}

static void on_queue_timer(struct ev_loop *loop, ev_timer *w, int revents);

static void pool_free(struct up_actor *ua, struct up_pool *pl)
{
	ev_timer_stop(ua->loop, &pl->qtimer);
	if (pl->session != NULL)
		SSL_SESSION_free(pl->session);
	SSL_CTX_free(pl->tls_ctx);
	free(pl);
	ua->npools--;
}

/* Free every pool nothing refers to; called only when the table is full. */
static void reclaim_empty_pools(struct up_actor *ua)
{
	for (unsigned b = 0; b < UPSTREAM_POOL_BUCKETS; b++) {
		struct up_pool **pp = &ua->buckets[b];

		while (*pp != NULL) {
			struct up_pool *pl = *pp;

			if (pl->nopen == 0 && pl->nqueued == 0 && !pl->resolving &&
			    pl != ua->current) {
				*pp = pl->hnext;
				pool_free(ua, pl);
			} else {
				pp = &pl->hnext;
			}
		}
	}
}

struct up_pool *up_pool_get(struct up_actor *ua, const struct upstream_call *u)
{
	unsigned b = hash_key(u->host, u->port, u->tls, u->profile);
	char name[UPSTREAM_NAME_MAX], why[160];
	struct up_pool *pl;
	bool v6 = strchr(u->host, ':') != NULL;

	for (pl = ua->buckets[b]; pl != NULL; pl = pl->hnext)
		if (same_key(pl, u))
			return pl;
	if (ua->npools >= UPSTREAM_MAX_POOLS)
		reclaim_empty_pools(ua);
	if (ua->npools >= UPSTREAM_MAX_POOLS)
		return NULL;
	pl = calloc(1, sizeof(*pl));
	if (pl == NULL)
		return NULL;
	pl->ua = ua;
	list_init(&pl->conns);
	list_init(&pl->idle);
	list_init(&pl->dns_wait);
	snprintf(pl->host, sizeof(pl->host), "%s", u->host);
	pl->port = u->port;
	pl->tls = u->tls;
	pl->profile = u->profile;
	if (u->family != 0) {
		struct dns_addr a = { .family = u->family };

		memcpy(a.addr, u->addr, sizeof(a.addr));
		pl->literal = true;
		up_addrs_set(&pl->addrs, &a, 1);
	}
	/* "host:port" for plain HTTP (as before TLS existed), with the scheme
	 * for https. */
	snprintf(name, sizeof(name), v6 ? "%s[%.40s]:%u" : "%s%.48s:%u", u->tls ? "https://" : "",
		 u->host, u->port);
	pl->st = slot_for(ua->stats, name);
	if (u->tls && up_pool_tls_current(pl, why, sizeof(why)) != 0)
		/* Checked at load; a file gone since then fails each call (the
		 * pool keeps no context), with this line. */
		up_warn(pl, "no TLS context", why);
	ev_init(&pl->qtimer, on_queue_timer);
	pl->qtimer.data = pl;
	pl->hnext = ua->buckets[b];
	ua->buckets[b] = pl;
	ua->npools++;
	return pl;
}

/* ---- The end of a call ---- */

void up_call_done(struct up_pool *pl, struct upstream_call *u, int status)
{
	struct up_slot *st = pl->st;
	enum upstream_error kind = upstream_error_of(status);
	uint64_t now = clock_now_ns();

	if (status != 0)
		upstream_resp_reset(&u->resp);
	counter_add(&st->bs.inflight, -1);
	if (kind != UPSTREAM_OK)
		counter_add(&st->errors[kind], 1);
	backend_stats_done(&st->bs, now > u->started_ns ? now - u->started_ns : 0,
			   status != 0, kind == UPSTREAM_TIMEOUT);
	call_reply(&u->c, status);
}

void up_call_failed(struct up_pool *pl, struct upstream_call *u, int status, bool retryable)
{
	if (retryable && u->retries_left > 0 && upstream_method_idempotent(u->method) &&
	    !call_expired(&u->c, clock_now_ns())) {
		u->retries_left--;
		counter_add(&pl->st->bs.reconnects_total, 1);
		/* The upstream closed a connection under us: its other idle
		 * connections are suspect too, so resend on a new one. */
		if (pl->nopen < up_limits(pl->ua)->max_connections) {
			up_conn_open(pl, u);
			return;
		}
		up_pool_dispatch(pl, u);
		return;
	}
	up_call_done(pl, u, status);
}

/* ---- Idle connections ---- */

void up_pool_idle_add(struct up_pool *pl, struct up_conn *c)
{
	list_push_front(&pl->idle, &c->idle_link);
	pl->nidle++;
	counter_add(&pl->st->idle, 1);
}

void up_pool_idle_remove(struct up_pool *pl, struct up_conn *c)
{
	list_remove(&c->idle_link);
	pl->nidle--;
	counter_add(&pl->st->idle, -1);
}

/* ---- The queue ---- */

static void arm_queue_timer(struct up_pool *pl, uint64_t deadline, uint64_t now)
{
	struct ev_loop *loop = pl->ua->loop;

	if (deadline == 0)
		return;
	if (ev_is_active(&pl->qtimer) && pl->qtimer_at_ns <= deadline)
		return;
	ev_timer_stop(loop, &pl->qtimer);
	ev_timer_set(&pl->qtimer, deadline > now ? (double)(deadline - now) / 1e9 : 0., 0.);
	ev_timer_start(loop, &pl->qtimer);
	pl->qtimer_at_ns = deadline;
}

static void enqueue(struct up_pool *pl, struct upstream_call *u)
{
	u->next = NULL;
	if (pl->qtail != NULL)
		pl->qtail->next = u;
	else
		pl->qhead = u;
	pl->qtail = u;
	pl->nqueued++;
	counter_add(&pl->st->queued, 1);
	arm_queue_timer(pl, u->c.deadline_ns, clock_now_ns());
}

static struct upstream_call *dequeue(struct up_pool *pl)
{
	struct upstream_call *u = pl->qhead;

	if (u == NULL)
		return NULL;
	pl->qhead = u->next;
	if (pl->qhead == NULL)
		pl->qtail = NULL;
	u->next = NULL;
	pl->nqueued--;
	counter_add(&pl->st->queued, -1);
	return u;
}

/* Fail every queued call whose deadline passed; re-arm for the rest. */
static void on_queue_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct up_pool *pl = w->data;
	struct upstream_call **pp = &pl->qhead, *u, *last = NULL;
	uint64_t now = clock_now_ns(), next = 0;

	(void)loop;
	(void)revents;
	pl->qtimer_at_ns = 0;
	while ((u = *pp) != NULL) {
		if (call_expired(&u->c, now + NS_PER_MS)) {
			*pp = u->next;
			u->next = NULL;
			pl->nqueued--;
			counter_add(&pl->st->queued, -1);
			up_call_done(pl, u, -ETIMEDOUT);
			continue;
		}
		if (u->c.deadline_ns != 0 && (next == 0 || u->c.deadline_ns < next))
			next = u->c.deadline_ns;
		last = u;
		pp = &u->next;
	}
	pl->qtail = last;
	arm_queue_timer(pl, next, now);
}

/* ---- Dispatch ---- */

void up_pool_dispatch(struct up_pool *pl, struct upstream_call *u)
{
	const struct config_upstream *lim = up_limits(pl->ua);
	char why[160];

	/* After a reload, the TLS files in force (tls_gen is the reload
	 * generation they were read in: one comparison per call). */
	if (pl->tls && pl->tls_gen != config_generation() &&
	    up_pool_tls_current(pl, why, sizeof(why)) != 0) {
		up_warn(pl, "no TLS context", why);
		up_call_done(pl, u, -ECONNABORTED);
		return;
	}
	while (!list_empty(&pl->idle)) {
		struct up_conn *c = list_entry(list_first(&pl->idle), struct up_conn, idle_link);

		if (up_tls_stale(c)) {          /* connected under the old settings */
			up_conn_close(c);
			continue;
		}
		up_pool_idle_remove(pl, c);
		up_conn_start(c, u);
		return;
	}
	if (pl->nopen < lim->max_connections) {
		up_conn_open(pl, u);
	} else if (pl->nqueued < lim->max_queue) {
		enqueue(pl, u);
	} else {
		up_call_done(pl, u, -EAGAIN);
	}
}

void up_pool_kick(struct up_pool *pl)
{
	const struct config_upstream *lim = up_limits(pl->ua);
	uint64_t now = clock_now_ns();

	while (pl->qhead != NULL && (!list_empty(&pl->idle) || pl->nopen < lim->max_connections)) {
		struct upstream_call *u = dequeue(pl);

		if (call_expired(&u->c, now))
			up_call_done(pl, u, -ETIMEDOUT);
		else
			up_pool_dispatch(pl, u);
	}
	if (pl->qhead == NULL)
		ev_timer_stop(pl->ua->loop, &pl->qtimer);
}

/* ---- Stop ---- */

void up_pools_destroy(struct up_actor *ua)
{
	for (unsigned b = 0; b < UPSTREAM_POOL_BUCKETS; b++) {
		struct up_pool *pl;

		while ((pl = ua->buckets[b]) != NULL) {
			struct upstream_call *u;

			while ((u = dequeue(pl)) != NULL)
				up_call_done(pl, u, -ESHUTDOWN);
			while (!list_empty(&pl->conns)) {
				struct up_conn *c = list_entry(list_first(&pl->conns),
							       struct up_conn, all_link);

				if (c->call != NULL) {
					u = c->call;
					c->call = NULL;
					up_call_done(pl, u, -ESHUTDOWN);
				}
				up_conn_close(c);
			}
			ua->buckets[b] = pl->hnext;
			pool_free(ua, pl);
		}
	}
}
