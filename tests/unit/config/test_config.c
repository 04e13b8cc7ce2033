/*
 * test_config.c - config/: defaults, comments, every kind of invalid file
 * with its exact message, environment overrides. Reloads, the live
 * snapshot and paths: test_config_reload.c.
 *
 * Thread: single-threaded; cmocka runs the tests in order.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "config_checks.h"

static void test_empty_object_means_defaults(void **state)
{
	struct ad_config def, *cfg = parse("{}");

	(void)state;
	assert_non_null(cfg);
	config_defaults(&def);
	snprintf(def.path, sizeof(def.path), "/etc/actord/t.json");
	/* No signing key configured: one is drawn at random for the process. */
	assert_true(cfg->cookies.keys_generated);
	assert_int_equal(strlen(cfg->cookies.secret_keys), 64);
	def.cookies = cfg->cookies;
	assert_memory_equal(cfg, &def, sizeof(def));
	assert_int_equal(cfg->net.count, 1);
	assert_int_equal(cfg->handler.count, 1);
	assert_int_equal(cfg->http.max_request_line, 8192);
	assert_int_equal(cfg->http.max_header_bytes, 65536);
	assert_int_equal(cfg->http.max_headers, 100);
	assert_int_equal(cfg->http.max_body_bytes, 1 << 20);
	assert_true(cfg->http.max_stream_body_bytes == 1ull << 30);
	assert_int_equal(cfg->http.header_timeout_ms, 10000);
	assert_int_equal(cfg->http.body_timeout_ms, 10000);
	assert_int_equal(cfg->http.body_min_rate, 1024);
	assert_int_equal(cfg->http.keepalive_timeout_ms, 75000);
	assert_int_equal(cfg->http.write_timeout_ms, 10000);
	assert_int_equal(cfg->http.request_timeout_ms, 5000);
	assert_int_equal(cfg->http.max_connections, 100000);
	assert_int_equal(cfg->http.backlog, 65535);
	assert_int_equal(cfg->http.output_high_water, 1 << 20);
	assert_int_equal(cfg->http.max_pipeline, 64);
	assert_int_equal(cfg->upstream.first_byte_timeout_ms, 4000);
	assert_int_equal(cfg->upstream.send_timeout_ms, 60000);
	assert_int_equal(cfg->admission.target_ms, 1000);
	assert_int_equal(cfg->admission.interval_ms, 100);
	assert_int_equal(cfg->handler.mailbox, 4096);
	assert_int_equal(cfg->mysql_actor.mailbox, 16384);
	assert_int_equal(cfg->cache.mailbox, 16384);
	assert_int_equal(cfg->log.level, CONFIG_LOG_INFO);
	assert_string_equal(cfg->listen[0].host, "127.0.0.1");
	assert_int_equal(cfg->listen[0].port, 8080);
	assert_int_equal(cfg->admin_listen.port, 9901);
	config_free(cfg);
}

static void test_shipped_file_is_valid(void **state)
{
	struct ad_config *cfg = accepted(config_load(ACTORD_SOURCE_DIR "/config/actord.json",
						     err, sizeof(err)));

	(void)state;
	assert_int_equal(cfg->nlisten, 1);
	assert_string_equal(cfg->listen[0].host, "127.0.0.1");
	assert_int_equal(cfg->listen[0].port, 8080);
	assert_int_equal(cfg->admin_listen.port, 9901);
	assert_int_equal(cfg->redis.port, 16379);
	assert_int_equal(cfg->mysql.port, 13306);
	assert_string_equal(cfg->mysql.user, "benchmarkdbuser");
	assert_string_equal(cfg->mysql.database, "hello_world");
	assert_false(cfg->test_routes);
	/* The sizes that serve `ab -c 10000` (docs/SCALING.md). */
	assert_int_equal(cfg->admission.target_ms, 1000);
	assert_int_equal(cfg->admission.interval_ms, 100);
	assert_int_equal(cfg->mysql_actor.mailbox, 16384);
	assert_int_equal(cfg->cache.mailbox, 16384);
	assert_int_equal(cfg->http.backlog, 65535);
	config_free(cfg);
}

static void test_comments_are_ignored(void **state)
{
	struct ad_config *cfg = accepted(parse(
		"// line comment\n"
		"{ /* block\n comment */ \"listen\": [\"127.0.0.1:1234\", // second\n"
		"  \"[::1]:1235\"],\n"
		"  \"mongo\": {\"uri\": \"mongodb://h:1/x?a=/*b*/\"}, // slashes in strings stay\n"
		"  \"mysql\": {\"user\": \"a\\\"//b\"}, /* an escaped quote ends no string */\n"
		"  \"http\": {\"max_pipeline\": 8 /* inline */}\n"
		"}\n// trailing\n"));

	(void)state;
	assert_int_equal(cfg->nlisten, 2);
	assert_int_equal(cfg->listen[0].port, 1234);
	assert_string_equal(cfg->listen[1].host, "::1");
	assert_int_equal(cfg->listen[1].port, 1235);
	assert_string_equal(cfg->mongo.uri, "mongodb://h:1/x?a=/*b*/");
	assert_string_equal(cfg->mysql.user, "a\"//b");
	assert_int_equal(cfg->http.max_pipeline, 8);
	config_free(cfg);
}

