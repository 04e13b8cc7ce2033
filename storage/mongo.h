/*
 * mongo.h - MongoDB for routes: the "mongo" actor pool, the messages it
 * accepts and how to read their results.
 *
 * DESIGN
 * libmongoc has no asynchronous API, so its calls run in dedicated actors
 * (the "mongo" pool, actors.mongo.count members) that may block; nothing
 * else ever calls the driver. The members share one pool mailbox, so a
 * message waits only while every member is busy, and one
 * mongoc_client_pool_t, each member holding one client of it.
 *
 * A route builds a message with one of the builders below and sends it
 * with hreq_call(r, &mongo_kind, m, k, arg); the member runs it and the SAME
 * message comes back to the continuation `k` with `status` set (call.h):
 *
 *     0             done; read the results with the accessors below
 *     -ENOTCONN     MongoDB cannot be reached (or refuses our credentials);
 *                   also every call while a member knows it is down
 *     -ETIMEDOUT    no answer within mongo.query_timeout_ms, the
 *                   call's deadline passed before it could start, or
 *                   (finds, counts: sent with maxTimeMS = the time left)
 *                   MongoDB stopped it at the deadline
 *     -EEXIST       a write refused for a duplicate key (logged)
 *     -EBADMSG      MongoDB refused the request (bad filter or update,
 *                   another write error); the reason is logged, never
 *                   returned
 *     -EPROTO       MongoDB's reply made no sense (no cursor, a batch
 *                   that is not an array, a document nested deeper than
 *                   MongoDB allows); logged
 *     -ENOMEM, -EIO out of memory, another failure (logged)
 * and hreq_call itself answers -ESRCH when MongoDB is not configured
 * (mongo.uri "": no mongo actors run) and -EAGAIN when the pool mailbox
 * is full. hreq_fail turns all of these into 503 / 504 / 409 / 502 /
 * 500 answers.
 *
 * Documents travel as cJSON in both directions. Requests: objects, where
 * a whole number within 32 bits becomes an int32, a larger one an int64,
 * others a double. Results: int32, int64 and double become numbers,
 * ObjectIds 24-digit hex strings, dates milliseconds since the epoch,
 * and types JSON cannot hold (binary, regex, ...) null. An int64 or date
 * of 10^15 or more in magnitude, which a cJSON number would print rounded,
 * is a raw item holding its exact digits instead (cJSON_IsRaw; printed as
 * a JSON number, and sent back to MongoDB as an int64). A Decimal128 is
 * a raw item holding its exact decimal text (sent back as a Decimal128;
 * NaN and the infinities are null), a symbol a string.
 *
 * Ownership: every builder takes ownership of the cJSON it is given, also
 * when it fails (returns NULL or an error). A message not sent yet is
 * freed with msg_free(&m->m) (hreq_call does that itself when it fails).
 * A reply, its requests and its results belong to the reply: call_dispatch
 * frees them all when the continuation returns, except the documents a
 * continuation takes with mongo_take_docs (then the caller's to free).
 *
 * What it does not do: transactions, cursors that outlive one call,
 * retries (a call is one attempt; the client retries on 503), aggregation
 * beyond counting.
 *
 * Thread: builders and accessors run on the thread that owns the message
 * (the handler building or reading it). mongo_add_pool: controlling.
 */
#ifndef ACTORD_STORAGE_MONGO_H
#define ACTORD_STORAGE_MONGO_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "actors/call.h"

/* The MongoDB actors (pool "mongo", actors.mongo). */
extern const struct actor_kind mongo_kind;

struct ad_config;

/* Message types the mongo actors accept ('M' 'O' in the high bits). */
#define MONGO_MSG_FIND   0x4d4f0001u
#define MONGO_MSG_INSERT 0x4d4f0002u
#define MONGO_MSG_UPDATE 0x4d4f0003u
#define MONGO_MSG_COUNT  0x4d4f0004u

/* Longest collection name the builders accept (bytes, without the NUL). */
#define MONGO_NAME_MAX 119
/* Queries in one find message; update operations in one bulk write. */
#define MONGO_MAX_QUERIES 4096
#define MONGO_MAX_WRITES 100000

