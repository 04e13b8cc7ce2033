/*
 * mongo_conn.c - one mongo actor's client: running a message with the
 * driver and deciding what each failure means (mongo_internal.h).
 *
 * DESIGN
 * Every driver call blocks this actor's thread, so each one is preceded
 * by mbox_flush(): replies already produced must not wait for it. Each
 * command (one find of a multi-query message, one bulk write, a count, a
 * ping) is counted in the member's backend_stats with its latency.
 *
 * Errors: the driver's text is logged here, with the operation and the
 * namespace, and never travels further; the caller gets a status (mongo.h)
 * and mc->link says whether the connection itself failed. A failure every
 * request meets (a role without the right, a server refusing every
 * write) would write a line per request: at most LOG_PER_S lines a second
 * per member (errors_total still counts each). A socket error
 * that took about mongo.query_timeout_ms is a timeout (the server did not
 * answer); an earlier one means the server closed the connection.
 *
 * Deadlines: reads (find, count) carry maxTimeMS = the time the call has
 * left, so a slow server stops at the deadline and the member is free
 * again. Writes (bulk updates, inserts) get none: a write stopped half
 * way is worse than a late one, so they are bounded by the socket
 * timeout alone.
 *
 * Thread: the mongo actor owning the mongo_conn.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mongo_internal.h"
#include "actors/log.h"
#include "base/clock.h"

#define LOG_PER_S 20   /* as many as a handler's 5xx lines (HANDLER_ERROR_LOG_PER_S) */

/* Whether this member may write one more failure line this second. */
static bool log_due(struct mongo_conn *mc)
{
	return log_budget_take(&mc->log_budget, clock_now_ns(), LOG_PER_S);
}

const char *mongo_link_str(enum mongo_link link)
{
	switch (link) {
	case MONGO_LINK_UNKNOWN: return "not tried yet";
	case MONGO_LINK_UP: return "connected";
	case MONGO_LINK_REFUSED: return "connection refused";
	case MONGO_LINK_DNS: return "the host name does not resolve";
	case MONGO_LINK_TIMEOUT: return "no answer in time";
	case MONGO_LINK_CLOSED: return "the server closed the connection";
	case MONGO_LINK_NO_SERVER: return "no suitable server";
	case MONGO_LINK_AUTH: return "authentication failed";
	case MONGO_LINK_PROTOCOL: return "unsupported server version";
	}
	return "unknown";
}

/* Server selection failures carry the monitor's reason only as text. */
static enum mongo_link link_from_text(const char *msg)
{
	if (strstr(msg, "Failed to connect") != NULL || strstr(msg, "refused") != NULL)
		return MONGO_LINK_REFUSED;
	if (strstr(msg, "Failed to resolve") != NULL)
		return MONGO_LINK_DNS;
	if (strstr(msg, "timeout") != NULL || strstr(msg, "timed out") != NULL)
		return MONGO_LINK_TIMEOUT;
	if (strstr(msg, "uthenticat") != NULL)
		return MONGO_LINK_AUTH;
	if (strstr(msg, "wire version") != NULL)
		return MONGO_LINK_PROTOCOL;
	return MONGO_LINK_NO_SERVER;
}

/* Duplicate key (DuplicateKey and its legacy codes): the client's write
 * conflicts with what is stored (409), not a fault of ours. */
static bool duplicate_key(uint32_t code)
{
	return code == 11000 || code == 11001 || code == 12582;
}

/* An error the server returned for a command (error API version 2). */
static int server_status(struct mongo_conn *mc, uint32_t code)
{
	switch (code) {
	case 50:        /* MaxTimeMSExpired */
		return -ETIMEDOUT;
	case 18:        /* AuthenticationFailed */
		mc->link = MONGO_LINK_AUTH;
		return -ENOTCONN;
	case 6: case 7: case 89: case 91: case 189: case 10107: case 11600: case 11602:
	case 13435: case 13436:
		/* Unreachable, shutting down or not primary: the driver
		 * rediscovers the topology; this call is "unavailable". */
		return -ENOTCONN;
	case 13:        /* Unauthorized: a configuration problem, not a query's */
		return -EIO;
	default:
		return duplicate_key(code) ? -EEXIST : -EBADMSG;
	}
}