static void test_every_section_is_read(void **state)
{
	struct ad_config *cfg = accepted(parse(
		"{\"actors\": {\"mysql\": {\"count\": 3, \"mailbox\": 64},"
		"              \"cache\": {\"count\": 0}},"
		" \"log\": {\"level\": \"debug\", \"format\": \"json\","
		"           \"file\": \"logs/actord.log\", \"access_log\": \"/var/log/a.log\"},"
		" \"redis\": {\"host\": \"localhost\", \"port\": 7000, \"database\": 2,"
		"             \"reconnect_max_ms\": 500},"
		" \"mysql\": {\"user\": \"u\", \"password\": \"p\", \"database\": \"d\","
		"             \"reconnect_max_ms\": 300, \"statement_cache\": 8},"
		" \"app\": {\"world_cache_ttl_ms\": 1000, \"wallpaper_cache_ttl_ms\": 2000},"
		" \"pidfile\": \"run/actord.pid\", \"drain_timeout_ms\": 0,"
		" \"test_routes\": true}"));

	(void)state;
	assert_int_equal(cfg->mysql_actor.count, 3);
	assert_int_equal(cfg->mysql_actor.mailbox, 64);
	assert_int_equal(cfg->cache.count, 0);
	assert_int_equal(cfg->log.level, CONFIG_LOG_DEBUG);
	assert_int_equal(cfg->log.format, CONFIG_LOG_JSON);
	/* Relative paths are anchored at the config file's directory. */
	assert_string_equal(cfg->log.file, "/etc/actord/logs/actord.log");
	assert_string_equal(cfg->log.access_log, "/var/log/a.log");
	assert_string_equal(cfg->pidfile, "/etc/actord/run/actord.pid");
	assert_string_equal(cfg->redis.host, "localhost");
	assert_int_equal(cfg->redis.port, 7000);
	assert_int_equal(cfg->redis.database, 2);
	assert_string_equal(cfg->mysql.password, "p");
	assert_int_equal(cfg->redis.reconnect_max_ms, 500);
	assert_int_equal(cfg->mysql.reconnect_max_ms, 300);
	assert_int_equal(cfg->mysql.statement_cache, 8);
	assert_int_equal(cfg->app.world_cache_ttl_ms, 1000);
	assert_int_equal(cfg->app.wallpaper_cache_ttl_ms, 2000);
	assert_int_equal(cfg->drain_timeout_ms, 0);
	assert_true(cfg->test_routes);
	config_free(cfg);
}

static void test_upstream_section_is_read(void **state)
{
	struct ad_config *cfg = accepted(parse(
		"{\"upstream\": {\"url\": \"http://localhost:9100/hello?x=1\","
		"  \"proxy\": [{\"prefix\": \"/api/v1/\", \"to\": \"http://127.0.0.1:9200\"},"
		"            {\"to\": \"http://[::1]:9300/b/\", \"prefix\": \"/\"}],"
		"  \"connect_timeout_ms\": 100, \"response_timeout_ms\": 200,"
		"  \"max_response_bytes\": 1000, \"max_connections\": 3, \"max_queue\": 0,"
		"  \"idle_timeout_ms\": 400, \"retries\": 0, \"first_byte_timeout_ms\": 150,"
		"  \"send_timeout_ms\": 250,"
		"  \"max_redirects\": 2, \"resolver\": \"127.0.0.1:5353,[::1]\","
		"  \"dns_ttl_min_ms\": 10, \"dns_ttl_max_ms\": 20}}"));
	const struct config_upstream *u;

	(void)state;
	u = &cfg->upstream;
	assert_string_equal(u->url.url, "http://localhost:9100/hello?x=1");
	assert_string_equal(u->url.host, "localhost");
	assert_int_equal(u->url.port, 9100);
	assert_string_equal(u->url.target, "/hello?x=1");
	assert_int_equal(u->url.family, 0);           /* a name: resolved at run time */
	assert_false(u->url.tls);
	assert_int_equal(u->nproxy, 2);
	assert_string_equal(u->proxy[0].prefix, "/api/v1/");
	assert_string_equal(u->proxy[0].to.target, "/");
	assert_int_equal(u->proxy[0].to.port, 9200);
	assert_string_equal(u->proxy[1].to.host, "::1");
	assert_string_equal(u->proxy[1].to.target, "/b/");
	assert_int_equal(u->connect_timeout_ms, 100);
	assert_int_equal(u->response_timeout_ms, 200);
	assert_int_equal(u->max_response_bytes, 1000);
	assert_int_equal(u->max_connections, 3);
	assert_int_equal(u->max_queue, 0);
	assert_int_equal(u->idle_timeout_ms, 400);
	assert_int_equal(u->retries, 0);
	assert_int_equal(u->first_byte_timeout_ms, 150);
	assert_int_equal(u->send_timeout_ms, 250);
	assert_int_equal(u->max_redirects, 2);
	assert_string_equal(u->resolver, "127.0.0.1:5353,[::1]");
	assert_int_equal(u->dns_ttl_min_ms, 10);
	assert_int_equal(u->dns_ttl_max_ms, 20);
	config_free(cfg);
	cfg = accepted(parse(
		"{\"upstream\": {\"url\": \"https://api.example.com/v1\", \"ca_file\": \"/dev/null\","
		"  \"proxy\": [{\"prefix\": \"/s/\", \"to\": \"https://127.0.0.1:8443/\","
		"   \"ca_file\": \"/dev/null\", \"cert_file\": \"/dev/null\"}]}}"));
	u = &cfg->upstream;
	assert_true(u->url.tls);
	assert_int_equal(u->url.port, 443);
	assert_string_equal(u->url.target, "/v1");
	assert_string_equal(u->ca_file, "/dev/null");
	assert_true(u->proxy[0].to.tls);
	assert_int_equal(u->proxy[0].to.port, 8443);
	assert_string_equal(u->proxy[0].ca_file, "/dev/null");
	assert_string_equal(u->proxy[0].cert_file, "/dev/null");
	assert_string_equal(u->proxy[0].key_file, "");
	config_free(cfg);
	cfg = parse("{\"upstream\": {\"url\": \"\"}}");
	assert_non_null(cfg);
	assert_string_equal(cfg->upstream.url.url, "");   /* "": GET /upstream is off */
	config_free(cfg);
}

