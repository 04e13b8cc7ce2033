/*
 * test_near.c - the near cache (storage/near.h) without Redis: a hub
 * written by the test (the near actor's writer functions) and one near
 * cache. Hits and misses, expiry, the byte bound and LRU order, tickets
 * refusing values an invalidation may have overtaken, a forget waiting for
 * its key's own invalidation (or lapsing), flushes, a reader
 * that fell a whole ring behind, tracked prefixes; and one reader thread
 * applying invalidations while a writer thread publishes them (TSan checks
 * the ring's hand-over).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "storage/near_internal.h"

#define SEC 1000000000ull

static struct near_hub *hub_new(const char *const *prefixes, unsigned n)
{
	struct near_hub *hub = aligned_alloc(64, sizeof(*hub));

	assert_non_null(hub);
	memset(hub, 0, sizeof(*hub));
	hub->seed = 42;
	hub->nreaders = 1;
	hub->readers = aligned_alloc(64, sizeof(*hub->readers));
	assert_non_null(hub->readers);
	memset(hub->readers, 0, sizeof(*hub->readers));
	for (unsigned i = 0; i < n; i++)
		snprintf(hub->prefixes[i], sizeof(hub->prefixes[i]), "%s", prefixes[i]);
	hub->nprefixes = n;
	near_hub_publish_state(hub, true);
	return hub;
}

static void hub_free(struct near_hub *hub)
{
	free(hub->readers);
	free(hub);
}

struct fixture {
	struct near_hub *hub;
	struct near_cache *nc;
};

static int setup(void **state)
{
	static const char *const prefixes[] = { "k:", "w:" };
	struct fixture *f = calloc(1, sizeof(*f));

	f->hub = hub_new(prefixes, 2);
	f->nc = near_cache_create(f->hub, 0, 64 * 1024);
	assert_non_null(f->nc);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	near_cache_destroy(f->nc);
	hub_free(f->hub);
	free(f);
	return 0;
}

/* Put `val` under a fresh ticket. */
static bool put(struct near_cache *nc, const char *key, const char *val, uint64_t expires)
{
	struct near_ticket t;

	near_cache_ticket(nc, &t);
	return near_cache_put(nc, &t, key, strlen(key), val, strlen(val), expires);
}

/* The value of `key` at time `now`, or NULL. */
static const char *get(struct near_cache *nc, const char *key, uint64_t now)
{
	const char *v;
	size_t len;

	if (!near_cache_usable(nc) || !near_cache_get(nc, key, strlen(key), now, &v, &len))
		return NULL;
	assert_int_equal(strlen(v), len);
	return v;
}

static void invalidate(struct near_hub *hub, const char *key)
{
	near_hub_publish_key(hub, near_hash48(hub, key, strlen(key)));
}

static void test_hit_miss_and_expiry(void **state)
{
	struct fixture *f = *state;

	assert_null(get(f->nc, "k:1", 1));
	assert_true(put(f->nc, "k:1", "one", 10 * SEC));
	assert_string_equal(get(f->nc, "k:1", 1), "one");
	assert_true(put(f->nc, "k:1", "uno", 10 * SEC));   /* replaces */
	assert_string_equal(get(f->nc, "k:1", 1), "uno");
	assert_null(get(f->nc, "k:1", 10 * SEC));          /* expired */
	assert_int_equal(counter_get(&f->hub->readers[0].hits_total), 2);
	assert_int_equal(counter_get(&f->hub->readers[0].misses_total), 2);
	assert_int_equal(counter_get(&f->hub->readers[0].entries), 0);
}

static void test_only_tracked_prefixes_are_kept(void **state)
{
	struct fixture *f = *state;

	assert_false(put(f->nc, "other:1", "x", 10 * SEC));
	assert_false(near_cache_tracked(f->nc, "k", 1));
	assert_true(near_cache_tracked(f->nc, "w:", 2));
	assert_null(get(f->nc, "other:1", 1));
}

static void test_an_invalidation_drops_the_entry(void **state)
{
	struct fixture *f = *state;

	assert_true(put(f->nc, "k:a", "A", 10 * SEC));
	assert_true(put(f->nc, "k:b", "B", 10 * SEC));
	invalidate(f->hub, "k:a");
	assert_null(get(f->nc, "k:a", 1));
	assert_string_equal(get(f->nc, "k:b", 1), "B");
	assert_int_equal(counter_get(&f->hub->readers[0].invalidated_total), 1);
}

