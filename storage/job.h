/*
 * job.h - the job queue as routes and the daemon see it: the job actors
 * (kind "job"), the messages that enqueue a job or read its state, and
 * adding the pool. Writing a job type: job_type.h. Design: docs/JOBS.md.
 *
 * DESIGN
 * Jobs live in Redis, never in actord's memory: a job is a hash
 * <prefix>:job:<id> (state, type, payload, attempts, timestamps, result or
 * last error) and an entry in the stream <prefix>:stream that the job
 * actors of every actord instance consume through one consumer group.
 * A route enqueues with a `struct job_req` sent to a job actor
 * (hreq_call(r, &job_kind, job_req_call(q), k, arg)); the job actor runs one
 * Lua script that records the Idempotency-Key, writes the hash and XADDs
 * the entry, and replies only once Redis answered: with appendfsync always
 * the job is then on disk.
 *
 * Reply status (call.h): 0 done; -ENOTCONN / -ECONNREFUSED / -EAGAIN Redis
 * is down or asked for a retry (503); -ETIMEDOUT no answer by the deadline
 * (504: the job may or may not exist; a retry with the same
 * Idempotency-Key finds out); -EBADMSG Redis refused the command (500);
 * -ENOENT (status requests) no such job.
 *
 * Ownership: as cache.h: the request belongs to the caller until
 * hreq_call, then to the job actor, then to the continuation, which reads
 * the results before they are freed with the message.
 *
 * Thread: builders and readers on the caller's thread; job_add_pool on
 * the controlling thread.
 */
#ifndef ACTORD_JOB_H
#define ACTORD_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "job_type.h"
#include "actors/call.h"

/* The job actors (pool "job", actors.job). */
extern const struct actor_kind job_kind;

struct actor_system;
struct ad_config;

#define JOB_ID_LEN 32                 /* hex digits */
#define JOB_IDEM_KEY_MAX 200          /* bytes of an Idempotency-Key */

struct job_req;

/* Enqueue a job of `type` with `payload` (JSON text, copied) and an
 * optional idempotency key (NULL: none). NULL on ENOMEM. */
struct job_req *job_req_enqueue(const char *type, const char *payload, size_t len,
				const char *idem_key);
/* Read the state of job `id`. NULL on ENOMEM. */
struct job_req *job_req_status(const char *id);

/* The call message to pass to hreq_call / call_send. */
struct call_msg *job_req_call(struct job_req *q);

/* Enqueue replies: the job's id, and whether this request created it
 * (false: the idempotency key named an existing job, whose id it is). */
const char *job_reply_id(const struct call_msg *reply);
bool job_reply_created(const struct call_msg *reply);

/* Status replies: the job hash's field `name` (NULL if absent). Fields:
 * type, payload, state (queued, running, failed, done, dead), attempts,
 * redeliveries, created, started, finished, next_attempt (ms since the
 * epoch, Redis' clock), worker, result (JSON), last_error, failures (a
 * JSON array of {attempt, started, failed, error}). */
const char *job_reply_field(const struct call_msg *reply, const char *name);

/* Whether `id` is a well-formed job id (32 lower-case hex digits). */
bool job_id_valid(const char *id);

/* Add the "job" pool (actors.job.count actors, 0: none) running `types`
 * (which must outlive the system), and register its metrics and its
 * readiness check "redis-jobs". 0 or -errno with a reason in `err`. Add it
 * after the mysql pool and before the handlers. */
int job_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		 const struct job_type *types, unsigned ntypes, char *err, size_t errlen);

#endif
