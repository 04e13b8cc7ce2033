/*
 * trace.c - W3C Trace Context parsing, ids and the thread's current trace
 * (trace.h).
 *
 * Thread: the current trace and the id generator are per thread; the
 * rest is pure.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "trace.h"
#include "base/hex.h"

_Thread_local struct trace_tls trace_tls;

/* splitmix64, seeded from getrandom at a thread's first id. */
static _Thread_local uint64_t rng;
static _Thread_local bool seeded;

static uint64_t next_random(void)
{
	uint64_t z;

	if (!seeded) {
		if (getrandom(&rng, sizeof(rng), GRND_NONBLOCK) != (ssize_t)sizeof(rng)) {
			struct timespec ts;

			/* No entropy yet (early boot): ids stay unique enough. */
			clock_gettime(CLOCK_MONOTONIC, &ts);
			rng ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&rng;
		}
		seeded = true;
	}
	z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = next_random();

		memcpy(out + i, &v, n - i < 8 ? n - i : 8);
	}
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

void trace_new_span(uint8_t span[8])
{
	do
		fill_random(span, 8);
	while (all_zero(span, 8));
}

int trace_parse_parent(const char *v, size_t len, struct msg_trace *out, uint8_t parent[8])
{
	uint8_t version, id[16], span[8], flags;

	/* version "-" trace-id "-" parent-id "-" trace-flags */
	/* hex_decode takes lowercase only, as the spec does. */
	if (len < TRACE_PARENT_LEN || !hex_decode(v, &version, 1) || v[2] != '-' ||
	    v[35] != '-' || v[52] != '-' || !hex_decode(v + 3, id, 16) ||
	    !hex_decode(v + 36, span, 8) || !hex_decode(v + 53, &flags, 1))
		return -EINVAL;
	if (version == 0xff || (version == 0 && len != TRACE_PARENT_LEN) ||
	    (len > TRACE_PARENT_LEN && v[TRACE_PARENT_LEN] != '-'))
		return -EINVAL;
	if (all_zero(id, 16) || all_zero(span, 8))
		return -EINVAL;
	memcpy(out->trace_id, id, 16);
	/* Version 00 defines only the sampled bit; later ones are read as 00. */
	out->flags = flags & 0x01;
	out->state = MSG_TRACE_SET | MSG_TRACE_REMOTE;
	memcpy(parent, span, 8);
	return 0;
}

static bool lcalpha(char c) { return c >= 'a' && c <= 'z'; }
static bool digit(char c) { return c >= '0' && c <= '9'; }

static bool key_char(char c)
{
	return lcalpha(c) || digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

/* simple-key = lcalpha 0*255(key chars); multi-tenant-key = tenant-id "@"
 * system-id, tenant-id = (lcalpha / DIGIT) 0*240(key chars), system-id =
 * lcalpha 0*13(key chars). */
static bool key_valid(const char *k, size_t n)
{
	const char *at = memchr(k, '@', n);
	size_t t, sys;

	if (at == NULL) {
		if (n == 0 || n > 256 || !lcalpha(k[0]))
			return false;
		for (size_t i = 1; i < n; i++)
			if (!key_char(k[i]))
				return false;
		return true;
	}
	t = (size_t)(at - k);
	sys = n - t - 1;
	if (t == 0 || t > 241 || sys == 0 || sys > 14 || !(lcalpha(k[0]) || digit(k[0])) ||
	    !lcalpha(at[1]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (i != t && !key_char(k[i]))
			return false;
	return true;
}

/* value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B /
 * %x2D-3C / %x3E-7E (printable but ',' and '='). */
static bool value_valid(const char *v, size_t n)
{
	if (n == 0 || n > 256 || v[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] > 0x7e || v[i] == ',' || v[i] == '=')
			return false;
	return true;
}

#define MAX_MEMBERS 32

bool trace_state_valid(const char *v, size_t len)
{
	struct { const char *k; size_t n; } keys[MAX_MEMBERS];
	unsigned members = 0;
	size_t i = 0;

	if (len > TRACE_STATE_MAX)
		return false;
	while (i <= len) {
		size_t end = i, a, b;
		const char *eq;

		while (end < len && v[end] != ',')
			end++;
		/* OWS around a member; an empty member is allowed (and skipped). */
		a = i;
		b = end;
		while (a < b && (v[a] == ' ' || v[a] == '\t'))
			a++;
		while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
			b--;
		if (a < b) {
			eq = memchr(v + a, '=', b - a);
			if (eq == NULL || members == MAX_MEMBERS ||
			    !key_valid(v + a, (size_t)(eq - (v + a))) ||
			    !value_valid(eq + 1, (size_t)(v + b - eq - 1)))
				return false;
			keys[members].k = v + a;
			keys[members].n = (size_t)(eq - (v + a));
			for (unsigned j = 0; j < members; j++)
				if (keys[j].n == keys[members].n &&
				    memcmp(keys[j].k, keys[members].k, keys[j].n) == 0)
					return false;
			members++;
		}
		i = end + 1;
	}
	return true;
}

void trace_begin(struct msg_trace *t, const char *traceparent, size_t len, uint8_t parent[8])
{
	if (len == 0 || trace_parse_parent(traceparent, len, t, parent) != 0) {
		do
			fill_random(t->trace_id, 16);
		while (all_zero(t->trace_id, 16));
		t->flags = 0x01;
		t->state = MSG_TRACE_SET;
		memset(parent, 0, 8);
	}
	trace_new_span(t->span_id);
}

void trace_format_parent(char *out, const struct msg_trace *t, const uint8_t span[8])
{
	memcpy(out, "00-", 3);
	hex_encode(t->trace_id, 16, out + 3);
	out[35] = '-';
	hex_encode(span, 8, out + 36);
	out[52] = '-';
	hex_encode(&t->flags, 1, out + 53);
}

const struct msg_trace *trace_current(void)
{
	return trace_tls.t.state != 0 ? &trace_tls.t : NULL;
}

void trace_set_current(const struct msg_trace *t)
{
	if (t != NULL && t->state != 0)
		trace_tls.t = *t;
	else
		trace_tls.t.state = 0;
	trace_tls.state = NULL;
}

void trace_set_current_state(const char *state, size_t len)
{
	trace_tls.state = state;
	trace_tls.state_len = len;
}

const char *trace_current_state(size_t *len)
{
	if (trace_tls.t.state == 0 || trace_tls.state == NULL)
		return NULL;
	*len = trace_tls.state_len;
	return trace_tls.state;
}
