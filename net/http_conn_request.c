/*
 * http_conn_request.c - http-parser's callbacks: each request is copied,
 * piece by piece as it streams in, into its own envelope (see
 * http_conn.h, http_conn.c).
 *
 * DESIGN
 * The callbacks copy each piece straight into the request's own buffer
 * (cur->hm.req_buf), so nothing points into the read buffer and a request
 * may span any number of reads. Layout while parsing:
 *
 *   url\0  { u32 name_len, name\0, u32 value_len, value\0 }*  body\0
 *
 * and at message completion the http_hdr array is appended (aligned) and
 * every pointer of the http_msg is set into that one buffer. The length
 * prefixes are patched as pieces grow (http-parser may deliver a header
 * name in several calls). Limits (414, 431, 413) are checked as the pieces
 * arrive; a callback that refuses a request records why and stops the
 * parser (http_conn_parser_status turns that into the answer).
 *
 * The strict framing of the raw bytes is http_frame.c's, run ahead of
 * the parser; what needs the parsed fields is checked here, once the
 * header section is complete (check_head: version, Host, Expect,
 * Transfer-Encoding), from offsets noted while the headers were copied.
 * on_headers_complete then tells the framing scanner how the body is
 * framed. The body buffer grows as the body arrives (reserve_body).
 *
 * on_message_complete pauses the parser, so each http_parser_execute call
 * ends at a message boundary (http_conn.c's parse loop decides what next).
 *
 * Thread: the owning network actor.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_conn_internal.h"
#include "actors/trace.h"

static int on_message_begin(http_parser *p);
static int on_url(http_parser *p, const char *at, size_t len);
static int on_header_field(http_parser *p, const char *at, size_t len);
static int on_header_value(http_parser *p, const char *at, size_t len);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_chunk_header(http_parser *p);
static int on_message_complete(http_parser *p);

const http_parser_settings http_conn_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_chunk_header = on_chunk_header,
	.on_message_complete = on_message_complete,
};

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
	/* Most pieces fit: test here, not in a call per piece (~15 a request). */
	if (c->acc_len + len > r->req_cap && net_req_reserve(r, c->acc_len + (uint32_t)len) != 0)
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

/* Terminate the piece being built. A value loses its trailing SP and HTAB:
 * they are not part of a field value (RFC 9110 5.5), and http-parser
 * passes them on (`Host: a ` is the host `a`). */
static int end_piece(struct http_conn *c)
{
	if (c->last_cb == CB_VALUE) {
		char *prefix = c->cur->hm.req_buf + c->piece_off;
		uint32_t len = get_u32(prefix), trimmed = len;

		while (trimmed > 0 && (prefix[4 + trimmed - 1] == ' ' ||
				       prefix[4 + trimmed - 1] == '\t'))
			trimmed--;
		c->acc_len -= len - trimmed;
		put_u32(prefix, trimmed);
	}
	return append(c, "", 1);
}

/* Start a header name or value: terminate the previous piece and append a
 * length prefix to patch as the piece grows. */
