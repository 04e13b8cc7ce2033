/*
 * fuzz_multipart.c - libFuzzer target: arbitrary bytes through the
 * multipart/form-data parser (handler/multipart.c) and the Content-Type
 * boundary reader.
 *
 * Input layout: byte 0 is the boundary length (1..70, taken from the
 * bytes that follow it), byte 1 picks the limits (bit 0: 2 parts, bit 1:
 * 16-byte fields, bit 2: 32-byte files), the rest is the body. The first
 * 200 body bytes are also tried as a Content-Type value.
 *
 * Invariants checked (abort on violation): every part handed out lies
 * inside the body (name, filename, content type, data), respects the
 * limits and has a name; no NUL byte in a name, filename, content type
 * or the value of a part without a filename (they become C strings);
 * unescaping a quoted name or filename never
 * lengthens it; the part count respects max_parts; a status is
 * 0, 400 or 413 with a reason; parsing is deterministic; a boundary read
 * from a Content-Type lies inside it and is 1..70 bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handler/multipart.h"

struct ctx {
	const char *body;
	size_t len;
	const struct mp_limits *lim;
	unsigned parts;
	uint64_t sum;
};

static void inside(const struct ctx *c, struct wp_span s)
{
	if (s.len > 0 && (s.p < c->body || s.p + s.len > c->body + c->len))
		abort();
}

/* Undoing a quoted-string's escapes never lengthens it nor empties it
 * (an escape pair becomes one byte). */
static void unescaped(struct wp_span s)
{
	char *out = malloc(s.len + 1);
	size_t n;

	if (out == NULL)
		return;
	n = mp_unescape(s, out);
	if (n > s.len || out[n] != '\0' || (s.len > 0 && n == 0))
		abort();
	free(out);
}

static void no_nul(struct wp_span s)
{
	if (s.len > 0 && memchr(s.p, '\0', s.len) != NULL)
		abort();
}

static int on_part(void *arg, const struct mp_part *p)
{
	struct ctx *c = arg;

	inside(c, p->name);
	inside(c, p->filename);
	inside(c, p->content_type);
	inside(c, p->data);
	if (p->name.len == 0 || ++c->parts > c->lim->max_parts)
		abort();
	no_nul(p->name);
	no_nul(p->filename);
	no_nul(p->content_type);
	if (!p->is_file)
		no_nul(p->data);
	if (p->name_quoted)
		unescaped(p->name);
	if (p->filename_quoted)
		unescaped(p->filename);
	if (p->is_file ? p->data.len > c->lim->max_file_bytes
		       : p->data.len > c->lim->max_field_bytes)
		abort();
	c->sum = c->sum * 31 + p->data.len + p->name.len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wp_span b, ct;
	struct mp_limits lim;
	struct ctx c1, c2;
	const char *why = NULL, *why2 = NULL;
	size_t blen;
	int rc, rc2;

	if (size < 3)
		return 0;
	blen = data[0] % MP_BOUNDARY_MAX + 1;
	lim.max_parts = (data[1] & 1) ? 2 : 64;
	lim.max_field_bytes = (data[1] & 2) ? 16 : 1 << 20;
	lim.max_file_bytes = (data[1] & 4) ? 32 : 1 << 20;
	data += 2;
	size -= 2;
	if (blen > size)
		blen = size;
	b = (struct wp_span){ (const char *)data, blen };
	c1 = (struct ctx){ (const char *)data, size, &lim, 0, 0 };
	rc = mp_parse((const char *)data, size, b, &lim, on_part, &c1, &why);
	if (rc != 0 && (why == NULL || (rc != 400 && rc != 413)))
		abort();
	c2 = (struct ctx){ (const char *)data, size, &lim, 0, 0 };
	rc2 = mp_parse((const char *)data, size, b, &lim, on_part, &c2, &why2);
	if (rc2 != rc || c2.parts != c1.parts || c2.sum != c1.sum)
		abort();
	if (mp_boundary((const char *)data, size < 200 ? size : 200, &ct)) {
		if (ct.len == 0 || ct.len > MP_BOUNDARY_MAX || ct.p < (const char *)data ||
		    ct.p + ct.len > (const char *)data + size)
			abort();
	}
	return 0;
}
