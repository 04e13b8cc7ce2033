/*
 * test_mongo.c - the mongo module without a MongoDB server: message
 * builders and result ownership, cJSON <-> BSON, start-up errors, and the
 * pool against an address where nothing listens (every call answered once
 * with -ENOTCONN, an expired one with -ETIMEDOUT, readiness and counters
 * saying why). The wire protocol is tested end to end in
 * tests/e2e/test_mongo*.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "storage/mongo_internal.h"
#include "actors/metrics.h"
#include "config/config.h"
#include "tests/unit/common/metrics_text.h"

static const struct actor_kind caller_kind = { "caller" };

static cJSON *parse(const char *s)
{
	cJSON *j = cJSON_Parse(s);

	assert_non_null(j);
	return j;
}

static void test_find_builder_takes_filters_and_refuses_bad_ones(void **state)
{
	struct call_msg *m = mongo_find("world", parse("{\"id\": 1}"), 1);
	char longname[MONGO_NAME_MAX + 2];

	(void)state;
	assert_non_null(m);
	assert_int_equal(m->m.type, MONGO_MSG_FIND);
	assert_int_equal(mongo_find_add(m, parse("{\"id\": 2}")), 0);
	assert_int_equal(mongo_find_add(m, parse("[1]")), -EINVAL);   /* not an object */
	assert_int_equal(mongo_find_project(m, parse("{\"_id\": 0}")), 0);
	assert_int_equal(mongo_nqueries(m), 2);
	assert_int_equal(mongo_update_add(m, parse("{}"), parse("{}")), -EINVAL);
	msg_free(&m->m);

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	/* Every builder takes its cJSON, also when it refuses (ASan: no leak). */
	assert_null(mongo_find(longname, parse("{}"), 0));
	assert_null(mongo_find(NULL, parse("{}"), 0));
	assert_null(mongo_find("", parse("{}"), 0));
	assert_null(mongo_find("world", parse("\"id\""), 0));
	assert_null(mongo_find("world", parse("{}"), -1));
	assert_null(mongo_insert("world", parse("[]")));
	assert_null(mongo_insert("world", parse("[1]")));
	assert_null(mongo_count("world", NULL));
}

static void test_bulk_update_collects_filter_update_pairs(void **state)
{
	struct call_msg *m = mongo_update("world");
	struct mongo_msg *mm = mongo_msg_of(m);

	(void)state;
	for (int i = 1; i <= 3; i++) {
		char f[32], u[64];

		snprintf(f, sizeof(f), "{\"id\": %d}", i);
		snprintf(u, sizeof(u), "{\"$set\": {\"randomNumber\": %d}}", i * 10);
		assert_int_equal(mongo_update_add(m, parse(f), parse(u)), 0);
	}
	assert_int_equal(mm->nreq, 6);
	assert_int_equal(mongo_update_add(m, parse("{}"), NULL), -EINVAL);
	assert_int_equal(mongo_result_modified(m), -1);   /* not a reply yet */
	msg_free(&m->m);
}

static void test_results_belong_to_the_reply_unless_taken(void **state)
{
	struct call_msg *m = mongo_find("world", parse("{\"id\": 1}"), 1);
	struct mongo_msg *mm = mongo_msg_of(m);
	cJSON *taken;

	(void)state;
	mongo_find_add(m, parse("{\"id\": 2}"));
	/* What a mongo actor leaves in a successful reply. */
	mm->res = calloc(2, sizeof(*mm->res));
	mm->res[0] = parse("[{\"id\": 1, \"randomNumber\": 5}]");
	mm->res[1] = parse("[]");
	assert_int_equal(cJSON_GetArraySize(mongo_docs(m, 0)), 1);
	assert_null(mongo_docs(m, 2));
	taken = mongo_take_docs(m, 0);
	assert_non_null(taken);
	assert_null(mongo_docs(m, 0));                    /* detached */
	m->status = -ENOTCONN;
	assert_null(mongo_docs(m, 1));                    /* a failed call has none */
	assert_int_equal(mongo_result_n(m), -1);
	msg_free(&m->m);                                  /* frees res[1] */
	cJSON_Delete(taken);                              /* ours now */
}

