/*
 * trace.h - W3C Trace Context (level 1): the trace a piece of work belongs
 * to, parsed from `traceparent` / `tracestate`, carried in every message
 * (mailbox/msg.h's struct msg_trace), and the thread's "current trace".
 *
 * DESIGN
 * A request's trace lives in its envelope (`m.trace`): the network actor
 * fills it when the request is parsed (the caller's trace id and a new span
 * id for actord's own span, or a new trace), and every message made while
 * an actor handles a message inherits it (call_msg_init copies the
 * current trace), so it crosses every actor hop by value: 32 bytes, no
 * allocation, no pointer into another thread's memory.
 *
 * The current trace is thread-local: the runtime sets it from each message
 * before the actor's `message` callback and clears it after (actors/actor.c),
 * and an actor that runs work for a message later (a handler's timer or
 * continuation) sets it itself. log_emit adds `trace_id` and `span_id` to
 * every line written while it is set; upstream calls send a `traceparent`
 * with a new child span id per call (and the request's `tracestate`).
 *
 * Parsing is exact (https://www.w3.org/TR/trace-context/, level 1):
 * traceparent version 00 is exactly 55 characters of lowercase hex and
 * dashes, trace id and parent id not all zeros, version ff refused, a
 * later version read by its first 55 characters (followed by '-' or the
 * end). Anything else is invalid and starts a new trace. tracestate is
 * validated as a whole (at most 32 list members, each key=value with the
 * spec's key and value grammar, no duplicate key); an invalid one is
 * dropped, never forwarded.
 *
 * Ids come from a per-thread splitmix64 generator seeded from getrandom:
 * unique, not secret.
 *
 * Thread: the functions on the current trace act on the calling thread's;
 * the rest are pure.
 */
#ifndef ACTORD_TRACE_H
#define ACTORD_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mailbox/msg.h"

#define TRACE_PARENT_LEN 55      /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define TRACE_STATE_MAX 512      /* longest tracestate kept and forwarded */
#define TRACE_ID_HEX 32
#define TRACE_SPAN_HEX 16

/* Read a traceparent value. 0: `out` has its trace id and flags (state
 * MSG_TRACE_SET | MSG_TRACE_REMOTE), `parent` the caller's span id, and
 * out->span_id is left alone. -EINVAL: invalid (see DESIGN). Thread: any. */
int trace_parse_parent(const char *v, size_t len, struct msg_trace *out, uint8_t parent[8]);

/* Whether a tracestate value (several headers joined with ',') is valid.
 * Thread: any. */
bool trace_state_valid(const char *v, size_t len);

/* The trace of a new request: the caller's (a valid `traceparent`, len
 * > 0) continued with a new span id, else a new trace (flags 01: actord
 * records it). `parent` gets the caller's span id (zeros for a new
 * trace). Thread: any (uses the thread's generator). */
void trace_begin(struct msg_trace *t, const char *traceparent, size_t len, uint8_t parent[8]);

/* A new random span id (never all zeros). Thread: any. */
void trace_new_span(uint8_t span[8]);

/* "00-<trace id>-<span>-<flags>" into out[TRACE_PARENT_LEN + 1]. */
void trace_format_parent(char *out, const struct msg_trace *t, const uint8_t span[8]);

/* ---- The current trace (thread-local) ---- */

/* The calling thread's current trace, or NULL. Valid until it changes. */
const struct msg_trace *trace_current(void);
/* Make `t` (copied; NULL or state 0: none) current, with no tracestate. */
void trace_set_current(const struct msg_trace *t);
/* The current trace's tracestate (validated; its memory must stay valid
 * while it is current), or NULL. */
void trace_set_current_state(const char *state, size_t len);
const char *trace_current_state(size_t *len);

/* Copy the current trace into `t` (state 0 if there is none): what every
 * new message made while handling another one gets (call_msg_init). */
static inline void trace_inherit(struct msg_trace *t);

/* Runtime hooks (actors/actor.c): make a message's trace current before
 * its actor handles it, and none after. */
static inline void trace_enter(const struct msg_trace *t);
static inline void trace_leave(void);

/* ---- inline: the runtime's per-message path ---- */

/* The calling thread's current trace. Read and written only through the
 * functions above; visible here so the per-message hooks inline. */
struct trace_tls {
	struct msg_trace t;
	const char *state;            /* tracestate, or NULL */
	size_t state_len;
};
extern _Thread_local struct trace_tls trace_tls;

static inline void trace_inherit(struct msg_trace *t)
{
	if (trace_tls.t.state != 0)
		*t = trace_tls.t;
	else
		t->state = 0;
}

static inline void trace_enter(const struct msg_trace *t)
{
	if (t->state != 0)
		trace_tls.t = *t;
	else
		trace_tls.t.state = 0;
	trace_tls.state = NULL;
}

static inline void trace_leave(void)
{
	trace_tls.t.state = 0;
	trace_tls.state = NULL;
}

#endif
