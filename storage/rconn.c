/*
 * rconn.c - a Redis connection with reconnection, deadlines and counters
 * on top of hiredis 0.14's async API (rconn.h).
 *
 * DESIGN
 * A `link` is one hiredis context and the commands it carries, in reply
 * order. The rconn has at most two: `cur` takes new commands (connecting
 * or up), `old` drains after a settings change. A link dies in one of four
 * ways, all of which end in rc_link_lost(): the connect callback reports a
 * failure, hiredis hands a pending command a NULL reply (it is freeing
 * the context after an error), the disconnect callback runs, or we drop it
 * ourselves (connect timeout, stuck, AUTH refused, destroy). hiredis frees
 * the context itself in the first three cases, and may still run callbacks
 * that name the link after rc_link_lost() returns, so dead links are freed by
 * a zero-delay timer (the reaper), which runs only once control is back in
 * the loop and hiredis is done with them.
 *
 * hiredis 0.14 re-entrancy rules followed here: never free a context from
 * its connect or disconnect callback; redisAsyncFree from a reply callback
 * is deferred by hiredis until the callback returns (safe); a new
 * connection is never started from inside a callback of the one it
 * replaces, only from a timer or from rconn_send.
 *
 * Names: redisAsyncConnect would resolve a host name with a blocking
 * getaddrinfo on the actor's thread, so a name is first resolved with
 * c-ares on the same loop (dns/dns.h), at every connection attempt (a
 * moved server is found on the next reconnect), and hiredis is given the
 * address. An address literal skips the lookup. A lookup that fails or
 * outlives the connect timeout counts as a failed attempt (logged with
 * the resolver's reason, retried with the usual backoff).
 *
 * Sentinel (redis.sentinels set, default settings only): the host and
 * port of every attempt are the primary a `struct sentinel` (sentinel.h)
 * knows; with none known yet no attempt is made (commands get -ENOTCONN)
 * until it names one. Each new connection sends ROLE with AUTH/SELECT and
 * comes up only if the server says "master"; otherwise it is dropped and
 * the Sentinels are asked again. When the primary changes (a failover) the
 * current connection is dropped at once (its commands get -ENOTCONN, the
 * owner sees it go down and come up: the state it set up on the old
 * primary is gone) and a connection to the new primary is made. A
 * READONLY reply (the server was demoted under us) drops the connection
 * after the reply's callback and asks again.
 *
 * Owner: the thread of the loop given to rconn_create.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>

#include "rconn.h"
#include "sentinel.h"
#include "actors/log.h"
#include "base/clock.h"
#include "base/list.h"
#include "dns/dns.h"
#include "mailbox/mbox.h"

#include "rconn_internal.h"

static void attempt(struct rconn *c);
void rc_on_primary_changed(void *ctx);

/* ---- Small helpers ---- */

static void set_error(struct rconn *c, int e)
{
	/* Relaxed: a readiness check only needs some recent value. */
	atomic_store_explicit(c->last_error, e, memory_order_relaxed);
}

static int map_error(const redisContext *rc)
{
	if (rc->err == REDIS_ERR_EOF)
		return -ECONNRESET;
	if (rc->err == REDIS_ERR_IO) {
		if (strstr(rc->errstr, "refused") != NULL)
			return -ECONNREFUSED;
		if (strstr(rc->errstr, "timed out") != NULL)
			return -ETIMEDOUT;
	}
	return -ENOTCONN;
}

struct rc_cmd *rc_cmd_of(struct list *e)
{
	return e != NULL ? list_entry(e, struct rc_cmd, node) : NULL;
}

struct rc_cmd *rc_get_cmd(struct rconn *c)
{
	struct rc_cmd *cmd = rc_cmd_of(list_first(&c->spare));

	if (cmd != NULL) {
		list_remove(&cmd->node);
		c->nspare--;
		return cmd;
	}
	return malloc(sizeof(*cmd));
}

