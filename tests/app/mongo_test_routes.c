/*
 * mongo_test_routes.c - the storage/mongo.h calls no TechEmpower route
 * makes, exposed for the test suite only (config key test_routes):
 *
 *  POST /_test/mongo/find/:coll    {"filters": [{..}, ..], "limit": n,
 *                                   "projection": {..}} -> {"results": [[doc, ..], ..]}
 *  POST /_test/mongo/insert/:coll  [doc, ..]            -> {"inserted": n}
 *  POST /_test/mongo/update/:coll  [[filter, update], ..] -> {"matched": n, "modified": m}
 *  GET  /_test/mongo/count/:coll                        -> {"count": n}
 *
 * A body that does not have that shape is a 400; call failures answer as
 * every route does (hreq_fail).
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>

#include "test_app.h"
#include "config/config.h"
#include "handler/web.h"
#include "storage/mongo.h"

/* The body as JSON, NULL when it is not (the callers answer 400). */
static cJSON *body_json(struct hreq *r)
{
	const char *why;

	return hreq_json_parse(r, &why);
}

static void send_call(struct hreq *r, struct call_msg *m, hreq_cont_fn k)
{
	int rc;

	if (m == NULL) {
		hreq_error(r, 400, "not a valid request for this call");
		return;
	}
	rc = hreq_call(r, &mongo_kind, m, k, NULL);
	if (rc != 0)
		hreq_fail(r, rc, "MongoDB test call");
}

static void on_found(struct hreq *r, struct call_msg *reply, void *arg)
{
	cJSON *out, *results;

	(void)arg;
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "MongoDB test find");
		return;
	}
	out = cJSON_CreateObject();
	results = cJSON_AddArrayToObject(out, "results");
	for (unsigned i = 0; results != NULL && i < mongo_nqueries(reply); i++)
		cJSON_AddItemToArray(results, mongo_take_docs(reply, i));
	hreq_json(r, 200, out);
}

static void post_find(struct hreq *r)
{
	cJSON *req = body_json(r);
	cJSON *filters = cJSON_DetachItemFromObject(req, "filters");
	cJSON *projection = cJSON_DetachItemFromObject(req, "projection");
	const cJSON *limit = cJSON_GetObjectItem(req, "limit");
	struct call_msg *m = NULL;
	int rc = 0;

	if (cJSON_IsArray(filters) && cJSON_GetArraySize(filters) > 0) {
		m = mongo_find(hreq_param(r, "coll"), cJSON_DetachItemFromArray(filters, 0),
			       cJSON_IsNumber(limit) ? (int64_t)limit->valuedouble : 0);
		while (m != NULL && rc == 0 && cJSON_GetArraySize(filters) > 0)
			rc = mongo_find_add(m, cJSON_DetachItemFromArray(filters, 0));
		if (m != NULL && rc == 0 && projection != NULL) {
			rc = mongo_find_project(m, projection);
			projection = NULL;
		}
		if (m != NULL && rc != 0) {
			msg_free(&m->m);
			m = NULL;
		}
	}
	cJSON_Delete(projection);
	cJSON_Delete(filters);
	cJSON_Delete(req);
	send_call(r, m, on_found);
}

static void on_inserted(struct hreq *r, struct call_msg *reply, void *arg)
{
	cJSON *out;

	(void)arg;
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "MongoDB test insert");
		return;
	}
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "inserted", (double)mongo_result_n(reply));
	hreq_json(r, 200, out);
}

static void post_insert(struct hreq *r)
{
	send_call(r, mongo_insert(hreq_param(r, "coll"), body_json(r)), on_inserted);
}

static void on_updated(struct hreq *r, struct call_msg *reply, void *arg)
{
	cJSON *out;

	(void)arg;
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "MongoDB test update");
		return;
	}
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "matched", (double)mongo_result_n(reply));
	cJSON_AddNumberToObject(out, "modified", (double)mongo_result_modified(reply));
	hreq_json(r, 200, out);
}

static void post_update(struct hreq *r)
{
	cJSON *ops = body_json(r), *op;
	struct call_msg *m = cJSON_IsArray(ops) ? mongo_update(hreq_param(r, "coll")) : NULL;
	int rc = 0;

	cJSON_ArrayForEach(op, ops) {
		if (m == NULL || rc != 0)
			break;
		if (cJSON_GetArraySize(op) != 2)
			rc = -EINVAL;
		else
			rc = mongo_update_add(m, cJSON_Duplicate(cJSON_GetArrayItem(op, 0), 1),
					      cJSON_Duplicate(cJSON_GetArrayItem(op, 1), 1));
	}
	if (m != NULL && rc != 0) {
		msg_free(&m->m);
		m = NULL;
	}
	cJSON_Delete(ops);
	send_call(r, m, on_updated);
}

static void on_counted(struct hreq *r, struct call_msg *reply, void *arg)
{
	cJSON *out;

	(void)arg;
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "MongoDB test count");
		return;
	}
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "count", (double)mongo_result_n(reply));
	hreq_json(r, 200, out);
}

static void get_count(struct hreq *r)
{
	send_call(r, mongo_count(hreq_param(r, "coll"), cJSON_CreateObject()), on_counted);
}

int mongo_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		      size_t errlen)
{
	if (!cfg->test_routes)
		return 0;
	if (route_add(t, ROUTE_POST, "/_test/mongo/find/:coll", post_find, NULL, err,
		      errlen) != 0 ||
	    route_add(t, ROUTE_POST, "/_test/mongo/insert/:coll", post_insert, NULL, err,
		      errlen) != 0 ||
	    route_add(t, ROUTE_POST, "/_test/mongo/update/:coll", post_update, NULL, err,
		      errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/_test/mongo/count/:coll", get_count, NULL, err,
		      errlen) != 0)
		return -EINVAL;
	return 0;
}
