/*
 * test_mbox.c - unit tests of the mailbox contract on one thread: FIFO,
 * bounds, rejection counting, replies past capacity, close, drain,
 * ownership on failure, pool delivery, the wait-time histogram, batch
 * credits.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "mailbox/mbox.h"

struct tmsg {
	struct msg m;
	int seq;
	int *freed;
};

static void tmsg_free(struct msg *m)
{
	struct tmsg *t = msg_cast(m, struct tmsg);

	(*t->freed)++;
	free(t);
}

static struct tmsg *tmsg_new(int seq, int *freed)
{
	struct tmsg *t = calloc(1, sizeof(*t));

	msg_init(&t->m, 1, tmsg_free);
	t->seq = seq;
	t->freed = freed;
	return t;
}

struct sink {
	int seqs[256];
	int n;
};

static void collect(void *ctx, struct msg *m)
{
	struct sink *s = ctx;

	s->seqs[s->n++] = msg_cast(m, struct tmsg)->seq;
	msg_free(m);
}

static void run_until_idle(struct ev_loop *loop)
{
	for (int i = 0; i < 64; i++)
		ev_run(loop, EVRUN_NOWAIT);
}

static void test_messages_arrive_in_send_order(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct mbox *mb = mbox_create("t", 16);
	struct sink s = { .n = 0 };
	int freed = 0;

	(void)state;
	mbox_set_batching(false); /* each send visible at once */
	for (int i = 0; i < 10; i++)
		assert_int_equal(mbox_send(mb, &tmsg_new(i, &freed)->m), 0);
	assert_int_equal(mbox_attach(mb, 0, loop, collect, &s, 4), 0);
	run_until_idle(loop);
	assert_int_equal(s.n, 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(s.seqs[i], i);
	assert_int_equal(freed, 10);
	mbox_detach(mb, 0);
	mbox_destroy(mb);
	ev_loop_destroy(loop);
}

static void test_full_mailbox_rejects_and_keeps_message_with_sender(void **state)
{
	struct mbox *mb = mbox_create("t", 4);
	struct mbox_stats st;
	struct tmsg *extra;
	int freed = 0;

	(void)state;
	mbox_set_batching(false); /* each send visible at once */
	for (int i = 0; i < 4; i++)
		assert_int_equal(mbox_send(mb, &tmsg_new(i, &freed)->m), 0);
	extra = tmsg_new(99, &freed);
	assert_int_equal(mbox_send(mb, &extra->m), -EAGAIN);
	assert_int_equal(mbox_send(mb, &extra->m), -EAGAIN);
	assert_int_equal(freed, 0); /* the sender still owns `extra` */
	mbox_read_stats(mb, &st);
	assert_int_equal(st.capacity, 4);
	assert_int_equal(st.depth, 4);
	assert_int_equal(st.high_water, 4);
	assert_int_equal(st.enqueued_total, 4);
	assert_int_equal(st.rejected_total, 2);
	msg_free(&extra->m);
	mbox_destroy(mb); /* frees the four queued messages */
	assert_int_equal(freed, 5);
}

/* A reply is never refused for being full (plain mailbox, batched or
 * not); it is counted past capacity, delivered in order, and the depth it
 * took is given back. A pool mailbox (a bounded ring) still refuses. */
static void replies_pass_a_full_mailbox(bool batching)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct mbox *mb = mbox_create("t", 4);
	struct sink s = { .n = 0 };
	struct mbox_stats st;
	struct tmsg *extra;
	int freed = 0;

	mbox_set_batching(batching);
	for (int i = 0; i < 4; i++)
		assert_int_equal(mbox_send(mb, &tmsg_new(i, &freed)->m), 0);
	mbox_flush();
	assert_true(mbox_full(mb));
	for (int i = 4; i < 100; i++)
		assert_int_equal(mbox_send_reply(mb, &tmsg_new(i, &freed)->m), 0);
	mbox_flush();
	mbox_read_stats(mb, &st);
	assert_int_equal(st.rejected_total, 0);
	assert_int_equal(st.over_capacity_total, 96);
	assert_int_equal(st.depth, 100);
	assert_true(st.high_water >= 100);
	assert_int_equal(mbox_attach(mb, 0, loop, collect, &s, 256), 0);
	run_until_idle(loop);
	assert_int_equal(s.n, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(s.seqs[i], i);
	mbox_read_stats(mb, &st);
	assert_int_equal(st.depth, 0);
	/* Depth given back: a request fits again. */
	assert_false(mbox_full(mb));
	assert_int_equal(mbox_send(mb, &tmsg_new(100, &freed)->m), 0);
	mbox_flush();
	mbox_close(mb);
	extra = tmsg_new(101, &freed);
	assert_int_equal(mbox_send_reply(mb, &extra->m), -ESHUTDOWN);
	msg_free(&extra->m); /* a refused reply stays with its sender */
	mbox_detach(mb, 0);
	mbox_set_batching(false);
	mbox_destroy(mb);     /* frees the one still queued */
	ev_loop_destroy(loop);
	assert_int_equal(freed, 102);
}

