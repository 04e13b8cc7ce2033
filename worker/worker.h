/*
 * worker.h - worker actors: blocking and CPU-heavy work off the request
 * path (the seed's run_in_executor on a thread or process pool).
 *
 * DESIGN
 * A pool of `actors.worker.count` actors (kind "worker") sharing ONE pool
 * mailbox of `actors.worker.mailbox` messages: each member takes one task at
 * a time, so a task waits only while every worker is busy and a slow task
 * never holds up the ones behind it. A task is a C function and an
 * argument area; the worker runs the function on its own thread, where
 * blocking (sleep, a synchronous library, a file) and long computations
 * (a password hash) are allowed, and sends the SAME message back: the
 * caller's continuation runs on the caller's actor with the result.
 *
 * A task is an ordinary call message (actors/call.h), so every caller
 * that can make calls can submit one, with the call contract's rules:
 *  - a route:    hreq_work(r, t, k, arg)            (handler/handler_api.h)
 *  - a job type: job_call(j, &worker_kind, worker_task_call(t), k, arg)
 *  - any actor with a call table: call_send(calls, call_pick(calls,
 *    &worker_kind), worker_task_call(t), fn, ctx, arg)
 *
 *     static int hash_fn(void *arg)               // on a worker thread
 *     {
 *         struct hash_job *h = arg;
 *         return slow_hash(h->in, h->out) == 0 ? 0 : -EIO;
 *     }
 *
 *     static void on_hashed(struct hreq *r, struct call_msg *reply, void *arg)
 *     {
 *         struct hash_job *h = worker_reply_arg(reply);  // same bytes, results in
 *         if (reply->status != 0) {                       // 500 / 504 / 503
 *             hreq_fail(r, reply->status, worker_reply_ran(reply) ?
 *                       "hash: the task itself failed" : "hash");
 *             return;
 *         }
 *         hreq_text(r, 200, h->out);
 *     }
 *
 *     struct worker_task *t = worker_task_new(hash_fn, sizeof(struct hash_job), NULL);
 *     if (t == NULL) { hreq_error(r, 500, "no memory"); return; }
 *     fill_inputs(worker_task_arg(t));
 *     rc = hreq_work(r, t, on_hashed, NULL);          // frees t on error
 *     if (rc != 0) hreq_fail(r, rc, "hash");
 *
 * Outcomes (reply->status): what the function returned (0 or -errno), or
 *  -ETIMEDOUT  the task's deadline (the request's, by default) passed
 *              before a worker took it: it never ran (-> 504);
 *  -ESHUTDOWN  the pool was stopping before a worker took it: it never ran.
 * The function may return these codes too (its own blocking call timed
 * out): worker_reply_ran(reply) tells which, so the answer and the log can
 * say "the task itself failed: timed out" rather than blame the pool
 * (worker_reply_error words it for a log line or a job's error).
 * Sending answers at once: -EAGAIN when the pool mailbox is full (-> 503 +
 * Retry-After: the overload rule; nothing waits), -ESRCH when no worker is
 * configured (actors.worker.count 0). A task that started always runs to
 * its end: nothing interrupts a function; a request whose deadline passes
 * meanwhile is answered 504 by its handler and the continuation still runs
 * once, later, to free what it holds.
 *
 * Ownership and threads (as msg.h): the caller allocates the task
 * (worker_task_new) and fills its argument area; the area belongs to the
 * message, never to the caller's arena, because the caller may be gone
 * (a handler stopping) while a worker writes it. A successful send passes
 * the whole message to the pool; the worker owns it while `fn` runs (only
 * `fn` touches the area then) and sends it back; the continuation reads the
 * area (results included) and the caller's call_dispatch frees it with
 * msg_free(), which first runs the task's `cleanup` on the area (free what
 * `fn` or the caller hung on it). A send that fails leaves the message with
 * the caller (hreq_work and job_call free it for you).
 * `fn` runs on a worker thread: it must not touch the caller's state
 * (request context, route data, handler memory), only its argument area and
 * thread-safe things (the log, config_current(), its own blocking clients).
 * Its return value becomes reply->status.
 *
 * Scheduling: workers run under SCHED_BATCH, so the network and handler
 * actors preempt them when they wake and a burst of workers waking never
 * preempts the request path (docs/ARCHITECTURE.md).
 *
 * Stopping (SIGTERM): the workers stop after the handlers and the
 * scheduler; a task already running finishes, and every task still queued
 * is answered -ESHUTDOWN without running (its caller has stopped).
 *
 * Thread: worker_add_pool on the controlling thread before start;
 * worker_task_* on the caller's thread; `fn` on a worker.
 */
#ifndef ACTORD_WORKER_H
#define ACTORD_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/call.h"

struct actor_system;
struct ad_config;

/* The worker actors (pool "worker", actors.worker). */
extern const struct actor_kind worker_kind;

#define WORKER_MSG_TASK 0x574b0001u  /* 'W' 'K' 1 */

/* Runs on a worker thread with the task's argument area: read the inputs,
 * write the results there. Blocking is allowed. 0 or -errno. */
typedef int (*worker_fn)(void *arg);
/* Frees what the argument area points to (not the area itself), when the
 * message is freed; may be NULL. Runs on the thread that frees the message
 * (the caller's, normally). */
typedef void (*worker_cleanup_fn)(void *arg);

struct worker_task;

/* A task running `fn` with a zeroed argument area of `arg_size` bytes
 * (16-byte aligned) owned by the message. NULL on ENOMEM.
 * Thread: the caller's. */
struct worker_task *worker_task_new(worker_fn fn, size_t arg_size, worker_cleanup_fn cleanup);
/* The argument area, to fill in before sending. */
void *worker_task_arg(struct worker_task *t);
/* The message for hreq_call / job_call / call_send. */
struct call_msg *worker_task_call(struct worker_task *t);
/* Free a task that was never sent (runs `cleanup`). NULL is fine. */
void worker_task_free(struct worker_task *t);

/* In the continuation: the argument area of the task behind `reply`, with
 * what `fn` wrote; NULL if `reply` is not a worker task. Valid until the
 * continuation returns. */
void *worker_reply_arg(struct call_msg *reply);
/* In the continuation: true when `fn` ran, so reply->status is what it
 * returned; false when the pool answered for it without running it
 * (-ETIMEDOUT: its deadline passed in the queue; -ESHUTDOWN) or `reply` is
 * not a worker task. A function's own -ETIMEDOUT or -EAGAIN (a blocking
 * call that timed out, a resource it found busy) is told from the pool's
 * only this way. */
bool worker_reply_ran(const struct call_msg *reply);
/* A failed reply's reason for a log line or a job's error, in `buf`:
 * "the task itself failed: Connection timed out" (the libc text of the
 * function's code) when `fn` ran, else ad_strerror's ("deadline
 * exceeded": it never ran). Returns buf. */
const char *worker_reply_error(const struct call_msg *reply, char *buf, size_t len);
/* How long `fn` ran, and how long the task waited for a worker (ns; 0 if
 * it never ran). */
uint64_t worker_reply_run_ns(const struct call_msg *reply);
uint64_t worker_reply_wait_ns(const struct call_msg *reply);

/* Add the "worker" pool (actors.worker; nothing when count is 0) and its
 * metrics collector. 0 or -errno with a reason. Thread: controlling. */
int worker_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		    char *err, size_t errlen);

#endif
