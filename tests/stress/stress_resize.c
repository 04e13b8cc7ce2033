/*
 * stress_resize.c - pools grown and shrunk while messages flow (issue 21):
 * client actors keep W calls in flight to a "front" pool (plain mailboxes,
 * like handler actors), whose members make a call of their own to a "back"
 * pool (one shared mailbox, like the database actors) before they answer.
 * Meanwhile the controlling thread resizes both pools at random, every
 * couple of milliseconds. Every call must come back exactly once: nothing
 * sent to a member that leaves is lost (redirected or delivered before it
 * exits), no member exits while a reply is owed to it, and no call fails.
 * Runs under TSan and ASan (label sanitize): the registry, live counts and
 * retiring members are read without locks by every sender.
 * N defaults to 200,000 calls; ACTORD_STRESS_SCALE scales it down.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "actors/actor.h"
#include "tests/unit/common/stress_scale.h"
#include "actors/call.h"
#include "base/clock.h"

static const struct actor_kind client_kind = { "client" };
static const struct actor_kind front_kind = { "front" };
static const struct actor_kind back_kind = { "back" };

#define CLIENTS 2
#define WINDOW 32
#define MAX_MEMBERS 8
#define MSG_WORK 1u

/* Owner: written by the actors (atomics), read by the test thread. */
struct totals {
	uint64_t per_client;
	_Atomic uint64_t answered;
	_Atomic uint64_t failed;
	_Atomic uint64_t back_served;
	_Atomic unsigned clients_done;
};

static struct totals totals;

/* Owner: whoever holds the message (it crosses mailboxes). */
struct work {
	struct call_msg c;           /* MUST be first */
	struct work *outer;          /* front -> back: the client's call */
};

static void work_free(struct msg *m)
{
	free(m);
}

static struct work *work_new(void)
{
	struct work *w = calloc(1, sizeof(*w));

	if (w != NULL)
		call_msg_init(&w->c, MSG_WORK, work_free, 0);
	return w;
}

/* ---- client: W calls in flight until it has sent its share ---- */

/* Owner: the client actor. */
struct client {
	struct call_table *calls;
	uint64_t sent, answered;
	ev_timer retry_w;            /* a full mailbox: try again shortly */
};

static void send_more(struct actor *a);

static void on_answer(struct call_msg *reply, void *ctx, void *arg)
{
	struct actor *a = ctx;
	struct client *cl = actor_state(a);

	(void)arg;
	if (reply->status != 0)
		atomic_fetch_add(&totals.failed, 1);
	atomic_fetch_add(&totals.answered, 1);
	if (++cl->answered == totals.per_client)
		atomic_fetch_add(&totals.clients_done, 1);
	send_more(a);
}

static void send_more(struct actor *a)
{
	struct client *cl = actor_state(a);

	while (cl->sent < totals.per_client && call_pending(cl->calls) < WINDOW) {
		struct work *w = work_new();
		int rc;

		assert_non_null(w);
		rc = call_send(cl->calls, call_pick(cl->calls, &front_kind), &w->c, on_answer, a,
			       NULL);
		if (rc != 0) {
			free(w);
			if (rc != -EAGAIN)
				atomic_fetch_add(&totals.failed, 1);
			if (!ev_is_active(&cl->retry_w))
				ev_timer_again(actor_loop(a), &cl->retry_w);
			return;
		}
		cl->sent++;
	}
}

static void on_client_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	ev_timer_stop(loop, w);
	send_more(w->data);
}

static int client_start(struct actor *a)
{
	struct client *cl = calloc(1, sizeof(*cl));

	if (cl == NULL)
		return -ENOMEM;
	cl->calls = call_table_create(a, WINDOW);
	ev_init(&cl->retry_w, on_client_retry);
	cl->retry_w.repeat = 0.001;
	cl->retry_w.data = a;
	actor_set_state(a, cl);
	send_more(a);
	return 0;
}

static void client_message(struct actor *a, struct msg *m)
{
	struct client *cl = actor_state(a);

	if (!call_dispatch(cl->calls, m))
		msg_free(m);
}

static void client_stop(struct actor *a)
{
	struct client *cl = actor_state(a);

	ev_timer_stop(actor_loop(a), &cl->retry_w);
	call_table_destroy(cl->calls);
	free(cl);
}

static const struct actor_ops client_ops = {
	.start = client_start, .message = client_message, .stop = client_stop,
};

/* ---- front: answers a call once its own call to "back" came back ---- */

static void on_back(struct call_msg *reply, void *ctx, void *arg)
{
	struct work *outer = arg;

	(void)ctx;
	call_reply(&outer->c, reply->status);
}