/* ---- Building messages ------------------------------------------------ */

/* Find the documents of `collection` matching `filter` (an object; {}:
 * all), at most `limit` of them (0: no limit). NULL on ENOMEM, a NULL or
 * too long collection name, or a filter that is not an object. */
struct call_msg *mongo_find(const char *collection, cJSON *filter, int64_t limit);

/* Add another query with its own filter to a find message: it runs after
 * the others on the same connection, as its own round trip, with the same
 * limit and projection, and has its own result (query index = order of
 * addition, the first filter being 0). 0, or -EINVAL (not a find message,
 * not an object), -E2BIG (past MONGO_MAX_QUERIES), -ENOMEM. */
int mongo_find_add(struct call_msg *m, cJSON *filter);

/* Return only the fields a MongoDB projection document names. 0 or
 * -EINVAL / -ENOMEM. */
int mongo_find_project(struct call_msg *m, cJSON *projection);

/* Insert `docs` (an array of objects) into `collection` with one command.
 * NULL on ENOMEM or bad arguments. */
struct call_msg *mongo_insert(const char *collection, cJSON *docs);

/* An empty bulk write on `collection`, filled with mongo_update_add and
 * sent as ONE ordered bulk write (so several updates of one document
 * apply in the order added). NULL on ENOMEM or a bad name. */
struct call_msg *mongo_update(const char *collection);

/* Add "update the first document matching `filter` with `update`" (an
 * update document, e.g. {"$set": {...}}) to a bulk write. 0, or -EINVAL,
 * -E2BIG (past MONGO_MAX_WRITES), -ENOMEM. */
int mongo_update_add(struct call_msg *m, cJSON *filter, cJSON *update);

/* Count the documents of `collection` matching `filter`. NULL on ENOMEM
 * or bad arguments. */
struct call_msg *mongo_count(const char *collection, cJSON *filter);

/* ---- Reading a reply (status 0) --------------------------------------- */

/* Queries in a find message. */
unsigned mongo_nqueries(const struct call_msg *reply);

/* The documents query `i` found: a cJSON array of objects, owned by the
 * reply. NULL if `i` is out of range or the call failed. */
const cJSON *mongo_docs(const struct call_msg *reply, unsigned i);

/* The same array, detached: the caller frees it with cJSON_Delete. */
cJSON *mongo_take_docs(struct call_msg *reply, unsigned i);

/* count: documents counted; insert: documents inserted; update: documents
 * matched. -1 for other messages or a failed call. */
int64_t mongo_result_n(const struct call_msg *reply);

/* update: documents modified (a matched document already holding the new
 * values is not modified). -1 otherwise. */
int64_t mongo_result_modified(const struct call_msg *reply);

/* ---- Starting the pool ------------------------------------------------ */

/* Add the "mongo" pool (cfg->mongo_actor members sharing one mailbox and
 * one client pool for cfg->mongo.uri), its backend_stats collectors
 * (backend="mongo", one per member) and the optional readiness check
 * "mongo". With mongo.uri "" or actors.mongo.count 0 no actor is added:
 * the check then says why and hreq_call answers -ESRCH. Add it before
 * the handlers so they are stopped first. 0, or -EINVAL (a bad URI:
 * "FILE: mongo.uri: ..." in `err`), -ENOMEM, -ENOSPC (registries full).
 * Thread: controlling, before actor_system_start; `cfg` must outlive the
 * system. */
int mongo_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		   char *err, size_t errlen);

/* Would mongo_add_pool accept cfg's mongo.uri? The driver parses it with
 * the mongo section laid over it, as at start (no connection, no DNS).
 * 0 (also when MongoDB is not configured), or -EINVAL with
 * "FILE: mongo.uri: why" in `err`. server.c makes it the configuration's
 * driver check (config_set_driver_check), so every load runs it.
 * Thread: any (a load's: the controlling thread, or the admin actor
 * validating a reload). */
int mongo_check_config(const struct ad_config *cfg, char *err, size_t errlen);

#endif
