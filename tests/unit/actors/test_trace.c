/*
 * test_trace.c - W3C Trace Context (actors/trace.h): traceparent parsing
 * accepts exactly what the spec allows and anything else starts a new
 * trace; tracestate validation; ids; the thread's current trace and what
 * a new message inherits from it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "actors/trace.h"

#define ID "0af7651916cd43dd8448eb211c80319c"
#define PARENT "b7ad6b7169203331"
#define GOOD "00-" ID "-" PARENT "-01"

static const uint8_t id_bytes[16] = { 0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
				      0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c };
static const uint8_t parent_bytes[8] = { 0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31 };

static int parse(const char *v, struct msg_trace *t, uint8_t parent[8])
{
	return trace_parse_parent(v, strlen(v), t, parent);
}

static void test_valid_traceparent_is_read(void **state)
{
	struct msg_trace t = { 0 };
	uint8_t parent[8];

	(void)state;
	assert_int_equal(parse(GOOD, &t, parent), 0);
	assert_memory_equal(t.trace_id, id_bytes, 16);
	assert_memory_equal(parent, parent_bytes, 8);
	assert_int_equal(t.flags, 1);
	assert_int_equal(t.state, MSG_TRACE_SET | MSG_TRACE_REMOTE);
	/* Not sampled; flags other than bit 0 are not defined by version 00. */
	assert_int_equal(parse("00-" ID "-" PARENT "-00", &t, parent), 0);
	assert_int_equal(t.flags, 0);
	assert_int_equal(parse("00-" ID "-" PARENT "-ff", &t, parent), 0);
	assert_int_equal(t.flags, 1);
	/* A later version is read by its first 55 characters. */
	assert_int_equal(parse("01-" ID "-" PARENT "-01", &t, parent), 0);
	assert_int_equal(parse("cc-" ID "-" PARENT "-01-what-comes-later", &t, parent), 0);
	assert_memory_equal(t.trace_id, id_bytes, 16);
}

static void test_malformed_traceparent_is_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"00",
		"00-" ID "-" PARENT "-0",                          /* 54 characters */
		"00-" ID "-" PARENT "-01-",                        /* version 00 is exactly 55 */
		"00-" ID "-" PARENT "-010",
		"00-0AF7651916CD43DD8448EB211C80319C-" PARENT "-01", /* uppercase */
		"00-" ID "-B7AD6B7169203331-01",
		"0A-" ID "-" PARENT "-01",
		"00-" ID "-" PARENT "-0F",
		"ff-" ID "-" PARENT "-01",                         /* version ff is invalid */
		"00-00000000000000000000000000000000-" PARENT "-01", /* all-zero ids */
		"00-" ID "-0000000000000000-01",
		"00_" ID "-" PARENT "-01",                         /* separators */
		"00-" ID "_" PARENT "-01",
		"00-" ID "-" PARENT "_01",
		"0g-" ID "-" PARENT "-01",
		"00-0af7651916cd43dd8448eb211c80319g-" PARENT "-01",
		"00-" ID "-b7ad6b716920333 -01",
		"00-" ID "-" PARENT "-0x",
		"00--0af7651916cd43dd8448eb211c80319c" PARENT "-01",
		"01-" ID "-" PARENT "-01x",                        /* later version: '-' or end */
		" 00-" ID "-" PARENT "-01",
	};
	struct msg_trace t;
	uint8_t parent[8];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&t, 0, sizeof(t));
		if (parse(bad[i], &t, parent) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(t.state, 0);
	}
}

static bool zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static void test_begin_continues_a_valid_trace_or_starts_one(void **state)
{
	struct msg_trace t, u;
	uint8_t parent[8];
	static const char upper[] = "00-0AF7651916CD43DD8448EB211C80319C-" PARENT "-01";

	(void)state;
	trace_begin(&t, GOOD, strlen(GOOD), parent);
	assert_memory_equal(t.trace_id, id_bytes, 16);
	assert_memory_equal(parent, parent_bytes, 8);
	assert_memory_not_equal(t.span_id, parent_bytes, 8);
	assert_false(zero(t.span_id, 8));
	assert_int_equal(t.state, MSG_TRACE_SET | MSG_TRACE_REMOTE);

	/* Invalid or absent: a new trace, sampled, with no parent. */
	trace_begin(&t, upper, strlen(upper), parent);
	assert_int_equal(t.state, MSG_TRACE_SET);
	assert_memory_not_equal(t.trace_id, id_bytes, 16);
	assert_false(zero(t.trace_id, 16));
	assert_false(zero(t.span_id, 8));
	assert_true(zero(parent, 8));
	assert_int_equal(t.flags, 1);
	trace_begin(&u, NULL, 0, parent);
	assert_int_equal(u.state, MSG_TRACE_SET);
	assert_memory_not_equal(t.trace_id, u.trace_id, 16);
}

