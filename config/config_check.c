/*
 * config_check.c - the rules a configuration must meet once every field
 * has been read and the environment applied: rules across keys (ports,
 * the admin token, backoff and TTL bounds), files that must be readable
 * now, and what this binary can serve (test_routes).
 *
 * Thread: the controlling thread, or the admin actor validating a reload
 * (getaddrinfo may block on DNS).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config_internal.h"

/* Written once by the composition root before any thread exists, read by
 * every load (controlling and admin threads): creating those threads
 * orders the write before the reads. */
static bool test_routes_available = true;
static config_driver_check_fn driver_check;  /* the same */

void config_set_test_routes_available(bool available)
{
	test_routes_available = available;
}

void config_set_driver_check(config_driver_check_fn fn)
{
	driver_check = fn;
}

/* A TLS file ("" = none) must be readable now: a typo fails the load,
 * not the first HTTPS call. */
static int check_readable(struct config_ctx *c, const char *key, const char *path)
{
	if (path[0] == '\0' || access(path, R_OK) == 0)
		return 0;
	return cfg_fail(c, key, "cannot read '%s': %s", path, strerror(errno));
}

static int check_listen(struct config_ctx *c, const struct ad_config *cfg)
{
	char key[32];

	/* Ports, not host strings: "127.1", "localhost" and "0.0.0.0" all
	 * reach 127.0.0.1, and listeners sharing a port with SO_REUSEPORT
	 * share their connections. */
	for (unsigned i = 0; i < cfg->nlisten; i++) {
		if (cfg->listen[i].port == cfg->admin_listen.port)
			return cfg_fail(c, "admin_listen", "port %u is also listen[%u]'s (%s:%u): "
				    "the admin endpoint needs a port of its own",
				    cfg->admin_listen.port, i, cfg->listen[i].host,
				    cfg->listen[i].port);
	}
	/* The same address twice would put two sockets per network actor in
	 * its SO_REUSEPORT group: a typo, never a wish. */
	for (unsigned i = 1; i < cfg->nlisten; i++) {
		for (unsigned k = 0; k < i; k++) {
			if (cfg->listen[i].port != cfg->listen[k].port ||
			    strcasecmp(cfg->listen[i].host, cfg->listen[k].host) != 0)
				continue;
			snprintf(key, sizeof(key), "listen[%u]", i);
			return cfg_fail(c, key, "the same address as listen[%u]", k);
		}
	}
	return 0;
}

/* A name MongoDB refuses in every command (its rules for Unix and
 * Windows servers alike): a typo would make each MongoDB call a 500, so
 * it fails the load (start, -t and reloads: the key is live) instead. */
static int check_mongo_database(struct config_ctx *c, const char *db)
{
	if (db[0] == '\0' || strlen(db) > 63)
		return cfg_fail(c, "mongo.database", "must be 1..63 bytes long");
	if (strpbrk(db, "/\\. \"$*<>:|?") != NULL)
		return cfg_fail(c, "mongo.database", "'%s': a MongoDB database name cannot "
			    "hold / \\ . \" $ * < > : | ? or a space", db);
	return 0;
}

int cfg_check_config(struct config_ctx *c, struct ad_config *cfg)
{
	const char *u = cfg->mongo.uri;
	char why[300];
	int rc;

	/* Checked here, where every load passes (start, -t, SIGHUP and
	 * POST /admin/reload), so no path can switch on routes that are not
	 * linked in. */
	if (cfg->test_routes && !test_routes_available)
		return cfg_fail(c, "test_routes", "this binary has no test routes (the test "
			    "suite's build/actord-test has them)");
	if (u[0] != '\0' && strncmp(u, "mongodb://", 10) != 0 &&
	    strncmp(u, "mongodb+srv://", 14) != 0)
		return cfg_fail(c, "mongo.uri", "must be \"\" (no MongoDB) or start with "
			    "mongodb:// or mongodb+srv://");
	rc = check_mongo_database(c, cfg->mongo.database);
	if (rc != 0)
		return rc;
	rc = cfg_resolve(c, "redis.host", cfg->redis.host, NULL, false);
	if (rc == 0)
		rc = cfg_resolve(c, "mysql.host", cfg->mysql.host, NULL, false);
	if (rc != 0)
		return rc;
	rc = check_listen(c, cfg);
	if (rc != 0)
		return rc;
	for (const char *t = cfg->admin_token; *t != '\0'; t++)
		if (*t <= ' ' || *t > '~')
			return cfg_fail(c, "admin_token", "must be printable ASCII without spaces "
				    "(it is sent in an Authorization header)");
	/* The admin endpoint shows the configuration and reloads it: off the
	 * loopback interface, only behind a token. */
	if (cfg->admin_token[0] == '\0' && !cfg_host_is_loopback(cfg->admin_listen.host))
		return cfg_fail(c, "admin_listen", "'%s' is not a loopback address: set admin_token "
			    "(or ACTORD_ADMIN_TOKEN) to serve the admin endpoint there, or "
			    "use 127.0.0.1", cfg->admin_listen.host);
	if (cfg->jobs.backoff_base_ms > cfg->jobs.backoff_max_ms)
		return cfg_fail(c, "jobs.backoff_base_ms", "%u is larger than jobs.backoff_max_ms (%u)",
			    cfg->jobs.backoff_base_ms, cfg->jobs.backoff_max_ms);
	if (cfg->jobs.sql_statement[0] == '\0')
		return cfg_fail(c, "jobs.sql_statement", "must not be empty");
	rc = check_readable(c, "upstream.ca_file", cfg->upstream.ca_file);
	for (unsigned i = 0; i < cfg->upstream.nproxy && rc == 0; i++) {
		const struct config_proxy *px = &cfg->upstream.proxy[i];
		char key[64];

		snprintf(key, sizeof(key), "upstream.proxy[%u].ca_file", i);
		rc = check_readable(c, key, px->ca_file);
		snprintf(key, sizeof(key), "upstream.proxy[%u].cert_file", i);
		if (rc == 0)
			rc = check_readable(c, key, px->cert_file);
		snprintf(key, sizeof(key), "upstream.proxy[%u].key_file", i);
		if (rc == 0)
			rc = check_readable(c, key, px->key_file);
	}
	if (rc != 0)
		return rc;
	rc = config_resolver_check(cfg->upstream.resolver, why, sizeof(why));
	if (rc != 0)
		return cfg_fail(c, "upstream.resolver", "%s", why);
	if (cfg->upstream.dns_ttl_min_ms > cfg->upstream.dns_ttl_max_ms)
		return cfg_fail(c, "upstream.dns_ttl_min_ms", "%u is larger than "
			    "upstream.dns_ttl_max_ms (%u)", cfg->upstream.dns_ttl_min_ms,
			    cfg->upstream.dns_ttl_max_ms);
	rc = cfg_check_web(c, cfg);
	if (rc != 0)
		return rc;
	if (cfg->http.max_request_line > cfg->http.max_header_bytes)
		return cfg_fail(c, "http.max_request_line",
			    "%u is larger than http.max_header_bytes (%u)",
			    cfg->http.max_request_line, cfg->http.max_header_bytes);
	return driver_check != NULL ? driver_check(cfg, c->err, c->errlen) : 0;
}