static void test_json_numbers_become_the_smallest_bson_type(void **state)
{
	cJSON *in = parse("{\"id\": 42, \"neg\": -2147483648, \"big\": 5000000000,"
			  " \"f\": 1.5, \"s\": \"x\\u00e9\", \"b\": true, \"n\": null,"
			  " \"o\": {\"a\": [1, \"2\", {\"$set\": {}}]}}");
	bson_t doc = BSON_INITIALIZER;
	bson_iter_t it;
	cJSON *back;

	(void)state;
	assert_int_equal(mongo_bson_from_json(&doc, in), 0);
	assert_true(bson_iter_init_find(&it, &doc, "id"));
	assert_int_equal(bson_iter_type(&it), BSON_TYPE_INT32);
	assert_true(bson_iter_init_find(&it, &doc, "neg"));
	assert_int_equal(bson_iter_type(&it), BSON_TYPE_INT32);
	assert_true(bson_iter_init_find(&it, &doc, "big"));
	assert_int_equal(bson_iter_type(&it), BSON_TYPE_INT64);
	assert_true(bson_iter_init_find(&it, &doc, "f"));
	assert_int_equal(bson_iter_type(&it), BSON_TYPE_DOUBLE);
	assert_true(bson_iter_init_find(&it, &doc, "o"));
	assert_int_equal(bson_iter_type(&it), BSON_TYPE_DOCUMENT);
	assert_int_equal(mongo_bson_to_json(&doc, &back), 0);
	assert_true(cJSON_Compare(in, back, true));
	cJSON_Delete(back);
	cJSON_Delete(in);
	bson_destroy(&doc);
}

static void test_bson_types_json_lacks_are_mapped(void **state)
{
	bson_t doc = BSON_INITIALIZER;
	bson_oid_t oid;
	const uint8_t bin[3] = { 1, 2, 3 };
	cJSON *j;

	(void)state;
	bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
	BSON_APPEND_OID(&doc, "_id", &oid);
	BSON_APPEND_DATE_TIME(&doc, "at", 1700000000123);
	BSON_APPEND_BINARY(&doc, "bin", BSON_SUBTYPE_BINARY, bin, 3);
	BSON_APPEND_INT64(&doc, "n", 7);
	assert_int_equal(mongo_bson_to_json(&doc, &j), 0);
	assert_string_equal(cJSON_GetObjectItem(j, "_id")->valuestring,
			    "0123456789abcdef01234567");
	assert_true(cJSON_GetObjectItem(j, "at")->valuedouble == 1700000000123.0);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "bin")));
	assert_int_equal(cJSON_GetObjectItem(j, "n")->valueint, 7);
	cJSON_Delete(j);
	bson_destroy(&doc);
}

/* cJSON would print 2^53 - 1 as 9007199254740990 and cannot hold 2^53 + 1. */
static void test_int64_results_keep_every_digit(void **state)
{
	bson_t doc = BSON_INITIALIZER, back = BSON_INITIALIZER;
	bson_iter_t it;
	cJSON *j;
	char *text;

	(void)state;
	BSON_APPEND_INT64(&doc, "small", 999999999999999);
	BSON_APPEND_INT64(&doc, "safe", 9007199254740991);
	BSON_APPEND_INT64(&doc, "past", 9007199254740993);
	BSON_APPEND_INT64(&doc, "min", INT64_MIN);
	BSON_APPEND_DATE_TIME(&doc, "far", 1000000000000001);
	assert_int_equal(mongo_bson_to_json(&doc, &j), 0);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "small")));
	text = cJSON_PrintUnformatted(j);
	assert_string_equal(text, "{\"small\":999999999999999,\"safe\":9007199254740991,"
			    "\"past\":9007199254740993,\"min\":-9223372036854775808,"
			    "\"far\":1000000000000001}");
	free(text);
	/* And back: the exact int64 again. */
	assert_int_equal(mongo_bson_from_json(&back, j), 0);
	assert_true(bson_iter_init_find(&it, &back, "past"));
	assert_int_equal(bson_iter_type(&it), BSON_TYPE_INT64);
	assert_true(bson_iter_int64(&it) == 9007199254740993);
	assert_true(bson_iter_init_find(&it, &back, "min"));
	assert_true(bson_iter_int64(&it) == INT64_MIN);
	cJSON_Delete(j);
	bson_destroy(&back);
	bson_destroy(&doc);
}

/* Money keeps its digits; a symbol is text. */
static void test_decimal128_results_keep_their_text(void **state)
{
	bson_t doc = BSON_INITIALIZER, back = BSON_INITIALIZER;
	bson_decimal128_t price, nan;
	bson_iter_t it;
	cJSON *j;
	char *text;

	(void)state;
	assert_true(bson_decimal128_from_string("1234567890.123456789012345678901234", &price));
	assert_true(bson_decimal128_from_string("NaN", &nan));
	BSON_APPEND_DECIMAL128(&doc, "price", &price);
	BSON_APPEND_DECIMAL128(&doc, "nan", &nan);
	BSON_APPEND_SYMBOL(&doc, "sym", "abc");
	assert_int_equal(mongo_bson_to_json(&doc, &j), 0);
	text = cJSON_PrintUnformatted(j);
	assert_string_equal(text, "{\"price\":1234567890.123456789012345678901234,"
			    "\"nan\":null,\"sym\":\"abc\"}");
	free(text);
	assert_int_equal(mongo_bson_from_json(&back, j), 0);
	assert_true(bson_iter_init_find(&it, &back, "price"));
	assert_int_equal(bson_iter_type(&it), BSON_TYPE_DECIMAL128);
	cJSON_Delete(j);
	bson_destroy(&back);
	bson_destroy(&doc);
}

