/*
 * hreq.c - the request context routes see (handler_api.h): accessors,
 * per-request memory, response building and asynchronous calls.
 *
 * DESIGN
 * The response body is written straight into the envelope's resp_buf,
 * which the network actor recycles with the envelope, so a warm handler
 * replies without allocating. Extra headers wait in the request arena and
 * are appended behind the body when the reply is finished; the content
 * type goes there too, so nothing in the response points into memory that
 * the request frees. Replies after the first are ignored: a route and its
 * deadline may race, and the loser must be harmless.
 *
 * Thread: the handler actor owning the request.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <http_parser.h>
#include <strings.h>

#include "handler_internal.h"
#include "actors/log.h"
#include "base/clock.h"
#include "base/html.h"
#include "config/config.h"
#include "net/stream_msg.h"
#include "web.h"

#define RESP_MIN_CAP 512
#define JSON_MAX_BYTES (64u << 20)

void hreq_reset(struct hreq *r)
{
	struct arena_chunk *c, *next;

	work_timer_stop_all(actor_loop(r->h->actor), &r->timers, NULL);
	for (c = r->chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	r->chunks = NULL;
	r->inline_used = 0;
	r->hm = NULL;
	r->cfg = NULL;
	list_init(&r->link);
	r->deadline_ns = 0;
	r->pending = 0;
	r->streams = 0;
	r->body_read = false;
	r->answered = false;
	r->oom = false;
	r->no_compress = false;
	r->web = NULL;
	memset(&r->match, 0, sizeof(r->match));
	r->client = NULL;
	r->headers = NULL;
	r->headers_len = r->headers_cap = 0;
	r->body_len = 0;
	r->cache_hits = 0;
	r->trace.state = 0;
	r->tracestate = NULL;
	r->tracestate_len = 0;
}

/* ---- Request accessors ---- */

unsigned hreq_method(const struct hreq *r) { return r->hm != NULL ? r->hm->method : 0; }
const char *hreq_path(const struct hreq *r) { return r->hm != NULL ? r->hm->path : ""; }
void *hreq_route_data(const struct hreq *r) { return r->match.data; }
const struct ad_config *hreq_config(const struct hreq *r) { return r->cfg; }
struct actor *hreq_actor(const struct hreq *r) { return r->h->actor; }
uint64_t hreq_deadline_ns(const struct hreq *r) { return r->deadline_ns; }
bool hreq_answered(const struct hreq *r) { return r->answered; }

const char *hreq_param(const struct hreq *r, const char *name)
{
	for (unsigned i = 0; i < r->match.nparams; i++)
		if (strcmp(r->match.names[i], name) == 0)
			return r->match.values[i];
	return NULL;
}

void *hreq_alloc(struct hreq *r, size_t n)
{
	struct arena_chunk *c;
	size_t need = (n + 15) & ~(size_t)15;

	/* A size near SIZE_MAX (a caller's count * size that wrapped, say)
	 * would round up to a few bytes, and the chunk header on top of it
	 * wrap too: no request needs that much. */
	if (n > SIZE_MAX / 2)
		return NULL;
	if (need <= HREQ_ARENA_INLINE - r->inline_used) {
		void *p = r->inline_mem + r->inline_used;

		r->inline_used += need;
		return p;
	}
	c = r->chunks;
	if (c == NULL || need > c->cap - c->used) {
		size_t cap = need > 4096 ? need : 4096;

		c = malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = r->chunks;
		r->chunks = c;
	}
	c->used += need;
	return c->data + c->used - need;
}

