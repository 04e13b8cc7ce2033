/*
 * log_budget.h - at most N log lines per second from one source (a flood
 * of bad clients, an upstream that is down): the first N of each second
 * are written, the rest skipped; their counters still count them. And
 * log_every_due, for a warning that repeats (a limit reached again after
 * every close, a Redis down): at most one line per interval.
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

/* Whether a line is due at `now_ns` when at most one is written per
 * `every_ns`; `*last_ns` is when the last one was (0: never), updated when
 * it is due. */
static inline bool log_every_due(uint64_t *last_ns, uint64_t now_ns, uint64_t every_ns)
{
	if (*last_ns != 0 && now_ns - *last_ns < every_ns)
		return false;
	*last_ns = now_ns;
	return true;
}

#endif
