/*
 * upstream_routes.c - routes that call other HTTP services through the
 * upstream actors (net/upstream.h, docs/HANDLERS.md).
 *
 *  GET /upstream       the seed's benchmark (Tornado's AsyncHTTPClient
 *                      fetch): GET upstream.url, then answer "Hello, world"
 *                      (text/plain). Registered when upstream.url is set.
 *  ANY <prefix>*rest   one per upstream.proxy[i]: a small reverse proxy.
 *                      The method, the path after the prefix (appended to
 *                      the target's path), the query, the body and the
 *                      end-to-end headers go to proxy[i].to; its status,
 *                      content type, body and end-to-end headers come back.
 *                      A body over upstream.proxy_buffer_bytes (or unsized
 *                      and growing past it) is streamed: the upstream actor
 *                      sends it to the client's network actor as the client
 *                      reads it (net/stream_msg.h), never whole in memory.
 *                      A request body over upstream.proxy_buffer_bytes, or
 *                      chunked, is streamed the other way the same way
 *                      (hreq_body_stream; upstream.proxy_max_body_bytes
 *                      bounds it, 413 beyond); a smaller one is whole in the
 *                      request (http.max_body_bytes bounds it).
 *
 * Failed calls are answered by hreq_fail (handler_api.h; the table in
 * upstream.h): refused / unreachable, overloaded, stopping, or a name
 * that did not resolve 503 with Retry-After; timeout 504; a failed TLS
 * handshake, a response too large or a bad response 502; a streamed
 * request body too large 413, or cut short 400. An upstream that answers
 * /upstream with anything but 2xx is a 502 too (Tornado's fetch raises
 * for it).
 *
 * Hop-by-hop headers (RFC 9110 7.6.1: Connection and the fields it names,
 * Keep-Alive, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization,
 * TE, Trailer, Transfer-Encoding, Upgrade) are dropped both ways. The
 * client's Host, Content-Length, Expect, traceparent and tracestate are
 * not forwarded (the upstream client writes its own Host and
 * Content-Length, and the trace context with this call's span; Expect was
 * answered by the network actor); X-Forwarded-For gets the client's address appended
 * (never cut short). The upstream's Content-Length, Date and Server are
 * replaced by ours.
 *
 * The forwarded path is normalised (percent-encoded unreserved characters
 * decoded, other escapes upper case); a path with a dot-segment, raw or
 * percent-encoded, with path parameters or not ("..;x"), an encoded
 * slash, a backslash or NUL is refused (400):
 * "/proxy/../admin" must never reach "<target>../admin".
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "app.h"
#include "config/config.h"
#include "handler/web.h"
#include "net/stream_msg.h"
#include "net/upstream.h"

/* Whether `name` is one of the comma-separated tokens of `list` (a
 * Connection header value; may be NULL). */
static bool in_token_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	while (list != NULL && *list != '\0') {
		const char *end;
		size_t len;

		list += strspn(list, " \t,");
		end = list + strcspn(list, ",");
		len = (size_t)(end - list);
		while (len > 0 && (list[len - 1] == ' ' || list[len - 1] == '\t'))
			len--;
		if (len == n && strncasecmp(list, name, n) == 0)
			return true;
		list = end;
	}
	return false;
}

/* Field line `i` of a request or of an upstream's reply: false past the
 * last. */
typedef bool (*field_at_fn)(const void *src, unsigned i, const char **name, const char **value);

static bool request_field_at(const void *src, unsigned i, const char **name, const char **value)
{
	return hreq_header_at(src, i, name, value);
}

static bool reply_field_at(const void *src, unsigned i, const char **name, const char **value)
{
	unsigned n;
	const struct upstream_hdr *h = upstream_reply_headers(src, &n);

	if (i >= n)
		return false;
	*name = h[i].name;
	*value = h[i].value;
	return true;
}

/* The values of every line of `field`, joined with commas into one list
 * (RFC 9110 5.3): a second Connection line names hop-by-hop fields as
 * well as the first. "" if none; NULL without memory. */
static const char *joined(struct hreq *r, const char *field, field_at_fn at, const void *src)
{
	const char *name, *value;
	size_t len = 0;
	char *out;

	for (unsigned i = 0; at(src, i, &name, &value); i++)
		if (strcasecmp(name, field) == 0)
			len += strlen(value) + 1;
	if (len == 0)
		return "";
	out = hreq_alloc(r, len);
	if (out == NULL)
		return NULL;
	len = 0;
	for (unsigned i = 0; at(src, i, &name, &value); i++)
		if (strcasecmp(name, field) == 0) {
			size_t vl = strlen(value);

			memcpy(out + len, value, vl);
			out[len + vl] = ',';
			len += vl + 1;
		}
	out[len - 1] = '\0';
	return out;
}

static bool hop_by_hop(const char *name, const char *connection)
{
	static const char *const fixed[] = {
		"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
		"Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strcasecmp(name, fixed[i]) == 0)
			return true;
	return in_token_list(connection, name);
}

/* ---- GET /upstream ---- */

static void upstream_fetched(struct hreq *r, struct call_msg *reply, void *arg)
{
	static const char body[] = "Hello, world";
	unsigned status;

	(void)arg;
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "upstream");
		return;
	}
	status = upstream_reply_status(upstream_reply(reply));
	if (status < 200 || status > 299) {
		hreq_error(r, 502, "upstream: answered %u", status);
		return;
	}
	hreq_static(r, 200, "text/plain", body, sizeof(body) - 1);
}

