/*
 * ws_chan.c - channels on one network actor: which of its WebSocket
 * connections subscribe to what, and the fan-out of a channel's frame.
 *
 * DESIGN
 * A chained hash table of channels by name (ws_channel_hash, FNV-1a), each with the list
 * of its members; a member links a connection and a channel and sits in
 * both lists, so leaving is O(1) and a closing connection leaves all its
 * channels in one walk. A channel exists while it has members.
 *
 * Channels are joined through the pubsub actor (storage/pubsub.h), which
 * counts, per channel and network actor, the subscriptions it forwarded:
 * that count decides where a published frame goes and whether Redis must
 * carry the channel. Each channel here therefore counts the PUSH_MSG_SUBs
 * it received during its life (`subs`), and when it empties tells the
 * pubsub actor that many are gone (PUSH_MSG_CHAN_OFF). A subscription for
 * a connection that has closed meanwhile is reported the same way at
 * once, so the pubsub actor's counts always come back to zero.
 *
 * Fan-out: one atomic add takes the references for every member, then
 * each member's queue gets the same frame (ws_link_queue applies the
 * slow-consumer policy per member).
 *
 * Thread: the owning network actor.
 */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"

struct ws_chan {
	struct ws_chan *next;         /* hash chain */
	struct list members;          /* struct ws_member.in_chan */
	uint32_t nmembers;
	uint32_t subs;                /* PUSH_MSG_SUBs received in this life */
	uint32_t hash;
	uint32_t len;
	char name[];
};

struct ws_member {
	struct list in_chan;
	struct list in_link;
	struct ws_chan *ch;
	struct ws_link *l;
};

struct ws_net *ws_net_get(struct net_actor *na)
{
	if (na->ws == NULL) {
		na->ws = calloc(1, sizeof(*na->ws));
		if (na->ws != NULL)
			na->ws->pubsub = ACTOR_ADDR_NONE;
	}
	return na->ws;
}

void ws_net_free(struct net_actor *na)
{
	struct ws_net *wn = na->ws;

	if (wn == NULL)
		return;
	/* Connections left their channels when they closed. */
	free(wn->buckets);
	free(wn);
	na->ws = NULL;
}

static struct ws_chan **find(struct ws_net *wn, const char *name, size_t len, uint32_t h)
{
	struct ws_chan **pp;

	if (wn->nbuckets == 0)
		return NULL;
	for (pp = &wn->buckets[h & (wn->nbuckets - 1)]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->len == len && memcmp((*pp)->name, name, len) == 0)
			return pp;
	return NULL;
}

static int grow(struct ws_net *wn)
{
	uint32_t n = wn->nbuckets > 0 ? wn->nbuckets * 2 : 64;
	struct ws_chan **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return -1;
	for (uint32_t i = 0; i < wn->nbuckets; i++) {
		struct ws_chan *ch = wn->buckets[i], *next;

		for (; ch != NULL; ch = next) {
			next = ch->next;
			ch->next = b[ch->hash & (n - 1)];
			b[ch->hash & (n - 1)] = ch;
		}
	}
	free(wn->buckets);
	wn->buckets = b;
	wn->nbuckets = n;
	return 0;
}

/* Tell the pubsub actor that `subs` subscriptions to `name` are over. */
static void report_off(struct net_actor *na, const char *name, size_t len, uint32_t subs)
{
	struct ws_net *wn = na->ws;
	struct push_msg *p;

	if (wn == NULL || wn->pubsub == ACTOR_ADDR_NONE || subs == 0)
		return;
	p = push_msg_new(PUSH_MSG_CHAN_OFF, name, len);
	if (p == NULL)
		return;
	p->count = subs;
	p->m.reply_to = wn->pubsub;
	actor_reply(&p->m);          /* the counts must come back: retried, never dropped */
}

