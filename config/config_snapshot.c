/*
 * config_snapshot.c - the live configuration snapshot and what a reload
 * may change.
 *
 * DESIGN
 * One atomic pointer names the live `struct ad_config`. Readers load it
 * (acquire) once per request and read fields from that snapshot only.
 * config_publish() stores a new pointer (release); snapshots are never
 * freed while actors run, because a reader holds no reference count and
 * could still be inside an old one. Each published snapshot is chained on a
 * retired list owned by the controlling thread and freed by
 * config_retire_all() after every actor has stopped. A snapshot is about
 * 112 KB; a reload of an unchanged file (configuration tools send SIGHUP
 * every few minutes) publishes nothing (config_publish_reload), so only a
 * reload that changes something keeps one more: no epoch scheme needed
 * for what changes by hand.
 *
 * Thread: config_current from any thread; the rest on the controlling thread.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct retired {
	struct retired *next;
	struct ad_config *cfg;
};

static _Atomic(const struct ad_config *) live;
static _Atomic uint64_t generation;
static struct retired *published;      /* controlling thread only */

const struct ad_config *config_current(void)
{
	/* Acquire pairs with the release in config_publish: the snapshot's
	 * contents are visible before its pointer. */
	return atomic_load_explicit(&live, memory_order_acquire);
}

const struct ad_config *config_current_or(const struct ad_config *fallback)
{
	const struct ad_config *cfg = config_current();

	return cfg != NULL ? cfg : fallback;
}

void config_publish(struct ad_config *cfg)
{
	struct retired *r = malloc(sizeof(*r));

	/* Without a list node we could not free it later; leaking a few KB
	 * beats refusing a reload. */
	if (r != NULL) {
		r->cfg = cfg;
		r->next = published;
		published = r;
	}
	atomic_store_explicit(&live, cfg, memory_order_release);
	/* After the pointer: a reader that sees the new generation finds the
	 * new snapshot too. */
	atomic_fetch_add_explicit(&generation, 1, memory_order_release);
}

bool config_publish_reload(struct ad_config *cfg)
{
	const struct ad_config *running = config_current();

	/* Byte for byte: a snapshot starts zeroed (config_defaults) and the
	 * same file writes the same bytes into it. */
	if (running != NULL && memcmp(cfg, running, sizeof(*cfg)) == 0) {
		config_free(cfg);
		atomic_fetch_add_explicit(&generation, 1, memory_order_release);
		return false;
	}
	config_publish(cfg);
	return true;
}

uint64_t config_generation(void)
{
	return atomic_load_explicit(&generation, memory_order_acquire);
}

void config_retire_all(void)
{
	atomic_store_explicit(&live, NULL, memory_order_release);
	while (published != NULL) {
		struct retired *r = published;

		published = r->next;
		config_free(r->cfg);
		free(r);
	}
}

static void note(char *changed, size_t len, const char *key)
{
	size_t n = strlen(changed);

	snprintf(changed + n, len - n, "%s%s", n > 0 ? ", " : "", key);
}

#define CARRY(key, field)                                                     \
	do {                                                                  \
		if (memcmp(&next->field, &running->field, sizeof(next->field)) != 0) { \
			note(changed, changedlen, key);                       \
			memcpy(&next->field, &running->field, sizeof(next->field)); \
		}                                                             \
	} while (0)

void config_carry_fixed(struct ad_config *next, const struct ad_config *running,
			char *changed, size_t changedlen)
{
	changed[0] = '\0';
	/* Compare address lists by value: unused slots are zero in both. */
	if (next->nlisten != running->nlisten ||
	    memcmp(next->listen, running->listen, sizeof(next->listen)) != 0) {
		note(changed, changedlen, "listen");
		memcpy(next->listen, running->listen, sizeof(next->listen));
		next->nlisten = running->nlisten;
	}
	CARRY("admin_listen", admin_listen);
	CARRY("http.backlog", http.backlog);   /* listeners are made at start-up */
	CARRY("actors.net.mailbox", net.mailbox);
	CARRY("actors.handler.mailbox", handler.mailbox);
	CARRY("actors.log", log_actor);
	CARRY("actors.cache.mailbox", cache.mailbox);
	CARRY("actors.mysql.mailbox", mysql_actor.mailbox);
	/* Counts of resizable pools change live, but a pool is there or not
	 * from start-up on: 0 <-> N takes a restart. */
	if ((next->cache.count == 0) != (running->cache.count == 0))
		CARRY("actors.cache.count", cache.count);
	if ((next->mysql_actor.count == 0) != (running->mysql_actor.count == 0))
		CARRY("actors.mysql.count", mysql_actor.count);
	CARRY("actors.mongo", mongo_actor);
	CARRY("actors.job", job);
	CARRY("actors.upstream", upstream_actor);
	CARRY("upstream.resolver", upstream.resolver);
	CARRY("actors.worker.mailbox", worker.mailbox);
	if ((next->worker.count == 0) != (running->worker.count == 0))
		CARRY("actors.worker.count", worker.count);
	CARRY("actors.sched", sched);
	CARRY("app.queue_capacity", app.queue_capacity);
	CARRY("app.queue_concurrency", app.queue_concurrency);
	CARRY("app.queue_max_attempts", app.queue_max_attempts);
	CARRY("app.period_ms", app.period_ms);
	CARRY("app.period_once_per_cluster", app.period_once_per_cluster);
	CARRY("actors.pubsub", pubsub);
	CARRY("websocket.redis", websocket.redis);
	CARRY("websocket.redis_prefix", websocket.redis_prefix);
	CARRY("mongo.uri", mongo.uri);
	CARRY("mongo.connect_timeout_ms", mongo.connect_timeout_ms);
	CARRY("mongo.query_timeout_ms", mongo.query_timeout_ms);
	CARRY("mongo.server_selection_timeout_ms", mongo.server_selection_timeout_ms);
	CARRY("jobs.instance", jobs.instance);
	CARRY("jobs.prefix", jobs.prefix);
	CARRY("jobs.group", jobs.group);
	CARRY("jobs.concurrency", jobs.concurrency);
	/* Owners refresh their deliveries every third of it, on a period set
	 * at start: a lower value taken live would let XAUTOCLAIM take jobs
	 * from live workers that refresh too seldom for it (run twice). */
	CARRY("jobs.reclaim_idle_ms", jobs.reclaim_idle_ms);
	CARRY("near_cache.enabled", near_cache.enabled);
	CARRY("near_cache.max_bytes", near_cache.max_bytes);
	if (next->near_cache.nprefixes != running->near_cache.nprefixes ||
	    memcmp(next->near_cache.prefixes, running->near_cache.prefixes,
		   sizeof(next->near_cache.prefixes)) != 0) {
		note(changed, changedlen, "near_cache.prefixes");
		memcpy(next->near_cache.prefixes, running->near_cache.prefixes,
		       sizeof(next->near_cache.prefixes));
		next->near_cache.nprefixes = running->near_cache.nprefixes;
	}
	CARRY("pidfile", pidfile);
	/* Each cache and job actor takes its batch budget at start. */
	CARRY("redis.pipeline_max", redis.pipeline_max);
	CARRY("actors.file.mailbox", file_actor.mailbox);
	if ((next->file_actor.count == 0) != (running->file_actor.count == 0))
		CARRY("actors.file.count", file_actor.count);
	config_carry_web(next, running);
}
