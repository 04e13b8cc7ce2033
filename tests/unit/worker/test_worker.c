/*
 * test_worker.c - the worker actors (worker/worker.h) in a real actor
 * system: a client actor (step_client) submits tasks with call_send, as
 * routes (hreq_work) and job types (job_call) do.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "actors/actor.h"
#include "actors/call.h"
#include "actors/metrics.h"
#include "base/clock.h"
#include "config/config.h"
#include "worker/worker.h"
#include "tests/unit/common/metrics_text.h"
#include "tests/unit/common/step_client.h"

static struct actor_system *sys;
static struct ad_config cfg;

/* What the tasks did, read by the test thread after step_client_run. */
static atomic_int ran, freed, status_sum, got_shutdown, got_timeout, got_ok, got_ran;
static atomic_bool release_gate;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void start(unsigned workers, uint32_t mailbox)
{
	char err[256];

	config_defaults(&cfg);
	cfg.worker = (struct config_actors){ workers, mailbox };
	metrics_reset();
	sys = actor_system_create();
	assert_non_null(sys);
	struct actor_pool_spec client = {
		.kind = &step_client_kind, .count = 1, .mbox_capacity = 4096, .ops = &step_client_ops,
	};
	assert_int_not_equal(actor_system_add_pool(sys, &client, err, sizeof(err)), ACTOR_ADDR_NONE);
	assert_int_equal(worker_add_pool(sys, &cfg, err, sizeof(err)), 0);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
	atomic_store(&ran, 0);
	atomic_store(&freed, 0);
	atomic_store(&status_sum, 0);
	atomic_store(&got_shutdown, 0);
	atomic_store(&got_timeout, 0);
	atomic_store(&got_ok, 0);
	atomic_store(&got_ran, 0);
	atomic_store(&release_gate, false);
}

static void stop(void)
{
	actor_system_destroy(sys);
	sys = NULL;
}

/* ---- Tasks ---- */

struct square {
	int in;
	int out;
	pthread_t thread;
	int *owned;                   /* freed by the cleanup */
};

static int square_fn(void *arg)
{
	struct square *s = arg;

	s->out = s->in * s->in;
	s->thread = pthread_self();
	atomic_fetch_add(&ran, 1);
	return s->in == 13 ? -EIO : 0;
}

static void square_cleanup(void *arg)
{
	struct square *s = arg;

	free(s->owned);
	atomic_fetch_add(&freed, 1);
}

static struct worker_task *square_task(int in)
{
	struct worker_task *t = worker_task_new(square_fn, sizeof(struct square), square_cleanup);
	struct square *s;

	assert_non_null(t);
	s = worker_task_arg(t);
	s->in = in;
	s->owned = malloc(16);
	return t;
}

static int send_task(struct actor *a, struct worker_task *t, call_fn k, void *arg)
{
	struct call_table *calls = step_client_calls(a);

	return call_send(calls, call_pick(calls, &worker_kind), worker_task_call(t), k, NULL, arg);
}

/* ---- A result comes back to the caller ---- */

static void on_square(struct call_msg *reply, void *ctx, void *arg)
{
	struct square *s = worker_reply_arg(reply);

	(void)ctx;
	(void)arg;
	/* The function ran on a worker thread, never on the caller's. */
	assert_false(pthread_equal(s->thread, pthread_self()));
	assert_int_equal(s->out, s->in * s->in);
	assert_true(worker_reply_run_ns(reply) > 0);
	assert_true(worker_reply_ran(reply));
	atomic_fetch_add(&status_sum, reply->status);
	step_client_done();
}

static void step_squares(struct actor *a)
{
	for (int i = 10; i < 20; i++)
		assert_int_equal(send_task(a, square_task(i), on_square, NULL), 0);
}

static void test_a_task_runs_on_a_worker_and_its_result_comes_back(void **state)
{
	(void)state;
	start(2, 64);
	step_client_run(sys, step_squares, 10, 5000);
	assert_int_equal(atomic_load(&ran), 10);
	/* The function's return value is the reply's status (13 fails). */
	assert_int_equal(atomic_load(&status_sum), -EIO);
	stop();
	/* Every task's cleanup ran once, when its reply was freed. */
	assert_int_equal(atomic_load(&freed), 10);
}

