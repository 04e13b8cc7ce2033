/*
 * sql_internal.h - the layout of SQL requests and row sets, shared by the
 * builders and readers (sql_req.c, caller's thread) and the mysql actor
 * (sql_actor.c, sql_conn.c). Not a public header: routes use sql.h.
 */
#ifndef ACTORD_SQL_INTERNAL_H
#define ACTORD_SQL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sql.h"

#define SQL_MSG_REQ 0x53510001u     /* 'S' 'Q' 1 */
#define SQL_INLINE_STMTS 2
#define SQL_INLINE_PARAMS 8
#define SQL_INLINE_TEXT 256
#define SQL_NULL_LEN UINT32_MAX     /* a cell's len for SQL NULL */
#define SQL_EXPECT_ANY UINT32_MAX   /* no sql_req_expect_rows */

enum sql_param_type { SQL_P_INT, SQL_P_TEXT, SQL_P_NULL };

struct sql_param {
	int64_t i;
	const char *s;                /* SQL_P_TEXT: in the request's text arena */
	uint32_t len;
	uint8_t type;
};

struct sql_stmt_req {
	const char *sql;              /* in the request's text arena */
	uint32_t first_param, nparams;
	uint32_t expect_rows;         /* SQL_EXPECT_ANY or sql_req_expect_rows' count */
	struct sql_rows *rows;        /* set by the mysql actor */
	uint64_t affected;            /* set by the mysql actor */
	uint64_t matched;             /* set by the mysql actor: rows found (sql_req_expect_rows) */
};

struct sql_text_chunk {
	struct sql_text_chunk *next;
	size_t cap, used;
	char data[];
};

/* Crosses mailboxes: caller -> mysql actor -> caller; freed by the
 * caller's call_dispatch with msg_free (which frees the row sets too). */
struct sql_req {
	struct call_msg c;            /* MUST be first */
	int32_t error;                /* the first builder error */
	uint32_t nstmts, stmts_cap;
	uint32_t nparams, params_cap;
	struct sql_stmt_req *stmts;
	struct sql_param *params;
	struct sql_text_chunk *chunks;
	size_t text_used;             /* of text_inline */
	struct sql_stmt_req stmts_inline[SQL_INLINE_STMTS];
	struct sql_param params_inline[SQL_INLINE_PARAMS];
	char text_inline[SQL_INLINE_TEXT];
};
_Static_assert(offsetof(struct sql_req, c) == 0,
	       "struct sql_req is used through a pointer to its c");

struct sql_cell {
	uint32_t off, len;            /* into data; len SQL_NULL_LEN: NULL */
};

/* One allocation: this header, name_off[ncols], cells[nrows * ncols],
 * then the names and values, each NUL-terminated. Owned by the request. */
struct sql_rows {
	uint32_t nrows, ncols;
	const uint32_t *name_off;
	const struct sql_cell *cells;
	const char *data;
};

#endif