static void test_a_value_read_before_an_invalidation_is_refused(void **state)
{
	struct fixture *f = *state;
	struct near_ticket t;

	/* The read is sent, Redis reports a write of the key, then the
	 * (possibly older) value comes back: it must not be kept. */
	near_cache_ticket(f->nc, &t);
	invalidate(f->hub, "k:race");
	assert_false(near_cache_put(f->nc, &t, "k:race", 6, "old", 3, 10 * SEC));
	assert_null(get(f->nc, "k:race", 1));
	/* A write to another key does not hold this one back (other bucket). */
	near_cache_ticket(f->nc, &t);
	invalidate(f->hub, "k:unrelated");
	assert_true(near_cache_put(f->nc, &t, "k:race", 6, "new", 3, 10 * SEC));
	/* A flush in between voids every ticket. */
	near_cache_ticket(f->nc, &t);
	near_hub_publish_state(f->hub, true);
	assert_false(near_cache_put(f->nc, &t, "k:x", 3, "x", 1, 10 * SEC));
	assert_null(get(f->nc, "k:race", 1));
	assert_int_equal(counter_get(&f->hub->readers[0].refused_total), 2);
}

static void test_down_means_bypassed_and_flushed(void **state)
{
	struct fixture *f = *state;
	struct near_ticket t;

	assert_true(put(f->nc, "k:1", "one", 10 * SEC));
	near_cache_ticket(f->nc, &t);
	near_hub_publish_state(f->hub, false);
	assert_false(near_cache_usable(f->nc));
	assert_null(get(f->nc, "k:1", 1));
	assert_false(put(f->nc, "k:1", "one", 10 * SEC));
	/* Back up: the ticket from before is void, the cache starts empty. */
	near_hub_publish_state(f->hub, true);
	assert_false(near_cache_put(f->nc, &t, "k:1", 3, "one", 3, 10 * SEC));
	assert_null(get(f->nc, "k:1", 1));
	assert_true(put(f->nc, "k:1", "one", 10 * SEC));
	assert_string_equal(get(f->nc, "k:1", 1), "one");
}

static void test_a_reader_a_whole_ring_behind_flushes(void **state)
{
	struct fixture *f = *state;
	struct near_ticket t;

	assert_true(put(f->nc, "k:1", "one", 10 * SEC));
	near_cache_ticket(f->nc, &t);
	for (unsigned i = 0; i < NEAR_RING + 1; i++)
		near_hub_publish_key(f->hub, i + 1000000);
	assert_null(get(f->nc, "k:1", 1));
	assert_false(near_cache_put(f->nc, &t, "k:2", 3, "two", 3, 10 * SEC));
	assert_int_equal(counter_get(&f->hub->readers[0].flushes_total), 1);
	assert_true(put(f->nc, "k:2", "two", 10 * SEC));
}

static void test_forget_drops_and_holds_back_older_reads(void **state)
{
	struct fixture *f = *state;
	struct near_ticket t;

	assert_true(put(f->nc, "k:w", "v1", 10 * SEC));
	near_cache_ticket(f->nc, &t);
	near_cache_forget(f->nc, "k:w", 3);
	assert_null(get(f->nc, "k:w", 1));
	/* A read sent before the write comes back with v1: refused, and so
	 * is any read until the write's invalidation arrives. */
	assert_false(near_cache_put(f->nc, &t, "k:w", 3, "v1", 2, 10 * SEC));
	assert_false(put(f->nc, "k:w", "v1", 10 * SEC));
	invalidate(f->hub, "k:w");
	assert_true(put(f->nc, "k:w", "v2", 10 * SEC));
	assert_string_equal(get(f->nc, "k:w", 1), "v2");
}

static void test_forget_waits_for_the_keys_own_invalidation(void **state)
{
	struct fixture *f = *state;
	struct near_ticket t;

	near_cache_forget(f->nc, "k:w", 3);
	/* Other keys' invalidations (a heartbeat, a write elsewhere) come in
	 * while the write is on its way; a read sent now can still be served
	 * by Redis before the write and bring v1 back: refused. */
	invalidate(f->hub, "k:other");
	invalidate(f->hub, "w:hb");
	near_cache_ticket(f->nc, &t);
	assert_false(near_cache_put(f->nc, &t, "k:w", 3, "v1", 2, 10 * SEC));
	invalidate(f->hub, "k:w");   /* the write's own */
	assert_false(near_cache_put(f->nc, &t, "k:w", 3, "v1", 2, 10 * SEC));
	assert_true(put(f->nc, "k:w", "v2", 10 * SEC));
	assert_string_equal(get(f->nc, "k:w", 1), "v2");
}

static void test_a_forget_whose_write_is_never_reported_lapses(void **state)
{
	struct fixture *f = *state;
	struct ad_config *cfg = calloc(1, sizeof(*cfg));
	struct timespec ms = { 0, 1000000 };
	struct near_ticket t;

	assert_non_null(cfg);
	config_defaults(cfg);
	cfg->redis.command_timeout_ms = 5;
	config_publish(cfg);
	near_cache_forget(f->nc, "k:w", 3);   /* its write then fails */
	assert_false(put(f->nc, "k:w", "v1", 10 * SEC));
	for (int i = 0; i < 20; i++)
		nanosleep(&ms, NULL);
	/* Twice the command timeout later the mark is gone: it becomes an
	 * ordinary stamp (a read must be sent after the next invalidation). */
	near_cache_ticket(f->nc, &t);
	assert_false(near_cache_put(f->nc, &t, "k:w", 3, "v1", 2, 10 * SEC));
	invalidate(f->hub, "k:other");
	assert_true(put(f->nc, "k:w", "v1", 10 * SEC));
	config_retire_all();
}

