/*
 * stress_scale.h - how much of a stress test's full count to run:
 * ACTORD_STRESS_SCALE (0 < f <= 1, e.g. 0.1 for the slower sanitizer
 * builds) times `n`; anything else runs all of it.
 *
 * Thread: any (reads the environment).
 */
#ifndef ACTORD_STRESS_SCALE_H
#define ACTORD_STRESS_SCALE_H

#include <stdint.h>
#include <stdlib.h>

static inline uint64_t stress_scaled(uint64_t n)
{
	const char *s = getenv("ACTORD_STRESS_SCALE");
	double f = s != NULL ? atof(s) : 1.0;

	if (f <= 0 || f > 1)
		f = 1.0;
	return (uint64_t)((double)n * f);
}

#endif
