/*
 * test_config_reload.c - config/ across a reload: the keys fixed at
 * start-up are kept and named, the live snapshot (an unchanged reload
 * keeps it), paths made absolute
 * without resolving links, the test-routes check.
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

static void test_reload_keeps_fixed_settings(void **state)
{
	struct ad_config *running = parse("{\"actors\": {\"net\": {\"count\": 2},"
					  " \"job\": {\"count\": 2}, \"cache\": {\"count\": 0}}}");
	struct ad_config *next = parse("{\"listen\": [\"127.0.0.1:9000\"],"
				       " \"actors\": {\"net\": {\"count\": 1}, \"job\": {\"count\": 1},"
				       " \"cache\": {\"count\": 3}, \"handler\": {\"mailbox\": 64},"
				       " \"file\": {\"count\": 2, \"mailbox\": 64}},"
				       " \"pidfile\": \"/run/a.pid\", \"test_routes\": true,"
				       " \"log\": {\"level\": \"warn\"}, \"drain_timeout_ms\": 5,"
				       " \"http\": {\"max_headers\": 10, \"backlog\": 100}}");
	char changed[256];

	(void)state;
	assert_non_null(running);
	assert_non_null(next);
	config_carry_fixed(next, running, changed, sizeof(changed));
	/* Counts of resizable pools are live (the server resizes them), unless
	 * the pool would appear or vanish; mailboxes and other counts are not. */
	assert_string_equal(changed, "listen, http.backlog, actors.handler.mailbox, "
			    "actors.cache.count, actors.job, pidfile, actors.file.mailbox");
	assert_int_equal(next->listen[0].port, 8080);
	assert_int_equal(next->net.count, 1);
	assert_int_equal(next->cache.count, 0);
	assert_int_equal(next->job.count, 2);
	assert_int_equal(next->handler.mailbox, 4096);
	assert_int_equal(next->file_actor.count, 2);
	assert_int_equal(next->http.backlog, 65535);
	assert_int_equal(next->file_actor.mailbox, 1024);
	assert_string_equal(next->pidfile, "");
	/* Live settings do change, routes (test_routes) included. */
	assert_int_equal(next->http.max_headers, 10);
	assert_int_equal(next->log.level, CONFIG_LOG_WARN);
	assert_int_equal(next->drain_timeout_ms, 5);
	assert_true(next->test_routes);
	config_carry_fixed(next, running, changed, sizeof(changed));
	assert_string_equal(changed, "");
	config_free(running);
	config_free(next);
}

/* Every key docs/CONFIG.md calls restart-only (or "fixed at start"), as a
 * reload names it, and a file that changes just that key. */
