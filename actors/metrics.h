/*
 * metrics.h - what the admin endpoint reads: metric collectors and
 * readiness checks that modules register at start-up.
 *
 * DESIGN
 * A module that has figures to show (a storage actor's backend counters,
 * the job queue, an upstream pool) registers a collector before the system
 * starts. When /metrics or /admin/actors is asked for, the admin actor runs
 * every collector on ITS thread: a collector only reads counters that their
 * owners publish with relaxed atomics (base/counter.h), never sends a message
 * and never blocks, so the admin endpoint answers even while an actor is
 * stuck. Samples are grouped by metric family when rendered, so several
 * collectors may contribute samples of the same family (one per backend).
 *
 * Names: without the "actord_" prefix (added when rendered), base units,
 * counters end in _total; `name` and `help` must be string literals (kept
 * by pointer); `labels` is copied: `backend="redis",actor="cache-0"`, values
 * escaped with metrics_label_value when they come from outside.
 *
 * Readiness checks: /readyz runs each one; any false answer from a required
 * check makes the process not ready, with the reason shown per check. An
 * optional check (a backend the operator may not run, such as MongoDB) is
 * shown with its reason but never makes the process unready.
 *
 * Thread: metrics_register* on the controlling thread before
 * actor_system_start; the rest on the thread that renders (the admin
 * actor, or a test).
 */
#ifndef ACTORD_METRICS_H
#define ACTORD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define METRICS_PREFIX "actord_"

struct metrics_out;

typedef void (*metrics_collect_fn)(struct metrics_out *o, void *ctx);
/* true: ready. Otherwise write why into `reason`. */
typedef bool (*metrics_check_fn)(void *ctx, char *reason, size_t len);

/* Register a collector / a readiness check. 0, or -ENOSPC past 64 of each.
 * `name` of a check is kept by pointer (a literal). */
int metrics_register(metrics_collect_fn fn, void *ctx);
int metrics_register_check(const char *name, metrics_check_fn fn, void *ctx);
int metrics_register_optional_check(const char *name, metrics_check_fn fn, void *ctx);
/* Serving: true from the moment start-up finished (the daemon reports
 * ready) until a drain begins. The required readiness check "serving"
 * (metrics_serving_check) and the admin endpoint's reload read it.
 * Thread: any. */
void metrics_set_serving(bool on);
bool metrics_serving(void);
/* metrics_check_fn: false with "starting up" or "draining: shutting down". */
bool metrics_serving_check(void *ctx, char *reason, size_t len);

struct actor_system;
struct actor_pool_spec;

/* Add the actor pool `spec` and register `collect` with its `user` as the
 * context: the pool owns `user` from then on (its dispose hook frees it
 * after every actor, the admin actor included, stopped). If the pool
 * cannot be added, `user` is disposed here. 0, or -EINVAL / -ENOSPC with a
 * reason in `err`. Thread: controlling, before actor_system_start. */
int metrics_add_pool(struct actor_system *sys, const struct actor_pool_spec *spec,
		     metrics_collect_fn collect, char *err, size_t errlen);

/* Forget every registration (tests; a fresh system). */
void metrics_reset(void);

/* Called by collectors. */
void metrics_counter(struct metrics_out *o, const char *name, const char *help,
		     const char *labels, uint64_t value);
void metrics_gauge(struct metrics_out *o, const char *name, const char *help,
		   const char *labels, double value);
/* A counter of time: `ns` nanoseconds, rendered in seconds (base unit). */
void metrics_counter_seconds(struct metrics_out *o, const char *name, const char *help,
			     const char *labels, uint64_t ns);
/* A histogram over the mailbox's log2 buckets (mbox_hist_bound_s: 1 us ..
 * ~1 s, then +Inf): `buckets` holds MBOX_HIST_BUCKETS per-bucket counts
 * (not cumulative), `sum_ns` the sum of the observations. `name` ends in
 * _seconds; _bucket, _sum and _count are added when rendered. */
void metrics_histogram(struct metrics_out *o, const char *name, const char *help,
		       const char *labels, const uint64_t *buckets, uint64_t sum_ns);

/* Escape a label value (\\, \", \n) into `out`. Returns `out`. */
const char *metrics_label_value(char *out, size_t outlen, const char *value);

/* Rendering. */
struct metrics_out *metrics_out_create(void);
void metrics_out_destroy(struct metrics_out *o);
/* Run every registered collector into `o`. */
void metrics_collect_all(struct metrics_out *o);
/* Prometheus text format 0.0.4, families grouped, HELP and TYPE once each.
 * Returns a malloc'd NUL-terminated text (length in *len), or NULL. */
char *metrics_render_prometheus(const struct metrics_out *o, size_t *len);

/* Run every readiness check: true if every required one passes. `out` (may
 * be NULL) gets {"<check>": {"ok": bool, "required": bool, "reason": "..."}}
 * members added ("reason" only when not ok). */
bool metrics_run_checks(cJSON *out);

#endif
