/*
 * test_signals.c - server/signals.c with real signals: SIGHUP reloads a
 * valid file (fixed settings kept) and survives an invalid one; SIGTERM
 * drains, waiting for the drain actors but never past drain_timeout_ms; a
 * second signal forces the exit.
 *
 * Thread: the test thread runs the control loop; a helper thread sends the
 * signals; "fnet" actors play the network actors (each holds its drain
 * message for `delay_ms`, then frees it).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "actors/actor.h"
#include "config/config.h"
#include "actors/metrics.h"
#include "server/daemon.h"
#include "actors/log.h"
#include "tests/unit/common/scratch_dir.h"
#include "server/signals.h"

static const struct actor_kind fnet_kind = { "fnet" };

#define FNET_DRAIN 0x44520001u

static char cfg_path[256];
static uint32_t delay_ms;

struct fnet {
	ev_timer done_w;
	struct msg *drain;
};

static void on_drained(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fnet *f = w->data;

	(void)loop;
	(void)revents;
	msg_free(f->drain);
	f->drain = NULL;
}

static int on_fnet_start(struct actor *a)
{
	struct fnet *f = calloc(1, sizeof(*f));

	ev_timer_init(&f->done_w, on_drained, delay_ms / 1000.0, 0.);
	f->done_w.data = f;
	actor_set_state(a, f);
	return 0;
}

static void on_fnet_message(struct actor *a, struct msg *m)
{
	struct fnet *f = actor_state(a);

	assert_int_equal(m->type, FNET_DRAIN);
	f->drain = m;
	ev_timer_start(actor_loop(a), &f->done_w);
}

static void on_fnet_stop(struct actor *a)
{
	struct fnet *f = actor_state(a);

	ev_timer_stop(actor_loop(a), &f->done_w);
	msg_free(f->drain);       /* stopped before it finished */
	free(f);
}

static const struct actor_ops fnet_ops = {
	.start = on_fnet_start, .message = on_fnet_message, .stop = on_fnet_stop,
};
static const struct signals_drain drain = { .kind = &fnet_kind, .msg_type = FNET_DRAIN };

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	fputs(text, fp);
	fclose(fp);
}

static struct actor_system *start(const char *json, uint32_t fnet_delay_ms)
{
	struct actor_pool_spec f = { .kind = &fnet_kind, .count = 2, .mbox_capacity = 8,
				     .ops = &fnet_ops };
	struct actor_system *sys = actor_system_create();
	struct ad_config *cfg;
	char err[512];

