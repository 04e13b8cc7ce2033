/*
 * http_conn.c - HTTP/1.1 connection state machine (see http_conn.h).
 *
 * DESIGN
 * http-parser's callbacks (http_conn_request.c) copy each request into its
 * envelope; this file runs the parser and everything around it but the
 * deadlines and the idle checks (http_conn_deadline.c).
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
#include <ctype.h>
#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "actors/actor.h"
#include "actors/log.h"
#include "http_conn_internal.h"
#include "ws_internal.h"

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

static void drop_parked(struct http_conn *c)
{
	if (c->parked != NULL) {
		msg_free(&c->parked->hm.m);
		c->parked = NULL;
	}
}

static void drop_ready(struct http_conn *c)
{
	struct net_req *r;

	while ((r = c->ready) != NULL) {
		c->ready = r->next;
		msg_free(&r->hm.m);
	}
}

/* Input held back by a full pipeline lives apart (rarely needed): an idle
 * connection carries one pointer for it, not a buffer header. */
static void free_held(struct http_conn *c)
{
	if (c->held != NULL) {
		net_buf_free(c->held);
		free(c->held);
		c->held = NULL;
	}
}

void http_conn_upload_abort(struct http_conn *c, unsigned status)
{
	if (!(c->flags & HC_UPLOAD))
		return;
	c->flags = (uint16_t)((c->flags & ~HC_UPLOAD) | HC_UPCUT);
	c->env->upload(c->env->ctx, c, HTTP_UPLOAD_ABORT, NULL, 0, status);
}

void http_conn_upload_cut(struct http_conn *c)
{
	if (c->flags & HC_UPLOAD)
		c->flags |= HC_UPCUT;
}

void http_conn_upload_progress(struct http_conn *c, uint64_t now_ns)
{
	if (c->flags & HC_UPLOAD)
		c->input_ns = now_ns;
}

void http_conn_upload_delivered(struct http_conn *c)
{
	c->flags &= (uint16_t)~HC_UPHOLD;
}

void http_conn_dispose(struct http_conn *c)
{
	int fd;
	uint64_t off, len;

	http_conn_upload_abort(c, 0);
	if (http_conn_take_file(c, &fd, &off, &len))
		close(fd);
	drop_cur(c);
	drop_parked(c);
	drop_ready(c);
	free_held(c);
	c->flags |= HC_STOP | HC_DONE;
}

uint32_t http_conn_inflight(const struct http_conn *c)
{
	return c->next_seq - c->send_seq;
}

/* Insert by seq (see http_conn_internal.h). */
bool http_conn_insert_ready(struct http_conn *c, struct net_req *r)
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

/* One warning about the connection's client, within the shared budget:
 * "<what> <peer>: <status> <reason>" (status 0: none, the connection is
 * reset without an answer). */
static void log_conn(struct http_conn *c, const char *what, unsigned status, const char *reason)
{
	struct http_conn_env *env = c->env;
	char peer[64] = "?", fields[192];

	if (!log_budget_take(&env->log_budget, c->now_ns, HTTP_CONN_LOG_PER_S))
		return;
	if (env->describe != NULL)
		env->describe(env->ctx, c, peer, sizeof(peer));
	snprintf(fields, sizeof(fields), "\"status\":%u,\"client\":\"%s\",\"reason\":\"%s\"",
		 status, peer, reason);
	if (status != 0)
		log_emit(LOGL_WARN, fields, "%s %s: %u %s", what, peer, status, reason);
	else
		log_emit(LOGL_WARN, fields, "%s %s: %s", what, peer, reason);
}

static void log_bad_request(struct http_conn *c, unsigned status, const char *reason)
{
	log_conn(c, "bad request from", status, reason);
}

static void count_error(struct http_conn *c, unsigned status)
{
	enum net_err e;

	switch (status) {
	case 413: e = NET_ERR_413; break;
	case 414: e = NET_ERR_414; break;
	case 417: e = NET_ERR_417; break;
	case 431: e = NET_ERR_431; break;
	case 501: e = NET_ERR_501; break;
	case 505: e = NET_ERR_505; break;
	default: e = NET_ERR_400; break;
	}
	counter_add(&c->env->stats->errors_total[e], 1);
}

/* Queue `status` as the answer to the next request and parse nothing more;
 * the connection closes once it has been sent. */
