/*
 * ws_push.c - push messages and pushing by connection id (ws_push.h).
 *
 * Thread: any.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ws_push.h"
#include "ws_utf8.h"

struct push_msg *push_msg_new(uint32_t type, const void *data, size_t len)
{
	struct push_msg *p;

	if (len > UINT32_MAX - 1)
		return NULL;
	p = malloc(sizeof(*p) + len + 1);
	if (p == NULL)
		return NULL;
	msg_init(&p->m, type, push_msg_free);
	p->ws_id = 0;
	p->blob = NULL;
	p->count = 0;
	p->len = (uint32_t)len;
	p->code = 0;
	p->event = 0;
	p->text = false;
	if (data != NULL && len > 0)
		memcpy(p->data, data, len);
	p->data[len] = '\0';
	return p;
}

void push_msg_free(struct msg *m)
{
	struct push_msg *p = (struct push_msg *)(void *)m;

	ws_blob_unref(p->blob);
	free(p);
}

bool ws_channel_valid(const char *channel, size_t len)
{
	return len > 0 && len <= WS_CHANNEL_MAX && memchr(channel, '\0', len) == NULL;
}

uint32_t ws_channel_hash(const char *channel, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)channel[i]) * 16777619u;
	return h;
}

struct ws_blob *ws_blob_message(const void *data, size_t len, bool text, int *err)
{
	struct ws_blob *b;

	*err = len > UINT32_MAX - WS_FRAME_HEADER_MAX ? -EMSGSIZE :
	       text && !ws_utf8_valid(data, len) ? -EINVAL : 0;
	if (*err != 0)
		return NULL;
	b = ws_blob_frame(text ? WS_OP_TEXT : WS_OP_BINARY, data, len);
	if (b == NULL)
		*err = -ENOMEM;
	return b;
}

/* Send `p` to the network actor of `ws_id`; frees it on failure. */
static int to_net(struct actor_system *sys, uint64_t ws_id, struct push_msg *p)
{
	int rc;

	p->ws_id = ws_id;
	rc = actor_send(sys, ws_id_actor(ws_id), &p->m);
	if (rc != 0)
		msg_free(&p->m);
	return rc;
}

int ws_send_blob(struct actor_system *sys, uint64_t ws_id, struct ws_blob *b)
{
	struct push_msg *p = b != NULL ? push_msg_new(PUSH_MSG_SEND, NULL, 0) : NULL;

	if (p == NULL) {
		ws_blob_unref(b);
		return -ENOMEM;
	}
	p->blob = b;
	return to_net(sys, ws_id, p);
}

int ws_send(struct actor_system *sys, uint64_t ws_id, const void *data, size_t len, bool text)
{
	int err;
	struct ws_blob *b = ws_blob_message(data, len, text, &err);

	return b != NULL ? ws_send_blob(sys, ws_id, b) : err;
}

int ws_close(struct actor_system *sys, uint64_t ws_id, unsigned code, const char *reason)
{
	size_t rlen = reason != NULL ? strlen(reason) : 0;
	struct push_msg *p;

	/* What a server may put on the wire (RFC 6455 7.4): never 1005,
	 * 1006 or 1015, which mean "no frame said so". */
	if (!((code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
	      (code >= 3000 && code <= 4999)))
		return -EINVAL;
	/* The reason is UTF-8 on the wire (RFC 6455 5.5.1), and a client
	 * fails a broken one (1007): refused whole, cut at a boundary. */
	if (rlen > 0 && !ws_utf8_valid(reason, rlen))
		return -EINVAL;
	rlen = ws_utf8_cut(reason, rlen, WS_REASON_MAX);
	p = push_msg_new(PUSH_MSG_CLOSE, reason, rlen);
	if (p == NULL)
		return -ENOMEM;
	p->code = (uint16_t)code;
	return to_net(sys, ws_id, p);
}

int ws_unsubscribe(struct actor_system *sys, uint64_t ws_id, const char *channel)
{
	size_t len = strlen(channel);
	struct push_msg *p;

	if (!ws_channel_valid(channel, len))
		return -EINVAL;
	p = push_msg_new(PUSH_MSG_UNSUB, channel, len);
	if (p == NULL)
		return -ENOMEM;
	return to_net(sys, ws_id, p);
}
