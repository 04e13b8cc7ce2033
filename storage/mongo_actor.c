/*
 * mongo_actor.c - the "mongo" actor pool (mongo.h): MongoDB calls through
 * libmongoc, which blocks, so only these actors make them.
 *
 * DESIGN
 * The pool's members share one mailbox (a message waits only while every
 * member is busy) and one mongoc_client_pool_t created on the controlling
 * thread from mongo.uri, with the timeouts of the mongo section laid over
 * it, maxPoolSize = members, and driver retries off (a call is one attempt
 * bounded by mongo.query_timeout_ms). Each member pops its client at start
 * and pushes it back at stop; the last member to stop destroys the pool.
 *
 * Messages in: MONGO_MSG_* calls (call.h). Each is run to completion, in
 * arrival order per member, and sent back with call_reply. A call whose
 * deadline passed is answered -ETIMEDOUT without touching MongoDB.
 *
 * Connection state per member: when a call fails because MongoDB cannot
 * be reached, the member marks itself down and answers every call at once
 * with -ENOTCONN (no request waits out a server selection timeout) while a
 * timer probes with a ping after 100 ms, doubling to 2 s. Only member 0
 * (the leader) probes while the others are down too, so they stay free to
 * answer; once it is up, they ping (or simply serve) again. When up, an
 * idle member pings every 5 s so the readiness check notices a server
 * that went away between requests. The state is published (relaxed
 * atomic, one writer per member) for the readiness check "mongo": ready
 * while any member is up, else "cannot reach HOSTS: why".
 *
 * What it does not do: retry a failed call, reconnect by itself (the
 * driver does, on the next command), change mongo.uri or its timeouts on
 * reload (fixed at start; mongo.database is read per call).
 *
 * Thread: mongo_add_pool on the controlling thread; the actors on their
 * own threads; the collector and the check on the admin actor's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mongo_internal.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "base/clock.h"
#include "config/config.h"

const struct actor_kind mongo_kind = { "mongo" };

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define IDLE_PING_MS 5000
/* Owner: one mongo actor writes it; the admin actor reads it. */
struct mongo_member {
	struct backend_stats stats;
	_Alignas(64) _Atomic uint32_t link;   /* enum mongo_link */
};

/* Owner: built on the controlling thread and read-only once the system
 * runs, except members[i] (written by member i), `live` (members running)
 * and `pool` (destroyed by the last member to stop). Kept for the life of
 * the process: the admin endpoint may read it until exit. */
struct mongo_shared {
	const struct ad_config *cfg;
	mongoc_uri_t *uri;
	mongoc_client_pool_t *pool;
	unsigned count;
	bool added;                  /* the actor pool exists: never free this */
	atomic_uint live;
	uint32_t socket_timeout_ms;
	char hosts[256];             /* "host:port,..." for messages */
	struct mongo_member *members;
};

/* Owner: the mongo actor thread. */
struct mongo_actor {
	struct actor *a;
	struct mongo_shared *sh;
	struct mongo_member *me;
	struct mongo_conn conn;
	unsigned retry_ms;           /* next probe delay while down */
	uint64_t last_ok_ns;         /* last command that reached MongoDB */
	ev_timer probe_w;
};

static bool link_down(enum mongo_link l)
{
	return l != MONGO_LINK_UP && l != MONGO_LINK_UNKNOWN;
}

static void arm_probe(struct mongo_actor *ma, unsigned after_ms)
{
	struct ev_loop *loop = actor_loop(ma->a);

	ev_timer_stop(loop, &ma->probe_w);
	ev_timer_set(&ma->probe_w, after_ms / 1000.0, 0.);
	ev_timer_start(loop, &ma->probe_w);
}

/* A command finished: publish what it said about the connection, log the
 * transitions, and plan the next probe if the member is now down. */
