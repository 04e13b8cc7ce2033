/*
 * test_http_conn.c - the HTTP/1.1 connection state machine, without
 * sockets: requests in as bytes, handler replies in as envelopes, answers
 * out as bytes. Every limit, ordering rule and deadline of net/http_conn.h;
 * the strict framing checks: test_http_framing.c; the edges (Upgrade,
 * EOF, bad statuses): test_http_edges.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "conn_steps.h"
#include "net/http_conn.h"
#include "tests/unit/common/log_capture.h"

static void test_simple_get_is_submitted_with_path_query_and_headers(void **state)
{
	struct http_msg *hm;

	(void)state;
	feed("GET /jobs/42?x=1&y=2#frag HTTP/1.1\r\nHost: example\r\nX-Empty:\r\n"
	     "Accept: */*\r\n\r\n");
	assert_int_equal(H.nsub, 1);
	hm = H.sub[0];
	assert_int_equal(hm->method, HTTP_GET);
	assert_int_equal(hm->version_minor, 1);
	assert_true(hm->keep_alive);
	assert_string_equal(hm->path, "/jobs/42");
	assert_int_equal(hm->path_len, 8);
	assert_string_equal(hm->query, "x=1&y=2");
	assert_int_equal(hm->query_len, 7);
	assert_int_equal(hm->nheaders, 3);
	assert_string_equal(header(hm, "host"), "example");
	assert_string_equal(header(hm, "x-empty"), "");
	assert_int_equal(hm->headers[2].value_len, 3);
	assert_int_equal(hm->body_len, 0);
	assert_int_equal(hm->conn_id, 7 | (3ull << 32));
	assert_int_equal(hm->seq, 0);
	assert_int_equal(hm->received_ns, H.now);
	assert_int_equal(hm->m.free_fn, net_req_free_msg);
	assert_int_equal(output(), 0); /* nothing until the handler replies */
}

