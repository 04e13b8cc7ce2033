/*
 * test_job.c - the job actor against a real redis-server started by the
 * test: jobs enqueued by another actor run and report their results, a
 * failed attempt is retried after its backoff, a job type may enqueue a
 * job itself (a call to its own job actor), a payload its type's check
 * refuses without a message fails with a generic one, and stopping the actors with a
 * job running leaves it pending: a new actor system with the same
 * consumer name runs it again. Runs under the sanitizers: the test
 * thread, a client actor and the job actor are three threads, and the
 * stop path frees jobs with timers and calls outstanding.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "actors/actor.h"
#include "actors/call.h"
#include "actors/metrics.h"
#include "config/config.h"
#include "storage/job.h"
#include "tests/unit/common/step_client.h"
#include "redis_server.h"


#define MAX_JOBS 64

static struct redis_server redis;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- Job types for the test ---- */

/* echo: done with its payload. */
static void run_echo(struct job *j, const cJSON *payload)
{
	job_done(j, cJSON_Duplicate(payload, true));
}

/* flaky: the first attempt fails. */
static void run_flaky(struct job *j, const cJSON *payload)
{
	(void)payload;
	if (job_attempt(j) == 1)
		job_failed(j, "first attempts always fail");
	else
		job_done(j, cJSON_CreateString("second time lucky"));
}

/* slow: the first attempt takes {"ms": N}, later ones none. */
static void on_waited(struct job *j, struct call_msg *reply, void *arg)
{
	(void)reply;
	(void)arg;
	job_done(j, cJSON_CreateNumber(job_attempt(j)));
}

static void run_slow(struct job *j, const cJSON *payload)
{
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(payload, "ms");

	if (job_after(j, job_attempt(j) == 1 && cJSON_IsNumber(ms) ? (unsigned)ms->valueint : 0,
		      on_waited, NULL) != 0)
		job_failed(j, "out of memory");
}

/* spawn: enqueues an echo job through the job actors and returns its id. */
static void on_spawned(struct job *j, struct call_msg *reply, void *arg)
{
	(void)arg;
	if (reply->status != 0)
		job_failed(j, "spawn: %s", ad_strerror(reply->status));
	else
		job_done(j, cJSON_CreateString(job_reply_id(reply)));
}

static void run_spawn(struct job *j, const cJSON *payload)
{
	struct job_req *q = job_req_enqueue("echo", "{\"child\":true}", 14, NULL);
	int rc;

	(void)payload;
	rc = q != NULL ? job_call(j, &job_kind, job_req_call(q), on_spawned, NULL) : -ENOMEM;
	if (rc != 0)
		job_failed(j, "spawn: %s", ad_strerror(rc));
}

/* picky: refuses every payload without saying why (job_type.h asks for a
 * message; a type may forget it). */
static int check_picky(const cJSON *payload, const struct ad_config *c, char *err, size_t errlen)
{
	(void)payload;
	(void)c;
	(void)err;
	(void)errlen;
	return -EINVAL;
}

static const struct job_type types[] = {
	{ "echo", NULL, run_echo },
	{ "flaky", NULL, run_flaky },
	{ "slow", NULL, run_slow },
	{ "spawn", NULL, run_spawn },
	{ "picky", check_picky, run_echo },
};

/* ---- A client actor that runs steps sent by the test thread ---- */

struct outcome {
	int status;
	char id[JOB_ID_LEN + 1];
	char state[16];
	char result[128];
	char error[128];
	int attempts, redeliveries;
};

/* Shared between the test thread and the client actor: the test writes a
 * step's inputs before running it; the actor writes out[] and counts each
 * outcome with step_client_done(). */
struct shared {
	struct actor_system *sys;
	const char *type;
	const char *payload;
	unsigned n;
	struct outcome out[MAX_JOBS];
	char ids[MAX_JOBS][JOB_ID_LEN + 1];
};

static struct shared sh;

