/*
 * demo.c - the seed's login example as a shipped demo (app.demo, on in
 * the shipped config): register, log in, a page only for logged-in
 * users, log out.
 *
 *   GET  /demo/            -> 302 /demo/me
 *   GET  /demo/register    the form;  POST: create the user, log in, 303 /demo/me
 *   GET  /demo/login       the form;  POST: check the password, log in, 303 to
 *                          `next` (a /demo/ path without dot-segments) or
 *                          /demo/me; 401 + the form if wrong
 *   GET  /demo/me          logged in: the page; else 302 /demo/login?next=/demo/me
 *                          (401 JSON for JSON clients)
 *   POST /demo/logout      end the session, 303 /demo/login
 *
 * DESIGN
 * Every POST checks the `_xsrf` token first (403 without it). Passwords
 * are hashed with PBKDF2-HMAC-SHA256 (pbkdf2.h, app.demo_pbkdf2_iterations
 * rounds, a 16-byte random salt per user) on the worker actors
 * (worker/worker.h, hreq_work): a hash costs tens of milliseconds of CPU
 * and must not run on a handler. Users live in MariaDB (table `users`,
 * storage/sql/schema.sql); a login keeps the user name in a server-side
 * session (handler/session.h) whose id is rotated at login. Names are
 * unique and matched without regard to case (the column's collation), so
 * "BOB22" logs bob22 in, and the session holds the name as registered.
 * A login for an unknown user still runs one hash, so timing does not
 * tell which names exist.
 *
 * Thread: the handler actor serving the request; hash_password on a worker.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>

#include "app.h"
#include "demo.h"
#include "pbkdf2.h"
#include "handler/session.h"
#include "handler/web.h"
#include "base/hex.h"
#include "config/config.h"
#include "storage/sql.h"
#include "worker/worker.h"

#define SALT_BYTES 16
#define HASH_BYTES 32

/* The worker task's argument area (owned by the task message). */
struct demo_hash {
	char password[DEMO_PASSWORD_MAX_BYTES + 1];
	unsigned char salt[SALT_BYTES];
	uint32_t iterations;
	unsigned char out[HASH_BYTES];
};

/* One POST in flight, in request memory. */
struct demo_ctx {
	const char *user;
	const char *password;
	const char *next;
	bool found;                   /* login: the user exists */
	uint32_t iterations;
	unsigned char salt[SALT_BYTES];
	unsigned char want[HASH_BYTES];
};

static int hash_password(void *arg)
{
	struct demo_hash *h = arg;

	return pbkdf2_sha256(h->password, strlen(h->password), h->salt, SALT_BYTES, h->iterations,
			     h->out, HASH_BYTES) == 0 ? 0 : -EIO;
}

static void forget_password(void *arg)
{
	OPENSSL_cleanse(arg, sizeof(struct demo_hash));
}

/* A hex column of the users table into `n` bytes. */
static bool from_hex(const char *s, unsigned char *out, size_t n)
{
	return s != NULL && strlen(s) == 2 * n && hex_decode(s, out, n);
}

/* Hash ctx->password with `salt` on a worker; `k` gets the task back. */
static void hash_then(struct hreq *r, struct demo_ctx *c, const unsigned char *salt,
		      uint32_t iterations, hreq_cont_fn k)
{
	struct worker_task *t = worker_task_new(hash_password, sizeof(struct demo_hash),
						forget_password);
	struct demo_hash *h;
	int rc;

	if (t == NULL) {
		hreq_fail(r, -ENOMEM, "password hash");
		return;
	}
	h = worker_task_arg(t);
	snprintf(h->password, sizeof(h->password), "%s", c->password);
	memcpy(h->salt, salt, SALT_BYTES);
	h->iterations = iterations;
	rc = hreq_work(r, t, k, c);
	if (rc != 0)
		hreq_fail(r, rc, "password hash");
}

/* ---- Logging in: a fresh session id with the user in it, then 303 ---- */

static void on_session_saved(struct hreq *r, struct hsession *s, void *arg)
{
	struct demo_ctx *c = arg;

	(void)s;
	hreq_redirect(r, 303, c->next != NULL ? c->next : "/demo/me");
}

static void on_session_for_login(struct hreq *r, struct hsession *s, void *arg)
{
	char since[32];
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	gmtime_r(&now, &tm);
	strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S UTC", &tm);
	hsession_rotate(s);
	rc = hsession_set(s, "user", ((struct demo_ctx *)arg)->user);
	if (rc == 0)
		rc = hsession_set(s, "since", since);
	if (rc == 0)
		rc = hsession_save(r, s, on_session_saved, arg);
	if (rc != 0)
		hreq_fail(r, rc, "session");
}

static void log_in(struct hreq *r, struct demo_ctx *c)
{
	int rc = hsession_load(r, on_session_for_login, c);

	if (rc != 0)
		hreq_fail(r, rc, "session");
}

