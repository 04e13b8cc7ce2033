/*
 * http_conn.c - HTTP/1.1 connection state machine (see http_conn.h).
 *
 * DESIGN
 * http-parser calls back with pieces of the request as they stream in; the
 * callbacks copy each piece straight into the request's own buffer
 * (cur->hm.req_buf), so nothing points into the read buffer and a request
 * may span any number of reads. Layout while parsing:
 *
 *   url\0  { u32 name_len, name\0, u32 value_len, value\0 }*  body\0
 *
 * and at message completion the http_hdr array is appended (aligned) and
 * every pointer of the http_msg is set into that one buffer. The length
 * prefixes are patched as pieces grow (http-parser may deliver a header
 * name in several calls).
 *
 * on_message_complete pauses the parser, so each http_parser_execute call
 * ends at a message boundary: the loop in parse() then decides whether
 * the pipeline has room for the next request or the rest must be held.
 *
 * Answers are a singly linked list sorted by seq (replies nearly always
 * arrive in order, so insertion is at the tail in practice; the list is at
 * most max_pipeline long).
 *
 * Thread: the owning network actor.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../actors/log.h"
#include "http_conn.h"

enum phase { PH_IDLE, PH_HEADERS, PH_BODY };
enum last_cb { CB_NONE, CB_FIELD, CB_VALUE };

#define HC_FRESH    0x01u  /* no request started yet */
#define HC_STOP     0x02u  /* parse nothing more */
#define HC_DONE     0x04u  /* over: a closing answer was written, or EOF */
#define HC_CONTINUE 0x08u  /* send 100 Continue when the request is next */
#define HC_URL_DONE 0x20u  /* the URL of `cur` is terminated */
#define HC_ERRCLOSE 0x40u  /* the closing answer was an error */
#define HC_DRAIN    0x80u  /* server draining: the last answer closes */

/* Fixed part of a request line around method and URL: " HTTP/1.1\r\n". */
#define REQ_LINE_EXTRA 11u
/* Keep the whole request below this so every length fits in 32 bits. */
#define REQ_MAX_TOTAL (UINT32_MAX - (1u << 20))

static int on_message_begin(http_parser *p);
static int on_url(http_parser *p, const char *at, size_t len);
static int on_header_field(http_parser *p, const char *at, size_t len);
static int on_header_value(http_parser *p, const char *at, size_t len);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void http_conn_global_init(void)
{
	/* Our own limits (max_header_bytes, counted over the request line,
	 * headers and trailers) are the ones that apply; http-parser's must
	 * never be the smaller one. */
	http_parser_set_max_header_size(UINT32_MAX / 2);
}

void http_conn_init(struct http_conn *c, struct http_conn_env *env,
		    uint64_t id, uint64_t now_ns)
{
	memset(c, 0, sizeof(*c));
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->env = env;
	c->id = id;
	c->now_ns = c->since_ns = c->input_ns = c->head_ns = now_ns;
	c->flags = HC_FRESH;
}

static void drop_cur(struct http_conn *c)
{
	if (c->cur != NULL) {
		msg_free(&c->cur->hm.m);
		c->cur = NULL;
	}
	c->phase = PH_IDLE;
}

static void drop_ready(struct http_conn *c)
{
	struct net_req *r;

	while ((r = c->ready) != NULL) {
		c->ready = r->next;
		msg_free(&r->hm.m);
	}
}

void http_conn_dispose(struct http_conn *c)
{
	drop_cur(c);
	drop_ready(c);
	net_buf_free(&c->held);
	c->flags |= HC_STOP | HC_DONE;
}

uint32_t http_conn_inflight(const struct http_conn *c)
{
	return c->next_seq - c->send_seq;
}

/* Insert by seq. Returns false (and leaves `r` to the caller) if an
 * answer with that seq is already queued. */
static bool insert_ready(struct http_conn *c, struct net_req *r)
{
	struct net_req **pp = &c->ready;
	uint32_t off = r->hm.seq - c->send_seq;

	while (*pp != NULL && (*pp)->hm.seq - c->send_seq < off)
		pp = &(*pp)->next;
	if (*pp != NULL && (*pp)->hm.seq == r->hm.seq)
		return false;
	r->next = *pp;
	*pp = r;
	return true;
}

