/*
 * upstream_redirect.c - what a complete upstream response may still need
 * before it goes back: a redirect the call asked to follow
 * (upstream_call_follow_redirects), a gzip body to decode
 * (upstream_call_decode_gzip).
 *
 * DESIGN
 * Redirects are followed inside the upstream actor: the call's request
 * line and Host are rewritten for the Location (a relative one resolved
 * against the request's URL, its fragment dropped), the caller's header
 * lines kept (without Authorization and Cookie when the origin changes:
 * they were meant for the first one; without Content-Type and the other
 * fields describing the body when a 303, or a 301/302 after POST, drops
 * it), and the call goes back to the pool of its new origin. Each hop
 * counts against the call's limit, so a loop ends there; the deadline and
 * timeouts of the call cover the whole chain. A redirect from https to
 * http is not followed unless allowed: the 3xx is then the answer, as
 * with the limit.
 *
 * gzip: the whole body is inflated at once with zlib (a response is
 * already whole in memory here) within upstream.max_response_bytes.
 *
 * Thread: the upstream actor.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "upstream_internal.h"

static const char *resp_header(const struct upstream_call *u, const char *name)
{
	for (unsigned i = 0; i < u->resp.nheaders; i++)
		if (strcasecmp(u->resp.headers[i].name, name) == 0)
			return u->resp.headers[i].value;
	return NULL;
}

/* Whether the header line at `line` (len bytes, with CRLF) is `name`. */
static bool line_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/* RFC 3986 5.2.4: drop the "." and ".." segments of `path` (starts with
 * '/', no query) in place; ".." never climbs above the root. */
static void remove_dot_segments(char *path)
{
	char *out = path;               /* never ahead of `in`: in place */
	const char *in = path;

	while (*in != '\0') {
		const char *seg = in + 1, *end = strchr(seg, '/');
		size_t n = end != NULL ? (size_t)(end - seg) : strlen(seg);

		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > path && *--out != '/')
				;               /* back to the last kept segment's '/' */
			if (end == NULL)
				*out++ = '/';
		} else if (n == 1 && seg[0] == '.') {
			if (end == NULL)
				*out++ = '/';
		} else {
			memmove(out, in, n + 1);
			out += n + 1;
		}
		in = seg + n;
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
}

/* The target of u's request line ("METHOD target HTTP/1.1"). */
static const char *current_target(const struct upstream_call *u, size_t *len)
{
	const char *sp = memchr(u->head, ' ', u->head_len), *end;

	if (sp == NULL)
		return NULL;
	end = memchr(sp + 1, ' ', u->head_len - (size_t)(sp + 1 - u->head));
	if (end == NULL)
		return NULL;
	*len = (size_t)(end - sp - 1);
	return sp + 1;
}

/* Remove the dot segments of the path of `target` (path, then maybe a
 * query, whose dots stay). */
static void normalize_target(char *target)
{
	char *q = strchr(target, '?');
	char query[CONFIG_URL_MAX];

	if (q == NULL) {
		remove_dot_segments(target);
		return;
	}
	snprintf(query, sizeof(query), "%s", q);
	*q = '\0';
	remove_dot_segments(target);
	/* Fits: removing dots never lengthens the path. */
	memcpy(target + strlen(target), query, strlen(query) + 1);
}

/* Where the Location points, resolved against the request's URL as RFC
 * 9110 10.2.2 asks (RFC 3986 5.2, as curl and browsers do): an absolute
 * http(s) URL, a network-path ("//host/p": the same scheme), an absolute
 * path, a query or a relative path on the same origin; dot segments
 * removed from the path. The fragment is not sent. 0 or -EINVAL (another
 * scheme, a control character or space, too long). */
