/*
 * sentinel.h - which server is the Redis primary, as Redis Sentinel says:
 * what an rconn (rconn.h) asks before it connects when redis.sentinels is
 * configured, and what tells it to follow a failover.
 *
 * DESIGN
 * One `struct sentinel` per rconn that follows a failover, on that rconn's
 * loop (so on its owner actor's thread: nothing is shared between actors).
 * It keeps ONE connection to one of the configured Sentinels, itself an
 * rconn (reconnection, connect timeout and deadlines come from there):
 *  - once it is up: `SENTINEL get-master-addr-by-name <redis.sentinel_master>`,
 *    then `SUBSCRIBE +switch-master` on the same connection (RESP2: after the
 *    query's reply, so no regular reply is still owed when the connection
 *    enters subscribed mode);
 *  - a `+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>`
 *    message for our master names the new primary at once;
 *  - a Sentinel that cannot be reached, or does not know the master, is
 *    left for the next one in redis.sentinels (round robin).
 * Whenever the primary it knows changes (including the first time it
 * learns one), it calls the owner's `changed` function, never from inside
 * one of the owner's calls into it.
 *
 * The window between the query's reply and the subscription (a switch in
 * it is missed) and a Sentinel with a stale view (only the leader of a
 * failover announces it at once; the others learn it from its hello
 * messages, up to 2 s later) are covered by the owner: rconn checks each
 * new connection with ROLE, treats a READONLY reply as a demoted primary,
 * and calls sentinel_recheck for those and for every failed connection
 * attempt, which asks again on the next Sentinel.
 *
 * What it does not do: pick replicas for reads, or authenticate to
 * Sentinel (Sentinels configured with requirepass are not supported).
 *
 * Thread: every function runs on the thread of the loop it was created on.
 */
#ifndef ACTORD_SENTINEL_H
#define ACTORD_SENTINEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

struct sentinel;

/* The primary changed or became known: read it with sentinel_primary. */
typedef void (*sentinel_changed_fn)(void *ctx);

/* Start asking the Sentinels of config_current()'s redis section (read
 * for every connection attempt). NULL on ENOMEM. Thread: the loop's. */
struct sentinel *sentinel_create(struct ev_loop *loop, sentinel_changed_fn changed, void *ctx);

/* Close the Sentinel connection; `changed` never runs again.
 * Not from inside `changed`. Thread: the loop's. */
void sentinel_destroy(struct sentinel *s);

/* The primary last named (host into `host`, NUL-terminated), or false
 * while none is known. Thread: the loop's. */
bool sentinel_primary(const struct sentinel *s, char *host, size_t hostlen, uint16_t *port);

/* The server named is not the primary (its ROLE, a READONLY reply): ask
 * again, on the next Sentinel, soon (never from inside this call).
 * Thread: the loop's. */
void sentinel_recheck(struct sentinel *s, const char *why);

#endif
