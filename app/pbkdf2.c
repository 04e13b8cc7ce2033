/*
 * pbkdf2.c - see pbkdf2.h.
 */
#include "pbkdf2.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

enum { BLOCK = 64, DIGEST = 32 };

/* HMAC(key, msg) from the digest states after the inner and outer pads. */
static int hmac_from(EVP_MD_CTX *c, const EVP_MD_CTX *inner, const EVP_MD_CTX *outer,
		     const unsigned char *m1, size_t l1, const unsigned char *m2, size_t l2,
		     unsigned char mac[DIGEST])
{
	return EVP_MD_CTX_copy_ex(c, inner) && EVP_DigestUpdate(c, m1, l1) &&
	       (l2 == 0 || EVP_DigestUpdate(c, m2, l2)) && EVP_DigestFinal_ex(c, mac, NULL) &&
	       EVP_MD_CTX_copy_ex(c, outer) && EVP_DigestUpdate(c, mac, DIGEST) &&
	       EVP_DigestFinal_ex(c, mac, NULL);
}

static int pad_state(EVP_MD_CTX *c, const unsigned char key[BLOCK], unsigned char with)
{
	unsigned char pad[BLOCK];
	int ok;

	for (int i = 0; i < BLOCK; i++)
		pad[i] = key[i] ^ with;
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, pad, BLOCK);
	OPENSSL_cleanse(pad, sizeof(pad));
	return ok;
}

int pbkdf2_sha256(const void *password, size_t password_len, const void *salt,
		  size_t salt_len, unsigned iterations, unsigned char *out, size_t out_len)
{
	EVP_MD_CTX *inner = EVP_MD_CTX_new(), *outer = EVP_MD_CTX_new(), *c = EVP_MD_CTX_new();
	unsigned char key[BLOCK] = { 0 }, u[DIGEST], t[DIGEST];
	int ok = inner && outer && c && iterations >= 1;

	/* RFC 2104: a key longer than the block is hashed first. */
	if (ok && password_len > BLOCK)
		ok = EVP_Digest(password, password_len, key, NULL, EVP_sha256(), NULL);
	else if (ok)
		memcpy(key, password, password_len);
	ok = ok && pad_state(inner, key, 0x36) && pad_state(outer, key, 0x5c);
	for (size_t done = 0, block = 1; ok && done < out_len; done += DIGEST, block++) {
		unsigned char be[4] = { (unsigned char)(block >> 24), (unsigned char)(block >> 16),
					(unsigned char)(block >> 8), (unsigned char)block };
		size_t n = out_len - done < DIGEST ? out_len - done : DIGEST;

		ok = hmac_from(c, inner, outer, salt, salt_len, be, sizeof(be), u);
		memcpy(t, u, DIGEST);
		for (unsigned i = 1; ok && i < iterations; i++) {
			ok = hmac_from(c, inner, outer, u, DIGEST, NULL, 0, u);
			for (int j = 0; j < DIGEST; j++)
				t[j] ^= u[j];
		}
		memcpy(out + done, t, n);
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(u, sizeof(u));
	OPENSSL_cleanse(t, sizeof(t));
	EVP_MD_CTX_free(inner);
	EVP_MD_CTX_free(outer);
	EVP_MD_CTX_free(c);
	if (!ok)
		OPENSSL_cleanse(out, out_len);
	return ok ? 0 : -1;
}
