/*
 * jobs.c - the job queue's routes (docs/JOBS.md):
 *   POST /jobs      {"type": "...", "payload": {...}} -> 202 {"id", "state"}
 *   GET  /jobs/:id  the job's state, attempts, timestamps, result or error
 *
 * DESIGN
 * The route checks everything it can before Redis is involved (JSON, a
 * known type, the payload's size and the type's own check: 400 with a
 * message), then sends the job to a job actor (storage/job.h), which
 * answers once Redis has stored it: only then is 202 sent. An
 * Idempotency-Key header makes a retried POST return the job the first
 * one created (with Idempotent-Replayed: true), so a client that lost an
 * answer can retry without creating a second job.
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "config/config.h"
#include "handler/web.h"
#include "storage/job.h"

/* ---- POST /jobs ---- */

static void on_enqueued(struct hreq *r, struct call_msg *reply, void *arg)
{
	cJSON *out;

	(void)arg;
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "job queue");
		return;
	}
	out = cJSON_CreateObject();
	if (out != NULL && (cJSON_AddStringToObject(out, "id", job_reply_id(reply)) == NULL ||
			    cJSON_AddStringToObject(out, "state", "queued") == NULL)) {
		cJSON_Delete(out);
		out = NULL;
	}
	if (!job_reply_created(reply))
		hreq_add_header(r, "Idempotent-Replayed", "true");
	hreq_json(r, 202, out);
}

static bool idem_key_valid(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > JOB_IDEM_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (k[i] < '!' || k[i] > '~')
			return false;
	return true;
}

static void post_job(struct hreq *r)
{
	const struct ad_config *cfg = hreq_config(r);
	const char *idem = hreq_header(r, "Idempotency-Key"), *why;
	const cJSON *type, *payload;
	const struct job_type *jt;
	cJSON *root, *empty = NULL;
	char err[256], *text = NULL;
	int rc;

	root = hreq_json_parse(r, &why);
	if (root == NULL) {
		hreq_error(r, 400, "%s", why);
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		hreq_error(r, 400, "the body must be a JSON object: "
			   "{\"type\": \"...\", \"payload\": {...}}");
		goto out;
	}
	type = cJSON_GetObjectItemCaseSensitive(root, "type");
	if (!cJSON_IsString(type)) {
		hreq_error(r, 400, "\"type\" must be a string naming a job type");
		goto out;
	}
	jt = job_type_find(app_job_types, app_njob_types, type->valuestring);
	if (jt == NULL) {
		hreq_error(r, 400, "unknown job type '%.64s'", type->valuestring);
		goto out;
	}
	payload = cJSON_GetObjectItemCaseSensitive(root, "payload");
	if (payload == NULL)
		payload = empty = cJSON_CreateObject();
	if (!cJSON_IsObject(payload)) {
		hreq_error(r, 400, "\"payload\" must be a JSON object");
		goto out;
	}
	if (idem != NULL && !idem_key_valid(idem)) {
		hreq_error(r, 400, "Idempotency-Key must be 1 to %d printable characters "
			   "without spaces", JOB_IDEM_KEY_MAX);
		goto out;
	}
	text = cJSON_PrintUnformatted(payload);
	if (text == NULL) {
		hreq_error(r, 500, "could not store the payload");
		goto out;
	}
	if (strlen(text) > cfg->jobs.max_payload_bytes) {
		hreq_error(r, 400, "the payload is %zu bytes, more than jobs.max_payload_bytes (%u)",
			   strlen(text), cfg->jobs.max_payload_bytes);
		goto out;
	}
	err[0] = '\0';
	if (jt->check != NULL && jt->check(payload, cfg, err, sizeof(err)) != 0) {
		hreq_error(r, 400, "%s", err[0] != '\0' ? err : "invalid payload");
		goto out;
	}
	{
		struct job_req *q = job_req_enqueue(jt->name, text, strlen(text), idem);

		rc = q != NULL ? hreq_call(r, &job_kind, job_req_call(q), on_enqueued, NULL) : -ENOMEM;
		if (rc != 0)
			hreq_fail(r, rc, "job queue");
	}
out:
	cJSON_free(text);
	cJSON_Delete(empty);
	cJSON_Delete(root);
}

/* ---- GET /jobs/:id ---- */

/* "2026-11-24T10:37:49.123Z" from a Redis timestamp in ms; NULL if absent. */
static cJSON *timestamp(const char *ms_text)
{
	char buf[40];
	long long ms;
	time_t s;
	struct tm tm;

	if (ms_text == NULL || sscanf(ms_text, "%lld", &ms) != 1 || ms < 0)
		return NULL;
	s = (time_t)(ms / 1000);
	if (gmtime_r(&s, &tm) == NULL)
		return NULL;
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ".%03lldZ", ms % 1000);
	return cJSON_CreateString(buf);
}