static void test_replies_pass_a_full_mailbox(void **state)
{
	(void)state;
	replies_pass_a_full_mailbox(false);
}

static void test_batched_replies_pass_a_full_mailbox(void **state)
{
	(void)state;
	replies_pass_a_full_mailbox(true);
}

static void test_full_pool_mailbox_refuses_replies(void **state)
{
	struct mbox *mb = mbox_create_pool("p", 4, 2);
	struct mbox_stats st;
	struct tmsg *extra;
	int freed = 0;

	(void)state;
	mbox_set_batching(false);
	for (int i = 0; i < 4; i++)
		assert_int_equal(mbox_send_reply(mb, &tmsg_new(i, &freed)->m), 0);
	extra = tmsg_new(99, &freed);
	assert_int_equal(mbox_send_reply(mb, &extra->m), -EAGAIN);
	mbox_read_stats(mb, &st);
	assert_int_equal(st.over_capacity_total, 0);
	assert_int_equal(st.rejected_total, 1);
	msg_free(&extra->m);
	mbox_destroy(mb);
	assert_int_equal(freed, 5);
}

static void test_closed_mailbox_refuses_sends(void **state)
{
	struct mbox *mb = mbox_create("t", 8);
	int freed = 0;
	struct tmsg *t = tmsg_new(1, &freed);

	(void)state;
	mbox_set_batching(false); /* each send visible at once */
	assert_false(mbox_closed(mb));
	mbox_close(mb);
	assert_true(mbox_closed(mb));
	assert_int_equal(mbox_send(mb, &t->m), -ESHUTDOWN);
	assert_int_equal(freed, 0);
	msg_free(&t->m);
	mbox_destroy(mb);
}

static void test_invalid_capacity_is_refused(void **state)
{
	(void)state;
	assert_null(mbox_create("t", 0));
	assert_null(mbox_create("t", 2));
	assert_null(mbox_create("t", 12));
	assert_null(mbox_create_pool("t", 16, 0));
	assert_null(mbox_create_pool("t", 16, MBOX_MAX_CONSUMERS + 1));
}