void ws_chan_join(struct net_actor *na, struct ws_link *l, const char *name, size_t len)
{
	struct ws_net *wn = ws_net_get(na);
	uint32_t h = ws_channel_hash(name, len);
	struct ws_chan **pp, *ch;
	struct ws_member *mb;
	struct list *it;

	if (wn == NULL || l == NULL || l->close_queued || l->phase == WSP_LINGER) {
		report_off(na, name, len, 1);
		return;
	}
	pp = find(wn, name, len, h);
	if (pp == NULL) {
		if (wn->nchans >= wn->nbuckets && grow(wn) != 0) {
			report_off(na, name, len, 1);
			return;
		}
		ch = malloc(sizeof(*ch) + len + 1);
		if (ch == NULL) {
			report_off(na, name, len, 1);
			return;
		}
		list_init(&ch->members);
		ch->nmembers = 0;
		ch->subs = 0;
		ch->hash = h;
		ch->len = (uint32_t)len;
		memcpy(ch->name, name, len);
		ch->name[len] = '\0';
		ch->next = wn->buckets[h & (wn->nbuckets - 1)];
		wn->buckets[h & (wn->nbuckets - 1)] = ch;
		wn->nchans++;
		counter_add(&na->stats->ws.channels, 1);
	} else {
		ch = *pp;
	}
	ch->subs++;
	for (it = l->members.next; it != &l->members; it = it->next)
		if (list_entry(it, struct ws_member, in_link)->ch == ch)
			return;              /* already a member */
	mb = malloc(sizeof(*mb));
	if (mb == NULL) {
		if (ch->nmembers == 0)
			ws_chan_leave(na, NULL, name, len);   /* frees it, reports */
		return;
	}
	mb->ch = ch;
	mb->l = l;
	list_push_back(&ch->members, &mb->in_chan);
	list_push_back(&l->members, &mb->in_link);
	ch->nmembers++;
	counter_add(&na->stats->ws.memberships, 1);
}

static void chan_free(struct net_actor *na, struct ws_chan *ch)
{
	struct ws_net *wn = na->ws;
	struct ws_chan **pp = find(wn, ch->name, ch->len, ch->hash);

	if (pp != NULL)
		*pp = ch->next;
	wn->nchans--;
	counter_add(&na->stats->ws.channels, -1);
	report_off(na, ch->name, ch->len, ch->subs);
	free(ch);
}

static void member_free(struct net_actor *na, struct ws_member *mb)
{
	struct ws_chan *ch = mb->ch;

	list_remove(&mb->in_chan);
	list_remove(&mb->in_link);
	free(mb);
	counter_add(&na->stats->ws.memberships, -1);
	if (--ch->nmembers == 0)
		chan_free(na, ch);
}

void ws_chan_leave(struct net_actor *na, struct ws_link *l, const char *name, size_t len)
{
	struct ws_net *wn = na->ws;
	struct ws_chan **pp = wn != NULL ? find(wn, name, len, ws_channel_hash(name, len)) : NULL;
	struct list *it;

	if (pp == NULL)
		return;
	if (l == NULL) {             /* a channel that never got its member */
		if ((*pp)->nmembers == 0)
			chan_free(na, *pp);
		return;
	}
	for (it = l->members.next; it != &l->members; it = it->next) {
		struct ws_member *mb = list_entry(it, struct ws_member, in_link);

		if (mb->ch == *pp) {
			member_free(na, mb);
			return;
		}
	}
}

void ws_chan_leave_all(struct net_actor *na, struct ws_link *l)
{
	struct list *it, *tmp;

	list_foreach_safe(it, tmp, &l->members)
		member_free(na, list_entry(it, struct ws_member, in_link));
}

void ws_chan_fanout(struct net_actor *na, const char *name, size_t len, struct ws_blob *b)
{
	struct ws_net *wn = na->ws;
	struct ws_chan **pp = wn != NULL ? find(wn, name, len, ws_channel_hash(name, len)) : NULL;
	struct list *it, *tmp;

	if (pp == NULL || (*pp)->nmembers == 0) {
		ws_blob_unref(b);
		return;
	}
	/* One reference per member, taken at once; ours is the first's. */
	if ((*pp)->nmembers > 1)
		ws_blob_ref(b, (*pp)->nmembers - 1);
	/* A member's queue may close it (policy "close") but never frees it
	 * here: the walk is safe. */
	list_foreach_safe(it, tmp, &(*pp)->members)
		ws_link_queue(list_entry(it, struct ws_member, in_chan)->l, b);
}
