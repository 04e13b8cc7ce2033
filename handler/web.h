/*
 * web.h - what a web application needs beyond JSON, on top of the route
 * API (handler_api.h): redirects, HTML escaping, cookies and signed
 * cookies, form, multipart and JSON bodies, CSRF tokens, file bodies.
 * Sessions: handler/session.h; static files: handler/static_files.h.
 * docs/HANDLERS.md, "Web applications", shows each with an example.
 *
 * DESIGN
 * Everything here works on the request context and its arena: parsed
 * form fields, decoded cookies and tokens live as long as the request
 * (see Lifetimes in handler_api.h); nothing is shared between requests.
 * Cookie signatures are Tornado's version 2 secure cookies (HMAC-SHA256
 * with OpenSSL), so the keys of a Tornado application verify them too;
 * cookies.secret_keys is a list, newest first: the newest signs, every
 * key verifies (rotation).
 *
 * Thread: the handler actor that owns the request.
 */
#ifndef ACTORD_WEB_H
#define ACTORD_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "handler_api.h"

/* ---- Replies ------------------------------------------------------------ */

/* Answer `status` (301, 302, 303, 307 or 308; anything else is a 500)
 * with `Location: location` and a short HTML body naming it. CR/LF in
 * `location` -> 500. After a POST, 303 sends the browser to GET it. */
void hreq_redirect(struct hreq *r, unsigned status, const char *location);

/* Answer with `len` bytes of the open file `fd` from `off` as the body:
 * the network actor sends them with sendfile(2). Takes `fd` (closed
 * however the reply ends). Extra headers as for any reply. */
void hreq_sendfile(struct hreq *r, unsigned status, const char *content_type,
		   int fd, uint64_t off, uint64_t len);

/* Answer with a body streamed by another actor (net/stream_msg.h; the
 * reverse proxy relays upstream_reply_stream's): `len` bytes, or -1 when
 * unknown (chunked to the client, or closed for HTTP/1.0). The network
 * actor asks actor `from` for stream `stream_id` once the head is out.
 * Extra headers as for any reply; never compressed. */
void hreq_send_stream(struct hreq *r, unsigned status, const char *content_type,
		      uint32_t from, uint64_t stream_id, int64_t len);

/* Never compress this request's response (a route may also be
 * registered with ROUTE_NO_COMPRESS). */
void hreq_no_compress(struct hreq *r);

/* `s` escaped for HTML text and attribute values (& < > " '), in request
 * memory; NULL on ENOMEM. For templates: hreq_printf(r, "<b>%s</b>",
 * hreq_escape_html(r, name)). */
const char *hreq_escape_html(struct hreq *r, const char *s);

/* ---- Cookies ------------------------------------------------------------ */

struct hcookie_opts {
	int64_t max_age_s;        /* < 0: a browser-session cookie; 0: delete it */
	const char *path;         /* NULL: "/" */
	const char *domain;       /* NULL: none (this host only) */
	const char *same_site;    /* "Lax", "Strict", "None" (any case); NULL: "Lax" */
	bool http_only;
	bool secure;              /* also forced on by cookies.secure, SameSite=None,
				   * a __Secure- or __Host- name */
};

/* The value of request cookie `name` (the first if sent twice, over
 * every Cookie header line), or NULL. */
const char *hreq_cookie(struct hreq *r, const char *name);

/* Add a Set-Cookie header. `value` must be cookie-octets (no space, '"',
 * ',', ';' or '\\'), same_site one of the three, and a __Host- cookie
 * without domain and with path "/": -EINVAL otherwise;
 * -ENOMEM. `o` NULL: session
 * cookie, Path=/, HttpOnly, SameSite=Lax. */
int hreq_set_cookie(struct hreq *r, const char *name, const char *value,
		    const struct hcookie_opts *o);

/* Ask the browser to delete cookie `name` (set with `path`, NULL "/"). */
int hreq_clear_cookie(struct hreq *r, const char *name, const char *path);