static void on_enqueued(struct call_msg *reply, void *ctx, void *arg)
{
	struct outcome *o = &sh.out[(uintptr_t)arg];

	(void)ctx;
	o->status = reply->status;
	snprintf(o->id, sizeof(o->id), "%s", reply->status == 0 ? job_reply_id(reply) : "");
	step_client_done();
}

static void on_status(struct call_msg *reply, void *ctx, void *arg)
{
	struct outcome *o = &sh.out[(uintptr_t)arg];
	const char *v;

	(void)ctx;
	o->status = reply->status;
	v = job_reply_field(reply, "state");
	snprintf(o->state, sizeof(o->state), "%s", v != NULL ? v : "");
	v = job_reply_field(reply, "result");
	snprintf(o->result, sizeof(o->result), "%s", v != NULL ? v : "");
	v = job_reply_field(reply, "last_error");
	snprintf(o->error, sizeof(o->error), "%s", v != NULL ? v : "");
	v = job_reply_field(reply, "attempts");
	o->attempts = v != NULL ? atoi(v) : -1;
	v = job_reply_field(reply, "redeliveries");
	o->redeliveries = v != NULL ? atoi(v) : -1;
	step_client_done();
}

static void send_req(struct actor *a, struct job_req *q, call_fn fn, unsigned slot)
{
	actor_addr_t to = actor_system_find_kind(actor_sys(a), &job_kind, NULL);
	int rc = call_send(step_client_calls(a), to, job_req_call(q), fn, NULL,
			   (void *)(uintptr_t)slot);

	if (rc != 0) {
		msg_free(&job_req_call(q)->m);
		sh.out[slot].status = rc;
		step_client_done();
	}
}

static void step_enqueue(struct actor *a)
{
	for (unsigned i = 0; i < sh.n; i++)
		send_req(a, job_req_enqueue(sh.type, sh.payload, strlen(sh.payload), NULL),
			 on_enqueued, i);
}

static void step_status(struct actor *a)
{
	for (unsigned i = 0; i < sh.n; i++)
		send_req(a, job_req_status(sh.ids[i]), on_status, i);
}

/* Run `step` on the client actor for `n` jobs and wait for their outcomes
 * (10 s at most). */
static void run(void (*step)(struct actor *a), unsigned n)
{
	sh.n = n;
	step_client_run(sh.sys, step, (int)n, 10000);
}

/* Enqueue `n` jobs of `type`; their ids go to sh.ids. */
static void enqueue(const char *type, const char *payload, unsigned n)
{
	sh.type = type;
	sh.payload = payload;
	run(step_enqueue, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(sh.out[i].status, 0);
		memcpy(sh.ids[i], sh.out[i].id, sizeof(sh.ids[i]));
	}
}

/* Poll the first `n` jobs until all are in `state` (10 s at most). */
static void wait_state(unsigned n, const char *state)
{
	for (int tries = 0; tries < 1000; tries++) {
		unsigned ok = 0;

		run(step_status, n);
		for (unsigned i = 0; i < n; i++)
			ok += sh.out[i].status == 0 && strcmp(sh.out[i].state, state) == 0;
		if (ok == n)
			return;
		sleep_ms(10);
	}
	fail_msg("jobs did not reach %s: first is '%s'", state, sh.out[0].state);
}

/* ---- Fixture ---- */

static struct ad_config *cfg;

static void system_start(void)
{
	struct actor_pool_spec client = { .kind = &step_client_kind, .count = 1, .mbox_capacity = 256,
					  .ops = &step_client_ops };
	char err[256];

	metrics_reset();
	sh.sys = actor_system_create();
	assert_int_equal(job_add_pool(sh.sys, cfg, types, sizeof(types) / sizeof(types[0]), err,
				      sizeof(err)), 0);
	assert_true(actor_system_add_pool(sh.sys, &client, err, sizeof(err)) != ACTOR_ADDR_NONE);
	assert_int_equal(actor_system_start(sh.sys, err, sizeof(err)), 0);
}

