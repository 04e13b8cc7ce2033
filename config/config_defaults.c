/*
 * config_defaults.c - the value of every configuration key that a file
 * leaves out: what `actord` runs with when config/actord.json names
 * nothing, and what docs/CONFIG.md lists as each key's default.
 *
 * Thread: any (writes only the struct it is given).
 */
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

void config_defaults(struct ad_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen[0].host, sizeof(cfg->listen[0].host), "127.0.0.1");
	cfg->listen[0].port = 8080;
	cfg->nlisten = 1;
	snprintf(cfg->admin_listen.host, sizeof(cfg->admin_listen.host), "127.0.0.1");
	cfg->admin_listen.port = 9901;
	/* Small: the admin side must answer while the public side is full. */
	cfg->admin.max_connections = 64;
	/* One of each: with more busy threads than cores every message costs a
	 * context switch (2 network + 2 handler threads were the slowest layout
	 * measured on 2 cores; docs/SCALING.md). */
	cfg->net = (struct config_actors){ 1, 4096 };
	cfg->handler = (struct config_actors){ 1, 4096 };
	cfg->log_actor = (struct config_actors){ 1, 4096 };
	/* Service mailboxes hold a whole burst (ab -c 10000: one call per
	 * request): how long a call may wait is admission's business
	 * (admission.*), not the mailbox's. */
	cfg->cache = (struct config_actors){ 1, 16384 };
	/* Database actors block in drivers, so they may outnumber cores: each
	 * is one query in flight, and MariaDB needs several to stay busy. */
	cfg->mysql_actor = (struct config_actors){ 8, 16384 };
	cfg->mongo_actor = (struct config_actors){ 2, 1024 };
	cfg->job = (struct config_actors){ 1, 1024 };
	cfg->upstream_actor = (struct config_actors){ 1, 1024 };
	/* Opens, stats and reads static files (they may block on the disk). */
	cfg->file_actor = (struct config_actors){ 1, 1024 };
	/* One worker per core: right for CPU-bound tasks; blocking tasks want
	 * more (docs/SCALING.md). */
	cfg->worker = (struct config_actors){ 2, 1024 };
	cfg->sched = (struct config_actors){ 1, 4096 };
	cfg->pubsub = (struct config_actors){ 1, 16384 };
	cfg->http = (struct config_http){
		.max_request_line = 8192,
		.max_header_bytes = 65536,
		.max_headers = 100,
		.max_body_bytes = 1u << 20,
		.max_stream_body_bytes = 1ull << 30,
		.header_timeout_ms = 10000,
		.body_timeout_ms = 10000,
		.body_min_rate = 1024,
		.keepalive_timeout_ms = 75000,
		.write_timeout_ms = 10000,
		.request_timeout_ms = 5000,
		.max_connections = 100000,
		.backlog = 65535, /* what net.core.somaxconn allows */
		.output_high_water = 1u << 20,
		.max_pipeline = 64,
		.slow_handler_ms = 100,
	};
	/* A burst is served if it clears within a second (10,000 /db at
	 * once: ~0.7 s on 2 cores); a request that waited longer starts an
	 * overload (docs/ARCHITECTURE.md, "Admission"). */
	cfg->admission = (struct config_admission){ .target_ms = 1000, .interval_ms = 100 };
	cfg->log.level = CONFIG_LOG_INFO;
	cfg->log.format = CONFIG_LOG_AUTO;
	snprintf(cfg->redis.host, sizeof(cfg->redis.host), "127.0.0.1");
	cfg->redis.port = 6379;
	cfg->redis.connect_timeout_ms = 1000;
	cfg->redis.command_timeout_ms = 1000;
	cfg->redis.pipeline_max = 256;
	cfg->redis.reconnect_max_ms = 1000;
	snprintf(cfg->redis.sentinel_master, sizeof(cfg->redis.sentinel_master), "mymaster");
	snprintf(cfg->mysql.host, sizeof(cfg->mysql.host), "127.0.0.1");
	cfg->mysql.port = 3306;
	cfg->mysql.connect_timeout_ms = 2000;
	cfg->mysql.query_timeout_ms = 5000;
	cfg->mysql.reconnect_max_ms = 1000;
	cfg->mysql.statement_cache = 64;
	cfg->app.world_cache_ttl_ms = 300000;
	cfg->app.wallpaper_cache_ttl_ms = 60000;
	cfg->app.world_near_cache = true;
	cfg->app.wallpaper_near_cache = true;
	cfg->near_cache.enabled = true;
	cfg->near_cache.max_bytes = 64u << 20;
	cfg->near_cache.ttl_ms = 60000;
	cfg->near_cache.heartbeat_ms = 1000;
	snprintf(cfg->near_cache.prefixes[0], CONFIG_PREFIX_MAX, "world:");
	snprintf(cfg->near_cache.prefixes[1], CONFIG_PREFIX_MAX, "wallpaperList:");
	cfg->near_cache.nprefixes = 2;
	cfg->app.demo_work_ms = 1000;
	cfg->app.queue_capacity = 10000;
	cfg->app.queue_concurrency = 4;
	cfg->app.queue_max_attempts = 3;
	cfg->app.hash_max_iterations = 1000000;
	cfg->app.period_once_per_cluster = true;
	cfg->app.websocket = true;
	/* No MongoDB unless configured (Debian ships no server). */
	snprintf(cfg->mongo.database, sizeof(cfg->mongo.database), "hello_world");
	cfg->mongo.connect_timeout_ms = 2000;
	cfg->mongo.query_timeout_ms = 5000;
	cfg->mongo.server_selection_timeout_ms = 1000;
	config_url_parse("http://127.0.0.1:9000/", &cfg->upstream.url, NULL, 0);
	cfg->upstream.connect_timeout_ms = 1000;
	cfg->upstream.response_timeout_ms = 4000;
	cfg->upstream.max_response_bytes = 8u << 20;
	cfg->upstream.proxy_buffer_bytes = 1u << 20;
	cfg->upstream.proxy_max_body_bytes = 1ull << 30;
	cfg->upstream.max_connections = 64;
	cfg->upstream.max_queue = 1024;
	cfg->upstream.idle_timeout_ms = 60000;
	cfg->upstream.retries = 1;
	cfg->upstream.first_byte_timeout_ms = 4000;
	/* nginx's proxy_read_timeout: a streamed body (an export generated as
	 * it goes, a long poll, server-sent events) may pause between pieces
	 * far longer than an upstream may take to start answering; a minute
	 * still frees a connection whose upstream hung. */
	cfg->upstream.read_timeout_ms = 60000;
	/* nginx's proxy_send_timeout: an upstream may pause reading a large
	 * upload (a busy disk, a collection) far longer than it may take to
	 * start answering. */
	cfg->upstream.send_timeout_ms = 60000;
	cfg->upstream.max_redirects = 5;
	cfg->upstream.dns_ttl_min_ms = 1000;
	cfg->upstream.dns_ttl_max_ms = 300000;
	cfg->upstream.fail_timeout_ms = 10000;
	cfg->websocket = (struct config_websocket){
		.max_message_bytes = 1u << 20,
		.max_queue_messages = 1024,
		.max_queue_bytes = 4u << 20,
		.slow_consumer = CONFIG_WS_SLOW_CLOSE,
		.idle_timeout_ms = 120000,
		.ping_interval_ms = 30000,
		.close_timeout_ms = 5000,
		.redis = true,
	};
	snprintf(cfg->websocket.redis_prefix, sizeof(cfg->websocket.redis_prefix), "actord:ws");
	snprintf(cfg->jobs.prefix, sizeof(cfg->jobs.prefix), "jobs");
	snprintf(cfg->jobs.group, sizeof(cfg->jobs.group), "actord");
	cfg->jobs.concurrency = 64;
	cfg->jobs.max_attempts = 5;
	cfg->jobs.dead_max_jobs = 10000;
	cfg->jobs.backoff_base_ms = 1000;
	cfg->jobs.backoff_max_ms = 300000;
	cfg->jobs.backoff_jitter_pct = 50;
	cfg->jobs.timeout_ms = 60000;
	cfg->jobs.reclaim_idle_ms = 30000;
	cfg->jobs.block_ms = 1000;
	cfg->jobs.retry_poll_ms = 1000;
	cfg->jobs.max_payload_bytes = 65536;
	cfg->jobs.result_ttl_s = 86400;
	cfg->jobs.idempotency_ttl_s = 86400;
	cfg->jobs.wait_timeout_ms = 100;
	snprintf(cfg->jobs.sql_statement, sizeof(cfg->jobs.sql_statement),
		 "INSERT INTO job_results (job_id, note) VALUES (?, ?)"
		 " ON DUPLICATE KEY UPDATE job_id = job_id");
	cfg->drain_timeout_ms = 10000;
	cfg->upgrade_timeout_ms = 30000;
	config_web_defaults(cfg);
}
