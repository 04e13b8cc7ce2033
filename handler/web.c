/*
 * web.c - redirects, HTML escaping, cookies, signed cookies and CSRF
 * tokens on the request context (web.h).
 *
 * DESIGN
 * Set-Cookie headers are built here and added with hreq_add_header, so
 * they travel like any extra header. Signed cookie values are Tornado's
 * version 2 format (cookie_sign.c); the wall clock dates them.
 *
 * CSRF follows Tornado's xsrf_cookies: a random token in the `_xsrf`
 * cookie; forms carry it masked with a fresh random mask each time
 * ("2|<mask hex>|<token XOR mask hex>"), so a page compressed with a
 * secret next to attacker-chosen text does not leak it (BREACH); a
 * state-changing request must send it back, masked or not, in the
 * `_xsrf` field or an X-XSRFToken / X-CSRFToken header.
 *
 * Thread: the handler actor owning the request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cookie_sign.h"
#include "handler_internal.h"
#include "web_internal.h"
#include "webparse.h"
#include "base/hex.h"
#include "base/html.h"
#include "config/config.h"

#define XSRF_BYTES 16
#define EXPIRES_MAX 253402300799LL   /* Fri, 31 Dec 9999 23:59:59 GMT */

struct hweb *hweb_of(struct hreq *r)
{
	if (r->web == NULL) {
		r->web = hreq_alloc(r, sizeof(*r->web));
		if (r->web != NULL)
			memset(r->web, 0, sizeof(*r->web));
	}
	return r->web;
}

void hreq_no_compress(struct hreq *r)
{
	r->no_compress = true;
}

const char *hreq_escape_html(struct hreq *r, const char *s)
{
	size_t len = strlen(s), need = html_escaped_len(s, len) + 1;
	char *out = hreq_alloc(r, need);

	if (out != NULL)
		html_escape(out, s, len);
	return out;
}

void hreq_redirect(struct hreq *r, unsigned status, const char *location)
{
	const char *esc;

	if (r->answered)
		return;
	if ((status != 301 && status != 302 && status != 303 && status != 307 &&
	     status != 308) || hreq_add_header(r, "Location", location) != 0) {
		hreq_error(r, 500, "bad redirect");
		return;
	}
	esc = hreq_escape_html(r, location);
	r->body_len = 0;
	hreq_printf(r, "<!DOCTYPE html><title>Redirect</title><a href=\"%s\">%s</a>\n",
		    esc != NULL ? esc : "", esc != NULL ? esc : "");
	hreq_finish(r, status, "text/html; charset=utf-8");
}

/* ---- Cookies ---- */

/* Every Cookie header line, in order: a client should send one, but one
 * line per cookie is what HTTP/2 allows (RFC 9113 8.2.3) and what some
 * gateways forward as is; reading the first only lost the others. */
const char *hreq_cookie(struct hreq *r, const char *name)
{
	const char *hname, *hdr;
	size_t nlen = strlen(name);
	struct wp_span n, v;

	for (unsigned i = 0; hreq_header_at(r, i, &hname, &hdr); i++) {
		size_t pos = 0, hlen;

		if (strcasecmp(hname, "Cookie") != 0)
			continue;
		hlen = strlen(hdr);
		while (wp_cookie_next(hdr, hlen, &pos, &n, &v)) {
			if (n.len == nlen && memcmp(n.p, name, nlen) == 0) {
				char *out = hreq_alloc(r, v.len + 1);

				if (out == NULL)
					return NULL;
				memcpy(out, v.p, v.len);
				out[v.len] = '\0';
				return out;
			}
		}
	}
	return NULL;
}

static bool cookie_octets(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\')
			return false;
	}
	return true;
}

/* The SameSite attribute spelt as RFC 6265bis does, NULL for anything
 * but Strict, Lax or None: a browser would ignore another value and fall
 * back to its own default, silently. */
static const char *same_site_value(const char *s)
{
	static const char *const values[] = { "Strict", "Lax", "None" };

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		if (strcasecmp(s, values[i]) == 0)
			return values[i];
	return NULL;
}

