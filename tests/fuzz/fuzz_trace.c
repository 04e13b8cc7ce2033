/*
 * fuzz_trace.c - libFuzzer target: arbitrary bytes as a `traceparent` and
 * as a `tracestate` (actors/trace.h).
 *
 * Invariants checked (abort on violation): an accepted traceparent is at
 * least 55 bytes, version 00 exactly 55, its ids are not all zeros, and
 * formatting what was read gives back the input's trace id and parent id
 * (and parses again to the same); trace_begin always leaves a set trace
 * with a non-zero span id, continuing the input's trace id exactly when
 * the input was accepted; a tracestate that validates is within
 * TRACE_STATE_MAX bytes and stays valid when cut at its last comma.
 */
#include <stdlib.h>
#include <string.h>

#include "actors/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct msg_trace t, again, begun;
	uint8_t parent[8], parent2[8], bparent[8];
	char out[TRACE_PARENT_LEN + 1];
	bool ok;

	ok = trace_parse_parent(s, size, &t, parent) == 0;
	if (ok) {
		if (size < TRACE_PARENT_LEN || (s[0] == '0' && s[1] == '0' && size != TRACE_PARENT_LEN))
			abort();
		if (zero(t.trace_id, 16) || zero(parent, 8) || t.flags > 1 ||
		    t.state != (MSG_TRACE_SET | MSG_TRACE_REMOTE))
			abort();
		trace_format_parent(out, &t, parent);
		if (memcmp(out + 3, s + 3, 49) != 0)
			abort();
		if (trace_parse_parent(out, TRACE_PARENT_LEN, &again, parent2) != 0 ||
		    memcmp(again.trace_id, t.trace_id, 16) != 0 || memcmp(parent2, parent, 8) != 0 ||
		    again.flags != t.flags)
			abort();
	}
	trace_begin(&begun, s, size, bparent);
	if (!(begun.state & MSG_TRACE_SET) || zero(begun.span_id, 8) || zero(begun.trace_id, 16))
		abort();
	if (ok != ((begun.state & MSG_TRACE_REMOTE) != 0) ||
	    (ok && (memcmp(begun.trace_id, t.trace_id, 16) != 0 || memcmp(bparent, parent, 8) != 0)))
		abort();

	if (trace_state_valid(s, size)) {
		if (size > TRACE_STATE_MAX)
			abort();
		size_t cut = size;

		while (cut > 0 && s[cut - 1] != ',')
			cut--;
		if (cut > 0 && !trace_state_valid(s, cut - 1))
			abort();
	}
	return 0;
}