static void log_bad_request(struct http_conn *c, unsigned status, const char *reason)
{
	struct http_conn_env *env = c->env;
	uint64_t sec = c->now_ns / 1000000000u;
	char peer[64] = "?", fields[192];

	if (sec != env->log_sec) {
		env->log_sec = sec;
		env->log_count = 0;
	}
	if (env->log_count++ >= HTTP_CONN_LOG_PER_S)
		return;
	if (env->describe != NULL)
		env->describe(env->ctx, c, peer, sizeof(peer));
	snprintf(fields, sizeof(fields), "\"status\":%u,\"client\":\"%s\",\"reason\":\"%s\"",
		 status, peer, reason);
	log_emit(LOGL_WARN, fields, "bad request from %s: %u %s", peer, status, reason);
}

static void count_error(struct http_conn *c, unsigned status)
{
	enum net_err e;

	switch (status) {
	case 413: e = NET_ERR_413; break;
	case 414: e = NET_ERR_414; break;
	case 431: e = NET_ERR_431; break;
	default: e = NET_ERR_400; break;
	}
	net_stat_add(&c->env->stats->errors_total[e], 1);
}

/* Queue `status` as the answer to the next request and parse nothing more;
 * the connection closes once it has been sent. */
static void fail(struct http_conn *c, unsigned status, const char *reason)
{
	struct net_req *r = c->cur;
	/* The method is known once the URL started; HEAD must stay HEAD. */
	bool line = r != NULL && c->url_len > 0;
	uint8_t method = line ? (uint8_t)c->parser.method : HTTP_GET;

	c->cur = NULL;
	c->phase = PH_IDLE;
	c->flags |= HC_STOP;
	c->flags &= (uint16_t)~HC_CONTINUE;
	net_buf_free(&c->held);
	if (status != 503 && status != 504) {
		count_error(c, status);
		log_bad_request(c, status, reason);
	}
	if (r == NULL)
		r = net_req_get(c->env->pool);
	if (r == NULL) {
		c->flags |= HC_DONE; /* out of memory: close without an answer */
		return;
	}
	r->hm.method = method;
	/* For the access log: the raw URL if it was complete (414 has none). */
	r->hm.path = line && (c->flags & HC_URL_DONE) ? r->hm.req_buf : NULL;
	r->hm.keep_alive = false;
	r->hm.seq = c->next_seq++;
	r->hm.conn_id = c->id;
	r->hm.received_ns = c->now_ns;
	r->flags |= NET_REQ_LOCAL | NET_REQ_CLOSE | (line ? 0 : NET_REQ_NO_LINE);
	http_out_set_error(&r->hm, status);
	if (c->next_seq - c->send_seq == 1)
		c->head_ns = c->now_ns;
	if (!insert_ready(c, r)) {
		msg_free(&r->hm.m);
		c->flags |= HC_DONE;
	}
}

/* A callback refuses the request: remember why, stop the parser. */
static int refuse(struct http_conn *c, unsigned status, const char *reason)
{
	c->err_status = (uint16_t)status;
	c->err_reason = reason;
	return -1;
}

static int append(struct http_conn *c, const void *p, size_t len)
{
	struct net_req *r = c->cur;

	if (len > REQ_MAX_TOTAL - c->acc_len)
		return -ENOMEM;
	if (net_req_reserve(r, c->acc_len + (uint32_t)len) != 0)
		return -ENOMEM;
	memcpy(r->hm.req_buf + c->acc_len, p, len);
	c->acc_len += (uint32_t)len;
	return 0;
}

