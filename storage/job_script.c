/*
 * job_script.c - the Lua scripts that make every step of a job one atomic
 * Redis operation, and their loading (job_internal.h).
 *
 * DESIGN
 * Each state change of a job touches several keys (the job hash, the
 * stream and its consumer group, the delayed set, the dead-letter stream)
 * and must happen entirely or not at all, also across actord instances:
 * a script runs atomically in Redis, so "done" and XACK, or "failed" and
 * the scheduled retry, are one step. Timestamps come from Redis' TIME, one
 * clock for every instance.
 *
 * Ownership rules the scripts enforce (docs/JOBS.md):
 *  - START runs a delivery only if it is still pending for this consumer,
 *    and counts a run of a job whose previous run never reported as a
 *    redelivery (a crash or a kill), which uses an attempt: a job that
 *    kills every worker that runs it goes dead instead of looping; but a
 *    START sent again after its reply was lost (the same run token) is
 *    the same run;
 *  - DONE acknowledges if the delivery is pending for anyone: the first
 *    run to succeed wins, a later one finds nothing and is "stale";
 *  - FAIL acts only for the delivery's current owner, so a worker that
 *    lost its job to a reclaim cannot reschedule it.
 * DONE and FAIL tell a report sent again after its reply was lost (the
 * first was stored) from a stale one: DONE by the run's token, FAIL by its
 * attempt and start time, so it is counted as what it was, not as a
 * duplicate.
 * Acknowledged entries are deleted from the stream (XDEL), so the stream
 * holds exactly the jobs not finished yet; it is never trimmed by length,
 * which could drop unread entries.
 *
 * Loading: SCRIPT LOAD on every new command connection; until its answer
 * (or after a NOSCRIPT) a script is sent whole with EVAL. A NOSCRIPT means
 * the script did not run: an enqueue or a start refused so is sent again
 * at once (whole), an outcome goes through its usual retry.
 *
 * Thread: the job actor's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_internal.h"
#include "actors/actor.h"
#include "actors/log.h"
#include "base/clock.h"

#define NOW_FN "local function now() local t = redis.call('TIME') " \
	       "return t[1] * 1000 + math.floor(t[2] / 1000) end\n"
#define SETTLE_FN "local function settle() redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) " \
		  "redis.call('XDEL', KEYS[1], ARGV[2]) end\n"
/* A dead letter, the stream cut to its newest `max` entries (0: uncut).
 * Exact MAXLEN, not '~': dead letters are rare, and '~' would keep up to a
 * whole stream node (100 entries) past the limit an operator set. */
#define BURY_FN "local function bury(key, max, ...) if tonumber(max) > 0 then " \
		"redis.call('XADD', key, 'MAXLEN', max, '*', ...) " \
		"else redis.call('XADD', key, '*', ...) end end\n"
#define MAX_ARGS 20
#define GROUP_BACKOFF_MIN_MS 50
#define GROUP_BACKOFF_MAX_MS 5000

/* KEYS: stream, job hash[, idempotency key]
 * ARGV: id, type, payload, idempotency ttl (s) */
static const char ENQUEUE[] =
	NOW_FN
	"if #KEYS > 2 then\n"
	"  local prev = redis.call('GET', KEYS[3])\n"
	"  if prev then return {prev, 0} end\n"
	"end\n"
	"redis.call('XADD', KEYS[1], '*', 'id', ARGV[1])\n"
	"redis.call('HSET', KEYS[2], 'type', ARGV[2], 'payload', ARGV[3], 'state', 'queued',\n"
	"  'attempts', 0, 'redeliveries', 0, 'created', now())\n"
	"if #KEYS > 2 then redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[4]) end\n"
	"return {ARGV[1], 1}\n";

/* KEYS: stream, job hash, dead stream
 * ARGV: group, entry id, consumer, job id, max attempts, result ttl (s),
 *       run token, dead letters kept
 * Returns {'run', type, payload, attempt, redelivery 0/1, started (ms)},
 * or {'stale'}, {'skip'}, {'dead'}. The run token is random, made by the
 * job actor for one take of a delivery and sent with every START of it:
 * a job running under the same token was started by a START of this very
 * take whose reply was lost (the actor knows it did not run it), so it is
 * the same run, not a redelivery: nothing is counted again. */
