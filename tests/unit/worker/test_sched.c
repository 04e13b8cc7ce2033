/*
 * test_sched.c - the scheduler actor (worker/sched.h) in a real actor
 * system with real worker actors: task queues (retries, bounds) and
 * periodic tasks (schedule, no overlap, failures, the cluster lock). The
 * lock service is a scripted actor here; the Redis one is tested end to
 * end (tests/e2e/test_periodic_cluster.py).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "actors/actor.h"
#include "actors/call.h"
#include "actors/metrics.h"
#include "config/config.h"
#include "worker/sched.h"
#include "worker/sched_internal.h"
#include "worker/worker.h"
#include "tests/unit/common/metrics_text.h"
#include "tests/unit/common/step_client.h"

#define PERIOD_MS 50
#define MAX_RUNS 64

static struct actor_system *sys;
static struct ad_config cfg;
static struct sched_periodic task;     /* the periodic task of a test, if any */
static struct sched_queue queue;       /* the queue of a test, if any */

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The value of one sample in the metrics text ("name{labels} value"). */
static long metric(const char *sample)
{
	char *text = metrics_text();
	const char *p = strstr(text, sample);
	long v = p != NULL ? strtol(p + strlen(sample), NULL, 10) : -1;

	free(text);
	return v;
}

/* ---- The scripted lock service ---- */

static const struct actor_kind lock_kind = { "lock" };

#define LOCK_MSG 0x4c4b0001u

/* Crosses mailboxes: scheduler -> lock actor -> scheduler. */
struct lock_msg {
	struct call_msg c;            /* MUST be first */
	bool release;
	char key[160], token[128];
	uint32_t ms;
	int result;
};

/* Written by the lock actor, read by the test after the runs. */
static char held[128];                 /* the token holding the key, "" if free */
static atomic_int releases, releases_kept;
static atomic_bool lock_down;          /* answer every call -ENOTCONN */

static void lock_message(struct actor *a, struct msg *m)
{
	struct lock_msg *l = (struct lock_msg *)(void *)m;
	/* Slot from the token "<host>:<pid>:<slot>:<seq>": odd slots are held
	 * by "another instance". */
	char *seq = strrchr(l->token, ':'), *colon = NULL;
	unsigned long long slot = 0;

	if (seq != NULL) {
		*seq = '\0';
		colon = strrchr(l->token, ':');
		slot = colon != NULL ? strtoull(colon + 1, NULL, 10) : 0;
		*seq = ':';
	}

	(void)a;
	if (atomic_load(&lock_down)) {
		call_reply(&l->c, -ENOTCONN);
		return;
	}
	if (l->release) {
		assert_string_equal(held, l->token);   /* only the holder releases */
		held[0] = '\0';
		atomic_fetch_add(&releases, 1);
		if (l->ms > 0)
			atomic_fetch_add(&releases_kept, 1);
	} else {
		l->result = held[0] == '\0' && slot % 2 == 0;
		if (l->result)
			snprintf(held, sizeof(held), "%s", l->token);
	}
	call_reply(&l->c, 0);
}

static const struct actor_ops lock_ops = { .message = lock_message };

static void lock_free(struct msg *m)
{
	free(m);
}

static struct call_msg *lock_new(bool release, const char *key, const char *token, uint32_t ms)
{
	struct lock_msg *l = calloc(1, sizeof(*l));

	call_msg_init(&l->c, LOCK_MSG, lock_free, 0);
	l->release = release;
	snprintf(l->key, sizeof(l->key), "%s", key);
	snprintf(l->token, sizeof(l->token), "%s", token);
	l->ms = ms;
	return &l->c;
}

static struct call_msg *acquire(const char *key, const char *token, uint32_t ttl_ms)
{
	return lock_new(false, key, token, ttl_ms);
}

static struct call_msg *release(const char *key, const char *token, uint32_t keep_ms)
{
	return lock_new(true, key, token, keep_ms);
}

static int acquired(const struct call_msg *reply)
{
	return ((const struct lock_msg *)(const void *)reply)->result;
}

static const struct sched_lock scripted_lock = { &lock_kind, acquire, acquired, release };

/* ---- The system ---- */

static int setup_fn(struct sched_setup *s, const struct ad_config *c, char *err, size_t errlen)
{
	int rc = 0;

	(void)c;
	if (queue.name != NULL)
		rc = sched_add_queue(s, &queue, err, errlen);
	if (rc == 0 && task.name != NULL)
		rc = sched_add_periodic(s, &task, err, errlen);
	return rc;
}

