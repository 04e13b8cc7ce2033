/*
 * config_json.c - struct ad_config -> JSON with secrets redacted (see
 * config_json.h).
 *
 * DESIGN
 * One function per section, written out field by field in the order of
 * the file (config/actord.json): a key added to config.c appears here only
 * when it is added here too, which keeps a new secret from being shown by
 * accident. Enumerations are shown by their names in the file ("info",
 * "json"), addresses as "host:port" ("[v6]:port").
 *
 * Thread: any.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config_json.h"

static const char *secret(const char *value)
{
	return value[0] != '\0' ? CONFIG_REDACTED : "";
}

static void add_addr(cJSON *to, const char *key, const struct config_addr *a)
{
	char buf[CONFIG_HOST_MAX + 16];

	snprintf(buf, sizeof(buf), strchr(a->host, ':') != NULL ? "[%s]:%u" : "%s:%u",
		 a->host, a->port);
	if (cJSON_IsArray(to))
		cJSON_AddItemToArray(to, cJSON_CreateString(buf));
	else
		cJSON_AddStringToObject(to, key, buf);
}

/* Query options of a MongoDB URI whose value is a secret. */
static bool secret_option(const char *key, size_t len)
{
	static const char *const words[] = { "password", "secret", "token" };
	char k[64];

	if (len >= sizeof(k))
		return true; /* nothing legitimate is this long: hide it */
	for (size_t i = 0; i < len; i++)
		k[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
	k[len] = '\0';
	if (strcmp(k, "authmechanismproperties") == 0)
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(k, words[i]) != NULL)
			return true;
	return false;
}

struct out {
	char *p;
	size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->cap == 0)
		return;
	if (n > o->cap - 1 - o->len)
		n = o->cap - 1 - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

const char *config_redact_uri(char *out, size_t outlen, const char *uri)
{
	struct out o = { out, 0, outlen };
	const char *scheme = strstr(uri, "://");
	const char *auth, *end, *at = NULL, *q;

	if (outlen > 0)
		out[0] = '\0';
	if (scheme == NULL) {
		put(&o, uri, strlen(uri));
		return out;
	}
	auth = scheme + 3;
	end = auth + strcspn(auth, "/?");
	/* '@' inside user info must be percent-encoded: the last one ends it. */
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	put(&o, uri, (size_t)(auth - uri));
	if (at != NULL) {
		put(&o, CONFIG_REDACTED, strlen(CONFIG_REDACTED));
		auth = at;
	}
	q = strchr(end, '?');
	if (q == NULL) {
		put(&o, auth, strlen(auth));
		return out;
	}
	put(&o, auth, (size_t)(q + 1 - auth));
	for (const char *p = q + 1; *p != '\0';) {
		size_t n = strcspn(p, "&");
		const char *eq = memchr(p, '=', n);

		if (eq != NULL && secret_option(p, (size_t)(eq - p))) {
			put(&o, p, (size_t)(eq + 1 - p));
			put(&o, CONFIG_REDACTED, strlen(CONFIG_REDACTED));
		} else {
			put(&o, p, n);
		}
		p += n;
		if (*p == '&') {
			put(&o, "&", 1);
			p++;
		}
	}
	return out;
}

static void add_actors(cJSON *root, const struct ad_config *cfg)
{
	const struct { const char *name; const struct config_actors *a; } kinds[] = {
		{ "net", &cfg->net }, { "handler", &cfg->handler }, { "log", &cfg->log_actor },
		{ "cache", &cfg->cache }, { "mysql", &cfg->mysql_actor },
		{ "mongo", &cfg->mongo_actor }, { "job", &cfg->job },
		{ "upstream", &cfg->upstream_actor }, { "file", &cfg->file_actor },
		{ "worker", &cfg->worker }, { "sched", &cfg->sched },
		{ "pubsub", &cfg->pubsub },
	};
	cJSON *actors = cJSON_AddObjectToObject(root, "actors");

	for (size_t i = 0; actors != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		cJSON *k = cJSON_AddObjectToObject(actors, kinds[i].name);

		cJSON_AddNumberToObject(k, "count", kinds[i].a->count);
		cJSON_AddNumberToObject(k, "mailbox", kinds[i].a->mailbox);
	}
}

