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
 * "Fail at Scale", folly's Codel):
 *
 *  - sojourn <= target: run it; the queue is good (a standing queue has
 *    drained), shedding stops;
 *  - sojourn > target for the first time: run it, and remember that the
 *    queue must be good again within one interval;
 *  - still above target one interval later (no item in between waited
 *    target or less): the queue is standing, not bursting: shedding
 *    starts. While shedding, every item that waited more than target is
 *    answered "overloaded" without being run; the queue is FIFO, so the
 *    oldest go first and it drains at the speed of a 503;
 *  - an item that waited more than target + interval is shed in any case
 *    (it stood in a queue that stayed above target for a whole interval,
 *    so shedding starts): that bounds what a served item waited;
 *  - shedding that stopped less than an interval ago starts again at the
 *    first item above target (CoDel's hysteresis: an overload that lasts
 *    is not served one interval at a time).
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
	ADMIT_SHED_TARGET,       /* waited above target while the queue stood
				  * above target for an interval */
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
	counter_t shedding;          /* gauge: 1 while shedding */
	counter_t shedding_total;    /* times shedding started */
};

/* Owner: the consumer's thread. */
struct admit {
	struct admit_stats *stats;
	const char *name;            /* for the log line when shedding starts */
	uint64_t first_above_ns;     /* above target since: good again by then */
	uint64_t left_ns;            /* when shedding last stopped; 0: never */
	uint64_t logged_ns;          /* last "shedding" log line */
	bool shedding;
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

/* "target", "late", "mailbox_full". */
const char *admit_reason_name(enum admit_reason why);

/* Emit actord_requests_shed_total{<labels>,reason=...} (and the shedding
 * gauge and count) for `s`. Thread: the renderer. */
void admit_collect(struct metrics_out *o, const char *labels, const struct admit_stats *s);

#endif
