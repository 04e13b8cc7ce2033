/*
 * job_actor.c - the job actors (kind "job"): enqueueing and reading jobs
 * for the routes, and the timers that drive the consumer (job_run.c).
 *
 * DESIGN
 * Each job actor owns two Redis connections (rconn.h): `rd` carries only
 * its blocking XREADGROUP (a blocked read holds a connection), `cmd`
 * everything else, pipelined: the enqueue and status requests routes send
 * (struct job_req, job.h), the scripts of running jobs, reclaims. Its
 * consumer name is "<jobs.instance>-<actor index>"; the instance name
 * defaults to "<hostname>:<port of listen[0]>", stable across restarts and
 * unique per host, so a restarted actord finds its own pending deliveries
 * at once (a history read) instead of waiting for another worker's
 * reclaim, and consumers do not pile up in the group.
 *
 * Timers: setup (after the command connection comes up: create the group,
 * load the scripts, read), move (due retries back into the stream: after
 * each failure at its due time, else every jobs.retry_poll_ms), reclaim
 * (every jobs.reclaim_idle_ms / 2), refresh (every reclaim_idle_ms / 3:
 * keep held deliveries from looking idle), count (actor 0, every second:
 * the jobs_pending gauge).
 *
 * Messages in: struct job_req from routes; call replies for job types'
 * job_call. Out: the same job_req back (call_reply).
 *
 * Thread: each job actor's own; job_add_pool and the metrics collector as
 * metrics.h says.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "job_internal.h"
#include "actors/actor.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "base/clock.h"
#include "mailbox/mbox.h"

const struct actor_kind job_kind = { "job" };

#define COUNT_PERIOD_S 1.0
#define MAX_CALLS 65536

uint64_t job_random(struct job_actor *ja)
{
	/* splitmix64: per actor, seeded from getrandom at start. */
	uint64_t z = (ja->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- Requests from routes ---- */

static void answer(struct job_req *q, int status)
{
	call_reply(&q->c, status);
}

/* WAIT answered: how many replicas acknowledged the enqueue's writes. */
static void on_replicated(void *arg, int status, const redisReply *reply)
{
	struct job_req *q = arg;
	struct job_actor *ja = actor_state(actor_self());
	const struct ad_config *cfg = config_current();
	long long want = cfg != NULL ? cfg->jobs.wait_replicas : 0;

	if (status == 0)
		status = rconn_reply_status(reply);
	if (status == 0 && (reply->type != REDIS_REPLY_INTEGER || reply->integer < want)) {
		log_warn("jobs: job %s reached %lld of %lld replica(s) within "
			 "jobs.wait_timeout_ms: answered 503 (it may still run)", q->id,
			 reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0, want);
		status = -EAGAIN;
	}
	if (status != 0 && ja != NULL)
		counter_add(&ja->ctr->unreplicated_total, 1);
	answer(q, status);
}

/* jobs.wait_replicas: answer only once that many replicas have the job
 * (WAIT covers every write this connection made, the script's included). */
static int wait_replicas(struct job_actor *ja, struct job_req *q)
{
	const struct ad_config *cfg = config_current();
	char n[12], ms[12];
	const char *argv[] = { "WAIT", n, ms };
	size_t lens[3] = { 4, 0, 0 };

	lens[1] = (size_t)snprintf(n, sizeof(n), "%u", cfg->jobs.wait_replicas);
	lens[2] = (size_t)snprintf(ms, sizeof(ms), "%u", cfg->jobs.wait_timeout_ms);
	/* Its own deadline: WAIT may take wait_timeout_ms beyond the script. */
	return rconn_command(ja->cmd, clock_now_ns() + (uint64_t)(cfg->jobs.wait_timeout_ms +
		cfg->redis.command_timeout_ms) * NS_PER_MS, on_replicated, q, 3, argv, lens);
}

static int enqueue(struct job_actor *ja, struct job_req *q);

static void on_enqueued(void *arg, int status, const redisReply *reply)
{
	struct job_req *q = arg;
	struct job_actor *ja = actor_state(actor_self());
	bool missing = job_script_missing(status, reply);
	const char *id;

	/* The connection went down after the script was handed to it: Redis
	 * may have run it and the reply been lost with the connection. That
	 * is "may have been stored" (504: retry with the same Idempotency-Key
	 * to find out), never "not stored" (503), on which a client posts the
	 * job again. */
	if (status == -ENOTCONN || status == -ECONNRESET)
		status = -ETIMEDOUT;
	if (ja != NULL && !ja->stopping)
		status = job_reply_status(ja, status, reply, "job enqueue");
	/* Nothing was written: send it again, whole this time, rather than
	 * answer 503 for a script cache Redis lost. */
	if (missing && ja != NULL && !ja->stopping) {
		status = enqueue(ja, q);
		if (status == 0)
			return;
	}
	else if (status == 0)
		status = rconn_reply_status(reply);
	if (status == 0) {
		id = reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
		     reply->element[0]->type == REDIS_REPLY_STRING ? reply->element[0]->str : NULL;
		if (id == NULL || strlen(id) != JOB_ID_LEN) {
			status = -EIO;
		} else {
			memcpy(q->id, id, JOB_ID_LEN + 1);
			q->created = reply->element[1]->type == REDIS_REPLY_INTEGER &&
				     reply->element[1]->integer == 1;
			if (ja != NULL)
				counter_add(q->created ? &ja->ctr->enqueued_total
						     : &ja->ctr->replayed_total, 1);
		}
	}
	if (status == 0 && ja != NULL && !ja->stopping &&
	    config_current() != NULL && config_current()->jobs.wait_replicas > 0) {
		status = wait_replicas(ja, q);
		if (status == 0)
			return;
		counter_add(&ja->ctr->unreplicated_total, 1);
	}
	answer(q, status);
}

static void on_status(void *arg, int status, const redisReply *reply)
{
	struct job_req *q = arg;

	if (status == 0)
		status = rconn_reply_status(reply);
	if (status == 0 && (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0))
		status = -ENOENT;
	if (status == 0) {
		job_req_set_fields(q, reply);
		if (q->nfields == 0)
			status = -ENOMEM;
	}
	answer(q, status);
}

static uint64_t deadline_of(const struct job_req *q)
{
	const struct ad_config *cfg = config_current();
	uint64_t d = clock_now_ns() + (cfg != NULL ? cfg->redis.command_timeout_ms : 1000) * NS_PER_MS;

	return clock_earlier(d, q->c.deadline_ns);
}

static int enqueue(struct job_actor *ja, struct job_req *q)
{
	const struct ad_config *cfg = config_current();
	char key[JOB_KEY_MAX], idem[JOB_KEY_MAX], ttl[16];
	const char *keys[] = { ja->stream, key, idem };
	const char *args[] = { q->id, q->type, q->payload, ttl };
	const size_t lens[] = { JOB_ID_LEN, strlen(q->type), q->payload_len, 0 };
	size_t arglens[4];

	/* Routes check this too; other callers (job types) may not. */
	if (job_type_find(ja->pool->types, ja->pool->ntypes, q->type) == NULL)
		return -EINVAL;
	snprintf(q->id, sizeof(q->id), "%016llx%016llx", (unsigned long long)job_random(ja),
		 (unsigned long long)job_random(ja));
	snprintf(key, sizeof(key), "%s:job:%s", ja->prefix, q->id);
	if (q->idem != NULL &&
	    (size_t)snprintf(idem, sizeof(idem), "%s:idem:%s", ja->prefix, q->idem) >= sizeof(idem))
		return -EINVAL;
	snprintf(ttl, sizeof(ttl), "%u", cfg != NULL ? cfg->jobs.idempotency_ttl_s : 86400);
	memcpy(arglens, lens, sizeof(lens));
	arglens[3] = strlen(ttl);
	return job_script_run(ja, JS_ENQUEUE, deadline_of(q), q->idem != NULL ? 3 : 2, keys, 4,
			      args, arglens, on_enqueued, q);
}

static int status_of(struct job_actor *ja, struct job_req *q)
{
	char key[JOB_KEY_MAX];
	const char *argv[] = { "HGETALL", key };
	size_t lens[2];

	if (!job_id_valid(q->id))
		return -ENOENT;
	lens[0] = 7;
	lens[1] = (size_t)snprintf(key, sizeof(key), "%s:job:%s", ja->prefix, q->id);
	return rconn_command(ja->cmd, deadline_of(q), on_status, q, 2, argv, lens);
}

static void job_message(struct actor *a, struct msg *m)
{
	struct job_actor *ja = actor_state(a);
	struct job_req *q;
	int rc;

	/* Replies to this actor's calls first (call_dispatch tells them from
	 * requests by CALL_FLAG_REPLY: a job type may call a job actor, this
	 * one included). */
	if (call_dispatch(ja->calls, m))
		return;
	q = m->type == JOB_MSG_REQ ? (struct job_req *)(void *)m : NULL;
	if (q == NULL) {
		log_warn("unexpected message type %#x dropped", m->type);
		msg_free(m);
		return;
	}
	if (call_expired(&q->c, clock_now_ns()))
		rc = -ETIMEDOUT;
	else
		rc = q->op == JOB_OP_ENQUEUE ? enqueue(ja, q) : status_of(ja, q);
	if (rc != 0)
		answer(q, rc);
}

/* ---- Connections and timers ---- */

static void on_cmd_state(void *ctx, bool up)
{
	struct job_actor *ja = ctx;

	if (!up) {
		job_setup_lost(ja);
		job_read_history(ja);
		return;
	}
	/* Not from inside rconn's connect callback: from the loop. */
	if (!ja->stopping && !ev_is_active(&ja->setup_w)) {
		ev_timer_set(&ja->setup_w, 0., 0.);
		ev_timer_start(actor_loop(ja->a), &ja->setup_w);
	}
}

static void on_rd_state(void *ctx, bool up)
{
	struct job_actor *ja = ctx;

	job_read_history(ja);
	if (up)
		on_cmd_state(ctx, true);
}

static void on_setup_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job_actor *ja = w->data;

	(void)loop;
	(void)revents;
	job_setup(ja);
	job_read(ja);
}

