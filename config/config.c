/*
 * config.c - parse and validate actord's JSON configuration file.
 *
 * DESIGN
 * The text becomes strict JSON in config_text.c (comments blanked in
 * place, so syntax errors keep their line and column); values that need
 * more than a type check are read in config_values.c.
 *
 * The schema is a table of fields (name, type, offset into struct
 * ad_config, range), nested for sections. Validation walks the JSON tree
 * against it once: every member must be known, of the right type and in
 * range, and duplicate members are refused (cJSON would silently keep the
 * first). The first problem found ends the load with
 * `FILE: key.path: what is wrong`; nothing half-validated is ever returned.
 * Then secrets are taken from the environment, relative paths are anchored
 * at the file's directory (a daemon runs from "/" and SIGHUP must find the
 * same files) and cross-field rules are checked (config_check.c).
 *
 * What it does not do: apply anything. Callers decide what a new config
 * means (see config_snapshot.c for the live snapshot).
 *
 * Host names in upstream URLs are only parsed here: the upstream actors
 * resolve them at run time without blocking (dns/dns.h).
 *
 * Thread: the controlling thread (getaddrinfo may block on DNS).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config_internal.h"

#define CONFIG_FILE_MAX (1u << 20)   /* a config file is small; refuse a log by mistake */

enum field_type {
	F_U16,        /* integer into uint16_t */
	F_U32,        /* integer into uint32_t / unsigned */
	F_U64,        /* integer into uint64_t */
	F_MAILBOX,    /* integer, power of two >= 4, into uint32_t */
	F_BOOL,
	F_STR,        /* string into char[size] */
	F_PATH,       /* string into char[size]; relative -> config dir */
	F_ADDR,       /* "host:port" into struct config_addr */
	F_ADDR_LIST,  /* array of "host:port" into listen[] */
	F_SENTINELS,  /* array of "host:port" into redis.sentinels[] */
	F_HOST,       /* resolvable host name into char[size] */
	F_MONGO_URI,  /* mongodb:// or mongodb+srv:// URI into char[size] */
	F_URL,        /* http:// or https:// URL into struct config_url */
	F_PROXY_LIST, /* array of {"prefix", "to"} into upstream.proxy[] */
	F_STATIC_LIST,/* array of mounts into static_files.mount[] */
	F_NAME,       /* non-empty printable ASCII without spaces into char[size] */
	F_LEVEL,      /* "debug" .. "error" */
	F_FORMAT,     /* "auto" | "json" | "text" */
	F_WORDS,      /* array of strings without spaces, kept space-separated */
	F_WS_SLOW,    /* "close" | "drop" */
	F_SECTION,    /* object described by `sub` */
	F_NEAR_PREFIXES, /* near_cache.prefixes: an array of key prefixes */
};

#define FL_SECRET 1u  /* may come from ACTORD_<PATH> / ACTORD_<PATH>_FILE */
#define FL_EMPTY 2u   /* F_NAME: "" is allowed and means the default */

struct field {
	const char *name;
	enum field_type type;
	size_t off;
	size_t size;
	uint64_t min, max;
	const struct field *sub;
	unsigned flags;
};

#define OFF(member) offsetof(struct ad_config, member)
#define SZ(member) sizeof(((struct ad_config *)0)->member)
#define U32(n, m, lo, hi) { n, F_U32, OFF(m), SZ(m), lo, hi, NULL, 0 }
#define U64(n, m, lo, hi) { n, F_U64, OFF(m), SZ(m), lo, hi, NULL, 0 }
#define PORT(n, m) { n, F_U16, OFF(m), SZ(m), 1, 65535, NULL, 0 }
#define STR(n, m, fl) { n, F_STR, OFF(m), SZ(m), 0, 0, NULL, fl }
#define TYPED(n, t, m, fl) { n, t, OFF(m), SZ(m), 0, 0, NULL, fl }
#define SECTION(n, s) { n, F_SECTION, 0, 0, 0, 0, s, 0 }
#define END { NULL, F_BOOL, 0, 0, 0, 0, NULL, 0 }

