/*
 * test_route.c - the route table (handler/route.h): literal segments,
 * :params, a trailing *rest, percent-decoding, 404 / 405 with the Allow
 * list, HEAD served by GET routes, registration order, bad patterns.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <http_parser.h>

#include "handler/route.h"

static struct route_table *T;
static char buf[256];
static struct route_match M;
static char err[256];

/* Distinct functions, so a match says which route won. */
static void fn_a(struct hreq *r) { (void)r; }
static void fn_b(struct hreq *r) { (void)r; }
static void fn_c(struct hreq *r) { (void)r; }

static int setup(void **state)
{
	(void)state;
	T = route_table_create();
	assert_non_null(T);
	memset(&M, 0, sizeof(M));
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	route_table_destroy(T);
	T = NULL;
	return 0;
}

static void add(unsigned methods, const char *pattern, route_fn fn)
{
	assert_int_equal(route_add(T, methods, pattern, fn, NULL, err, sizeof(err)), 0);
}

static int match(unsigned http_method, const char *path)
{
	return route_match(T, route_method_bit(http_method), path, strlen(path), buf,
			   sizeof(buf), &M);
}

static const char *param(const char *name)
{
	for (unsigned i = 0; i < M.nparams; i++)
		if (strcmp(M.names[i], name) == 0)
			return M.values[i];
	return NULL;
}

static void test_literal_paths_match_exactly(void **state)
{
	(void)state;
	add(ROUTE_GET, "/plaintext", fn_a);
	add(ROUTE_GET, "/a/b/c", fn_b);
	add(ROUTE_GET, "/", fn_c);
	assert_int_equal(match(HTTP_GET, "/plaintext"), 200);
	assert_ptr_equal(M.fn, fn_a);
	assert_int_equal(M.nparams, 0);
	assert_int_equal(match(HTTP_GET, "/a/b/c"), 200);
	assert_ptr_equal(M.fn, fn_b);
	assert_int_equal(match(HTTP_GET, "/"), 200);
	assert_ptr_equal(M.fn, fn_c);
	assert_int_equal(match(HTTP_GET, "/plaintext/"), 404);
	assert_int_equal(match(HTTP_GET, "/plaintex"), 404);
	assert_int_equal(match(HTTP_GET, "/a/b"), 404);
	assert_int_equal(match(HTTP_GET, "/a/b/c/d"), 404);
	assert_int_equal(match(HTTP_GET, "/PLAINTEXT"), 404);
}

static void test_named_parameters_take_one_segment_each(void **state)
{
	(void)state;
	add(ROUTE_GET, "/jobs/:id", fn_a);
	add(ROUTE_GET, "/users/:user/posts/:post", fn_b);
	assert_int_equal(match(HTTP_GET, "/jobs/abc"), 200);
	assert_ptr_equal(M.fn, fn_a);
	assert_int_equal(M.nparams, 1);
	assert_string_equal(param("id"), "abc");
	assert_int_equal(match(HTTP_GET, "/users/7/posts/42"), 200);
	assert_ptr_equal(M.fn, fn_b);
	assert_string_equal(param("user"), "7");
	assert_string_equal(param("post"), "42");
	/* An empty segment names nothing; a parameter never spans a '/'. */
	assert_int_equal(match(HTTP_GET, "/jobs/"), 404);
	assert_int_equal(match(HTTP_GET, "/jobs"), 404);
	assert_int_equal(match(HTTP_GET, "/jobs/a/b"), 404);
}

static void test_rest_parameter_takes_the_rest_of_the_path(void **state)
{
	(void)state;
	add(ROUTE_GET, "/proxy/*path", fn_a);
	assert_int_equal(match(HTTP_GET, "/proxy/a/b/c.txt"), 200);
	assert_string_equal(param("path"), "a/b/c.txt");
	assert_int_equal(match(HTTP_GET, "/proxy/x"), 200);
	assert_string_equal(param("path"), "x");
	assert_int_equal(match(HTTP_GET, "/proxy/"), 200);
	assert_string_equal(param("path"), "");
	assert_int_equal(match(HTTP_GET, "/proxy"), 404);
	assert_int_equal(match(HTTP_GET, "/proxyz/a"), 404);
}

static void test_parameters_are_percent_decoded_literals_are_not(void **state)
{
	(void)state;
	add(ROUTE_GET, "/p/:a/*b", fn_a);
	assert_int_equal(match(HTTP_GET, "/p/x%20y%2Fz/a%2fb/c+d"), 200);
	assert_string_equal(param("a"), "x y/z");
	assert_string_equal(param("b"), "a/b/c+d"); /* '+' is a space only in queries */
	/* A literal segment is compared as received: an escape does not match. */
	add(ROUTE_GET, "/lit", fn_b);
	assert_int_equal(match(HTTP_GET, "/%6Cit"), 404);
}

