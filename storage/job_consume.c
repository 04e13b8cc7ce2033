/*
 * job_consume.c - how a job actor gets deliveries (job_internal.h): new
 * entries and its own pending ones with XREADGROUP, other consumers'
 * abandoned ones with XAUTOCLAIM; and the upkeep of what it holds:
 * refreshing their ownership, moving due retries back into the stream.
 *
 * DESIGN
 * Reads never ask for more entries than the actor has free slots, so
 * nothing is delivered that could not start at once (a delivery's idle
 * time, which reclaims go by, starts when it is delivered); but the
 * blocking read and a reclaim may be out together, each for every free
 * slot: what arrives beyond them is left pending and read again from this
 * consumer's history once a slot frees (job_take). The blocking
 * read has a connection of its own; everything else goes on the command
 * connection. A read that fails is tried again after READ_RETRY_S; its
 * entries, if Redis delivered them, are still pending for this consumer
 * and come back with the next history read (after a reconnection) or a
 * reclaim.
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
#include "mailbox/mbox.h"

#define MOVE_BATCH "256"
#define MOVE_BATCH_N 256
#define REFRESH_BATCH 512
#define READ_RETRY_S 0.1

static uint64_t command_timeout_ms(void)
{
	const struct ad_config *cfg = config_current();

	return cfg != NULL ? cfg->redis.command_timeout_ms : 1000;
}

static void on_settled(void *arg, int status, const redisReply *reply)
{
	(void)arg;
	(void)status;
	(void)reply;
}

/* An entry that is no job (no fields: deleted while pending; or no valid
 * id): delete it, as a settled job's entry is, or it would stay in XLEN
 * (the jobs_pending gauge) for ever; and acknowledge it so it stops coming
 * back. Deleted first: if the XACK is lost, the pending entry comes back
 * without fields and is discarded again. */
static void discard(struct job_actor *ja, const char *entry)
{
	const char *del[] = { "XDEL", ja->stream, entry };
	const char *ack[] = { "XACK", ja->stream, ja->group, entry };
	size_t lens[4];

	log_warn("jobs: entry %s of %s is not a job: acknowledged and ignored", entry,
		 ja->stream);
	for (int i = 0; i < 3; i++)
		lens[i] = strlen(del[i]);
	rconn_command(ja->cmd, 0, on_settled, NULL, 3, del, lens);
	for (int i = 0; i < 4; i++)
		lens[i] = strlen(ack[i]);
	rconn_command(ja->cmd, 0, on_settled, NULL, 4, ack, lens);
}

/* Entries [[id, [field, value, ...]], ...] from XREADGROUP or XAUTOCLAIM. */
static void take_entries(struct job_actor *ja, const redisReply *entries, bool taken_over)
{
	for (size_t i = 0; i < entries->elements; i++) {
		const redisReply *e = entries->element[i], *f;
		const char *entry = job_str_at(e, 0), *id = NULL;

		if (entry == NULL || e->elements < 2)
			continue;
		f = e->element[1];
		for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2)
			if (strcmp(job_str_at(f, k) != NULL ? job_str_at(f, k) : "", "id") == 0)
				id = job_str_at(f, k + 1);
		if (id == NULL || !job_id_valid(id))
			discard(ja, entry);
		else
			job_take(ja, entry, id, taken_over);
	}
}

/* ---- Reading ---- */

static void read_later(struct job_actor *ja)
{
	if (!ja->stopping && !ev_is_active(&ja->setup_w)) {
		ev_timer_set(&ja->setup_w, READ_RETRY_S, 0.);
		ev_timer_start(actor_loop(ja->a), &ja->setup_w);
	}
}

static void on_read(void *arg, int status, const redisReply *reply)
{
	struct job_actor *ja = arg;
	const redisReply *entries;
	bool history = ja->reading_history;

	ja->reading = false;
	if (ja->stopping)
		return;
	status = job_reply_status(ja, status, reply, "XREADGROUP");
	if (status == 0 && reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
	    reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements == 2 &&
	    reply->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
		entries = reply->element[0]->element[1];
		if (history && entries->elements == 0)
			ja->read_history = false;
		else if (history)
			snprintf(ja->history_from, sizeof(ja->history_from), "%s",
				 job_str_at(entries->element[entries->elements - 1], 0) != NULL
				 ? job_str_at(entries->element[entries->elements - 1], 0) : "0");
		take_entries(ja, entries, history);
	} else if (status == 0 && history) {
		ja->read_history = false;
	}
	if (ja->history_again) {
		/* Asked for while this read was out: from the start again. */
		ja->history_again = false;
		job_read_history(ja);
	}
	if (status != 0)
		read_later(ja);
	else
		job_read(ja);
}

void job_read_history(struct job_actor *ja)
{
	ja->read_history = true;
	if (ja->reading)
		ja->history_again = true;
	else
		snprintf(ja->history_from, sizeof(ja->history_from), "0");
}

