/*
 * cache.h - what routes use to talk to Redis through the cache actors
 * (kind "cache"): request messages and their typed replies.
 *
 * DESIGN
 * A route builds a `struct cache_req` holding one or more Redis commands,
 * encoded in RESP by the builders below on the route's own thread, and
 * sends it with hreq_call(r, &cache_kind, cache_req_call(q), k, arg). A cache
 * actor pipelines the commands on its connection (storage/rconn.h) and
 * sends the message back once every command is answered; the continuation
 * reads one typed value per command with cache_result(). Builders never
 * fail loudly: the first error (-ENOMEM, -EINVAL) is remembered and the
 * call comes back with it as its status, so a route may build without
 * checking each step.
 *
 * Reply status (call.h): 0 every command answered (a missing key is a
 * CACHE_NIL value, not an error); -ENOTCONN / -ECONNREFUSED Redis is down
 * (503); -ETIMEDOUT no reply by the deadline (504); -EAGAIN Redis asked for
 * a retry (LOADING, BUSY, OOM, NOREPLICAS, MISCONF...: 503); -EBADMSG Redis
 * refused a command as invalid (WRONGTYPE...: 500; the cache actor logs
 * Redis' text, the client never sees it), also when the error is an
 * element of an array reply (EXEC, a script's table). With a non-zero
 * status the values may be missing.
 *
 * Ownership: the request belongs to the caller until hreq_call (which
 * frees it on error), then to the cache actor, then to the continuation;
 * the values belong to the reply and are freed with it when the
 * continuation returns (copy what you keep). A request never sent is freed
 * with msg_free(cache_req_call(q)).
 *
 * Thread: builders and readers run on the caller's thread (any actor).
 */
#ifndef ACTORD_CACHE_H
#define ACTORD_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "actors/call.h"

/* The Redis cache actors (pool "cache", actors.cache). */
extern const struct actor_kind cache_kind;

struct cache_req;

enum cache_type {
	CACHE_NIL,
	CACHE_STRING,     /* bulk string */
	CACHE_STATUS,     /* simple string, e.g. "OK" */
	CACHE_INTEGER,
	CACHE_ARRAY,
};

/* One value of a reply, as Redis sent it (RESP2). Crosses mailboxes inside
 * the reply message; read-only for the continuation. */
struct cache_value {
	enum cache_type type;
	int64_t integer;              /* CACHE_INTEGER */
	const char *str;              /* CACHE_STRING / STATUS: NUL-terminated */
	size_t len;
	size_t nelem;                 /* CACHE_ARRAY */
	const struct cache_value *elem;
};

/* A new request with no command yet; NULL on ENOMEM. */
struct cache_req *cache_req_new(void);

/* Add a command. Keys and values are binary-safe (pointer + length).
 * Each returns 0 or the request's first error. */
int cache_req_command(struct cache_req *q, unsigned argc, const char *const *argv,
		      const size_t *argvlen);
int cache_req_get(struct cache_req *q, const char *key, size_t klen);
/* SET key value, with PX ttl_ms unless ttl_ms is 0. */
int cache_req_set(struct cache_req *q, const char *key, size_t klen, const void *val,
		  size_t vlen, uint32_t ttl_ms);
int cache_req_mget(struct cache_req *q, unsigned nkeys, const char *const *keys,
		   const size_t *klens);
int cache_req_del(struct cache_req *q, const char *key, size_t klen);
int cache_req_incr(struct cache_req *q, const char *key, size_t klen);
/* PEXPIRE key ttl_ms. */
int cache_req_expire(struct cache_req *q, const char *key, size_t klen, uint32_t ttl_ms);

/* Commands added so far. */
unsigned cache_req_count(const struct cache_req *q);

/* The call message to pass to hreq_call / call_send. */
struct call_msg *cache_req_call(struct cache_req *q);

/* In the continuation: the value answering command `i` (in the order they
 * were added), or NULL if it has none (failed call, i out of range). */
const struct cache_value *cache_result(const struct call_msg *reply, unsigned i);

#endif
