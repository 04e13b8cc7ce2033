/*
 * test_config_json.c - GET /admin/config's JSON: the effective values in
 * the file's shape, every secret redacted (admin_token, passwords, the
 * credentials inside mongo.uri), and the admin_listen loopback rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mongo_uri_credentials_are_redacted),
		cmocka_unit_test(test_secrets_never_appear_in_the_json),
		cmocka_unit_test(test_values_keep_the_file_shape),
		cmocka_unit_test(test_admin_off_loopback_needs_a_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
