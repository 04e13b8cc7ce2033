/*
 * web_internal.h - per-request state of the web helpers (web.h): what
 * form.c and web.c share. Not a public header.
 *
 * Owner: the handler actor owning the request; allocated in the
 * request's arena on first use, gone with the request.
 */
#ifndef ACTORD_WEB_INTERNAL_H
#define ACTORD_WEB_INTERNAL_H

#include <stdbool.h>

#include "web.h"

struct hweb {
	bool form_parsed;
	unsigned form_status;         /* 0 or the status hreq_form_parse gave */
	const char *form_why;
	struct hreq_field *fields;    /* arena */
	unsigned nfields, cap;
	char *xsrf;                   /* the raw token (cookie's, or a new one) */
};

/* The request's web state, made on first use; NULL on ENOMEM. */
struct hweb *hweb_of(struct hreq *r);

#endif
