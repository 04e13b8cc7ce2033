/*
 * dns.h - asynchronous DNS for one actor thread: c-ares driven by that
 * actor's libev loop.
 *
 * DESIGN
 * A resolver is owned by one thread and lives on its loop: c-ares' sockets
 * get ev_io watchers (ARES_OPT_SOCK_STATE_CB) and one ev_timer follows
 * ares_timeout(), so a lookup never blocks the actor. dns_resolve asks for
 * the IPv4 and IPv6 addresses of a name (the hosts file first, then the
 * servers of /etc/resolv.conf or the ones given at creation) and calls back
 * once, on the same thread, with the addresses and the smallest TTL among
 * them (the caller applies its own floor and ceiling).
 *
 * What it does not do: cache (callers keep what they resolved, with the
 * TTL), pick an address (callers spread connections over the list).
 *
 * Thread: the owning actor's thread for everything.
 */
#ifndef ACTORD_DNS_H
#define ACTORD_DNS_H

#include <stdint.h>

#include <ev.h>

#define DNS_MAX_ADDRS 16               /* addresses kept from one answer */

struct dns_addr {
	uint8_t family;                /* AF_INET or AF_INET6 */
	uint8_t addr[16];
};

/* What a lookup found; valid during the callback only. */
struct dns_result {
	unsigned naddr;
	uint32_t ttl_s;                /* the smallest TTL of the answer */
	struct dns_addr addrs[DNS_MAX_ADDRS];
};

/* Called once per dns_resolve: `status` 0 with `res`, or -errno with
 * `res` NULL and `why` a reason for the log ("Domain name not found"):
 * -ENOENT the answer is that the name has no address (NXDOMAIN, NODATA,
 * not in the hosts file), -ETIMEDOUT no server answered in time,
 * -EHOSTUNREACH the servers failed otherwise (SERVFAIL, REFUSED,
 * unreachable, a malformed answer), -ENOMEM; -ECANCELED when the resolver
 * is destroyed first. Thread: the owner. */
typedef void (*dns_done_fn)(void *arg, int status, const char *why,
			    const struct dns_result *res);

struct dns_resolver;

/* A resolver on `loop`. `servers`: "" for the system's configuration, or
 * comma-separated "ip[:port]" (IPv6 as "[ip]:port") to ask instead. NULL
 * with *err = -EINVAL (bad servers) or -ENOMEM. Thread: the owner. */
struct dns_resolver *dns_resolver_create(struct ev_loop *loop, const char *servers, int *err);

/* Cancel every lookup (their callbacks run with -ECANCELED) and free the
 * resolver. Thread: the owner. */
void dns_resolver_destroy(struct dns_resolver *r);

/* Look `host` up; `done(arg, ...)` runs once, later from the loop or
 * already before this returns (a hosts-file answer, no memory): callers
 * set up their state first. Thread: the owner. */
void dns_resolve(struct dns_resolver *r, const char *host, dns_done_fn done, void *arg);

#endif
