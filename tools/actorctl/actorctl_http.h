/*
 * actorctl_http.h - the one HTTP exchange actorctl needs: a request on a
 * fresh connection to the admin endpoint, the whole answer read back.
 *
 * DESIGN
 * Plain blocking-with-deadline sockets: connect, write the request with
 * "Connection: close", read until the server closes, parse the status line,
 * Content-Length and the body. Everything is bounded by one timeout. It is
 * a client for actord's own admin endpoint, not a general HTTP client (no
 * chunked bodies, no redirects, no TLS).
 *
 * Thread: the caller's (actorctl is single-threaded).
 */
#ifndef ACTORD_ACTORCTL_HTTP_H
#define ACTORD_ACTORCTL_HTTP_H

#include <stddef.h>

/* Owner: the caller; free with ctl_response_free. */
struct ctl_response {
	int status;
	char *body;        /* NUL-terminated */
	size_t len;
};

/* Where the failure happened, for the message actorctl prints. */
enum ctl_error { CTL_OK, CTL_BAD_ADDRESS, CTL_UNREACHABLE, CTL_PROTOCOL };

/* `addr`: "host:port" or "[v6]:port". `token`: NULL or "" for none.
 * `body`: NULL, or a JSON document sent with the request.
 * Returns CTL_OK, or an error with the reason in `err`. */
enum ctl_error ctl_request(const char *addr, const char *token, const char *method,
			   const char *path, const char *body, int timeout_ms,
			   struct ctl_response *out, char *err, size_t errlen);

void ctl_response_free(struct ctl_response *r);

#endif