static void test_format_round_trips(void **state)
{
	struct msg_trace t, back;
	uint8_t span[8], parent[8];
	char out[TRACE_PARENT_LEN + 1];

	(void)state;
	trace_begin(&t, NULL, 0, parent);
	trace_new_span(span);
	trace_format_parent(out, &t, span);
	assert_int_equal(strlen(out), TRACE_PARENT_LEN);
	assert_int_equal(parse(out, &back, parent), 0);
	assert_memory_equal(back.trace_id, t.trace_id, 16);
	assert_memory_equal(parent, span, 8);
	assert_int_equal(back.flags, t.flags);
	assert_int_equal(parse(GOOD, &t, parent), 0);
	trace_format_parent(out, &t, parent);
	assert_string_equal(out, GOOD);
}

static bool state_ok(const char *v)
{
	return trace_state_valid(v, strlen(v));
}

static void test_tracestate_grammar(void **state)
{
	char many[TRACE_STATE_MAX + 64];
	size_t n = 0;

	(void)state;
	assert_true(state_ok("congo=t61rcWkgMzE"));
	assert_true(state_ok("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
	assert_true(state_ok("rojo=1 , congo=2,,"));              /* OWS, empty members */
	assert_true(state_ok("tenant1@vendor=x,a_b-c*d/e=v w"));
	assert_true(state_ok("9t@v=1"));                          /* tenant may start with a digit */
	assert_false(state_ok("Rojo=1"));                         /* uppercase key */
	assert_false(state_ok("9rojo=1"));
	assert_false(state_ok("rojo"));
	assert_false(state_ok("rojo="));
	assert_false(state_ok("rojo=a=b"));
	assert_false(state_ok("rojo=\x7f"));
	assert_false(state_ok("rojo=1,rojo=2"));                  /* duplicate key */
	assert_false(state_ok("@vendor=1"));
	assert_false(state_ok("t@=1"));
	assert_false(state_ok("t@Vendor=1"));
	assert_false(state_ok("t@abcdefghijklmno=1"));             /* system id over 14 */
	/* At most 32 members. */
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%sk%d=v", i ? "," : "", i);
	assert_false(trace_state_valid(many, n));
	n = (size_t)(strrchr(many, ',') - many);
	assert_true(trace_state_valid(many, n));
	/* Longer than what is kept. */
	memset(many, 'a', sizeof(many));
	many[0] = 'k';
	many[1] = '=';
	assert_false(trace_state_valid(many, TRACE_STATE_MAX + 1));
}

static void test_current_trace_is_inherited_by_new_messages(void **state)
{
	struct msg_trace t, got;
	struct msg m;
	uint8_t parent[8];
	size_t len;

	(void)state;
	assert_null(trace_current());
	trace_inherit(&got);
	assert_int_equal(got.state, 0);

	trace_begin(&t, GOOD, strlen(GOOD), parent);
	msg_init(&m, 1, NULL);
	m.trace = t;
	trace_enter(&m.trace);
	assert_non_null(trace_current());
	trace_inherit(&got);
	assert_memory_equal(&got, &t, sizeof(t));
	assert_null(trace_current_state(&len));
	trace_set_current_state("rojo=1", 6);
	assert_string_equal(trace_current_state(&len), "rojo=1");
	assert_int_equal(len, 6);
	trace_leave();
	assert_null(trace_current());
	assert_null(trace_current_state(&len));
	trace_inherit(&got);
	assert_int_equal(got.state, 0);

	/* An envelope without a trace makes none current. */
	msg_init(&m, 1, NULL);
	trace_enter(&m.trace);
	assert_null(trace_current());
	trace_leave();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_traceparent_is_read),
		cmocka_unit_test(test_malformed_traceparent_is_refused),
		cmocka_unit_test(test_begin_continues_a_valid_trace_or_starts_one),
		cmocka_unit_test(test_format_round_trips),
		cmocka_unit_test(test_tracestate_grammar),
		cmocka_unit_test(test_current_trace_is_inherited_by_new_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