static void note_link(struct mongo_actor *ma)
{
	enum mongo_link now = ma->conn.link;
	enum mongo_link was = atomic_load_explicit(&ma->me->link, memory_order_relaxed);

	if (now == MONGO_LINK_UP)
		ma->last_ok_ns = clock_now_ns();
	if (now == was && !link_down(now))
		return;
	if (now == MONGO_LINK_UP) {
		log_info("%s: connected to %s", actor_name(ma->a), ma->sh->hosts);
		counter_set(&ma->me->stats.connected, 1);
		ma->retry_ms = RETRY_MIN_MS;
		arm_probe(ma, IDLE_PING_MS);
	} else if (now != was) {
		if (was == MONGO_LINK_UP || was == MONGO_LINK_UNKNOWN)
			log_error("%s: cannot reach %s: %s", actor_name(ma->a), ma->sh->hosts,
				  mongo_link_str(now));
		else
			log_warn("%s: still cannot reach %s: %s", actor_name(ma->a),
				 ma->sh->hosts, mongo_link_str(now));
		counter_set(&ma->me->stats.connected, 0);
	}
	/* Relaxed: a lone state word for the readiness check, no data behind it. */
	atomic_store_explicit(&ma->me->link, (uint32_t)now, memory_order_relaxed);
	if (link_down(now)) {
		arm_probe(ma, ma->retry_ms);
		ma->retry_ms = ma->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : ma->retry_ms * 2;
	}
}

/* Member 0 leads: it alone probes while MongoDB is down, so the other
 * members stay free to answer at once instead of all blocking in the same
 * server selection timeout. */
static enum mongo_link leader_link(const struct mongo_actor *ma)
{
	return (enum mongo_link)atomic_load_explicit(&ma->sh->members[0].link,
						     memory_order_relaxed);
}

static bool is_leader(const struct mongo_actor *ma)
{
	return actor_index(ma->a) == 0;
}

/* Whether a call should be answered -ENOTCONN without trying MongoDB. */
static bool fail_fast(const struct mongo_actor *ma)
{
	enum mongo_link own = ma->conn.link, lead;

	if (own == MONGO_LINK_UP)
		return false;
	if (is_leader(ma))
		return link_down(own);
	lead = leader_link(ma);
	return lead != MONGO_LINK_UP && (link_down(own) || link_down(lead));
}

/* Probe timer: while down, try again (the leader, or anyone once the
 * leader is back); while up, ping if idle. */
static void on_probe(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mongo_actor *ma = w->data;
	enum mongo_link was = ma->conn.link;
	uint64_t idle_ms = (clock_now_ns() - ma->last_ok_ns) / 1000000u;

	(void)loop;
	(void)revents;
	if (was == MONGO_LINK_UP && idle_ms < IDLE_PING_MS) {
		arm_probe(ma, (unsigned)(IDLE_PING_MS - idle_ms));
		return;
	}
	if (was != MONGO_LINK_UP && !is_leader(ma) && leader_link(ma) != MONGO_LINK_UP) {
		arm_probe(ma, RETRY_MIN_MS);      /* look again; costs nothing */
		return;
	}
	if (link_down(was))
		counter_add(&ma->me->stats.reconnects_total, 1);
	mongo_conn_ping(&ma->conn);
	note_link(ma);
	if (ma->conn.link == MONGO_LINK_UP && was == MONGO_LINK_UP)
		arm_probe(ma, IDLE_PING_MS);
}

static void mongo_message(struct actor *a, struct msg *m)
{
	struct mongo_actor *ma = actor_state(a);
	struct call_msg *c = (struct call_msg *)(void *)m;
	const struct ad_config *cfg;
	int status;

	if (m->type < MONGO_MSG_FIND || m->type > MONGO_MSG_COUNT) {
		log_warn("%s: unexpected message type %#x", actor_name(a), m->type);
		/* A call (corr_id set by call_send) is owed its one reply. */
		if (m->corr_id != 0)
			call_reply(c, -EBADMSG);
		else
			msg_free(m);
		return;
	}
	if (call_expired(c, clock_now_ns())) {
		call_reply(c, -ETIMEDOUT);
		return;
	}
	if (fail_fast(ma)) {
		call_reply(c, -ENOTCONN);
		return;
	}
	cfg = config_current();
	if (cfg == NULL)
		cfg = ma->sh->cfg;
	status = mongo_conn_run(&ma->conn, cfg->mongo.database, mongo_msg_of(c));
	note_link(ma);
	call_reply(c, status);
}

