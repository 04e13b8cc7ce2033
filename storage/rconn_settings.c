/*
 * rconn_settings.c - what a Redis connection connects to: the `redis`
 * section of the current config (or the owner's own settings), and in
 * Sentinel mode the primary that Sentinel names.
 *
 * Thread: the owning actor's thread.
 */
#include <string.h>

#include "rconn_internal.h"
#include "sentinel.h"

void rc_default_settings(void *ctx, struct rconn_settings *out)
{
	const struct ad_config *cfg = config_current();
	struct config_redis r;

	(void)ctx;
	if (cfg != NULL) {
		r = cfg->redis;
	} else {
		static struct ad_config defaults;  /* only before any publish (tests) */

		config_defaults(&defaults);
		r = defaults.redis;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out->host, r.host, sizeof(out->host));
	out->port = r.port;
	memcpy(out->password, r.password, sizeof(out->password));
	out->database = r.database;
	out->connect_timeout_ms = r.connect_timeout_ms;
	out->command_timeout_ms = r.command_timeout_ms;
	out->reconnect_max_ms = r.reconnect_max_ms;
}

/* Whether this connection follows the primary that Sentinel names. */
bool rc_follows_sentinel(const struct rconn *c)
{
	const struct ad_config *cfg = config_current();

	return c->opts.settings == rc_default_settings && cfg != NULL && cfg->redis.nsentinels > 0;
}

/* The settings of the next attempt; in Sentinel mode host and port are the
 * primary it named, or host "" while it knows none. */
void rc_read_settings(struct rconn *c, struct rconn_settings *out)
{
	c->seen = config_current();
	c->opts.settings(c->opts.ctx, out);
	out->host[sizeof(out->host) - 1] = '\0';
	out->password[sizeof(out->password) - 1] = '\0';
	if (!rc_follows_sentinel(c)) {
		/* Not (or no longer, after a reload) in Sentinel mode. */
		sentinel_destroy(c->sentinel);
		c->sentinel = NULL;
		return;
	}
	if (c->sentinel == NULL)
		c->sentinel = sentinel_create(c->loop, rc_on_primary_changed, c);
	if (c->sentinel == NULL || !sentinel_primary(c->sentinel, out->host, sizeof(out->host),
						     &out->port))
		out->host[0] = '\0';
}

bool rc_same_server(const struct rconn_settings *a, const struct rconn_settings *b)
{
	return a->port == b->port && a->database == b->database &&
	       strcmp(a->host, b->host) == 0 && strcmp(a->password, b->password) == 0;
}
