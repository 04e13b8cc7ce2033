/*
 * multipart.h - a multipart/form-data parser (RFC 7578) over a body held
 * in memory.
 *
 * DESIGN
 * The network actor receives a request body whole, bounded by
 * http.max_body_bytes, into the request's own buffer; this parser walks
 * that buffer once and hands out each part as spans of it (zero copy:
 * an uploaded file is a pointer and a length into the request). Limits
 * are checked as parts are found: part count, a field's size, a file's
 * size, a part's header block; the first limit crossed or the first
 * malformed byte stops the parse with a status the route answers (413 or
 * 400) and a reason. Written by hand: Debian packages no multipart parser
 * for C; the libFuzzer target tests/fuzz/fuzz_multipart.c runs it.
 *
 * Thread: any (no state beyond the call).
 */
#ifndef ACTORD_MULTIPART_H
#define ACTORD_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "webparse.h"

#define MP_BOUNDARY_MAX 70        /* RFC 2046 */
#define MP_HEADER_MAX 8192        /* one part's header block */

struct mp_part {
	struct wp_span name;          /* the field name (Content-Disposition) */
	struct wp_span filename;      /* a file part's file name */
	bool name_quoted;             /* a quoted-string: mp_unescape it */
	bool filename_quoted;
	bool is_file;                 /* a non-empty filename parameter was present */
	struct wp_span content_type;  /* empty if none was sent */
	struct wp_span data;
};

struct mp_limits {
	uint32_t max_parts;
	uint32_t max_field_bytes;     /* parts without a filename */
	uint64_t max_file_bytes;      /* parts with one */
};

/* Called for each part, in order; a non-zero return stops the parse and
 * is returned by mp_parse. */
typedef int (*mp_part_fn)(void *ctx, const struct mp_part *part);

/* The boundary parameter of a Content-Type header value
 * ("multipart/form-data; boundary=xyz"): false if the type is not
 * multipart/form-data or the boundary is missing or invalid. */
bool mp_boundary(const char *ctype, size_t len, struct wp_span *boundary);

/* A quoted-string's content (name="q\"x" gives the span q\"x) into
 * `out` (quoted.len + 1 bytes at least), NUL-terminated, with \" and \\
 * undone; any other backslash stays, as Tornado does, because
 * browsers do not escape it (a Windows path in a filename keeps its
 * backslashes). Returns the length written. */
size_t mp_unescape(struct wp_span quoted, char *out);

/* Parse `body`. Returns 0, or an HTTP status with `*why` set: 400
 * (malformed; also a NUL byte in a part's headers or in the value of a
 * part without a filename, which callers read as C strings), 413 (a
 * limit), or what `fn` returned. */
int mp_parse(const char *body, size_t len, struct wp_span boundary,
	     const struct mp_limits *lim, mp_part_fn fn, void *ctx, const char **why);

#endif
