/*
 * stress_mbox.c - the mailbox and runtime under many threads:
 *  - 1, 2, 4, 8 producers x N messages into one consumer, sending one by
 *    one and batching like actors: nothing lost, nothing duplicated, FIFO
 *    per producer, every rejection counted exactly;
 *  - more producers than cores, everything pinned to one core (the convoy
 *    case that breaks ck_ring's mpsc enqueue): finishes, nothing lost;
 *  - a ping-pong of 300,000 round trips between two sleeping actors (a
 *    lost wake-up would hang it);
 *  - a pool mailbox with one deliberately slow member does not delay the
 *    messages the other members can take.
 * N defaults to 1,000,000; ACTORD_STRESS_SCALE (e.g. 0.1) scales it down for
 * the slower sanitizer builds.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "actors/actor.h"
#include "tests/unit/common/stress_scale.h"

static const struct actor_kind db_kind = { "db" };
static const struct actor_kind echo_kind = { "echo" };
static const struct actor_kind player_kind = { "player" };

#define MAX_PRODUCERS 8
#define SLOTS 4096

struct smsg {
	struct msg m;
	uint32_t producer;
	uint64_t seq;
};

struct stress;

/* Owner: its producer thread, except `slots`, which pass to the consumer
 * with each message and come back (reusable) once `received` says so. */
struct producer {
	pthread_t thread;
	unsigned id;
	int cpu;
	uint64_t rejected;
	struct smsg *slots;
	struct stress *st;
};

struct stress {
	struct mbox *mb;
	bool batch;                   /* producers batch like actor threads */
	unsigned nprod;
	uint64_t per_producer;
	/* Consumer-written, producer-read: how many of producer p's messages
	 * arrived, so it may reuse their slots. */
	_Atomic uint64_t received[MAX_PRODUCERS];
	atomic_int attached;
	uint64_t total;               /* consumer thread */
	bool order_broken;            /* consumer thread */
	int cpu;
	struct ev_loop *loop;
	ev_async keepalive;
	struct producer prod[MAX_PRODUCERS];
};

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void on_stress_msg(void *ctx, struct msg *m)
{
	struct stress *st = ctx;
	struct smsg *s = msg_cast(m, struct smsg);
	uint64_t got = atomic_load_explicit(&st->received[s->producer], memory_order_relaxed);

	if (s->seq != got)
		st->order_broken = true;
	/* release: the producer may now reuse this slot */
	atomic_store_explicit(&st->received[s->producer], got + 1, memory_order_release);
	if (++st->total == st->per_producer * st->nprod)
		ev_break(st->loop, EVBREAK_ALL);
}

static void *consumer_main(void *arg)
{
	struct stress *st = arg;

	pin(st->cpu);
	/* Attach on the receiver's own thread, as mbox.h requires. */
	assert_int_equal(mbox_attach(st->mb, 0, st->loop, on_stress_msg, st, 256), 0);
	atomic_store(&st->attached, 1);
	ev_run(st->loop, 0);
	mbox_detach(st->mb, 0);
	return NULL;
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	struct stress *st = p->st;

	pin(p->cpu);
	mbox_set_batching(st->batch);
	for (uint64_t seq = 0; seq < st->per_producer; seq++) {
		struct smsg *s = &p->slots[seq % SLOTS];
		int rc;

		while (seq >= SLOTS &&
		       atomic_load_explicit(&st->received[p->id], memory_order_acquire) <= seq - SLOTS)
			sched_yield();
		msg_init(&s->m, 1, NULL);
		s->producer = p->id;
		s->seq = seq;
		while ((rc = mbox_send(st->mb, &s->m)) == -EAGAIN) {
			p->rejected++;
			mbox_flush();
			sched_yield();
		}
		assert_int_equal(rc, 0);
		if (st->batch && seq % 32 == 31)
			mbox_flush(); /* an actor flushes once per batch */
	}
	mbox_set_batching(false);
	return NULL;
}

