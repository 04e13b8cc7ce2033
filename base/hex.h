/*
 * hex.h - lower-case hex encoding of bytes and its strict decoding, for
 * tokens, ids, salts and signatures. One copy for every module.
 *
 * Thread: any.
 */
#ifndef ACTORD_BASE_HEX_H
#define ACTORD_BASE_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* `n` bytes of `in` as 2n lower-case hex digits into `out`, then a NUL
 * (2n + 1 bytes). */
static inline void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* 2n lower-case hex digits of `s` into `n` bytes; false on anything else. */
static inline bool hex_decode(const char *s, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int v = 0;

		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else
				return false;
		}
		out[i] = (unsigned char)v;
	}
	return true;
}

#endif
