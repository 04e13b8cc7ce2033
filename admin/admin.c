/*
 * admin.c - the admin actor: its listener pool, access rules, routing and
 * the endpoints that answer at once (see admin.h).
 *
 * DESIGN
 * The admin actor is a listener pool of one (kind "admin") built by
 * net_add_listener_pool: the public side's HTTP/1.1 code parses, limits,
 * orders and times out its connections. Each complete request comes to
 * admin_serve() on the admin actor's own thread, which checks the token,
 * finds the route and fills the response into the same envelope. Only
 * POST /admin/reload answers later (admin_reload.c).
 *
 * Rendering /metrics or /admin/actors walks the actor registry (immutable
 * once started) and reads counters with relaxed loads: O(actors) work on
 * this thread, none on the actors measured.
 *
 * Not here: the collectors (admin_collect.c), the reload (admin_reload.c),
 * the page (dashboard.html).
 *
 * Thread: admin_add_pool on the controlling thread; the rest on the admin
 * actor's thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <http_parser.h>

#include "admin.h"
#include "admin_internal.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "base/clock.h"
#include "config/config_json.h"
#include "net/net.h"

const struct actor_kind admin_kind = { "admin" };

#define NO_STORE "Cache-Control: no-store\r\n"
#define TYPE_JSON "application/json"
#define TYPE_TEXT "text/plain; charset=utf-8"
#define TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

enum admin_method { A_GET, A_POST };

/* Owner: a constant table. */
struct admin_route {
	const char *path;
	enum admin_method method;
	int (*serve)(struct admin *ad, struct http_msg *hm);
};

const struct ad_config *admin_config(const struct admin *ad)
{
	return config_current_or(ad->cfg);
}

void admin_reply_static(struct http_msg *hm, unsigned status, const char *type,
			const char *body, size_t len, const char *headers)
{
	hm->status = (uint16_t)status;
	hm->content_type = type;
	hm->resp_body = body;
	hm->resp_body_len = (uint32_t)len;
	hm->resp_headers = headers;
	hm->resp_headers_len = headers != NULL ? (uint32_t)strlen(headers) : 0;
}

void admin_reply_owned(struct http_msg *hm, unsigned status, const char *type,
		       char *body, size_t len, const char *headers)
{
	static const char oom[] = "out of memory\n";

	if (body == NULL || len > UINT32_MAX / 2) {
		free(body);
		admin_reply_static(hm, 500, TYPE_TEXT, oom, sizeof(oom) - 1, NO_STORE);
		return;
	}
	/* The envelope frees resp_buf (or keeps it, if small, for reuse). */
	free(hm->resp_buf);
	hm->resp_buf = body;
	hm->resp_cap = (uint32_t)len;
	admin_reply_static(hm, status, type, body, len, headers);
}

void admin_reply_json(struct http_msg *hm, unsigned status, cJSON *json)
{
	char *text = json != NULL ? cJSON_PrintUnformatted(json) : NULL;

	cJSON_Delete(json);
	admin_reply_owned(hm, status, TYPE_JSON, text, text != NULL ? strlen(text) : 0, NO_STORE);
}

static void reply_text(struct http_msg *hm, unsigned status, const char *text,
		       const char *headers)
{
	admin_reply_static(hm, status, TYPE_TEXT, text, strlen(text), headers);
}

/* ---- endpoints ---- */

static int serve_livez(struct admin *ad, struct http_msg *hm)
{
	(void)ad;
	reply_text(hm, 200, "ok\n", NO_STORE);
	return 0;
}

static int serve_readyz(struct admin *ad, struct http_msg *hm)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *checks = cJSON_CreateObject();
	bool ready = metrics_run_checks(checks);

	(void)ad;
	cJSON_AddBoolToObject(doc, "ready", ready);
	cJSON_AddItemToObject(doc, "checks", checks);
	admin_reply_json(hm, ready ? 200 : 503, doc);
	return 0;
}

static int serve_metrics(struct admin *ad, struct http_msg *hm)
{
	struct metrics_out *o = metrics_out_create();
	char *text = NULL;
	size_t len = 0;

	(void)ad;
	if (o != NULL) {
		metrics_collect_all(o);
		text = metrics_render_prometheus(o, &len);
		metrics_out_destroy(o);
	}
	admin_reply_owned(hm, 200, TYPE_METRICS, text, len, NO_STORE);
	return 0;
}

