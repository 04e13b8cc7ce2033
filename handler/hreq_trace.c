/*
 * hreq_trace.c - a request's W3C trace context (actors/trace.h) on the
 * handler side: what routes read (handler_api.h) and what the handler
 * makes current while it runs work for a request outside a message
 * (timers, the deadline).
 *
 * DESIGN
 * The network actor parsed `traceparent` into the envelope's m.trace; the
 * runtime made it current for the message that brought the request, and
 * every call the route makes inherits it (call_msg_init). The request
 * keeps a copy (for its timers), and the `tracestate` it came with:
 * only when the trace came from a traceparent (W3C: a tracestate without
 * a valid traceparent is dropped), every tracestate field joined with ','
 * as RFC 9110 allows, validated, and copied into the request's arena (the
 * envelope goes back to the network actor when the request is answered;
 * continuations may still run). Requests without a traceparent pay one
 * test.
 *
 * Thread: the handler actor that owns the request.
 */
#include <string.h>
#include <strings.h>

#include "handler_internal.h"
#include "actors/trace.h"

static void join_tracestate(struct hreq *r)
{
	const struct http_msg *hm = r->hm;
	size_t total = 0, n = 0;
	char *out;

	for (unsigned i = 0; i < hm->nheaders; i++)
		if (hm->headers[i].name_len == 10 &&
		    strncasecmp(hm->headers[i].name, "tracestate", 10) == 0)
			total += hm->headers[i].value_len + 1;
	if (total == 0 || total > TRACE_STATE_MAX + 1 || (out = hreq_alloc(r, total)) == NULL)
		return;
	for (unsigned i = 0; i < hm->nheaders; i++)
		if (hm->headers[i].name_len == 10 &&
		    strncasecmp(hm->headers[i].name, "tracestate", 10) == 0) {
			if (n > 0)
				out[n++] = ',';
			memcpy(out + n, hm->headers[i].value, hm->headers[i].value_len);
			n += hm->headers[i].value_len;
		}
	out[n] = '\0';
	if (n > 0 && trace_state_valid(out, n)) {
		r->tracestate = out;
		r->tracestate_len = n;
	}
}

void hreq_trace_begin(struct hreq *r)
{
	r->trace = r->hm->m.trace;
	r->tracestate = NULL;
	r->tracestate_len = 0;
	if (r->trace.state & MSG_TRACE_REMOTE) {
		join_tracestate(r);
		trace_set_current_state(r->tracestate, r->tracestate_len);
	}
}

void hreq_trace_resume(struct hreq *r)
{
	trace_set_current(&r->trace);
	trace_set_current_state(r->tracestate, r->tracestate_len);
}

const struct msg_trace *hreq_trace(const struct hreq *r)
{
	return &r->trace;
}

void hreq_traceparent(const struct hreq *r, char *out)
{
	uint8_t span[8];

	trace_new_span(span);
	trace_format_parent(out, &r->trace, span);
}

const char *hreq_tracestate(const struct hreq *r, size_t *len)
{
	*len = r->tracestate_len;
	return r->tracestate;
}