char *hreq_strdup(struct hreq *r, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = hreq_alloc(r, n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

const char *hreq_query(struct hreq *r, const char *name)
{
	const char *q, *end;
	size_t nlen = strlen(name);
	char *key;

	if (r->hm == NULL)
		return NULL;
	/* Keys are compared decoded, as Tornado does ("?%71=v" names q):
	 * each is decoded into `key`, which holds a key of name's length at
	 * most (a longer one is -ENOSPC: not this name). */
	key = hreq_alloc(r, nlen + 1);
	if (key == NULL)
		return NULL;
	q = r->hm->query;
	end = q + r->hm->query_len;
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *pair_end = amp != NULL ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(pair_end - q));
		const char *key_end = eq != NULL ? eq : pair_end;

		if (route_decode(q, (size_t)(key_end - q), key, nlen + 1, 1) == (long)nlen &&
		    memcmp(key, name, nlen) == 0) {
			const char *v = eq != NULL ? eq + 1 : pair_end;
			size_t vlen = (size_t)(pair_end - v);
			char *out = hreq_alloc(r, vlen + 1);

			/* A bad escape or %00 (a NUL would cut the value)
			 * reads as absent: handler_api.h. */
			if (out == NULL || route_decode(v, vlen, out, vlen + 1, 1) < 0)
				return NULL;
			return out;
		}
		q = pair_end + 1;
	}
	return NULL;
}

long hreq_query_long(struct hreq *r, const char *name, long dflt, long lo, long hi)
{
	const char *v = hreq_query(r, name);
	char *end;
	long n;

	/* strtol skips leading white space: " 5" (or "%0A5") would read as 5
	 * while "5 " reads as not a number. Neither is a whole number. */
	if (v == NULL || (!isdigit((unsigned char)v[0]) && v[0] != '-' && v[0] != '+'))
		return dflt;
	errno = 0;
	n = strtol(v, &end, 10);
	if (*end != '\0' || end == v)
		return dflt;
	if (errno == ERANGE)
		n = v[0] == '-' ? lo : hi;
	return n < lo ? lo : n > hi ? hi : n;
}

const char *hreq_header(const struct hreq *r, const char *name)
{
	size_t nlen = strlen(name);

	if (r->hm == NULL)
		return NULL;
	for (unsigned i = 0; i < r->hm->nheaders; i++) {
		const struct http_hdr *h = &r->hm->headers[i];

		if (h->name_len == nlen && strncasecmp(h->name, name, nlen) == 0)
			return h->value;
	}
	return NULL;
}

bool hreq_header_at(const struct hreq *r, unsigned i, const char **name, const char **value)
{
	if (r->hm == NULL || i >= r->hm->nheaders)
		return false;
	*name = r->hm->headers[i].name;
	*value = r->hm->headers[i].value;
	return true;
}

const char *hreq_query_string(const struct hreq *r, size_t *len)
{
	if (r->hm == NULL || r->hm->query == NULL) {
		*len = 0;
		return "";
	}
	*len = r->hm->query_len;
	return r->hm->query;
}

bool hreq_body_stream(const struct hreq *r, struct upload_ref *out)
{
	const struct http_msg *hm = r->hm;

	if (hm == NULL || !hm->upload)
		return false;
	out->from = hm->m.reply_to;
	out->conn_id = hm->conn_id;
	out->id = hm->seq;
	out->len = hm->upload_len;
	return true;
}

const char *hreq_body(const struct hreq *r, size_t *len)
{
	if (r->hm == NULL || r->hm->body == NULL) {
		*len = 0;
		return "";
	}
	*len = r->hm->body_len;
	return r->hm->body;
}

const char *hreq_client(struct hreq *r)
{
	char ip[INET6_ADDRSTRLEN] = "-", buf[INET6_ADDRSTRLEN + 10];

	if (r->client != NULL || r->hm == NULL)
		return r->client != NULL ? r->client : "-";
	if (r->hm->peer_family == AF_INET || r->hm->peer_family == AF_INET6)
		inet_ntop(r->hm->peer_family, r->hm->peer_addr, ip, sizeof(ip));
	snprintf(buf, sizeof(buf), r->hm->peer_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		 ip, r->hm->peer_port);
	r->client = hreq_strdup(r, buf);
	return r->client != NULL ? r->client : "-";
}

/* ---- Response building ---- */