static int classify(struct mongo_conn *mc, const bson_error_t *e, uint64_t elapsed_ns)
{
	uint64_t timeout_ns = (uint64_t)mc->socket_timeout_ms * 1000000u;

	switch (e->domain) {
	case MONGOC_ERROR_SERVER_SELECTION:
		mc->link = link_from_text(e->message);
		return -ENOTCONN;
	case MONGOC_ERROR_STREAM:
		if (e->code == MONGOC_ERROR_STREAM_NAME_RESOLUTION)
			mc->link = MONGO_LINK_DNS;
		else if (e->code == MONGOC_ERROR_STREAM_CONNECT)
			mc->link = MONGO_LINK_REFUSED;
		else if (e->code == MONGOC_ERROR_STREAM_SOCKET &&
			 elapsed_ns >= timeout_ns - timeout_ns / 10) {
			mc->link = MONGO_LINK_TIMEOUT;
			return -ETIMEDOUT;
		} else
			mc->link = MONGO_LINK_CLOSED;
		return -ENOTCONN;
	case MONGOC_ERROR_CLIENT:
		if (e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE) {
			mc->link = MONGO_LINK_AUTH;
			return -ENOTCONN;
		}
		return -EIO;
	case MONGOC_ERROR_SASL:
	case MONGOC_ERROR_SCRAM:
		mc->link = MONGO_LINK_AUTH;
		return -ENOTCONN;
	case MONGOC_ERROR_PROTOCOL:
		if (e->code == MONGOC_ERROR_PROTOCOL_BAD_WIRE_VERSION) {
			mc->link = MONGO_LINK_PROTOCOL;
			return -ENOTCONN;
		}
		return -EPROTO;
	case MONGOC_ERROR_CURSOR:
		/* A reply without a usable cursor: the server (or something
		 * posing as it) answered nonsense, not our request's fault. */
		return -EPROTO;
	case MONGOC_ERROR_SERVER:
	case MONGOC_ERROR_WRITE_CONCERN:
	case MONGOC_ERROR_QUERY:
		mc->link = MONGO_LINK_UP;
		return server_status(mc, e->code);
	case MONGOC_ERROR_COMMAND:
		/* A bulk write's first write error comes in this domain,
		 * with the server's code. */
		return duplicate_key(e->code) ? -EEXIST : -EBADMSG;
	case MONGOC_ERROR_COLLECTION:
	case MONGOC_ERROR_INSERT:
	case MONGOC_ERROR_BSON:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

/* A blocking driver call starts: publish our pending replies first. */
static uint64_t cmd_begin(struct mongo_conn *mc)
{
	mbox_flush();
	counter_add(&mc->stats->requests_total, 1);
	counter_set(&mc->stats->inflight, 1);
	return clock_now_ns();
}

/* It ended, with driver error `e` or NULL: count it, log it, map it. A
 * failure that only says again that the link is down as it was (the
 * probes of an outage) is not logged: the actor logs the outage's start
 * and each change of its cause (mongo_actor.c). */
static int cmd_end(struct mongo_conn *mc, uint64_t t0, const bson_error_t *e,
		   const char *what, const char *db, const char *coll)
{
	uint64_t elapsed = clock_now_ns() - t0;
	enum mongo_link was = mc->link;
	int status = 0;

	counter_set(&mc->stats->inflight, 0);
	if (e != NULL) {
		status = classify(mc, e, elapsed);
		if ((mc->link != was || was == MONGO_LINK_UP || was == MONGO_LINK_UNKNOWN) &&
		    log_due(mc))
			log_warn("%s: %s on %s.%s failed after %llu ms: %s (domain %u, code %u)",
				 mc->name, what, db, coll, (unsigned long long)(elapsed / 1000000u),
				 e->message, e->domain, e->code);
	} else
		mc->link = MONGO_LINK_UP;
	backend_stats_done(mc->stats, elapsed, status != 0, status == -ETIMEDOUT);
	return status;
}

/* A document we were given does not convert: the request is bad. */
static int bad_doc(struct mongo_conn *mc, const char *what, const struct mongo_msg *mm)
{
	if (log_due(mc))
		log_warn("%s: %s on %s: a document cannot be sent as BSON", mc->name, what,
			 mm->coll);
	return -EBADMSG;
}

/* maxTimeMS for a read (see DESIGN): the time the call has left, rounded
 * up; nothing without a deadline. MongoDB answers MaxTimeMSExpired
 * (-ETIMEDOUT) when it runs out. */
static void append_time_left(bson_t *opts, const struct mongo_msg *mm)
{
	uint64_t now = clock_now_ns(), left_ms;

	if (mm->c.deadline_ns == 0 || now >= mm->c.deadline_ns)
		return;
	left_ms = (mm->c.deadline_ns - now + 999999u) / 1000000u;
	BSON_APPEND_INT64(opts, "maxTimeMS", (int64_t)left_ms);
}

static int run_find(struct mongo_conn *mc, mongoc_collection_t *coll, const char *db,
		    struct mongo_msg *mm)
{
	bson_t opts = BSON_INITIALIZER, proj, filter, query_opts;
	int status = 0;

	if (mm->limit > 0)
		BSON_APPEND_INT64(&opts, "limit", mm->limit);
	if (mm->projection != NULL) {
		BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
		status = mongo_bson_from_json(&proj, mm->projection);
		bson_append_document_end(&opts, &proj);
		if (status != 0) {
			bson_destroy(&opts);
			return bad_doc(mc, "find", mm);
		}
	}
	mm->res = calloc(mm->nreq, sizeof(*mm->res));
	if (mm->res == NULL) {
		bson_destroy(&opts);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < mm->nreq && status == 0; i++) {
		mongoc_cursor_t *cur;
		const bson_t *doc;
		bson_error_t err;
		uint64_t t0;
		int conv = 0;
		bool failed;

		if (call_expired(&mm->c, clock_now_ns())) {
			status = -ETIMEDOUT;
			break;
		}
		bson_init(&filter);
		if (mongo_bson_from_json(&filter, mm->req[i]) != 0) {
			bson_destroy(&filter);
			status = bad_doc(mc, "find", mm);
			break;
		}
		mm->res[i] = cJSON_CreateArray();
		bson_copy_to(&opts, &query_opts);
		append_time_left(&query_opts, mm);
		t0 = cmd_begin(mc);
		cur = mongoc_collection_find_with_opts(coll, &filter, &query_opts, NULL);
		if (mm->res[i] == NULL)
			conv = -ENOMEM;
		while (conv == 0 && mongoc_cursor_next(cur, &doc)) {
			cJSON *j;

			conv = mongo_bson_to_json(doc, &j);
			if (conv == 0 && !cJSON_AddItemToArray(mm->res[i], j)) {
				cJSON_Delete(j);
				conv = -ENOMEM;
			}
		}
		failed = mongoc_cursor_error(cur, &err);
		mongoc_cursor_destroy(cur);
		bson_destroy(&query_opts);
		bson_destroy(&filter);
		status = cmd_end(mc, t0, failed ? &err : NULL, "find", db, mm->coll);
		if (status == 0 && conv == -EPROTO && log_due(mc))
			log_warn("%s: find on %s.%s: a result document is nested deeper than 100 "
				 "levels or does not parse", mc->name, db, mm->coll);
		if (status == 0)
			status = conv;
	}
	bson_destroy(&opts);
	return status;
}

static int64_t reply_int(const bson_t *reply, const char *key)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, reply, key) ? bson_iter_as_int64(&it) : 0;
}