static int mongo_start(struct actor *a)
{
	struct mongo_shared *sh = actor_user(a);
	struct mongo_actor *ma = calloc(1, sizeof(*ma));

	if (ma == NULL)
		return -ENOMEM;
	ma->a = a;
	ma->sh = sh;
	ma->me = &sh->members[actor_index(a)];
	ma->retry_ms = RETRY_MIN_MS;
	/* maxPoolSize is the member count: this never waits. */
	ma->conn.client = mongoc_client_pool_pop(sh->pool);
	ma->conn.stats = &ma->me->stats;
	ma->conn.name = actor_name(a);
	ma->conn.socket_timeout_ms = sh->socket_timeout_ms;
	ma->conn.link = MONGO_LINK_UNKNOWN;
	atomic_fetch_add_explicit(&sh->live, 1, memory_order_relaxed);
	ev_init(&ma->probe_w, on_probe);
	ma->probe_w.data = ma;
	/* First contact right away, so readiness is known without traffic. */
	arm_probe(ma, 0);
	actor_set_state(a, ma);
	return 0;
}

static void mongo_stop(struct actor *a)
{
	struct mongo_actor *ma = actor_state(a);
	struct mongo_shared *sh;

	if (ma == NULL)
		return;
	sh = ma->sh;
	ev_timer_stop(actor_loop(a), &ma->probe_w);
	mongoc_client_pool_push(sh->pool, ma->conn.client);
	actor_set_state(a, NULL);
	free(ma);
	/* acq_rel: the last member sees every other member's push. */
	if (atomic_fetch_sub_explicit(&sh->live, 1, memory_order_acq_rel) == 1) {
		mongoc_client_pool_destroy(sh->pool);
		mongoc_uri_destroy(sh->uri);
		sh->pool = NULL;
		sh->uri = NULL;
	}
}

static const struct actor_ops mongo_ops = {
	.start = mongo_start,
	.message = mongo_message,
	.stop = mongo_stop,
};

/* ---- Admin: counters and readiness (Thread: the admin actor) ---- */

static void mongo_collect(struct metrics_out *o, void *ctx)
{
	const struct mongo_shared *sh = ctx;
	char name[32];

	for (unsigned i = 0; i < sh->count; i++) {
		snprintf(name, sizeof(name), "mongo-%u", i);
		backend_stats_collect(o, "mongo", name, &sh->members[i].stats);
	}
}

/* The optional check while no pool runs: `ctx` is the reason (a literal). */
static bool mongo_unconfigured(void *ctx, char *reason, size_t len)
{
	snprintf(reason, len, "%s", (const char *)ctx);
	return false;
}

static bool mongo_ready(void *ctx, char *reason, size_t len)
{
	struct mongo_shared *sh = ctx;
	enum mongo_link first = MONGO_LINK_UNKNOWN;
	for (unsigned i = 0; i < sh->count; i++) {
		enum mongo_link l = atomic_load_explicit(&sh->members[i].link,
							 memory_order_relaxed);

		if (l == MONGO_LINK_UP)
			return true;
		if (first == MONGO_LINK_UNKNOWN)
			first = l;
	}
	if (first == MONGO_LINK_UNKNOWN)
		snprintf(reason, len, "connecting to %s", sh->hosts);
	else
		snprintf(reason, len, "cannot reach %s: %s", sh->hosts, mongo_link_str(first));
	return false;
}

/* ---- Start-up (Thread: controlling) ---- */

/* While make_uri parses mongo.uri on this thread: where the driver's
 * "Unsupported URI option" warning goes instead of the log. libmongoc only
 * warns about an unknown option and ignores it; a typo in the URI
 * ("maxPoolSiz") must be refused like any other key of the file. */
static _Thread_local char *uri_unknown;
static _Thread_local size_t uri_unknown_len;