static double run_producers(unsigned nprod, uint64_t per, uint32_t capacity, bool one_core,
			    bool batch)
{
	struct stress *st = calloc(1, sizeof(*st));
	pthread_t consumer;
	struct mbox_stats ms;
	uint64_t rejected = 0, t0, t1;

	st->mb = mbox_create("stress", capacity);
	st->batch = batch;
	st->nprod = nprod;
	st->per_producer = per;
	st->cpu = one_core ? 0 : -1;
	st->loop = ev_loop_new(EVFLAG_AUTO);
	ev_async_init(&st->keepalive, NULL);
	ev_async_start(st->loop, &st->keepalive);
	t0 = mbox_now_ns();
	pthread_create(&consumer, NULL, consumer_main, st);
	while (!atomic_load(&st->attached))
		sched_yield();
	for (unsigned i = 0; i < nprod; i++) {
		struct producer *p = &st->prod[i];

		p->id = i;
		p->st = st;
		p->cpu = one_core ? 0 : -1;
		p->slots = calloc(SLOTS, sizeof(struct smsg));
		pthread_create(&p->thread, NULL, producer_main, p);
	}
	for (unsigned i = 0; i < nprod; i++) {
		pthread_join(st->prod[i].thread, NULL);
		rejected += st->prod[i].rejected;
	}
	pthread_join(consumer, NULL);
	t1 = mbox_now_ns();
	mbox_read_stats(st->mb, &ms);
	assert_false(st->order_broken);
	assert_int_equal(st->total, per * nprod);
	for (unsigned i = 0; i < nprod; i++)
		assert_int_equal(atomic_load(&st->received[i]), per);
	assert_int_equal(ms.enqueued_total, per * nprod);
	assert_int_equal(ms.dequeued_total, per * nprod);
	assert_int_equal(ms.rejected_total, rejected);
	assert_true(ms.high_water <= capacity);
	print_message("  %u %sproducer(s)%s x %llu: %.2f M msgs/s, %llu rejected (full), %llu wake-ups\n",
		      nprod, batch ? "batching " : "", one_core ? " on one core" : "", (unsigned long long)per,
		      (double)(per * nprod) / ((double)(t1 - t0) / 1e9) / 1e6,
		      (unsigned long long)rejected, (unsigned long long)ms.wakeups_total);
	mbox_destroy(st->mb);
	ev_loop_destroy(st->loop);
	for (unsigned i = 0; i < nprod; i++)
		free(st->prod[i].slots);
	free(st);
	return (double)(t1 - t0) / 1e9;
}

static void test_producers_lose_nothing_and_keep_fifo(void **state)
{
	static const unsigned counts[] = { 1, 2, 4, 8 };

	(void)state;
	for (unsigned i = 0; i < 4; i++)
		run_producers(counts[i], stress_scaled(1000000), 1024, false, false);
}

static void test_batching_producers_lose_nothing_and_keep_fifo(void **state)
{
	static const unsigned counts[] = { 1, 2, 4, 8 };

	(void)state;
	for (unsigned i = 0; i < 4; i++)
		run_producers(counts[i], stress_scaled(1000000), 1024, false, true);
}

static void test_small_mailbox_counts_every_rejection(void **state)
{
	(void)state;
	run_producers(4, stress_scaled(200000), 16, false, false);
	run_producers(4, stress_scaled(200000), 16, false, true);
}

static void test_more_producers_than_cores_on_one_core_do_not_convoy(void **state)
{
	double secs;

	(void)state;
	secs = run_producers(4, stress_scaled(250000), 1024, true, false);
	secs += run_producers(4, stress_scaled(250000), 1024, true, true);
	/* ck_ring's mpsc enqueue collapsed to ~1k msgs/s in this setup; we
	 * demand the whole run finish well inside the ctest timeout. */
	assert_true(secs < 60.0);
}

/* Ping-pong between two actors: each round trip needs the other side's
 * wake-up; a single lost wake-up hangs the test. */
enum { PP_KICK = 1, PP_PING, PP_PONG };

struct pingpong {
	uint64_t rounds;
	uint64_t done;                /* player thread */
	atomic_int finished;
	actor_addr_t echo;
	struct msg ball;
};

static void player_message(struct actor *a, struct msg *m)
{
	struct pingpong *pp = actor_user(a);

	if (m->type == PP_PONG && ++pp->done == pp->rounds) {
		atomic_store(&pp->finished, 1);
		return;
	}
	m->type = PP_PING;
	m->reply_to = actor_addr(a);
	assert_int_equal(actor_send(actor_sys(a), pp->echo, m), 0);
}

static void echo_message(struct actor *a, struct msg *m)
{
	m->type = PP_PONG;
	assert_int_equal(actor_send(actor_sys(a), m->reply_to, m), 0);
}

static const struct actor_ops player_ops = { .message = player_message };
static const struct actor_ops echo_ops = { .message = echo_message };

