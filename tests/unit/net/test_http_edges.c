/*
 * test_http_edges.c - the edges of an HTTP/1.1 connection's life, without
 * sockets (the steps of test_http_conn.c): an Upgrade the route declines,
 * CONNECT, a client that closes its side, and answers a handler got wrong
 * (a final 1xx, a file with a 304), when a connection is idle, and the
 * body timeout of a request whose 100 Continue waits its turn; the host
 * of an absolute-form target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn_steps.h"
#include "net/http_conn.h"
#include "tests/unit/common/log_capture.h"

static void test_a_declined_upgrade_keeps_the_connection_for_http(void **state)
{
	char *out;

	(void)state;
	/* curl --http2 on an http:// URL asks this of every request. */
	feed("GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
	     "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
	     "GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(H.nsub, 1);           /* what follows waits for the answer */
	assert_false(http_conn_wants_input(&H.c));
	reply(0, 200, "a");
	output();
	out = take_output();
	assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
	assert_null(strstr(out, "Connection: close"));
	assert_false(http_conn_finished(&H.c));
	assert_true(http_conn_resume(&H.c, H.now)); /* it was HTTP after all */
	assert_int_equal(H.nsub, 2);
	reply(1, 200, "b");
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 200 OK\r\n"));
	assert_true(http_conn_wants_input(&H.c));
}

static void test_connect_still_closes_after_its_answer(void **state)
{
	(void)state;
	feed("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n");
	reply(0, 405, "no");
	output();
	assert_non_null(strstr(take_output(), "Connection: close\r\n"));
	assert_true(http_conn_finished(&H.c));
}

static void test_a_handler_answering_1xx_or_over_599_sends_500(void **state)
{
	char *out;

	(void)state;
	feed("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"
	     "GET /c HTTP/1.1\r\nHost: h\r\n\r\n");
	reply(0, 103, "hints");   /* the client would take /b's answer for /a's */
	assert_non_null(strstr(log_capture_last, "bad answer to 192.0.2.1:4242: 500 the handler "
			       "answered 103"));
	reply(1, 600, "x");
	reply(2, 599, "ok");
	output();
	out = take_output();
	assert_int_equal(count_of(out, "HTTP/1.1 500 Internal Server Error\r\n"), 2);
	assert_non_null(strstr(out, "HTTP/1.1 599 "));
	assert_null(strstr(out, "hints"));
	assert_false(http_conn_finished(&H.c));   /* the framing is intact */
}

static void test_a_file_given_with_a_304_is_not_sent(void **state)
{
	struct http_msg *hm;
	int fd;
	uint64_t off, len;

	(void)state;
	feed("GET /f HTTP/1.1\r\nHost: h\r\n\r\n");
	hm = H.sub[0];
	H.sub[0] = NULL;
	hm->resp_has_file = true;
	hm->resp_fd = dup(0);
	hm->resp_file_off = 0;
	hm->resp_file_len = 100;
	hm->status = 304;
	hm->content_type = "text/plain";
	hm->m.type = HTTP_MSG_RESPONSE;
	http_conn_reply(&H.c, net_req_of(&hm->m));
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 304 Not Modified\r\n"));
	assert_false(http_conn_take_file(&H.c, &fd, &off, &len)); /* no body follows */
}

static void test_half_close_after_a_request_still_gets_its_answer(void **state)
{
	char *out;

	(void)state;
	feed("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /partial HTT");
	http_conn_eof(&H.c);
	assert_false(http_conn_finished(&H.c));
	assert_false(http_conn_wants_input(&H.c));
	reply(0, 200, "x");
	output();
	out = take_output();
	assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(out, "Connection: close\r\n"));  /* the partial one is dropped */
	assert_true(http_conn_finished(&H.c));
	assert_true(http_conn_lingers(&H.c));
	assert_int_equal(H.stats.late_replies_total, 0);
}

static void test_eof_with_nothing_owed_is_over_at_once(void **state)
{
	(void)state;
	feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	reply(0, 200, "x");
	output();
	feed("GET /partial HTT");
	http_conn_eof(&H.c);
	assert_true(http_conn_finished(&H.c));
	assert_false(http_conn_lingers(&H.c));
}

