/*
 * job_internal.h - what the job actor's files share: the request layout
 * (job_req.c), the Lua scripts (job_script.c), the actor and its timers
 * (job_actor.c), how deliveries are taken (job_consume.c) and run
 * (job_run.c). Internal to
 * storage/: routes use job.h, job types job_type.h.
 */
#ifndef ACTORD_JOB_INTERNAL_H
#define ACTORD_JOB_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "job.h"
#include "rconn.h"
#include "actors/backend_stats.h"
#include "actors/work_timer.h"
#include "base/counter.h"
#include "base/list.h"
#include "config/config.h"

#define JOB_MSG_REQ 0x4a420001u      /* 'J' 'B' 1 */
#define JOB_KEY_MAX 320              /* a Redis key we build */
#define JOB_ENTRY_ID_MAX 48          /* "<ms>-<seq>" of a stream entry */
#define JOB_CONSUMER_MAX 160
#define JOB_ERROR_MAX 1024           /* bytes of a failure message kept */

enum job_op { JOB_OP_ENQUEUE, JOB_OP_STATUS };

/* Crosses mailboxes: caller -> job actor -> caller; freed by the caller's
 * call_dispatch with msg_free (job_req_free also frees `fields`). */
struct job_req {
	struct call_msg c;            /* MUST be first */
	uint8_t op;                   /* enum job_op */
	bool created;                 /* enqueue reply */
	char id[JOB_ID_LEN + 1];      /* enqueue reply, or the job asked about */
	const char *type;             /* enqueue: into text */
	const char *payload;          /* enqueue: into text */
	size_t payload_len;
	const char *idem;             /* enqueue: into text, NULL if none */
	char **fields;                /* status reply: name, value, ... (one block) */
	unsigned nfields;             /* names + values */
	char text[];
};
_Static_assert(offsetof(struct job_req, c) == 0,
	       "struct job_req is used through a pointer to its c");

/* Counters of one job actor: one writer (its thread), relaxed, read by the
 * metrics collector. */
struct job_counters {
	_Alignas(64)
	_Atomic uint64_t enqueued_total;   /* jobs created */
	_Atomic uint64_t replayed_total;   /* enqueues answered by an Idempotency-Key */
	_Atomic uint64_t unreplicated_total;/* enqueues WAIT could not confirm (503) */
	_Atomic uint64_t started_total;    /* runs started */
	_Atomic uint64_t done_total;       /* runs that succeeded */
	_Atomic uint64_t failed_total;     /* runs that failed, a retry scheduled */
	_Atomic uint64_t failed_dead_total;/* runs that failed with no attempt left */
	_Atomic uint64_t stale_total;      /* runs whose delivery another worker took */
	_Atomic uint64_t retried_total;    /* retries moved back into the stream */
	_Atomic uint64_t reclaimed_total;  /* deliveries taken over (XAUTOCLAIM, own PEL) */
	_Atomic uint64_t redelivered_total;/* runs of a job whose previous run never ended */
	_Atomic uint64_t dead_total;       /* jobs moved to the dead-letter stream */
	_Atomic uint64_t inflight;         /* gauge: runs in progress */
	_Atomic int64_t pending;           /* gauge (actor 0): XLEN + ZCARD; -1 unknown */
};

/* The pool's `user`: filled by job_add_pool, immutable afterwards, except
 * the counters and connection stats (one writer each). Never freed: the
 * metrics collector may read it until exit. */
struct job_pool {
	const struct job_type *types;
	unsigned ntypes;
	unsigned count;
	char instance[128];
	struct backend_stats *stats;       /* [2 * count]: command, read connection */
	_Atomic int *last_error;           /* [2 * count] */
	struct job_counters *ctr;          /* [count] */
};

enum job_script {
	JS_ENQUEUE, JS_START, JS_DONE, JS_FAIL, JS_MOVE, JS_REFRESH, JS_COUNT,
	JS_NSCRIPTS
};

struct job;
struct job_actor;

/* A SCRIPT LOAD's callback context: which script. */
struct job_load {
	struct job_actor *ja;
	enum job_script s;
};

/* Owner: the job actor thread (actor_state). */
struct job_actor {
	struct actor *a;
	struct job_pool *pool;
	struct job_counters *ctr;
	struct rconn *cmd;            /* scripts, enqueues, status, claims */
	struct rconn *rd;             /* XREADGROUP ... BLOCK only */
	struct call_table *calls;     /* job_call */
	char consumer[JOB_CONSUMER_MAX];
	char group[64];
	char stream[JOB_KEY_MAX], delayed[JOB_KEY_MAX], dead[JOB_KEY_MAX];
	char prefix[64];
	char sha[JS_NSCRIPTS][41];    /* "" until SCRIPT LOAD answered on this connection */
	struct job_load loads[JS_NSCRIPTS];
	bool group_ready;             /* XGROUP CREATE answered on this connection */
	bool setup_pending;
	unsigned group_backoff_ms;    /* wait after a refused XGROUP CREATE; 0 none */
	uint64_t group_retry_ns;      /* no XGROUP CREATE before this */
	bool persistence_checked;     /* CONFIG GET sent on this connection */
	bool reading;                 /* an XREADGROUP is in flight */
	bool read_history;            /* next read: our own pending entries */
	bool reading_history;         /* the read in flight is one */
	bool history_again;           /* asked for while a read was in flight */
	char history_from[JOB_ENTRY_ID_MAX];
	bool claiming;                /* an XAUTOCLAIM is in flight */
	char claim_cursor[JOB_ENTRY_ID_MAX];
	bool moving;                  /* a JS_MOVE is in flight */
	bool counting;                /* a JS_COUNT is in flight */
	bool stopping;
	unsigned slots;               /* jobs.concurrency at start */
	unsigned busy;                /* deliveries held (starting, running, reporting) */
	struct list jobs;             /* every live job, held or not */
	uint64_t rng;
	ev_timer setup_w, move_w, reclaim_w, refresh_w, count_w;
};