static void test_the_byte_bound_evicts_the_least_recently_used(void **state)
{
	struct fixture *f = *state;
	char key[32], val[1024];

	memset(val, 'x', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k:%d", i);
		assert_true(put(f->nc, key, val, 10 * SEC));
		if (i >= 1)
			assert_non_null(get(f->nc, "k:0", 1));   /* keeps k:0 recent */
	}
	assert_true(counter_get(&f->hub->readers[0].bytes) <= 64 * 1024);
	assert_true(counter_get(&f->hub->readers[0].evictions_total) > 0);
	assert_non_null(get(f->nc, "k:0", 1));
	assert_non_null(get(f->nc, "k:199", 1));
	assert_null(get(f->nc, "k:1", 1));
	/* An entry larger than a quarter of the bound is not kept at all. */
	{
		char *big = malloc(20000);

		memset(big, 'y', 19999);
		big[19999] = '\0';
		assert_false(put(f->nc, "k:big", big, 10 * SEC));
		free(big);
	}
}

static void test_without_a_hub_everything_misses(void **state)
{
	struct near_cache *nc = near_cache_create(NULL, 0, 4096);
	struct near_ticket t;

	(void)state;
	assert_non_null(nc);
	assert_false(near_cache_usable(nc));
	near_cache_ticket(nc, &t);
	assert_false(near_cache_put(nc, &t, "k:1", 3, "x", 1, 10 * SEC));
	near_cache_forget(nc, "k:1", 3);
	near_cache_destroy(nc);
}

/* ---- One writer thread, one reader thread ---- */

#define KEYS 64
#define ROUNDS 20000

struct race {
	struct near_hub *hub;
	_Atomic unsigned version[KEYS];   /* what "Redis" holds */
	_Atomic bool done;
};

static void key_name(char *buf, size_t len, unsigned i)
{
	snprintf(buf, len, "k:%u", i);
}

/* The writer: a new version of a key, then its invalidation (Redis'
 * order: the write is visible before the message leaves). */
static void *writer(void *arg)
{
	struct race *r = arg;
	char key[16];

	for (unsigned n = 0; n < ROUNDS; n++) {
		unsigned i = n % KEYS;

		atomic_fetch_add(&r->version[i], 1);
		key_name(key, sizeof(key), i);
		invalidate(r->hub, key);
	}
	atomic_store(&r->done, true);
	return NULL;
}

static void test_invalidations_from_another_thread_are_never_lost(void **state)
{
	static const char *const prefixes[] = { "k:" };
	struct race r = { .hub = hub_new(prefixes, 1) };
	struct near_cache *nc = near_cache_create(r.hub, 0, 1 << 20);
	pthread_t t;
	char key[16], val[16];

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, writer, &r), 0);
	/* Read-through: ticket, read "Redis", keep. Whatever the interleaving,
	 * once the writer is done and its invalidations applied, no entry may
	 * hold anything but the last version. */
	for (unsigned n = 0; !atomic_load(&r.done) || n < 1000; n++) {
		unsigned i = n % KEYS;
		struct near_ticket tk;

		key_name(key, sizeof(key), i);
		if (get(nc, key, 1) != NULL)
			continue;
		near_cache_ticket(nc, &tk);
		snprintf(val, sizeof(val), "%u", atomic_load(&r.version[i]));
		near_cache_put(nc, &tk, key, strlen(key), val, strlen(val), 10 * SEC);
	}
	pthread_join(t, NULL);
	for (unsigned i = 0; i < KEYS; i++) {
		const char *v;

		key_name(key, sizeof(key), i);
		v = get(nc, key, 1);
		snprintf(val, sizeof(val), "%u", atomic_load(&r.version[i]));
		if (v != NULL)
			assert_string_equal(v, val);
	}
	near_cache_destroy(nc);
	hub_free(r.hub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hit_miss_and_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_tracked_prefixes_are_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_invalidation_drops_the_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_value_read_before_an_invalidation_is_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_down_means_bypassed_and_flushed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_reader_a_whole_ring_behind_flushes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forget_drops_and_holds_back_older_reads, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forget_waits_for_the_keys_own_invalidation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_forget_whose_write_is_never_reported_lapses,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_byte_bound_evicts_the_least_recently_used,
						setup, teardown),
		cmocka_unit_test(test_without_a_hub_everything_misses),
		cmocka_unit_test(test_invalidations_from_another_thread_are_never_lost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
