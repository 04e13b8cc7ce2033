/*
 * test_upstream_parse.c - the upstream client without sockets: responses
 * in as bytes (whole, split, byte by byte), parsed responses out; every
 * limit and framing rule of net/upstream_parse.h, streaming included;
 * redirects and gzip after a response. The request bytes the call builder
 * writes: test_upstream_call.c.
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
#include <sys/socket.h>

#include <cmocka.h>
#include <zlib.h>

#include "net/upstream_internal.h"

#define MAX_BODY 4096

static char inl[256];
static struct upstream_resp R;
static struct upstream_parser P;

static int setup(void **state)
{
	(void)state;
	upstream_resp_init(&R, inl, sizeof(inl));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	upstream_resp_dispose(&R);
	return 0;
}

static void start(bool head, uint64_t max_body)
{
	upstream_parser_start(&P, &R, head, max_body);
}

/* Feed all of `s`; returns what the last feed returned. */
static ssize_t feed(const char *s)
{
	return upstream_parser_feed(&P, s, strlen(s));
}

/* Feed `s` one byte at a time; returns the first error, or the total. */
static ssize_t feed_bytes(const char *s)
{
	ssize_t total = 0;

	for (size_t i = 0; s[i] != '\0' && !upstream_parser_done(&P); i++) {
		ssize_t n = upstream_parser_feed(&P, s + i, 1);

		if (n < 0)
			return n;
		total += n;
	}
	return total;
}

static const char *header(const char *name)
{
	for (unsigned i = 0; i < R.nheaders; i++)
		if (strcasecmp(R.headers[i].name, name) == 0)
			return R.headers[i].value;
	return NULL;
}

static void assert_body(const char *want)
{
	assert_int_equal(R.body_len, strlen(want));
	assert_memory_equal(R.buf + R.body_off, want, R.body_len);
}

static const char OK_RESPONSE[] =
	"HTTP/1.1 200 OK\r\n"
	"Content-Type: text/plain \r\n"
	"X-Empty:\r\n"
	"Content-Length: 5\r\n"
	"\r\n"
	"hello";

static void test_content_length_response_is_parsed(void **state)
{
	(void)state;
	start(false, MAX_BODY);
	assert_int_equal(feed(OK_RESPONSE), strlen(OK_RESPONSE));
	assert_true(upstream_parser_done(&P));
	assert_true(upstream_parser_keep_alive(&P));
	assert_int_equal(R.status, 200);
	assert_int_equal(R.nheaders, 3);
	assert_string_equal(R.headers[0].name, "Content-Type");
	assert_string_equal(header("content-type"), "text/plain");  /* trailing SP gone */
	assert_string_equal(header("X-Empty"), "");
	assert_body("hello");
}

static void test_byte_by_byte_gives_the_same_response(void **state)
{
	(void)state;
	start(false, MAX_BODY);
	assert_int_equal(feed_bytes(OK_RESPONSE), strlen(OK_RESPONSE));
	assert_true(upstream_parser_done(&P));
	assert_int_equal(R.nheaders, 3);
	assert_string_equal(header("Content-Type"), "text/plain");
	assert_string_equal(header("X-Empty"), "");
	assert_body("hello");
}

static void test_chunked_body_is_decoded_and_trailers_dropped(void **state)
{
	static const char resp[] =
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n1;ext=1\r\n,\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";

	(void)state;
	start(false, MAX_BODY);
	assert_int_equal(feed_bytes(resp), strlen(resp));
	assert_true(upstream_parser_done(&P));
	assert_true(upstream_parser_keep_alive(&P));
	assert_body("hello, world");
	assert_int_equal(R.nheaders, 1);
	assert_null(header("X-Trailer"));
}

