/*
 * html.h - escaping text for HTML (element text and quoted attribute
 * values): & < > " ' become entities, every other byte (UTF-8 included)
 * stays as it is. One table for every writer (hreq_write_html,
 * hreq_escape_html).
 *
 * Thread: any.
 */
#ifndef ACTORD_BASE_HTML_H
#define ACTORD_BASE_HTML_H

#include <stddef.h>
#include <string.h>

/* The entity for `c`, with its length in *len; NULL if `c` stays. */
static inline const char *html_entity(char c, size_t *len)
{
	switch (c) {
	case '&': *len = 5; return "&amp;";
	case '<': *len = 4; return "&lt;";
	case '>': *len = 4; return "&gt;";
	case '"': *len = 6; return "&quot;";
	case '\'': *len = 5; return "&#39;";
	default: return NULL;
	}
}

/* Bytes `len` bytes of `s` take once escaped. */
static inline size_t html_escaped_len(const char *s, size_t len)
{
	size_t n = 0, e;

	for (size_t i = 0; i < len; i++)
		n += html_entity(s[i], &e) != NULL ? e : 1;
	return n;
}

/* Escape `len` bytes of `s` into `out` (html_escaped_len + 1 bytes),
 * NUL-terminated. Returns the escaped length. */
static inline size_t html_escape(char *out, const char *s, size_t len)
{
	size_t n = 0, e;

	for (size_t i = 0; i < len; i++) {
		const char *ent = html_entity(s[i], &e);

		if (ent != NULL) {
			memcpy(out + n, ent, e);
			n += e;
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	return n;
}

#endif
