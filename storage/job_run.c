/*
 * job_run.c - running what a job actor took delivery of (job_consume.c):
 * starting it, calling its type, storing its outcome (job_internal.h),
 * plus the API job types use (job_type.h).
 *
 * DESIGN
 * A job actor holds at most `jobs.concurrency` deliveries. Each becomes a
 * `struct job`, which goes through:
 *   START script -> the type's run function -> job_done / job_failed
 *   -> DONE or FAIL script -> released.
 * The slot is held until the outcome is stored, and the job (its memory)
 * lives on until its last continuation has run. While a delivery is held
 * its ownership is refreshed every reclaim_idle_ms / 3 (REFRESH script:
 * XCLAIM ... JUSTID to itself), so a run longer than the reclaim idle time
 * is never taken over by another worker while this one is alive.
 *
 * Failures of Redis: a START that cannot be sent drops the delivery (it
 * stays pending: the history read after the reconnection finds it). A
 * START sent but not answered (timed out, connection lost) may or may not
 * have run in Redis; the delivery stays held, its ownership refreshed,
 * and START is sent again with backoff under the same run token, which
 * the script recognises: the job starts as soon as Redis answers, as one
 * run, instead of waiting reclaim_idle_ms for a reclaim and counting a
 * redelivery. A DONE or FAIL is retried with backoff until stored, since
 * the run already happened. Stopping drops everything held: nothing is
 * acknowledged that did not finish, and the deliveries stay pending.
 *
 * Thread: the job actor's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_internal.h"
#include "actors/actor.h"
#include "actors/log.h"
#include "base/clock.h"
#include "mailbox/mbox.h"

#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 2000

/* A pending job_after. Owner: the job actor. */
struct jtimer {
	struct work_timer t;          /* MUST be first */
	struct job *j;
	job_cont_fn k;
	void *arg;
};
_Static_assert(offsetof(struct jtimer, t) == 0,
	       "struct jtimer is used through a pointer to its t");

/* A pending job_call's continuation. */
struct jcont {
	job_cont_fn k;
	void *arg;
};

const struct ad_config *job_cfg(void)
{
	/* Only before any publish (tests): per thread, nothing shared. */
	static _Thread_local struct ad_config defaults;
	const struct ad_config *cfg = config_current();

	if (cfg == NULL) {
		if (defaults.jobs.max_attempts == 0)
			config_defaults(&defaults);
		cfg = &defaults;
	}
	return cfg;
}

/* ---- Job lifetime ---- */

static void free_jtimer(struct work_timer *t)
{
	free(t);
}

static void job_free(struct job *j)
{
	struct job_actor *ja = j->ja;
	struct ev_loop *loop = actor_loop(ja->a);

	work_timer_stop_all(loop, &j->timers, free_jtimer);
	ev_timer_stop(loop, &j->timeout_w);
	ev_timer_stop(loop, &j->retry_w);
	list_remove(&j->node);
	cJSON_Delete(j->payload);
	free(j->report);
	free(j);
}

static void maybe_free(struct job *j)
{
	if (!j->held && j->refs == 0)
		job_free(j);
}

/* The delivery's outcome is stored (or given up): free its slot. */
static void release(struct job *j)
{
	struct job_actor *ja = j->ja;

	if (!j->held)
		return;
	j->held = false;
	ja->busy--;
	if (j->running) {
		j->running = false;
		counter_add(&ja->ctr->inflight, -1);
	}
	ev_timer_stop(actor_loop(ja->a), &j->timeout_w);
	ev_timer_stop(actor_loop(ja->a), &j->retry_w);
	maybe_free(j);
	job_read(ja);
}

static struct job *find_held(struct job_actor *ja, const char *entry)
{
	struct list *e;

	for (e = list_first(&ja->jobs); e != NULL; e = list_next(&ja->jobs, e)) {
		struct job *j = list_entry(e, struct job, node);

		if (j->held && strcmp(j->entry, entry) == 0)
			return j;
	}
	return NULL;
}

void job_free_all(struct job_actor *ja)
{
	while (!list_empty(&ja->jobs))
		job_free(list_entry(list_first(&ja->jobs), struct job, node));
	ja->busy = 0;
}

/* ---- Sending again ---- */

static void send_report(struct job *j);
static int send_start(struct job *j);

