/*
 * test_http_framing.c - strict HTTP/1.1 framing (RFC 9112), checked by
 * net/http_frame.c ahead of http-parser: every malformed or ambiguous
 * message is refused with a precise status and closes the connection;
 * what came before it is still answered; and how a connection ends (the
 * drain's linger, 414 to HEAD, no 100 Continue for HTTP/1.0). The
 * connection state machine's other rules: test_http_conn.c.
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
#include "tests/unit/common/log_capture.h"

/* Nothing reached a handler; one answer, `status`, closes the connection. */
static void answered_once_and_closed(unsigned status)
{
	char want[32], *out;

	assert_int_equal(H.nsub, 0);
	output();
	out = take_output();
	snprintf(want, sizeof(want), "HTTP/1.1 %u ", status);
	assert_non_null(strstr(out, want));
	assert_int_equal(count_of(out, "HTTP/1.1 "), 1);
	assert_non_null(strstr(out, "Connection: close\r\n"));
	assert_true(http_conn_finished(&H.c));
}

/* `req` is refused with `status`: nothing reaches a handler, one answer
 * closes the connection (what followed the bad bytes is never parsed). */
static void refused(const char *req, unsigned status)
{
	feed(req);
	answered_once_and_closed(status);
}

static void test_whitespace_before_the_colon_is_400_and_never_framing(void **state)
{
	(void)state;
	/* Obeyed as chunked, this would be two requests. */
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n"
		"5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	assert_non_null(strstr(log_capture_last, "whitespace between a field name and the colon"));
}

static void test_content_length_with_whitespace_before_the_colon_is_400(void **state)
{
	(void)state;
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
		400);
}

static void test_chunk_data_not_followed_by_crlf_is_400(void **state)
{
	(void)state;
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhelloXY0\r\n\r\n", 400);
}

static void test_chunk_size_line_ends_at_crlf_only(void **state)
{
	(void)state;
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\rXhello\r\n0\r\n\r\n", 400);
}

static void test_chunk_size_line_with_bare_lf_is_400(void **state)
{
	(void)state;
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\nhello\r\n0\r\n\r\n", 400);
}

static void test_bare_lf_inside_a_chunk_extension_is_400(void **state)
{
	(void)state;
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5;a\nb\r\nhello\r\n0\r\n\r\n", 400);
}

static void test_chunk_extensions_have_a_length_limit(void **state)
{
	static char req[4096];
	char ext[HTTP_FRAME_EXT_MAX + 8];

	(void)state;
	/* At the limit: accepted (the ';' counts). */
	memset(ext, 'e', HTTP_FRAME_EXT_MAX - 1);
	ext[HTTP_FRAME_EXT_MAX - 1] = '\0';
	snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "5;%s\r\nhello\r\n0\r\n\r\n", ext);
	feed(req);
	assert_int_equal(H.nsub, 1);
	assert_string_equal(H.sub[0]->body, "hello");
	/* One byte more, over two chunks: refused. */
	memset(ext, 'e', HTTP_FRAME_EXT_MAX / 2);
	ext[HTTP_FRAME_EXT_MAX / 2] = '\0';
	snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "1;%s\r\na\r\n1;%s\r\nb\r\n0\r\n\r\n", ext, ext);
	feed(req);
	assert_int_equal(H.nsub, 1);
	reply(0, 200, "ok");
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 400 "));
	assert_non_null(strstr(log_capture_last, "chunk extensions too long"));
}

static void test_whitespace_after_a_chunk_size_without_extension_is_400(void **state)
{
	(void)state;
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5 \r\nhello\r\n0\r\n\r\n", 400);
}

static void test_chunked_framing_split_byte_by_byte_then_the_next_request(void **state)
{
	const char *req = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "5 ; a=\"b c\"\r\nhello\r\n1\r\n!\r\n0\r\nX-T: v\r\n\r\n"
			  "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";

	(void)state;
	for (size_t i = 0; req[i] != '\0'; i++)
		http_conn_feed(&H.c, req + i, 1, H.now);
	assert_int_equal(H.nsub, 2);
	assert_string_equal(H.sub[0]->body, "hello!");
	assert_string_equal(H.sub[1]->path, "/next");
}

static void test_trailer_with_whitespace_before_the_colon_is_400(void **state)
{
	(void)state;
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n0\r\nT : x\r\n\r\n", 400);
}