#define MS_MAX 3600000u               /* one hour: any longer is a mistake */
#define MAILBOX_MAX (1u << 24)

/* One actor kind; `lo`/`hi` bound the count (0: the kind is disabled). */
#define ACTOR_KIND(kind, member, lo, hi)                                        \
	static const struct field kind##_fields[] = {                           \
		U32("count", member.count, lo, hi),                             \
		{ "mailbox", F_MAILBOX, OFF(member.mailbox), SZ(member.mailbox), \
		  4, MAILBOX_MAX, NULL, 0 },                                    \
		END,                                                            \
	}

ACTOR_KIND(net, net, 1, CONFIG_MAX_ACTORS);
ACTOR_KIND(handler, handler, 1, CONFIG_MAX_ACTORS);
ACTOR_KIND(log, log_actor, 1, 1);
ACTOR_KIND(cache, cache, 0, CONFIG_MAX_ACTORS);
ACTOR_KIND(mysql, mysql_actor, 0, CONFIG_MAX_ACTORS);
ACTOR_KIND(mongo, mongo_actor, 0, CONFIG_MAX_ACTORS);
ACTOR_KIND(job, job, 0, CONFIG_MAX_ACTORS);
ACTOR_KIND(upstream, upstream_actor, 0, CONFIG_MAX_ACTORS);
ACTOR_KIND(file, file_actor, 0, CONFIG_MAX_ACTORS);
/* Workers block by design (sleeping threads cost no CPU): they may
 * outnumber cores, up to the pool mailbox's consumer limit. */
ACTOR_KIND(worker, worker, 0, CONFIG_MAX_WORKERS);
ACTOR_KIND(sched, sched, 0, 1);
ACTOR_KIND(pubsub, pubsub, 0, 1);

static const struct field actors_fields[] = {
	SECTION("net", net_fields),
	SECTION("handler", handler_fields),
	SECTION("log", log_fields),
	SECTION("cache", cache_fields),
	SECTION("mysql", mysql_fields),
	SECTION("mongo", mongo_fields),
	SECTION("job", job_fields),
	SECTION("upstream", upstream_fields),
	SECTION("file", file_fields),
	SECTION("worker", worker_fields),
	SECTION("sched", sched_fields),
	SECTION("pubsub", pubsub_fields),
	END,
};

static const struct field http_fields[] = {
	U32("max_request_line", http.max_request_line, 64, 1u << 20),
	U32("max_header_bytes", http.max_header_bytes, 1024, 1u << 24),
	U32("max_headers", http.max_headers, 1, 10000),
	U64("max_body_bytes", http.max_body_bytes, 0, 1ull << 32),
	U64("max_stream_body_bytes", http.max_stream_body_bytes, 0, 1ull << 50),
	U32("header_timeout_ms", http.header_timeout_ms, 1, MS_MAX),
	U32("body_timeout_ms", http.body_timeout_ms, 1, MS_MAX),
	U32("body_min_rate", http.body_min_rate, 0, 1u << 30),
	U32("keepalive_timeout_ms", http.keepalive_timeout_ms, 1, MS_MAX),
	U32("write_timeout_ms", http.write_timeout_ms, 1, MS_MAX),
	U32("request_timeout_ms", http.request_timeout_ms, 1, MS_MAX),
	U32("max_connections", http.max_connections, 1, 10000000),
	U32("backlog", http.backlog, 1, 65535),
	U32("output_high_water", http.output_high_water, 1024, 1u << 30),
	U32("max_pipeline", http.max_pipeline, 1, 1024),
	U32("slow_handler_ms", http.slow_handler_ms, 0, MS_MAX),
	END,
};

static const struct field admission_fields[] = {
	U32("target_ms", admission.target_ms, 1, MS_MAX),
	U32("interval_ms", admission.interval_ms, 1, MS_MAX),
	END,
};

static const struct field log_section_fields[] = {
	TYPED("level", F_LEVEL, log.level, 0),
	TYPED("format", F_FORMAT, log.format, 0),
	TYPED("file", F_PATH, log.file, 0),
	TYPED("access_log", F_PATH, log.access_log, 0),
	END,
};

