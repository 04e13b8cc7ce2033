/*
 * form.c - request bodies: urlencoded and multipart forms, JSON (web.h).
 *
 * DESIGN
 * The body is already whole in the request buffer (the network actor
 * bounds it by http.max_body_bytes, 413 before reading). Parsing runs
 * once, on the first call that needs it, and keeps an array of fields in
 * the request arena: urlencoded names and values are decoded into the
 * arena; multipart values point into the body itself (an upload is not
 * copied). The Content-Type decides the parser; anything else is 415.
 * JSON goes through wp_json_parse (strict: one value, nothing after it).
 *
 * Thread: the handler actor owning the request.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "handler_internal.h"
#include "multipart.h"
#include "web_internal.h"
#include "webparse.h"
#include "config/config.h"

static int add_field(struct hreq *r, struct hweb *w, const struct hreq_field *f)
{
	if (w->nfields == w->cap) {
		unsigned cap = w->cap > 0 ? w->cap * 2 : 16;
		struct hreq_field *a = hreq_alloc(r, sizeof(*a) * cap);

		if (a == NULL)
			return -ENOMEM;
		if (w->nfields > 0)
			memcpy(a, w->fields, sizeof(*a) * w->nfields);
		w->fields = a;
		w->cap = cap;
	}
	w->fields[w->nfields++] = *f;
	return 0;
}

/* `len` bytes of `s` percent-decoded ('+' is a space) into the arena at
 * *out. The decoded length, or route_decode's error (-ENOMEM too). */
static long decode(struct hreq *r, const char *s, size_t len, const char **out)
{
	char *buf = hreq_alloc(r, len + 1);

	*out = buf;
	return buf != NULL ? route_decode(s, len, buf, len + 1, 1) : -ENOMEM;
}

static char *copy(struct hreq *r, struct wp_span s)
{
	char *out = hreq_alloc(r, s.len + 1);

	if (out != NULL) {
		if (s.len > 0)  /* an absent part (no type) is {NULL, 0} */
			memcpy(out, s.p, s.len);
		out[s.len] = '\0';
	}
	return out;
}

/* A Content-Disposition parameter into the arena, a quoted-string's
 * escapes undone (name="q\"x" is the field q"x). */
static char *copy_param(struct hreq *r, struct wp_span s, bool quoted)
{
	char *out;

	if (!quoted)
		return copy(r, s);
	out = hreq_alloc(r, s.len + 1);
	if (out != NULL)
		mp_unescape(s, out);
	return out;
}

static unsigned parse_urlencoded(struct hreq *r, struct hweb *w, const char *body, size_t len)
{
	const struct config_forms *lim = &r->cfg->forms;
	struct wp_span n, v;
	size_t pos = 0;

	while (wp_form_next(body, len, &pos, &n, &v)) {
		struct hreq_field f = { 0 };
		long nlen, vlen;

		if (w->nfields >= lim->max_parts) {
			w->form_why = "too many fields";
			return 413;
		}
		if (v.len > lim->max_field_bytes) {
			w->form_why = "a field is too large";
			return 413;
		}
		/* Raw, as route_decode refuses it escaped: a NUL would end
		 * the C string hreq_form hands out. */
		if (memchr(n.p, '\0', n.len) != NULL || memchr(v.p, '\0', v.len) != NULL) {
			w->form_why = "a NUL byte in a field (it would cut it)";
			return 400;
		}
		nlen = decode(r, n.p, n.len, &f.name);
		vlen = decode(r, v.p, v.len, &f.value);
		if (nlen == -ENOMEM || vlen == -ENOMEM) {
			w->form_why = "out of memory";
			return 500;
		}
		if (nlen == -EILSEQ || vlen == -EILSEQ) {
			w->form_why = "%00 in a field (a NUL would cut it)";
			return 400;
		}
		if (nlen < 0 || vlen < 0) {
			w->form_why = "malformed percent-encoding";
			return 400;
		}
		f.len = (size_t)vlen;
		if (add_field(r, w, &f) != 0) {
			w->form_why = "out of memory";
			return 500;
		}
	}
	return 0;
}

struct mp_ctx {
	struct hreq *r;
	struct hweb *w;
};

static int on_part(void *arg, const struct mp_part *p)
{
	struct mp_ctx *c = arg;
	struct hreq_field f = { 0 };

	f.name = copy_param(c->r, p->name, p->name_quoted);
	if (p->is_file) {
		f.filename = copy_param(c->r, p->filename, p->filename_quoted);
		f.content_type = copy(c->r, p->content_type);
		f.value = p->data.p;
	} else {
		f.value = copy(c->r, p->data);  /* NUL-terminated for hreq_form */
	}
	f.len = p->data.len;
	if (f.name == NULL || f.value == NULL || (p->is_file && (f.filename == NULL ||
							       f.content_type == NULL)))
		return 500;
	return add_field(c->r, c->w, &f) != 0 ? 500 : 0;
}