static void start(void)
{
	static const sched_setup_fn fns[] = { setup_fn };
	struct actor_pool_spec client = {
		.kind = &step_client_kind, .count = 1, .mbox_capacity = 4096, .ops = &step_client_ops,
	};
	struct actor_pool_spec locks = {
		.kind = &lock_kind, .count = 1, .mbox_capacity = 1024, .ops = &lock_ops,
	};
	char err[256];

	config_defaults(&cfg);
	cfg.worker = (struct config_actors){ 4, 256 };
	metrics_reset();
	held[0] = '\0';
	atomic_store(&releases, 0);
	atomic_store(&releases_kept, 0);
	atomic_store(&lock_down, false);
	sys = actor_system_create();
	assert_int_not_equal(actor_system_add_pool(sys, &client, err, sizeof(err)), ACTOR_ADDR_NONE);
	assert_int_not_equal(actor_system_add_pool(sys, &locks, err, sizeof(err)), ACTOR_ADDR_NONE);
	assert_int_equal(worker_add_pool(sys, &cfg, err, sizeof(err)), 0);
	assert_int_equal(sched_add_pool(sys, &cfg, fns, 1, &scripted_lock, err, sizeof(err)), 0);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
}

static void stop(void)
{
	actor_system_destroy(sys);
	sys = NULL;
	memset(&task, 0, sizeof(task));
	memset(&queue, 0, sizeof(queue));
}

/* ---- Queues ---- */

static atomic_int attempts_ok, attempts_once, attempts_always;
static atomic_bool gate_open;
static atomic_int put_status[8];

static int item_fn(const char *item, size_t len, unsigned attempt, void *data)
{
	(void)data;
	if (len == 2 && memcmp(item, "ok", 2) == 0) {
		atomic_fetch_add(&attempts_ok, 1);
		return 0;
	}
	if (len == 4 && memcmp(item, "once", 4) == 0) {
		atomic_fetch_add(&attempts_once, 1);
		return attempt == 1 ? -EIO : 0;
	}
	if (len == 4 && memcmp(item, "gate", 4) == 0) {
		while (!atomic_load(&gate_open))
			sleep_ms(1);
		return 0;
	}
	atomic_fetch_add(&attempts_always, 1);
	return -EIO;
}

static void on_put(struct call_msg *reply, void *ctx, void *arg)
{
	(void)ctx;
	atomic_store(&put_status[(intptr_t)arg], reply->status);
	step_client_done();
}

static void put(struct actor *a, const char *q, const char *item, intptr_t i)
{
	struct call_table *calls = step_client_calls(a);
	struct call_msg *m = sched_put_new(q, item, strlen(item));

	assert_int_equal(call_send(calls, call_pick(calls, &sched_kind), m, on_put, NULL,
				   (void *)i), 0);
}

static void step_put_three(struct actor *a)
{
	put(a, "q", "ok", 0);
	put(a, "q", "once", 1);
	put(a, "q", "always", 2);
}

static void test_queue_items_run_and_failures_are_retried(void **state)
{
	(void)state;
	queue = (struct sched_queue){ .name = "q", .capacity = 8, .concurrency = 2,
				      .max_attempts = 3, .run = item_fn };
	atomic_store(&attempts_ok, 0);
	atomic_store(&attempts_once, 0);
	atomic_store(&attempts_always, 0);
	start();
	step_client_run(sys, step_put_three, 3, 5000);
	for (int i = 0; i < 3; i++)
		assert_int_equal(atomic_load(&put_status[i]), 0);   /* queued at once */
	for (int i = 0; i < 5000 && metric("actord_queue_dropped_total{queue=\"q\"} ") < 1; i++)
		sleep_ms(1);
	for (int i = 0; i < 5000 && metric("actord_queue_done_total{queue=\"q\"} ") < 2; i++)
		sleep_ms(1);
	assert_int_equal(atomic_load(&attempts_ok), 1);        /* exactly once */
	assert_int_equal(atomic_load(&attempts_once), 2);      /* failed, then ok */
	assert_int_equal(atomic_load(&attempts_always), 3);    /* max_attempts, then dropped */
	assert_int_equal(metric("actord_queue_done_total{queue=\"q\"} "), 2);
	assert_int_equal(metric("actord_queue_retried_total{queue=\"q\"} "), 3);
	assert_int_equal(metric("actord_queue_dropped_total{queue=\"q\"} "), 1);
	assert_int_equal(metric("actord_queue_waiting{queue=\"q\"} "), 0);
	stop();
}