static const char START[] =
	NOW_FN SETTLE_FN BURY_FN
	"local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)\n"
	"if #p == 0 or p[1][2] ~= ARGV[3] then return {'stale'} end\n"
	"local h = redis.call('HMGET', KEYS[2], 'state', 'type', 'payload', 'attempts', 'run',\n"
	"  'started')\n"
	"if not h[1] or h[1] == 'done' or h[1] == 'dead' then settle() return {'skip'} end\n"
	"if h[1] == 'running' and h[5] == ARGV[7] then\n"
	"  return {'run', h[2], h[3], tonumber(h[4]), 0, tonumber(h[6])}\n"
	"end\n"
	"local n = now()\n"
	"local attempts = (tonumber(h[4]) or 0) + 1\n"
	"local again = h[1] == 'running'\n"
	"if again and attempts > tonumber(ARGV[5]) then\n"
	"  settle()\n"
	"  local err = 'abandoned: its worker stopped during each of its ' .. (attempts - 1) .. ' runs'\n"
	"  redis.call('HSET', KEYS[2], 'state', 'dead', 'last_error', err, 'finished', n)\n"
	"  bury(KEYS[3], ARGV[8], 'id', ARGV[4], 'type', h[2] or '', 'payload', h[3] or '',\n"
	"    'attempts', attempts - 1, 'error', err)\n"
	"  if tonumber(ARGV[6]) > 0 then redis.call('EXPIRE', KEYS[2], ARGV[6]) end\n"
	"  return {'dead'}\n"
	"end\n"
	"redis.call('HSET', KEYS[2], 'state', 'running', 'attempts', attempts, 'started', n,\n"
	"  'worker', ARGV[3], 'run', ARGV[7])\n"
	"if again then redis.call('HINCRBY', KEYS[2], 'redeliveries', 1) end\n"
	"return {'run', h[2], h[3], attempts, again and 1 or 0, n}\n";

/* KEYS: stream, job hash
 * ARGV: group, entry id, result, result ttl (s), run token
 * Returns 1 stored, 2 stored already by this very run (a DONE sent again
 * after its reply was lost), 0 stale. The run is named by its token, kept
 * as `done_run`: not by `worker` and `attempts`, which name the last run
 * started, so a run taken over by a reclaim whose older run stored its
 * outcome first would take that outcome for its own. */
static const char DONE[] =
	NOW_FN SETTLE_FN
	"local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)\n"
	"if #p == 0 then\n"
	"  local h = redis.call('HMGET', KEYS[2], 'state', 'done_run')\n"
	"  if h[1] == 'done' and h[2] == ARGV[5] then return 2 end\n"
	"  return 0\n"
	"end\n"
	"settle()\n"
	"redis.call('HSET', KEYS[2], 'state', 'done', 'result', ARGV[3], 'finished', now(),\n"
	"  'done_run', ARGV[5])\n"
	"redis.call('HDEL', KEYS[2], 'next_attempt')\n"
	"if tonumber(ARGV[4]) > 0 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end\n"
	"return 1\n";

/* KEYS: stream, job hash, delayed set, dead stream
 * ARGV: group, entry id, consumer, job id, error, max attempts, delay (ms),
 *       result ttl (s), attempt, started (ms; START's), dead letters kept
 * Returns {'retry', ms until due}, {'dead'}, {'skip'} or {'stale'}. Not
 * pending for us but this very run's failure recorded already (its
 * attempt, started at its start time: a FAIL sent again after its reply
 * was lost) answers as the first one was stored: a retry (due in what is
 * left of the wait) or, if it made the job dead and nothing ran since,
 * dead. */
