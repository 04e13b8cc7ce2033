/*
 * mailbox_bench.c - mailbox throughput and round trip against a plain
 * pthread mutex+condvar queue measured in the same run. Not a test: it
 * prints a table and, as its very last line, one JSON object.
 *
 *   mpsc1, mpsc2  N producer threads -> one consumer sleeping in its ev_loop.
 *                 Producers batch like actors: mbox_flush once per 64 sends
 *                 (an actor flushes once per drain batch). Mutex peer: one lock per message,
 *                 consumer waits on a condvar when empty.
 *   spsc          one ck_ring SPSC edge (the per-edge design; both sides
 *                 poll): a ceiling reference. Mutex peer: consumer takes the
 *                 whole queue under one lock (the best mutex design).
 *   rtt           ping-pong between two actors whose loops sleep in
 *                 epoll_wait; mutex peer: two threads, two condvar queues.
 *
 * Usage: mailbox_bench [messages_per_run]   (default 5,000,000)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ck_ring.h>

#include "actors/actor.h"

static const struct actor_kind echo_kind = { "echo" };
static const struct actor_kind player_kind = { "player" };

#define SLOTS 65536
#define FLUSH_EVERY 64
#define RTT_ROUNDS 100000

struct bmsg {
	struct msg m;
	uint32_t producer;
	uint64_t t0;
	struct bmsg *qnext;           /* mutex queue link */
};

/* ---- the actord mailbox --------------------------------------------- */

struct mb_run {
	struct mbox *mb;
	unsigned nprod;
	uint64_t per;
	uint64_t got;                 /* consumer */
	uint64_t got_by[2];           /* consumer */
	_Atomic uint64_t done_by[2];  /* consumer -> producer: slots free */
	struct ev_loop *loop;
	ev_async keep;
	atomic_int attached;
};

struct mb_prod {
	struct mb_run *r;
	unsigned id;
	struct bmsg *slots;
};

static void mb_on_msg(void *ctx, struct msg *m)
{
	struct mb_run *r = ctx;
	unsigned p = msg_cast(m, struct bmsg)->producer;

	/* Publish progress every 1024 messages: the producer only needs to
	 * know its slots are free well before it wraps around. */
	if ((++r->got_by[p] & 1023) == 0)
		atomic_store_explicit(&r->done_by[p], r->got_by[p], memory_order_release);
	if (++r->got == r->per * r->nprod)
		ev_break(r->loop, EVBREAK_ALL);
}

static void *mb_consumer(void *arg)
{
	struct mb_run *r = arg;

	mbox_attach(r->mb, 0, r->loop, mb_on_msg, r, 1024); /* receiver's thread */
	atomic_store(&r->attached, 1);
	ev_run(r->loop, 0);
	mbox_detach(r->mb, 0);
	return NULL;
}

static void *mb_producer(void *arg)
{
	struct mb_prod *p = arg;
	struct mb_run *r = p->r;

	mbox_set_batching(true);
	for (uint64_t i = 0; i < r->per; i++) {
		struct bmsg *b = &p->slots[i % SLOTS];

		while (i >= SLOTS &&
		       atomic_load_explicit(&r->done_by[p->id], memory_order_acquire) + SLOTS - 2048 <= i)
			sched_yield();
		msg_init(&b->m, 1, NULL);
		b->producer = p->id;
		while (mbox_send(r->mb, &b->m) == -EAGAIN) {
			mbox_flush();
			sched_yield();
		}
		if ((i % FLUSH_EVERY) == FLUSH_EVERY - 1)
			mbox_flush();
	}
	mbox_flush();
	return NULL;
}