static int start_piece(struct http_conn *c)
{
	static const char zero[sizeof(uint32_t)];

	if (c->last_cb != CB_NONE && end_piece(c) != 0)
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
	c->flags &= (uint16_t)~(HC_FRESH | HC_URL_DONE | HC_CONTINUE | HC_METHOD);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	size_t line = strlen(http_method_str((enum http_method)p->method)) + 1 +
		      c->url_len + len + REQ_LINE_EXTRA;

	c->flags |= HC_METHOD; /* a 414 to HEAD has no body either */
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

/* Whether the name of the record at `off` is `name` (lower case). */
static bool name_is(const struct http_conn *c, uint32_t off, const char *name, uint32_t len)
{
	return get_u32(c->cur->hm.req_buf + off) == len &&
	       strncasecmp(c->cur->hm.req_buf + off + 4, name, len) == 0;
}

/* The name just ended: start its value's record, and remember where the
 * values this module reads itself are (no walk over the headers later). */
static int start_value(struct http_conn *c)
{
	struct net_req *r = c->cur;
	uint32_t name_off = c->piece_off;

	if (start_piece(c) != 0)
		return -ENOMEM;
	if (name_is(c, name_off, "host", 4)) {
		r->host_off = c->piece_off;
		if (r->host_count < UINT8_MAX)
			r->host_count++;
	} else if (name_is(c, name_off, "transfer-encoding", 17)) {
		r->te_off = c->piece_off;
		if (r->te_count < UINT8_MAX)
			r->te_count++;
	} else if (name_is(c, name_off, "expect", 6)) {
		r->expect_off = c->piece_off;
		if (r->expect_count < UINT8_MAX)
			r->expect_count++;
	} else if (name_is(c, name_off, "traceparent", 11)) {
		r->tp_off = c->piece_off;
		if (r->tp_count < UINT8_MAX)
			r->tp_count++;
	}
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
		if (start_value(c) != 0)
			return refuse(c, 503, "out of memory");
		c->last_cb = CB_VALUE;
	}
	if (add_to_piece(c, at, len) != 0)
		return refuse(c, 503, "out of memory");
	return 0;
}

/* A header value record (from start_value): its text and length. */
static const char *value_at(const struct http_conn *c, uint32_t off, uint32_t *len)
{
	*len = get_u32(c->cur->hm.req_buf + off);
	return c->cur->hm.req_buf + off + 4;
}

/* Whether `ch` may appear in a reg-name or an IP literal (with `colon`):
 * ALPHA, DIGIT and "-._~!$&'()*+,;=%", a bitmap of ASCII codes. */
static bool host_char(unsigned char ch, bool colon)
{
	static const uint64_t map[2] = { 0x2bff7ff200000000ull, 0x47fffffe87fffffeull };

	return ch < 128 && (((map[ch >> 6] >> (ch & 63)) & 1u) || (colon && ch == ':'));
}

/* RFC 9112 3.2 (a server MUST refuse an invalid Host): uri-host
 * [ ":" port ], where uri-host is an IP literal in brackets, an IPv4
 * address or a reg-name (no colon), and port is digits. */
static bool valid_host(const char *v, uint32_t len)
{
	uint32_t i = 0;

	if (len > 0 && v[0] == '[') {
		for (i = 1; i < len && v[i] != ']'; i++)
			if (!host_char((unsigned char)v[i], true))
				return false;
		if (i == len || i == 1)
			return false;   /* unterminated, or empty */
		i++;
	} else {
		while (i < len && host_char((unsigned char)v[i], false))
			i++;
	}
	if (i == len)
		return true;
	if (v[i++] != ':')
		return false;
	while (i < len && v[i] >= '0' && v[i] <= '9')
		i++;
	return i == len;
}

/* RFC 9112 3.2, 6.1, 2.3: what the request's header section must say
 * before its body can be framed. 0, or refused. */
static int check_head(struct http_conn *c, const http_parser *p)
{
	const struct net_req *r = c->cur;
	const char *v;
	uint32_t vlen;

	if (p->http_major != 1)
		return refuse(c, 505, "HTTP version not supported");
	if (c->url_len == 1 && r->hm.req_buf[0] == '*' && p->method != HTTP_OPTIONS)
		return refuse(c, 400, "asterisk-form target with a method other than OPTIONS");
	if (r->host_count > 1)
		return refuse(c, 400, "more than one Host header field");
	if (r->host_count == 0 && p->http_minor >= 1)
		return refuse(c, 400, "HTTP/1.1 request without Host");
	if (r->host_count == 1) {
		v = value_at(c, r->host_off, &vlen);
		if (!valid_host(v, vlen))
			return refuse(c, 400, "invalid Host");
	}
	if (r->expect_off != 0) {
		/* RFC 9110 10.1.1: 100-continue is the only expectation;
		 * another (or a second field: a list) cannot be met, and
		 * saying so beats ignoring it. */
		v = value_at(c, r->expect_off, &vlen);
		if (r->expect_count > 1 || vlen != 12 || strncasecmp(v, "100-continue", 12) != 0)
			return refuse(c, 417, "unsupported expectation");
	}
	if (r->te_count > 0) {
		/* http-parser refused every coding list that does not end in
		 * chunked; anything before it is a coding we do not decode. */
		if (p->http_minor == 0)
			return refuse(c, 400, "Transfer-Encoding in an HTTP/1.0 request");
		if (r->te_count > 1)
			return refuse(c, 400, "repeated Transfer-Encoding");
		v = value_at(c, r->te_off, &vlen);
		if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0)
			return refuse(c, 501, "unsupported transfer coding");
	}
	return 0;
}

