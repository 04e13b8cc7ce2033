/*
 * sentinel.c - learning and following the Redis primary through Sentinel
 * (sentinel.h).
 *
 * DESIGN
 * The Sentinel connection is an rconn whose settings function names
 * redis.sentinels[idx]. The index moves to the next Sentinel at an attempt
 * that follows one that never came up (a Sentinel down), and when a
 * recheck asks for another view; a connection that was up and is lost is
 * tried once more on the same Sentinel first.
 *
 * Everything that must not run inside an rconn callback (sending right
 * after the connection came up, resetting it, telling the owner) goes
 * through zero-delay timers on the loop.
 *
 * Owner: the thread of the loop given to sentinel_create.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rconn.h"
#include "sentinel.h"
#include "actors/log.h"
#include "config/config.h"

#define SWITCH_CHANNEL "+switch-master"
#define RETRY_UNKNOWN_S 1.0   /* a Sentinel that does not know the master */

/* Owner: the loop's thread. */
struct sentinel {
	struct ev_loop *loop;
	struct rconn *link;
	sentinel_changed_fn changed;
	void *ctx;
	char host[CONFIG_HOST_MAX];   /* the primary, when known */
	uint16_t port;
	bool known;
	unsigned idx;                 /* into redis.sentinels */
	bool started;                 /* an attempt was made */
	bool was_up;                  /* the last attempt's connection came up */
	bool destroying;
	char at[CONFIG_HOST_MAX + 8]; /* the Sentinel asked, for log lines */
	ev_timer ask_w, recheck_w, tell_w;
};

static const struct config_redis *redis_config(void)
{
	const struct ad_config *cfg = config_current();

	return cfg != NULL ? &cfg->redis : NULL;
}

/* rconn settings: the Sentinel to try next. */
static void link_settings(void *ctx, struct rconn_settings *out)
{
	struct sentinel *s = ctx;
	const struct config_redis *r = redis_config();
	const struct config_addr *a;

	memset(out, 0, sizeof(*out));
	if (s->started && !s->was_up)
		s->idx++;
	s->started = true;
	s->was_up = false;
	if (r == NULL || r->nsentinels == 0) {
		/* Sentinel turned off by a reload: the owner drops us soon. */
		out->connect_timeout_ms = out->command_timeout_ms = out->reconnect_max_ms = 1000;
		return;
	}
	a = &r->sentinels[s->idx % r->nsentinels];
	memcpy(out->host, a->host, sizeof(out->host));
	out->port = a->port;
	out->connect_timeout_ms = r->connect_timeout_ms;
	out->command_timeout_ms = r->command_timeout_ms;
	out->reconnect_max_ms = r->reconnect_max_ms;
	snprintf(s->at, sizeof(s->at), "%s:%u", a->host, a->port);
}

static void set_primary(struct sentinel *s, const char *host, size_t hlen, unsigned long port,
			const char *how)
{
	if (hlen == 0 || hlen >= sizeof(s->host) || port == 0 || port > 65535) {
		log_warn("redis sentinel %s: unusable primary address '%.*s:%lu' %s", s->at,
			 (int)hlen, host, port, how);
		return;
	}
	if (s->known && s->port == port && strlen(s->host) == hlen &&
	    memcmp(s->host, host, hlen) == 0)
		return;
	memcpy(s->host, host, hlen);
	s->host[hlen] = '\0';
	s->port = (uint16_t)port;
	s->known = true;
	log_info("redis sentinel %s: the primary is %s:%u (%s)", s->at, s->host, s->port, how);
	if (!ev_is_active(&s->tell_w)) {
		ev_timer_set(&s->tell_w, 0., 0.);
		ev_timer_start(s->loop, &s->tell_w);
	}
}

