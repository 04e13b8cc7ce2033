/*
 * ws_session.c - WebSocket connections as a handler actor sees them
 * (ws_api.h): the handshake, the sessions and their events.
 *
 * DESIGN
 * hreq_websocket checks the opening handshake (RFC 6455 4.2.1), computes
 * Sec-WebSocket-Accept (SHA-1 and base64 from OpenSSL's libcrypto), and
 * answers 101 with HTTP_MSG_F_WEBSOCKET set: the network actor switches
 * the connection when that answer leaves. The session (struct ws_conn)
 * is made here and kept in this actor's table by connection id; the
 * network actor sends every event of the connection to this actor
 * (PUSH_MSG_EVENT, in order), and the CLOSE event, which always comes
 * exactly once (1006 if the upgrade never completed), frees it after
 * on_close. Sessions still open when the handler stops get on_close(1001).
 *
 * Thread: the handler actor.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "handler_internal.h"
#include "ws_api.h"
#include "actors/log.h"
#include "config/config.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct ws_conn {
	struct ws_conn *next;             /* hash chain */
	struct handler *h;
	const struct ws_handler_ops *ops;
	void *user;
	uint64_t id;
	bool opened;
	char protocol[64];
	char client[64];
};

/* Owner: the handler actor. */
struct ws_sessions {
	struct ws_conn **buckets;
	uint32_t nbuckets;
	uint32_t count;
};

static uint32_t bucket_of(const struct ws_sessions *s, uint64_t id)
{
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & (s->nbuckets - 1);
}

static struct ws_conn **find(struct ws_sessions *s, uint64_t id)
{
	struct ws_conn **pp;

	if (s == NULL || s->nbuckets == 0)
		return NULL;
	for (pp = &s->buckets[bucket_of(s, id)]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == id)
			return pp;
	return NULL;
}

