/*
 * call.c - the pending-call table of one actor (see call.h).
 *
 * DESIGN
 * A fixed array of slots and a free-slot stack: sending takes a slot,
 * stamps corr_id = slot | generation << 32 on the message and records the
 * continuation; the reply names its slot, and the slot's generation and
 * message pointer must both match, so a reply can never run the wrong
 * continuation. Nothing here allocates after creation.
 *
 * Owner: one actor thread per table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "trace.h"

struct call_slot {
	struct call_msg *msg;      /* in flight; NULL when the slot is free */
	call_fn fn;
	void *ctx;
	void *arg;
	uint32_t gen;
};

/* A service kind resolved once, then served round-robin. */
struct kind_ref {
	const struct actor_kind *kind;
	const struct actor_pool *pool;  /* its live count is read per pick */
	actor_addr_t first;
	unsigned rr;
};

struct call_table {
	struct actor *owner;
	struct kind_ref kinds[CALL_MAX_KINDS];
	unsigned nkinds;
	struct call_slot *slots;
	uint32_t *free;            /* stack of free slot indexes */
	unsigned nfree;
	unsigned max;
	uint64_t late_total;
};

struct call_table *call_table_create(struct actor *owner, unsigned max_pending)
{
	struct call_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->slots = calloc(max_pending, sizeof(*t->slots));
	t->free = calloc(max_pending, sizeof(*t->free));
	if (t->slots == NULL || t->free == NULL) {
		call_table_destroy(t);
		return NULL;
	}
	t->owner = owner;
	t->max = max_pending;
	for (unsigned i = 0; i < max_pending; i++) {
		t->free[i] = max_pending - 1 - i;
		t->slots[i].gen = 1;
	}
	t->nfree = max_pending;
	return t;
}

void call_table_destroy(struct call_table *t)
{
	if (t == NULL)
		return;
	free(t->slots);
	free(t->free);
	free(t);
}

void call_msg_init(struct call_msg *c, uint32_t type, msg_free_fn free_fn,
		   uint64_t deadline_ns)
{
	msg_init(&c->m, type, free_fn);
	trace_inherit(&c->m.trace);     /* the call belongs to the work at hand */
	c->status = 0;
	c->reserved = 0;
	c->deadline_ns = deadline_ns;
}

int call_send(struct call_table *t, actor_addr_t to, struct call_msg *c,
	      call_fn fn, void *ctx, void *arg)
{
	struct call_slot *s;
	uint32_t idx;
	int rc;

	ACTOR_ASSERT_OWNER(t->owner);
	if (t->nfree == 0)
		return -ENOSPC;
	idx = t->free[t->nfree - 1];
	s = &t->slots[idx];
	c->m.reply_to = actor_addr(t->owner);
	c->m.corr_id = (uint64_t)idx | ((uint64_t)s->gen << 32);
	c->m.flags &= ~CALL_FLAG_REPLY;
	c->status = 0;
	rc = actor_send(actor_sys(t->owner), to, &c->m);
	if (rc != 0) {
		c->m.corr_id = 0;
		return rc;
	}
	t->nfree--;
	s->msg = c;
	s->fn = fn;
	s->ctx = ctx;
	s->arg = arg;
	return 0;
}

bool call_dispatch(struct call_table *t, struct msg *m)
{
	uint32_t idx = (uint32_t)m->corr_id, gen = (uint32_t)(m->corr_id >> 32);
	struct call_slot *s;
	call_fn fn;
	void *ctx, *arg;

	ACTOR_ASSERT_OWNER(t->owner);
	if ((m->flags & CALL_FLAG_REPLY) == 0 || gen == 0 || idx >= t->max)
		return false;
	s = &t->slots[idx];
	if (s->msg != (struct call_msg *)(void *)m || s->gen != gen) {
		t->late_total++;
		msg_free(m);
		return true;
	}
	fn = s->fn;
	ctx = s->ctx;
	arg = s->arg;
	s->msg = NULL;
	/* Generation 0 is never used: corr_id 0 means "not a call". */
	if (++s->gen == 0)
		s->gen = 1;
	t->free[t->nfree++] = idx;
	fn((struct call_msg *)(void *)m, ctx, arg);
	msg_free(m);
	return true;
}

actor_addr_t call_pick(struct call_table *t, const struct actor_kind *kind)
{
	struct kind_ref *k = NULL;
	actor_addr_t a;
	unsigned count;

	ACTOR_ASSERT_OWNER(t->owner);
	for (unsigned i = 0; i < t->nkinds; i++) {
		if (t->kinds[i].kind == kind) {
			k = &t->kinds[i];
			break;
		}
	}
	if (k == NULL) {
		const struct actor_pool *pool = actor_system_pool(actor_sys(t->owner), kind);

		if (pool == NULL)
			return ACTOR_ADDR_NONE;
		if (t->nkinds == CALL_MAX_KINDS)
			return actor_pool_first(pool);
		k = &t->kinds[t->nkinds++];
		*k = (struct kind_ref){ .kind = kind, .pool = pool, .first = actor_pool_first(pool) };
	}
	/* The pool may have grown or shrunk since the last pick. */
	count = actor_pool_live(k->pool);
	if (k->rr >= count)
		k->rr = 0;
	a = k->first + k->rr;
	if (++k->rr == count)
		k->rr = 0;
	return a;
}

unsigned call_pending(const struct call_table *t)
{
	return t->max - t->nfree;
}

uint64_t call_late_total(const struct call_table *t)
{
	return t->late_total;
}

void call_reply(struct call_msg *c, int status)
{
	c->status = status;
	c->m.flags |= CALL_FLAG_REPLY;
	actor_reply(&c->m);
}
