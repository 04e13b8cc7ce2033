/*
 * hello.c - TechEmpower's plaintext and JSON test types.
 *
 * DESIGN
 * Both follow TechEmpower's rules: the plaintext response's headers are
 * composed for every response (the network actor does that, with the
 * cached Date), and the JSON object is built with cJSON and serialised
 * for every request, never cached.
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>

#include "app.h"

static void get_plaintext(struct hreq *r)
{
	static const char body[] = "Hello, World!";

	hreq_static(r, 200, "text/plain", body, sizeof(body) - 1);
}

static void get_json(struct hreq *r)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL && cJSON_AddStringToObject(o, "message", "Hello, World!") == NULL) {
		cJSON_Delete(o);
		o = NULL;
	}
	hreq_json(r, 200, o);
}

int hello_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen)
{
	(void)cfg;
	if (route_add(t, ROUTE_GET | ROUTE_NO_COMPRESS, "/plaintext", get_plaintext, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET | ROUTE_NO_COMPRESS, "/json", get_json, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}
