/*
 * mongo_internal.h - what the files of the mongo module share: the message
 * layout, the cJSON <-> BSON conversion and one member's connection.
 *
 * DESIGN
 * mongo_msg.c builds and reads messages (handler side, no driver call);
 * mongo_bson.c converts documents; mongo_conn.c runs a message on one
 * mongoc client and says what a failure means; mongo_actor.c is the actor
 * pool around it. Only this module includes libmongoc.
 *
 * Thread: see each declaration.
 */
#ifndef ACTORD_STORAGE_MONGO_INTERNAL_H
#define ACTORD_STORAGE_MONGO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <mongoc/mongoc.h>

#include "mongo.h"
#include "actors/backend_stats.h"
#include "base/log_budget.h"

/* Crosses mailboxes: handler -> mongo actor -> handler; freed with
 * msg_free() (mongo_msg_free also frees every request and result). */
struct mongo_msg {
	struct call_msg c;          /* MUST be first */
	char coll[MONGO_NAME_MAX + 1];
	int64_t limit;              /* find: 0 for no limit */
	cJSON *projection;          /* find: NULL for whole documents */
	/* Requests: find: one filter per query; update: filter, update
	 * pairs; count: one filter; insert: one array of documents. */
	cJSON **req;
	unsigned nreq, capreq;
	/* Results, set by the mongo actor: find: one array per query. */
	cJSON **res;
	int64_t n, modified;
};
_Static_assert(offsetof(struct mongo_msg, c) == 0,
	       "struct mongo_msg is used through a pointer to its c");

static inline struct mongo_msg *mongo_msg_of(struct call_msg *c)
{
	return (struct mongo_msg *)(void *)c;
}

/* ---- mongo_bson.c: documents (Thread: any) ---- */

/* Append the members of `obj` (a cJSON object) to `out`. 0, or -EINVAL
 * (not an object, nested deeper than 100, a value BSON cannot hold). */
int mongo_bson_from_json(bson_t *out, const cJSON *obj);

/* `doc` as a new cJSON object in *out: 0, or -EPROTO (nested deeper than
 * 100, or bytes that do not parse), -ENOMEM; *out is NULL then. */
int mongo_bson_to_json(const bson_t *doc, cJSON **out);

/* ---- mongo_conn.c: one member's client (Thread: that member) ---- */

/* What the last failure said about the connection. */
enum mongo_link {
	MONGO_LINK_UNKNOWN = 0,     /* never tried */
	MONGO_LINK_UP,              /* working (a failed query says nothing) */
	MONGO_LINK_REFUSED,         /* connection refused */
	MONGO_LINK_DNS,             /* the host name does not resolve */
	MONGO_LINK_TIMEOUT,         /* connected, no answer in time */
	MONGO_LINK_CLOSED,          /* the server closed the connection */
	MONGO_LINK_NO_SERVER,       /* server selection failed otherwise */
	MONGO_LINK_AUTH,            /* authentication failed */
	MONGO_LINK_PROTOCOL,        /* a server this driver cannot talk to */
};

/* Human words for a link state, for logs and the readiness reason. */
const char *mongo_link_str(enum mongo_link link);

/* Owner: one mongo actor thread. */
struct mongo_conn {
	mongoc_client_t *client;
	struct backend_stats *stats;    /* this member's counters */
	const char *name;               /* the actor's name, for logs */
	uint32_t socket_timeout_ms;     /* to tell a timeout from a hang-up */
	enum mongo_link link;           /* what the last command said */
	struct log_budget log_budget;   /* failure lines (mongo_conn.c) */
};

/* Run message `mm` against database `db`; fills its results. Returns its
 * status (mongo.h) and sets mc->link. Calls mbox_flush() before every
 * blocking driver call. */
int mongo_conn_run(struct mongo_conn *mc, const char *db, struct mongo_msg *mm);

/* One ping command (readiness probe). 0 or a status as above. */
int mongo_conn_ping(struct mongo_conn *mc);

#endif
