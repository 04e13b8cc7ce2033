/*
 * hreq_cache.c - reading Redis through the handler's near cache
 * (handler_api.h: hreq_cache_get, hreq_cache_forget; storage/near.h).
 *
 * DESIGN
 * Every handler actor owns one near cache (handler.c creates it). A read
 * looks every key up first; when all are there the continuation runs at
 * once with pointers into the entries (nothing can drop them before it
 * returns: the near cache changes only on this thread). Otherwise the
 * values found are copied into the request (the near cache may drop them
 * while the MGET is out), a ticket is taken, and the missing keys leave in
 * one MGET to the cache actors; the reply's values are offered to the near
 * cache under that ticket, which keeps only those no invalidation can have
 * overtaken, and the continuation runs.
 *
 * Thread: the handler actor owning the request.
 */
#include <errno.h>
#include <string.h>

#include "handler_internal.h"
#include "base/clock.h"
#include "storage/near.h"

/* One read, in the request's arena. */
struct cread {
	hreq_cached_fn k;
	void *arg;
	unsigned n, nmiss;
	bool near;
	struct near_ticket ticket;
	uint32_t ttl_ms;
	struct cache_value *vals;     /* [n] */
	unsigned *miss;               /* [nmiss]: indexes of the keys asked from Redis */
	const char **keys;            /* [nmiss]: copies */
	size_t *klens;                /* [nmiss] */
};

static void on_mget(struct hreq *r, struct call_msg *reply, void *arg)
{
	struct cread *cr = arg;
	const struct cache_value *v = cache_result(reply, 0);
	struct near_cache *nc = r->h->near;
	uint64_t expires;

	if (reply->status != 0 || v == NULL || v->type != CACHE_ARRAY || v->nelem != cr->nmiss) {
		cr->k(r, reply->status != 0 ? reply->status : -EBADMSG, NULL, cr->arg);
		return;
	}
	expires = clock_now_ns() + (uint64_t)cr->ttl_ms * NS_PER_MS;
	for (unsigned j = 0; j < cr->nmiss; j++) {
		const struct cache_value *e = &v->elem[j];

		cr->vals[cr->miss[j]] = *e;
		if (cr->near && e->type == CACHE_STRING)
			near_cache_put(nc, &cr->ticket, cr->keys[j], cr->klens[j], e->str, e->len,
				       expires);
	}
	cr->k(r, 0, cr->vals, cr->arg);
}

/* The values found in the near cache point into its entries: copy them
 * into the request before anything can drop those. */
static int keep_hits(struct hreq *r, struct cread *cr)
{
	for (unsigned i = 0, j = 0; i < cr->n; i++) {
		char *copy;

		if (j < cr->nmiss && cr->miss[j] == i) {
			j++;
			continue;
		}
		copy = hreq_alloc(r, cr->vals[i].len + 1);
		if (copy == NULL)
			return -ENOMEM;
		memcpy(copy, cr->vals[i].str, cr->vals[i].len + 1);
		cr->vals[i].str = copy;
	}
	return 0;
}

int hreq_cache_get(struct hreq *r, unsigned n, const char *const *keys, const size_t *klens,
		   uint32_t ttl_ms, bool near, hreq_cached_fn k, void *arg)
{
	struct near_cache *nc = r->h->near;
	struct cread *cr;
	struct cache_req *q;
	uint64_t now;
	uint32_t max_ttl = r->cfg->near_cache.ttl_ms;

	if (n == 0 || n > HREQ_CACHE_MAX_KEYS)
		return -EINVAL;
	cr = hreq_alloc(r, sizeof(*cr));
	if (cr == NULL || (cr->vals = hreq_alloc(r, sizeof(*cr->vals) * n)) == NULL ||
	    (cr->miss = hreq_alloc(r, sizeof(*cr->miss) * n)) == NULL)
		return -ENOMEM;
	cr->k = k;
	cr->arg = arg;
	cr->n = n;
	cr->nmiss = 0;
	cr->ttl_ms = ttl_ms == 0 || ttl_ms > max_ttl ? max_ttl : ttl_ms;
	cr->near = near && near_cache_usable(nc);
	now = clock_now_ns();
	for (unsigned i = 0; i < n; i++) {
		const char *v;
		size_t vlen;

		/* Looked up even while the near cache is bypassed: it misses,
		 * and counts the miss. */
		if (near && near_cache_get(nc, keys[i], klens[i], now, &v, &vlen))
			cr->vals[i] = (struct cache_value){ .type = CACHE_STRING, .str = v, .len = vlen };
		else
			cr->miss[cr->nmiss++] = i;
	}
	r->cache_hits = n - cr->nmiss;
	if (cr->nmiss == 0) {
		k(r, 0, cr->vals, arg);
		return 0;
	}
	if (keep_hits(r, cr) != 0 ||
	    (cr->keys = hreq_alloc(r, sizeof(*cr->keys) * cr->nmiss)) == NULL ||
	    (cr->klens = hreq_alloc(r, sizeof(*cr->klens) * cr->nmiss)) == NULL)
		return -ENOMEM;
	for (unsigned j = 0; j < cr->nmiss; j++) {
		char *copy = hreq_alloc(r, klens[cr->miss[j]] + 1);

		if (copy == NULL)
			return -ENOMEM;
		memcpy(copy, keys[cr->miss[j]], klens[cr->miss[j]]);
		copy[klens[cr->miss[j]]] = '\0';
		cr->keys[j] = copy;
		cr->klens[j] = klens[cr->miss[j]];
	}
	if (cr->near)
		near_cache_ticket(nc, &cr->ticket);
	q = cache_req_new();
	if (q == NULL)
		return -ENOMEM;
	cache_req_mget(q, cr->nmiss, cr->keys, cr->klens);
	return hreq_call(r, &cache_kind, cache_req_call(q), on_mget, cr);
}

unsigned hreq_cache_near_hits(const struct hreq *r)
{
	return r->cache_hits;
}

void hreq_cache_forget(struct hreq *r, const char *key, size_t klen)
{
	near_cache_forget(r->h->near, key, klen);
}