unsigned hreq_form_parse(struct hreq *r, const char **why)
{
	struct hweb *w = hweb_of(r);
	const char *ctype, *body;
	struct wp_span boundary;
	size_t len, tlen;

	*why = "out of memory";
	if (w == NULL)
		return 500;
	if (w->form_parsed) {
		*why = w->form_why;
		return w->form_status;
	}
	w->form_parsed = true;
	body = hreq_body(r, &len);
	ctype = hreq_header(r, "Content-Type");
	tlen = ctype != NULL ? strcspn(ctype, "; \t") : 0;
	if (len == 0) {
		w->form_status = 0;  /* no body: an empty form, whatever the type says */
	} else if (ctype == NULL) {
		w->form_status = 415;
		w->form_why = "a body without Content-Type: expected "
			      "application/x-www-form-urlencoded or multipart/form-data";
	} else if (tlen == 33 && strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0) {
		w->form_status = parse_urlencoded(r, w, body, len);
	} else if (mp_boundary(ctype, strlen(ctype), &boundary)) {
		const struct mp_limits lim = {
			.max_parts = r->cfg->forms.max_parts,
			.max_field_bytes = r->cfg->forms.max_field_bytes,
			.max_file_bytes = r->cfg->forms.max_file_bytes,
		};
		struct mp_ctx c = { r, w };

		w->form_status = (unsigned)mp_parse(body, len, boundary, &lim, on_part, &c,
						    &w->form_why);
	} else if (tlen == 19 && strncasecmp(ctype, "multipart/form-data", 19) == 0) {
		w->form_status = 400;
		w->form_why = "multipart/form-data without a valid boundary";
	} else {
		w->form_status = 415;
		w->form_why = "expected application/x-www-form-urlencoded or multipart/form-data";
	}
	if (w->form_status != 0)
		w->nfields = 0;
	*why = w->form_why;
	return w->form_status;
}

/* The first field named `name` that is (`file`) or is not a file part. */
static const struct hreq_field *find(struct hreq *r, const char *name, bool file)
{
	const char *why;
	struct hweb *w;

	if (hreq_form_parse(r, &why) != 0)
		return NULL;
	w = r->web;
	for (unsigned i = 0; i < w->nfields; i++)
		if ((w->fields[i].filename != NULL) == file && strcmp(w->fields[i].name, name) == 0)
			return &w->fields[i];
	return NULL;
}

const char *hreq_form(struct hreq *r, const char *name)
{
	const struct hreq_field *f = find(r, name, false);

	return f != NULL ? f->value : NULL;
}

const struct hreq_field *hreq_upload(struct hreq *r, const char *name)
{
	return find(r, name, true);
}

const struct hreq_field *hreq_form_at(struct hreq *r, unsigned i)
{
	const char *why;

	if (hreq_form_parse(r, &why) != 0 || i >= r->web->nfields)
		return NULL;
	return &r->web->fields[i];
}

const char *hreq_filename_base(const char *filename)
{
	const char *base = filename;

	for (const char *p = filename; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return NULL;
		if (*p == '/' || *p == '\\')
			base = p + 1;
	}
	if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return NULL;
	return base;
}

cJSON *hreq_json_parse(struct hreq *r, const char **why)
{
	size_t len, at;
	const char *body = hreq_body(r, &len), *what;
	cJSON *j = wp_json_parse(body, len, &at, &what);
	char *msg;

	if (j != NULL)
		return j;
	msg = hreq_alloc(r, strlen(what) + 32);
	if (msg != NULL)
		snprintf(msg, strlen(what) + 32, "%s at byte %zu", what, at);
	*why = msg != NULL ? msg : what;
	return NULL;
}

cJSON *hreq_json_body(struct hreq *r, unsigned *status, const char **why)
{
	const char *ctype = hreq_header(r, "Content-Type");
	size_t tlen = ctype != NULL ? strcspn(ctype, "; \t") : 0;
	cJSON *j;

	if (tlen != 16 || strncasecmp(ctype, "application/json", 16) != 0) {
		*status = 415;
		*why = "expected application/json";
		return NULL;
	}
	j = hreq_json_parse(r, why);
	if (j == NULL)
		*status = 400;
	return j;
}