static int location_url(const struct upstream_call *u, const char *loc, struct config_url *to)
{
	char ref[CONFIG_URL_MAX], abs[CONFIG_URL_MAX + 8], why[8];
	size_t n = strcspn(loc, "#"), blen, keep, scheme;
	const char *base;

	if (n >= sizeof(ref))
		return -EINVAL;
	memcpy(ref, loc, n);
	ref[n] = '\0';
	for (const char *c = ref; *c != '\0'; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return -EINVAL;
	scheme = strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
	if (scheme > 0 && ref[scheme] == ':') {
		if ((strncasecmp(ref, "http://", 7) != 0 && strncasecmp(ref, "https://", 8) != 0) ||
		    config_url_parse(ref, to, why, sizeof(why)) != 0)
			return -EINVAL;
	} else if (ref[0] == '/' && ref[1] == '/') {
		snprintf(abs, sizeof(abs), "%s:%s", u->tls ? "https" : "http", ref);
		if (config_url_parse(abs, to, why, sizeof(why)) != 0)
			return -EINVAL;
	} else {
		base = current_target(u, &blen);
		if (base == NULL)
			return -EINVAL;
		if (ref[0] == '/')
			keep = 0;
		else if (ref[0] == '?')
			keep = strcspn(base, "? ");             /* the base's path */
		else if (ref[0] == '\0')
			keep = blen;                            /* the base itself */
		else
			for (keep = strcspn(base, "? "); keep > 0 && base[keep - 1] != '/'; keep--)
				;                               /* its "directory" */
		if (keep + strlen(ref) >= sizeof(to->target))
			return -EINVAL;
		memset(to, 0, sizeof(*to));
		snprintf(to->host, sizeof(to->host), "%s", u->host);
		to->port = u->port;
		to->tls = u->tls;
		memcpy(to->target, base, keep);
		memcpy(to->target + keep, ref, strlen(ref) + 1);
	}
	if (to->target[0] != '/')
		return -EINVAL;                 /* a base that is not a path ("*") */
	normalize_target(to->target);
	return 0;
}

/* Whether the header line at `line` describes a request body (the Fetch
 * standard's request-body-header names; Tornado drops them too). */
static bool describes_body(const char *line, size_t len)
{
	return line_is(line, len, "Content-Type") || line_is(line, len, "Content-Encoding") ||
	       line_is(line, len, "Content-Language") || line_is(line, len, "Content-Location");
}

/* Rewrite u's request line and Host for `to`, keeping its header lines
 * (without those describing a body it no longer has). */
static int rewrite_head(struct upstream_call *u, unsigned method, const struct config_url *to,
			bool same_origin)
{
	bool body_dropped = method != u->method;
	size_t flen = u->head_len - u->fields_off;
	char *fields = malloc(flen + 1);
	const char *m = http_method_str((enum http_method)method);
	int rc = 0;

	if (fields == NULL)
		return -ENOMEM;
	memcpy(fields, u->head + u->fields_off, flen);
	u->head_len = 0;
	if (up_call_head_append(u, m, strlen(m)) != 0 || up_call_head_append(u, " ", 1) != 0 ||
	    up_call_head_append(u, to->target, strlen(to->target)) != 0 ||
	    up_call_finish_request_line(u, to) != 0)
		rc = -ENOMEM;
	for (size_t off = 0; rc == 0 && off < flen;) {
		const char *line = fields + off, *nl = memchr(line, '\n', flen - off);
		size_t len = nl != NULL ? (size_t)(nl - line) + 1 : flen - off;

		off += len;
		if (!same_origin && (line_is(line, len, "Authorization") || line_is(line, len, "Cookie")))
			continue;
		if (body_dropped && describes_body(line, len))
			continue;
		if (up_call_head_append(u, line, len) != 0)
			rc = -ENOMEM;
	}
	free(fields);
	return rc;
}

int up_redirect(struct up_pool *pl, struct upstream_call *u)
{
	unsigned status = u->resp.status, method = u->method;
	const char *loc;
	struct config_url to;
	bool same_origin;

	if (u->redirects_left == 0 || u->resp.headers == NULL ||
	    !(status == 301 || status == 302 || status == 303 || status == 307 || status == 308))
		return 0;
	loc = resp_header(u, "Location");
	if (loc == NULL || location_url(u, loc, &to) != 0)
		return 0;
	if (u->tls && !to.tls && !u->redirect_downgrade) {
		up_warn(pl, "redirect from https to http not followed", loc);
		return 0;
	}
	if ((status == 303 && method != HTTP_HEAD) ||
	    ((status == 301 || status == 302) && method == HTTP_POST))
		method = HTTP_GET;
	same_origin = to.port == u->port && to.tls == u->tls && strcasecmp(to.host, u->host) == 0;
	if (rewrite_head(u, method, &to, same_origin) != 0)
		return 0;               /* no memory: the 3xx is the answer */
	if (method != u->method) {
		free(u->body);
		u->body = NULL;
		u->body_len = 0;
		u->has_body = false;
		u->method = (uint8_t)method;
	}
	up_call_set_origin(u, &to);
	u->redirects_left--;
	upstream_resp_reset(&u->resp);
	return 1;
}

int up_decode_body(struct upstream_call *u, uint64_t max)
{
	const char *enc;
	z_stream zs;
	char *out = NULL;
	size_t cap = 0, len = 0;
	int zrc = Z_OK, rc;

	if (!u->gzip || u->resp.headers == NULL || u->resp.body_len == 0)
		return 0;
	enc = resp_header(u, "Content-Encoding");
	if (enc == NULL || (strcasecmp(enc, "gzip") != 0 && strcasecmp(enc, "x-gzip") != 0))
		return 0;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)(u->resp.buf + u->resp.body_off);
	zs.avail_in = (uInt)u->resp.body_len;
	while (zrc != Z_STREAM_END) {
		if (len == cap) {
			size_t ncap = cap == 0 ? u->resp.body_len * 4 + 1024 : cap * 2;
			char *p;

			if (cap >= max + 1) {
				rc = -EFBIG;
				goto out;
			}
			if (ncap > max + 1)
				ncap = max + 1;
			p = realloc(out, ncap);
			if (p == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			out = p;
			cap = ncap;
		}
		zs.next_out = (Bytef *)out + len;
		zs.avail_out = (uInt)(cap - len);
		zrc = inflate(&zs, Z_NO_FLUSH);
		len = cap - zs.avail_out;
		if (zrc != Z_OK && zrc != Z_STREAM_END) {
			rc = zrc == Z_MEM_ERROR ? -ENOMEM : -EPROTO;
			goto out;
		}
		if (zrc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
			rc = -EPROTO;           /* truncated */
			goto out;
		}
	}
	rc = len > max ? -EFBIG : upstream_resp_set_body(&u->resp, out, len);
out:
	inflateEnd(&zs);
	free(out);
	return rc;
}