static int insert(struct handler *h, struct ws_conn *w)
{
	struct ws_sessions *s = h->ws;

	if (s == NULL) {
		s = h->ws = calloc(1, sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
	}
	if (s->count >= s->nbuckets) {
		uint32_t n = s->nbuckets > 0 ? s->nbuckets * 2 : 256;
		struct ws_conn **b = calloc(n, sizeof(*b)), **old = s->buckets;
		uint32_t oldn = s->nbuckets;

		if (b == NULL)
			return -ENOMEM;
		s->buckets = b;
		s->nbuckets = n;
		for (uint32_t i = 0; i < oldn; i++) {
			struct ws_conn *c = old[i], *next;

			for (; c != NULL; c = next) {
				next = c->next;
				c->next = b[bucket_of(s, c->id)];
				b[bucket_of(s, c->id)] = c;
			}
		}
		free(old);
	}
	w->next = s->buckets[bucket_of(s, w->id)];
	s->buckets[bucket_of(s, w->id)] = w;
	s->count++;
	return 0;
}

/* ---- The handshake ---- */

/* Whether the comma-separated header value `v` holds `token`. */
static bool has_token(const char *v, const char *token)
{
	size_t n = strlen(token);

	while (v != NULL && *v != '\0') {
		size_t len;

		v += strspn(v, " \t,");
		len = strcspn(v, ",");
		while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (len == n && strncasecmp(v, token, n) == 0)
			return true;
		v += strcspn(v, ",");
	}
	return false;
}

/* Whether the space-separated list of origins `words` holds `w` (length
 * n). Scheme and host are case-insensitive (RFC 6454 4): a browser sends
 * them in lower case, an operator may write "https://App.example". */
static bool in_words(const char *words, const char *w, size_t n)
{
	const char *p = words;

	while (*p != '\0') {
		size_t len = strcspn(p, " ");

		if (len == n && strncasecmp(p, w, n) == 0)
			return true;
		p += len;
		p += *p == ' ';
	}
	return false;
}

/* A Sec-WebSocket-Key is 16 bytes in base64: 22 characters and "==". */
static bool key_valid(const char *k)
{
	unsigned char out[20];

	if (k == NULL || strlen(k) != 24 || k[22] != '=' || k[23] != '=')
		return false;
	return EVP_DecodeBlock(out, (const unsigned char *)k, 24) == 18;
}

static void accept_value(const char *key, char out[32])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char buf[24 + sizeof(WS_GUID)];

	memcpy(buf, key, 24);
	memcpy(buf + 24, WS_GUID, sizeof(WS_GUID) - 1);
	SHA1((const unsigned char *)buf, 24 + sizeof(WS_GUID) - 1, md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* Whether any field named `name` holds `token`: repeated fields are one
 * comma-separated list (RFC 9110 5.3; RFC 6455 11.3.4 says so of
 * Sec-WebSocket-Protocol), and a proxy may split "Connection: keep-alive,
 * Upgrade" in two. */
static bool field_has_token(const struct hreq *r, const char *name, const char *token)
{
	const char *n, *v;

	for (unsigned i = 0; hreq_header_at(r, i, &n, &v); i++)
		if (strcasecmp(n, name) == 0 && has_token(v, token))
			return true;
	return false;
}

/* The first of the configured subprotocols the client offers. */
static void pick_protocol(const struct hreq *r, const char *ours, char *out, size_t len)
{
	const char *p = ours;

	out[0] = '\0';
	while (*p != '\0') {
		size_t n = strcspn(p, " ");
		char w[64];

		if (n < sizeof(w)) {
			memcpy(w, p, n);
			w[n] = '\0';
			if (field_has_token(r, "Sec-WebSocket-Protocol", w)) {
				snprintf(out, len, "%s", w);
				return;
			}
		}
		p += n;
		p += *p == ' ';
	}
}

/* How many fields named `name` the request has. */
static unsigned header_count(const struct hreq *r, const char *name)
{
	const char *n, *v;
	unsigned k = 0;

	for (unsigned i = 0; hreq_header_at(r, i, &n, &v); i++)
		k += strcasecmp(n, name) == 0;
	return k;
}

/* 426 carries the protocol to upgrade to (RFC 9110 15.5.22: MUST send
 * Upgrade) and the version we speak (RFC 6455 4.4). */
static void upgrade_required(struct hreq *r, const char *why)
{
	hreq_add_header(r, "Upgrade", "websocket");
	hreq_add_header(r, "Sec-WebSocket-Version", "13");
	hreq_error(r, 426, why);
}

int hreq_websocket(struct hreq *r, const struct ws_handler_ops *ops, void *user)
{
	const struct config_websocket *wc = &hreq_config(r)->websocket;
	const char *key = hreq_header(r, "Sec-WebSocket-Key");
	const char *version = hreq_header(r, "Sec-WebSocket-Version");
	const char *origin = hreq_header(r, "Origin");
	char acc[32], proto[64];
	struct ws_conn *w;
	uint32_t slot;

	if (hreq_answered(r))
		return -EALREADY;
	if (hreq_method(r) != HTTP_GET || r->hm->version_minor != 1 ||
	    !field_has_token(r, "Upgrade", "websocket") ||
	    !field_has_token(r, "Connection", "upgrade") || version == NULL) {
		upgrade_required(r, "a WebSocket handshake (GET, HTTP/1.1, Upgrade: websocket) "
				 "is expected here");
		return -EINVAL;
	}
	/* RFC 6455 11.3.5: the version MUST NOT appear more than once (reading
	 * the first alone would take "13" next to "8", and refuse the reverse). */
	if (header_count(r, "Sec-WebSocket-Version") != 1) {
		hreq_error(r, 400, "Sec-WebSocket-Version more than once");
		return -EINVAL;
	}
	if (strcmp(version, "13") != 0) {
		upgrade_required(r, "unsupported Sec-WebSocket-Version");
		return -EINVAL;
	}
	/* RFC 6455 11.3.1: the key MUST NOT appear more than once. */
	if (!key_valid(key) || header_count(r, "Sec-WebSocket-Key") != 1) {
		hreq_error(r, 400, "bad Sec-WebSocket-Key");
		return -EINVAL;
	}
	if (wc->origins[0] != '\0' &&
	    (origin == NULL || !in_words(wc->origins, origin, strlen(origin)))) {
		hreq_error(r, 403, "origin not allowed");
		return -EPERM;
	}
	slot = (uint32_t)r->hm->conn_id;
	if (ops == NULL || ops->on_close == NULL || slot > WS_ID_SLOT_MAX) {
		hreq_error(r, ops == NULL || ops->on_close == NULL ? 500 : 503,
			   "cannot accept the WebSocket");
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		hreq_error(r, 503, "no memory");
		return -ENOMEM;
	}
	w->h = r->h;
	w->ops = ops;
	w->user = user;
	w->id = ws_id_make(r->hm->m.reply_to, slot, (uint32_t)(r->hm->conn_id >> 32));
	snprintf(w->client, sizeof(w->client), "%s", hreq_client(r));
	pick_protocol(r, wc->subprotocols, proto, sizeof(proto));
	snprintf(w->protocol, sizeof(w->protocol), "%s", proto);
	accept_value(key, acc);
	if (find(r->h->ws, w->id) != NULL || insert(r->h, w) != 0 ||
	    hreq_add_header(r, "Sec-WebSocket-Accept", acc) != 0 ||
	    (proto[0] != '\0' && hreq_add_header(r, "Sec-WebSocket-Protocol", proto) != 0)) {
		struct ws_conn **pp = find(r->h->ws, w->id);

		if (pp != NULL && *pp == w) {
			*pp = w->next;
			r->h->ws->count--;
		}
		free(w);
		hreq_error(r, 503, "no memory");
		return -ENOMEM;
	}
	r->hm->m.flags |= HTTP_MSG_F_WEBSOCKET;
	hreq_static(r, 101, "text/plain", "", 0);
	return 0;
}

/* ---- Events ---- */

static void session_free(struct handler *h, struct ws_conn **pp)
{
	struct ws_conn *w = *pp;

	*pp = w->next;
	h->ws->count--;
	free(w);
}

void ws_session_event(struct handler *h, struct msg *m)
{
	struct push_msg *ev = (struct push_msg *)(void *)m;
	struct ws_conn **pp = find(h->ws, ev->ws_id), *w;

	if (pp == NULL) {
		msg_free(m);     /* a session this actor no longer has */
		return;
	}
	w = *pp;
	switch (ev->event) {
	case WS_EV_OPEN:
		w->opened = true;
		if (w->ops->on_open != NULL)
			w->ops->on_open(w);
		break;
	case WS_EV_MESSAGE:
		if (w->ops->on_message != NULL)
			w->ops->on_message(w, ev->data, ev->len, ev->text);
		break;
	case WS_EV_CLOSE:
		w->ops->on_close(w, ev->code, ev->data);
		pp = find(h->ws, ev->ws_id);   /* the callback may have grown the table */
		if (pp != NULL)
			session_free(h, pp);
		break;
	default:
		break;
	}
	msg_free(m);
}

void ws_sessions_destroy(struct handler *h)
{
	struct ws_sessions *s = h->ws;

	if (s == NULL)
		return;
	for (uint32_t i = 0; i < s->nbuckets; i++)
		while (s->buckets[i] != NULL) {
			struct ws_conn *w = s->buckets[i];

			w->ops->on_close(w, 1001, "shutting down");
			session_free(h, &s->buckets[i]);
		}
	free(s->buckets);
	free(s);
	h->ws = NULL;
}

/* ---- Accessors ---- */

uint64_t ws_conn_id(const struct ws_conn *w) { return w->id; }
void *ws_conn_user(const struct ws_conn *w) { return w->user; }
void ws_conn_set_user(struct ws_conn *w, void *user) { w->user = user; }
const char *ws_conn_protocol(const struct ws_conn *w) { return w->protocol; }
const char *ws_conn_client(const struct ws_conn *w) { return w->client; }
struct actor *ws_conn_actor(const struct ws_conn *w) { return w->h->actor; }

int ws_conn_send(struct ws_conn *w, const void *data, size_t len, bool text)
{
	return ws_send(w->h->sys, w->id, data, len, text);
}

int ws_conn_close(struct ws_conn *w, unsigned code, const char *reason)
{
	return ws_close(w->h->sys, w->id, code, reason);
}
