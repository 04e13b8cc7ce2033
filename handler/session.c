/*
 * session.c - server-side sessions in Redis (session.h).
 *
 * DESIGN
 * One cache call per step: load = GET + PEXPIRE (one round trip, the
 * expiry slides on every use), save = SET PX (+ DEL of the old key after
 * a rotation), destroy = DEL. The map is parsed from JSON into the
 * request's arena at load and written back as JSON at save, so nothing
 * outlives the request.
 *
 * Thread: the handler actor that owns the request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cjson/cJSON.h>

#include "session.h"
#include "web.h"
#include "base/hex.h"
#include "config/config.h"
#include "storage/cache.h"

#define SID_BYTES 16
#define SID_HEX (2 * SID_BYTES)

struct hsession {
	char id[SID_HEX + 1];
	char old_id[SID_HEX + 1];     /* to delete after a rotation; "" none */
	bool is_new, dirty;
	unsigned n;
	const char *keys[HSESSION_MAX_KEYS];
	const char *values[HSESSION_MAX_KEYS];
	struct hreq *r;
};

/* One step in flight: what to run after it. */
struct hsess_step {
	struct hsession *s;
	hsession_fn k;
	void *arg;
	const char *login_url;        /* hsession_authenticated */
	bool set_cookie;              /* hsession_save: the id is new to the browser */
};

static bool new_id(char out[SID_HEX + 1])
{
	unsigned char raw[SID_BYTES];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return false;
	hex_encode(raw, SID_BYTES, out);
	return true;
}

static bool is_id(const char *s)
{
	if (s == NULL || strlen(s) != SID_HEX)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static char *redis_key(struct hreq *r, const char *id, size_t *len)
{
	const char *prefix = hreq_config(r)->session.prefix;
	size_t n = strlen(prefix) + SID_HEX + 1;
	char *k = hreq_alloc(r, n);

	if (k != NULL)
		*len = (size_t)snprintf(k, n, "%s%s", prefix, id);
	return k;
}

/* A cache request for the session `id`'s key (in *key); NULL (nothing
 * allocated) on ENOMEM. */
static struct cache_req *keyed_req(struct hreq *r, const char *id, char **key, size_t *len)
{
	struct cache_req *q;

	*key = redis_key(r, id, len);
	q = *key != NULL ? cache_req_new() : NULL;
	return q;
}

const char *hsession_get(const struct hsession *s, const char *key)
{
	for (unsigned i = 0; i < s->n; i++)
		if (strcmp(s->keys[i], key) == 0)
			return s->values[i];
	return NULL;
}

int hsession_set(struct hsession *s, const char *key, const char *value)
{
	char *v = NULL;
	unsigned i;

	for (i = 0; i < s->n && strcmp(s->keys[i], key) != 0; i++)
		;
	if (value == NULL) {
		if (i < s->n) {
			s->keys[i] = s->keys[s->n - 1];
			s->values[i] = s->values[s->n - 1];
			s->n--;
			s->dirty = true;
		}
		return 0;
	}
	if (i == s->n && s->n == HSESSION_MAX_KEYS)
		return -ENOSPC;
	v = hreq_strdup(s->r, value);
	if (v == NULL)
		return -ENOMEM;
	if (i == s->n) {
		s->keys[i] = hreq_strdup(s->r, key);
		if (s->keys[i] == NULL)
			return -ENOMEM;
		s->n++;
	}
	s->values[i] = v;
	s->dirty = true;
	return 0;
}

bool hsession_is_new(const struct hsession *s)
{
	return s->is_new;
}

void hsession_rotate(struct hsession *s)
{
	if (!s->is_new && s->old_id[0] == '\0')
		memcpy(s->old_id, s->id, sizeof(s->id));
	if (new_id(s->id))
		s->dirty = true;
}

/* Fill `s` from the stored JSON object; junk gives an empty session. */
static void parse_stored(struct hsession *s, const char *json, size_t len)
{
	cJSON *o = cJSON_ParseWithLength(json, len), *it;

	cJSON_ArrayForEach(it, o) {
		if (cJSON_IsString(it) && it->string != NULL && s->n < HSESSION_MAX_KEYS) {
			s->keys[s->n] = hreq_strdup(s->r, it->string);
			s->values[s->n] = hreq_strdup(s->r, it->valuestring);
			if (s->keys[s->n] != NULL && s->values[s->n] != NULL)
				s->n++;
		}
	}
	cJSON_Delete(o);
}

/* Whether the client asked for JSON rather than a page. */
static bool wants_json(struct hreq *r)
{
	const char *accept = hreq_header(r, "Accept");

	return hreq_header(r, "X-Requested-With") != NULL ||
	       (accept != NULL && strstr(accept, "application/json") != NULL &&
		strstr(accept, "text/html") == NULL);
}

static void deny(struct hreq *r, const char *login_url)
{
	unsigned m = hreq_method(r);
	const char *path = hreq_path(r), *query;
	size_t qlen, plen = strlen(path), n;
	char *to, *uri;

	if (wants_json(r)) {
		hreq_add_header(r, "WWW-Authenticate", "Session");
		hreq_error(r, 401, "login required");
		return;
	}
	if (m != 1 /* HTTP_GET */ && m != 2 /* HTTP_HEAD */) {
		hreq_error(r, 403, "login required");
		return;
	}
	/* next= the whole URI, query included (as Tornado's request.uri),
	 * so the login comes back to /me?tab=2, not /me. */
	query = hreq_query_string(r, &qlen);
	n = strlen(login_url) + 3 * (plen + 1 + qlen) + 16;
	to = hreq_alloc(r, n);
	uri = hreq_alloc(r, plen + 1 + qlen + 1);
	if (to == NULL || uri == NULL) {
		hreq_fail(r, -ENOMEM, "session");
		return;
	}
	snprintf(uri, plen + 1 + qlen + 1, "%s%s%.*s", path, qlen > 0 ? "?" : "", (int)qlen,
		 query);
	/* next=<uri>, percent-encoded: its '?', '&', '=' and '%' too, so
	 * the login page's hreq_query("next") gives the URI back as sent. */
	size_t w = (size_t)snprintf(to, n, "%s%snext=", login_url,
				    strchr(login_url, '?') != NULL ? "&" : "?");
	for (const char *p = uri; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '/' || c == '-' || c == '_' || c == '.' || c == '~')
			to[w++] = (char)c;
		else
			w += (size_t)snprintf(to + w, n - w, "%%%02X", c);
	}
	to[w] = '\0';
	hreq_redirect(r, 302, to);
}

