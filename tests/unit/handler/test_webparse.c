/*
 * test_webparse.c - the web parsers without a server: Range,
 * Accept-Encoding, HTTP dates, Cookie and form iteration, If-None-Match
 * (handler/webparse.c), strict JSON bodies, signed cookies against Tornado's own output
 * (handler/cookie_sign.c), multipart bodies and their limits
 * (handler/multipart.c), upload file names (handler/form.c) and
 * compressible content types (handler/compress.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "handler/compress.h"
#include "handler/cookie_sign.h"
#include "handler/multipart.h"
#include "handler/web.h"
#include "handler/webparse.h"

static enum wp_range range(const char *h, uint64_t size, uint64_t *a, uint64_t *b)
{
	return wp_range_parse(h, strlen(h), size, a, b);
}

static void test_range(void **state)
{
	uint64_t a = 0, b = 0;

	(void)state;
	assert_int_equal(range("bytes=0-9", 100, &a, &b), WP_RANGE_OK);
	assert_true(a == 0 && b == 9);
	assert_int_equal(range("bytes=90-", 100, &a, &b), WP_RANGE_OK);
	assert_true(a == 90 && b == 99);
	assert_int_equal(range("bytes=-10", 100, &a, &b), WP_RANGE_OK);
	assert_true(a == 90 && b == 99);
	assert_int_equal(range("bytes=-1000", 100, &a, &b), WP_RANGE_OK);
	assert_true(a == 0 && b == 99);
	assert_int_equal(range("bytes=50-5000", 100, &a, &b), WP_RANGE_OK);
	assert_true(a == 50 && b == 99);
	assert_int_equal(range("BYTES= 1 - 2 ", 100, &a, &b), WP_RANGE_OK);
	assert_int_equal(range("bytes=100-", 100, &a, &b), WP_RANGE_UNSATISFIABLE);
	assert_int_equal(range("bytes=-0", 100, &a, &b), WP_RANGE_UNSATISFIABLE);
	assert_int_equal(range("bytes=0-", 0, &a, &b), WP_RANGE_UNSATISFIABLE);
	assert_int_equal(range("bytes=0-1,3-4", 100, &a, &b), WP_RANGE_NONE);
	assert_int_equal(range("bytes=5-1", 100, &a, &b), WP_RANGE_NONE);
	assert_int_equal(range("bytes=-", 100, &a, &b), WP_RANGE_NONE);
	assert_int_equal(range("items=0-1", 100, &a, &b), WP_RANGE_NONE);
	/* Positions past 2^64 are past the end, not malformed: it used to
	 * send the whole file with 200 for these. */
	assert_int_equal(range("bytes=99999999999999999999-", 100, &a, &b), WP_RANGE_UNSATISFIABLE);
	assert_int_equal(range("bytes=0-99999999999999999999", 100, &a, &b), WP_RANGE_OK);
	assert_true(a == 0 && b == 99);
	assert_int_equal(range("bytes=-99999999999999999999", 100, &a, &b), WP_RANGE_OK);
	assert_true(a == 0 && b == 99);
	assert_int_equal(range("bytes=99999999999999999999-1", 100, &a, &b), WP_RANGE_NONE);
}

static enum wp_coding ae(const char *h, unsigned offered)
{
	return wp_accept_encoding(h, h != NULL ? strlen(h) : 0, offered);
}

static void test_accept_encoding(void **state)
{
	const unsigned both = 1u << WP_GZIP | 1u << WP_BR;

	(void)state;
	assert_int_equal(ae(NULL, both), WP_IDENTITY);
	assert_int_equal(ae("gzip", both), WP_GZIP);
	assert_int_equal(ae("gzip, br", both), WP_BR);
	assert_int_equal(ae("gzip, br", 1u << WP_GZIP), WP_GZIP);
	assert_int_equal(ae("br;q=0.5, gzip;q=0.8", both), WP_GZIP);
	assert_int_equal(ae("br;q=1.0, gzip", both), WP_BR);
	assert_int_equal(ae("*", both), WP_BR);
	assert_int_equal(ae("*;q=0.1, br;q=0", both), WP_GZIP);
	assert_int_equal(ae("gzip;q=0", both), WP_IDENTITY);
	assert_int_equal(ae("x-gzip", both), WP_GZIP);
	assert_int_equal(ae("GZIP ; Q=0.3", both), WP_GZIP);
	assert_int_equal(ae("gzip;q=1.5, deflate", both), WP_IDENTITY);
	assert_int_equal(ae("identity", both), WP_IDENTITY);
}

