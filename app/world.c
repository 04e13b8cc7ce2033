/*
 * world.c - TechEmpower's test types on the World table: /db, /queries,
 * /updates (MariaDB) and /cached-queries (Redis, filled from MariaDB).
 *
 * DESIGN
 * TechEmpower's rules, followed exactly:
 *  - ids are random in 1..10000; every row is its own query: a statement
 *    with one placeholder and N ids runs N times on one connection (sql.h),
 *    never an IN list or a multi-row SELECT;
 *  - /updates reads each row, gives each a new random number, and writes
 *    them with ONE statement (a CASE over the request's distinct ids,
 *    which InnoDB locks in id order, so concurrent requests cannot
 *    deadlock): the request's rows commit together. The write is sent
 *    only if every read found its row (sql_req_expect_rows), so a missing
 *    row is a 500 with nothing written, and it must match every distinct
 *    id, so a row deleted between the reads and the write is a 500 too,
 *    never new values answered for a row that is not there;
 *  - counts (queries, count): missing, empty, zero, negative or not a
 *    number -> 1, above 500 -> 500, always a 200 JSON array;
 *  - JSON is built and serialised per request;
 *  - a row whose value is NULL or not an integer (a schema that drifted)
 *    is a 502, never answered, or cached, as 0.
 * /cached-queries reads the keys world:<id> ({"id":..,"randomNumber":..},
 * the reference peer's keys) through the handler's near cache
 * (hreq_cache_get, when app.world_near_cache is on: the rows it holds cost
 * no message, the others come from Redis in one MGET); the rows Redis
 * misses come from MariaDB in one request, the answer goes out, and the
 * rows are written back with one pipelined request of SET ... PX
 * app.world_cache_ttl_ms. Its answer is serialised by hand (two integers
 * per row), the other routes' with cJSON.
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "base/clock.h"
#include "config/config.h"
#include "mailbox/mbox.h"
#include "storage/cache.h"
#include "storage/sql.h"

#define WORLD_ROWS 10000
#define MAX_QUERIES 500
#define WORLD_KEY_MAX 24

static const char SELECT_WORLD[] = "SELECT id, randomNumber FROM World WHERE id = ?";

/* xorshift64*: per handler thread, no lock, seeded once. */
static int32_t random_world(void)
{
	static _Thread_local uint64_t s;

	if (s == 0)
		s = (clock_now_ns() ^ (uint64_t)pthread_self()) | 1;
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return (int32_t)((s * 2685821657736338717ull) >> 33) % WORLD_ROWS + 1;
}

static unsigned count_param(struct hreq *r, const char *name)
{
	return (unsigned)hreq_query_long(r, name, 1, 1, MAX_QUERIES);
}

/* An integer member. cJSON 1.7.15 prints every number with "%1.15g" and
 * reads it back with sscanf to check the round trip (~0.3 us a number,
 * two thirds of /cached-queries?count=20's serialisation); World values
 * are small integers, so they are rendered exactly here and cJSON lays
 * them out as raw JSON. */
static bool add_int(cJSON *o, const char *key, int64_t v)
{
	char s[24];
	cJSON *raw;

	snprintf(s, sizeof(s), "%lld", (long long)v);
	raw = cJSON_CreateRaw(s);
	if (raw == NULL)
		return false;
	/* A constant key is not copied: one allocation less per member. */
	cJSON_AddItemToObjectCS(o, key, raw);
	return true;
}

static cJSON *world_json(int64_t id, int64_t number)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL && (!add_int(o, "id", id) || !add_int(o, "randomNumber", number))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Append `o` to the array `out`; on any failure free both and return NULL
 * (hreq_json answers 500 for NULL). */