static void test_bad_upstream_urls_and_proxies_are_refused(void **state)
{
	struct ad_config *cfg;

	(void)state;
	expect_error("{\"upstream\": {\"url\": \"ftp://127.0.0.1/\"}}",
		     "/etc/actord/t.json: upstream.url: 'ftp://127.0.0.1/' is not an http:// or "
		     "https:// URL");
	expect_error("{\"upstream\": {\"url\": \"127.0.0.1:9000\"}}",
		     "/etc/actord/t.json: upstream.url: '127.0.0.1:9000' is not an http:// or "
		     "https:// URL");
	expect_error("{\"upstream\": {\"ca_file\": \"/no/such/ca.pem\"}}",
		     "/etc/actord/t.json: upstream.ca_file: cannot read '/no/such/ca.pem': No such "
		     "file or directory");
	expect_error("{\"upstream\": {\"proxy\": [{\"prefix\": \"/a/\", \"to\": \"https://h/\","
		     " \"key_file\": \"/dev/null\"}]}}",
		     "/etc/actord/t.json: upstream.proxy[0]: key_file needs cert_file");
	expect_error("{\"upstream\": {\"proxy\": [{\"prefix\": \"/a/\", \"to\": \"https://h/\","
		     " \"cert_file\": \"/no/cert.pem\"}]}}",
		     "/etc/actord/t.json: upstream.proxy[0].cert_file: cannot read '/no/cert.pem': "
		     "No such file or directory");
	expect_error("{\"upstream\": {\"resolver\": \"dns.example:53\"}}",
		     "/etc/actord/t.json: upstream.resolver: 'dns.example' is not an IP address");
	expect_error("{\"upstream\": {\"resolver\": \"127.0.0.1:0\"}}",
		     "/etc/actord/t.json: upstream.resolver: '127.0.0.1:0': port must be 1..65535");
	expect_error("{\"upstream\": {\"dns_ttl_min_ms\": 5, \"dns_ttl_max_ms\": 4}}",
		     "/etc/actord/t.json: upstream.dns_ttl_min_ms: 5 is larger than "
		     "upstream.dns_ttl_max_ms (4)");
	expect_error("{\"upstream\": {\"url\": \"http://127.0.0.1:99999/\"}}",
		     "/etc/actord/t.json: upstream.url: 'http://127.0.0.1:99999/': port must "
		     "be 1..65535");
	expect_error("{\"upstream\": {\"url\": \"http://a@127.0.0.1/\"}}",
		     "/etc/actord/t.json: upstream.url: 'http://a@127.0.0.1/': user info is "
		     "not supported");
	expect_error("{\"upstream\": {\"url\": \"http:///x\"}}",
		     "/etc/actord/t.json: upstream.url: 'http:///x' has no host");
	expect_error("{\"upstream\": {\"url\": 5}}",
		     "/etc/actord/t.json: upstream.url: expected an \"http[s]://host[:port]/path\" "
		     "string, got a number");
	/* Names are resolved at run time: one that does not resolve loads. */
	cfg = accepted(parse("{\"upstream\": {\"url\": \"http://no-such-host.invalid/\"}}"));
	config_free(cfg);
	expect_error("{\"upstream\": {\"proxy\": [{\"prefix\": \"/p\", \"to\": \"http://h/\"}]}}",
		     "/etc/actord/t.json: upstream.proxy[0].prefix: '/p' must start and end "
		     "with '/'");
	expect_error("{\"upstream\": {\"proxy\": [{\"prefix\": \"/:id/\", \"to\": \"http://h/\"}]}}",
		     "/etc/actord/t.json: upstream.proxy[0].prefix: '/:id/': only letters, "
		     "digits, '-', '.', '_', '~' and '/' are allowed");
	expect_error("{\"upstream\": {\"proxy\": [{\"prefix\": \"/a//\", \"to\": \"http://h/\"}]}}",
		     "/etc/actord/t.json: upstream.proxy[0].prefix: '/a//' has an empty segment");
	expect_error("{\"upstream\": {\"proxy\": [{\"prefix\": \"/a/\"}]}}",
		     "/etc/actord/t.json: upstream.proxy[0]: needs both \"prefix\" and \"to\"");
	expect_error("{\"upstream\": {\"proxy\": [{\"prefix\": \"/a/\", \"to\": \"\"}]}}",
		     "/etc/actord/t.json: upstream.proxy[0].to: must not be empty");
	expect_error("{\"upstream\": {\"proxy\": [{\"prefix\": \"/a/\", \"to\": \"http://127.0.0.1/\","
		     " \"x\": 1}]}}", "/etc/actord/t.json: upstream.proxy[0].x: unknown key");
	expect_error("{\"upstream\": {\"proxy\": [{\"prefix\": \"/a/\", \"to\": \"http://127.0.0.1/\"},"
		     " {\"prefix\": \"/a/\", \"to\": \"http://127.0.0.1/\"}]}}",
		     "/etc/actord/t.json: upstream.proxy[1]: prefix '/a/' already used by "
		     "upstream.proxy[0]");
	expect_error("{\"upstream\": {\"proxy\": {}}}",
		     "/etc/actord/t.json: upstream.proxy: expected an array of {\"prefix\", "
		     "\"to\"} objects, got an object");
	expect_error("{\"upstream\": {\"max_connections\": 0}}",
		     "/etc/actord/t.json: upstream.max_connections: 0 is out of range [1, 65536]");
	expect_error("{\"http\": {\"max_stream_body_bytes\": 1125899906842625}}",
		     "/etc/actord/t.json: http.max_stream_body_bytes: 1125899906842625 is out of "
		     "range [0, 1125899906842624]");
	expect_error("{\"upstream\": {\"send_timeout_ms\": 0}}",
		     "/etc/actord/t.json: upstream.send_timeout_ms: 0 is out of range [1, 3600000]");
}