static double bench_mbox(unsigned nprod, uint64_t total)
{
	struct mb_run r = { .nprod = nprod, .per = total / nprod };
	struct mb_prod prods[2];
	pthread_t c, t[2];
	uint64_t t0, t1;

	r.mb = mbox_create("bench", 4096);
	r.loop = ev_loop_new(EVFLAG_AUTO);
	ev_async_init(&r.keep, NULL);
	ev_async_start(r.loop, &r.keep);
	t0 = mbox_now_ns();
	pthread_create(&c, NULL, mb_consumer, &r);
	while (!atomic_load(&r.attached))
		sched_yield();
	for (unsigned i = 0; i < nprod; i++) {
		prods[i] = (struct mb_prod){ .r = &r, .id = i, .slots = calloc(SLOTS, sizeof(struct bmsg)) };
		pthread_create(&t[i], NULL, mb_producer, &prods[i]);
	}
	for (unsigned i = 0; i < nprod; i++)
		pthread_join(t[i], NULL);
	pthread_join(c, NULL);
	t1 = mbox_now_ns();
	for (unsigned i = 0; i < nprod; i++)
		free(prods[i].slots);
	mbox_destroy(r.mb);
	ev_loop_destroy(r.loop);
	return (double)(r.per * nprod) / ((double)(t1 - t0) / 1e9);
}

/* ---- raw ck_ring SPSC edge ------------------------------------------ */

struct ring_run {
	ck_ring_t ring;
	ck_ring_buffer_t *buf;
	uint64_t n;
	struct bmsg *slots;
	_Atomic uint64_t done;
};

static void *ring_consumer(void *arg)
{
	struct ring_run *r = arg;
	void *p;

	for (uint64_t got = 0; got < r->n;) {
		if (ck_ring_dequeue_spsc(&r->ring, r->buf, &p)) {
			if ((++got & 1023) == 0)
				atomic_store_explicit(&r->done, got, memory_order_release);
		}
	}
	return NULL;
}

static double bench_ring(uint64_t n)
{
	struct ring_run r = { .n = n };
	pthread_t c;
	uint64_t t0, t1;

	r.buf = calloc(4096, sizeof(ck_ring_buffer_t));
	r.slots = calloc(SLOTS, sizeof(struct bmsg));
	ck_ring_init(&r.ring, 4096);
	t0 = mbox_now_ns();
	pthread_create(&c, NULL, ring_consumer, &r);
	for (uint64_t i = 0; i < n; i++) {
		while (i >= SLOTS && atomic_load_explicit(&r.done, memory_order_acquire) + SLOTS - 2048 <= i)
			sched_yield();
		while (!ck_ring_enqueue_spsc(&r.ring, r.buf, &r.slots[i % SLOTS]))
			;
	}
	pthread_join(c, NULL);
	t1 = mbox_now_ns();
	free(r.buf);
	free(r.slots);
	return (double)n / ((double)(t1 - t0) / 1e9);
}

/* ---- the mutex + condvar peer ---------------------------------------- */

struct mq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct bmsg *head, *tail;
	bool waiting;
};

static void mq_init(struct mq *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
}