static void test_documents_nested_too_deep_are_refused(void **state)
{
	cJSON *root = cJSON_CreateObject(), *cur = root;
	bson_t doc = BSON_INITIALIZER;

	(void)state;
	for (int i = 0; i < 150; i++) {
		cJSON *child = cJSON_CreateObject();

		cJSON_AddItemToObject(cur, "a", child);
		cur = child;
	}
	assert_int_equal(mongo_bson_from_json(&doc, root), -EINVAL);
	bson_destroy(&doc);
	cJSON_Delete(root);
}

/* MongoDB stores at most 100 levels: one more is a reply we cannot use,
 * not an out-of-memory. */
static void test_results_nested_too_deep_are_a_bad_reply(void **state)
{
	bson_t levels[102];
	cJSON *j = NULL;

	(void)state;
	bson_init(&levels[101]);
	BSON_APPEND_INT32(&levels[101], "v", 1);
	for (int i = 100; i >= 0; i--) {
		bson_init(&levels[i]);
		BSON_APPEND_DOCUMENT(&levels[i], "a", &levels[i + 1]);
	}
	/* levels[1]: 100 levels below the top one, what MongoDB allows. */
	assert_int_equal(mongo_bson_to_json(&levels[1], &j), 0);
	cJSON_Delete(j);
	assert_int_equal(mongo_bson_to_json(&levels[0], &j), -EPROTO);
	assert_null(j);
	for (int i = 0; i < 102; i++)
		bson_destroy(&levels[i]);
}

/* ---- The pool ---- */

static struct ad_config *config(const char *json)
{
	char err[512];
	struct ad_config *cfg = config_parse("/etc/actord/t.json", json, err, sizeof(err));

	if (cfg == NULL)
		fail_msg("%s", err);
	return cfg;
}

/* The "mongo" readiness entry after running every check. */
static cJSON *readiness(bool *all_ok)
{
	cJSON *out = cJSON_CreateObject(), *c;

	*all_ok = metrics_run_checks(out);
	c = cJSON_DetachItemFromObject(out, "mongo");
	cJSON_Delete(out);
	assert_non_null(c);
	return c;
}

static void test_without_uri_no_actor_runs_and_readiness_says_why(void **state)
{
	struct ad_config *cfg = config("{}");
	struct actor_system *sys = actor_system_create();
	char err[256];
	unsigned n;
	bool all_ok;
	cJSON *c;

	(void)state;
	metrics_reset();
	assert_int_equal(mongo_add_pool(sys, cfg, err, sizeof(err)), 0);
	assert_int_equal(actor_system_find_kind(sys, &mongo_kind, &n), ACTOR_ADDR_NONE);
	c = readiness(&all_ok);
	assert_true(all_ok);                             /* optional: never unready */
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(c, "ok")));
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(c, "required")));
	assert_string_equal(cJSON_GetObjectItem(c, "reason")->valuestring,
			    "mongo.uri is not configured");
	cJSON_Delete(c);
	actor_system_destroy(sys);
	config_free(cfg);
}