int hreq_set_cookie(struct hreq *r, const char *name, const char *value,
		    const struct hcookie_opts *o)
{
	static const struct hcookie_opts dflt = { .max_age_s = -1, .http_only = true };
	const struct hcookie_opts *opt = o != NULL ? o : &dflt;
	const char *path = opt->path != NULL ? opt->path : "/";
	const char *same = same_site_value(opt->same_site != NULL ? opt->same_site : "Lax");
	bool host_only = strncasecmp(name, "__Host-", 7) == 0, secure;
	char *line;
	size_t cap;
	int n;

	if (name[0] == '\0' || !cookie_octets(name) || strchr(name, '=') != NULL ||
	    !cookie_octets(value) || !cookie_octets(path) ||
	    (opt->domain != NULL && !cookie_octets(opt->domain)) || same == NULL)
		return -EINVAL;
	/* A __Host- cookie without Path=/ or with a Domain is dropped by
	 * browsers (RFC 6265bis 4.1.3.2): refuse it rather than lose it. */
	if (host_only && (strcmp(path, "/") != 0 || opt->domain != NULL))
		return -EINVAL;
	/* Browsers drop a SameSite=None cookie without Secure, and a
	 * __Secure- or __Host- one (so a session cookie named so would
	 * never be kept, nor a logout's clearing of it). */
	secure = opt->secure || r->cfg->cookies.secure || strcmp(same, "None") == 0 ||
		 host_only || strncasecmp(name, "__Secure-", 9) == 0;
	cap = strlen(name) + strlen(value) + strlen(path) + strlen(same) +
	      (opt->domain != NULL ? strlen(opt->domain) : 0) + 128;
	line = hreq_alloc(r, cap);
	if (line == NULL)
		return -ENOMEM;
	n = snprintf(line, cap, "%s=%s; Path=%s", name, value, path);
	if (opt->domain != NULL)
		n += snprintf(line + n, cap - (size_t)n, "; Domain=%s", opt->domain);
	if (opt->max_age_s >= 0) {
		int64_t now = (int64_t)time(NULL);
		char date[30];

		/* Expires too, for the clients that ignore Max-Age. A "forever"
		 * Max-Age (INT64_MAX) must not overflow nor, past year 9999,
		 * fall back to 1970: that would delete the cookie. */
		wp_format_http_date(opt->max_age_s == 0 ? 0
				    : opt->max_age_s > EXPIRES_MAX - now ? EXPIRES_MAX
				    : now + opt->max_age_s, date);
		n += snprintf(line + n, cap - (size_t)n, "; Max-Age=%lld; Expires=%s",
			      (long long)opt->max_age_s, date);
	}
	snprintf(line + n, cap - (size_t)n, "%s%s; SameSite=%s", opt->http_only ? "; HttpOnly" : "",
		 secure ? "; Secure" : "", same);
	return hreq_add_header(r, "Set-Cookie", line);
}

int hreq_clear_cookie(struct hreq *r, const char *name, const char *path)
{
	const struct hcookie_opts o = { .max_age_s = 0, .path = path, .http_only = true };

	return hreq_set_cookie(r, name, "", &o);
}

int hreq_set_signed_cookie(struct hreq *r, const char *name, const char *value,
			   const struct hcookie_opts *o)
{
	size_t vlen = strlen(value), cap = vlen / 3 * 4 + strlen(name) + 160;
	char *buf = hreq_alloc(r, cap);
	long n;

	if (buf == NULL)
		return -ENOMEM;
	n = cookie_sign(r->cfg->cookies.secret_keys, name, value, vlen, (int64_t)time(NULL),
			buf, cap);
	return n < 0 ? (int)n : hreq_set_cookie(r, name, buf, o);
}

const char *hreq_signed_cookie(struct hreq *r, const char *name, uint32_t max_age_s)
{
	const char *text = hreq_cookie(r, name);
	size_t len;
	char *out;

	if (text == NULL)
		return NULL;
	len = strlen(text);
	out = hreq_alloc(r, len + 1);
	if (out == NULL || cookie_verify(r->cfg->cookies.secret_keys, name, text, len,
					 max_age_s, (int64_t)time(NULL), out, len + 1) < 0)
		return NULL;
	return out;
}

