/*
 * rconn_internal.h - the Redis connection's own structs and the functions
 * its files share: rconn.c (links, life cycle, timers, commands),
 * rconn_settings.c (what to connect to: the config or Sentinel's primary)
 * and rconn_pubsub.c (subscriptions, reply status, state queries).
 *
 * Thread: the owning actor's thread, like every rconn call.
 */
#ifndef ACTORD_RCONN_INTERNAL_H
#define ACTORD_RCONN_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <ev.h>
#include <hiredis/async.h>

#include "rconn.h"
#include "base/list.h"

#define BACKOFF_MIN_MS 25
#define SPARE_CMDS 1024      /* command records kept for reuse */
#define LOG_EVERY 20         /* failed attempts between two "still down" lines */

struct rc_link;

/* Owner: the rconn's thread. One command from rconn_send to its reply. */
struct rc_cmd {
	struct list node;             /* the link's commands (oldest first), or spare */
	struct rc_cmd *expired_next;  /* on_deadline's local list */
	struct rc_link *link;
	rconn_reply_fn fn;            /* NULL once answered early (deadline) */
	void *arg;
	uint64_t sent_ns, deadline_ns;
	bool internal;                /* AUTH / SELECT / ROLE / PING: no stats, no deadline */
};


/* Owner: the rconn's thread. One hiredis context. */
struct rc_link {
	struct rconn *c;
	redisAsyncContext *ac;        /* NULL once hiredis freed or frees it */
	struct list cmds;             /* sent, reply not yet in; oldest first */
	struct list subs;             /* subscriptions (rconn_subscribe) */
	struct rc_link *next_dead;
	struct rconn_settings set;    /* what it was made with */
	unsigned setup_pending;       /* AUTH / SELECT / ROLE / PING replies still awaited */
	int fail_status;              /* what its loss answers to its commands */
	bool connected;               /* TCP connection established */
	bool up;                      /* connected and set up */
	bool dead;
};

/* Owner: the loop's thread. */
struct rconn {
	struct backend_stats own_stats;  /* when the owner gives none */
	struct ev_loop *loop;
	struct rconn_opts opts;
	struct backend_stats *stats;
	_Atomic int *last_error;
	_Atomic int own_error;
	struct rc_link *cur;          /* takes new commands; NULL while down */
	struct rc_link *old;          /* draining after a settings change */
	struct rc_link *dead;         /* for the reaper */
	const struct ad_config *seen; /* snapshot last compared with */
	ev_timer retry_w, connect_w, deadline_w, reap_w;
	uint64_t deadline_at;
	uint32_t backoff_ms, backoff_max_ms;
	unsigned failures;            /* attempts failed in a row */
	bool destroying;
	bool in_deadline;             /* answering expired commands */
	struct list spare;            /* command records kept for reuse */
	unsigned nspare;
	struct dns_resolver *dns;     /* made at the first name to resolve */
	struct rc_lookup *lookup;     /* the lookup under way, or NULL */
	struct sentinel *sentinel;    /* names the primary (redis.sentinels), or NULL */
	ev_timer primary_w;           /* the sentinel named a new primary */
	char up_host[CONFIG_HOST_MAX];/* the server of the last connection that came up */
	uint16_t up_port;
	bool waiting_primary;         /* no attempt: the sentinel knows no primary yet */
};

/* Owner: the rconn's thread. A lookup before a connection attempt; when
 * the attempt is given up first (connect timeout, destroy) `c` is cleared
 * and the answer ignored. */
struct rc_lookup {
	struct rconn *c;
	struct rconn_settings set;
};

/* rconn.c */
struct rc_cmd *rc_get_cmd(struct rconn *c);
void rc_put_cmd(struct rconn *c, struct rc_cmd *cmd);
/* The link is gone (hiredis freed or frees its context): answer its
 * commands with `status`, log `why`, and reconnect if it was current. */
void rc_link_lost(struct rc_link *l, int status, const char *why);
/* Sentinel named another primary: move there. */
void rc_on_primary_changed(void *ctx);
struct rc_cmd *rc_cmd_of(struct list *e);
void rc_count_done(struct rconn *c, const struct rc_cmd *cmd, bool error, bool timeout);
void rc_arm_deadline(struct rconn *c, uint64_t at, uint64_t now);
/* Close the link and answer its commands with `status`; logs `why`. */
void rc_drop_link(struct rc_link *l, int status, const char *why);

/* rconn_deadline.c: the deadline timer's callback. */
void rc_on_deadline(struct ev_loop *loop, ev_timer *w, int revents);

/* rconn_settings.c */
void rc_default_settings(void *ctx, struct rconn_settings *out);
bool rc_follows_sentinel(const struct rconn *c);
void rc_read_settings(struct rconn *c, struct rconn_settings *out);
bool rc_same_server(const struct rconn_settings *a, const struct rconn_settings *b);

#endif