/* Driver messages go to our log; its debug chatter (a line per failed
 * heartbeat while MongoDB is down) does not. */
static void on_driver_log(mongoc_log_level_t level, const char *domain, const char *message,
			  void *data)
{
	static const char unknown[] = "Unsupported URI option";

	(void)data;
	if (uri_unknown != NULL && uri_unknown[0] == '\0' &&
	    strncmp(message, unknown, sizeof(unknown) - 1) == 0) {
		snprintf(uri_unknown, uri_unknown_len, "%s", message);
		return;
	}
	if (level <= MONGOC_LOG_LEVEL_CRITICAL)
		log_error("mongoc %s: %s", domain, message);
	else if (level == MONGOC_LOG_LEVEL_WARNING)
		log_warn("mongoc %s: %s", domain, message);
}

static void driver_init_once(void)
{
	mongoc_init();
	mongoc_log_set_handler(on_driver_log, NULL);
}

/* Once per process, from whichever thread loads a configuration first
 * (the controlling thread, or the admin actor validating a reload). */
static void driver_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, driver_init_once);
}

static void describe_hosts(struct mongo_shared *sh)
{
	const mongoc_host_list_t *h = mongoc_uri_get_hosts(sh->uri);
	size_t n = 0;

	sh->hosts[0] = '\0';
	if (h == NULL && mongoc_uri_get_srv_hostname(sh->uri) != NULL)
		snprintf(sh->hosts, sizeof(sh->hosts), "%s", mongoc_uri_get_srv_hostname(sh->uri));
	for (; h != NULL && n < sizeof(sh->hosts); h = h->next) {
		int w = snprintf(sh->hosts + n, sizeof(sh->hosts) - n, "%s%s", n > 0 ? "," : "",
				 h->host_and_port);

		if (w > 0)
			n += (size_t)w;
	}
}

/* Parse mongo.uri and lay the mongo section's settings over it. A
 * refusal reads like every configuration error: "FILE: mongo.uri: why". */
static int make_uri(struct mongo_shared *sh, const struct ad_config *cfg, char *err,
		    size_t errlen)
{
	const struct config_mongo *mc = &cfg->mongo;
	char unknown[160] = "";
	bson_error_t e;

	uri_unknown = unknown;
	uri_unknown_len = sizeof(unknown);
	sh->uri = mongoc_uri_new_with_error(mc->uri, &e);
	uri_unknown = NULL;
	if (sh->uri == NULL) {
		snprintf(err, errlen, "%.400s: mongo.uri: %s", cfg->path, e.message);
		return -EINVAL;
	}
	if (unknown[0] != '\0') {
		snprintf(err, errlen, "%.400s: mongo.uri: %s (libmongoc would ignore it: a typo?)",
			 cfg->path, unknown);
		return -EINVAL;
	}
	if (!mongoc_uri_set_option_as_int32(sh->uri, MONGOC_URI_CONNECTTIMEOUTMS,
					    (int32_t)mc->connect_timeout_ms) ||
	    !mongoc_uri_set_option_as_int32(sh->uri, MONGOC_URI_SOCKETTIMEOUTMS,
					    (int32_t)mc->query_timeout_ms) ||
	    !mongoc_uri_set_option_as_int32(sh->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
					    (int32_t)mc->server_selection_timeout_ms) ||
	    !mongoc_uri_set_option_as_int32(sh->uri, MONGOC_URI_MAXPOOLSIZE,
					    (int32_t)cfg->mongo_actor.count) ||
	    !mongoc_uri_set_option_as_bool(sh->uri, MONGOC_URI_RETRYREADS, false) ||
	    !mongoc_uri_set_option_as_bool(sh->uri, MONGOC_URI_RETRYWRITES, false) ||
	    (mongoc_uri_get_appname(sh->uri) == NULL &&
	     !mongoc_uri_set_appname(sh->uri, "actord"))) {
		snprintf(err, errlen, "%.400s: mongo.uri: cannot apply the mongo settings to it",
			 cfg->path);
		return -EINVAL;
	}
	sh->socket_timeout_ms = mc->query_timeout_ms;
	describe_hosts(sh);
	return 0;
}

