/*
 * work_timer.h - one-shot timers that belong to a unit of work (a request
 * context, a job) and are listed in it, so that work freed early (an actor
 * stopping) can stop every timer it still has on the loop.
 *
 * DESIGN
 * The unit of work keeps a singly linked list head; each timer embeds
 * `struct work_timer` as its FIRST member and carries whatever its
 * continuation needs after it. Firing unlinks the timer before its
 * continuation runs, so the continuation may free the work.
 *
 * Owner: the thread of the loop the timers run on.
 */
#ifndef ACTORD_WORK_TIMER_H
#define ACTORD_WORK_TIMER_H

#include <stddef.h>

#include <ev.h>

struct work_timer {
	ev_timer w;                   /* MUST be first */
	struct work_timer *next;
};
_Static_assert(offsetof(struct work_timer, w) == 0,
	       "struct work_timer is used through a pointer to its w");

/* Link `t` into `list` and start it: `cb` runs once after `ms` ms with
 * w->data == t. Thread: owner. */
static inline void work_timer_start(struct ev_loop *loop, struct work_timer **list,
				    struct work_timer *t, unsigned ms,
				    void (*cb)(struct ev_loop *, ev_timer *, int))
{
	t->next = *list;
	*list = t;
	ev_timer_init(&t->w, cb, ms / 1000.0, 0.);
	t->w.data = t;
	ev_timer_start(loop, &t->w);
}

/* Take a fired timer out of `list`. Thread: owner. */
static inline void work_timer_unlink(struct work_timer **list, struct work_timer *t)
{
	for (struct work_timer **pp = list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			return;
		}
	}
}

/* Stop every timer still in `list` and empty it; `release` (may be NULL)
 * frees each one. Thread: owner. */
static inline void work_timer_stop_all(struct ev_loop *loop, struct work_timer **list,
				       void (*release)(struct work_timer *))
{
	while (*list != NULL) {
		struct work_timer *t = *list;

		*list = t->next;
		ev_timer_stop(loop, &t->w);
		if (release != NULL)
			release(t);
	}
}

#endif
