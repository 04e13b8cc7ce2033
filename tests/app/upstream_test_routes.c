/*
 * upstream_test_routes.c - the upstream client's per-call options, which
 * no shipped route uses, exposed for the test suite only (config key
 * test_routes):
 *
 *  GET /_test/fetch?url=U[&redirects=N][&downgrade=1][&gzip=1]
 *                  [&connect_ms=N][&first_byte_ms=N][&total_ms=N]
 *      fetches U (http:// or https://) through the upstream actors with
 *      those options and answers JSON {"status", "length", "body" (the
 *      first 200 bytes), "location"}; a failed call answers like every
 *      upstream route (hreq_fail: 502 / 503 / 504).
 *
 *  GET /_test/digest?url=U[&over=N][&stop=N]
 *      fetches U with its body streamed over N bytes (default 1) and read
 *      by the route piece by piece (hreq_read_upstream), hashed as it
 *      arrives; stops reading once `stop` bytes arrived (0: never).
 *      Answers JSON {"status" (the upstream's), "streamed", "bytes",
 *      "pieces", "max_piece", "sha256", "end" (on_end's status: "ok",
 *      "cancelled", "bad_response", "timeout", ...)}.
 *
 *  POST|PUT /_test/upload-digest[?stop=N]
 *      reads the request body piece by piece (ROUTE_STREAM_BODY,
 *      hreq_read_body), hashed as it arrives; stops once `stop` bytes
 *      arrived. Answers the same JSON ("status" 0), or hreq_fail's 413 /
 *      400 when the body was too large or cut short.
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "test_app.h"
#include "handler/hreq_stream.h"
#include "net/upstream.h"

static void fetched(struct hreq *r, struct call_msg *reply, void *arg)
{
	const struct upstream_call *u = upstream_reply(reply);
	const char *body, *loc;
	char head[201];
	size_t len, n;
	cJSON *o;

	(void)arg;
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "fetch");
		return;
	}
	body = upstream_reply_body(u, &len);
	loc = upstream_reply_header(u, "Location");
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "status", upstream_reply_status(u));
	cJSON_AddNumberToObject(o, "length", (double)len);
	n = len < 200 ? len : 200;
	memcpy(head, body, n);
	head[n] = '\0';
	cJSON_AddStringToObject(o, "body", head);
	if (loc != NULL)
		cJSON_AddStringToObject(o, "location", loc);
	hreq_json(r, 200, o);
}

static void get_fetch(struct hreq *r)
{
	const char *url = hreq_query(r, "url");
	struct upstream_call *u;
	int rc = -EINVAL;

	u = url != NULL ? upstream_call_new(HTTP_GET, url, &rc) : NULL;
	if (u == NULL) {
		hreq_error(r, 400, "fetch: bad url (%s)", ad_strerror(rc));
		return;
	}
	upstream_call_follow_redirects(u, (unsigned)hreq_query_long(r, "redirects", 0, 0, 50),
				       hreq_query_long(r, "downgrade", 0, 0, 1) == 1);
	upstream_call_set_timeouts(u, (uint32_t)hreq_query_long(r, "connect_ms", 0, 0, 60000),
				   (uint32_t)hreq_query_long(r, "first_byte_ms", 0, 0, 60000),
				   (uint32_t)hreq_query_long(r, "total_ms", 0, 0, 60000));
	if (hreq_query_long(r, "gzip", 0, 0, 1) == 1 && upstream_call_decode_gzip(u) != 0) {
		upstream_call_free(u);
		hreq_error(r, 500, "fetch: out of memory");
		return;
	}
	rc = hreq_call(r, &upstream_kind, upstream_call_msg(u), fetched, NULL);
	if (rc != 0)
		hreq_fail(r, rc, "fetch");
}

/* ---- GET /_test/digest ---- */

/* In the request's arena; `md` is freed by on_end, which always runs. */
struct digest {
	EVP_MD_CTX *md;
	uint64_t bytes, stop;
	unsigned pieces, max_piece, status;
	bool streamed;
};

static int digest_piece(struct hreq *r, const char *data, size_t len, void *arg)
{
	struct digest *d = arg;

	(void)r;
	EVP_DigestUpdate(d->md, data, len);
	d->bytes += len;
	d->pieces++;
	if (len > d->max_piece)
		d->max_piece = (unsigned)len;
	return d->stop != 0 && d->bytes >= d->stop;
}