/* Make room for `more` bytes after `used` in the envelope's resp_buf. */
static int resp_reserve(struct http_msg *hm, size_t used, size_t more)
{
	size_t cap = hm->resp_cap, need = used + more;
	char *p;

	if (need <= cap)
		return 0;
	if (need > UINT32_MAX)
		return -ENOMEM;
	if (cap < RESP_MIN_CAP)
		cap = RESP_MIN_CAP;
	while (cap < need)
		cap *= 2;
	if (cap > UINT32_MAX)
		cap = need;
	p = realloc(hm->resp_buf, cap);
	if (p == NULL)
		return -ENOMEM;
	hm->resp_buf = p;
	hm->resp_cap = (uint32_t)cap;
	return 0;
}

int hreq_write(struct hreq *r, const void *data, size_t len)
{
	if (r->answered)
		return -EALREADY;
	if (len == 0)
		return 0; /* resp_buf may still be NULL: no memcpy from or to it */
	if (resp_reserve(r->hm, r->body_len, len) != 0) {
		r->oom = true;
		return -ENOMEM;
	}
	memcpy(r->hm->resp_buf + r->body_len, data, len);
	r->body_len += (uint32_t)len;
	return 0;
}

int hreq_printf(struct hreq *r, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	if (r->answered)
		return -EALREADY;
	for (int attempt = 0; attempt < 2; attempt++) {
		room = r->hm->resp_cap > r->body_len ? r->hm->resp_cap - r->body_len : 0;
		va_start(ap, fmt);
		n = vsnprintf(room > 0 ? r->hm->resp_buf + r->body_len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if ((size_t)n < room) {
			r->body_len += (uint32_t)n;
			return 0;
		}
		if (resp_reserve(r->hm, r->body_len, (size_t)n + 1) != 0)
			break;
	}
	r->oom = true;
	return -ENOMEM;
}

int hreq_write_html(struct hreq *r, const char *s, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		size_t elen;
		const char *esc = html_entity(s[i], &elen);

		if (esc == NULL)
			continue;
		if ((i > start && hreq_write(r, s + start, i - start) != 0) ||
		    hreq_write(r, esc, elen) != 0)
			return r->answered ? -EALREADY : -ENOMEM;
		start = i + 1;
	}
	return len > start ? hreq_write(r, s + start, len - start) : 0;
}

/* A field value we may write: no control character but HTAB (RFC 9110
 * 5.5). A CR or LF would split the response. */
static bool field_value_ok(const char *v)
{
	for (; *v != '\0'; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
			return false;
	return true;
}

/* RFC 9110 5.1: a field name is a token. */
static bool name_is_token(const char *name)
{
	for (; *name != '\0'; name++)
		if (!isalnum((unsigned char)*name) && strchr("!#$%&'*+-.^_`|~", *name) == NULL)
			return false;
	return true;
}

int hreq_add_header(struct hreq *r, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value), need = nl + vl + 4;

	if (r->answered)
		return -EALREADY;
	if (nl == 0 || !name_is_token(name) || !field_value_ok(value))
		return -EINVAL;
	/* The network actor frames the message: a second Content-Length,
	 * Transfer-Encoding or Connection would contradict its own (a proxy
	 * in front could read the stream differently). */
	if (strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Transfer-Encoding") == 0 ||
	    strcasecmp(name, "Connection") == 0)
		return -EPERM;
	if (r->headers_len + need > r->headers_cap) {
		size_t cap = r->headers_cap > 0 ? r->headers_cap * 2 : 256;
		char *p;

		while (cap < r->headers_len + need)
			cap *= 2;
		p = hreq_alloc(r, cap);
		if (p == NULL)
			return -ENOMEM;
		if (r->headers_len > 0)
			memcpy(p, r->headers, r->headers_len);
		r->headers = p;
		r->headers_cap = cap;
	}
	memcpy(r->headers + r->headers_len, name, nl);
	memcpy(r->headers + r->headers_len + nl, ": ", 2);
	memcpy(r->headers + r->headers_len + nl + 2, value, vl);
	memcpy(r->headers + r->headers_len + nl + 2 + vl, "\r\n", 2);
	r->headers_len += need;
	return 0;
}

