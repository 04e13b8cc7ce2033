/*
 * log_budget.h - at most N log lines per second from one source (a flood
 * of bad clients, an upstream that is down): the first N of each second
 * are written, the rest skipped; their counters still count them.
 *
 * Thread: the one thread that owns the struct.
 */
#ifndef ACTORD_BASE_LOG_BUDGET_H
#define ACTORD_BASE_LOG_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

/* Zeroed: a fresh budget. */
struct log_budget {
	uint64_t sec;      /* the second being counted */
	unsigned count;    /* lines written in it */
};

/* Whether one more line fits the budget of `per_s` lines in the second
 * `now_ns` falls in (and count it). */
static inline bool log_budget_take(struct log_budget *b, uint64_t now_ns, unsigned per_s)
{
	uint64_t sec = now_ns / 1000000000u;

	if (sec != b->sec) {
		b->sec = sec;
		b->count = 0;
	}
	if (b->count >= per_s)
		return false;
	b->count++;
	return true;
}

#endif
