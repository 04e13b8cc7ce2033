/*
 * http_conn_deadline.c - when a connection is due, and when it may be
 * closed without owing anything (see http_conn.h): http_conn_deadline,
 * http_conn_idle and http_conn_unfinished read the state http_conn.c and
 * http_conn_request.c keep, and change nothing.
 *
 * Thread: the owning network actor.
 */
#include "http_conn_internal.h"

/* Nothing owed, queued, parked or held, and not over, upgraded or
 * streaming a body: what an idle or an unfinished connection share. */
static bool owes_nothing(const struct http_conn *c)
{
	return c->send_seq == c->next_seq && c->ready == NULL && c->parked == NULL &&
	       http_conn_held_pending(c) == 0 &&
	       !(c->flags & (HC_STOP | HC_DONE | HC_LINGER | HC_UPGRADED | HC_UPLOAD |
			     HC_UPHOLD | HC_UPWAIT));
}

bool http_conn_idle(const struct http_conn *c, uint64_t *since_ns)
{
	if (!owes_nothing(c) || c->phase != PH_IDLE || (c->flags & HC_FRESH) ||
	    c->cur != NULL || c->checked != 0)
		return false;
	*since_ns = c->since_ns;
	return true;
}

bool http_conn_unfinished(const struct http_conn *c, uint64_t *since_ns)
{
	if (!owes_nothing(c) ||
	    !(c->phase == PH_HEADERS || (c->phase == PH_IDLE && (c->flags & HC_FRESH))))
		return false;
	*since_ns = c->since_ns;
	return true;
}

static void earlier(uint64_t *best, enum net_timeout *kind, uint64_t t, enum net_timeout k)
{
	if (*best == 0 || t < *best) {
		*best = t;
		*kind = k;
	}
}

uint64_t http_conn_deadline(const struct http_conn *c, enum net_timeout *kind)
{
	const struct config_http *lim = c->env->http;
	const uint64_t ms = 1000000u;
	uint64_t best = 0, keepalive_ms = lim->keepalive_timeout_ms;

	if (c->flags & HC_DONE)
		return 0;
	if ((c->flags & HC_DRAIN) && keepalive_ms > HTTP_CONN_DRAIN_IDLE_MS)
		keepalive_ms = HTTP_CONN_DRAIN_IDLE_MS;
	/* A client that asked for 100 Continue waits for it before sending
	 * its body (RFC 9110 10.1.1): while the 100 waits behind an earlier
	 * answer, the body is not late; that answer's own backstop bounds
	 * the wait, and the body's periods start when the 100 goes out. */
	bool body_owed = c->phase == PH_BODY && !(c->flags & HC_CONTINUE);

	if (c->phase == PH_HEADERS)
		earlier(&best, kind, c->since_ns + lim->header_timeout_ms * ms, NET_TIMEOUT_HEADER);
	else if (body_owed)
		earlier(&best, kind, c->input_ns + lim->body_timeout_ms * ms, NET_TIMEOUT_BODY);
	if (body_owed && lim->body_min_rate > 0)
		/* Absolute: a byte now and then does not keep a body alive. */
		earlier(&best, kind, c->since_ns + lim->body_timeout_ms * ms +
			((c->flags & HC_UPLOAD) ? c->upload_bytes : c->acc_len - c->body_off) *
			1000000000u / lim->body_min_rate,
			NET_TIMEOUT_BODY);
	/* The handler backstop; a request whose body is still streaming is
	 * bounded by the body timeouts instead (its period starts at the end
	 * of the body). */
	if (c->send_seq != c->next_seq &&
	    !((c->flags & HC_UPLOAD) && c->send_seq == c->upload_seq) &&
	    (c->ready == NULL || c->ready->hm.seq != c->send_seq))
		earlier(&best, kind,
			c->head_ns + (lim->request_timeout_ms + (uint64_t)HTTP_CONN_HANDLER_GRACE_MS) * ms,
			NET_TIMEOUT_HANDLER);
	if (c->phase == PH_IDLE && c->send_seq == c->next_seq) {
		if (c->flags & HC_FRESH)
			earlier(&best, kind, c->since_ns + lim->header_timeout_ms * ms,
				NET_TIMEOUT_HEADER);
		else
			earlier(&best, kind, c->since_ns + keepalive_ms * ms,
				NET_TIMEOUT_KEEPALIVE);
	}
	return best;
}