static void add_http(cJSON *root, const struct config_http *h)
{
	cJSON *o = cJSON_AddObjectToObject(root, "http");

	cJSON_AddNumberToObject(o, "max_request_line", h->max_request_line);
	cJSON_AddNumberToObject(o, "max_header_bytes", h->max_header_bytes);
	cJSON_AddNumberToObject(o, "max_headers", h->max_headers);
	cJSON_AddNumberToObject(o, "max_body_bytes", (double)h->max_body_bytes);
	cJSON_AddNumberToObject(o, "max_stream_body_bytes", (double)h->max_stream_body_bytes);
	cJSON_AddNumberToObject(o, "header_timeout_ms", h->header_timeout_ms);
	cJSON_AddNumberToObject(o, "body_timeout_ms", h->body_timeout_ms);
	cJSON_AddNumberToObject(o, "body_min_rate", h->body_min_rate);
	cJSON_AddNumberToObject(o, "keepalive_timeout_ms", h->keepalive_timeout_ms);
	cJSON_AddNumberToObject(o, "write_timeout_ms", h->write_timeout_ms);
	cJSON_AddNumberToObject(o, "request_timeout_ms", h->request_timeout_ms);
	cJSON_AddNumberToObject(o, "max_connections", h->max_connections);
	cJSON_AddNumberToObject(o, "backlog", h->backlog);
	cJSON_AddNumberToObject(o, "output_high_water", h->output_high_water);
	cJSON_AddNumberToObject(o, "max_pipeline", h->max_pipeline);
	cJSON_AddNumberToObject(o, "slow_handler_ms", h->slow_handler_ms);
}

static void add_log(cJSON *root, const struct config_log *l)
{
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	static const char *const formats[] = { "auto", "json", "text" };
	cJSON *o = cJSON_AddObjectToObject(root, "log");

	cJSON_AddStringToObject(o, "level", levels[l->level]);
	cJSON_AddStringToObject(o, "format", formats[l->format]);
	cJSON_AddStringToObject(o, "file", l->file);
	cJSON_AddStringToObject(o, "access_log", l->access_log);
}

static void add_backends(cJSON *root, const struct ad_config *cfg)
{
	char uri[CONFIG_PATH_MAX + 64];
	cJSON *o = cJSON_AddObjectToObject(root, "redis"), *sentinels;

	cJSON_AddStringToObject(o, "host", cfg->redis.host);
	cJSON_AddNumberToObject(o, "port", cfg->redis.port);
	cJSON_AddStringToObject(o, "password", secret(cfg->redis.password));
	cJSON_AddNumberToObject(o, "database", cfg->redis.database);
	cJSON_AddNumberToObject(o, "connect_timeout_ms", cfg->redis.connect_timeout_ms);
	cJSON_AddNumberToObject(o, "command_timeout_ms", cfg->redis.command_timeout_ms);
	cJSON_AddNumberToObject(o, "pipeline_max", cfg->redis.pipeline_max);
	cJSON_AddNumberToObject(o, "reconnect_max_ms", cfg->redis.reconnect_max_ms);
	sentinels = cJSON_AddArrayToObject(o, "sentinels");
	for (unsigned i = 0; sentinels != NULL && i < cfg->redis.nsentinels; i++)
		add_addr(sentinels, NULL, &cfg->redis.sentinels[i]);
	cJSON_AddStringToObject(o, "sentinel_master", cfg->redis.sentinel_master);

	o = cJSON_AddObjectToObject(root, "mysql");
	cJSON_AddStringToObject(o, "host", cfg->mysql.host);
	cJSON_AddNumberToObject(o, "port", cfg->mysql.port);
	cJSON_AddStringToObject(o, "user", cfg->mysql.user);
	cJSON_AddStringToObject(o, "password", secret(cfg->mysql.password));
	cJSON_AddStringToObject(o, "database", cfg->mysql.database);
	cJSON_AddNumberToObject(o, "connect_timeout_ms", cfg->mysql.connect_timeout_ms);
	cJSON_AddNumberToObject(o, "query_timeout_ms", cfg->mysql.query_timeout_ms);
	cJSON_AddNumberToObject(o, "reconnect_max_ms", cfg->mysql.reconnect_max_ms);
	cJSON_AddNumberToObject(o, "statement_cache", cfg->mysql.statement_cache);

	o = cJSON_AddObjectToObject(root, "mongo");
	cJSON_AddStringToObject(o, "uri", config_redact_uri(uri, sizeof(uri), cfg->mongo.uri));
	cJSON_AddStringToObject(o, "database", cfg->mongo.database);
	cJSON_AddNumberToObject(o, "connect_timeout_ms", cfg->mongo.connect_timeout_ms);
	cJSON_AddNumberToObject(o, "query_timeout_ms", cfg->mongo.query_timeout_ms);
	cJSON_AddNumberToObject(o, "server_selection_timeout_ms",
				cfg->mongo.server_selection_timeout_ms);
}

