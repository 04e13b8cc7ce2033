/*
 * sql_stmt.c - prepared statements cached per connection, their execution
 * and the row sets they produce (sql_stmt.h).
 *
 * DESIGN
 * A statement is prepared the first time its SQL text is seen on a
 * connection and kept (up to mysql.statement_cache, least recently used
 * out first): the binary protocol skips parsing and planning on the
 * server, which saved ~2 us of server CPU per point select here (of about
 * 30 us; docs/PERFORMANCE.md). Results are bound
 * as text into per-column buffers that grow to the longest value seen, and
 * fetched row by row (no client-side copy of the whole result); a value
 * longer than its buffer is fetched whole with mysql_stmt_fetch_column.
 * Rows of every parameter set of a statement are appended to one builder,
 * then packed into a single allocation owned by the request.
 *
 * Owner: one mysql actor thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sql_stmt.h"
#include "actors/log.h"
#include "base/clock.h"
#include "mailbox/mbox.h"

#define RESULT_BUF_MIN 128

/* Owner: the connection's mysql actor thread. */
struct sql_stmt {
	char *sql;
	uint32_t hash;
	uint64_t used;                /* tick of the last use (LRU) */
	MYSQL_STMT *st;
	unsigned nparams, ncols;
	MYSQL_BIND *pbind;            /* [nparams] */
	MYSQL_BIND *rbind;            /* [ncols] */
	unsigned long *rlen;          /* [ncols] */
	my_bool *rnull;               /* [ncols] */
	my_bool *rerr;                /* [ncols] */
	unsigned long *want;          /* [ncols] longest value seen + 1 */
	uint32_t *name_off;           /* [ncols] into names */
	char *names;                  /* column names, NUL-terminated */
	uint32_t names_len;
	bool rebind;                  /* result buffers grew */
	bool writes;                  /* may change data (sql_conn.wrote) */
};

