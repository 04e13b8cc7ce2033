/*
 * worker_test_routes.c - the test suite's scheduler work (worker/sched.h)
 * and its route, behind config test_routes:
 *
 *  GET /_test/queue-flaky  {"job_id": "N"}  puts N into the queue
 *                          "test-flaky", whose runs fail on the first
 *                          attempt (retried) and, for ids starting with
 *                          "dead", on every attempt (dropped after the
 *                          third); each run logs
 *                          "flaky job N: attempt A ok|failed"
 *  GET /_test/work-errno?rc=ETIMEDOUT|EAGAIN|EIO&ms=M
 *                          a worker task that sleeps M ms and returns
 *                          -rc (a blocking call of its own that timed
 *                          out...): the continuation answers as worker.h
 *                          says, telling the task's own failure from the
 *                          pool's (worker_reply_ran)
 *  periodic "test-tick"    when ACTORD_TEST_TICK_MS is set: runs on a worker
 *                          every that many ms, sleeping
 *                          ACTORD_TEST_TICK_SLEEP_MS (to overrun its period),
 *                          and logs "test-tick slot=S due=D start=X end=Y
 *                          instance=I" (CLOCK_REALTIME ms); once per
 *                          cluster when ACTORD_TEST_TICK_CLUSTER=1 (lock
 *                          expiry ACTORD_TEST_TICK_LOCK_MS, default twice
 *                          the period plus the sleep); slots
 *                          divisible by ACTORD_TEST_TICK_FAIL_EVERY (if
 *                          set) fail with -EIO after logging.
 * The environment drives the periodic task because it is a test's
 * instrument, not a setting anyone should find in the configuration.
 *
 * Thread: the route on a handler actor; runs on workers; the set-up on
 * the controlling thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test_app.h"
#include "actors/log.h"
#include "config/config.h"
#include "handler/web.h"
#include "worker/sched.h"
#include "worker/worker.h"

#define FLAKY_QUEUE "test-flaky"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static unsigned env_ms(const char *name)
{
	const char *v = getenv(name);

	return v != NULL ? (unsigned)strtoul(v, NULL, 10) : 0;
}

static int flaky_item(const char *item, size_t len, unsigned attempt, void *data)
{
	bool fail = attempt == 1 || (len >= 4 && memcmp(item, "dead", 4) == 0);

	(void)data;
	log_info("flaky job %.*s: attempt %u %s", (int)len, item, attempt, fail ? "failed" : "ok");
	return fail ? -EIO : 0;
}

struct tick_conf {
	unsigned sleep_ms;
	unsigned fail_every;
};

static int tick(const struct sched_run *run)
{
	const struct tick_conf *tc = run->data;
	uint64_t start = now_ms();
	struct timespec ts = { tc->sleep_ms / 1000, (long)(tc->sleep_ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	log_info("test-tick slot=%" PRIu64 " due=%" PRIu64 " start=%" PRIu64 " end=%" PRIu64
		 " instance=%ld", run->slot, run->due_ms, start, now_ms(), (long)getpid());
	return tc->fail_every != 0 && run->slot % tc->fail_every == 0 ? -EIO : 0;
}

int worker_test_sched(struct sched_setup *s, const struct ad_config *cfg, char *err,
		      size_t errlen)
{
	static struct tick_conf tc;   /* read by workers; written before start */
	const struct sched_queue q = {
		.name = FLAKY_QUEUE, .capacity = 4096, .concurrency = 8, .max_attempts = 3,
		.run = flaky_item,
	};
	struct sched_periodic p = {
		.name = "test-tick", .period_ms = env_ms("ACTORD_TEST_TICK_MS"), .run = tick,
		.data = &tc, .once_per_cluster = env_ms("ACTORD_TEST_TICK_CLUSTER") == 1,
	};
	int rc;

	if (!cfg->test_routes)
		return 0;
	rc = sched_add_queue(s, &q, err, errlen);
	tc.sleep_ms = env_ms("ACTORD_TEST_TICK_SLEEP_MS");
	tc.fail_every = env_ms("ACTORD_TEST_TICK_FAIL_EVERY");
	p.lock_ms = env_ms("ACTORD_TEST_TICK_LOCK_MS");
	if (p.lock_ms == 0)
		p.lock_ms = 2 * p.period_ms + tc.sleep_ms;
	if (rc == 0 && p.period_ms > 0)
		rc = sched_add_periodic(s, &p, err, errlen);
	return rc;
}

static void on_put(struct hreq *r, struct call_msg *reply, void *arg)
{
	(void)arg;
	if (reply->status != 0)
		hreq_fail(r, reply->status, "queue");
	else
		hreq_text(r, 200, "queued");
}

static void get_queue_flaky(struct hreq *r)
{
	const char *why;
	cJSON *j = hreq_json_parse(r, &why);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "job_id");
	struct call_msg *m = cJSON_IsString(id) ?
		sched_put_new(FLAKY_QUEUE, id->valuestring, strlen(id->valuestring)) : NULL;
	int rc = m != NULL ? hreq_call(r, &sched_kind, m, on_put, NULL) : -EINVAL;

	cJSON_Delete(j);
	if (rc != 0)
		hreq_fail(r, rc, "queue");
}

struct errno_task {
	unsigned ms;
	int rc;
};

static int errno_work(void *arg)
{
	const struct errno_task *e = arg;
	struct timespec ts = { e->ms / 1000, (long)(e->ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	return e->rc;
}

static void on_errno_work(struct hreq *r, struct call_msg *reply, void *arg)
{
	(void)arg;
	if (reply->status != 0)
		hreq_fail(r, reply->status, worker_reply_ran(reply) ?
			  "work: the task itself failed" : "work");
	else
		hreq_text(r, 200, "ran");
}

static void get_work_errno(struct hreq *r)
{
	const char *name = hreq_query(r, "rc");
	struct worker_task *t = worker_task_new(errno_work, sizeof(struct errno_task), NULL);
	struct errno_task *e;
	int rc;

	if (t == NULL) {
		hreq_error(r, 500, "out of memory");
		return;
	}
	e = worker_task_arg(t);
	e->ms = (unsigned)hreq_query_long(r, "ms", 0, 0, 10000);
	e->rc = name == NULL ? 0 : strcmp(name, "ETIMEDOUT") == 0 ? -ETIMEDOUT :
		strcmp(name, "EAGAIN") == 0 ? -EAGAIN : -EIO;
	rc = hreq_work(r, t, on_errno_work, NULL);
	if (rc != 0)
		hreq_fail(r, rc, "work");
}

int worker_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		       size_t errlen)
{
	if (!cfg->test_routes)
		return 0;
	if (route_add(t, ROUTE_GET, "/_test/queue-flaky", get_queue_flaky, NULL, err,
		      errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/_test/work-errno", get_work_errno, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}
