/*
 * web_test_routes.c - /_test/web/ routes that expose the web helpers
 * (handler/web.h, handler/session.h) to the end-to-end tests:
 *
 *   ANY  /_test/web/form            the parsed form as JSON (fields and uploads
 *                                   with sizes and a checksum), or its 400/413/415
 *   POST /_test/web/json            the JSON body echoed, or its 400/415
 *   GET  /_test/web/cookie?name=    the request cookie's value (404 if absent)
 *   GET  /_test/web/set-cookie?name=&value=&max_age=&path=&same_site=&secure=
 *   GET  /_test/web/signed?name=&max_age=   a signed cookie's verified value, or 404
 *   GET  /_test/web/set-signed?name=&value=
 *   GET  /_test/web/redirect?status=&to=
 *   GET  /_test/web/text?n=&type=   n bytes of compressible text (compression tests)
 *   GET  /_test/web/text-raw?n=     the same, registered with ROUTE_NO_COMPRESS
 *   GET  /_test/web/xsrf            a form token (sets the cookie)
 *   POST /_test/web/xsrf            200 if the token checks, else its 403
 *   GET  /_test/web/escape?s=       hreq_escape_html(s)
 *   GET  /_test/web/header?name=&value=   hreq_add_header's answer as
 *                                   {"rc": N}, the header sent when 0
 *   GET  /_test/web/session         the session's "n", incremented and saved
 *   GET  /_test/web/private         @authenticated: {"user": ...}
 *   POST /_test/web/login?user=     a session with that user (no password)
 *   POST /_test/web/login?user=&then=destroy   the login's rotation, then
 *                                   hsession_destroy in the same request
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "test_app.h"
#include "config/config.h"
#include "handler/session.h"
#include "handler/web.h"

static void any_form(struct hreq *r)
{
	const char *why = NULL;
	unsigned st = hreq_form_parse(r, &why);
	const struct hreq_field *f;
	cJSON *o, *fields;

	if (st != 0) {
		hreq_error(r, st, "%s", why);
		return;
	}
	o = cJSON_CreateObject();
	fields = cJSON_AddArrayToObject(o, "fields");
	for (unsigned i = 0; (f = hreq_form_at(r, i)) != NULL; i++) {
		cJSON *e = cJSON_CreateObject();

		cJSON_AddStringToObject(e, "name", f->name);
		if (f->filename != NULL) {
			cJSON_AddStringToObject(e, "filename", f->filename);
			cJSON_AddStringToObject(e, "content_type", f->content_type);
			cJSON_AddNumberToObject(e, "crc32", (double)crc32(0, (const Bytef *)f->value,
									  (uInt)f->len));
		} else {
			cJSON_AddStringToObject(e, "value", f->value);
		}
		cJSON_AddNumberToObject(e, "len", (double)f->len);
		cJSON_AddItemToArray(fields, e);
	}
	hreq_json(r, 200, o);
}

static void post_json(struct hreq *r)
{
	unsigned st = 0;
	const char *why = NULL;
	cJSON *j = hreq_json_body(r, &st, &why);

	if (j == NULL) {
		hreq_error(r, st, "%s", why);
		return;
	}
	hreq_json(r, 200, j);
}

static void get_cookie(struct hreq *r)
{
	const char *v = hreq_cookie(r, hreq_query(r, "name") != NULL ? hreq_query(r, "name") : "");

	if (v == NULL)
		hreq_error(r, 404, "no such cookie");
	else
		hreq_text(r, 200, v);
}

static void get_set_cookie(struct hreq *r)
{
	const char *ma = hreq_query(r, "max_age");
	struct hcookie_opts o = {
		.max_age_s = ma != NULL ? atoll(ma) : -1,
		.path = hreq_query(r, "path"),
		.same_site = hreq_query(r, "same_site"),
		.secure = hreq_query(r, "secure") != NULL,
		.http_only = true,
	};
	const char *name = hreq_query(r, "name"), *value = hreq_query(r, "value");
	int rc = hreq_set_cookie(r, name != NULL ? name : "", value != NULL ? value : "", &o);

	if (rc != 0)
		hreq_error(r, 400, "%s", ad_strerror(rc));
	else
		hreq_text(r, 200, "set\n");
}

static void get_signed(struct hreq *r)
{
	const char *name = hreq_query(r, "name");
	long max_age = hreq_query_long(r, "max_age", 31 * 86400, 0, 365 * 86400);
	const char *v = name != NULL ? hreq_signed_cookie(r, name, (uint32_t)max_age) : NULL;

	if (v == NULL)
		hreq_error(r, 404, "no valid signed cookie");
	else
		hreq_text(r, 200, v);
}

static void get_set_signed(struct hreq *r)
{
	const char *name = hreq_query(r, "name"), *value = hreq_query(r, "value");
	int rc = name != NULL && value != NULL ? hreq_set_signed_cookie(r, name, value, NULL)
					       : -EINVAL;

	if (rc != 0)
		hreq_error(r, 400, "%s", ad_strerror(rc));
	else
		hreq_text(r, 200, "set\n");
}

static void get_redirect(struct hreq *r)
{
	const char *to = hreq_query(r, "to");

	hreq_redirect(r, (unsigned)hreq_query_long(r, "status", 302, 0, 999),
		      to != NULL ? to : "/");
}

static void get_text(struct hreq *r)
{
	static const char line[] = "the quick brown fox jumps over the lazy dog 0123456789\n";
	long n = hreq_query_long(r, "n", 0, 0, 8 << 20);
	const char *type = hreq_query(r, "type");

	for (long i = 0; i < n; i += (long)sizeof(line) - 1)
		hreq_write(r, line, (size_t)(n - i) < sizeof(line) - 1 ? (size_t)(n - i)
									 : sizeof(line) - 1);
	hreq_finish(r, 200, type != NULL ? type : "text/plain; charset=utf-8");
}

static void get_header(struct hreq *r)
{
	const char *name = hreq_query(r, "name"), *value = hreq_query(r, "value");
	int rc = hreq_add_header(r, name != NULL ? name : "", value != NULL ? value : "");

	hreq_printf(r, "{\"rc\":%d}", rc);
	hreq_finish(r, 200, "application/json");
}

static void get_xsrf(struct hreq *r)
{
	const char *t = hreq_xsrf_token(r);

	if (t == NULL)
		hreq_error(r, 500, "no token");
	else
		hreq_text(r, 200, t);
}

static void post_xsrf(struct hreq *r)
{
	if (hreq_xsrf_check(r))
		hreq_text(r, 200, "ok\n");
}

static void get_escape(struct hreq *r)
{
	const char *s = hreq_query(r, "s");

	hreq_text(r, 200, hreq_escape_html(r, s != NULL ? s : ""));
}

static void on_counted(struct hreq *r, struct hsession *s, void *arg)
{
	(void)arg;
	hreq_printf(r, "%s\n", hsession_get(s, "n"));
	hreq_finish(r, 200, "text/plain");
}

static void on_session(struct hreq *r, struct hsession *s, void *arg)
{
	const char *n = hsession_get(s, "n");
	char buf[24];
	int rc;

	snprintf(buf, sizeof(buf), "%ld", (n != NULL ? atol(n) : 0) + 1);
	rc = hsession_set(s, "n", buf);
	if (rc == 0)
		rc = hsession_save(r, s, on_counted, arg);
	if (rc != 0)
		hreq_fail(r, rc, "session");
}

static void get_session(struct hreq *r)
{
	int rc = hsession_load(r, on_session, NULL);

	if (rc != 0)
		hreq_fail(r, rc, "session");
}

static void on_private(struct hreq *r, struct hsession *s, void *arg)
{
	cJSON *o = cJSON_CreateObject();

	(void)arg;
	cJSON_AddStringToObject(o, "user", hsession_get(s, "user"));
	hreq_json(r, 200, o);
}

static void get_private(struct hreq *r)
{
	int rc = hsession_authenticated(r, "/_test/web/login-page", on_private, NULL);

	if (rc != 0)
		hreq_fail(r, rc, "session");
}

static void on_logged_in(struct hreq *r, struct hsession *s, void *arg)
{
	(void)s;
	(void)arg;
	hreq_redirect(r, 303, "/_test/web/private");
}

static void on_destroyed(struct hreq *r, struct hsession *s, void *arg)
{
	(void)s;
	(void)arg;
	hreq_text(r, 200, "destroyed");
}

static void on_login_session(struct hreq *r, struct hsession *s, void *arg)
{
	const char *then = hreq_query(r, "then");
	int rc;

	hsession_rotate(s);
	rc = hsession_set(s, "user", arg);
	if (rc == 0 && then != NULL && strcmp(then, "destroy") == 0)
		rc = hsession_destroy(r, s, on_destroyed, NULL);
	else if (rc == 0)
		rc = hsession_save(r, s, on_logged_in, NULL);
	if (rc != 0)
		hreq_fail(r, rc, "session");
}

static void post_login(struct hreq *r)
{
	const char *user = hreq_query(r, "user");
	int rc = user != NULL ? hsession_load(r, on_login_session, (void *)user) : -EINVAL;

	if (rc != 0)
		hreq_fail(r, rc, "session");
}

int web_test_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen)
{
	static const struct { unsigned m; const char *p; route_fn fn; } routes[] = {
		{ ROUTE_ANY, "/_test/web/form", any_form },
		{ ROUTE_POST, "/_test/web/json", post_json },
		{ ROUTE_GET, "/_test/web/cookie", get_cookie },
		{ ROUTE_GET, "/_test/web/set-cookie", get_set_cookie },
		{ ROUTE_GET, "/_test/web/signed", get_signed },
		{ ROUTE_GET, "/_test/web/set-signed", get_set_signed },
		{ ROUTE_GET, "/_test/web/redirect", get_redirect },
		{ ROUTE_GET, "/_test/web/text", get_text },
		{ ROUTE_GET | ROUTE_NO_COMPRESS, "/_test/web/text-raw", get_text },
		{ ROUTE_GET, "/_test/web/header", get_header },
		{ ROUTE_GET, "/_test/web/xsrf", get_xsrf },
		{ ROUTE_POST, "/_test/web/xsrf", post_xsrf },
		{ ROUTE_GET, "/_test/web/escape", get_escape },
		{ ROUTE_GET, "/_test/web/session", get_session },
		{ ROUTE_GET, "/_test/web/private", get_private },
		{ ROUTE_POST, "/_test/web/login", post_login },
	};

	if (!cfg->test_routes)
		return 0;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (route_add(t, routes[i].m, routes[i].p, routes[i].fn, NULL, err, errlen) != 0)
			return -EINVAL;
	return 0;
}