static uint32_t hash_sql(const char *s)
{
	uint32_t h = 2166136261u;     /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static void stmt_free(struct sql_stmt *e)
{
	if (e->st != NULL)
		mysql_stmt_close(e->st);
	for (unsigned i = 0; e->rbind != NULL && i < e->ncols; i++)
		free(e->rbind[i].buffer);
	free(e->pbind);
	free(e->rbind);
	free(e->rlen);
	free(e->rnull);
	free(e->rerr);
	free(e->want);
	free(e->name_off);
	free(e->names);
	free(e->sql);
	free(e);
}

void sql_stmt_clear(struct sql_conn *c)
{
	for (unsigned i = 0; i < c->nstmts; i++)
		stmt_free(c->stmts[i]);
	c->nstmts = 0;
}

void sql_stmt_destroy(struct sql_conn *c)
{
	sql_stmt_clear(c);
	free(c->stmts);
	free(c->cells);
	free(c->data);
	c->stmts = NULL;
	c->cells = NULL;
	c->data = NULL;
}

/* A statement call failed: sort the error (which may close the
 * connection, and with it `e`), else reset the statement for reuse. */
static int stmt_failed(struct sql_conn *c, struct sql_stmt *e, const char *sql)
{
	char msg[256];
	unsigned code = mysql_stmt_errno(e->st);
	int rc;

	snprintf(msg, sizeof(msg), "%s", mysql_stmt_error(e->st));
	if (code == 0) {
		/* Some failures (an error packet in place of a row, e.g. a
		 * statement killed by max_statement_time) are only recorded on
		 * the connection. */
		code = mysql_errno(c->db);
		snprintf(msg, sizeof(msg), "%s", mysql_error(c->db));
	}
	rc = sql_conn_error(c, code, msg, sql);
	if (c->db != NULL)
		mysql_stmt_reset(e->st);
	return rc;
}

/* Whether statement `sql` only reads: its first word is SELECT or SHOW.
 * Anything else (WITH, a leading comment, ANALYZE, which runs what it
 * analyses) counts as a write: when its connection breaks, that costs a
 * 502 "outcome unknown" where a 503 "retry" would have been safe, never
 * the reverse. A SELECT calling a function that writes is taken for a
 * read (docs/HANDLERS.md). */
static bool reads_only(const char *sql)
{
	static const char *const reads[] = { "SELECT", "SHOW" };
	size_t n;

	while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r' || *sql == '(')
		sql++;
	for (n = 0; (sql[n] >= 'A' && sql[n] <= 'Z') || (sql[n] >= 'a' && sql[n] <= 'z'); n++)
		;
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (strlen(reads[i]) == n && strncasecmp(sql, reads[i], n) == 0)
			return true;
	return false;
}

/* Column names and text result buffers for a statement that returns rows. */
static int setup_results(struct sql_stmt *e)
{
	MYSQL_RES *meta = mysql_stmt_result_metadata(e->st);
	MYSQL_FIELD *f;
	size_t len = 0;

	if (meta == NULL)
		return -ENOMEM;
	f = mysql_fetch_fields(meta);
	for (unsigned i = 0; i < e->ncols; i++)
		len += strlen(f[i].name) + 1;
	e->rbind = calloc(e->ncols, sizeof(*e->rbind));
	e->rlen = calloc(e->ncols, sizeof(*e->rlen));
	e->rnull = calloc(e->ncols, sizeof(*e->rnull));
	e->rerr = calloc(e->ncols, sizeof(*e->rerr));
	e->want = calloc(e->ncols, sizeof(*e->want));
	e->name_off = calloc(e->ncols, sizeof(*e->name_off));
	e->names = malloc(len);
	if (e->rbind == NULL || e->rlen == NULL || e->rnull == NULL || e->rerr == NULL ||
	    e->want == NULL || e->name_off == NULL || e->names == NULL || len > UINT32_MAX) {
		mysql_free_result(meta);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < e->ncols; i++) {
		size_t n = strlen(f[i].name) + 1;
		MYSQL_BIND *b = &e->rbind[i];

		memcpy(e->names + e->names_len, f[i].name, n);
		e->name_off[i] = e->names_len;
		e->names_len += (uint32_t)n;
		b->buffer_type = MYSQL_TYPE_STRING;
		b->buffer = malloc(RESULT_BUF_MIN);
		b->buffer_length = RESULT_BUF_MIN;
		b->length = &e->rlen[i];
		b->is_null = &e->rnull[i];
		b->error = &e->rerr[i];
		if (b->buffer == NULL) {
			mysql_free_result(meta);
			return -ENOMEM;
		}
	}
	mysql_free_result(meta);
	return 0;
}

static void evict_lru(struct sql_conn *c)
{
	unsigned oldest = 0;

	for (unsigned i = 1; i < c->nstmts; i++)
		if (c->stmts[i]->used < c->stmts[oldest]->used)
			oldest = i;
	stmt_free(c->stmts[oldest]);
	c->stmts[oldest] = c->stmts[--c->nstmts];
}

static int prepare(struct sql_conn *c, const char *sql, uint32_t hash, struct sql_stmt **out)
{
	const struct ad_config *cfg = config_current();
	unsigned max = cfg != NULL ? cfg->mysql.statement_cache : 64;
	struct sql_stmt *e = calloc(1, sizeof(*e));
	int rc;

	if (e == NULL || (e->sql = strdup(sql)) == NULL ||
	    (e->st = mysql_stmt_init(c->db)) == NULL) {
		if (e != NULL)
			stmt_free(e);
		return -ENOMEM;
	}
	e->hash = hash;
	e->writes = !reads_only(sql);
	if (mysql_stmt_prepare(e->st, sql, strlen(sql)) != 0) {
		rc = stmt_failed(c, e, sql);
		stmt_free(e);
		return rc;
	}
	e->nparams = (unsigned)mysql_stmt_param_count(e->st);
	e->ncols = mysql_stmt_field_count(e->st);
	if (e->nparams > 0 && (e->pbind = calloc(e->nparams, sizeof(*e->pbind))) == NULL) {
		stmt_free(e);
		return -ENOMEM;
	}
	if (e->ncols > 0) {
		rc = setup_results(e);
		if (rc == 0 && mysql_stmt_bind_result(e->st, e->rbind) != 0)
			rc = stmt_failed(c, e, sql);
		if (rc != 0) {
			stmt_free(e);
			return rc;
		}
	}
	while (c->nstmts > 0 && c->nstmts >= max)
		evict_lru(c);
	if (c->nstmts == c->stmts_cap) {
		unsigned cap = c->stmts_cap > 0 ? c->stmts_cap * 2 : 16;
		struct sql_stmt **p = realloc(c->stmts, sizeof(*p) * cap);

		if (p == NULL) {
			stmt_free(e);
			return -ENOMEM;
		}
		c->stmts = p;
		c->stmts_cap = cap;
	}
	c->stmts[c->nstmts++] = e;
	*out = e;
	return 0;
}

static int get_stmt(struct sql_conn *c, const char *sql, struct sql_stmt **out)
{
	uint32_t h = hash_sql(sql);

	for (unsigned i = 0; i < c->nstmts; i++) {
		if (c->stmts[i]->hash == h && strcmp(c->stmts[i]->sql, sql) == 0) {
			*out = c->stmts[i];
			return 0;
		}
	}
	return prepare(c, sql, h, out);
}

/* ---- The row-set builder ---- */

static int reserve(void **buf, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap > 0 ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n * elem);
	if (p == NULL)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

static int add_row(struct sql_conn *c, struct sql_stmt *e)
{
	if (reserve((void **)&c->cells, &c->cells_cap, c->ncells + e->ncols,
		    sizeof(*c->cells)) != 0)
		return -ENOMEM;
	for (unsigned i = 0; i < e->ncols; i++) {
		struct sql_cell *cell = &c->cells[c->ncells++];
		unsigned long len = e->rlen[i];
		char *dst;

		if (e->rnull[i]) {
			*cell = (struct sql_cell){ 0, SQL_NULL_LEN };
			continue;
		}
		if (c->data_len + len + 1 >= UINT32_MAX ||
		    reserve((void **)&c->data, &c->data_cap, c->data_len + len + 1, 1) != 0)
			return -ENOMEM;
		dst = c->data + c->data_len;
		if (len >= e->rbind[i].buffer_length) {
			/* Longer than the buffer: fetch it whole, grow for next time. */
			MYSQL_BIND b = { 0 };
			unsigned long got = 0;

			b.buffer_type = MYSQL_TYPE_STRING;
			b.buffer = dst;
			b.buffer_length = len + 1;
			b.length = &got;
			if (mysql_stmt_fetch_column(e->st, &b, i, 0) != 0)
				return -EIO;
			if (len + 1 > e->want[i])
				e->want[i] = len + 1;
		} else {
			memcpy(dst, e->rbind[i].buffer, len);
		}
		dst[len] = '\0';
		*cell = (struct sql_cell){ (uint32_t)c->data_len, (uint32_t)len };
		c->data_len += len + 1;
	}
	return 0;
}

/* Give columns that saw longer values a buffer that fits them. */
static void grow_buffers(struct sql_stmt *e)
{
	for (unsigned i = 0; i < e->ncols; i++) {
		MYSQL_BIND *b = &e->rbind[i];
		unsigned long want = e->want[i];
		void *p;

		if (want <= b->buffer_length)
			continue;
		want = (want + 63) & ~63ul;
		p = realloc(b->buffer, want);
		if (p == NULL)
			continue;   /* keep the old buffer: fetch_column still works */
		b->buffer = p;
		b->buffer_length = want;
		e->rebind = true;
	}
}

static struct sql_rows *pack(const struct sql_conn *c, const struct sql_stmt *e)
{
	size_t size = sizeof(struct sql_rows) + sizeof(uint32_t) * e->ncols +
		      sizeof(struct sql_cell) * c->ncells + e->names_len + c->data_len;
	struct sql_rows *rs;
	uint32_t *name_off;
	struct sql_cell *cells;
	char *data;

	if (size > UINT32_MAX || (rs = malloc(size)) == NULL)
		return NULL;
	name_off = (uint32_t *)(rs + 1);
	cells = (struct sql_cell *)(name_off + e->ncols);
	data = (char *)(cells + c->ncells);
	memcpy(name_off, e->name_off, sizeof(uint32_t) * e->ncols);
	for (size_t i = 0; i < c->ncells; i++) {
		cells[i] = c->cells[i];
		if (cells[i].len != SQL_NULL_LEN)
			cells[i].off += e->names_len;
	}
	memcpy(data, e->names, e->names_len);
	if (c->data_len > 0)
		memcpy(data + e->names_len, c->data, c->data_len);
	rs->nrows = (uint32_t)(c->ncells / e->ncols);
	rs->ncols = e->ncols;
	rs->name_off = name_off;
	rs->cells = cells;
	rs->data = data;
	return rs;
}

/* ---- Execution ---- */

static void bind_params(struct sql_stmt *e, struct sql_param *p)
{
	for (unsigned i = 0; i < e->nparams; i++) {
		MYSQL_BIND *b = &e->pbind[i];

		memset(b, 0, sizeof(*b));
		switch (p[i].type) {
		case SQL_P_INT:
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = &p[i].i;
			break;
		case SQL_P_TEXT:
			b->buffer_type = MYSQL_TYPE_STRING;
			b->buffer = (void *)p[i].s;
			b->buffer_length = p[i].len;
			break;
		default:
			b->buffer_type = MYSQL_TYPE_NULL;
			break;
		}
	}
}

/* Rows a statement without a result set found: an UPDATE's affected rows
 * count only the rows whose value changed, its OK packet's info ("Rows
 * matched: N  Changed: M ...", reset by every statement) every row its
 * WHERE matched. */
static uint64_t rows_matched(MYSQL *db, uint64_t affected)
{
	const char *info = mysql_info(db);
	unsigned long long n;

	if (info != NULL && sscanf(info, "Rows matched: %llu", &n) == 1)
		return n;
	return affected;
}

/* One execution with one parameter set. `e` may be gone on failure. */
static int execute(struct sql_conn *c, struct sql_stmt *e, struct sql_param *params,
		   struct sql_stmt_req *s)
{
	const char *sql = s->sql;
	uint64_t t0 = clock_now_ns();
	int rc = 0, frc;

	if (e->nparams > 0) {
		bind_params(e, params);
		if (mysql_stmt_bind_param(e->st, e->pbind) != 0)
			return stmt_failed(c, e, sql);
	}
	if (e->rebind) {
		if (mysql_stmt_bind_result(e->st, e->rbind) != 0)
			return stmt_failed(c, e, sql);
		e->rebind = false;
	}
	counter_add(&c->stats->requests_total, 1);
	counter_set(&c->stats->inflight, 1);
	/* From here on a broken connection may hide a write that happened. */
	if (e->writes)
		c->wrote = true;
	if (mysql_stmt_execute(e->st) != 0) {
		rc = -1;
	} else if (e->ncols == 0) {
		uint64_t n = mysql_stmt_affected_rows(e->st);

		s->affected += n;
		s->matched += rows_matched(c->db, n);
	} else {
		while ((frc = mysql_stmt_fetch(e->st)) == 0 || frc == MYSQL_DATA_TRUNCATED) {
			rc = add_row(c, e);
			if (rc != 0)
				break;
		}
		if (rc == 0 && frc == 1)
			rc = -1;
		else if (rc != 0)
			mysql_stmt_free_result(e->st);   /* skip the rest of the rows */
	}
	counter_set(&c->stats->inflight, 0);
	if (rc == -1) {
		rc = stmt_failed(c, e, sql);
		backend_stats_done(c->stats, clock_now_ns() - t0, true, rc == -ETIMEDOUT);
		return rc;
	}
	backend_stats_done(c->stats, clock_now_ns() - t0, rc != 0, false);
	return rc;
}

int sql_stmt_run(struct sql_conn *c, struct sql_req *q, struct sql_stmt_req *s)
{
	struct sql_stmt *e = NULL;
	unsigned runs;
	int rc = get_stmt(c, s->sql, &e);

	if (rc != 0)
		return rc;
	e->used = ++c->tick;
	if (e->nparams == 0 ? s->nparams != 0 : s->nparams == 0 || s->nparams % e->nparams != 0) {
		if (sql_conn_log_due(c))
			log_error("mysql: %u parameters for %u placeholders: %.200s",
				  s->nparams, e->nparams, s->sql);
		return -EBADMSG;
	}
	runs = e->nparams > 0 ? s->nparams / e->nparams : 1;
	c->ncells = 0;
	c->data_len = 0;
	for (unsigned r = 0; r < runs; r++) {
		if (call_expired(&q->c, clock_now_ns()))
			return -ETIMEDOUT;
		rc = execute(c, e, q->params + s->first_param + (size_t)r * e->nparams, s);
		if (rc != 0)
			return rc;
	}
	if (e->ncols > 0) {
		s->rows = pack(c, e);
		grow_buffers(e);
		if (s->rows == NULL)
			return -ENOMEM;
		s->matched = s->rows->nrows;
	}
	return 0;
}
