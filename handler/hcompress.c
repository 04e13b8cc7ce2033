/*
 * hcompress.c - compression of dynamic responses as the handler finishes
 * them (hreq.c's finish calls hcompress_response).
 *
 * DESIGN
 * A body is compressed when compress.enabled, the route allows it (no
 * ROUTE_NO_COMPRESS, no hreq_no_compress), the status is a 2xx with a
 * whole body, it is at least compress.min_bytes, its type is worth it
 * (compress_type_ok), the route set no Content-Encoding itself, and the
 * client's Accept-Encoding takes br or gzip (br first on a tie). Such a
 * response always says `Vary: Accept-Encoding`, compressed or not, so
 * caches keep the variants apart. The compressed bytes replace the body
 * in the envelope's buffer only when smaller.
 *
 * It runs on the handler actor: compression is CPU work the handlers
 * share, like rendering; the network actors never compress.
 *
 * Thread: the handler actor owning the request.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compress.h"
#include "handler_internal.h"
#include "config/config.h"

/* Whether the route already added a Content-Encoding header. */
static bool has_encoding(const struct hreq *r)
{
	static const char name[] = "Content-Encoding:";
	const char *p = r->headers, *end = r->headers + r->headers_len;

	while (p != NULL && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if ((size_t)(end - p) >= sizeof(name) - 1 &&
		    strncasecmp(p, name, sizeof(name) - 1) == 0)
			return true;
		p = eol != NULL ? eol + 1 : end;
	}
	return false;
}

void hcompress_response(struct hreq *r, unsigned status, const char *ctype)
{
	const struct config_compress *cc = &r->cfg->compress;
	const char *ae, *name;
	enum wp_coding coding;
	char *out = NULL;
	size_t outlen = 0;

	if (!cc->enabled || (r->match.flags & ROUTE_NO_COMPRESS) || r->no_compress ||
	    status < 200 || status > 299 || status == 204 || status == 206 ||
	    r->body_len < cc->min_bytes || r->body_len == 0 || !compress_type_ok(ctype) ||
	    has_encoding(r))
		return;
	if (hreq_add_header(r, "Vary", "Accept-Encoding") != 0)
		return;
	ae = hreq_header(r, "Accept-Encoding");
	coding = wp_accept_encoding(ae, ae != NULL ? strlen(ae) : 0,
				    (1u << WP_GZIP) | (1u << WP_BR));
	name = compress_coding_name(coding);
	if (name == NULL ||
	    compress_buf(coding, coding == WP_BR ? (int)cc->brotli_quality : (int)cc->gzip_level,
			 r->hm->resp_buf, r->body_len, &out, &outlen) != 0)
		return;
	if (outlen < r->body_len && hreq_add_header(r, "Content-Encoding", name) == 0) {
		memcpy(r->hm->resp_buf, out, outlen);
		r->body_len = (uint32_t)outlen;
	}
	free(out);
}
