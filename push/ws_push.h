/*
 * ws_push.h - pushing to WebSocket connections from any actor, and the
 * messages that carry it.
 *
 * DESIGN
 * A WebSocket connection lives on the network actor that accepted it and
 * is named everywhere else by a 64-bit id: that actor's address, the
 * connection's slot and the low 24 bits of its generation
 * (WS_ID_*). A message for a connection that closed meanwhile finds a
 * newer generation (or nothing) in the slot, and is dropped and counted,
 * never delivered to a stranger.
 *
 * One message type carries every push operation (struct push_msg,
 * malloc'd, variable length, freed by push_msg_free on any thread): to a
 * network actor (send a frame, close, subscribe, unsubscribe, fan out a
 * channel's frame), to the pubsub actor (publish, subscribe; storage/
 * pubsub.h), and back from a network actor to a handler (connection
 * events: open, message, close).
 *
 * Ownership: a push_msg owns its blob reference and its data; a failed
 * send leaves both with the sender (the helpers below free them).
 *
 * Thread: any (the helpers send with actor_send).
 */
#ifndef ACTORD_WS_PUSH_H
#define ACTORD_WS_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/actor.h"
#include "mailbox/msg.h"
#include "ws_blob.h"

/* ---- Connection ids ------------------------------------------------------ */

#define WS_ID_SLOT_BITS 24
#define WS_ID_GEN_BITS 24
#define WS_ID_SLOT_MAX ((1u << WS_ID_SLOT_BITS) - 1)
#define WS_ID_GEN_MASK ((1u << WS_ID_GEN_BITS) - 1)

static inline uint64_t ws_id_make(actor_addr_t net, uint32_t slot, uint32_t gen)
{
	return ((uint64_t)(net & 0xffffu) << 48) |
	       ((uint64_t)(gen & WS_ID_GEN_MASK) << WS_ID_SLOT_BITS) | (slot & WS_ID_SLOT_MAX);
}

static inline actor_addr_t ws_id_actor(uint64_t id) { return (actor_addr_t)(id >> 48); }
static inline uint32_t ws_id_slot(uint64_t id) { return (uint32_t)id & WS_ID_SLOT_MAX; }
static inline uint32_t ws_id_gen(uint64_t id)
{
	return (uint32_t)(id >> WS_ID_SLOT_BITS) & WS_ID_GEN_MASK;
}

/* ---- Messages ------------------------------------------------------------ */

enum push_msg_type {
	/* to a network actor */
	PUSH_MSG_SEND = 0x57530001,    /* ws_id, blob: queue the frame */
	PUSH_MSG_CLOSE,                /* ws_id, code, data = reason */
	PUSH_MSG_SUB,                  /* ws_id, data = channel (from the pubsub actor) */
	PUSH_MSG_UNSUB,                /* ws_id, data = channel */
	PUSH_MSG_FANOUT,               /* blob, data = channel: every local member */
	/* to the pubsub actor */
	PUSH_MSG_PUBLISH,              /* blob, data = channel */
	PUSH_MSG_SUBSCRIBE,            /* ws_id, data = channel */
	PUSH_MSG_CHAN_OFF,             /* count, data = channel: a network actor's
					* channel emptied after `count` PUSH_MSG_SUBs */
	/* to a handler actor */
	PUSH_MSG_EVENT,                /* ws_id, event, code, text, data = payload */
};

enum ws_event {
	WS_EV_OPEN = 1,
	WS_EV_MESSAGE,
	WS_EV_CLOSE,
};

#define WS_CHANNEL_MAX 255     /* bytes in a channel name */
#define WS_REASON_MAX 123      /* bytes in a close reason */

struct push_msg {
	struct msg m;                /* MUST be first */
	uint64_t ws_id;
	struct ws_blob *blob;        /* one reference, or NULL */
	uint32_t count;
	uint32_t len;                /* bytes at data (a NUL follows them) */
	uint16_t code;               /* close code */
	uint8_t event;               /* enum ws_event */
	bool text;                   /* WS_EV_MESSAGE: a text message */
	char data[];
};
_Static_assert(offsetof(struct push_msg, m) == 0,
	       "struct push_msg is used through a pointer to its m");

/* A message of `type` with room for `len` data bytes (copied from `data`
 * if not NULL; NUL-terminated). NULL on ENOMEM. */
struct push_msg *push_msg_new(uint32_t type, const void *data, size_t len);

/* msg_free target: drops the blob reference, frees the message. */
void push_msg_free(struct msg *m);

/* Whether `m` is one of these messages (any push type). */
static inline bool push_msg_is(const struct msg *m)
{
	return m->type >= PUSH_MSG_SEND && m->type <= PUSH_MSG_EVENT;
}

/* Whether a channel name is acceptable: 1..WS_CHANNEL_MAX bytes, no NUL. */
bool ws_channel_valid(const char *channel, size_t len);

/* FNV-1a of a channel name: the channel tables' hash. */
uint32_t ws_channel_hash(const char *channel, size_t len);

/* A message's frame, built once: text is checked as UTF-8. NULL with
 * *err = -EINVAL (not UTF-8), -EMSGSIZE (over 2^32 bytes) or -ENOMEM. */
struct ws_blob *ws_blob_message(const void *data, size_t len, bool text, int *err);

/* ---- Pushing by connection id (any actor) -------------------------------- */

/* Send a text (UTF-8, checked: -EINVAL otherwise) or binary message to
 * connection `ws_id`. 0: queued to its network actor (which drops it,
 * counted, if the connection has closed or its queue is full, see
 * docs/HANDLERS.md); -EAGAIN that actor's mailbox is full; -ENOENT no
 * such actor; -ENOMEM; -EMSGSIZE over 2^32 bytes. */
int ws_send(struct actor_system *sys, uint64_t ws_id, const void *data, size_t len, bool text);

/* The same with a frame already built (takes the caller's reference, on
 * error too): one frame for many connections. NULL (ws_blob_frame out of
 * memory): -ENOMEM. */
int ws_send_blob(struct actor_system *sys, uint64_t ws_id, struct ws_blob *b);

/* Start the closing handshake with `code` (1000, or 3000-4999 for the
 * application's own) and a short reason (cut to 123 bytes). -EINVAL for a
 * code a server may not send. */
int ws_close(struct actor_system *sys, uint64_t ws_id, unsigned code, const char *reason);

/* Leave a channel (subscribing goes through the pubsub actor:
 * storage/pubsub.h). */
int ws_unsubscribe(struct actor_system *sys, uint64_t ws_id, const char *channel);

#endif