static void add_near_cache(cJSON *root, const struct config_near_cache *n)
{
	cJSON *o = cJSON_AddObjectToObject(root, "near_cache"), *p;

	cJSON_AddBoolToObject(o, "enabled", n->enabled);
	cJSON_AddNumberToObject(o, "max_bytes", (double)n->max_bytes);
	cJSON_AddNumberToObject(o, "ttl_ms", n->ttl_ms);
	cJSON_AddNumberToObject(o, "heartbeat_ms", n->heartbeat_ms);
	p = cJSON_AddArrayToObject(o, "prefixes");
	for (unsigned i = 0; p != NULL && i < n->nprefixes; i++)
		cJSON_AddItemToArray(p, cJSON_CreateString(n->prefixes[i]));
}

static void add_upstream(cJSON *root, const struct config_upstream *u)
{
	cJSON *o = cJSON_AddObjectToObject(root, "upstream");
	cJSON *proxy = cJSON_AddArrayToObject(o, "proxy");

	cJSON_AddStringToObject(o, "url", u->url.url);
	for (unsigned i = 0; proxy != NULL && i < u->nproxy; i++) {
		cJSON *p = cJSON_CreateObject();

		cJSON_AddStringToObject(p, "prefix", u->proxy[i].prefix);
		cJSON_AddStringToObject(p, "to", u->proxy[i].to.url);
		cJSON_AddStringToObject(p, "ca_file", u->proxy[i].ca_file);
		cJSON_AddStringToObject(p, "cert_file", u->proxy[i].cert_file);
		cJSON_AddStringToObject(p, "key_file", u->proxy[i].key_file);
		cJSON_AddItemToArray(proxy, p);
	}
	cJSON_AddNumberToObject(o, "connect_timeout_ms", u->connect_timeout_ms);
	cJSON_AddNumberToObject(o, "response_timeout_ms", u->response_timeout_ms);
	cJSON_AddNumberToObject(o, "max_response_bytes", (double)u->max_response_bytes);
	cJSON_AddNumberToObject(o, "proxy_buffer_bytes", (double)u->proxy_buffer_bytes);
	cJSON_AddNumberToObject(o, "proxy_max_body_bytes", (double)u->proxy_max_body_bytes);
	cJSON_AddNumberToObject(o, "max_connections", u->max_connections);
	cJSON_AddNumberToObject(o, "max_queue", u->max_queue);
	cJSON_AddNumberToObject(o, "idle_timeout_ms", u->idle_timeout_ms);
	cJSON_AddNumberToObject(o, "retries", u->retries);
	cJSON_AddNumberToObject(o, "first_byte_timeout_ms", u->first_byte_timeout_ms);
	cJSON_AddNumberToObject(o, "read_timeout_ms", u->read_timeout_ms);
	cJSON_AddNumberToObject(o, "send_timeout_ms", u->send_timeout_ms);
	cJSON_AddNumberToObject(o, "max_redirects", u->max_redirects);
	cJSON_AddStringToObject(o, "ca_file", u->ca_file);
	cJSON_AddStringToObject(o, "resolver", u->resolver);
	cJSON_AddNumberToObject(o, "dns_ttl_min_ms", u->dns_ttl_min_ms);
	cJSON_AddNumberToObject(o, "dns_ttl_max_ms", u->dns_ttl_max_ms);
	cJSON_AddNumberToObject(o, "fail_timeout_ms", u->fail_timeout_ms);
}

