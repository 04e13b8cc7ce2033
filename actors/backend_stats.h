/*
 * backend_stats.h - the counters every backend client keeps (cache, mysql
 * and mongo actors, upstream pools), in one shape so the admin endpoint
 * shows them as the same metric families with a `backend` label.
 *
 * DESIGN
 * One struct per owner (one storage actor, one upstream pool), allocated
 * before the system starts so its address is stable. Only the owner writes
 * it (relaxed load + store: no locked instruction); anyone reads it with
 * relaxed loads (base/counter.h). The owner registers a collector that calls
 * backend_stats_collect with its labels.
 *
 * Families (docs/ADMIN.md): actord_backend_requests_total,
 * actord_backend_errors_total, actord_backend_timeouts_total,
 * actord_backend_reconnects_total, actord_backend_failovers_total,
 * actord_backend_inflight,
 * actord_backend_connected, actord_backend_latency_seconds.
 *
 * Thread: the owner writes; any thread reads.
 */
#ifndef ACTORD_BACKEND_STATS_H
#define ACTORD_BACKEND_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "base/counter.h"
#include "mailbox/mbox.h"

/* Owner: one backend client thread writes; any thread reads. */
struct backend_stats {
	_Alignas(64)
	_Atomic uint64_t requests_total;   /* commands / queries / requests sent */
	_Atomic uint64_t errors_total;     /* of which failed (timeouts included) */
	_Atomic uint64_t timeouts_total;   /* of which missed their deadline */
	_Atomic uint64_t reconnects_total; /* connection attempts after a loss */
	_Atomic uint64_t inflight;         /* gauge: sent, not answered */
	_Atomic uint64_t connected;        /* gauge: connections up */
	_Atomic uint64_t failovers_total;  /* moves to a new primary (Redis Sentinel) */
	_Atomic uint64_t latency_hist[MBOX_HIST_BUCKETS]; /* log2 us buckets */
	_Atomic uint64_t latency_sum_ns;
};

/* One request finished after `latency_ns`: count it, its latency, and
 * whether it failed / timed out. Thread: owner. */
void backend_stats_done(struct backend_stats *s, uint64_t latency_ns, bool error,
			bool timeout);

/* Emit the families above for `s` with labels backend="<backend>" and
 * actor="<actor>". Thread: the renderer. */
void backend_stats_collect(struct metrics_out *o, const char *backend,
			   const char *actor, const struct backend_stats *s);

#endif
