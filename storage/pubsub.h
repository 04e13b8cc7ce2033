/*
 * pubsub.h - WebSocket channels: subscribe a connection, publish to every
 * subscriber on this instance and, through Redis pub/sub, on every other
 * instance that shares the Redis (docs/HANDLERS.md, "WebSocket").
 *
 * DESIGN
 * One pubsub actor (kind "pubsub", actors.pubsub.count 0 or 1) keeps,
 * per channel and network actor, how many subscriptions it forwarded and
 * the network actor has not reported gone: a published frame goes only
 * to the network actors with members (each fans it out to its own,
 * net/ws_chan.c), and Redis carries the channels that have members here.
 * It owns two Redis connections (storage/rconn.h): one pipelines
 * PUBLISH, the other is the subscriber; after a reconnect it subscribes
 * to every channel again by itself.
 *
 * A message is framed once, by the publisher (push/ws_blob.h); the same
 * frame goes to every local member and, prefixed with this instance's
 * random id, to Redis, where another instance copies it once into its own
 * frame (if it is one whole frame: anything else published on the channel
 * is dropped and counted in pubsub_redis_invalid_total, as it would break
 * every member's stream). An instance ignores its own messages coming back from Redis (it
 * delivered them already). A publish that Redis did not take (down,
 * timeout, refused) is counted in pubsub_redis_lost_total: local members
 * still get it, the other instances do not.
 *
 * Thread: pubsub_add_pool on the controlling thread before start; the
 * calls below on any actor thread (they send messages).
 */
#ifndef ACTORD_PUBSUB_H
#define ACTORD_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/actor.h"
#include "push/ws_blob.h"

struct ad_config;

/* The pubsub actor (pool "pubsub", actors.pubsub: 0 or 1). */
extern const struct actor_kind pubsub_kind;

/* Add the pubsub pool if actors.pubsub.count is 1; `net` names the
 * network actors that own the connections. 0 or -errno with a reason. */
int pubsub_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		    const struct actor_kind *net, char *err, size_t errlen);

/* Subscribe connection `ws_id` to `channel` (1..255 bytes, no NUL). The
 * connection leaves its channels when it closes (or with
 * push/ws_push.h's ws_unsubscribe). 0; -EINVAL bad channel; -ESRCH no
 * pubsub actor; -EAGAIN its mailbox is full; -ENOMEM. */
int ws_subscribe(struct actor_system *sys, uint64_t ws_id, const char *channel);

/* Publish a text (checked UTF-8: -EINVAL otherwise) or binary message to
 * `channel`: every subscriber here and on the instances sharing the
 * Redis. Returns as ws_subscribe. */
int ws_publish(struct actor_system *sys, const char *channel, const void *data, size_t len,
	       bool text);

/* The same with a frame already built (takes the caller's reference);
 * NULL (ws_blob_frame out of memory): -ENOMEM. */
int ws_publish_blob(struct actor_system *sys, const char *channel, struct ws_blob *b);

#endif
