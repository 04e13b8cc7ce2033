/*
 * admin_ops.c - operations without downtime: POST /admin/actors/<kind>
 * (resize a pool) and POST /admin/upgrade (start a binary upgrade).
 *
 * DESIGN
 * Resizing runs here, on the admin actor's thread, through the runtime
 * (actor_system_resize: serialised with stopping by the runtime's control
 * lock): growing waits for the new members' `start` (a few ms; storage
 * actors connect from their loop afterwards), shrinking returns at once and
 * the removed members retire on their own. Growing into a slot whose
 * member still retires is refused at once (503), never waited for here.
 * The answer says what the pool is now: {"kind", "count", "previous",
 * "max", "retiring"}.
 *
 * Upgrading belongs to the controlling thread (server/upgrade.c): this file
 * only sends it SIGUSR2, like `kill -USR2`, and answers 202 with our pid;
 * the caller watches the pid in GET /admin/actors change (the admin socket
 * passes to the new process) or actord_upgrade_failures_total grow.
 *
 * Thread: the admin actor.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "admin_internal.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "handler/webparse.h"

#define RESIZE_PREFIX "/admin/actors/"
#define RETRY_LATER "Retry-After: 1\r\nCache-Control: no-store\r\n"

static cJSON *error_doc(const char *text)
{
	cJSON *doc = cJSON_CreateObject();

	cJSON_AddStringToObject(doc, "error", text);
	return doc;
}

static int reply_error(struct http_msg *hm, unsigned status, const char *text)
{
	admin_reply_json(hm, status, error_doc(text));
	return 0;
}

bool admin_is_resize_path(const struct http_msg *hm)
{
	size_t n = sizeof(RESIZE_PREFIX) - 1;

	return hm->path_len > n && memcmp(hm->path, RESIZE_PREFIX, n) == 0;
}

/* {"count": N} with N a whole number; anything else is refused. A whole
 * number too large for `unsigned` is out of every pool's range (422), not
 * malformed (400): -ERANGE. */
static int parse_count(const struct http_msg *hm, unsigned *count)
{
	size_t at;
	const char *what;
	/* Strict: one value and nothing after it (handler/webparse.h). */
	cJSON *doc = wp_json_parse(hm->body != NULL ? hm->body : "", hm->body_len, &at, &what);
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(doc, "count");
	int rc = -EINVAL;

	if (cJSON_IsNumber(c) && c->valuedouble >= 0 && c->valuedouble == floor(c->valuedouble) &&
	    isfinite(c->valuedouble)) {
		rc = c->valuedouble <= (double)UINT_MAX ? 0 : -ERANGE;
		if (rc == 0)
			*count = (unsigned)c->valuedouble;
	}
	cJSON_Delete(doc);
	return rc;
}

static unsigned status_of(int rc)
{
	switch (rc) {
	case -ENOENT: return 404;
	case -EPERM: return 409;
	case -ERANGE: return 422;
	case -EBUSY:
	case -ESHUTDOWN: return 503;
	default: return 500;
	}
}

int admin_resize_request(struct admin *ad, struct http_msg *hm)
{
	size_t n = sizeof(RESIZE_PREFIX) - 1;
	char name[64], err[256];
	const struct actor_kind *kind;
	struct actor_pool_info before, after;
	unsigned count;
	cJSON *doc;
	int rc;

	if (!admin_json_or_415(hm))
		return 0;
	if (hm->path_len - n >= sizeof(name))
		return reply_error(hm, 404, "no such actor kind");
	memcpy(name, hm->path + n, hm->path_len - n);
	name[hm->path_len - n] = '\0';
	kind = actor_system_kind_named(ad->sys, name);
	if (kind == NULL)
		return reply_error(hm, 404, "no such actor kind (GET /admin/actors lists the pools)");
	rc = parse_count(hm, &count);
	if (rc == -EINVAL)
		return reply_error(hm, 400, "the body must be {\"count\": N}, N a whole number");
	if (!metrics_serving())
		return reply_error(hm, 503, "actord is not serving (starting or draining)");
	actor_system_pool_info(ad->sys, kind, &before);
	if (rc == -ERANGE) {
		snprintf(err, sizeof(err), "actor pool %s: count above %u is out of range [1, %u]",
			 name, UINT_MAX, before.max);
		return reply_error(hm, 422, err);
	}
	/* Growing into a slot still retiring would wait for it (up to
	 * ACTOR_RESIZE_WAIT_MS) on this thread, and /livez, /readyz and
	 * /metrics with it: a liveness probe would time out. Refuse at once. */
	if (count <= before.max && count > before.live && before.first_retiring < count) {
		snprintf(err, sizeof(err), "%s-%u is still retiring (finishing its work): try "
			 "again shortly", name, before.first_retiring);
		log_warn("admin: resize %s to %u refused: %s", name, count, err);
		reply_error(hm, 503, err);
		hm->resp_headers = RETRY_LATER;
		hm->resp_headers_len = sizeof(RETRY_LATER) - 1;
		return 0;
	}
	rc = actor_system_resize(ad->sys, kind, count, err, sizeof(err));
	if (rc != 0) {
		/* admin.c logs every 4xx; a failure of ours is logged here. */
		if (status_of(rc) >= 500)
			log_warn("admin: resize %s to %u failed: %s", name, count, err);
		return reply_error(hm, status_of(rc), err);
	}
	actor_system_pool_info(ad->sys, kind, &after);
	if (after.live != before.live)
		log_info("admin: %s actors %u -> %u%s", name, before.live, after.live,
			 after.live < before.live ? " (the removed ones finish their work)" : "");
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "kind", name);
	cJSON_AddNumberToObject(doc, "count", after.live);
	cJSON_AddNumberToObject(doc, "previous", before.live);
	cJSON_AddNumberToObject(doc, "max", after.max);
	cJSON_AddNumberToObject(doc, "retiring", after.retiring);
	admin_reply_json(hm, 200, doc);
	return 0;
}

int admin_upgrade_request(struct admin *ad, struct http_msg *hm)
{
	char text[160];
	cJSON *doc;

	(void)ad;
	if (!metrics_serving())
		return reply_error(hm, 503, "actord is not serving (starting, draining or "
				   "already handing over)");
	if (kill(getpid(), SIGUSR2) != 0) {
		snprintf(text, sizeof(text), "cannot signal the control loop: %s", strerror(errno));
		return reply_error(hm, 500, text);
	}
	log_info("admin: binary upgrade requested (SIGUSR2)");
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "upgrade", "started");
	cJSON_AddNumberToObject(doc, "pid", (double)getpid());
	admin_reply_json(hm, 202, doc);
	return 0;
}