static void test_dates_and_etags(void **state)
{
	const char *imf = "Sun, 06 Nov 1994 08:49:37 GMT";
	char out[30];

	(void)state;
	assert_int_equal(wp_http_date(imf, strlen(imf)), 784111777);
	assert_int_equal(wp_http_date("Sunday, 06-Nov-94 08:49:37 GMT", 30), 784111777);
	assert_int_equal(wp_http_date("Sun Nov  6 08:49:37 1994", 24), 784111777);
	assert_int_equal(wp_http_date("Sun, 06 Nov 1994 08:49:37", 25), -1);
	assert_int_equal(wp_http_date("yesterday", 9), -1);
	wp_format_http_date(784111777, out);
	assert_string_equal(out, imf);
	assert_true(wp_etag_match("\"a\", W/\"b\"", 10, "\"b\""));
	assert_true(wp_etag_match("*", 1, "\"x\""));
	assert_false(wp_etag_match("\"a\"", 3, "\"b\""));
}

static void test_cookie_and_form_iteration(void **state)
{
	const char *c = " a=1;b = \"two\" ;junk; =x; c=";
	const char *f = "a=1&&b&c=x%20y";
	struct wp_span n, v;
	size_t pos = 0;

	(void)state;
	assert_true(wp_cookie_next(c, strlen(c), &pos, &n, &v));
	assert_true(n.len == 1 && n.p[0] == 'a' && v.len == 1 && v.p[0] == '1');
	assert_true(wp_cookie_next(c, strlen(c), &pos, &n, &v));
	assert_true(n.len == 1 && n.p[0] == 'b' && v.len == 3 && memcmp(v.p, "two", 3) == 0);
	assert_true(wp_cookie_next(c, strlen(c), &pos, &n, &v));
	assert_true(n.len == 1 && n.p[0] == 'c' && v.len == 0);
	assert_false(wp_cookie_next(c, strlen(c), &pos, &n, &v));
	pos = 0;
	assert_true(wp_form_next(f, strlen(f), &pos, &n, &v) && v.len == 1);
	assert_true(wp_form_next(f, strlen(f), &pos, &n, &v) && n.len == 1 && n.p[0] == 'b' &&
		    v.len == 0);
	assert_true(wp_form_next(f, strlen(f), &pos, &n, &v) && v.len == 5);
	assert_false(wp_form_next(f, strlen(f), &pos, &n, &v));
}

/* Made by Tornado 6.2: create_signed_value("test-secret-0123456789", "n",
 * "hello world", version=2, clock=lambda: 1700000000). */
static const char TORNADO[] = "2|1:0|10:1700000000|1:n|16:aGVsbG8gd29ybGQ=|"
			      "30fd8b08f7b31714409cbc91494898bfa42e3bfc4213018fa82a6be0f35d1490";

static void test_signed_cookies(void **state)
{
	const char *keys = "test-secret-0123456789";
	char out[256], signed_value[256];
	long n;

	(void)state;
	n = cookie_sign(keys, "n", "hello world", 11, 1700000000, signed_value, sizeof(signed_value));
	assert_int_equal(n, (long)strlen(TORNADO));
	assert_string_equal(signed_value, TORNADO);       /* byte for byte Tornado's */
	assert_int_equal(cookie_verify(keys, "n", TORNADO, strlen(TORNADO), 60, 1700000030,
				       out, sizeof(out)), 11);
	assert_string_equal(out, "hello world");
	/* Rotation: a newer key in front still verifies the old signature. */
	assert_int_equal(cookie_verify("newer-key-abcdefghijkl,test-secret-0123456789", "n",
				       TORNADO, strlen(TORNADO), 60, 1700000030, out,
				       sizeof(out)), 11);
	assert_int_equal(cookie_verify("newer-key-abcdefghijkl", "n", TORNADO, strlen(TORNADO), 60,
				       1700000030, out, sizeof(out)), -1);
	/* Too old, another name, a changed byte, a short buffer. */
	assert_int_equal(cookie_verify(keys, "n", TORNADO, strlen(TORNADO), 60, 1700000061,
				       out, sizeof(out)), -1);
	assert_int_equal(cookie_verify(keys, "m", TORNADO, strlen(TORNADO), 60, 1700000030,
				       out, sizeof(out)), -1);
	strcpy(signed_value, TORNADO);
	signed_value[30] ^= 1;
	assert_int_equal(cookie_verify(keys, "n", signed_value, strlen(signed_value), 60,
				       1700000030, out, sizeof(out)), -1);
	assert_int_equal(cookie_verify(keys, "n", TORNADO, strlen(TORNADO), 60, 1700000030,
				       out, 5), -1);
	assert_int_equal(cookie_sign("", "n", "v", 1, 1, out, sizeof(out)), -EINVAL);
	assert_int_equal(cookie_sign(keys, "n", "v", 1, 1, out, 20), -ENOSPC);
}