static int finish_request(struct http_conn *c);

/* Whether the owner streams this body (http_conn_env.upload_wanted), and
 * within which limit. */
static bool upload_wanted(struct http_conn *c, const http_parser *p,
			  enum http_frame_body framing, uint64_t *max)
{
	struct http_conn_env *env = c->env;

	return framing != HTTP_FRAME_NONE && env->upload_wanted != NULL &&
	       env->upload_wanted(env->ctx, p->method, c->cur->hm.req_buf, c->url_len,
				  framing == HTTP_FRAME_LENGTH ? (int64_t)p->content_length : -1,
				  max);
}

/* A streamed body: the request goes to a handler now, with no body; the
 * body follows through env->upload (on_body, on_message_complete). */
static int begin_upload(struct http_conn *c, const http_parser *p,
			enum http_frame_body framing, uint64_t max)
{
	struct net_req *r = c->cur;
	int rc = finish_request(c);

	if (rc != 0)
		return refuse(c, rc == -EBADMSG ? 400 : 503,
			      rc == -EBADMSG ? "malformed URL" : "out of memory");
	r->hm.upload = true;
	r->hm.upload_len = framing == HTTP_FRAME_LENGTH ? (int64_t)p->content_length : -1;
	c->cur = NULL;
	c->upload_seq = r->hm.seq = c->next_seq++;
	c->upload_bytes = 0;
	c->upload_max = max;
	c->flags |= HC_UPLOAD;
	c->flags &= (uint16_t)~HC_UPCUT;
	if (c->next_seq - c->send_seq == 1)
		c->head_ns = c->now_ns;
	c->env->upload(c->env->ctx, c, HTTP_UPLOAD_BEGIN, NULL, 0, 0);
	http_conn_submitted(c, r, c->env->submit(c->env->ctx, &r->hm));
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	const struct config_http *lim = c->env->http;
	enum http_frame_body framing = HTTP_FRAME_NONE;
	struct net_req *r;
	const char *v;
	uint32_t vlen;
	uint64_t max = 0;
	bool upload;

	if (c->last_cb == CB_NONE &&
	    count_header_bytes(c, c->url_len + REQ_LINE_EXTRA + 8) != 0)
		return -1;
	if (end_url(c) != 0)
		return refuse(c, 503, "out of memory");
	if (c->last_cb == CB_FIELD && start_value(c) != 0) /* name without value */
		return refuse(c, 503, "out of memory");
	if (c->last_cb != CB_NONE && end_piece(c) != 0)
		return refuse(c, 503, "out of memory");
	c->last_cb = CB_NONE;
	r = c->cur;
	if (check_head(c, p) != 0)
		return -1;
	if (p->flags & F_CHUNKED)
		framing = HTTP_FRAME_CHUNKED;
	else if ((p->flags & F_CONTENTLENGTH) && p->content_length > 0)
		framing = HTTP_FRAME_LENGTH;
	upload = upload_wanted(c, p, framing, &max);
	if (framing == HTTP_FRAME_LENGTH &&
	    (upload ? max != 0 && p->content_length > max :
	     p->content_length > lim->max_body_bytes ||
	     p->content_length > REQ_MAX_TOTAL - c->acc_len - 64u * c->nheaders))
		return refuse(c, 413, "body too large");
	if (http_frame_body(&c->frame, framing, p->content_length) != 0)
		return refuse(c, 400, "malformed request"); /* parser and framing disagree */
	/* 100 Continue is an HTTP/1.1 response (RFC 9110 10.1.1). */
	v = r->expect_off != 0 ? value_at(c, r->expect_off, &vlen) : NULL;
	if (framing != HTTP_FRAME_NONE && p->http_minor >= 1 && v != NULL && vlen == 12 &&
	    strncasecmp(v, "100-continue", 12) == 0)
		c->flags |= HC_CONTINUE;
	c->body_off = c->acc_len;
	c->phase = PH_BODY;
	c->input_ns = c->since_ns = c->now_ns; /* the body period starts */
	if (upload)
		return begin_upload(c, p, framing, max);
	/* What finish_request needs with a declared length: the body, its
	 * NUL, alignment and the header array (0: chunked, unknown). */
	r->body_full = framing != HTTP_FRAME_LENGTH ? 0 :
		c->acc_len + (uint32_t)p->content_length + 1u + (uint32_t)alignof(struct http_hdr) +
		c->nheaders * (uint32_t)sizeof(struct http_hdr);
	return 0;
}

