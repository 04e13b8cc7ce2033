/*
 * metrics_text.c - see metrics_text.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "actors/metrics.h"
#include "metrics_text.h"

char *metrics_text(void)
{
	struct metrics_out *o = metrics_out_create();
	size_t len;
	char *text;

	metrics_collect_all(o);
	text = metrics_render_prometheus(o, &len);
	metrics_out_destroy(o);
	assert_non_null(text);
	return text;
}
