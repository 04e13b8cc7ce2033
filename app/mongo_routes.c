/*
 * mongo_routes.c - TechEmpower's database test types on MongoDB:
 *
 *  GET /mongo/db                  one random world row: {"id":N,"randomNumber":M}
 *  GET /mongo/queries?queries=N   N random rows, a JSON array
 *  GET /mongo/updates?queries=N   N random rows, each given a new random
 *                                 number, persisted, the new values answered
 *  GET /mongo/fortunes            every fortune plus one added at request
 *                                 time, sorted by message, as an HTML table
 *
 * DESIGN
 * TechEmpower's rules, followed exactly: every row is read with its own
 * query ({id: N}, limit 1; never $in), ids are drawn independently in
 * 1..10000, `queries` is clamped to 1..500 and anything that is not a
 * number (missing, empty, "foo") counts as 1, the answer to /queries and
 * /updates is always an array. Updates read each row, draw a new number
 * (different from the old one, so every row really changes), write all of
 * them with one bulk write, and answer the new values (a 500 if the write
 * matched fewer rows than it names: one was deleted since its read).
 * Fortunes are read from the database, extended, sorted and escaped on
 * every request.
 *
 * The finds of one request are spread over the mongo pool: min(N,
 * actors.mongo.count) messages, each a batch of finds that one member runs
 * back to back, so the round trips overlap on every connection. The parts
 * join in a request-scoped job (hreq_alloc memory): the first failure
 * answers (hreq_fail: 503 / 504 / 500) and later parts only count down.
 * A part that arrives after the request was answered (a 504) starts no
 * further work.
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "app.h"
#include "base/clock.h"
#include "config/config.h"
#include "storage/mongo.h"

#define WORLD_ROWS 10000
#define MAX_QUERIES 500

enum world_kind { WORLD_DB, WORLD_QUERIES, WORLD_UPDATES };

/* Owner: the handler actor; lives in the request's memory. */
struct world_job {
	enum world_kind kind;
	unsigned n;
	unsigned parts_left;      /* finds in flight */
	bool failed;              /* answered with an error already */
	int32_t *ids;
	int32_t *numbers;         /* read, then (updates) the new values */
};

/* One find message of a job: rows [first, first + its query count). */
struct world_part {
	struct world_job *job;
	unsigned first;
};

/* xorshift64*: per handler thread, seeded once; the ids only need to be
 * uniform, not unpredictable. */
static __thread uint64_t rng_state;

static int32_t random_row(void)
{
	uint64_t x = rng_state;

	if (x == 0) {
		if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t)sizeof(x))
			x = clock_now_ns() ^ (uint64_t)(uintptr_t)&rng_state;
		x |= 1;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return (int32_t)(((x * 2685821657736338717ull) >> 33) % WORLD_ROWS) + 1;
}

static cJSON *id_filter(int32_t id)
{
	cJSON *f = cJSON_CreateObject();

	if (f != NULL && cJSON_AddNumberToObject(f, "id", id) == NULL) {
		cJSON_Delete(f);
		f = NULL;
	}
	return f;
}

static cJSON *world_json(int32_t id, int32_t number)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL && (cJSON_AddNumberToObject(o, "id", id) == NULL ||
			  cJSON_AddNumberToObject(o, "randomNumber", number) == NULL)) {
		cJSON_Delete(o);
		o = NULL;
	}
	return o;
}

static void answer_rows(struct hreq *r, const struct world_job *job)
{
	cJSON *a;

	if (job->kind == WORLD_DB) {
		hreq_json(r, 200, world_json(job->ids[0], job->numbers[0]));
		return;
	}
	a = cJSON_CreateArray();
	for (unsigned i = 0; a != NULL && i < job->n; i++) {
		cJSON *o = world_json(job->ids[i], job->numbers[i]);

		if (o == NULL || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			cJSON_Delete(a);
			a = NULL;
		}
	}
	hreq_json(r, 200, a);
}

