/*
 * sql_req.c - building SQL requests and reading their row sets (sql.h).
 *
 * DESIGN
 * A request is one allocation for the common case (a couple of statements,
 * a few parameters, short SQL inline); larger ones grow their arrays and
 * chain text chunks. Everything the mysql actor reads lives inside the
 * message, never in the caller's memory, so the caller may reuse its
 * buffers as soon as a builder returns.
 *
 * Thread: the caller's (builders, readers); sql_req_free wherever the
 * message is freed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sql_internal.h"

static void sql_req_free(struct msg *m)
{
	struct sql_req *q = (struct sql_req *)(void *)m;

	for (uint32_t i = 0; i < q->nstmts; i++)
		free(q->stmts[i].rows);
	if (q->stmts != q->stmts_inline)
		free(q->stmts);
	if (q->params != q->params_inline)
		free(q->params);
	while (q->chunks != NULL) {
		struct sql_text_chunk *c = q->chunks;

		q->chunks = c->next;
		free(c);
	}
	free(q);
}

struct sql_req *sql_req_new(void)
{
	struct sql_req *q = malloc(sizeof(*q));

	if (q == NULL)
		return NULL;
	call_msg_init(&q->c, SQL_MSG_REQ, sql_req_free, 0);
	q->error = 0;
	q->nstmts = 0;
	q->stmts_cap = SQL_INLINE_STMTS;
	q->nparams = 0;
	q->params_cap = SQL_INLINE_PARAMS;
	q->stmts = q->stmts_inline;
	q->params = q->params_inline;
	q->chunks = NULL;
	q->text_used = 0;
	return q;
}

static int fail(struct sql_req *q, int err)
{
	if (q->error == 0)
		q->error = err;
	return q->error;
}

/* Copy `len` bytes and a NUL into the request. */
static const char *keep_text(struct sql_req *q, const char *s, size_t len)
{
	struct sql_text_chunk *c = q->chunks;
	char *p;

	if (len + 1 <= SQL_INLINE_TEXT - q->text_used) {
		p = q->text_inline + q->text_used;
		q->text_used += len + 1;
	} else {
		if (c == NULL || len + 1 > c->cap - c->used) {
			size_t cap = len + 1 > 4096 ? len + 1 : 4096;

			c = malloc(sizeof(*c) + cap);
			if (c == NULL)
				return NULL;
			c->cap = cap;
			c->used = 0;
			c->next = q->chunks;
			q->chunks = c;
		}
		p = c->data + c->used;
		c->used += len + 1;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Make room for one more element in an array that starts inline. */
static int grow(void **arr, void *inline_arr, uint32_t n, uint32_t *cap, size_t elem)
{
	void *p;

	if (n < *cap)
		return 0;
	if (*cap > UINT32_MAX / 2)
		return -ENOMEM;
	if (*arr == inline_arr) {
		p = malloc(elem * *cap * 2);
		if (p != NULL)
			memcpy(p, *arr, elem * n);
	} else {
		p = realloc(*arr, elem * *cap * 2);
	}
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap *= 2;
	return 0;
}

int sql_req_stmt(struct sql_req *q, const char *sql)
{
	const char *text;

	if (q->error != 0)
		return q->error;
	if (grow((void **)&q->stmts, q->stmts_inline, q->nstmts, &q->stmts_cap,
		 sizeof(*q->stmts)) != 0 ||
	    (text = keep_text(q, sql, strlen(sql))) == NULL)
		return fail(q, -ENOMEM);
	q->stmts[q->nstmts++] = (struct sql_stmt_req){
		.sql = text,
		.first_param = q->nparams,
		.expect_rows = SQL_EXPECT_ANY,
	};
	return 0;
}

static struct sql_param *add_param(struct sql_req *q)
{
	if (q->error != 0)
		return NULL;
	if (q->nstmts == 0) {
		fail(q, -EINVAL);
		return NULL;
	}
	if (grow((void **)&q->params, q->params_inline, q->nparams, &q->params_cap,
		 sizeof(*q->params)) != 0) {
		fail(q, -ENOMEM);
		return NULL;
	}
	q->stmts[q->nstmts - 1].nparams++;
	return &q->params[q->nparams++];
}

int sql_req_int(struct sql_req *q, int64_t v)
{
	struct sql_param *p = add_param(q);

	if (p == NULL)
		return q->error;
	*p = (struct sql_param){ .i = v, .type = SQL_P_INT };
	return 0;
}

int sql_req_text(struct sql_req *q, const char *s, size_t len)
{
	struct sql_param *p;
	const char *text;

	if (len > UINT32_MAX)
		return fail(q, -EINVAL);
	p = add_param(q);
	if (p == NULL)
		return q->error;
	text = keep_text(q, s, len);
	if (text == NULL) {
		/* The slot stays, typed NULL: the request fails with -ENOMEM anyway. */
		*p = (struct sql_param){ .type = SQL_P_NULL };
		return fail(q, -ENOMEM);
	}
	*p = (struct sql_param){ .s = text, .len = (uint32_t)len, .type = SQL_P_TEXT };
	return 0;
}

int sql_req_null(struct sql_req *q)
{
	struct sql_param *p = add_param(q);

	if (p == NULL)
		return q->error;
	*p = (struct sql_param){ .type = SQL_P_NULL };
	return 0;
}

int sql_req_expect_rows(struct sql_req *q, uint32_t nrows)
{
	if (q->error != 0)
		return q->error;
	if (q->nstmts == 0 || nrows == SQL_EXPECT_ANY)
		return fail(q, -EINVAL);
	q->stmts[q->nstmts - 1].expect_rows = nrows;
	return 0;
}

struct call_msg *sql_req_call(struct sql_req *q)
{
	return &q->c;
}

static const struct sql_stmt_req *stmt_of(const struct call_msg *reply, unsigned i)
{
	const struct sql_req *q = (const struct sql_req *)(const void *)reply;

	if (reply == NULL || reply->m.type != SQL_MSG_REQ || i >= q->nstmts)
		return NULL;
	return &q->stmts[i];
}

const struct sql_rows *sql_result(const struct call_msg *reply, unsigned i)
{
	const struct sql_stmt_req *s = stmt_of(reply, i);

	return s != NULL ? s->rows : NULL;
}

uint64_t sql_affected(const struct call_msg *reply, unsigned i)
{
	const struct sql_stmt_req *s = stmt_of(reply, i);

	return s != NULL ? s->affected : 0;
}

unsigned sql_rows_count(const struct sql_rows *rs)
{
	return rs != NULL ? rs->nrows : 0;
}

unsigned sql_rows_columns(const struct sql_rows *rs)
{
	return rs != NULL ? rs->ncols : 0;
}

const char *sql_rows_name(const struct sql_rows *rs, unsigned col)
{
	if (rs == NULL || col >= rs->ncols)
		return NULL;
	return rs->data + rs->name_off[col];
}

const char *sql_rows_text(const struct sql_rows *rs, unsigned row, unsigned col,
			  size_t *len)
{
	const struct sql_cell *cell;

	if (rs == NULL || row >= rs->nrows || col >= rs->ncols)
		return NULL;
	cell = &rs->cells[(size_t)row * rs->ncols + col];
	if (cell->len == SQL_NULL_LEN)
		return NULL;
	if (len != NULL)
		*len = cell->len;
	return rs->data + cell->off;
}

int64_t sql_rows_int(const struct sql_rows *rs, unsigned row, unsigned col)
{
	const char *s = sql_rows_text(rs, row, col, NULL);
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0)
		return 0;
	return v;
}
