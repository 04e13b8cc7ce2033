/*
 * upstream_call.c - the upstream call message: building the request on
 * the caller's thread, reading the reply in its continuation, freeing it
 * (upstream.h).
 *
 * DESIGN
 * The caller serialises the request line and header lines itself, into a
 * buffer inside the message (malloc'd only past UPSTREAM_HEAD_INLINE), so
 * the upstream actor only adds Content-Length and the blank line and
 * writes. The response also starts in storage inside the message: a small
 * response costs no allocation beyond the message itself, which is
 * allocated and freed on the caller's thread.
 *
 * Host names are carried as written: the upstream actor resolves them
 * without blocking (upstream_dns.c). "localhost" is 127.0.0.1 (nginx and
 * the test upstreams listen there, not always on ::1).
 *
 * Thread: the caller's actor thread (building, reading); msg_free on
 * whichever thread owns the message.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <http_parser.h>

#include "upstream_internal.h"
#include "actors/trace.h"
#include "base/clock.h"

static void call_free(struct msg *m)
{
	struct upstream_call *u = msg_cast(m, struct upstream_call);

	if (u->head != u->head_inl)
		free(u->head);
	free(u->body);
	upstream_resp_dispose(&u->resp);
	free(u);
}

void upstream_call_free(struct upstream_call *u)
{
	if (u != NULL)
		call_free(&u->c.m);
}

struct call_msg *upstream_call_msg(struct upstream_call *u)
{
	return &u->c;
}

bool upstream_method_idempotent(unsigned method)
{
	switch (method) {
	case HTTP_GET:
	case HTTP_HEAD:
	case HTTP_PUT:
	case HTTP_DELETE:
	case HTTP_OPTIONS:
	case HTTP_TRACE:
		return true;
	default:
		return false;
	}
}

int up_call_head_append(struct upstream_call *u, const char *s, size_t n)
{
	if (u->head_len + n > u->head_cap) {
		size_t cap = u->head_cap * 2;
		char *p;

		while (cap < u->head_len + n)
			cap *= 2;
		if (u->head == u->head_inl) {
			p = malloc(cap);
			if (p != NULL)
				memcpy(p, u->head, u->head_len);
		} else {
			p = realloc(u->head, cap);
		}
		if (p == NULL)
			return -ENOMEM;
		u->head = p;
		u->head_cap = cap;
	}
	memcpy(u->head + u->head_len, s, n);
	u->head_len += n;
	return 0;
}

static int head_appends(struct upstream_call *u, const char *s)
{
	return up_call_head_append(u, s, strlen(s));
}

/* An address literal, or "localhost": no lookup for those. */
static void literal_address(struct upstream_call *u)
{
	if (inet_pton(AF_INET, u->host, u->addr) == 1) {
		u->family = AF_INET;
	} else if (inet_pton(AF_INET6, u->host, u->addr) == 1) {
		u->family = AF_INET6;
	} else if (strcasecmp(u->host, "localhost") == 0) {
		u->family = AF_INET;
		inet_pton(AF_INET, "127.0.0.1", u->addr);
	} else {
		u->family = 0;
	}
}

/* Point `u` at `url`'s origin (scheme, host, port). */
void up_call_set_origin(struct upstream_call *u, const struct config_url *url)
{
	u->port = url->port;
	u->tls = url->tls;
	snprintf(u->host, sizeof(u->host), "%s", url->host);
	literal_address(u);
}

