/*
 * step_client.c - see step_client.h. The step pointer is written by the
 * test thread before the T_RUN message is sent and read by the client
 * after it arrives: the mailbox orders the two.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "step_client.h"

const struct actor_kind step_client_kind = { "client" };

#define T_RUN 0x54450001u

static void (*client_step)(struct actor *a);
static atomic_int client_done;

/* Owner: the client actor thread. */
struct client {
	struct call_table *calls;
};

static void client_message(struct actor *a, struct msg *m)
{
	struct client *c = actor_state(a);

	if (call_dispatch(c->calls, m))
		return;
	if (m->type == T_RUN)
		client_step(a);
	msg_free(m);
}

static int client_start(struct actor *a)
{
	struct client *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->calls = call_table_create(a, 4096)) == NULL) {
		free(c);
		return -ENOMEM;
	}
	actor_set_state(a, c);
	return 0;
}

static void client_stop(struct actor *a)
{
	struct client *c = actor_state(a);

	call_table_destroy(c->calls);
	free(c);
}

const struct actor_ops step_client_ops = {
	.start = client_start, .message = client_message, .stop = client_stop,
};

struct call_table *step_client_calls(struct actor *a)
{
	return ((struct client *)actor_state(a))->calls;
}

void step_client_done(void)
{
	/* Release: the outcome is visible before the count. */
	atomic_fetch_add_explicit(&client_done, 1, memory_order_release);
}

static void run_free(struct msg *m)
{
	free(m);
}

void step_client_run(struct actor_system *sys, void (*step)(struct actor *a), int want,
		     int timeout_ms)
{
	struct msg *r = calloc(1, sizeof(*r));
	actor_addr_t client = actor_system_find_kind(sys, &step_client_kind, NULL);

	atomic_store(&client_done, 0);
	client_step = step;
	msg_init(r, T_RUN, run_free);
	assert_int_equal(actor_send(sys, client, r), 0);
	for (int i = 0; i < timeout_ms; i++) {
		if (atomic_load_explicit(&client_done, memory_order_acquire) >= want)
			break;
		usleep(1000);
	}
	assert_int_equal(atomic_load_explicit(&client_done, memory_order_acquire), want);
}