static const char FAIL[] =
	NOW_FN SETTLE_FN BURY_FN
	/* The stored failures, or none if they are not a JSON list (another
	 * client wrote the hash): a Lua error after settle() would leave the
	 * job acknowledged, deleted from the stream and "running" for ever,
	 * as Redis keeps a script's writes made before its error. */
	"local function failures_of(text)\n"
	"  local ok, f = pcall(cjson.decode, text or '[]')\n"
	"  if not ok or type(f) ~= 'table' then return {} end\n"
	"  for k, v in pairs(f) do\n"
	"    if type(k) ~= 'number' or type(v) ~= 'table' then return {} end\n"
	"  end\n"
	"  return f\n"
	"end\n"
	"local function stored()\n"
	"  local h = redis.call('HMGET', KEYS[2], 'state', 'attempts', 'failures', 'next_attempt')\n"
	"  local f = failures_of(h[3])\n"
	"  local attempt, started = tonumber(ARGV[9]), tonumber(ARGV[10])\n"
	"  for i = #f, 1, -1 do\n"
	"    if f[i].attempt == attempt and f[i].started == started then\n"
	"      if h[1] == 'dead' and i == #f and tonumber(h[2]) == attempt then return {'dead'} end\n"
	"      local wait = 0\n"
	"      if h[1] == 'failed' and h[4] then wait = math.max(0, tonumber(h[4]) - now()) end\n"
	"      return {'retry', wait}\n"
	"    end\n"
	"  end\n"
	"  return {'stale'}\n"
	"end\n"
	"local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)\n"
	"if #p == 0 or p[1][2] ~= ARGV[3] then return stored() end\n"
	"local h = redis.call('HMGET', KEYS[2], 'attempts', 'type', 'payload', 'failures', 'started')\n"
	"if not h[2] then settle() return {'skip'} end\n"
	"local n = now()\n"
	"local attempts = tonumber(h[1]) or 0\n"
	"local f = failures_of(h[4])\n"
	"f[#f + 1] = {attempt = attempts, started = tonumber(h[5]), failed = n, error = ARGV[5]}\n"
	"local failures = cjson.encode(f)\n"
	"settle()\n"
	"if attempts >= tonumber(ARGV[6]) then\n"
	"  redis.call('HSET', KEYS[2], 'state', 'dead', 'last_error', ARGV[5], 'finished', n,\n"
	"    'failures', failures)\n"
	"  redis.call('HDEL', KEYS[2], 'next_attempt')\n"
	"  bury(KEYS[4], ARGV[11], 'id', ARGV[4], 'type', h[2], 'payload', h[3] or '',\n"
	"    'attempts', attempts, 'error', ARGV[5])\n"
	"  if tonumber(ARGV[8]) > 0 then redis.call('EXPIRE', KEYS[2], ARGV[8]) end\n"
	"  return {'dead'}\n"
	"end\n"
	"local due = n + tonumber(ARGV[7])\n"
	"redis.call('HSET', KEYS[2], 'state', 'failed', 'last_error', ARGV[5], 'next_attempt', due,\n"
	"  'failures', failures)\n"
	"redis.call('ZADD', KEYS[3], due, ARGV[4])\n"
	"return {'retry', tonumber(ARGV[7])}\n";

/* KEYS: delayed set, stream   ARGV: most jobs to move
 * Returns {moved, ms until the next one is due or -1}. */
static const char MOVE[] =
	NOW_FN
	"local n = now()\n"
	"local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', n, 'LIMIT', 0, ARGV[1])\n"
	"for _, id in ipairs(ids) do\n"
	"  redis.call('ZREM', KEYS[1], id)\n"
	"  redis.call('XADD', KEYS[2], '*', 'id', id)\n"
	"end\n"
	"local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
	"local wait = -1\n"
	"if nxt[2] then wait = math.max(0, tonumber(nxt[2]) - n) end\n"
	"return {#ids, wait}\n";

/* KEYS: stream   ARGV: group, consumer, entry ids...
 * Resets the idle time of the deliveries this consumer still owns. */
static const char REFRESH[] =
	"local kept = 0\n"
	"for i = 3, #ARGV do\n"
	"  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)\n"
	"  if #p > 0 and p[1][2] == ARGV[2] then\n"
	"    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')\n"
	"    kept = kept + 1\n"
	"  end\n"
	"end\n"
	"return kept\n";

/* KEYS: stream, delayed set: jobs not finished. */
static const char COUNT[] =
	"return redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])\n";

static const char *const scripts[JS_NSCRIPTS] = {
	[JS_ENQUEUE] = ENQUEUE, [JS_START] = START, [JS_DONE] = DONE, [JS_FAIL] = FAIL,
	[JS_MOVE] = MOVE, [JS_REFRESH] = REFRESH, [JS_COUNT] = COUNT,
};

