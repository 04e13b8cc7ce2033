/*
 * upstream_test_routes.c - the upstream client's per-call options, which
 * no shipped route uses, exposed for the test suite only (config key
 * test_routes):
 *
 *  GET /_test/fetch?url=U[&redirects=N][&downgrade=1][&gzip=1]
 *                  [&connect_ms=N][&first_byte_ms=N][&total_ms=N]
 *      fetches U (http:// or https://) through the upstream actors with
 *      those options and answers JSON {"status", "length", "body" (the
 *      first 200 bytes), "location"}; a failed call answers like every
 *      upstream route (hreq_fail: 502 / 503 / 504).
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "test_app.h"
#include "net/upstream.h"

static void fetched(struct hreq *r, struct call_msg *reply, void *arg)
{
	const struct upstream_call *u = upstream_reply(reply);
	const char *body, *loc;
	char head[201];
	size_t len, n;
	cJSON *o;

	(void)arg;
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "fetch");
		return;
	}
	body = upstream_reply_body(u, &len);
	loc = upstream_reply_header(u, "Location");
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "status", upstream_reply_status(u));
	cJSON_AddNumberToObject(o, "length", (double)len);
	n = len < 200 ? len : 200;
	memcpy(head, body, n);
	head[n] = '\0';
	cJSON_AddStringToObject(o, "body", head);
	if (loc != NULL)
		cJSON_AddStringToObject(o, "location", loc);
	hreq_json(r, 200, o);
}

static void get_fetch(struct hreq *r)
{
	const char *url = hreq_query(r, "url");
	struct upstream_call *u;
	int rc = -EINVAL;

	u = url != NULL ? upstream_call_new(HTTP_GET, url, &rc) : NULL;
	if (u == NULL) {
		hreq_error(r, 400, "fetch: bad url (%s)", ad_strerror(rc));
		return;
	}
	upstream_call_follow_redirects(u, (unsigned)hreq_query_long(r, "redirects", 0, 0, 50),
				       hreq_query_long(r, "downgrade", 0, 0, 1) == 1);
	upstream_call_set_timeouts(u, (uint32_t)hreq_query_long(r, "connect_ms", 0, 0, 60000),
				   (uint32_t)hreq_query_long(r, "first_byte_ms", 0, 0, 60000),
				   (uint32_t)hreq_query_long(r, "total_ms", 0, 0, 60000));
	if (hreq_query_long(r, "gzip", 0, 0, 1) == 1 && upstream_call_decode_gzip(u) != 0) {
		upstream_call_free(u);
		hreq_error(r, 500, "fetch: out of memory");
		return;
	}
	rc = hreq_call(r, &upstream_kind, upstream_call_msg(u), fetched, NULL);
	if (rc != 0)
		hreq_fail(r, rc, "fetch");
}

int upstream_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
			 size_t errlen)
{
	(void)cfg;
	return route_add(t, ROUTE_GET, "/_test/fetch", get_fetch, NULL, err, errlen) != 0 ?
		-EINVAL : 0;
}
