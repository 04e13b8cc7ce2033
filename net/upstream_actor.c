/*
 * upstream_actor.c - the upstream client actor pool: accepting calls, the
 * pool's wiring into the daemon, and its metrics.
 *
 * DESIGN
 * Pool "upstream" (actors.upstream.count members, each with its own
 * mailbox and libev loop). Messages in: UPSTREAM_MSG_CALL (struct
 * upstream_call, built by a handler), STREAM_MSG_CREDIT (a network actor
 * asking for more of a streamed response body, or cancelling it:
 * upstream_stream.c) and STREAM_MSG_UPLOAD_DATA (pieces of a streamed
 * request body from a network actor: upstream_upload.c). Each call is
 * answered exactly once with call_reply (the same envelope back to its
 * caller): with the upstream's response, or with the status saying why
 * not (upstream.h). A call whose deadline already passed is answered
 * -ETIMEDOUT without touching the network. Any other message is logged
 * and freed.
 *
 * Calls are spread over the members by the callers (hreq_call's
 * round-robin); each member has its own pools, so upstream.max_connections
 * holds per member. Settings are read from the live configuration for
 * every call, so a reload applies to the next call.
 *
 * Each member has its own DNS resolver (dns/dns.h on its loop, the
 * servers of upstream.resolver or the system's) and its own TLS contexts
 * (upstream_tls.c).
 *
 * Stopping: the mailbox is drained into the pools as usual, then pending
 * lookups are cancelled, every queued and in-flight call is answered
 * -ESHUTDOWN and every connection closed.
 *
 * Metrics (docs/ADMIN.md, "Upstreams"): one collector for the whole pool
 * reads each member's published slots with relaxed loads; it never sends
 * a message. Nothing is registered as a readiness check.
 *
 * Thread: upstream_add_pool on the controlling thread; the rest on each
 * upstream actor's own thread, the collector on the admin thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream_internal.h"
#include "actors/log.h"
#include "base/clock.h"

const struct actor_kind upstream_kind = { "upstream" };

const struct config_upstream *up_limits(const struct up_actor *ua)
{
	return &config_current_or(ua->sh->cfg)->upstream;
}

/* Warnings about one upstream actor's upstreams: at most a few per second,
 * so an upstream that is down does not flood the log. */
void up_warn(struct up_pool *pl, const char *what, const char *reason)
{
	struct up_actor *ua = pl->ua;

	if (!log_budget_take(&ua->log_budget, clock_now_ns(), UPSTREAM_LOG_PER_S))
		return;
	if (reason != NULL && reason[0] != '\0')
		log_warn("%s: upstream %s: %s (%s)", actor_name(ua->actor), pl->st->name, what,
			 reason);
	else
		log_warn("%s: upstream %s: %s", actor_name(ua->actor), pl->st->name, what);
}

static void take_call(struct up_actor *ua, struct upstream_call *u)
{
	const struct config_upstream *lim = up_limits(ua);
	struct up_pool *pl;

	u->started_ns = clock_now_ns();
	u->next = NULL;
	/* A streamed body is sent once: nothing is kept to send it again. */
	u->retries_left = u->upload ? 0 : (uint8_t)(lim->retries > 255 ? 255 : lim->retries);
	pl = up_pool_get(ua, u);
	if (pl == NULL) {
		/* No memory, or no room for another upstream. */
		call_reply(&u->c, -EAGAIN);
		return;
	}
	counter_add(&pl->st->bs.requests_total, 1);
	counter_add(&pl->st->bs.inflight, 1);
	if (call_expired(&u->c, u->started_ns)) {
		up_call_done(pl, u, -ETIMEDOUT);
		return;
	}
	up_pool_dispatch(pl, u);
}

static void upstream_message(struct actor *a, struct msg *m)
{
	struct up_actor *ua = actor_state(a);

	if (m->type == UPSTREAM_MSG_CALL) {
		take_call(ua, msg_cast(m, struct upstream_call));
		return;
	}
	if (m->type == STREAM_MSG_CREDIT) {  /* a streamed body: upstream_stream.c */
		up_stream_credit(ua, msg_cast(m, struct stream_credit));
		return;
	}
	if (m->type == STREAM_MSG_UPLOAD_DATA) {  /* a request body: upstream_upload.c */
		up_upload_data(ua, msg_cast(m, struct stream_data));
		return;
	}
	log_warn("%s: unexpected message type %#x dropped", actor_name(a), m->type);
	msg_free(m);
}

static int upstream_start(struct actor *a)
{
	struct up_shared *sh = actor_user(a);
	struct up_actor *ua = calloc(1, sizeof(*ua));
	int rc;

	if (ua != NULL)
		ua->rbuf = malloc(UPSTREAM_READ_BUF);
	if (ua == NULL || ua->rbuf == NULL) {
		free(ua);
		return -ENOMEM;
	}
	ua->actor = a;
	ua->loop = actor_loop(a);
	ua->sh = sh;
	ua->stats = &sh->stats[actor_index(a)];
	list_init(&ua->streams);
	list_init(&ua->uploads);
	/* Without a resolver only address literals and localhost work; each
	 * call to a name then fails as "dns" with a log line. */
	ua->dns = dns_resolver_create(ua->loop, sh->cfg->upstream.resolver, &rc);
	if (ua->dns == NULL)
		log_error("%s: no DNS resolver (%s): host names will not resolve",
			  actor_name(a), ad_strerror(rc));
	actor_set_state(a, ua);
	return 0;
}