void rc_put_cmd(struct rconn *c, struct rc_cmd *cmd)
{
	if (c->nspare >= SPARE_CMDS) {
		free(cmd);
		return;
	}
	list_push_front(&c->spare, &cmd->node);
	c->nspare++;
}

/* A user command finished (reply, error or deadline): count it. */
void rc_count_done(struct rconn *c, const struct rc_cmd *cmd, bool error, bool timeout)
{
	counter_add(&c->stats->inflight, -1);
	backend_stats_done(c->stats, clock_now_ns() - cmd->sent_ns, error, timeout);
}

void rc_arm_deadline(struct rconn *c, uint64_t at, uint64_t now)
{
	if (ev_is_active(&c->deadline_w)) {
		if (at >= c->deadline_at)
			return;
		ev_timer_stop(c->loop, &c->deadline_w);
	}
	c->deadline_at = at;
	ev_timer_set(&c->deadline_w, at > now ? (double)(at - now) / 1e9 : 0., 0.);
	ev_timer_start(c->loop, &c->deadline_w);
}

/* ---- Link life cycle ---- */

static void schedule_retry(struct rconn *c)
{
	double after = c->backoff_ms / 1000.0;

	if (c->destroying)
		return;
	c->backoff_ms = c->backoff_ms * 2 > c->backoff_max_ms ? c->backoff_max_ms
							      : c->backoff_ms * 2;
	ev_timer_stop(c->loop, &c->retry_w);
	ev_timer_set(&c->retry_w, after, 0.);
	ev_timer_start(c->loop, &c->retry_w);
}

static void attempt_failed(struct rconn *c, const struct rconn_settings *s, int e,
			   const char *why)
{
	set_error(c, e);
	if (!c->destroying && c->failures++ % LOG_EVERY == 0)
		log_warn("redis %s:%u: cannot connect (attempt %u): %s", s->host, s->port,
			 c->failures, why);
	/* The primary may have moved while a Sentinel we do not listen to
	 * already knows: ask the next one at every failed attempt (Sentinels
	 * other than the leader learn of a failover up to 2 s later). */
	if (c->sentinel != NULL && !c->destroying)
		sentinel_recheck(c->sentinel, why);
	schedule_retry(c);
}

/* `l` is gone or going: fail nothing here (its commands are answered by
 * hiredis' NULL replies, with l->fail_status), just stop using it. */
void rc_link_lost(struct rc_link *l, int status, const char *why)
{
	struct rconn *c = l->c;

	if (l->dead)
		return;
	l->dead = true;
	l->fail_status = status;
	l->next_dead = c->dead;
	c->dead = l;
	if (!c->destroying && !ev_is_active(&c->reap_w)) {
		ev_timer_set(&c->reap_w, 0., 0.);
		ev_timer_start(c->loop, &c->reap_w);
	}
	if (c->old == l) {
		c->old = NULL;
		return;
	}
	if (c->cur != l)
		return;
	c->cur = NULL;
	ev_timer_stop(c->loop, &c->connect_w);
	if (!l->up) {
		attempt_failed(c, &l->set, status, why);
		return;
	}
	counter_set(&c->stats->connected, 0);
	set_error(c, status);
	c->backoff_ms = BACKOFF_MIN_MS;
	c->failures = 0;
	if (c->destroying)
		return;
	log_emit(c->opts.quiet ? LOGL_DEBUG : LOGL_WARN, NULL, "redis %s:%u: connection lost: %s",
		 l->set.host, l->set.port, why);
	schedule_retry(c);
	if (c->opts.on_state != NULL)
		c->opts.on_state(c->opts.ctx, false);
}

/* Close `l` ourselves; its commands in flight get `status`. */
void rc_drop_link(struct rc_link *l, int status, const char *why)
{
	redisAsyncContext *ac = l->ac;

	l->ac = NULL;
	rc_link_lost(l, status, why);
	if (ac != NULL)
		redisAsyncFree(ac);   /* deferred by hiredis inside its callbacks */
}