static void fail(struct http_conn *c, unsigned status, const char *reason)
{
	struct net_req *r = c->cur;
	/* The method is known once the URL started; HEAD must stay HEAD. */
	bool line = r != NULL && (c->flags & HC_METHOD);
	uint8_t method = line ? (uint8_t)c->parser.method : HTTP_GET;

	if (c->flags & HC_UPLOAD) {
		/* A streamed body went wrong: its request is already with a
		 * handler, whose answer (the consumer fails with `status`)
		 * is the one the client gets, and closes the connection. */
		c->phase = PH_IDLE;
		c->flags |= HC_STOP;
		free_held(c);
		count_error(c, status);
		log_bad_request(c, status, reason);
		http_conn_upload_abort(c, status);
		return;
	}
	c->cur = NULL;
	c->phase = PH_IDLE;
	c->flags |= HC_STOP;
	c->flags &= (uint16_t)~HC_CONTINUE;
	free_held(c);
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
	if (!http_conn_insert_ready(c, r)) {
		msg_free(&r->hm.m);
		c->flags |= HC_DONE;
	}
}



static bool pipeline_full(const struct http_conn *c)
{
	return c->next_seq - c->send_seq >= c->env->http->max_pipeline;
}

/* ---- Parked requests (see http_conn.h): kept while no handler mailbox
 * has room; nothing after them is parsed meanwhile. ---- */

/* The next request may not be parsed now. */
static bool blocked(const struct http_conn *c)
{
	return c->parked != NULL || pipeline_full(c) || (c->flags & (HC_UPHOLD | HC_UPWAIT));
}

/* submit failed otherwise than "full" (`rc`: no handler, or stopping):
 * answer 503 in the request's turn, and say why. */
static void answer_unavailable(struct http_conn *c, struct net_req *r, int rc)
{
	log_conn(c, "no handler for a request from", 503, ad_strerror(rc));
	http_out_set_error(&r->hm, 503);
	r->flags |= NET_REQ_LOCAL;
	if (!http_conn_insert_ready(c, r)) /* cannot happen: seq is new */
		msg_free(&r->hm.m);
}

void http_conn_submitted(struct http_conn *c, struct net_req *r, int rc)
{
	if (rc == 0)
		return;
	if (rc != -EAGAIN) {
		answer_unavailable(c, r, rc);
		return;
	}
	counter_add(&c->env->stats->held_total, 1);
	c->parked = r;
	if (c->env->parked != NULL)
		c->env->parked(c->env->ctx, c);
}

bool http_conn_has_parked(const struct http_conn *c)
{
	return c->parked != NULL;
}

int http_conn_submit_parked(struct http_conn *c)
{
	struct net_req *r = c->parked;
	int rc;

	if (r == NULL)
		return 0;
	rc = c->env->submit(c->env->ctx, &r->hm);
	if (rc == -EAGAIN)
		return -EAGAIN;
	c->parked = NULL;
	if (rc != 0)
		answer_unavailable(c, r, rc);
	return 0;
}

/* ---- end of parked requests ---- */

static void hold(struct http_conn *c, const char *data, size_t len)
{
	if (c->held == NULL)
		c->held = calloc(1, sizeof(*c->held));
	if (c->held == NULL || net_buf_append(c->held, data, len) != 0) {
		c->flags |= HC_STOP | HC_DONE;
		free_held(c);
	}
}

/* Whether the request line at `data` (a method http-parser does not
 * know: it stops inside it, in the call that starts it) begins with a
 * token and a space: a method (501), not garbage (400). */
static bool method_is_token(const char *data, size_t len)
{
	size_t i = 0, n;

	while (i < len && (data[i] == '\r' || data[i] == '\n'))
		i++;
	for (n = 0; i + n < len; n++) {
		unsigned char ch = (unsigned char)data[i + n];

		if (ch == 0 || (!isalnum(ch) && strchr("!#$%&'*+-.^_`|~", ch) == NULL))
			break;
	}
	return n > 0 && i + n < len && data[i + n] == ' ';
}

