/*
 * seed_demo.c - the seed's executor examples, on the worker actors, so
 * its client scripts run unchanged (they send a JSON body on a GET):
 *
 *  GET  /       {"job_id": N}  blocking work (app.demo_work_ms, 1 s) on a
 *                              worker, then "N done" (run_on_executor)
 *  GET  /queue  {"job_id": N}  "N add" at once; the queue "collect" runs
 *                              the same work later on a worker and logs
 *                              "Collected job: N" (the producer-consumer
 *                              version: bounded, failed runs retried)
 *  POST /hash   {"password": "...", "salt": "...", "iterations": N}
 *                              PBKDF2-HMAC-SHA256 (pbkdf2.h) on a worker:
 *                              {"hash": "<64 hex digits>"}; N from 1 to
 *                              app.hash_max_iterations
 * and the periodic task "seed-period" (app.period_ms; the seed's
 * async_period_job), once per cluster when app.period_once_per_cluster.
 *
 * DESIGN
 * Each route parses its body on the handler (cheap), copies what the work
 * needs into a worker task's argument area (worker/worker.h) and answers
 * from the continuation. The password is wiped from the task when it is
 * freed. Errors: a body that is not the expected JSON is a 400 (a body
 * that is not JSON at all says where: hreq_json_parse; a string with
 * \u0000 too, since a C string would end there and hash a prefix); a full
 * worker pool or queue a 503 with Retry-After; a deadline that passed
 * before a worker took the task a 504 (hreq_fail).
 *
 * Thread: routes and continuations on the handler actor; the *_work
 * functions on a worker; seed_sched on the controlling thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "app.h"
#include "pbkdf2.h"
#include "actors/log.h"
#include "base/hex.h"
#include "handler/web.h"
#include "config/config.h"
#include "worker/sched.h"

#define JOB_ID_MAX 64
#define HASH_LEN 32                    /* SHA-256 */
#define COLLECT_QUEUE "collect"

/* ---- The body ---- */

/* The body's "job_id" (a number or a string) as text in `out`. 0, or
 * -EINVAL after answering 400. */
static int read_job_id(struct hreq *r, char *out, size_t outlen)
{
	const char *why = NULL;
	cJSON *j = hreq_json_parse(r, &why);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "job_id");
	int rc = 0;

	if (cJSON_IsNumber(id) && isfinite(id->valuedouble) &&
	    id->valuedouble == floor(id->valuedouble) && fabs(id->valuedouble) < 1e15)
		snprintf(out, outlen, "%lld", (long long)id->valuedouble);
	else if (cJSON_IsString(id) && strlen(id->valuestring) < outlen &&
		 strpbrk(id->valuestring, "\r\n") == NULL)
		snprintf(out, outlen, "%s", id->valuestring);
	else
		rc = -EINVAL;
	cJSON_Delete(j);
	if (rc != 0)
		hreq_error(r, 400, "%s%sexpected a JSON body {\"job_id\": N} (an integer or a "
			   "string of at most %zu characters)", why != NULL ? why : "",
			   why != NULL ? "; " : "", outlen - 1);
	return rc;
}

/* ---- The blocking work: GET / and the queue ---- */

static void block_ms(uint32_t ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	/* Deliberately blocking: the seed's time.sleep(1), on a worker. */
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

struct sleep_job {
	uint32_t ms;
	char id[JOB_ID_MAX];
};

static int sleep_work(void *arg)
{
	block_ms(((struct sleep_job *)arg)->ms);
	return 0;
}

static void on_slept(struct hreq *r, struct call_msg *reply, void *arg)
{
	const struct sleep_job *s = worker_reply_arg(reply);

	(void)arg;
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "job");
		return;
	}
	hreq_printf(r, "%s done", s->id);
	hreq_finish(r, 200, "text/plain");
}

static void get_root(struct hreq *r)
{
	struct worker_task *t = worker_task_new(sleep_work, sizeof(struct sleep_job), NULL);
	struct sleep_job *s;
	int rc;

	if (t == NULL) {
		hreq_error(r, 500, "out of memory");
		return;
	}
	s = worker_task_arg(t);
	if (read_job_id(r, s->id, sizeof(s->id)) != 0) {
		worker_task_free(t);
		return;
	}
	s->ms = hreq_config(r)->app.demo_work_ms;
	rc = hreq_work(r, t, on_slept, NULL);
	if (rc != 0)
		hreq_fail(r, rc, "job");
}

static void on_queued(struct hreq *r, struct call_msg *reply, void *arg)
{
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "queue");
		return;
	}
	hreq_printf(r, "%s add", (const char *)arg);
	hreq_finish(r, 200, "text/plain");
}

static void get_queue(struct hreq *r)
{
	char id[JOB_ID_MAX], *kept;
	struct call_msg *m;
	int rc;

	if (read_job_id(r, id, sizeof(id)) != 0)
		return;
	kept = hreq_strdup(r, id);
	m = sched_put_new(COLLECT_QUEUE, id, strlen(id));
	if (m == NULL || kept == NULL) {
		msg_free(m != NULL ? &m->m : NULL);
		rc = -ENOMEM;
	} else {
		rc = hreq_call(r, &sched_kind, m, on_queued, kept);   /* frees m on error */
	}
	if (rc != 0)
		hreq_fail(r, rc, "queue");
}