/* The offset wp_json_parse gives for `s`, or -1 if it accepts it. */
static long json_fault_at(const char *s, size_t len, const char **what)
{
	size_t at = 0;
	cJSON *j = wp_json_parse(s, len, &at, what);

	if (j != NULL) {
		cJSON_Delete(j);
		return -1;
	}
	return (long)at;
}

#define FAULT_AT(lit) json_fault_at(lit, sizeof(lit) - 1, &what)

static void test_json_is_one_value_and_nothing_after_it(void **state)
{
	const char *what = NULL;
	size_t at = 0;
	cJSON *j;

	(void)state;
	j = wp_json_parse(" {\"a\": [1, \"x\\\"\\\\\"]}\r\n\t ", 24, &at, &what);
	assert_non_null(j);
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "a"), 1)->valuestring,
			    "x\"\\");
	cJSON_Delete(j);
	/* cJSON alone stops after the first value: the rest is refused. */
	assert_int_equal(FAULT_AT("{\"a\":1} trailing"), 8);
	assert_string_equal(what, "malformed JSON: data after the value");
	assert_int_equal(FAULT_AT("1 2"), 2);
	assert_int_equal(FAULT_AT("{\"a\": "), 5);   /* cut short: cJSON names the last byte */
	assert_string_equal(what, "malformed JSON");
	assert_int_equal(FAULT_AT(""), 0);
	/* \u0000 would end the C string early; raw control bytes are not
	 * JSON (cJSON takes them for whitespace or string content). */
	assert_int_equal(FAULT_AT("{\"p\": \"ab\\u0000cd\"}"), 9);
	assert_string_equal(what, "unsupported JSON: \\u0000 in a string");
	assert_int_equal(FAULT_AT("[\"\\\\u0000\"]"), -1);  /* an escaped backslash */
	assert_int_equal(FAULT_AT("[\"\\u0001\"]"), -1);
	assert_int_equal(FAULT_AT("[1]\0"), 3);
	assert_string_equal(what, "malformed JSON: a raw control character");
	assert_int_equal(FAULT_AT("[\"a\tb\"]"), 3);
	assert_int_equal(FAULT_AT("\f[1]"), 0);
	/* Only the given length is read. */
	assert_int_equal(json_fault_at("[1] x", 3, &what), -1);
}

struct parts {
	unsigned n;
	char names[8][16];
	size_t lens[8];
	bool file[8];
};

static int collect(void *arg, const struct mp_part *p)
{
	struct parts *ps = arg;

	if (ps->n == 8)
		return 500;
	snprintf(ps->names[ps->n], sizeof(ps->names[0]), "%.*s", (int)p->name.len, p->name.p);
	ps->lens[ps->n] = p->data.len;
	ps->file[ps->n++] = p->is_file;
	return 0;
}

static int mp(const char *body, const struct mp_limits *lim, struct parts *ps, const char **why)
{
	struct wp_span b = { "B0", 2 };

	memset(ps, 0, sizeof(*ps));
	return mp_parse(body, strlen(body), b, lim, collect, ps, why);
}

