/*
 * test_config_json.c - GET /admin/config's JSON: the effective values in
 * the file's shape, every secret redacted (admin_token, passwords, the
 * credentials inside mongo.uri), and the admin_listen loopback rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/config_json.h"

static char err[1024];

static void expect_uri(const char *uri, const char *want)
{
	char out[512];

	assert_string_equal(config_redact_uri(out, sizeof(out), uri), want);
}

static void test_mongo_uri_credentials_are_redacted(void **state)
{
	(void)state;
	expect_uri("mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017");
	expect_uri("mongodb://u:p@h/db", "mongodb://<redacted>@h/db");
	expect_uri("mongodb+srv://u:p%40ss@cluster.example/?retryWrites=true",
		   "mongodb+srv://<redacted>@cluster.example/?retryWrites=true");
	expect_uri("mongodb://us%3Aer@h1:1,h2:2", "mongodb://<redacted>@h1:1,h2:2");
	expect_uri("mongodb://h/db?authSource=admin&tlsCertificateKeyFilePassword=x&w=1",
		   "mongodb://h/db?authSource=admin&tlsCertificateKeyFilePassword=<redacted>&w=1");
	expect_uri("mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN:abc",
		   "mongodb://h/?authMechanismProperties=<redacted>");
	expect_uri("mongodb://h/db?appName=a@b", "mongodb://h/db?appName=a@b");
}

static void test_secrets_never_appear_in_the_json(void **state)
{
	struct ad_config cfg;
	cJSON *j;
	char *text;

	(void)state;
	config_defaults(&cfg);
	strcpy(cfg.admin_token, "SECRET-admin");
	strcpy(cfg.redis.password, "SECRET-redis");
	strcpy(cfg.mysql.password, "SECRET-mysql");
	strcpy(cfg.mongo.uri, "mongodb://app:SECRET-mongo@db:27017/x");
	j = config_to_json(&cfg);
	text = cJSON_PrintUnformatted(j);
	assert_null(strstr(text, "SECRET"));
	assert_string_equal(cJSON_GetObjectItem(j, "admin_token")->valuestring, "<redacted>");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "redis"), "password")
			    ->valuestring, "<redacted>");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "mysql"), "password")
			    ->valuestring, "<redacted>");
	free(text);
	cJSON_Delete(j);
}

static void test_values_keep_the_file_shape(void **state)
{
	struct ad_config *cfg = config_parse("/etc/actord/t.json",
		"{\"listen\": [\"127.0.0.1:8081\", \"[::1]:8082\"], \"log\": {\"level\": \"warn\"},"
		" \"admin\": {\"max_connections\": 8}, \"actors\": {\"handler\": {\"count\": 2}}}",
		err, sizeof(err));
	cJSON *j, *listen;

	(void)state;
	assert_non_null(cfg);
	j = config_to_json(cfg);
	listen = cJSON_GetObjectItem(j, "listen");
	assert_int_equal(cJSON_GetArraySize(listen), 2);
	assert_string_equal(cJSON_GetArrayItem(listen, 1)->valuestring, "[::1]:8082");
	assert_string_equal(cJSON_GetObjectItem(j, "admin_listen")->valuestring, "127.0.0.1:9901");
	assert_string_equal(cJSON_GetObjectItem(j, "admin_token")->valuestring, "");
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "admin"),
					     "max_connections")->valueint, 8);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "log"), "level")
			    ->valuestring, "warn");
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "actors"),
								 "handler"), "count")->valueint, 2);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(j, "test_routes")));
	cJSON_Delete(j);
	config_free(cfg);
}

static void test_admin_off_loopback_needs_a_token(void **state)
{
	struct ad_config *cfg;

	(void)state;
	unsetenv("ACTORD_ADMIN_TOKEN");
	assert_null(config_parse("/etc/actord/t.json", "{\"admin_listen\": \"0.0.0.0:9901\"}",
				 err, sizeof(err)));
	assert_string_equal(err, "/etc/actord/t.json: admin_listen: '0.0.0.0' is not a loopback "
			    "address: set admin_token (or ACTORD_ADMIN_TOKEN) to serve the admin "
			    "endpoint there, or use 127.0.0.1");
	cfg = config_parse("/etc/actord/t.json",
			   "{\"admin_listen\": \"0.0.0.0:9901\", \"admin_token\": \"tok\"}",
			   err, sizeof(err));
	assert_non_null(cfg);
	config_free(cfg);
	cfg = config_parse("/etc/actord/t.json", "{\"admin_listen\": \"[::1]:9901\"}",
			   err, sizeof(err));
	assert_non_null(cfg);
	config_free(cfg);
	assert_null(config_parse("/etc/actord/t.json", "{\"admin\": {\"max_connections\": 0}}",
				 err, sizeof(err)));
	assert_string_equal(err, "/etc/actord/t.json: admin.max_connections: 0 is out of range "
			    "[1, 100000]");
}

#define SRC ACTORD_SOURCE_DIR

/* Every key the loader knows, each set to a valid value other than its
 * default (actors.log.count has no other). Secrets are in the file here;
 * the round trip gives them back through the environment, as an operator
 * would, since /admin/config never shows them. */