static void test_large_body_grows_past_the_inline_buffer(void **state)
{
	char *resp = malloc(64 + 100000), *p;

	(void)state;
	p = resp + sprintf(resp, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
	for (int i = 0; i < 100000; i++)
		p[i] = (char)('a' + i % 26);
	p[100000] = '\0';
	start(false, 1 << 20);
	/* In 1000-byte reads, like a socket would deliver it. */
	for (size_t off = 0; off < strlen(resp); off += 1000) {
		size_t n = strlen(resp) - off < 1000 ? strlen(resp) - off : 1000;

		assert_int_equal(upstream_parser_feed(&P, resp + off, n), n);
	}
	assert_true(upstream_parser_done(&P));
	assert_int_equal(R.body_len, 100000);
	assert_memory_equal(R.buf + R.body_off, p, 100000);
	assert_ptr_not_equal(R.buf, inl);
	free(resp);
}

static void test_head_response_has_no_body_whatever_it_says(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";

	(void)state;
	start(true, MAX_BODY);
	assert_int_equal(feed(resp), strlen(resp));
	assert_true(upstream_parser_done(&P));
	assert_true(upstream_parser_keep_alive(&P));
	assert_int_equal(R.body_len, 0);
	assert_string_equal(header("Content-Length"), "1000");
}

static void test_no_content_statuses_have_no_body(void **state)
{
	static const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n";
	static const char resp304[] = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";

	(void)state;
	start(false, MAX_BODY);
	assert_int_equal(feed(resp), strlen(resp));
	assert_true(upstream_parser_done(&P));
	assert_int_equal(R.status, 204);
	start(false, MAX_BODY);
	assert_int_equal(feed(resp304), strlen(resp304));
	assert_true(upstream_parser_done(&P));
	assert_int_equal(R.body_len, 0);
}

static void test_body_until_close_completes_on_eof(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it";

	(void)state;
	start(false, MAX_BODY);
	assert_int_equal(feed(resp), strlen(resp));
	assert_false(upstream_parser_done(&P));
	assert_int_equal(upstream_parser_eof(&P), 0);
	assert_true(upstream_parser_done(&P));
	assert_false(upstream_parser_keep_alive(&P));
	assert_body("all of it");
}

static void test_close_inside_a_framed_body_is_a_bad_response(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
	static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";

	(void)state;
	start(false, MAX_BODY);
	assert_int_equal(feed(resp), strlen(resp));
	assert_int_equal(upstream_parser_eof(&P), -EPROTO);
	start(false, MAX_BODY);
	assert_int_equal(feed(chunked), strlen(chunked));
	assert_int_equal(upstream_parser_eof(&P), -EPROTO);
}

static void test_close_before_any_byte_is_not_started(void **state)
{
	(void)state;
	start(false, MAX_BODY);
	assert_false(upstream_parser_started(&P));
	assert_int_equal(upstream_parser_eof(&P), -EPROTO);
	assert_false(upstream_parser_started(&P));
	start(false, MAX_BODY);
	assert_int_equal(feed("HTTP/1.1 2"), 10);
	assert_true(upstream_parser_started(&P));
}

static void test_garbage_is_a_bad_response(void **state)
{
	(void)state;
	start(false, MAX_BODY);
	assert_int_equal(feed("NOT HTTP AT ALL\r\n\r\n"), -EPROTO);
	start(false, MAX_BODY);
	assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"), -EPROTO);
	start(false, MAX_BODY);
	assert_int_equal(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
			 -EPROTO);
	start(false, MAX_BODY);
	assert_int_equal(feed("HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"), -EPROTO);
	start(false, MAX_BODY);
	assert_int_equal(feed("HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n"), -EPROTO);
	/* Framing two readers could take differently (the body's end, so
	 * where the next response starts): never guessed. */
	start(false, MAX_BODY);
	assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
			      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), -EPROTO);
	start(false, MAX_BODY);
	assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\n"),
			 -EPROTO);
}

static void test_a_transfer_coding_other_than_chunked_is_a_bad_response(void **state)
{
	static const char *const bad[] = {
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		start(false, MAX_BODY);
		assert_int_equal(feed(bad[i]), -EPROTO);
	}
	/* Chunked alone, in any case, is undone; a HEAD answer has no body. */
	start(false, MAX_BODY);
	assert_true(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked \r\n\r\n"
			 "2\r\nok\r\n0\r\n\r\n") > 0);
	assert_true(upstream_parser_done(&P));
	assert_body("ok");
	start(true, MAX_BODY);
	assert_true(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") > 0);
	assert_true(upstream_parser_done(&P));
}

