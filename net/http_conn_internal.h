/*
 * http_conn_internal.h - what the parts of the connection code share:
 * http_conn.c (lifecycle, the parse loop, answer ordering, output,
 * expiry), http_conn_deadline.c (deadlines, and whether a connection is
 * idle) and http_conn_request.c (http-parser's callbacks, which copy each
 * request into its envelope). Not a public header.
 *
 * Owner: the network actor thread that owns the connection.
 */
#ifndef ACTORD_HTTP_CONN_INTERNAL_H
#define ACTORD_HTTP_CONN_INTERNAL_H

#include <stdbool.h>

#include <http_parser.h>

#include "http_conn.h"

enum phase { PH_IDLE, PH_HEADERS, PH_BODY };
enum last_cb { CB_NONE, CB_FIELD, CB_VALUE };

#define HC_FRESH    0x01u  /* no request started yet */
#define HC_STOP     0x02u  /* parse nothing more */
#define HC_DONE     0x04u  /* over: a closing answer was written, or EOF */
#define HC_CONTINUE 0x08u  /* send 100 Continue when the request is next */
#define HC_METHOD   0x10u  /* the method of `cur` is known (its URL began) */
#define HC_URL_DONE 0x20u  /* the URL of `cur` is terminated */
#define HC_LINGER   0x40u  /* over after a closing answer went out */
#define HC_DRAIN    0x80u  /* server draining: the last answer closes */
#define HC_UPGRADED 0x100u /* a 101 went out: WebSocket from here (ws_conn.c) */
#define HC_UPLOAD   0x200u /* the body of upload_seq is being streamed */
#define HC_UPCUT    0x400u /* the body of upload_seq was cut short: its answer closes */
#define HC_UPHOLD   0x800u /* the owner still delivers upload_seq's body: parse
			    * no further request (one streamed body at a time) */
#define HC_UPWAIT   0x1000u /* the last request asked to switch protocols: parse
			     * nothing more until its answer says whether */

/* Fixed part of a request line around method and URL: " HTTP/1.1\r\n". */
#define REQ_LINE_EXTRA 11u
/* Keep the whole request below this so every length fits in 32 bits. */
#define REQ_MAX_TOTAL (UINT32_MAX - (1u << 20))

/* Input read but not parsed yet (the pipeline was full). */
static inline size_t http_conn_held_pending(const struct http_conn *c)
{
	return c->held != NULL ? net_buf_pending(c->held) : 0;
}

/* http_conn_request.c: the callbacks http_parser_execute runs. */
extern const http_parser_settings http_conn_settings;

/* The status and reason a parser error is answered with (a callback's
 * own refusal first, then http-parser's errno). */
unsigned http_conn_parser_status(struct http_conn *c, enum http_errno err,
				 const char **reason);

/* http_conn.c: what submit's answer `rc` means for request `r`: nothing
 * (0: a handler has it), park it (-EAGAIN), or answer it 503. */
void http_conn_submitted(struct http_conn *c, struct net_req *r, int rc);

/* http_conn.c: a streamed body will not complete (`status`: 413, 400 or
 * 0): tell the owner, and make the request's answer close the
 * connection. Nothing if no body is being streamed. */
void http_conn_upload_abort(struct http_conn *c, unsigned status);

/* http_conn.c: queue answer `r` in seq order; false (and `r` left to the
 * caller) if an answer with that seq is already queued. */
bool http_conn_insert_ready(struct http_conn *c, struct net_req *r);

#endif
