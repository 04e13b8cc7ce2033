/*
 * job_types.c - the job types the shipped application runs (job_type.h,
 * docs/JOBS.md): `sleep`, `sql` and `hash`, and the table main.c gives to the job
 * actors.
 *
 * DESIGN
 *  - sleep {"seconds": N}: the seed's example of slow work. Waits N
 *    seconds on a timer (never blocking the job actor) and returns
 *    {"id": "<job id>"}.
 *  - sql {"args": [...]}: runs jobs.sql_statement on MariaDB through the
 *    mysql actors, with the job id as its first parameter and the args
 *    after it. Delivery is at least once, so the statement must make a
 *    second run harmless: the shipped one inserts a row keyed by the job
 *    id (INSERT ... ON DUPLICATE KEY UPDATE job_id = job_id), and a run
 *    that finds its row already there (0 rows affected) is a success with
 *    "applied": false.
 *  - hash {"password", "salt", "iterations"}: PBKDF2-HMAC-SHA256 computed
 *    on a worker actor (job_call with &worker_kind: the job actor never
 *    blocks), result {"hash": "<64 hex digits>"}; iterations up to
 *    app.hash_max_iterations.
 *
 * Thread: checks on a handler actor, runs on a job actor.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "config/config.h"
#include "storage/sql.h"
#include "worker/worker.h"

#define SLEEP_MAX_S 86400.0
#define SQL_MAX_ARGS 32

/* ---- sleep ---- */

static int check_sleep(const cJSON *payload, const struct ad_config *cfg, char *err,
		       size_t errlen)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(payload, "seconds");

	if (s == NULL)
		return 0;
	if (!cJSON_IsNumber(s) || !isfinite(s->valuedouble) || s->valuedouble < 0 ||
	    s->valuedouble > SLEEP_MAX_S) {
		snprintf(err, errlen, "sleep: \"seconds\" must be a number from 0 to %.0f",
			 SLEEP_MAX_S);
		return -EINVAL;
	}
	/* It would time out on every attempt. */
	if (s->valuedouble * 1000.0 >= cfg->jobs.timeout_ms) {
		snprintf(err, errlen, "sleep: %g seconds is not shorter than jobs.timeout_ms (%u)",
			 s->valuedouble, cfg->jobs.timeout_ms);
		return -EINVAL;
	}
	return 0;
}

static void on_slept(struct job *j, struct call_msg *reply, void *arg)
{
	cJSON *out = cJSON_CreateObject();

	(void)reply;
	(void)arg;
	if (out == NULL || cJSON_AddStringToObject(out, "id", job_id(j)) == NULL) {
		cJSON_Delete(out);
		job_failed(j, "out of memory");
		return;
	}
	job_done(j, out);
}

static void run_sleep(struct job *j, const cJSON *payload)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(payload, "seconds");
	double ms = cJSON_IsNumber(s) ? s->valuedouble * 1000.0 : 0.0;

	if (job_after(j, (unsigned)ms, on_slept, NULL) != 0)
		job_failed(j, "out of memory");
}

/* ---- sql ---- */

static int check_sql(const cJSON *payload, const struct ad_config *cfg, char *err,
		     size_t errlen)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(payload, "args"), *a;

	(void)cfg;
	if (args == NULL)
		return 0;
	if (!cJSON_IsArray(args) || cJSON_GetArraySize(args) > SQL_MAX_ARGS) {
		snprintf(err, errlen, "sql: \"args\" must be an array of at most %d values",
			 SQL_MAX_ARGS);
		return -EINVAL;
	}
	cJSON_ArrayForEach(a, args) {
		if (!cJSON_IsString(a) && !cJSON_IsNumber(a) && !cJSON_IsBool(a) &&
		    !cJSON_IsNull(a)) {
			snprintf(err, errlen, "sql: \"args\" must hold strings, numbers, "
				 "booleans or nulls");
			return -EINVAL;
		}
	}
	return 0;
}