/* A 500 that needs no memory at all (static type and body, no headers),
 * instead of the answer the route built: never a second attempt that could
 * fail the same way. */
static void answer_500(struct hreq *r, const char *why)
{
	static const char body[] = "Internal Server Error\n";
	struct http_msg *hm = r->hm;

	r->oom = false;
	r->body_len = 0;
	r->headers_len = 0;
	if (hm->resp_has_file) {
		close(hm->resp_fd);
		hm->resp_has_file = false;
	}
	hm->resp_has_stream = false;  /* its producer times out */
	log_error("handler %s: %s: answered 500", hm->path, why);
	hm->status = 500;
	hm->content_type = "text/plain";
	hm->resp_headers = NULL;
	hm->resp_headers_len = 0;
	hm->resp_body = body;
	hm->resp_body_len = sizeof(body) - 1;
	handler_answer(r);
}

/* Lay the headers and content type behind the body in resp_buf and point
 * the response fields at them. `static_body`: the body is not in resp_buf. */
static void finish(struct hreq *r, unsigned status, const char *ctype,
		   const char *static_body, size_t static_len)
{
	struct http_msg *hm = r->hm;
	size_t clen = strlen(ctype), off;
	char why[96];

	if (!field_value_ok(ctype)) {
		answer_500(r, "the route's Content-Type has a control character");
		return;
	}
	/* A final answer is 200..599 (RFC 9110 15): a 1xx would be taken
	 * as interim, and the client would wait for another; only the
	 * WebSocket handshake's 101 is the last answer on its connection.
	 * The network actor checks again (http_conn.c, check_status) for
	 * whatever reaches a connection, but it cannot rewrite a streamed
	 * answer: this one can, and names the route. */
	if (status < 100 || status > 599 ||
	    (status < 200 && !(status == 101 && (hm->m.flags & HTTP_MSG_F_WEBSOCKET)))) {
		snprintf(why, sizeof(why), "the route answered status %u, not a final status "
			 "(200 to 599)", status);
		answer_500(r, why);
		return;
	}
	if (static_body == NULL && !r->oom)
		hcompress_response(r, status, ctype);
	off = r->body_len;
	if (r->oom || resp_reserve(hm, off, r->headers_len + clen + 1) != 0) {
		answer_500(r, "out of memory building the response");
		return;
	}
	if (r->headers_len > 0)
		memcpy(hm->resp_buf + off, r->headers, r->headers_len);
	memcpy(hm->resp_buf + off + r->headers_len, ctype, clen + 1);
	hm->status = (uint16_t)status;
	hm->resp_headers = r->headers_len > 0 ? hm->resp_buf + off : NULL;
	hm->resp_headers_len = (uint32_t)r->headers_len;
	hm->content_type = hm->resp_buf + off + r->headers_len;
	if (static_body != NULL) {
		hm->resp_body = static_body;
		hm->resp_body_len = (uint32_t)static_len;
	} else {
		hm->resp_body = hm->resp_buf;
		hm->resp_body_len = r->body_len;
	}
	handler_answer(r);
}

void hreq_finish(struct hreq *r, unsigned status, const char *content_type)
{
	if (!r->answered)
		finish(r, status, content_type, NULL, 0);
}

void hreq_sendfile(struct hreq *r, unsigned status, const char *content_type,
		   int fd, uint64_t off, uint64_t len)
{
	struct http_msg *hm = r->hm;

	if (r->answered) {
		close(fd);
		return;
	}
	/* The envelope owns the descriptor from here (net/http_msg.h). */
	hm->resp_has_file = true;
	hm->resp_fd = fd;
	hm->resp_file_off = off;
	hm->resp_file_len = len;
	r->body_len = 0;
	finish(r, status, content_type, "", 0);
}