static int setup(void **state)
{
	char text[512], err[256];

	(void)state;
	redis_server_init(&redis, "job");
	snprintf(text, sizeof(text),
		 "{\"redis\": {\"host\": \"127.0.0.1\", \"port\": %d, \"reconnect_max_ms\": 100},"
		 " \"jobs\": {\"instance\": \"test\", \"prefix\": \"tj%d\", \"concurrency\": 16,"
		 " \"backoff_base_ms\": 100, \"backoff_max_ms\": 100, \"retry_poll_ms\": 50,"
		 " \"reclaim_idle_ms\": 60000, \"block_ms\": 200}}",
		 redis.port, (int)getpid());
	cfg = config_parse("test.json", text, err, sizeof(err));
	assert_non_null(cfg);
	config_publish(cfg);
	memset(&sh, 0, sizeof(sh));
	system_start();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	actor_system_destroy(sh.sys);
	redis_server_dispose(&redis);
	config_retire_all();
	metrics_reset();
	return 0;
}

/* ---- Tests ---- */

static void test_enqueued_jobs_run_and_report_their_results(void **state)
{
	(void)state;
	enqueue("echo", "{\"n\":7}", 20);
	wait_state(20, "done");
	for (unsigned i = 0; i < 20; i++) {
		assert_string_equal(sh.out[i].result, "{\"n\":7}");
		assert_int_equal(sh.out[i].attempts, 1);
		assert_int_equal(sh.out[i].redeliveries, 0);
	}
}

static void test_a_failed_attempt_is_retried_after_its_backoff(void **state)
{
	struct timespec t0, t1;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	enqueue("flaky", "{}", 3);
	wait_state(3, "done");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (unsigned i = 0; i < 3; i++) {
		assert_string_equal(sh.out[i].result, "\"second time lucky\"");
		assert_int_equal(sh.out[i].attempts, 2);
	}
	/* backoff_base_ms 100 with up to 50% jitter off. */
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 50);
}

static void test_a_job_type_can_enqueue_a_job(void **state)
{
	char child[JOB_ID_LEN + 1];

	(void)state;
	enqueue("spawn", "{}", 1);
	wait_state(1, "done");
	/* The result is the child's id, as a JSON string. */
	assert_int_equal(strlen(sh.out[0].result), JOB_ID_LEN + 2);
	memcpy(child, sh.out[0].result + 1, JOB_ID_LEN);
	child[JOB_ID_LEN] = '\0';
	assert_true(job_id_valid(child));
	memcpy(sh.ids[0], child, sizeof(child));
	wait_state(1, "done");
	assert_string_equal(sh.out[0].result, "{\"child\":true}");
}

static void test_stopping_leaves_a_running_job_pending_for_the_next_start(void **state)
{
	(void)state;
	enqueue("slow", "{\"ms\":60000}", 2);
	wait_state(2, "running");
	/* Stop with both jobs mid-run (timers armed), then start again under
	 * the same consumer name: its history read finds them at once. */
	actor_system_destroy(sh.sys);
	system_start();
	wait_state(2, "done");
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(sh.out[i].attempts, 2);
		assert_int_equal(sh.out[i].redeliveries, 1);
		assert_string_equal(sh.out[i].result, "2");
	}
}

static void test_a_payload_refused_without_a_message_fails_with_a_generic_one(void **state)
{
	(void)state;
	enqueue("picky", "{}", 1);
	wait_state(1, "failed");
	assert_string_equal(sh.out[0].error, "invalid payload");
}

static void test_an_unknown_job_is_not_found(void **state)
{
	(void)state;
	snprintf(sh.ids[0], sizeof(sh.ids[0]), "%s", "0123456789abcdef0123456789abcdef");
	run(step_status, 1);
	assert_int_equal(sh.out[0].status, -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enqueued_jobs_run_and_report_their_results,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_attempt_is_retried_after_its_backoff,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_job_type_can_enqueue_a_job, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stopping_leaves_a_running_job_pending_for_the_next_start, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_payload_refused_without_a_message_fails_with_a_generic_one, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_an_unknown_job_is_not_found, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