static void on_loaded(struct hreq *r, struct call_msg *reply, void *arg)
{
	struct hsess_step *st = arg;
	const struct cache_value *v = cache_result(reply, 0);

	if (reply->status != 0) {
		hreq_fail(r, reply->status, "session store");
		return;
	}
	if (v != NULL && v->type == CACHE_STRING) {
		parse_stored(st->s, v->str, v->len);
	} else {
		/* Expired or unknown: a fresh session with a fresh id. */
		st->s->is_new = true;
		if (!new_id(st->s->id)) {
			hreq_fail(r, -EIO, "session");
			return;
		}
	}
	if (st->login_url != NULL && hsession_get(st->s, "user") == NULL) {
		deny(r, st->login_url);
		return;
	}
	st->k(r, st->s, st->arg);
}

static struct hsess_step *step_new(struct hreq *r, struct hsession *s, hsession_fn k, void *arg)
{
	struct hsess_step *st = hreq_alloc(r, sizeof(*st));

	if (st != NULL)
		*st = (struct hsess_step){ s, k, arg, NULL, false };
	return st;
}

static int load(struct hreq *r, const char *login_url, hsession_fn k, void *arg)
{
	const struct ad_config *cfg = hreq_config(r);
	struct hsession *s = hreq_alloc(r, sizeof(*s));
	struct hsess_step *st;
	struct cache_req *q;
	const char *sid;
	char *key;
	size_t klen = 0;

	if (s == NULL || (st = step_new(r, s, k, arg)) == NULL)
		return -ENOMEM;
	memset(s, 0, sizeof(*s));
	s->r = r;
	st->login_url = login_url;
	sid = hreq_signed_cookie(r, cfg->session.cookie, cfg->session.max_age_s);
	if (!is_id(sid)) {
		s->is_new = true;
		if (!new_id(s->id))
			return -EIO;
		if (login_url != NULL) {
			deny(r, login_url);
			return 0;
		}
		k(r, s, arg);
		return 0;
	}
	memcpy(s->id, sid, SID_HEX + 1);
	q = keyed_req(r, s->id, &key, &klen);
	if (q == NULL)
		return -ENOMEM;
	cache_req_get(q, key, klen);
	cache_req_expire(q, key, klen, cfg->session.idle_s * 1000u);
	return hreq_call(r, &cache_kind, cache_req_call(q), on_loaded, st);
}