static void on_move_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	job_move_due(w->data);
}

static void on_reclaim_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job_actor *ja = w->data;

	(void)loop;
	(void)revents;
	/* A new scan each period: entries before the cursor may have gone
	 * idle since. */
	if (!ja->claiming)
		snprintf(ja->claim_cursor, sizeof(ja->claim_cursor), "0-0");
	job_reclaim(ja);
}

static void on_refresh_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	job_refresh(w->data);
}

static void on_counted(void *arg, int status, const redisReply *reply)
{
	struct job_actor *ja = arg;

	ja->counting = false;
	if (ja->stopping)
		return;
	status = job_reply_status(ja, status, reply, "job count");
	/* Relaxed: a gauge, read by the metrics collector. */
	atomic_store_explicit(&ja->ctr->pending,
			      status == 0 && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1,
			      memory_order_relaxed);
}

static void on_count_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job_actor *ja = w->data;
	const char *keys[] = { ja->stream, ja->delayed };

	(void)loop;
	(void)revents;
	if (ja->counting || !rconn_connected(ja->cmd))
		return;
	if (job_script_run(ja, JS_COUNT, 0, 2, keys, 0, NULL, NULL, on_counted, ja) == 0)
		ja->counting = true;
}

static int job_start(struct actor *a)
{
	struct job_pool *p = actor_user(a);
	const struct ad_config *cfg = config_current();
	struct ad_config defaults;
	unsigned idx = actor_index(a);
	struct job_actor *ja = calloc(1, sizeof(*ja));
	struct rconn_opts cmd_opts = { .stats = &p->stats[2 * idx],
				       .last_error = &p->last_error[2 * idx],
				       .on_state = on_cmd_state };
	struct rconn_opts rd_opts = { .stats = &p->stats[2 * idx + 1],
				      .last_error = &p->last_error[2 * idx + 1],
				      .on_state = on_rd_state };
	struct ev_loop *loop = actor_loop(a);
	double idle_s;

	if (ja == NULL)
		return -ENOMEM;
	if (cfg == NULL) {
		config_defaults(&defaults);
		cfg = &defaults;
	}
	ja->a = a;
	list_init(&ja->jobs);
	ja->pool = p;
	ja->ctr = &p->ctr[idx];
	ja->slots = cfg->jobs.concurrency;
	snprintf(ja->consumer, sizeof(ja->consumer), "%s-%u", p->instance, idx);
	snprintf(ja->group, sizeof(ja->group), "%s", cfg->jobs.group);
	snprintf(ja->prefix, sizeof(ja->prefix), "%s", cfg->jobs.prefix);
	snprintf(ja->stream, sizeof(ja->stream), "%s:stream", ja->prefix);
	snprintf(ja->delayed, sizeof(ja->delayed), "%s:delayed", ja->prefix);
	snprintf(ja->dead, sizeof(ja->dead), "%s:dead", ja->prefix);
	snprintf(ja->history_from, sizeof(ja->history_from), "0");
	snprintf(ja->claim_cursor, sizeof(ja->claim_cursor), "0-0");
	ja->read_history = true;
	if (getrandom(&ja->rng, sizeof(ja->rng), 0) != (ssize_t)sizeof(ja->rng))
		ja->rng = clock_now_ns() ^ ((uint64_t)getpid() << 32) ^ idx;
	atomic_store_explicit(&ja->ctr->pending, -1, memory_order_relaxed);
	ev_init(&ja->setup_w, on_setup_timer);
	ev_init(&ja->move_w, on_move_timer);
	idle_s = cfg->jobs.reclaim_idle_ms / 1000.0;
	ev_timer_init(&ja->reclaim_w, on_reclaim_timer, idle_s / 2, idle_s / 2);
	ev_timer_init(&ja->refresh_w, on_refresh_timer, idle_s / 3, idle_s / 3);
	ev_timer_init(&ja->count_w, on_count_timer, 0., COUNT_PERIOD_S);
	ja->setup_w.data = ja->move_w.data = ja->reclaim_w.data = ja;
	ja->refresh_w.data = ja->count_w.data = ja;
	cmd_opts.ctx = rd_opts.ctx = ja;
	actor_set_state(a, ja);
	ja->calls = call_table_create(a, MAX_CALLS);
	ja->cmd = ja->calls != NULL ? rconn_create(loop, &cmd_opts) : NULL;
	ja->rd = ja->cmd != NULL && ja->slots > 0 ? rconn_create(loop, &rd_opts) : NULL;
	if (ja->calls == NULL || ja->cmd == NULL || (ja->slots > 0 && ja->rd == NULL)) {
		rconn_destroy(ja->cmd);
		call_table_destroy(ja->calls);
		actor_set_state(a, NULL);
		free(ja);
		return -ENOMEM;
	}
	if (ja->slots > 0) {
		ev_timer_start(loop, &ja->reclaim_w);
		ev_timer_start(loop, &ja->refresh_w);
	} else {
		/* Enqueue only: nothing to read, so nothing to report. */
		counter_set(&p->stats[2 * idx + 1].connected, 1);
	}
	if (idx == 0)
		ev_timer_start(loop, &ja->count_w);
	log_info("jobs: %s consumes %s (group %s), %u at a time", ja->consumer, ja->stream,
		 ja->group, ja->slots);
	return 0;
}

