/*
 * admin_internal.h - what the admin endpoint's files share; not a public
 * API.
 *
 *  admin.c          the pool, access rules, routing, the simple endpoints
 *  admin_collect.c  collectors and readiness checks of the runtime, and
 *                   the /admin/actors document
 *  admin_ops.c      POST /admin/actors/<kind> (resize), POST /admin/upgrade
 *  admin_reload.c   POST /admin/reload
 *  dashboard.html   GET /admin/ (embedded at build time: admin_dashboard.c)
 */
#ifndef ACTORD_ADMIN_INTERNAL_H
#define ACTORD_ADMIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <ev.h>

#include "actors/actor.h"
#include "base/log_budget.h"
#include "net/http_msg.h"
#include "config/config.h"

#define ADMIN_MAILBOX 64           /* only its own deferred answers arrive */
#define ADMIN_RELOAD_WAITERS 16    /* reload requests answered together */
#define ADMIN_RELOAD_WAIT_MS 5000  /* longest wait for the reload to publish
                                    * (at most http.request_timeout_ms) */
#define ADMIN_RELOAD_POLL_MS 5
#define ADMIN_REFUSALS_LOG_PER_S 10 /* a scanner must not flood the log */

/* Owner: the admin actor thread. */
struct admin_reload {
	ev_timer timer;
	bool timer_ready;
	struct http_msg *waiting[ADMIN_RELOAD_WAITERS];
	unsigned nwaiting;
	uint64_t before;                   /* config_generation() SIGHUP should move on */
	uint64_t deadline_ns;
	uint32_t wait_ms;                  /* how long this round waits */
	char restart[512];                 /* fixed keys the new file changes */
};

/* Owner: allocated before start, lives until exit (collectors point to it).
 * `sys`, `cfg`, start times: immutable. The rest: the admin actor thread. */
struct admin {
	struct actor_system *sys;
	const struct ad_config *cfg;       /* start-up config */
	uint64_t start_ns;                 /* monotonic */
	double start_time_s;               /* wall clock, for the metric */
	struct admin_reload reload;
	struct log_budget refusals_logged; /* 4xx answers, ADMIN_REFUSALS_LOG_PER_S */
};

/* The live config snapshot, else the start-up one. Thread: any. */
const struct ad_config *admin_config(const struct admin *ad);

/* Fill `hm` with a response. `body` is malloc'd and taken over (freed
 * with the envelope); NULL answers 500. `headers`: static extra header
 * lines or NULL. Thread: admin. */
void admin_reply_owned(struct http_msg *hm, unsigned status, const char *type,
		       char *body, size_t len, const char *headers);
/* The same for a static body. */
void admin_reply_static(struct http_msg *hm, unsigned status, const char *type,
			const char *body, size_t len, const char *headers);
/* `json` printed (and deleted). */
void admin_reply_json(struct http_msg *hm, unsigned status, cJSON *json);

/* admin_collect.c. Thread: controlling, before start. */
int admin_register_collectors(struct admin *ad, char *err, size_t errlen);
/* The /admin/actors document. Thread: admin. */
cJSON *admin_actors_json(struct admin *ad);

/* admin_reload.c. 0: answered in `hm`; 1: kept (answered later). */
int admin_reload_request(struct admin *ad, struct http_msg *hm);
/* Free every request still waiting (the actor stops). */
void admin_reload_stop(struct admin *ad);

/* admin_dashboard.c (generated from dashboard.html). */
extern const unsigned char admin_dashboard_html[];
extern const size_t admin_dashboard_html_len;

/* True if `hm` says Content-Type: application/json; else answers 415
 * and returns false. Thread: admin. */
bool admin_json_or_415(struct http_msg *hm);

/* admin_ops.c. Thread: admin. */
bool admin_is_resize_path(const struct http_msg *hm);
/* A POST to admin_is_resize_path (admin.c answers other methods 405). */
int admin_resize_request(struct admin *ad, struct http_msg *hm);
int admin_upgrade_request(struct admin *ad, struct http_msg *hm);

#endif
