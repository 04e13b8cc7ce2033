/*
 * sql_conn.c - one MariaDB connection: connect, follow reloads, lose and
 * regain it (sql_conn.h). Statements: sql_stmt.c.
 *
 * DESIGN
 * Before each request: if a reload changed the server settings, reconnect
 * to the new ones; if the connection sat idle, look at its socket without
 * blocking (poll): a server that shut down or killed us has closed it, and
 * finding that out now costs nothing while finding it out with the query
 * would fail the request. Errors are sorted by MariaDB's error number into
 * call statuses (sql.h); a lost connection is closed and marked down, and
 * the next attempt waits for the backoff. A connection lost after the
 * request sent a write (sql_stmt.c tells reads from writes) leaves the
 * write's outcome unknown: that request gets -ENOLINK (502, no retry
 * advice), not the "down, retry" of a request that changed nothing.
 * A statement's failure is logged with MariaDB's text within a budget
 * (sql_conn_log_due); the connection's own losses and failed attempts
 * are logged once per outage and every LOG_EVERY attempts.
 *
 * Owner: one mysql actor thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <errmsg.h>

#include "sql_stmt.h"
#include "actors/log.h"
#include "base/clock.h"
#include "config/config.h"
#include "mailbox/mbox.h"

#define BACKOFF_MIN_MS 25
#define IDLE_PROBE_NS (10 * 1000000ull)  /* idle this long: probe the socket */
#define LOG_EVERY 20                     /* failed attempts between log lines */

/* MariaDB server error numbers we sort on (mysqld_error.h is not shipped). */
#define ER_DUP_KEY 1022
#define ER_CON_COUNT_ERROR 1040
#define ER_DUP_ENTRY 1062
#define ER_SERVER_SHUTDOWN 1053
#define ER_TOO_MANY_USER_CONNECTIONS 1203
#define ER_USER_LIMIT_REACHED 1226
#define ER_OPTION_PREVENTS_STATEMENT 1290
#define ER_LOCK_WAIT_TIMEOUT 1205
#define ER_LOCK_DEADLOCK 1213
#define ER_QUERY_INTERRUPTED 1317
#define ER_DUP_ENTRY_WITH_KEY_NAME 1586
#define ER_CONNECTION_KILLED 1927
#define ER_STATEMENT_TIMEOUT 1969

static const struct config_mysql *live_settings(void)
{
	static struct ad_config defaults;   /* only before any publish (tests) */
	const struct ad_config *cfg = config_current();

	if (cfg != NULL)
		return &cfg->mysql;
	if (defaults.mysql.port == 0)
		config_defaults(&defaults);
	return &defaults.mysql;
}

static bool same_server(const struct config_mysql *a, const struct config_mysql *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0 &&
	       strcmp(a->user, b->user) == 0 && strcmp(a->password, b->password) == 0 &&
	       strcmp(a->database, b->database) == 0;
}

static void set_error(struct sql_conn *c, int e)
{
	/* Relaxed: a readiness check only needs some recent value. */
	atomic_store_explicit(c->last_error, e, memory_order_relaxed);
}

struct sql_conn *sql_conn_create(struct backend_stats *stats, _Atomic int *last_error)
{
	struct sql_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->stats = stats;
	c->last_error = last_error;
	c->backoff_ms = BACKOFF_MIN_MS;
	return c;
}

static void close_db(struct sql_conn *c)
{
	if (c->db == NULL)
		return;
	sql_stmt_clear(c);
	mysql_close(c->db);
	c->db = NULL;
	counter_set(&c->stats->connected, 0);
}

void sql_conn_destroy(struct sql_conn *c)
{
	if (c == NULL)
		return;
	close_db(c);
	sql_stmt_destroy(c);
	free(c);
}

/* Apply the statement time limit to the session if it changed. */
static int apply_timeout(struct sql_conn *c, uint32_t timeout_ms)
{
	char q[96];

	if (timeout_ms == c->timeout_ms)
		return 0;
	snprintf(q, sizeof(q), "SET SESSION max_statement_time=%u.%03u", timeout_ms / 1000,
		 timeout_ms % 1000);
	if (mysql_real_query(c->db, q, strlen(q)) != 0)
		return sql_conn_error(c, mysql_errno(c->db), mysql_error(c->db), q);
	c->timeout_ms = timeout_ms;
	return 0;
}

/* A refused connection as a call status. Out of connection slots (server
 * or account limits) is a moment of overload, a 503 like a full mailbox,
 * not a refusal of access (500 until the configuration changes). */
