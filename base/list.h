/*
 * list.h - the intrusive doubly linked list, once for the whole code base
 * (libuv's queue.h is the model).
 *
 * DESIGN
 * A list is a `struct list` head; an element embeds a `struct list` link
 * and is found back from it with list_entry(). The head is a sentinel in
 * a ring, so insertion and removal never test for the ends, and an
 * element knows whether it is linked (list_linked) because a removed link
 * points at itself. Nothing is allocated.
 *
 * Thread: a list and its elements belong to one thread (the owner of the
 * structure that holds the head).
 */
#ifndef ACTORD_BASE_LIST_H
#define ACTORD_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
	struct list *prev, *next;
};

#define list_entry(link, type, member) \
	((type *)(void *)((char *)(link) - offsetof(type, member)))

/* An empty head, or an unlinked element. */
static inline void list_init(struct list *l)
{
	l->prev = l->next = l;
}

static inline bool list_empty(const struct list *head)
{
	return head->next == head;
}

/* Whether an element initialised with list_init is in a list. */
static inline bool list_linked(const struct list *e)
{
	return e->next != e;
}

static inline void list_insert_after(struct list *at, struct list *e)
{
	e->prev = at;
	e->next = at->next;
	at->next->prev = e;
	at->next = e;
}

/* At the end (FIFO order with list_first). */
static inline void list_push_back(struct list *head, struct list *e)
{
	list_insert_after(head->prev, e);
}

static inline void list_push_front(struct list *head, struct list *e)
{
	list_insert_after(head, e);
}

/* Unlink `e` and leave it unlinked (list_linked false). */
static inline void list_remove(struct list *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	list_init(e);
}

/* First / last element's link, or NULL when empty. */
static inline struct list *list_first(const struct list *head)
{
	return list_empty(head) ? NULL : head->next;
}

static inline struct list *list_last(const struct list *head)
{
	return list_empty(head) ? NULL : head->prev;
}

/* The link after / before `e` in `head`'s list, or NULL at the end. */
static inline struct list *list_next(const struct list *head, const struct list *e)
{
	return e->next == head ? NULL : e->next;
}

static inline struct list *list_prev(const struct list *head, const struct list *e)
{
	return e->prev == head ? NULL : e->prev;
}

/* Iterate over the links; `it` may be removed inside the loop body. */
#define list_foreach_safe(it, tmp, head) \
	for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head); \
	     (it) = (tmp), (tmp) = (it)->next)

#endif