static void test_ping_pong_round_trips_never_lose_a_wakeup(void **state)
{
	struct pingpong *pp = calloc(1, sizeof(*pp));
	struct actor_pool_spec player = { .kind = &player_kind, .count = 1, .mbox_capacity = 16,
					  .ops = &player_ops, .user = pp };
	struct actor_pool_spec echo = { .kind = &echo_kind, .count = 1, .mbox_capacity = 16,
					.ops = &echo_ops, .user = pp };
	struct actor_system *sys = actor_system_create();
	actor_addr_t pl;
	uint64_t t0;
	char err[256];

	(void)state;
	/* Every round trip is two sleep/wake transitions (about 11 us on 2
	 * cores): 300,000 of them run the lost-wake-up window 600,000 times in
	 * 3 s, where the million producers' messages above already cover the
	 * mailbox itself. */
	pp->rounds = stress_scaled(300000);
	pl = actor_system_add_pool(sys, &player, err, sizeof(err));
	pp->echo = actor_system_add_pool(sys, &echo, err, sizeof(err));
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
	msg_init(&pp->ball, PP_KICK, NULL);
	t0 = mbox_now_ns();
	assert_int_equal(actor_send(sys, pl, &pp->ball), 0);
	for (int i = 0; i < 600000 && !atomic_load(&pp->finished); i++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(atomic_load(&pp->finished), 1);
	print_message("  %llu round trips: %.1f us each\n", (unsigned long long)pp->rounds,
		      (double)(mbox_now_ns() - t0) / 1e3 / (double)pp->rounds);
	actor_system_destroy(sys);
	free(pp);
}

/* Pool: one member is stuck in a slow message; the others keep taking. */
enum { POOL_SLOW = 1, POOL_FAST };

struct pool_probe {
	atomic_int fast_done;
	atomic_int slow_done;
	_Atomic uint64_t last_fast_ns;
};

struct pmsg {
	struct msg m;
	struct pool_probe *probe;
};

static void pool_message(struct actor *a, struct msg *m)
{
	struct pool_probe *pr = msg_cast(m, struct pmsg)->probe;

	(void)a;
	if (m->type == POOL_SLOW) {
		struct timespec ts = { 1, 0 };

		nanosleep(&ts, NULL);
		atomic_store(&pr->slow_done, 1);
	} else {
		atomic_store(&pr->last_fast_ns, mbox_now_ns());
		atomic_fetch_add(&pr->fast_done, 1);
	}
	free(m);
}

static const struct actor_ops pool_ops = { .message = pool_message };

static void test_pool_slow_member_does_not_delay_others(void **state)
{
	struct pool_probe pr = { 0 };
	struct actor_pool_spec db = { .kind = &db_kind, .count = 3, .mbox_capacity = 1024,
				      .shared_mailbox = true, .ops = &pool_ops };
	struct actor_system *sys = actor_system_create();
	uint64_t t0;
	char err[256];

	(void)state;
	assert_int_equal(actor_system_add_pool(sys, &db, err, sizeof(err)), 0);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
	for (int i = 0; i < 501; i++) {
		struct pmsg *p = calloc(1, sizeof(*p));

		msg_init(&p->m, i == 0 ? POOL_SLOW : POOL_FAST, NULL);
		p->probe = &pr;
		assert_int_equal(actor_send(sys, 0, &p->m), 0);
	}
	t0 = mbox_now_ns();
	for (int i = 0; i < 5000 && atomic_load(&pr.fast_done) < 500; i++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(atomic_load(&pr.fast_done), 500);
	/* All 500 fast messages finished while the slow one (1 s) still ran. */
	assert_int_equal(atomic_load(&pr.slow_done), 0);
	assert_true(atomic_load(&pr.last_fast_ns) - t0 < 500000000ull);
	actor_system_destroy(sys);
	assert_int_equal(atomic_load(&pr.slow_done), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_producers_lose_nothing_and_keep_fifo),
		cmocka_unit_test(test_batching_producers_lose_nothing_and_keep_fifo),
		cmocka_unit_test(test_small_mailbox_counts_every_rejection),
		cmocka_unit_test(test_more_producers_than_cores_on_one_core_do_not_convoy),
		cmocka_unit_test(test_ping_pong_round_trips_never_lose_a_wakeup),
		cmocka_unit_test(test_pool_slow_member_does_not_delay_others),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
