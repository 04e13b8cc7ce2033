/*
 * test_http_upload.c - streamed request bodies in net/http_conn.c
 * (http_conn_env.upload_wanted / upload; net/stream_msg.h "Uploads"): the
 * request goes to a handler at the end of its head, the body follows as
 * events, and whatever cuts it short says so and closes the connection
 * after the answer.
 *
 * Thread: the test thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conn_steps.h"
#include "net/http_conn.h"

/* The owner's side: which bodies stream, and what it was told. */
static uint64_t stream_over;      /* stream a body longer than this (or chunked) */
static uint64_t stream_max;       /* their limit (0: none) */
static char events[256];          /* "B", "D<len>", "E", "A<status>" */
static bool keep_after_end;       /* the owner still holds the body after END */
static char data[4096];           /* the body bytes handed over */
static size_t ndata;

static bool wanted(void *ctx, unsigned method, const char *url, size_t url_len, int64_t len,
		   uint64_t *max)
{
	(void)ctx;
	assert_true(method == HTTP_POST || method == HTTP_PUT);
	if (url_len < 3 || memcmp(url, "/u/", 3) != 0 || (len >= 0 && (uint64_t)len <= stream_over))
		return false;
	*max = stream_max;
	return true;
}

static void upload(void *ctx, struct http_conn *c, enum http_upload_event ev, const char *p,
		   size_t len, unsigned status)
{
	size_t at = strlen(events);

	(void)ctx;
	switch (ev) {
	case HTTP_UPLOAD_BEGIN:
		snprintf(events + at, sizeof(events) - at, "B ");
		break;
	case HTTP_UPLOAD_DATA:
		snprintf(events + at, sizeof(events) - at, "D%zu ", len);
		assert_true(ndata + len <= sizeof(data));
		memcpy(data + ndata, p, len);
		ndata += len;
		break;
	case HTTP_UPLOAD_END:
		snprintf(events + at, sizeof(events) - at, "E ");
		if (!keep_after_end)
			http_conn_upload_delivered(c);   /* passed on at once */
		break;
	case HTTP_UPLOAD_ABORT:
		snprintf(events + at, sizeof(events) - at, "A%u ", status);
		break;
	}
}

static int setup_upload(void **state)
{
	int rc = setup(state);

	H.env.upload_wanted = wanted;
	H.env.upload = upload;
	stream_over = 4;
	stream_max = 0;
	keep_after_end = false;
	events[0] = '\0';
	ndata = 0;
	return rc;
}