static const char *end_name(int status)
{
	switch (-status) {
	case 0: return "ok";
	case ECANCELED: return "cancelled";
	case EPROTO: return "bad_response";
	case ETIMEDOUT: return "timeout";
	case ESHUTDOWN: return "shutdown";
	case EMSGSIZE: return "too_large";
	case ECONNRESET: return "cut";
	default: return ad_strerror(status);
	}
}

static void digest_end(struct hreq *r, int status, void *arg)
{
	struct digest *d = arg;
	unsigned char sum[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned n = 0;
	cJSON *o;

	EVP_DigestFinal_ex(d->md, sum, &n);
	EVP_MD_CTX_free(d->md);
	if (status == -EMSGSIZE || status == -ECONNRESET) {
		hreq_fail(r, status, "upload-digest");    /* 413, 400 */
		return;
	}
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	hex[2 * n] = '\0';
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "status", d->status);
	cJSON_AddBoolToObject(o, "streamed", d->streamed);
	cJSON_AddNumberToObject(o, "bytes", (double)d->bytes);
	cJSON_AddNumberToObject(o, "pieces", d->pieces);
	cJSON_AddNumberToObject(o, "max_piece", d->max_piece);
	cJSON_AddStringToObject(o, "sha256", hex);
	cJSON_AddStringToObject(o, "end", end_name(status));
	hreq_json(r, 200, o);           /* ignored after a 504 */
}

/* Start the hash; false (answered 500) when OpenSSL cannot. */
static bool digest_init(struct hreq *r, struct digest *d)
{
	d->md = EVP_MD_CTX_new();
	if (d->md == NULL || EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(d->md);
		hreq_error(r, 500, "digest: out of memory");
		return false;
	}
	return true;
}

static void digest_head(struct hreq *r, struct call_msg *reply, void *arg)
{
	const struct upstream_call *u = upstream_reply(reply);
	struct digest *d = arg;
	uint32_t from;
	uint64_t id;
	int64_t len;
	int rc;

	if (reply->status != 0) {
		hreq_fail(r, reply->status, "digest");
		return;
	}
	if (!digest_init(r, d))
		return;
	d->status = upstream_reply_status(u);
	d->streamed = upstream_reply_stream(u, &from, &id, &len);
	rc = hreq_read_upstream(r, u, digest_piece, digest_end, d);
	if (rc != 0) {
		EVP_MD_CTX_free(d->md);
		hreq_fail(r, rc, "digest");
	}
}

static void post_upload_digest(struct hreq *r)
{
	struct digest *d = hreq_alloc(r, sizeof(*d));
	struct upload_ref ref;
	int rc;

	if (d == NULL) {
		hreq_error(r, 500, "upload-digest: out of memory");
		return;
	}
	memset(d, 0, sizeof(*d));
	d->stop = (uint64_t)hreq_query_long(r, "stop", 0, 0, LONG_MAX);
	d->streamed = hreq_body_stream(r, &ref);
	if (!digest_init(r, d))
		return;
	rc = hreq_read_body(r, digest_piece, digest_end, d);
	if (rc != 0) {
		EVP_MD_CTX_free(d->md);
		hreq_fail(r, rc, "upload-digest");
	}
}

static void get_digest(struct hreq *r)
{
	const char *url = hreq_query(r, "url");
	struct digest *d = hreq_alloc(r, sizeof(*d));
	struct upstream_call *u;
	int rc = -EINVAL;

	u = url != NULL ? upstream_call_new(HTTP_GET, url, &rc) : NULL;
	if (u == NULL || d == NULL) {
		upstream_call_free(u);
		hreq_error(r, 400, "digest: bad url (%s)", ad_strerror(u == NULL ? rc : -ENOMEM));
		return;
	}
	memset(d, 0, sizeof(*d));
	d->stop = (uint64_t)hreq_query_long(r, "stop", 0, 0, LONG_MAX);
	upstream_call_stream(u, (uint64_t)hreq_query_long(r, "over", 1, 1, LONG_MAX));
	rc = hreq_call(r, &upstream_kind, upstream_call_msg(u), digest_head, d);
	if (rc != 0)
		hreq_fail(r, rc, "digest");
}

int upstream_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
			 size_t errlen)
{
	(void)cfg;
	return route_add(t, ROUTE_GET, "/_test/fetch", get_fetch, NULL, err, errlen) != 0 ||
	       route_add(t, ROUTE_GET, "/_test/digest", get_digest, NULL, err, errlen) != 0 ||
	       route_add(t, ROUTE_POST | ROUTE_PUT | ROUTE_STREAM_BODY, "/_test/upload-digest",
			 post_upload_digest, NULL, err, errlen) != 0 ?
		-EINVAL : 0;
}
