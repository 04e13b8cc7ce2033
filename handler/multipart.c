/*
 * multipart.c - multipart/form-data over a body in memory (multipart.h).
 *
 * DESIGN
 * The body is: a preamble, then "--B" (B the boundary), then for each
 * part "\r\n", a header block ended by "\r\n\r\n", the data, and
 * "\r\n--B"; after the last part "--" and an epilogue. memmem finds each
 * delimiter, so a part costs one scan of its bytes. A part's headers are
 * read for Content-Disposition (form-data; name; filename) and
 * Content-Type; others are ignored.
 *
 * Thread: any.
 */
#include <string.h>
#include <strings.h>

#include "multipart.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static int fail(const char **why, int status, const char *reason)
{
	*why = reason;
	return status;
}

/* The value of parameter `key` in "; k=v; k2="v2"" style text; whether
 * it was a quoted-string in *quoted (its escapes are still in the span). */
static bool param(const char *s, size_t len, const char *key, struct wp_span *out,
		  bool *quoted)
{
	size_t klen = strlen(key), i = 0;

	while (i < len) {
		size_t start, eq, vstart, vend;
		bool is_quoted = false;

		while (i < len && (s[i] == ';' || is_space(s[i])))
			i++;
		start = i;
		while (i < len && s[i] != '=' && s[i] != ';')
			i++;
		if (i >= len || s[i] != '=')
			continue;
		eq = i++;
		if (i < len && s[i] == '"') {
			is_quoted = true;
			vstart = ++i;
			while (i < len && s[i] != '"') {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				i++;
			}
			if (i >= len)
				return false;   /* unterminated quote */
			vend = i++;
		} else {
			vstart = i;
			while (i < len && s[i] != ';')
				i++;
			vend = i;
			while (vend > vstart && is_space(s[vend - 1]))
				vend--;
		}
		if (eq - start == klen && strncasecmp(s + start, key, klen) == 0) {
			*out = (struct wp_span){ s + vstart, vend - vstart };
			*quoted = is_quoted;
			return true;
		}
	}
	return false;
}

bool mp_boundary(const char *ctype, size_t len, struct wp_span *boundary)
{
	static const char type[] = "multipart/form-data";
	size_t tl = sizeof(type) - 1;
	bool quoted;   /* a boundary has no backslash (RFC 2046): nothing to undo */

	if (ctype == NULL || len < tl || strncasecmp(ctype, type, tl) != 0 ||
	    (len > tl && ctype[tl] != ';' && !is_space(ctype[tl])))
		return false;
	if (!param(ctype + tl, len - tl, "boundary", boundary, &quoted))
		return false;
	if (boundary->len == 0 || boundary->len > MP_BOUNDARY_MAX)
		return false;
	for (size_t i = 0; i < boundary->len; i++)
		if ((unsigned char)boundary->p[i] < 0x20 || boundary->p[i] == 0x7f)
			return false;
	return true;
}

/* Read one part's header block [h, h + len): Content-Disposition and
 * Content-Type. Returns 0 or 400. */
static int read_headers(const char *h, size_t len, struct mp_part *part, const char **why)
{
	bool disposition = false;
	size_t i = 0;

	/* Names, file names and types become C strings: a NUL would cut
	 * "a.php\0.jpg" to "a.php" without a word (RFC 9110 5.5 forbids it
	 * in a field value anyway). */
	if (memchr(h, '\0', len) != NULL)
		return fail(why, 400, "a NUL byte in a part's headers");
	while (i < len) {
		const char *line = h + i, *eol = memmem(line, len - i, "\r\n", 2);
		size_t n = eol != NULL ? (size_t)(eol - line) : len - i;
		const char *colon = memchr(line, ':', n);
		const char *v;
		size_t vlen;

		i += n + 2;
		if (colon == NULL)
			return fail(why, 400, "a part header without ':'");
		v = colon + 1;
		vlen = (size_t)(line + n - v);
		while (vlen > 0 && is_space(*v)) {
			v++;
			vlen--;
		}
		if ((size_t)(colon - line) == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
			if (vlen < 9 || strncasecmp(v, "form-data", 9) != 0 ||
			    (vlen > 9 && v[9] != ';' && !is_space(v[9])))
				return fail(why, 400, "a part that is not form-data");
			if (!param(v + 9, vlen - 9, "name", &part->name, &part->name_quoted) ||
			    part->name.len == 0)
				return fail(why, 400, "a part without a name");
			/* filename="" is a file input left empty: browsers still
			 * send its part, without bytes. As in Tornado it is a
			 * field, so hreq_upload finds no file. */
			part->is_file = param(v + 9, vlen - 9, "filename", &part->filename,
					      &part->filename_quoted) && part->filename.len > 0;
			disposition = true;
		} else if ((size_t)(colon - line) == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
			part->content_type = (struct wp_span){ v, vlen };
		}
	}
	return disposition ? 0 : fail(why, 400, "a part without Content-Disposition");
}