static void shared_free(void *user)
{
	struct mongo_shared *sh = user;

	if (sh->pool != NULL)
		mongoc_client_pool_destroy(sh->pool);
	if (sh->uri != NULL)
		mongoc_uri_destroy(sh->uri);
	free(sh->members);
	free(sh);
}

static int start_pool(struct actor_system *sys, struct mongo_shared *sh,
		      const struct ad_config *cfg, char *err, size_t errlen)
{
	struct actor_pool_spec spec;
	bson_error_t e;
	int rc;

	driver_init();
	rc = make_uri(sh, cfg, err, errlen);
	if (rc != 0)
		return rc;
	sh->pool = mongoc_client_pool_new_with_error(sh->uri, &e);
	if (sh->pool == NULL) {
		snprintf(err, errlen, "%.400s: mongo.uri: %s", cfg->path, e.message);
		return -EINVAL;
	}
	mongoc_client_pool_set_error_api(sh->pool, MONGOC_ERROR_API_VERSION_2);
	sh->count = cfg->mongo_actor.count;
	sh->members = aligned_alloc(_Alignof(struct mongo_member),
				    sizeof(struct mongo_member) * sh->count);
	if (sh->members == NULL) {
		snprintf(err, errlen, "mongo: out of memory");
		return -ENOMEM;
	}
	memset(sh->members, 0, sizeof(struct mongo_member) * sh->count);
	spec = (struct actor_pool_spec){
		.kind = &mongo_kind,
		.count = sh->count,
		.mbox_capacity = cfg->mongo_actor.mailbox,
		.shared_mailbox = true,
		.ops = &mongo_ops,
		.user = sh,
		.dispose = shared_free,
	};
	if (actor_system_add_pool(sys, &spec, err, errlen) == ACTOR_ADDR_NONE)
		return -EINVAL;
	sh->added = true;
	if (metrics_register(mongo_collect, sh) != 0) {
		snprintf(err, errlen, "mongo: too many metric collectors");
		return -ENOSPC;
	}
	return 0;
}

int mongo_check_config(const struct ad_config *cfg, char *err, size_t errlen)
{
	struct mongo_shared sh = { 0 };
	int rc;

	if (cfg->mongo.uri[0] == '\0' || cfg->mongo_actor.count == 0)
		return 0;
	driver_init();
	rc = make_uri(&sh, cfg, err, errlen);
	if (sh.uri != NULL)
		mongoc_uri_destroy(sh.uri);
	return rc;
}

int mongo_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		   char *err, size_t errlen)
{
	const char *unconfigured = NULL;
	struct mongo_shared *sh;
	int rc;

	if (cfg->mongo.uri[0] == '\0')
		unconfigured = "mongo.uri is not configured";
	else if (cfg->mongo_actor.count == 0)
		unconfigured = "actors.mongo.count is 0: no mongo actors";
	if (unconfigured != NULL) {
		if (metrics_register_optional_check("mongo", mongo_unconfigured,
						    (void *)unconfigured) != 0) {
			snprintf(err, errlen, "mongo: too many readiness checks");
			return -ENOSPC;
		}
		log_info("mongo: %s; the /mongo routes answer 503", unconfigured);
		return 0;
	}
	sh = calloc(1, sizeof(*sh));
	if (sh == NULL) {
		snprintf(err, errlen, "mongo: out of memory");
		return -ENOMEM;
	}
	sh->cfg = cfg;
	rc = start_pool(sys, sh, cfg, err, errlen);
	if (rc != 0 && !sh->added) {
		shared_free(sh);
		return rc;
	}
	/* From here the pool owns `sh` (its dispose hook frees it). */
	if (rc == 0 && metrics_register_optional_check("mongo", mongo_ready, sh) != 0) {
		snprintf(err, errlen, "mongo: too many readiness checks");
		rc = -ENOSPC;
	}
	return rc;
}