static const char *const restart_only[][2] = {
	{ "listen", "{\"listen\": [\"127.0.0.1:9000\"]}" },
	{ "admin_listen", "{\"admin_listen\": \"127.0.0.1:9000\"}" },
	{ "http.backlog", "{\"http\": {\"backlog\": 100}}" },
	{ "actors.net.mailbox", "{\"actors\": {\"net\": {\"mailbox\": 64}}}" },
	{ "actors.handler.mailbox", "{\"actors\": {\"handler\": {\"mailbox\": 64}}}" },
	{ "actors.log", "{\"actors\": {\"log\": {\"mailbox\": 64}}}" },
	{ "actors.cache.mailbox", "{\"actors\": {\"cache\": {\"mailbox\": 64}}}" },
	{ "actors.mysql.mailbox", "{\"actors\": {\"mysql\": {\"mailbox\": 64}}}" },
	{ "actors.cache.count", "{\"actors\": {\"cache\": {\"count\": 0}}}" },
	{ "actors.mysql.count", "{\"actors\": {\"mysql\": {\"count\": 0}}}" },
	{ "actors.mongo", "{\"actors\": {\"mongo\": {\"count\": 3}}}" },
	{ "actors.job", "{\"actors\": {\"job\": {\"count\": 2}}}" },
	{ "actors.upstream", "{\"actors\": {\"upstream\": {\"count\": 2}}}" },
	{ "upstream.resolver", "{\"upstream\": {\"resolver\": \"127.0.0.1:53\"}}" },
	{ "actors.worker.mailbox", "{\"actors\": {\"worker\": {\"mailbox\": 64}}}" },
	{ "actors.worker.count", "{\"actors\": {\"worker\": {\"count\": 0}}}" },
	{ "actors.sched", "{\"actors\": {\"sched\": {\"count\": 0}}}" },
	{ "app.queue_capacity", "{\"app\": {\"queue_capacity\": 5}}" },
	{ "app.queue_concurrency", "{\"app\": {\"queue_concurrency\": 5}}" },
	{ "app.queue_max_attempts", "{\"app\": {\"queue_max_attempts\": 5}}" },
	{ "app.period_ms", "{\"app\": {\"period_ms\": 5}}" },
	{ "app.period_once_per_cluster", "{\"app\": {\"period_once_per_cluster\": false}}" },
	{ "actors.pubsub", "{\"actors\": {\"pubsub\": {\"count\": 0}}}" },
	{ "websocket.redis", "{\"websocket\": {\"redis\": false}}" },
	{ "websocket.redis_prefix", "{\"websocket\": {\"redis_prefix\": \"x\"}}" },
	{ "mongo.uri", "{\"mongo\": {\"uri\": \"mongodb://db\"}}" },
	{ "mongo.connect_timeout_ms", "{\"mongo\": {\"connect_timeout_ms\": 5}}" },
	{ "mongo.query_timeout_ms", "{\"mongo\": {\"query_timeout_ms\": 5}}" },
	{ "mongo.server_selection_timeout_ms", "{\"mongo\": {\"server_selection_timeout_ms\": 5}}" },
	{ "jobs.instance", "{\"jobs\": {\"instance\": \"i\"}}" },
	{ "jobs.prefix", "{\"jobs\": {\"prefix\": \"p\"}}" },
	{ "jobs.group", "{\"jobs\": {\"group\": \"g\"}}" },
	{ "jobs.concurrency", "{\"jobs\": {\"concurrency\": 5}}" },
	{ "jobs.reclaim_idle_ms", "{\"jobs\": {\"reclaim_idle_ms\": 1000}}" },
	{ "near_cache.enabled", "{\"near_cache\": {\"enabled\": false}}" },
	{ "near_cache.max_bytes", "{\"near_cache\": {\"max_bytes\": 8192}}" },
	{ "near_cache.prefixes", "{\"near_cache\": {\"prefixes\": [\"a:\"]}}" },
	{ "pidfile", "{\"pidfile\": \"/run/a.pid\"}" },
	{ "actors.file.mailbox", "{\"actors\": {\"file\": {\"mailbox\": 64}}}" },
	{ "actors.file.count", "{\"actors\": {\"file\": {\"count\": 0}}}" },
	{ "redis.pipeline_max", "{\"redis\": {\"pipeline_max\": 5}}" },
};

static void test_reload_names_and_keeps_every_restart_only_key(void **state)
{
	struct ad_config *running = accepted(parse("{}"));
	char changed[256];

	(void)state;
	for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++) {
		struct ad_config *next = accepted(parse(restart_only[i][1]));

		config_carry_fixed(next, running, changed, sizeof(changed));
		if (strcmp(changed, restart_only[i][0]) != 0)
			fail_msg("%s: a reload says '%s'", restart_only[i][1], changed);
		assert_memory_equal(next, running, sizeof(*next));
		config_free(next);
	}
	config_free(running);
}

static void test_mongo_is_optional_and_fixed_at_start(void **state)
{
	struct ad_config *running = parse("{}");
	struct ad_config *next = parse("{\"mongo\": {\"uri\": \"mongodb://db:27017\","
				       " \"database\": \"other\","
				       " \"server_selection_timeout_ms\": 250}}");
	char changed[256];

	(void)state;
	assert_non_null(running);
	assert_non_null(next);
	/* No MongoDB unless configured: Debian ships no server. */
	assert_string_equal(running->mongo.uri, "");
	assert_string_equal(running->mongo.database, "hello_world");
	assert_int_equal(running->mongo.server_selection_timeout_ms, 1000);
	assert_int_equal(next->mongo.server_selection_timeout_ms, 250);
	/* The uri and timeouts shape the driver's pool; the database is live. */
	config_carry_fixed(next, running, changed, sizeof(changed));
	assert_string_equal(changed, "mongo.uri, mongo.server_selection_timeout_ms");
	assert_string_equal(next->mongo.uri, "");
	assert_string_equal(next->mongo.database, "other");
	config_free(running);
	config_free(next);
	expect_error("{\"mongo\": {\"server_selection_timeout_ms\": 0}}",
		     "/etc/actord/t.json: mongo.server_selection_timeout_ms: 0 is out of range "
		     "[1, 3600000]");
}

