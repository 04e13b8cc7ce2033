/*
 * near_test_routes.c - the test suite's routes over the near cache
 * (handler_api.h: hreq_cache_get, hreq_cache_forget), for the coherence
 * tests (tests/e2e/test_near_cache.py).
 *
 *  GET /_test/near/get?key=K[&near=0]  the value of K read through the
 *                          near cache: 200 with the value, 404 when Redis
 *                          has none; X-Near-Hit: 1 when it came from the
 *                          near cache, 0 when from Redis
 *  GET /_test/near/set?key=K&value=V   SET K V through the cache actors,
 *                          after dropping this handler's copy
 *                          (hreq_cache_forget); 204 once Redis answered
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <string.h>

#include "test_app.h"
#include "config/config.h"

static void on_value(struct hreq *r, int status, const struct cache_value *v, void *arg)
{
	(void)arg;
	if (status != 0) {
		hreq_fail(r, status, "near get");
		return;
	}
	hreq_add_header(r, "X-Near-Hit", hreq_cache_near_hits(r) > 0 ? "1" : "0");
	if (v[0].type != CACHE_STRING) {
		hreq_error(r, 404, "no such key");
		return;
	}
	hreq_send(r, 200, "text/plain", v[0].str, v[0].len);
}

static void get_near(struct hreq *r)
{
	const char *key = hreq_query(r, "key");
	size_t klen;
	int rc;

	if (key == NULL || *key == '\0') {
		hreq_error(r, 400, "key missing");
		return;
	}
	klen = strlen(key);
	rc = hreq_cache_get(r, 1, &key, &klen, 0, hreq_query_long(r, "near", 1, 0, 1) == 1,
			    on_value, NULL);
	if (rc != 0)
		hreq_fail(r, rc, "near get");
}

static void on_set(struct hreq *r, struct call_msg *reply, void *arg)
{
	(void)arg;
	if (reply->status != 0)
		hreq_fail(r, reply->status, "near set");
	else
		hreq_send(r, 204, "text/plain", "", 0);
}

static void get_set(struct hreq *r)
{
	const char *key = hreq_query(r, "key"), *value = hreq_query(r, "value");
	struct cache_req *q;
	int rc = -ENOMEM;

	if (key == NULL || *key == '\0' || value == NULL) {
		hreq_error(r, 400, "key or value missing");
		return;
	}
	hreq_cache_forget(r, key, strlen(key));
	q = cache_req_new();
	if (q != NULL) {
		cache_req_set(q, key, strlen(key), value, strlen(value), 0);
		rc = hreq_call(r, &cache_kind, cache_req_call(q), on_set, NULL);
	}
	if (rc != 0)
		hreq_fail(r, rc, "near set");
}

int near_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		     size_t errlen)
{
	if (!cfg->test_routes)
		return 0;
	if (route_add(t, ROUTE_GET, "/_test/near/get", get_near, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/_test/near/set", get_set, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}