static const struct field redis_fields[] = {
	TYPED("host", F_HOST, redis.host, 0),
	PORT("port", redis.port),
	STR("password", redis.password, FL_SECRET),
	U32("database", redis.database, 0, 65535),
	U32("connect_timeout_ms", redis.connect_timeout_ms, 1, MS_MAX),
	U32("command_timeout_ms", redis.command_timeout_ms, 1, MS_MAX),
	U32("pipeline_max", redis.pipeline_max, 1, 65536),
	U32("reconnect_max_ms", redis.reconnect_max_ms, 10, MS_MAX),
	TYPED("sentinels", F_SENTINELS, redis.sentinels, 0),
	TYPED("sentinel_master", F_NAME, redis.sentinel_master, 0),
	END,
};

static const struct field mysql_section_fields[] = {
	TYPED("host", F_HOST, mysql.host, 0),
	PORT("port", mysql.port),
	STR("user", mysql.user, 0),
	STR("password", mysql.password, FL_SECRET),
	STR("database", mysql.database, 0),
	U32("connect_timeout_ms", mysql.connect_timeout_ms, 1, MS_MAX),
	U32("query_timeout_ms", mysql.query_timeout_ms, 1, MS_MAX),
	U32("reconnect_max_ms", mysql.reconnect_max_ms, 10, MS_MAX),
	U32("statement_cache", mysql.statement_cache, 1, 4096),
	END,
};

static const struct field app_fields[] = {
	U32("world_cache_ttl_ms", app.world_cache_ttl_ms, 1, 86400000u),
	U32("wallpaper_cache_ttl_ms", app.wallpaper_cache_ttl_ms, 1, 86400000u),
	TYPED("world_near_cache", F_BOOL, app.world_near_cache, 0),
	TYPED("wallpaper_near_cache", F_BOOL, app.wallpaper_near_cache, 0),
	TYPED("demo", F_BOOL, app.demo, 0),
	U32("demo_pbkdf2_iterations", app.demo_pbkdf2_iterations, 1000, 10000000),
	U32("demo_work_ms", app.demo_work_ms, 0, MS_MAX),
	U32("queue_capacity", app.queue_capacity, 1, 1u << 20),
	U32("queue_concurrency", app.queue_concurrency, 1, 1024),
	U32("queue_max_attempts", app.queue_max_attempts, 1, 100),
	U32("hash_max_iterations", app.hash_max_iterations, 1, 100000000u),
	U32("period_ms", app.period_ms, 0, 86400000u),
	TYPED("period_once_per_cluster", F_BOOL, app.period_once_per_cluster, 0),
	TYPED("websocket", F_BOOL, app.websocket, 0),
	END,
};

static const struct field near_cache_fields[] = {
	TYPED("enabled", F_BOOL, near_cache.enabled, 0),
	U64("max_bytes", near_cache.max_bytes, 4096, 1ull << 40),
	U32("ttl_ms", near_cache.ttl_ms, 1, 86400000u),
	U32("heartbeat_ms", near_cache.heartbeat_ms, 10, 60000),
	TYPED("prefixes", F_NEAR_PREFIXES, near_cache.prefixes, 0),
	END,
};

static const struct field static_fields[] = {
	TYPED("mounts", F_STATIC_LIST, static_files.mount, 0),
	U32("revalidate_ms", static_files.revalidate_ms, 0, MS_MAX),
	U64("cache_bytes", static_files.cache_bytes, 0, 1ull << 34),
	U32("cache_file_bytes", static_files.cache_file_bytes, 0, 64u << 20),
	END,
};

static const struct field compress_fields[] = {
	TYPED("enabled", F_BOOL, compress.enabled, 0),
	U32("min_bytes", compress.min_bytes, 0, 1u << 30),
	U32("gzip_level", compress.gzip_level, 1, 9),
	U32("brotli_quality", compress.brotli_quality, 0, 11),
	END,
};

static const struct field forms_fields[] = {
	U32("max_parts", forms.max_parts, 1, 100000),
	U32("max_field_bytes", forms.max_field_bytes, 1, 1u << 30),
	U64("max_file_bytes", forms.max_file_bytes, 1, 1ull << 32),
	END,
};