static int serve_actors(struct admin *ad, struct http_msg *hm)
{
	admin_reply_json(hm, 200, admin_actors_json(ad));
	return 0;
}

static int serve_config(struct admin *ad, struct http_msg *hm)
{
	cJSON *doc = config_to_json(admin_config(ad));
	char *text = doc != NULL ? cJSON_Print(doc) : NULL;

	cJSON_Delete(doc);
	admin_reply_owned(hm, 200, TYPE_JSON, text, text != NULL ? strlen(text) : 0, NO_STORE);
	return 0;
}

/* A request header, or NULL. */
static const struct http_hdr *find_header(const struct http_msg *hm, const char *name)
{
	size_t n = strlen(name);

	for (unsigned i = 0; i < hm->nheaders; i++)
		if (hm->headers[i].name_len == n && strncasecmp(hm->headers[i].name, name, n) == 0)
			return &hm->headers[i];
	return NULL;
}

/* A change needs a request no cross-site page can send without CORS
 * (which this endpoint never grants): a form or a "no-cors" fetch can
 * only say text/plain, urlencoded or multipart, or nothing. */
bool admin_json_or_415(struct http_msg *hm)
{
	static const char text[] = "a change needs Content-Type: application/json\n";
	const struct http_hdr *h = find_header(hm, "Content-Type");
	size_t n = h != NULL ? strcspn(h->value, "; \t") : 0;

	if (n == 16 && strncasecmp(h->value, "application/json", 16) == 0)
		return true;
	reply_text(hm, 415, text, NO_STORE);
	return false;
}

static int serve_reload(struct admin *ad, struct http_msg *hm)
{
	return admin_json_or_415(hm) ? admin_reload_request(ad, hm) : 0;
}

static int serve_upgrade(struct admin *ad, struct http_msg *hm)
{
	return admin_json_or_415(hm) ? admin_upgrade_request(ad, hm) : 0;
}

static int serve_dashboard(struct admin *ad, struct http_msg *hm)
{
	/* Everything the page needs is inline; nothing else may load. */
	static const char csp[] =
		"Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
		"style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:\r\n"
		NO_STORE;

	(void)ad;
	admin_reply_static(hm, 200, "text/html; charset=utf-8",
			   (const char *)admin_dashboard_html, admin_dashboard_html_len, csp);
	return 0;
}

static int serve_dashboard_redirect(struct admin *ad, struct http_msg *hm)
{
	(void)ad;
	reply_text(hm, 301, "see /admin/\n", "Location: /admin/\r\n" NO_STORE);
	return 0;
}

static int serve_index(struct admin *ad, struct http_msg *hm)
{
	(void)ad;
	reply_text(hm, 200,
		   "actord admin endpoint (docs/ADMIN.md)\n"
		   "GET  /metrics        Prometheus metrics\n"
		   "GET  /livez          the process answers\n"
		   "GET  /readyz         ready to serve (JSON, per check)\n"
		   "GET  /admin/actors   actors and mailboxes (JSON)\n"
		   "GET  /admin/config   effective configuration, secrets redacted\n"
		   "GET  /admin/         live dashboard\n"
		   "POST /admin/reload   reload the configuration (like SIGHUP)\n"
		   "POST /admin/actors/KIND {\"count\": N}  grow or shrink a pool\n"
		   "POST /admin/upgrade  start a binary upgrade (like SIGUSR2)\n", NO_STORE);
	return 0;
}

static const struct admin_route routes[] = {
	{ "/metrics", A_GET, serve_metrics },
	{ "/livez", A_GET, serve_livez },
	{ "/readyz", A_GET, serve_readyz },
	{ "/admin/actors", A_GET, serve_actors },
	{ "/admin/config", A_GET, serve_config },
	{ "/admin/reload", A_POST, serve_reload },
	{ "/admin/upgrade", A_POST, serve_upgrade },
	{ "/admin/", A_GET, serve_dashboard },
	{ "/admin", A_GET, serve_dashboard_redirect },
	{ "/", A_GET, serve_index },
};