/* ---- A slow task never holds up the ones behind it ---- */

static int gate_fn(void *arg)
{
	(void)arg;
	while (!atomic_load(&release_gate))
		sleep_ms(1);
	atomic_fetch_add(&ran, 1);
	return 0;
}

static void on_any(struct call_msg *reply, void *ctx, void *arg)
{
	(void)ctx;
	(void)arg;
	if (worker_reply_ran(reply))
		atomic_fetch_add(&got_ran, 1);
	if (reply->status == -ESHUTDOWN)
		atomic_fetch_add(&got_shutdown, 1);
	else if (reply->status == -ETIMEDOUT)
		atomic_fetch_add(&got_timeout, 1);
	else if (reply->status == 0)
		atomic_fetch_add(&got_ok, 1);
	step_client_done();
}

static void step_gate_then_squares(struct actor *a)
{
	assert_int_equal(send_task(a, worker_task_new(gate_fn, 0, NULL), on_any, NULL), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(send_task(a, square_task(2), on_any, NULL), 0);
}

static void test_a_blocked_worker_does_not_hold_up_the_pool(void **state)
{
	(void)state;
	start(3, 256);
	/* One worker blocks until released; the other two run all 200. */
	step_client_run(sys, step_gate_then_squares, 200, 10000);
	assert_int_equal(atomic_load(&got_ok), 200);
	atomic_store(&release_gate, true);
	for (int i = 0; i < 5000 && atomic_load(&got_ok) < 201; i++)
		sleep_ms(1);
	assert_int_equal(atomic_load(&got_ok), 201);
	stop();
}

/* ---- Deadlines and a full pool ---- */

static void step_expired(struct actor *a)
{
	struct worker_task *t = square_task(3);

	/* Already past: a worker must answer without running it. */
	worker_task_call(t)->deadline_ns = clock_now_ns() - 1;
	assert_int_equal(send_task(a, t, on_any, NULL), 0);
}

static void test_a_task_past_its_deadline_never_runs(void **state)
{
	char *text;

	(void)state;
	start(1, 16);
	step_client_run(sys, step_expired, 1, 5000);
	assert_int_equal(atomic_load(&got_timeout), 1);
	assert_int_equal(atomic_load(&ran), 0);
	assert_int_equal(atomic_load(&got_ran), 0);        /* the pool's -ETIMEDOUT */
	text = metrics_text();
	assert_non_null(strstr(text, "actord_worker_expired_total{actor=\"worker-0\"} 1"));
	free(text);
	stop();
	assert_int_equal(atomic_load(&freed), 1);
}

/* A function's own -ETIMEDOUT (its blocking call timed out) is told from
 * the pool's by worker_reply_ran, and counted as an error, not an expiry. */
static int own_timeout_fn(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
	return -ETIMEDOUT;
}

static void step_own_timeout(struct actor *a)
{
	assert_int_equal(send_task(a, worker_task_new(own_timeout_fn, 0, NULL), on_any, NULL), 0);
}

static void test_a_task_that_times_out_itself_is_told_from_the_pools_timeout(void **state)
{
	char *text;

	(void)state;
	start(1, 16);
	step_client_run(sys, step_own_timeout, 1, 5000);
	assert_int_equal(atomic_load(&got_timeout), 1);
	assert_int_equal(atomic_load(&ran), 1);
	assert_int_equal(atomic_load(&got_ran), 1);
	text = metrics_text();
	assert_non_null(strstr(text, "actord_worker_task_errors_total{actor=\"worker-0\"} 1"));
	assert_non_null(strstr(text, "actord_worker_expired_total{actor=\"worker-0\"} 0"));
	free(text);
	stop();
}

static atomic_int refused_sends;

static void step_fill(struct actor *a)
{
	int sent = 0;

	/* One worker, held at the gate; its mailbox holds 4 more. */
	atomic_store(&refused_sends, 0);
	assert_int_equal(send_task(a, worker_task_new(gate_fn, 0, NULL), on_any, NULL), 0);
	sent++;
	for (int i = 0; i < 10; i++) {
		struct worker_task *t = square_task(1);
		int rc = send_task(a, t, on_any, NULL);

		if (rc == 0) {
			sent++;
			continue;
		}
		/* A full pool is an answer at once, and the task stays ours. */
		assert_int_equal(rc, -EAGAIN);
		worker_task_free(t);
		atomic_fetch_add(&refused_sends, 1);
	}
	step_client_done();
}

static void test_a_full_pool_answers_eagain_and_loses_nothing(void **state)
{
	(void)state;
	start(1, 4);
	/* The refused sends are answered at once; the accepted ones wait at
	 * the gate (no reply counts before it opens). */
	step_client_run(sys, step_fill, 1, 5000);
	assert_true(atomic_load(&refused_sends) >= 5);
	atomic_store(&release_gate, true);
	/* Every accepted task runs and comes back. */
	for (int i = 0; i < 5000 && atomic_load(&got_ok) < 11 - atomic_load(&refused_sends); i++)
		sleep_ms(1);
	assert_int_equal(atomic_load(&got_ok), 11 - atomic_load(&refused_sends));
	stop();
	/* Sent, refused and returned tasks were all freed exactly once. */
	assert_int_equal(atomic_load(&freed), 10);
}

/* ---- Stopping drains the running task, refuses the queued ones ---- */

static void step_gate_and_queue(struct actor *a)
{
	assert_int_equal(send_task(a, worker_task_new(gate_fn, 0, NULL), on_any, NULL), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(send_task(a, square_task(4), on_any, NULL), 0);
	step_client_done();
}

static void *release_later(void *arg)
{
	(void)arg;
	sleep_ms(100);
	atomic_store(&release_gate, true);
	return NULL;
}

static void test_stopping_finishes_the_running_task_and_refuses_queued_ones(void **state)
{
	pthread_t th;

	(void)state;
	start(1, 16);
	step_client_run(sys, step_gate_and_queue, 1, 5000);
	sleep_ms(20);   /* the worker holds the gate task */
	pthread_create(&th, NULL, release_later, NULL);
	/* Blocks until the running task ends (released after 100 ms). */
	actor_system_stop_kind(sys, &worker_kind);
	pthread_join(th, NULL);
	for (int i = 0; i < 5000 && atomic_load(&got_ok) + atomic_load(&got_shutdown) < 6; i++)
		sleep_ms(1);
	assert_int_equal(atomic_load(&got_ok), 1);       /* the running one */
	assert_int_equal(atomic_load(&got_shutdown), 5); /* queued: never run */
	assert_int_equal(atomic_load(&ran), 1);
	stop();
	assert_int_equal(atomic_load(&freed), 5);
}

static void test_no_worker_pool_without_workers(void **state)
{
	char err[128];

	(void)state;
	config_defaults(&cfg);
	cfg.worker.count = 0;
	metrics_reset();
	sys = actor_system_create();
	assert_int_equal(worker_add_pool(sys, &cfg, err, sizeof(err)), 0);
	assert_int_equal(actor_system_find_kind(sys, &worker_kind, NULL), ACTOR_ADDR_NONE);
	actor_system_destroy(sys);
	/* A task that is never sent is freed with its cleanup. */
	atomic_store(&freed, 0);
	worker_task_free(square_task(1));
	worker_task_free(NULL);
	assert_int_equal(atomic_load(&freed), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_task_runs_on_a_worker_and_its_result_comes_back),
		cmocka_unit_test(test_a_blocked_worker_does_not_hold_up_the_pool),
		cmocka_unit_test(test_a_task_past_its_deadline_never_runs),
		cmocka_unit_test(test_a_task_that_times_out_itself_is_told_from_the_pools_timeout),
		cmocka_unit_test(test_a_full_pool_answers_eagain_and_loses_nothing),
		cmocka_unit_test(test_stopping_finishes_the_running_task_and_refuses_queued_ones),
		cmocka_unit_test(test_no_worker_pool_without_workers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
