/*
 * static_files.c - the static-file routes and each handler's file cache
 * (static_files.h).
 *
 * DESIGN
 * The cache belongs to one handler actor (struct handler.static_cache,
 * made on first use, freed with the handler): a hash table of entries by
 * absolute path and the compression settings they were made under, an
 * LRU list, and a byte budget (static.cache_bytes, read
 * live). An entry is a file's bytes and variants, or a remembered 404,
 * with the time the file actor last saw it; within static.revalidate_ms
 * it is served without any call, after that the next request asks the
 * file actor to compare the file's identity (device, inode, size, mtime)
 * and only a changed file is read again.
 *
 * Answers copy the cached bytes into the response, and a large file's
 * entry hands each response a duplicate (F_DUPFD) of the descriptor it
 * keeps open, so an entry may be evicted or replaced at any time without
 * a reference count. A client that may take a precompressed sibling of a
 * large file goes to the file actor instead (the kept descriptor is the
 * plain file).
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "compress.h"
#include "file_actor.h"
#include "handler_internal.h"
#include "static_files.h"
#include "web.h"
#include "webparse.h"
#include "base/clock.h"
#include "config/config.h"

/* A file version's validators, formatted once: a cached entry keeps them,
 * so a hit formats nothing (snprintf and strftime were a few per cent of a
 * 64 KiB gzip hit's CPU). etag[] by enum wp_coding: the variants' tags. */
struct validators {
	char etag[3][80];             /* 2 or 4 hex numbers of up to 16 digits */
	char modified[30];            /* Last-Modified */
};

struct static_entry {
	struct static_entry *hnext;   /* hash chain */
	struct list lru;              /* most recently used first */
	char *key;                    /* '+' min_bytes ':' or '-', dir "/" rel */
	size_t bytes;                 /* what it costs the budget */
	uint64_t validated_ns;        /* last time the file actor saw it */
	bool missing;                 /* a remembered 404 */
	int fd;                       /* a large file, kept open (sendfile a dup); -1 */
	struct file_id id;
	struct validators v;
	char *data, *gz, *br;
	size_t len, gz_len, br_len;
};

/* Owner: one handler actor. */
struct static_cache {
	struct static_entry **buckets;
	size_t nbuckets, count, bytes;
	unsigned nfds;                /* entries holding a descriptor */
	struct list lru;
};

/* Descriptors of large files one handler keeps open at most. */
#define STATIC_MAX_FDS 256

/* What a call to the file actor needs back in its continuation. */
struct static_ctx {
	const struct config_static_mount *mount;
	const char *rel;
	const char *key;
	const char *ctype;
	bool retried;                 /* a revalidated entry vanished meanwhile */
};

static void issue(struct hreq *r, struct static_ctx *sc, const struct static_entry *e);

/* ---- Content types ---- */

const char *static_content_type(const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{ "html", "text/html; charset=utf-8" }, { "htm", "text/html; charset=utf-8" },
		{ "css", "text/css; charset=utf-8" }, { "js", "text/javascript; charset=utf-8" },
		{ "mjs", "text/javascript; charset=utf-8" }, { "json", "application/json" },
		{ "txt", "text/plain; charset=utf-8" }, { "md", "text/markdown; charset=utf-8" },
		{ "csv", "text/csv; charset=utf-8" }, { "xml", "application/xml" },
		{ "svg", "image/svg+xml" }, { "map", "application/json" },
		{ "png", "image/png" }, { "jpg", "image/jpeg" }, { "jpeg", "image/jpeg" },
		{ "gif", "image/gif" }, { "webp", "image/webp" }, { "avif", "image/avif" },
		{ "ico", "image/x-icon" }, { "woff", "font/woff" }, { "woff2", "font/woff2" },
		{ "ttf", "font/ttf" }, { "otf", "font/otf" }, { "pdf", "application/pdf" },
		{ "wasm", "application/wasm" }, { "mp4", "video/mp4" }, { "webm", "video/webm" },
		{ "mp3", "audio/mpeg" }, { "ogg", "audio/ogg" }, { "zip", "application/zip" },
		{ "gz", "application/gzip" }, { "br", "application/octet-stream" },
	};
	const char *slash = strrchr(name, '/'), *dot = strrchr(name, '.');

	if (dot != NULL && (slash == NULL || dot > slash))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

