/*
 * test_upstream_call.c - the request bytes the upstream call builder
 * (net/upstream_call.c) writes: request line, Host, headers, a configured
 * target's path and query, and what it refuses. No sockets, no actor.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "net/upstream_internal.h"

static const char *head_of(const struct upstream_call *u)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf), "%.*s", (int)u->head_len, u->head);
	return buf;
}

static void test_builder_writes_request_line_host_and_headers(void **state)
{
	struct upstream_call *u;
	int rc;

	(void)state;
	u = upstream_call_new(HTTP_GET, "http://127.0.0.1:9000/a/b?x=1", &rc);
	assert_non_null(u);
	assert_int_equal(rc, 0);
	assert_int_equal(upstream_call_add_header(u, "Accept", "*/*"), 0);
	assert_string_equal(head_of(u),
			    "GET /a/b?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nAccept: */*\r\n");
	assert_false(u->has_body);
	assert_int_equal(u->family, AF_INET);
	assert_int_equal(u->port, 9000);
	upstream_call_free(u);

	u = upstream_call_new(HTTP_POST, "http://localhost", &rc);
	assert_non_null(u);
	assert_string_equal(head_of(u), "POST / HTTP/1.1\r\nHost: localhost\r\n");
	assert_true(u->has_body);    /* POST sends Content-Length: 0 */
	assert_int_equal(upstream_call_set_body(u, "abc", 3), 0);
	assert_int_equal(u->body_len, 3);
	upstream_call_free(u);

	u = upstream_call_new(HTTP_DELETE, "http://[::1]:8080?q", &rc);
	assert_non_null(u);
	assert_string_equal(head_of(u), "DELETE /?q HTTP/1.1\r\nHost: [::1]:8080\r\n");
	assert_int_equal(u->family, AF_INET6);
	upstream_call_free(u);
}

static void test_builder_grows_past_the_inline_head(void **state)
{
	char value[1000];
	struct upstream_call *u;
	int rc;

	(void)state;
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	u = upstream_call_new(HTTP_GET, "http://127.0.0.1/", &rc);
	assert_non_null(u);
	for (int i = 0; i < 5; i++)
		assert_int_equal(upstream_call_add_header(u, "X-Long", value), 0);
	assert_int_equal(u->head_len, strlen("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n") +
			 5 * (strlen("X-Long: \r\n") + 999));
	upstream_call_free(u);
}

static void test_builder_joins_a_configured_target_path_and_query(void **state)
{
	struct config_url to;
	struct upstream_call *u;
	char why[128];
	int rc;

	(void)state;
	assert_int_equal(config_url_parse("http://127.0.0.1:9000/api/", &to, why, sizeof(why)), 0);
	u = upstream_call_to(HTTP_PUT, &to, "v1/x", 4, "a=1&b=2", 7, &rc);
	assert_non_null(u);
	assert_string_equal(head_of(u), "PUT /api/v1/x?a=1&b=2 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n");
	upstream_call_free(u);
	assert_int_equal(config_url_parse("http://127.0.0.1:9000/q?k=v", &to, why, sizeof(why)), 0);
	u = upstream_call_to(HTTP_GET, &to, "", 0, "a=1", 3, &rc);
	assert_non_null(u);
	assert_string_equal(head_of(u), "GET /q?k=v&a=1 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n");
	upstream_call_free(u);
	assert_null(upstream_call_to(HTTP_GET, &to, "a b", 3, "", 0, &rc));
	assert_int_equal(rc, -EINVAL);
}

static void test_builder_refuses_bad_urls_names_and_headers(void **state)
{
	struct upstream_call *u;
	int rc;

	(void)state;
	assert_null(upstream_call_new(HTTP_GET, "ftp://x/", &rc));
	assert_int_equal(rc, -EINVAL);
	assert_null(upstream_call_new(HTTP_GET, "http://u@127.0.0.1/", &rc));
	assert_int_equal(rc, -EINVAL);
	assert_null(upstream_call_new(HTTP_GET, "http://127.0.0.1:0/", &rc));
	assert_int_equal(rc, -EINVAL);
	/* A name is carried as written: the upstream actor resolves it. */
	u = upstream_call_new(HTTP_GET, "https://api.example.invalid/x", &rc);
	assert_non_null(u);
	assert_int_equal(u->family, 0);
	assert_true(u->tls);
	assert_int_equal(u->port, 443);
	assert_string_equal(u->host, "api.example.invalid");
	assert_string_equal(head_of(u), "GET /x HTTP/1.1\r\nHost: api.example.invalid\r\n");
	upstream_call_free(u);
	u = upstream_call_new(HTTP_GET, "http://127.0.0.1/", &rc);
	assert_non_null(u);
	assert_int_equal(upstream_call_add_header(u, "Host", "evil"), -EPERM);
	assert_int_equal(upstream_call_add_header(u, "content-length", "1"), -EPERM);
	assert_int_equal(upstream_call_add_header(u, "X-A", "1\r\nX-B: 2"), -EINVAL);
	assert_int_equal(upstream_call_add_header(u, "X A", "1"), -EINVAL);
	assert_int_equal(upstream_call_add_header(u, "", "1"), -EINVAL);
	upstream_call_free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builder_writes_request_line_host_and_headers),
		cmocka_unit_test(test_builder_grows_past_the_inline_head),
		cmocka_unit_test(test_builder_joins_a_configured_target_path_and_query),
		cmocka_unit_test(test_builder_refuses_bad_urls_names_and_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
