/*
 * test_actor.c - the actor runtime: start/stop, request/reply between
 * actors, start failures, draining on stop, shared-mailbox pools, stats,
 * replies retried (never dropped) when the caller's mailbox is full,
 * threads named after their actors.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "actors/actor.h"

static const struct actor_kind db_kind = { "db" };
static const struct actor_kind echo_kind = { "echo" };
static const struct actor_kind nope_kind = { "nope" };
static const struct actor_kind replier_kind = { "replier" };
static const struct actor_kind sink_kind = { "sink" };
static const struct actor_kind slow_kind = { "slow" };

enum { T_PING = 1, T_PONG = 2 };

struct tmsg {
	struct msg m;
	int value;
};

static void tmsg_free(struct msg *m)
{
	free(m);
}

static struct tmsg *tmsg_new(uint32_t type, int value)
{
	struct tmsg *t = calloc(1, sizeof(*t));

	msg_init(&t->m, type, tmsg_free);
	t->value = value;
	return t;
}

/* Shared between the test thread and the actors: atomics only. */
struct shared {
	atomic_int pongs;
	atomic_int handled;
	atomic_int stopped;
	atomic_int value_sum;
	int fail_start;
	char thread_name[16];  /* written by "named-0"'s start hook */
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int wait_for(atomic_int *v, int want, int timeout_ms)
{
	for (int i = 0; i < timeout_ms && atomic_load(v) < want; i++)
		sleep_ms(1);
	return atomic_load(v);
}

/* "echo" answers every PING to its reply_to with a PONG, reusing the envelope. */
static void echo_message(struct actor *a, struct msg *m)
{
	struct shared *sh = actor_user(a);

	atomic_fetch_add(&sh->handled, 1);
	atomic_fetch_add(&sh->value_sum, msg_cast(m, struct tmsg)->value);
	if (m->type == T_PING && m->reply_to != MSG_ADDR_NONE) {
		m->type = T_PONG;
		if (actor_send(actor_sys(a), m->reply_to, m) == 0)
			return;
	}
	msg_free(m);
}

static void echo_stop(struct actor *a)
{
	struct shared *sh = actor_user(a);

	atomic_fetch_add(&sh->stopped, 1);
}

static int echo_start(struct actor *a)
{
	struct shared *sh = actor_user(a);

	return sh->fail_start ? -ECONNREFUSED : 0;
}

static const struct actor_ops echo_ops = {
	.start = echo_start, .message = echo_message, .stop = echo_stop,
};

static void sink_message(struct actor *a, struct msg *m)
{
	struct shared *sh = actor_user(a);

	if (m->type == T_PONG)
		atomic_fetch_add(&sh->pongs, 1);
	msg_free(m);
}

static const struct actor_ops sink_ops = { .message = sink_message };

static void test_request_and_reply_between_actors(void **state)
{
	struct shared sh = { 0 };
	struct actor_pool_spec echo = { .kind = &echo_kind, .count = 2, .mbox_capacity = 1024,
					.ops = &echo_ops, .user = &sh };
	struct actor_pool_spec sink = { .kind = &sink_kind, .count = 1, .mbox_capacity = 1024,
					.ops = &sink_ops, .user = &sh };
	struct actor_system *sys = actor_system_create();
	char err[256];
	actor_addr_t e, s;
	unsigned n;

	(void)state;
	e = actor_system_add_pool(sys, &echo, err, sizeof(err));
	s = actor_system_add_pool(sys, &sink, err, sizeof(err));
	assert_int_equal(e, 0);
	assert_int_equal(s, 2);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
	assert_int_equal(actor_system_find_kind(sys, &echo_kind, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(actor_system_find_kind(sys, &nope_kind, &n), ACTOR_ADDR_NONE);
	assert_string_equal(actor_name(actor_system_get(sys, 1)), "echo-1");
	for (int i = 0; i < 1000; i++) {
		struct tmsg *t = tmsg_new(T_PING, 1);

		t->m.reply_to = s;
		while (actor_send(sys, e + (unsigned)(i % 2), &t->m) == -EAGAIN)
			sleep_ms(1);
	}
	assert_int_equal(wait_for(&sh.pongs, 1000, 5000), 1000);
	struct tmsg *t = tmsg_new(T_PING, 1);
	assert_int_equal(actor_send(sys, 99, &t->m), -ENOENT);
	msg_free(&t->m);
	actor_system_destroy(sys);
	assert_int_equal(atomic_load(&sh.stopped), 2);
}

static const struct actor_kind named_kind = { "named" };

static int named_start(struct actor *a)
{
	struct shared *sh = actor_user(a);

	return pthread_getname_np(pthread_self(), sh->thread_name, sizeof(sh->thread_name));
}

static const struct actor_ops named_ops = { .start = named_start, .message = sink_message };

/* top -H and perf show "named-0", not the program's name: the start hook
 * runs on the actor's thread, and actor_system_start returns after it. */
static void test_threads_are_named_after_their_actors(void **state)
{
	struct shared sh = { 0 };
	struct actor_pool_spec named = { .kind = &named_kind, .count = 1, .mbox_capacity = 16,
					 .ops = &named_ops, .user = &sh };
	struct actor_system *sys = actor_system_create();
	char err[256] = "";

	(void)state;
	assert_int_equal(actor_system_add_pool(sys, &named, err, sizeof(err)), 0);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
	assert_string_equal(sh.thread_name, "named-0");
	actor_system_stop(sys);
	actor_system_destroy(sys);
}

static void test_failed_start_is_reported(void **state)
{
	struct shared sh = { .fail_start = 1 };
	struct actor_pool_spec echo = { .kind = &echo_kind, .count = 1, .mbox_capacity = 16,
					.ops = &echo_ops, .user = &sh };
	struct actor_system *sys = actor_system_create();
	char err[256] = "";

	(void)state;
	assert_int_equal(actor_system_add_pool(sys, &echo, err, sizeof(err)), 0);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "echo-0: start failed: connection refused"));
	actor_system_destroy(sys);
}

static void test_invalid_pool_is_refused(void **state)
{
	struct shared sh = { 0 };
	struct actor_pool_spec bad = { .kind = &echo_kind, .count = 1, .mbox_capacity = 100,
				       .ops = &echo_ops, .user = &sh };
	struct actor_system *sys = actor_system_create();
	char err[256] = "";

	(void)state;
	assert_int_equal(actor_system_add_pool(sys, &bad, err, sizeof(err)), ACTOR_ADDR_NONE);
	assert_non_null(strstr(err, "echo"));
	bad.mbox_capacity = 128;
	assert_int_equal(actor_system_add_pool(sys, &bad, err, sizeof(err)), 0);
	assert_int_equal(actor_system_add_pool(sys, &bad, err, sizeof(err)), ACTOR_ADDR_NONE);
	assert_non_null(strstr(err, "already exists"));
	actor_system_destroy(sys);
}

/* A slow actor with a backlog: stopping it still delivers every queued
 * message before `stop` runs. */
static void slow_message(struct actor *a, struct msg *m)
{
	struct shared *sh = actor_user(a);

	sleep_ms(1);
	atomic_fetch_add(&sh->handled, 1);
	msg_free(m);
}

static const struct actor_ops slow_ops = { .message = slow_message, .stop = echo_stop };

static void test_stop_delivers_queued_messages(void **state)
{
	struct shared sh = { 0 };
	struct actor_pool_spec slow = { .kind = &slow_kind, .count = 1, .mbox_capacity = 256,
					.ops = &slow_ops, .user = &sh };
	struct actor_system *sys = actor_system_create();
	char err[256];

	(void)state;
	assert_int_equal(actor_system_add_pool(sys, &slow, err, sizeof(err)), 0);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(actor_send(sys, 0, &tmsg_new(T_PING, 0)->m), 0);
	actor_system_stop(sys);
	assert_int_equal(atomic_load(&sh.handled), 100);
	assert_int_equal(atomic_load(&sh.stopped), 1);
	struct tmsg *late = tmsg_new(T_PING, 0);
	assert_int_equal(actor_send(sys, 0, &late->m), -ESHUTDOWN);
	msg_free(&late->m);
	actor_system_destroy(sys);
}

static void test_shared_mailbox_pool_spreads_work(void **state)
{
	struct shared sh = { 0 };
	struct actor_pool_spec slow = { .kind = &db_kind, .count = 4, .mbox_capacity = 256,
					.shared_mailbox = true, .budget = 1,
					.ops = &slow_ops, .user = &sh };
	struct actor_system *sys = actor_system_create();
	struct actor_stats st;
	uint64_t busy_members = 0;
	char err[256];

	(void)state;
	assert_int_equal(actor_system_add_pool(sys, &slow, err, sizeof(err)), 0);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(actor_send(sys, 0, &tmsg_new(T_PING, 0)->m), 0);
	assert_int_equal(wait_for(&sh.handled, 200, 5000), 200);
	for (unsigned i = 0; i < 4; i++) {
		actor_read_stats(actor_system_get(sys, i), &st);
		busy_members += st.messages_total > 0;
	}
	/* 200 x 1 ms of work sent to member 0's address: the others took part. */
	assert_true(busy_members >= 2);
	actor_system_destroy(sys);
}

static void test_stats_count_messages_and_loop_lag(void **state)
{
	struct shared sh = { 0 };
	struct actor_pool_spec echo = { .kind = &echo_kind, .count = 1, .mbox_capacity = 64,
					.ops = &echo_ops, .user = &sh };
	struct actor_system *sys = actor_system_create();
	struct actor_stats st;
	struct mbox_stats ms;
	uint64_t lag_samples = 0;
	char err[256];

	(void)state;
	assert_int_equal(actor_system_add_pool(sys, &echo, err, sizeof(err)), 0);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
	sleep_ms(50); /* an idle actor sleeps: the first send must wake it */
	for (int i = 0; i < 10; i++)
		assert_int_equal(actor_send(sys, 0, &tmsg_new(T_PING, 0)->m), 0);
	assert_int_equal(wait_for(&sh.handled, 10, 2000), 10);
	sleep_ms(350);
	actor_read_stats(actor_system_get(sys, 0), &st);
	assert_int_equal(st.messages_total, 10);
	for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++)
		lag_samples += st.lag_hist[b];
	assert_true(lag_samples >= 2);
	assert_true(st.loop_iterations > 0);
	mbox_read_stats(actor_mbox(actor_system_get(sys, 0)), &ms);
	assert_int_equal(ms.enqueued_total, 10);
	assert_int_equal(ms.dequeued_total, 10);
	assert_true(ms.wakeups_total >= 1);
	actor_system_destroy(sys);
}