void job_read(struct job_actor *ja)
{
	const struct config_jobs *c = &job_cfg()->jobs;
	char count[16], block[16];
	const char *argv[12];
	size_t lens[12];
	int argc = 0;

	if (ja->stopping || ja->reading || !ja->group_ready || ja->busy >= ja->slots ||
	    !rconn_connected(ja->rd))
		return;
	snprintf(count, sizeof(count), "%u", ja->slots - ja->busy);
	snprintf(block, sizeof(block), "%u", c->block_ms);
	argv[argc++] = "XREADGROUP";
	argv[argc++] = "GROUP";
	argv[argc++] = ja->group;
	argv[argc++] = ja->consumer;
	argv[argc++] = "COUNT";
	argv[argc++] = count;
	if (!ja->read_history) {
		argv[argc++] = "BLOCK";
		argv[argc++] = block;
	}
	argv[argc++] = "STREAMS";
	argv[argc++] = ja->stream;
	argv[argc++] = ja->read_history ? ja->history_from : ">";
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	/* The read holds the connection for up to block_ms: its deadline is
	 * that plus the usual command timeout, so rconn still finds a stuck
	 * connection. */
	if (rconn_command(ja->rd, clock_now_ns() + (c->block_ms + command_timeout_ms()) * NS_PER_MS,
			  on_read, ja, argc, argv, lens) == 0) {
		ja->reading = true;
		ja->reading_history = ja->read_history;
	}
	else
		read_later(ja);
}

/* ---- Reclaiming, refreshing, moving due retries ---- */

static void on_claimed(void *arg, int status, const redisReply *reply)
{
	struct job_actor *ja = arg;
	const char *cursor;

	ja->claiming = false;
	if (ja->stopping)
		return;
	status = job_reply_status(ja, status, reply, "XAUTOCLAIM");
	if (status != 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
	    (cursor = job_str_at(reply, 0)) == NULL)
		return;
	snprintf(ja->claim_cursor, sizeof(ja->claim_cursor), "%s", cursor);
	if (reply->element[1]->type == REDIS_REPLY_ARRAY) {
		if (reply->element[1]->elements > 0)
			log_info("jobs: %s took over %zu abandoned deliveries", ja->consumer,
				 reply->element[1]->elements);
		take_entries(ja, reply->element[1], true);
	}
	/* More to scan: go on while there is room. */
	if (strcmp(cursor, "0-0") != 0)
		job_reclaim(ja);
}

void job_reclaim(struct job_actor *ja)
{
	const struct config_jobs *c = &job_cfg()->jobs;
	char idle[16], count[16];
	const char *argv[8] = { "XAUTOCLAIM", ja->stream, ja->group, ja->consumer, idle,
				ja->claim_cursor, "COUNT", count };
	size_t lens[8];

	if (ja->stopping || ja->claiming || !ja->group_ready || ja->busy >= ja->slots ||
	    !rconn_connected(ja->cmd))
		return;
	snprintf(idle, sizeof(idle), "%u", c->reclaim_idle_ms);
	snprintf(count, sizeof(count), "%u", ja->slots - ja->busy);
	for (int i = 0; i < 8; i++)
		lens[i] = strlen(argv[i]);
	if (rconn_command(ja->cmd, 0, on_claimed, ja, 8, argv, lens) == 0)
		ja->claiming = true;
}

static void on_refreshed(void *arg, int status, const redisReply *reply)
{
	struct job_actor *ja = arg;

	if (!ja->stopping)
		job_reply_status(ja, status, reply, "job refresh");
}

void job_refresh(struct job_actor *ja)
{
	const char *args[2 + REFRESH_BATCH];
	const char *keys[] = { ja->stream };
	struct list *e = list_first(&ja->jobs);

	if (ja->stopping || !rconn_connected(ja->cmd))
		return;
	args[0] = ja->group;
	args[1] = ja->consumer;
	while (e != NULL) {
		int n = 2;

		for (; e != NULL && n < 2 + REFRESH_BATCH; e = list_next(&ja->jobs, e)) {
			struct job *j = list_entry(e, struct job, node);

			if (j->held)
				args[n++] = j->entry;
		}
		if (n > 2)
			job_script_run(ja, JS_REFRESH, 0, 1, keys, n, args, NULL, on_refreshed, ja);
	}
}

static void on_moved(void *arg, int status, const redisReply *reply)
{
	struct job_actor *ja = arg;
	uint64_t next = job_cfg()->jobs.retry_poll_ms;
	long long moved, wait;

	ja->moving = false;
	if (ja->stopping)
		return;
	status = job_reply_status(ja, status, reply, "job retry move");
	if (status == 0) {
		moved = job_int_at(reply, 0);
		wait = job_int_at(reply, 1);
		if (moved > 0)
			counter_add(&ja->ctr->retried_total, moved);
		if (moved >= MOVE_BATCH_N)
			next = 0;
		else if (wait >= 0 && (uint64_t)wait < next)
			next = (uint64_t)wait;
	}
	job_move_soon(ja, next);
}

void job_move_due(struct job_actor *ja)
{
	const char *keys[] = { ja->delayed, ja->stream };
	const char *args[] = { MOVE_BATCH };

	if (ja->stopping || ja->moving || ja->slots == 0 || !rconn_connected(ja->cmd))
		return;
	if (job_script_run(ja, JS_MOVE, 0, 2, keys, 1, args, NULL, on_moved, ja) == 0)
		ja->moving = true;
	else
		job_move_soon(ja, job_cfg()->jobs.retry_poll_ms);
}

void job_move_soon(struct job_actor *ja, uint64_t ms)
{
	struct ev_loop *loop = actor_loop(ja->a);
	double after = (double)ms / 1000.0;

	if (ja->stopping || ja->slots == 0)
		return;
	if (ev_is_active(&ja->move_w)) {
		if (ev_timer_remaining(loop, &ja->move_w) <= after)
			return;
		ev_timer_stop(loop, &ja->move_w);
	}
	ev_timer_set(&ja->move_w, after, 0.);
	ev_timer_start(loop, &ja->move_w);
}