static int front_start(struct actor *a)
{
	struct call_table *t = call_table_create(a, 4096);

	if (t == NULL)
		return -ENOMEM;
	actor_set_state(a, t);
	return 0;
}

static void front_message(struct actor *a, struct msg *m)
{
	struct call_table *t = actor_state(a);
	struct work *outer, *inner;
	int rc;

	if (call_dispatch(t, m))
		return;
	outer = (struct work *)(void *)m;
	inner = work_new();
	assert_non_null(inner);
	inner->outer = outer;
	rc = call_send(t, call_pick(t, &back_kind), &inner->c, on_back, a, outer);
	if (rc != 0) {
		free(inner);
		call_reply(&outer->c, rc);   /* counted as failed by the client */
	}
}

static void front_stop(struct actor *a)
{
	call_table_destroy(actor_state(a));
}

/* A leaving front member waits for the back's replies it is owed. */
static bool front_idle(struct actor *a)
{
	return call_pending(actor_state(a)) == 0;
}

static const struct actor_ops front_ops = {
	.start = front_start, .message = front_message, .stop = front_stop, .idle = front_idle,
};

/* ---- back: a shared mailbox; answers at once ---- */

static void back_message(struct actor *a, struct msg *m)
{
	(void)a;
	atomic_fetch_add(&totals.back_served, 1);
	call_reply((struct call_msg *)(void *)m, 0);
}

static const struct actor_ops back_ops = { .message = back_message };

static void add(struct actor_system *sys, const struct actor_kind *kind, unsigned count,
		unsigned max, bool shared, const struct actor_ops *ops)
{
	char err[256];
	/* Room for every sender's batch credit (64 slots per sending thread,
	 * up to MAX_MEMBERS front members) beyond the WINDOW * CLIENTS calls
	 * in flight: a refusal here would be a full mailbox, not a loss, and
	 * a slow build (TSan) keeps many members' credit out at once. */
	struct actor_pool_spec spec = {
		.kind = kind, .count = count, .max = max, .mbox_capacity = 1024,
		.shared_mailbox = shared, .ops = ops,
	};

	assert_int_not_equal(actor_system_add_pool(sys, &spec, err, sizeof(err)),
			     ACTOR_ADDR_NONE);
}

static void test_resizing_under_traffic_loses_nothing(void **state)
{
	struct actor_system *sys = actor_system_create();
	uint64_t deadline = clock_now_ns() + 120ull * 1000000000u;
	unsigned resizes = 0, busy = 0;
	struct actor_pool_info info;
	char err[256];
	int rc;

	(void)state;
	totals.per_client = stress_scaled(200000);
	if (totals.per_client < 1000)
		totals.per_client = 1000;
	srand(21);
	add(sys, &back_kind, 4, MAX_MEMBERS, true, &back_ops);
	add(sys, &front_kind, 2, MAX_MEMBERS, false, &front_ops);
	add(sys, &client_kind, CLIENTS, 0, false, &client_ops);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
	while (atomic_load(&totals.clients_done) < CLIENTS) {
		const struct timespec ms2 = { 0, 2000000 };
		const struct actor_kind *kind = rand() % 2 ? &front_kind : &back_kind;

		assert_true(clock_now_ns() < deadline);
		rc = actor_system_resize(sys, kind, 1 + (unsigned)rand() % MAX_MEMBERS, err,
					 sizeof(err));
		/* A member still finishing its calls may hold its slot. */
		assert_true(rc == 0 || rc == -EBUSY);
		resizes += rc == 0;
		busy += rc == -EBUSY;
		nanosleep(&ms2, NULL);
	}
	assert_int_equal(atomic_load(&totals.failed), 0);
	assert_int_equal(atomic_load(&totals.answered), CLIENTS * totals.per_client);
	assert_int_equal(atomic_load(&totals.back_served), CLIENTS * totals.per_client);
	assert_true(resizes > 10);
	/* A fixed pool refuses; the others report what they are. */
	assert_int_equal(actor_system_resize(sys, &client_kind, 1, err, sizeof(err)), -EPERM);
	assert_int_equal(actor_system_resize(sys, &front_kind, MAX_MEMBERS + 1, err, sizeof(err)),
			 -ERANGE);
	assert_int_equal(actor_system_pool_info(sys, &front_kind, &info), 0);
	assert_true(info.live >= 1 && info.live <= MAX_MEMBERS && info.resizable);
	printf("# %u resizes (%u refused while a member retired), %llu calls\n", resizes, busy,
	       (unsigned long long)(CLIENTS * totals.per_client));
	actor_system_destroy(sys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resizing_under_traffic_loses_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
