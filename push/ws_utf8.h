/*
 * ws_utf8.h - incremental UTF-8 validation (RFC 3629), as RFC 6455 asks of
 * text messages: a message may be cut anywhere (fragments, reads), so the
 * validator keeps its state between calls.
 *
 * DESIGN
 * A state is the number of continuation bytes still expected and the
 * range the next one must fall in (which rules out overlong forms,
 * surrogates and code points past U+10FFFF right at the second byte).
 * Invalid input is rejected at the first byte that makes it so, as
 * RFC 6455 section 8.1 wants ("fail fast").
 *
 * Thread: any; a state belongs to its caller.
 */
#ifndef ACTORD_WS_UTF8_H
#define ACTORD_WS_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ws_utf8 {
	uint8_t need;   /* continuation bytes still expected */
	uint8_t lo, hi; /* range of the next one */
};

static inline void ws_utf8_init(struct ws_utf8 *s)
{
	s->need = 0;
	s->lo = 0x80;
	s->hi = 0xbf;
}

/* Feed `len` bytes: false at the first invalid one. */
bool ws_utf8_feed(struct ws_utf8 *s, const uint8_t *p, size_t len);

/* Whether the text fed so far ends on a character boundary. */
static inline bool ws_utf8_complete(const struct ws_utf8 *s)
{
	return s->need == 0;
}

/* A whole string. */
bool ws_utf8_valid(const void *p, size_t len);

/* The longest prefix of valid UTF-8 `p` (`len` bytes) that is at most `max`
 * bytes and ends on a character boundary: where to cut a text to a bound. */
size_t ws_utf8_cut(const void *p, size_t len, size_t max);

#endif
