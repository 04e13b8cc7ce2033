/*
 * actor_internal.h - the actor runtime's own structs, shared by actor.c
 * (threads, pools, resizing) and actor_access.c (lookups and accessors).
 * Nothing outside actors/actor*.c includes it: everyone else sees the
 * opaque types of actor.h.
 *
 * Ownership: see actor.c's header ("Owner").
 */
#ifndef ACTORD_ACTOR_INTERNAL_H
#define ACTORD_ACTOR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "actor.h"

#define MAX_POOLS 32

struct actor_pool {
	char kind[32];
	struct actor_pool_spec spec;
	unsigned max;                 /* slots reserved */
	bool resizable;               /* spec.max was given */
	actor_addr_t first;
	struct mbox *shared;          /* shared_mailbox pools only */
	_Atomic unsigned live;        /* members [0, live) take new work */
	bool stopped;                 /* control */
};

/* A slot's state: written by the control thread (STARTING..RETIRING) and
 * by the actor's thread (EXITED); read anywhere with acquire. */
enum slot_state { SLOT_EMPTY, SLOT_RUNNING, SLOT_RETIRING, SLOT_EXITED };

/* What the control watcher asks for. */
enum actor_cmd { CMD_NONE, CMD_RETIRE, CMD_STOP };

struct actor {
	/* Immutable after add_pool. */
	char name[48];
	actor_addr_t addr;
	unsigned index;
	struct actor_pool *pool;
	struct actor_system *sys;
	struct mbox *mb;
	unsigned mb_idx;
	pthread_t thread;
	bool has_thread;              /* control: started, not joined yet */
	_Atomic int slot_state;       /* enum slot_state */
	_Atomic int cmd;              /* enum actor_cmd, then stop_w is sent */
	/* Actor thread. */
	struct ev_loop *loop;
	ev_async stop_w;
	ev_timer retire_w;            /* polls a retiring member until it is idle */
	bool retiring;
	bool left_pool;               /* detached from a shared mailbox */
	ev_timer lag_w;
	ev_prepare prepare_w;
	ev_check check_w;
	void *state;
	uint64_t awake_since_ns;
	uint64_t lag_expected_ns;
	ev_timer retry_w;             /* resends replies that met a full mailbox */
	struct msg *retry_head;       /* FIFO through msg.link */
	struct msg *retry_tail;
	/* Single writer (actor thread), read anywhere with relaxed loads. */
	_Atomic uint64_t messages_total;
	_Atomic uint64_t busy_ns;
	_Atomic uint64_t loop_iterations;
	_Atomic uint64_t lag_hist[MBOX_HIST_BUCKETS];
	_Atomic uint64_t lag_sum_ns;
	_Atomic uint64_t lag_max_ns;
	_Atomic uint64_t replies_retried_total;
	/* Start-up handshake, under sys->lock. */
	int start_rc;
	bool start_done;
};

struct actor_system {
	struct actor **actors;
	unsigned nactors;
	struct actor_pool *pools[MAX_POOLS];
	unsigned npools;
	bool started;
	pthread_mutex_t lock;         /* start-up handshake only */
	pthread_cond_t cond;
	pthread_mutex_t ctl;          /* resizes and stopping */
};

/* actor.c, for actor_resize.c. Control path (holding `ctl`) unless said. */
struct actor *actor_slot(const struct actor_system *sys, const struct actor_pool *pool,
			 unsigned i);                       /* any thread */
struct actor_pool *actor_pool_of(const struct actor_system *sys,
				 const struct actor_kind *kind);  /* any thread */
void actor_signal_cmd(struct actor *a, enum actor_cmd cmd);
/* Join a slot whose thread is gone or going. */
void actor_join_slot(struct actor *a);
/* Start the thread of slot `a` and wait until its `start` ran. */
int actor_start_slot(struct actor_system *sys, struct actor *a, char *err, size_t errlen);

#endif
