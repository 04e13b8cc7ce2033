/*
 * step_client.h - a client actor for the service tests (storage, worker): the test thread
 * hands it a step (a function) to run on the actor's own thread, where the
 * step may call a service actor with call_send(); each reply it expects is
 * counted with step_client_done(), and the test thread waits for the count.
 *
 * One client per test program (the step and the count are globals): add
 * one pool of kind "client", count 1, with step_client_ops.
 */
#ifndef ACTORD_TEST_STEP_CLIENT_H
#define ACTORD_TEST_STEP_CLIENT_H

#include "actors/actor.h"
#include "actors/call.h"

/* The client pool's kind ("client"). */
extern const struct actor_kind step_client_kind;

extern const struct actor_ops step_client_ops;

/* The client's call table (room for 4096 calls in flight).
 * Thread: the client actor. */
struct call_table *step_client_calls(struct actor *a);

/* One outcome is in: whatever the step or a reply wrote before is visible
 * to the test thread once it sees the count.
 * Thread: the client actor. */
void step_client_done(void);

/* Run `step` on the "client" actor of `sys` and wait until `want` outcomes
 * are counted, polling every millisecond `timeout_ms` times at most; fails
 * the test unless exactly `want` came in.
 * Thread: the test thread. */
void step_client_run(struct actor_system *sys, void (*step)(struct actor *a), int want,
		     int timeout_ms);

#endif