static void retry_later(struct job *j)
{
	uint64_t ms = RETRY_MIN_MS;

	for (unsigned i = 0; i < j->tries && ms < RETRY_MAX_MS; i++)
		ms *= 2;
	if (ms > RETRY_MAX_MS)
		ms = RETRY_MAX_MS;
	if (j->tries++ % 20 == 0)
		log_warn("jobs: cannot %s job %s yet: retrying",
			 j->reported ? "store the outcome of" : "start", j->id);
	ev_timer_set(&j->retry_w, (double)ms / 1000.0, 0.);
	ev_timer_start(actor_loop(j->ja->a), &j->retry_w);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *j = w->data;

	(void)loop;
	(void)revents;
	if (j->reported)
		send_report(j);
	else if (send_start(j) != 0)
		retry_later(j);
}

/* ---- Reporting ---- */

static void on_reported(void *arg, int status, const redisReply *reply)
{
	struct job *j = arg;
	struct job_actor *ja = j->ja;
	const char *what;

	if (ja->stopping)
		return;
	status = job_reply_status(ja, status, reply, j->ok ? "job done" : "job failed");
	if (status != 0 && status != -EBADMSG) {
		retry_later(j);
		return;
	}
	if (status != 0) {
		/* Refused: leave it pending; a reclaim will run it again. */
		release(j);
		return;
	}
	if (j->ok) {
		/* 2: an earlier send of this DONE was stored and its reply lost
		 * (a timeout, a reconnection): done, not stale. */
		counter_add(reply->type == REDIS_REPLY_INTEGER &&
			    (reply->integer == 1 || reply->integer == 2)
			  ? &ja->ctr->done_total : &ja->ctr->stale_total, 1);
	} else if ((what = job_str_at(reply, 0)) != NULL && strcmp(what, "retry") == 0) {
		/* Also a FAIL sent again whose first send was stored (its
		 * reply lost): FAIL says so rather than "stale". */
		counter_add(&ja->ctr->failed_total, 1);
		job_move_soon(ja, (uint64_t)(job_int_at(reply, 1) > 0 ? job_int_at(reply, 1) : 0));
	} else if (what != NULL && strcmp(what, "dead") == 0) {
		counter_add(&ja->ctr->failed_dead_total, 1);
		counter_add(&ja->ctr->dead_total, 1);
		log_warn("jobs: job %s failed its last attempt (%u): moved to %s: %s", j->id,
			 j->attempt, ja->dead, j->report);
	} else {
		counter_add(&ja->ctr->stale_total, 1);
	}
	release(j);
}

static uint64_t backoff_ms(struct job_actor *ja, const struct config_jobs *c, unsigned attempt)
{
	uint64_t d = c->backoff_base_ms;

	for (unsigned i = 1; i < attempt && d < c->backoff_max_ms; i++)
		d *= 2;
	if (d > c->backoff_max_ms)
		d = c->backoff_max_ms;
	/* Take up to jitter_pct of the wait off at random, so that jobs that
	 * failed together do not all come back together. */
	return d - d * c->backoff_jitter_pct * (job_random(ja) % 1000) / 100000;
}

static void send_report(struct job *j)
{
	struct job_actor *ja = j->ja;
	const struct config_jobs *c = &job_cfg()->jobs;
	char ttl[16], max[16], delay[24], attempt[16], started[24], kept[16];
	int rc;

	snprintf(ttl, sizeof(ttl), "%u", c->result_ttl_s);
	snprintf(attempt, sizeof(attempt), "%u", j->attempt);
	if (j->ok) {
		const char *keys[] = { ja->stream, j->key };
		const char *args[] = { ja->group, j->entry, j->report, ttl, j->token };

		rc = job_script_run(ja, JS_DONE, 0, 2, keys, 5, args, NULL, on_reported, j);
	} else {
		const char *keys[] = { ja->stream, j->key, ja->delayed, ja->dead };
		const char *args[] = { ja->group, j->entry, ja->consumer, j->id, j->report,
				       max, delay, ttl, attempt, started, kept };

		snprintf(max, sizeof(max), "%u", c->max_attempts);
		snprintf(kept, sizeof(kept), "%u", c->dead_max_jobs);
		snprintf(delay, sizeof(delay), "%llu",
			 (unsigned long long)backoff_ms(ja, c, j->attempt));
		snprintf(started, sizeof(started), "%lld", j->started_ms);
		rc = job_script_run(ja, JS_FAIL, 0, 4, keys, 11, args, NULL, on_reported, j);
	}
	if (rc != 0)
		retry_later(j);
}

