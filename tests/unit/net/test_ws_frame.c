/*
 * test_ws_frame.c - the WebSocket frame parser without sockets: messages
 * across reads and fragments, control frames in between, pausing, the
 * close frame, and each rule with its close code. (The fuzzer,
 * tests/fuzz/fuzz_ws_frame.c, checks the rest against wslay.)
 */
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "net/ws_frame.h"

struct seen {
	char log[4096];
	int pause;
};

static int on_message(void *ctx, struct push_msg *ev)
{
	struct seen *s = ctx;
	size_t n = strlen(s->log);

	snprintf(s->log + n, sizeof(s->log) - n, "%s(%.*s)", ev->text ? "T" : "B",
		 (int)ev->len, ev->data);
	msg_free(&ev->m);
	return s->pause;
}

static int on_control(void *ctx, enum ws_opcode op, unsigned code, const uint8_t *p, size_t len)
{
	struct seen *s = ctx;
	size_t n = strlen(s->log);

	snprintf(s->log + n, sizeof(s->log) - n, "%s%u(%.*s)",
		 op == WS_OP_PING ? "PING" : op == WS_OP_PONG ? "PONG" : "CLOSE", code,
		 (int)len, (const char *)p);
	return 0;
}

static const struct ws_parser_cb cb = { on_message, on_control };

/* A masked client frame into `out`; returns its length. */
static size_t frame(uint8_t *out, uint8_t b0, const char *payload, size_t n)
{
	static const uint8_t key[4] = { 0x12, 0x34, 0x56, 0x78 };
	size_t h = 2;

	out[0] = b0;
	if (n < 126) {
		out[1] = (uint8_t)(0x80 | n);
	} else {
		out[1] = 0x80 | 126;
		out[2] = (uint8_t)(n >> 8);
		out[3] = (uint8_t)n;
		h = 4;
	}
	memcpy(out + h, key, 4);
	for (size_t i = 0; i < n; i++)
		out[h + 4 + i] = (uint8_t)payload[i] ^ key[i % 4];
	return h + 4 + n;
}

static ssize_t feed_bytewise(struct ws_parser *p, const uint8_t *b, size_t n, struct seen *s)
{
	for (size_t i = 0; i < n; i++) {
		ssize_t r = ws_parser_feed(p, b + i, 1, &cb, s);

		if (r < 0)
			return r;
	}
	return (ssize_t)n;
}

static void messages_fragments_and_control(void **state)
{
	uint8_t buf[1024];
	size_t n = 0;
	struct ws_parser p;
	struct seen s = { "", 0 };

	(void)state;
	n += frame(buf + n, 0x01, "hel", 3);          /* text, not final */
	n += frame(buf + n, 0x89, "pi", 2);           /* ping in between */
	n += frame(buf + n, 0x80, "lo", 2);           /* continuation, final */
	n += frame(buf + n, 0x82, "bin", 3);
	n += frame(buf + n, 0x88, "\x03\xe8" "bye", 5);
	n += frame(buf + n, 0x81, "ignored", 7);      /* after the close */
	ws_parser_init(&p, 1000);
	assert_int_equal(feed_bytewise(&p, buf, n, &s), (ssize_t)n);
	assert_string_equal(s.log, "PING0(pi)T(hello)B(bin)CLOSE1000(bye)");
	ws_parser_dispose(&p);
}

static void pausing_leaves_the_rest(void **state)
{
	uint8_t buf[256];
	size_t n = 0, a;
	struct ws_parser p;
	struct seen s = { "", 1 };
	ssize_t r;

	(void)state;
	a = n += frame(buf + n, 0x81, "one", 3);
	n += frame(buf + n, 0x81, "two", 3);
	ws_parser_init(&p, 1000);
	r = ws_parser_feed(&p, buf, n, &cb, &s);
	assert_int_equal(r, (ssize_t)a);              /* stopped after "one" */
	s.pause = 0;
	assert_int_equal(ws_parser_feed(&p, buf + a, n - a, &cb, &s), (ssize_t)(n - a));
	assert_string_equal(s.log, "T(one)T(two)");
	assert_false(ws_parser_busy(&p));
	ws_parser_dispose(&p);
}

static ssize_t one(uint8_t b0, const char *payload, size_t len, uint64_t max)
{
	uint8_t buf[512];
	struct ws_parser p;
	struct seen s = { "", 0 };
	size_t n = frame(buf, b0, payload, len);
	ssize_t r;

	ws_parser_init(&p, max);
	r = ws_parser_feed(&p, buf, n, &cb, &s);
	ws_parser_dispose(&p);
	return r;
}

static void rules_and_codes(void **state)
{
	char big[300];
	uint8_t raw[16] = { 0x81, 0x05, 'h', 'e', 'l', 'l', 'o' };   /* unmasked */
	struct ws_parser p;
	struct seen s = { "", 0 };

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_int_equal(one(0xc1, "x", 1, 1000), -1002);   /* RSV1 */
	assert_int_equal(one(0x83, "x", 1, 1000), -1002);   /* reserved opcode */
	assert_int_equal(one(0x80, "x", 1, 1000), -1002);   /* nothing to continue */
	assert_int_equal(one(0x09, "x", 1, 1000), -1002);   /* fragmented ping */
	assert_int_equal(one(0x89, big, 126, 1000), -1002); /* long ping */
	assert_int_equal(one(0x88, "\x03", 1, 1000), -1002);
	assert_int_equal(one(0x88, "\x03\xed", 2, 1000), -1002);   /* 1005 */
	assert_int_equal(one(0x88, "\x03\xe8\xff", 3, 1000), -1007);
	assert_int_equal(one(0x81, "\xc3\x28", 2, 1000), -1007);
	assert_int_equal(one(0x81, "\xe2\x98", 2, 1000), -1007);   /* ends inside */
	assert_int_equal(one(0x82, big, 300, 299), -1009);
	assert_int_equal(one(0x82, big, 299, 299), (ssize_t)(4 + 4 + 299));
	ws_parser_init(&p, 1000);
	assert_int_equal(ws_parser_feed(&p, raw, 7, &cb, &s), -1002);
	ws_parser_dispose(&p);
	assert_true(ws_close_code_valid(1000) && ws_close_code_valid(4999));
	assert_false(ws_close_code_valid(1004) || ws_close_code_valid(1006) ||
		     ws_close_code_valid(2999) || ws_close_code_valid(5000));
}

static void a_partial_message_is_freed(void **state)
{
	uint8_t buf[64];
	struct ws_parser p;
	struct seen s = { "", 0 };
	size_t n = frame(buf, 0x01, "partial", 7);

	(void)state;
	ws_parser_init(&p, 1000);
	assert_int_equal(ws_parser_feed(&p, buf, n - 2, &cb, &s), (ssize_t)(n - 2));
	assert_true(ws_parser_busy(&p));
	ws_parser_dispose(&p);                         /* no leak (ASan) */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(messages_fragments_and_control),
		cmocka_unit_test(pausing_leaves_the_rest),
		cmocka_unit_test(rules_and_codes),
		cmocka_unit_test(a_partial_message_is_freed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