static void test_http11_without_host_or_with_two_is_400(void **state)
{
	(void)state;
	refused("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400);
	assert_non_null(strstr(log_capture_last, "HTTP/1.1 request without Host"));
}

static void test_two_host_fields_are_400(void **state)
{
	(void)state;
	refused("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400);
	assert_non_null(strstr(log_capture_last, "more than one Host"));
}

static void test_invalid_host_is_400_and_http10_may_omit_it(void **state)
{
	(void)state;
	feed("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	     "GET /v6 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
	assert_int_equal(H.nsub, 2);
	feed("GET / HTTP/1.1\r\nHost: a/b@c\r\n\r\n");
	assert_int_equal(H.nsub, 2);
	reply(0, 200, "a");
	reply(1, 200, "b");
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 400 "));
	assert_non_null(strstr(log_capture_last, "invalid Host"));
}

static void test_host_is_a_host_and_an_optional_numeric_port(void **state)
{
	static const char *const good[] = { "h", "h:", "h:8080", "1.2.3.4:80", "[::1]",
					    "[fe80::1%25eth0]:1", "" };
	static const char *const bad[] = { "a:b:c", "h:8x", "h:80:", "[::1", "[]:80",
					   "[::1]x", "h]", "::1" };
	char req[128];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", good[i]);
		feed(req);
		assert_int_equal(H.nsub, i + 1);
		reply((unsigned)i, 200, "ok");
		output();
		(void)take_output();
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		teardown(state);
		setup(state);
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
		refused(req, 400);
		assert_non_null(strstr(log_capture_last, "invalid Host"));
	}
}

static void test_unsupported_major_version_is_505(void **state)
{
	(void)state;
	refused("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
	assert_int_equal(H.stats.errors_total[NET_ERR_505], 1);
}

static void test_an_expectation_other_than_100_continue_is_417(void **state)
{
	(void)state;
	refused("POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx",
		417);
	assert_int_equal(H.stats.errors_total[NET_ERR_417], 1);
	assert_non_null(strstr(log_capture_last, "unsupported expectation"));
}

static void test_a_second_expect_field_is_417(void **state)
{
	(void)state;
	/* The last one alone would look acceptable. */
	refused("GET / HTTP/1.1\r\nHost: h\r\nExpect: x\r\nExpect: 100-continue\r\n\r\n", 417);
}

static void test_http09_version_is_505(void **state)
{
	(void)state;
	refused("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505);
}

static void test_transfer_codings_but_chunked_are_501_and_repeats_400(void **state)
{
	(void)state;
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		501);
	assert_int_equal(H.stats.errors_total[NET_ERR_501], 1);
}

static void test_repeated_transfer_encoding_is_400(void **state)
{
	(void)state;
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

static void test_transfer_encoding_in_http10_is_400(void **state)
{
	(void)state;
	refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

static void test_bare_cr_ending_the_header_section_is_400(void **state)
{
	(void)state;
	refused("GET / HTTP/1.1\r\nHost: h\r\n\rXGET /smuggled HTTP/1.1\r\n\r\n", 400);
	assert_non_null(strstr(log_capture_last, "bare CR"));
}

static void test_bare_cr_before_the_request_line_is_400(void **state)
{
	(void)state;
	refused("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_bare_lf_in_the_header_section_is_400(void **state)
{
	(void)state;
	refused("GET / HTTP/1.1\nHost: h\n\n", 400);
	assert_non_null(strstr(log_capture_last, "bare LF"));
}

static void test_bare_lf_ending_a_field_line_is_400(void **state)
{
	(void)state;
	refused("GET / HTTP/1.1\r\nHost: h\nX-A: b\r\n\r\n", 400);
}

static void test_empty_lines_before_a_request_line_are_ignored(void **state)
{
	(void)state;
	feed("\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(H.nsub, 1);
	assert_string_equal(H.sub[0]->path, "/a");
}

static void test_obsolete_line_folding_is_400(void **state)
{
	(void)state;
	refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n c\r\n\r\n", 400);
	assert_non_null(strstr(log_capture_last, "line folding"));
}

static void test_control_characters_in_a_value_or_the_request_line_are_400(void **state)
{
	(void)state;
	refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: b\001c\r\n\r\n", 400);
}

static void test_tab_in_the_request_target_is_400(void **state)
{
	(void)state;
	refused("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_a_valid_request_before_the_bad_one_is_answered(void **state)
{
	char *out;

	(void)state;
	feed("GET /ok HTTP/1.1\r\nHost: h\r\n\r\n"
	     "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"
	     "GET /never HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(H.nsub, 1);
	assert_string_equal(H.sub[0]->path, "/ok");
	reply(0, 200, "ok");
	output();
	out = take_output();
	assert_int_equal(count_of(out, "HTTP/1.1 "), 2);
	assert_true(strstr(out, "200 OK") < strstr(out, "400 Bad Request"));
	assert_true(http_conn_finished(&H.c));
}

static void test_no_100_continue_for_an_http10_client(void **state)
{
	(void)state;
	feed("POST /up HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
	assert_int_equal(output(), 0);
	feed("abc");
	assert_int_equal(H.nsub, 1);
	assert_int_equal(H.sub[0]->body_len, 3);
}

static void test_drain_lingers_after_the_last_answer_only(void **state)
{
	struct conn_harness idle;

	(void)state;
	feed("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
	http_conn_drain(&H.c);
	assert_false(http_conn_finished(&H.c));
	reply(0, 200, "a");
	output();
	assert_non_null(strstr(take_output(), "Connection: close\r\n"));
	assert_true(http_conn_finished(&H.c));
	assert_true(http_conn_lingers(&H.c));
	/* An idle connection is owed nothing: over at once, closed at once. */
	conn_harness_init(&idle);
	conn_harness_open(&idle, 4, 1, fake_submit, &idle);
	http_conn_drain(&idle.c);
	assert_true(http_conn_finished(&idle.c));
	assert_false(http_conn_lingers(&idle.c));
	conn_harness_close(&idle);
	net_req_pool_bind_thread(H.pool);
}

static void test_414_to_head_has_no_body(void **state)
{
	char req[9000];
	char *out;

	(void)state;
	memset(req, 'a', sizeof(req));
	memcpy(req, "HEAD /", 6);
	req[sizeof(req) - 1] = '\0';
	feed(req);
	output();
	out = take_output();
	assert_non_null(strstr(out, "HTTP/1.1 414 "));
	assert_non_null(strstr(out, "Content-Length: 13\r\n")); /* "URI Too Long\n" */
	assert_string_equal(strstr(out, "\r\n\r\n"), "\r\n\r\n");
}

/* A run of `n` bytes `ch` inside `fmt` (one %s), fed in pieces as a
 * client would send it. */
static void feed_run(const char *fmt, char ch, size_t n)
{
	static char buf[300000];
	char run[256];
	const char *cut = strstr(fmt, "%s");
	size_t at = (size_t)(cut - fmt);

	assert_true(n + strlen(fmt) < sizeof(buf));
	memcpy(buf, fmt, at);
	memset(buf + at, ch, n);
	strcpy(buf + at + n, cut + 2);
	/* In pieces: every run is counted across reads, not per read. */
	for (size_t off = 0, len = strlen(buf); off < len && H.nsub == 0 &&
	     !http_conn_finished(&H.c); off += sizeof(run) - 1) {
		size_t k = len - off < sizeof(run) - 1 ? len - off : sizeof(run) - 1;

		memcpy(run, buf + off, k);
		run[k] = '\0';
		feed(run);
	}
}

static void refused_run(const char *fmt, char ch, size_t n, unsigned status, const char *why)
{
	feed_run(fmt, ch, n);
	answered_once_and_closed(status);
	assert_non_null(strstr(log_capture_last, why));
}

/* http-parser skips whitespace around the target and before a value, and
 * empty lines before a request line, without a callback: the framing
 * bounds them by the same limits (they used to pass at any length). */
static void test_whitespace_before_a_value_counts_against_the_header_limit(void **state)
{
	(void)state;
	refused_run("GET / HTTP/1.1\r\nHost: h\r\nX-A:%sv\r\n\r\n", ' ', 70000, 431,
		    "header block too large");
}

static void test_whitespace_around_the_target_counts_against_the_line_limit(void **state)
{
	(void)state;
	refused_run("GET%s/ HTTP/1.1\r\nHost: h\r\n\r\n", ' ', 9000, 414, "request line too long");
}

static void test_whitespace_after_the_target_counts_against_the_line_limit(void **state)
{
	(void)state;
	refused_run("GET /%sHTTP/1.1\r\nHost: h\r\n\r\n", ' ', 9000, 414, "request line too long");
}

static void test_a_flood_of_empty_lines_before_a_request_is_400(void **state)
{
	static char crlf[20001];

	(void)state;
	for (size_t i = 0; i + 1 < sizeof(crlf); i += 2)
		memcpy(crlf + i, "\r\n", 2);
	feed(crlf);
	output();
	assert_non_null(strstr(take_output(), "HTTP/1.1 400 "));
	assert_non_null(strstr(log_capture_last, "too many empty lines"));
}

static void test_a_request_at_the_limits_is_still_served(void **state)
{
	(void)state;
	/* Ordinary whitespace stays far within: the callbacks' counts rule. */
	feed_run("GET / HTTP/1.1\r\nHost: h\r\nX-A: %s\r\n\r\n", 'v', 60000);
	assert_int_equal(H.nsub, 1);
}

static void test_trailing_whitespace_is_not_part_of_a_value(void **state)
{
	(void)state;
	feed("GET / HTTP/1.1\r\nHost: h \t\r\nX-A: b c \r\nX-B:\t\r\n\r\n");
	assert_int_equal(H.nsub, 1);
	assert_string_equal(header(H.sub[0], "Host"), "h");
	assert_string_equal(header(H.sub[0], "X-A"), "b c");
	assert_string_equal(header(H.sub[0], "X-B"), "");
	feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked \r\n\r\n1\r\na\r\n0\r\n\r\n");
	assert_int_equal(H.nsub, 2);
	assert_string_equal(H.sub[1]->body, "a");
}

static void test_a_chunk_over_the_body_limit_is_413_before_its_data(void **state)
{
	(void)state;
	/* 4 GiB announced against 1 MiB: at once, not after the body timeout. */
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\nab", 413);
	assert_non_null(strstr(log_capture_last, "body too large"));
}

static void test_a_chunk_size_that_overflows_is_400_saying_so(void **state)
{
	(void)state;
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		"FFFFFFFFFFFFFFFF\r\n", 400);
	assert_non_null(strstr(log_capture_last, "chunk size too large"));
}

static void test_an_unknown_method_is_501_and_garbage_400(void **state)
{
	(void)state;
	refused("FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 501);
	assert_non_null(strstr(log_capture_last, "method not implemented"));
	teardown(state);
	setup(state);
	refused("{x} / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_asterisk_form_is_for_options_only(void **state)
{
	(void)state;
	feed("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(H.nsub, 1);
	teardown(state);
	setup(state);
	refused("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	assert_non_null(strstr(log_capture_last, "asterisk-form"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_whitespace_before_the_colon_is_400_and_never_framing),
		T(test_content_length_with_whitespace_before_the_colon_is_400),
		T(test_chunk_data_not_followed_by_crlf_is_400),
		T(test_chunk_size_line_ends_at_crlf_only),
		T(test_chunk_size_line_with_bare_lf_is_400),
		T(test_bare_lf_inside_a_chunk_extension_is_400),
		T(test_chunk_extensions_have_a_length_limit),
		T(test_whitespace_after_a_chunk_size_without_extension_is_400),
		T(test_chunked_framing_split_byte_by_byte_then_the_next_request),
		T(test_trailer_with_whitespace_before_the_colon_is_400),
		T(test_http11_without_host_or_with_two_is_400),
		T(test_two_host_fields_are_400),
		T(test_invalid_host_is_400_and_http10_may_omit_it),
		T(test_unsupported_major_version_is_505),
		T(test_host_is_a_host_and_an_optional_numeric_port),
		T(test_an_expectation_other_than_100_continue_is_417),
		T(test_a_second_expect_field_is_417),
		T(test_http09_version_is_505),
		T(test_transfer_codings_but_chunked_are_501_and_repeats_400),
		T(test_repeated_transfer_encoding_is_400),
		T(test_transfer_encoding_in_http10_is_400),
		T(test_bare_cr_ending_the_header_section_is_400),
		T(test_bare_cr_before_the_request_line_is_400),
		T(test_bare_lf_in_the_header_section_is_400),
		T(test_bare_lf_ending_a_field_line_is_400),
		T(test_empty_lines_before_a_request_line_are_ignored),
		T(test_obsolete_line_folding_is_400),
		T(test_control_characters_in_a_value_or_the_request_line_are_400),
		T(test_tab_in_the_request_target_is_400),
		T(test_a_valid_request_before_the_bad_one_is_answered),
		T(test_no_100_continue_for_an_http10_client),
		T(test_drain_lingers_after_the_last_answer_only),
		T(test_414_to_head_has_no_body),
		T(test_whitespace_before_a_value_counts_against_the_header_limit),
		T(test_whitespace_around_the_target_counts_against_the_line_limit),
		T(test_whitespace_after_the_target_counts_against_the_line_limit),
		T(test_a_flood_of_empty_lines_before_a_request_is_400),
		T(test_a_request_at_the_limits_is_still_served),
		T(test_trailing_whitespace_is_not_part_of_a_value),
		T(test_a_chunk_over_the_body_limit_is_413_before_its_data),
		T(test_a_chunk_size_that_overflows_is_400_saying_so),
		T(test_an_unknown_method_is_501_and_garbage_400),
		T(test_asterisk_form_is_for_options_only),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