static void upstream_stop(struct actor *a)
{
	struct up_actor *ua = actor_state(a);

	if (ua == NULL)
		return;
	/* First: pending lookups end (-ECANCELED) while their pools exist. */
	dns_resolver_destroy(ua->dns);
	up_pools_destroy(ua);
	up_tls_actor_free(ua);
	actor_set_state(a, NULL);
	free(ua->rbuf);
	free(ua);
}

static const struct actor_ops upstream_ops = {
	.start = upstream_start,
	.message = upstream_message,
	.stop = upstream_stop,
};

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void collect_slot(struct metrics_out *o, const char *actor, const struct up_slot *cs)
{
	struct up_slot *s = (struct up_slot *)cs;   /* loads only */
	char backend[UPSTREAM_NAME_MAX + 16], n[UPSTREAM_NAME_MAX * 2], a[64];
	char labels[256], klabels[300];

	snprintf(backend, sizeof(backend), "upstream:%s", s->name);
	backend_stats_collect(o, backend, actor, &s->bs);
	snprintf(labels, sizeof(labels), "upstream=\"%s\",actor=\"%s\"",
		 metrics_label_value(n, sizeof(n), s->name),
		 metrics_label_value(a, sizeof(a), actor));
	metrics_gauge(o, "upstream_connections_idle",
		      "Idle keep-alive connections to the upstream.", labels,
		      (double)LD(s->idle));
	metrics_gauge(o, "upstream_queued",
		      "Upstream requests waiting for a connection (upstream.max_connections).",
		      labels, (double)LD(s->queued));
	metrics_counter(o, "upstream_connections_opened_total",
			"Connections opened to the upstream.", labels, LD(s->opened_total));
	metrics_counter(o, "upstream_requests_reused_total",
			"Upstream requests sent on a kept-alive connection.", labels,
			LD(s->reused_total));
	metrics_counter(o, "upstream_addresses_marked_down_total",
			"Addresses of the upstream's name taken out of the rotation after a "
			"failed connect.", labels, LD(s->addrs_down_total));
	metrics_counter(o, "upstream_dns_stale_total",
			"Failed lookups of the upstream's name answered by its last good "
			"addresses.", labels, LD(s->dns_stale_total));
	for (unsigned k = UPSTREAM_OK + 1; k < UPSTREAM_ERROR_KINDS; k++) {
		snprintf(klabels, sizeof(klabels), "%s,kind=\"%s\"", labels,
			 upstream_error_name((enum upstream_error)k));
		metrics_counter(o, "upstream_errors_total",
				"Failed upstream calls by kind.", klabels, LD(s->errors[k]));
	}
}

static void collect(struct metrics_out *o, void *ctx)
{
	const struct up_shared *sh = ctx;
	char actor[32];

	for (unsigned i = 0; i < sh->count; i++) {
		struct up_stats *st = &sh->stats[i];
		/* Acquire: pairs with the release in slot_for (the name). */
		uint32_t n = atomic_load_explicit(&st->nslots, memory_order_acquire);

		snprintf(actor, sizeof(actor), "upstream-%u", i);
		for (uint32_t j = 0; j < n; j++)
			collect_slot(o, actor, &st->slots[j]);
	}
}

/* The pool's counters (actor_pool_spec.dispose). */
static void dispose_shared(void *user)
{
	struct up_shared *sh = user;

	free(sh->stats);
	free(sh);
}

int upstream_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		      char *err, size_t errlen)
{
	unsigned count = cfg->upstream_actor.count;
	struct actor_pool_spec spec;
	struct up_shared *sh;

	if (count == 0)
		return 0;
	sh = calloc(1, sizeof(*sh));
	if (sh != NULL)
		sh->stats = aligned_alloc(_Alignof(struct up_stats), sizeof(struct up_stats) * count);
	if (sh == NULL || sh->stats == NULL) {
		free(sh);
		snprintf(err, errlen, "upstream: out of memory");
		return -ENOMEM;
	}
	memset(sh->stats, 0, sizeof(struct up_stats) * count);
	sh->cfg = cfg;
	sh->count = count;
	spec = (struct actor_pool_spec){
		.kind = &upstream_kind,
		.count = count,
		.mbox_capacity = cfg->upstream_actor.mailbox,
		.ops = &upstream_ops,
		.user = sh,
		.dispose = dispose_shared,
	};
	if (actor_system_add_pool(sys, &spec, err, errlen) == ACTOR_ADDR_NONE) {
		dispose_shared(sh);
		return -EINVAL;
	}
	/* The pool owns `sh` now; the collector reads it until the system is
	 * destroyed, after the admin actor stopped. */
	if (metrics_register(collect, sh) != 0) {
		snprintf(err, errlen, "upstream: too many metric collectors");
		return -ENOSPC;
	}
	return 0;
}
