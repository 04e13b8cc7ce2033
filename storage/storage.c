/*
 * storage.c - adding the storage pools, and the per-pool figures the
 * admin endpoint reads (storage.h, storage_pool.h).
 *
 * Thread: the controlling thread, except collect and check (the renderer).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "near.h"
#include "storage.h"
#include "storage_pool.h"
#include "actors/actor.h"
#include "actors/metrics.h"
#include "config/config.h"

static void collect(struct metrics_out *o, void *ctx)
{
	const struct storage_pool *p = ctx;
	unsigned live = actor_pool_live(p->pool);
	char name[48];

	char labels[128];

	for (unsigned i = 0; i < live; i++) {
		snprintf(name, sizeof(name), "%s-%u", p->kind, i);
		backend_stats_collect(o, p->backend, name, &p->stats[i]);
		if (p->admit == NULL)
			continue;
		snprintf(labels, sizeof(labels), "actor=\"%s\",kind=\"%s\"", name, p->kind);
		admit_collect(o, labels, &p->admit[i]);
	}
}

static bool check(void *ctx, char *reason, size_t len)
{
	struct storage_pool *p = ctx;
	unsigned up = 0, live = actor_pool_live(p->pool);
	int err = 0;

	/* Members that joined a moment ago are still connecting. */
	for (unsigned i = 0; i < live; i++) {
		if (atomic_load_explicit(&p->stats[i].connected, memory_order_relaxed) != 0)
			up++;
		else if (err == 0)
			err = atomic_load_explicit(&p->last_error[i], memory_order_relaxed);
	}
	if (up == live)
		return true;
	snprintf(reason, len, "%u of %u %s connection(s) up%s%s", up, live, p->backend,
		 err != 0 ? ": " : "", err != 0 ? ad_strerror(err) : "");
	return false;
}

static void pool_free(void *user)
{
	struct storage_pool *p = user;

	free(p->stats);
	free(p->last_error);
	free(p->admit);
	free(p);
}

actor_addr_t storage_pool_add(struct actor_system *sys, struct actor_pool_spec *spec,
			      const char *backend, bool admits, char *err, size_t errlen)
{
	const char *kind = spec->kind->name;
	unsigned slots = spec->max > spec->count ? spec->max : spec->count;
	size_t ssize = sizeof(struct backend_stats) * slots;
	size_t asize = sizeof(struct admit_stats) * slots;
	struct storage_pool *p = calloc(1, sizeof(*p));
	actor_addr_t first;

	if (p != NULL) {
		p->stats = aligned_alloc(_Alignof(struct backend_stats), ssize);
		p->last_error = calloc(slots, sizeof(*p->last_error));
		if (admits && (p->admit = aligned_alloc(_Alignof(struct admit_stats), asize)) != NULL)
			memset(p->admit, 0, asize);
	}
	if (p == NULL || p->stats == NULL || p->last_error == NULL ||
	    (admits && p->admit == NULL)) {
		if (p != NULL)
			pool_free(p);
		snprintf(err, errlen, "%s: out of memory", kind);
		return ACTOR_ADDR_NONE;
	}
	memset(p->stats, 0, ssize);
	p->kind = kind;
	p->backend = backend;
	p->count = slots;
	spec->user = p;
	spec->dispose = pool_free;
	first = actor_system_add_pool(sys, spec, err, errlen);
	if (first == ACTOR_ADDR_NONE) {
		pool_free(p);
		return ACTOR_ADDR_NONE;
	}
	p->pool = actor_system_pool(sys, spec->kind);
	/* The actor pool owns `p` now; collector and check read it until the
	 * system is destroyed, after the admin actor stopped. */
	if (metrics_register(collect, p) != 0 || metrics_register_check(backend, check, p) != 0) {
		snprintf(err, errlen, "%s: too many metrics registrations", kind);
		return ACTOR_ADDR_NONE;
	}
	return first;
}

int storage_add_pools(struct actor_system *sys, const struct ad_config *cfg,
		      char *err, size_t errlen)
{
	int rc = 0;

	if (cfg->cache.count > 0)
		rc = cache_add_pool(sys, cfg, err, errlen);
	if (rc == 0)
		rc = near_add_pool(sys, cfg, CONFIG_MAX_ACTORS, err, errlen); /* a reader per handler slot */
	if (rc == 0 && cfg->mysql_actor.count > 0)
		rc = sql_add_pool(sys, cfg, err, errlen);
	return rc;
}
