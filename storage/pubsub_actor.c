/*
 * pubsub_actor.c - the pubsub actor (see pubsub.h).
 *
 * DESIGN
 * State: a hash table of channels, each with one count per network actor
 * (`fwd`): subscriptions forwarded to that actor minus those it reported
 * gone (PUSH_MSG_CHAN_OFF carries how many PUSH_MSG_SUBs a channel of its
 * received before it emptied). A count covers subscriptions still in
 * flight, so a frame published right after a subscription reaches the
 * new member (the subscription and the frame travel the same mailbox, in
 * order), and a channel that empties while a new subscription crosses
 * its report stays wanted. A channel leaves the table, and Redis, when
 * every count is back to zero.
 *
 * Messages in: PUSH_MSG_PUBLISH (fan out, then PUBLISH), PUSH_MSG_SUBSCRIBE
 * (count, SUBSCRIBE if new, forward to the connection's network actor as
 * PUSH_MSG_SUB with actor_reply: ordered and never dropped),
 * PUSH_MSG_CHAN_OFF. From Redis: "message" pushes of other instances,
 * fanned out like a local publish (but not published again).
 *
 * Fan-out to a network actor whose mailbox is full drops the frame for
 * that actor's members, counted (pubsub_fanout_dropped_total): a
 * publisher never waits and nothing grows without bound.
 *
 * Thread: the pubsub actor; pubsub_add_pool on the controlling thread;
 * ws_subscribe / ws_publish on the caller's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "pubsub.h"
#include "rconn.h"
#include "actors/backend_stats.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "base/clock.h"
#include "base/log_budget.h"
#include "config/config.h"
#include "push/ws_push.h"

const struct actor_kind pubsub_kind = { "pubsub" };

#define PS_MAX_NETS 64
#define ORIGIN_LEN 16              /* hex digits of the instance id */
#define REDIS_CHANNEL_MAX (64 + 1 + WS_CHANNEL_MAX)

/* The pool's `user`: counters for the admin endpoint, freed by dispose. */
struct ps_shared {
	const struct ad_config *cfg;
	const struct actor_kind *net;
	struct backend_stats pub_stats;   /* the PUBLISH connection */
	struct backend_stats sub_stats;   /* the subscriber */
	_Atomic int pub_error, sub_error;
	_Alignas(64)
	counter_t published_total;        /* ws_publish calls that reached us */
	counter_t fanout_total;           /* frames handed to network actors */
	counter_t fanout_dropped_total;   /* ... refused (full mailbox) */
	counter_t redis_published_total;  /* PUBLISH answered by Redis */
	counter_t redis_lost_total;       /* PUBLISH not taken: down, timeout, error */
	counter_t redis_received_total;   /* messages of other instances */
	counter_t redis_invalid_total;    /* ... that were not one frame: dropped */
	counter_t channels;               /* gauge */
	counter_t redis_subscriptions;    /* gauge: channels subscribed in Redis */
};

struct ps_chan {
	struct ps_chan *next;
	uint32_t hash, len;
	uint32_t total;                   /* sum of fwd */
	uint32_t fwd[PS_MAX_NETS];
	char name[];
};

/* Owner: the pubsub actor thread. */
struct pubsub {
	struct actor *actor;
	struct actor_system *sys;
	struct ps_shared *sh;
	actor_addr_t net_first;
	unsigned nnets;
	struct ps_chan **buckets;
	uint32_t nbuckets, nchans;
	struct rconn *pub, *sub;
	char prefix[64];
	char origin[ORIGIN_LEN + 1];
	uint64_t lost_logged_ns;
	uint64_t invalid_logged_ns;
	uint64_t dropped_logged_ns;
};

static struct ps_chan **find(struct pubsub *ps, const char *name, size_t len)
{
	uint32_t h = ws_channel_hash(name, len);
	struct ps_chan **pp;

	if (ps->nbuckets == 0)
		return NULL;
	for (pp = &ps->buckets[h & (ps->nbuckets - 1)]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->len == len && memcmp((*pp)->name, name, len) == 0)
			return pp;
	return NULL;
}

static struct ps_chan *chan_add(struct pubsub *ps, const char *name, size_t len)
{
	struct ps_chan *ch;
	uint32_t h = ws_channel_hash(name, len);