static void test_malformed_escape_in_a_parameter_is_400(void **state)
{
	(void)state;
	add(ROUTE_GET, "/p/:a", fn_a);
	assert_int_equal(match(HTTP_GET, "/p/%zz"), 400);
	assert_int_equal(match(HTTP_GET, "/p/abc%2"), 400);
	assert_int_equal(match(HTTP_GET, "/p/abc%"), 400);
	/* %00 decodes to a NUL that would cut the value at "a". */
	assert_int_equal(match(HTTP_GET, "/p/a%00b"), 400);
}

static void test_a_bad_escape_is_400_only_on_the_route_that_would_run(void **state)
{
	(void)state;
	add(ROUTE_GET, "/jobs/:id", fn_a);
	add(ROUTE_GET, "/p/:a/x", fn_b);
	add(ROUTE_GET, "/p/*rest", fn_c);
	/* No route has that many segments: not found, whatever the escape. */
	assert_int_equal(match(HTTP_GET, "/jobs/%zz/x"), 404);
	/* The path takes GET only: the method is what is wrong. */
	assert_int_equal(match(HTTP_DELETE, "/jobs/%zz"), 405);
	assert_int_equal(M.allow, ROUTE_GET | ROUTE_HEAD);
	/* "/p/:a/x" does not fit "/p/%zz/y", the route after it does. */
	assert_int_equal(match(HTTP_GET, "/p/%41/y"), 200);
	assert_ptr_equal(M.fn, fn_c);
	assert_int_equal(match(HTTP_GET, "/p/%zz/y"), 400);
	assert_int_equal(match(HTTP_GET, "/jobs/%zz"), 400);
}

static void test_parameters_that_do_not_fit_the_buffer_are_400(void **state)
{
	char path[600] = "/p/";

	(void)state;
	add(ROUTE_GET, "/p/:a", fn_a);
	memset(path + 3, 'x', 400);
	assert_int_equal(match(HTTP_GET, path), 400);
}

static void test_without_a_buffer_the_route_is_found_and_nothing_decoded(void **state)
{
	char path[600] = "/p/";

	(void)state;
	add(ROUTE_GET, "/p/:a", fn_a);
	memset(path + 3, 'x', 400);
	assert_int_equal(route_match(T, ROUTE_GET, path, strlen(path), NULL, 0, &M), 200);
	assert_ptr_equal(M.fn, fn_a);
	assert_int_equal(M.nparams, 0);
	assert_int_equal(route_match(T, ROUTE_GET, "/p/%zz", 6, NULL, 0, &M), 200);
	assert_int_equal(route_match(T, ROUTE_POST, "/p/%zz", 6, NULL, 0, &M), 405);
}

static void test_unknown_path_is_404(void **state)
{
	(void)state;
	add(ROUTE_GET, "/a", fn_a);
	assert_int_equal(match(HTTP_GET, "/b"), 404);
	assert_int_equal(match(HTTP_POST, "/b"), 404);
	assert_int_equal(route_match(T, ROUTE_GET, "", 0, buf, sizeof(buf), &M), 404);
	assert_int_equal(match(HTTP_GET, "*"), 404);
}

static void test_wrong_method_is_405_with_every_allowed_method(void **state)
{
	char allow[96];

	(void)state;
	add(ROUTE_GET, "/r", fn_a);
	add(ROUTE_POST | ROUTE_PUT, "/r", fn_b);
	add(ROUTE_DELETE, "/:any", fn_c);
	assert_int_equal(match(HTTP_PATCH, "/r"), 405);
	assert_null(M.fn);
	route_allow_string(M.allow, allow, sizeof(allow));
	assert_string_equal(allow, "GET, HEAD, POST, PUT, DELETE");
	assert_int_equal(match(HTTP_PUT, "/r"), 200);
	assert_ptr_equal(M.fn, fn_b);
	assert_int_equal(match(HTTP_DELETE, "/r"), 200);
	assert_ptr_equal(M.fn, fn_c);
	assert_string_equal(param("any"), "r");
}

static void test_head_is_served_by_get_routes(void **state)
{
	char allow[96];

	(void)state;
	add(ROUTE_GET, "/g", fn_a);
	add(ROUTE_POST, "/p", fn_b);
	assert_int_equal(match(HTTP_HEAD, "/g"), 200);
	assert_ptr_equal(M.fn, fn_a);
	assert_int_equal(match(HTTP_HEAD, "/p"), 405);
	route_allow_string(M.allow, allow, sizeof(allow));
	assert_string_equal(allow, "POST");
}

static void test_first_registered_route_wins(void **state)
{
	(void)state;
	add(ROUTE_GET, "/jobs/stats", fn_a);
	add(ROUTE_GET, "/jobs/:id", fn_b);
	add(ROUTE_ANY, "/*all", fn_c);
	assert_int_equal(match(HTTP_GET, "/jobs/stats"), 200);
	assert_ptr_equal(M.fn, fn_a);
	assert_int_equal(match(HTTP_GET, "/jobs/7"), 200);
	assert_ptr_equal(M.fn, fn_b);
	assert_int_equal(match(HTTP_OPTIONS, "/jobs/7"), 200);
	assert_ptr_equal(M.fn, fn_c);
	assert_string_equal(param("all"), "jobs/7");
}