static void link_ready(struct rc_link *l)
{
	struct rconn *c = l->c;

	l->up = true;
	if (c->cur != l)
		return;
	ev_timer_stop(c->loop, &c->connect_w);
	c->backoff_ms = BACKOFF_MIN_MS;
	c->failures = 0;
	set_error(c, 0);
	counter_set(&c->stats->connected, 1);
	log_emit(c->opts.quiet ? LOGL_DEBUG : LOGL_INFO, NULL, "redis %s:%u connected",
		 l->set.host, l->set.port);
	if (c->sentinel != NULL && c->up_port != 0 &&
	    (c->up_port != l->set.port || strcmp(c->up_host, l->set.host) != 0)) {
		counter_add(&c->stats->failovers_total, 1);
		log_warn("redis: followed the failover from %s:%u to %s:%u", c->up_host,
			 c->up_port, l->set.host, l->set.port);
	}
	memcpy(c->up_host, l->set.host, sizeof(c->up_host));
	c->up_port = l->set.port;
	if (c->opts.on_state != NULL)
		c->opts.on_state(c->opts.ctx, true);
}

static void on_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct rc_cmd *cmd = priv;
	struct rc_link *l = cmd->link;
	struct rconn *c = l->c;
	rconn_reply_fn fn = cmd->fn;
	void *arg = cmd->arg;
	const redisReply *reply = r;
	int status = 0;
	bool demoted;

	list_remove(&cmd->node);
	if (reply == NULL) {
		/* hiredis is freeing the context after an error (or for us). */
		l->ac = NULL;
		rc_link_lost(l, -ENOTCONN, ac->c.err != 0 ? ac->c.errstr : "connection closed");
		status = l->fail_status != 0 ? l->fail_status : -ENOTCONN;
	}
	if (fn != NULL && !cmd->internal)
		rc_count_done(c, cmd, status != 0 || reply->type == REDIS_REPLY_ERROR, false);
	rc_put_cmd(c, cmd);
	demoted = c->sentinel != NULL && reply != NULL && reply->type == REDIS_REPLY_ERROR &&
		  strncmp(reply->str, "READONLY", 8) == 0;
	if (fn != NULL)
		fn(arg, status, reply);
	/* Links are freed only by the reaper, so `l` is still valid here. */
	if (demoted && c->cur == l && !l->dead) {
		sentinel_recheck(c->sentinel, "a write was refused as READONLY");
		rc_drop_link(l, -ENOTCONN, "the server is a replica now (READONLY)");
	}
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct rc_link *l = ac->data;

	if (status != REDIS_OK) {
		/* hiredis frees the context right after this returns. */
		l->ac = NULL;
		rc_link_lost(l, map_error(&ac->c), ac->c.errstr);
		return;
	}
	l->connected = true;
	if (l->setup_pending == 0)
		link_ready(l);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rc_link *l = ac->data;

	l->ac = NULL;
	rc_link_lost(l, -ENOTCONN, status == REDIS_OK ? "closed" : ac->c.errstr);
}

/* AUTH, SELECT or PING answered. */
static void on_setup(void *arg, int status, const redisReply *reply)
{
	struct rc_link *l = arg;

	char why[400];

	if (status != 0)
		return;       /* the link is lost: rc_link_lost said so */
	if (reply->type == REDIS_REPLY_ERROR) {
		/* A wrong password or database fails every attempt alike: the
		 * failed attempt is logged by attempt_failed, once per
		 * LOG_EVERY attempts, not here once per attempt. A server busy
		 * for now (LOADING after a restart, BUSY in a long script:
		 * PING is refused then) is no refusal of access, just no
		 * connection yet: -ENOTCONN, a 503 for the commands waiting on
		 * the link (-EAGAIN would read "mailbox full" in readiness). */
		snprintf(why, sizeof(why), "refused the connection set-up: %s", reply->str);
		rc_drop_link(l, rconn_reply_status(reply) == -EAGAIN ? -ENOTCONN : -EACCES, why);
		return;
	}
	if (--l->setup_pending == 0 && l->connected)
		link_ready(l);
}

