/*
 * admin_reload.c - POST /admin/reload: the same as SIGHUP, answered with
 * its outcome.
 *
 * DESIGN
 * The controlling thread owns reloading (signals.c); nothing here publishes
 * a configuration. A request:
 *  1. is refused while actord drains (the control loop ignores SIGHUP
 *     then): 503;
 *  2. loads and validates the same file on the admin thread: an invalid
 *     file is answered 422 with the exact error, and no signal is sent
 *     (SIGHUP would fail the same way and keep the running configuration);
 *  3. sends SIGHUP to the process: the control loop reloads;
 *  4. is kept while an admin timer polls the live snapshot pointer every
 *     ADMIN_RELOAD_POLL_MS (config_current: one atomic load, no lock). A new
 *     pointer means the reload was published: 200, with the keys that need
 *     a restart. No change within ADMIN_RELOAD_WAIT_MS (or
 *     http.request_timeout_ms if shorter, so the answer beats the
 *     connection's 504 backstop): 202, outcome unknown, see the log.
 * Requests that arrive while one waits join it: one SIGHUP answers them all.
 *
 * Cost: validating reads the file and resolves its host names on the admin
 * thread (getaddrinfo may block on DNS); only admin requests wait for it.
 * cJSON keeps its parse-error pointer in a global: the admin thread parses
 * before it signals, never while the reload it asked for is parsing.
 *
 * Thread: the admin actor.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_internal.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "base/clock.h"

static cJSON *outcome(cJSON *reloaded, const char *key, const char *text)
{
	cJSON *doc = cJSON_CreateObject();

	cJSON_AddItemToObject(doc, "reloaded", reloaded);
	if (key != NULL)
		cJSON_AddStringToObject(doc, key, text);
	return doc;
}

/* "listen, actors.net" -> ["listen", "actors.net"] */
static cJSON *key_list(const char *keys)
{
	cJSON *arr = cJSON_CreateArray();
	char buf[sizeof(((struct admin_reload *)0)->restart)];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", keys);
	for (char *k = strtok_r(buf, ", ", &save); k != NULL; k = strtok_r(NULL, ", ", &save))
		cJSON_AddItemToArray(arr, cJSON_CreateString(k));
	return arr;
}

/* Answer every waiting request with `status` and a fresh copy of `doc`. */
static void answer_waiting(struct admin_reload *rl, unsigned status, const cJSON *doc)
{
	for (unsigned i = 0; i < rl->nwaiting; i++) {
		struct http_msg *hm = rl->waiting[i];

		admin_reply_json(hm, status, cJSON_Duplicate(doc, true));
		hm->m.type = HTTP_MSG_RESPONSE;
		actor_reply(&hm->m);
	}
	rl->nwaiting = 0;
}

static void on_reload_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct admin *ad = w->data;
	struct admin_reload *rl = &ad->reload;
	const struct ad_config *now = config_current();
	cJSON *doc;

	(void)revents;
	/* The generation, not the pointer: a reload of an unchanged file
	 * keeps the live snapshot (config_publish_reload). */
	if (now != NULL && config_generation() != rl->before) {
		doc = outcome(cJSON_CreateTrue(), "file", now->path);
		cJSON_AddItemToObject(doc, "restart_required", key_list(rl->restart));
		answer_waiting(rl, 200, doc);
	} else if (clock_now_ns() >= rl->deadline_ns) {
		char note[160];

		snprintf(note, sizeof(note), "SIGHUP sent, but no new configuration was "
			 "published within %u ms: see the log", rl->wait_ms);
		doc = outcome(cJSON_CreateNull(), "note", note);
		answer_waiting(rl, 202, doc);
	} else {
		return;
	}
	cJSON_Delete(doc);
	ev_timer_stop(loop, w);
}

/* Validate the file the control loop will read; fills rl->restart. */
static int validate(struct admin *ad, char *err, size_t errlen)
{
	const struct ad_config *running = admin_config(ad);
	struct ad_config *next = config_load(running->path, err, errlen);

	if (next == NULL)
		return -EINVAL;
	config_carry_fixed(next, running, ad->reload.restart, sizeof(ad->reload.restart));
	config_free(next);
	return 0;
}

int admin_reload_request(struct admin *ad, struct http_msg *hm)
{
	struct admin_reload *rl = &ad->reload;
	char err[1024];

	if (!metrics_serving()) {
		admin_reply_json(hm, 503, outcome(cJSON_CreateFalse(), "error",
					"actord is not serving (starting or draining): "
					"reloads are ignored now"));
		return 0;
	}
	if (rl->nwaiting == ADMIN_RELOAD_WAITERS) {
		admin_reply_json(hm, 503, outcome(cJSON_CreateFalse(), "error",
					"too many reload requests waiting; try again"));
		return 0;
	}
	if (rl->nwaiting > 0) {
		rl->waiting[rl->nwaiting++] = hm;
		return 1;
	}
	if (validate(ad, err, sizeof(err)) != 0) {
		/* admin.c logs the refusal, with this reason. */
		admin_reply_json(hm, 422, outcome(cJSON_CreateFalse(), "error", err));
		return 0;
	}
	rl->before = config_generation();
	if (kill(getpid(), SIGHUP) != 0) {
		snprintf(err, sizeof(err), "cannot signal the control loop: %s", strerror(errno));
		admin_reply_json(hm, 500, outcome(cJSON_CreateFalse(), "error", err));
		return 0;
	}
	log_info("admin: reload requested (SIGHUP)");
	if (!rl->timer_ready) {
		ev_timer_init(&rl->timer, on_reload_poll, 0., ADMIN_RELOAD_POLL_MS / 1000.0);
		rl->timer.data = ad;
		rl->timer_ready = true;
	}
	/* Answer before the connection's own backstop would (504). */
	rl->wait_ms = admin_config(ad)->http.request_timeout_ms;
	if (rl->wait_ms > ADMIN_RELOAD_WAIT_MS)
		rl->wait_ms = ADMIN_RELOAD_WAIT_MS;
	rl->deadline_ns = clock_now_ns() + (uint64_t)rl->wait_ms * 1000000u;
	rl->waiting[rl->nwaiting++] = hm;
	ev_timer_again(actor_loop(actor_self()), &rl->timer);
	return 1;
}

void admin_reload_stop(struct admin *ad)
{
	struct admin_reload *rl = &ad->reload;

	if (rl->timer_ready)
		ev_timer_stop(actor_loop(actor_self()), &rl->timer);
	for (unsigned i = 0; i < rl->nwaiting; i++)
		msg_free(&rl->waiting[i]->m);
	rl->nwaiting = 0;
}
