/*
 * near_actor.c - the near actor (kind "nearcache"): the near cache's
 * invalidation path (near.h) and its hub.
 *
 * DESIGN
 * Two rconns on the actor's loop, both to the configured Redis:
 *  - `sub`, the invalidation connection. Each time it comes up:
 *    CLIENT SETNAME actord-nearcache, CLIENT ID, then
 *    CLIENT TRACKING on REDIRECT <its own id> BCAST [PREFIX p ...]
 *    and SUBSCRIBE __redis__:invalidate. In BCAST mode Redis reports every
 *    write to a key under the prefixes, whoever made it and whether or not
 *    anybody read it here, so the coherence of every near cache rests on
 *    this one connection: the cache actors' connections need no tracking,
 *    and losing one of them loses nothing.
 *  - `hb`, which writes the heartbeat key (under a prefix of its own,
 *    tracked too) every near_cache.heartbeat_ms. Its invalidation coming
 *    back on `sub` proves the whole path works (tracking on, subscribed,
 *    messages flowing) and measures its delay. hiredis 0.14 cannot PING a
 *    subscribed RESP2 connection (the pong never reaches its callback), and
 *    a proof through Redis itself is stronger anyway.
 * The path is UP only once a heartbeat came back after set-up; it goes down
 * when `sub` is lost, its subscription ends, set-up fails, or a heartbeat
 * is not back within redis.command_timeout_ms (then `sub` is reconnected;
 * the timer wakes at that deadline, so a connected but silent path is down
 * at most heartbeat_ms + command_timeout_ms after its last delivery).
 * Up and down both bump the hub's epoch: every near cache flushes, and
 * bypasses itself while down. A set-up Redis refuses (an old server, an
 * ACL) is logged once and asked again on the same connection after 2, 4,
 * ... 64 x command_timeout_ms; one that gets no answer remakes it.
 *
 * Messages ("message", "__redis__:invalidate", payload): an array of keys
 * (each hashed into the hub's ring), or nil (FLUSHALL / FLUSHDB: the epoch
 * is bumped).
 *
 * Thread: the near actor's own; near_add_pool on the controlling thread;
 * the collector on the admin thread.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/random.h>

#include "near_internal.h"
#include "rconn.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "base/clock.h"

const struct actor_kind near_kind = { "nearcache" };

#define CHANNEL "__redis__:invalidate"
#define HB_PREFIX "actord:nearcache:hb:"
#define HB_TTL_MS "600000"

enum phase {
	PH_DOWN,        /* no connection, or set-up failed */
	PH_SETUP,       /* CLIENT ID / TRACKING / SUBSCRIBE sent */
	PH_PROVING,     /* subscribed: waiting for the first heartbeat */
	PH_UP,
};

/* Owner: the near actor thread. */
struct near_actor {
	struct actor *a;
	struct near_hub *hub;
	struct rconn *sub, *hb;
	enum phase phase;
	uint64_t phase_ns;            /* when it entered the phase */
	bool stopping;
	bool refused;                 /* Redis refused the set-up on this connection */
	unsigned refusals;            /* in a row, since the path was last up */
	bool hb_waiting;              /* a heartbeat is out */
	uint64_t hb_sent_ns;
	uint64_t hb_seq;
	char hb_key[64];
	size_t hb_klen;
	ev_timer tick_w;
};

static void rearm(struct near_actor *na);

/* For commands whose reply is not needed (rconn counts it). */
static void ignore_reply(void *arg, int status, const redisReply *r)
{
	(void)arg;
	(void)status;
	(void)r;
}

/* ---- Phases ---- */

static void set_phase(struct near_actor *na, enum phase p)
{
	na->phase = p;
	na->phase_ns = clock_now_ns();
}

static void go_down(struct near_actor *na, const char *why)
{
	if (na->phase == PH_UP) {
		near_hub_publish_state(na->hub, false);
		counter_add(&na->hub->actor.losses_total, 1);
		if (!na->stopping)
			log_warn("near cache: invalidation path lost (%s): flushed, bypassed "
				 "until it is back", why);
	}
	na->hb_waiting = false;
	set_phase(na, PH_DOWN);
}