static void test_a_bad_uri_stops_start_up_with_a_reason(void **state)
{
	struct ad_config *cfg = config("{\"mongo\": {\"uri\": \"mongodb://\"}}");
	struct actor_system *sys = actor_system_create();
	char err[256];

	(void)state;
	metrics_reset();
	assert_int_equal(mongo_check_config(cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/etc/actord/t.json: mongo.uri: Invalid host string in URI");
	err[0] = '\0';
	assert_int_equal(mongo_add_pool(sys, cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/etc/actord/t.json: mongo.uri: Invalid host string in URI");
	actor_system_destroy(sys);
	config_free(cfg);
}

enum { KICK = 1 };

/* Shared between the test thread and the caller actor: atomics only. */
struct results {
	atomic_int done;
	atomic_int status[4];
};

/* Owner: the caller actor thread. */
struct caller {
	struct call_table *calls;
	struct results *res;
};

/* A kick: `flags` selects the call to make (0: a find, 1: an expired find). */
static void on_reply(struct call_msg *reply, void *ctx, void *arg)
{
	struct results *res = ctx;
	int slot = (int)(intptr_t)arg;

	atomic_store(&res->status[slot], reply->status);
	atomic_fetch_add(&res->done, 1);
}

static void caller_message(struct actor *a, struct msg *m)
{
	struct caller *c = actor_state(a);
	struct call_msg *q;
	unsigned n;
	int slot;

	if (call_dispatch(c->calls, m))
		return;
	slot = (int)m->flags;
	msg_free(m);
	q = mongo_find("world", cJSON_Parse("{\"id\": 1}"), 1);
	/* slot 1: a deadline already in the past */
	q->deadline_ns = slot == 1 ? 1 : mbox_now_ns() + 5000000000ull;
	if (call_send(c->calls, actor_system_find_kind(actor_sys(a), &mongo_kind, &n), q, on_reply,
		      c->res, (void *)(intptr_t)slot) != 0) {
		msg_free(&q->m);
		atomic_store(&c->res->status[slot], 1);
		atomic_fetch_add(&c->res->done, 1);
	}
}

static int caller_start(struct actor *a)
{
	struct caller *c = calloc(1, sizeof(*c));

	c->calls = call_table_create(a, 16);
	c->res = actor_user(a);
	actor_set_state(a, c);
	return 0;
}

static void caller_stop(struct actor *a)
{
	struct caller *c = actor_state(a);

	call_table_destroy(c->calls);
	free(c);
}

static const struct actor_ops caller_ops = {
	.start = caller_start, .message = caller_message, .stop = caller_stop,
};

static void free_kick(struct msg *m)
{
	free(m);
}

static void kick(struct actor_system *sys, actor_addr_t to, uint32_t slot)
{
	struct msg *m = calloc(1, sizeof(*m));

	msg_init(m, KICK, free_kick);
	m->flags = slot;
	assert_int_equal(actor_send(sys, to, m), 0);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void wait_done(struct results *r, int want)
{
	for (int i = 0; i < 10000 && atomic_load(&r->done) < want; i++)
		sleep_ms(1);
	assert_int_equal(atomic_load(&r->done), want);
}

static void test_unreachable_server_answers_every_call_and_says_why(void **state)
{
	/* Port 1 on loopback: nothing listens, connections are refused. */
	struct ad_config *cfg = config("{\"mongo\": {\"uri\": \"mongodb://127.0.0.1:1\","
				       " \"server_selection_timeout_ms\": 100},"
				       " \"actors\": {\"mongo\": {\"count\": 2, \"mailbox\": 16}}}");
	struct results res = { 0 };
	struct actor_pool_spec spec = { .kind = &caller_kind, .count = 1, .mbox_capacity = 64,
					.ops = &caller_ops, .user = &res };
	struct actor_system *sys = actor_system_create();
	char err[256], *text;
	actor_addr_t caller;
	bool all_ok;
	cJSON *c;

	(void)state;
	metrics_reset();
	assert_int_equal(mongo_add_pool(sys, cfg, err, sizeof(err)), 0);
	caller = actor_system_add_pool(sys, &spec, err, sizeof(err));
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);

	kick(sys, caller, 0);
	wait_done(&res, 1);
	assert_int_equal(atomic_load(&res.status[0]), -ENOTCONN);
	kick(sys, caller, 1);
	wait_done(&res, 2);
	assert_int_equal(atomic_load(&res.status[1]), -ETIMEDOUT);

	c = readiness(&all_ok);
	assert_true(all_ok);
	assert_string_equal(cJSON_GetObjectItem(c, "reason")->valuestring,
			    "cannot reach 127.0.0.1:1: connection refused");
	cJSON_Delete(c);

	text = metrics_text();
	assert_non_null(strstr(text, "actord_backend_connected{backend=\"mongo\","
				     "actor=\"mongo-0\"} 0"));
	assert_non_null(strstr(text, "actord_backend_errors_total{backend=\"mongo\","
				     "actor=\"mongo-1\"}"));
	free(text);

	actor_system_stop(sys);
	actor_system_destroy(sys);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_builder_takes_filters_and_refuses_bad_ones),
		cmocka_unit_test(test_bulk_update_collects_filter_update_pairs),
		cmocka_unit_test(test_results_belong_to_the_reply_unless_taken),
		cmocka_unit_test(test_json_numbers_become_the_smallest_bson_type),
		cmocka_unit_test(test_bson_types_json_lacks_are_mapped),
		cmocka_unit_test(test_int64_results_keep_every_digit),
		cmocka_unit_test(test_decimal128_results_keep_their_text),
		cmocka_unit_test(test_documents_nested_too_deep_are_refused),
		cmocka_unit_test(test_results_nested_too_deep_are_a_bad_reply),
		cmocka_unit_test(test_without_uri_no_actor_runs_and_readiness_says_why),
		cmocka_unit_test(test_a_bad_uri_stops_start_up_with_a_reason),
		cmocka_unit_test(test_unreachable_server_answers_every_call_and_says_why),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