/* ROLE answered (Sentinel mode): only the primary may come up. */
static void on_role(void *arg, int status, const redisReply *reply)
{
	struct rc_link *l = arg;
	struct rconn *c = l->c;
	const redisReply *role = reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
				 reply->elements > 0 ? reply->element[0] : NULL;
	char why[CONFIG_HOST_MAX + 160];

	if (status != 0)
		return;
	if (role != NULL && role->type == REDIS_REPLY_STRING && strcmp(role->str, "master") == 0) {
		on_setup(arg, status, reply);
		return;
	}
	/* Logged by attempt_failed (once per LOG_EVERY attempts). */
	snprintf(why, sizeof(why), "%s:%u is not the primary (role: %s)", l->set.host, l->set.port,
		 role != NULL && role->type == REDIS_REPLY_STRING ? role->str
		 : reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
	if (c->sentinel != NULL)
		sentinel_recheck(c->sentinel, why);
	rc_drop_link(l, -ENOTCONN, why);
}

static int send_on(struct rconn *c, struct rc_link *l, const char *resp, size_t len,
		   uint64_t deadline_ns, uint64_t now, rconn_reply_fn fn, void *arg,
		   bool internal)
{
	struct rc_cmd *cmd = rc_get_cmd(c);

	if (cmd == NULL)
		return -ENOMEM;
	cmd->link = l;
	cmd->fn = fn;
	cmd->arg = arg;
	cmd->sent_ns = now;
	cmd->deadline_ns = deadline_ns;
	cmd->internal = internal;
	if (redisAsyncFormattedCommand(l->ac, on_reply, cmd, resp, len) != REDIS_OK) {
		rc_put_cmd(c, cmd);
		return -ENOTCONN;
	}
	list_push_back(&l->cmds, &cmd->node);
	return 0;
}

static int send_setup(struct rconn *c, struct rc_link *l, int argc, const char **argv,
		      rconn_reply_fn fn)
{
	size_t lens[2] = { strlen(argv[0]), argc > 1 ? strlen(argv[1]) : 0 };
	char *resp;
	int len = redisFormatCommandArgv(&resp, argc, argv, lens), rc;

	if (len < 0)
		return -ENOMEM;
	rc = send_on(c, l, resp, (size_t)len, UINT64_MAX, clock_now_ns(), fn, l, true);
	redisFreeCommand(resp);
	if (rc == 0)
		l->setup_pending++;
	return rc;
}

/* Connect to `addr` (an address literal) with the settings in `l`. */
static void connect_link(struct rconn *c, struct rc_link *l, const char *addr)
{
	redisAsyncContext *ac;
	char db[16];
	int rc = 0;

	ac = redisAsyncConnect(addr, l->set.port);
	if (ac == NULL || ac->err != 0) {
		int e = ac != NULL ? map_error(&ac->c) : -ENOMEM;
		char why[128];

		snprintf(why, sizeof(why), "%s", ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		attempt_failed(c, &l->set, e, why);
		free(l);
		return;
	}
	ac->data = l;
	l->ac = ac;
	redisLibevAttach(c->loop, ac);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	c->cur = l;
	/* Queued before any user command, so they go first on the wire. */
	if (l->set.password[0] != '\0')
		rc = send_setup(c, l, 2, (const char *[]){ "AUTH", l->set.password }, on_setup);
	if (rc == 0 && l->set.database != 0) {
		snprintf(db, sizeof(db), "%u", l->set.database);
		rc = send_setup(c, l, 2, (const char *[]){ "SELECT", db }, on_setup);
	}
	if (rc == 0 && c->sentinel != NULL)
		rc = send_setup(c, l, 1, (const char *[]){ "ROLE" }, on_role);
	/* Up only once Redis has answered: a server that accepts TCP but
	 * does not answer (stopped, hung) would otherwise come up, time out,
	 * be dropped and come up again every command_timeout_ms, logging
	 * both each time with no backoff. A server that wants a password we
	 * do not send says NOAUTH here, not on every command. */
	if (rc == 0 && l->setup_pending == 0)
		rc = send_setup(c, l, 1, (const char *[]){ "PING" }, on_setup);
	if (rc != 0) {
		rc_drop_link(l, rc, "out of memory");
		return;
	}
	if (!ev_is_active(&c->connect_w)) {
		ev_timer_set(&c->connect_w, l->set.connect_timeout_ms / 1000.0, 0.);
		ev_timer_start(c->loop, &c->connect_w);
	}
}

static struct rc_link *new_link(struct rconn *c)
{
	struct rc_link *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	list_init(&l->cmds);
	list_init(&l->subs);
	l->c = c;
	return l;
}

/* The host name of an attempt resolved (or not). */
static void on_resolved(void *arg, int status, const char *why, const struct dns_result *res)
{
	struct rc_lookup *q = arg;
	struct rconn *c = q->c;
	struct rc_link *l;
	char addr[INET6_ADDRSTRLEN], reason[400];
	unsigned pick = 0;

	if (c == NULL || status == -ECANCELED) {
		free(q);                /* given up already */
		return;
	}
	c->lookup = NULL;
	if (status != 0) {
		snprintf(reason, sizeof(reason), "cannot resolve '%s': %s", q->set.host,
			 why != NULL ? why : "no answer");
		ev_timer_stop(c->loop, &c->connect_w);
		attempt_failed(c, &q->set, -EHOSTUNREACH, reason);
		free(q);
		return;
	}
	l = new_link(c);
	if (l == NULL) {
		ev_timer_stop(c->loop, &c->connect_w);
		attempt_failed(c, &q->set, -ENOMEM, "out of memory");
		free(q);
		return;
	}
	l->set = q->set;
	free(q);
	/* IPv4 first: "localhost" is also ::1, where the server may not be. */
	for (unsigned i = res->naddr; i-- > 0;)
		if (res->addrs[i].family == AF_INET)
			pick = i;
	inet_ntop(res->addrs[pick].family, res->addrs[pick].addr, addr, sizeof(addr));
	connect_link(c, l, addr);
}

static void attempt(struct rconn *c)
{
	struct rc_link *l = new_link(c);
	struct rc_lookup *q;
	unsigned char bin[16];
	int rc;

	if (l == NULL) {
		struct rconn_settings s;

		rc_read_settings(c, &s);
		attempt_failed(c, &s, -ENOMEM, "out of memory");
		return;
	}
	rc_read_settings(c, &l->set);
	c->backoff_max_ms = l->set.reconnect_max_ms > BACKOFF_MIN_MS ? l->set.reconnect_max_ms
								     : BACKOFF_MIN_MS;
	c->waiting_primary = l->set.host[0] == '\0';
	if (c->waiting_primary) {
		/* Sentinel knows no primary yet: rc_on_primary_changed tries. */
		set_error(c, -EHOSTUNREACH);
		free(l);
		return;
	}
	if (inet_pton(AF_INET, l->set.host, bin) == 1 || inet_pton(AF_INET6, l->set.host, bin) == 1) {
		connect_link(c, l, l->set.host);
		return;
	}
	/* A name: look it up without blocking the actor, then connect. */
	q = malloc(sizeof(*q));
	if (q != NULL && c->dns == NULL)
		c->dns = dns_resolver_create(c->loop, "", &rc);
	if (q == NULL || c->dns == NULL) {
		attempt_failed(c, &l->set, -ENOMEM, "no resolver");
		free(q);
		free(l);
		return;
	}
	q->c = c;
	q->set = l->set;
	free(l);
	c->lookup = q;
	ev_timer_set(&c->connect_w, q->set.connect_timeout_ms / 1000.0, 0.);
	ev_timer_start(c->loop, &c->connect_w);
	dns_resolve(c->dns, q->set.host, on_resolved, q);
}

/* Give up the lookup under way: its answer will be ignored. */
static void abandon_lookup(struct rconn *c)
{
	if (c->lookup != NULL) {
		c->lookup->c = NULL;
		c->lookup = NULL;
	}
}

/* A reload may name another server: new commands go to a new connection,
 * the old one finishes what it carries and closes. */
static void follow_config(struct rconn *c)
{
	struct rconn_settings s;
	struct rc_link *l = c->cur;

	/* Not while rc_on_deadline walks its list: dropping the old link would
	 * free command records that list still holds. The next send moves. */
	if (config_current() == c->seen || l == NULL || c->in_deadline)
		return;
	rc_read_settings(c, &s);
	if (s.host[0] == '\0' || rc_same_server(&s, &l->set)) {
		l->set.command_timeout_ms = s.command_timeout_ms;
		c->backoff_max_ms = s.reconnect_max_ms > BACKOFF_MIN_MS ? s.reconnect_max_ms
									: BACKOFF_MIN_MS;
		return;
	}
	log_info("redis settings changed: moving from %s:%u to %s:%u", l->set.host,
		 l->set.port, s.host, s.port);
	if (c->old != NULL)
		rc_drop_link(c->old, -ENOTCONN, "replaced by a newer connection");
	c->cur = NULL;
	ev_timer_stop(c->loop, &c->connect_w);
	counter_set(&c->stats->connected, 0);
	if (l->connected && l->ac != NULL) {
		c->old = l;
		/* hiredis closes it once every reply is in (on_disconnect). */
		redisAsyncDisconnect(l->ac);
	} else {
		/* Not connected yet: nothing of value in flight. */
		rc_drop_link(l, -ENOTCONN, "settings changed while connecting");
	}
	attempt(c);
}

/* ---- Timers ---- */

/* The sentinel's callback: act from our own timer, outside its calls. */
void rc_on_primary_changed(void *ctx)
{
	struct rconn *c = ctx;

	if (!ev_is_active(&c->primary_w)) {
		ev_timer_set(&c->primary_w, 0., 0.);
		ev_timer_start(c->loop, &c->primary_w);
	}
}

/* Sentinel named a (new) primary: connect to it, leaving the old one. */
static void on_primary(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rconn *c = w->data;
	struct rconn_settings s;

	(void)loop;
	(void)revents;
	if (c->destroying || c->sentinel == NULL)
		return;
	if (c->cur != NULL) {
		rc_read_settings(c, &s);
		if (s.host[0] == '\0' || rc_same_server(&s, &c->cur->set))
			return;
		log_info("redis: Sentinel names a new primary: leaving %s:%u for %s:%u",
			 c->cur->set.host, c->cur->set.port, s.host, s.port);
		rc_drop_link(c->cur, -ENOTCONN, "a new primary was named");
	}
	if (c->lookup != NULL) {
		/* Resolving the old primary's name: the answer is not wanted. */
		abandon_lookup(c);
		ev_timer_stop(c->loop, &c->connect_w);
	}
	/* At once, not after the backoff: the new primary should be up. */
	ev_timer_stop(c->loop, &c->retry_w);
	c->backoff_ms = BACKOFF_MIN_MS;
	attempt(c);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rconn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->cur != NULL || c->lookup != NULL)
		return;
	counter_add(&c->stats->reconnects_total, 1);
	attempt(c);
}

static void on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rconn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->lookup != NULL) {
		struct rconn_settings s = c->lookup->set;

		abandon_lookup(c);
		attempt_failed(c, &s, -ETIMEDOUT, "name lookup timed out");
		return;
	}
	if (c->cur != NULL && !c->cur->up)
		rc_drop_link(c->cur, -ETIMEDOUT, "connect timed out");
}

