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

#include "storage.h"
#include "storage_pool.h"
#include "actors/actor.h"
#include "actors/metrics.h"
#include "config/config.h"

#define MAX_POOLS 8

/* Every pool ever created: reachable until exit (see storage_pool.h). */
static struct storage_pool *all_pools[MAX_POOLS];
static unsigned nall_pools;

static void collect(struct metrics_out *o, void *ctx)
{
	const struct storage_pool *p = ctx;
	char name[48];

	for (unsigned i = 0; i < p->count; i++) {
		snprintf(name, sizeof(name), "%s-%u", p->kind, i);
		backend_stats_collect(o, p->backend, name, &p->stats[i]);
	}
}

static bool check(void *ctx, char *reason, size_t len)
{
	struct storage_pool *p = ctx;
	unsigned up = 0;
	int err = 0;

	for (unsigned i = 0; i < p->count; i++) {
		if (atomic_load_explicit(&p->stats[i].connected, memory_order_relaxed) != 0)
			up++;
		else if (err == 0)
			err = atomic_load_explicit(&p->last_error[i], memory_order_relaxed);
	}
	if (up == p->count)
		return true;
	snprintf(reason, len, "%u of %u %s connection(s) up%s%s", up, p->count, p->backend,
		 err != 0 ? ": " : "", err != 0 ? ad_strerror(err) : "");
	return false;
}

struct storage_pool *storage_pool_create(const char *kind, const char *backend,
					 unsigned count, char *err, size_t errlen)
{
	struct storage_pool *p;
	size_t ssize = sizeof(struct backend_stats) * count;

	if (nall_pools == MAX_POOLS) {
		snprintf(err, errlen, "%s: too many storage pools", kind);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p != NULL) {
		p->stats = aligned_alloc(_Alignof(struct backend_stats), ssize);
		p->last_error = calloc(count, sizeof(*p->last_error));
	}
	if (p == NULL || p->stats == NULL || p->last_error == NULL) {
		if (p != NULL) {
			free(p->stats);
			free(p->last_error);
		}
		free(p);
		snprintf(err, errlen, "%s: out of memory", kind);
		return NULL;
	}
	memset(p->stats, 0, ssize);
	p->kind = kind;
	p->backend = backend;
	p->count = count;
	/* Kept even if a registration below fails: the other may name it. */
	all_pools[nall_pools++] = p;
	if (metrics_register(collect, p) != 0 || metrics_register_check(backend, check, p) != 0) {
		snprintf(err, errlen, "%s: too many metrics registrations", kind);
		return NULL;
	}
	return p;
}

int storage_add_pools(struct actor_system *sys, const struct ad_config *cfg,
		      char *err, size_t errlen)
{
	int rc = 0;

	if (cfg->cache.count > 0)
		rc = cache_add_pool(sys, cfg, err, errlen);
	if (rc == 0 && cfg->mysql_actor.count > 0)
		rc = sql_add_pool(sys, cfg, err, errlen);
	return rc;
}
