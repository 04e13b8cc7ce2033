/*
 * http_out.h - HTTP/1.1 response serialisation and the cached Date header.
 *
 * DESIGN
 * A response is written into a net_buf in one pass: the size is computed
 * first, reserved once, then every piece is copied. Every response carries
 * Server, Date, Content-Type and Content-Length; HEAD responses keep the
 * Content-Length of the body they leave out. The Date text is formatted at
 * most once per second per network actor (http_date_update), never per
 * request.
 *
 * The error responses the network actor produces itself (400, 413, 414,
 * 431, 501, 503, 504, 505) are filled in by http_out_set_error with static
 * bodies.
 *
 * Thread: the owning network actor; nothing here is shared.
 */
#ifndef ACTORD_HTTP_OUT_H
#define ACTORD_HTTP_OUT_H

#include <stdbool.h>
#include <time.h>

#include "http_msg.h"
#include "net_buf.h"

#define HTTP_DATE_LEN 29   /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Owner: one network actor. */
struct http_date {
	time_t sec;                     /* second `text` was formatted for */
	char text[HTTP_DATE_LEN + 1];
};

/* What the Connection header of a response says. */
enum http_out_conn {
	HTTP_OUT_PERSIST,       /* HTTP/1.1 default: no header */
	HTTP_OUT_KEEP_ALIVE,    /* HTTP/1.0 client asked to keep the connection */
	HTTP_OUT_CLOSE,         /* the connection closes after this response */
};

/* Format the date for wall-clock second `now` unless it already is.
 * Thread: owner. */
void http_date_update(struct http_date *d, time_t now);

/* Append the response held in `hm` (status, content_type, resp_headers,
 * resp_body). `head`: leave the body out. A file body
 * (resp_has_file) is announced in Content-Length and not copied: the
 * caller sends it after these bytes. An invalid status (< 100 or
 * > 999) is sent as 500. 0 or -ENOMEM. Thread: owner. */
int http_out_response(struct net_buf *out, const struct http_msg *hm,
		      const struct http_date *date, bool head,
		      enum http_out_conn conn);

/* Append the interim "100 Continue" response. 0 or -ENOMEM. */
int http_out_continue(struct net_buf *out);

/* Fill the response fields of `hm` for an error the network actor answers
 * itself: 400, 413, 414, 431, 503 (with Retry-After: 1) or 504; any other
 * status gets a generic body (static; resp_buf is kept for reuse). Thread: owner. */
void http_out_set_error(struct http_msg *hm, unsigned status);

/* The reason phrase of `status` ("OK", "Not Found"...). Thread: any. */
const char *http_out_reason(unsigned status);

#endif