static const struct field cookies_fields[] = {
	STR("secret_keys", cookies.secret_keys, FL_SECRET),
	TYPED("secure", F_BOOL, cookies.secure, 0),
	END,
};

static const struct field session_fields[] = {
	TYPED("cookie", F_NAME, session.cookie, 0),
	TYPED("prefix", F_NAME, session.prefix, 0),
	U32("idle_s", session.idle_s, 1, 4000000u),   /* PX in ms fits 32 bits */
	U32("max_age_s", session.max_age_s, 1, 365u * 86400u),
	END,
};

static const struct field jobs_fields[] = {
	/* "" (its default, as GET /admin/config shows it): derived at start. */
	TYPED("instance", F_NAME, jobs.instance, FL_EMPTY),
	TYPED("prefix", F_NAME, jobs.prefix, 0),
	TYPED("group", F_NAME, jobs.group, 0),
	U32("concurrency", jobs.concurrency, 0, 10000),
	U32("max_attempts", jobs.max_attempts, 1, 100),
	U32("dead_max_jobs", jobs.dead_max_jobs, 0, 100000000u),
	U32("backoff_base_ms", jobs.backoff_base_ms, 1, MS_MAX),
	U32("backoff_max_ms", jobs.backoff_max_ms, 1, 86400000u),
	U32("backoff_jitter_pct", jobs.backoff_jitter_pct, 0, 100),
	U32("timeout_ms", jobs.timeout_ms, 1, 86400000u),
	U32("reclaim_idle_ms", jobs.reclaim_idle_ms, 100, 86400000u),
	U32("block_ms", jobs.block_ms, 1, 60000),
	U32("retry_poll_ms", jobs.retry_poll_ms, 1, MS_MAX),
	U32("max_payload_bytes", jobs.max_payload_bytes, 2, 16u << 20),
	U32("result_ttl_s", jobs.result_ttl_s, 0, 365u * 86400u),
	U32("idempotency_ttl_s", jobs.idempotency_ttl_s, 1, 365u * 86400u),
	U32("wait_replicas", jobs.wait_replicas, 0, 64),
	U32("wait_timeout_ms", jobs.wait_timeout_ms, 1, MS_MAX),
	STR("sql_statement", jobs.sql_statement, 0),
	END,
};

static const struct field mongo_section_fields[] = {
	TYPED("uri", F_MONGO_URI, mongo.uri, FL_SECRET),
	STR("database", mongo.database, 0),
	U32("connect_timeout_ms", mongo.connect_timeout_ms, 1, MS_MAX),
	U32("query_timeout_ms", mongo.query_timeout_ms, 1, MS_MAX),
	U32("server_selection_timeout_ms", mongo.server_selection_timeout_ms, 1, MS_MAX),
	END,
};

static const struct field admin_fields[] = {
	U32("max_connections", admin.max_connections, 1, 100000),
	END,
};

static const struct field upstream_section_fields[] = {
	TYPED("url", F_URL, upstream.url, 0),
	TYPED("proxy", F_PROXY_LIST, upstream.proxy, 0),
	U32("connect_timeout_ms", upstream.connect_timeout_ms, 1, MS_MAX),
	U32("response_timeout_ms", upstream.response_timeout_ms, 1, MS_MAX),
	U64("max_response_bytes", upstream.max_response_bytes, 1, 1ull << 32),
	U64("proxy_buffer_bytes", upstream.proxy_buffer_bytes, 0, 1ull << 32),
	U64("proxy_max_body_bytes", upstream.proxy_max_body_bytes, 0, 1ull << 50),
	U32("max_connections", upstream.max_connections, 1, 65536),
	U32("max_queue", upstream.max_queue, 0, 1u << 20),
	U32("idle_timeout_ms", upstream.idle_timeout_ms, 1, MS_MAX),
	U32("retries", upstream.retries, 0, 10),
	U32("first_byte_timeout_ms", upstream.first_byte_timeout_ms, 1, MS_MAX),
	U32("read_timeout_ms", upstream.read_timeout_ms, 1, MS_MAX),
	U32("send_timeout_ms", upstream.send_timeout_ms, 1, MS_MAX),
	U32("max_redirects", upstream.max_redirects, 0, 20),
	TYPED("ca_file", F_PATH, upstream.ca_file, 0),
	STR("resolver", upstream.resolver, 0),
	U32("dns_ttl_min_ms", upstream.dns_ttl_min_ms, 0, 86400000u),
	U32("dns_ttl_max_ms", upstream.dns_ttl_max_ms, 0, 86400000u),
	U32("fail_timeout_ms", upstream.fail_timeout_ms, 0, 3600000u),
	END,
};

