/*
 * test_upstream_addrs.c - which address of an upstream's name a new
 * connection takes (net/upstream_addrs.h): round-robin, an address whose
 * connect failed skipped for the down period (upstream.fail_timeout_ms)
 * while another is up (not at all with 0),
 * tried anyway when all are down, back at once after a connect succeeds,
 * and its mark kept across a new DNS answer. The clock is the test's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "net/upstream_addrs.h"
#include "base/clock.h"

#define T0 (1000 * NS_PER_S)           /* any monotonic time */
#define DOWN_MS 10000u                 /* upstream.fail_timeout_ms's default */
#define DOWN_NS ((uint64_t)DOWN_MS * NS_PER_MS)

static struct dns_addr v4(uint8_t last)
{
	struct dns_addr a = { .family = AF_INET, .addr = { 127, 0, 0, last } };

	return a;
}

/* A, B and C: 127.0.0.1, .2 and .3. */
static void three(struct up_addrs *s)
{
	struct dns_addr a[3] = { v4(1), v4(2), v4(3) };

	memset(s, 0, sizeof(*s));
	up_addrs_set(s, a, 3);
}

/* The last byte of the next address picked at `now`. */
static unsigned pick(struct up_addrs *s, uint64_t now)
{
	struct dns_addr a;

	assert_int_equal(up_addrs_pick(s, now, &a), 0);
	return a.addr[3];
}

static unsigned after(struct up_addrs *s, uint8_t failed, uint64_t now)
{
	struct dns_addr f = v4(failed), a;

	assert_int_equal(up_addrs_after(s, &f, now, &a), 0);
	return a.addr[3];
}

static bool down(struct up_addrs *s, uint8_t last, uint64_t now)
{
	struct dns_addr a = v4(last);

	return up_addrs_mark_down(s, &a, now, DOWN_MS);
}

static void test_new_connections_take_the_addresses_in_turn(void **state)
{
	struct up_addrs s;

	(void)state;
	three(&s);
	for (unsigned round = 0; round < 2; round++) {
		assert_int_equal(pick(&s, T0), 1);
		assert_int_equal(pick(&s, T0), 2);
		assert_int_equal(pick(&s, T0), 3);
	}
}

static void test_an_address_marked_down_is_skipped_while_another_is_up(void **state)
{
	struct up_addrs s;

	(void)state;
	three(&s);
	assert_true(down(&s, 2, T0));
	for (unsigned i = 0; i < 6; i++)
		assert_int_not_equal(pick(&s, T0 + i), 2);
	/* A second failure while down is not a new mark (the metric counts marks). */
	assert_false(down(&s, 2, T0 + 1));
}

static void test_the_mark_lasts_the_down_period_then_the_address_returns(void **state)
{
	struct up_addrs s;
	unsigned seen2 = 0;

	(void)state;
	three(&s);
	down(&s, 2, T0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_not_equal(pick(&s, T0 + DOWN_NS - 1), 2);
	for (unsigned i = 0; i < 3; i++)
		seen2 += pick(&s, T0 + DOWN_NS) == 2;
	assert_int_equal(seen2, 1);
}

static void test_every_address_down_is_still_tried_in_turn(void **state)
{
	struct up_addrs s;

	(void)state;
	three(&s);
	down(&s, 1, T0);
	down(&s, 2, T0);
	down(&s, 3, T0);
	/* Never a refusal of our own: each in turn, as if none were marked. */
	assert_int_equal(pick(&s, T0), 1);
	assert_int_equal(pick(&s, T0), 2);
	assert_int_equal(pick(&s, T0), 3);
	assert_int_equal(pick(&s, T0), 1);
}

static void test_a_connect_that_succeeds_puts_its_address_back_at_once(void **state)
{
	struct up_addrs s;
	struct dns_addr b = v4(2);
	unsigned seen2 = 0;

	(void)state;
	three(&s);
	down(&s, 2, T0);
	up_addrs_mark_up(&s, &b);
	for (unsigned i = 0; i < 3; i++)
		seen2 += pick(&s, T0) == 2;
	assert_int_equal(seen2, 1);
	assert_true(down(&s, 2, T0));        /* up again: a new failure is a new mark */
}

static void test_after_a_failed_connect_comes_the_next_address_that_is_up(void **state)
{
	struct up_addrs s;

	(void)state;
	three(&s);
	assert_int_equal(after(&s, 1, T0), 2);
	down(&s, 2, T0);
	assert_int_equal(after(&s, 1, T0), 3);
	/* Wraps around the answer. */
	assert_int_equal(after(&s, 3, T0), 1);
	/* None other up: the one right after it anyway. */
	down(&s, 1, T0);
	down(&s, 3, T0);
	assert_int_equal(after(&s, 1, T0), 2);
	assert_int_equal(after(&s, 2, T0), 3);
}

static void test_a_new_answer_keeps_the_marks_of_the_addresses_it_still_holds(void **state)
{
	struct up_addrs s;
	struct dns_addr next[2] = { v4(4), v4(2) };

	(void)state;
	three(&s);
	down(&s, 2, T0);
	down(&s, 3, T0);
	up_addrs_set(&s, next, 2);
	assert_int_equal(s.n, 2);
	/* .2 is still down; .4 is new and up; .3 is gone with its mark. */
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(pick(&s, T0), 4);
	assert_int_equal(after(&s, 3, T0), 4);  /* a failed address the answer dropped */
}

static void test_an_empty_set_has_no_address(void **state)
{
	struct up_addrs s;
	struct dns_addr a, f = v4(1);

	(void)state;
	three(&s);
	up_addrs_clear(&s);
	assert_int_equal(up_addrs_pick(&s, T0, &a), -ENOENT);
	assert_int_equal(up_addrs_after(&s, &f, T0, &a), -ENOENT);
	assert_false(up_addrs_mark_down(&s, &f, T0, DOWN_MS));
}

static void test_a_down_period_of_zero_marks_nothing(void **state)
{
	struct up_addrs s;
	struct dns_addr b = v4(2);

	(void)state;
	three(&s);
	assert_false(up_addrs_mark_down(&s, &b, T0, 0));
	assert_int_equal(pick(&s, T0), 1);
	assert_int_equal(pick(&s, T0), 2);      /* still in the rotation */
	assert_int_equal(after(&s, 1, T0), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_connections_take_the_addresses_in_turn),
		cmocka_unit_test(test_an_address_marked_down_is_skipped_while_another_is_up),
		cmocka_unit_test(test_the_mark_lasts_the_down_period_then_the_address_returns),
		cmocka_unit_test(test_every_address_down_is_still_tried_in_turn),
		cmocka_unit_test(test_a_connect_that_succeeds_puts_its_address_back_at_once),
		cmocka_unit_test(test_after_a_failed_connect_comes_the_next_address_that_is_up),
		cmocka_unit_test(test_a_new_answer_keeps_the_marks_of_the_addresses_it_still_holds),
		cmocka_unit_test(test_an_empty_set_has_no_address),
		cmocka_unit_test(test_a_down_period_of_zero_marks_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