static void get_upstream(struct hreq *r)
{
	struct upstream_call *u;
	int rc;

	u = upstream_call_to(HTTP_GET, &hreq_config(r)->upstream.url, "", 0, "", 0, &rc);
	if (u != NULL)
		rc = hreq_call(r, &upstream_kind, upstream_call_msg(u), upstream_fetched, NULL);
	if (rc != 0)
		hreq_fail(r, rc, "upstream");
}

/* ---- The reverse proxy ---- */

static void proxy_answered(struct hreq *r, struct call_msg *reply, void *arg)
{
	const struct upstream_call *u = upstream_reply(reply);
	const struct upstream_hdr *h;
	const char *type, *connection, *body;
	unsigned n;
	size_t len;
	uint32_t from;
	uint64_t id;
	int64_t slen;

	(void)arg;
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "proxy");
		return;
	}
	h = upstream_reply_headers(u, &n);
	connection = joined(r, "Connection", reply_field_at, u);
	if (connection == NULL) {
		hreq_error(r, 500, "proxy: out of memory");
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		if (hop_by_hop(h[i].name, connection) ||
		    strcasecmp(h[i].name, "Content-Length") == 0 ||
		    strcasecmp(h[i].name, "Content-Type") == 0 ||
		    strcasecmp(h[i].name, "Date") == 0 || strcasecmp(h[i].name, "Server") == 0)
			continue;
		/* A value we cannot send (CR/LF) is dropped, not fatal. */
		if (hreq_add_header(r, h[i].name, h[i].value) == -ENOMEM) {
			hreq_error(r, 500, "proxy: out of memory");
			return;
		}
	}
	type = upstream_reply_header(u, "Content-Type");
	if (upstream_reply_stream(u, &from, &id, &slen)) {
		/* A large or unsized body: relayed as it arrives. */
		hreq_send_stream(r, upstream_reply_status(u),
				 type != NULL ? type : "application/octet-stream", from, id, slen);
		return;
	}
	body = upstream_reply_body(u, &len);
	hreq_send(r, upstream_reply_status(u), type != NULL ? type : "application/octet-stream",
		  body, len);
}

/* X-Forwarded-For: the client's earlier list (every line of it, in
 * order: RFC 9110 5.3 makes them one list, and a hop left out would change
 * whom the upstream trusts), then its address. Sized to fit: the last
 * hop, the one the upstream can trust, is never cut. */
static int add_forwarded_for(struct hreq *r, struct upstream_call *u)
{
	const char *client = hreq_client(r), *colon = strrchr(client, ':'), *name, *v;
	size_t iplen = colon != NULL ? (size_t)(colon - client) : strlen(client), len = 0;
	char *value;

	if (client[0] == '[' && iplen >= 2) {   /* "[v6]:port" */
		client++;
		iplen -= 2;
	}
	for (unsigned i = 0; hreq_header_at(r, i, &name, &v); i++)
		if (strcasecmp(name, "X-Forwarded-For") == 0)
			len += strlen(v) + 2;
	value = hreq_alloc(r, len + iplen + 1);
	if (value == NULL)
		return -ENOMEM;
	len = 0;
	for (unsigned i = 0; hreq_header_at(r, i, &name, &v); i++) {
		size_t n = strlen(v);

		if (strcasecmp(name, "X-Forwarded-For") != 0 || n == 0)
			continue;
		memcpy(value + len, v, n);
		memcpy(value + len + n, ", ", 2);
		len += n + 2;
	}
	memcpy(value + len, client, iplen);
	value[len + iplen] = '\0';
	return upstream_call_add_header(u, "X-Forwarded-For", value);
}

static int forward_request(struct hreq *r, struct upstream_call *u)
{
	const char *connection = joined(r, "Connection", request_field_at, r), *name, *value, *body;
	struct upload_ref up;
	size_t len;
	int rc;

	if (connection == NULL)
		return -ENOMEM;

	for (unsigned i = 0; hreq_header_at(r, i, &name, &value); i++) {
		if (hop_by_hop(name, connection) || strcasecmp(name, "Host") == 0 ||
		    strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Expect") == 0 ||
		    strcasecmp(name, "X-Forwarded-For") == 0)
			continue;
		rc = upstream_call_add_header(u, name, value);
		if (rc == -ENOMEM)
			return rc;
	}
	rc = add_forwarded_for(r, u);
	if (rc == -ENOMEM)
		return rc;
	if (hreq_body_stream(r, &up)) {
		upstream_call_stream_body(u, &up);   /* relayed as it arrives */
		return 0;
	}
	body = hreq_body(r, &len);
	if (len > 0)
		return upstream_call_set_body(u, body, len);
	return 0;
}

/* An https route's own TLS files (upstream.proxy[i].ca_file, cert_file,
 * key_file): the upstream actor finds them by the route's index. */
