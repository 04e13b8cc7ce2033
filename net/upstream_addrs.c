/*
 * upstream_addrs.c - an upstream pool's addresses and their down marks
 * (upstream_addrs.h has the rules).
 *
 * DESIGN
 * At most DNS_MAX_ADDRS addresses, so every lookup is a linear scan: the
 * set is consulted once per new connection, never per request.
 *
 * Thread: the upstream actor owning the pool.
 */
#include <errno.h>
#include <string.h>

#include "upstream_addrs.h"
#include "base/clock.h"

static bool same_addr(const struct dns_addr *a, const struct dns_addr *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static int index_of(const struct up_addrs *s, const struct dns_addr *a)
{
	for (unsigned i = 0; i < s->n; i++)
		if (same_addr(&s->addr[i], a))
			return (int)i;
	return -1;
}

static bool down_at(const struct up_addrs *s, unsigned i, uint64_t now)
{
	return s->down_until_ns[i] != 0 && now < s->down_until_ns[i];
}

void up_addrs_set(struct up_addrs *s, const struct dns_addr *a, unsigned n)
{
	uint64_t until[DNS_MAX_ADDRS];

	if (n > DNS_MAX_ADDRS)
		n = DNS_MAX_ADDRS;
	for (unsigned i = 0; i < n; i++) {
		int old = index_of(s, &a[i]);

		until[i] = old >= 0 ? s->down_until_ns[old] : 0;
	}
	memcpy(s->addr, a, sizeof(a[0]) * n);
	memcpy(s->down_until_ns, until, sizeof(until[0]) * n);
	s->n = n;
}

void up_addrs_clear(struct up_addrs *s)
{
	s->n = 0;
}

int up_addrs_pick(struct up_addrs *s, uint64_t now, struct dns_addr *out)
{
	if (s->n == 0)
		return -ENOENT;
	for (unsigned k = 0; k < s->n; k++) {
		unsigned i = (s->next + k) % s->n;

		if (!down_at(s, i, now)) {
			s->next = i + 1;
			*out = s->addr[i];
			return 0;
		}
	}
	/* All down: in turn anyway, never a refusal of our own. */
	*out = s->addr[s->next++ % s->n];
	return 0;
}

int up_addrs_after(struct up_addrs *s, const struct dns_addr *failed, uint64_t now,
		   struct dns_addr *out)
{
	int f = index_of(s, failed);

	if (s->n == 0)
		return -ENOENT;
	/* A new answer came meanwhile: start on it. */
	if (f < 0)
		return up_addrs_pick(s, now, out);
	/* From the failed one on, not the round-robin's next: other
	 * connections move that meanwhile and could hand back the address
	 * that just failed. */
	for (unsigned k = 1; k < s->n; k++) {
		unsigned i = ((unsigned)f + k) % s->n;

		if (!down_at(s, i, now)) {
			*out = s->addr[i];
			return 0;
		}
	}
	*out = s->addr[((unsigned)f + 1) % s->n];
	return 0;
}

bool up_addrs_mark_down(struct up_addrs *s, const struct dns_addr *a, uint64_t now,
			uint32_t down_ms)
{
	int i = index_of(s, a);
	bool was_up;

	if (i < 0 || down_ms == 0)
		return false;
	was_up = !down_at(s, (unsigned)i, now);
	s->down_until_ns[i] = clock_after_ms(now, down_ms);
	return was_up;
}

void up_addrs_mark_up(struct up_addrs *s, const struct dns_addr *a)
{
	int i = index_of(s, a);

	if (i >= 0)
		s->down_until_ns[i] = 0;
}
