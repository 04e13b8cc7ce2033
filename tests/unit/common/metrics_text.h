/*
 * metrics_text.h - what a scrape of the admin endpoint would read, for the
 * unit tests that check metrics (admin, upstream, cache, mongo): every
 * registered collector run now and rendered as Prometheus text.
 *
 * Thread: any (collectors read counters with relaxed loads).
 */
#ifndef ACTORD_TEST_METRICS_TEXT_H
#define ACTORD_TEST_METRICS_TEXT_H

/* The Prometheus text, malloc'd (the caller frees it); fails the running
 * cmocka test if it could not be rendered. */
char *metrics_text(void);

#endif