/* ---- CSRF ---- */

/* The raw token of the `_xsrf` cookie, if it is one. */
static bool cookie_token(struct hreq *r, unsigned char tok[XSRF_BYTES])
{
	const char *c = hreq_cookie(r, HREQ_XSRF_FIELD);

	return c != NULL && strlen(c) == 2 * XSRF_BYTES && hex_decode(c, tok, XSRF_BYTES);
}

const char *hreq_xsrf_token(struct hreq *r)
{
	static const struct hcookie_opts xsrf_cookie = { .max_age_s = -1 };
	struct hweb *w = hweb_of(r);
	unsigned char tok[XSRF_BYTES], mask[XSRF_BYTES];
	char *out;

	if (w == NULL)
		return NULL;
	if (w->xsrf == NULL) {
		bool have = cookie_token(r, tok);

		if (!have && getrandom(tok, sizeof(tok), 0) != (ssize_t)sizeof(tok))
			return NULL;
		w->xsrf = hreq_alloc(r, 2 * XSRF_BYTES + 1);
		if (w->xsrf == NULL)
			return NULL;
		hex_encode(tok, XSRF_BYTES, w->xsrf);
		/* Readable by scripts (not HttpOnly), like Tornado's: a page's
		 * JavaScript sends it back in X-XSRFToken. */
		if (!have && hreq_set_cookie(r, HREQ_XSRF_FIELD, w->xsrf, &xsrf_cookie) != 0)
			return NULL;
	}
	hex_decode(w->xsrf, tok, XSRF_BYTES);
	out = hreq_alloc(r, 4 * XSRF_BYTES + 4);
	if (out == NULL || getrandom(mask, sizeof(mask), 0) != (ssize_t)sizeof(mask))
		return NULL;
	memcpy(out, "2|", 2);
	hex_encode(mask, XSRF_BYTES, out + 2);
	out[2 + 2 * XSRF_BYTES] = '|';
	for (size_t i = 0; i < XSRF_BYTES; i++)
		tok[i] ^= mask[i];
	hex_encode(tok, XSRF_BYTES, out + 3 + 2 * XSRF_BYTES);
	return out;
}

/* The raw token a form or header sent: masked ("2|mask|masked") or not. */
static bool sent_token(const char *s, unsigned char tok[XSRF_BYTES])
{
	unsigned char mask[XSRF_BYTES];
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 2 * XSRF_BYTES)
		return hex_decode(s, tok, XSRF_BYTES);
	if (n != 3 + 4 * XSRF_BYTES || s[0] != '2' || s[1] != '|' || s[2 + 2 * XSRF_BYTES] != '|' ||
	    !hex_decode(s + 2, mask, XSRF_BYTES) ||
	    !hex_decode(s + 3 + 2 * XSRF_BYTES, tok, XSRF_BYTES))
		return false;
	for (size_t i = 0; i < XSRF_BYTES; i++)
		tok[i] ^= mask[i];
	return true;
}

bool hreq_xsrf_check(struct hreq *r)
{
	unsigned char want[XSRF_BYTES], got[XSRF_BYTES];
	const char *why = NULL, *s = hreq_header(r, "X-XSRFToken");
	unsigned st;

	if (s == NULL)
		s = hreq_header(r, "X-CSRFToken");
	if (s == NULL) {
		st = hreq_form_parse(r, &why);
		if (st != 0) {
			hreq_error(r, st, "%s", why);
			return false;
		}
		s = hreq_form(r, HREQ_XSRF_FIELD);
	}
	if (s == NULL) {
		hreq_error(r, 403, "'_xsrf' argument missing from POST");
		return false;
	}
	if (!cookie_token(r, want)) {
		hreq_error(r, 403, "'_xsrf' cookie missing or malformed");
		return false;
	}
	if (!sent_token(s, got) || CRYPTO_memcmp(want, got, XSRF_BYTES) != 0) {
		hreq_error(r, 403, "XSRF cookie does not match POST argument");
		return false;
	}
	return true;
}
