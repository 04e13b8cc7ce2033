/*
 * sql.h - what routes use to query MariaDB through the mysql actors (kind
 * "mysql"): request messages and the row sets that come back.
 *
 * DESIGN
 * A route builds a `struct sql_req`: one or more statements with `?`
 * placeholders, each followed by its parameters. A statement given more
 * parameters than it has placeholders runs once per full set, in order,
 * on the same connection, its rows appended to one row set: that is how
 * /queries runs N point selects in one message, one round trip each as
 * TechEmpower requires, without N mailbox hops. The route sends it with
 * hreq_call(r, &sql_kind, sql_req_call(q), k, arg); a mysql actor runs the
 * statements in order as prepared statements (cached per connection) and
 * sends the message back; the continuation reads the results.
 * Statements run in autocommit mode: a statement that changes several
 * rows commits them together.
 *
 * Builders never fail loudly: the first error (-ENOMEM) is remembered and
 * the call comes back with it as its status.
 *
 * Reply status (call.h): 0 every statement ran; -ENOTCONN / -ECONNREFUSED
 * MariaDB is down, or the connection broke while the request had sent
 * only reads (503); -ENOLINK the connection broke after the request sent
 * a write (any statement not starting with SELECT or SHOW): it may or may
 * not have been applied, so a retry could apply it twice (502, no
 * Retry-After); -EAGAIN a deadlock or lock timeout, a statement
 * interrupted by another session (KILL QUERY, 1317), a write refused by a
 * read-only server, or the server or account out of connections (1040,
 * 1203, 1226), retry (503);
 * -ENODATA a statement found another number of rows than
 * sql_req_expect_rows said (the statements after it did not run: 500);
 * -ETIMEDOUT the deadline passed before a statement could start, or a
 * statement ran longer than mysql.query_timeout_ms (1969: 504); -EEXIST
 * a write refused for a duplicate key (1062, 1022, 1586: 409); -EBADMSG
 * MariaDB refused the SQL (syntax, unknown column, wrong parameter count:
 * 500); -EIO any other failure (500). The actor logs MariaDB's message
 * (at most 20 lines a second per connection); the caller never sees it. On failure, results of the statements that
 * completed are still attached.
 *
 * Ownership: the request belongs to the caller until hreq_call (which
 * frees it on error), then to a mysql actor, then to the continuation.
 * Row sets belong to the reply and are freed with it when the continuation
 * returns: copy what you keep. A request never sent is freed with
 * msg_free(sql_req_call(q)).
 *
 * Thread: builders and readers on the caller's thread (any actor).
 */
#ifndef ACTORD_SQL_H
#define ACTORD_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "actors/call.h"

/* The MariaDB actors (pool "mysql", actors.mysql). */
extern const struct actor_kind sql_kind;

struct sql_req;
struct sql_rows;

/* A new request with no statement yet; NULL on ENOMEM. */
struct sql_req *sql_req_new(void);

/* Add a statement (copied); the parameters added next bind to it.
 * 0 or the request's first error. */
int sql_req_stmt(struct sql_req *q, const char *sql);
/* Add a parameter to the last statement (text is copied). */
int sql_req_int(struct sql_req *q, int64_t v);
int sql_req_text(struct sql_req *q, const char *s, size_t len);
int sql_req_null(struct sql_req *q);
/* The last statement must find exactly `nrows` rows over all its runs:
 * rows returned, or for a statement that returns none the rows its WHERE
 * matched (an UPDATE's "Rows matched", changed or not; otherwise its
 * affected rows). If it finds another number, the request stops there
 * with -ENODATA and the statements after it do not run: a write that
 * depends on reads finding every row is not sent when one is missing.
 * What the statement itself changed stays changed (autocommit). */
int sql_req_expect_rows(struct sql_req *q, uint32_t nrows);

/* The call message to pass to hreq_call / call_send. */
struct call_msg *sql_req_call(struct sql_req *q);

/* In the continuation: statement `i`'s rows (NULL if it returns none, did
 * not run, or i is out of range) and affected-row count. */
const struct sql_rows *sql_result(const struct call_msg *reply, unsigned i);
uint64_t sql_affected(const struct call_msg *reply, unsigned i);

/* Row sets: every value is text (as MariaDB's text protocol shows it),
 * NUL-terminated; SQL NULL is a NULL pointer. */
unsigned sql_rows_count(const struct sql_rows *rs);
unsigned sql_rows_columns(const struct sql_rows *rs);
const char *sql_rows_name(const struct sql_rows *rs, unsigned col);
/* NULL for SQL NULL or out of range; `len` (may be NULL) gets the length. */
const char *sql_rows_text(const struct sql_rows *rs, unsigned row, unsigned col,
			  size_t *len);
/* The value as an integer; 0 for NULL, out of range or not a number. */
int64_t sql_rows_int(const struct sql_rows *rs, unsigned row, unsigned col);

#endif
