/*
 * cache_actor.c - the cache actors (kind "cache"): Redis for the routes.
 *
 * DESIGN
 * Each actor owns one rconn (a pipelined Redis connection on its own
 * loop) and its own mailbox. Messages in: struct cache_req (cache.h), each
 * with one or more RESP-encoded commands. The actor hands every command to
 * hiredis as it drains its mailbox (up to redis.pipeline_max messages per
 * loop iteration), so everything the handlers asked for in one iteration
 * leaves in one write; replies come back in order and each request is
 * sent back to its caller (call_reply) once all its commands are answered.
 *
 * Deadlines: each command gets the earlier of the call's deadline and
 * now + redis.command_timeout_ms (rconn answers -ETIMEDOUT). Errors: see
 * cache.h; Redis' error text is logged here and never sent back.
 *
 * What it does not do: retry, or wait for Redis while it is down (rconn
 * refuses at once, the caller answers 503).
 *
 * Thread: the cache actor's own; cache_add_pool on the controlling thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"
#include "rconn.h"
#include "storage.h"
#include "storage_pool.h"
#include "actors/actor.h"
#include "actors/log.h"
#include "base/clock.h"
#include "base/log_budget.h"

const struct actor_kind cache_kind = { "cache" };


/* A refusal every request meets (a key of the wrong type, a Redis that
 * refuses writes) would write a line per request: at most this many a
 * second per actor (the backend's errors_total still counts each). */
#define CACHE_LOG_PER_S 5

/* Owner: the cache actor thread. */
struct cache_actor {
	struct actor *a;
	struct rconn *conn;
	struct log_budget log_budget; /* "redis refused a command" lines */
};

/* ---- Copying a hiredis reply into one block owned by the request ---- */

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Bytes a value needs besides its own struct. */
static size_t extra_size(const redisReply *r)
{
	size_t n = 0;

	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
		return align8(r->len + 1);
	if (r->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < r->elements; i++)
			n += sizeof(struct cache_value) + extra_size(r->element[i]);
	return n;
}

/* Fill `v` from `r`, taking its strings and elements from `*room`. */
static void fill(struct cache_value *v, const redisReply *r, char **room)
{
	memset(v, 0, sizeof(*v));
	switch (r->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS: {
		char *s = *room;

		v->type = r->type == REDIS_REPLY_STRING ? CACHE_STRING : CACHE_STATUS;
		memcpy(s, r->str, r->len);
		s[r->len] = '\0';
		v->str = s;
		v->len = r->len;
		*room += align8(r->len + 1);
		break;
	}
	case REDIS_REPLY_INTEGER:
		v->type = CACHE_INTEGER;
		v->integer = r->integer;
		break;
	case REDIS_REPLY_ARRAY: {
		struct cache_value *elem = (struct cache_value *)(void *)*room;

		v->type = CACHE_ARRAY;
		v->nelem = r->elements;
		v->elem = elem;
		*room += sizeof(*elem) * r->elements;
		for (size_t i = 0; i < r->elements; i++)
			fill(&elem[i], r->element[i], room);
		break;
	}
	default:
		v->type = CACHE_NIL;
		break;
	}
}

static struct cache_value *copy_reply(const redisReply *r)
{
	struct cache_value *v = malloc(sizeof(*v) + extra_size(r));
	char *room;

	if (v == NULL)
		return NULL;
	room = (char *)(v + 1);
	fill(v, r, &room);
	return v;
}

/* The first error inside an array reply (EXEC's, a script's), or NULL:
 * copied as a value it would read as a missing key. */
static const redisReply *nested_error(const redisReply *r)
{
	const redisReply *e;

	if (r->type == REDIS_REPLY_ERROR)
		return r;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if ((e = nested_error(r->element[i])) != NULL)
			return e;
	return NULL;
}

/* ---- Messages ---- */