static void test_content_length_over_the_limit_fails_before_the_body(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 4097\r\n\r\n";

	(void)state;
	start(false, MAX_BODY);
	assert_int_equal(feed(resp), -EFBIG);
	start(false, MAX_BODY);
	assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n"), 41);
	assert_false(upstream_parser_done(&P));
}

static void test_chunked_or_close_framed_body_over_the_limit_fails(void **state)
{
	static const char first[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				    "6\r\nabcdef\r\n";
	char resp[8192];
	int n;

	(void)state;
	start(false, 10);
	assert_int_equal(feed(first), strlen(first));
	assert_int_equal(feed("5\r\nghijk\r\n"), -EFBIG);
	n = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n\r\n%0100d", 0);
	assert_true(n > 0);
	start(false, 99);
	assert_int_equal(feed(resp), -EFBIG);
}

static void test_huge_header_block_or_too_many_fields_fail(void **state)
{
	size_t big = UPSTREAM_MAX_HEAD_BYTES + 100;
	char *resp = malloc(big + 64);
	size_t off;

	(void)state;
	off = (size_t)sprintf(resp, "HTTP/1.1 200 OK\r\nX-Big: ");
	memset(resp + off, 'a', big);
	strcpy(resp + off + big, "\r\n\r\n");
	start(false, MAX_BODY);
	assert_int_equal(feed(resp), -EFBIG);
	off = (size_t)sprintf(resp, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i <= UPSTREAM_MAX_HEADERS; i++)
		off += (size_t)sprintf(resp + off, "X-%d: v\r\n", i);
	strcpy(resp + off, "\r\n");
	start(false, MAX_BODY);
	assert_int_equal(feed(resp), -EFBIG);
	free(resp);
}

static void test_interim_responses_are_skipped_and_101_refused(void **state)
{
	static const char resp[] =
		"HTTP/1.1 100 Continue\r\n\r\n"
		"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
		"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";

	(void)state;
	start(false, MAX_BODY);
	assert_int_equal(feed(resp), strlen(resp));
	assert_true(upstream_parser_done(&P));
	assert_int_equal(R.status, 201);
	assert_int_equal(R.nheaders, 1);
	assert_null(header("Link"));
	assert_body("ok");
	start(false, MAX_BODY);
	assert_int_equal(feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"), -EPROTO);
}

static void test_a_status_outside_100_to_599_is_a_bad_response(void **state)
{
	(void)state;
	start(false, MAX_BODY);
	assert_int_equal(feed("HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nhi"), -EPROTO);
	start(false, MAX_BODY);
	assert_int_equal(feed("HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\nhi"), -EPROTO);
	start(false, MAX_BODY);
	assert_int_equal(feed("HTTP/1.1 599 Edge\r\nContent-Length: 2\r\n\r\nhi"), 42);
	assert_true(upstream_parser_done(&P));
	assert_int_equal(R.status, 599);
}

static void test_parsing_stops_at_the_end_of_the_response(void **state)
{
	static const char two[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB";

	(void)state;
	start(false, MAX_BODY);
	assert_int_equal(feed(two), strlen(two) / 2);
	assert_true(upstream_parser_done(&P));
	assert_body("A");
	assert_int_equal(feed(two), 0);   /* done: nothing more is taken */
}

static void test_keep_alive_follows_version_and_connection(void **state)
{
	(void)state;
	start(false, MAX_BODY);
	feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
	assert_true(upstream_parser_done(&P));
	assert_false(upstream_parser_keep_alive(&P));
	start(false, MAX_BODY);
	feed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_true(upstream_parser_done(&P));
	assert_false(upstream_parser_keep_alive(&P));
	start(false, MAX_BODY);
	feed("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
	assert_true(upstream_parser_keep_alive(&P));
}

/* ---- After a complete response: redirects and gzip ---- */

/* The request head `u` would write now. */
static const char *head_of(const struct upstream_call *u)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf), "%.*s", (int)u->head_len, u->head);
	return buf;
}

/* Parse `resp` as u's response. */
static void answer(struct upstream_call *u, const char *resp)
{
	struct upstream_parser p;

	upstream_parser_start(&p, &u->resp, false, MAX_BODY);
	assert_int_equal(upstream_parser_feed(&p, resp, strlen(resp)), (ssize_t)strlen(resp));
	assert_true(upstream_parser_done(&p));
}

static void test_redirects_rewrite_the_request_for_the_new_origin(void **state)
{
	struct upstream_call *u;
	int rc;

	(void)state;
	u = upstream_call_new(HTTP_POST, "http://127.0.0.1:9000/a", &rc);
	assert_non_null(u);
	assert_int_equal(upstream_call_add_header(u, "Cookie", "s=1"), 0);
	assert_int_equal(upstream_call_add_header(u, "X-Keep", "yes"), 0);
	assert_int_equal(upstream_call_add_header(u, "Content-Type", "text/plain"), 0);
	assert_int_equal(upstream_call_set_body(u, "abc", 3), 0);
	/* Not asked: nothing happens. */
	answer(u, "HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(up_redirect(NULL, u), 0);
	upstream_call_follow_redirects(u, 2, false);
	/* Same origin, 307: the same method and body, the headers kept. */
	answer(u, "HTTP/1.1 307 Temporary\r\nLocation: /b?x=1\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(up_redirect(NULL, u), 1);
	assert_string_equal(head_of(u), "POST /b?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n"
			    "Cookie: s=1\r\nX-Keep: yes\r\nContent-Type: text/plain\r\n");
	assert_int_equal(u->body_len, 3);
	/* Another origin, 302 after POST: GET, no body, no Cookie, nothing
	 * describing the body. */
	answer(u, "HTTP/1.1 302 Found\r\nLocation: https://api.example:8443/c\r\n"
	       "Content-Length: 0\r\n\r\n");
	assert_int_equal(up_redirect(NULL, u), 1);
	assert_string_equal(head_of(u), "GET /c HTTP/1.1\r\nHost: api.example:8443\r\n"
			    "X-Keep: yes\r\n");
	assert_int_equal(u->method, HTTP_GET);
	assert_int_equal(u->body_len, 0);
	assert_false(u->has_body);
	assert_true(u->tls);
	assert_int_equal(u->family, 0);
	assert_string_equal(u->host, "api.example");
	assert_int_equal(u->port, 8443);
	/* The limit (2) is reached: the third 3xx is the answer. */
	answer(u, "HTTP/1.1 301 Moved\r\nLocation: /d\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(up_redirect(NULL, u), 0);
	upstream_call_free(u);

	/* Unusable Locations are not followed. */
	u = upstream_call_new(HTTP_GET, "http://127.0.0.1/", &rc);
	upstream_call_follow_redirects(u, 5, false);
	answer(u, "HTTP/1.1 302 Found\r\nLocation: /a b\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(up_redirect(NULL, u), 0);
	answer(u, "HTTP/1.1 302 Found\r\nLocation: mailto:x@y\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(up_redirect(NULL, u), 0);
	answer(u, "HTTP/1.1 302 Found\r\nLocation: ftp://x/\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(up_redirect(NULL, u), 0);
	answer(u, "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(up_redirect(NULL, u), 0);
	answer(u, "HTTP/1.1 200 OK\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(up_redirect(NULL, u), 0);
	upstream_call_free(u);

	/* A streamed body cannot be sent again: no redirect, even when asked
	 * for after the body. */
	u = upstream_call_new(HTTP_PUT, "http://127.0.0.1/", &rc);
	upstream_call_stream_body(u, &(struct upload_ref){ .len = -1 });
	upstream_call_follow_redirects(u, 5, false);
	answer(u, "HTTP/1.1 307 Temporary\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(up_redirect(NULL, u), 0);
	upstream_call_free(u);
}

/* Follow a 302 to `loc` and return the new request line. */
static const char *follow(struct upstream_call *u, const char *loc)
{
	static char line[256];
	char resp[512];
	const char *h;

	snprintf(resp, sizeof(resp), "HTTP/1.1 302 Found\r\nLocation: %s\r\n"
		 "Content-Length: 0\r\n\r\n", loc);
	answer(u, resp);
	assert_int_equal(up_redirect(NULL, u), 1);
	h = head_of(u);
	snprintf(line, sizeof(line), "%.*s", (int)strcspn(h, "\r"), h);
	return line;
}

static void test_relative_locations_resolve_against_the_request_url(void **state)
{
	struct upstream_call *u;
	int rc;

	(void)state;
	u = upstream_call_new(HTTP_GET, "http://127.0.0.1:9000/dir/sub/start?q=0", &rc);
	assert_non_null(u);
	upstream_call_follow_redirects(u, 20, false);
	/* RFC 3986 5.2: a relative path replaces the last segment... */
	assert_string_equal(follow(u, "next"), "GET /dir/sub/next HTTP/1.1");
	assert_string_equal(follow(u, "../up?x=1"), "GET /dir/up?x=1 HTTP/1.1");
	assert_string_equal(follow(u, "./a/./b/../c"), "GET /dir/a/c HTTP/1.1");
	/* ... a query only the query; ".." never climbs above the root. */
	assert_string_equal(follow(u, "?page=2"), "GET /dir/a/c?page=2 HTTP/1.1");
	assert_string_equal(follow(u, "../../../../top"), "GET /top HTTP/1.1");
	assert_string_equal(follow(u, "/abs/../x/y/.."), "GET /x/ HTTP/1.1");
	/* Dots in the query stay. */
	assert_string_equal(follow(u, "/p?next=../a"), "GET /p?next=../a HTTP/1.1");
	/* The fragment is never sent. */
	assert_string_equal(follow(u, "/frag#top"), "GET /frag HTTP/1.1");
	assert_string_equal(follow(u, "http://127.0.0.1:9000/e/../f#x"), "GET /f HTTP/1.1");
	/* A network-path keeps the scheme and changes the origin. */
	assert_string_equal(follow(u, "//api.example:8080/../n"), "GET /n HTTP/1.1");
	assert_string_equal(u->host, "api.example");
	assert_int_equal(u->port, 8080);
	assert_false(u->tls);
	upstream_call_free(u);
}

static void test_gzip_bodies_are_decoded_within_the_limit(void **state)
{
	static const char text[] = "hello hello hello hello hello hello hello gzip";
	unsigned char gz[256];
	char resp[512];
	z_stream zs;
	struct upstream_call *u;
	size_t n, len, hlen;
	const char *body;
	int rc;

	(void)state;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	zs.next_in = (Bytef *)text;
	zs.avail_in = sizeof(text) - 1;
	zs.next_out = gz;
	zs.avail_out = sizeof(gz);
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	n = sizeof(gz) - zs.avail_out;
	deflateEnd(&zs);
	len = (size_t)snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
			       "X-A: 1\r\nContent-Length: %zu\r\n\r\n", n);
	memcpy(resp + len, gz, n);
	hlen = len;

	u = upstream_call_new(HTTP_GET, "http://127.0.0.1/", &rc);
	assert_int_equal(upstream_call_decode_gzip(u), 0);
	assert_non_null(strstr(head_of(u), "Accept-Encoding: gzip\r\n"));
	{
		struct upstream_parser p;

		upstream_parser_start(&p, &u->resp, false, MAX_BODY);
		assert_int_equal(upstream_parser_feed(&p, resp, hlen + n), (ssize_t)(hlen + n));
	}
	assert_int_equal(up_decode_body(u, MAX_BODY), 0);
	u->c.status = 0;
	body = upstream_reply_body(u, &len);
	assert_int_equal(len, sizeof(text) - 1);
	assert_memory_equal(body, text, len);
	assert_string_equal(upstream_reply_header(u, "X-A"), "1");     /* headers survive */
	/* Over the limit, and corrupt. */
	{
		struct upstream_parser p;

		upstream_parser_start(&p, &u->resp, false, MAX_BODY);
		upstream_parser_feed(&p, resp, hlen + n);
		assert_int_equal(up_decode_body(u, 10), -EFBIG);
		upstream_parser_start(&p, &u->resp, false, MAX_BODY);
		resp[hlen + 12] ^= 0x55;
		upstream_parser_feed(&p, resp, hlen + n);
		assert_int_not_equal(up_decode_body(u, MAX_BODY), 0);
	}
	upstream_call_free(u);
}

static void test_error_kinds_map_to_statuses_and_answers(void **state)
{
	(void)state;
	assert_int_equal(upstream_error_of(-ECONNREFUSED), UPSTREAM_REFUSED);
	assert_int_equal(upstream_error_of(-ETIMEDOUT), UPSTREAM_TIMEOUT);
	assert_int_equal(upstream_error_of(-EFBIG), UPSTREAM_TOO_LARGE);
	assert_int_equal(upstream_error_of(-EPROTO), UPSTREAM_BAD_RESPONSE);
	assert_int_equal(upstream_error_of(-EAGAIN), UPSTREAM_OVERLOADED);
	assert_int_equal(upstream_error_http_status(UPSTREAM_REFUSED), 503);
	assert_int_equal(upstream_error_http_status(UPSTREAM_TIMEOUT), 504);
	assert_int_equal(upstream_error_http_status(UPSTREAM_TOO_LARGE), 502);
	assert_int_equal(upstream_error_http_status(UPSTREAM_BAD_RESPONSE), 502);
	assert_string_equal(upstream_error_name(UPSTREAM_BAD_RESPONSE), "bad_response");
	assert_int_equal(upstream_error_of(-EHOSTUNREACH), UPSTREAM_DNS);
	assert_int_equal(upstream_error_of(-ECONNABORTED), UPSTREAM_TLS);
	assert_int_equal(upstream_error_http_status(UPSTREAM_DNS), 503);
	assert_int_equal(upstream_error_http_status(UPSTREAM_TLS), 502);
	assert_string_equal(upstream_error_name(UPSTREAM_DNS), "dns");
	assert_string_equal(upstream_error_name(UPSTREAM_TLS), "tls");
	assert_true(upstream_method_idempotent(HTTP_GET));
	assert_true(upstream_method_idempotent(HTTP_PUT));
	assert_false(upstream_method_idempotent(HTTP_POST));
	assert_false(upstream_method_idempotent(HTTP_PATCH));
}

/* ---- Streaming (upstream_parser_stream) ---- */

static char sunk[8192];
static size_t nsunk;

static int sink(void *ctx, const char *data, size_t len)
{
	assert_ptr_equal(ctx, &nsunk);
	assert_true(nsunk + len <= sizeof(sunk));
	memcpy(sunk + nsunk, data, len);
	nsunk += len;
	return 0;
}

static void start_streaming(bool head, uint64_t max_body, uint64_t over)
{
	nsunk = 0;
	start(head, max_body);
	upstream_parser_stream(&P, over, sink, &nsunk);
}

static void test_sized_body_over_the_threshold_streams_from_its_head(void **state)
{
	char body[3000], resp[3200];

	(void)state;
	memset(body, 'b', sizeof(body));
	snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\nX-A: 1\r\n\r\n%.3000s",
		 body);
	/* max_body (1000) does not apply to a streamed body. */
	start_streaming(false, 1000, 2000);
	assert_int_equal(feed_bytes(resp), (ssize_t)strlen(resp));
	assert_true(upstream_parser_streaming(&P));
	assert_true(upstream_parser_done(&P));
	assert_int_equal(upstream_parser_stream_len(&P), 3000);
	assert_int_equal(R.status, 200);
	assert_string_equal(header("X-A"), "1");
	assert_body("");                        /* the head alone stays */
	assert_int_equal(nsunk, 3000);
	assert_memory_equal(sunk, body, 3000);
	assert_true(upstream_parser_keep_alive(&P));
}

static void test_sized_body_under_the_threshold_is_kept(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

	(void)state;
	start_streaming(false, MAX_BODY, 5);
	assert_int_equal(feed(resp), (ssize_t)strlen(resp));
	assert_false(upstream_parser_streaming(&P));
	assert_body("hello");
	assert_int_equal(nsunk, 0);
}

static void test_unsized_body_streams_once_past_the_threshold(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "4\r\nabcd\r\n4\r\nefgh\r\n3\r\nijk\r\n0\r\nT: x\r\n\r\n";

	(void)state;
	/* Under it: kept whole, as ever. */
	start_streaming(false, MAX_BODY, 11);
	assert_int_equal(feed(resp), (ssize_t)strlen(resp));
	assert_false(upstream_parser_streaming(&P));
	assert_body("abcdefghijk");
	/* Past it: what was kept goes to the sink first, in order. */
	start_streaming(false, MAX_BODY, 6);
	assert_int_equal(feed_bytes(resp), (ssize_t)strlen(resp));
	assert_true(upstream_parser_streaming(&P));
	assert_true(upstream_parser_done(&P));
	assert_int_equal(upstream_parser_stream_len(&P), -1);
	assert_body("");
	assert_int_equal(nsunk, 11);
	assert_memory_equal(sunk, "abcdefghijk", 11);
	/* Delimited by the close: complete at EOF. */
	start_streaming(false, MAX_BODY, 2);
	assert_int_equal(feed("HTTP/1.0 200 OK\r\n\r\nabcdef"), 25);   /* 19 + 6 */
	assert_true(upstream_parser_streaming(&P));
	assert_false(upstream_parser_done(&P));
	assert_int_equal(upstream_parser_eof(&P), 0);
	assert_int_equal(nsunk, 6);
	assert_false(upstream_parser_keep_alive(&P));
}

static void test_no_body_never_streams(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
	static const char not_modified[] =
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 100000\r\n\r\n";

	(void)state;
	start_streaming(true, MAX_BODY, 1);     /* the answer to HEAD */
	assert_int_equal(feed(head), (ssize_t)strlen(head));
	assert_true(upstream_parser_done(&P));
	assert_false(upstream_parser_streaming(&P));
	start_streaming(false, MAX_BODY, 1);
	assert_int_equal(feed(not_modified), (ssize_t)strlen(not_modified));
	assert_true(upstream_parser_done(&P));
	assert_false(upstream_parser_streaming(&P));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_content_length_response_is_parsed),
		T(test_byte_by_byte_gives_the_same_response),
		T(test_chunked_body_is_decoded_and_trailers_dropped),
		T(test_large_body_grows_past_the_inline_buffer),
		T(test_head_response_has_no_body_whatever_it_says),
		T(test_no_content_statuses_have_no_body),
		T(test_body_until_close_completes_on_eof),
		T(test_close_inside_a_framed_body_is_a_bad_response),
		T(test_close_before_any_byte_is_not_started),
		T(test_garbage_is_a_bad_response),
		T(test_a_transfer_coding_other_than_chunked_is_a_bad_response),
		T(test_content_length_over_the_limit_fails_before_the_body),
		T(test_chunked_or_close_framed_body_over_the_limit_fails),
		T(test_huge_header_block_or_too_many_fields_fail),
		T(test_interim_responses_are_skipped_and_101_refused),
		T(test_a_status_outside_100_to_599_is_a_bad_response),
		T(test_parsing_stops_at_the_end_of_the_response),
		T(test_keep_alive_follows_version_and_connection),
		T(test_redirects_rewrite_the_request_for_the_new_origin),
		T(test_relative_locations_resolve_against_the_request_url),
		T(test_gzip_bodies_are_decoded_within_the_limit),
		T(test_error_kinds_map_to_statuses_and_answers),
		T(test_sized_body_over_the_threshold_streams_from_its_head),
		T(test_sized_body_under_the_threshold_is_kept),
		T(test_unsized_body_streams_once_past_the_threshold),
		T(test_no_body_never_streams),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