static void test_route_data_is_passed_back(void **state)
{
	static int data;

	(void)state;
	assert_int_equal(route_add(T, ROUTE_GET, "/d", fn_a, &data, err, sizeof(err)), 0);
	assert_int_equal(match(HTTP_GET, "/d"), 200);
	assert_ptr_equal(M.data, &data);
}

static void test_bad_patterns_are_refused_with_a_reason(void **state)
{
	char many[256] = "";

	(void)state;
	assert_int_equal(route_add(T, ROUTE_GET, "nope", fn_a, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "starts with '/'"));
	assert_int_equal(route_add(T, ROUTE_GET, "/a/:", fn_a, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(route_add(T, ROUTE_GET, "/*rest/x", fn_a, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(route_add(T, ROUTE_GET, "/a", NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(route_add(T, 0, "/a", fn_a, NULL, err, sizeof(err)), -EINVAL);
	for (int i = 0; i <= ROUTE_MAX_PARAMS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "/:p%d", i);
	assert_int_equal(route_add(T, ROUTE_GET, many, fn_a, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too many"));
	/* Nothing half-added: the table still matches nothing. */
	assert_int_equal(match(HTTP_GET, "/a"), 404);
}

static void test_method_bits_of_http_parser_methods(void **state)
{
	(void)state;
	assert_int_equal(route_method_bit(HTTP_GET), ROUTE_GET);
	assert_int_equal(route_method_bit(HTTP_HEAD), ROUTE_HEAD);
	assert_int_equal(route_method_bit(HTTP_POST), ROUTE_POST);
	assert_int_equal(route_method_bit(HTTP_OPTIONS), ROUTE_OPTIONS);
	assert_int_equal(route_method_bit(HTTP_MKCOL), 0);
}

static void test_decode_handles_plus_escapes_and_room(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(route_decode("a+b%21", 6, out, sizeof(out), 1), 4);
	assert_string_equal(out, "a b!");
	assert_int_equal(route_decode("a+b", 3, out, sizeof(out), 0), 3);
	assert_string_equal(out, "a+b");
	assert_int_equal(route_decode("%41%4a%4A", 9, out, sizeof(out), 0), 3);
	assert_string_equal(out, "AJJ");
	assert_int_equal(route_decode("12345678", 8, out, sizeof(out), 0), -ENOSPC);
	assert_int_equal(route_decode("%g0", 3, out, sizeof(out), 0), -EBADMSG);
	assert_int_equal(route_decode("%4", 2, out, sizeof(out), 0), -EBADMSG);
	/* A decoded NUL would cut the C string: refused, not truncated. */
	assert_int_equal(route_decode("a%00b", 5, out, sizeof(out), 0), -EILSEQ);
	assert_int_equal(route_decode("%00", 3, out, sizeof(out), 1), -EILSEQ);
	assert_int_equal(route_decode("", 0, out, sizeof(out), 0), 0);
	assert_string_equal(out, "");
}

static void test_table_flags_are_those_of_its_routes(void **state)
{
	(void)state;
	assert_int_equal(route_table_flags(T), 0);
	add(ROUTE_GET, "/plaintext", fn_a);
	assert_int_equal(route_table_flags(T), 0);
	add(ROUTE_GET | ROUTE_NO_COMPRESS, "/json", fn_b);
	assert_int_equal(route_table_flags(T), ROUTE_NO_COMPRESS);
	add(ROUTE_POST | ROUTE_STREAM_BODY, "/upload/:name", fn_c);
	assert_int_equal(route_table_flags(T), ROUTE_NO_COMPRESS | ROUTE_STREAM_BODY);
	/* The match carries the flags of the route that won. */
	assert_int_equal(match(HTTP_POST, "/upload/x"), 200);
	assert_int_equal(M.flags, ROUTE_STREAM_BODY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_literal_paths_match_exactly),
		T(test_named_parameters_take_one_segment_each),
		T(test_rest_parameter_takes_the_rest_of_the_path),
		T(test_parameters_are_percent_decoded_literals_are_not),
		T(test_malformed_escape_in_a_parameter_is_400),
		T(test_a_bad_escape_is_400_only_on_the_route_that_would_run),
		T(test_parameters_that_do_not_fit_the_buffer_are_400),
		T(test_without_a_buffer_the_route_is_found_and_nothing_decoded),
		T(test_unknown_path_is_404),
		T(test_wrong_method_is_405_with_every_allowed_method),
		T(test_head_is_served_by_get_routes),
		T(test_first_registered_route_wins),
		T(test_route_data_is_passed_back),
		T(test_bad_patterns_are_refused_with_a_reason),
		T(test_method_bits_of_http_parser_methods),
		T(test_decode_handles_plus_escapes_and_room),
		T(test_table_flags_are_those_of_its_routes),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