static void test_unknown_keys_are_refused(void **state)
{
	(void)state;
	expect_error("{\"lisen\": []}",
		     "/etc/actord/t.json: lisen: unknown key (did you mean \"listen\"?)");
	expect_error("{\"http\": {\"max_bodybytes\": 1}}",
		     "/etc/actord/t.json: http.max_bodybytes: unknown key "
		     "(did you mean \"max_body_bytes\"?)");
	expect_error("{\"http\": {\"max_conections\": 1}}",
		     "/etc/actord/t.json: http.max_conections: unknown key "
		     "(did you mean \"max_connections\"?)");
	/* Nothing close enough: no guess. */
	expect_error("{\"redis\": {\"ttl\": 1}}", "/etc/actord/t.json: redis.ttl: unknown key");
	expect_error("{\"actors\": {\"web\": {\"count\": 1}}}",
		     "/etc/actord/t.json: actors.web: unknown key");
	expect_error("{\"http\": {\"backlog\": 1, \"backlog\": 2}}",
		     "/etc/actord/t.json: http.backlog: duplicate key");
}

static void test_wrong_types_are_refused(void **state)
{
	(void)state;
	expect_error("{\"http\": {\"backlog\": \"10\"}}",
		     "/etc/actord/t.json: http.backlog: expected an integer, got a string");
	expect_error("{\"http\": {\"backlog\": 1.5}}",
		     "/etc/actord/t.json: http.backlog: expected an integer, got 1.5");
	expect_error("{\"http\": []}",
		     "/etc/actord/t.json: http: expected an object, got an array");
	expect_error("{\"test_routes\": 1}",
		     "/etc/actord/t.json: test_routes: expected true or false, got a number");
	expect_error("{\"listen\": \"127.0.0.1:80\"}",
		     "/etc/actord/t.json: listen: expected an array of \"host:port\" strings, "
		     "got a string");
	expect_error("{\"log\": {\"file\": null}}",
		     "/etc/actord/t.json: log.file: expected a string, got null");
	expect_error("[]", "/etc/actord/t.json: (file): expected a JSON object at the top, "
		     "got an array");
}

