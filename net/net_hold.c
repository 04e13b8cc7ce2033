/*
 * net_hold.c - requests a network actor holds while every handler mailbox
 * is full: bursts wait, nothing is refused.
 *
 * DESIGN
 * A full handler mailbox says that a queue has a fixed length, not that
 * anybody waited too long, so it is not an answer. A complete request that
 * no handler mailbox takes (submit answers -EAGAIN) stays parked in its
 * connection (http_conn.h): parsed and small, while nothing after it is
 * parsed and the connection is not read, so TCP pushes back on that
 * client. The connection joins this actor's FIFO of held connections, and
 * while the FIFO is not empty a new request on any other connection joins
 * it too instead of overtaking (net_actor.c's submit), so requests reach
 * the handlers in arrival order.
 *
 * The FIFO is offered to the handlers again, oldest first, at the end of
 * every loop iteration (on_net_flush: replies coming back mean a handler
 * took requests out of its mailbox) and every NET_HOLD_RETRY_MS while it
 * is not empty (a stuck handler sends no replies). A retry does not send
 * to a mailbox that is still full (mbox_full), so retries are not counted
 * as refusals; it stops at the first request no handler takes.
 *
 * Nothing here refuses or times out. Time is the handlers' business: a
 * request carries its arrival time (received_ns), and a handler that takes
 * one that waited too long in a standing queue sheds it at once (CoDel,
 * actors/admit.h). A handler that never makes room meets the connection's
 * backstop (504 at request_timeout_ms + 1 s).
 *
 * Memory: one parked request per connection at most, plus its unparsed
 * input (one read), so the held requests are bounded by the connections.
 *
 * Thread: the owning network actor.
 */
#include <errno.h>

#include "net_internal.h"

static void on_hold_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	net_hold_retry(w->data);
}

void net_hold_init(struct net_actor *na)
{
	list_init(&na->held);
	ev_init(&na->hold_w, on_hold_timer);
	na->hold_w.repeat = NET_HOLD_RETRY_MS / 1000.0;
	na->hold_w.data = na;
}

void net_hold_stop(struct net_actor *na)
{
	ev_timer_stop(na->loop, &na->hold_w);
}

void net_hold_add(void *ctx, struct http_conn *hc)
{
	struct net_actor *na = ctx;
	/* hc is the first member of its net_conn. */
	struct net_conn *c = (struct net_conn *)(void *)hc;

	if (c->held)
		return;
	c->held = true;
	list_push_back(&na->held, &c->held_link);
	counter_add(&na->stats->held, 1);
	if (!ev_is_active(&na->hold_w))
		ev_timer_again(na->loop, &na->hold_w);
}

void net_hold_forget(struct net_conn *c)
{
	if (!c->held)
		return;
	c->held = false;
	list_remove(&c->held_link);
	counter_add(&c->na->stats->held, -1);
}

void net_hold_retry(struct net_actor *na)
{
	struct list *e;

	na->hold_retrying = true;
	while ((e = list_first(&na->held)) != NULL) {
		struct net_conn *c = list_entry(e, struct net_conn, held_link);

		if (http_conn_submit_parked(&c->hc) == -EAGAIN)
			break;
		net_hold_forget(c);
		/* Its held input may be parsed now, its 503 (if any) written. */
		net_conn_mark_dirty(c);
	}
	na->hold_retrying = false;
	if (list_empty(&na->held))
		ev_timer_stop(na->loop, &na->hold_w);
}