static void send_heartbeat(struct near_actor *na)
{
	char seq[24];
	int n = snprintf(seq, sizeof(seq), "%llu", (unsigned long long)++na->hb_seq);
	const char *argv[] = { "SET", na->hb_key, seq, "PX", HB_TTL_MS };
	size_t lens[] = { 3, na->hb_klen, (size_t)n, 2, sizeof(HB_TTL_MS) - 1 };

	/* A heartbeat that cannot even be sent never comes back: the
	 * timeout in on_tick then says the path cannot be proven. */
	rconn_command(na->hb, 0, ignore_reply, NULL, 5, argv, lens);
	na->hb_waiting = true;
	na->hb_sent_ns = clock_now_ns();
}

static void heartbeat_back(struct near_actor *na)
{
	struct near_hub *hub = na->hub;
	uint64_t delay;

	if (!na->hb_waiting)
		return;   /* the key expired, or an old heartbeat: no proof */
	na->hb_waiting = false;
	delay = clock_now_ns() - na->hb_sent_ns;
	counter_add(&hub->actor.heartbeats_total, 1);
	counter_set(&hub->actor.delay_last_ns, delay);
	counter_max(&hub->actor.delay_max_ns, delay);
	if (na->phase == PH_PROVING) {
		na->refusals = 0;
		set_phase(na, PH_UP);
		near_hub_publish_state(hub, true);
		log_info("near cache: invalidation path up (heartbeat in %.3f ms)", (double)delay / 1e6);
	}
}

/* ---- The invalidation connection ---- */

static void on_message(void *arg, int status, const redisReply *r)
{
	struct near_actor *na = arg;
	const redisReply *kind, *payload;

	if (status != 0) {
		go_down(na, "subscription ended");
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
	    (kind = r->element[0])->type != REDIS_REPLY_STRING)
		return;
	payload = r->element[2];
	if (strcmp(kind->str, "subscribe") == 0) {
		if (na->phase == PH_SETUP) {
			set_phase(na, PH_PROVING);
			send_heartbeat(na);
			rearm(na);
		}
		return;
	}
	if (strcmp(kind->str, "message") != 0)
		return;
	counter_add(&na->hub->actor.messages_total, 1);
	if (payload->type == REDIS_REPLY_NIL) {
		/* FLUSHALL / FLUSHDB: every key. */
		if (na->phase == PH_UP)
			near_hub_publish_state(na->hub, true);
		return;
	}
	if (payload->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < payload->elements; i++) {
		const redisReply *k = payload->element[i];

		if (k->type != REDIS_REPLY_STRING)
			continue;
		counter_add(&na->hub->actor.keys_total, 1);
		/* The heartbeat is published too: it moves every reader's head,
		 * which ends the refusal a local forget starts (near_cache.c). */
		near_hub_publish_key(na->hub, near_hash48(na->hub, k->str, k->len));
		if (k->len == na->hb_klen && memcmp(k->str, na->hb_key, k->len) == 0)
			heartbeat_back(na);
	}
}

/* A refusal (an old Redis, an ACL) is logged once, then asked again on
 * the same connection less and less often (on_tick); anything else remakes
 * the connection. */
static void setup_failed(struct near_actor *na, int status, const redisReply *r,
			 const char *what)
{
	if (status == 0 && r->type == REDIS_REPLY_ERROR) {
		log_emit(na->refusals == 0 ? LOGL_ERROR : LOGL_DEBUG, NULL,
			 "near cache: redis refused %s: %s (the near cache stays bypassed; "
			 "asked again, less and less often)", what, r->str);
		na->refused = true;
		na->refusals++;
	}
	go_down(na, what);
}

static void on_tracking(void *arg, int status, const redisReply *r)
{
	struct near_actor *na = arg;
	int rc;

	if (na->phase != PH_SETUP)
		return;
	if (status != 0 || r->type == REDIS_REPLY_ERROR) {
		setup_failed(na, status, r, "CLIENT TRACKING");
		return;
	}
	rc = rconn_subscribe(na->sub, CHANNEL, on_message, na);
	if (rc != 0)
		go_down(na, "cannot subscribe");
}