/* Room for `len` more body bytes. The buffer grows with what arrived
 * (doubling), never beyond what the declared Content-Length needs, so a
 * client declaring 1 MiB and sending slowly holds what it sent. */
static int reserve_body(struct http_conn *c, size_t len)
{
	struct net_req *r = c->cur;
	uint64_t need = (uint64_t)c->acc_len + len, want, full;

	if (need <= r->req_cap)
		return 0;
	want = (uint64_t)r->req_cap * 2;
	if (want < need)
		want = need;
	full = r->body_full;
	if (full != 0 && want > full)
		want = full > need ? full : need;
	if (want > REQ_MAX_TOTAL)
		return -ENOMEM;
	return net_req_resize(r, (uint32_t)want);
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->flags & HC_UPLOAD) {
		if (c->upload_max != 0 && c->upload_bytes + len > c->upload_max)
			return refuse(c, 413, "body too large");
		c->upload_bytes += len;
		c->input_ns = c->now_ns;
		c->env->upload(c->env->ctx, c, HTTP_UPLOAD_DATA, at, len, 0);
		return 0;
	}
	if (c->acc_len - c->body_off + len > c->env->http->max_body_bytes)
		return refuse(c, 413, "body too large");
	if (reserve_body(c, len) != 0 || append(c, at, len) != 0)
		return refuse(c, 413, "body too large");
	c->input_ns = c->now_ns;
	return 0;
}

/* A chunk's size comes before its data: a chunk the body's limit cannot
 * hold is refused now, as a Content-Length over it is, not after its bytes
 * trickled in up to the limit. */
