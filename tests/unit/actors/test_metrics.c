/*
 * test_metrics.c - the Prometheus renderer (actors/metrics.c): samples that
 * collectors add interleaved (actor by actor, every family for each) come
 * out grouped by family, HELP and TYPE once each, families in the order
 * they first appeared; and rendering costs the same per sample however many
 * families there are (one scrape must not hold the admin thread for long).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "actors/metrics.h"

static size_t count_of(const char *text, const char *what)
{
	size_t n = 0;

	for (const char *p = strstr(text, what); p != NULL; p = strstr(p + 1, what))
		n++;
	return n;
}

static void test_interleaved_samples_render_grouped_by_family(void **state)
{
	static const char *const actors[] = { "net-0", "net-1", "net-2" };
	struct metrics_out *o = metrics_out_create();
	const char *a_help, *b_first, *b_last, *c_help;
	char labels[64], *text;
	size_t len;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		snprintf(labels, sizeof(labels), "actor=\"%s\"", actors[i]);
		metrics_counter(o, "a_total", "A.", labels, i);
		metrics_gauge(o, "b", "B.", labels, (double)i);
	}
	metrics_gauge(o, "c", "C.", NULL, 7);
	metrics_counter(o, "a_total", "A.", "actor=\"late\"", 9);
	text = metrics_render_prometheus(o, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_int_equal(count_of(text, "# HELP "), 3);
	assert_int_equal(count_of(text, "# TYPE "), 3);
	a_help = strstr(text, "# HELP actord_a_total A.\n# TYPE actord_a_total counter\n"
			"actord_a_total{actor=\"net-0\"} 0\nactord_a_total{actor=\"net-1\"} 1\n"
			"actord_a_total{actor=\"net-2\"} 2\nactord_a_total{actor=\"late\"} 9\n");
	b_first = strstr(text, "# TYPE actord_b gauge\nactord_b{actor=\"net-0\"} 0\n");
	b_last = strstr(text, "actord_b{actor=\"net-2\"} 2\n# HELP actord_c C.\n");
	c_help = strstr(text, "# TYPE actord_c gauge\nactord_c 7\n");
	assert_true(a_help == text);
	assert_non_null(b_first);
	assert_non_null(b_last);
	assert_non_null(c_help);
	assert_true(b_first < b_last && b_last < c_help);
	free(text);
	metrics_out_destroy(o);
}

#define SAMPLES 24000
#define MANY_FAMILIES 1200

/* Names are kept by pointer (metrics.h): they live as long as the test. */
static char family_names[MANY_FAMILIES][24];

/* The fastest of three renders of SAMPLES samples over `families`
 * families, added actor by actor as the collectors do. */
static double render_seconds(size_t families)
{
	double best = 1e9;

	for (int round = 0; round < 3; round++) {
		struct metrics_out *o = metrics_out_create();
		struct timespec t0, t1;
		char labels[32], *text;
		size_t len;

		for (size_t i = 0; i < SAMPLES; i++) {
			snprintf(labels, sizeof(labels), "actor=\"a-%zu\"", i / families);
			metrics_gauge(o, family_names[i % families], "H.", labels, (double)i);
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		text = metrics_render_prometheus(o, &len);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		assert_non_null(text);
		assert_int_equal(count_of(text, "# TYPE "), families);
		free(text);
		metrics_out_destroy(o);
		if ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < best)
			best = (double)(t1.tv_sec - t0.tv_sec) +
			       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}
	return best;
}

/* Grouping used to compare each sample's name with every earlier one and
 * every family's with every later sample: 1,200 families made the same
 * number of samples ~100 times slower to render than 10 families. */
static void test_render_time_does_not_grow_with_the_number_of_families(void **state)
{
	double few, many;

	(void)state;
	for (size_t f = 0; f < MANY_FAMILIES; f++)
		snprintf(family_names[f], sizeof(family_names[f]), "family_%zu", f);
	few = render_seconds(10);
	many = render_seconds(MANY_FAMILIES);
	printf("render of %d samples: 10 families %.1f ms, %d families %.1f ms\n", SAMPLES,
	       few * 1e3, MANY_FAMILIES, many * 1e3);
	assert_true(many < 4 * few + 0.005);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interleaved_samples_render_grouped_by_family),
		cmocka_unit_test(test_render_time_does_not_grow_with_the_number_of_families),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