static cJSON *json_append(cJSON *out, cJSON *o)
{
	if (out == NULL || o == NULL) {
		cJSON_Delete(out);
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddItemToArray(out, o);
	return out;
}

/* Row `i` of `rs` as two integers (id, randomNumber). False when a cell is
 * NULL or not a number (a column made nullable, another type): read as 0
 * it would be answered, and cached, as a World row that does not exist. */
static bool world_row(const struct sql_rows *rs, unsigned i, int64_t *id, int64_t *number)
{
	const char *v[2] = { sql_rows_text(rs, i, 0, NULL), sql_rows_text(rs, i, 1, NULL) };
	int64_t *out[2] = { id, number };

	for (unsigned k = 0; k < 2; k++) {
		char *end;

		if (v[k] == NULL || (*v[k] != '-' && (*v[k] < '0' || *v[k] > '9')))
			return false;
		errno = 0;
		*out[k] = strtoll(v[k], &end, 10);
		if (*end != '\0' || errno != 0)
			return false;
	}
	return true;
}

/* The rows of a world query as a JSON array (or `rs`'s first row alone
 * when `one`); -EPROTO when a row is not two integers. */
static int worlds_json(const struct sql_rows *rs, unsigned n, bool one, cJSON **json)
{
	cJSON *out = one ? NULL : cJSON_CreateArray();
	int64_t id, number;

	*json = NULL;
	for (unsigned i = 0; i < n; i++) {
		if (!world_row(rs, i, &id, &number)) {
			cJSON_Delete(out);
			return -EPROTO;
		}
		if (one) {
			*json = world_json(id, number);
			return 0;
		}
		if (out != NULL)
			out = json_append(out, world_json(id, number));
	}
	*json = out;
	return 0;
}

/* A request for `n` point selects of the ids in `ids`. */
static struct sql_req *select_worlds(const int32_t *ids, unsigned n)
{
	struct sql_req *q = sql_req_new();

	if (q == NULL)
		return NULL;
	sql_req_stmt(q, SELECT_WORLD);
	for (unsigned i = 0; i < n; i++)
		sql_req_int(q, ids[i]);
	return q;
}

/* Send `q` to the mysql pool; on failure answer for it. */
static void call_mysql(struct hreq *r, struct sql_req *q, hreq_cont_fn k, void *arg,
		       const char *what)
{
	int rc = q != NULL ? hreq_call(r, &sql_kind, sql_req_call(q), k, arg) : -ENOMEM;

	if (rc != 0)
		hreq_fail(r, rc, what);
}

/* ---- /db and /queries ---- */

static void on_worlds(struct hreq *r, struct call_msg *reply, void *arg)
{
	unsigned n = (unsigned)(uintptr_t)arg;
	const struct sql_rows *rs = sql_result(reply, 0);
	cJSON *out;

	if (reply->status != 0) {
		hreq_fail(r, reply->status, "world query");
		return;
	}
	if (sql_rows_count(rs) != n) {
		hreq_error(r, 500, "world query: %u of %u rows found", sql_rows_count(rs), n);
		return;
	}
	/* /db: one object; /queries: an array. */
	if (worlds_json(rs, n, hreq_route_data(r) == NULL, &out) != 0) {
		hreq_error(r, 502, "world query: a World row holds a NULL or a non-integer");
		return;
	}
	hreq_json(r, 200, out);
}

static void get_worlds(struct hreq *r)
{
	unsigned n = hreq_route_data(r) != NULL ? count_param(r, "queries") : 1;
	int32_t ids[MAX_QUERIES];

	for (unsigned i = 0; i < n; i++)
		ids[i] = random_world();
	call_mysql(r, select_worlds(ids, n), on_worlds, (void *)(uintptr_t)n, "world query");
}

/* ---- /updates ---- */

/* Per request, in its arena. */
struct updates {
	unsigned n;
	int32_t *ids;                  /* [n] */
	int32_t *numbers;              /* [n]: the new value of ids[i] */
};

static int cmp_int32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

static void on_updated(struct hreq *r, struct call_msg *reply, void *arg)
{
	const struct updates *u = arg;
	cJSON *out;

	if (reply->status == -ENODATA && sql_rows_count(sql_result(reply, 0)) != u->n) {
		hreq_error(r, 500, "world update: %u of %u rows found, nothing written",
			   sql_rows_count(sql_result(reply, 0)), u->n);
		return;
	}
	if (reply->status == -ENODATA) {
		hreq_error(r, 500, "world update: a row was deleted between its read and its "
			   "write (the rows still there were written)");
		return;
	}
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "world update");
		return;
	}
	out = cJSON_CreateArray();
	for (unsigned i = 0; out != NULL && i < u->n; i++)
		out = json_append(out, world_json(u->ids[i], u->numbers[i]));
	hreq_json(r, 200, out);
}

