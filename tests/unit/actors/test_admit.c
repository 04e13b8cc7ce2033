/*
 * test_admit.c - CoDel admission (actors/admit.h) on a simulated clock:
 * bursts shorter than an interval are served, a queue standing above the
 * target for an interval makes the consumer overloaded (items that waited
 * more than half the target are shed, oldest first), an interval without
 * shedding ends it, the ceiling at target + interval, counters, and
 * settings that change between two items (a reload).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "actors/admit.h"
#include "base/clock.h"

#define MS NS_PER_MS

static struct admit_stats stats;
static struct admit adm;
static const struct config_admission cfg = { .target_ms = 500, .interval_ms = 100 };

static int setup(void **state)
{
	(void)state;
	memset(&stats, 0, sizeof(stats));
	admit_init(&adm, &stats, "test-0");
	return 0;
}

/* The verdict for an item taken at `now_ms` that waited `sojourn_ms`. */
static int take(uint64_t now_ms, uint64_t sojourn_ms)
{
	return admit_check(&adm, sojourn_ms * MS, now_ms * MS, &cfg);
}

static void test_short_waits_always_run(void **state)
{
	(void)state;
	for (uint64_t t = 1000; t < 5000; t += 10)
		assert_int_equal(take(t, t % 500), ADMIT_RUN);
	assert_int_equal(counter_get(&stats.shed_total[ADMIT_SHED_OVERLOAD]), 0);
	assert_int_equal(counter_get(&stats.overloaded), 0);
}

/* A burst: the wait goes above target but comes back below within an
 * interval: nothing is shed. */
static void test_a_burst_shorter_than_an_interval_is_served(void **state)
{
	(void)state;
	assert_int_equal(take(1000, 450), ADMIT_RUN);
	assert_int_equal(take(1010, 520), ADMIT_RUN);  /* above: the clock starts */
	assert_int_equal(take(1050, 580), ADMIT_RUN);
	assert_int_equal(take(1109, 599), ADMIT_RUN);  /* still within the interval */
	assert_int_equal(take(1110, 300), ADMIT_RUN);  /* good again: clock stops */
	assert_int_equal(take(1150, 560), ADMIT_RUN);  /* a new first time above */
	assert_int_equal(take(1249, 560), ADMIT_RUN);
	assert_int_equal(counter_get(&stats.overloads_total), 0);
}

/* A standing queue: above target for a whole interval. Overloaded from
 * then on: every item that waited more than target / 2 is shed (the
 * oldest, at the head of a FIFO); those that waited less run. */
static void test_a_standing_queue_is_shed_down_to_half_the_target(void **state)
{
	(void)state;
	assert_int_equal(take(1000, 510), ADMIT_RUN);
	assert_int_equal(take(1050, 560), ADMIT_RUN);
	assert_int_equal(take(1100, 590), ADMIT_SHED_OVERLOAD);
	assert_int_equal(counter_get(&stats.overloaded), 1);
	assert_int_equal(take(1100, 450), ADMIT_SHED_OVERLOAD);
	assert_int_equal(take(1101, 251), ADMIT_SHED_OVERLOAD);
	assert_int_equal(take(1101, 250), ADMIT_RUN);
	assert_int_equal(take(1150, 240), ADMIT_RUN);
	assert_int_equal(take(1160, 300), ADMIT_SHED_OVERLOAD); /* still overloaded */
	assert_int_equal(counter_get(&stats.overloaded), 1);
	assert_int_equal(counter_get(&stats.shed_total[ADMIT_SHED_OVERLOAD]), 4);
	assert_int_equal(counter_get(&stats.overloads_total), 1);
}

/* The overload ends after a whole interval without shedding; after that
 * an item above target gets the whole interval again. */
static void test_an_interval_without_shedding_ends_the_overload(void **state)
{
	(void)state;
	take(1000, 510);
	assert_int_equal(take(1100, 520), ADMIT_SHED_OVERLOAD);
	assert_int_equal(take(1150, 100), ADMIT_RUN);
	assert_int_equal(take(1199, 100), ADMIT_RUN);
	assert_int_equal(counter_get(&stats.overloaded), 1);   /* 99 ms quiet */
	assert_int_equal(take(1200, 100), ADMIT_RUN);
	assert_int_equal(counter_get(&stats.overloaded), 0);   /* 100 ms quiet */
	assert_int_equal(take(1210, 400), ADMIT_RUN);           /* normal again */
	assert_int_equal(take(1220, 505), ADMIT_RUN);           /* the clock starts */
	assert_int_equal(take(1320, 505), ADMIT_SHED_OVERLOAD);
	assert_int_equal(counter_get(&stats.overloads_total), 2);
}

/* Whatever the state, an item that waited beyond target + interval is
 * shed, and the overload starts (it stood in a standing queue). */
static void test_beyond_target_plus_interval_is_shed_at_once(void **state)
{
	(void)state;
	assert_int_equal(take(5000, 3000), ADMIT_SHED_LATE);
	assert_int_equal(counter_get(&stats.overloaded), 1);
	assert_int_equal(take(5001, 550), ADMIT_SHED_OVERLOAD);
	assert_int_equal(take(5002, 601), ADMIT_SHED_LATE);
	assert_int_equal(take(5003, 10), ADMIT_RUN);
	assert_int_equal(counter_get(&stats.shed_total[ADMIT_SHED_LATE]), 2);
	assert_int_equal(counter_get(&stats.shed_total[ADMIT_SHED_OVERLOAD]), 1);
}

/* Settings are read per item: a reload applies to the next one. */
static void test_new_settings_apply_to_the_next_item(void **state)
{
	const struct config_admission tight = { .target_ms = 50, .interval_ms = 10 };

	(void)state;
	assert_int_equal(take(1000, 400), ADMIT_RUN);
	assert_int_equal(admit_check(&adm, 400 * MS, 1001 * MS, &tight), ADMIT_SHED_LATE);
	assert_int_equal(admit_check(&adm, 20 * MS, 1012 * MS, &tight), ADMIT_RUN);
	assert_int_equal(counter_get(&stats.overloaded), 0); /* 11 ms quiet > 10 */
	assert_int_equal(take(1013, 400), ADMIT_RUN);
}

static void test_mailbox_full_is_counted_by_reason(void **state)
{
	(void)state;
	admit_count(&stats, ADMIT_SHED_MAILBOX_FULL);
	assert_int_equal(counter_get(&stats.shed_total[ADMIT_SHED_MAILBOX_FULL]), 1);
	assert_string_equal(admit_reason_name(ADMIT_SHED_OVERLOAD), "overload");
	assert_string_equal(admit_reason_name(ADMIT_SHED_LATE), "late");
	assert_string_equal(admit_reason_name(ADMIT_SHED_MAILBOX_FULL), "mailbox_full");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, setup)
		T(test_short_waits_always_run),
		T(test_a_burst_shorter_than_an_interval_is_served),
		T(test_a_standing_queue_is_shed_down_to_half_the_target),
		T(test_an_interval_without_shedding_ends_the_overload),
		T(test_beyond_target_plus_interval_is_shed_at_once),
		T(test_new_settings_apply_to_the_next_item),
		T(test_mailbox_full_is_counted_by_reason),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