static void report(struct job *j, bool ok, char *text)
{
	if (j->reported || !j->held) {
		free(text);
		return;
	}
	j->reported = true;
	j->ok = ok;
	j->report = text;
	ev_timer_stop(actor_loop(j->ja->a), &j->timeout_w);
	if (j->report == NULL) {
		j->ok = false;
		j->report = strdup("out of memory");
		if (j->report == NULL) {
			/* Cannot even say why: leave it pending for a reclaim. */
			release(j);
			return;
		}
	}
	send_report(j);
}

void job_done(struct job *j, cJSON *result)
{
	char *text = result != NULL ? cJSON_PrintUnformatted(result) : strdup("null");

	cJSON_Delete(result);
	report(j, true, text);
}

void job_failed(struct job *j, const char *fmt, ...)
{
	char *text = malloc(JOB_ERROR_MAX);
	va_list ap;

	if (text != NULL) {
		va_start(ap, fmt);
		vsnprintf(text, JOB_ERROR_MAX, fmt, ap);
		va_end(ap);
	}
	report(j, false, text);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *j = w->data;

	(void)loop;
	(void)revents;
	job_failed(j, "timed out after %u ms", j->cfg->jobs.timeout_ms);
}

/* ---- Starting ---- */

static void run(struct job *j, const redisReply *reply)
{
	struct job_actor *ja = j->ja;
	const char *type = job_str_at(reply, 1), *payload = job_str_at(reply, 2);
	uint64_t now = clock_now_ns();
	char err[JOB_ERROR_MAX];

	j->cfg = job_cfg();
	j->attempt = (unsigned)job_int_at(reply, 3);
	j->started_ms = job_int_at(reply, 5);
	j->tries = 0;                 /* the outcome's sends back off afresh */
	j->running = true;
	counter_add(&ja->ctr->inflight, 1);
	counter_add(&ja->ctr->started_total, 1);
	if (job_int_at(reply, 4) == 1)
		counter_add(&ja->ctr->redelivered_total, 1);
	j->deadline_ns = now + j->cfg->jobs.timeout_ms * NS_PER_MS;
	ev_timer_set(&j->timeout_w, j->cfg->jobs.timeout_ms / 1000.0, 0.);
	ev_timer_start(actor_loop(ja->a), &j->timeout_w);
	j->type = type != NULL ? job_type_find(ja->pool->types, ja->pool->ntypes, type) : NULL;
	if (j->type == NULL) {
		job_failed(j, "unknown job type '%s'", type != NULL ? type : "");
		return;
	}
	j->payload = payload != NULL ? cJSON_Parse(payload) : NULL;
	if (!cJSON_IsObject(j->payload)) {
		job_failed(j, "the stored payload is not a JSON object");
		return;
	}
	/* POST /jobs checked it, but not every entry came that way (another
	 * version, a hand-written job, settings changed since): a type's run
	 * function may rely on what its check accepts. */
	err[0] = '\0';           /* a check may refuse without a message */
	if (j->type->check != NULL &&
	    j->type->check(j->payload, j->cfg, err, sizeof(err)) != 0) {
		job_failed(j, "%s", err[0] != '\0' ? err : "invalid payload");
		return;
	}
	j->type->run(j, j->payload);
}

static void on_started(void *arg, int status, const redisReply *reply)
{
	struct job *j = arg;
	struct job_actor *ja = j->ja;
	bool missing = job_script_missing(status, reply);
	const char *what;

	if (ja->stopping)
		return;
	status = job_reply_status(ja, status, reply, "job start");
	/* START did not run: send it again (whole now) instead of leaving the
	 * delivery pending until a reclaim, reclaim_idle_ms from now. */
	if (missing && send_start(j) == 0)
		return;
	/* Not answered (timed out, connection lost) or not run for now: it
	 * may have run in Redis, and the delivery is ours either way. Send it
	 * again (the run token makes it the same run) rather than leave the
	 * delivery to a reclaim, reclaim_idle_ms from now. Refused
	 * (-EBADMSG): let go, as below. */
	if (status != 0 && status != -EBADMSG) {
		retry_later(j);
		return;
	}
	what = status == 0 ? job_str_at(reply, 0) : NULL;
	if (what != NULL && strcmp(what, "run") == 0) {
		run(j, reply);
		return;
	}
	if (what != NULL && strcmp(what, "dead") == 0) {
		counter_add(&ja->ctr->dead_total, 1);
		log_warn("jobs: job %s abandoned after its workers stopped during every run: "
			 "moved to %s", j->id, ja->dead);
	}
	/* skip, stale, or failed to start: still pending if anything. */
	release(j);
}

