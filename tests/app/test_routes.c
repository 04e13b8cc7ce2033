/*
 * test_routes.c - routes that exist only for the test suite (config key
 * test_routes, false by default and in the shipped file).
 *
 *  GET  /_test/block?ms=N    blocks the handler actor's thread for N ms
 *                            (fills its mailbox: 503 tests)
 *  GET  /_test/delay?ms=N&tag=T answers "delayed T" after N ms without
 *                            blocking (slow requests in flight: drain and
 *                            ordering tests)
 *  GET  /_test/bytes?n=N     N bytes of 'x' (large answers: clients that
 *                            do not read, backpressure)
 *  GET  /_test/silent        never answers in time (504 at the deadline)
 *  ANY  /_test/echo          answers with the request body and type
 *  GET  /_test/params/:a/ + *b the route parameters and query, as JSON
 *  GET  /_test/sql-sleep?s=N holds one MariaDB connection for N seconds
 *                            (SELECT SLEEP(N): a slow query must not hold
 *                            up the other connections)
 *  GET  /_test/sql-bad       a statement MariaDB refuses (500, reason logged);
 *                            ?dup=1: an INSERT of an id World holds (409)
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <time.h>

#include "test_app.h"
#include "config/config.h"
#include "mailbox/mbox.h"
#include "storage/sql.h"

#define TEST_MAX_MS 60000
#define TEST_MAX_BYTES (16L << 20)

static void get_block(struct hreq *r)
{
	long ms = hreq_query_long(r, "ms", 100, 0, TEST_MAX_MS);
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	/* Deliberately blocking: only the test suite registers this. Like
	 * every actor that blocks, publish what was already sent first (the
	 * answers of earlier requests must not wait for this one). */
	mbox_flush();
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	hreq_text(r, 200, "blocked\n");
}

static void delay_done(struct hreq *r, struct call_msg *reply, void *arg)
{
	const char *tag = hreq_query(r, "tag");

	(void)reply;
	(void)arg;
	hreq_printf(r, "delayed%s%s\n", tag != NULL ? " " : "", tag != NULL ? tag : "");
	hreq_finish(r, 200, "text/plain");
}

static void get_delay(struct hreq *r)
{
	long ms = hreq_query_long(r, "ms", 100, 0, TEST_MAX_MS);

	if (hreq_after(r, (unsigned)ms, delay_done, NULL) != 0)
		hreq_error(r, 500, "no timer");
}

static void get_bytes(struct hreq *r)
{
	static const char chunk[4096] = { [0 ... 4095] = 'x' };
	long n = hreq_query_long(r, "n", 0, 0, TEST_MAX_BYTES);

	while (n > 0) {
		size_t k = n < (long)sizeof(chunk) ? (size_t)n : sizeof(chunk);

		if (hreq_write(r, chunk, k) != 0)
			break; /* out of memory: hreq_finish answers 500 */
		n -= (long)k;
	}
	hreq_finish(r, 200, "application/octet-stream");
}

static void silent_done(struct hreq *r, struct call_msg *reply, void *arg)
{
	(void)reply;
	(void)arg;
	hreq_text(r, 200, "too late\n");   /* ignored: the deadline answered */
}

static void get_silent(struct hreq *r)
{
	unsigned ms = hreq_config(r)->http.request_timeout_ms + 1000;

	if (hreq_after(r, ms, silent_done, NULL) != 0)
		hreq_error(r, 500, "no timer");
}

/* Answers with the status `code` given (a route's bug when not 200..599). */
static void get_status(struct hreq *r)
{
	hreq_text(r, (unsigned)hreq_query_long(r, "code", 200, 0, 1000), "status\n");
}

static void get_no_reply(struct hreq *r)
{
	(void)r;   /* a bug in a route: no answer, nothing pending */
}

static void any_echo(struct hreq *r)
{
	size_t len;
	const char *body = hreq_body(r, &len);
	const char *type = hreq_header(r, "Content-Type");

	hreq_send(r, 200, type != NULL ? type : "application/octet-stream", body, len);
}

static void get_params(struct hreq *r)
{
	cJSON *o = cJSON_CreateObject();
	const char *a = hreq_param(r, "a"), *b = hreq_param(r, "b"), *q = hreq_query(r, "q");

	cJSON_AddStringToObject(o, "a", a != NULL ? a : "");
	cJSON_AddStringToObject(o, "b", b != NULL ? b : "");
	if (q != NULL)
		cJSON_AddStringToObject(o, "q", q);
	cJSON_AddStringToObject(o, "client", hreq_client(r));
	hreq_json(r, 200, o);
}

static void sql_slept(struct hreq *r, struct call_msg *reply, void *arg)
{
	(void)arg;
	if (reply->status != 0)
		hreq_fail(r, reply->status, "sql sleep");
	else
		hreq_text(r, 200, "slept\n");
}

static void get_sql_sleep(struct hreq *r)
{
	struct sql_req *q = sql_req_new();
	int rc = -ENOMEM;

	if (q != NULL) {
		sql_req_stmt(q, "SELECT SLEEP(?)");
		sql_req_int(q, hreq_query_long(r, "s", 1, 0, TEST_MAX_MS / 1000));
		rc = hreq_call(r, &sql_kind, sql_req_call(q), sql_slept, NULL);
	}
	if (rc != 0)
		hreq_fail(r, rc, "sql sleep");
}

static void sql_bad_done(struct hreq *r, struct call_msg *reply, void *arg)
{
	(void)arg;
	hreq_fail(r, reply->status != 0 ? reply->status : -EIO, "bad query");
}

static void get_sql_bad(struct hreq *r)
{
	struct sql_req *q = sql_req_new();
	int rc = -ENOMEM;

	if (q != NULL) {
		sql_req_stmt(q, hreq_query_long(r, "dup", 0, 0, 1) != 0 ?
				"INSERT INTO World (id, randomNumber) VALUES (1, 0)" :
				"SELECT no_such_column FROM World");
		rc = hreq_call(r, &sql_kind, sql_req_call(q), sql_bad_done, NULL);
	}
	if (rc != 0)
		hreq_fail(r, rc, "bad query");
}

int test_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen)
{
	if (!cfg->test_routes)
		return 0;
	if (route_add(t, ROUTE_GET, "/_test/block", get_block, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/_test/delay", get_delay, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/_test/bytes", get_bytes, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/_test/silent", get_silent, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/_test/no-reply", get_no_reply, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/_test/status", get_status, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_ANY, "/_test/echo", any_echo, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/_test/params/:a/*b", get_params, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/_test/sql-sleep", get_sql_sleep, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/_test/sql-bad", get_sql_bad, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}
