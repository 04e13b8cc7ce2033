/*
 * near_cache.c - one owner's near cache (near.h): entries in a ck_hs hash
 * set, in LRU order, bounded in bytes, each with its own expiry, kept
 * coherent by applying what the hub publishes (near_internal.h).
 *
 * DESIGN
 * An entry is one allocation: header, key, value, NUL. ck_hs hashes on
 * the 48 bits of the key hash that the hub's ring carries, so an
 * invalidation (which names only those bits) finds every entry it may
 * concern; entries whose 48 bits match are all dropped (a collision costs
 * a refetch, never a stale read). `stamp[b]` is the number of the last
 * invalidation whose hash fell in bucket b: a value read under a ticket
 * older than its bucket's stamp is not kept. A local forget (a write of
 * ours on its way) sets FORGOT | the key's 48 bits instead, which refuses
 * every value until the invalidation of that very hash arrives (the
 * write's own; another key of the bucket does not end it): a read that
 * raced the write cannot be kept after the write was answered. A write
 * that fails is never reported: the mark then lapses after twice
 * redis.command_timeout_ms, the longest the write can have been waited
 * for.
 *
 * Owner: the thread that created it (a handler actor); counters are
 * published for the admin thread (relaxed stores).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ck_hs.h>
#include <xxhash.h>

#include "near_internal.h"
#include "base/clock.h"
#include "base/list.h"

#define STAMPS 4096u                   /* buckets of invalidation stamps */
#define FORGOT (1ull << 63)            /* stamp: waiting for a forgotten key's invalidation */
#define H48_MASK ((1ull << 48) - 1)
#define ENTRY_OVERHEAD 16              /* the hash set's slot, roughly */
#define GC_AFTER_REMOVALS 65536        /* tombstones before a ck_hs_gc */

/* Owner: the near cache's thread. */
struct near_entry {
	struct list lru;              /* most recently used first */
	uint64_t h48;
	uint64_t expires_ns;
	size_t size;                  /* what it counts against max_bytes */
	const char *key;              /* into the tail (or the probe's key) */
	uint32_t klen, vlen;
	bool by_hash;                 /* probes only: match on h48 alone */
	char data[];                  /* key, value, NUL */
};

struct near_cache {
	struct near_hub *hub;         /* NULL: always miss */
	struct near_reader_counters *ctr;
	struct near_reader_counters own_ctr;
	ck_hs_t hs;
	struct list lru;
	uint64_t max_bytes, bytes, entries;
	uint64_t state;               /* hub state last applied */
	uint64_t head;                /* hub invalidations applied */
	uint64_t overrun;             /* tickets older than this are void */
	unsigned removals;
	uint64_t born_ns;             /* forgot_ms counts from here */
	uint64_t stamp[STAMPS];
	uint32_t forgot_ms[STAMPS];   /* when a FORGOT stamp was set */
};

/* ---- The hub: the near actor writes, every near cache reads ---- */

uint64_t near_hash48(const struct near_hub *hub, const char *key, size_t klen)
{
	return XXH3_64bits_withSeed(key, klen, hub->seed) >> NEAR_TAG_BITS;
}

void near_hub_publish_state(struct near_hub *hub, bool up)
{
	uint64_t st = atomic_load_explicit(&hub->state, memory_order_relaxed);

	atomic_store_explicit(&hub->state, (((st >> 1) + 1) << 1) | (up ? 1 : 0),
			      memory_order_release);
	counter_add(&hub->actor.flushes_total, 1);
	counter_set(&hub->actor.up, up ? 1 : 0);
}

void near_hub_publish_key(struct near_hub *hub, uint64_t h48)
{
	uint64_t s = atomic_load_explicit(&hub->head, memory_order_relaxed) + 1;

	atomic_store_explicit(&hub->ring[s & (NEAR_RING - 1)],
			      (h48 << NEAR_TAG_BITS) | (s & NEAR_TAG_MASK), memory_order_relaxed);
	atomic_store_explicit(&hub->head, s, memory_order_release);
}