static void test_body_is_handed_over_in_pieces_after_its_head(void **state)
{
	char *out;

	(void)state;
	feed("POST /u/x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n");
	/* The handler has it before any body byte. */
	assert_int_equal(H.nsub, 1);
	assert_true(H.sub[0]->upload);
	assert_int_equal(H.sub[0]->upload_len, 10);
	assert_int_equal(H.sub[0]->body_len, 0);
	assert_string_equal(H.sub[0]->path, "/u/x");
	assert_string_equal(events, "B ");
	feed("hello");
	feed("world");
	assert_string_equal(events, "B D5 D5 E ");
	assert_int_equal(ndata, 10);
	assert_memory_equal(data, "helloworld", 10);
	/* Answered after its end: the connection is kept. */
	reply(0, 200, "ok");
	output();
	out = take_output();
	assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
	assert_null(strstr(out, "close"));
	assert_false(http_conn_finished(&H.c));
	feed("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(H.nsub, 2);
	assert_false(H.sub[1]->upload);
	assert_int_equal(H.stats.errors_total[NET_ERR_413], 0);
}

static void test_chunked_body_streams_with_unknown_length(void **state)
{
	(void)state;
	stream_over = 1000;   /* a length does not matter: it is unknown */
	feed("PUT /u/c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n");
	assert_int_equal(H.nsub, 1);
	assert_int_equal(H.sub[0]->upload_len, -1);
	assert_string_equal(events, "B D3 D1 E ");
	assert_memory_equal(data, "abcd", 4);
}

static void test_small_or_other_bodies_stay_buffered(void **state)
{
	(void)state;
	feed("POST /u/x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd"
	     "POST /other HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde");
	assert_int_equal(H.nsub, 2);
	assert_false(H.sub[0]->upload);
	assert_int_equal(H.sub[0]->body_len, 4);
	assert_false(H.sub[1]->upload);
	assert_int_equal(H.sub[1]->body_len, 5);
	assert_string_equal(events, "");
}

static void test_answer_before_the_end_aborts_and_closes(void **state)
{
	char *out;

	(void)state;
	feed("POST /u/x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nfirst");
	reply(0, 403, "no");
	output();
	out = take_output();
	assert_non_null(strstr(out, "HTTP/1.1 403"));
	assert_non_null(strstr(out, "Connection: close"));
	assert_string_equal(events, "B D5 A0 ");
	assert_true(http_conn_finished(&H.c));
	assert_true(http_conn_lingers(&H.c)); /* the rest is read and dropped */
	feed("more body");
	assert_string_equal(events, "B D5 A0 ");
}

static void test_a_cut_body_closes_even_when_its_end_comes_before_the_answer(void **state)
{
	char *out;

	(void)state;
	feed("POST /u/x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nfirst");
	/* The consumer stopped taking the body (the upstream answered early):
	 * the client's last bytes come in before the answer does. */
	http_conn_upload_cut(&H.c);
	feed("12345");
	reply(0, 403, "no");
	output();
	out = take_output();
	assert_non_null(strstr(out, "HTTP/1.1 403"));
	assert_non_null(strstr(out, "Connection: close"));
	assert_true(http_conn_finished(&H.c));
}

static void test_declared_length_over_the_limit_is_413_at_once(void **state)
{
	(void)state;
	stream_max = 8;
	feed("POST /u/x HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\n");
	assert_int_equal(H.nsub, 0);
	assert_string_equal(events, "");
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 413"));
	assert_true(http_conn_finished(&H.c));
}

static void test_chunked_body_growing_past_the_limit_is_aborted_413(void **state)
{
	char *out;

	(void)state;
	stream_max = 8;
	feed("POST /u/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "5\r\nabcde\r\n5\r\nfghij\r\n");
	/* The consumer is told why; the handler's answer is the client's. */
	assert_string_equal(events, "B D5 A413 ");
	assert_int_equal(H.stats.errors_total[NET_ERR_413], 1);
	assert_int_equal(output(), 0);
	reply(0, 413, "too large");
	output();
	out = take_output();
	assert_non_null(strstr(out, "HTTP/1.1 413"));
	assert_non_null(strstr(out, "Connection: close"));
	assert_true(http_conn_finished(&H.c));
}

static void test_malformed_chunk_aborts_400(void **state)
{
	(void)state;
	feed("POST /u/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "2\r\nab\r\nzz\r\n");
	assert_string_equal(events, "B D2 A400 ");
	assert_int_equal(output(), 0);
}

static void test_expect_100_continue_goes_with_the_request_in_flight(void **state)
{
	(void)state;
	feed("POST /u/x HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n");
	assert_int_equal(H.nsub, 1);
	output();
	assert_string_equal(take_output(), "HTTP/1.1 100 Continue\r\n\r\n");
	feed("abcdef");
	assert_string_equal(events, "B D6 E ");
}

static void test_eof_and_dispose_mid_body_abort(void **state)
{
	(void)state;
	feed("POST /u/x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nab");
	http_conn_eof(&H.c);
	assert_string_equal(events, "B D2 A0 ");
	http_conn_dispose(&H.c);         /* once only */
	assert_string_equal(events, "B D2 A0 ");
}

static void test_deadlines_while_a_body_streams(void **state)
{
	enum net_timeout kind;
	uint64_t d, start = H.now;

	(void)state;
	H.http.body_min_rate = 0;        /* the idle period alone first */
	feed("POST /u/x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n");
	/* The body timeouts run, not the handler backstop. */
	d = http_conn_deadline(&H.c, &kind);
	assert_int_equal(kind, NET_TIMEOUT_BODY);
	assert_true(d == start + H.http.body_timeout_ms * MS);
	/* A consumer that took more restarts the idle period (reading
	 * waited for it, not for the client). */
	H.now += 3000 * MS;
	http_conn_upload_progress(&H.c, H.now);
	d = http_conn_deadline(&H.c, &kind);
	assert_int_equal(kind, NET_TIMEOUT_BODY);
	assert_true(d == H.now + H.http.body_timeout_ms * MS);
	/* The minimum rate stays absolute: no byte yet, so it ends first. */
	H.http.body_min_rate = 1024;
	d = http_conn_deadline(&H.c, &kind);
	assert_true(d == start + H.http.body_timeout_ms * MS);
	/* At the end of the body, the handler backstop starts. */
	H.now += 100 * MS;
	feed("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	feed("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_string_equal(events, "B D50 D50 E ");
	d = http_conn_deadline(&H.c, &kind);
	assert_int_equal(kind, NET_TIMEOUT_HANDLER);
	assert_true(d == H.now + (H.http.request_timeout_ms + HTTP_CONN_HANDLER_GRACE_MS) * MS);
}

static void test_pipelined_request_after_a_streamed_body(void **state)
{
	char *out;

	(void)state;
	feed("POST /u/x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde"
	     "GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(H.nsub, 2);
	assert_string_equal(H.sub[1]->path, "/after");
	assert_string_equal(events, "B D5 E ");
	reply(1, 200, "second");
	reply(0, 200, "first");
	output();
	out = take_output();
	assert_true(strstr(out, "first") < strstr(out, "second"));
	assert_false(http_conn_finished(&H.c));
}

static void test_next_request_waits_until_the_body_is_passed_on(void **state)
{
	(void)state;
	keep_after_end = true;
	feed("POST /u/x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde"
	     "GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
	/* One streamed body at a time: the next request is held, unread. */
	assert_string_equal(events, "B D5 E ");
	assert_int_equal(H.nsub, 1);
	assert_false(http_conn_wants_input(&H.c));
	assert_false(http_conn_resume(&H.c, H.now));
	http_conn_upload_delivered(&H.c);
	assert_true(http_conn_resume(&H.c, H.now));
	assert_int_equal(H.nsub, 2);
	assert_string_equal(H.sub[1]->path, "/after");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup_upload, teardown)
	const struct CMUnitTest tests[] = {
		T(test_body_is_handed_over_in_pieces_after_its_head),
		T(test_chunked_body_streams_with_unknown_length),
		T(test_small_or_other_bodies_stay_buffered),
		T(test_answer_before_the_end_aborts_and_closes),
		T(test_a_cut_body_closes_even_when_its_end_comes_before_the_answer),
		T(test_declared_length_over_the_limit_is_413_at_once),
		T(test_chunked_body_growing_past_the_limit_is_aborted_413),
		T(test_malformed_chunk_aborts_400),
		T(test_expect_100_continue_goes_with_the_request_in_flight),
		T(test_eof_and_dispose_mid_body_abort),
		T(test_deadlines_while_a_body_streams),
		T(test_pipelined_request_after_a_streamed_body),
		T(test_next_request_waits_until_the_body_is_passed_on),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
