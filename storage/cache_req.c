/*
 * cache_req.c - building cache requests and reading their replies
 * (cache.h).
 *
 * DESIGN
 * Commands are encoded in RESP straight into the request's buffer (inline
 * for small requests, so a GET costs one allocation: the message), which
 * the cache actor hands to hiredis unchanged. Encoding here spreads the
 * work over the callers' threads instead of the cache actor's.
 *
 * Thread: the caller's (builders, cache_result); cache_req_free wherever
 * the message is freed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"

static void cache_req_free(struct msg *m)
{
	struct cache_req *q = (struct cache_req *)(void *)m;

	for (uint32_t i = 0; i < q->ncmds; i++)
		free(q->cmds[i].result);
	if (q->cmds != q->cmds_inline)
		free(q->cmds);
	if (q->buf != q->buf_inline)
		free(q->buf);
	free(q);
}

struct cache_req *cache_req_new(void)
{
	struct cache_req *q = malloc(sizeof(*q));

	if (q == NULL)
		return NULL;
	call_msg_init(&q->c, CACHE_MSG_REQ, cache_req_free, 0);
	q->error = 0;
	q->ncmds = 0;
	q->cmds_cap = CACHE_INLINE_CMDS;
	q->pending = 0;
	q->status = 0;
	q->cmds = q->cmds_inline;
	q->buf = q->buf_inline;
	q->len = 0;
	q->cap = sizeof(q->buf_inline);
	return q;
}

static int fail(struct cache_req *q, int err)
{
	if (q->error == 0)
		q->error = err;
	return q->error;
}

static int reserve(struct cache_req *q, size_t more)
{
	size_t cap = q->cap;
	char *p;

	if (q->len + more <= cap)
		return 0;
	while (cap < q->len + more)
		cap *= 2;
	if (q->buf == q->buf_inline) {
		p = malloc(cap);
		if (p != NULL)
			memcpy(p, q->buf, q->len);
	} else {
		p = realloc(q->buf, cap);
	}
	if (p == NULL)
		return -ENOMEM;
	q->buf = p;
	q->cap = cap;
	return 0;
}

static int add_cmd_slot(struct cache_req *q)
{
	struct cache_cmd *p;

	if (q->ncmds < q->cmds_cap)
		return 0;
	if (q->cmds == q->cmds_inline) {
		p = malloc(sizeof(*p) * q->cmds_cap * 2);
		if (p != NULL)
			memcpy(p, q->cmds, sizeof(*p) * q->ncmds);
	} else {
		p = realloc(q->cmds, sizeof(*p) * q->cmds_cap * 2);
	}
	if (p == NULL)
		return -ENOMEM;
	q->cmds = p;
	q->cmds_cap *= 2;
	return 0;
}

static void put(struct cache_req *q, const void *p, size_t n)
{
	memcpy(q->buf + q->len, p, n);
	q->len += n;
}

/* Encode one command as a RESP array of bulk strings. */
int cache_req_command(struct cache_req *q, unsigned argc, const char *const *argv,
		      const size_t *argvlen)
{
	size_t need = 16, start = q->len;
	char head[32];
	int n;

	if (q->error != 0)
		return q->error;
	if (argc == 0 || q->ncmds == UINT32_MAX)
		return fail(q, -EINVAL);
	for (unsigned i = 0; i < argc; i++)
		need += argvlen[i] + 32;
	if (add_cmd_slot(q) != 0 || reserve(q, need) != 0)
		return fail(q, -ENOMEM);
	n = snprintf(head, sizeof(head), "*%u\r\n", argc);
	put(q, head, (size_t)n);
	for (unsigned i = 0; i < argc; i++) {
		n = snprintf(head, sizeof(head), "$%zu\r\n", argvlen[i]);
		put(q, head, (size_t)n);
		put(q, argv[i], argvlen[i]);
		put(q, "\r\n", 2);
	}
	if (q->len - start > UINT32_MAX || start > UINT32_MAX)
		return fail(q, -EINVAL);
	q->cmds[q->ncmds++] = (struct cache_cmd){
		.off = (uint32_t)start,
		.len = (uint32_t)(q->len - start),
	};
	return 0;
}

#define CMD(...) \
	cache_req_command(q, sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(char *), \
			  (const char *[]){ __VA_ARGS__ }, lens)

int cache_req_get(struct cache_req *q, const char *key, size_t klen)
{
	const size_t lens[] = { 3, klen };

	return CMD("GET", key);
}

int cache_req_set(struct cache_req *q, const char *key, size_t klen, const void *val,
		  size_t vlen, uint32_t ttl_ms)
{
	char ttl[16];
	const size_t lens[] = { 3, klen, vlen, 2,
				(size_t)snprintf(ttl, sizeof(ttl), "%u", ttl_ms) };

	if (ttl_ms == 0)
		return cache_req_command(q, 3, (const char *[]){ "SET", key, (const char *)val },
					 lens);
	return CMD("SET", key, (const char *)val, "PX", ttl);
}

int cache_req_mget(struct cache_req *q, unsigned nkeys, const char *const *keys,
		   const size_t *klens)
{
	const char **argv;
	size_t *lens;
	int rc;

	if (nkeys == 0)
		return fail(q, -EINVAL);
	argv = malloc(sizeof(*argv) * (nkeys + 1));
	lens = malloc(sizeof(*lens) * (nkeys + 1));
	if (argv == NULL || lens == NULL) {
		free(argv);
		free(lens);
		return fail(q, -ENOMEM);
	}
	argv[0] = "MGET";
	lens[0] = 4;
	memcpy(argv + 1, keys, sizeof(*argv) * nkeys);
	memcpy(lens + 1, klens, sizeof(*lens) * nkeys);
	rc = cache_req_command(q, nkeys + 1, argv, lens);
	free(argv);
	free(lens);
	return rc;
}

int cache_req_del(struct cache_req *q, const char *key, size_t klen)
{
	const size_t lens[] = { 3, klen };

	return CMD("DEL", key);
}

int cache_req_incr(struct cache_req *q, const char *key, size_t klen)
{
	const size_t lens[] = { 4, klen };

	return CMD("INCR", key);
}

int cache_req_expire(struct cache_req *q, const char *key, size_t klen, uint32_t ttl_ms)
{
	char ttl[16];
	const size_t lens[] = { 7, klen, (size_t)snprintf(ttl, sizeof(ttl), "%u", ttl_ms) };

	return CMD("PEXPIRE", key, ttl);
}

unsigned cache_req_count(const struct cache_req *q)
{
	return q->ncmds;
}

struct call_msg *cache_req_call(struct cache_req *q)
{
	return &q->c;
}

const struct cache_value *cache_result(const struct call_msg *reply, unsigned i)
{
	const struct cache_req *q = (const struct cache_req *)(const void *)reply;

	if (reply == NULL || reply->m.type != CACHE_MSG_REQ || i >= q->ncmds)
		return NULL;
	return q->cmds[i].result;
}