/* The queue's consumer (the seed's _collect): one item, on a worker. */
static int collect_item(const char *item, size_t len, unsigned attempt, void *data)
{
	const struct ad_config *cfg = config_current();

	(void)attempt;
	(void)data;
	block_ms(cfg != NULL ? cfg->app.demo_work_ms : 1000);
	log_info("Collected job: %.*s", (int)len, item);
	return 0;
}

/* ---- POST /hash ---- */

struct hash_job {
	uint32_t iterations;
	uint32_t pass_len, salt_len;
	char hex[2 * HASH_LEN + 1];    /* the result */
	char bytes[];                  /* password, then salt */
};

static int hash_work(void *arg)
{
	struct hash_job *h = arg;
	unsigned char out[HASH_LEN];

	if (pbkdf2_sha256(h->bytes, h->pass_len, h->bytes + h->pass_len, h->salt_len,
			  h->iterations, out, HASH_LEN) != 0)
		return -EIO;
	hex_encode(out, HASH_LEN, h->hex);
	OPENSSL_cleanse(out, sizeof(out));
	return 0;
}

/* The task is freed: leave no password behind in freed memory. */
static void hash_wipe(void *arg)
{
	struct hash_job *h = arg;

	OPENSSL_cleanse(h->bytes, (size_t)h->pass_len + h->salt_len);
}

struct worker_task *seed_hash_task(const char *password, const char *salt,
				   uint32_t iterations)
{
	size_t plen = strlen(password), slen = strlen(salt);
	struct worker_task *t = worker_task_new(hash_work, sizeof(struct hash_job) + plen + slen,
						hash_wipe);
	struct hash_job *h;

	if (t == NULL)
		return NULL;
	h = worker_task_arg(t);
	h->iterations = iterations;
	h->pass_len = (uint32_t)plen;
	h->salt_len = (uint32_t)slen;
	memcpy(h->bytes, password, plen);
	memcpy(h->bytes + plen, salt, slen);
	return t;
}

const char *seed_hash_hex(struct call_msg *reply)
{
	const struct hash_job *h = worker_reply_arg(reply);

	return h != NULL && reply->status == 0 ? h->hex : NULL;
}

int seed_hash_check(const cJSON *body, uint32_t max_iterations, const char **password,
		    const char **salt, uint32_t *iterations)
{
	const cJSON *pw = cJSON_GetObjectItemCaseSensitive(body, "password");
	const cJSON *sa = cJSON_GetObjectItemCaseSensitive(body, "salt");
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(body, "iterations");

	if (!cJSON_IsString(pw) || !cJSON_IsString(sa) || !cJSON_IsNumber(it) ||
	    it->valuedouble != floor(it->valuedouble) || it->valuedouble < 1 ||
	    it->valuedouble > max_iterations)
		return -EINVAL;
	*password = pw->valuestring;
	*salt = sa->valuestring;
	*iterations = (uint32_t)it->valuedouble;
	return 0;
}

static void on_hashed(struct hreq *r, struct call_msg *reply, void *arg)
{
	const char *hex = seed_hash_hex(reply);
	cJSON *o;

	(void)arg;
	if (hex == NULL) {
		hreq_fail(r, reply->status != 0 ? reply->status : -EIO, "hash");
		return;
	}
	o = cJSON_CreateObject();
	if (o != NULL && cJSON_AddStringToObject(o, "hash", hex) == NULL) {
		cJSON_Delete(o);
		o = NULL;
	}
	hreq_json(r, 200, o);
}

static void post_hash(struct hreq *r)
{
	uint32_t max = hreq_config(r)->app.hash_max_iterations, iterations;
	const char *why = NULL, *password, *salt;
	cJSON *j = hreq_json_parse(r, &why);
	struct worker_task *t = NULL;
	int rc = seed_hash_check(j, max, &password, &salt, &iterations);

	if (rc == 0) {
		t = seed_hash_task(password, salt, iterations);
		OPENSSL_cleanse((char *)password, strlen(password));
	}
	cJSON_Delete(j);
	if (rc != 0) {
		hreq_error(r, 400, "%s%sexpected a JSON body {\"password\": string, \"salt\": "
			   "string, \"iterations\": 1 to %u}", why != NULL ? why : "",
			   why != NULL ? "; " : "", max);
		return;
	}
	rc = hreq_work(r, t, on_hashed, NULL);     /* -ENOMEM for a NULL t */
	if (rc != 0)
		hreq_fail(r, rc, "hash");
}

int seed_demo_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		     size_t errlen)
{
	(void)cfg;
	if (route_add(t, ROUTE_GET, "/", get_root, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/queue", get_queue, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_POST, "/hash", post_hash, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}

/* ---- The schedule ---- */

static int seed_period(const struct sched_run *run)
{
	log_info("Periodic job ran (slot %" PRIu64 ")", run->slot);
	return 0;
}

int seed_sched(struct sched_setup *s, const struct ad_config *cfg, char *err, size_t errlen)
{
	const struct sched_queue q = {
		.name = COLLECT_QUEUE,
		.capacity = cfg->app.queue_capacity,
		.concurrency = cfg->app.queue_concurrency,
		.max_attempts = cfg->app.queue_max_attempts,
		.run = collect_item,
	};
	const struct sched_periodic p = {
		.name = "seed-period",
		.period_ms = cfg->app.period_ms,
		.run = seed_period,
		.on_sched = true,             /* one log line: no worker needed */
		.once_per_cluster = cfg->app.period_once_per_cluster,
	};
	int rc = sched_add_queue(s, &q, err, errlen);

	if (rc == 0 && cfg->app.period_ms > 0)
		rc = sched_add_periodic(s, &p, err, errlen);
	return rc;
}
