/*
 * upstream_dns.c - the addresses of an upstream pool: a literal's one, or
 * what the actor's resolver (dns/dns.h, c-ares on the actor's loop)
 * answered for the pool's host name; which of them new connections take
 * (upstream_addrs.h).
 *
 * DESIGN
 * A pool for a name keeps the answer for its TTL, clamped to
 * [upstream.dns_ttl_min_ms, upstream.dns_ttl_max_ms], and hands its
 * addresses to new connections in turn (round-robin), skipping addresses
 * marked down by a failed connect, so connections spread over every live
 * address of the name. Connections already open keep their address.
 *
 * Lookups: the first one, and one after every address failed to connect
 * (the service may have moved), are waited for by the connections that
 * need an address. When an answer merely expires, the next new connection
 * starts a lookup and still takes an address of the expired answer
 * meanwhile (Envoy's DNS clusters refresh in the background the same
 * way): a refresh never delays or fails a call, and the new answer serves
 * the connections after it.
 *
 * A lookup that fails:
 *   - with a last good answer in hand and the resolver at fault (SERVFAIL,
 *     REFUSED, no answer in time, no server reachable: not an answer about
 *     the name), the last good addresses stay in use (serve-stale, RFC
 *     8767), with a warning (up_warn: rate-limited), a count
 *     (upstream_dns_stale_total) and a new lookup after dns_ttl_min_ms,
 *     UPSTREAM_DNS_RETRY_MS at least;
 *   - otherwise (the name never resolved, or the answer says it has no
 *     address: NXDOMAIN, NODATA) it is remembered for dns_ttl_min_ms, so
 *     a name that does not resolve fails fast instead of asking again for
 *     every call: waiting and new connections fail with -EHOSTUNREACH (503,
 *     and one log line with the resolver's reason).
 *
 * A connect that fails (refused, or no answer within its share of the
 * connect timeout: upstream_connect.c) marks its address down for
 * upstream.fail_timeout_ms (when the name has several) and goes on to the
 * next address that is up, as curl and nginx do, so one dead address of
 * several costs no call, and new connections no failed connect; once
 * every address failed (or the connect timed out) the call fails and the
 * next connection looks the name up again.
 *
 * Thread: the upstream actor owning the pool.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "upstream_internal.h"
#include "base/clock.h"

/* A failing resolver is asked again at most this often while the last
 * good answer is served (dns_ttl_min_ms may be 0). */
#define UPSTREAM_DNS_RETRY_MS 1000u

static void on_resolved(void *arg, int status, const char *why, const struct dns_result *res)
{
	struct up_pool *pl = arg;
	const struct config_upstream *lim;
	uint64_t ttl_ms, now = clock_now_ns();

	pl->resolving = false;
	if (status == -ECANCELED)
		return;                 /* the actor is stopping: the pools go next */
	lim = up_limits(pl->ua);
	if (status == 0) {
		pl->dns_err = 0;
		pl->dns_why[0] = '\0';
		up_addrs_set(&pl->addrs, res->addrs, res->naddr);
		ttl_ms = (uint64_t)res->ttl_s * 1000u;
		if (ttl_ms < lim->dns_ttl_min_ms)
			ttl_ms = lim->dns_ttl_min_ms;
		if (ttl_ms > lim->dns_ttl_max_ms)
			ttl_ms = lim->dns_ttl_max_ms;
	} else if (status != -ENOENT && pl->addrs.n > 0) {
		/* The resolver failed, not the name: what it said last holds. */
		counter_add(&pl->st->dns_stale_total, 1);
		up_warn(pl, "name lookup failed, using the last good addresses",
			why != NULL ? why : "no answer");
		ttl_ms = lim->dns_ttl_min_ms > UPSTREAM_DNS_RETRY_MS ? lim->dns_ttl_min_ms :
			 UPSTREAM_DNS_RETRY_MS;
	} else {
		up_addrs_clear(&pl->addrs);
		pl->dns_err = -EHOSTUNREACH;
		snprintf(pl->dns_why, sizeof(pl->dns_why), "%s", why != NULL ? why : "no answer");
		ttl_ms = lim->dns_ttl_min_ms;
	}
	pl->refetch = false;
	/* At least 1 ns: 0 would mean "never expires". */
	pl->addrs_until_ns = now + ttl_ms * NS_PER_MS + 1;
	if (!pl->lookup_starting)
		up_conn_resolved(pl);
}

/* Ask for the pool's name; the answer may come before this returns (a
 * hosts-file answer, no memory), then it is only recorded: the caller
 * reads it, and hands it out itself. */
static void start_lookup(struct up_pool *pl)
{
	struct up_actor *ua = pl->ua;

	pl->resolving = true;
	pl->lookup_starting = true;
	if (ua->dns == NULL)
		on_resolved(pl, -EHOSTUNREACH, "no resolver", NULL);
	else
		dns_resolve(ua->dns, pl->host, on_resolved, pl);
	pl->lookup_starting = false;
}

int up_pool_addr(struct up_pool *pl, struct dns_addr *out)
{
	uint64_t now = clock_now_ns();

	if (!pl->literal && !pl->resolving && !pl->answer_fresh &&
	    (pl->addrs_until_ns == 0 || now >= pl->addrs_until_ns))
		start_lookup(pl);
	/* While a refresh runs, the answer it refreshes still serves, unless
	 * every one of its addresses just failed. */
	if (pl->resolving && (pl->addrs.n == 0 || pl->refetch))
		return -EAGAIN;
	if (pl->dns_err != 0)
		return pl->dns_err;
	if (up_addrs_pick(&pl->addrs, now, out) != 0) {
		snprintf(pl->dns_why, sizeof(pl->dns_why), "no address");
		return -EHOSTUNREACH;
	}
	return 0;
}

void up_pool_addr_failed(struct up_pool *pl)
{
	if (pl->literal)
		return;
	pl->refetch = true;
	pl->answer_fresh = false;
	if (!pl->resolving)
		pl->addrs_until_ns = 0;     /* a lookup under way is new enough */
}

int up_pool_addr_next(struct up_pool *pl, const struct dns_addr *failed, unsigned tried,
		      struct dns_addr *out)
{
	if (pl->literal || pl->dns_err != 0 || tried >= pl->addrs.n)
		return -ENOENT;
	return up_addrs_after(&pl->addrs, failed, clock_now_ns(), out);
}

void up_pool_addr_down(struct up_pool *pl, const struct dns_addr *a)
{
	/* One address has no other to prefer: marking it would change nothing. */
	if (pl->addrs.n > 1 && up_addrs_mark_down(&pl->addrs, a, clock_now_ns(),
						  up_limits(pl->ua)->fail_timeout_ms))
		counter_add(&pl->st->addrs_down_total, 1);
}

void up_pool_addr_up(struct up_pool *pl, const struct dns_addr *a)
{
	up_addrs_mark_up(&pl->addrs, a);
}
