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
 * long it waited) alone. The rule is CoDel (Nichols & Jacobson,
 * "Controlling Queue Delay", ACM Queue 2012) in the form request servers
 * use, Facebook's Controlled Delay ("Fail at Scale", ACM Queue 2015): a
 * queue allows a long wait while it is healthy and a much shorter one
 * once it stands. With target T and interval I:
 *
 *  - normal: an item that waited T or less runs, whatever the queue's
 *    length: a burst the consumer clears within T is served whole. One
 *    that waited more is shed (503 + Retry-After, not run): nobody is
 *    made to wait longer than T, and it proves the queue stands: the
 *    consumer is overloaded from then on;
 *  - overloaded: every item that waited more than T / 2 is shed. The
 *    queue is FIFO, so the oldest go first and the standing queue drains
 *    at the speed of a 503; the requests served meanwhile waited at most
 *    T / 2 instead of all sitting at the edge of T. (Closed-loop clients
 *    that retry at once cost N / (T / 2) quick 503s a second, which is
 *    why the overload limit is not smaller still);
 *  - the overload ends after a whole interval in which nothing had to be
 *    shed (CoDel's interval: one good item is not yet a good queue).
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
#include "mailbox/mbox.h"

/* Why an item was shed. */
enum admit_reason {
	ADMIT_SHED_OVERLOAD,     /* overloaded, and waited above target / 2 */
	ADMIT_SHED_LATE,         /* waited above target */
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
	counter_t run_wait_hist[MBOX_HIST_BUCKETS]; /* what the items that ran
						     * waited, log2 us (mbox.h) */
	counter_t run_wait_sum_ns;
};

/* Owner: the consumer's thread. */
struct admit {
	struct admit_stats *stats;
	const char *name;            /* for the log line when an overload starts */
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
 * gauge, the overload count and the histogram of what the items that ran
 * waited (actord_admission_wait_seconds) for `s`. Thread: the renderer. */
void admit_collect(struct metrics_out *o, const char *labels, const struct admit_stats *s);

#endif