static void on_reap(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rconn *c = w->data;

	(void)loop;
	(void)revents;
	while (c->dead != NULL) {
		struct rc_link *l = c->dead;

		c->dead = l->next_dead;
		free(l);
	}
}

/* ---- Public API ---- */

struct rconn *rconn_create(struct ev_loop *loop, const struct rconn_opts *opts)
{
	size_t size = (sizeof(struct rconn) + 63) & ~(size_t)63;
	struct rconn *c = aligned_alloc(64, size);

	if (c == NULL)
		return NULL;
	memset(c, 0, size);
	list_init(&c->spare);
	c->loop = loop;
	c->opts = *opts;
	if (c->opts.settings == NULL)
		c->opts.settings = rc_default_settings;
	c->stats = opts->stats != NULL ? opts->stats : &c->own_stats;
	c->last_error = opts->last_error != NULL ? opts->last_error : &c->own_error;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->backoff_max_ms = BACKOFF_MIN_MS;
	ev_init(&c->retry_w, on_retry);
	ev_init(&c->connect_w, on_connect_timeout);
	ev_init(&c->deadline_w, rc_on_deadline);
	ev_init(&c->reap_w, on_reap);
	ev_init(&c->primary_w, on_primary);
	c->retry_w.data = c->connect_w.data = c->deadline_w.data = c->reap_w.data = c;
	c->primary_w.data = c;
	counter_set(&c->stats->connected, 0);
	attempt(c);
	return c;
}