static void on_updated(struct hreq *r, struct call_msg *reply, void *arg)
{
	struct world_job *job = arg;

	if (reply->status != 0) {
		hreq_fail(r, reply->status, "MongoDB world update");
		return;
	}
	/* Each update names one row that was just read: one that matched
	 * nothing was deleted in between, and its new value is not stored. */
	if (mongo_result_n(reply) != (int64_t)job->n) {
		hreq_error(r, 500, "MongoDB world update: %lld of %u rows matched: a row was "
			   "deleted between its read and its write (the rows still there were "
			   "written)", (long long)mongo_result_n(reply), job->n);
		return;
	}
	answer_rows(r, job);
}

/* Every row was read: answer, or (updates) write the new numbers. */
static void rows_read(struct hreq *r, struct world_job *job)
{
	struct call_msg *m;
	int rc = 0;

	if (job->kind != WORLD_UPDATES) {
		answer_rows(r, job);
		return;
	}
	m = mongo_update("world");
	for (unsigned i = 0; m != NULL && rc == 0 && i < job->n; i++) {
		int32_t v;
		cJSON *set = cJSON_CreateObject(), *update = cJSON_CreateObject();

		do
			v = random_row();
		while (v == job->numbers[i]);
		job->numbers[i] = v;
		if (set == NULL || cJSON_AddNumberToObject(set, "randomNumber", v) == NULL ||
		    update == NULL || !cJSON_AddItemToObject(update, "$set", set)) {
			cJSON_Delete(set);
			cJSON_Delete(update);
			rc = -ENOMEM;
		} else
			rc = mongo_update_add(m, id_filter(job->ids[i]), update);
	}
	if (m == NULL || rc != 0) {
		if (m != NULL)
			msg_free(&m->m);
		hreq_error(r, 500, "out of memory");
		return;
	}
	rc = hreq_call(r, &mongo_kind, m, on_updated, job);
	if (rc != 0)
		hreq_fail(r, rc, "MongoDB world update");
}

static void on_rows(struct hreq *r, struct call_msg *reply, void *arg)
{
	struct world_part *p = arg;
	struct world_job *job = p->job;

	job->parts_left--;
	if (job->failed || hreq_answered(r))
		return;
	if (reply->status != 0) {
		job->failed = true;
		hreq_fail(r, reply->status, "MongoDB world lookup");
		return;
	}
	for (unsigned i = 0; i < mongo_nqueries(reply); i++) {
		const cJSON *doc = cJSON_GetArrayItem(mongo_docs(reply, i), 0);
		const cJSON *num = cJSON_GetObjectItemCaseSensitive(doc, "randomNumber");
		unsigned row = p->first + i;

		if (!cJSON_IsNumber(num)) {
			job->failed = true;
			hreq_error(r, 500, "world row %d is missing", (int)job->ids[row]);
			return;
		}
		job->numbers[row] = (int32_t)num->valuedouble;
	}
	if (job->parts_left == 0)
		rows_read(r, job);
}

/* A find message for rows [first, first + count). NULL on ENOMEM. */
static struct call_msg *rows_query(const struct world_job *job, unsigned first,
				   unsigned count)
{
	struct call_msg *m = mongo_find("world", id_filter(job->ids[first]), 1);

	for (unsigned i = 1; m != NULL && i < count; i++) {
		if (mongo_find_add(m, id_filter(job->ids[first + i])) != 0) {
			msg_free(&m->m);
			m = NULL;
		}
	}
	return m;
}