static void test_multipart(void **state)
{
	const struct mp_limits lim = { 2, 5, 10 };
	const char *ok = "--B0\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n12345\r\n"
			 "--B0\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n"
			 "Content-Type: text/plain\r\n\r\n0123456789\r\n--B0--\r\n";
	const char *three = "--B0\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n"
			    "--B0\r\nContent-Disposition: form-data; name=b\r\n\r\n\r\n"
			    "--B0\r\nContent-Disposition: form-data; name=c\r\n\r\n\r\n--B0--";
	const char *field6 = "--B0\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n123456\r\n--B0--";
	struct wp_span b;
	struct parts ps;
	const char *why = NULL;

	(void)state;
	assert_int_equal(mp(ok, &lim, &ps, &why), 0);
	assert_int_equal(ps.n, 2);
	assert_string_equal(ps.names[0], "a");
	assert_int_equal(ps.lens[0], 5);
	assert_true(ps.file[1] && ps.lens[1] == 10);
	/* A file input left empty (filename="", no bytes) is a field, as
	 * in Tornado: it used to come back as an upload named "". */
	assert_int_equal(mp("--B0\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n"
			    "Content-Type: application/octet-stream\r\n\r\n\r\n--B0--", &lim, &ps, &why), 0);
	assert_true(ps.n == 1 && !ps.file[0] && ps.lens[0] == 0);
	assert_int_equal(mp(three, &lim, &ps, &why), 413);
	assert_string_equal(why, "too many parts");
	assert_int_equal(mp(field6, &lim, &ps, &why), 413);
	assert_string_equal(why, "a field is too large");
	assert_int_equal(mp("--B0\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx", &lim, &ps,
			    &why), 400);
	assert_int_equal(mp("nothing", &lim, &ps, &why), 400);
	assert_true(mp_boundary("multipart/form-data; boundary=\"a b\"", 35, &b));
	assert_true(b.len == 3 && memcmp(b.p, "a b", 3) == 0);
	assert_true(mp_boundary("Multipart/Form-Data;boundary=xyz", 32, &b) && b.len == 3);
	assert_false(mp_boundary("multipart/mixed; boundary=xyz", 29, &b));
	assert_false(mp_boundary("multipart/form-data", 19, &b));
	assert_false(mp_boundary("multipart/form-data; boundary=", 30, &b));
}

static int first_part(void *arg, const struct mp_part *p)
{
	*(struct mp_part *)arg = *p;
	return 0;
}

static void test_multipart_quoted_names_are_unescaped(void **state)
{
	const char *body = "--B0\r\nContent-Disposition: form-data; name=\"q\\\"x\\\\y\"; "
			   "filename=\"C:\\dir\\a\\\"b.txt\"\r\n\r\nv\r\n--B0--";
	const struct mp_limits lim = { 2, 5, 10 };
	struct wp_span b = { "B0", 2 };
	struct mp_part p;
	const char *why = NULL;
	char out[64];

	(void)state;
	assert_int_equal(mp_parse(body, strlen(body), b, &lim, first_part, &p, &why), 0);
	assert_true(p.name_quoted && p.filename_quoted && p.is_file);
	/* The span keeps the escapes; mp_unescape undoes \" and \\ only. */
	assert_int_equal(p.name.len, 7);
	assert_int_equal(mp_unescape(p.name, out), 5);
	assert_string_equal(out, "q\"x\\y");
	assert_int_equal(mp_unescape(p.filename, out), 14);
	assert_string_equal(out, "C:\\dir\\a\"b.txt");    /* a Windows path keeps its '\\' */
	body = "--B0\r\nContent-Disposition: form-data; name=a\\b\r\n\r\nv\r\n--B0--";
	assert_int_equal(mp_parse(body, strlen(body), b, &lim, first_part, &p, &why), 0);
	assert_false(p.name_quoted);                          /* a token: as sent */
}

static void test_upload_filenames_reduce_to_a_safe_base(void **state)
{
	(void)state;
	assert_string_equal(hreq_filename_base("a.txt"), "a.txt");
	assert_string_equal(hreq_filename_base("../../etc/passwd"), "passwd");
	assert_string_equal(hreq_filename_base("C:\\Users\\x\\a b.txt"), "a b.txt");
	assert_string_equal(hreq_filename_base(".profile"), ".profile");
	assert_null(hreq_filename_base(""));
	assert_null(hreq_filename_base("dir/"));
	assert_null(hreq_filename_base("a/.."));
	assert_null(hreq_filename_base("."));
	assert_null(hreq_filename_base("a\nb"));
}

static void test_compressible_types(void **state)
{
	(void)state;
	assert_true(compress_type_ok("text/html; charset=utf-8"));
	assert_true(compress_type_ok("application/json"));
	assert_true(compress_type_ok("application/problem+json"));
	assert_true(compress_type_ok("image/svg+xml"));
	assert_false(compress_type_ok("image/png"));
	assert_false(compress_type_ok("application/gzip"));
	assert_false(compress_type_ok("application/octet-stream"));
	assert_false(compress_type_ok(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_accept_encoding),
		cmocka_unit_test(test_dates_and_etags),
		cmocka_unit_test(test_cookie_and_form_iteration),
		cmocka_unit_test(test_signed_cookies),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_multipart_quoted_names_are_unescaped),
		cmocka_unit_test(test_json_is_one_value_and_nothing_after_it),
		cmocka_unit_test(test_upload_filenames_reduce_to_a_safe_base),
		cmocka_unit_test(test_compressible_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