/* ---- Forms ---- */

/* Characters, as a person counts them: UTF-8 bytes but continuation ones. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* The POSTed username and password, checked; NULL (answered) if not. */
static struct demo_ctx *read_form(struct hreq *r, enum demo_form form)
{
	struct demo_ctx *c;
	const char *user, *pass, *why = NULL;
	size_t ul, pl, pc;

	if (!hreq_xsrf_check(r))
		return NULL;
	user = hreq_form(r, "username");
	pass = hreq_form(r, "password");
	ul = user != NULL ? strlen(user) : 0;
	pl = pass != NULL ? strlen(pass) : 0;
	pc = pass != NULL ? utf8_chars(pass) : 0;
	if (ul < DEMO_USER_MIN || ul > DEMO_USER_MAX || strspn(user,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != ul)
		why = "A username is 3 to 32 letters, digits, '_', '.' or '-'.";
	else if (pl > DEMO_PASSWORD_MAX_BYTES || pc > DEMO_PASSWORD_MAX ||
		 (form == DEMO_REGISTER && pc < DEMO_PASSWORD_MIN))
		/* The minimum is a rule for new passwords: a login is checked
		 * against the stored hash, so an account made under the byte
		 * count (7 letters, one of them accented) still logs in. */
		why = "A password is 8 to 128 characters.";
	if (why != NULL) {
		demo_form_page(r, form == DEMO_LOGIN ? 401 : 400, form,
			       form == DEMO_LOGIN ? "Wrong username or password." : why, user,
			       hreq_form(r, "next"));
		return NULL;
	}
	c = hreq_alloc(r, sizeof(*c));
	if (c == NULL) {
		hreq_fail(r, -ENOMEM, "demo");
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->user = user;
	c->password = pass;
	return c;
}

/* Whether the path part of `next` (up to '?' or '#') has a dot-segment,
 * raw or percent-encoded: a browser resolves "/demo/../x" and
 * "/demo/%2e%2e/x" to "/x", out of the demo. */
static bool has_dot_segment(const char *next)
{
	const char *seg = next + 1;

	for (;;) {
		size_t len = strcspn(seg, "/?#"), i = 0, dots = 0;

		/* Each piece a dot, raw or %2e: "." or ".." in any spelling. */
		for (; i < len; dots++) {
			if (seg[i] == '.')
				i++;
			else if (len - i >= 3 && strncasecmp(seg + i, "%2e", 3) == 0)
				i += 3;
			else
				break;
		}
		if (i == len && (dots == 1 || dots == 2))
			return true;
		if (seg[len] != '/')
			return false;
		seg += len + 1;
	}
}

/* A `next` that stays inside the demo; anything else is dropped. */
static const char *safe_next(const char *next)
{
	if (next == NULL || strncmp(next, "/demo/", 6) != 0 || strstr(next, "//") != NULL ||
	    strpbrk(next, "\\\r\n") != NULL || has_dot_segment(next))
		return NULL;
	return next;
}

/* ---- Register ---- */

static void on_inserted(struct hreq *r, struct call_msg *reply, void *arg)
{
	struct demo_ctx *c = arg;

	if (reply->status != 0) {
		hreq_fail(r, reply->status, "users");
		return;
	}
	if (sql_affected(reply, 0) == 0) {
		demo_form_page(r, 409, DEMO_REGISTER, "That username is taken.", c->user, NULL);
		return;
	}
	log_in(r, c);
}

static void on_register_hashed(struct hreq *r, struct call_msg *reply, void *arg)
{
	struct demo_ctx *c = arg;
	const struct demo_hash *h = worker_reply_arg(reply);
	char salt[2 * SALT_BYTES + 1], hash[2 * HASH_BYTES + 1];
	struct sql_req *q;
	int rc = -ENOMEM;

	if (reply->status != 0 || h == NULL) {
		hreq_fail(r, reply->status != 0 ? reply->status : -EIO, "password hash");
		return;
	}
	hex_encode(h->salt, SALT_BYTES, salt);
	hex_encode(h->out, HASH_BYTES, hash);
	q = sql_req_new();
	if (q != NULL) {
		sql_req_stmt(q, "INSERT IGNORE INTO users (username, salt, hash, iterations) "
			     "VALUES (?, ?, ?, ?)");
		sql_req_text(q, c->user, strlen(c->user));
		sql_req_text(q, salt, strlen(salt));
		sql_req_text(q, hash, strlen(hash));
		sql_req_int(q, h->iterations);
		rc = hreq_call(r, &sql_kind, sql_req_call(q), on_inserted, c);
	}
	if (rc != 0)
		hreq_fail(r, rc, "users");
}

static void post_register(struct hreq *r)
{
	struct demo_ctx *c = read_form(r, DEMO_REGISTER);
	unsigned char salt[SALT_BYTES];

	if (c == NULL)
		return;
	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt)) {
		hreq_fail(r, -EIO, "salt");
		return;
	}
	hash_then(r, c, salt, hreq_config(r)->app.demo_pbkdf2_iterations, on_register_hashed);
}