/* "replier" answers each PING with actor_reply; its caller is a slow sink
 * with a tiny mailbox, so most replies meet a full mailbox. */
static void replier_message(struct actor *a, struct msg *m)
{
	(void)a;
	m->type = T_PONG;
	actor_reply(m);
}

static const struct actor_ops replier_ops = { .message = replier_message };

static atomic_int next_reply;     /* the value the sink expects next */
static atomic_int out_of_order;

static void slow_sink_message(struct actor *a, struct msg *m)
{
	struct shared *sh = actor_user(a);
	int v = msg_cast(m, struct tmsg)->value;

	sleep_ms(1);
	if (atomic_fetch_add(&next_reply, 1) != v)
		atomic_fetch_add(&out_of_order, 1);
	atomic_fetch_add(&sh->pongs, 1);
	msg_free(m);
}

static const struct actor_ops slow_sink_ops = { .message = slow_sink_message };

/* 100 replies to a sink whose mailbox holds 4: a plain mailbox takes
 * them past its capacity (counted), a pool mailbox makes the replier retry
 * them; either way every reply arrives, in order. */
static void replies_to_a_full_mailbox(bool pool)
{
	struct shared sh = { 0 };
	struct actor_pool_spec sink = { .kind = &sink_kind, .count = 1, .mbox_capacity = 4,
					.shared_mailbox = pool, .ops = &slow_sink_ops,
					.user = &sh };
	struct actor_pool_spec rep = { .kind = &replier_kind, .count = 1, .mbox_capacity = 256,
				       .ops = &replier_ops, .user = &sh };
	struct actor_system *sys = actor_system_create();
	struct actor_stats st;
	struct mbox_stats ms;
	char err[256];
	actor_addr_t sink_addr, rep_addr;

	atomic_store(&next_reply, 0);
	atomic_store(&out_of_order, 0);
	sink_addr = actor_system_add_pool(sys, &sink, err, sizeof(err));
	rep_addr = actor_system_add_pool(sys, &rep, err, sizeof(err));
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
	for (int i = 0; i < 100; i++) {
		struct tmsg *t = tmsg_new(T_PING, i);

		t->m.reply_to = sink_addr;
		assert_int_equal(actor_send(sys, rep_addr, &t->m), 0);
	}
	assert_int_equal(wait_for(&sh.pongs, 100, 10000), 100);
	assert_int_equal(atomic_load(&out_of_order), 0);
	actor_read_stats(actor_system_get(sys, rep_addr), &st);
	mbox_read_stats(actor_mbox(actor_system_get(sys, sink_addr)), &ms);
	if (pool) {
		assert_true(st.replies_retried_total > 0);
		assert_int_equal(ms.over_capacity_total, 0);
	} else {
		assert_int_equal(st.replies_retried_total, 0);
		assert_int_equal(ms.rejected_total, 0);
		assert_true(ms.over_capacity_total > 0);
		assert_true(ms.high_water > ms.capacity);
	}
	actor_system_destroy(sys);
}

static void test_replies_past_a_full_mailbox_are_taken_in_order(void **state)
{
	(void)state;
	replies_to_a_full_mailbox(false);
}

static void test_replies_to_a_full_pool_mailbox_are_retried_in_order(void **state)
{
	(void)state;
	replies_to_a_full_mailbox(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_and_reply_between_actors),
		cmocka_unit_test(test_failed_start_is_reported),
		cmocka_unit_test(test_threads_are_named_after_their_actors),
		cmocka_unit_test(test_invalid_pool_is_refused),
		cmocka_unit_test(test_stop_delivers_queued_messages),
		cmocka_unit_test(test_shared_mailbox_pool_spreads_work),
		cmocka_unit_test(test_stats_count_messages_and_loop_lag),
		cmocka_unit_test(test_replies_past_a_full_mailbox_are_taken_in_order),
		cmocka_unit_test(test_replies_to_a_full_pool_mailbox_are_retried_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
