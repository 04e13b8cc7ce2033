/*
 * compress.h - gzip (zlib) and brotli (libbrotlienc) for response bodies.
 *
 * DESIGN
 * One-shot compression of a body held in memory: the handler compresses
 * dynamic responses as it finishes them (hcompress.c), the file actors
 * compress a cached static file once (file_actor.c). Which content types
 * are worth it is decided here once: text, JSON, JavaScript, XML, SVG;
 * never images, archives or anything already compressed.
 *
 * Thread: any (no shared state).
 */
#ifndef ACTORD_COMPRESS_H
#define ACTORD_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "webparse.h"

/* Whether a body of this Content-Type value is worth compressing. */
bool compress_type_ok(const char *ctype);

/* Compress `len` bytes of `in` with `coding` (WP_GZIP: zlib level 1..9,
 * WP_BR: brotli quality 0..11) into a new malloc'd buffer. 0 with *out
 * and *outlen, -ENOMEM, or -EIO if the library fails. */
int compress_buf(enum wp_coding coding, int level, const void *in, size_t len,
		 char **out, size_t *outlen);

/* "gzip" / "br" (NULL for identity). */
const char *compress_coding_name(enum wp_coding coding);

#endif