static void job_stop(struct actor *a)
{
	struct job_actor *ja = actor_state(a);
	struct ev_loop *loop = actor_loop(a);

	if (ja == NULL)
		return;
	/* From here every callback only frees what it must (enqueue requests
	 * are answered -ESHUTDOWN); running jobs are dropped unacknowledged:
	 * their deliveries stay pending in Redis and run again later. */
	ja->stopping = true;
	ev_timer_stop(loop, &ja->setup_w);
	ev_timer_stop(loop, &ja->move_w);
	ev_timer_stop(loop, &ja->reclaim_w);
	ev_timer_stop(loop, &ja->refresh_w);
	ev_timer_stop(loop, &ja->count_w);
	if (ja->busy > 0)
		log_info("jobs: %s stops with %u deliveries unfinished: they stay pending",
			 ja->consumer, ja->busy);
	atomic_store_explicit(&ja->ctr->inflight, 0, memory_order_relaxed);
	rconn_destroy(ja->rd);
	rconn_destroy(ja->cmd);
	job_free_all(ja);
	call_table_destroy(ja->calls);
	actor_set_state(a, NULL);
	free(ja);
}

static const struct actor_ops job_ops = {
	.start = job_start,
	.message = job_message,
	.stop = job_stop,
};

/* ---- Metrics and readiness ---- */

