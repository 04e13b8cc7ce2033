/*
 * cache_lock.c - the Redis lock's messages (cache_lock.h).
 *
 * Thread: the caller's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "cache_lock.h"

/* One command of NUL-terminated words. */
static int add_words(struct cache_req *q, unsigned argc, const char *const *argv)
{
	size_t lens[8];

	for (unsigned i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	return cache_req_command(q, argc, argv, lens);
}

/* Compare-and-delete, or compare-and-shorten when ARGV[2] > 0. */
static const char release_lua[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then "
	"if tonumber(ARGV[2]) > 0 then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
	"return redis.call('DEL', KEYS[1]) end return 0";

struct call_msg *cache_lock_acquire(const char *key, const char *token, uint32_t ttl_ms)
{
	struct cache_req *q = cache_req_new();
	char ttl[16];
	const char *argv[] = { "SET", key, token, "NX", "PX", ttl };

	if (q == NULL)
		return NULL;
	snprintf(ttl, sizeof(ttl), "%u", ttl_ms > 0 ? ttl_ms : 1);
	add_words(q, 6, argv);
	return cache_req_call(q);
}

struct call_msg *cache_lock_release(const char *key, const char *token, uint32_t keep_ms)
{
	struct cache_req *q = cache_req_new();
	char keep[16];
	const char *argv[] = { "EVAL", release_lua, "1", key, token, keep };

	if (q == NULL)
		return NULL;
	snprintf(keep, sizeof(keep), "%u", keep_ms);
	add_words(q, 6, argv);
	return cache_req_call(q);
}

int cache_lock_acquired(const struct call_msg *reply)
{
	const struct cache_value *v = cache_result(reply, 0);

	if (v == NULL)
		return -EBADMSG;
	if (v->type == CACHE_NIL)
		return 0;
	return v->type == CACHE_STATUS && strcmp(v->str, "OK") == 0 ? 1 : -EBADMSG;
}
