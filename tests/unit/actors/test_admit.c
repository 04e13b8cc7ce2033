/*
 * test_admit.c - admission by time waited (actors/admit.h) on a simulated
 * clock: a burst that waits up to the target is served whole, a request
 * that waited longer is shed and starts an overload, during which every
 * request that waited more than half the target is shed (oldest first)
 * until a whole interval passes without one; counters, and settings that
 * change between two items (a reload).
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

static void test_waits_up_to_the_target_always_run(void **state)
{
	(void)state;
	for (uint64_t t = 1000; t < 5000; t += 10)
		assert_int_equal(take(t, t % 501), ADMIT_RUN);
	assert_int_equal(counter_get(&stats.shed_total[ADMIT_SHED_LATE]), 0);
	assert_int_equal(counter_get(&stats.overloaded), 0);
	assert_int_equal(counter_get(&stats.overloads_total), 0);
}

/* A burst: the queue grows for a while, every request waits up to the
 * target: all of it is served, however long the queue. */
static void test_a_burst_within_the_target_is_served_whole(void **state)
{
	(void)state;
	uint64_t ran = 0;

	for (uint64_t i = 0; i <= 500; i++)
		assert_int_equal(take(1000 + i, i), ADMIT_RUN);
	assert_int_equal(counter_get(&stats.overloads_total), 0);
	/* What the served items waited is recorded, in its log2 buckets. */
	for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++)
		ran += counter_get(&stats.run_wait_hist[b]);
	assert_int_equal(ran, 501);
	/* (262.144, 524.288] ms: the waits of 263 .. 500 ms. */
	assert_int_equal(counter_get(&stats.run_wait_hist[mbox_hist_bucket(500 * MS)]), 238);
}

/* One request waited beyond the target: shed, and the queue stands, so
 * the consumer is overloaded: from then on every request that waited
 * more than half the target is shed; those that waited less run. */
static void test_beyond_the_target_starts_an_overload(void **state)
{
	(void)state;
	assert_int_equal(take(1000, 499), ADMIT_RUN);
	assert_int_equal(take(1001, 501), ADMIT_SHED_LATE);
	assert_int_equal(counter_get(&stats.overloaded), 1);
	assert_int_equal(take(1002, 450), ADMIT_SHED_OVERLOAD);
	assert_int_equal(take(1002, 251), ADMIT_SHED_OVERLOAD);
	assert_int_equal(take(1003, 250), ADMIT_RUN);
	assert_int_equal(take(1050, 240), ADMIT_RUN);
	assert_int_equal(take(1060, 300), ADMIT_SHED_OVERLOAD); /* still overloaded */
	assert_int_equal(take(1061, 3000), ADMIT_SHED_LATE);
	assert_int_equal(counter_get(&stats.shed_total[ADMIT_SHED_OVERLOAD]), 3);
	assert_int_equal(counter_get(&stats.shed_total[ADMIT_SHED_LATE]), 2);
	assert_int_equal(counter_get(&stats.overloads_total), 1);
}

/* The overload ends after a whole interval without shedding; then a
 * request may wait up to the whole target again. */
static void test_an_interval_without_shedding_ends_the_overload(void **state)
{
	(void)state;
	assert_int_equal(take(1000, 600), ADMIT_SHED_LATE);     /* last shed at 1000 */
	assert_int_equal(take(1050, 100), ADMIT_RUN);
	assert_int_equal(take(1099, 100), ADMIT_RUN);
	assert_int_equal(counter_get(&stats.overloaded), 1);   /* 99 ms quiet */
	assert_int_equal(take(1100, 100), ADMIT_RUN);
	assert_int_equal(counter_get(&stats.overloaded), 0);   /* 100 ms quiet */
	assert_int_equal(take(1110, 480), ADMIT_RUN);           /* normal again */
	assert_int_equal(take(1120, 520), ADMIT_SHED_LATE);
	assert_int_equal(counter_get(&stats.overloads_total), 2);
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
		T(test_waits_up_to_the_target_always_run),
		T(test_a_burst_within_the_target_is_served_whole),
		T(test_beyond_the_target_starts_an_overload),
		T(test_an_interval_without_shedding_ends_the_overload),
		T(test_new_settings_apply_to_the_next_item),
		T(test_mailbox_full_is_counted_by_reason),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