static void mq_push(struct mq *q, struct bmsg *b)
{
	pthread_mutex_lock(&q->lock);
	b->qnext = NULL;
	if (q->tail != NULL)
		q->tail->qnext = b;
	else
		q->head = b;
	q->tail = b;
	if (q->waiting)
		pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* One message per lock, or the whole queue when `all`. */
static struct bmsg *mq_pop(struct mq *q, bool all)
{
	struct bmsg *b;

	pthread_mutex_lock(&q->lock);
	while (q->head == NULL) {
		q->waiting = true;
		pthread_cond_wait(&q->cond, &q->lock);
		q->waiting = false;
	}
	b = q->head;
	if (all) {
		q->head = q->tail = NULL;
	} else {
		q->head = b->qnext;
		if (q->head == NULL)
			q->tail = NULL;
	}
	pthread_mutex_unlock(&q->lock);
	return b;
}

struct mq_run {
	struct mq q;
	unsigned nprod;
	uint64_t per;
	bool batch;
	_Atomic uint64_t done_by[2];
};

struct mq_prod {
	struct mq_run *r;
	unsigned id;
	struct bmsg *slots;
};

static void *mq_consumer(void *arg)
{
	struct mq_run *r = arg;
	uint64_t got_by[2] = { 0, 0 };

	for (uint64_t got = 0; got < r->per * r->nprod;) {
		struct bmsg *b = mq_pop(&r->q, r->batch);

		for (; b != NULL; b = r->batch ? b->qnext : NULL) {
			unsigned p = b->producer;

			got++;
			if ((++got_by[p] & 1023) == 0)
				atomic_store_explicit(&r->done_by[p], got_by[p], memory_order_release);
		}
	}
	return NULL;
}

static void *mq_producer(void *arg)
{
	struct mq_prod *p = arg;
	struct mq_run *r = p->r;

	for (uint64_t i = 0; i < r->per; i++) {
		struct bmsg *b = &p->slots[i % SLOTS];

		while (i >= SLOTS &&
		       atomic_load_explicit(&r->done_by[p->id], memory_order_acquire) + SLOTS - 2048 <= i)
			sched_yield();
		b->producer = p->id;
		mq_push(&r->q, b);
	}
	return NULL;
}

static double bench_mutex(unsigned nprod, uint64_t total, bool batch)
{
	struct mq_run *r = calloc(1, sizeof(*r));
	struct mq_prod prods[2];
	pthread_t c, t[2];
	uint64_t t0, t1;
	double rate;

	mq_init(&r->q);
	r->nprod = nprod;
	r->per = total / nprod;
	r->batch = batch;
	t0 = mbox_now_ns();
	pthread_create(&c, NULL, mq_consumer, r);
	for (unsigned i = 0; i < nprod; i++) {
		prods[i] = (struct mq_prod){ .r = r, .id = i, .slots = calloc(SLOTS, sizeof(struct bmsg)) };
		pthread_create(&t[i], NULL, mq_producer, &prods[i]);
	}
	for (unsigned i = 0; i < nprod; i++)
		pthread_join(t[i], NULL);
	pthread_join(c, NULL);
	t1 = mbox_now_ns();
	for (unsigned i = 0; i < nprod; i++)
		free(prods[i].slots);
	rate = (double)(r->per * nprod) / ((double)(t1 - t0) / 1e9);
	free(r);
	return rate;
}

/* ---- round trips ------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct rtt_run {
	uint64_t *samples;
	uint64_t n;                   /* player thread */
	actor_addr_t echo;
	atomic_int finished;
	struct bmsg ball;
};

static void player_msg(struct actor *a, struct msg *m)
{
	struct rtt_run *r = actor_user(a);
	struct bmsg *b = msg_cast(m, struct bmsg);
	uint64_t now = mbox_now_ns();

	if (m->type == 2)
		r->samples[r->n++] = now - b->t0;
	if (r->n == RTT_ROUNDS) {
		atomic_store(&r->finished, 1);
		return;
	}
	m->type = 1;
	m->reply_to = actor_addr(a);
	b->t0 = mbox_now_ns();
	actor_send(actor_sys(a), r->echo, m);
}

static void echo_msg(struct actor *a, struct msg *m)
{
	m->type = 2;
	actor_send(actor_sys(a), m->reply_to, m);
}

static const struct actor_ops player_ops = { .message = player_msg };
static const struct actor_ops echo_ops = { .message = echo_msg };

static void bench_rtt_mbox(double *p50, double *p99)
{
	struct rtt_run *r = calloc(1, sizeof(*r));
	struct actor_pool_spec ps = { .kind = &player_kind, .count = 1, .mbox_capacity = 16, .ops = &player_ops, .user = r };
	struct actor_pool_spec es = { .kind = &echo_kind, .count = 1, .mbox_capacity = 16, .ops = &echo_ops, .user = r };
	struct actor_system *sys = actor_system_create();
	actor_addr_t pl;
	char err[128];

	r->samples = calloc(RTT_ROUNDS, sizeof(uint64_t));
	pl = actor_system_add_pool(sys, &ps, err, sizeof(err));
	r->echo = actor_system_add_pool(sys, &es, err, sizeof(err));
	actor_system_start(sys, err, sizeof(err));
	msg_init(&r->ball.m, 0, NULL);
	actor_send(sys, pl, &r->ball.m);
	while (!atomic_load(&r->finished))
		sched_yield();
	actor_system_destroy(sys);
	qsort(r->samples, RTT_ROUNDS, sizeof(uint64_t), cmp_u64);
	*p50 = (double)r->samples[RTT_ROUNDS / 2] / 1e3;
	*p99 = (double)r->samples[RTT_ROUNDS * 99 / 100] / 1e3;
	free(r->samples);
	free(r);
}