/* ---- Log in ---- */

static void on_login_hashed(struct hreq *r, struct call_msg *reply, void *arg)
{
	struct demo_ctx *c = arg;
	const struct demo_hash *h = worker_reply_arg(reply);

	if (reply->status != 0 || h == NULL) {
		hreq_fail(r, reply->status != 0 ? reply->status : -EIO, "password hash");
		return;
	}
	if (!c->found || CRYPTO_memcmp(h->out, c->want, HASH_BYTES) != 0) {
		demo_form_page(r, 401, DEMO_LOGIN, "Wrong username or password.", c->user, c->next);
		return;
	}
	log_in(r, c);
}

static void on_user_row(struct hreq *r, struct call_msg *reply, void *arg)
{
	struct demo_ctx *c = arg;
	const struct sql_rows *rs = sql_result(reply, 0);

	if (reply->status != 0) {
		hreq_fail(r, reply->status, "users");
		return;
	}
	c->iterations = hreq_config(r)->app.demo_pbkdf2_iterations;
	if (sql_rows_count(rs) == 1 &&
	    from_hex(sql_rows_text(rs, 0, 0, NULL), c->salt, SALT_BYTES) &&
	    from_hex(sql_rows_text(rs, 0, 1, NULL), c->want, HASH_BYTES) &&
	    sql_rows_int(rs, 0, 2) > 0 && sql_rows_int(rs, 0, 2) <= 10000000 &&
	    sql_rows_text(rs, 0, 3, NULL) != NULL) {
		/* The column's collation ignores case: "BOB22" finds bob22.
		 * The session keeps the name as registered, not as typed. */
		c->user = hreq_strdup(r, sql_rows_text(rs, 0, 3, NULL));
		if (c->user == NULL) {
			hreq_fail(r, -ENOMEM, "users");
			return;
		}
		c->found = true;
		c->iterations = (uint32_t)sql_rows_int(rs, 0, 2);
	}
	hash_then(r, c, c->salt, c->iterations, on_login_hashed);
}

static void post_login(struct hreq *r)
{
	struct demo_ctx *c = read_form(r, DEMO_LOGIN);
	struct sql_req *q;
	int rc = -ENOMEM;

	if (c == NULL)
		return;
	c->next = safe_next(hreq_form(r, "next"));
	q = sql_req_new();
	if (q != NULL) {
		sql_req_stmt(q, "SELECT salt, hash, iterations, username FROM users "
			     "WHERE username = ?");
		sql_req_text(q, c->user, strlen(c->user));
		rc = hreq_call(r, &sql_kind, sql_req_call(q), on_user_row, c);
	}
	if (rc != 0)
		hreq_fail(r, rc, "users");
}

/* ---- Pages ---- */

static void get_login(struct hreq *r)
{
	demo_form_page(r, 200, DEMO_LOGIN, NULL, NULL, safe_next(hreq_query(r, "next")));
}

static void get_register(struct hreq *r)
{
	demo_form_page(r, 200, DEMO_REGISTER, NULL, NULL, NULL);
}

static void on_me(struct hreq *r, struct hsession *s, void *arg)
{
	(void)arg;
	demo_me_page(r, hsession_get(s, "user"), hsession_get(s, "since"));
}

static void get_me(struct hreq *r)
{
	int rc = hsession_authenticated(r, "/demo/login", on_me, NULL);

	if (rc != 0)
		hreq_fail(r, rc, "session");
}

static void on_logged_out(struct hreq *r, struct hsession *s, void *arg)
{
	(void)s;
	(void)arg;
	hreq_redirect(r, 303, "/demo/login");
}

static void on_session_for_logout(struct hreq *r, struct hsession *s, void *arg)
{
	int rc = hsession_destroy(r, s, on_logged_out, arg);

	if (rc != 0)
		hreq_fail(r, rc, "session");
}

static void post_logout(struct hreq *r)
{
	int rc;

	if (!hreq_xsrf_check(r))
		return;
	rc = hsession_load(r, on_session_for_logout, NULL);
	if (rc != 0)
		hreq_fail(r, rc, "session");
}

static void get_index(struct hreq *r)
{
	hreq_redirect(r, 302, "/demo/me");
}

int demo_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen)
{
	if (!cfg->app.demo)
		return 0;
	if (route_add(t, ROUTE_GET, "/demo/", get_index, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/demo/register", get_register, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_POST, "/demo/register", post_register, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/demo/login", get_login, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_POST, "/demo/login", post_login, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_GET, "/demo/me", get_me, NULL, err, errlen) != 0 ||
	    route_add(t, ROUTE_POST, "/demo/logout", post_logout, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}