/* ---- access ---- */

/* Compare without an early exit, so timing does not reveal how much of a
 * guessed token was right. */
static bool same_secret(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	unsigned char diff = alen != blen;

	for (size_t i = 0; i < blen; i++)
		diff |= (unsigned char)(a[i < alen ? i : 0] ^ b[i]);
	return alen > 0 && diff == 0;
}

static bool authorized(const struct admin *ad, const struct http_msg *hm)
{
	const char *token = admin_config(ad)->admin_token;
	const struct http_hdr *h;

	if (token[0] == '\0')
		return true;
	h = find_header(hm, "Authorization");
	if (h == NULL || h->value_len < 7 || strncasecmp(h->value, "Bearer ", 7) != 0)
		return false;
	return same_secret(h->value + 7, h->value_len - 7, token);
}

/* DNS rebinding: without a token, a page of any site whose name the
 * attacker points at 127.0.0.1 could read this endpoint as same-origin.
 * Its requests carry the attacker's name in Host, so only names that are
 * this endpoint's are served: an IP literal (no name to rebind),
 * "localhost", or admin_listen's own host; any port (SSH tunnels). With a
 * token, a rebound page cannot authenticate and the check is off. */
static bool host_allowed(const struct admin *ad, const struct http_msg *hm)
{
	const struct ad_config *cfg = admin_config(ad);
	const struct http_hdr *h = find_header(hm, "Host");
	char host[CONFIG_HOST_MAX];
	const char *colon;
	size_t n;
	struct in_addr v4;

	if (cfg->admin_token[0] != '\0' || h == NULL) /* no Host: HTTP/1.0, no browser */
		return true;
	if (h->value[0] == '[') { /* an IPv6 literal, then nothing or a port */
		struct in6_addr v6;

		colon = strchr(h->value, ']');
		n = colon != NULL ? (size_t)(colon - h->value - 1) : 0;
		if (n == 0 || n >= sizeof(host) || (colon[1] != '\0' && colon[1] != ':'))
			return false;
		memcpy(host, h->value + 1, n);
		host[n] = '\0';
		/* Only a real address: "[evil.example]" is a name in brackets. */
		return inet_pton(AF_INET6, host, &v6) == 1;
	}
	colon = strrchr(h->value, ':');
	n = colon != NULL ? (size_t)(colon - h->value) : h->value_len;
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, h->value, n);
	host[n] = '\0';
	return strcasecmp(host, "localhost") == 0 || strcasecmp(host, cfg->admin_listen.host) == 0 ||
	       inet_pton(AF_INET, host, &v4) == 1;
}

/* Whether `hm` uses `method`; if not, it is answered 405 with the Allow
 * header ADMIN.md promises. */
static bool method_allowed(struct http_msg *hm, enum admin_method method)
{
	bool read = hm->method == HTTP_GET || hm->method == HTTP_HEAD;

	if (method == A_GET && !read) {
		reply_text(hm, 405, "use GET\n", "Allow: GET, HEAD\r\n" NO_STORE);
		return false;
	}
	if (method == A_POST && hm->method != HTTP_POST) {
		reply_text(hm, 405, "use POST\n", "Allow: POST\r\n" NO_STORE);
		return false;
	}
	return true;
}

/* The reason a refusal's body gives: its "error" member when it is JSON,
 * else its text, on one line. */
static void refusal_reason(const struct http_msg *hm, char *out, size_t len)
{
	size_t n = hm->resp_body_len < len - 1 ? hm->resp_body_len : len - 1;
	cJSON *doc = NULL;
	const cJSON *e;

	if (hm->content_type != NULL && strcmp(hm->content_type, TYPE_JSON) == 0)
		doc = cJSON_ParseWithLength(hm->resp_body, hm->resp_body_len);
	e = cJSON_GetObjectItemCaseSensitive(doc, "error");
	if (cJSON_IsString(e)) {
		snprintf(out, len, "%s", e->valuestring);
	} else {
		memcpy(out, hm->resp_body != NULL ? hm->resp_body : "", n);
		out[n] = '\0';
		for (char *c = out; *c != '\0'; c++)
			if ((unsigned char)*c < ' ')
				*c = ' ';
		while (n > 0 && out[n - 1] == ' ')
			out[--n] = '\0';
	}
	cJSON_Delete(doc);
}

