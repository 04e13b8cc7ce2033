/*
 * compress.c - gzip and brotli of a body in memory (compress.h).
 *
 * DESIGN
 * zlib's deflate with a gzip wrapper (windowBits 15 + 16) and
 * BrotliEncoderCompress in one call each: the output is sized by the
 * libraries' own bounds, so one pass always fits.
 *
 * Thread: any.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <brotli/encode.h>
#include <zlib.h>

#include "compress.h"

bool compress_type_ok(const char *ctype)
{
	static const char *const types[] = {
		"application/json", "application/javascript", "application/xml",
		"application/xhtml+xml", "application/rss+xml", "application/atom+xml",
		"application/manifest+json", "image/svg+xml", "application/wasm",
	};
	size_t n;

	if (ctype == NULL)
		return false;
	n = strcspn(ctype, "; ");
	if (n >= 5 && strncasecmp(ctype, "text/", 5) == 0)
		return true;
	if (n > 5 && (strncasecmp(ctype + n - 5, "+json", 5) == 0 ||
		      strncasecmp(ctype + n - 4, "+xml", 4) == 0))
		return true;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == n && strncasecmp(ctype, types[i], n) == 0)
			return true;
	return false;
}

const char *compress_coding_name(enum wp_coding coding)
{
	return coding == WP_GZIP ? "gzip" : coding == WP_BR ? "br" : NULL;
}

static int gzip_buf(int level, const void *in, size_t len, char **out, size_t *outlen)
{
	z_stream z;
	char *buf;
	int rc;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	buf = malloc(deflateBound(&z, (uLong)len));
	if (buf == NULL) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)buf;
	z.avail_out = (uInt)deflateBound(&z, (uLong)len);
	rc = deflate(&z, Z_FINISH);
	*outlen = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	return 0;
}

static int brotli_buf(int quality, const void *in, size_t len, char **out, size_t *outlen)
{
	size_t cap = BrotliEncoderMaxCompressedSize(len);
	char *buf;

	if (cap == 0)
		cap = len + 1024;   /* the bound overflowed: a body this large is never sent */
	buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	*outlen = cap;
	if (!BrotliEncoderCompress(quality, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, len,
				   in, outlen, (uint8_t *)buf)) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	return 0;
}

int compress_buf(enum wp_coding coding, int level, const void *in, size_t len,
		 char **out, size_t *outlen)
{
	if ((uint64_t)len > UINT32_MAX)
		return -EFBIG;
	if (coding == WP_GZIP)
		return gzip_buf(level, in, len, out, outlen);
	if (coding == WP_BR)
		return brotli_buf(level, in, len, out, outlen);
	return -EINVAL;
}