static void use_proxy_tls(struct hreq *r, struct upstream_call *u, const struct config_proxy *px)
{
	const struct config_upstream *up = &hreq_config(r)->upstream;

	for (unsigned i = 0; i < up->nproxy; i++)
		if (strcmp(up->proxy[i].prefix, px->prefix) == 0)
			upstream_call_use_proxy_tls(u, i);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool unreserved(unsigned char c)
{
	return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* The path after the proxy prefix, as it is forwarded: percent-encoded
 * unreserved characters decoded and other escapes in upper case (RFC 3986
 * 6.2.2), written into `out` (`len` + 1 bytes). NULL, with `why`, if it
 * must not be forwarded at all: a dot-segment ("." or "..", raw or
 * encoded, alone or before a ';' path parameter) would climb out of the
 * target's path, and an encoded slash or
 * a backslash (raw or encoded) or NUL would let an upstream that decodes
 * them before normalising do the same. */
static const char *proxy_path(const char *in, size_t len, char *out, const char **why)
{
	size_t o = 0, seg = 0;

	for (size_t i = 0; i <= len; i++) {
		char ch = i < len ? in[i] : '/';

		if (ch == '%' && i < len) {
			int hi = i + 2 < len ? hexval(in[i + 1]) : -1;
			int lo = i + 2 < len ? hexval(in[i + 2]) : -1;
			unsigned char dec;

			if (i + 2 >= len || hi < 0 || lo < 0) {
				*why = "invalid percent-encoding";
				return NULL;
			}
			dec = (unsigned char)(hi << 4 | lo);
			if (dec == '/' || dec == '\\' || dec == '\0') {
				*why = "encoded slash, backslash or NUL";
				return NULL;
			}
			i += 2;
			if (unreserved(dec)) {
				out[o++] = (char)dec;
			} else {
				out[o++] = '%';
				out[o++] = "0123456789ABCDEF"[dec >> 4];
				out[o++] = "0123456789ABCDEF"[dec & 15];
			}
			continue;
		}
		if (ch == '\\') {
			*why = "backslash";
			return NULL;
		}
		if (ch == '/') {
			/* out[seg..o) is the segment that just ended, decoded;
			 * up to a ';': servers that strip path parameters
			 * before they normalise (Tomcat, Jetty) take "..;x"
			 * for "..". */
			const char *semi = memchr(out + seg, ';', o - seg);
			size_t n = semi != NULL ? (size_t)(semi - (out + seg)) : o - seg;

			if ((n == 1 && out[seg] == '.') ||
			    (n == 2 && out[seg] == '.' && out[seg + 1] == '.')) {
				*why = "dot-segment";
				return NULL;
			}
			if (i == len)
				break;
			seg = o + 1;
		}
		out[o++] = ch;
	}
	out[o] = '\0';
	return out;
}

static void any_proxy(struct hreq *r)
{
	const struct config_proxy *px = hreq_route_data(r);
	const char *path = hreq_path(r), *query, *rest, *why = NULL;
	size_t plen = strlen(px->prefix), qlen, rlen = strlen(path) - plen;
	struct upstream_call *u;
	char *buf;
	int rc;

	/* The route matched "<prefix>*rest": the path starts with the prefix.
	 * Normalising only shortens the path (3 bytes become 1 or 3). */
	buf = hreq_alloc(r, rlen + 1);
	if (buf == NULL) {
		hreq_error(r, 500, "proxy: out of memory");
		return;
	}
	rest = proxy_path(path + plen, rlen, buf, &why);
	if (rest == NULL) {
		hreq_error(r, 400, "proxy: the path cannot be forwarded (%s)", why);
		return;
	}
	query = hreq_query_string(r, &qlen);
	u = upstream_call_to(hreq_method(r), &px->to, rest, strlen(rest), query, qlen, &rc);
	if (u != NULL) {
		use_proxy_tls(r, u, px);
		upstream_call_stream(u, hreq_config(r)->upstream.proxy_buffer_bytes);
		rc = forward_request(r, u);
		if (rc == 0)
			rc = hreq_call(r, &upstream_kind, upstream_call_msg(u), proxy_answered, NULL);
		else
			upstream_call_free(u);
	}
	if (rc == -EINVAL)
		hreq_error(r, 400, "proxy: the request cannot be forwarded");
	else if (rc != 0)
		hreq_fail(r, rc, "proxy");
}

int upstream_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		    size_t errlen)
{
	const struct config_upstream *up = &cfg->upstream;
	char pattern[CONFIG_PREFIX_MAX + 8];

	if (up->url.url[0] != '\0' &&
	    route_add(t, ROUTE_GET, "/upstream", get_upstream, NULL, err, errlen) != 0)
		return -EINVAL;
	for (unsigned i = 0; i < up->nproxy; i++) {
		snprintf(pattern, sizeof(pattern), "%s*rest", up->proxy[i].prefix);
		if (route_add(t, ROUTE_ANY | ROUTE_STREAM_BODY, pattern, any_proxy,
			      (void *)&up->proxy[i], err, errlen) != 0)
			return -EINVAL;
	}
	return 0;
}