void hreq_send_stream(struct hreq *r, unsigned status, const char *content_type,
		      uint32_t from, uint64_t stream_id, int64_t len)
{
	struct http_msg *hm = r->hm;

	if (r->answered)
		return;
	/* The network actor asks `from` for the body (net/stream_msg.h). */
	hm->resp_has_stream = true;
	hm->stream_from = from;
	hm->stream_id = stream_id;
	hm->stream_len = len;
	r->body_len = 0;
	finish(r, status, content_type, "", 0);
}

void hreq_static(struct hreq *r, unsigned status, const char *content_type,
		 const char *body, size_t len)
{
	if (r->answered)
		return;
	r->body_len = 0;
	finish(r, status, content_type, body, len);
}

void hreq_send(struct hreq *r, unsigned status, const char *content_type,
	       const void *body, size_t len)
{
	if (r->answered)
		return;
	r->body_len = 0;
	hreq_write(r, body, len);
	finish(r, status, content_type, NULL, 0);
}

void hreq_text(struct hreq *r, unsigned status, const char *text)
{
	hreq_send(r, status, "text/plain", text, strlen(text));
}

void hreq_html(struct hreq *r, unsigned status, const char *html, size_t len)
{
	hreq_send(r, status, "text/html; charset=UTF-8", html, len);
}

void hreq_json(struct hreq *r, unsigned status, cJSON *json)
{
	size_t room;

	if (r->answered || json == NULL) {
		if (!r->answered)
			hreq_error(r, 500, "could not build the response");
		cJSON_Delete(json);
		return;
	}
	r->body_len = 0;
	room = r->hm->resp_cap;
	if (room < RESP_MIN_CAP)
		room = RESP_MIN_CAP;
	/* cJSON_PrintPreallocated fails when the buffer is short (cJSON
	 * reserves 5 bytes of slack): grow and retry. */
	for (;;) {
		if (room > JSON_MAX_BYTES || resp_reserve(r->hm, 0, room) != 0) {
			r->oom = true;
			break;
		}
		if (cJSON_PrintPreallocated(json, r->hm->resp_buf, (int)r->hm->resp_cap, 0)) {
			r->body_len = (uint32_t)strlen(r->hm->resp_buf);
			break;
		}
		room = (size_t)r->hm->resp_cap * 2;
	}
	cJSON_Delete(json);
	finish(r, status, "application/json", NULL, 0);
}

/* A 5xx answer's line, within the handler's budget; the first line after
 * a skipped stretch says how many went unlogged. */
static void log_5xx(struct hreq *r, unsigned status, const char *msg)
{
	struct handler *h = r->h;

	if (!log_budget_take(&h->error_log_budget, clock_now_ns(), HANDLER_ERROR_LOG_PER_S)) {
		h->errors_unlogged++;
		return;
	}
	if (h->errors_unlogged == 0) {
		log_warn("%s %s: %u %s", http_method_str(r->hm->method), r->hm->path, status, msg);
		return;
	}
	log_warn("%s %s: %u %s (and %llu more 5xx answers not logged: over %u lines a second)",
		 http_method_str(r->hm->method), r->hm->path, status, msg,
		 (unsigned long long)h->errors_unlogged, HANDLER_ERROR_LOG_PER_S);
	h->errors_unlogged = 0;
}

void hreq_error(struct hreq *r, unsigned status, const char *fmt, ...)
{
	char msg[512], esc[1100];
	va_list ap;

	if (r->answered)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status >= 500)
		log_5xx(r, status, msg);
	r->body_len = 0;
	if (status == 503)
		hreq_add_header(r, "Retry-After", "1");
	log_json_escape(esc, sizeof(esc), msg);
	hreq_printf(r, "{\"error\":\"%s\"}", esc);
	finish(r, status, "application/json", NULL, 0);
}