struct mq_pp {
	struct mq to_echo, to_player;
};

static void *mq_echo(void *arg)
{
	struct mq_pp *pp = arg;

	for (int i = 0; i < RTT_ROUNDS; i++)
		mq_push(&pp->to_player, mq_pop(&pp->to_echo, false));
	return NULL;
}

static void bench_rtt_mutex(double *p50, double *p99)
{
	struct mq_pp *pp = calloc(1, sizeof(*pp));
	uint64_t *s = calloc(RTT_ROUNDS, sizeof(uint64_t));
	struct bmsg ball;
	pthread_t e;

	mq_init(&pp->to_echo);
	mq_init(&pp->to_player);
	pthread_create(&e, NULL, mq_echo, pp);
	for (int i = 0; i < RTT_ROUNDS; i++) {
		uint64_t t0 = mbox_now_ns();

		mq_push(&pp->to_echo, &ball);
		mq_pop(&pp->to_player, false);
		s[i] = mbox_now_ns() - t0;
	}
	pthread_join(e, NULL);
	qsort(s, RTT_ROUNDS, sizeof(uint64_t), cmp_u64);
	*p50 = (double)s[RTT_ROUNDS / 2] / 1e3;
	*p99 = (double)s[RTT_ROUNDS * 99 / 100] / 1e3;
	free(s);
	free(pp);
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000;
	double m1 = bench_mbox(1, n), m2 = bench_mbox(2, n), sp = bench_ring(n);
	double x1 = bench_mutex(1, n, false), x2 = bench_mutex(2, n, false), xs = bench_mutex(1, n, true);
	double p50, p99, xp50, xp99;

	bench_rtt_mbox(&p50, &p99);
	bench_rtt_mutex(&xp50, &xp99);
	printf("%-10s %16s %16s %8s\n", "case", "actord mailbox", "mutex+condvar", "ratio");
	printf("%-10s %13.2f M/s %13.2f M/s %7.2fx\n", "mpsc1", m1 / 1e6, x1 / 1e6, m1 / x1);
	printf("%-10s %13.2f M/s %13.2f M/s %7.2fx\n", "mpsc2", m2 / 1e6, x2 / 1e6, m2 / x2);
	printf("%-10s %13.2f M/s %13.2f M/s %7.2fx\n", "spsc", sp / 1e6, xs / 1e6, sp / xs);
	printf("%-10s %14.1f us %14.1f us\n", "rtt p50", p50, xp50);
	printf("%-10s %14.1f us %14.1f us\n", "rtt p99", p99, xp99);
	printf("{\"messages\":%llu,\"mpsc1_msgs_s\":%.0f,\"mpsc2_msgs_s\":%.0f,\"spsc_msgs_s\":%.0f,"
	       "\"rtt_p50_us\":%.1f,\"rtt_p99_us\":%.1f,"
	       "\"mutex_mpsc1_msgs_s\":%.0f,\"mutex_mpsc2_msgs_s\":%.0f,\"mutex_spsc_msgs_s\":%.0f,"
	       "\"mutex_rtt_p50_us\":%.1f,\"mutex_rtt_p99_us\":%.1f,"
	       "\"ratio_mpsc1\":%.2f,\"ratio_mpsc2\":%.2f}\n",
	       (unsigned long long)n, m1, m2, sp, p50, p99, x1, x2, xs, xp50, xp99, m1 / x1, m2 / x2);
	return 0;
}
