/*
 * demo.h - what the login demo's files share (demo.c: routes and flow;
 * demo_pages.c: HTML).
 *
 * Thread: the handler actor serving the request.
 */
#ifndef ACTORD_APP_DEMO_H
#define ACTORD_APP_DEMO_H

#include "handler/handler_api.h"

#define DEMO_USER_MIN 3
#define DEMO_USER_MAX 32
#define DEMO_PASSWORD_MIN 8
#define DEMO_PASSWORD_MAX 128          /* characters (UTF-8: up to 4 bytes each) */
#define DEMO_PASSWORD_MAX_BYTES (4 * DEMO_PASSWORD_MAX)

enum demo_form { DEMO_LOGIN, DEMO_REGISTER };

/* The login or register page, with `error` (escaped) above the form and
 * the username kept; `next` (login) goes into a hidden field. */
void demo_form_page(struct hreq *r, unsigned status, enum demo_form form, const char *error,
		    const char *username, const char *next);

/* The logged-in page of `user`, with a logout form. */
void demo_me_page(struct hreq *r, const char *user, const char *since);

#endif