int job_script_run(struct job_actor *ja, enum job_script s, uint64_t deadline_ns, int nkeys,
		   const char **keys, int nargs, const char **args, const size_t *arglens,
		   rconn_reply_fn fn, void *arg)
{
	const char *stack_argv[MAX_ARGS], **argv = stack_argv;
	size_t stack_lens[MAX_ARGS], *lens = stack_lens;
	int argc = 3 + nkeys + nargs, rc;
	char nk[12];

	if (argc > MAX_ARGS) {
		argv = malloc(sizeof(*argv) * (size_t)argc);
		lens = malloc(sizeof(*lens) * (size_t)argc);
		if (argv == NULL || lens == NULL) {
			free(argv);
			free(lens);
			return -ENOMEM;
		}
	}
	if (ja->sha[s][0] != '\0') {
		argv[0] = "EVALSHA";
		argv[1] = ja->sha[s];
	} else {
		argv[0] = "EVAL";
		argv[1] = scripts[s];
	}
	argv[2] = nk;
	lens[0] = strlen(argv[0]);
	lens[1] = strlen(argv[1]);
	lens[2] = (size_t)snprintf(nk, sizeof(nk), "%d", nkeys);
	for (int i = 0; i < nkeys; i++) {
		argv[3 + i] = keys[i];
		lens[3 + i] = strlen(keys[i]);
	}
	for (int i = 0; i < nargs; i++) {
		argv[3 + nkeys + i] = args[i];
		lens[3 + nkeys + i] = arglens != NULL ? arglens[i] : strlen(args[i]);
	}
	rc = rconn_command(ja->cmd, deadline_ns, fn, arg, argc, argv, lens);
	if (argv != stack_argv) {
		free(argv);
		free(lens);
	}
	return rc;
}

static void arm_setup(struct job_actor *ja)
{
	if (ja->stopping || ev_is_active(&ja->setup_w))
		return;
	ev_timer_set(&ja->setup_w, 0.05, 0.);
	ev_timer_start(actor_loop(ja->a), &ja->setup_w);
}

static bool any_loaded(const struct job_actor *ja)
{
	for (int s = 0; s < JS_NSCRIPTS; s++)
		if (ja->sha[s][0] != '\0')
			return true;
	return false;
}

bool job_script_missing(int status, const redisReply *reply)
{
	return status == 0 && reply->type == REDIS_REPLY_ERROR &&
	       strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

int job_reply_status(struct job_actor *ja, int status, const redisReply *reply,
		     const char *what)
{
	if (status != 0)
		return status;
	if (reply->type != REDIS_REPLY_ERROR)
		return 0;
	if (job_script_missing(0, reply)) {
		if (any_loaded(ja))
			log_warn("jobs: redis no longer has the job scripts (restarted or "
				 "SCRIPT FLUSH): sending them whole until they are loaded again");
		memset(ja->sha, 0, sizeof(ja->sha));
		arm_setup(ja);
		return -EAGAIN;
	}
	if (strstr(reply->str, "NOGROUP") != NULL) {
		/* The stream or its group vanished (a Redis without its data,
		 * an operator): make them again. */
		log_warn("jobs: %s: consumer group %s missing on %s: creating it again",
			 what, ja->group, ja->stream);
		ja->group_ready = false;
		arm_setup(ja);
		return -EAGAIN;
	}
	status = rconn_reply_status(reply);
	/* -EAGAIN: nothing was written; the caller answers 503 or tries
	 * again. Said when an operator has something to fix (memory, the
	 * replicas, the disk); a server loading or failing over cures itself
	 * and is asked again every 50 ms by the set-up: no line each time. */
	if (status == -EAGAIN && strncmp(reply->str, "OOM", 3) != 0 &&
	    strncmp(reply->str, "NOREPLICAS", 10) != 0 && strncmp(reply->str, "MISCONF", 7) != 0)
		return status;
	log_warn("jobs: redis refused %s%s: %.*s", what,
		 status == -EAGAIN ? " for now" : "", (int)reply->len, reply->str);
	return status;
}

static void on_loaded(void *arg, int status, const redisReply *reply)
{
	struct job_load *l = arg;

	if (status != 0 || l->ja->stopping)
		return;
	if (reply->type == REDIS_REPLY_STRING && reply->len == 40)
		memcpy(l->ja->sha[l->s], reply->str, 41);
	else if (job_reply_status(l->ja, 0, reply, "SCRIPT LOAD") == -EAGAIN)
		arm_setup(l->ja);    /* e.g. LOADING: EVAL works meanwhile */
}

static void on_group(void *arg, int status, const redisReply *reply)
{
	struct job_actor *ja = arg;

	ja->setup_pending = false;
	if (status != 0 || ja->stopping)
		return;
	if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0) {
		/* E.g. WRONGTYPE: the stream's key holds something else. Only an
		 * operator cures that: ask again with backoff, so that the
		 * warning (job_reply_status) does not flood the log. */
		job_reply_status(ja, 0, reply, "XGROUP CREATE");
		ja->group_backoff_ms = ja->group_backoff_ms == 0 ? GROUP_BACKOFF_MIN_MS
				       : ja->group_backoff_ms * 2 > GROUP_BACKOFF_MAX_MS
				       ? GROUP_BACKOFF_MAX_MS : ja->group_backoff_ms * 2;
		ja->group_retry_ns = clock_now_ns() + ja->group_backoff_ms * NS_PER_MS;
		ev_timer_stop(actor_loop(ja->a), &ja->setup_w);
		ev_timer_set(&ja->setup_w, ja->group_backoff_ms / 1000.0, 0.);
		ev_timer_start(actor_loop(ja->a), &ja->setup_w);
		return;
	}
	ja->group_backoff_ms = 0;
	ja->group_ready = true;
	job_read(ja);
	job_reclaim(ja);
	job_move_due(ja);
}

