/*
 * sql_conn.h - one MariaDB connection of a mysql actor: connecting with
 * backoff, following reloads, prepared statements cached per connection,
 * and running a request's statements. Internal to storage/.
 *
 * DESIGN
 * Blocking libmariadb calls: only a mysql actor (which owns the
 * connection and may block) calls these. Settings are read from
 * config_current() for every connection attempt; when a reload changes
 * host, port, user, password or database, the connection is replaced
 * between two requests, so no request in flight fails. utf8mb4, TCP only,
 * no MYSQL_OPT_RECONNECT: reconnection is explicit, with exponential
 * backoff (25 ms doubling up to mysql.reconnect_max_ms) between attempts.
 * Statement time is bounded on the server (max_statement_time =
 * mysql.query_timeout_ms) and, as a backstop for a server that stops
 * answering, by the client's read timeout.
 *
 * Owner: one mysql actor thread.
 */
#ifndef ACTORD_SQL_CONN_H
#define ACTORD_SQL_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "actors/backend_stats.h"

struct sql_conn;
struct sql_req;

/* A connection, not connected yet. `stats` and `last_error` outlive it.
 * NULL on ENOMEM. */
struct sql_conn *sql_conn_create(struct backend_stats *stats, _Atomic int *last_error);
void sql_conn_destroy(struct sql_conn *c);

/* Connect now if down and the backoff allows it. 0 if up. */
int sql_conn_ensure(struct sql_conn *c);

/* Run every statement of `q` (connecting first if needed), storing row
 * sets and affected counts in it. Returns the call status (sql.h). */
int sql_conn_run(struct sql_conn *c, struct sql_req *q);

bool sql_conn_up(const struct sql_conn *c);
/* When the next connection attempt is allowed (monotonic ns). */
uint64_t sql_conn_retry_at(const struct sql_conn *c);

#endif
