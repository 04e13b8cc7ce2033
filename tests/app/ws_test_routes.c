/*
 * ws_test_routes.c - the test suite's WebSocket routes (build/actord-test
 * only), for channel tests that need a publisher that is not a member:
 *
 *  GET /_test/ws/publish/:channel   each message is published to the
 *                                   channel as it came (no envelope); the
 *                                   connection joins nothing
 *  GET /_test/ws/listen/:channel    joins the channel; sends nothing
 *
 * Registered only when test_routes is true.
 *
 * Thread: the handler actor serving the connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_app.h"
#include "config/config.h"
#include "handler/ws_api.h"
#include "storage/pubsub.h"

static void publish_message(struct ws_conn *w, const char *data, size_t len, bool text)
{
	if (ws_publish(actor_sys(ws_conn_actor(w)), ws_conn_user(w), data, len, text) != 0)
		ws_conn_close(w, 1013, "cannot publish now");
}

static void listen_open(struct ws_conn *w)
{
	if (ws_subscribe(actor_sys(ws_conn_actor(w)), ws_conn_id(w), ws_conn_user(w)) != 0)
		ws_conn_close(w, 1013, "cannot join now");
}

static void free_channel(struct ws_conn *w, unsigned code, const char *reason)
{
	(void)code;
	(void)reason;
	free(ws_conn_user(w));
}

static const struct ws_handler_ops publish_ops = {
	.on_message = publish_message,
	.on_close = free_channel,
};

static const struct ws_handler_ops listen_ops = {
	.on_open = listen_open,
	.on_close = free_channel,
};

static void accept_channel(struct hreq *r, const struct ws_handler_ops *ops)
{
	char *channel = strdup(hreq_param(r, "channel"));

	if (channel == NULL) {
		hreq_error(r, 503, "no memory");
		return;
	}
	if (hreq_websocket(r, ops, channel) != 0)
		free(channel);
}

static void get_publish(struct hreq *r)
{
	accept_channel(r, &publish_ops);
}

static void get_listen(struct hreq *r)
{
	accept_channel(r, &listen_ops);
}

int ws_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		   size_t errlen)
{
	if (!cfg->test_routes)
		return 0;
	if (route_add(t, ROUTE_GET, "/_test/ws/publish/:channel", get_publish, NULL, err,
		      errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/_test/ws/listen/:channel", get_listen, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}