static uint32_t get_u32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void put_u32(char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Start a header name or value: terminate the previous piece and append a
 * length prefix to patch as the piece grows. */
static int start_piece(struct http_conn *c)
{
	static const char zero[sizeof(uint32_t)];

	if (c->last_cb != CB_NONE && append(c, "", 1) != 0)
		return -ENOMEM;
	c->piece_off = c->acc_len;
	return append(c, zero, sizeof(zero));
}

static int add_to_piece(struct http_conn *c, const char *at, size_t len)
{
	char *prefix;

	if (append(c, at, len) != 0)
		return -ENOMEM;
	prefix = c->cur->hm.req_buf + c->piece_off;
	put_u32(prefix, get_u32(prefix) + (uint32_t)len);
	return 0;
}

static int end_url(struct http_conn *c)
{
	if (c->flags & HC_URL_DONE)
		return 0;
	c->flags |= HC_URL_DONE;
	return append(c, "", 1);
}

static int count_header_bytes(struct http_conn *c, size_t len)
{
	const struct config_http *lim = c->env->http;

	if (len > lim->max_header_bytes || c->hdr_bytes + len > lim->max_header_bytes)
		return refuse(c, 431, "header block too large");
	c->hdr_bytes += (uint32_t)len;
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	c->cur = net_req_get(c->env->pool);
	if (c->cur == NULL)
		return refuse(c, 503, "out of memory");
	c->acc_len = c->url_len = c->hdr_bytes = c->piece_off = c->body_off = 0;
	c->nheaders = 0;
	c->last_cb = CB_NONE;
	c->phase = PH_HEADERS;
	c->since_ns = c->now_ns;
	c->flags &= (uint16_t)~(HC_FRESH | HC_URL_DONE | HC_CONTINUE);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	size_t line = strlen(http_method_str((enum http_method)p->method)) + 1 +
		      c->url_len + len + REQ_LINE_EXTRA;

	if (line > c->env->http->max_request_line)
		return refuse(c, 414, "request line too long");
	if (append(c, at, len) != 0)
		return refuse(c, 503, "out of memory");
	c->url_len += (uint32_t)len;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->last_cb != CB_FIELD) {
		/* A new field: ": " and CRLF of the previous one count too. */
		if (count_header_bytes(c, len + 4) != 0)
			return -1;
	} else if (count_header_bytes(c, len) != 0) {
		return -1;
	}
	if (c->phase != PH_HEADERS) {
		/* Trailers of a chunked body: counted, not kept. */
		c->last_cb = CB_FIELD;
		return 0;
	}
	if (c->last_cb != CB_FIELD) {
		if (c->nheaders == 0 && c->last_cb == CB_NONE) {
			/* The request line is complete: count it once. */
			if (count_header_bytes(c, c->url_len + REQ_LINE_EXTRA + 8) != 0)
				return -1;
			if (end_url(c) != 0)
				return refuse(c, 503, "out of memory");
		}
		if (c->nheaders >= c->env->http->max_headers)
			return refuse(c, 431, "too many header fields");
		if (start_piece(c) != 0)
			return refuse(c, 503, "out of memory");
		c->nheaders++;
		c->last_cb = CB_FIELD;
	}
	if (add_to_piece(c, at, len) != 0)
		return refuse(c, 503, "out of memory");
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (count_header_bytes(c, len) != 0)
		return -1;
	if (c->phase != PH_HEADERS) {
		c->last_cb = CB_VALUE;
		return 0;
	}
	if (c->last_cb != CB_VALUE) {
		if (start_piece(c) != 0)
			return refuse(c, 503, "out of memory");
		c->last_cb = CB_VALUE;
	}
	if (add_to_piece(c, at, len) != 0)
		return refuse(c, 503, "out of memory");
	return 0;
}