static int run_update(struct mongo_conn *mc, mongoc_collection_t *coll, const char *db,
		      struct mongo_msg *mm)
{
	mongoc_bulk_operation_t *bulk;
	bson_t reply, filter, update;
	bson_error_t err;
	uint64_t t0;
	int status = 0;

	if (mm->nreq == 0)
		return bad_doc(mc, "update", mm);
	/* NULL opts: ordered, the driver's default write concern. */
	bulk = mongoc_collection_create_bulk_operation_with_opts(coll, NULL);
	for (unsigned i = 0; i + 1 < mm->nreq && status == 0; i += 2) {
		bson_init(&filter);
		bson_init(&update);
		if (mongo_bson_from_json(&filter, mm->req[i]) != 0 ||
		    mongo_bson_from_json(&update, mm->req[i + 1]) != 0)
			status = bad_doc(mc, "update", mm);
		else if (!mongoc_bulk_operation_update_one_with_opts(bulk, &filter, &update,
								      NULL, &err)) {
			if (log_due(mc))
				log_warn("%s: update on %s.%s refused: %s", mc->name, db,
					 mm->coll, err.message);
			status = -EBADMSG;
		}
		bson_destroy(&filter);
		bson_destroy(&update);
	}
	if (status == 0 && call_expired(&mm->c, clock_now_ns()))
		status = -ETIMEDOUT;
	if (status == 0) {
		t0 = cmd_begin(mc);
		if (mongoc_bulk_operation_execute(bulk, &reply, &err) != 0)
			status = cmd_end(mc, t0, NULL, "update", db, mm->coll);
		else
			status = cmd_end(mc, t0, &err, "update", db, mm->coll);
		mm->n = reply_int(&reply, "nMatched");
		mm->modified = reply_int(&reply, "nModified");
		bson_destroy(&reply);
	}
	mongoc_bulk_operation_destroy(bulk);
	return status;
}