/* ---- ck_hs plumbing ---- */

static void *hs_malloc(size_t n) { return malloc(n); }
static void hs_free(void *p, size_t n, bool defer) { (void)n; (void)defer; free(p); }
static struct ck_malloc hs_allocator = { .malloc = hs_malloc, .free = hs_free };

static unsigned long hs_hash(const void *object, unsigned long seed)
{
	(void)seed;
	return (unsigned long)((const struct near_entry *)object)->h48;
}

/* `stored` is an entry of the set, `probe` what get/remove was given. */
static bool hs_compare(const void *stored, const void *probe)
{
	const struct near_entry *e = stored, *p = probe;

	if (p->by_hash)
		return e->h48 == p->h48;
	return e->h48 == p->h48 && e->klen == p->klen && memcmp(e->key, p->key, p->klen) == 0;
}

/* ---- Entries ---- */

static void entry_drop(struct near_cache *nc, struct near_entry *e)
{
	ck_hs_remove(&nc->hs, e->h48, e);
	list_remove(&e->lru);
	nc->bytes -= e->size;
	nc->entries--;
	free(e);
	if (++nc->removals >= GC_AFTER_REMOVALS) {
		nc->removals = 0;
		ck_hs_gc(&nc->hs, 0, 0);
	}
}

static void publish_size(struct near_cache *nc)
{
	counter_set(&nc->ctr->bytes, nc->bytes);
	counter_set(&nc->ctr->entries, nc->entries);
}

static void flush(struct near_cache *nc)
{
	struct list *l;

	while ((l = list_first(&nc->lru)) != NULL) {
		struct near_entry *e = list_entry(l, struct near_entry, lru);

		list_remove(&e->lru);
		free(e);
	}
	ck_hs_reset(&nc->hs);
	nc->bytes = nc->entries = 0;
	nc->removals = 0;
	counter_add(&nc->ctr->flushes_total, 1);
	publish_size(nc);
}

/* Every entry whose hash is `h48`. */
static void drop_hash(struct near_cache *nc, uint64_t h48)
{
	struct near_entry probe = { .h48 = h48, .by_hash = true }, *e;

	while ((e = ck_hs_get(&nc->hs, h48, &probe)) != NULL) {
		entry_drop(nc, e);
		counter_add(&nc->ctr->invalidated_total, 1);
	}
}

static struct near_entry *find(struct near_cache *nc, const char *key, size_t klen,
			       uint64_t h48)
{
	struct near_entry probe = { .h48 = h48, .key = key, .klen = (uint32_t)klen };

	return ck_hs_get(&nc->hs, h48, &probe);
}

/* ---- Following the hub ---- */

/* Invalidation number `s` named hash `h48`: its bucket refuses values read
 * before it, unless a forget there still waits for another hash. */
static void stamp_invalidated(struct near_cache *nc, uint64_t h48, uint64_t s)
{
	uint64_t *st = &nc->stamp[h48 & (STAMPS - 1)];

	if ((*st & FORGOT) == 0 || (*st & H48_MASK) == h48)
		*st = s;
}

static uint32_t age_ms(const struct near_cache *nc)
{
	return (uint32_t)((clock_now_ns() - nc->born_ns) / NS_PER_MS);
}

/* The stamp that judges a value of hash `h48`: a forget mark that waited
 * longer than its write can have lapses (the write failed, or its report
 * was lost with a path that went down). */
static uint64_t stamp_of(struct near_cache *nc, uint64_t h48)
{
	unsigned b = h48 & (STAMPS - 1);
	const struct ad_config *cfg;
	uint32_t limit;

	if ((nc->stamp[b] & FORGOT) == 0)
		return nc->stamp[b];
	cfg = config_current();
	limit = 2 * (cfg != NULL ? cfg->redis.command_timeout_ms : 1000);
	if (age_ms(nc) - nc->forgot_ms[b] > limit)
		nc->stamp[b] = nc->head + 1;
	return nc->stamp[b];
}