static void on_sql(struct job *j, struct call_msg *reply, void *arg)
{
	uint64_t affected = sql_affected(reply, 0);
	cJSON *out;

	(void)arg;
	if (reply->status == -EBADMSG) {
		job_failed(j, "sql: MariaDB refused the statement (actord's log says why)");
		return;
	}
	if (reply->status != 0) {
		job_failed(j, "sql: %s", ad_strerror(reply->status));
		return;
	}
	out = cJSON_CreateObject();
	if (out == NULL || cJSON_AddBoolToObject(out, "applied", affected > 0) == NULL ||
	    cJSON_AddNumberToObject(out, "affected", (double)affected) == NULL) {
		cJSON_Delete(out);
		job_failed(j, "out of memory");
		return;
	}
	job_done(j, out);
}

static void add_arg(struct sql_req *q, const cJSON *a)
{
	char num[32];

	if (cJSON_IsString(a))
		sql_req_text(q, a->valuestring, strlen(a->valuestring));
	else if (cJSON_IsBool(a))
		sql_req_int(q, cJSON_IsTrue(a) ? 1 : 0);
	else if (cJSON_IsNumber(a) && a->valuedouble == floor(a->valuedouble) &&
		 fabs(a->valuedouble) < 9007199254740992.0)
		sql_req_int(q, (int64_t)a->valuedouble);
	else if (cJSON_IsNumber(a))
		sql_req_text(q, num, (size_t)snprintf(num, sizeof(num), "%.17g", a->valuedouble));
	else
		sql_req_null(q);
}

static void run_sql(struct job *j, const cJSON *payload)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(payload, "args"), *a;
	struct sql_req *q = sql_req_new();
	int rc;

	if (q == NULL) {
		job_failed(j, "out of memory");
		return;
	}
	sql_req_stmt(q, job_config(j)->jobs.sql_statement);
	sql_req_text(q, job_id(j), strlen(job_id(j)));
	cJSON_ArrayForEach(a, args)
		add_arg(q, a);
	rc = job_call(j, &sql_kind, sql_req_call(q), on_sql, NULL);
	if (rc != 0)
		job_failed(j, "sql: %s", ad_strerror(rc));
}

/* ---- hash ---- */

static int check_hash(const cJSON *payload, const struct ad_config *cfg, char *err,
		      size_t errlen)
{
	const char *pw, *salt;
	uint32_t it;

	if (seed_hash_check(payload, cfg->app.hash_max_iterations, &pw, &salt, &it) == 0)
		return 0;
	snprintf(err, errlen, "hash: expected {\"password\": string, \"salt\": string, "
		 "\"iterations\": 1 to %u}", cfg->app.hash_max_iterations);
	return -EINVAL;
}

static void on_hash(struct job *j, struct call_msg *reply, void *arg)
{
	const char *hex = seed_hash_hex(reply);
	cJSON *out;

	(void)arg;
	if (hex == NULL) {
		job_failed(j, "hash: %s", ad_strerror(reply->status != 0 ? reply->status : -EIO));
		return;
	}
	out = cJSON_CreateObject();
	if (out == NULL || cJSON_AddStringToObject(out, "hash", hex) == NULL) {
		cJSON_Delete(out);
		job_failed(j, "out of memory");
		return;
	}
	job_done(j, out);
}

static void run_hash(struct job *j, const cJSON *payload)
{
	const char *pw, *salt;
	uint32_t it;
	struct worker_task *t;
	int rc = seed_hash_check(payload, job_config(j)->app.hash_max_iterations, &pw, &salt, &it);

	if (rc != 0) {
		job_failed(j, "hash: invalid payload");
		return;
	}
	t = seed_hash_task(pw, salt, it);
	rc = t != NULL ? job_call(j, &worker_kind, worker_task_call(t), on_hash, NULL) : -ENOMEM;
	if (rc != 0)
		job_failed(j, "hash: %s", ad_strerror(rc));   /* -EAGAIN: retried later */
}

const struct job_type app_job_types[] = {
	{ "sleep", check_sleep, run_sleep },
	{ "sql", check_sql, run_sql },
	{ "hash", check_hash, run_hash },
};

const unsigned app_njob_types = sizeof(app_job_types) / sizeof(app_job_types[0]);