/* Walk the header records of `cur`: calls fn(name, nlen, value, vlen). */
static const char *find_header(const struct http_conn *c, const char *name, uint32_t *vlen)
{
	const char *buf = c->cur->hm.req_buf;
	uint32_t off = c->url_len + 1, nlen;
	size_t want = strlen(name);

	for (unsigned i = 0; i < c->nheaders; i++) {
		const char *n = buf + off + 4;

		nlen = get_u32(buf + off);
		off += 4 + nlen + 1;
		*vlen = get_u32(buf + off);
		if (nlen == want && strncasecmp(n, name, want) == 0)
			return buf + off + 4;
		off += 4 + *vlen + 1;
	}
	return NULL;
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	const struct config_http *lim = c->env->http;
	const char *v;
	uint32_t vlen;
	bool has_body;

	if (c->last_cb == CB_NONE &&
	    count_header_bytes(c, c->url_len + REQ_LINE_EXTRA + 8) != 0)
		return -1;
	if (end_url(c) != 0)
		return refuse(c, 503, "out of memory");
	if (c->last_cb == CB_FIELD && start_piece(c) != 0) /* name without value */
		return refuse(c, 503, "out of memory");
	if (c->last_cb != CB_NONE && append(c, "", 1) != 0)
		return refuse(c, 503, "out of memory");
	c->last_cb = CB_NONE;
	if (p->http_major != 1)
		return refuse(c, 400, "unsupported HTTP version");
	has_body = (p->flags & F_CHUNKED) != 0;
	if (!has_body && (p->flags & F_CONTENTLENGTH)) {
		if (p->content_length > lim->max_body_bytes ||
		    p->content_length > REQ_MAX_TOTAL - c->acc_len - 64u * c->nheaders)
			return refuse(c, 413, "body too large");
		has_body = p->content_length > 0;
		/* One allocation for the whole body and the header array. */
		if (has_body &&
		    net_req_reserve(c->cur, c->acc_len + (uint32_t)p->content_length + 8u +
				    (uint32_t)alignof(struct http_hdr) +
				    c->nheaders * (uint32_t)sizeof(struct http_hdr)) != 0)
			return refuse(c, 503, "out of memory");
	}
	v = find_header(c, "expect", &vlen);
	if (has_body && v != NULL && vlen == 12 && strncasecmp(v, "100-continue", 12) == 0)
		c->flags |= HC_CONTINUE;
	c->body_off = c->acc_len;
	c->phase = PH_BODY;
	c->input_ns = c->now_ns;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->acc_len - c->body_off + len > c->env->http->max_body_bytes)
		return refuse(c, 413, "body too large");
	if (append(c, at, len) != 0)
		return refuse(c, 413, "body too large");
	c->input_ns = c->now_ns;
	return 0;
}

/* Split the URL (origin-form, absolute-form or "*") into path and query,
 * NUL-terminating both in place. */
static int split_url(struct http_conn *c, struct http_msg *hm)
{
	char *url = hm->req_buf;
	uint32_t path_off = 0, path_len = c->url_len, q_off = 0, q_len = 0;
	struct http_parser_url u;

	if (url[0] != '/' && !(c->url_len == 1 && url[0] == '*')) {
		http_parser_url_init(&u);
		if (http_parser_parse_url(url, c->url_len, c->parser.method == HTTP_CONNECT, &u) != 0)
			return -EBADMSG;
		if (u.field_set & (1u << UF_PATH)) {
			path_off = u.field_data[UF_PATH].off;
			path_len = u.field_data[UF_PATH].len;
		} else {
			path_len = 0;
		}
		if (u.field_set & (1u << UF_QUERY)) {
			q_off = u.field_data[UF_QUERY].off;
			q_len = u.field_data[UF_QUERY].len;
		}
		url[path_off + path_len] = '\0';
		if (q_len > 0)
			url[q_off + q_len] = '\0';
	} else {
		char *hash = memchr(url, '#', c->url_len);
		char *q;

		if (hash != NULL) {
			*hash = '\0';
			path_len = (uint32_t)(hash - url);
		}
		q = memchr(url, '?', path_len);
		if (q != NULL) {
			*q = '\0';
			q_off = (uint32_t)(q - url) + 1;
			q_len = path_len - q_off;
			path_len = (uint32_t)(q - url);
		}
	}
	hm->path = path_len > 0 ? url + path_off : "/";
	hm->path_len = path_len > 0 ? path_len : 1;
	hm->query = q_len > 0 ? url + q_off : "";
	hm->query_len = q_len;
	return 0;
}