static void test_out_of_range_values_are_refused(void **state)
{
	(void)state;
	expect_error("{\"http\": {\"backlog\": 0}}",
		     "/etc/actord/t.json: http.backlog: 0 is out of range [1, 65535]");
	/* Past 2^53 a number is still an integer, just far too large. */
	expect_error("{\"http\": {\"max_body_bytes\": 10000000000000000}}",
		     "/etc/actord/t.json: http.max_body_bytes: 10000000000000000 is out of "
		     "range [0, 4294967296]");
	expect_error("{\"http\": {\"max_headers\": 100.5}}",
		     "/etc/actord/t.json: http.max_headers: expected an integer, got 100.5");
	expect_error("{\"admission\": {\"target_ms\": 0}}",
		     "/etc/actord/t.json: admission.target_ms: 0 is out of range [1, 3600000]");
	expect_error("{\"admission\": {\"interval\": 100}}",
		     "/etc/actord/t.json: admission.interval: unknown key "
		     "(did you mean \"interval_ms\"?)");
	expect_error("{\"http\": {\"header_timeout_ms\": -5}}",
		     "/etc/actord/t.json: http.header_timeout_ms: -5 is out of range [1, 3600000]");
	expect_error("{\"actors\": {\"net\": {\"count\": 0}}}",
		     "/etc/actord/t.json: actors.net.count: 0 is out of range [1, 64]");
	expect_error("{\"actors\": {\"log\": {\"count\": 2}}}",
		     "/etc/actord/t.json: actors.log.count: 2 is out of range [1, 1]");
	expect_error("{\"redis\": {\"port\": 70000}}",
		     "/etc/actord/t.json: redis.port: 70000 is out of range [1, 65535]");
	expect_error("{\"mysql\": {\"statement_cache\": 0}}",
		     "/etc/actord/t.json: mysql.statement_cache: 0 is out of range [1, 4096]");
	expect_error("{\"app\": {\"wallpaper_cache_ttl_ms\": 0}}",
		     "/etc/actord/t.json: app.wallpaper_cache_ttl_ms: 0 is out of range "
		     "[1, 86400000]");
	expect_error("{\"log\": {\"level\": \"verbose\"}}",
		     "/etc/actord/t.json: log.level: 'verbose' is not one of "
		     "\"debug\", \"info\", \"warn\", \"error\"");
	expect_error("{\"http\": {\"max_request_line\": 4096, \"max_header_bytes\": 2048}}",
		     "/etc/actord/t.json: http.max_request_line: 4096 is larger than "
		     "http.max_header_bytes (2048)");
}

static void test_the_jobs_section_is_read_and_checked(void **state)
{
	struct ad_config *cfg;

	(void)state;
	cfg = parse("{\"jobs\": {\"instance\": \"web-1\", \"prefix\": \"{q}\", "
		    "\"concurrency\": 0, \"max_attempts\": 3, \"backoff_base_ms\": 10, "
		    "\"backoff_max_ms\": 20, \"sql_statement\": \"DO ?\"}}");
	assert_non_null(cfg);
	assert_string_equal(cfg->jobs.instance, "web-1");
	assert_string_equal(cfg->jobs.prefix, "{q}");
	assert_string_equal(cfg->jobs.group, "actord");
	assert_int_equal(cfg->jobs.concurrency, 0);
	assert_int_equal(cfg->jobs.max_attempts, 3);
	assert_int_equal(cfg->jobs.reclaim_idle_ms, 30000);
	assert_string_equal(cfg->jobs.sql_statement, "DO ?");
	config_free(cfg);
	expect_error("{\"jobs\": {\"prefix\": \"a b\"}}",
		     "/etc/actord/t.json: jobs.prefix: 'a b': use printable ASCII without spaces");
	expect_error("{\"jobs\": {\"group\": \"\"}}",
		     "/etc/actord/t.json: jobs.group: '': use printable ASCII without spaces");
	expect_error("{\"jobs\": {\"max_attempts\": 0}}",
		     "/etc/actord/t.json: jobs.max_attempts: 0 is out of range [1, 100]");
	expect_error("{\"jobs\": {\"backoff_base_ms\": 5000, \"backoff_max_ms\": 1000}}",
		     "/etc/actord/t.json: jobs.backoff_base_ms: 5000 is larger than "
		     "jobs.backoff_max_ms (1000)");
	expect_error("{\"jobs\": {\"sql_statement\": \"\"}}",
		     "/etc/actord/t.json: jobs.sql_statement: must not be empty");
}