static void add_web(cJSON *root, const struct ad_config *cfg)
{
	const struct config_static *s = &cfg->static_files;
	cJSON *o = cJSON_AddObjectToObject(root, "static");
	cJSON *mounts = cJSON_AddArrayToObject(o, "mounts");

	for (unsigned i = 0; mounts != NULL && i < s->nmount; i++) {
		cJSON *m = cJSON_CreateObject();

		cJSON_AddStringToObject(m, "prefix", s->mount[i].prefix);
		cJSON_AddStringToObject(m, "dir", s->mount[i].dir);
		cJSON_AddStringToObject(m, "index", s->mount[i].index);
		cJSON_AddNumberToObject(m, "max_age_s", s->mount[i].max_age_s);
		cJSON_AddBoolToObject(m, "compress", s->mount[i].compress);
		cJSON_AddItemToArray(mounts, m);
	}
	cJSON_AddNumberToObject(o, "revalidate_ms", s->revalidate_ms);
	cJSON_AddNumberToObject(o, "cache_bytes", (double)s->cache_bytes);
	cJSON_AddNumberToObject(o, "cache_file_bytes", s->cache_file_bytes);
	o = cJSON_AddObjectToObject(root, "compress");
	cJSON_AddBoolToObject(o, "enabled", cfg->compress.enabled);
	cJSON_AddNumberToObject(o, "min_bytes", cfg->compress.min_bytes);
	cJSON_AddNumberToObject(o, "gzip_level", cfg->compress.gzip_level);
	cJSON_AddNumberToObject(o, "brotli_quality", cfg->compress.brotli_quality);
	o = cJSON_AddObjectToObject(root, "forms");
	cJSON_AddNumberToObject(o, "max_parts", cfg->forms.max_parts);
	cJSON_AddNumberToObject(o, "max_field_bytes", cfg->forms.max_field_bytes);
	cJSON_AddNumberToObject(o, "max_file_bytes", (double)cfg->forms.max_file_bytes);
	o = cJSON_AddObjectToObject(root, "cookies");
	/* A generated key is shown as "" (none configured), never itself. */
	cJSON_AddStringToObject(o, "secret_keys", cfg->cookies.keys_generated ? ""
				: secret(cfg->cookies.secret_keys));
	cJSON_AddBoolToObject(o, "secure", cfg->cookies.secure);
	o = cJSON_AddObjectToObject(root, "session");
	cJSON_AddStringToObject(o, "cookie", cfg->session.cookie);
	cJSON_AddStringToObject(o, "prefix", cfg->session.prefix);
	cJSON_AddNumberToObject(o, "idle_s", cfg->session.idle_s);
	cJSON_AddNumberToObject(o, "max_age_s", cfg->session.max_age_s);
}

/* A space-separated word list as a JSON array. */
static void add_words(cJSON *o, const char *key, const char *words)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);
	const char *p = words;

	while (a != NULL && *p != '\0') {
		size_t n = strcspn(p, " ");
		char w[CONFIG_WORDS_MAX];

		snprintf(w, sizeof(w), "%.*s", (int)n, p);
		cJSON_AddItemToArray(a, cJSON_CreateString(w));
		p += n;
		p += *p == ' ';
	}
}

static void add_websocket(cJSON *root, const struct config_websocket *w)
{
	cJSON *o = cJSON_AddObjectToObject(root, "websocket");

	cJSON_AddNumberToObject(o, "max_message_bytes", (double)w->max_message_bytes);
	cJSON_AddNumberToObject(o, "max_queue_messages", w->max_queue_messages);
	cJSON_AddNumberToObject(o, "max_queue_bytes", (double)w->max_queue_bytes);
	cJSON_AddStringToObject(o, "slow_consumer",
				w->slow_consumer == CONFIG_WS_SLOW_DROP ? "drop" : "close");
	cJSON_AddNumberToObject(o, "idle_timeout_ms", w->idle_timeout_ms);
	cJSON_AddNumberToObject(o, "ping_interval_ms", w->ping_interval_ms);
	cJSON_AddNumberToObject(o, "close_timeout_ms", w->close_timeout_ms);
	add_words(o, "origins", w->origins);
	add_words(o, "subprotocols", w->subprotocols);
	cJSON_AddBoolToObject(o, "redis", w->redis);
	cJSON_AddStringToObject(o, "redis_prefix", w->redis_prefix);
}