void rconn_destroy(struct rconn *c)
{
	if (c == NULL)
		return;
	c->destroying = true;
	abandon_lookup(c);
	/* Runs the abandoned lookup's callback (-ECANCELED), which frees it. */
	dns_resolver_destroy(c->dns);
	ev_timer_stop(c->loop, &c->retry_w);
	ev_timer_stop(c->loop, &c->connect_w);
	ev_timer_stop(c->loop, &c->deadline_w);
	ev_timer_stop(c->loop, &c->reap_w);
	ev_timer_stop(c->loop, &c->primary_w);
	sentinel_destroy(c->sentinel);
	c->sentinel = NULL;
	if (c->old != NULL)
		rc_drop_link(c->old, -ESHUTDOWN, "shutting down");
	if (c->cur != NULL)
		rc_drop_link(c->cur, -ESHUTDOWN, "shutting down");
	counter_set(&c->stats->connected, 0);
	on_reap(c->loop, &c->reap_w, 0);
	while (!list_empty(&c->spare)) {
		struct rc_cmd *cmd = rc_cmd_of(list_first(&c->spare));

		list_remove(&cmd->node);
		free(cmd);
	}
	free(c);
}

int rconn_send(struct rconn *c, const char *resp, size_t len, uint64_t deadline_ns,
	       rconn_reply_fn fn, void *arg)
{
	uint64_t now = clock_now_ns();
	struct rc_link *l;
	int rc;

	follow_config(c);
	l = c->cur;
	if (l == NULL || l->ac == NULL)
		return -ENOTCONN;
	if (deadline_ns == 0)
		deadline_ns = now + l->set.command_timeout_ms * NS_PER_MS;
	else if (deadline_ns <= now)
		return -ETIMEDOUT;
	rc = send_on(c, l, resp, len, deadline_ns, now, fn, arg, false);
	if (rc != 0)
		return rc;
	counter_add(&c->stats->requests_total, 1);
	counter_add(&c->stats->inflight, 1);
	rc_arm_deadline(c, deadline_ns, now);
	return 0;
}

int rconn_command(struct rconn *c, uint64_t deadline_ns, rconn_reply_fn fn, void *arg,
		  int argc, const char **argv, const size_t *argvlen)
{
	char *resp;
	int len = redisFormatCommandArgv(&resp, argc, argv, argvlen), rc;

	if (len < 0)
		return -ENOMEM;
	rc = rconn_send(c, resp, (size_t)len, deadline_ns, fn, arg);
	redisFreeCommand(resp);
	return rc;
}

void rconn_reset(struct rconn *c, const char *why)
{
	if (c->cur != NULL)
		rc_drop_link(c->cur, -ENOTCONN, why);
}