static const struct field websocket_fields[] = {
	U64("max_message_bytes", websocket.max_message_bytes, 1, 1ull << 30),
	U32("max_queue_messages", websocket.max_queue_messages, 1, 1u << 20),
	U64("max_queue_bytes", websocket.max_queue_bytes, 1024, 1ull << 32),
	TYPED("slow_consumer", F_WS_SLOW, websocket.slow_consumer, 0),
	U32("idle_timeout_ms", websocket.idle_timeout_ms, 1, 86400000u),
	U32("ping_interval_ms", websocket.ping_interval_ms, 0, 86400000u),
	U32("close_timeout_ms", websocket.close_timeout_ms, 1, MS_MAX),
	TYPED("origins", F_WORDS, websocket.origins, 0),
	TYPED("subprotocols", F_WORDS, websocket.subprotocols, 0),
	TYPED("redis", F_BOOL, websocket.redis, 0),
	TYPED("redis_prefix", F_NAME, websocket.redis_prefix, 0),
	END,
};

static const struct field root_fields[] = {
	TYPED("listen", F_ADDR_LIST, listen, 0),
	TYPED("admin_listen", F_ADDR, admin_listen, 0),
	STR("admin_token", admin_token, FL_SECRET),
	SECTION("admin", admin_fields),
	SECTION("actors", actors_fields),
	SECTION("http", http_fields),
	SECTION("admission", admission_fields),
	SECTION("log", log_section_fields),
	SECTION("redis", redis_fields),
	SECTION("mysql", mysql_section_fields),
	SECTION("mongo", mongo_section_fields),
	SECTION("upstream", upstream_section_fields),
	SECTION("websocket", websocket_fields),
	SECTION("app", app_fields),
	SECTION("near_cache", near_cache_fields),
	SECTION("jobs", jobs_fields),
	SECTION("static", static_fields),
	SECTION("compress", compress_fields),
	SECTION("forms", forms_fields),
	SECTION("cookies", cookies_fields),
	SECTION("session", session_fields),
	TYPED("pidfile", F_PATH, pidfile, 0),
	U32("drain_timeout_ms", drain_timeout_ms, 0, MS_MAX),
	U32("upgrade_timeout_ms", upgrade_timeout_ms, 100, MS_MAX),
	TYPED("test_routes", F_BOOL, test_routes, 0),
	END,
};

static int parse_enum(struct config_ctx *c, const char *key, const cJSON *j,
		      const char *const *names, int *out)
{
	char allowed[128] = "";

	if (!cJSON_IsString(j))
		return cfg_fail(c, key, "expected a string, got %s", cfg_json_type(j));
	for (int i = 0; names[i] != NULL; i++) {
		if (strcmp(j->valuestring, names[i]) == 0) {
			*out = i;
			return 0;
		}
		snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed),
			 "%s\"%s\"", i > 0 ? ", " : "", names[i]);
	}
	return cfg_fail(c, key, "'%s' is not one of %s", j->valuestring, allowed);
}

static bool is_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

static const char *const slow_policies[] = { "close", "drop", NULL };