/* ---- The cache ---- */

static uint64_t hash_key(const char *s)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void entry_free(struct static_entry *e)
{
	if (e->fd >= 0)
		close(e->fd);
	free(e->data);
	free(e->gz);
	free(e->br);
	free(e->key);
	free(e);
}

void static_cache_destroy(struct static_cache *c)
{
	struct list *it, *tmp;

	if (c == NULL)
		return;
	list_foreach_safe(it, tmp, &c->lru)
		entry_free(list_entry(it, struct static_entry, lru));
	free(c->buckets);
	free(c);
}

static struct static_cache *cache_of(struct hreq *r)
{
	struct handler *h = r->h;

	if (h->static_cache == NULL) {
		struct static_cache *c = calloc(1, sizeof(*c));

		if (c == NULL || (c->buckets = calloc(64, sizeof(*c->buckets))) == NULL) {
			free(c);
			return NULL;
		}
		c->nbuckets = 64;
		list_init(&c->lru);
		h->static_cache = c;
	}
	return h->static_cache;
}

static struct static_entry **slot_of(struct static_cache *c, const char *key)
{
	struct static_entry **pp = &c->buckets[hash_key(key) & (c->nbuckets - 1)];

	while (*pp != NULL && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static struct static_entry *cache_find(struct static_cache *c, const char *key)
{
	struct static_entry *e = c != NULL ? *slot_of(c, key) : NULL;

	if (e != NULL) {
		list_remove(&e->lru);
		list_push_front(&c->lru, &e->lru);
	}
	return e;
}

static void cache_remove(struct static_cache *c, struct static_entry *e)
{
	*slot_of(c, e->key) = e->hnext;
	list_remove(&e->lru);
	c->count--;
	c->bytes -= e->bytes;
	c->nfds -= e->fd >= 0;
	entry_free(e);
}

static void cache_grow(struct static_cache *c)
{
	size_t n = c->nbuckets * 2;
	struct static_entry **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;   /* longer chains: still correct */
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct static_entry *e, *next;

		for (e = c->buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[hash_key(e->key) & (n - 1)];
			b[hash_key(e->key) & (n - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

/* Put `e` in place of any entry for its key; evict the least recently
 * used entries beyond the budget. False if it does not fit at all (the
 * caller keeps it). */
static bool cache_put(struct static_cache *c, struct static_entry *e, uint64_t budget)
{
	struct static_entry *old = *slot_of(c, e->key);

	if (old != NULL)
		cache_remove(c, old);
	if (e->bytes > budget || (e->fd >= 0 && c->nfds >= STATIC_MAX_FDS))
		return false;
	while (c->bytes + e->bytes > budget && !list_empty(&c->lru))
		cache_remove(c, list_entry(list_last(&c->lru), struct static_entry, lru));
	if (c->count >= c->nbuckets)
		cache_grow(c);
	e->hnext = *slot_of(c, e->key);
	*slot_of(c, e->key) = e;
	list_push_front(&c->lru, &e->lru);
	c->count++;
	c->bytes += e->bytes;
	c->nfds += e->fd >= 0;
	return true;
}

/* ---- Answers ---- */

/* A variant's tag names the file's version and, when there is one, its
 * precompressed sibling's, whose bytes the variant then is: a changed
 * .gz beside an unchanged file must not keep the old tag. */
static void validators_of(const struct file_id *id, struct validators *v)
{
	static const char *const suffixes[] = { [WP_IDENTITY] = "", [WP_GZIP] = "-gz",
						[WP_BR] = "-br" };

	snprintf(v->etag[WP_IDENTITY], sizeof(v->etag[0]), "\"%" PRIx64 "-%" PRIx64 "\"",
		 (uint64_t)id->file.mtime_ns, id->file.size);
	for (int k = WP_GZIP; k <= WP_BR; k++) {
		const struct file_stamp *sib = &id->sibling[k - 1];

		if (sib->ino == 0 && sib->size == 0 && sib->mtime_ns == 0)
			snprintf(v->etag[k], sizeof(v->etag[k]), "\"%" PRIx64 "-%" PRIx64 "%s\"",
				 (uint64_t)id->file.mtime_ns, id->file.size, suffixes[k]);
		else
			snprintf(v->etag[k], sizeof(v->etag[k]),
				 "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "-%" PRIx64 "%s\"",
				 (uint64_t)id->file.mtime_ns, id->file.size,
				 (uint64_t)sib->mtime_ns, sib->size, suffixes[k]);
	}
	wp_format_http_date(id->file.mtime_ns / 1000000000, v->modified);
}

/* The headers every answer of this file carries. */
static void add_validators(struct hreq *r, const struct static_ctx *sc,
			   const struct validators *v, enum wp_coding coding, bool vary)
{
	char cc[32];

	hreq_add_header(r, "ETag", v->etag[coding]);
	hreq_add_header(r, "Last-Modified", v->modified);
	hreq_add_header(r, "Accept-Ranges", "bytes");
	if (sc->mount->max_age_s > 0) {
		snprintf(cc, sizeof(cc), "max-age=%u", sc->mount->max_age_s);
		hreq_add_header(r, "Cache-Control", cc);
	}
	if (vary)
		hreq_add_header(r, "Vary", "Accept-Encoding");
}

/* 304 if the client's copy is current (If-None-Match first, then
 * If-Modified-Since). */
static bool not_modified(struct hreq *r, const struct file_id *id, const struct validators *v)
{
	const char *inm = hreq_header(r, "If-None-Match");
	const char *ims = hreq_header(r, "If-Modified-Since");

	if (inm != NULL) {
		for (size_t i = 0; i < 3; i++)
			if (wp_etag_match(inm, strlen(inm), v->etag[i]))
				return true;
		return false;
	}
	if (ims != NULL) {
		int64_t t = wp_http_date(ims, strlen(ims));

		return t >= 0 && id->file.mtime_ns / 1000000000 <= t;
	}
	return false;
}

/* The byte range to send: WP_RANGE_NONE (whole), _OK or _UNSATISFIABLE.
 * If-Range that names another version turns the range off. */
static enum wp_range range_of(struct hreq *r, const struct file_id *id,
			      const struct validators *v, uint64_t *first, uint64_t *last)
{
	const char *rg = hreq_header(r, "Range"), *ir = hreq_header(r, "If-Range");

	if (rg == NULL)
		return WP_RANGE_NONE;
	if (ir != NULL) {
		if (strcmp(ir, v->etag[WP_IDENTITY]) != 0 &&
		    wp_http_date(ir, strlen(ir)) != id->file.mtime_ns / 1000000000)
			return WP_RANGE_NONE;
	}
	return wp_range_parse(rg, strlen(rg), id->file.size, first, last);
}

/* Answer a 304, 416 or 206 that does not depend on the body source.
 * `coding` is what a 200 would send: a 304 carries that variant's ETag
 * (RFC 9110 15.4.5). True if answered; for 206, *off and *len give the
 * slice to send. */
static bool answer_range(struct hreq *r, const struct static_ctx *sc, const struct file_id *id,
			 const struct validators *v, bool vary, enum wp_coding coding,
			 uint64_t *off, uint64_t *len, bool *partial)
{
	uint64_t first = 0, last = 0;
	char cr[80];

	*partial = false;
	if (not_modified(r, id, v)) {
		add_validators(r, sc, v, coding, vary);
		hreq_send(r, 304, sc->ctype, "", 0);
		return true;
	}
	switch (range_of(r, id, v, &first, &last)) {
	case WP_RANGE_UNSATISFIABLE:
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, id->file.size);
		hreq_add_header(r, "Content-Range", cr);
		add_validators(r, sc, v, WP_IDENTITY, false);
		hreq_text(r, 416, "Range Not Satisfiable\n");
		return true;
	case WP_RANGE_OK:
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last,
			 id->file.size);
		hreq_add_header(r, "Content-Range", cr);
		add_validators(r, sc, v, WP_IDENTITY, false);
		*off = first;
		*len = last - first + 1;
		*partial = true;
		return false;
	case WP_RANGE_NONE:
		break;
	}
	*off = 0;
	*len = id->file.size;
	return false;
}

static bool compressible(const struct hreq *r, const struct static_ctx *sc)
{
	return sc->mount->compress && r->cfg->compress.enabled && compress_type_ok(sc->ctype);
}

/* A large file through sendfile: `fd` (taken) holds `len` bytes of the
 * file `id` encoded with `coding` (a precompressed sibling, or not). */
static void serve_open(struct hreq *r, const struct static_ctx *sc, int fd,
		       const struct file_id *id, const struct validators *v,
		       enum wp_coding coding, uint64_t flen)
{
	bool vary = compressible(r, sc), partial;
	uint64_t off, len;

	if (coding != WP_IDENTITY) {
		/* Only offered when no Range was sent: a whole variant. */
		if (not_modified(r, id, v)) {
			close(fd);
			add_validators(r, sc, v, coding, vary);
			hreq_send(r, 304, sc->ctype, "", 0);
			return;
		}
		add_validators(r, sc, v, coding, vary);
		hreq_add_header(r, "Content-Encoding", compress_coding_name(coding));
		hreq_sendfile(r, 200, sc->ctype, fd, 0, flen);
		return;
	}
	if (answer_range(r, sc, id, v, vary, WP_IDENTITY, &off, &len, &partial)) {
		close(fd);
		return;
	}
	if (!partial)
		add_validators(r, sc, v, WP_IDENTITY, vary);
	hreq_sendfile(r, partial ? 206 : 200, sc->ctype, fd, off, len);
}

/* A cached large file: a duplicate of its descriptor goes out. */
static void serve_cached_fd(struct hreq *r, const struct static_ctx *sc,
			    const struct static_entry *e)
{
	int fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)
		hreq_fail(r, -errno, "static file");
	else
		serve_open(r, sc, fd, &e->id, &e->v, WP_IDENTITY, e->id.file.size);
}

/* Whether this request may get a precompressed sibling of a large file
 * (which the cached descriptor is not). */
static bool wants_variant(struct hreq *r, const struct static_ctx *sc)
{
	const char *ae = hreq_header(r, "Accept-Encoding");

	return ae != NULL && compressible(r, sc) && hreq_header(r, "Range") == NULL &&
	       wp_accept_encoding(ae, strlen(ae), (1u << WP_GZIP) | (1u << WP_BR)) != WP_IDENTITY;
}

static void serve_entry(struct hreq *r, const struct static_ctx *sc, const struct static_entry *e)
{
	bool vary = compressible(r, sc) && (e->gz != NULL || e->br != NULL), partial;
	uint64_t off, len;
	unsigned offered = (e->gz != NULL ? 1u << WP_GZIP : 0) | (e->br != NULL ? 1u << WP_BR : 0);
	const char *ae;
	enum wp_coding c;

	if (e->missing) {
		hreq_error(r, 404, "not found");
		return;
	}
	if (e->fd >= 0) {
		serve_cached_fd(r, sc, e);
		return;
	}
	ae = vary ? hreq_header(r, "Accept-Encoding") : NULL;
	c = wp_accept_encoding(ae, ae != NULL ? strlen(ae) : 0, offered);
	if (answer_range(r, sc, &e->id, &e->v, vary, c, &off, &len, &partial))
		return;
	if (partial) {
		hreq_send(r, 206, sc->ctype, e->data + off, (size_t)len);
		return;
	}
	add_validators(r, sc, &e->v, c, vary);
	if (c != WP_IDENTITY)
		hreq_add_header(r, "Content-Encoding", compress_coding_name(c));
	if (c == WP_GZIP)
		hreq_send(r, 200, sc->ctype, e->gz, e->gz_len);
	else if (c == WP_BR)
		hreq_send(r, 200, sc->ctype, e->br, e->br_len);
	else
		hreq_send(r, 200, sc->ctype, e->data, e->len);
}

/* ---- The route ---- */

static struct static_entry *entry_from(const char *key, struct file_req *q, uint64_t now)
{
	struct static_entry *e = calloc(1, sizeof(*e));

	if (e == NULL || (e->key = strdup(key)) == NULL) {
		free(e);
		return NULL;
	}
	e->validated_ns = now;
	e->fd = -1;
	if (q == NULL) {
		e->missing = true;
	} else if (q->fd >= 0) {
		e->id = q->id;           /* a large file: its descriptor stays open */
		validators_of(&e->id, &e->v);
		e->fd = q->fd;
		q->fd = -1;
	} else {
		e->id = q->id;
		validators_of(&e->id, &e->v);
		e->data = q->data;
		e->gz = q->gz;
		e->br = q->br;
		e->len = q->len;
		e->gz_len = q->gz_len;
		e->br_len = q->br_len;
		q->data = q->gz = q->br = NULL;
	}
	e->bytes = sizeof(*e) + strlen(key) + e->len + e->gz_len + e->br_len;
	return e;
}

static void on_file(struct hreq *r, struct call_msg *reply, void *arg)
{
	struct file_req *q = (struct file_req *)(void *)reply;
	struct static_ctx *sc = arg;
	struct static_cache *c = cache_of(r);
	const struct config_static *cs = &r->cfg->static_files;
	uint64_t now = clock_now_ns();
	struct static_entry *e;

	if (hreq_answered(r))
		return;
	if (reply->status == -ENOENT || reply->status == -EACCES || reply->status == -ENAMETOOLONG) {
		e = entry_from(sc->key, NULL, now);
		if (e != NULL && (c == NULL || !cache_put(c, e, cs->cache_bytes)))
			entry_free(e);
		hreq_error(r, 404, "not found");
		return;
	}
	if (reply->status == -EISDIR) {
		/* dir -> dir/, the query kept (as nginx and Tornado do). */
		const char *path = hreq_path(r), *query;
		size_t n = strlen(path), qlen;
		char *to;

		query = hreq_query_string(r, &qlen);
		to = hreq_alloc(r, n + qlen + 3);
		if (sc->mount->index[0] == '\0' || to == NULL) {
			hreq_error(r, 404, "not found");
			return;
		}
		snprintf(to, n + qlen + 3, "%s/%s%.*s", path, qlen > 0 ? "?" : "", (int)qlen, query);
		hreq_redirect(r, 301, to);
		return;
	}
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "static file");
		return;
	}
	if (q->fd >= 0 && (q->accept != 0 || q->fd_coding != WP_IDENTITY || c == NULL)) {
		int fd = q->fd;   /* maybe a sibling for this client: not cached */
		struct validators v;

		q->fd = -1;
		validators_of(&q->id, &v);
		serve_open(r, sc, fd, &q->id, &v, q->fd_coding, q->fd_len);
		return;
	}
	if (q->unchanged) {
		e = cache_find(c, sc->key);
		if (e == NULL || e->missing) {
			if (!sc->retried) {   /* evicted meanwhile: read it once more */
				sc->retried = true;
				issue(r, sc, NULL);
			} else {
				hreq_error(r, 503, "static file cache: evicted twice");
			}
			return;
		}
		e->validated_ns = now;
		serve_entry(r, sc, e);
		return;
	}
	e = entry_from(sc->key, q, now);
	if (e == NULL) {
		hreq_fail(r, -ENOMEM, "static file");
		return;
	}
	serve_entry(r, sc, e);
	if (c == NULL || !cache_put(c, e, cs->cache_bytes))
		entry_free(e);   /* a large file's response has its own duplicate */
}

/* Ask a file actor about sc->rel (revalidating `e` when given). */
static void issue(struct hreq *r, struct static_ctx *sc, const struct static_entry *e)
{
	const struct config_static *cs = &r->cfg->static_files;
	struct file_req *q = file_req_new(sc->mount->dir, sc->rel);
	const char *ae = hreq_header(r, "Accept-Encoding");
	size_t aelen = ae != NULL ? strlen(ae) : 0;
	int rc;

	if (q == NULL) {
		hreq_error(r, 404, "not found");
		return;
	}
	q->cache_max = cs->cache_bytes > 0 ? cs->cache_file_bytes : 0;
	q->min_compress = r->cfg->compress.min_bytes;
	q->compress = compressible(r, sc);
	if (q->compress && hreq_header(r, "Range") == NULL) {
		for (int k = WP_GZIP; k <= WP_BR; k++)
			if (wp_accept_encoding(ae, aelen, 1u << k) == (enum wp_coding)k)
				q->accept |= 1u << k;
	}
	if (e != NULL && !e->missing) {
		q->revalidate = true;
		q->known = e->id;
	}
	rc = hreq_call(r, &file_kind, &q->c, on_file, sc);
	if (rc != 0)
		hreq_fail(r, rc, "static file");
}

/* Decode and check the path below the mount into `rel` (arena). 0, or
 * the status to answer. */
static unsigned relative_path(struct hreq *r, const struct config_static_mount *m,
			      const char **rel)
{
	const char *raw = hreq_path(r) + strlen(m->prefix);
	size_t rawlen = strlen(raw), ilen = strlen(m->index);
	char *buf = hreq_alloc(r, rawlen + ilen + 2);
	long n;

	if (buf == NULL)
		return 500;
	n = route_decode(raw, rawlen, buf, rawlen + 1, 0);
	if (n < 0)
		return 400;   /* a bad escape, or %00 */
	for (char *seg = buf; seg < buf + n;) {
		char *end = memchr(seg, '/', (size_t)(buf + n - seg));
		size_t len = end != NULL ? (size_t)(end - seg) : (size_t)(buf + n - seg);

		if (end == NULL && len == 0)
			break;
		/* Empty, ".", ".." and dotfiles: never below a mount. */
		if (len == 0 || seg[0] == '.')
			return 404;
		seg += len + 1;
	}
	if (n == 0 || buf[n - 1] == '/') {
		if (ilen == 0)
			return 404;   /* no directory listing */
		memcpy(buf + n, m->index, ilen + 1);
	}
	*rel = buf;
	return 0;
}

static void static_get(struct hreq *r)
{
	const struct config_static_mount *m = hreq_route_data(r);
	struct static_ctx *sc = hreq_alloc(r, sizeof(*sc));
	struct static_entry *e;
	unsigned st;
	size_t klen;
	char *key;

	if (sc == NULL) {
		hreq_fail(r, -ENOMEM, "static file");
		return;
	}
	memset(sc, 0, sizeof(*sc));
	sc->mount = m;
	st = relative_path(r, m, &sc->rel);
	if (st != 0) {
		hreq_error(r, st, st == 400 ? "malformed path" : "not found");
		return;
	}
	sc->ctype = static_content_type(sc->rel);
	klen = strlen(m->dir) + strlen(sc->rel) + 16;
	key = hreq_alloc(r, klen);
	if (key == NULL) {
		hreq_fail(r, -ENOMEM, "static file");
		return;
	}
	/* The key also names what shaped the entry besides the file: whether
	 * variants were made, from what size. A file cached while compression
	 * was off stayed uncompressed after a reload turned it on (the file
	 * itself unchanged, every revalidation said so), and so did a second
	 * mount of the directory with compress on. "+512:/dir/f", "-/dir/f". */
	if (compressible(r, sc))
		snprintf(key, klen, "+%" PRIu32 ":%s/%s", r->cfg->compress.min_bytes, m->dir,
			 sc->rel);
	else
		snprintf(key, klen, "-%s/%s", m->dir, sc->rel);
	sc->key = key;
	e = r->h->static_cache != NULL ? cache_find(r->h->static_cache, key) : NULL;
	if (e != NULL && e->fd >= 0 && wants_variant(r, sc)) {
		issue(r, sc, NULL);   /* the file actor looks for a .gz / .br */
		return;
	}
	if (e != NULL && clock_now_ns() - e->validated_ns <
	    (uint64_t)r->cfg->static_files.revalidate_ms * NS_PER_MS) {
		serve_entry(r, sc, e);
		return;
	}
	issue(r, sc, e);
}

int static_files_routes(struct route_table *t, const struct ad_config *cfg,
			char *err, size_t errlen)
{
	const struct config_static *s = &cfg->static_files;

	for (unsigned i = 0; i < s->nmount; i++) {
		char pattern[CONFIG_PREFIX_MAX + 8];
		int rc;

		snprintf(pattern, sizeof(pattern), "%s*path", s->mount[i].prefix);
		rc = route_add(t, ROUTE_GET | ROUTE_NO_COMPRESS, pattern, static_get,
			       (void *)&s->mount[i], err, errlen);
		if (rc != 0)
			return rc;
	}
	return 0;
}