static void on_client_id(void *arg, int status, const redisReply *r)
{
	struct near_actor *na = arg;
	const struct near_hub *hub = na->hub;
	const char *argv[8 + 2 * (CONFIG_MAX_NEAR_PREFIX + 1)];
	size_t lens[sizeof(argv) / sizeof(argv[0])];
	char id[24];
	int argc = 0;
	bool hb_covered = false;

	if (na->phase != PH_SETUP)
		return;
	if (status != 0 || r->type != REDIS_REPLY_INTEGER) {
		setup_failed(na, status, r, "CLIENT ID");
		return;
	}
	snprintf(id, sizeof(id), "%lld", (long long)r->integer);
	argv[argc++] = "CLIENT";
	argv[argc++] = "TRACKING";
	argv[argc++] = "on";
	argv[argc++] = "REDIRECT";
	argv[argc++] = id;
	argv[argc++] = "BCAST";
	for (unsigned i = 0; i < hub->nprefixes; i++) {
		argv[argc++] = "PREFIX";
		argv[argc++] = hub->prefixes[i];
		if (strncmp(na->hb_key, hub->prefixes[i], strlen(hub->prefixes[i])) == 0)
			hb_covered = true;
	}
	/* Redis refuses overlapping prefixes: add the heartbeat's own only
	 * when no configured prefix covers it (none means every key). */
	if (hub->nprefixes > 0 && !hb_covered) {
		argv[argc++] = "PREFIX";
		argv[argc++] = na->hb_key;
	}
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (rconn_command(na->sub, 0, on_tracking, na, argc, argv, lens) != 0)
		go_down(na, "cannot send CLIENT TRACKING");
}

static void start_setup(struct near_actor *na)
{
	const char *setname[] = { "CLIENT", "SETNAME", "actord-nearcache" };
	const char *client_id[] = { "CLIENT", "ID" };

	na->refused = false;
	set_phase(na, PH_SETUP);
	/* The name lets an operator find it (CLIENT LIST); its reply is not
	 * needed. */
	rconn_command(na->sub, 0, ignore_reply, NULL, 3, setname, (const size_t[]){ 6, 7, 16 });
	if (rconn_command(na->sub, 0, on_client_id, na, 2, client_id,
			  (const size_t[]){ 6, 2 }) != 0)
		go_down(na, "cannot send CLIENT ID");
}

static void on_sub_state(void *ctx, bool up)
{
	struct near_actor *na = ctx;

	if (!up) {
		na->refused = false;
		go_down(na, "connection lost");
		return;
	}
	start_setup(na);
}

/* ---- Timer: heartbeats and stuck set-ups ---- */

static uint64_t hb_timeout_ns(void)
{
	const struct ad_config *cfg = config_current();

	return (uint64_t)(cfg != NULL ? cfg->redis.command_timeout_ms : 1000) * NS_PER_MS;
}

static uint64_t hb_period_ns(void)
{
	const struct ad_config *cfg = config_current();

	return (uint64_t)(cfg != NULL ? cfg->near_cache.heartbeat_ms : 1000) * NS_PER_MS;
}

/* Look next at the heartbeat's deadline while one is out (a stalled path
 * is declared down redis.command_timeout_ms after the heartbeat left, not
 * at the next period), at the next heartbeat while up, else one period
 * on. */
static void rearm(struct near_actor *na)
{
	uint64_t now = clock_now_ns(), period = hb_period_ns(), due, wait = period;

	if (na->hb_waiting || na->phase == PH_UP) {
		due = na->hb_waiting ? na->hb_sent_ns + hb_timeout_ns() + NS_PER_MS
				     : na->hb_sent_ns + period;
		wait = due <= now ? NS_PER_MS : due - now < period ? due - now : period;
	}
	ev_timer_stop(actor_loop(na->a), &na->tick_w);
	ev_timer_set(&na->tick_w, (double)wait / 1e9, 0.);
	ev_timer_start(actor_loop(na->a), &na->tick_w);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct near_actor *na = w->data;
	uint64_t now = clock_now_ns(), timeout = hb_timeout_ns();

	(void)loop;
	(void)revents;
	if (na->hb_waiting && now - na->hb_sent_ns > timeout) {
		go_down(na, "no heartbeat within redis.command_timeout_ms");
		rconn_reset(na->sub, "near cache heartbeat missing");
	} else if (na->refused) {
		if (rconn_connected(na->sub) &&
		    now - na->phase_ns > timeout << (na->refusals < 6 ? na->refusals : 6))
			start_setup(na);
	} else if (na->phase != PH_UP && na->phase != PH_PROVING && rconn_connected(na->sub) &&
		   now - na->phase_ns > timeout) {
		/* Set-up unanswered: start again on a new connection. */
		rconn_reset(na->sub, "near cache set-up did not complete");
	} else if (na->phase == PH_UP && !na->hb_waiting &&
		   now - na->hb_sent_ns >= hb_period_ns()) {
		send_heartbeat(na);
	}
	rearm(na);
}

