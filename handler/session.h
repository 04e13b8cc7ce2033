/*
 * session.h - server-side sessions in Redis behind an opaque signed id,
 * and the `@authenticated` guard (docs/HANDLERS.md, "Sessions").
 *
 * DESIGN
 * A session is a small string map stored as one JSON object under
 * session.prefix + id in Redis; the browser holds only the id, 128 random
 * bits, in a signed cookie (session.cookie, web.h's signed cookies), so a
 * forged or altered id is refused before Redis is asked. Expiry slides:
 * every load renews the key's TTL (session.idle_s) in the same round trip
 * (GET + PEXPIRE pipelined); the cookie's signature also expires after
 * session.max_age_s. Loading and saving are calls to the cache actors
 * (storage/cache.h) with continuations, like any hreq_call.
 *
 * Lifetimes: a struct hsession and the strings it hands out live in the
 * request's memory, as long as the request.
 *
 * Thread: the handler actor that owns the request.
 */
#ifndef ACTORD_SESSION_H
#define ACTORD_SESSION_H

#include <stdbool.h>

#include "handler_api.h"

#define HSESSION_MAX_KEYS 64

struct hsession;

/* Runs once the session is loaded (or saved, or destroyed). */
typedef void (*hsession_fn)(struct hreq *r, struct hsession *s, void *arg);

/* Load the request's session from Redis, renew its expiry, then run
 * k(r, s, arg). No cookie, a bad signature or an expired session give a
 * new empty session (stored only once something is set and saved).
 * When Redis fails, the request is answered (503 / 504) and `k` does not
 * run. 0, or hreq_call's error (`k` never runs; answer it yourself). */
int hsession_load(struct hreq *r, hsession_fn k, void *arg);

/* `@authenticated`: load, then run `k` only if the session has a "user".
 * Otherwise answer: 401 JSON for clients that ask for JSON (Accept:
 * application/json, or X-Requested-With), a 302 redirect to
 * `login_url?next=<uri>` for GET and HEAD (the path and query as sent,
 * percent-encoded as one query value: /me?tab=2 gives
 * next=/me%3Ftab%3D2, which hreq_query decodes back), 403 for other
 * methods. */
int hsession_authenticated(struct hreq *r, const char *login_url, hsession_fn k, void *arg);

/* A value, or NULL. */
const char *hsession_get(const struct hsession *s, const char *key);
/* Set (value copied) or, with NULL, remove a key. 0, -ENOSPC past
 * HSESSION_MAX_KEYS, -ENOMEM. */
int hsession_set(struct hsession *s, const char *key, const char *value);
/* Whether the session was just created (nothing in Redis yet). */
bool hsession_is_new(const struct hsession *s);
/* Give the session a new id at the next save and drop the old one (do
 * it at login: an id known before login must not become a logged-in
 * one). */
void hsession_rotate(struct hsession *s);

/* Store the session if it changed (SET with PX session.idle_s), set the
 * cookie if its id is new (only once stored: a failed save sends no
 * cookie), then run `k`. Failures as for hsession_load. */
int hsession_save(struct hreq *r, struct hsession *s, hsession_fn k, void *arg);

/* Delete the session from Redis and the browser, then run `k`. */
int hsession_destroy(struct hreq *r, struct hsession *s, hsession_fn k, void *arg);

#endif