static const char every_key[] =
	"{\"listen\": [\"127.0.0.1:18081\", \"[::1]:18082\"], \"admin_listen\": \"127.0.0.1:19902\","
	" \"admin_token\": \"tok-admin\", \"admin\": {\"max_connections\": 8},"
	" \"actors\": {\"net\": {\"count\": 2, \"mailbox\": 1024},"
	"  \"handler\": {\"count\": 3, \"mailbox\": 2048}, \"log\": {\"count\": 1, \"mailbox\": 512},"
	"  \"cache\": {\"count\": 2, \"mailbox\": 8192}, \"mysql\": {\"count\": 4, \"mailbox\": 8192},"
	"  \"mongo\": {\"count\": 3, \"mailbox\": 512}, \"job\": {\"count\": 2, \"mailbox\": 512},"
	"  \"upstream\": {\"count\": 2, \"mailbox\": 512}, \"file\": {\"count\": 2, \"mailbox\": 512},"
	"  \"worker\": {\"count\": 4, \"mailbox\": 512}, \"sched\": {\"count\": 0, \"mailbox\": 1024},"
	"  \"pubsub\": {\"count\": 0, \"mailbox\": 8192}},"
	" \"http\": {\"max_request_line\": 4096, \"max_header_bytes\": 32768, \"max_headers\": 50,"
	"  \"max_body_bytes\": 2000000, \"max_stream_body_bytes\": 5000000,"
	"  \"header_timeout_ms\": 9000, \"body_timeout_ms\": 9000, \"body_min_rate\": 512,"
	"  \"keepalive_timeout_ms\": 7000, \"write_timeout_ms\": 9000, \"request_timeout_ms\": 4000,"
	"  \"max_connections\": 1000, \"backlog\": 128, \"output_high_water\": 65536,"
	"  \"max_pipeline\": 16, \"slow_handler_ms\": 50},"
	" \"admission\": {\"target_ms\": 500, \"interval_ms\": 50},"
	" \"log\": {\"level\": \"debug\", \"format\": \"text\", \"file\": \"a.log\","
	"  \"access_log\": \"b.log\"},"
	" \"redis\": {\"host\": \"127.0.0.2\", \"port\": 6380, \"password\": \"pw-redis\","
	"  \"database\": 2, \"connect_timeout_ms\": 900, \"command_timeout_ms\": 900,"
	"  \"pipeline_max\": 128, \"reconnect_max_ms\": 900, \"sentinels\": [\"127.0.0.1:26379\"],"
	"  \"sentinel_master\": \"mm\"},"
	" \"mysql\": {\"host\": \"127.0.0.2\", \"port\": 3307, \"user\": \"u\", \"password\": \"pw-mysql\","
	"  \"database\": \"db2\", \"connect_timeout_ms\": 1900, \"query_timeout_ms\": 4900,"
	"  \"reconnect_max_ms\": 900, \"statement_cache\": 32},"
	" \"mongo\": {\"uri\": \"mongodb://u:pw-mongo@127.0.0.1:27017/x\", \"database\": \"db3\","
	"  \"connect_timeout_ms\": 1900, \"query_timeout_ms\": 4900,"
	"  \"server_selection_timeout_ms\": 900},"
	" \"upstream\": {\"url\": \"https://127.0.0.1:9443/x\", \"proxy\": [{\"prefix\": \"/p/\","
	"  \"to\": \"https://127.0.0.1:9444/v/\", \"ca_file\": \"" SRC "/config/actord.json\","
	"  \"cert_file\": \"" SRC "/config/actord.service\", \"key_file\": \"" SRC "/README.md\"}],"
	"  \"connect_timeout_ms\": 900, \"response_timeout_ms\": 3900, \"max_response_bytes\": 1000000,"
	"  \"proxy_buffer_bytes\": 4096, \"proxy_max_body_bytes\": 100000, \"max_connections\": 8,"
	"  \"max_queue\": 16, \"idle_timeout_ms\": 5000, \"retries\": 2, \"first_byte_timeout_ms\": 3000,"
	"  \"send_timeout_ms\": 30000, \"read_timeout_ms\": 45000, \"max_redirects\": 3, \"ca_file\": \"" SRC "/config/actord.json\","
	"  \"resolver\": \"127.0.0.1:5353\", \"dns_ttl_min_ms\": 500, \"dns_ttl_max_ms\": 60000,"
	"  \"fail_timeout_ms\": 2500},"
	" \"websocket\": {\"max_message_bytes\": 65536, \"max_queue_messages\": 64,"
	"  \"max_queue_bytes\": 65536, \"slow_consumer\": \"drop\", \"idle_timeout_ms\": 60000,"
	"  \"ping_interval_ms\": 10000, \"close_timeout_ms\": 1000, \"origins\": [\"https://a.example\"],"
	"  \"subprotocols\": [\"p1\", \"p2\"], \"redis\": false, \"redis_prefix\": \"x:ws\"},"
	" \"app\": {\"world_cache_ttl_ms\": 1000, \"wallpaper_cache_ttl_ms\": 1000,"
	"  \"world_near_cache\": false, \"wallpaper_near_cache\": false, \"demo\": true,"
	"  \"demo_pbkdf2_iterations\": 2000, \"demo_work_ms\": 10, \"queue_capacity\": 100,"
	"  \"queue_concurrency\": 2, \"queue_max_attempts\": 2, \"hash_max_iterations\": 1000,"
	"  \"period_ms\": 1000, \"period_once_per_cluster\": false, \"websocket\": false},"
	" \"near_cache\": {\"enabled\": false, \"max_bytes\": 8192, \"ttl_ms\": 1000,"
	"  \"heartbeat_ms\": 500, \"prefixes\": [\"a:\"]},"
	" \"jobs\": {\"instance\": \"i1\", \"prefix\": \"jp\", \"group\": \"g\", \"concurrency\": 2,"
	"  \"max_attempts\": 2, \"dead_max_jobs\": 7, \"backoff_base_ms\": 100, \"backoff_max_ms\": 1000,"
	"  \"backoff_jitter_pct\": 10, \"timeout_ms\": 1000, \"reclaim_idle_ms\": 1000,"
	"  \"block_ms\": 100, \"retry_poll_ms\": 100, \"max_payload_bytes\": 1000,"
	"  \"result_ttl_s\": 100, \"idempotency_ttl_s\": 100, \"wait_replicas\": 1,"
	"  \"wait_timeout_ms\": 50, \"sql_statement\": \"SELECT ?\"},"
	" \"static\": {\"mounts\": [{\"prefix\": \"/s/\", \"dir\": \"" SRC "/docs\","
	"  \"index\": \"index.html\", \"max_age_s\": 60, \"compress\": false}],"
	"  \"revalidate_ms\": 500, \"cache_bytes\": 1000000, \"cache_file_bytes\": 1000},"
	" \"compress\": {\"enabled\": false, \"min_bytes\": 100, \"gzip_level\": 5,"
	"  \"brotli_quality\": 3},"
	" \"forms\": {\"max_parts\": 10, \"max_field_bytes\": 1000, \"max_file_bytes\": 10000},"
	" \"cookies\": {\"secret_keys\": \"0123456789abcdef0123\", \"secure\": true},"
	" \"session\": {\"cookie\": \"s\", \"prefix\": \"sp:\", \"idle_s\": 60, \"max_age_s\": 600},"
	" \"pidfile\": \"a.pid\", \"drain_timeout_ms\": 5000, \"upgrade_timeout_ms\": 5000,"
	" \"test_routes\": true}";