/* What "nothing accepted is lost" needs from Redis (docs/JOBS.md). */
static void on_persistence(void *arg, int status, const redisReply *reply)
{
	struct job_actor *ja = arg;
	const char *aof = NULL, *fsync = NULL, *policy = NULL;

	if (status != 0 || ja->stopping || reply->type != REDIS_REPLY_ARRAY)
		return;       /* CONFIG may be disabled (managed Redis): say nothing */
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		const char *k = reply->element[i]->str, *v = reply->element[i + 1]->str;

		if (reply->element[i]->type != REDIS_REPLY_STRING ||
		    reply->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k, "appendonly") == 0)
			aof = v;
		else if (strcmp(k, "appendfsync") == 0)
			fsync = v;
		else if (strcmp(k, "maxmemory-policy") == 0)
			policy = v;
	}
	if (aof != NULL && strcmp(aof, "yes") != 0)
		log_warn("jobs: redis runs with appendonly %s: a Redis crash or restart loses "
			 "accepted jobs (set appendonly yes, appendfsync always)", aof);
	else if (fsync != NULL && strcmp(fsync, "always") != 0)
		log_warn("jobs: redis runs with appendfsync %s: a crash of the Redis host may "
			 "lose up to about a second of accepted jobs (set appendfsync always)", fsync);
	if (policy != NULL && strcmp(policy, "noeviction") != 0)
		log_warn("jobs: redis maxmemory-policy is %s: under memory pressure Redis may "
			 "evict job keys (set noeviction)", policy);
}

void job_setup(struct job_actor *ja)
{
	if (ja->stopping || !rconn_connected(ja->cmd))
		return;
	if (!ja->group_ready && !ja->setup_pending && clock_now_ns() >= ja->group_retry_ns) {
		/* From 0, not $: entries added before the group existed are
		 * jobs too. MKSTREAM: an empty queue is fine. */
		const char *argv[] = { "XGROUP", "CREATE", ja->stream, ja->group, "0", "MKSTREAM" };
		size_t lens[6];

		for (int i = 0; i < 6; i++)
			lens[i] = strlen(argv[i]);
		if (rconn_command(ja->cmd, 0, on_group, ja, 6, argv, lens) == 0)
			ja->setup_pending = true;
		else
			arm_setup(ja);
	}
	if (!ja->persistence_checked && actor_index(ja->a) == 0) {
		const char *argv[] = { "CONFIG", "GET", "appendonly", "appendfsync",
				       "maxmemory-policy" };
		const size_t lens[] = { 6, 3, 10, 11, 16 };

		if (rconn_command(ja->cmd, 0, on_persistence, ja, 5, argv, lens) == 0)
			ja->persistence_checked = true;
	}
	for (int s = 0; s < JS_NSCRIPTS; s++) {
		const char *argv[] = { "SCRIPT", "LOAD", scripts[s] };
		const size_t lens[] = { 6, 4, strlen(scripts[s]) };

		if (ja->sha[s][0] != '\0')
			continue;
		ja->loads[s] = (struct job_load){ ja, (enum job_script)s };
		rconn_command(ja->cmd, 0, on_loaded, &ja->loads[s], 3, argv, lens);
	}
}

void job_setup_lost(struct job_actor *ja)
{
	memset(ja->sha, 0, sizeof(ja->sha));
	ja->group_ready = false;
	ja->group_retry_ns = 0;       /* a new connection tries at once */
	ja->persistence_checked = false;
}
