/*
 * wallpaper.c - the seed application's own endpoint:
 * GET /client/v3/wallpaper_4d/wallpaperList.json?pageSize=N
 *
 * DESIGN
 * {"code":0,"data":[...]}: the newest N wallpapers by created_at (N in
 * 1..100, 20 when missing or not a number), each {id, title, url, width,
 * height, tags, downloads}. Cache-aside through Redis, like the seed:
 * GET wallpaperList:<N>, through the handler's near cache when
 * app.wallpaper_near_cache is on (hreq_cache_get: a copy read a moment ago
 * costs no message, and Redis invalidates it when anybody writes the
 * key); a hit is answered with the cached body as is; a miss reads
 * MariaDB, answers, and stores the body with SET ... PX
 * app.wallpaper_cache_ttl_ms (not waited for). The key and body are the
 * reference peer's, so both read each other's entries.
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "config/config.h"
#include "storage/cache.h"
#include "storage/sql.h"

#define PAGE_DEFAULT 20
#define PAGE_MAX 100

static const char SELECT_PAGE[] =
	"SELECT id, title, url, width, height, tags, downloads FROM wallpaper "
	"ORDER BY created_at DESC LIMIT ?";

/* Per request, in its arena. */
struct page {
	long size;
	char key[32];
	size_t klen;
};

static void on_stored(struct hreq *r, struct call_msg *reply, void *arg)
{
	/* Best effort: an entry not stored is rebuilt by the next request. */
	(void)r;
	(void)reply;
	(void)arg;
}

static cJSON *page_json(const struct sql_rows *rs)
{
	static const char *const ints[] = { "id", NULL, NULL, "width", "height", NULL,
					    "downloads" };
	static const char *const strs[] = { NULL, "title", "url", NULL, NULL, "tags", NULL };
	cJSON *root = cJSON_CreateObject(), *data = cJSON_CreateArray();

	if (root == NULL || data == NULL || cJSON_AddNumberToObject(root, "code", 0) == NULL) {
		cJSON_Delete(root);
		cJSON_Delete(data);
		return NULL;
	}
	cJSON_AddItemToObject(root, "data", data);
	for (unsigned i = 0; i < sql_rows_count(rs); i++) {
		cJSON *o = cJSON_CreateObject();

		if (o == NULL) {
			cJSON_Delete(root);
			return NULL;
		}
		cJSON_AddItemToArray(data, o);
		for (unsigned col = 0; col < 7; col++) {
			const char *s = sql_rows_text(rs, i, col, NULL);
			double n = (double)sql_rows_int(rs, i, col);
			cJSON *v = ints[col] != NULL
				? cJSON_AddNumberToObject(o, ints[col], n)
				: cJSON_AddStringToObject(o, strs[col], s != NULL ? s : "");

			if (v == NULL) {
				cJSON_Delete(root);
				return NULL;
			}
		}
	}
	return root;
}

static void on_rows(struct hreq *r, struct call_msg *reply, void *arg)
{
	struct page *p = arg;
	struct cache_req *store;
	cJSON *json;
	char *body;

	if (reply->status != 0) {
		hreq_fail(r, reply->status, "wallpaper query");
		return;
	}
	json = page_json(sql_result(reply, 0));
	body = json != NULL ? cJSON_PrintUnformatted(json) : NULL;
	cJSON_Delete(json);
	if (body == NULL) {
		hreq_fail(r, -ENOMEM, "wallpaper list");
		return;
	}
	store = cache_req_new();
	if (store != NULL) {
		cache_req_set(store, p->key, p->klen, body, strlen(body),
			      hreq_config(r)->app.wallpaper_cache_ttl_ms);
		hreq_call(r, &cache_kind, cache_req_call(store), on_stored, NULL);
	}
	hreq_send(r, 200, "application/json", body, strlen(body));
	free(body);
}

static void on_cached(struct hreq *r, int status, const struct cache_value *v, void *arg)
{
	struct page *p = arg;
	struct sql_req *q;
	int rc = -ENOMEM;

	if (status != 0) {
		hreq_fail(r, status, "wallpaper cache");
		return;
	}
	if (v[0].type == CACHE_STRING) {
		hreq_send(r, 200, "application/json", v[0].str, v[0].len);
		return;
	}
	if (hreq_answered(r))
		return;
	q = sql_req_new();
	if (q != NULL) {
		sql_req_stmt(q, SELECT_PAGE);
		sql_req_int(q, p->size);
		rc = hreq_call(r, &sql_kind, sql_req_call(q), on_rows, p);
	}
	if (rc != 0)
		hreq_fail(r, rc, "wallpaper query");
}

static void get_wallpapers(struct hreq *r)
{
	const struct ad_config *cfg = hreq_config(r);
	struct page *p = hreq_alloc(r, sizeof(*p));
	const char *key;
	int rc = -ENOMEM;

	if (p != NULL) {
		p->size = hreq_query_long(r, "pageSize", PAGE_DEFAULT, 1, PAGE_MAX);
		p->klen = (size_t)snprintf(p->key, sizeof(p->key), "wallpaperList:%ld", p->size);
		key = p->key;
		rc = hreq_cache_get(r, 1, &key, &p->klen, cfg->app.wallpaper_cache_ttl_ms,
				    cfg->app.wallpaper_near_cache, on_cached, p);
	}
	if (rc != 0)
		hreq_fail(r, rc, "wallpaper cache");
}

int wallpaper_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		     size_t errlen)
{
	(void)cfg;
	if (route_add(t, ROUTE_GET, "/client/v3/wallpaper_4d/wallpaperList.json",
		      get_wallpapers, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}