static int on_chunk_header(http_parser *p)
{
	struct http_conn *c = p->data;

	if (c->flags & HC_UPLOAD) {
		if (c->upload_max != 0 && p->content_length > c->upload_max - c->upload_bytes)
			return refuse(c, 413, "body too large");
	} else if (p->content_length > c->env->http->max_body_bytes - (c->acc_len - c->body_off)) {
		return refuse(c, 413, "body too large");
	}
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

/* A target in absolute-form ("http://a.example:81/x") names the host the
 * request is for, and the Host field must then be ignored for it (RFC
 * 9112 3.2.2): append "host[:port]" (brackets kept for IPv6), NUL-
 * terminated, and say where; *len 0 for any other form. -ENOMEM, or
 * -EBADMSG for a target that does not parse. */
static int absolute_authority(struct http_conn *c, uint32_t *off, uint32_t *len)
{
	const char *url = c->cur->hm.req_buf;
	struct http_parser_url u;
	uint32_t h, hl;

	*len = 0;
	if (url[0] == '/' || url[0] == '*' || c->parser.method == HTTP_CONNECT)
		return 0;
	http_parser_url_init(&u);
	if (http_parser_parse_url(url, c->url_len, 0, &u) != 0)
		return -EBADMSG;
	if (!(u.field_set & (1u << UF_HOST)))
		return 0;
	h = u.field_data[UF_HOST].off;
	hl = u.field_data[UF_HOST].len;
	if (h > 0 && url[h - 1] == '[') {       /* an IP literal: keep "[...]" */
		h--;
		hl += 2;
	}
	if (u.field_set & (1u << UF_PORT))
		hl = u.field_data[UF_PORT].off + u.field_data[UF_PORT].len - h;
	*off = c->acc_len;
	*len = hl;
	/* Room first: append copies from inside the buffer it would
	 * otherwise move while growing it. */
	if (net_req_reserve(c->cur, c->acc_len + hl + 1) != 0)
		return -ENOMEM;
	url = c->cur->hm.req_buf;
	return append(c, url + h, hl) != 0 || append(c, "", 1) != 0 ? -ENOMEM : 0;
}

/* Turn the accumulated buffer into the http_msg the handlers read. */
static int finish_request(struct http_conn *c)
{
	struct net_req *r = c->cur;
	struct http_msg *hm = &r->hm;
	uint32_t body_len = c->acc_len - c->body_off, hoff, off;
	const size_t align = alignof(struct http_hdr);
	struct http_hdr *h;
	const char *tp;
	uint32_t tplen, auth_off = 0, auth_len = 0;
	int rc;

	if (append(c, "", 1) != 0)     /* the body's terminator */
		return -ENOMEM;
	if (r->host_count == 1 && (rc = absolute_authority(c, &auth_off, &auth_len)) != 0)
		return rc;
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
		if (auth_len > 0 && off == r->host_off) {  /* RFC 9112 3.2.2 */
			off += 4 + h[i].value_len + 1;
			h[i].value = hm->req_buf + auth_off;
			h[i].value_len = auth_len;
			continue;
		}
		off += 4 + h[i].value_len + 1;
	}
	hm->headers = c->nheaders > 0 ? h : NULL;
	hm->nheaders = c->nheaders;
	/* The request's trace: the caller's, continued with our own span, or
	 * a new one (none, or an invalid or repeated traceparent: W3C). */
	tp = r->tp_count == 1 ? value_at(c, r->tp_off, &tplen) : NULL;
	trace_begin(&hm->m.trace, tp, tp != NULL ? tplen : 0, r->parent_id);
	hm->body = hm->req_buf + c->body_off;
	hm->body_len = body_len;
	if (split_url(c, hm) != 0)
		return -EBADMSG;
	hm->method = (uint8_t)c->parser.method;
	hm->version_minor = (uint8_t)c->parser.http_minor;
	/* A declined Upgrade leaves HTTP/1.1 on the connection; a CONNECT
	 * (http-parser's other "upgrade") always ends it. */
	hm->keep_alive = http_should_keep_alive(&c->parser) && c->parser.method != HTTP_CONNECT;
	hm->conn_id = c->id;
	hm->received_ns = c->now_ns;
	return 0;
}

/* The end of a streamed body: its request is with a handler already. */
static int end_upload(struct http_conn *c, http_parser *p)
{
	c->flags &= (uint16_t)~(HC_UPLOAD | HC_CONTINUE);
	c->phase = PH_IDLE;
	c->since_ns = c->now_ns;
	if (c->send_seq == c->upload_seq)
		c->head_ns = c->now_ns; /* its handler period starts now */
	if (!http_should_keep_alive(p))
		c->flags |= HC_STOP;
	/* Until the owner has passed the whole body on: it keeps one. */
	c->flags |= HC_UPHOLD;
	c->env->upload(c->env->ctx, c, HTTP_UPLOAD_END, NULL, 0, 0);
	http_parser_pause(p, 1);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct net_req *r = c->cur;
	int rc;

	if (c->flags & HC_UPLOAD)
		return end_upload(c, p);
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
	http_conn_submitted(c, r, c->env->submit(c->env->ctx, &r->hm));
	/* One message per http_parser_execute: parse() decides what next. */
	http_parser_pause(p, 1);
	return 0;
}

unsigned http_conn_parser_status(struct http_conn *c, enum http_errno err,
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
