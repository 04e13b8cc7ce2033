/*
 * test_admin_collect.c - the admin endpoint's collectors read live actors
 * without disturbing them: a stuck actor's queued and refused messages show
 * in its mailbox figures, a shared mailbox shows once, the Prometheus text
 * and the /admin/actors document agree, and readiness explains itself.
 * Rendering runs while the actors work, so TSan checks every read.
 */
#include <errno.h>
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
#include "admin/admin_internal.h"
#include "actors/metrics.h"
#include "tests/unit/common/metrics_text.h"

static const struct actor_kind db_kind = { "db" };
static const struct actor_kind worker_kind = { "worker" };

#define WORKER_MAILBOX 8

static atomic_int gate_open;        /* the worker's first message waits for it */
static atomic_int handled;

static void free_msg(struct msg *m)
{
	free(m);
}

static struct msg *new_msg(void)
{
	struct msg *m = calloc(1, sizeof(*m));

	msg_init(m, 1, free_msg);
	return m;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void gated_message(struct actor *a, struct msg *m)
{
	(void)a;
	for (int i = 0; i < 10000 && !atomic_load(&gate_open); i++)
		sleep_ms(1);
	atomic_fetch_add(&handled, 1);
	msg_free(m);
}

static const struct actor_ops gated_ops = { .message = gated_message };

/* The sample line "actord_NAME{LABELS} VALUE" of `text`, or -1. */
static double sample(const char *text, const char *name, const char *labels)
{
	char want[256];
	const char *p;

	snprintf(want, sizeof(want), "\n" METRICS_PREFIX "%s{%s} ", name, labels);
	p = strstr(text, want);
	return p != NULL ? strtod(p + strlen(want), NULL) : -1;
}

static const cJSON *actor_entry(const cJSON *doc, const char *name)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, cJSON_GetObjectItem(doc, "actors"))
		if (strcmp(cJSON_GetObjectItem(a, "name")->valuestring, name) == 0)
			return a;
	return NULL;
}

static void test_a_stuck_actor_shows_queued_and_refused_messages(void **state)
{
	struct ad_config cfg;
	struct actor_system *sys = actor_system_create();
	struct admin ad = { .sys = sys, .cfg = &cfg };
	struct actor_pool_spec worker = { .kind = &worker_kind, .count = 1,
					  .mbox_capacity = WORKER_MAILBOX, .ops = &gated_ops };
	struct actor_pool_spec pool = { .kind = &db_kind, .count = 2, .mbox_capacity = 16,
					.shared_mailbox = true, .ops = &gated_ops };
	char err[256], *text = NULL;
	int refused = 0, accepted = 0;
	const cJSON *w, *mb;
	cJSON *doc, *checks;

	(void)state;
	config_defaults(&cfg);
	metrics_reset();
	assert_int_not_equal(actor_system_add_pool(sys, &worker, err, sizeof(err)), ACTOR_ADDR_NONE);
	assert_int_not_equal(actor_system_add_pool(sys, &pool, err, sizeof(err)), ACTOR_ADDR_NONE);
	assert_int_equal(admin_register_collectors(&ad, err, sizeof(err)), 0);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);

	/* The worker takes one message and sticks in it; the rest queue up to
	 * the capacity (the one in progress holds its slot), then bounce. */
	for (int i = 0; i < WORKER_MAILBOX + 5; i++) {
		struct msg *m = new_msg();
		int rc = actor_send(sys, 0, m);

		if (rc == -EAGAIN) {
			refused++;
			free(m);
		} else {
			assert_int_equal(rc, 0);
			accepted++;
		}
		/* Render while the actor runs: the reads race with its writes. */
		free(metrics_text());
	}
	assert_int_equal(accepted, WORKER_MAILBOX);
	assert_int_equal(refused, 5);

	text = metrics_text();
	assert_non_null(text);
	assert_true(sample(text, "mailbox_rejected_total", "actor=\"worker-0\",kind=\"worker\"") == 5);
	assert_true(sample(text, "mailbox_capacity", "actor=\"worker-0\",kind=\"worker\"") ==
		    WORKER_MAILBOX);
	assert_true(sample(text, "mailbox_depth", "actor=\"worker-0\",kind=\"worker\"") ==
		    WORKER_MAILBOX);
	assert_true(sample(text, "mailbox_high_water", "actor=\"worker-0\",kind=\"worker\"") ==
		    WORKER_MAILBOX);
	/* The shared mailbox once, named after its pool; actors once each. */
	assert_true(sample(text, "mailbox_consumers", "actor=\"db\",kind=\"db\"") == 2);
	assert_null(strstr(text, "mailbox_depth{actor=\"db-1\""));
	assert_non_null(strstr(text, "actor_messages_total{actor=\"db-1\",kind=\"db\"}"));
	assert_non_null(strstr(text, "actord_actor_loop_lag_seconds_bucket{actor=\"worker-0\","
			       "kind=\"worker\",le=\"+Inf\"}"));
	assert_true(sample(text, "build_info", "version=\"" ACTORD_VERSION "\"") == 1);
	free(text);

	doc = admin_actors_json(&ad);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "actors")), 3);
	w = actor_entry(doc, "worker-0");
	assert_non_null(w);
	mb = cJSON_GetObjectItem(w, "mailbox");
	assert_int_equal(cJSON_GetObjectItem(mb, "rejected_total")->valueint, 5);
	assert_int_equal(cJSON_GetObjectItem(mb, "depth")->valueint, WORKER_MAILBOX);
	assert_non_null(actor_entry(doc, "db-1"));
	mb = cJSON_GetObjectItem(actor_entry(doc, "db-1"), "mailbox");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(mb, "shared")));
	assert_string_equal(cJSON_GetObjectItem(mb, "name")->valuestring, "db");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(doc, "ready")));
	cJSON_Delete(doc);

	/* No network actor: not ready, and why. */
	checks = cJSON_CreateObject();
	assert_false(metrics_run_checks(checks));
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(checks, "listeners"),
						"reason")->valuestring, "no network actors");
	cJSON_Delete(checks);

	atomic_store(&gate_open, 1);
	for (int i = 0; i < 5000 && atomic_load(&handled) < WORKER_MAILBOX; i++)
		sleep_ms(1);
	assert_int_equal(atomic_load(&handled), WORKER_MAILBOX);
	actor_system_destroy(sys);
	metrics_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_stuck_actor_shows_queued_and_refused_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