static int run_insert(struct mongo_conn *mc, mongoc_collection_t *coll, const char *db,
		      struct mongo_msg *mm)
{
	int n = cJSON_GetArraySize(mm->req[0]), i = 0, status = 0;
	bson_t *docs = calloc((size_t)n, sizeof(*docs));
	const bson_t **ptrs = calloc((size_t)n, sizeof(*ptrs));
	const cJSON *d;
	bson_t reply;
	bson_error_t err;
	uint64_t t0;

	if (docs == NULL || ptrs == NULL) {
		free(docs);
		free(ptrs);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(d, mm->req[0]) {
		bson_init(&docs[i]);
		ptrs[i] = &docs[i];
		if (mongo_bson_from_json(&docs[i++], d) != 0) {
			status = bad_doc(mc, "insert", mm);
			break;
		}
	}
	if (status == 0 && call_expired(&mm->c, clock_now_ns()))
		status = -ETIMEDOUT;
	if (status == 0) {
		t0 = cmd_begin(mc);
		if (mongoc_collection_insert_many(coll, ptrs, (size_t)n, NULL, &reply, &err))
			status = cmd_end(mc, t0, NULL, "insert", db, mm->coll);
		else
			status = cmd_end(mc, t0, &err, "insert", db, mm->coll);
		mm->n = reply_int(&reply, "insertedCount");
		bson_destroy(&reply);
	}
	while (i > 0)
		bson_destroy(&docs[--i]);
	free(docs);
	free(ptrs);
	return status;
}

static int run_count(struct mongo_conn *mc, mongoc_collection_t *coll, const char *db,
		     struct mongo_msg *mm)
{
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	bson_error_t err;
	uint64_t t0;
	int64_t n;
	int status;

	if (mongo_bson_from_json(&filter, mm->req[0]) != 0) {
		bson_destroy(&filter);
		return bad_doc(mc, "count", mm);
	}
	if (call_expired(&mm->c, clock_now_ns())) {
		bson_destroy(&filter);
		return -ETIMEDOUT;
	}
	append_time_left(&opts, mm);
	t0 = cmd_begin(mc);
	n = mongoc_collection_count_documents(coll, &filter, &opts, NULL, NULL, &err);
	status = cmd_end(mc, t0, n < 0 ? &err : NULL, "count", db, mm->coll);
	mm->n = n;
	bson_destroy(&opts);
	bson_destroy(&filter);
	return status;
}

int mongo_conn_run(struct mongo_conn *mc, const char *db, struct mongo_msg *mm)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(mc->client, db, mm->coll);
	int status;

	switch (mm->c.m.type) {
	case MONGO_MSG_FIND: status = run_find(mc, coll, db, mm); break;
	case MONGO_MSG_UPDATE: status = run_update(mc, coll, db, mm); break;
	case MONGO_MSG_INSERT: status = run_insert(mc, coll, db, mm); break;
	case MONGO_MSG_COUNT: status = run_count(mc, coll, db, mm); break;
	default: status = -EBADMSG; break;
	}
	mongoc_collection_destroy(coll);
	return status;
}

int mongo_conn_ping(struct mongo_conn *mc)
{
	bson_t cmd = BSON_INITIALIZER;
	bson_error_t err;
	uint64_t t0;
	bool ok;

	BSON_APPEND_INT32(&cmd, "ping", 1);
	t0 = cmd_begin(mc);
	ok = mongoc_client_command_simple(mc->client, "admin", &cmd, NULL, NULL, &err);
	bson_destroy(&cmd);
	return cmd_end(mc, t0, ok ? NULL : &err, "ping", "admin", "$cmd");
}
