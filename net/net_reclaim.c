/*
 * net_reclaim.c - at the connection limit, make room for a new client by
 * closing the oldest idle keep-alive connections (nginx does the same with
 * its "reusable" connections).
 *
 * DESIGN
 * Without it, clients that keep connections open and send nothing hold
 * every slot of http.max_connections until their keep-alive period ends,
 * and a new client waits in the kernel backlog meanwhile. A connection
 * waiting idle for its next request, after at least one answer, owes
 * nothing and may be closed at any time (RFC 9112 9.3): its client opens
 * another one. So when accepting meets the limit, the network actor
 * closes the longest-idle of its own such connections that have been
 * idle for NET_RECLAIM_MIN_IDLE_MS at least (one idle for less is likely
 * a busy client's, between two requests: closing it would cost that
 * client a failed request, as under a burst of wrk -c 10000 against a
 * low file descriptor limit): an eighth of them,
 * at least one and at most NET_RECLAIM_MAX at once, so a burst of new
 * clients does not empty every keep-alive pool in one go. A connection
 * that has not sent its first request yet, one with a request in
 * progress, output, a file or stream being sent, or a WebSocket is never
 * closed here, except on a pool that asks for it (net_pool_spec
 * .reclaim_unfinished: the admin endpoint), where a connection whose
 * request has not arrived whole a second after it began counts as idle
 * since then: its clients send at once, and stalled ones (slowloris)
 * must not keep a liveness probe out. Each closed connection is counted
 * (http_connections_reclaimed_total) and a log line, at most one a
 * second, says how many and how long the longest had been idle.
 *
 * Runs only when the limit is reached (one scan of this actor's slot
 * table), never on the request path.
 *
 * Thread: the owning network actor.
 */
#include <stdlib.h>

#include "net_internal.h"
#include "actors/log.h"
#include "base/clock.h"
#include "base/log_budget.h"

#define NET_RECLAIM_MAX 32u
#define NET_RECLAIM_MIN_IDLE_MS 1000u

struct idle_conn {
	uint64_t since_ns;
	uint32_t slot;
};

static int older_first(const void *a, const void *b)
{
	const struct idle_conn *x = a, *y = b;

	return x->since_ns < y->since_ns ? -1 : x->since_ns > y->since_ns;
}

static bool closable(const struct net_conn *c, uint64_t *since_ns)
{
	return c->state == NC_OPEN && c->ws == NULL && c->stream == NULL &&
	       c->upload == NULL && !c->has_file && !c->held &&
	       net_buf_pending(&c->out) == 0 &&
	       (http_conn_idle(&c->hc, since_ns) ||
		(c->na->sh->spec.reclaim_unfinished && http_conn_unfinished(&c->hc, since_ns)));
}

unsigned net_conns_reclaim_idle(struct net_actor *na)
{
	struct idle_conn *idle;
	uint32_t n = 0, k;
	uint64_t now = clock_now_ns(), oldest_ns;

	if (na->nconns == 0)
		return 0;
	idle = malloc(sizeof(*idle) * na->nconns);
	if (idle == NULL)
		return 0;
	for (uint32_t i = 0; i < na->nslots && n < na->nconns; i++) {
		struct net_conn *c = na->slots[i];
		uint64_t since;

		if (c != NULL && closable(c, &since) &&
		    since + (uint64_t)NET_RECLAIM_MIN_IDLE_MS * NS_PER_MS <= now)
			idle[n++] = (struct idle_conn){ since, i };
	}
	if (n == 0) {
		free(idle);
		return 0;
	}
	k = n / 8;
	k = k < 1 ? 1 : k > NET_RECLAIM_MAX ? NET_RECLAIM_MAX : k;
	qsort(idle, n, sizeof(*idle), older_first);
	oldest_ns = idle[0].since_ns;
	for (uint32_t i = 0; i < k; i++)
		net_conn_close(na->slots[idle[i].slot]);
	free(idle);
	counter_add(&na->stats->conns_reclaimed_total, k);
	if (log_every_due(&na->reclaim_warned_ns, now, NET_LIMIT_WARN_NS))
		log_warn("%s: %u connections open (%s): closed the %u longest idle "
			 "connection%s (idle %.1f s) to accept new ones",
			 actor_name(na->actor), net_max_connections(na),
			 na->sh->spec.max_connections_key, k, k == 1 ? "" : "s",
			 now > oldest_ns ? (double)(now - oldest_ns) / 1e9 : 0.0);
	return k;
}