/* An array of non-empty strings without spaces, stored space-separated. */
static int parse_words(struct config_ctx *c, const char *key, const cJSON *j,
		       char *dst, size_t size)
{
	const cJSON *w;
	size_t used = 0;

	if (!cJSON_IsArray(j))
		return cfg_fail(c, key, "expected an array of strings, got %s", cfg_json_type(j));
	dst[0] = '\0';
	cJSON_ArrayForEach(w, j) {
		size_t n;

		if (!cJSON_IsString(w) || w->valuestring[0] == '\0' || !is_name(w->valuestring))
			return cfg_fail(c, key, "expected non-empty strings of printable ASCII "
					"without spaces");
		n = strlen(w->valuestring);
		if (used + n + 2 > size)
			return cfg_fail(c, key, "longer than %zu bytes in all", size - 2);
		if (used > 0)
			dst[used++] = ' ';
		memcpy(dst + used, w->valuestring, n + 1);
		used += n;
	}
	return 0;
}

static int parse_section(struct config_ctx *c, const char *prefix, const cJSON *obj,
			 const struct field *fields, struct ad_config *cfg);

/* Names that become parts of Redis keys and consumer names. */

static int parse_field(struct config_ctx *c, const char *key, const cJSON *j,
		       const struct field *f, struct ad_config *cfg)
{
	static const char *const levels[] = { "debug", "info", "warn", "error", NULL };
	static const char *const formats[] = { "auto", "json", "text", NULL };
	char *base = (char *)cfg;
	void *dst = base + f->off;
	uint64_t v = 0;
	int rc, e = 0;

	switch (f->type) {
	case F_SECTION:
		if (!cJSON_IsObject(j))
			return cfg_fail(c, key, "expected an object, got %s", cfg_json_type(j));
		return parse_section(c, key, j, f->sub, cfg);
	case F_U16:
	case F_U32:
	case F_U64:
	case F_MAILBOX:
		rc = cfg_get_uint(c, key, j, f->min, f->max, &v);
		if (rc != 0)
			return rc;
		if (f->type == F_MAILBOX && (v & (v - 1)) != 0)
			return cfg_fail(c, key, "%llu is not a power of two >= 4",
				    (unsigned long long)v);
		if (f->type == F_U16)
			*(uint16_t *)dst = (uint16_t)v;
		else if (f->type == F_U64)
			*(uint64_t *)dst = v;
		else
			*(uint32_t *)dst = (uint32_t)v;
		return 0;
	case F_BOOL:
		if (!cJSON_IsBool(j))
			return cfg_fail(c, key, "expected true or false, got %s", cfg_json_type(j));
		*(bool *)dst = cJSON_IsTrue(j);
		return 0;
	case F_STR:
	case F_PATH:
	case F_HOST:
	case F_MONGO_URI:
	case F_NAME:
		if (!cJSON_IsString(j))
			return cfg_fail(c, key, "expected a string, got %s", cfg_json_type(j));
		if (f->type == F_NAME && !is_name(j->valuestring) &&
		    !((f->flags & FL_EMPTY) && j->valuestring[0] == '\0'))
			return cfg_fail(c, key, "'%s': use printable ASCII without spaces", j->valuestring);
		if (f->type == F_PATH)
			return cfg_set_path(c, key, j->valuestring, dst, f->size);
		return cfg_copy_str(c, key, j->valuestring, dst, f->size);
	case F_ADDR:
		return cfg_parse_addr(c, key, j, dst);
	case F_ADDR_LIST:
		return cfg_parse_addr_list(c, key, j, cfg->listen, 1, CONFIG_MAX_LISTEN, &cfg->nlisten);
	case F_SENTINELS:
		return cfg_parse_addr_list(c, key, j, cfg->redis.sentinels, 0, CONFIG_MAX_SENTINELS,
					   &cfg->redis.nsentinels);
	case F_URL:
		return cfg_parse_url(c, key, j, dst);
	case F_PROXY_LIST:
		return cfg_parse_proxy_list(c, key, j, cfg);
	case F_NEAR_PREFIXES:
		return cfg_parse_near_prefixes(c, key, j, &cfg->near_cache);
	case F_STATIC_LIST:
		return cfg_parse_static_list(c, key, j, cfg);
	case F_WORDS:
		return parse_words(c, key, j, dst, f->size);
	case F_WS_SLOW:
		rc = parse_enum(c, key, j, slow_policies, &e);
		if (rc == 0)
			*(enum config_ws_slow *)dst = (enum config_ws_slow)e;
		return rc;
	case F_LEVEL:
	case F_FORMAT:
		rc = parse_enum(c, key, j, f->type == F_LEVEL ? levels : formats, &e);
		if (rc != 0)
			return rc;
		if (f->type == F_LEVEL)
			*(enum config_log_level *)dst = (enum config_log_level)e;
		else
			*(enum config_log_format *)dst = (enum config_log_format)e;
		return 0;
	}
	return cfg_fail(c, key, "internal: unknown field type");
}

