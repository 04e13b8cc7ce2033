/*
 * mbox_hist.c - log2 latency buckets shared by mailbox wait times and actor
 * loop lag: bucket 0 is <= 1 us, bucket i is <= 2^i us, the last is +Inf.
 * Thread: any (pure functions).
 */
#include <math.h>

#include "mbox.h"

unsigned mbox_hist_bucket(uint64_t ns)
{
	uint64_t us = (ns + 999) / 1000; /* round up: 1001 ns is > 1 us */
	unsigned b;

	if (us <= 1)
		return 0;
	/* Smallest b with us <= 2^b: one clz instead of a loop, per message. */
	b = 64u - (unsigned)__builtin_clzll(us - 1);
	return b < MBOX_HIST_BUCKETS - 1 ? b : MBOX_HIST_BUCKETS - 1;
}

double mbox_hist_bound_s(unsigned i)
{
	if (i >= MBOX_HIST_BUCKETS - 1)
		return INFINITY;
	return (double)(1ull << i) * 1e-6;
}
