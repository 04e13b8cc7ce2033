/*
 * test_pbkdf2.c - app/pbkdf2.c gives PBKDF2-HMAC-SHA256's bytes: RFC
 * 7914's vectors, and the same output as OpenSSL's PKCS5_PBKDF2_HMAC for
 * keys shorter and longer than a SHA-256 block, empty inputs and output
 * lengths that end inside a block.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "app/pbkdf2.h"
#include "base/hex.h"

static void rfc7914_vectors(void **state)
{
	unsigned char out[64];
	char hex[129];

	(void)state;
	assert_int_equal(pbkdf2_sha256("passwd", 6, "salt", 4, 1, out, sizeof(out)), 0);
	hex_encode(out, sizeof(out), hex);
	assert_string_equal(hex, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
				 "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
	assert_int_equal(pbkdf2_sha256("Password", 8, "NaCl", 4, 80000, out, sizeof(out)), 0);
	hex_encode(out, sizeof(out), hex);
	assert_string_equal(hex, "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
				 "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}

static void same_as_openssl(void **state)
{
	static const size_t pw_lens[] = { 0, 1, 63, 64, 65, 200 };
	static const size_t salt_lens[] = { 0, 16, 100 };
	static const unsigned iters[] = { 1, 2, 1000 };
	static const size_t out_lens[] = { 1, 31, 32, 33, 70 };
	unsigned char pw[200], salt[100], ours[70], theirs[70];

	(void)state;
	for (size_t i = 0; i < sizeof(pw); i++)
		pw[i] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (unsigned char)(i * 13 + 1);
	for (size_t a = 0; a < sizeof(pw_lens) / sizeof(*pw_lens); a++)
		for (size_t b = 0; b < sizeof(salt_lens) / sizeof(*salt_lens); b++)
			for (size_t c = 0; c < sizeof(iters) / sizeof(*iters); c++)
				for (size_t d = 0; d < sizeof(out_lens) / sizeof(*out_lens); d++) {
					size_t n = out_lens[d];

					memset(ours, 0xaa, sizeof(ours));
					assert_int_equal(pbkdf2_sha256(pw, pw_lens[a], salt, salt_lens[b],
								       iters[c], ours, n), 0);
					assert_int_equal(PKCS5_PBKDF2_HMAC((const char *)pw, (int)pw_lens[a],
									   salt, (int)salt_lens[b],
									   (int)iters[c], EVP_sha256(),
									   (int)n, theirs), 1);
					assert_memory_equal(ours, theirs, n);
					assert_int_equal(ours[n < sizeof(ours) ? n : 0], n < sizeof(ours) ? 0xaa : ours[0]);
				}
}

static void zero_iterations_refused(void **state)
{
	unsigned char out[32];

	(void)state;
	assert_int_equal(pbkdf2_sha256("pw", 2, "salt", 4, 0, out, sizeof(out)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc7914_vectors),
		cmocka_unit_test(same_as_openssl),
		cmocka_unit_test(zero_iterations_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