static void add_time(cJSON *o, const char *name, const char *ms_text)
{
	cJSON *t = timestamp(ms_text);

	if (t != NULL)
		cJSON_AddItemToObject(o, name, t);
}

static void add_int(cJSON *o, const char *name, const char *text)
{
	long long v = 0;

	if (text != NULL)
		sscanf(text, "%lld", &v);
	cJSON_AddNumberToObject(o, name, (double)v);
}

/* Stored JSON (result, payload) as JSON; a string if it does not parse. */
static void add_json(cJSON *o, const char *name, const char *text)
{
	cJSON *v;

	if (text == NULL)
		return;
	v = cJSON_Parse(text);
	cJSON_AddItemToObject(o, name, v != NULL ? v : cJSON_CreateString(text));
}

/* The failures the scripts recorded, with readable times. */
static void add_failures(cJSON *o, const char *text)
{
	cJSON *in = text != NULL ? cJSON_Parse(text) : NULL, *f, *out = cJSON_CreateArray();
	char ms[24];

	cJSON_ArrayForEach(f, in) {
		const cJSON *attempt = cJSON_GetObjectItemCaseSensitive(f, "attempt");
		const cJSON *started = cJSON_GetObjectItemCaseSensitive(f, "started");
		const cJSON *failed = cJSON_GetObjectItemCaseSensitive(f, "failed");
		const cJSON *error = cJSON_GetObjectItemCaseSensitive(f, "error");
		cJSON *e = cJSON_CreateObject();

		if (e == NULL)
			break;
		cJSON_AddNumberToObject(e, "attempt", cJSON_IsNumber(attempt) ? attempt->valuedouble : 0);
		if (cJSON_IsNumber(started)) {
			snprintf(ms, sizeof(ms), "%.0f", started->valuedouble);
			add_time(e, "started_at", ms);
		}
		if (cJSON_IsNumber(failed)) {
			snprintf(ms, sizeof(ms), "%.0f", failed->valuedouble);
			add_time(e, "failed_at", ms);
		}
		cJSON_AddStringToObject(e, "error", cJSON_IsString(error) ? error->valuestring : "");
		cJSON_AddItemToArray(out, e);
	}
	cJSON_Delete(in);
	cJSON_AddItemToObject(o, "failures", out);
}

static void on_status(struct hreq *r, struct call_msg *reply, void *arg)
{
	const char *state = job_reply_field(reply, "state");
	cJSON *o;

	if (reply->status == -ENOENT || (reply->status == 0 && state == NULL)) {
		hreq_error(r, 404, "no such job");
		return;
	}
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "job queue");
		return;
	}
	o = cJSON_CreateObject();
	if (o == NULL) {
		hreq_json(r, 500, NULL);
		return;
	}
	cJSON_AddStringToObject(o, "id", (const char *)arg);
	cJSON_AddStringToObject(o, "type", job_reply_field(reply, "type") != NULL
				? job_reply_field(reply, "type") : "");
	cJSON_AddStringToObject(o, "state", state);
	add_int(o, "attempts", job_reply_field(reply, "attempts"));
	add_int(o, "redeliveries", job_reply_field(reply, "redeliveries"));
	add_time(o, "created_at", job_reply_field(reply, "created"));
	add_time(o, "started_at", job_reply_field(reply, "started"));
	add_time(o, "finished_at", job_reply_field(reply, "finished"));
	add_time(o, "next_attempt_at", job_reply_field(reply, "next_attempt"));
	if (job_reply_field(reply, "worker") != NULL)
		cJSON_AddStringToObject(o, "worker", job_reply_field(reply, "worker"));
	add_json(o, "payload", job_reply_field(reply, "payload"));
	add_json(o, "result", job_reply_field(reply, "result"));
	if (job_reply_field(reply, "last_error") != NULL)
		cJSON_AddStringToObject(o, "error", job_reply_field(reply, "last_error"));
	add_failures(o, job_reply_field(reply, "failures"));
	hreq_json(r, 200, o);
}

static void get_job(struct hreq *r)
{
	const char *id = hreq_param(r, "id");
	struct job_req *q;
	int rc;

	if (id == NULL || !job_id_valid(id)) {
		hreq_error(r, 404, "no such job");
		return;
	}
	q = job_req_status(id);
	rc = q != NULL ? hreq_call(r, &job_kind, job_req_call(q), on_status, (void *)id) : -ENOMEM;
	if (rc != 0)
		hreq_fail(r, rc, "job queue");
}

int jobs_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen)
{
	(void)cfg;
	if (route_add(t, ROUTE_POST, "/jobs", post_job, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/jobs/:id", get_job, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}