/* ---- The actor ---- */

static void near_message(struct actor *a, struct msg *m)
{
	log_warn("%s: unexpected message type %#x dropped", actor_name(a), m->type);
	msg_free(m);
}

static int near_start(struct actor *a)
{
	struct near_hub *hub = actor_user(a);
	struct near_actor *na = calloc(1, sizeof(*na));
	struct rconn_opts sub = { .stats = &hub->stats[0], .last_error = &hub->last_error[0],
				  .on_state = on_sub_state, .ctx = na };
	struct rconn_opts hb = { .stats = &hub->stats[1], .last_error = &hub->last_error[1] };

	if (na == NULL)
		return -ENOMEM;
	na->a = a;
	na->hub = hub;
	/* Unique per process: only this instance tracks (and hears) it. */
	na->hb_klen = (size_t)snprintf(na->hb_key, sizeof(na->hb_key), HB_PREFIX "%016llx",
				       (unsigned long long)(hub->seed ^ clock_now_ns()));
	set_phase(na, PH_DOWN);
	actor_set_state(a, na);
	na->sub = rconn_create(actor_loop(a), &sub);
	na->hb = rconn_create(actor_loop(a), &hb);
	if (na->sub == NULL || na->hb == NULL) {
		rconn_destroy(na->sub);
		rconn_destroy(na->hb);
		actor_set_state(a, NULL);
		free(na);
		return -ENOMEM;
	}
	ev_init(&na->tick_w, on_tick);
	na->tick_w.data = na;
	ev_timer_set(&na->tick_w, 0.1, 0.);
	ev_timer_start(actor_loop(a), &na->tick_w);
	return 0;
}

static void near_stop(struct actor *a)
{
	struct near_actor *na = actor_state(a);

	if (na == NULL)
		return;
	na->stopping = true;
	ev_timer_stop(actor_loop(a), &na->tick_w);
	rconn_destroy(na->sub);
	rconn_destroy(na->hb);
	go_down(na, "stopping");
	actor_set_state(a, NULL);
	free(na);
}

static const struct actor_ops near_ops = {
	.start = near_start,
	.message = near_message,
	.stop = near_stop,
};

/* ---- Metrics ---- */

#define READER(field, name, help, gauge) \
	{ offsetof(struct near_reader_counters, field), name, help, gauge }

/* One handler's figures (struct near_reader_counters), in order. */
static const struct {
	size_t off;
	const char *name, *help;
	bool gauge;
} reader_metrics[] = {
	READER(hits_total, "near_cache_hits_total", "lookups served from the near cache", false),
	READER(misses_total, "near_cache_misses_total",
	       "lookups not served from it (absent, expired, bypassed)", false),
	READER(stores_total, "near_cache_stores_total", "values kept", false),
	READER(refused_total, "near_cache_refused_total",
	       "values not kept: invalidated while being read, bypassed, untracked or too large",
	       false),
	READER(evictions_total, "near_cache_evictions_total", "entries dropped to make room",
	       false),
	READER(invalidated_total, "near_cache_invalidated_total",
	       "entries dropped by invalidations", false),
	READER(flushes_total, "near_cache_flushes_total", "whole-cache flushes applied", false),
	READER(bytes, "near_cache_bytes", "bytes held (entries, keys, values)", true),
	READER(entries, "near_cache_entries", "entries held", true),
};