/* A counter summed over the pool's actors. */
static uint64_t sum(const struct job_pool *p, size_t offset)
{
	uint64_t s = 0;

	for (unsigned i = 0; i < p->count; i++)
		s += atomic_load_explicit((_Atomic uint64_t *)((char *)&p->ctr[i] + offset),
					  memory_order_relaxed);
	return s;
}

#define SUM(field) sum(p, offsetof(struct job_counters, field))

static void collect(struct metrics_out *o, void *ctx)
{
	const struct job_pool *p = ctx;
	int64_t pending = atomic_load_explicit(&p->ctr[0].pending, memory_order_relaxed);
	char name[48];

	metrics_counter(o, "jobs_enqueued_total", "Jobs created by POST /jobs.", "",
			SUM(enqueued_total));
	metrics_counter(o, "jobs_idempotent_replays_total",
			"POST /jobs answered with the job an Idempotency-Key already named.", "",
			SUM(replayed_total));
	metrics_counter(o, "jobs_unreplicated_total",
			"Enqueues answered 503 because fewer than jobs.wait_replicas replicas "
			"acknowledged them in time (WAIT).", "", SUM(unreplicated_total));
	metrics_counter(o, "jobs_started_total", "Job runs started.", "", SUM(started_total));
	metrics_counter(o, "jobs_completed_total", "Job runs finished, by outcome.",
			"outcome=\"done\"", SUM(done_total));
	metrics_counter(o, "jobs_completed_total", "Job runs finished, by outcome.",
			"outcome=\"failed\"", SUM(failed_total));
	metrics_counter(o, "jobs_completed_total", "Job runs finished, by outcome.",
			"outcome=\"dead\"", SUM(failed_dead_total));
	metrics_counter(o, "jobs_stale_total",
			"Job runs whose outcome was dropped: another worker had taken the job over.",
			"", SUM(stale_total));
	metrics_counter(o, "jobs_retried_total", "Failed jobs moved back into the stream.", "",
			SUM(retried_total));
	metrics_counter(o, "jobs_reclaimed_total",
			"Deliveries taken over from a stopped worker (XAUTOCLAIM or own restart).",
			"", SUM(reclaimed_total));
	metrics_counter(o, "jobs_redelivered_total",
			"Runs of a job whose previous run never reported (crash, kill, stop).", "",
			SUM(redelivered_total));
	metrics_counter(o, "jobs_dead_total", "Jobs moved to the dead-letter stream.", "",
			SUM(dead_total));
	metrics_gauge(o, "jobs_inflight", "Job runs in progress in this process.", "",
		      (double)SUM(inflight));
	if (pending >= 0)
		metrics_gauge(o, "jobs_pending",
			      "Jobs accepted and not finished (queued, running, waiting for a retry), "
			      "all instances.", "", (double)pending);
	for (unsigned i = 0; i < p->count; i++) {
		snprintf(name, sizeof(name), "job-%u", i);
		backend_stats_collect(o, "redis-jobs", name, &p->stats[2 * i]);
		snprintf(name, sizeof(name), "job-%u-read", i);
		backend_stats_collect(o, "redis-jobs", name, &p->stats[2 * i + 1]);
	}
}