static void test_sentinels_and_wait_are_read_and_checked(void **state)
{
	struct ad_config *cfg;

	(void)state;
	cfg = accepted(parse("{}"));
	assert_int_equal(cfg->redis.nsentinels, 0);
	assert_string_equal(cfg->redis.sentinel_master, "mymaster");
	assert_int_equal(cfg->jobs.wait_replicas, 0);
	assert_int_equal(cfg->jobs.wait_timeout_ms, 100);
	config_free(cfg);
	cfg = accepted(parse("{\"redis\": {\"sentinels\": [\"127.0.0.1:26379\", "
			     "\"[::1]:26380\"], \"sentinel_master\": \"cache\"}, "
			     "\"jobs\": {\"wait_replicas\": 1, \"wait_timeout_ms\": 250}}"));
	assert_int_equal(cfg->redis.nsentinels, 2);
	assert_string_equal(cfg->redis.sentinels[0].host, "127.0.0.1");
	assert_int_equal(cfg->redis.sentinels[0].port, 26379);
	assert_string_equal(cfg->redis.sentinels[1].host, "::1");
	assert_int_equal(cfg->redis.sentinels[1].port, 26380);
	assert_string_equal(cfg->redis.sentinel_master, "cache");
	assert_int_equal(cfg->jobs.wait_replicas, 1);
	assert_int_equal(cfg->jobs.wait_timeout_ms, 250);
	config_free(cfg);
	cfg = accepted(parse("{\"redis\": {\"sentinels\": []}}"));
	assert_int_equal(cfg->redis.nsentinels, 0);
	config_free(cfg);
	expect_error("{\"redis\": {\"sentinels\": [\"127.0.0.1\"]}}",
		     "/etc/actord/t.json: redis.sentinels[0]: '127.0.0.1' is not \"host:port\"");
	expect_error("{\"redis\": {\"sentinels\": [\"127.0.0.1:26379\", \"h:0\"]}}",
		     "/etc/actord/t.json: redis.sentinels[1]: 'h:0': port must be 1..65535");
	expect_error("{\"redis\": {\"sentinels\": \"127.0.0.1:26379\"}}",
		     "/etc/actord/t.json: redis.sentinels: expected an array of \"host:port\" "
		     "strings, got a string");
	expect_error("{\"redis\": {\"sentinels\": [\"127.0.0.1:1\", \"127.0.0.1:2\", "
		     "\"127.0.0.1:3\", \"127.0.0.1:4\", \"127.0.0.1:5\", \"127.0.0.1:6\", "
		     "\"127.0.0.1:7\", \"127.0.0.1:8\", \"127.0.0.1:9\"]}}",
		     "/etc/actord/t.json: redis.sentinels: more than 8 addresses");
	expect_error("{\"redis\": {\"sentinel_master\": \"\"}}",
		     "/etc/actord/t.json: redis.sentinel_master: '': use printable ASCII "
		     "without spaces");
	expect_error("{\"jobs\": {\"wait_replicas\": 65}}",
		     "/etc/actord/t.json: jobs.wait_replicas: 65 is out of range [0, 64]");
	expect_error("{\"jobs\": {\"wait_timeout_ms\": 0}}",
		     "/etc/actord/t.json: jobs.wait_timeout_ms: 0 is out of range [1, 3600000]");
}

static void test_the_near_cache_section_is_read_and_checked(void **state)
{
	struct ad_config *cfg = accepted(parse(
		"{\"near_cache\": {\"max_bytes\": 1048576, \"ttl_ms\": 500, \"heartbeat_ms\": 50,"
		" \"prefixes\": [\"a:\", \"b:\"], \"enabled\": false},"
		" \"app\": {\"world_near_cache\": false}}"));
	struct ad_config *next = accepted(parse("{\"near_cache\": {\"prefixes\": [\"\"],"
						 " \"ttl_ms\": 7}}"));
	char changed[256];

	(void)state;
	assert_false(cfg->near_cache.enabled);
	assert_int_equal(cfg->near_cache.max_bytes, 1048576);
	assert_int_equal(cfg->near_cache.ttl_ms, 500);
	assert_int_equal(cfg->near_cache.heartbeat_ms, 50);
	assert_int_equal(cfg->near_cache.nprefixes, 2);
	assert_string_equal(cfg->near_cache.prefixes[1], "b:");
	assert_false(cfg->app.world_near_cache);
	assert_true(cfg->app.wallpaper_near_cache);
	/* A reload keeps what shapes the near cache, changes the rest. */
	config_carry_fixed(next, cfg, changed, sizeof(changed));
	assert_string_equal(changed, "near_cache.enabled, near_cache.max_bytes, near_cache.prefixes");
	assert_string_equal(next->near_cache.prefixes[0], "a:");
	assert_int_equal(next->near_cache.ttl_ms, 7);
	config_free(cfg);
	config_free(next);
	expect_error("{\"near_cache\": {\"prefixes\": [\"world:\", \"world:1\"]}}",
		     "/etc/actord/t.json: near_cache.prefixes[1]: 'world:1' overlaps 'world:' "
		     "(near_cache.prefixes[0]): Redis tracks prefixes that do not contain each other");
	expect_error("{\"near_cache\": {\"prefixes\": [\"a b\"]}}",
		     "/etc/actord/t.json: near_cache.prefixes[0]: 'a b': use printable ASCII "
		     "without spaces");
	expect_error("{\"near_cache\": {\"prefixes\": \"world:\"}}",
		     "/etc/actord/t.json: near_cache.prefixes: expected an array of key prefixes, "
		     "got a string");
	expect_error("{\"near_cache\": {\"max_bytes\": 100}}",
		     "/etc/actord/t.json: near_cache.max_bytes: 100 is out of range "
		     "[4096, 1099511627776]");
}