/* Turn the accumulated buffer into the http_msg the handlers read. */
static int finish_request(struct http_conn *c)
{
	struct net_req *r = c->cur;
	struct http_msg *hm = &r->hm;
	uint32_t body_len = c->acc_len - c->body_off, hoff, off;
	const size_t align = alignof(struct http_hdr);
	struct http_hdr *h;

	if (append(c, "", 1) != 0)
		return -ENOMEM;
	hoff = (uint32_t)((c->acc_len + align - 1) & ~(align - 1));
	if (net_req_reserve(r, hoff + c->nheaders * (uint32_t)sizeof(struct http_hdr)) != 0)
		return -ENOMEM;
	h = (struct http_hdr *)(void *)(hm->req_buf + hoff);
	off = c->url_len + 1;
	for (unsigned i = 0; i < c->nheaders; i++) {
		h[i].name_len = get_u32(hm->req_buf + off);
		h[i].name = hm->req_buf + off + 4;
		off += 4 + h[i].name_len + 1;
		h[i].value_len = get_u32(hm->req_buf + off);
		h[i].value = hm->req_buf + off + 4;
		off += 4 + h[i].value_len + 1;
	}
	hm->headers = c->nheaders > 0 ? h : NULL;
	hm->nheaders = c->nheaders;
	hm->body = hm->req_buf + c->body_off;
	hm->body_len = body_len;
	if (split_url(c, hm) != 0)
		return -EBADMSG;
	hm->method = (uint8_t)c->parser.method;
	hm->version_minor = (uint8_t)c->parser.http_minor;
	hm->keep_alive = http_should_keep_alive(&c->parser) && !c->parser.upgrade;
	hm->conn_id = c->id;
	hm->received_ns = c->now_ns;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct net_req *r = c->cur;
	int rc;

	if (c->phase != PH_BODY) /* trailers or a bare message: never begun */
		return refuse(c, 400, "malformed request");
	rc = finish_request(c);
	if (rc != 0)
		return refuse(c, rc == -EBADMSG ? 400 : 503,
			      rc == -EBADMSG ? "malformed URL" : "out of memory");
	c->cur = NULL;
	c->phase = PH_IDLE;
	c->since_ns = c->now_ns;
	c->flags &= (uint16_t)~HC_CONTINUE;
	r->hm.seq = c->next_seq++;
	if (c->next_seq - c->send_seq == 1)
		c->head_ns = c->now_ns;
	if (!r->hm.keep_alive)
		c->flags |= HC_STOP;
	rc = c->env->submit(c->env->ctx, &r->hm);
	if (rc != 0) {
		if (rc == -EAGAIN)
			net_stat_add(&c->env->stats->handler_full_total, 1);
		http_out_set_error(&r->hm, 503);
		r->flags |= NET_REQ_LOCAL;
		if (!insert_ready(c, r)) /* cannot happen: seq is new */
			msg_free(&r->hm.m);
	}
	/* One message per http_parser_execute: parse() decides what next. */
	http_parser_pause(p, 1);
	return 0;
}

static unsigned status_of_parser_error(struct http_conn *c, enum http_errno err,
				       const char **reason)
{
	if (c->err_status != 0) {
		*reason = c->err_reason;
		return c->err_status;
	}
	switch (err) {
	case HPE_HEADER_OVERFLOW:
		*reason = "header block too large";
		return 431;
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		*reason = "Content-Length with Transfer-Encoding, or repeated";
		return 400;
	case HPE_INVALID_TRANSFER_ENCODING:
		*reason = "invalid Transfer-Encoding";
		return 400;
	default:
		*reason = http_errno_description(err);
		return 400;
	}
}

static bool pipeline_full(const struct http_conn *c)
{
	return c->next_seq - c->send_seq >= c->env->http->max_pipeline;
}

static void hold(struct http_conn *c, const char *data, size_t len)
{
	if (net_buf_append(&c->held, data, len) != 0) {
		c->flags |= HC_STOP | HC_DONE;
		net_buf_free(&c->held);
	}
}

