/*
 * clock.h - the monotonic clock and its units, for every module after
 * mailbox/.
 *
 * DESIGN
 * One clock for the whole server: CLOCK_MONOTONIC in nanoseconds. The
 * mailbox stamps every message with it and includes nothing of ours, so
 * the implementation is mbox_now_ns() (mailbox/mbox.c); this header gives
 * it the name the rest of the code uses, and the unit constants that used
 * to be redefined file by file (Redis keeps its clock in monotonic.h for
 * the same reason). Deadlines, ages and durations are uint64_t ns.
 *
 * Thread: any.
 */
#ifndef ACTORD_BASE_CLOCK_H
#define ACTORD_BASE_CLOCK_H

#include <stdint.h>

#include "mailbox/mbox.h"

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* Monotonic time in ns (CLOCK_MONOTONIC, the clock of every deadline and
 * message stamp). */
static inline uint64_t clock_now_ns(void)
{
	return mbox_now_ns();
}

/* `ms` milliseconds from `now_ns`. */
static inline uint64_t clock_after_ms(uint64_t now_ns, uint64_t ms)
{
	return now_ns + ms * NS_PER_MS;
}

/* The earlier of two deadlines, 0 meaning none. */
static inline uint64_t clock_earlier(uint64_t a, uint64_t b)
{
	if (a == 0)
		return b;
	return b != 0 && b < a ? b : a;
}

/* Seconds as libev wants them (ev_tstamp) from milliseconds. */
static inline double clock_ms_to_s(uint64_t ms)
{
	return (double)ms / 1e3;
}

#endif