static void collect(struct metrics_out *o, void *ctx)
{
	const struct near_hub *hub = ctx;
	const struct near_actor_counters *c = &hub->actor;
	char labels[64];

	backend_stats_collect(o, "redis-nearcache", "nearcache-0", &hub->stats[0]);
	backend_stats_collect(o, "redis-nearcache", "nearcache-0-heartbeat", &hub->stats[1]);
	metrics_gauge(o, "near_cache_up", "1 while the invalidation path is proven up",
		      NULL, (double)counter_get(&c->up));
	metrics_counter(o, "near_cache_invalidation_messages_total",
			"invalidation messages received from Redis", NULL,
			counter_get(&c->messages_total));
	metrics_counter(o, "near_cache_invalidations_total", "keys Redis invalidated", NULL,
			counter_get(&c->keys_total));
	metrics_counter(o, "near_cache_flush_orders_total",
			"whole-cache flushes ordered (FLUSHALL, path down, path up)", NULL,
			counter_get(&c->flushes_total));
	metrics_counter(o, "near_cache_path_losses_total",
			"times the invalidation path went down", NULL,
			counter_get(&c->losses_total));
	metrics_counter(o, "near_cache_heartbeats_total", "heartbeats that came back", NULL,
			counter_get(&c->heartbeats_total));
	metrics_gauge(o, "near_cache_invalidation_delay_seconds",
		      "last heartbeat: its write sent to its invalidation received", NULL,
		      (double)counter_get(&c->delay_last_ns) / 1e9);
	metrics_gauge(o, "near_cache_invalidation_delay_max_seconds",
		      "longest heartbeat delay since start", NULL,
		      (double)counter_get(&c->delay_max_ns) / 1e9);
	for (unsigned i = 0; i < atomic_load(&hub->readers_used); i++) {
		snprintf(labels, sizeof(labels), "actor=\"handler-%u\"", i);
		for (size_t m = 0; m < sizeof(reader_metrics) / sizeof(reader_metrics[0]); m++) {
			const counter_t *v = (const counter_t *)(const void *)
				((const char *)&hub->readers[i] + reader_metrics[m].off);

			if (reader_metrics[m].gauge)
				metrics_gauge(o, reader_metrics[m].name, reader_metrics[m].help,
					      labels, (double)counter_get(v));
			else
				metrics_counter(o, reader_metrics[m].name, reader_metrics[m].help,
						labels, counter_get(v));
		}
	}
}

/* Optional: a near cache that is down costs speed, never correctness. */
static bool check(void *ctx, char *reason, size_t len)
{
	const struct near_hub *hub = ctx;
	int err = atomic_load_explicit(&hub->last_error[0], memory_order_relaxed);

	if (counter_get(&hub->actor.up) != 0)
		return true;
	snprintf(reason, len, "invalidation path down: the near cache is bypassed%s%s",
		 err != 0 ? ": " : "", err != 0 ? ad_strerror(err) : "");
	return false;
}

static void hub_free(void *user)
{
	struct near_hub *hub = user;

	free(hub->readers);
	free(hub);
}

int near_add_pool(struct actor_system *sys, const struct ad_config *cfg, unsigned readers,
		  char *err, size_t errlen)
{
	struct actor_pool_spec spec = {
		.kind = &near_kind,
		.count = 1,
		.mbox_capacity = 16,
		.ops = &near_ops,
		.dispose = hub_free,
	};
	struct near_hub *hub;

	if (!cfg->near_cache.enabled || cfg->cache.count == 0)
		return 0;
	hub = aligned_alloc(_Alignof(struct near_hub), sizeof(*hub));
	if (hub != NULL) {
		memset(hub, 0, sizeof(*hub));
		hub->readers = aligned_alloc(_Alignof(struct near_reader_counters),
					     sizeof(*hub->readers) * (readers > 0 ? readers : 1));
	}
	if (hub == NULL || hub->readers == NULL) {
		free(hub);
		snprintf(err, errlen, "nearcache: out of memory");
		return -ENOMEM;
	}
	memset(hub->readers, 0, sizeof(*hub->readers) * (readers > 0 ? readers : 1));
	hub->nreaders = readers;
	/* A random seed: keys chosen to collide cannot be prepared. */
	if (getrandom(&hub->seed, sizeof(hub->seed), 0) != (ssize_t)sizeof(hub->seed))
		hub->seed = clock_now_ns() ^ (uint64_t)(uintptr_t)hub;
	memcpy(hub->prefixes, cfg->near_cache.prefixes, sizeof(hub->prefixes));
	hub->nprefixes = cfg->near_cache.nprefixes;
	if (hub->nprefixes == 1 && hub->prefixes[0][0] == '\0')
		hub->nprefixes = 0;
	spec.user = hub;
	if (actor_system_add_pool(sys, &spec, err, errlen) == ACTOR_ADDR_NONE) {
		hub_free(hub);
		return -EINVAL;
	}
	if (metrics_register(collect, hub) != 0 ||
	    metrics_register_optional_check("nearcache", check, hub) != 0) {
		snprintf(err, errlen, "nearcache: too many metrics registrations");
		return -ENOSPC;
	}
	return 0;
}

struct near_hub *near_hub_find(struct actor_system *sys)
{
	actor_addr_t at = actor_system_find_kind(sys, &near_kind, NULL);

	return at == ACTOR_ADDR_NONE ? NULL : actor_user(actor_system_get(sys, at));
}