static void parse(struct http_conn *c, const char *data, size_t len)
{
	while (len > 0 && !(c->flags & HC_STOP)) {
		enum http_errno err;
		const char *reason;
		size_t n;

		if (c->phase == PH_IDLE && pipeline_full(c)) {
			hold(c, data, len);
			return;
		}
		n = http_parser_execute(&c->parser, &settings, data, len);
		err = HTTP_PARSER_ERRNO(&c->parser);
		data += n;
		len -= n;
		if (err == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			if (c->parser.upgrade)
				c->flags |= HC_STOP; /* no other protocol spoken here */
			continue;
		}
		if (err != HPE_OK) {
			unsigned status = status_of_parser_error(c, err, &reason);

			fail(c, status, reason);
			return;
		}
	}
}

void http_conn_feed(struct http_conn *c, const char *data, size_t len, uint64_t now_ns)
{
	c->now_ns = now_ns;
	if (c->flags & HC_STOP)
		return;
	if (net_buf_pending(&c->held) > 0) {
		hold(c, data, len);
		return;
	}
	parse(c, data, len);
}

bool http_conn_resume(struct http_conn *c, uint64_t now_ns)
{
	struct net_buf held = c->held;

	c->now_ns = now_ns;
	if (net_buf_pending(&held) == 0 || (c->flags & HC_STOP) || pipeline_full(c))
		return false;
	memset(&c->held, 0, sizeof(c->held));
	parse(c, net_buf_head(&held), net_buf_pending(&held));
	net_buf_free(&held);
	return true;
}

void http_conn_drain(struct http_conn *c)
{
	drop_cur(c);
	net_buf_free(&c->held);
	c->flags |= HC_STOP | HC_DRAIN;
	c->flags &= (uint16_t)~HC_CONTINUE;
	if (c->send_seq == c->next_seq)
		c->flags |= HC_DONE; /* nothing owed: over now */
}

void http_conn_eof(struct http_conn *c)
{
	c->flags |= HC_STOP | HC_DONE;
	c->flags &= (uint16_t)~HC_CONTINUE;
	drop_cur(c);
	drop_ready(c);
	net_buf_free(&c->held);
}

void http_conn_reply(struct http_conn *c, struct net_req *r)
{
	uint32_t off = r->hm.seq - c->send_seq;

	r->flags &= ~NET_REQ_LOCAL;
	if (off >= c->next_seq - c->send_seq || (c->flags & HC_DONE) || !insert_ready(c, r)) {
		net_stat_add(&c->env->stats->late_replies_total, 1);
		msg_free(&r->hm.m);
	}
}

/* One access-log line for the response to `r`, `bytes` long. What was
 * not parsed (a malformed request line, the URL of a 414) is "-". */
static void log_response(const struct http_conn *c, const struct net_req *r,
			 size_t bytes, uint64_t duration_ns)
{
	char peer[64] = "-";
	bool line = !(r->flags & NET_REQ_NO_LINE);

	if (c->env->describe != NULL)
		c->env->describe(c->env->ctx, c, peer, sizeof(peer));
	log_access(peer, line ? http_method_str((enum http_method)r->hm.method) : "-",
		   line && r->hm.path != NULL ? r->hm.path : "-", r->hm.status, bytes,
		   duration_ns);
}

