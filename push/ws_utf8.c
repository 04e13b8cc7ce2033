/*
 * ws_utf8.c - incremental UTF-8 validation (see ws_utf8.h).
 *
 * Thread: any.
 */
#include "ws_utf8.h"

bool ws_utf8_feed(struct ws_utf8 *s, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t b = p[i];

		if (s->need > 0) {
			if (b < s->lo || b > s->hi)
				return false;
			s->need--;
			s->lo = 0x80;
			s->hi = 0xbf;
			continue;
		}
		if (b < 0x80)
			continue;
		/* Lead bytes: C2..DF two bytes; E0..EF three (E0 no overlong,
		 * ED no surrogates); F0..F4 four (F0 no overlong, F4 not past
		 * U+10FFFF). 80..C1 and F5..FF never start a character. */
		if (b >= 0xc2 && b <= 0xdf) {
			s->need = 1;
		} else if (b >= 0xe0 && b <= 0xef) {
			s->need = 2;
			if (b == 0xe0)
				s->lo = 0xa0;
			else if (b == 0xed)
				s->hi = 0x9f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			s->need = 3;
			if (b == 0xf0)
				s->lo = 0x90;
			else if (b == 0xf4)
				s->hi = 0x8f;
		} else {
			return false;
		}
	}
	return true;
}

bool ws_utf8_valid(const void *p, size_t len)
{
	struct ws_utf8 s;

	ws_utf8_init(&s);
	return ws_utf8_feed(&s, p, len) && ws_utf8_complete(&s);
}

size_t ws_utf8_cut(const void *p, size_t len, size_t max)
{
	const uint8_t *b = p;

	if (len <= max)
		return len;
	/* b[max] starts the first character left out, unless it continues
	 * the one before: then that one is left out too. */
	while (max > 0 && (b[max] & 0xc0) == 0x80)
		max--;
	return max;
}
