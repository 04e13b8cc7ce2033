/*
 * sql_actor.c - the mysql actors (kind "mysql"): MariaDB for the routes.
 *
 * DESIGN
 * A pool of actors sharing ONE pool mailbox (actor_pool_spec
 * shared_mailbox): each member takes one message at a time, so a request
 * waits only while every member is busy and a slow statement holds one
 * connection, never the pool. Each actor owns one connection
 * (sql_conn.h) and blocks in libmariadb while it runs a request's
 * statements; this is the one place where blocking is allowed, so it
 * publishes what it already sent (mbox_flush) before each blocking call.
 *
 * Messages in: struct sql_req (sql.h). Out: the same message back to its
 * caller (call_reply) with the row sets attached and the status set.
 *
 * Admission: this pool's queue is where requests wait when MariaDB is the
 * bottleneck, so each member judges every call it takes by the time the
 * call waited in the pool mailbox (CoDel, actors/admit.h): one that waited
 * too long in a standing queue is answered -EAGAIN (503 + Retry-After)
 * without running, and the mailbox's size is only the last line of
 * defence.
 *
 * While the connection is down, a timer retries it on the backoff
 * schedule, so the pool is connected again soon after MariaDB is back even
 * without traffic; requests that arrive before answer at once with the
 * status of the last attempt (503 for the caller), or, when the backoff
 * allows it, try to connect first.
 *
 * Thread: each mysql actor's own; sql_add_pool on the controlling thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <mysql.h>

#include "sql_conn.h"
#include "sql_internal.h"
#include "storage.h"
#include "storage_pool.h"
#include "actors/actor.h"
#include "actors/log.h"
#include "base/clock.h"
#include "config/config.h"

const struct actor_kind sql_kind = { "mysql" };

/* Owner: the mysql actor thread. */
struct sql_actor {
	struct sql_conn *conn;
	ev_timer retry_w;
	struct admit admit;          /* CoDel on the calls it takes */
};

static void arm_retry(struct actor *a, struct sql_actor *sa)
{
	uint64_t now = clock_now_ns(), at = sql_conn_retry_at(sa->conn);

	if (sql_conn_up(sa->conn) || ev_is_active(&sa->retry_w))
		return;
	ev_timer_set(&sa->retry_w, at > now ? (double)(at - now) / 1e9 : 0., 0.);
	ev_timer_start(actor_loop(a), &sa->retry_w);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct actor *a = w->data;
	struct sql_actor *sa = actor_state(a);

	(void)loop;
	(void)revents;
	mbox_flush();
	sql_conn_ensure(sa->conn);
	arm_retry(a, sa);
}

static void sql_message(struct actor *a, struct msg *m)
{
	struct sql_actor *sa = actor_state(a);
	struct sql_req *q;
	uint64_t now;

	if (m->type != SQL_MSG_REQ) {
		log_warn("unexpected message type %#x dropped", m->type);
		msg_free(m);
		return;
	}
	q = (struct sql_req *)(void *)m;
	now = clock_now_ns();
	/* A call that waited too long in a standing queue is shed unrun
	 * (actors/admit.h): the caller answers 503 with Retry-After. */
	if (admit_check(&sa->admit, now > m->enqueued_ns ? now - m->enqueued_ns : 0, now,
			&config_current()->admission) != ADMIT_RUN) {
		call_reply(&q->c, -EAGAIN);
		return;
	}
	/* Replies sent before must not wait for the blocking calls below. */
	mbox_flush();
	call_reply(&q->c, call_expired(&q->c, now) ? -ETIMEDOUT : sql_conn_run(sa->conn, q));
	arm_retry(a, sa);
}

static int sql_start(struct actor *a)
{
	struct storage_pool *p = actor_user(a);
	struct sql_actor *sa = calloc(1, sizeof(*sa));

	if (sa == NULL)
		return -ENOMEM;
	sa->conn = sql_conn_create(&p->stats[actor_index(a)], &p->last_error[actor_index(a)]);
	if (sa->conn == NULL) {
		free(sa);
		return -ENOMEM;
	}
	ev_init(&sa->retry_w, on_retry);
	sa->retry_w.data = a;
	admit_init(&sa->admit, &p->admit[actor_index(a)], actor_name(a));
	actor_set_state(a, sa);
	/* Connect from the loop, not here: start-up must not wait for MariaDB. */
	arm_retry(a, sa);
	return 0;
}

static void sql_stop(struct actor *a)
{
	struct sql_actor *sa = actor_state(a);

	if (sa == NULL)
		return;
	ev_timer_stop(actor_loop(a), &sa->retry_w);
	sql_conn_destroy(sa->conn);
	actor_set_state(a, NULL);
	free(sa);
}

static const struct actor_ops sql_ops = {
	.start = sql_start,
	.message = sql_message,
	.stop = sql_stop,
};

int sql_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		 char *err, size_t errlen)
{
	struct actor_pool_spec spec;

	/* libmariadb's global set-up is not thread-safe: do it once, here,
	 * before any actor thread exists. */
	if (mysql_library_init(0, NULL, NULL) != 0) {
		snprintf(err, errlen, "mysql: cannot initialise libmariadb");
		return -ENOMEM;
	}
	spec = (struct actor_pool_spec){
		.kind = &sql_kind,
		.count = cfg->mysql_actor.count,
		.max = CONFIG_MAX_ACTORS,
		.mbox_capacity = cfg->mysql_actor.mailbox,
		.shared_mailbox = true,
		.ops = &sql_ops,
	};
	return storage_pool_add(sys, &spec, "mysql", true, err, errlen) == ACTOR_ADDR_NONE ? -EINVAL : 0;
}