static void step_fill_queue(struct actor *a)
{
	put(a, "q", "gate", 0);      /* starts at once: running, not waiting */
	put(a, "q", "ok", 1);
	put(a, "q", "ok", 2);
	put(a, "q", "ok", 3);        /* the queue holds 2: refused */
	put(a, "nope", "ok", 4);     /* no such queue */
}

static void test_a_full_queue_answers_eagain(void **state)
{
	(void)state;
	queue = (struct sched_queue){ .name = "q", .capacity = 2, .concurrency = 1,
				      .max_attempts = 1, .run = item_fn };
	atomic_store(&gate_open, false);
	atomic_store(&attempts_ok, 0);
	start();
	step_client_run(sys, step_fill_queue, 5, 5000);
	assert_int_equal(atomic_load(&put_status[0]), 0);
	assert_int_equal(atomic_load(&put_status[1]), 0);
	assert_int_equal(atomic_load(&put_status[2]), 0);
	assert_int_equal(atomic_load(&put_status[3]), -EAGAIN);
	assert_int_equal(atomic_load(&put_status[4]), -ENOENT);
	assert_int_equal(metric("actord_queue_rejected_total{queue=\"q\"} "), 1);
	atomic_store(&gate_open, true);
	for (int i = 0; i < 5000 && atomic_load(&attempts_ok) < 2; i++)
		sleep_ms(1);
	assert_int_equal(atomic_load(&attempts_ok), 2);        /* nothing accepted is lost */
	stop();
}

/* ---- Periodic tasks ---- */

static atomic_int runs, in_run, overlaps;
static struct { uint64_t slot, due, start; } run_log[MAX_RUNS];
static unsigned sleep_in_run_ms;
static int run_result;

static int periodic_fn(const struct sched_run *r)
{
	int n = atomic_fetch_add(&runs, 1);

	if (atomic_fetch_add(&in_run, 1) != 0)
		atomic_fetch_add(&overlaps, 1);
	if (n < MAX_RUNS) {
		run_log[n].slot = r->slot;
		run_log[n].due = r->due_ms;
		run_log[n].start = realtime_ms();
	}
	sleep_ms((int)sleep_in_run_ms);
	atomic_fetch_sub(&in_run, 1);
	return run_result;
}

static void reset_runs(unsigned sleep_ms_each, int result)
{
	atomic_store(&runs, 0);
	atomic_store(&in_run, 0);
	atomic_store(&overlaps, 0);
	sleep_in_run_ms = sleep_ms_each;
	run_result = result;
}

static void test_a_periodic_task_keeps_its_schedule_and_never_overlaps(void **state)
{
	int n;

	(void)state;
	/* Each run takes 2.4 periods: every run must skip the ticks it covers. */
	reset_runs(120, 0);
	task = (struct sched_periodic){ .name = "t", .period_ms = PERIOD_MS, .run = periodic_fn };
	start();
	sleep_ms(1000);
	actor_system_stop_kind(sys, &sched_kind);
	actor_system_stop_kind(sys, &worker_kind);
	n = atomic_load(&runs);
	assert_true(n >= 4 && n <= 8);
	assert_int_equal(atomic_load(&overlaps), 0);
	for (int i = 0; i < n && i < MAX_RUNS; i++) {
		/* Due on the wall clock's grid; started right then. */
		assert_int_equal(run_log[i].due % PERIOD_MS, 0);
		assert_int_equal(run_log[i].due, run_log[i].slot * PERIOD_MS);
		assert_true(run_log[i].start + 5 >= run_log[i].due);
		assert_true(run_log[i].start <= run_log[i].due + 200);
		/* The next run takes a slot after this one ended: at least two
		 * ticks are skipped (a busy machine, whose timers and replies
		 * come late, moves it by one either way). */
		if (i > 0) {
			assert_true(run_log[i].slot >= run_log[i - 1].slot + 2);
			assert_true(run_log[i].slot <= run_log[i - 1].slot + 5);
			assert_true(run_log[i].start >= run_log[i - 1].start + 120);
		}
	}
	assert_true(metric("actord_periodic_skipped_total{task=\"t\"} ") >= 2 * (n - 1));
	assert_int_equal(metric("actord_periodic_failures_total{task=\"t\"} "), 0);
	stop();
}

