/*
 * cookie_sign.c - Tornado version 2 signed cookie values (cookie_sign.h).
 *
 * DESIGN
 * Signing formats the fields, base64-encodes the value (EVP_EncodeBlock)
 * and appends the hex HMAC-SHA256 of everything so far. Verification
 * walks the length-prefixed fields strictly (a length that does not
 * match its field fails), then checks the name, the age and the
 * signature against every key.
 *
 * Thread: any.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cookie_sign.h"
#include "base/hex.h"

#define SIG_HEX 64

/* HMAC-SHA256 of `data` with key [key, key + klen), as 64 hex digits. */
static int sign_hex(const char *key, size_t klen, const char *data, size_t len,
		    char out[SIG_HEX])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;
	char buf[SIG_HEX + 1];

	if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)data, len, mac,
		 &mlen) == NULL || mlen != 32)
		return -EIO;
	hex_encode(mac, 32, buf);
	memcpy(out, buf, SIG_HEX);
	return 0;
}

long cookie_sign(const char *keys, const char *name, const void *value, size_t vlen,
		 int64_t now, char *out, size_t outlen)
{
	char b64[((COOKIE_VALUE_MAX + 2) / 3) * 4 + 1];
	size_t klen = strcspn(keys, ","), nlen = strlen(name), blen;
	char ts[24];
	int n;

	if (klen == 0 || vlen > COOKIE_VALUE_MAX)
		return -EINVAL;
	blen = (size_t)EVP_EncodeBlock((unsigned char *)b64, value, (int)vlen);
	snprintf(ts, sizeof(ts), "%lld", (long long)now);
	n = snprintf(out, outlen, "2|1:0|%zu:%s|%zu:%s|%zu:%s|", strlen(ts), ts, nlen, name,
		     blen, b64);
	if (n < 0 || (size_t)n + SIG_HEX + 1 > outlen)
		return -ENOSPC;
	if (sign_hex(keys, klen, out, (size_t)n, out + n) != 0)
		return -EIO;
	out[n + SIG_HEX] = '\0';
	return n + SIG_HEX;
}

/* "<len>:<bytes>|" at *p: the field's bytes; false if malformed. */
static bool field(const char **p, const char *end, const char **f, size_t *flen)
{
	size_t n = 0;
	const char *s = *p;

	if (s >= end || *s < '0' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9') {
		n = n * 10 + (size_t)(*s - '0');
		if (n > COOKIE_VALUE_MAX * 2)
			return false;
		s++;
	}
	if (s >= end || *s != ':' || (size_t)(end - s - 1) < n + 1 || s[1 + n] != '|')
		return false;
	*f = s + 1;
	*flen = n;
	*p = s + 1 + n + 1;
	return true;
}

long cookie_verify(const char *keys, const char *name, const char *text, size_t len,
		   uint32_t max_age_s, int64_t now, char *out, size_t outlen)
{
	const char *p = text + 2, *end = text + len, *ver, *ts, *nm, *val;
	size_t verl, tsl, nml, vall, signed_len;
	unsigned char raw[COOKIE_VALUE_MAX + 3];
	char sig[SIG_HEX];
	long long t = 0;
	bool ok = false;
	int dl, pad = 0;

	if (len < 2 || text[0] != '2' || text[1] != '|' ||
	    !field(&p, end, &ver, &verl) || !field(&p, end, &ts, &tsl) ||
	    !field(&p, end, &nm, &nml) || !field(&p, end, &val, &vall))
		return -1;
	signed_len = (size_t)(p - text);
	if ((size_t)(end - p) != SIG_HEX || nml != strlen(name) || memcmp(nm, name, nml) != 0 ||
	    tsl == 0 || tsl > 18 || vall % 4 != 0 || vall / 4 * 3 > sizeof(raw))
		return -1;
	for (size_t i = 0; i < tsl; i++) {
		if (ts[i] < '0' || ts[i] > '9')
			return -1;
		t = t * 10 + (ts[i] - '0');
	}
	if (t + (long long)max_age_s < now)
		return -1;   /* too old */
	for (const char *k = keys; *k != '\0' && !ok;) {
		size_t kl = strcspn(k, ",");

		if (kl > 0 && sign_hex(k, kl, text, signed_len, sig) == 0 &&
		    CRYPTO_memcmp(sig, p, SIG_HEX) == 0)
			ok = true;
		k += kl;
		if (*k == ',')
			k++;
	}
	if (!ok)
		return -1;
	dl = EVP_DecodeBlock(raw, (const unsigned char *)val, (int)vall);
	if (dl < 0)
		return -1;
	if (vall > 0 && val[vall - 1] == '=')
		pad++;
	if (vall > 1 && val[vall - 2] == '=')
		pad++;
	dl -= pad;
	if (dl < 0 || (size_t)dl + 1 > outlen)
		return -1;
	memcpy(out, raw, (size_t)dl);
	out[dl] = '\0';
	return dl;
}