	if (ps->nchans >= ps->nbuckets) {
		uint32_t n = ps->nbuckets > 0 ? ps->nbuckets * 2 : 64;
		struct ps_chan **b = calloc(n, sizeof(*b));

		if (b == NULL)
			return NULL;
		for (uint32_t i = 0; i < ps->nbuckets; i++) {
			struct ps_chan *c = ps->buckets[i], *next;

			for (; c != NULL; c = next) {
				next = c->next;
				c->next = b[c->hash & (n - 1)];
				b[c->hash & (n - 1)] = c;
			}
		}
		free(ps->buckets);
		ps->buckets = b;
		ps->nbuckets = n;
	}
	ch = calloc(1, sizeof(*ch) + len + 1);
	if (ch == NULL)
		return NULL;
	ch->hash = h;
	ch->len = (uint32_t)len;
	memcpy(ch->name, name, len);
	ch->next = ps->buckets[h & (ps->nbuckets - 1)];
	ps->buckets[h & (ps->nbuckets - 1)] = ch;
	ps->nchans++;
	counter_add(&ps->sh->channels, 1);
	return ch;
}

/* ---- Redis ---- */

static size_t redis_name(const struct pubsub *ps, char *out, const char *name, size_t len)
{
	return (size_t)snprintf(out, REDIS_CHANNEL_MAX + 1, "%s:%.*s", ps->prefix, (int)len, name);
}

static void redis_sub(struct pubsub *ps, const char *verb, const struct ps_chan *ch)
{
	char rn[REDIS_CHANNEL_MAX + 1];
	size_t n;
	const char *p = rn;

	if (ps->sub == NULL)
		return;
	n = redis_name(ps, rn, ch->name, ch->len);
	if (rconn_pubsub(ps->sub, verb, 1, &p, &n) == 0)
		counter_add(&ps->sh->redis_subscriptions, verb[0] == 'S' ? 1 : -1);
}

/* The subscriber came up: every channel again (one command). */
static void on_sub_state(void *ctx, bool up)
{
	struct pubsub *ps = ctx;
	const char **names;
	size_t *lens;
	char *buf;
	int n = 0;

	counter_set(&ps->sh->redis_subscriptions, 0);
	if (!up || ps->nchans == 0)
		return;
	names = malloc(sizeof(*names) * ps->nchans);
	lens = malloc(sizeof(*lens) * ps->nchans);
	buf = malloc((size_t)ps->nchans * (REDIS_CHANNEL_MAX + 1));
	if (names != NULL && lens != NULL && buf != NULL) {
		for (uint32_t i = 0; i < ps->nbuckets; i++)
			for (struct ps_chan *ch = ps->buckets[i]; ch != NULL; ch = ch->next) {
				char *rn = buf + (size_t)n * (REDIS_CHANNEL_MAX + 1);

				lens[n] = redis_name(ps, rn, ch->name, ch->len);
				names[n++] = rn;
			}
		if (rconn_pubsub(ps->sub, "SUBSCRIBE", n, names, lens) == 0) {
			counter_set(&ps->sh->redis_subscriptions, (uint64_t)n);
			log_info("pubsub: subscribed again to %d channel(s)", n);
		}
	} else {
		log_error("pubsub: no memory to subscribe again");
	}
	free(names);
	free(lens);
	free(buf);
}

static void fanout(struct pubsub *ps, const char *name, size_t len, struct ws_blob *b);

static void on_push(void *ctx, const redisReply *r)
{
	struct pubsub *ps = ctx;
	const redisReply *ch, *payload;
	size_t plen = strlen(ps->prefix);
	struct ws_blob *b;
	int err;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0)
		return;
	ch = r->element[1];
	payload = r->element[2];
	if (ch->type != REDIS_REPLY_STRING || payload->type != REDIS_REPLY_STRING ||
	    ch->len <= plen + 1)
		return;
	if (payload->len >= ORIGIN_LEN && memcmp(payload->str, ps->origin, ORIGIN_LEN) == 0)
		return;                   /* ours: delivered here already */
	counter_add(&ps->sh->redis_received_total, 1);
	err = -EBADMSG;
	b = payload->len < ORIGIN_LEN ? NULL :
	    ws_blob_copy(payload->str + ORIGIN_LEN, payload->len - ORIGIN_LEN, &err);
	if (b == NULL) {
		if (err == -EBADMSG) {
			counter_add(&ps->sh->redis_invalid_total, 1);
			if (log_every_due(&ps->invalid_logged_ns, clock_now_ns(), NS_PER_S))
				log_warn("pubsub: a message on Redis channel '%.*s' is not one "
					 "WebSocket frame (another publisher?): dropped",
					 (int)ch->len, ch->str);
		}
		return;
	}
	b->published_ns = clock_now_ns();
	fanout(ps, ch->str + plen + 1, ch->len - plen - 1, b);
}