static void get_updates(struct hreq *r)
{
	unsigned n = count_param(r, "queries"), k = 0;
	struct updates *u = hreq_alloc(r, sizeof(*u));
	int32_t distinct[MAX_QUERIES], numbers[MAX_QUERIES];
	struct sql_req *q;
	char *sql, *p;

	if (u == NULL || (u->ids = hreq_alloc(r, sizeof(int32_t) * n)) == NULL ||
	    (u->numbers = hreq_alloc(r, sizeof(int32_t) * n)) == NULL) {
		hreq_fail(r, -ENOMEM, "world update");
		return;
	}
	u->n = n;
	for (unsigned i = 0; i < u->n; i++)
		distinct[i] = u->ids[i] = random_world();
	/* One new value per distinct id: a row listed twice ends with the
	 * value both entries show. */
	qsort(distinct, u->n, sizeof(distinct[0]), cmp_int32);
	for (unsigned i = 0; i < u->n; i++)
		if (k == 0 || distinct[k - 1] != distinct[i])
			distinct[k++] = distinct[i];
	for (unsigned i = 0; i < k; i++)
		numbers[i] = random_world();
	for (unsigned i = 0; i < u->n; i++) {
		int32_t *at = bsearch(&u->ids[i], distinct, k, sizeof(distinct[0]), cmp_int32);

		u->numbers[i] = numbers[at - distinct];
	}
	/* UPDATE World SET randomNumber = CASE id WHEN ? THEN ? ... END
	 * WHERE id IN (?, ...) */
	sql = p = hreq_alloc(r, 96 + (size_t)k * 16);
	if (sql == NULL) {
		hreq_fail(r, -ENOMEM, "world update");
		return;
	}
	p += sprintf(p, "UPDATE World SET randomNumber = CASE id");
	for (unsigned i = 0; i < k; i++)
		p += sprintf(p, " WHEN ? THEN ?");
	p += sprintf(p, " END WHERE id IN (");
	for (unsigned i = 0; i < k; i++)
		p += sprintf(p, i == 0 ? "?" : ",?");
	sprintf(p, ")");
	q = select_worlds(u->ids, u->n);
	if (q != NULL) {
		sql_req_expect_rows(q, u->n);
		sql_req_stmt(q, sql);
		for (unsigned i = 0; i < k; i++) {
			sql_req_int(q, distinct[i]);
			sql_req_int(q, numbers[i]);
		}
		for (unsigned i = 0; i < k; i++)
			sql_req_int(q, distinct[i]);
		sql_req_expect_rows(q, k);
	}
	call_mysql(r, q, on_updated, u, "world update");
}

/* ---- /cached-queries ---- */

/* Per request, in its arena. */
struct cached {
	unsigned n, nmiss;
	int32_t *ids;                  /* [n] */
	const char (*keys)[WORLD_KEY_MAX]; /* [n]: "world:<id>", not terminated */
	const size_t *klens;           /* [n] */
	int64_t *numbers;              /* [n]: randomNumber of ids[i] (slow path) */
	unsigned *miss;                /* [n]: indexes of rows the cache did not have */
};

/* `v` in decimal at `p`; returns the end. */
static char *put_int(char *p, int64_t v)
{
	char tmp[24], *t = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do
		*--t = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--t = '-';
	memcpy(p, t, (size_t)(tmp + sizeof(tmp) - t));
	return p + (tmp + sizeof(tmp) - t);
}

/* {"id":N,"randomNumber":M} at `p` (at most WORLD_JSON_MAX bytes). */
#define WORLD_JSON_MAX 64
static char *put_world(char *p, int64_t id, int64_t number)
{
	memcpy(p, "{\"id\":", 6);
	p = put_int(p + 6, id);
	memcpy(p, ",\"randomNumber\":", 16);
	p = put_int(p + 16, number);
	*p++ = '}';
	return p;
}

/* The answer, serialised here: World rows are two small integers each,
 * and this is 4x cheaper than building a cJSON tree and printing it
 * (cJSON prints every number with "%1.15g" and checks it with sscanf). */
