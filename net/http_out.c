/*
 * http_out.c - response serialisation and the Date cache (see http_out.h).
 *
 * DESIGN
 * The hot path (a 200 with a short body) is a handful of memcpy calls into
 * memory reserved once; numbers are formatted by hand, the status line of
 * the common statuses is a constant. No allocation unless the output
 * buffer has to grow.
 *
 * Thread: the owning network actor.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "http_out.h"

#define SERVER_HDR "Server: actord\r\nDate: "
#define DEFAULT_CONTENT_TYPE "text/plain; charset=utf-8"

void http_date_update(struct http_date *d, time_t now)
{
	struct tm tm;

	if (d->sec == now && d->text[0] != '\0')
		return;
	gmtime_r(&now, &tm);
	if (strftime(d->text, sizeof(d->text), "%a, %d %b %Y %H:%M:%S GMT", &tm) !=
	    HTTP_DATE_LEN)
		memcpy(d->text, "Thu, 01 Jan 1970 00:00:00 GMT", HTTP_DATE_LEN + 1);
	d->sec = now;
}

const char *http_out_reason(unsigned status)
{
	const char *s = http_status_str((enum http_status)status);

	if (s != NULL && s[0] != '<')
		return s;
	switch (status / 100) {
	case 1: return "Informational";
	case 2: return "Success";
	case 3: return "Redirection";
	case 4: return "Client Error";
	default: return "Server Error";
	}
}

/* Decimal digits of `v` into the end of `tmp`; returns the first digit. */
static char *fmt_u64(char tmp[24], uint64_t v)
{
	char *p = tmp + 24;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return p;
}

static char *put(char *w, const void *p, size_t n)
{
	memcpy(w, p, n);
	return w + n;
}

#define PUT_LIT(w, s) put((w), (s), sizeof(s) - 1)

/* "HTTP/1.1 200 OK\r\n" into `line`; returns its length. */
static size_t status_line(char line[96], unsigned status)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\n";
	const char *reason;
	size_t rlen;
	char *w = line;

	if (status == 200) {
		memcpy(line, ok, sizeof(ok) - 1);
		return sizeof(ok) - 1;
	}
	reason = http_out_reason(status);
	rlen = strlen(reason);
	if (rlen > 64)
		rlen = 64;
	w = PUT_LIT(w, "HTTP/1.1 ");
	*w++ = (char)('0' + status / 100);
	*w++ = (char)('0' + status / 10 % 10);
	*w++ = (char)('0' + status % 10);
	*w++ = ' ';
	w = put(w, reason, rlen);
	w = PUT_LIT(w, "\r\n");
	return (size_t)(w - line);
}

int http_out_response(struct net_buf *out, const struct http_msg *hm,
		      const struct http_date *date, bool head,
		      enum http_out_conn conn)
{
	unsigned status = hm->status >= 100 && hm->status <= 999 ? hm->status : 500;
	const char *ctype = hm->content_type != NULL ? hm->content_type : DEFAULT_CONTENT_TYPE;
	size_t ctype_len = strlen(ctype);
	uint32_t hdrs_len = hm->resp_headers != NULL ? hm->resp_headers_len : 0;
	/* 1xx, 204 and 304 never have a body, and a Content-Length there
	 * would describe no representation (RFC 9110 §8.6, §15.4.5): such
	 * answers carry neither it nor Content-Type. */
	bool bodiless = status < 200 || status == 204 || status == 304;
	uint64_t body_len = hm->resp_has_file ? hm->resp_file_len :
			    hm->resp_has_stream ? (uint64_t)hm->stream_len :
			    hm->resp_body != NULL ? hm->resp_body_len : 0;
	/* A file body follows the headers through sendfile (net_io.c), a
	 * streamed one as it arrives (net_stream.c): chunked when its length
	 * is unknown, or delimited by the close for an HTTP/1.0 client. */
	bool unknown = hm->resp_has_stream && hm->stream_len < 0;
	bool chunked = unknown && !(conn == HTTP_OUT_CLOSE && hm->version_minor == 0);
	size_t copy_len = head || bodiless || hm->resp_has_file || hm->resp_has_stream ? 0 :
			  (size_t)body_len;
	char line[96], tmp[24], *cl, *w;
	size_t line_len = status_line(line, status), cl_len, need;
	int rc;

	cl = fmt_u64(tmp, unknown ? 0 : body_len);
	cl_len = (size_t)(tmp + sizeof(tmp) - cl);
	need = line_len + sizeof(SERVER_HDR) + HTTP_DATE_LEN + 2 +
	       sizeof("Content-Type: \r\n") + ctype_len +
	       sizeof("Transfer-Encoding: chunked\r\n") + cl_len +
	       sizeof("Connection: keep-alive\r\n") + hdrs_len + 2 +
	       copy_len;
	rc = net_buf_reserve(out, need);
	if (rc != 0)
		return rc;
	w = out->data + out->len;
	w = put(w, line, line_len);
	w = PUT_LIT(w, SERVER_HDR);
	w = put(w, date->text, HTTP_DATE_LEN);
	if (!bodiless) {
		w = PUT_LIT(w, "\r\nContent-Type: ");
		w = put(w, ctype, ctype_len);
		if (chunked) {
			w = PUT_LIT(w, "\r\nTransfer-Encoding: chunked");
		} else if (!unknown) {
			w = PUT_LIT(w, "\r\nContent-Length: ");
			w = put(w, cl, cl_len);
		}
	}
	w = PUT_LIT(w, "\r\n");
	if (conn == HTTP_OUT_CLOSE)
		w = PUT_LIT(w, "Connection: close\r\n");
	else if (conn == HTTP_OUT_KEEP_ALIVE)
		w = PUT_LIT(w, "Connection: keep-alive\r\n");
	if (hdrs_len > 0)
		w = put(w, hm->resp_headers, hdrs_len);
	w = PUT_LIT(w, "\r\n");
	if (copy_len > 0)
		w = put(w, hm->resp_body, copy_len);
	out->len = (size_t)(w - out->data);
	return 0;
}

int http_out_continue(struct net_buf *out)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	return net_buf_append(out, cont, sizeof(cont) - 1);
}

void http_out_set_error(struct http_msg *hm, unsigned status)
{
	static const char retry[] = "Retry-After: 1\r\n";
	const char *body;

	switch (status) {
	case 400: body = "Bad Request\n"; break;
	case 408: body = "Request Timeout\n"; break;
	case 413: body = "Payload Too Large\n"; break;
	case 414: body = "URI Too Long\n"; break;
	case 500: body = "Internal Server Error\n"; break;
	case 417: body = "Expectation Failed\n"; break;
	case 431: body = "Request Header Fields Too Large\n"; break;
	case 501: body = "Not Implemented\n"; break;
	case 503: body = "Service Unavailable\n"; break;
	case 504: body = "Gateway Timeout\n"; break;
	case 505: body = "HTTP Version Not Supported\n"; break;
	default: body = "Error\n"; break;
	}
	hm->status = (uint16_t)status;
	hm->content_type = DEFAULT_CONTENT_TYPE;
	hm->resp_body = body;
	hm->resp_body_len = (uint32_t)strlen(body);
	hm->resp_headers = status == 503 ? retry : NULL;
	hm->resp_headers_len = status == 503 ? (uint32_t)(sizeof(retry) - 1) : 0;
}
