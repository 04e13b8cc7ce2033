/*
 * sql_stmt.h - what sql_conn.c (the connection) and sql_stmt.c (prepared
 * statements, execution, row sets) share. Internal to storage/.
 *
 * Owner: one mysql actor thread.
 */
#ifndef ACTORD_SQL_STMT_H
#define ACTORD_SQL_STMT_H

#include <stdbool.h>
#include <stdint.h>

#include <mysql.h>

#include "sql_conn.h"
#include "sql_internal.h"
#include "base/log_budget.h"
#include "config/config.h"

struct sql_stmt;

/* Owner: one mysql actor thread. */
struct sql_conn {
	MYSQL *db;                    /* NULL while down */
	struct config_mysql server;   /* the settings db was connected with */
	const struct ad_config *seen; /* snapshot last compared with */
	uint32_t timeout_ms;          /* max_statement_time of the session */
	uint64_t idle_since_ns;
	uint64_t retry_at_ns;         /* no attempt before this */
	uint32_t backoff_ms;
	int down_status;              /* what a request gets while down */
	unsigned failures;            /* attempts failed in a row */
	bool attempted;
	struct log_budget log_budget; /* statement failure lines (sql_conn_log_due) */
	/* The request being run sent a statement that may change data: if
	 * the connection breaks now, whether it did is unknown (-ENOLINK). */
	bool wrote;
	struct backend_stats *stats;
	_Atomic int *last_error;
	/* Prepared statements of this connection, least recently used first
	 * to go. */
	struct sql_stmt **stmts;
	unsigned nstmts, stmts_cap;
	uint64_t tick;
	/* Row-set builder, reused by every statement. */
	struct sql_cell *cells;
	size_t ncells, cells_cap;
	char *data;
	size_t data_len, data_cap;
};

/* Whether one more line about a failed statement may be written: at most
 * SQL_LOG_PER_S a second per connection, so a failure every request meets
 * (a read-only server, a lock held for long) is not a line per request;
 * backend_stats count each. */
#define SQL_LOG_PER_S 20
bool sql_conn_log_due(struct sql_conn *c);

/* Sort MariaDB error `e` into a call status (sql.h), log it, and close the
 * connection if it is lost. */
int sql_conn_error(struct sql_conn *c, unsigned e, const char *msg, const char *sql);

/* Run statement `s` of `q` (each parameter set in turn). */
int sql_stmt_run(struct sql_conn *c, struct sql_req *q, struct sql_stmt_req *s);
/* Close every cached statement (before closing the connection). */
void sql_stmt_clear(struct sql_conn *c);
/* Free the cache and the builder. */
void sql_stmt_destroy(struct sql_conn *c);

#endif