int hsession_load(struct hreq *r, hsession_fn k, void *arg)
{
	return load(r, NULL, k, arg);
}

int hsession_authenticated(struct hreq *r, const char *login_url, hsession_fn k, void *arg)
{
	return load(r, login_url, k, arg);
}

static void on_stored(struct hreq *r, struct call_msg *reply, void *arg)
{
	struct hsess_step *st = arg;
	const struct ad_config *cfg = hreq_config(r);
	const struct hcookie_opts co = {
		.max_age_s = cfg->session.max_age_s, .http_only = true,
	};
	int rc;

	if (reply->status != 0) {
		hreq_fail(r, reply->status, "session store");
		return;
	}
	/* Only now: a cookie sent with the store's 503 would name a session
	 * that does not exist and replace the browser's working one (after
	 * a rotation, the old session is still in Redis). */
	if (st->set_cookie) {
		rc = hreq_set_signed_cookie(r, cfg->session.cookie, st->s->id, &co);
		if (rc != 0) {
			hreq_fail(r, rc, "session cookie");
			return;
		}
	}
	st->k(r, st->s, st->arg);
}

int hsession_save(struct hreq *r, struct hsession *s, hsession_fn k, void *arg)
{
	const struct ad_config *cfg = hreq_config(r);
	struct hsess_step *st = step_new(r, s, k, arg);
	struct cache_req *q;
	cJSON *o;
	char *json, *key;
	size_t klen = 0;
	int rc;

	if (st == NULL)
		return -ENOMEM;
	if (!s->dirty) {
		k(r, s, arg);
		return 0;
	}
	o = cJSON_CreateObject();
	for (unsigned i = 0; o != NULL && i < s->n; i++)
		cJSON_AddStringToObject(o, s->keys[i], s->values[i]);
	json = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	q = keyed_req(r, s->id, &key, &klen);
	rc = json == NULL || q == NULL ? -ENOMEM : 0;
	if (rc == 0) {
		cache_req_set(q, key, klen, json, strlen(json), cfg->session.idle_s * 1000u);
		if (s->old_id[0] != '\0' && (key = redis_key(r, s->old_id, &klen)) != NULL)
			cache_req_del(q, key, klen);
	}
	free(json);
	if (rc != 0) {
		if (q != NULL)
			msg_free(&cache_req_call(q)->m);
		return rc;
	}
	st->set_cookie = s->is_new || s->old_id[0] != '\0';
	s->dirty = false;
	s->is_new = false;
	s->old_id[0] = '\0';
	return hreq_call(r, &cache_kind, cache_req_call(q), on_stored, st);
}

int hsession_destroy(struct hreq *r, struct hsession *s, hsession_fn k, void *arg)
{
	struct hsess_step *st = step_new(r, s, k, arg);
	struct cache_req *q;
	char *key;
	size_t klen = 0;
	int rc;

	if (st == NULL)
		return -ENOMEM;
	rc = hreq_clear_cookie(r, hreq_config(r)->session.cookie, NULL);
	if (rc != 0)
		return rc;
	s->n = 0;
	s->dirty = false;
	if (s->is_new) {
		k(r, s, arg);
		return 0;
	}
	/* Rotated in this request and not saved: what Redis holds is under
	 * the old id (the new one was never stored). */
	q = keyed_req(r, s->old_id[0] != '\0' ? s->old_id : s->id, &key, &klen);
	if (q == NULL)
		return -ENOMEM;
	cache_req_del(q, key, klen);
	return hreq_call(r, &cache_kind, cache_req_call(q), on_stored, st);
}
