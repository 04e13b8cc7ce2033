/*
 * cookie_sign.h - Tornado-compatible signed cookie values (version 2):
 *
 *     2|1:0|10:<unix time>|<n>:<name>|<n>:<base64 value>|<hex HMAC-SHA256>
 *
 * the signature covering everything before it, with the trailing '|'.
 *
 * DESIGN
 * Keys come as cookies.secret_keys: comma-separated, newest first. The
 * newest signs; verification tries every key, each compared in constant
 * time (CRYPTO_memcmp), so rotating keys logs nobody out. Pure functions
 * (no request, no clock read): the unit tests and the fuzz target call
 * them directly.
 *
 * Thread: any.
 */
#ifndef ACTORD_COOKIE_SIGN_H
#define ACTORD_COOKIE_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define COOKIE_VALUE_MAX 4096     /* the value before signing */

/* Sign `value` (`vlen` bytes) for cookie `name` at time `now` with the
 * first key of `keys`. Writes a NUL-terminated cookie value into `out`.
 * Returns its length, -ENOSPC if `outlen` is short, -EINVAL (no key,
 * value too long) or -EIO (OpenSSL failed). */
long cookie_sign(const char *keys, const char *name, const void *value, size_t vlen,
		 int64_t now, char *out, size_t outlen);

/* Verify `len` bytes of signed cookie text for `name`: any key of `keys`,
 * signed within `max_age_s` of `now`. Writes the value (NUL-terminated)
 * into `out`; returns its length, or -1 if it does not verify. */
long cookie_verify(const char *keys, const char *name, const char *text, size_t len,
		   uint32_t max_age_s, int64_t now, char *out, size_t outlen);

#endif