static void test_mailbox_must_be_a_power_of_two(void **state)
{
	(void)state;
	expect_error("{\"actors\": {\"net\": {\"mailbox\": 1000}}}",
		     "/etc/actord/t.json: actors.net.mailbox: 1000 is not a power of two >= 4");
	expect_error("{\"actors\": {\"handler\": {\"mailbox\": 2}}}",
		     "/etc/actord/t.json: actors.handler.mailbox: 2 is out of range [4, 16777216]");
}

static void test_bad_addresses_are_refused(void **state)
{
	(void)state;
	expect_error("{\"listen\": [\"127.0.0.1:8080\", \"[::1]:8080\", \"127.0.0.1:8080\"]}",
		     "/etc/actord/t.json: listen[2]: the same address as listen[0]");
	expect_error("{\"listen\": [\"127.0.0.1\"]}",
		     "/etc/actord/t.json: listen[0]: '127.0.0.1' is not \"host:port\"");
	expect_error("{\"listen\": [\"127.0.0.1:80\", \"127.0.0.1:0\"]}",
		     "/etc/actord/t.json: listen[1]: '127.0.0.1:0': port must be 1..65535");
	expect_error("{\"listen\": [\":80\"]}", "/etc/actord/t.json: listen[0]: ':80' has no host");
	expect_error("{\"listen\": [\"::1:80\"]}",
		     "/etc/actord/t.json: listen[0]: '::1:80': write IPv6 addresses as "
		     "\"[address]:port\"");
	expect_error("{\"listen\": []}", "/etc/actord/t.json: listen: needs at least one address");
	expect_error("{\"admin_listen\": \"127.0.0.1:8080\"}",
		     "/etc/actord/t.json: admin_listen: port 8080 is also listen[0]'s "
		     "(127.0.0.1:8080): the admin endpoint needs a port of its own");
	/* Another spelling of the same address, or a wildcard over it. */
	expect_error("{\"admin_listen\": \"127.1:8080\"}",
		     "/etc/actord/t.json: admin_listen: port 8080 is also listen[0]'s "
		     "(127.0.0.1:8080): the admin endpoint needs a port of its own");
	expect_error("{\"listen\": [\"0.0.0.0:9000\"], \"admin_listen\": \"127.0.0.1:9000\"}",
		     "/etc/actord/t.json: admin_listen: port 9000 is also listen[0]'s "
		     "(0.0.0.0:9000): the admin endpoint needs a port of its own");
	expect_error("{\"mongo\": {\"uri\": \"http://x\"}}",
		     "/etc/actord/t.json: mongo.uri: must be \"\" (no MongoDB) or start with "
		     "mongodb:// or mongodb+srv://");
}

static void test_unresolvable_addresses_are_refused(void **state)
{
	const char *want = "/etc/actord/t.json: listen[0]: cannot resolve 'no-such-host.invalid': ";

	(void)state;
	assert_null(parse("{\"listen\": [\"no-such-host.invalid:80\"]}"));
	assert_memory_equal(err, want, strlen(want));
	want = "/etc/actord/t.json: redis.host: cannot resolve 'no-such-host.invalid': ";
	assert_null(parse("{\"redis\": {\"host\": \"no-such-host.invalid\"}}"));
	assert_memory_equal(err, want, strlen(want));
}

static void test_a_nul_escape_is_refused_with_its_key(void **state)
{
	struct ad_config *cfg;

	(void)state;
	/* cJSON would cut the key to "level" and the password to "ab". */
	expect_error("{\"log\": {\"level\\u0000junk\": \"debug\"}}",
		     "/etc/actord/t.json: log.level: a key must not contain \\u0000 (U+0000)");
	expect_error("{\"mysql\": {\"password\": \"ab\\u0000cd\"}}",
		     "/etc/actord/t.json: mysql.password: must not contain \\u0000 (U+0000): "
		     "the value would end there");
	expect_error("{\"listen\": [\"127.0.0.1:80\", \"127.0.0.1:81\\u0000\"]}",
		     "/etc/actord/t.json: listen[1]: must not contain \\u0000 (U+0000): "
		     "the value would end there");
	/* An escaped backslash before "u0000" is text, not an escape. */
	cfg = accepted(parse("{\"mysql\": {\"password\": \"ab\\\\u0000cd\"}} // \"\\u0000\""));
	assert_string_equal(cfg->mysql.password, "ab\\u0000cd");
	config_free(cfg);
}