/* Send the START script for held job `j`: rconn_command's contract. */
static int send_start(struct job *j)
{
	struct job_actor *ja = j->ja;
	const struct config_jobs *c = &job_cfg()->jobs;
	char max[16], ttl[16], kept[16];
	const char *keys[] = { ja->stream, j->key, ja->dead };
	const char *args[] = { ja->group, j->entry, ja->consumer, j->id, max, ttl, j->token,
			       kept };

	snprintf(max, sizeof(max), "%u", c->max_attempts);
	snprintf(ttl, sizeof(ttl), "%u", c->result_ttl_s);
	snprintf(kept, sizeof(kept), "%u", c->dead_max_jobs);
	return job_script_run(ja, JS_START, 0, 3, keys, 8, args, NULL, on_started, j);
}

/* Take delivery `entry` of job `id`; `taken_over`: a reclaim or a
 * delivery left by our previous incarnation. */
void job_take(struct job_actor *ja, const char *entry, const char *id, bool taken_over)
{
	struct job *j;

	if (find_held(ja, entry) != NULL)
		return;
	if (ja->busy >= ja->slots) {
		/* Delivered beyond the free slots: the blocking read and a
		 * reclaim each asked for as many as were free. Left pending for
		 * this consumer, read again from its history once a slot frees
		 * (or taken over by a worker with room after reclaim_idle_ms). */
		job_read_history(ja);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return;       /* still pending: a reclaim will find it */
	j->ja = ja;
	snprintf(j->entry, sizeof(j->entry), "%s", entry);
	snprintf(j->id, sizeof(j->id), "%s", id);
	snprintf(j->key, sizeof(j->key), "%s:job:%s", ja->prefix, id);
	snprintf(j->token, sizeof(j->token), "%016llx", (unsigned long long)job_random(ja));
	ev_init(&j->timeout_w, on_timeout);
	ev_init(&j->retry_w, on_retry);
	j->timeout_w.data = j->retry_w.data = j;
	list_push_front(&ja->jobs, &j->node);
	j->held = true;
	ja->busy++;
	if (taken_over)
		counter_add(&ja->ctr->reclaimed_total, 1);
	if (send_start(j) != 0)
		release(j);
}

/* ---- The API of job types ---- */

const char *job_id(const struct job *j) { return j->id; }
unsigned job_attempt(const struct job *j) { return j->attempt; }
struct actor *job_actor(const struct job *j) { return j->ja->a; }
const struct ad_config *job_config(const struct job *j) { return j->cfg; }
bool job_finished(const struct job *j) { return j->reported || !j->held; }

static void on_call(struct call_msg *reply, void *ctx, void *arg)
{
	struct job *j = ctx;
	struct jcont c = *(struct jcont *)arg;

	free(arg);
	/* Still owed while it runs: a report inside must not free the job. */
	c.k(j, reply, c.arg);
	j->refs--;
	maybe_free(j);
}

int job_call(struct job *j, const struct actor_kind *kind, struct call_msg *m, job_cont_fn k, void *arg)
{
	struct jcont *c = malloc(sizeof(*c));
	actor_addr_t to = call_pick(j->ja->calls, kind);
	int rc;

	if (to == ACTOR_ADDR_NONE)
		rc = -ESRCH;
	else if (c == NULL)
		rc = -ENOMEM;
	else {
		*c = (struct jcont){ k, arg };
		if (m->deadline_ns == 0)
			m->deadline_ns = j->deadline_ns;
		rc = call_send(j->ja->calls, to, m, on_call, j, c);
	}
	if (rc != 0) {
		free(c);
		msg_free(&m->m);
		return rc;
	}
	j->refs++;
	return 0;
}

static void on_jtimer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct jtimer *t = w->data;
	struct job *j = t->j;

	(void)loop;
	(void)revents;
	work_timer_unlink(&j->timers, &t->t);
	t->k(j, NULL, t->arg);
	free(t);
	j->refs--;
	maybe_free(j);
}

int job_after(struct job *j, unsigned ms, job_cont_fn k, void *arg)
{
	struct jtimer *t = malloc(sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	*t = (struct jtimer){ .j = j, .k = k, .arg = arg };
	work_timer_start(actor_loop(j->ja->a), &j->timers, &t->t, ms, on_jtimer);
	j->refs++;
	return 0;
}
