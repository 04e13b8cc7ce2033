/*
 * demo_pages.c - the HTML of the login demo (demo.c): one page frame and
 * its forms, every value escaped, every form with its `_xsrf` field.
 *
 * DESIGN
 * Pages are built with the body builders (hreq_printf) into the response
 * buffer; user text goes through hreq_escape_html. The stylesheet is a
 * static file of the demo's own folder (app/demo/static/demo.css, served
 * under /demo/static/ by the static-file routes, compressed there).
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <string.h>

#include "demo.h"
#include "handler/web.h"

static void head(struct hreq *r, const char *title)
{
	hreq_printf(r, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
		    "<title>%s · actord demo</title>"
		    "<link rel=\"stylesheet\" href=\"/demo/static/demo.css\"></head>\n"
		    "<body><main class=\"card\"><h1>%s</h1>\n", title, title);
}

static void tail(struct hreq *r, unsigned status)
{
	hreq_printf(r, "</main><footer>actord · the seed's login example</footer></body></html>\n");
	hreq_finish(r, status, "text/html; charset=utf-8");
}

static const char *esc(struct hreq *r, const char *s)
{
	const char *e = hreq_escape_html(r, s != NULL ? s : "");

	return e != NULL ? e : "";
}

void demo_form_page(struct hreq *r, unsigned status, enum demo_form form, const char *error,
		    const char *username, const char *next)
{
	bool login = form == DEMO_LOGIN;
	const char *xsrf = hreq_xsrf_token(r);

	if (xsrf == NULL) {
		hreq_fail(r, -ENOMEM, "demo page");
		return;
	}
	head(r, login ? "Log in" : "Create an account");
	if (error != NULL)
		hreq_printf(r, "<p class=\"error\" role=\"alert\">%s</p>\n", esc(r, error));
	hreq_printf(r, "<form method=\"post\" action=\"/demo/%s\">\n"
		    "<input type=\"hidden\" name=\"_xsrf\" value=\"%s\">\n",
		    login ? "login" : "register", esc(r, xsrf));
	if (login && next != NULL)
		hreq_printf(r, "<input type=\"hidden\" name=\"next\" value=\"%s\">\n", esc(r, next));
	hreq_printf(r, "<label>Username <input id=\"username\" name=\"username\" "
		    "autocomplete=\"username\" required maxlength=\"%d\" value=\"%s\"></label>\n"
		    "<label>Password <input id=\"password\" type=\"password\" name=\"password\" "
		    "autocomplete=\"%s\" required maxlength=\"%d\"></label>\n"
		    "<button id=\"submit\" type=\"submit\">%s</button>\n</form>\n",
		    DEMO_USER_MAX, esc(r, username), login ? "current-password" : "new-password",
		    DEMO_PASSWORD_MAX, login ? "Log in" : "Create account");
	if (login)
		hreq_printf(r, "<p>No account yet? <a href=\"/demo/register\">Create one</a>.</p>\n");
	else
		hreq_printf(r, "<p>Have an account? <a href=\"/demo/login\">Log in</a>.</p>\n");
	tail(r, status);
}

void demo_me_page(struct hreq *r, const char *user, const char *since)
{
	const char *xsrf = hreq_xsrf_token(r);

	if (xsrf == NULL) {
		hreq_fail(r, -ENOMEM, "demo page");
		return;
	}
	head(r, "Your account");
	hreq_printf(r, "<p id=\"greeting\">Logged in as <strong id=\"user\">%s</strong>.</p>\n",
		    esc(r, user));
	if (since != NULL)
		hreq_printf(r, "<p class=\"muted\">Session started %s.</p>\n", esc(r, since));
	hreq_printf(r, "<form method=\"post\" action=\"/demo/logout\">\n"
		    "<input type=\"hidden\" name=\"_xsrf\" value=\"%s\">\n"
		    "<button id=\"logout\" type=\"submit\">Log out</button>\n</form>\n",
		    esc(r, xsrf));
	tail(r, 200);
}
