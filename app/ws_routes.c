/*
 * ws_routes.c - the shipped WebSocket examples (docs/HANDLERS.md,
 * "WebSocket"), registered when app.websocket is true:
 *
 *  GET /ws/echo         every message comes back as it came (text or
 *                       binary): the conformance target.
 *  GET /ws/chat/:room   a chat room: each text message a member sends goes
 *                       to every member of the room, on this instance and
 *                       on every instance sharing the Redis (channel
 *                       "chat:<room>"), as a JSON envelope
 *                       {"type":"message","room","sender","time","text"}
 *                       (sender: the member's "ip:port", time: Unix ms).
 *                       Binary messages (and text holding U+0000) are
 *                       refused with 1003; a room name that is too long
 *                       or not UTF-8 with 400.
 *
 * Thread: the handler actor serving the connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "config/config.h"
#include "handler/ws_api.h"
#include "push/ws_utf8.h"
#include "storage/pubsub.h"

/* ---- /ws/echo ---- */

static void echo_message(struct ws_conn *w, const char *data, size_t len, bool text)
{
	ws_conn_send(w, data, len, text);
}

static void echo_close(struct ws_conn *w, unsigned code, const char *reason)
{
	(void)w;
	(void)code;
	(void)reason;
}

static const struct ws_handler_ops echo_ops = {
	.on_message = echo_message,
	.on_close = echo_close,
};

static void get_echo(struct hreq *r)
{
	hreq_websocket(r, &echo_ops, NULL);   /* answers the request either way */
}

/* ---- /ws/chat/:room ---- */

struct chat_member {
	char channel[WS_CHANNEL_MAX + 1];     /* "chat:<room>" */
};

static void chat_open(struct ws_conn *w)
{
	struct chat_member *m = ws_conn_user(w);

	if (ws_subscribe(actor_sys(ws_conn_actor(w)), ws_conn_id(w), m->channel) != 0)
		ws_conn_close(w, 1013, "cannot join the room now");
}

static void chat_message(struct ws_conn *w, const char *data, size_t len, bool text)
{
	struct chat_member *m = ws_conn_user(w);
	struct timespec ts;
	cJSON *o;
	char *json;

	if (!text || memchr(data, '\0', len) != NULL) {
		/* A JSON string built with cJSON cannot hold U+0000. */
		ws_conn_close(w, 1003, text ? "no U+0000 in chat text" : "text messages only");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	o = cJSON_CreateObject();
	if (o == NULL)
		return;
	cJSON_AddStringToObject(o, "type", "message");
	cJSON_AddStringToObject(o, "room", m->channel + 5);
	cJSON_AddStringToObject(o, "sender", ws_conn_client(w));
	cJSON_AddNumberToObject(o, "time", (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000000));
	cJSON_AddItemToObject(o, "text", cJSON_CreateString(data));   /* NUL-terminated */
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (json == NULL)
		return;
	if (ws_publish(actor_sys(ws_conn_actor(w)), m->channel, json, strlen(json), true) != 0)
		ws_conn_send(w, "{\"type\":\"error\",\"error\":\"room busy, retry\"}", 42, true);
	free(json);
}

static void chat_close(struct ws_conn *w, unsigned code, const char *reason)
{
	(void)code;
	(void)reason;
	free(ws_conn_user(w));
}

static const struct ws_handler_ops chat_ops = {
	.on_open = chat_open,
	.on_message = chat_message,
	.on_close = chat_close,
};

static void get_chat(struct hreq *r)
{
	const char *room = hreq_param(r, "room");
	struct chat_member *m = malloc(sizeof(*m));

	if (m == NULL) {
		hreq_error(r, 503, "no memory");
		return;
	}
	if ((size_t)snprintf(m->channel, sizeof(m->channel), "chat:%s", room) >= sizeof(m->channel)) {
		free(m);
		hreq_error(r, 400, "room name too long");
		return;
	}
	/* The room goes into every envelope, a text frame: a name that is not
	 * UTF-8 (/ws/chat/%FF) would make every message of the room fail. */
	if (!ws_utf8_valid(room, strlen(room))) {
		free(m);
		hreq_error(r, 400, "room name is not UTF-8");
		return;
	}
	if (hreq_websocket(r, &chat_ops, m) != 0)
		free(m);   /* refused and answered: still ours */
}

int ws_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen)
{
	if (!cfg->app.websocket)
		return 0;
	if (route_add(t, ROUTE_GET, "/ws/echo", get_echo, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/ws/chat/:room", get_chat, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}