static void add_jobs(cJSON *root, const struct config_jobs *j)
{
	cJSON *o = cJSON_AddObjectToObject(root, "jobs");

	cJSON_AddStringToObject(o, "instance", j->instance);
	cJSON_AddStringToObject(o, "prefix", j->prefix);
	cJSON_AddStringToObject(o, "group", j->group);
	cJSON_AddNumberToObject(o, "concurrency", j->concurrency);
	cJSON_AddNumberToObject(o, "max_attempts", j->max_attempts);
	cJSON_AddNumberToObject(o, "dead_max_jobs", j->dead_max_jobs);
	cJSON_AddNumberToObject(o, "backoff_base_ms", j->backoff_base_ms);
	cJSON_AddNumberToObject(o, "backoff_max_ms", j->backoff_max_ms);
	cJSON_AddNumberToObject(o, "backoff_jitter_pct", j->backoff_jitter_pct);
	cJSON_AddNumberToObject(o, "timeout_ms", j->timeout_ms);
	cJSON_AddNumberToObject(o, "reclaim_idle_ms", j->reclaim_idle_ms);
	cJSON_AddNumberToObject(o, "block_ms", j->block_ms);
	cJSON_AddNumberToObject(o, "retry_poll_ms", j->retry_poll_ms);
	cJSON_AddNumberToObject(o, "max_payload_bytes", j->max_payload_bytes);
	cJSON_AddNumberToObject(o, "result_ttl_s", j->result_ttl_s);
	cJSON_AddNumberToObject(o, "idempotency_ttl_s", j->idempotency_ttl_s);
	cJSON_AddNumberToObject(o, "wait_replicas", j->wait_replicas);
	cJSON_AddNumberToObject(o, "wait_timeout_ms", j->wait_timeout_ms);
	cJSON_AddStringToObject(o, "sql_statement", j->sql_statement);
}

cJSON *config_to_json(const struct ad_config *cfg)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *listen, *admin, *o;

	if (root == NULL)
		return NULL;
	listen = cJSON_AddArrayToObject(root, "listen");
	for (unsigned i = 0; listen != NULL && i < cfg->nlisten; i++)
		add_addr(listen, NULL, &cfg->listen[i]);
	add_addr(root, "admin_listen", &cfg->admin_listen);
	cJSON_AddStringToObject(root, "admin_token", secret(cfg->admin_token));
	admin = cJSON_AddObjectToObject(root, "admin");
	cJSON_AddNumberToObject(admin, "max_connections", cfg->admin.max_connections);
	add_actors(root, cfg);
	add_http(root, &cfg->http);
	o = cJSON_AddObjectToObject(root, "admission");
	cJSON_AddNumberToObject(o, "target_ms", cfg->admission.target_ms);
	cJSON_AddNumberToObject(o, "interval_ms", cfg->admission.interval_ms);
	add_log(root, &cfg->log);
	add_backends(root, cfg);
	add_upstream(root, &cfg->upstream);
	add_websocket(root, &cfg->websocket);
	o = cJSON_AddObjectToObject(root, "app");
	cJSON_AddNumberToObject(o, "world_cache_ttl_ms", cfg->app.world_cache_ttl_ms);
	cJSON_AddNumberToObject(o, "wallpaper_cache_ttl_ms", cfg->app.wallpaper_cache_ttl_ms);
	cJSON_AddBoolToObject(o, "world_near_cache", cfg->app.world_near_cache);
	cJSON_AddBoolToObject(o, "wallpaper_near_cache", cfg->app.wallpaper_near_cache);
	cJSON_AddBoolToObject(o, "demo", cfg->app.demo);
	cJSON_AddNumberToObject(o, "demo_pbkdf2_iterations", cfg->app.demo_pbkdf2_iterations);
	cJSON_AddNumberToObject(o, "demo_work_ms", cfg->app.demo_work_ms);
	cJSON_AddNumberToObject(o, "queue_capacity", cfg->app.queue_capacity);
	cJSON_AddNumberToObject(o, "queue_concurrency", cfg->app.queue_concurrency);
	cJSON_AddNumberToObject(o, "queue_max_attempts", cfg->app.queue_max_attempts);
	cJSON_AddNumberToObject(o, "hash_max_iterations", cfg->app.hash_max_iterations);
	cJSON_AddNumberToObject(o, "period_ms", cfg->app.period_ms);
	cJSON_AddBoolToObject(o, "period_once_per_cluster", cfg->app.period_once_per_cluster);
	cJSON_AddBoolToObject(o, "websocket", cfg->app.websocket);
	add_near_cache(root, &cfg->near_cache);
	add_jobs(root, &cfg->jobs);
	add_web(root, cfg);
	cJSON_AddStringToObject(root, "pidfile", cfg->pidfile);
	cJSON_AddNumberToObject(root, "drain_timeout_ms", cfg->drain_timeout_ms);
	cJSON_AddNumberToObject(root, "upgrade_timeout_ms", cfg->upgrade_timeout_ms);
	cJSON_AddBoolToObject(root, "test_routes", cfg->test_routes);
	return root;
}
