/*
 * test_cache.c - the cache actor and its Redis connection (rconn) against
 * a real redis-server started by the test: commands and typed replies,
 * Redis errors, many requests in flight, command deadlines on a stalled
 * server, and a server that dies and comes back (reconnect, readiness,
 * counters). Runs under the sanitizers: the test thread, a client actor
 * and the cache actor are three threads.
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

#include <cmocka.h>

#include "actors/actor.h"
#include "actors/call.h"
#include "actors/metrics.h"
#include "config/config.h"
#include "storage/cache.h"
#include "storage/rconn.h"
#include "storage/storage.h"
#include "tests/unit/common/metrics_text.h"
#include "tests/unit/common/step_client.h"
#include "redis_server.h"


#define MAX_VALUES 16

static struct redis_server redis;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- A client actor that runs steps sent by the test thread ---- */

/* What a reply said, copied for the test thread. */
struct outcome {
	int status;
	unsigned n;
	enum cache_type type[MAX_VALUES];
	int64_t integer[MAX_VALUES];
	char str[MAX_VALUES][64];
	unsigned nelem[MAX_VALUES];
};

/* Shared between the test thread and the client actor: the actor writes
 * out[] and counts each outcome with step_client_done(). */
struct shared {
	struct actor_system *sys;
	struct outcome out[1024];
};

static struct shared sh;

static void record(struct call_msg *reply, void *ctx, void *arg)
{
	struct outcome *o = &sh.out[(uintptr_t)arg];

	(void)ctx;
	o->status = reply->status;
	o->n = 0;
	for (unsigned i = 0; i < MAX_VALUES; i++) {
		const struct cache_value *v = cache_result(reply, i);

		if (v == NULL)
			break;
		o->type[i] = v->type;
		o->integer[i] = v->integer;
		snprintf(o->str[i], sizeof(o->str[i]), "%s", v->str != NULL ? v->str : "");
		o->nelem[i] = (unsigned)v->nelem;
		if (v->type == CACHE_ARRAY && v->nelem > 0)
			snprintf(o->str[i], sizeof(o->str[i]), "%s",
				 v->elem[0].str != NULL ? v->elem[0].str : "(nil)");
		o->n++;
	}
	step_client_done();
}

/* Send `q` to the cache actor; its outcome goes to out[slot]. */
static void send_req(struct actor *a, struct cache_req *q, unsigned slot)
{
	actor_addr_t to = actor_system_find_kind(actor_sys(a), &cache_kind, NULL);
	int rc = call_send(step_client_calls(a), to, cache_req_call(q), record, NULL,
			   (void *)(uintptr_t)slot);

	if (rc != 0) {
		msg_free(&cache_req_call(q)->m);
		sh.out[slot].status = rc;
		step_client_done();
	}
}

/* Run `step` on the client actor and wait until `want` outcomes are in. */
static void run(void (*step)(struct actor *a), int want, int timeout_ms)
{
	step_client_run(sh.sys, step, want, timeout_ms);
}

/* ---- Fixture ---- */

/* command_timeout_ms: short where a test waits for it to fire, long where
 * a burst must come back whole on a loaded machine under TSan. */
static int setup_host(const char *host, int command_timeout_ms)
{
	struct actor_pool_spec client = { .kind = &step_client_kind, .count = 1, .mbox_capacity = 64,
					  .ops = &step_client_ops };
	char text[256], err[256];
	struct ad_config *cfg;

	redis_server_init(&redis, "cache");
	snprintf(text, sizeof(text),
		 "{\"redis\": {\"host\": \"%s\", \"port\": %d, \"command_timeout_ms\": %d,"
		 " \"reconnect_max_ms\": 100}}", host, redis.port, command_timeout_ms);
	cfg = config_parse("test.json", text, err, sizeof(err));
	assert_non_null(cfg);
	config_publish(cfg);
	metrics_reset();
	memset(&sh, 0, sizeof(sh));
	sh.sys = actor_system_create();
	assert_int_equal(cache_add_pool(sh.sys, cfg, err, sizeof(err)), 0);
	assert_true(actor_system_add_pool(sh.sys, &client, err, sizeof(err)) != ACTOR_ADDR_NONE);
	assert_int_equal(actor_system_start(sh.sys, err, sizeof(err)), 0);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return setup_host("127.0.0.1", 300);
}