static void on_reply(void *arg, int status, const redisReply *reply)
{
	struct cache_cmd *cmd = arg;
	struct cache_req *q = cmd->req;

	if (status == 0) {
		const redisReply *err = nested_error(reply);

		status = err != NULL ? rconn_reply_status(err) : 0;
		if (status != 0) {
			struct cache_actor *ca = actor_state(actor_self());

			if (log_budget_take(&ca->log_budget, clock_now_ns(), CACHE_LOG_PER_S))
				log_warn("redis refused a command: %.*s", (int)err->len, err->str);
		} else {
			cmd->result = copy_reply(reply);
			if (cmd->result == NULL)
				status = -ENOMEM;
		}
	}
	if (status != 0 && q->status == 0)
		q->status = status;
	if (--q->pending == 0)
		call_reply(&q->c, q->status);
}

static void cache_message(struct actor *a, struct msg *m)
{
	struct cache_actor *ca = actor_state(a);
	const struct ad_config *cfg = config_current();
	struct cache_req *q;
	uint64_t now = clock_now_ns(), deadline;

	if (m->type != CACHE_MSG_REQ) {
		log_warn("unexpected message type %#x dropped", m->type);
		msg_free(m);
		return;
	}
	q = (struct cache_req *)(void *)m;
	q->pending = 0;
	q->status = q->error;
	if (q->status == 0 && q->ncmds == 0)
		q->status = -EINVAL;
	deadline = now + (uint64_t)(cfg != NULL ? cfg->redis.command_timeout_ms : 1000) * NS_PER_MS;
	if (q->c.deadline_ns != 0 && q->c.deadline_ns < deadline)
		deadline = q->c.deadline_ns;
	if (q->status == 0 && deadline <= now)
		q->status = -ETIMEDOUT;
	for (uint32_t i = 0; q->status == 0 && i < q->ncmds; i++) {
		struct cache_cmd *cmd = &q->cmds[i];
		int rc;

		cmd->req = q;
		rc = rconn_send(ca->conn, q->buf + cmd->off, cmd->len, deadline, on_reply, cmd);
		if (rc != 0)
			q->status = rc;
		else
			q->pending++;
	}
	if (q->pending == 0)
		call_reply(&q->c, q->status);
}

static int cache_start(struct actor *a)
{
	struct storage_pool *p = actor_user(a);
	struct cache_actor *ca = calloc(1, sizeof(*ca));
	struct rconn_opts opts = {
		.stats = &p->stats[actor_index(a)],
		.last_error = &p->last_error[actor_index(a)],
	};

	if (ca == NULL)
		return -ENOMEM;
	ca->a = a;
	ca->conn = rconn_create(actor_loop(a), &opts);
	if (ca->conn == NULL) {
		free(ca);
		return -ENOMEM;
	}
	actor_set_state(a, ca);
	return 0;
}

static void cache_stop(struct actor *a)
{
	struct cache_actor *ca = actor_state(a);

	if (ca == NULL)
		return;
	rconn_destroy(ca->conn);   /* answers what is in flight: -ESHUTDOWN */
	actor_set_state(a, NULL);
	free(ca);
}

/* Leaving the pool: done once every command sent has its reply. */
static bool cache_idle(struct actor *a)
{
	const struct cache_actor *ca = actor_state(a);

	return !rconn_busy(ca->conn);
}

static const struct actor_ops cache_ops = {
	.start = cache_start,
	.message = cache_message,
	.stop = cache_stop,
	.idle = cache_idle,
};

int cache_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		   char *err, size_t errlen)
{
	struct actor_pool_spec spec = {
		.kind = &cache_kind,
		.count = cfg->cache.count,
		.max = CONFIG_MAX_ACTORS,
		.mbox_capacity = cfg->cache.mailbox,
		/* Drain a batch per iteration: it leaves as one pipelined write. */
		.budget = cfg->redis.pipeline_max,
		.ops = &cache_ops,
	};

	return storage_pool_add(sys, &spec, "redis", false, err, errlen) == ACTOR_ADDR_NONE ? -EINVAL : 0;
}