static void test_published_snapshot_is_current(void **state)
{
	struct ad_config *a = parse("{}"), *b = parse("{\"http\": {\"max_headers\": 7}}");

	(void)state;
	assert_null(config_current());
	config_publish(a);
	assert_ptr_equal(config_current(), a);
	config_publish(b);
	assert_int_equal(config_current()->http.max_headers, 7);
	config_retire_all();      /* frees a and b */
	assert_null(config_current());
}

/* A reload of an unchanged file keeps the live snapshot (no memory spent:
 * snapshots are freed only at exit) yet moves the generation on, which
 * what a reload re-reads (the upstream TLS files) compares. */
static void test_an_unchanged_reload_keeps_the_snapshot_and_moves_the_generation(void **state)
{
	const char *text = "{\"http\": {\"max_headers\": 7}}";
	struct ad_config *a = parse(text), *same = parse("{ \"http\": { \"max_headers\": 7 } }");
	struct ad_config *changed = parse("{\"http\": {\"max_headers\": 8}}");
	char keys[256];
	uint64_t g0;

	(void)state;
	assert_non_null(a);
	assert_non_null(same);
	assert_non_null(changed);
	g0 = config_generation();
	config_publish(a);
	assert_int_equal(config_generation(), g0 + 1);
	/* Each load draws its own cookie keys when none are set: the carry
	 * keeps the running ones, as a reload does. */
	config_carry_fixed(same, a, keys, sizeof(keys));
	assert_false(config_publish_reload(same));           /* freed */
	assert_ptr_equal(config_current(), a);
	assert_int_equal(config_generation(), g0 + 2);
	config_carry_fixed(changed, a, keys, sizeof(keys));
	assert_true(config_publish_reload(changed));
	assert_ptr_equal(config_current(), changed);
	assert_int_equal(config_generation(), g0 + 3);
	config_retire_all();      /* frees a and changed */
}

static void test_paths_are_made_absolute_without_resolving_links(void **state)
{
	char dir[] = "/tmp/actord-cfgpath-XXXXXX", cwd[1024], want[1100], out[1100];
	struct ad_config *cfg;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(symlink("target.json", "link.json"), 0);
	assert_int_equal(config_absolute_path("link.json", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/link.json", dir);
	assert_string_equal(out, want);
	assert_int_equal(config_absolute_path("./link.json", out, sizeof(out)), 0);
	assert_string_equal(out, want);
	assert_int_equal(config_absolute_path("/etc/../x.json", out, sizeof(out)), 0);
	assert_string_equal(out, "/etc/../x.json");
	assert_int_equal(config_absolute_path("link.json", out, 8), -ENAMETOOLONG);

	/* A relative secret file still reads after the daemon's chdir("/"). */
	fp = fopen("sec", "w");
	assert_non_null(fp);
	fputs("pw\n", fp);
	fclose(fp);
	setenv("ACTORD_REDIS_PASSWORD_FILE", "sec", 1);
	assert_int_equal(config_anchor_secret_files(err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/sec", dir);
	assert_string_equal(getenv("ACTORD_REDIS_PASSWORD_FILE"), want);
	assert_int_equal(chdir("/"), 0);
	cfg = accepted(parse("{}"));
	assert_string_equal(cfg->redis.password, "pw");
	config_free(cfg);
	unsetenv("ACTORD_REDIS_PASSWORD_FILE");
	unlink(want);
	snprintf(want, sizeof(want), "%s/link.json", dir);
	unlink(want);
	rmdir(dir);
	assert_int_equal(chdir(cwd), 0);
}

static void test_test_routes_need_a_binary_that_has_them(void **state)
{
	struct ad_config *cfg;

	(void)state;
	config_set_test_routes_available(false);
	expect_error("{\"test_routes\": true}", "/etc/actord/t.json: test_routes: this binary "
		     "has no test routes (the test suite's build/actord-test has them)");
	cfg = accepted(parse("{\"test_routes\": false}"));
	config_free(cfg);
	config_set_test_routes_available(true);
	cfg = accepted(parse("{\"test_routes\": true}"));
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload_keeps_fixed_settings),
		cmocka_unit_test(test_reload_names_and_keeps_every_restart_only_key),
		cmocka_unit_test(test_mongo_is_optional_and_fixed_at_start),
		cmocka_unit_test(test_published_snapshot_is_current),
		cmocka_unit_test(test_an_unchanged_reload_keeps_the_snapshot_and_moves_the_generation),
		cmocka_unit_test(test_paths_are_made_absolute_without_resolving_links),
		cmocka_unit_test(test_test_routes_need_a_binary_that_has_them),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