static void start_rows(struct hreq *r, enum world_kind kind, unsigned n)
{
	struct world_job *job = hreq_alloc(r, sizeof(*job));
	unsigned pool = hreq_config(r)->mongo_actor.count, parts, per, extra, first = 0;

	if (job != NULL) {
		job->ids = hreq_alloc(r, n * sizeof(*job->ids));
		job->numbers = hreq_alloc(r, n * sizeof(*job->numbers));
	}
	if (job == NULL || job->ids == NULL || job->numbers == NULL) {
		hreq_error(r, 500, "out of memory");
		return;
	}
	job->kind = kind;
	job->n = n;
	job->failed = false;
	for (unsigned i = 0; i < n; i++)
		job->ids[i] = random_row();
	parts = pool == 0 ? 1 : pool < n ? pool : n;
	per = n / parts;
	extra = n % parts;
	job->parts_left = parts;
	for (unsigned p = 0; p < parts; p++) {
		unsigned count = per + (p < extra ? 1 : 0);
		struct world_part *part = hreq_alloc(r, sizeof(*part));
		struct call_msg *m = part != NULL ? rows_query(job, first, count) : NULL;
		int rc = m != NULL ? 0 : -ENOMEM;

		if (rc == 0) {
			part->job = job;
			part->first = first;
			rc = hreq_call(r, &mongo_kind, m, on_rows, part);
		}
		if (rc != 0) {
			/* Parts already sent still come back; they see `failed`. */
			job->parts_left -= parts - p;
			job->failed = true;
			hreq_fail(r, rc, "MongoDB world lookup");
			return;
		}
		first += count;
	}
}

static unsigned queries_param(struct hreq *r)
{
	return (unsigned)hreq_query_long(r, "queries", 1, 1, MAX_QUERIES);
}

static void get_db(struct hreq *r)
{
	start_rows(r, WORLD_DB, 1);
}

static void get_queries(struct hreq *r)
{
	start_rows(r, WORLD_QUERIES, queries_param(r));
}

static void get_updates(struct hreq *r)
{
	start_rows(r, WORLD_UPDATES, queries_param(r));
}

/* ---- Fortunes ---- */

struct fortune {
	double id;
	const char *message;      /* in the reply's documents */
};

static int by_message(const void *a, const void *b)
{
	/* Bytewise: for UTF-8 that is code point order. */
	return strcmp(((const struct fortune *)a)->message,
		      ((const struct fortune *)b)->message);
}

static void on_fortunes(struct hreq *r, struct call_msg *reply, void *arg)
{
	static const char head[] =
		"<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
		"<tr><th>id</th><th>message</th></tr>";
	static const char tail[] = "</table></body></html>";
	const cJSON *docs, *d;
	struct fortune *rows;
	size_t n = 0;

	(void)arg;
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "MongoDB fortunes");
		return;
	}
	docs = mongo_docs(reply, 0);
	rows = hreq_alloc(r, ((size_t)cJSON_GetArraySize(docs) + 1) * sizeof(*rows));
	if (rows == NULL) {
		hreq_error(r, 500, "out of memory");
		return;
	}
	cJSON_ArrayForEach(d, docs) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "id");
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(d, "message");

		if (!cJSON_IsNumber(id) || !cJSON_IsString(msg)) {
			hreq_error(r, 500, "a fortune without id or message");
			return;
		}
		rows[n].id = id->valuedouble;
		rows[n++].message = msg->valuestring;
	}
	rows[n].id = 0;
	rows[n++].message = "Additional fortune added at request time.";
	qsort(rows, n, sizeof(*rows), by_message);
	hreq_write(r, head, sizeof(head) - 1);
	for (size_t i = 0; i < n; i++) {
		hreq_printf(r, "<tr><td>%.0f</td><td>", rows[i].id);
		hreq_write_html(r, rows[i].message, strlen(rows[i].message));
		hreq_write(r, "</td></tr>", 10);
	}
	hreq_write(r, tail, sizeof(tail) - 1);
	hreq_finish(r, 200, "text/html; charset=UTF-8");
}

static void get_fortunes(struct hreq *r)
{
	struct call_msg *m = mongo_find("fortune", cJSON_CreateObject(), 0);
	int rc = m != NULL ? hreq_call(r, &mongo_kind, m, on_fortunes, NULL) : -ENOMEM;

	if (rc != 0)
		hreq_fail(r, rc, "MongoDB fortunes");
}

int mongo_app_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		     size_t errlen)
{
	(void)cfg;
	if (route_add(t, ROUTE_GET | ROUTE_NO_COMPRESS, "/mongo/db", get_db, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET | ROUTE_NO_COMPRESS, "/mongo/queries", get_queries, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET | ROUTE_NO_COMPRESS, "/mongo/updates", get_updates, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET | ROUTE_NO_COMPRESS, "/mongo/fortunes", get_fortunes, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}
