/*
 * pbkdf2.h - PBKDF2-HMAC-SHA256 (RFC 8018, section 5.2) on OpenSSL's
 * SHA-256, for the password hashes of POST /hash and the login demo.
 *
 * Why not PKCS5_PBKDF2_HMAC: OpenSSL 3 runs each of its iterations through
 * the EVP_MAC layer (a context set up and torn down per HMAC). Here the
 * two HMAC pads are hashed once and each iteration copies those digest
 * states (EVP_MD_CTX_copy_ex), as RFC 2104 section 4 suggests: the same
 * bytes (the unit test checks against PKCS5_PBKDF2_HMAC and RFC 7914's
 * vectors) in about half the time (docs/PERFORMANCE.md, POST /hash).
 *
 * Thread: any (workers run it); no shared state.
 */
#ifndef ACTORD_APP_PBKDF2_H
#define ACTORD_APP_PBKDF2_H

#include <stddef.h>

/* `out_len` bytes of PBKDF2-HMAC-SHA256(password, salt, iterations) into
 * `out`. 0, or -1 if OpenSSL failed (out wiped). iterations >= 1. */
int pbkdf2_sha256(const void *password, size_t password_len, const void *salt,
		  size_t salt_len, unsigned iterations, unsigned char *out, size_t out_len);

#endif