/* Owner: the job actor thread. One delivery of a job (job_run.c). */
struct job {
	struct job_actor *ja;
	struct list node;             /* in ja->jobs */
	const struct job_type *type;
	cJSON *payload;
	const struct ad_config *cfg;  /* snapshot when the run started */
	struct work_timer *timers;    /* pending job_after (job_run.c) */
	uint64_t deadline_ns;
	ev_timer timeout_w, retry_w;
	unsigned attempt;
	long long started_ms;         /* START's time (Redis'): names this run to FAIL */
	unsigned refs;                /* continuations owed */
	unsigned tries;               /* START or outcome sends retried */
	bool held;                    /* in ja->busy until its outcome is stored */
	bool running;                 /* counted in the inflight gauge */
	bool reported;
	bool ok;
	char *report;                 /* result JSON or error text */
	char entry[JOB_ENTRY_ID_MAX];
	char id[JOB_ID_LEN + 1];
	char key[JOB_KEY_MAX];        /* its hash */
	char token[17];               /* this take's run token (START, job_script.c) */
};

/* A reply's element `i` as a string (bulk or status) or an integer; NULL
 * or -1 when it is not one. */
static inline const char *job_str_at(const redisReply *r, size_t i)
{
	if (r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
	    (r->element[i]->type != REDIS_REPLY_STRING && r->element[i]->type != REDIS_REPLY_STATUS))
		return NULL;
	return r->element[i]->str;
}

static inline long long job_int_at(const redisReply *r, size_t i)
{
	if (r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
	    r->element[i]->type != REDIS_REPLY_INTEGER)
		return -1;
	return r->element[i]->integer;
}

/* job_req.c */
void job_req_set_fields(struct job_req *q, const redisReply *hash);

/* job_script.c */
/* Run script `s` with `nkeys` keys and `nargs` arguments (binary-safe;
 * `arglens` NULL: strings) on the command connection; rconn_command's
 * contract, deadline included (0: the command timeout). */
int job_script_run(struct job_actor *ja, enum job_script s, uint64_t deadline_ns, int nkeys,
		   const char **keys, int nargs, const char **args, const size_t *arglens,
		   rconn_reply_fn fn, void *arg);
/* A script's or command's outcome as a status: rconn's, or for an error
 * reply -EAGAIN (retryable, NOSCRIPT included: the scripts are loaded
 * again) or -EBADMSG (logged with `what`). */
int job_reply_status(struct job_actor *ja, int status, const redisReply *reply,
		     const char *what);
/* Whether a script call was refused with NOSCRIPT (Redis restarted without
 * its script cache, or SCRIPT FLUSH). The script did not run, so sending
 * it again is safe: after job_reply_status() forgot the hashes, the next
 * job_script_run() sends it whole (EVAL), which cannot be refused so. */
bool job_script_missing(int status, const redisReply *reply);
/* The command connection is up: create the group, load the scripts. */
void job_setup(struct job_actor *ja);
/* It went down: forget what it knew. */
void job_setup_lost(struct job_actor *ja);

/* job_run.c */
/* The live configuration, or the defaults before any is published. */
const struct ad_config *job_cfg(void);
/* Take delivery `entry` of job `id` and start it (a no-op if it is held
 * already; left pending, to be read again, if every slot is busy);
 * `taken_over`: reclaimed, or left by a previous run of this consumer. */
void job_take(struct job_actor *ja, const char *entry, const char *id, bool taken_over);

/* job_consume.c */
void job_read(struct job_actor *ja);
/* Read this consumer's own pending entries again, from the first
 * (after a reconnection: replies lost with it may have been deliveries). */
void job_read_history(struct job_actor *ja);
void job_reclaim(struct job_actor *ja);
void job_refresh(struct job_actor *ja);
void job_move_due(struct job_actor *ja);
/* Arm the mover to run within `ms`. */
void job_move_soon(struct job_actor *ja, uint64_t ms);

/* job_run.c */
/* Free every job (actor stop; the connections are gone). */
void job_free_all(struct job_actor *ja);

/* job_actor.c */
uint64_t job_random(struct job_actor *ja);

#endif
