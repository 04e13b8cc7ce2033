/*
 * job_type.h - writing a job type: a C function the job actors run for
 * every job of that type (docs/JOBS.md).
 *
 * DESIGN
 * A job type is a name, an optional payload check and a run function,
 * listed in the application's table (app/job_types.c) that main.c
 * gives to job_add_pool. The check runs on a handler actor when the job is
 * posted (a false answer is the client's 400); the run function runs on a
 * job actor, once per attempt, and must never block: like a route, it does
 * slow work through other actors (job_call) or timers (job_after) and
 * reports the outcome later, exactly once, with job_done or job_failed.
 *
 *     static void on_row(struct job *j, struct call_msg *reply, void *arg)
 *     {
 *         if (reply->status != 0)
 *             job_failed(j, "insert: %s", ad_strerror(reply->status));
 *         else
 *             job_done(j, cJSON_CreateTrue());
 *     }
 *
 *     static void run_insert(struct job *j, const cJSON *payload)
 *     {
 *         struct sql_req *q = build_insert(job_id(j), payload);
 *         int rc = job_call(j, &sql_kind, sql_req_call(q), on_row, NULL);
 *         if (rc != 0)
 *             job_failed(j, "insert: %s", ad_strerror(rc));
 *     }
 *
 * Delivery is at least once: a run may be cut short by a crash and the job
 * run again, and a run whose worker lost ownership (reclaimed by another
 * worker) may finish twice. A job whose effect must happen once keys it on
 * job_id() (the shipped `sql` type: the id is the primary key of its row).
 *
 * Lifetimes: `payload` and everything reached from `j` stay valid until the
 * run has reported AND its last continuation has run. A run that outlives
 * jobs.timeout_ms fails with "timed out"; its continuations still run
 * (so they can free their `arg`), and what they report is ignored. When the
 * job actor stops (shutdown), pending continuations never run: the job
 * stays pending in Redis and is run again later.
 *
 * Thread: check on the handler actor posting the job; everything else on
 * the job actor running it.
 */
#ifndef ACTORD_JOB_TYPE_H
#define ACTORD_JOB_TYPE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "actors/call.h"

struct ad_config;
struct job;

/* Whether `payload` (a JSON object; {} when the client sent none) is valid
 * for this type: 0, or -EINVAL with a message for the client in `err`.
 * Runs on the handler actor for POST /jobs (400), and again on the job
 * actor before every run (the run fails with `err`): the run function may
 * rely on what the check accepts. Must not block. */
typedef int (*job_check_fn)(const cJSON *payload, const struct ad_config *cfg,
			    char *err, size_t errlen);
/* Start one attempt; report with job_done / job_failed, now or later. */
typedef void (*job_run_fn)(struct job *j, const cJSON *payload);

struct job_type {
	const char *name;             /* what clients post as "type" */
	job_check_fn check;           /* may be NULL: any payload */
	job_run_fn run;
};

/* The type named `name` in `types[n]`, or NULL. Thread: any. */
const struct job_type *job_type_find(const struct job_type *types, unsigned n,
				     const char *name);

/* The job's id (32 hex digits), its attempt number (1 for the first run),
 * the job actor running it, and the configuration snapshot the attempt
 * started with. */
const char *job_id(const struct job *j);
unsigned job_attempt(const struct job *j);
struct actor *job_actor(const struct job *j);
const struct ad_config *job_config(const struct job *j);
/* Whether the run has reported (or timed out): later reports are ignored. */
bool job_finished(const struct job *j);

/* The run succeeded: `result` (taken, may be NULL for null) is stored as
 * the job's result. The job is acknowledged once it is stored. */
void job_done(struct job *j, cJSON *result);
/* The run failed: the job is retried after a backoff, or moved to the
 * dead-letter stream after jobs.max_attempts runs. */
void job_failed(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef void (*job_cont_fn)(struct job *j, struct call_msg *reply, void *arg);

/* Send `m` (a service message, call.h) to an actor of `kind` (round-robin)
 * and run `k(j, reply, arg)` on this job actor when it comes back. A zero
 * m->deadline_ns becomes the run's deadline (jobs.timeout_ms). 0: `k` runs
 * exactly once (unless the job actor stops first). Error: `m` is freed and
 * `k` never runs: -ESRCH no actor of that kind, -EAGAIN its mailbox is
 * full, -ESHUTDOWN it is stopping, -ENOSPC too many calls pending. The
 * reply is freed when `k` returns. */
int job_call(struct job *j, const struct actor_kind *kind, struct call_msg *m, job_cont_fn k, void *arg);

/* Run `k(j, NULL, arg)` after `ms` milliseconds, without blocking the job
 * actor. 0: `k` runs exactly once (unless the job actor stops first), or
 * -ENOMEM and it never runs. */
int job_after(struct job *j, unsigned ms, job_cont_fn k, void *arg);

#endif