static void sync_hub(struct near_cache *nc)
{
	struct near_hub *hub = nc->hub;
	uint64_t st = atomic_load_explicit(&hub->state, memory_order_acquire);
	uint64_t h, s;

	if (st != nc->state) {
		/* Flushed (or the path went down or came back): everything goes,
		 * and the invalidations published so far concern nothing left. */
		nc->state = st;
		flush(nc);
		nc->head = atomic_load_explicit(&hub->head, memory_order_acquire);
		nc->overrun = nc->head;
		return;
	}
	h = atomic_load_explicit(&hub->head, memory_order_acquire);
	if (h == nc->head)
		return;
	if (h - nc->head > NEAR_RING) {
		flush(nc);
		nc->head = nc->overrun = h;
		return;
	}
	for (s = nc->head + 1; s <= h; s++) {
		uint64_t v = atomic_load_explicit(&hub->ring[s & (NEAR_RING - 1)],
						  memory_order_relaxed);

		if ((v & NEAR_TAG_MASK) != (s & NEAR_TAG_MASK)) {
			flush(nc);   /* overwritten by a later lap: we fell behind */
			nc->head = nc->overrun = h;
			return;
		}
		drop_hash(nc, v >> NEAR_TAG_BITS);
		stamp_invalidated(nc, v >> NEAR_TAG_BITS, s);
	}
	nc->head = h;
	publish_size(nc);
}

/* ---- API ---- */

struct near_cache *near_cache_create(struct near_hub *hub, unsigned slot, uint64_t max_bytes)
{
	struct near_cache *nc = calloc(1, sizeof(*nc));

	if (nc == NULL)
		return NULL;
	nc->hub = hub;
	nc->ctr = hub != NULL && slot < hub->nreaders ? &hub->readers[slot] : &nc->own_ctr;
	if (hub != NULL && slot < hub->nreaders) {
		unsigned used = atomic_load(&hub->readers_used);

		/* Handler pools grow: the metrics show the slots in use. */
		while (slot + 1 > used &&
		       !atomic_compare_exchange_weak(&hub->readers_used, &used, slot + 1))
			;
	}
	nc->max_bytes = max_bytes;
	nc->born_ns = clock_now_ns();
	list_init(&nc->lru);
	if (!ck_hs_init(&nc->hs, CK_HS_MODE_OBJECT | CK_HS_MODE_SPMC | CK_HS_MODE_DELETE,
			hs_hash, hs_compare, &hs_allocator, 1024, 0)) {
		free(nc);
		return NULL;
	}
	if (hub != NULL) {
		nc->state = atomic_load_explicit(&hub->state, memory_order_acquire);
		nc->head = nc->overrun = atomic_load_explicit(&hub->head, memory_order_acquire);
	}
	return nc;
}

void near_cache_destroy(struct near_cache *nc)
{
	struct list *l;

	if (nc == NULL)
		return;
	while ((l = list_first(&nc->lru)) != NULL) {
		list_remove(l);
		free(list_entry(l, struct near_entry, lru));
	}
	/* The slot's gauges outlive the cache (a shrunk handler pool): it
	 * holds nothing now. */
	nc->bytes = nc->entries = 0;
	publish_size(nc);
	ck_hs_destroy(&nc->hs);
	free(nc);
}

bool near_cache_usable(struct near_cache *nc)
{
	if (nc->hub == NULL)
		return false;
	sync_hub(nc);
	return (nc->state & 1) != 0;
}