void hreq_fail(struct hreq *r, int status, const char *what)
{
	switch (-status) {
	case EAGAIN:
		hreq_error(r, 503, "%s: overloaded, retry later", what);
		break;
	case ECONNREFUSED:
	case ENOTCONN:
	case ESHUTDOWN:
	case ESRCH:
		hreq_error(r, 503, "%s: unavailable, retry later", what);
		break;
	case EHOSTUNREACH:
		hreq_error(r, 503, "%s: the host name did not resolve, retry later", what);
		break;
	case ECONNABORTED:
		hreq_error(r, 502, "%s: TLS handshake failed", what);
		break;
	case ETIMEDOUT:
		hreq_error(r, 504, "%s: timed out", what);
		break;
	case ENOENT:
		hreq_error(r, 404, "%s: not found", what);
		break;
	case EEXIST:
		hreq_error(r, 409, "%s: already exists", what);
		break;
	case EPROTO:
		hreq_error(r, 502, "%s: bad response", what);
		break;
	case ENOLINK:
		/* No Retry-After: a retry could apply the write twice. */
		hreq_error(r, 502, "%s: connection lost after a write was sent: outcome unknown "
			   "(it may have been applied)", what);
		break;
	case EFBIG:
		hreq_error(r, 502, "%s: response too large", what);
		break;
	case EMSGSIZE:
		hreq_error(r, 413, "%s: request body too large", what);
		break;
	case ECONNRESET:
		hreq_error(r, 400, "%s: the request body was cut short", what);
		break;
	default:
		hreq_error(r, 500, "%s: failed (%s)", what, ad_strerror(status));
		break;
	}
}

/* ---- Calls ---- */

struct hcont {
	hreq_cont_fn k;
	void *arg;
};

static void on_call_reply(struct call_msg *reply, void *ctx, void *arg)
{
	struct hreq *r = ctx;
	struct hcont *c = arg;
	uint64_t start = clock_now_ns();

	r->pending--;
	/* The runtime made the reply's trace (the request's) current; the
	 * tracestate lives with the request. */
	trace_set_current_state(r->tracestate, r->tracestate_len);
	c->k(r, reply, c->arg);
	handler_note_run(r, start, "continuation");
	handler_maybe_release(r);
}

int hreq_call(struct hreq *r, const struct actor_kind *kind, struct call_msg *m,
	      hreq_cont_fn k, void *arg)
{
	struct handler *h = r->h;
	struct hcont *c = hreq_alloc(r, sizeof(*c));
	actor_addr_t to = call_pick(h->calls, kind);
	int rc;

	if (to == ACTOR_ADDR_NONE)
		rc = -ESRCH;
	else if (c == NULL)
		rc = -ENOMEM;
	else {
		c->k = k;
		c->arg = arg;
		if (m->deadline_ns == 0)
			m->deadline_ns = r->deadline_ns;
		rc = call_send(h->calls, to, m, on_call_reply, r, c);
	}
	if (rc != 0) {
		counter_add(&h->ctr->call_errors_total, 1);
		if (rc == -EAGAIN)
			admit_count(&h->ctr->admit, ADMIT_SHED_MAILBOX_FULL);
		msg_free(&m->m);
		return rc;
	}
	counter_add(&h->ctr->calls_total, 1);
	r->pending++;
	return 0;
}

int hreq_work(struct hreq *r, struct worker_task *t, hreq_cont_fn k, void *arg)
{
	if (t == NULL)
		return -ENOMEM;  /* worker_task_new failed: nothing to free */
	return hreq_call(r, &worker_kind, worker_task_call(t), k, arg);
}

static void on_hreq_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct htimer *t = w->data;
	struct hreq *r = t->r;
	uint64_t start = clock_now_ns();

	(void)loop;
	(void)revents;
	work_timer_unlink(&r->timers, &t->t);
	r->pending--;
	hreq_trace_resume(r);
	t->k(r, NULL, t->arg);
	handler_note_run(r, start, "continuation");
	handler_maybe_release(r);
	trace_set_current(NULL);
}

int hreq_after(struct hreq *r, unsigned ms, hreq_cont_fn k, void *arg)
{
	struct htimer *t = hreq_alloc(r, sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	t->r = r;
	t->k = k;
	t->arg = arg;
	work_timer_start(actor_loop(r->h->actor), &r->timers, &t->t, ms, on_hreq_timer);
	r->pending++;
	return 0;
}