/* Every leaf of `a` differs from the same leaf of `b` (arrays compared
 * whole), except actors.log.count. */
static void expect_every_leaf_differs(const cJSON *a, const cJSON *b, const char *path)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, a) {
		const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
		char sub[256];

		snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", x->string);
		if (y == NULL)
			fail_msg("%s: not in the defaults' JSON", sub);
		if (cJSON_IsObject(x))
			expect_every_leaf_differs(x, y, sub);
		else if (strcmp(sub, "actors.log.count") != 0 && cJSON_Compare(x, y, true))
			fail_msg("%s: the every-key file leaves it at its default", sub);
	}
}

static void test_every_key_round_trips_through_the_loader(void **state)
{
	static const char *const secrets[][2] = {
		{ "ACTORD_ADMIN_TOKEN", "tok-admin" },
		{ "ACTORD_REDIS_PASSWORD", "pw-redis" },
		{ "ACTORD_MYSQL_PASSWORD", "pw-mysql" },
		{ "ACTORD_MONGO_URI", "mongodb://u:pw-mongo@127.0.0.1:27017/x" },
		{ "ACTORD_COOKIES_SECRET_KEYS", "0123456789abcdef0123" },
	};
	struct ad_config *cfg = config_parse("/etc/actord/t.json", every_key, err, sizeof(err));
	struct ad_config *def, *again;
	cJSON *j, *dj;
	char *text;

	(void)state;
	if (cfg == NULL)
		fail_msg("%s", err);
	def = config_parse("/etc/actord/t.json", "{}", err, sizeof(err));
	assert_non_null(def);
	j = config_to_json(cfg);
	dj = config_to_json(def);
	expect_every_leaf_differs(j, dj, "");
	text = cJSON_Print(j);
	assert_null(strstr(text, "pw-"));
	assert_null(strstr(text, "tok-admin"));
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		setenv(secrets[i][0], secrets[i][1], 1);
	again = config_parse("/etc/actord/t.json", text, err, sizeof(err));
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		unsetenv(secrets[i][0]);
	if (again == NULL)
		fail_msg("%s", err);
	assert_memory_equal(again, cfg, sizeof(*cfg));
	/* The defaults too: "" for jobs.instance and a generated cookie key. */
	free(text);
	text = cJSON_Print(dj);
	config_free(again);
	again = config_parse("/etc/actord/t.json", text, err, sizeof(err));
	if (again == NULL)
		fail_msg("%s", err);
	config_free(again);
	free(text);
	cJSON_Delete(j);
	cJSON_Delete(dj);
	config_free(def);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mongo_uri_credentials_are_redacted),
		cmocka_unit_test(test_secrets_never_appear_in_the_json),
		cmocka_unit_test(test_values_keep_the_file_shape),
		cmocka_unit_test(test_admin_off_loopback_needs_a_token),
		cmocka_unit_test(test_every_key_round_trips_through_the_loader),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
