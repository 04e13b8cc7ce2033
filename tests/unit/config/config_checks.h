/*
 * config_checks.h - the steps of the config tests (test_config.c,
 * test_config_reload.c): parse a text as a file, expect it accepted, or
 * refused with an exact message. Header-only: each test file has its own.
 *
 * Thread: the test thread.
 */
#ifndef ACTORD_TEST_CONFIG_CHECKS_H
#define ACTORD_TEST_CONFIG_CHECKS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"

static char err[1024];  /* the last refusal */

static inline struct ad_config *parse(const char *text)
{
	return config_parse("/etc/actord/t.json", text, err, sizeof(err));
}

/* `cfg` must have been accepted: fails the test with the error if not. */
static inline struct ad_config *accepted(struct ad_config *cfg)
{
	if (cfg == NULL)
		fail_msg("%s", err);
	return cfg;
}

/* The file must be refused with exactly `want`. */
static inline void expect_error(const char *text, const char *want)
{
	struct ad_config *cfg = parse(text);

	if (cfg != NULL)
		fail_msg("accepted: %s", text);
	assert_string_equal(err, want);
}

#endif
