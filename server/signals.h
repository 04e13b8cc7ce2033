/*
 * signals.h - the control loop: signals drive reload, log reopening and
 * the graceful drain, all on the controlling (main) thread.
 *
 * DESIGN
 * Every asynchronous signal is blocked before the first actor thread is
 * created, so threads inherit the mask and only the control loop ever
 * receives one (through a signalfd): no handler runs on an actor thread and
 * no handler code is restricted to async-signal-safe calls.
 *
 *  SIGHUP          reload: config_load the same file; if valid, keep the
 *                  settings that need a restart, publish the snapshot,
 *                  apply log settings, and call `reloaded` (the server
 *                  resizes the pools whose count changed); if not, log why
 *                  and keep running.
 *  SIGUSR1         log_reopen().
 *  SIGUSR2         binary upgrade: `upgrade` starts the new process and
 *                  waits for it; once it serves, this process drains
 *                  gently (`handover_type` to the drain kind) and returns
 *                  SIGNALS_HANDED_OVER; if it fails, we keep serving.
 *  SIGTERM/SIGINT  drain: readiness false, one drain message to every
 *                  actor of the drain kind (the network actors), wait until
 *                  each has freed its message (drained) or drain_timeout_ms
 *                  passed, then return SIGNALS_DRAINED. A second SIGTERM or
 *                  SIGINT meanwhile returns SIGNALS_FORCED at once, its log
 *                  line written directly (log_bypass_actor): the caller
 *                  is expected to _exit(). After the drain, while the
 *                  actors stop, signals_force_exit_on_next does the same.
 *
 * Thread: controlling only.
 */
#ifndef ACTORD_SIGNALS_H
#define ACTORD_SIGNALS_H

#include <stdint.h>

#include "actors/actor.h"
#include "config/config.h"

enum signals_outcome {
	SIGNALS_DRAINED = 0,   /* drained (or drain deadline passed): stop in order */
	SIGNALS_FORCED = 1,    /* second signal: exit now without waiting */
	SIGNALS_HANDED_OVER = 2, /* a new process serves; drained: stop in order */
};

/* What `upgrade` reports. */
enum signals_upgrade {
	SIGNALS_UPGRADE_FAILED,      /* the new process is gone: keep serving */
	SIGNALS_UPGRADE_READY,       /* the new process serves: hand over */
	SIGNALS_UPGRADE_STOP,        /* SIGTERM/SIGINT came meanwhile: drain */
};

/* What "drain" means for this program: a message of `msg_type` (a bare
 * struct msg) sent to each actor of `kind`. The receiver stops accepting
 * work, finishes what it has, and frees the message with msg_free() when
 * it is done (or when it stops); that free is the completion signal. */
struct signals_drain {
	const struct actor_kind *kind;
	uint32_t msg_type;
	/* Optional (NULL/0: none). The drain message after a binary upgrade,
	 * to `kind` and to every `also` pool (those only get it: their drain
	 * is not waited for). */
	uint32_t handover_type;
	const struct actor_kind *handover_also;
	/* After a reload published `next` in place of `prev`. */
	void (*reloaded)(void *ctx, const struct ad_config *prev, const struct ad_config *next);
	/* SIGUSR2: start a new process and wait for it; `sfd` is the
	 * signalfd, for SIGTERM meanwhile. */
	enum signals_upgrade (*upgrade)(void *ctx, int sfd);
	void *ctx;
};

/* Block every asynchronous signal in the calling thread (and so in every
 * thread it creates afterwards). Returns 0 or -errno. */
int signals_block_all(void);

/* Serve signals until a drain finishes. `config_path` is re-read on
 * SIGHUP; the live snapshot is config_current(). */
enum signals_outcome signals_run(struct actor_system *sys, const char *config_path,
				 const struct signals_drain *drain);

/* When the last drain's time (drain_timeout_ms from its start) is up, in
 * clock_now_ns() time; 0 before any drain. Thread: the control thread. */
uint64_t signals_drain_deadline_ns(void);

/* After signals_run returned SIGNALS_DRAINED or SIGNALS_HANDED_OVER, while
 * the caller stops its actors (one may be stuck in a long call): the next
 * SIGTERM or SIGINT writes its reason directly, releases the pidfile and
 * _exit(1)s, as a second signal during the drain does. Starts a thread
 * that lives until signals_force_exit_off. Returns 0 or -errno. */
int signals_force_exit_on_next(void);

/* The stop finished: end the thread signals_force_exit_on_next started
 * (a signal from now on stays pending until the process exits). */
void signals_force_exit_off(void);

#endif