static void answer_cached(struct hreq *r, const struct cached *c)
{
	char buf[WORLD_JSON_MAX + 2], *p;

	for (unsigned i = 0; i < c->n; i++) {
		p = buf;
		*p++ = i == 0 ? '[' : ',';
		p = put_world(p, c->ids[i], c->numbers[i]);
		if (i == c->n - 1)
			*p++ = ']';
		hreq_write(r, buf, (size_t)(p - buf));
	}
	hreq_finish(r, 200, "application/json");
}

static const char *skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* `token`, then optional white space. NULL if it is not there. */
static const char *expect(const char *p, const char *token)
{
	size_t n = strlen(token);

	return strncmp(p, token, n) == 0 ? skip_space(p + n) : NULL;
}

static const char *parse_int(const char *p, int64_t *v)
{
	char *end;

	if (p == NULL || (*p != '-' && (*p < '0' || *p > '9')))
		return NULL;
	errno = 0;
	*v = strtoll(p, &end, 10);
	return errno == 0 ? skip_space(end) : NULL;
}

/* A cached row: {"id":N,"randomNumber":M}, as we write it, or with the
 * spaces of Python's json.dumps (the reference peer shares the keys).
 * Anything else, or another id than the key's, is treated as a miss. */
static bool parse_cached(const char *text, int32_t want_id, int64_t *number)
{
	const char *p = skip_space(text);
	int64_t id = 0;

	p = p != NULL ? expect(p, "{") : NULL;
	p = p != NULL ? expect(p, "\"id\"") : NULL;
	p = p != NULL ? parse_int(expect(p, ":"), &id) : NULL;
	p = p != NULL ? expect(p, ",") : NULL;
	p = p != NULL ? expect(p, "\"randomNumber\"") : NULL;
	p = p != NULL ? parse_int(expect(p, ":"), number) : NULL;
	p = p != NULL ? expect(p, "}") : NULL;
	return p != NULL && *p == '\0' && id == want_id;
}

static void on_cache_filled(struct hreq *r, struct call_msg *reply, void *arg)
{
	/* Best effort: a row not written back is read from MariaDB next time. */
	(void)r;
	(void)reply;
	(void)arg;
}

static void on_missing_rows(struct hreq *r, struct call_msg *reply, void *arg)
{
	struct cached *c = arg;
	const struct sql_rows *rs = sql_result(reply, 0);
	const struct ad_config *cfg = hreq_config(r);
	struct cache_req *fill;

	if (reply->status != 0 || sql_rows_count(rs) != c->nmiss) {
		if (reply->status != 0)
			hreq_fail(r, reply->status, "world query");
		else
			hreq_error(r, 500, "world query: %u of %u rows found", sql_rows_count(rs),
				   c->nmiss);
		return;
	}
	for (unsigned j = 0; j < c->nmiss; j++) {
		int64_t id, number;

		if (!world_row(rs, j, &id, &number)) {
			hreq_error(r, 502, "world query: a World row holds a NULL or a non-integer");
			return;
		}
		c->numbers[c->miss[j]] = number;
	}
	fill = cache_req_new();
	for (unsigned j = 0; j < c->nmiss; j++) {
		int64_t id = sql_rows_int(rs, j, 0), number = c->numbers[c->miss[j]];
		char key[WORLD_KEY_MAX], val[WORLD_JSON_MAX];
		int klen = snprintf(key, sizeof(key), "world:%lld", (long long)id);

		if (fill != NULL)
			cache_req_set(fill, key, (size_t)klen, val,
				      (size_t)(put_world(val, id, number) - val),
				      cfg->app.world_cache_ttl_ms);
	}
	if (fill != NULL)
		hreq_call(r, &cache_kind, cache_req_call(fill), on_cache_filled, NULL);
	answer_cached(r, c);
}

/* Whether `v` is row `i` exactly as actord writes it:
 * {"id":<the key's id>,"randomNumber":<digits>}. */
