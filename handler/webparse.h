/*
 * webparse.h - parsers for what browsers send: Cookie headers,
 * application/x-www-form-urlencoded pairs, JSON bodies, Range,
 * Accept-Encoding and HTTP dates.
 *
 * DESIGN
 * Pure functions over (pointer, length) input: no allocation, no
 * request context, nothing shared, so the unit tests and the libFuzzer
 * target (tests/fuzz/fuzz_webparse.c) drive exactly the code the routes
 * use. Iterators hand out pieces of the input; decoding, where there is
 * any, goes into a buffer the caller gives.
 *
 * Thread: any (no state beyond the caller's).
 */
#ifndef ACTORD_WEBPARSE_H
#define ACTORD_WEBPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

/* A piece of the input. */
struct wp_span {
	const char *p;
	size_t len;
};

/* Cookie header ("a=1; b=2"): the next name=value pair after *pos, with
 * surrounding spaces and a value's double quotes removed. Pairs without
 * '=' are skipped. False when there are no more. */
bool wp_cookie_next(const char *hdr, size_t len, size_t *pos,
		    struct wp_span *name, struct wp_span *value);

/* Form body or query string ("a=1&b=x+y"): the next raw pair after
 * *pos (not decoded: decode with route_decode(..., plus_space = 1)).
 * A pair without '=' has an empty value. Empty pairs are skipped. */
bool wp_form_next(const char *s, size_t len, size_t *pos,
		  struct wp_span *name, struct wp_span *value);

/* A JSON text (RFC 8259) of `len` bytes, strictly: one value and
 * nothing after it but whitespace, no raw control character, no \u0000.
 * cJSON alone stops after the first value, takes any byte below '!' for
 * whitespace and decodes \u0000 into a NUL that silently ends the
 * string, so every route reading a JSON body goes through this. The
 * value (free it with cJSON_Delete), or NULL with the byte offset of the
 * fault in *err_at and what is wrong in *what ("malformed JSON...",
 * static text). A NULL also when cJSON ran out of memory (it does not
 * tell). */
cJSON *wp_json_parse(const char *s, size_t len, size_t *err_at, const char **what);

/* Range against a representation of `size` bytes. */
enum wp_range {
	WP_RANGE_NONE,        /* absent, not "bytes=", malformed or several
			       * ranges: send the whole representation (200) */
	WP_RANGE_OK,          /* one satisfiable range: [*first, *last] (206) */
	WP_RANGE_UNSATISFIABLE, /* one range past the end (416) */
};
enum wp_range wp_range_parse(const char *hdr, size_t len, uint64_t size,
			     uint64_t *first, uint64_t *last);

/* Content codings actord produces. */
enum wp_coding { WP_IDENTITY = 0, WP_GZIP = 1, WP_BR = 2 };

/* The coding to send for Accept-Encoding `hdr` (NULL: none sent), among
 * those in `offered` (bit 1 << WP_GZIP, 1 << WP_BR): the highest q-value,
 * br before gzip on a tie; "*" stands for any coding not named; q=0
 * refuses. WP_IDENTITY when nothing offered is acceptable. */
enum wp_coding wp_accept_encoding(const char *hdr, size_t len, unsigned offered);

/* An HTTP date (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT"; the two
 * obsolete forms too) -> seconds since the epoch; -1 if malformed. */
int64_t wp_http_date(const char *s, size_t len);

/* Format `t` as an IMF-fixdate into `out` (at least 30 bytes). */
void wp_format_http_date(int64_t t, char out[30]);

/* Whether an If-None-Match list ("\"a\", W/\"b\"" or "*") names `etag`
 * (a quoted strong tag) with the weak comparison: W/ is ignored. */
bool wp_etag_match(const char *list, size_t len, const char *etag);

#endif