static void lost(struct pubsub *ps, int status)
{
	uint64_t now = clock_now_ns();

	counter_add(&ps->sh->redis_lost_total, 1);
	if (log_every_due(&ps->lost_logged_ns, now, NS_PER_S)) {
		log_warn("pubsub: a publish did not reach Redis (%s): other instances miss it",
			 ad_strerror(status));
	}
}

static void on_published(void *arg, int status, const redisReply *reply)
{
	struct pubsub *ps = arg;

	if (status == 0)
		status = rconn_reply_status(reply);
	if (status != 0)
		lost(ps, status);
	else
		counter_add(&ps->sh->redis_published_total, 1);
}

static void redis_publish(struct pubsub *ps, const char *name, size_t len, const struct ws_blob *b)
{
	char rn[REDIS_CHANNEL_MAX + 1];
	const char *argv[3];
	size_t argl[3];
	char *payload;
	int rc;

	if (ps->pub == NULL)
		return;
	payload = malloc(ORIGIN_LEN + b->len);
	if (payload == NULL) {
		lost(ps, -ENOMEM);
		return;
	}
	memcpy(payload, ps->origin, ORIGIN_LEN);
	memcpy(payload + ORIGIN_LEN, b->data, b->len);
	argv[0] = "PUBLISH";
	argl[0] = 7;
	argl[1] = redis_name(ps, rn, name, len);
	argv[1] = rn;
	argv[2] = payload;
	argl[2] = ORIGIN_LEN + b->len;
	rc = rconn_command(ps->pub, 0, on_published, ps, 3, argv, argl);
	free(payload);
	if (rc != 0)
		lost(ps, rc);
}

/* ---- Messages ---- */

/* Hand `b` (one reference, taken) to every network actor with members. */
static void fanout(struct pubsub *ps, const char *name, size_t len, struct ws_blob *b)
{
	struct ps_chan **pp = find(ps, name, len);
	unsigned dropped = 0;

	for (unsigned i = 0; pp != NULL && i < ps->nnets; i++) {
		struct push_msg *f;

		if ((*pp)->fwd[i] == 0)
			continue;
		f = push_msg_new(PUSH_MSG_FANOUT, name, len);
		if (f == NULL) {
			dropped++;
			continue;
		}
		ws_blob_ref(b, 1);
		f->blob = b;
		if (actor_send(ps->sys, ps->net_first + i, &f->m) != 0) {
			dropped++;
			msg_free(&f->m);
		} else {
			counter_add(&ps->sh->fanout_total, 1);
		}
	}
	ws_blob_unref(b);
	if (dropped == 0)
		return;
	counter_add(&ps->sh->fanout_dropped_total, dropped);
	if (log_every_due(&ps->dropped_logged_ns, clock_now_ns(), NS_PER_S))
		log_warn("pubsub: a frame of channel '%.*s' was dropped for the members on %u "
			 "network actor(s): mailbox full (actors.net.mailbox) or out of memory",
			 (int)len, name, dropped);
}

static void on_subscribe(struct pubsub *ps, struct push_msg *p)
{
	unsigned i = ws_id_actor(p->ws_id) - ps->net_first;
	struct ps_chan **pp = find(ps, p->data, p->len), *ch;

	if (ws_id_actor(p->ws_id) < ps->net_first || i >= ps->nnets) {
		msg_free(&p->m);          /* not a connection of ours */
		return;
	}
	ch = pp != NULL ? *pp : chan_add(ps, p->data, p->len);
	if (ch == NULL) {
		log_error("pubsub: no memory for channel '%s'", p->data);
		msg_free(&p->m);
		return;
	}
	if (ch->total++ == 0)
		redis_sub(ps, "SUBSCRIBE", ch);
	ch->fwd[i]++;
	p->m.type = PUSH_MSG_SUB;
	p->m.reply_to = ps->net_first + i;
	actor_reply(&p->m);           /* ordered before later frames; never dropped */
}