/* "+switch-master" message: "<name> <old-ip> <old-port> <new-ip> <new-port>". */
static void on_switch(void *arg, int status, const redisReply *r)
{
	struct sentinel *s = arg;
	const struct config_redis *cfg = redis_config();
	const redisReply *kind, *text;
	char name[128], oldh[CONFIG_HOST_MAX], newh[CONFIG_HOST_MAX];
	unsigned long oldp, newp;

	if (status != 0 || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
		return;          /* the connection went: on_link_state says so */
	kind = r->element[0];
	text = r->element[2];
	if (kind->type != REDIS_REPLY_STRING || strcmp(kind->str, "message") != 0 ||
	    text->type != REDIS_REPLY_STRING || cfg == NULL)
		return;
	if (sscanf(text->str, "%127s %255s %lu %255s %lu", name, oldh, &oldp, newh, &newp) != 5) {
		log_warn("redis sentinel %s: unreadable %s message '%s'", s->at, SWITCH_CHANNEL,
			 text->str);
		return;
	}
	if (strcmp(name, cfg->sentinel_master) == 0)
		set_primary(s, newh, strlen(newh), newp, "failover announced");
}

static void recheck_later(struct sentinel *s, double after)
{
	if (s->destroying || ev_is_active(&s->recheck_w))
		return;
	ev_timer_set(&s->recheck_w, after, 0.);
	ev_timer_start(s->loop, &s->recheck_w);
}

static void on_master_addr(void *arg, int status, const redisReply *r)
{
	struct sentinel *s = arg;
	const struct config_redis *cfg = redis_config();
	char *end;
	unsigned long port;

	if (s->destroying)
		return;
	if (status != 0) {
		/* Lost: the next connection asks again. No answer: ask another. */
		if (status == -ETIMEDOUT)
			recheck_later(s, 0.);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
		log_warn("redis sentinel %s: no primary for master '%s': %s", s->at,
			 cfg != NULL ? cfg->sentinel_master : "?",
			 r->type == REDIS_REPLY_ERROR ? r->str : "unknown master");
		recheck_later(s, RETRY_UNKNOWN_S);
		return;
	}
	port = strtoul(r->element[1]->str, &end, 10);
	set_primary(s, r->element[0]->str, r->element[0]->len, *end == '\0' ? port : 0,
		    "asked");
	if (rconn_subscribe(s->link, SWITCH_CHANNEL, on_switch, s) != 0)
		recheck_later(s, 0.);
}

/* The connection is up (a timer: not inside rconn's connect callback). */
static void on_ask(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sentinel *s = w->data;
	const struct config_redis *cfg = redis_config();
	const char *argv[3] = { "SENTINEL", "get-master-addr-by-name",
				cfg != NULL ? cfg->sentinel_master : "" };
	size_t lens[3] = { 8, 23, strlen(argv[2]) };

	(void)loop;
	(void)revents;
	if (rconn_command(s->link, 0, on_master_addr, s, 3, argv, lens) != 0)
		recheck_later(s, RETRY_UNKNOWN_S);
}

static void on_link_state(void *ctx, bool up)
{
	struct sentinel *s = ctx;

	if (!up || s->destroying)
		return;
	s->was_up = true;
	ev_timer_set(&s->ask_w, 0., 0.);
	ev_timer_start(s->loop, &s->ask_w);
}

static void on_recheck(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sentinel *s = w->data;

	(void)loop;
	(void)revents;
	s->was_up = false;           /* the next attempt asks the next Sentinel */
	rconn_reset(s->link, "asking another Sentinel");
}

static void on_tell(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sentinel *s = w->data;

	(void)loop;
	(void)revents;
	s->changed(s->ctx);
}

struct sentinel *sentinel_create(struct ev_loop *loop, sentinel_changed_fn changed, void *ctx)
{
	struct sentinel *s = calloc(1, sizeof(*s));
	struct rconn_opts opts = { .settings = link_settings, .on_state = on_link_state,
				   .quiet = true };

	if (s == NULL)
		return NULL;
	s->loop = loop;
	s->changed = changed;
	s->ctx = ctx;
	ev_init(&s->ask_w, on_ask);
	ev_init(&s->recheck_w, on_recheck);
	ev_init(&s->tell_w, on_tell);
	s->ask_w.data = s->recheck_w.data = s->tell_w.data = s;
	opts.ctx = s;
	s->link = rconn_create(loop, &opts);
	if (s->link == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void sentinel_destroy(struct sentinel *s)
{
	if (s == NULL)
		return;
	s->destroying = true;
	ev_timer_stop(s->loop, &s->ask_w);
	ev_timer_stop(s->loop, &s->recheck_w);
	ev_timer_stop(s->loop, &s->tell_w);
	rconn_destroy(s->link);
	free(s);
}

bool sentinel_primary(const struct sentinel *s, char *host, size_t hostlen, uint16_t *port)
{
	if (!s->known || hostlen <= strlen(s->host))
		return false;
	memcpy(host, s->host, strlen(s->host) + 1);
	*port = s->port;
	return true;
}

void sentinel_recheck(struct sentinel *s, const char *why)
{
	if (s->destroying || ev_is_active(&s->recheck_w))
		return;
	log_debug("redis sentinel %s: asking the next one: %s", s->at, why);
	recheck_later(s, 0.);
}