int mp_parse(const char *body, size_t len, struct wp_span boundary,
	     const struct mp_limits *lim, mp_part_fn fn, void *ctx, const char **why)
{
	char delim[MP_BOUNDARY_MAX + 4];
	size_t dlen = boundary.len + 2, pos;
	const char *end = body + len, *p;
	uint32_t nparts = 0;

	if (boundary.len == 0 || boundary.len > MP_BOUNDARY_MAX)
		return fail(why, 400, "no valid boundary");
	/* "\r\n--B": the first delimiter may also start the body. */
	memcpy(delim, "\r\n--", 4);
	memcpy(delim + 4, boundary.p, boundary.len);
	if (len >= dlen && memcmp(body, delim + 2, dlen) == 0) {
		p = body + dlen;
	} else {
		p = memmem(body, len, delim, dlen + 2);
		if (p == NULL)
			return fail(why, 400, "no boundary in the body");
		p += dlen + 2;
	}
	for (;;) {
		struct mp_part part;
		const char *hend, *dend;
		int rc;

		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return 0;   /* the close delimiter: the epilogue is ignored */
		while (p < end && is_space(*p))
			p++;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return fail(why, 400, "a delimiter not followed by CRLF");
		p += 2;
		if (++nparts > lim->max_parts)
			return fail(why, 413, "too many parts");
		memset(&part, 0, sizeof(part));
		pos = (size_t)(end - p);
		if (pos >= 2 && p[0] == '\r' && p[1] == '\n') {
			hend = p;   /* no header at all */
		} else {
			size_t look = pos < MP_HEADER_MAX + 4 ? pos : MP_HEADER_MAX + 4;

			hend = memmem(p, look, "\r\n\r\n", 4);
			if (hend == NULL)
				return look == pos ? fail(why, 400, "a part's headers do not end")
						   : fail(why, 413, "a part's headers are too large");
			rc = read_headers(p, (size_t)(hend - p), &part, why);
			if (rc != 0)
				return rc;
			hend += 2;
		}
		if (part.name.len == 0)
			return fail(why, 400, "a part without Content-Disposition");
		p = hend + 2;
		dend = memmem(p, (size_t)(end - p), delim, dlen + 2);
		if (dend == NULL)
			return fail(why, 400, "a part does not end (truncated body?)");
		part.data = (struct wp_span){ p, (size_t)(dend - p) };
		if (part.is_file ? part.data.len > lim->max_file_bytes
				 : part.data.len > lim->max_field_bytes)
			return fail(why, 413, part.is_file ? "a file is too large"
							   : "a field is too large");
		/* A field's value is read as a C string (hreq_form): as for
		 * %00 in a urlencoded form, refuse what would be cut. A file's
		 * bytes are a pointer and a length, NULs included. */
		if (!part.is_file && memchr(part.data.p, '\0', part.data.len) != NULL)
			return fail(why, 400, "a NUL byte in a field (it would cut it)");
		rc = fn(ctx, &part);
		if (rc != 0) {
			*why = "refused by the route";
			return rc;
		}
		p = dend + dlen + 2;
	}
}

size_t mp_unescape(struct wp_span quoted, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < quoted.len; i++) {
		if (quoted.p[i] == '\\' && i + 1 < quoted.len &&
		    (quoted.p[i + 1] == '"' || quoted.p[i + 1] == '\\'))
			i++;
		out[o++] = quoted.p[i];
	}
	out[o] = '\0';
	return o;
}