static bool check(void *ctx, char *reason, size_t len)
{
	struct job_pool *p = ctx;
	unsigned up = 0;
	int err = 0;

	for (unsigned i = 0; i < 2 * p->count; i++) {
		if (atomic_load_explicit(&p->stats[i].connected, memory_order_relaxed) != 0)
			up++;
		else if (err == 0)
			err = atomic_load_explicit(&p->last_error[i], memory_order_relaxed);
	}
	if (up == 2 * p->count)
		return true;
	snprintf(reason, len, "%u of %u job queue connection(s) to redis up%s%s", up,
		 2 * p->count, err != 0 ? ": " : "", err != 0 ? ad_strerror(err) : "");
	return false;
}

static void pool_free(void *user)
{
	struct job_pool *p = user;

	free(p->stats);
	free(p->ctr);
	free(p->last_error);
	free(p);
}

int job_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		 const struct job_type *types, unsigned ntypes, char *err, size_t errlen)
{
	unsigned n = cfg->job.count;
	struct job_pool *p;
	struct actor_pool_spec spec;
	char host[64];

	if (n == 0)
		return 0;
	p = calloc(1, sizeof(*p));
	if (p != NULL) {
		p->stats = aligned_alloc(_Alignof(struct backend_stats),
					 sizeof(struct backend_stats) * 2 * n);
		p->ctr = aligned_alloc(_Alignof(struct job_counters),
				       sizeof(struct job_counters) * n);
		p->last_error = calloc(2 * n, sizeof(*p->last_error));
	}
	if (p == NULL || p->stats == NULL || p->ctr == NULL || p->last_error == NULL) {
		if (p != NULL)
			pool_free(p);
		snprintf(err, errlen, "job: out of memory");
		return -ENOMEM;
	}
	memset(p->stats, 0, sizeof(struct backend_stats) * 2 * n);
	memset(p->ctr, 0, sizeof(struct job_counters) * n);
	p->types = types;
	p->ntypes = ntypes;
	p->count = n;
	if (cfg->jobs.instance[0] != '\0') {
		snprintf(p->instance, sizeof(p->instance), "%s", cfg->jobs.instance);
	} else {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(p->instance, sizeof(p->instance), "%s:%u", host, cfg->listen[0].port);
	}
	spec = (struct actor_pool_spec){
		.kind = &job_kind,
		.count = n,
		.mbox_capacity = cfg->job.mailbox,
		.budget = cfg->redis.pipeline_max,
		.ops = &job_ops,
		.user = p,
		.dispose = pool_free,
	};
	if (actor_system_add_pool(sys, &spec, err, errlen) == ACTOR_ADDR_NONE) {
		pool_free(p);
		return -EINVAL;
	}
	/* The actor pool owns `p` now; the collector and the check read it
	 * until the system is destroyed, after the admin actor stopped. */
	if (metrics_register(collect, p) != 0 ||
	    metrics_register_check("redis-jobs", check, p) != 0) {
		snprintf(err, errlen, "job: too many metrics registrations");
		return -ENOSPC;
	}
	return 0;
}
