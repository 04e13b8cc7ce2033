/*
 * ws_api.h - WebSocket routes (docs/HANDLERS.md, "WebSocket").
 *
 * DESIGN
 * A route accepts an upgrade with hreq_websocket(r, &ops, user): the
 * handshake is checked and answered (101) here, and from then on the
 * connection's events arrive at THIS handler actor as messages and run
 * the ops, with the same `struct ws_conn` every time:
 *
 *   on_open(w)                      the 101 is out: you may send
 *   on_message(w, data, len, text)  one whole message (fragments joined,
 *                                   text already checked as UTF-8)
 *   on_close(w, code, reason)       exactly once, last; free `user` here
 *
 * Sending does not need a ws_conn: any actor pushes to a connection by
 * its id (ws_conn_id, then push/ws_push.h's ws_send / ws_close) or to a
 * channel (storage/pubsub.h's ws_subscribe / ws_publish). A ws_conn lives
 * from hreq_websocket until on_close returns; never keep a pointer to it
 * elsewhere: keep its id.
 *
 * Thread: every function here runs on the handler actor that owns the
 * request or connection.
 */
#ifndef ACTORD_WS_API_H
#define ACTORD_WS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/actor.h"
#include "push/ws_push.h"

struct hreq;
struct ws_conn;

struct ws_handler_ops {
	void (*on_open)(struct ws_conn *w);                 /* may be NULL */
	void (*on_message)(struct ws_conn *w, const char *data, size_t len,
			   bool text);                      /* may be NULL */
	/* Required. `code`: the client's close code, the one actord sent
	 * (1001 idle or shutting down, 1002/1007/1009 the client broke a
	 * rule, 1008 slow consumer...), 1005 a close frame without a code,
	 * 1006 the connection ended without a close frame (also when the
	 * upgrade never completed: then on_open never ran). */
	void (*on_close)(struct ws_conn *w, unsigned code, const char *reason);
};

/* Accept request `r` as a WebSocket: checks the handshake (GET, HTTP/1.1,
 * Upgrade: websocket, Connection: upgrade, Sec-WebSocket-Version 13, a
 * 16-byte Sec-WebSocket-Key) and, when websocket.origins is set, the
 * Origin; picks the first of websocket.subprotocols the client offers;
 * answers 101. 0: accepted, `ops` will run. Otherwise the request has
 * been answered (400 bad handshake: a bad, missing or repeated key, a
 * repeated version; 426 with Sec-WebSocket-Version: 13
 * for another version or a plain request, 403 origin refused, 503 no
 * memory) and -EINVAL / -EPERM / -ENOMEM says which; `user` is still the
 * caller's. */
int hreq_websocket(struct hreq *r, const struct ws_handler_ops *ops, void *user);

/* The connection's id: push/ws_push.h and storage/pubsub.h take it. */
uint64_t ws_conn_id(const struct ws_conn *w);
void *ws_conn_user(const struct ws_conn *w);
void ws_conn_set_user(struct ws_conn *w, void *user);
/* The subprotocol agreed on, "" if none. */
const char *ws_conn_protocol(const struct ws_conn *w);
/* "ip:port" of the client. */
const char *ws_conn_client(const struct ws_conn *w);
/* The handler actor serving the connection (for actor_sys and calls). */
struct actor *ws_conn_actor(const struct ws_conn *w);

/* ws_send / ws_close for this connection (push/ws_push.h). */
int ws_conn_send(struct ws_conn *w, const void *data, size_t len, bool text);
int ws_conn_close(struct ws_conn *w, unsigned code, const char *reason);

#endif