size_t http_conn_output(struct http_conn *c, struct net_buf *out, uint64_t now_ns)
{
	size_t before = out->len;
	struct net_req *r;

	while ((r = c->ready) != NULL && r->hm.seq == c->send_seq && !(c->flags & HC_DONE)) {
		bool close = (r->flags & NET_REQ_CLOSE) || !r->hm.keep_alive ||
			     ((c->flags & HC_DRAIN) && r->hm.seq + 1 == c->next_seq);
		enum http_out_conn hdr = close ? HTTP_OUT_CLOSE :
			r->hm.version_minor == 0 ? HTTP_OUT_KEEP_ALIVE : HTTP_OUT_PERSIST;
		size_t at = out->len;
		uint64_t took = now_ns > r->hm.received_ns ? now_ns - r->hm.received_ns : 0;

		c->ready = r->next;
		if (http_out_response(out, &r->hm, c->env->date, r->hm.method == HTTP_HEAD,
				      hdr) != 0) {
			close = true; /* out of memory: close without it */
		} else {
			net_stats_response(c->env->stats, r->hm.status, took);
			if (c->env->access_log)
				log_response(c, r, out->len - at, took);
		}
		c->send_seq++;
		c->head_ns = now_ns;
		if (close) {
			if ((r->flags & NET_REQ_LOCAL) && (r->flags & NET_REQ_CLOSE))
				c->flags |= HC_ERRCLOSE;
			c->flags |= HC_DONE | HC_STOP;
			msg_free(&r->hm.m);
			drop_ready(c);
			drop_cur(c);
			net_buf_free(&c->held);
			break;
		}
		msg_free(&r->hm.m);
		if (c->send_seq == c->next_seq && c->phase == PH_IDLE)
			c->since_ns = now_ns; /* the keep-alive idle period starts */
	}
	if ((c->flags & HC_CONTINUE) && c->phase == PH_BODY && c->send_seq == c->next_seq &&
	    !(c->flags & HC_DONE)) {
		c->flags &= (uint16_t)~HC_CONTINUE;
		if (http_out_continue(out) != 0)
			c->flags |= HC_DONE | HC_STOP;
	}
	return out->len - before;
}

bool http_conn_wants_input(const struct http_conn *c)
{
	return !(c->flags & HC_STOP) && net_buf_pending(&c->held) == 0 &&
	       (c->phase != PH_IDLE || !pipeline_full(c));
}

bool http_conn_finished(const struct http_conn *c)
{
	return (c->flags & HC_DONE) != 0;
}

bool http_conn_closed_on_error(const struct http_conn *c)
{
	return (c->flags & HC_ERRCLOSE) != 0;
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
	uint64_t best = 0;

	if (c->flags & HC_DONE)
		return 0;
	if (c->phase == PH_HEADERS)
		earlier(&best, kind, c->since_ns + lim->header_timeout_ms * ms, NET_TIMEOUT_HEADER);
	else if (c->phase == PH_BODY)
		earlier(&best, kind, c->input_ns + lim->body_timeout_ms * ms, NET_TIMEOUT_BODY);
	if (c->send_seq != c->next_seq &&
	    (c->ready == NULL || c->ready->hm.seq != c->send_seq))
		earlier(&best, kind,
			c->head_ns + (lim->request_timeout_ms + (uint64_t)HTTP_CONN_HANDLER_GRACE_MS) * ms,
			NET_TIMEOUT_HANDLER);
	if (c->phase == PH_IDLE && c->send_seq == c->next_seq) {
		if (c->flags & HC_FRESH)
			earlier(&best, kind, c->since_ns + lim->header_timeout_ms * ms,
				NET_TIMEOUT_HEADER);
		else
			earlier(&best, kind, c->since_ns + lim->keepalive_timeout_ms * ms,
				NET_TIMEOUT_KEEPALIVE);
	}
	return best;
}

bool http_conn_expire(struct http_conn *c, enum net_timeout kind, uint64_t now_ns)
{
	struct net_req *r;

	c->now_ns = now_ns;
	net_stat_add(&c->env->stats->timeouts_total[kind], 1);
	if (kind != NET_TIMEOUT_HANDLER)
		return true;
	/* The handler backstop: answer the oldest request 504 ourselves and
	 * close after it; its reply, should it come, is late. */
	drop_cur(c);
	c->flags |= HC_STOP;
	net_buf_free(&c->held);
	r = net_req_get(c->env->pool);
	if (r == NULL)
		return true;
	r->hm.method = HTTP_GET;
	r->hm.seq = c->send_seq;
	r->hm.conn_id = c->id;
	r->hm.received_ns = c->head_ns;
	r->flags |= NET_REQ_LOCAL | NET_REQ_CLOSE | NET_REQ_NO_LINE;
	http_out_set_error(&r->hm, 504);
	if (!insert_ready(c, r)) {
		msg_free(&r->hm.m);
		return true;
	}
	return false;
}