static void test_syntax_errors_show_line_and_column(void **state)
{
	(void)state;
	/* A trailing comma: cJSON stops one byte later; the message does not. */
	expect_error("{\"http\": {\"backlog\": 10,}}",
		     "/etc/actord/t.json: (file): invalid JSON at line 1, column 25, near '}}'");
	expect_error("{\n  \"http\": {\n    \"backlog\": 10,\n  }\n}\n",
		     "/etc/actord/t.json: (file): invalid JSON at line 4, column 3, near '}'");
	/* Comments do not move the position: they are blanked, not removed. */
	expect_error("// a comment\n{ /* one\n two */ \"http\": {\"backlog\" 10}}\n",
		     "/etc/actord/t.json: (file): invalid JSON at line 3, column 28, near '10}}'");
	expect_error("{\"listen\": [\"127.0.0.1:80\" \"127.0.0.1:81\"]}",
		     "/etc/actord/t.json: (file): invalid JSON at line 1, column 28, "
		     "near '\"127.0.0.1:81\"]}'");
	expect_error("{\"test_routes\": tru}",
		     "/etc/actord/t.json: (file): invalid JSON at line 1, column 17, near 'tru}'");
	expect_error("{} {}", "/etc/actord/t.json: (file): invalid JSON at line 1, column 4, "
		     "near '{}'");
	expect_error("{\"http\": ", "/etc/actord/t.json: (file): invalid JSON: "
		     "unexpected end of file");
	expect_error("{\"http\": {}", "/etc/actord/t.json: (file): invalid JSON: "
		     "unexpected end of file");
	expect_error("", "/etc/actord/t.json: (file): invalid JSON: unexpected end of file");
	expect_error("{\n  /* never closed\n}\n",
		     "/etc/actord/t.json: (file): comment opened at line 2, column 3 is never closed");
}

static void test_secrets_come_from_the_environment(void **state)
{
	char path[] = "/tmp/actord-secret-XXXXXX";
	struct ad_config *cfg;
	FILE *fp;
	int fd;

	(void)state;
	setenv("ACTORD_MYSQL_PASSWORD", "from-env", 1);
	setenv("ACTORD_ADMIN_TOKEN", "tok", 1);
	cfg = parse("{\"mysql\": {\"password\": \"from-file\"}}");
	assert_non_null(cfg);
	assert_string_equal(cfg->mysql.password, "from-env");
	assert_string_equal(cfg->admin_token, "tok");
	config_free(cfg);
	unsetenv("ACTORD_MYSQL_PASSWORD");
	unsetenv("ACTORD_ADMIN_TOKEN");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs("s3cret\n", fp);
	fclose(fp);
	setenv("ACTORD_REDIS_PASSWORD_FILE", path, 1);
	cfg = parse("{}");
	assert_non_null(cfg);
	assert_string_equal(cfg->redis.password, "s3cret");
	config_free(cfg);

	setenv("ACTORD_REDIS_PASSWORD", "x", 1);
	expect_error("{}", "/etc/actord/t.json: redis.password: set ACTORD_REDIS_PASSWORD "
		     "or ACTORD_REDIS_PASSWORD_FILE, not both");
	unsetenv("ACTORD_REDIS_PASSWORD");
	unlink(path);
	assert_null(parse("{}"));
	assert_non_null(strstr(err, "redis.password: ACTORD_REDIS_PASSWORD_FILE: cannot read"));
	unsetenv("ACTORD_REDIS_PASSWORD_FILE");

	setenv("ACTORD_MONGO_URI", "redis://nope", 1);
	expect_error("{}", "/etc/actord/t.json: mongo.uri: must be \"\" (no MongoDB) or "
		     "start with mongodb:// or mongodb+srv://");
	unsetenv("ACTORD_MONGO_URI");
}

static void test_missing_file_is_reported(void **state)
{
	(void)state;
	assert_null(config_load("/nonexistent/actord.json", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/actord.json: (file): cannot open: "
			    "No such file or directory");
	/* A directory opens for reading; the read says why it is no file. */
	assert_null(config_load("/tmp", err, sizeof(err)));
	assert_string_equal(err, "/tmp: (file): Is a directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_object_means_defaults),
		cmocka_unit_test(test_shipped_file_is_valid),
		cmocka_unit_test(test_comments_are_ignored),
		cmocka_unit_test(test_every_section_is_read),
		cmocka_unit_test(test_upstream_section_is_read),
		cmocka_unit_test(test_bad_upstream_urls_and_proxies_are_refused),
		cmocka_unit_test(test_unknown_keys_are_refused),
		cmocka_unit_test(test_wrong_types_are_refused),
		cmocka_unit_test(test_out_of_range_values_are_refused),
		cmocka_unit_test(test_the_jobs_section_is_read_and_checked),
		cmocka_unit_test(test_the_near_cache_section_is_read_and_checked),
		cmocka_unit_test(test_sentinels_and_wait_are_read_and_checked),
		cmocka_unit_test(test_mailbox_must_be_a_power_of_two),
		cmocka_unit_test(test_bad_addresses_are_refused),
		cmocka_unit_test(test_unresolvable_addresses_are_refused),
		cmocka_unit_test(test_syntax_errors_show_line_and_column),
		cmocka_unit_test(test_a_nul_escape_is_refused_with_its_key),
		cmocka_unit_test(test_secrets_come_from_the_environment),
		cmocka_unit_test(test_missing_file_is_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