static int parse_section(struct config_ctx *c, const char *prefix, const cJSON *obj,
			 const struct field *fields, struct ad_config *cfg)
{
	char key[KEY_MAX];
	const cJSON *j, *k;
	const struct field *f;
	int rc;

	cJSON_ArrayForEach(j, obj) {
		snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", j->string);
		for (k = obj->child; k != j; k = k->next)
			if (strcmp(k->string, j->string) == 0)
				return cfg_fail(c, key, "duplicate key");
		for (f = fields; f->name != NULL; f++)
			if (strcmp(f->name, j->string) == 0)
				break;
		if (f->name == NULL)
			return cfg_unknown_key(c, key, j->string, fields, sizeof(*fields),
					       (size_t)(f - fields));
		rc = parse_field(c, key, j, f, cfg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Read a secret file named by ACTORD_X_FILE; one trailing newline dropped. */
static int read_secret_file(struct config_ctx *c, const char *key, const char *var,
			    const char *path, char *dst, size_t size)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return cfg_fail(c, key, "%s: cannot read '%s': %s", var, path, strerror(errno));
	n = fread(dst, 1, size, fp);
	fclose(fp);
	if (n == size)
		return cfg_fail(c, key, "%s: '%s' holds more than %zu bytes", var, path, size - 1);
	while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == '\r'))
		n--;
	dst[n] = '\0';
	return 0;
}

/* Called for each secret key with its key path ("mysql.password") and the
 * names of its two variables (ACTORD_MYSQL_PASSWORD, ..._FILE). */
typedef int (*secret_fn)(const char *key, const struct field *f, const char *var,
			 const char *fvar, void *ctx);

/* Every secret key of `fields`, sections included, in table order; stops
 * at the first non-zero return of `fn`. */
static int each_secret(const char *prefix, const struct field *fields, secret_fn fn, void *ctx)
{
	char key[KEY_MAX], var[KEY_MAX + 16], fvar[KEY_MAX + 24];
	int rc = 0;

	for (const struct field *f = fields; f->name != NULL && rc == 0; f++) {
		snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", f->name);
		if (f->type == F_SECTION) {
			rc = each_secret(key, f->sub, fn, ctx);
			continue;
		}
		if (!(f->flags & FL_SECRET))
			continue;
		snprintf(var, sizeof(var), "ACTORD_%s", key);
		for (char *p = var; *p != '\0'; p++)
			*p = *p == '.' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		snprintf(fvar, sizeof(fvar), "%s_FILE", var);
		rc = fn(key, f, var, fvar, ctx);
	}
	return rc;
}

struct env_target {
	struct config_ctx *c;
	struct ad_config *cfg;
};

/* ACTORD_<PATH> (value) or ACTORD_<PATH>_FILE (file holding the value)
 * overrides a secret: the environment wins over the file. */
static int apply_env(const char *key, const struct field *f, const char *var,
		     const char *fvar, void *ctx)
{
	struct env_target *t = ctx;
	const char *val = getenv(var), *fval = getenv(fvar);
	char *dst = (char *)t->cfg + f->off;

	if (val != NULL && fval != NULL)
		return cfg_fail(t->c, key, "set %s or %s, not both", var, fvar);
	if (val != NULL)
		return cfg_copy_str(t->c, key, val, dst, f->size);
	if (fval != NULL)
		return read_secret_file(t->c, key, fvar, fval, dst, f->size);
	return 0;
}

struct anchor_err {
	char *err;
	size_t errlen;
};