static bool own_form(const struct cached *c, unsigned i, const struct cache_value *v)
{
	size_t idlen = c->klens[i] - 6, at = 6 + idlen + 16, end = v->len - 1;

	if (v->type != CACHE_STRING || v->len <= at + 1 || v->str[end] != '}' ||
	    memcmp(v->str, "{\"id\":", 6) != 0 || memcmp(v->str + 6, c->keys[i] + 6, idlen) != 0 ||
	    memcmp(v->str + 6 + idlen, ",\"randomNumber\":", 16) != 0 || end - at > 10)
		return false;
	for (size_t k = at; k < end; k++)
		if (v->str[k] < '0' || v->str[k] > '9')
			return false;
	return true;
}

/* Every row came from the cache in actord's own form (the steady state):
 * the answer is those bytes, joined, with nothing parsed or printed. */
static bool answer_verbatim(struct hreq *r, const struct cached *c, const struct cache_value *v)
{
	for (unsigned i = 0; i < c->n; i++)
		if (!own_form(c, i, &v[i]))
			return false;
	for (unsigned i = 0; i < c->n; i++) {
		hreq_write(r, i == 0 ? "[" : ",", 1);
		hreq_write(r, v[i].str, v[i].len);
	}
	hreq_write(r, "]", 1);
	hreq_finish(r, 200, "application/json");
	return true;
}

static void on_cached(struct hreq *r, int status, const struct cache_value *v, void *arg)
{
	struct cached *c = arg;
	int32_t ids[MAX_QUERIES];

	if (status != 0) {
		hreq_fail(r, status, "world cache");
		return;
	}
	if (hreq_answered(r) || answer_verbatim(r, c, v))
		return;
	/* The slow path's arrays, only now: the fast path's fit the request's
	 * inline arena (no allocation per request). */
	if ((c->numbers = hreq_alloc(r, sizeof(int64_t) * c->n)) == NULL ||
	    (c->miss = hreq_alloc(r, sizeof(unsigned) * c->n)) == NULL) {
		hreq_fail(r, -ENOMEM, "world cache");
		return;
	}
	c->nmiss = 0;
	for (unsigned i = 0; i < c->n; i++) {
		if (v[i].type != CACHE_STRING || !parse_cached(v[i].str, c->ids[i], &c->numbers[i])) {
			ids[c->nmiss] = c->ids[i];
			c->miss[c->nmiss++] = i;
		}
	}
	if (c->nmiss == 0) {
		answer_cached(r, c);
		return;
	}
	call_mysql(r, select_worlds(ids, c->nmiss), on_missing_rows, c, "world query");
}

static void get_cached(struct hreq *r)
{
	const struct ad_config *cfg = hreq_config(r);
	unsigned n = count_param(r, "count");
	struct cached *c = hreq_alloc(r, sizeof(*c));
	char (*keys)[WORLD_KEY_MAX] = hreq_alloc(r, sizeof(*keys) * n);
	size_t *lens = hreq_alloc(r, sizeof(*lens) * n);   /* read again by on_cached */
	const char *argv[MAX_QUERIES];
	int rc;

	if (c == NULL || keys == NULL || lens == NULL ||
	    (c->ids = hreq_alloc(r, sizeof(int32_t) * n)) == NULL) {
		hreq_fail(r, -ENOMEM, "world cache");
		return;
	}
	c->n = n;
	c->keys = keys;
	c->klens = lens;
	for (unsigned i = 0; i < c->n; i++) {
		c->ids[i] = random_world();
		/* By hand: snprintf's ~0.2 us a key was a tenth of a hit's cost. */
		memcpy(keys[i], "world:", 6);
		lens[i] = (size_t)(put_int(keys[i] + 6, c->ids[i]) - keys[i]);
		argv[i] = keys[i];
	}
	rc = hreq_cache_get(r, n, argv, lens, cfg->app.world_cache_ttl_ms,
			    cfg->app.world_near_cache, on_cached, c);
	if (rc != 0)
		hreq_fail(r, rc, "world cache");
}

int world_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen)
{
	static int queries;   /* route data: non-NULL marks /queries */

	(void)cfg;
	if (route_add(t, ROUTE_GET | ROUTE_NO_COMPRESS, "/db", get_worlds, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET | ROUTE_NO_COMPRESS, "/queries", get_worlds, &queries, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET | ROUTE_NO_COMPRESS, "/updates", get_updates, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET | ROUTE_NO_COMPRESS, "/cached-queries", get_cached, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}