static int setup_patient(void **state)
{
	(void)state;
	return setup_host("127.0.0.1", 10000);
}

/* A host name: the cache actor resolves it with c-ares (hosts file here)
 * instead of hiredis' blocking getaddrinfo. */
static int setup_by_name(void **state)
{
	(void)state;
	return setup_host("localhost", 300);
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

static void step_commands(struct actor *a)
{
	struct cache_req *q = cache_req_new();
	const char *keys[] = { "k", "missing", "n" };
	const size_t lens[] = { 1, 7, 1 };

	cache_req_set(q, "k", 1, "v\0x", 3, 10000);
	cache_req_get(q, "k", 1);
	cache_req_incr(q, "n", 1);
	cache_req_incr(q, "n", 1);
	cache_req_mget(q, 3, keys, lens);
	cache_req_expire(q, "k", 1, 5000);
	cache_req_del(q, "k", 1);
	cache_req_get(q, "k", 1);
	cache_req_command(q, 2, (const char *[]){ "TTL", "n" }, (const size_t[]){ 3, 1 });
	send_req(a, q, 0);
}

static void test_commands_come_back_as_typed_values_in_order(void **state)
{
	struct outcome *o = &sh.out[0];

	(void)state;
	run(step_commands, 1, 5000);
	assert_int_equal(o->status, 0);
	assert_int_equal(o->n, 9);
	assert_int_equal(o->type[0], CACHE_STATUS);
	assert_string_equal(o->str[0], "OK");
	assert_int_equal(o->type[1], CACHE_STRING);
	assert_string_equal(o->str[1], "v");            /* binary-safe: "v\0x" */
	assert_int_equal(o->type[2], CACHE_INTEGER);
	assert_int_equal(o->integer[2], 1);
	assert_int_equal(o->integer[3], 2);
	assert_int_equal(o->type[4], CACHE_ARRAY);
	assert_int_equal(o->nelem[4], 3);
	assert_int_equal(o->integer[5], 1);             /* PEXPIRE set */
	assert_int_equal(o->integer[6], 1);             /* DEL removed one */
	assert_int_equal(o->type[7], CACHE_NIL);
	assert_int_equal(o->integer[8], -1);            /* TTL: no expiry */
}

static void test_a_host_name_is_resolved_without_blocking(void **state)
{
	struct outcome *o = &sh.out[0];

	(void)state;
	run(step_commands, 1, 5000);
	assert_int_equal(o->status, 0);
	assert_int_equal(o->n, 9);
	assert_string_equal(o->str[0], "OK");
}

static void step_wrong_type(struct actor *a)
{
	struct cache_req *q = cache_req_new();

	cache_req_set(q, "s", 1, "text", 4, 0);
	cache_req_incr(q, "s", 1);
	send_req(a, q, 0);
}

static void test_a_redis_error_fails_the_call_as_bad_request(void **state)
{
	(void)state;
	run(step_wrong_type, 1, 5000);
	assert_int_equal(sh.out[0].status, -EBADMSG);
}

/* Each request's commands run in order on one connection: the first
 * makes the server refuse what follows. */
static void step_refusals(struct actor *a)
{
	const char *noreplicas[] = { "CONFIG", "SET", "min-replicas-to-write", "1" };
	const size_t noreplicas_lens[] = { 6, 3, 21, 1 };
	const char *none[] = { "CONFIG", "SET", "min-replicas-to-write", "0" };
	const char *oom[] = { "CONFIG", "SET", "maxmemory", "1" };
	const size_t oom_lens[] = { 6, 3, 9, 1 };
	const char *unlimited[] = { "CONFIG", "SET", "maxmemory", "0" };
	const char *group[] = { "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM" };
	const size_t group_lens[] = { 6, 6, 1, 1, 1, 8 };
	struct cache_req *q = cache_req_new();

	cache_req_command(q, 4, noreplicas, noreplicas_lens);
	cache_req_set(q, "k", 1, "v", 1, 0);
	cache_req_command(q, 4, none, noreplicas_lens);
	send_req(a, q, 0);
	q = cache_req_new();
	cache_req_command(q, 4, oom, oom_lens);
	cache_req_set(q, "k", 1, "v", 1, 0);
	cache_req_command(q, 4, unlimited, oom_lens);
	send_req(a, q, 1);
	q = cache_req_new();
	cache_req_command(q, 6, group, group_lens);
	cache_req_command(q, 6, group, group_lens);      /* BUSYGROUP */
	send_req(a, q, 2);
}

static void test_writes_refused_for_now_are_retry_later_but_busygroup_is_not(void **state)
{
	(void)state;
	run(step_refusals, 3, 5000);
	assert_int_equal(sh.out[0].status, -EAGAIN);     /* NOREPLICAS */
	assert_int_equal(sh.out[1].status, -EAGAIN);     /* OOM */
	assert_int_equal(sh.out[2].status, -EBADMSG);    /* BUSYGROUP: never cured */
}

static void step_transaction(struct actor *a)
{
	struct cache_req *q = cache_req_new();

	cache_req_command(q, 1, (const char *[]){ "MULTI" }, (const size_t[]){ 5 });
	cache_req_set(q, "t", 1, "text", 4, 0);
	cache_req_incr(q, "t", 1);                       /* queued; fails in EXEC */
	cache_req_command(q, 1, (const char *[]){ "EXEC" }, (const size_t[]){ 4 });
	send_req(a, q, 0);
}

static void test_an_error_inside_an_exec_reply_fails_the_call(void **state)
{
	(void)state;
	run(step_transaction, 1, 5000);
	assert_int_equal(sh.out[0].status, -EBADMSG);    /* not a nil "missing key" */
}

static void step_many(struct actor *a)
{
	for (unsigned i = 0; i < 1000; i++) {
		struct cache_req *q = cache_req_new();
		char key[16];

		cache_req_incr(q, key, (size_t)snprintf(key, sizeof(key), "c%u", i % 10));
		send_req(a, q, i);
	}
}

static void test_many_requests_in_flight_all_come_back(void **state)
{
	int64_t total = 0;

	(void)state;
	run(step_many, 1000, 20000);
	for (unsigned i = 0; i < 1000; i++) {
		assert_int_equal(sh.out[i].status, 0);
		total += sh.out[i].integer[0];
	}
	/* Ten counters counted to 100 each: sum of 1..100, ten times. */
	assert_int_equal(total, 10 * 5050);
}

static void step_pause(struct actor *a)
{
	struct cache_req *q = cache_req_new();

	cache_req_command(q, 3, (const char *[]){ "CLIENT", "PAUSE", "1000" },
			  (const size_t[]){ 6, 5, 4 });
	send_req(a, q, 0);
}

static void step_get(struct actor *a)
{
	struct cache_req *q = cache_req_new();

	cache_req_get(q, "k", 1);
	send_req(a, q, 0);
}

static bool get_works(void)
{
	run(step_get, 1, 5000);
	return sh.out[0].status == 0;
}

static void test_a_stalled_server_times_out_and_the_connection_is_remade(void **state)
{
	struct timespec t0, t1;

	(void)state;
	run(step_pause, 1, 5000);
	assert_int_equal(sh.out[0].status, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run(step_get, 1, 5000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(sh.out[0].status, -ETIMEDOUT);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	for (int i = 0; i < 100 && !get_works(); i++)
		sleep_ms(50);
	assert_int_equal(sh.out[0].status, 0);
}

static bool redis_ready(void)
{
	cJSON *out = cJSON_CreateObject();
	bool ok = metrics_run_checks(out);

	cJSON_Delete(out);
	return ok;
}

static void test_redis_down_is_refused_at_once_and_recovered(void **state)
{
	char *text;

	(void)state;
	assert_true(get_works());
	assert_true(redis_ready());
	redis_server_kill(&redis);
	for (int i = 0; i < 100 && get_works(); i++)
		sleep_ms(10);
	assert_true(sh.out[0].status == -ENOTCONN || sh.out[0].status == -ECONNREFUSED);
	assert_false(redis_ready());
	redis_server_start(&redis);
	for (int i = 0; i < 100 && !get_works(); i++)
		sleep_ms(20);
	assert_int_equal(sh.out[0].status, 0);
	assert_true(redis_ready());
	text = metrics_text();
#define LABELS "{backend=\"redis\",actor=\"cache-0\"}"
	assert_non_null(strstr(text, "actord_backend_connected" LABELS " 1"));
	assert_null(strstr(text, "actord_backend_reconnects_total" LABELS " 0"));
#undef LABELS
	free(text);
}

/* rconn on its own, as an actor that owns a connection uses it: state
 * callbacks and the argv command path, driven by a loop on this thread. */
struct direct {
	struct ev_loop *loop;
	int ups, downs, replies;
	long long value;
	int status;
};

static void direct_state(void *ctx, bool up)
{
	struct direct *d = ctx;

	if (up)
		d->ups++;
	else
		d->downs++;
	ev_break(d->loop, EVBREAK_ONE);
}

static void direct_reply(void *arg, int status, const redisReply *reply)
{
	struct direct *d = arg;

	d->replies++;
	d->status = status;
	d->value = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
	ev_break(d->loop, EVBREAK_ONE);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ONE);
}

/* Run `loop` until a callback breaks it, or 5 s at most. */
static void run_loop(struct ev_loop *loop)
{
	ev_timer dog;

	ev_timer_init(&dog, on_watchdog, 5., 0.);
	ev_timer_start(loop, &dog);
	ev_run(loop, 0);
	ev_timer_stop(loop, &dog);
}

static void test_rconn_reports_its_state_and_runs_argv_commands(void **state)
{
	struct direct d = { .loop = ev_loop_new(EVFLAG_AUTO) };
	struct rconn_opts opts = { .on_state = direct_state, .ctx = &d };
	struct rconn *c = rconn_create(d.loop, &opts);
	const char *argv[] = { "INCRBY", "direct", "5" };
	const size_t lens[] = { 6, 6, 1 };

	(void)state;
	assert_non_null(c);
	run_loop(d.loop);                        /* until connected */
	assert_int_equal(d.ups, 1);
	assert_true(rconn_connected(c));
	assert_int_equal(rconn_command(c, 0, direct_reply, &d, 3, argv, lens), 0);
	run_loop(d.loop);
	assert_int_equal(d.status, 0);
	assert_int_equal(d.value, 5);
	redis_server_kill(&redis);
	run_loop(d.loop);                        /* until the loss is seen */
	assert_int_equal(d.downs, 1);
	assert_false(rconn_connected(c));
	assert_int_equal(rconn_command(c, 0, direct_reply, &d, 3, argv, lens), -ENOTCONN);
	rconn_destroy(c);
	ev_loop_destroy(d.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_host_name_is_resolved_without_blocking,
						setup_by_name, teardown),
		cmocka_unit_test_setup_teardown(test_commands_come_back_as_typed_values_in_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_redis_error_fails_the_call_as_bad_request,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_writes_refused_for_now_are_retry_later_but_busygroup_is_not, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_an_error_inside_an_exec_reply_fails_the_call,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_requests_in_flight_all_come_back,
						setup_patient, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_stalled_server_times_out_and_the_connection_is_remade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_down_is_refused_at_once_and_recovered,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rconn_reports_its_state_and_runs_argv_commands,
						setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