static void test_response_carries_server_date_type_and_length(void **state)
{
	char *out;

	(void)state;
	feed("GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
	reply(0, 200, "Hello, World!");
	assert_true(output() > 0);
	out = take_output();
	assert_string_equal(out, "HTTP/1.1 200 OK\r\nServer: actord\r\n"
			    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
			    "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!");
	assert_int_equal(H.stats.responses_total[1], 1);
	assert_false(http_conn_finished(&H.c));
}

static void test_request_split_byte_by_byte_is_reassembled(void **state)
{
	const char *req = "POST /up?a=b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";

	(void)state;
	for (size_t i = 0; req[i] != '\0'; i++) {
		H.now += MS;
		http_conn_feed(&H.c, req + i, 1, H.now);
	}
	assert_int_equal(H.nsub, 1);
	assert_string_equal(H.sub[0]->path, "/up");
	assert_string_equal(H.sub[0]->query, "a=b");
	assert_string_equal(header(H.sub[0], "content-length"), "5");
	assert_int_equal(H.sub[0]->body_len, 5);
	assert_memory_equal(H.sub[0]->body, "hello", 5);
}

static void test_pipelined_responses_keep_request_order(void **state)
{
	char req[64 * 16] = "", *out;
	char body[16][8];
	const char *p;

	(void)state;
	for (int i = 0; i < 16; i++) {
		char one[64];

		snprintf(one, sizeof(one), "GET /r%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
		strcat(req, one);
	}
	feed(req);
	assert_int_equal(H.nsub, 16);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(H.sub[i]->seq, i);
	/* Replies come back in reverse: nothing may leave before the first. */
	for (int i = 15; i >= 1; i--) {
		snprintf(body[i], sizeof(body[i]), "r%d", i);
		reply((unsigned)i, 200, body[i]);
		assert_int_equal(output(), 0);
	}
	reply(0, 200, "r0");
	assert_true(output() > 0);  /* all sixteen in one batch */
	out = take_output();
	assert_int_equal(count_of(out, "HTTP/1.1 200 OK"), 16);
	p = out;
	for (int i = 0; i < 16; i++) {
		char want[32];

		snprintf(want, sizeof(want), "\r\n\r\nr%d", i);
		p = strstr(p, want);
		assert_non_null(p);
		p++;
	}
	assert_int_equal(http_conn_inflight(&H.c), 0);
}

static void test_http10_without_keep_alive_closes_after_the_answer(void **state)
{
	char *out;

	(void)state;
	feed("GET / HTTP/1.0\r\n\r\nGET /ignored HTTP/1.0\r\n\r\n");
	assert_int_equal(H.nsub, 1);
	assert_false(H.sub[0]->keep_alive);
	assert_int_equal(H.sub[0]->version_minor, 0);
	reply(0, 200, "x");
	output();
	out = take_output();
	assert_non_null(strstr(out, "Connection: close\r\n"));
	assert_true(http_conn_finished(&H.c));
}

static void test_http10_keep_alive_is_kept_and_announced(void **state)
{
	char *out;

	(void)state;
	feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_true(H.sub[0]->keep_alive);
	reply(0, 200, "x");
	output();
	out = take_output();
	assert_non_null(strstr(out, "Connection: keep-alive\r\n"));
	assert_false(http_conn_finished(&H.c));
	feed("GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_int_equal(H.nsub, 2);
}

static void test_http11_connection_close_stops_parsing(void **state)
{
	(void)state;
	feed("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(H.nsub, 1);
	assert_false(http_conn_wants_input(&H.c));
	reply(0, 204, "");
	output();
	assert_non_null(strstr(take_output(), "Connection: close"));
	assert_true(http_conn_finished(&H.c));
	assert_true(http_conn_lingers(&H.c)); /* half-close, never reset it */
}

static void test_head_has_content_length_but_no_body(void **state)
{
	char *out;

	(void)state;
	feed("HEAD /plaintext HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(H.sub[0]->method, HTTP_HEAD);
	reply(0, 200, "Hello, World!");
	output();
	out = take_output();
	assert_non_null(strstr(out, "Content-Length: 13\r\n"));
	assert_string_equal(strstr(out, "\r\n\r\n"), "\r\n\r\n");
}

static void test_304_and_204_carry_no_content_length_or_body(void **state)
{
	char *out;

	(void)state;
	feed("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"
	     "GET /c HTTP/1.1\r\nHost: h\r\n\r\n");
	reply(0, 304, "");
	reply(1, 204, "ignored");
	reply(2, 200, "ok");
	output();
	out = take_output();
	assert_memory_equal(out, "HTTP/1.1 304 Not Modified\r\n", 27);
	/* One Content-Length in all three answers: the 200's, last. */
	assert_non_null(strstr(out, "Content-Length: 2\r\n"));
	assert_null(strstr(strstr(out, "HTTP/1.1 204"), "Content-Length: 0"));
	assert_ptr_equal(strstr(out, "Content-Length"), strstr(out, "Content-Length: 2\r\n"));
	assert_ptr_equal(strstr(out, "Content-Type"), strstr(out, "Content-Type: text/plain\r\nContent-Length: 2"));
	assert_null(strstr(out, "ignored"));
	assert_non_null(strstr(out, "\r\n\r\nHTTP/1.1 204 No Content\r\n"));
	assert_non_null(strstr(out, "\r\n\r\nHTTP/1.1 200 OK\r\n"));
}

static void test_access_log_has_one_line_per_response_only_when_enabled(void **state)
{
	char want[128];
	size_t n;

	(void)state;
	log_capture_access_count = 0;
	feed("GET /off HTTP/1.1\r\nHost: h\r\n\r\n");
	reply(0, 200, "x");
	output();
	assert_int_equal(log_capture_access_count, 0);
	take_output();
	H.env.access_log = true;
	feed("GET /a?q=1 HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n");
	H.now += 3 * MS;
	reply(1, 201, "hello");
	n = output();
	assert_int_equal(log_capture_access_count, 1);
	snprintf(want, sizeof(want), "192.0.2.1:4242 GET /a?q=1 201 %zu %llu", n, 3 * MS);
	assert_string_equal(log_capture_access, want);
	feed("xx"); /* the body of /b, then a malformed request: 400 */
	feed("BAD\r\n\r\n");
	reply(2, 200, "b");
	output();
	assert_int_equal(log_capture_access_count, 3);
	assert_non_null(strstr(log_capture_access, "192.0.2.1:4242 - - 400 "));
}

static void test_error_answer_to_head_has_no_body_and_logs_its_url(void **state)
{
	char big[300];
	char *out;

	(void)state;
	H.http.max_header_bytes = 256;
	H.env.access_log = true;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	feed("HEAD /h?x=1 HTTP/1.1\r\nHost: h\r\nX-Big: ");
	feed(big);
	output();
	out = take_output();
	assert_non_null(strstr(out, "HTTP/1.1 431 "));
	assert_string_equal(strstr(out, "\r\n\r\n"), "\r\n\r\n");
	assert_non_null(strstr(log_capture_access, " HEAD /h?x=1 431 "));
}

static void test_chunked_body_is_reassembled(void **state)
{
	(void)state;
	feed("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n");
	assert_int_equal(H.nsub, 1);
	assert_int_equal(H.sub[0]->body_len, 12);
	assert_string_equal(H.sub[0]->body, "hello, world");
	assert_int_equal(H.sub[0]->nheaders, 2); /* trailers are not kept */
}

static void test_request_line_too_long_is_414(void **state)
{
	char req[9000];

	(void)state;
	memset(req, 'a', sizeof(req));
	memcpy(req, "GET /", 5);
	req[sizeof(req) - 1] = '\0';
	feed(req);
	assert_int_equal(H.nsub, 0);
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 414 URI Too Long\r\n"));
	assert_true(http_conn_finished(&H.c));
	assert_int_equal(H.stats.errors_total[NET_ERR_414], 1);
}

static void test_request_line_at_the_limit_is_accepted(void **state)
{
	char req[8300];
	size_t line = 8192, url = line - strlen("GET  HTTP/1.1\r\n");

	(void)state;
	memcpy(req, "GET /", 5);
	memset(req + 5, 'a', url - 1);
	strcpy(req + 4 + url, " HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(strstr(req, "\r\n") - req + 2, (long)line);
	feed(req);
	assert_int_equal(H.nsub, 1);
	assert_int_equal(H.sub[0]->path_len, url);
}

static void test_header_block_too_large_is_431(void **state)
{
	static char req[70000];

	(void)state;
	strcpy(req, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
	memset(req + strlen(req), 'v', 66000);
	strcat(req, "\r\n\r\n");
	feed(req);
	assert_int_equal(H.nsub, 0);
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 431 "));
	assert_int_equal(H.stats.errors_total[NET_ERR_431], 1);
}

static void test_too_many_header_fields_is_431(void **state)
{
	char req[4096] = "GET / HTTP/1.1\r\n";

	(void)state;
	for (int i = 0; i < 101; i++) {
		char h[32];

		snprintf(h, sizeof(h), "X-H%d: v\r\n", i);
		strcat(req, h);
	}
	strcat(req, "\r\n");
	feed(req);
	assert_int_equal(H.nsub, 0);
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 431 "));
}

static void test_body_over_limit_is_413_before_the_body_is_read(void **state)
{
	(void)state;
	feed("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n");
	assert_int_equal(H.nsub, 0);
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 413 Payload Too Large\r\n"));
	assert_true(http_conn_finished(&H.c));
	assert_false(http_conn_wants_input(&H.c));
	assert_int_equal(H.stats.errors_total[NET_ERR_413], 1);
}

static void test_chunked_body_over_limit_is_413(void **state)
{
	(void)state;
	H.http.max_body_bytes = 8;
	feed("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n");
	assert_int_equal(H.nsub, 0);
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 413 "));
}

static void test_content_length_with_transfer_encoding_is_400(void **state)
{
	(void)state;
	feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "5\r\nhello\r\n0\r\n\r\n");
	assert_int_equal(H.nsub, 0);
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 400 Bad Request\r\nServer: actord"));
	assert_true(http_conn_finished(&H.c));
	assert_int_equal(H.stats.errors_total[NET_ERR_400], 1);
}

static void test_two_different_content_lengths_are_400(void **state)
{
	(void)state;
	feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
	assert_int_equal(H.nsub, 0);
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 400 "));
}

static void test_malformed_request_is_400_and_logged_with_reason(void **state)
{
	char *out;

	(void)state;
	log_capture_count = 0;
	feed("GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n");
	output();
	out = take_output();
	assert_non_null(strstr(out, "HTTP/1.1 400 "));
	assert_non_null(strstr(out, "Connection: close\r\n"));
	assert_int_equal(log_capture_count, 1);
	assert_non_null(strstr(log_capture_last, "\"status\":400"));
	assert_non_null(strstr(log_capture_last, "\"client\":\"192.0.2.1:4242\""));
	assert_non_null(strstr(log_capture_last, "\"reason\":"));
}

static void test_error_answer_waits_for_earlier_requests(void **state)
{
	char *out;

	(void)state;
	feed("GET /ok HTTP/1.1\r\nHost: h\r\n\r\nNOT-HTTP\r\n\r\n");
	assert_int_equal(H.nsub, 1);
	assert_int_equal(output(), 0);  /* the 400 must not overtake /ok */
	reply(0, 200, "ok");
	output();
	out = take_output();
	assert_true(strstr(out, "200 OK") < strstr(out, "400 Bad Request"));
	assert_true(http_conn_finished(&H.c));
}

static void test_full_handler_mailbox_parks_the_request_and_stops_parsing(void **state)
{
	char *out;

	(void)state;
	submit_rc = -EAGAIN;
	feed("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
	/* Kept, not refused: nothing is answered, nothing more is parsed. */
	assert_true(http_conn_has_parked(&H.c));
	assert_int_equal(H.stats.held_total, 1);
	assert_int_equal(output(), 0);
	assert_false(http_conn_wants_input(&H.c));
	assert_int_equal(http_conn_inflight(&H.c), 1);
	/* Still full: it stays parked. */
	assert_int_equal(http_conn_submit_parked(&H.c), -EAGAIN);
	assert_true(http_conn_has_parked(&H.c));
	assert_int_equal(H.nsub, 0);
	/* Room again: it goes, then the held input is parsed after it. */
	submit_rc = 0;
	assert_int_equal(http_conn_submit_parked(&H.c), 0);
	assert_false(http_conn_has_parked(&H.c));
	assert_int_equal(H.nsub, 1);
	assert_string_equal(H.sub[0]->path, "/a");
	assert_int_equal(H.sub[0]->seq, 0);
	assert_true(http_conn_resume(&H.c, H.now));
	assert_int_equal(H.nsub, 2);
	assert_string_equal(H.sub[1]->path, "/b");
	reply(1, 200, "b");
	reply(0, 200, "a");
	output();
	out = take_output();
	assert_true(strstr(out, "\r\n\r\na") < strstr(out, "\r\n\r\nb"));
	assert_null(strstr(out, "503"));
	assert_int_equal(H.stats.held_total, 1);
	assert_true(http_conn_wants_input(&H.c));
}

static void test_parked_request_refused_otherwise_is_answered_503(void **state)
{
	char *out;

	(void)state;
	submit_rc = -EAGAIN;
	feed("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
	submit_rc = -ESHUTDOWN; /* the handlers are going away */
	assert_int_equal(http_conn_submit_parked(&H.c), 0);
	output();
	out = take_output();
	assert_non_null(strstr(out, "HTTP/1.1 503 Service Unavailable\r\n"));
	assert_non_null(strstr(out, "Retry-After: 1\r\n"));
	assert_false(http_conn_finished(&H.c)); /* the connection stays usable */
	assert_non_null(strstr(log_capture_last, "no handler for a request from 192.0.2.1:4242: "
			       "503 destination stopping"));
}

static void test_parked_request_is_freed_with_the_connection(void **state)
{
	(void)state;
	submit_rc = -EAGAIN;
	feed("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
	assert_true(http_conn_has_parked(&H.c));
	http_conn_dispose(&H.c);      /* ASan: nothing leaks */
	assert_false(http_conn_has_parked(&H.c));
	assert_true(http_conn_finished(&H.c));
}

static void test_expect_100_continue_is_answered_before_the_body(void **state)
{
	(void)state;
	feed("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
	output();
	assert_string_equal(take_output(), "HTTP/1.1 100 Continue\r\n\r\n");
	feed("abc");
	assert_int_equal(H.nsub, 1);
	assert_int_equal(H.sub[0]->body_len, 3);
	assert_int_equal(output(), 0);
}

static void test_expect_100_continue_is_not_sent_with_a_413(void **state)
{
	(void)state;
	feed("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n");
	output();
	assert_null(strstr(take_output(), "100 Continue"));
}

static void test_pipeline_cap_holds_input_until_answers_leave(void **state)
{
	(void)state;
	H.http.max_pipeline = 2;
	feed("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(H.nsub, 2);
	assert_false(http_conn_wants_input(&H.c));
	reply(0, 200, "1");
	output();
	http_conn_resume(&H.c, H.now);
	assert_int_equal(H.nsub, 3);
	assert_string_equal(H.sub[2]->path, "/3");
	assert_false(http_conn_wants_input(&H.c)); /* /2 and /3 in flight */
	reply(1, 200, "2");
	output();
	assert_true(http_conn_wants_input(&H.c));
}

static void test_write_timeout_is_counted_and_logged(void **state)
{
	(void)state;
	feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	reply(0, 200, "x");
	output();
	assert_true(http_conn_expire(&H.c, NET_TIMEOUT_WRITE, H.now));
	assert_int_equal(H.stats.timeouts_total[NET_TIMEOUT_WRITE], 1);
	assert_non_null(strstr(log_capture_last, "connection reset, 192.0.2.1:4242: the client read "
			       "none of its answers"));
}

static void test_late_reply_after_handler_backstop_is_dropped(void **state)
{
	enum net_timeout kind;
	char *out;
	uint64_t d;

	(void)state;
	feed("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
	d = http_conn_deadline(&H.c, &kind);
	assert_int_equal(kind, NET_TIMEOUT_HANDLER);
	assert_int_equal(d, H.now + (5000 + HTTP_CONN_HANDLER_GRACE_MS) * MS);
	H.now = d;
	assert_false(http_conn_expire(&H.c, kind, H.now));
	/* The operator learns why a 504 went out, and to whom. */
	assert_non_null(strstr(log_capture_last, "no answer for 192.0.2.1:4242: 504 the handler"));
	output();
	out = take_output();
	assert_non_null(strstr(out, "HTTP/1.1 504 Gateway Timeout\r\n"));
	/* No body: it may answer a HEAD, whose method is not kept. */
	assert_non_null(strstr(out, "Content-Length: 0\r\n"));
	assert_string_equal(strstr(out, "\r\n\r\n"), "\r\n\r\n");
	assert_true(http_conn_finished(&H.c));
	reply(0, 200, "too late");
	assert_int_equal(H.stats.late_replies_total, 1);
}

static void test_header_deadline_is_absolute_from_accept_then_first_byte(void **state)
{
	enum net_timeout kind;

	(void)state;
	assert_int_equal(http_conn_deadline(&H.c, &kind), H.now + 10000 * MS);
	assert_int_equal(kind, NET_TIMEOUT_HEADER);
	H.now += 3000 * MS;
	feed("GET / HTTP/1.1\r\n");
	assert_int_equal(http_conn_deadline(&H.c, &kind), H.now + 10000 * MS);
	H.now += 2000 * MS;  /* more header bytes do not push it back */
	feed("Host: h\r\n");
	assert_int_equal(http_conn_deadline(&H.c, &kind), H.now - 2000 * MS + 10000 * MS);
	assert_int_equal(kind, NET_TIMEOUT_HEADER);
	assert_true(http_conn_expire(&H.c, kind, H.now));
	assert_int_equal(H.stats.timeouts_total[NET_TIMEOUT_HEADER], 1);
}

static void test_keepalive_and_body_deadlines(void **state)
{
	enum net_timeout kind;

	(void)state;
	H.http.body_min_rate = 0; /* the idle timeout alone */
	feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	H.now += 5 * MS;
	reply(0, 200, "x");
	output();
	assert_int_equal(http_conn_deadline(&H.c, &kind), H.now + 75000 * MS);
	assert_int_equal(kind, NET_TIMEOUT_KEEPALIVE);
	feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab");
	H.now += 7 * MS;
	feed("c");
	assert_int_equal(http_conn_deadline(&H.c, &kind), H.now + 10000 * MS);
	assert_int_equal(kind, NET_TIMEOUT_BODY);
}

static void test_absolute_form_url_is_split(void **state)
{
	(void)state;
	feed("GET http://example.com:8080/a/b?q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(H.nsub, 1);
	assert_string_equal(H.sub[0]->path, "/a/b");
	assert_string_equal(H.sub[0]->query, "q=1");
}

static void test_reply_for_an_unknown_sequence_is_late(void **state)
{
	(void)state;
	feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	H.sub[0]->seq = 99;
	reply(0, 200, "x");
	assert_int_equal(H.stats.late_replies_total, 1);
	assert_int_equal(output(), 0);
}

static void test_envelopes_are_recycled_on_the_owner_thread(void **state)
{
	struct http_msg *first;

	(void)state;
	feed("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n");
	first = H.sub[0];
	reply(0, 200, "x");
	output();
	feed("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_ptr_equal(H.sub[1], first);
	assert_string_equal(H.sub[1]->path, "/2");
}

/* ---- Resources ---- */

static void test_body_buffer_grows_with_what_arrived(void **state)
{
	static char part[4096];
	struct net_req *r;

	(void)state;
	memset(part, 'b', sizeof(part) - 1);
	feed("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n\r\nx");
	r = H.c.cur;
	assert_non_null(r);
	assert_true(r->req_cap < 8192);  /* not the declared 1 MiB */
	for (size_t got = 1; got < 1048576; got += sizeof(part) - 1) {
		size_t n = 1048576 - got < sizeof(part) - 1 ? 1048576 - got : sizeof(part) - 1;

		http_conn_feed(&H.c, part, n, H.now);
		if (got + n < 1048576)
			assert_true(H.c.cur->req_cap <= 2 * (got + n) + 8192);
	}
	assert_int_equal(H.nsub, 1);
	assert_int_equal(H.sub[0]->body_len, 1048576);
	/* Never beyond what the declared length needs. */
	assert_true(net_req_of(&H.sub[0]->m)->req_cap < 1048576 + 8192);
}

static void test_body_deadline_is_absolute_with_the_minimum_rate(void **state)
{
	enum net_timeout kind;
	uint64_t start;

	(void)state;
	feed("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n");
	start = H.now;
	/* One byte every 9 s: never idle for body_timeout_ms (10 s)... */
	for (int i = 0; i < 2; i++) {
		H.now += 9000 * MS;
		feed("b");
	}
	/* ...but the deadline is 10 s plus 1 s per 1024 bytes from the start. */
	assert_int_equal(http_conn_deadline(&H.c, &kind), start + 10000 * MS + 2 * 1000000000ull / 1024);
	assert_int_equal(kind, NET_TIMEOUT_BODY);
	assert_true(http_conn_expire(&H.c, kind, H.now + 2000 * MS));
	assert_int_equal(H.stats.timeouts_total[NET_TIMEOUT_BODY], 1);
}

static void test_body_rate_clock_starts_at_the_100_continue(void **state)
{
	enum net_timeout kind;

	(void)state;
	feed("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	     "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
	H.now += 3000 * MS;  /* /a takes 3 s: no 100 Continue meanwhile */
	reply(0, 200, "a");
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 100 Continue"));
	assert_int_equal(http_conn_deadline(&H.c, &kind), H.now + 10000 * MS);
}

/* The handler side: answer request `i` with a streamed body (hreq_send_stream). */
static void reply_stream(unsigned i, int64_t len)
{
	struct http_msg *hm = H.sub[i];

	H.sub[i] = NULL;
	hm->status = 200;
	hm->content_type = "application/octet-stream";
	hm->resp_has_stream = true;
	hm->stream_from = 7;
	hm->stream_id = 42 + i;
	hm->stream_len = len;
	hm->m.type = HTTP_MSG_RESPONSE;
	http_conn_reply(&H.c, net_req_of(&hm->m));
}

static void test_streamed_body_heads_and_holds_the_answers_behind(void **state)
{
	struct http_stream_ref s;
	char *out;

	(void)state;
	feed("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"
	     "GET /c HTTP/1.0\r\n\r\n");
	assert_int_equal(H.nsub, 3);
	reply_stream(0, 1000);
	reply(1, 200, "after");
	output();
	out = take_output();
	/* Known length: Content-Length, the body later; nothing behind it yet. */
	assert_non_null(strstr(out, "Content-Length: 1000\r\n"));
	assert_null(strstr(out, "after"));
	assert_true(http_conn_take_stream(&H.c, &s));
	assert_int_equal(s.id, 42);
	assert_int_equal(s.len, 1000);
	assert_int_equal(s.from, 7);
	assert_false(s.chunked);
	assert_false(http_conn_take_stream(&H.c, &s));
	http_conn_body_sent(&H.c, H.now);
	output();
	assert_non_null(strstr(take_output(), "after"));
	/* Unknown length to HTTP/1.0: no length, closed to end it. */
	reply_stream(2, -1);
	output();
	out = take_output();
	assert_null(strstr(out, "Content-Length"));
	assert_null(strstr(out, "Transfer-Encoding"));
	assert_non_null(strstr(out, "Connection: close\r\n"));
	assert_true(http_conn_take_stream(&H.c, &s));
	assert_false(s.chunked);
	assert_true(http_conn_finished(&H.c));
}

static void test_unsized_streamed_body_is_chunked_for_http11(void **state)
{
	struct http_stream_ref s;
	char *out;

	(void)state;
	feed("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
	reply_stream(0, -1);
	output();
	out = take_output();
	assert_non_null(strstr(out, "Transfer-Encoding: chunked\r\n"));
	assert_null(strstr(out, "Content-Length"));
	assert_null(strstr(out, "Connection: close"));
	assert_true(http_conn_take_stream(&H.c, &s));
	assert_true(s.chunked);
	assert_int_equal(s.len, -1);
	assert_false(http_conn_finished(&H.c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_simple_get_is_submitted_with_path_query_and_headers),
		T(test_response_carries_server_date_type_and_length),
		T(test_request_split_byte_by_byte_is_reassembled),
		T(test_pipelined_responses_keep_request_order),
		T(test_http10_without_keep_alive_closes_after_the_answer),
		T(test_http10_keep_alive_is_kept_and_announced),
		T(test_http11_connection_close_stops_parsing),
		T(test_head_has_content_length_but_no_body),
		T(test_304_and_204_carry_no_content_length_or_body),
		T(test_access_log_has_one_line_per_response_only_when_enabled),
		T(test_error_answer_to_head_has_no_body_and_logs_its_url),
		T(test_chunked_body_is_reassembled),
		T(test_request_line_too_long_is_414),
		T(test_request_line_at_the_limit_is_accepted),
		T(test_header_block_too_large_is_431),
		T(test_too_many_header_fields_is_431),
		T(test_body_over_limit_is_413_before_the_body_is_read),
		T(test_chunked_body_over_limit_is_413),
		T(test_content_length_with_transfer_encoding_is_400),
		T(test_two_different_content_lengths_are_400),
		T(test_malformed_request_is_400_and_logged_with_reason),
		T(test_error_answer_waits_for_earlier_requests),
		T(test_full_handler_mailbox_parks_the_request_and_stops_parsing),
		T(test_parked_request_refused_otherwise_is_answered_503),
		T(test_parked_request_is_freed_with_the_connection),
		T(test_expect_100_continue_is_answered_before_the_body),
		T(test_expect_100_continue_is_not_sent_with_a_413),
		T(test_pipeline_cap_holds_input_until_answers_leave),
		T(test_write_timeout_is_counted_and_logged),
		T(test_late_reply_after_handler_backstop_is_dropped),
		T(test_header_deadline_is_absolute_from_accept_then_first_byte),
		T(test_keepalive_and_body_deadlines),
		T(test_absolute_form_url_is_split),
		T(test_reply_for_an_unknown_sequence_is_late),
		T(test_envelopes_are_recycled_on_the_owner_thread),
		T(test_body_buffer_grows_with_what_arrived),
		T(test_body_deadline_is_absolute_with_the_minimum_rate),
		T(test_body_rate_clock_starts_at_the_100_continue),
		T(test_streamed_body_heads_and_holds_the_answers_behind),
		T(test_unsized_streamed_body_is_chunked_for_http11),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