/* A call with its request line started: "METHOD target". */
static struct upstream_call *call_create(unsigned method, const struct config_url *url,
					 int *err)
{
	struct upstream_call *u;
	const char *m = http_method_str((enum http_method)method);
	int rc;

	if (method > 255 || strcmp(m, "<unknown>") == 0) {
		*err = -EINVAL;
		return NULL;
	}
	u = malloc(sizeof(*u));
	if (u == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	call_msg_init(&u->c, UPSTREAM_MSG_CALL, call_free, 0);
	u->method = (uint8_t)method;
	up_call_set_origin(u, url);
	u->gzip = false;
	u->profile = 0;
	u->redirects_left = 0;
	u->redirect_downgrade = false;
	u->connect_ms = u->first_byte_ms = 0;
	u->stream_over = 0;
	u->streamed = false;
	u->upload = false;
	u->fields_off = 0;
	u->head = u->head_inl;
	u->head_len = 0;
	u->head_cap = sizeof(u->head_inl);
	u->body = NULL;
	u->body_len = 0;
	u->has_body = method == HTTP_POST || method == HTTP_PUT || method == HTTP_PATCH;
	upstream_resp_init(&u->resp, u->resp_inl, sizeof(u->resp_inl));
	u->next = NULL;
	u->started_ns = 0;
	u->retries_left = 0;
	rc = 0;
	if (head_appends(u, m) != 0 || up_call_head_append(u, " ", 1) != 0)
		rc = -ENOMEM;
	if (rc != 0) {
		call_free(&u->c.m);
		*err = rc;
		return NULL;
	}
	return u;
}

/* " HTTP/1.1" and the Host header; the caller's header lines follow. */
int up_call_finish_request_line(struct upstream_call *u, const struct config_url *url)
{
	char host[CONFIG_HOST_MAX + 16];
	bool v6 = strchr(url->host, ':') != NULL;

	if (url->port == (url->tls ? 443 : 80))
		snprintf(host, sizeof(host), v6 ? "[%s]" : "%s", url->host);
	else
		snprintf(host, sizeof(host), v6 ? "[%s]:%u" : "%s:%u", url->host, url->port);
	if (head_appends(u, " HTTP/1.1\r\nHost: ") != 0 || head_appends(u, host) != 0 ||
	    up_call_head_append(u, "\r\n", 2) != 0)
		return -ENOMEM;
	u->fields_off = u->head_len;
	return 0;
}

/* W3C Trace Context: the work at hand's trace goes along, with a new span
 * id for this call (its child span), and the request's tracestate. They
 * are header fields, so a redirect's request keeps them. */
static int add_trace(struct upstream_call *u)
{
	const struct msg_trace *t = trace_current();
	char tp[TRACE_PARENT_LEN + 1];
	const char *state;
	size_t len;
	uint8_t span[8];

	if (t == NULL)
		return 0;
	trace_new_span(span);
	trace_format_parent(tp, t, span);
	if (head_appends(u, "traceparent: ") != 0 || up_call_head_append(u, tp, TRACE_PARENT_LEN) != 0 ||
	    up_call_head_append(u, "\r\n", 2) != 0)
		return -ENOMEM;
	state = trace_current_state(&len);
	if (state != NULL && (head_appends(u, "tracestate: ") != 0 ||
			      up_call_head_append(u, state, len) != 0 ||
			      up_call_head_append(u, "\r\n", 2) != 0))
		return -ENOMEM;
	return 0;
}

struct upstream_call *upstream_call_new(unsigned method, const char *url, int *err)
{
	struct config_url parsed;
	struct upstream_call *u;
	char why[8];

	if (config_url_parse(url, &parsed, why, sizeof(why)) != 0) {
		*err = -EINVAL;
		return NULL;
	}
	u = call_create(method, &parsed, err);
	if (u == NULL)
		return NULL;
	if (head_appends(u, parsed.target) != 0 || up_call_finish_request_line(u, &parsed) != 0 ||
	    add_trace(u) != 0) {
		call_free(&u->c.m);
		*err = -ENOMEM;
		return NULL;
	}
	*err = 0;
	return u;
}

static bool clean(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

struct upstream_call *upstream_call_to(unsigned method, const struct config_url *to,
				       const char *path, size_t path_len,
				       const char *query, size_t query_len, int *err)
{
	struct upstream_call *u;
	int rc = 0;

	/* What follows the target goes on the request line: no space, no CTL. */
	if (!clean(path, path_len) || !clean(query, query_len) || to->url[0] == '\0') {
		*err = -EINVAL;
		return NULL;
	}
	u = call_create(method, to, err);
	if (u == NULL)
		return NULL;
	if (head_appends(u, to->target) != 0 || up_call_head_append(u, path, path_len) != 0)
		rc = -ENOMEM;
	if (rc == 0 && query_len > 0 &&
	    (up_call_head_append(u, strchr(to->target, '?') != NULL ? "&" : "?", 1) != 0 ||
	     up_call_head_append(u, query, query_len) != 0))
		rc = -ENOMEM;
	if (rc == 0)
		rc = up_call_finish_request_line(u, to);
	if (rc == 0)
		rc = add_trace(u);
	if (rc != 0) {
		call_free(&u->c.m);
		*err = rc;
		return NULL;
	}
	*err = 0;
	return u;
}

int upstream_call_add_header(struct upstream_call *u, const char *name, const char *value)
{
	static const char *const reserved[] = {
		"Host", "Content-Length", "Transfer-Encoding", "Connection",
		"traceparent", "tracestate",    /* the trace's own (add_trace) */
	};
	size_t nl = strlen(name), vl = strlen(value);

	if (nl == 0 || strpbrk(name, "\r\n: \t") != NULL || strpbrk(value, "\r\n") != NULL)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return -EPERM;
	if (up_call_head_append(u, name, nl) != 0 || up_call_head_append(u, ": ", 2) != 0 ||
	    up_call_head_append(u, value, vl) != 0 || up_call_head_append(u, "\r\n", 2) != 0)
		return -ENOMEM;
	return 0;
}

int upstream_call_set_body(struct upstream_call *u, const void *body, size_t len)
{
	char *p = NULL;

	if (len > 0) {
		p = malloc(len);
		if (p == NULL)
			return -ENOMEM;
		memcpy(p, body, len);
	}
	free(u->body);
	u->body = p;
	u->body_len = len;
	u->has_body = true;
	return 0;
}

void upstream_call_set_deadline(struct upstream_call *u, uint64_t deadline_ns)
{
	u->c.deadline_ns = deadline_ns;
}

void upstream_call_set_timeouts(struct upstream_call *u, uint32_t connect_ms,
				uint32_t first_byte_ms, uint32_t total_ms)
{
	u->connect_ms = connect_ms;
	u->first_byte_ms = first_byte_ms;
	if (total_ms != 0) {
		uint64_t d = clock_now_ns() + (uint64_t)total_ms * NS_PER_MS;

		if (u->c.deadline_ns == 0 || d < u->c.deadline_ns)
			u->c.deadline_ns = d;
	}
}

void upstream_call_follow_redirects(struct upstream_call *u, unsigned max, bool allow_downgrade)
{
	/* A streamed body is sent once (nothing is kept to send it again),
	 * whichever of the two the caller asked for first. */
	u->redirects_left = u->upload ? 0 : (uint8_t)(max > 255 ? 255 : max);
	u->redirect_downgrade = allow_downgrade;
}

int upstream_call_decode_gzip(struct upstream_call *u)
{
	int rc = upstream_call_add_header(u, "Accept-Encoding", "gzip");

	if (rc == 0)
		u->gzip = true;
	return rc;
}

void upstream_call_use_proxy_tls(struct upstream_call *u, unsigned proxy_index)
{
	u->profile = (uint8_t)(proxy_index < CONFIG_MAX_PROXY ? proxy_index + 1 : 0);
}

void upstream_call_stream(struct upstream_call *u, uint64_t over)
{
	u->stream_over = over;
}

void upstream_call_stream_body(struct upstream_call *u, const struct upload_ref *ref)
{
	free(u->body);
	u->body = NULL;
	u->body_len = 0;
	u->has_body = true;
	u->upload = true;
	u->upload_ref = *ref;
	u->redirects_left = 0;
}

/* ---- The reply ---- */

const struct upstream_call *upstream_reply(const struct call_msg *reply)
{
	return (const struct upstream_call *)(const void *)reply;
}

unsigned upstream_reply_status(const struct upstream_call *u)
{
	return u->c.status == 0 ? u->resp.status : 0;
}

const char *upstream_reply_header(const struct upstream_call *u, const char *name)
{
	if (u->c.status != 0 || u->resp.headers == NULL)
		return NULL;
	for (unsigned i = 0; i < u->resp.nheaders; i++)
		if (strcasecmp(u->resp.headers[i].name, name) == 0)
			return u->resp.headers[i].value;
	return NULL;
}

const struct upstream_hdr *upstream_reply_headers(const struct upstream_call *u, unsigned *n)
{
	if (u->c.status != 0 || u->resp.headers == NULL) {
		*n = 0;
		return NULL;
	}
	*n = u->resp.nheaders;
	return u->resp.headers;
}

const char *upstream_reply_body(const struct upstream_call *u, size_t *len)
{
	if (u->c.status != 0 || u->resp.body_len == 0) {
		*len = 0;
		return "";
	}
	*len = u->resp.body_len;
	return u->resp.buf + u->resp.body_off;
}

bool upstream_reply_stream(const struct upstream_call *u, uint32_t *from, uint64_t *id,
			   int64_t *len)
{
	if (u->c.status != 0 || !u->streamed)
		return false;
	*from = u->stream_from;
	*id = u->stream_id;
	*len = u->stream_len;
	return true;
}

/* ---- Outcomes ---- */

enum upstream_error upstream_error_of(int status)
{
	switch (-status) {
	case 0: return UPSTREAM_OK;
	case ECONNREFUSED: return UPSTREAM_REFUSED;
	case ETIMEDOUT: return UPSTREAM_TIMEOUT;
	case EFBIG: return UPSTREAM_TOO_LARGE;
	case EPROTO: return UPSTREAM_BAD_RESPONSE;
	case EAGAIN: return UPSTREAM_OVERLOADED;
	case ESHUTDOWN: return UPSTREAM_SHUTDOWN;
	case ESRCH: return UPSTREAM_SHUTDOWN;      /* no upstream actor configured */
	case EHOSTUNREACH: return UPSTREAM_DNS;
	case ECONNABORTED: return UPSTREAM_TLS;
	case EMSGSIZE:
	case ECONNRESET: return UPSTREAM_REQUEST_BODY;
	default: return UPSTREAM_INVALID;
	}
}

const char *upstream_error_name(enum upstream_error e)
{
	static const char *const names[UPSTREAM_ERROR_KINDS] = {
		"ok", "refused", "timeout", "too_large", "bad_response", "overloaded",
		"shutdown", "invalid", "dns", "tls", "request_body",
	};

	return (unsigned)e < UPSTREAM_ERROR_KINDS ? names[e] : "invalid";
}

unsigned upstream_error_http_status(enum upstream_error e)
{
	switch (e) {
	case UPSTREAM_OK: return 200;
	case UPSTREAM_REFUSED:
	case UPSTREAM_OVERLOADED:
	case UPSTREAM_SHUTDOWN:
	case UPSTREAM_DNS: return 503;
	case UPSTREAM_TIMEOUT: return 504;
	case UPSTREAM_TLS:
	case UPSTREAM_TOO_LARGE:
	case UPSTREAM_BAD_RESPONSE: return 502;
	case UPSTREAM_REQUEST_BODY: return 400;   /* 413 for -EMSGSIZE */
	default: return 500;
	}
}