/* Set cookie `name` to `value` (any bytes up to 4 KiB, NUL-terminated)
 * signed with the newest key of cookies.secret_keys. */
int hreq_set_signed_cookie(struct hreq *r, const char *name, const char *value,
			   const struct hcookie_opts *o);

/* The value of signed cookie `name` if its signature verifies with any
 * configured key and it was signed at most `max_age_s` ago; NULL if
 * absent, tampered with, signed for another name, or too old. */
const char *hreq_signed_cookie(struct hreq *r, const char *name, uint32_t max_age_s);

/* ---- Request bodies ----------------------------------------------------- */

/* A form field or an uploaded file (multipart/form-data). Pointers into
 * the request: they live as long as the request. */
struct hreq_field {
	const char *name;         /* decoded, NUL-terminated */
	const char *value;        /* decoded; a file's bytes (may hold NULs) */
	size_t len;               /* bytes at value */
	const char *filename;     /* a file part: its file name; else NULL */
	const char *content_type; /* a file part's type ("" if none sent) */
};

/* Parse the body by its Content-Type: application/x-www-form-urlencoded
 * or multipart/form-data (limits: forms.*). Idempotent. Returns 0, or
 * the status to answer with `*why` set: 400 malformed (a NUL byte,
 * raw or %00, in a name, a file name or a field's value too: it would
 * cut the C string), 413 a limit
 * (forms.max_parts, max_field_bytes, max_file_bytes), 415 another type.
 * A request without a body parses as an empty form. */
unsigned hreq_form_parse(struct hreq *r, const char **why);

/* The first value of form field `name` (not a file), or NULL (also when
 * the body does not parse). */
const char *hreq_form(struct hreq *r, const char *name);

/* The uploaded file of field `name`, or NULL (also for a file input
 * left empty: its part, filename="", is a field with an empty value). */
const struct hreq_field *hreq_upload(struct hreq *r, const char *name);

/* Field `i` in body order (0, 1, ...): NULL past the last. */
const struct hreq_field *hreq_form_at(struct hreq *r, unsigned i);

/* An upload's filename is whatever the client sent ("../../etc/passwd",
 * "C:\\Users\\x\\a.txt"), as in Tornado. Its last component, after
 * the last '/' or '\\' (a pointer into `filename`), or NULL when that is
 * empty, "." or "..", or holds a control byte: a name to show or to put
 * under a directory the route chose, never a path. */
const char *hreq_filename_base(const char *filename);

/* The body as JSON (Content-Type application/json) parsed strictly
 * (hreq_json_parse): the caller frees it with cJSON_Delete. NULL with
 * *status 415 (another type) or 400 (not JSON, see hreq_json_parse), and
 * `*why`. */
cJSON *hreq_json_body(struct hreq *r, unsigned *status, const char **why);

/* The body as one strict JSON value whatever its Content-Type (routes
 * whose clients send JSON untyped, or on a GET): nothing but whitespace
 * after the value, no raw control character, no \u0000 (a cJSON string
 * ends at a NUL, so it would be cut). The value (free it with
 * cJSON_Delete), or NULL and the request should be answered 400 with
 * `*why`, e.g. "malformed JSON: data after the value at byte 8"
 * (request memory). The one JSON-body parser: use it, not cJSON_Parse. */
cJSON *hreq_json_parse(struct hreq *r, const char **why);

/* ---- CSRF (Tornado's xsrf_cookies) --------------------------------------- */

#define HREQ_XSRF_FIELD "_xsrf"   /* the hidden form field and the cookie */

/* The token for a form's hidden `_xsrf` field (masked anew per call, so
 * compressed pages do not leak it); sets the `_xsrf` cookie when the
 * request has none. NULL on ENOMEM. */
const char *hreq_xsrf_token(struct hreq *r);

/* For a state-changing request: true if the `_xsrf` form field (or the
 * X-XSRFToken / X-CSRFToken header) matches the `_xsrf` cookie. If not,
 * answers 403 (or the form's 400/413/415) and returns false. */
bool hreq_xsrf_check(struct hreq *r);

#endif