/* Every request refused (4xx) is logged with who sent it and why: an
 * operator's script that fails, a prober with a wrong token, a scanner. */
static void log_refusal(struct admin *ad, const struct http_msg *hm)
{
	char peer[INET6_ADDRSTRLEN + 8] = "?", ip[INET6_ADDRSTRLEN] = "", reason[200];

	if (hm->status < 400 || hm->status >= 500 ||
	    !log_budget_take(&ad->refusals_logged, clock_now_ns(), ADMIN_REFUSALS_LOG_PER_S))
		return;
	if (hm->peer_family == AF_INET || hm->peer_family == AF_INET6) {
		inet_ntop(hm->peer_family, hm->peer_addr, ip, sizeof(ip));
		snprintf(peer, sizeof(peer), hm->peer_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
			 ip, hm->peer_port);
	}
	refusal_reason(hm, reason, sizeof(reason));
	log_warn("admin: %s %.*s from %s refused: %u %s",
		 http_method_str((enum http_method)hm->method),
		 (int)(hm->path_len < 100 ? hm->path_len : 100), hm->path, peer, hm->status, reason);
}

static int route(struct admin *ad, struct http_msg *hm)
{
	if (!host_allowed(ad, hm)) {
		reply_text(hm, 421, "this Host is not the admin endpoint's: use its address "
			   "(127.0.0.1:port), localhost or the admin_listen host\n", NO_STORE);
		return 0;
	}
	if (!authorized(ad, hm)) {
		reply_text(hm, 401, "admin token required: Authorization: Bearer <token>\n",
			   "WWW-Authenticate: Bearer realm=\"actord-admin\"\r\n" NO_STORE);
		return 0;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct admin_route *r = &routes[i];

		if (strlen(r->path) != hm->path_len || memcmp(r->path, hm->path, hm->path_len) != 0)
			continue;
		return method_allowed(hm, r->method) ? r->serve(ad, hm) : 0;
	}
	if (admin_is_resize_path(hm))
		return method_allowed(hm, A_POST) ? admin_resize_request(ad, hm) : 0;
	reply_text(hm, 404, "not found: GET / lists the admin endpoints\n", NO_STORE);
	return 0;
}

static int admin_serve(void *ctx, struct http_msg *hm)
{
	int kept = route(ctx, hm);

	if (kept == 0)
		log_refusal(ctx, hm);
	return kept;
}

static void admin_stop(void *ctx)
{
	admin_reload_stop(ctx);
}

static uint32_t admin_max_connections(const struct ad_config *live)
{
	return live->admin.max_connections;
}

int admin_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		   char *err, size_t errlen)
{
	struct net_pool_spec spec;
	struct timespec now;
	struct admin *ad;
	int rc;

	ad = calloc(1, sizeof(*ad));
	if (ad == NULL) {
		snprintf(err, errlen, "admin: out of memory");
		return -ENOMEM;
	}
	ad->sys = sys;
	ad->cfg = cfg;
	ad->start_ns = clock_now_ns();
	clock_gettime(CLOCK_REALTIME, &now);
	ad->start_time_s = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	spec = (struct net_pool_spec){
		.kind = &admin_kind,
		.count = 1,
		.mailbox = ADMIN_MAILBOX,
		.listen = &cfg->admin_listen,
		.nlisten = 1,
		/* Never in a reuseport group with the public listeners: the
		 * kernel would hand public connections to this socket. */
		.exclusive = true,
		.max_connections = admin_max_connections,
		.max_connections_key = "admin.max_connections",
		/* A probe or a scraper sends its request at once: one that
		 * stalls must not keep /livez from the next (slowloris). */
		.reclaim_unfinished = true,
		.local = admin_serve,
		.local_stop = admin_stop,
		.local_dispose = free,
		.local_ctx = ad,
	};
	rc = net_add_listener_pool(sys, cfg, &spec, err, errlen);
	if (rc != 0) {
		free(ad);
		return rc;
	}
	/* The pool owns `ad` now (local_dispose); the collectors read it
	 * until the system is destroyed. */
	return admin_register_collectors(ad, err, errlen);
}