	delay_ms = fnet_delay_ms;
	write_file(cfg_path, json);
	cfg = config_load(cfg_path, err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	config_publish(cfg);
	if (log_add_pool(sys, cfg, err, sizeof(err)) != 0 ||
	    actor_system_add_pool(sys, &f, err, sizeof(err)) == ACTOR_ADDR_NONE ||
	    actor_system_start(sys, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	metrics_set_serving(true);
	return sys;
}

static void stop(struct actor_system *sys)
{
	actor_system_stop_kind(sys, &fnet_kind);
	actor_system_stop_kind(sys, &log_kind);
	actor_system_destroy(sys);
	log_shutdown();
	config_retire_all();
}

static bool log_contains(const char *needle)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/s.log", scratch_dir);
	return strstr(scratch_slurp(path), needle) != NULL;
}

static bool wait_until(bool (*cond)(void), unsigned ms)
{
	for (unsigned i = 0; i < ms / 5; i++) {
		if (cond())
			return true;
		usleep(5000);
	}
	return cond();
}

static bool reloaded(void)
{
	return config_current()->http.max_headers == 20;
}

static bool reload_failed(void)
{
	return log_contains("reload failed, still running the previous configuration: ");
}

static void *reload_then_term(void *arg)
{
	(void)arg;
	write_file(cfg_path, "{\"listen\": [\"127.0.0.1:9999\"], \"http\": {\"max_headers\": 20},"
		   " \"log\": {\"file\": \"s.log\"}, \"drain_timeout_ms\": 5000}");
	kill(getpid(), SIGHUP);
	assert_true(wait_until(reloaded, 3000));
	write_file(cfg_path, "{\"http\": {\"max_headers\": 30,}}");
	kill(getpid(), SIGHUP);
	assert_true(wait_until(reload_failed, 3000));
	kill(getpid(), SIGTERM);
	return NULL;
}

static uint64_t ms_since(uint64_t t0)
{
	return (mbox_now_ns() - t0) / 1000000u;
}

static void test_sighup_reloads_and_sigterm_waits_for_the_drain(void **state)
{
	struct actor_system *sys = start("{\"http\": {\"max_headers\": 10},"
					 " \"log\": {\"file\": \"s.log\"}, \"drain_timeout_ms\": 5000}",
					 300);
	pthread_t helper;

	(void)state;
	pthread_create(&helper, NULL, reload_then_term, NULL);
	assert_int_equal(signals_run(sys, cfg_path, &drain), SIGNALS_DRAINED);
	pthread_join(helper, NULL);
	/* The valid reload took effect, except what needs a restart. */
	assert_int_equal(config_current()->http.max_headers, 20);
	assert_int_equal(config_current()->listen[0].port, 8080);
	assert_false(metrics_serving());
	stop(sys);
	assert_true(log_contains("reload: listen changed; that takes a restart"));
	assert_true(log_contains("invalid JSON"));
	assert_true(log_contains("\"msg\":\"drained\""));
}

static void *term(void *arg)
{
	kill(getpid(), SIGTERM);
	if (arg != NULL) {
		usleep(100000);
		kill(getpid(), SIGINT);
	}
	return NULL;
}

/* Run the control loop of `sys` while a helper thread sends SIGTERM (and
 * SIGINT after it when `twice`), check how the loop ended, then stop `sys`.
 * Returns how long the loop ran, in ms. */
static uint64_t run_terminated(struct actor_system *sys, bool twice, enum signals_outcome want)
{
	pthread_t helper;
	uint64_t t0 = mbox_now_ns(), took;

	pthread_create(&helper, NULL, term, twice ? "twice" : NULL);
	assert_int_equal(signals_run(sys, cfg_path, &drain), want);
	took = ms_since(t0);
	pthread_join(helper, NULL);
	stop(sys);
	return took;
}

static void test_drain_waits_for_the_actors(void **state)
{
	struct actor_system *sys = start("{\"log\": {\"file\": \"s.log\"}}", 300);
	uint64_t took = run_terminated(sys, false, SIGNALS_DRAINED);

	(void)state;
	assert_true(took >= 290);
	assert_true(took < 3000);
}

static void test_drain_stops_at_the_deadline(void **state)
{
	struct actor_system *sys = start("{\"log\": {\"file\": \"s.log\"},"
					 " \"drain_timeout_ms\": 150}", 10000);
	uint64_t took = run_terminated(sys, false, SIGNALS_DRAINED);

	(void)state;
	assert_true(took >= 140);
	assert_true(took < 3000);
	assert_true(log_contains("drain deadline (150 ms) passed with 2 fnet actor(s) still busy"));
}

static void test_second_signal_forces_the_exit(void **state)
{
	struct actor_system *sys = start("{\"log\": {\"file\": \"s.log\"},"
					 " \"drain_timeout_ms\": 60000}", 10000);
	uint64_t took = run_terminated(sys, true, SIGNALS_FORCED);

	(void)state;
	assert_true(took < 3000);
	assert_true(log_contains("second SIGINT while draining: exiting now"));
}

static int setup(void **state)
{
	if (scratch_dir_setup(state) != 0)
		return -1;
	snprintf(cfg_path, sizeof(cfg_path), "%s/actord.json", scratch_dir);
	/* As main.c does: before any thread, so every thread inherits it. */
	return signals_block_all();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sighup_reloads_and_sigterm_waits_for_the_drain),
		cmocka_unit_test(test_drain_waits_for_the_actors),
		cmocka_unit_test(test_drain_stops_at_the_deadline),
		cmocka_unit_test(test_second_signal_forces_the_exit),
	};

	return cmocka_run_group_tests(tests, setup, scratch_dir_teardown);
}