static void on_chan_off(struct pubsub *ps, struct push_msg *p)
{
	unsigned i = p->m.from - ps->net_first;
	struct ps_chan **pp = find(ps, p->data, p->len), *ch;
	uint32_t n;

	if (pp == NULL || p->m.from < ps->net_first || i >= ps->nnets)
		return;
	ch = *pp;
	n = p->count < ch->fwd[i] ? p->count : ch->fwd[i];
	ch->fwd[i] -= n;
	ch->total -= n;
	if (ch->total > 0)
		return;
	redis_sub(ps, "UNSUBSCRIBE", ch);
	*pp = ch->next;
	ps->nchans--;
	counter_add(&ps->sh->channels, -1);
	free(ch);
}

static void pubsub_message(struct actor *a, struct msg *m)
{
	struct pubsub *ps = actor_state(a);
	struct push_msg *p = (struct push_msg *)(void *)m;
	struct ws_blob *b;

	switch (m->type) {
	case PUSH_MSG_PUBLISH:
		counter_add(&ps->sh->published_total, 1);
		b = p->blob;
		p->blob = NULL;
		if (b != NULL) {
			redis_publish(ps, p->data, p->len, b);
			fanout(ps, p->data, p->len, b);
		}
		break;
	case PUSH_MSG_SUBSCRIBE:
		on_subscribe(ps, p);
		return;
	case PUSH_MSG_CHAN_OFF:
		on_chan_off(ps, p);
		break;
	default:
		break;
	}
	msg_free(m);
}

/* ---- Life cycle ---- */

static int pubsub_start(struct actor *a)
{
	struct ps_shared *sh = actor_user(a);
	const struct ad_config *cfg = config_current_or(sh->cfg);
	struct pubsub *ps = calloc(1, sizeof(*ps));
	uint8_t rnd[ORIGIN_LEN / 2];

	if (ps == NULL)
		return -ENOMEM;
	ps->actor = a;
	ps->sys = actor_sys(a);
	ps->sh = sh;
	ps->net_first = actor_system_find_kind(ps->sys, sh->net, &ps->nnets);
	if (ps->net_first == ACTOR_ADDR_NONE)
		ps->nnets = 0;
	if (ps->nnets > PS_MAX_NETS)
		ps->nnets = PS_MAX_NETS;
	snprintf(ps->prefix, sizeof(ps->prefix), "%s", cfg->websocket.redis_prefix);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t t = clock_now_ns();

		memcpy(rnd, &t, sizeof(rnd));
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(ps->origin + 2 * i, 3, "%02x", rnd[i]);
	if (cfg->websocket.redis) {
		struct rconn_opts po = { .stats = &sh->pub_stats, .last_error = &sh->pub_error };
		struct rconn_opts so = { .stats = &sh->sub_stats, .last_error = &sh->sub_error,
					 .on_state = on_sub_state, .on_push = on_push, .ctx = ps };

		ps->pub = rconn_create(actor_loop(a), &po);
		ps->sub = rconn_create(actor_loop(a), &so);
		if (ps->pub == NULL || ps->sub == NULL) {
			rconn_destroy(ps->pub);
			rconn_destroy(ps->sub);
			free(ps);
			return -ENOMEM;
		}
	}
	actor_set_state(a, ps);
	return 0;
}

static void pubsub_stop(struct actor *a)
{
	struct pubsub *ps = actor_state(a);

	if (ps == NULL)
		return;
	rconn_destroy(ps->pub);
	rconn_destroy(ps->sub);
	for (uint32_t i = 0; i < ps->nbuckets; i++)
		while (ps->buckets[i] != NULL) {
			struct ps_chan *ch = ps->buckets[i];

			ps->buckets[i] = ch->next;
			free(ch);
		}
	free(ps->buckets);
	actor_set_state(a, NULL);
	free(ps);
}

static const struct actor_ops pubsub_ops = {
	.start = pubsub_start,
	.message = pubsub_message,
	.stop = pubsub_stop,
};