static int anchor_secret_file(const char *key, const struct field *f, const char *var,
			      const char *fvar, void *ctx)
{
	struct anchor_err *e = ctx;
	const char *fval = getenv(fvar);
	char abs[CONFIG_PATH_MAX];
	int rc;

	(void)key;
	(void)f;
	(void)var;
	if (fval == NULL || fval[0] == '/' || fval[0] == '\0')
		return 0;
	rc = config_absolute_path(fval, abs, sizeof(abs));
	if (rc == 0 && setenv(fvar, abs, 1) != 0)
		rc = -errno;
	if (rc != 0)
		snprintf(e->err, e->errlen, "%s: cannot make '%s' absolute: %s", fvar, fval,
			 strerror(-rc));
	return rc;
}

int config_anchor_secret_files(char *err, size_t errlen)
{
	struct anchor_err e = { err, errlen };

	return each_secret("", root_fields, anchor_secret_file, &e);
}

struct ad_config *config_parse(const char *name, const char *text, char *err, size_t errlen)
{
	struct config_ctx c = { .file = name, .err = err, .errlen = errlen };
	struct ad_config *cfg;
	const char *slash = strrchr(name, '/');
	const char *parse_end = NULL;
	char *buf;
	cJSON *root;
	int rc;

	err[0] = '\0';
	if (slash == NULL)
		snprintf(c.dir, sizeof(c.dir), ".");
	else if (slash == name)
		snprintf(c.dir, sizeof(c.dir), "/");
	else
		snprintf(c.dir, sizeof(c.dir), "%.*s", (int)(slash - name), name);
	cfg = malloc(sizeof(*cfg));
	buf = strdup(text);
	if (cfg == NULL || buf == NULL) {
		free(cfg);
		free(buf);
		cfg_fail(&c, "(file)", "out of memory");
		return NULL;
	}
	config_defaults(cfg);
	snprintf(cfg->path, sizeof(cfg->path), "%s", name);
	rc = cfg_blank_comments(&c, buf);
	root = rc == 0 ? cJSON_ParseWithOpts(buf, &parse_end, true) : NULL;
	if (rc == 0 && root == NULL)
		rc = cfg_syntax_error(&c, buf, parse_end != NULL ? parse_end : buf + strlen(buf));
	else if (rc == 0 && !cJSON_IsObject(root))
		rc = cfg_fail(&c, "(file)", "expected a JSON object at the top, got %s",
			  cfg_json_type(root));
	else if (rc == 0)
		rc = cfg_refuse_nul(&c, buf, root);
	if (rc == 0)
		rc = parse_section(&c, "", root, root_fields, cfg);
	if (rc == 0) {
		struct env_target t = { &c, cfg };

		rc = each_secret("", root_fields, apply_env, &t);
	}
	if (rc == 0)
		rc = cfg_check_config(&c, cfg);
	cJSON_Delete(root);
	free(buf);
	if (rc != 0) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

struct ad_config *config_load(const char *path, char *err, size_t errlen)
{
	struct ad_config *cfg;
	FILE *fp = fopen(path, "r");
	char *text;
	size_t n;

	if (fp == NULL) {
		snprintf(err, errlen, "%s: (file): cannot open: %s", path, strerror(errno));
		return NULL;
	}
	text = malloc(CONFIG_FILE_MAX + 1);
	if (text == NULL) {
		fclose(fp);
		snprintf(err, errlen, "%s: (file): out of memory", path);
		return NULL;
	}
	n = fread(text, 1, CONFIG_FILE_MAX + 1, fp);
	/* read(2)'s errno says why: "Is a directory" for `-c /etc/actord`. */
	if (ferror(fp) || n > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "%s: (file): %s", path,
			 ferror(fp) ? strerror(errno) : "larger than 1 MiB");
		fclose(fp);
		free(text);
		return NULL;
	}
	fclose(fp);
	text[n] = '\0';
	if (strlen(text) != n) {
		snprintf(err, errlen, "%s: (file): contains a NUL byte", path);
		free(text);
		return NULL;
	}
	cfg = config_parse(path, text, err, errlen);
	free(text);
	return cfg;
}

void config_free(struct ad_config *cfg)
{
	free(cfg);
}