bool near_cache_get(struct near_cache *nc, const char *key, size_t klen, uint64_t now_ns,
		    const char **val, size_t *vlen)
{
	struct near_entry *e = NULL;

	if (nc->hub == NULL) {
		counter_add(&nc->ctr->misses_total, 1);
		return false;
	}
	if ((nc->state & 1) != 0 && nc->entries > 0)
		e = find(nc, key, klen, near_hash48(nc->hub, key, klen));
	if (e != NULL && e->expires_ns <= now_ns) {
		entry_drop(nc, e);
		publish_size(nc);
		e = NULL;
	}
	if (e == NULL) {
		counter_add(&nc->ctr->misses_total, 1);
		return false;
	}
	list_remove(&e->lru);
	list_push_front(&nc->lru, &e->lru);
	counter_add(&nc->ctr->hits_total, 1);
	*val = e->data + e->klen;
	*vlen = e->vlen;
	return true;
}

void near_cache_ticket(struct near_cache *nc, struct near_ticket *t)
{
	if (nc->hub != NULL)
		sync_hub(nc);
	t->state = nc->state;
	t->head = nc->head;
}

bool near_cache_tracked(const struct near_cache *nc, const char *key, size_t klen)
{
	const struct near_hub *hub = nc->hub;

	if (hub == NULL)
		return false;
	if (hub->nprefixes == 0)
		return true;
	for (unsigned i = 0; i < hub->nprefixes; i++) {
		size_t n = strlen(hub->prefixes[i]);

		if (klen >= n && memcmp(key, hub->prefixes[i], n) == 0)
			return true;
	}
	return false;
}

bool near_cache_put(struct near_cache *nc, const struct near_ticket *t, const char *key,
		    size_t klen, const char *val, size_t vlen, uint64_t expires_ns)
{
	size_t size = sizeof(struct near_entry) + klen + vlen + 1 + ENTRY_OVERHEAD;
	struct near_entry *e, *old;
	uint64_t h48;

	if (!near_cache_usable(nc) || t->state != nc->state || t->head < nc->overrun ||
	    klen > UINT32_MAX || vlen > UINT32_MAX || size > nc->max_bytes / 4 ||
	    !near_cache_tracked(nc, key, klen)) {
		counter_add(&nc->ctr->refused_total, 1);
		return false;
	}
	h48 = near_hash48(nc->hub, key, klen);
	if (stamp_of(nc, h48) > t->head) {
		counter_add(&nc->ctr->refused_total, 1);
		return false;
	}
	e = malloc(size - ENTRY_OVERHEAD);
	if (e == NULL)
		return false;
	memcpy(e->data, key, klen);
	memcpy(e->data + klen, val, vlen);
	e->data[klen + vlen] = '\0';
	e->key = e->data;
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)vlen;
	e->h48 = h48;
	e->expires_ns = expires_ns;
	e->size = size;
	e->by_hash = false;
	old = find(nc, key, klen, h48);
	if (old != NULL)
		entry_drop(nc, old);
	while (nc->bytes + size > nc->max_bytes && !list_empty(&nc->lru)) {
		entry_drop(nc, list_entry(list_last(&nc->lru), struct near_entry, lru));
		counter_add(&nc->ctr->evictions_total, 1);
	}
	if (!ck_hs_put(&nc->hs, h48, e)) {
		free(e);
		publish_size(nc);
		return false;
	}
	list_push_front(&nc->lru, &e->lru);
	nc->bytes += size;
	nc->entries++;
	counter_add(&nc->ctr->stores_total, 1);
	publish_size(nc);
	return true;
}

void near_cache_forget(struct near_cache *nc, const char *key, size_t klen)
{
	struct near_entry *e;
	uint64_t h48;

	if (nc->hub == NULL)
		return;
	sync_hub(nc);
	h48 = near_hash48(nc->hub, key, klen);
	e = find(nc, key, klen, h48);
	if (e != NULL) {
		entry_drop(nc, e);
		publish_size(nc);
	}
	/* Reads that race the write may still bring the old value back, even
	 * reads sent after other invalidations came in: refuse every value
	 * until the write's own invalidation (see DESIGN). */
	nc->stamp[h48 & (STAMPS - 1)] = FORGOT | h48;
	nc->forgot_ms[h48 & (STAMPS - 1)] = age_ms(nc);
}