static void collect(struct metrics_out *o, void *ctx)
{
	struct ps_shared *sh = ctx;

	if (sh->cfg->websocket.redis) {
		backend_stats_collect(o, "redis_publish", "pubsub-0", &sh->pub_stats);
		backend_stats_collect(o, "redis_subscribe", "pubsub-0", &sh->sub_stats);
	}
	metrics_counter(o, "pubsub_published_total", "Messages published to channels", NULL,
			counter_get(&sh->published_total));
	metrics_counter(o, "pubsub_fanout_total", "Published frames handed to network actors",
			NULL, counter_get(&sh->fanout_total));
	metrics_counter(o, "pubsub_fanout_dropped_total",
			"Published frames a network actor's full mailbox refused", NULL,
			counter_get(&sh->fanout_dropped_total));
	metrics_counter(o, "pubsub_redis_published_total", "Publishes Redis took", NULL,
			counter_get(&sh->redis_published_total));
	metrics_counter(o, "pubsub_redis_lost_total",
			"Publishes Redis did not take (down, timeout, error): other instances "
			"missed them", NULL, counter_get(&sh->redis_lost_total));
	metrics_counter(o, "pubsub_redis_received_total",
			"Messages received from other instances through Redis", NULL,
			counter_get(&sh->redis_received_total));
	metrics_counter(o, "pubsub_redis_invalid_total",
			"Messages from Redis that were not one WebSocket frame: dropped", NULL,
			counter_get(&sh->redis_invalid_total));
	metrics_gauge(o, "pubsub_channels", "Channels with members on this instance", NULL,
		      (double)counter_get(&sh->channels));
	metrics_gauge(o, "pubsub_redis_subscriptions", "Channels subscribed in Redis", NULL,
		      (double)counter_get(&sh->redis_subscriptions));
}

static void dispose(void *user)
{
	free(user);
}

int pubsub_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		    const struct actor_kind *net, char *err, size_t errlen)
{
	struct actor_pool_spec spec;
	struct ps_shared *sh;

	if (cfg->pubsub.count == 0)
		return 0;
	sh = aligned_alloc(64, (sizeof(*sh) + 63) & ~(size_t)63);
	if (sh == NULL) {
		snprintf(err, errlen, "pubsub: out of memory");
		return -ENOMEM;
	}
	memset(sh, 0, sizeof(*sh));
	sh->cfg = cfg;
	sh->net = net;
	spec = (struct actor_pool_spec){
		.kind = &pubsub_kind,
		.count = 1,
		.mbox_capacity = cfg->pubsub.mailbox,
		.ops = &pubsub_ops,
		.user = sh,
		.dispose = dispose,
	};
	if (actor_system_add_pool(sys, &spec, err, errlen) == ACTOR_ADDR_NONE) {
		free(sh);
		return -EINVAL;
	}
	if (metrics_register(collect, sh) != 0) {
		snprintf(err, errlen, "pubsub: too many metrics collectors");
		return -ENOSPC;
	}
	return 0;
}

/* ---- The API (any actor) ---- */

static int to_pubsub(struct actor_system *sys, struct push_msg *p)
{
	unsigned n;
	actor_addr_t to = actor_system_find_kind(sys, &pubsub_kind, &n);
	int rc = to == ACTOR_ADDR_NONE ? -ESRCH : actor_send(sys, to, &p->m);

	if (rc != 0)
		msg_free(&p->m);
	return rc;
}

int ws_subscribe(struct actor_system *sys, uint64_t ws_id, const char *channel)
{
	size_t len = strlen(channel);
	struct push_msg *p;

	if (!ws_channel_valid(channel, len))
		return -EINVAL;
	p = push_msg_new(PUSH_MSG_SUBSCRIBE, channel, len);
	if (p == NULL)
		return -ENOMEM;
	p->ws_id = ws_id;
	return to_pubsub(sys, p);
}

int ws_publish_blob(struct actor_system *sys, const char *channel, struct ws_blob *b)
{
	size_t len = strlen(channel);
	struct push_msg *p;

	if (b == NULL)
		return -ENOMEM;
	if (!ws_channel_valid(channel, len)) {
		ws_blob_unref(b);
		return -EINVAL;
	}
	p = push_msg_new(PUSH_MSG_PUBLISH, channel, len);
	if (p == NULL) {
		ws_blob_unref(b);
		return -ENOMEM;
	}
	if (b->published_ns == 0)
		b->published_ns = clock_now_ns();
	p->blob = b;
	return to_pubsub(sys, p);
}

int ws_publish(struct actor_system *sys, const char *channel, const void *data, size_t len,
	       bool text)
{
	int err;
	struct ws_blob *b = ws_blob_message(data, len, text, &err);

	return b != NULL ? ws_publish_blob(sys, channel, b) : err;
}
