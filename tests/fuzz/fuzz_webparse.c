/*
 * fuzz_webparse.c - libFuzzer target: arbitrary bytes through the parsers
 * of what browsers send (handler/webparse.c: Cookie, urlencoded forms,
 * Range, Accept-Encoding, HTTP dates, If-None-Match) and the signed
 * cookie verifier (handler/cookie_sign.c).
 *
 * Input layout: byte 0 picks a file size for Range (0, 1, 100, 2^40) and
 * the codings offered to Accept-Encoding; the rest is the header text
 * given to every parser, and the body given to the strict JSON parse.
 *
 * Invariants checked (abort on violation): every span handed out lies
 * inside the input and iterators always advance; a satisfiable range lies
 * inside the file (first <= last < size); the coding chosen was offered;
 * a date round-trips through the formatter; a cookie that verifies was
 * signed: signing its value again verifies to the same value, and any
 * changed byte of a signed cookie fails; a refused JSON text names a
 * fault inside it, and an accepted one (its numbers finite) prints,
 * parses back and prints the same again.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handler/cookie_sign.h"
#include "handler/webparse.h"

#define KEYS "fuzz-key-0123456789abcdef,older-key-0123456789"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const char *s, size_t len, struct wp_span x)
{
	if (x.len > 0 && (x.p < s || x.p + x.len > s + len))
		abort();
}

static void iterate(const char *s, size_t len, bool cookies)
{
	struct wp_span n, v;
	size_t pos = 0, last = 0;
	unsigned count = 0;

	while (cookies ? wp_cookie_next(s, len, &pos, &n, &v) : wp_form_next(s, len, &pos, &n, &v)) {
		inside(s, len, n);
		inside(s, len, v);
		if (pos <= last && count > 0)
			abort();
		if (pos > len || ++count > len + 1)
			abort();
		last = pos;
	}
}

/* Whether every number in `j` is finite: cJSON reads 1e999 as infinity
 * and prints it as null, so only those texts round-trip exactly. */
static bool finite_numbers(const cJSON *j)
{
	if (cJSON_IsNumber(j) && !isfinite(j->valuedouble))
		return false;
	for (const cJSON *c = j->child; c != NULL; c = c->next)
		if (!finite_numbers(c))
			return false;
	return true;
}

static void check_json(const char *s, size_t len)
{
	const char *what = NULL;
	size_t at = 0;
	cJSON *j = wp_json_parse(s, len, &at, &what), *back;
	char *text;

	if (j == NULL) {
		/* cJSON's fault positions may be the end of the text. */
		if (what == NULL || at > len)
			abort();
		return;
	}
	text = finite_numbers(j) ? cJSON_PrintUnformatted(j) : NULL;
	if (text != NULL) {
		char *again;

		/* Texts compared, not trees: cJSON_Compare matches an object's
		 * members by name, and a JSON object may repeat a name. */
		back = wp_json_parse(text, strlen(text), &at, &what);
		again = back != NULL ? cJSON_PrintUnformatted(back) : NULL;
		if (back == NULL || (again != NULL && strcmp(text, again) != 0))
			abort();
		cJSON_Delete(back);
		free(again);
		free(text);
	}
	cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[] = { 0, 1, 100, 1ull << 40 };
	const char *s;
	uint64_t fsize, first = 0, last = 0;
	unsigned offered;
	enum wp_coding c;
	char out[COOKIE_VALUE_MAX * 2], again[COOKIE_VALUE_MAX * 2], date[30];
	long n;
	int64_t t;

	if (size < 1)
		return 0;
	fsize = sizes[data[0] & 3];
	offered = (data[0] >> 2) & 6;
	s = (const char *)data + 1;
	size--;
	iterate(s, size, true);
	iterate(s, size, false);
	if (wp_range_parse(s, size, fsize, &first, &last) == WP_RANGE_OK &&
	    (first > last || last >= fsize))
		abort();
	c = wp_accept_encoding(s, size, offered);
	if (c != WP_IDENTITY && !(offered & (1u << c)))
		abort();
	t = wp_http_date(s, size);
	if (t >= 0) {
		wp_format_http_date(t, date);
		if (wp_http_date(date, 29) != t)
			abort();
	}
	(void)wp_etag_match(s, size, "\"abc-123\"");
	check_json(s, size);
	n = cookie_verify(KEYS, "sid", s, size, 86400u * 365u * 100u, 1700000000, out, sizeof(out));
	if (n >= 0) {
		long m = cookie_sign(KEYS, "sid", out, (size_t)n, 1700000000, again, sizeof(again));

		if (m < 0 || cookie_verify(KEYS, "sid", again, (size_t)m, 60, 1700000000, out,
					   sizeof(out)) != n)
			abort();
	}
	/* Sign the input itself and flip one byte: the copy must fail. */
	if (size <= COOKIE_VALUE_MAX) {
		long m = cookie_sign(KEYS, "k", s, size, 1700000000, again, sizeof(again));

		if (m < 0 || cookie_verify(KEYS, "k", again, (size_t)m, 60, 1700000000, out,
					   sizeof(out)) != (long)size || memcmp(out, s, size) != 0)
			abort();
		again[(size * 7) % (size_t)m] ^= 0x01;
		if (cookie_verify(KEYS, "k", again, (size_t)m, 60, 1700000000, out, sizeof(out)) >= 0)
			abort();
	}
	return 0;
}
