/*
 * upstream_addrs.h - the addresses of one upstream pool (a literal's one,
 * or a DNS answer) and which of them are down: the rotation new
 * connections take their address from.
 *
 * DESIGN
 * A connect to an address that fails (refused, or no answer within its
 * share of the connect timeout) marks that address down for
 * upstream.fail_timeout_ms (10 s), like nginx's max_fails=1 fail_timeout: new
 * connections skip it while another address is up, so one dead address of
 * several costs one failed connect per period instead of one per
 * connection that draws it. When every address is down they are tried
 * anyway, in turn: being marked never refuses a call by itself. A connect
 * that succeeds clears its address's mark at once; a new DNS answer keeps
 * the marks of the addresses it still holds.
 *
 * Plain data with no clock of its own (`now` is passed in), so the rules
 * are unit-tested directly (tests/unit/net/test_upstream_addrs.c).
 *
 * Owner: the upstream actor owning the pool. Thread: owner, for all.
 */
#ifndef ACTORD_UPSTREAM_ADDRS_H
#define ACTORD_UPSTREAM_ADDRS_H

#include <stdbool.h>
#include <stdint.h>

#include "dns/dns.h"

/* Owner: the upstream actor (embedded in its pool). Zeroed: empty. */
struct up_addrs {
	struct dns_addr addr[DNS_MAX_ADDRS];
	uint64_t down_until_ns[DNS_MAX_ADDRS]; /* monotonic; down while now < it */
	unsigned n;
	unsigned next;                 /* round-robin position */
};

/* Replace the addresses with `n` (at most DNS_MAX_ADDRS) of `a`, keeping
 * the marks of those that stay. */
void up_addrs_set(struct up_addrs *s, const struct dns_addr *a, unsigned n);

/* Forget every address (and mark). */
void up_addrs_clear(struct up_addrs *s);

/* The next address in turn that is up at `now`; when all are down, the
 * next in turn anyway. 0, or -ENOENT when there is none. */
int up_addrs_pick(struct up_addrs *s, uint64_t now, struct dns_addr *out);

/* For a connection whose connect to `failed` failed: the first address
 * after it (in the answer's order) that is up at `now`, else the one right
 * after it; the round-robin's next when `failed` is no longer in the set
 * (a new answer came). 0, or -ENOENT when the set is empty. */
int up_addrs_after(struct up_addrs *s, const struct dns_addr *failed, uint64_t now,
		   struct dns_addr *out);

/* A connect to `a` failed at `now`: down until now + `down_ms` (0: not
 * marked). Returns true when it was up (the metric counts those), false
 * when it was down already or is not in the set. */
bool up_addrs_mark_down(struct up_addrs *s, const struct dns_addr *a, uint64_t now,
			uint32_t down_ms);

/* A connect to `a` succeeded: it is up again. */
void up_addrs_mark_up(struct up_addrs *s, const struct dns_addr *a);

#endif