static void test_drain_after_close_delivers_everything(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct mbox *mb = mbox_create("t", 64);
	struct sink s = { .n = 0 };
	int freed = 0;

	(void)state;
	mbox_set_batching(false); /* each send visible at once */
	assert_int_equal(mbox_attach(mb, 0, loop, collect, &s, 1), 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(mbox_send(mb, &tmsg_new(i, &freed)->m), 0);
	mbox_close(mb);
	assert_int_equal(mbox_drain(mb, 0), 50);
	assert_int_equal(s.n, 50);
	assert_int_equal(s.seqs[49], 49);
	mbox_detach(mb, 0);
	mbox_destroy(mb);
	ev_loop_destroy(loop);
}

static void test_budget_leaves_rest_for_next_iteration(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct mbox *mb = mbox_create("t", 64);
	struct sink s = { .n = 0 };
	struct mbox_stats st;
	int freed = 0;

	(void)state;
	mbox_set_batching(false); /* each send visible at once */
	for (int i = 0; i < 20; i++)
		assert_int_equal(mbox_send(mb, &tmsg_new(i, &freed)->m), 0);
	assert_int_equal(mbox_attach(mb, 0, loop, collect, &s, 8), 0);
	ev_run(loop, EVRUN_NOWAIT);
	assert_true(s.n <= 8);
	run_until_idle(loop);
	assert_int_equal(s.n, 20);
	mbox_read_stats(mb, &st);
	assert_int_equal(st.dequeued_total, 20);
	assert_int_equal(st.depth, 0);
	mbox_detach(mb, 0);
	mbox_destroy(mb);
	ev_loop_destroy(loop);
}

static void test_pool_members_share_one_queue(void **state)
{
	struct ev_loop *l0 = ev_loop_new(EVFLAG_AUTO), *l1 = ev_loop_new(EVFLAG_AUTO);
	struct mbox *mb = mbox_create_pool("p", 16, 2);
	struct sink s0 = { .n = 0 }, s1 = { .n = 0 };
	struct mbox_stats st;
	int freed = 0;

	(void)state;
	mbox_set_batching(false); /* each send visible at once */
	assert_int_equal(mbox_attach(mb, 0, l0, collect, &s0, 1), 0);
	assert_int_equal(mbox_attach(mb, 1, l1, collect, &s1, 1), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(mbox_send(mb, &tmsg_new(i, &freed)->m), 0);
	struct tmsg *refused = tmsg_new(16, &freed);
	assert_int_equal(mbox_send(mb, &refused->m), -EAGAIN);
	msg_free(&refused->m);
	for (int i = 0; i < 32; i++) {
		ev_run(l0, EVRUN_NOWAIT);
		ev_run(l1, EVRUN_NOWAIT);
	}
	assert_int_equal(s0.n + s1.n, 16);
	assert_true(s0.n > 0);
	assert_true(s1.n > 0);
	mbox_read_stats(mb, &st);
	assert_int_equal(st.consumers, 2);
	assert_int_equal(st.dequeued_total, 16);
	assert_int_equal(st.rejected_total, 1);
	mbox_detach(mb, 0);
	mbox_detach(mb, 1);
	mbox_destroy(mb);
	ev_loop_destroy(l0);
	ev_loop_destroy(l1);
}

static void test_histogram_buckets_are_log2_microseconds(void **state)
{
	(void)state;
	assert_int_equal(mbox_hist_bucket(0), 0);
	assert_int_equal(mbox_hist_bucket(1000), 0);
	assert_int_equal(mbox_hist_bucket(1001), 1);
	assert_int_equal(mbox_hist_bucket(2000), 1);
	assert_int_equal(mbox_hist_bucket(3000), 2);
	assert_int_equal(mbox_hist_bucket(1000000000ull), 20);  /* 1 s <= 2^20 us */
	assert_int_equal(mbox_hist_bucket(2000000000ull), MBOX_HIST_BUCKETS - 1);
	assert_true(mbox_hist_bound_s(0) > 0.9e-6 && mbox_hist_bound_s(0) < 1.1e-6);
	assert_true(mbox_hist_bound_s(MBOX_HIST_BUCKETS - 1) > 1e300);
}

static void test_wait_time_is_recorded(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct mbox *mb = mbox_create("t", 8);
	struct sink s = { .n = 0 };
	struct mbox_stats st;
	uint64_t total = 0;
	int freed = 0;

	(void)state;
	mbox_set_batching(false); /* each send visible at once */
	assert_int_equal(mbox_send(mb, &tmsg_new(0, &freed)->m), 0);
	struct timespec ts = { 0, 3 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	assert_int_equal(mbox_attach(mb, 0, loop, collect, &s, 8), 0);
	run_until_idle(loop);
	mbox_read_stats(mb, &st);
	for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++)
		total += st.wait_hist[b];
	assert_int_equal(total, 1);
	assert_true(st.wait_sum_ns >= 3000000);
	/* The one sample lands in the bucket of its own duration: 3 ms or a
	 * little more on a loaded machine, so (2^11 us, 2^12 us] or above. */
	assert_true(mbox_hist_bucket(st.wait_sum_ns) >= 12);
	assert_int_equal(st.wait_hist[mbox_hist_bucket(st.wait_sum_ns)], 1);
	mbox_detach(mb, 0);
	mbox_destroy(mb);
	ev_loop_destroy(loop);
}

/* Batched sends become visible at mbox_flush, in order, and the credit a
 * batch reserved but did not use goes back. */
static void test_batched_sends_publish_at_flush(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct mbox *mb = mbox_create("t", 16);
	struct sink s = { .n = 0 };
	struct mbox_stats st;
	int freed = 0;

	(void)state;
	mbox_set_batching(true);
	for (int i = 0; i < 10; i++)
		assert_int_equal(mbox_send(mb, &tmsg_new(i, &freed)->m), 0);
	mbox_read_stats(mb, &st);
	assert_int_equal(st.enqueued_total, 0);   /* not published yet */
	mbox_flush();
	mbox_read_stats(mb, &st);
	assert_int_equal(st.enqueued_total, 10);
	assert_int_equal(st.depth, 10);
	/* 16 - 10 queued: exactly 6 more fit, then -EAGAIN. */
	for (int i = 10; i < 16; i++)
		assert_int_equal(mbox_send(mb, &tmsg_new(i, &freed)->m), 0);
	struct tmsg *extra = tmsg_new(99, &freed);
	assert_int_equal(mbox_send(mb, &extra->m), -EAGAIN);
	msg_free(&extra->m);
	mbox_flush();
	assert_int_equal(mbox_attach(mb, 0, loop, collect, &s, 64), 0);
	run_until_idle(loop);
	assert_int_equal(s.n, 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(s.seqs[i], i);
	mbox_read_stats(mb, &st);
	assert_int_equal(st.rejected_total, 1);
	assert_int_equal(st.depth, 0);
	mbox_detach(mb, 0);
	mbox_set_batching(false);
	mbox_destroy(mb);
	ev_loop_destroy(loop);
}

/* A batching sender's unused credit counts as depth for everyone else
 * until its flush, so it must stay a small part of a small mailbox: one
 * message sent into a 64-slot mailbox used to reserve all 64 slots, and
 * every other sender met "full" with one message queued. */
static void test_batch_credit_leaves_room_in_a_small_mailbox(void **state)
{
	struct mbox *small = mbox_create("small", 64), *tiny = mbox_create("tiny", 4);
	struct mbox *big = mbox_create("big", 4096);
	struct mbox_stats st;
	int freed = 0;

	(void)state;
	mbox_set_batching(true);
	assert_int_equal(mbox_send(small, &tmsg_new(0, &freed)->m), 0);
	assert_int_equal(mbox_send(tiny, &tmsg_new(1, &freed)->m), 0);
	assert_int_equal(mbox_send(big, &tmsg_new(2, &freed)->m), 0);
	/* The reservation (high-water marks it): an eighth of 64, never
	 * less than one, 64 for a large mailbox. */
	mbox_read_stats(small, &st);
	assert_int_equal(st.high_water, 8);
	assert_false(mbox_full(small));
	mbox_read_stats(tiny, &st);
	assert_int_equal(st.high_water, 1);
	mbox_read_stats(big, &st);
	assert_int_equal(st.high_water, 64);
	/* Credit of one: the tiny mailbox takes exactly its capacity. */
	for (int i = 3; i < 6; i++)
		assert_int_equal(mbox_send(tiny, &tmsg_new(i, &freed)->m), 0);
	assert_true(mbox_full(tiny));
	mbox_flush();                             /* unused credit goes back */
	mbox_read_stats(small, &st);
	assert_int_equal(st.depth, 1);
	assert_int_equal(st.rejected_total, 0);
	mbox_read_stats(tiny, &st);
	assert_int_equal(st.depth, 4);
	mbox_set_batching(false);
	mbox_destroy(small);
	mbox_destroy(tiny);
	mbox_destroy(big);
	assert_int_equal(freed, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_messages_arrive_in_send_order),
		cmocka_unit_test(test_full_mailbox_rejects_and_keeps_message_with_sender),
		cmocka_unit_test(test_replies_pass_a_full_mailbox),
		cmocka_unit_test(test_batched_replies_pass_a_full_mailbox),
		cmocka_unit_test(test_full_pool_mailbox_refuses_replies),
		cmocka_unit_test(test_closed_mailbox_refuses_sends),
		cmocka_unit_test(test_invalid_capacity_is_refused),
		cmocka_unit_test(test_drain_after_close_delivers_everything),
		cmocka_unit_test(test_budget_leaves_rest_for_next_iteration),
		cmocka_unit_test(test_pool_members_share_one_queue),
		cmocka_unit_test(test_histogram_buckets_are_log2_microseconds),
		cmocka_unit_test(test_wait_time_is_recorded),
		cmocka_unit_test(test_batched_sends_publish_at_flush),
		cmocka_unit_test(test_batch_credit_leaves_room_in_a_small_mailbox),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