static void test_no_body_timeout_while_the_100_continue_waits_its_turn(void **state)
{
	enum net_timeout kind;
	uint64_t head = H.now;

	(void)state;
	H.http.request_timeout_ms = 60000;   /* longer than the body's 10 s */
	feed("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	     "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
	/* /a is slow: the client still waits for its 100, so only /a's
	 * backstop (request_timeout_ms + 1 s) is due, not the body's 10 s. */
	assert_int_equal(http_conn_deadline(&H.c, &kind), head + 61000 * MS);
	assert_int_equal(kind, NET_TIMEOUT_HANDLER);
	H.now += 20000 * MS;
	reply(0, 200, "a");
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 100 Continue"));
	assert_int_equal(http_conn_deadline(&H.c, &kind), H.now + 10000 * MS);
	assert_int_equal(kind, NET_TIMEOUT_BODY);
}

/* The value of request `i`'s Host field, as handlers read it. */
static const char *host_of(unsigned i)
{
	const struct http_msg *hm = H.sub[i];

	for (unsigned k = 0; k < hm->nheaders; k++)
		if (strcasecmp(hm->headers[k].name, "host") == 0) {
			assert_int_equal(strlen(hm->headers[k].value), hm->headers[k].value_len);
			return hm->headers[k].value;
		}
	return NULL;
}

/* RFC 9112 3.2.2: with an absolute-form target, the target's authority
 * is the host, whatever the Host field said. */
static void test_an_absolute_form_target_names_the_host(void **state)
{
	(void)state;
	feed("GET http://a.example:81/x?y=1 HTTP/1.1\r\nHost: other\r\nAccept: */*\r\n\r\n"
	     "GET http://user@[::1]:8080/ HTTP/1.1\r\nHost: other\r\n\r\n"
	     "POST http://b.example/ HTTP/1.1\r\nHost: other\r\nContent-Length: 2\r\n\r\nab"
	     "GET /plain HTTP/1.1\r\nHost: c.example\r\n\r\n");
	assert_int_equal(H.nsub, 4);
	assert_string_equal(host_of(0), "a.example:81");
	assert_string_equal(H.sub[0]->path, "/x");
	assert_string_equal(H.sub[0]->query, "y=1");
	assert_string_equal(H.sub[0]->headers[1].value, "*/*");   /* the others unmoved */
	assert_string_equal(host_of(1), "[::1]:8080");
	assert_string_equal(host_of(2), "b.example");
	assert_string_equal(H.sub[2]->body, "ab");                /* still terminated */
	assert_string_equal(host_of(3), "c.example");
}

/* What net_reclaim.c may close at the connection limit: only a
 * connection that waits for its next request after an answer. */
static void test_idle_is_only_between_answered_requests(void **state)
{
	uint64_t since = 0;

	(void)state;
	assert_false(http_conn_idle(&H.c, &since));       /* no request yet... */
	assert_true(http_conn_unfinished(&H.c, &since));  /* ...which the admin pool may close */
	assert_int_equal(since, H.now);
	feed("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_false(http_conn_idle(&H.c, &since));       /* two owed */
	assert_false(http_conn_unfinished(&H.c, &since));
	reply(0, 200, "a");
	output();
	assert_false(http_conn_idle(&H.c, &since));       /* one still owed */
	reply(1, 200, "b");
	H.now += 5;
	output();
	assert_true(http_conn_idle(&H.c, &since));
	assert_int_equal(since, H.now);                   /* from the last answer out */
	H.now += 5;
	feed("GET /c HT");
	assert_false(http_conn_idle(&H.c, &since));       /* a head in progress */
	assert_true(http_conn_unfinished(&H.c, &since));
	assert_int_equal(since, H.now);                   /* from its first byte */
	feed("TP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
	reply(2, 200, "c");
	output();
	assert_true(http_conn_finished(&H.c));
	assert_false(http_conn_idle(&H.c, &since));       /* over */
	assert_false(http_conn_unfinished(&H.c, &since));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_a_declined_upgrade_keeps_the_connection_for_http),
		T(test_connect_still_closes_after_its_answer),
		T(test_half_close_after_a_request_still_gets_its_answer),
		T(test_eof_with_nothing_owed_is_over_at_once),
		T(test_a_handler_answering_1xx_or_over_599_sends_500),
		T(test_a_file_given_with_a_304_is_not_sent),
		T(test_idle_is_only_between_answered_requests),
		T(test_an_absolute_form_target_names_the_host),
		T(test_no_body_timeout_while_the_100_continue_waits_its_turn),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