static void parse(struct http_conn *c, const char *data, size_t len)
{
	while (len > 0 && !(c->flags & HC_STOP)) {
		enum http_errno err;
		const char *reason;
		size_t n;

		if (c->phase == PH_IDLE && blocked(c)) {
			hold(c, data, len);
			return;
		}
		if (c->checked == 0) {
			/* Only what the strict framing accepted reaches the
			 * parser (http_frame.h). */
			const struct http_frame_limits lim = {
				.line = c->env->http->max_request_line,
				.section = c->env->http->max_header_bytes,
			};

			c->checked = (uint32_t)http_frame_scan(&c->frame, &lim, data,
							       len < UINT32_MAX ? len : UINT32_MAX);
			if (c->checked == 0) {
				const char *why = http_frame_error(&c->frame);

				fail(c, why != NULL ? http_frame_status(&c->frame) : 400,
				     why != NULL ? why : "malformed request");
				return;
			}
		}
		n = http_parser_execute(&c->parser, &http_conn_settings, data, c->checked);
		err = HTTP_PARSER_ERRNO(&c->parser);
		if (n == 0 && err == HPE_OK) {
			fail(c, 400, "malformed request"); /* never spin on input */
			return;
		}
		data += n;
		len -= n;
		c->checked -= (uint32_t)n; /* n <= checked */
		if (err == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			if (c->parser.upgrade) {
				/* What follows is the WebSocket's if the route
				 * accepts the upgrade (a 101), more HTTP if it
				 * answers otherwise (RFC 9110 7.8: the server
				 * ignored the Upgrade): held until then. */
				c->flags |= HC_UPWAIT;
				if (len > 0)
					hold(c, data, len);
				return;
			}
			continue;
		}
		if (err != HPE_OK) {
			unsigned status = http_conn_parser_status(c, err, &reason);

			if (err == HPE_INVALID_METHOD && method_is_token(data, len)) {
				status = 501; /* RFC 9110 9.1: a method we do not know */
				reason = "method not implemented";
			}
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
	if (http_conn_held_pending(c) > 0) {
		hold(c, data, len);
		return;
	}
	parse(c, data, len);
}

bool http_conn_resume(struct http_conn *c, uint64_t now_ns)
{
	struct net_buf *held = c->held;

	c->now_ns = now_ns;
	if (http_conn_held_pending(c) == 0 || (c->flags & HC_STOP) || blocked(c))
		return false;
	c->held = NULL; /* parse() may hold what it cannot take yet anew */
	parse(c, net_buf_head(held), net_buf_pending(held));
	net_buf_free(held);
	free(held);
	return true;
}

void http_conn_drain(struct http_conn *c)
{
	http_conn_upload_abort(c, 0);
	drop_cur(c);
	free_held(c);
	c->flags |= HC_STOP | HC_DRAIN;
	c->flags &= (uint16_t)~HC_CONTINUE;
	if (c->send_seq == c->next_seq)
		c->flags |= HC_DONE; /* nothing owed: over now */
}

void http_conn_drain_gently(struct http_conn *c)
{
	c->flags |= HC_DRAIN;
}

void http_conn_eof(struct http_conn *c)
{
	/* A client that half-closed after its requests still reads: what it
	 * sent whole is answered, as in a drain. Its handler runs anyway, so
	 * writing the answer costs nothing a full close would have saved. */
	http_conn_drain(c);
}

/* A final answer's status is 200..599 (the WebSocket's 101 aside): a 1xx
 * would leave the client waiting for the real one and taking the next
 * answer for it (behind a proxy that reuses the connection, another
 * client's), a 6xx..9xx no client understands. The handler's bug becomes
 * a 500, said once in the log. A 204 or 304 has no body (http_out.c): a
 * file given with one is not sent after it. */
static void check_status(struct http_conn *c, struct net_req *r)
{
	struct http_msg *hm = &r->hm;
	char why[96];

	if ((hm->status == 204 || hm->status == 304) && hm->resp_has_file) {
		close(hm->resp_fd);
		hm->resp_has_file = false;
	}
	if ((hm->status >= 200 && hm->status <= 599) || (hm->m.flags & HTTP_MSG_F_WEBSOCKET) ||
	    hm->resp_has_stream)
		return;
	snprintf(why, sizeof(why), "the handler answered %u, not a final status: sent 500",
		 hm->status);
	log_conn(c, "bad answer to", 500, why);
	if (hm->resp_has_file) {
		close(hm->resp_fd);
		hm->resp_has_file = false;
	}
	http_out_set_error(hm, 500);
}

void http_conn_reply(struct http_conn *c, struct net_req *r)
{
	uint32_t off = r->hm.seq - c->send_seq;

	r->flags &= ~NET_REQ_LOCAL;
	if (off >= c->next_seq - c->send_seq || (c->flags & HC_DONE) || !http_conn_insert_ready(c, r)) {
		counter_add(&c->env->stats->late_replies_total, 1);
		msg_free(&r->hm.m);
		return;
	}
	check_status(c, r);
}

/* One access-log line for the response to `r`, `bytes` long: the target
 * with its query, as nginx's $request_uri (a long one is cut; the log line
 * has a bound anyway). What was not parsed (a malformed request line, the
 * URL of a 414) is "-". */
static void log_response(const struct http_conn *c, const struct net_req *r,
			 size_t bytes, uint64_t duration_ns)
{
	char peer[64] = "-", target[2048];
	bool line = !(r->flags & NET_REQ_NO_LINE);
	const char *path = line && r->hm.path != NULL ? r->hm.path : "-";

	if (line && r->hm.path != NULL && r->hm.query != NULL && r->hm.query[0] != '\0') {
		snprintf(target, sizeof(target), "%s?%s", r->hm.path, r->hm.query);
		path = target;
	}
	if (c->env->describe != NULL)
		c->env->describe(c->env->ctx, c, peer, sizeof(peer));
	log_access(peer, line ? http_method_str((enum http_method)r->hm.method) : "-",
		   path, r->hm.status, bytes, duration_ns, &r->hm.m.trace, r->parent_id);
}

size_t http_conn_output(struct http_conn *c, struct net_buf *out, uint64_t now_ns)
{
	size_t before = out->len;
	struct net_req *r;

	while (!c->file_ready && (r = c->ready) != NULL && r->hm.seq == c->send_seq &&
	       !(c->flags & HC_DONE)) {
		bool close = (r->flags & NET_REQ_CLOSE) || !r->hm.keep_alive ||
			     ((c->flags & HC_DRAIN) && r->hm.seq + 1 == c->next_seq) ||
			     (r->hm.resp_has_stream && r->hm.stream_len < 0 &&
			      r->hm.version_minor == 0) ||  /* delimited by the close */
			     /* an answer before its streamed body ended */
			     ((c->flags & (HC_UPLOAD | HC_UPCUT)) && r->hm.seq == c->upload_seq);
		enum http_out_conn hdr = close ? HTTP_OUT_CLOSE :
			r->hm.version_minor == 0 ? HTTP_OUT_KEEP_ALIVE : HTTP_OUT_PERSIST;
		size_t at = out->len;
		uint64_t took = now_ns > r->hm.received_ns ? now_ns - r->hm.received_ns : 0;

		c->ready = r->next;
		/* --- WebSocket upgrade (net/ws_conn.c takes the socket over) --- */
		if (r->hm.m.flags & HTTP_MSG_F_WEBSOCKET) {
			if (ws_upgrade_response(out, &r->hm, c->env->date) == 0) {
				net_stats_response(c->env->stats, r->hm.status, took);
				if (c->env->access_log)
					log_response(c, r, out->len - at, took);
				c->flags |= HC_UPGRADED;
			}
			c->send_seq++;
			c->flags |= HC_DONE | HC_STOP;
			msg_free(&r->hm.m);
			drop_ready(c);
			drop_cur(c);
			break;
		}
		/* --- end WebSocket --- */
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
		if (r->hm.resp_has_file && r->hm.method != HTTP_HEAD && out->len > at) {
			/* Its body goes out next, through the owner's sendfile. */
			c->file_ready = true;
			c->file_fd = r->hm.resp_fd;
			c->file_off = r->hm.resp_file_off;
			c->file_len = r->hm.resp_file_len;
			r->hm.resp_has_file = false;
		}
		if (r->hm.resp_has_stream && r->hm.method != HTTP_HEAD && out->len > at) {
			/* Its body comes from its producer (net_stream.c). */
			c->file_ready = true;
			c->file_fd = -1;
			c->file_off = r->hm.stream_id;
			c->file_len = (uint64_t)r->hm.stream_len;
			c->stream_from = r->hm.stream_from;
			c->stream_chunked = r->hm.stream_len < 0 && r->hm.version_minor != 0;
			r->hm.resp_has_stream = false;
		}
		if (close) {
			/* The rest of a streamed body is read and discarded
			 * while the connection lingers. */
			http_conn_upload_abort(c, 0);
			c->flags |= HC_DONE | HC_STOP | HC_LINGER;
			msg_free(&r->hm.m);
			drop_ready(c);
			drop_cur(c);
			drop_parked(c);
			free_held(c);
			break;
		}
		msg_free(&r->hm.m);
		if (c->send_seq == c->next_seq)
			c->flags &= (uint16_t)~HC_UPWAIT; /* the Upgrade was declined */
		if (c->send_seq == c->next_seq && c->phase == PH_IDLE)
			c->since_ns = now_ns; /* the keep-alive idle period starts */
	}
	/* A streamed body's request was submitted at the end of its head:
	 * its 100 Continue goes when that request is next in line. */
	if (!c->file_ready && (c->flags & HC_CONTINUE) && c->phase == PH_BODY &&
	    (c->send_seq == c->next_seq ||
	     ((c->flags & HC_UPLOAD) && c->send_seq == c->upload_seq)) &&
	    !(c->flags & HC_DONE)) {
		c->flags &= (uint16_t)~HC_CONTINUE;
		/* The client waited for this: its body starts now. */
		c->input_ns = c->since_ns = now_ns;
		if (http_out_continue(out) != 0)
			c->flags |= HC_DONE | HC_STOP;
	}
	return out->len - before;
}

bool http_conn_take_file(struct http_conn *c, int *fd, uint64_t *off, uint64_t *len)
{
	if (!c->file_ready || c->file_fd < 0)
		return false;
	c->file_ready = false;
	*fd = c->file_fd;
	*off = c->file_off;
	*len = c->file_len;
	return true;
}

bool http_conn_take_stream(struct http_conn *c, struct http_stream_ref *s)
{
	if (!c->file_ready || c->file_fd >= 0)
		return false;
	c->file_ready = false;
	s->id = c->file_off;
	s->len = (int64_t)c->file_len;
	s->from = c->stream_from;
	s->chunked = c->stream_chunked;
	return true;
}

void http_conn_body_sent(struct http_conn *c, uint64_t now_ns)
{
	/* The idle and backstop periods start when the body is out, not
	 * when its head was. */
	c->head_ns = now_ns;
	if (c->send_seq == c->next_seq && c->phase == PH_IDLE)
		c->since_ns = now_ns;
}

bool http_conn_wants_input(const struct http_conn *c)
{
	return !(c->flags & HC_STOP) && http_conn_held_pending(c) == 0 &&
	       (c->phase != PH_IDLE || !blocked(c));
}

bool http_conn_finished(const struct http_conn *c)
{
	return (c->flags & HC_DONE) != 0;
}

bool http_conn_upgraded(const struct http_conn *c)
{
	return (c->flags & HC_UPGRADED) != 0;
}

void http_conn_take_held(struct http_conn *c, struct net_buf *out)
{
	memset(out, 0, sizeof(*out));
	if (c->held != NULL) {
		*out = *c->held;
		free(c->held);
		c->held = NULL;
	}
}

bool http_conn_lingers(const struct http_conn *c)
{
	return (c->flags & HC_LINGER) != 0;
}

bool http_conn_expire(struct http_conn *c, enum net_timeout kind, uint64_t now_ns)
{
	struct net_req *r;

	c->now_ns = now_ns;
	counter_add(&c->env->stats->timeouts_total[kind], 1);
	/* A request cut short says so in the log (rate-limited, as every bad
	 * request), and so do a reset for not reading and the backstop's 504
	 * (the handler's own 504 is logged by the handler); an idle
	 * connection closing is nobody's fault. */
	if (kind == NET_TIMEOUT_HEADER && c->phase == PH_HEADERS)
		log_bad_request(c, 408, "header section not complete within http.header_timeout_ms");
	else if (kind == NET_TIMEOUT_BODY)
		log_bad_request(c, 408, "body stalled or too slow (http.body_timeout_ms, "
				"http.body_min_rate)");
	else if (kind == NET_TIMEOUT_WRITE)
		log_conn(c, "connection reset,", 0,
			 "the client read none of its answers for http.write_timeout_ms");
	else if (kind == NET_TIMEOUT_HANDLER)
		log_conn(c, "no answer for", 504,
			 "the handler did not reply within http.request_timeout_ms + 1 s");
	if (kind != NET_TIMEOUT_HANDLER)
		return true;
	/* The handler backstop: answer the oldest request 504 ourselves and
	 * close after it; its reply, should it come, is late. */
	http_conn_upload_abort(c, 0);
	drop_cur(c);
	drop_parked(c);
	c->flags |= HC_STOP;
	free_held(c);
	r = net_req_get(c->env->pool);
	if (r == NULL)
		return true;
	r->hm.method = HTTP_GET;
	r->hm.seq = c->send_seq;
	r->hm.conn_id = c->id;
	r->hm.received_ns = c->head_ns;
	r->flags |= NET_REQ_LOCAL | NET_REQ_CLOSE | NET_REQ_NO_LINE;
	http_out_set_error(&r->hm, 504);
	/* No body: the request it answers may be a HEAD (its method went with
	 * it to the handler), and an answer to HEAD has none (RFC 9110 9.3.2).
	 * The connection closes after it, so the body could only mislead. */
	r->hm.resp_body_len = 0;
	if (!http_conn_insert_ready(c, r)) {
		msg_free(&r->hm.m);
		return true;
	}
	return false;
}
