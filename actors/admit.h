/*
 * admit.h - admission by time waited: CoDel on one consumer of a request
 * queue.
 *
 * DESIGN
 * A full mailbox only says that a queue had a fixed length, not that
 * anybody waited too long; bursts must be absorbed and only real overload
 * shed. So the consumer of a queue (a handler actor starting a request, a
 * mysql actor starting a call) asks admit_check, for the item it just
 * took, whether to run it or shed it, from the item's sojourn time (how
 * long it waited) alone. The rule is Nichols & Jacobson's CoDel ("Controlling
 * Queue Delay", ACM Queue 2012) in the form request servers use (Facebook's
 * "Fail at Scale": a queue that stays standing gets a much shorter
 * timeout), with target T and interval I:
 *
 *  - normal state: an item that waited T or less runs. One that waited
 *    more also runs, but starts CoDel's clock: if no item waited T or less
 *    within the next interval, the queue is standing, not bursting, and
 *    the consumer is overloaded. A burst the machine clears within
 *    T + I is therefore served whole;
 *  - an item that waited more than T + I is shed in any state, and starts
 *    the overload at once (it stood in a queue above T for an interval);
 *  - overloaded: every item that waited more than T / 2 is shed (503 +
 *    Retry-After, not run). The queue is FIFO, so the oldest go first and
 *    the standing queue drains at the speed of a 503; the requests that
 *    are served waited at most T / 2 while the overload lasts, instead of
 *    all sitting at the edge of T. Closed-loop clients that retry at once
 *    cost N / (T / 2) quick 503s a second, which is why the overload
 *    threshold is not smaller still;
 *  - the overload ends after a whole interval in which nothing had to be
 *    shed.
 *
 * Why CoDel and not adaptive LIFO: our queues are FIFO mailboxes (a
 * lock-free stack taken whole and reversed, and a pool's ring); CoDel needs
 * nothing but the timestamp every message already carries and a decision
 * where the item is taken, while LIFO would need the consumer to take and
 * reorder a backlog it cannot see, and still needs a timeout for what LIFO
 * leaves at the bottom. docs/ARCHITECTURE.md, "Admission", has the whole
 * argument.
 *
 * The state is per consumer: a pool's members each judge the items they
 * take from the one queue they share, so nothing is shared between threads.
 * Target and interval are read from the live configuration for every item
 * (admission.target_ms, admission.interval_ms: live on SIGHUP).
 *
 * Thread: struct admit belongs to its consumer's thread; struct
 * admit_stats has that one writer and is read anywhere (relaxed).
 */
#ifndef ACTORD_ADMIT_H
#define ACTORD_ADMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "base/counter.h"
#include "config/config.h"

/* Why an item was shed. */
enum admit_reason {
	ADMIT_SHED_OVERLOAD,     /* overloaded (the queue stood above target
				  * for an interval) and waited above target / 2 */
	ADMIT_SHED_LATE,         /* waited above target + interval */
	ADMIT_SHED_MAILBOX_FULL, /* met a full mailbox (the last line of
				  * defence; counted by whoever met it) */
	ADMIT_REASONS
};

/* admit_check's answer when the item is to run. */
#define ADMIT_RUN (-1)

/* Owner: the consumer writes; any thread reads (relaxed). */
struct admit_stats {
	_Alignas(64)
	counter_t shed_total[ADMIT_REASONS];
	counter_t overloaded;        /* gauge: 1 while overloaded */
	counter_t overloads_total;   /* times an overload started */
};

/* Owner: the consumer's thread. */
struct admit {
	struct admit_stats *stats;
	const char *name;            /* for the log line when an overload starts */
	uint64_t first_above_ns;     /* CoDel's clock: good again by then, or
				  * overloaded; 0: not running */
	uint64_t last_shed_ns;       /* overloaded: the last item shed */
	uint64_t logged_ns;          /* last "overloaded" log line */
	bool overloaded;
};

/* `name` (kept by pointer) names the consumer in log lines. Thread: owner. */
void admit_init(struct admit *a, struct admit_stats *stats, const char *name);

/* Run or shed the item just taken, which waited `sojourn_ns` (now_ns is
 * the current time). Returns ADMIT_RUN, or the enum admit_reason it was
 * shed for (counted). Thread: owner. */
int admit_check(struct admit *a, uint64_t sojourn_ns, uint64_t now_ns,
		const struct config_admission *cfg);

/* Count an item shed for `why` outside admit_check (a full mailbox).
 * Thread: the stats' writer. */
void admit_count(struct admit_stats *s, enum admit_reason why);

/* "overload", "late", "mailbox_full". */
const char *admit_reason_name(enum admit_reason why);

/* Emit actord_requests_shed_total{<labels>,reason=...}, the overloaded
 * gauge and the overload count for `s`. Thread: the renderer. */
void admit_collect(struct metrics_out *o, const char *labels, const struct admit_stats *s);

#endif