static int connect_status(unsigned e)
{
	switch (e) {
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
		return -ECONNREFUSED;
	case ER_CON_COUNT_ERROR:
	case ER_TOO_MANY_USER_CONNECTIONS:
	case ER_USER_LIMIT_REACHED:
		return -EAGAIN;
	case ER_SERVER_SHUTDOWN:
		return -ENOTCONN;
	default:
		return e >= 2000 ? -ENOTCONN : -EACCES;
	}
}

static int connect_now(struct sql_conn *c, const struct config_mysql *s)
{
	unsigned int connect_s = (s->connect_timeout_ms + 999) / 1000;
	/* The server ends a statement at max_statement_time; the client read
	 * timeout only catches a server that stopped answering at all. */
	unsigned int io_s = (s->query_timeout_ms + 999) / 1000 + 2;
	unsigned int proto = MYSQL_PROTOCOL_TCP;
	my_bool off = 0;
	MYSQL *db = mysql_init(NULL);
	int rc;

	if (db == NULL)
		return -ENOMEM;
	mysql_optionsv(db, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
	mysql_optionsv(db, MYSQL_OPT_READ_TIMEOUT, &io_s);
	mysql_optionsv(db, MYSQL_OPT_WRITE_TIMEOUT, &io_s);
	mysql_optionsv(db, MYSQL_OPT_PROTOCOL, &proto);
	mysql_optionsv(db, MYSQL_OPT_RECONNECT, &off);
	mysql_optionsv(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (mysql_real_connect(db, s->host, s->user, s->password,
			       s->database[0] != '\0' ? s->database : NULL, s->port, NULL,
			       0) == NULL) {
		unsigned e = mysql_errno(db);

		rc = connect_status(e);
		if (c->failures++ % LOG_EVERY == 0)
			log_warn("mysql %s:%u: cannot connect (attempt %u): %s (%u)",
				 s->host, s->port, c->failures, mysql_error(db), e);
		mysql_close(db);
		return rc;
	}
	c->db = db;
	c->server = *s;
	c->timeout_ms = 0;
	rc = apply_timeout(c, s->query_timeout_ms);
	if (rc != 0) {
		close_db(c);
		return rc;
	}
	log_info("mysql %s:%u connected", s->host, s->port);
	c->failures = 0;
	return 0;
}

int sql_conn_ensure(struct sql_conn *c)
{
	const struct config_mysql *s = live_settings();
	uint64_t now = clock_now_ns();
	int rc;

	if (c->db != NULL)
		return 0;
	if (now < c->retry_at_ns)
		return c->down_status;
	if (c->attempted)
		counter_add(&c->stats->reconnects_total, 1);
	c->attempted = true;
	rc = connect_now(c, s);
	if (rc != 0) {
		c->down_status = rc;
		c->retry_at_ns = clock_now_ns() + (uint64_t)c->backoff_ms * NS_PER_MS;
		c->backoff_ms = c->backoff_ms * 2 > s->reconnect_max_ms ? s->reconnect_max_ms
									: c->backoff_ms * 2;
		if (c->backoff_ms < BACKOFF_MIN_MS)
			c->backoff_ms = BACKOFF_MIN_MS;
		set_error(c, rc);
		return rc;
	}
	c->backoff_ms = BACKOFF_MIN_MS;
	c->idle_since_ns = clock_now_ns();
	set_error(c, 0);
	counter_set(&c->stats->connected, 1);
	return 0;
}

/* The connection is gone: close it; the next attempt waits a little. The
 * request's status: -ENOLINK once it sent a write (it may have happened:
 * a retry could apply it twice), else `status` (nothing changed). */
static int lose(struct sql_conn *c, int status, const char *why)
{
	if (c->db == NULL)
		return status;
	log_warn("mysql %s:%u: connection lost: %s%s", c->server.host, c->server.port, why,
		 c->wrote ? " (a write was sent: its outcome is unknown)" : "");
	close_db(c);
	c->down_status = -ENOTCONN;
	c->retry_at_ns = clock_now_ns() + BACKOFF_MIN_MS * NS_PER_MS;
	c->backoff_ms = BACKOFF_MIN_MS * 2;
	set_error(c, status);
	return c->wrote ? -ENOLINK : status;
}

bool sql_conn_log_due(struct sql_conn *c)
{
	return log_budget_take(&c->log_budget, clock_now_ns(), SQL_LOG_PER_S);
}

int sql_conn_error(struct sql_conn *c, unsigned e, const char *msg, const char *sql)
{
	switch (e) {
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case ER_SERVER_SHUTDOWN:
	case ER_CONNECTION_KILLED:
		return lose(c, -ENOTCONN, msg);
	case ER_QUERY_INTERRUPTED:
		/* KILL QUERY from another session (actord's own limit is
		 * ER_STATEMENT_TIMEOUT): the server stopped the statement and
		 * rolled it back, the connection stays. Nothing to fix in the
		 * request: worth a retry. */
		if (sql_conn_log_due(c))
			log_warn("mysql: statement interrupted by another session (KILL QUERY): "
				 "%.200s", sql);
		return -EAGAIN;
	case ER_STATEMENT_TIMEOUT:
		if (sql_conn_log_due(c))
			log_warn("mysql: statement ran past mysql.query_timeout_ms: %.200s", sql);
		return -ETIMEDOUT;
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_LOCK_DEADLOCK:
		if (sql_conn_log_due(c))
			log_warn("mysql: %s (%u): %.200s", msg, e, sql);
		return -EAGAIN;
	case ER_DUP_KEY:
	case ER_DUP_ENTRY:
	case ER_DUP_ENTRY_WITH_KEY_NAME:
		/* The client's write conflicts with a row that exists: 409,
		 * the request's fault, not ours (a warning, not an error). */
		if (sql_conn_log_due(c))
			log_warn("mysql: %s (%u): %.200s", msg, e, sql);
		return -EEXIST;
	case ER_OPTION_PREVENTS_STATEMENT:
		/* --read-only (a primary being demoted, maintenance): writes
		 * are refused for now, like Redis' READONLY. The same number
		 * names other options, which no retry cures. */
		if (strstr(msg, "--read-only") != NULL) {
			if (sql_conn_log_due(c))
				log_warn("mysql: %s (%u): %.200s", msg, e, sql);
			return -EAGAIN;
		}
		break;
	default:
		break;
	}
	if (e >= 2000) {
		/* A client-side failure leaves the protocol state unknown. */
		return lose(c, -EIO, msg);
	}
	if (sql_conn_log_due(c))
		log_error("mysql refused a statement: %s (%u): %.200s", msg, e, sql);
	return -EBADMSG;
}

/* Idle connections learn of a server that went away from their socket:
 * readable or hung up while no query runs means closed. */
static void probe_idle(struct sql_conn *c, uint64_t now)
{
	struct pollfd p;

	if (c->db == NULL || now - c->idle_since_ns < IDLE_PROBE_NS)
		return;
	p.fd = (int)mysql_get_socket(c->db);
	p.events = POLLIN | POLLRDHUP;
	p.revents = 0;
	if (poll(&p, 1, 0) > 0)
		lose(c, -ENOTCONN, "closed by the server while idle");
}

/* A reload: a new server means a new connection, made now, between two
 * requests; a new statement time limit is applied to the session. */
static void follow_config(struct sql_conn *c)
{
	const struct ad_config *cfg = config_current();

	if (cfg == c->seen)
		return;
	c->seen = cfg;
	if (c->db == NULL)
		return;
	if (!same_server(&cfg->mysql, &c->server)) {
		log_info("mysql settings changed: moving from %s:%u to %s:%u",
			 c->server.host, c->server.port, cfg->mysql.host, cfg->mysql.port);
		close_db(c);
		c->retry_at_ns = 0;
		c->backoff_ms = BACKOFF_MIN_MS;
		return;
	}
	if (apply_timeout(c, cfg->mysql.query_timeout_ms) != 0)
		return;
}

int sql_conn_run(struct sql_conn *c, struct sql_req *q)
{
	int rc;

	c->wrote = false;
	follow_config(c);
	probe_idle(c, clock_now_ns());
	rc = q->error;
	if (rc == 0)
		rc = sql_conn_ensure(c);
	for (uint32_t i = 0; rc == 0 && i < q->nstmts; i++) {
		struct sql_stmt_req *s = &q->stmts[i];

		rc = sql_stmt_run(c, q, s);
		if (rc == 0 && s->expect_rows != SQL_EXPECT_ANY && s->matched != s->expect_rows)
			rc = -ENODATA;
	}
	c->idle_since_ns = clock_now_ns();
	return rc;
}

bool sql_conn_up(const struct sql_conn *c)
{
	return c->db != NULL;
}

uint64_t sql_conn_retry_at(const struct sql_conn *c)
{
	return c->retry_at_ns;
}
