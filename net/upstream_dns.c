/*
 * upstream_dns.c - the addresses of an upstream pool: a literal's one, or
 * what the actor's resolver (dns/dns.h, c-ares on the actor's loop)
 * answered for the pool's host name.
 *
 * DESIGN
 * A pool for a name keeps the answer for its TTL, clamped to
 * [upstream.dns_ttl_min_ms, upstream.dns_ttl_max_ms], and hands its
 * addresses to new connections in turn (round-robin), so connections
 * spread over every address of the name. When the answer expires the next
 * new connection starts a lookup and waits for it (connections already
 * open keep their address: a changed name is followed by new connections
 * within the TTL). A lookup that fails is remembered for the floor
 * (dns_ttl_min_ms), so a name that does not resolve fails fast instead of
 * asking again for every call; the waiting connections fail with
 * -EHOSTUNREACH (503, and one log line with the resolver's reason). A
 * connect that fails (refused, or no answer within its share of the
 * connect timeout: upstream_connect.c) goes on to the answer's next
 * address, as curl and nginx do, so one dead address of several costs no call; once every
 * address failed (or the connect timed out) the call fails and the next
 * connection looks the name up again: the addresses may have moved.
 *
 * Thread: the upstream actor owning the pool.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "upstream_internal.h"
#include "base/clock.h"

static void on_resolved(void *arg, int status, const char *why, const struct dns_result *res)
{
	struct up_pool *pl = arg;
	const struct config_upstream *lim;
	uint64_t ttl_ms, now = clock_now_ns();

	pl->resolving = false;
	if (status == -ECANCELED)
		return;                 /* the actor is stopping: the pools go next */
	lim = up_limits(pl->ua);
	if (status != 0) {
		pl->naddr = 0;
		pl->dns_err = -EHOSTUNREACH;
		snprintf(pl->dns_why, sizeof(pl->dns_why), "%s", why != NULL ? why : "no answer");
		ttl_ms = lim->dns_ttl_min_ms;
	} else {
		pl->dns_err = 0;
		pl->dns_why[0] = '\0';
		pl->naddr = res->naddr;
		memcpy(pl->addrs, res->addrs, sizeof(res->addrs[0]) * res->naddr);
		ttl_ms = (uint64_t)res->ttl_s * 1000u;
		if (ttl_ms < lim->dns_ttl_min_ms)
			ttl_ms = lim->dns_ttl_min_ms;
		if (ttl_ms > lim->dns_ttl_max_ms)
			ttl_ms = lim->dns_ttl_max_ms;
	}
	/* At least 1 ns: 0 would mean "never expires". */
	pl->addrs_until_ns = now + ttl_ms * NS_PER_MS + 1;
	up_conn_resolved(pl);
}

int up_pool_addr(struct up_pool *pl, struct dns_addr *out)
{
	struct up_actor *ua = pl->ua;

	if (pl->literal) {
		*out = pl->addrs[0];
		return 0;
	}
	if (pl->resolving)
		return -EAGAIN;
	if (!pl->answer_fresh &&
	    (pl->addrs_until_ns == 0 || clock_now_ns() >= pl->addrs_until_ns)) {
		if (ua->dns == NULL) {
			snprintf(pl->dns_why, sizeof(pl->dns_why), "no resolver");
			return -EHOSTUNREACH;
		}
		pl->resolving = true;
		/* May answer before it returns (hosts file): the caller put its
		 * connection on dns_wait first and must not touch it after. */
		dns_resolve(ua->dns, pl->host, on_resolved, pl);
		return -EAGAIN;
	}
	if (pl->dns_err != 0)
		return pl->dns_err;
	*out = pl->addrs[pl->next_addr++ % pl->naddr];
	return 0;
}

void up_pool_addr_failed(struct up_pool *pl)
{
	if (!pl->literal && !pl->resolving) {
		pl->addrs_until_ns = 0;
		pl->answer_fresh = false;
	}
}

int up_pool_addr_next(struct up_pool *pl, const struct dns_addr *failed, unsigned tried,
		      struct dns_addr *out)
{
	if (pl->literal || pl->dns_err != 0 || tried >= pl->naddr)
		return -ENOENT;
	/* The one after the failed address, not the round-robin's next:
	 * other connections move that meanwhile and could hand back the
	 * address that just failed. */
	for (unsigned i = 0; i < pl->naddr; i++)
		if (pl->addrs[i].family == failed->family &&
		    memcmp(pl->addrs[i].addr, failed->addr, sizeof(failed->addr)) == 0) {
			*out = pl->addrs[(i + 1) % pl->naddr];
			return 0;
		}
	/* A new answer came meanwhile: start on it. */
	*out = pl->addrs[pl->next_addr++ % pl->naddr];
	return 0;
}