static void test_periodic_failures_are_counted_and_the_schedule_goes_on(void **state)
{
	int n;

	(void)state;
	reset_runs(0, -EIO);
	task = (struct sched_periodic){ .name = "f", .period_ms = PERIOD_MS, .run = periodic_fn,
					.on_sched = true };
	start();
	sleep_ms(400);
	actor_system_stop_kind(sys, &sched_kind);
	n = atomic_load(&runs);
	assert_true(n >= 5);
	assert_int_equal(metric("actord_periodic_failures_total{task=\"f\"} "), n);
	assert_int_equal(metric("actord_periodic_runs_total{task=\"f\"} "), n);
	stop();
}

static void test_once_per_cluster_runs_the_slots_whose_lock_it_gets(void **state)
{
	int n;

	(void)state;
	reset_runs(0, 0);
	task = (struct sched_periodic){ .name = "c", .period_ms = PERIOD_MS, .run = periodic_fn,
					.once_per_cluster = true };
	start();
	sleep_ms(600);
	actor_system_stop_kind(sys, &sched_kind);
	actor_system_stop_kind(sys, &worker_kind);
	n = atomic_load(&runs);
	assert_true(n >= 3);
	/* The scripted lock gives only even slots. */
	for (int i = 0; i < n && i < MAX_RUNS; i++)
		assert_int_equal(run_log[i].slot % 2, 0);
	assert_true(metric("actord_periodic_elsewhere_total{task=\"c\"} ") >= n - 1);
	/* Each run released its lock; short runs keep the key to the slot's end. */
	actor_system_stop_kind(sys, &lock_kind);
	assert_true(atomic_load(&releases) >= n - 1);
	assert_true(atomic_load(&releases_kept) >= n - 1);
	stop();
}

static void test_a_lock_service_that_fails_skips_the_runs(void **state)
{
	(void)state;
	reset_runs(0, 0);
	task = (struct sched_periodic){ .name = "d", .period_ms = PERIOD_MS, .run = periodic_fn,
					.once_per_cluster = true };
	start();
	atomic_store(&lock_down, true);
	sleep_ms(300);
	actor_system_stop_kind(sys, &sched_kind);
	assert_int_equal(atomic_load(&runs), 0);    /* never without the lock */
	assert_true(metric("actord_periodic_failures_total{task=\"d\"} ") >= 3);
	stop();
}

static void test_registration_refuses_what_cannot_work(void **state)
{
	struct sched_setup *s = calloc(1, sizeof(*s));
	const struct sched_periodic bad_name = { .name = "a b", .period_ms = 1, .run = periodic_fn };
	const struct sched_periodic no_period = { .name = "x", .run = periodic_fn };
	const struct sched_periodic ok = { .name = "x", .period_ms = 1, .run = periodic_fn };
	const struct sched_queue dup = { .name = "x", .capacity = 1, .concurrency = 1,
					 .max_attempts = 1, .run = item_fn };
	char err[256];

	(void)state;
	assert_int_equal(sched_add_periodic(s, &bad_name, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "a b"));
	assert_int_equal(sched_add_periodic(s, &no_period, err, sizeof(err)), -EINVAL);
	assert_int_equal(sched_add_periodic(s, &ok, err, sizeof(err)), 0);
	assert_int_equal(sched_add_queue(s, &dup, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "taken"));
	free(s);
}

static void test_once_per_cluster_needs_a_lock_service(void **state)
{
	static const sched_setup_fn fns[] = { setup_fn };
	char err[256];

	(void)state;
	task = (struct sched_periodic){ .name = "c", .period_ms = PERIOD_MS, .run = periodic_fn,
					.once_per_cluster = true };
	config_defaults(&cfg);
	metrics_reset();
	sys = actor_system_create();
	assert_int_equal(sched_add_pool(sys, &cfg, fns, 1, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "once per cluster"));
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_items_run_and_failures_are_retried),
		cmocka_unit_test(test_a_full_queue_answers_eagain),
		cmocka_unit_test(test_a_periodic_task_keeps_its_schedule_and_never_overlaps),
		cmocka_unit_test(test_periodic_failures_are_counted_and_the_schedule_goes_on),
		cmocka_unit_test(test_once_per_cluster_runs_the_slots_whose_lock_it_gets),
		cmocka_unit_test(test_a_lock_service_that_fails_skips_the_runs),
		cmocka_unit_test(test_registration_refuses_what_cannot_work),
		cmocka_unit_test(test_once_per_cluster_needs_a_lock_service),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
