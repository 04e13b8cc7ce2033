/*
 * actorctl.c - command-line client of actord's admin endpoint.
 *
 * DESIGN
 * One command per invocation, one HTTP request per answer it needs
 * (actorctl_http.c), JSON read with cJSON:
 *   stats    a table of actors and their mailboxes (GET /admin/actors)
 *   top      the same, refreshed, with rates, like top(1)
 *   health   liveness and readiness per check (GET /livez, /readyz)
 *   reload   reload the configuration (POST /admin/reload)
 *   metrics  the raw Prometheus text (GET /metrics)
 *   config   the effective configuration, secrets redacted (GET /admin/config)
 *   resize   grow or shrink a pool (POST /admin/actors/KIND {"count": N})
 *   upgrade  binary upgrade (POST /admin/upgrade), then wait until the pid
 *            behind the admin address changes (success) or
 *            actord_upgrade_failures_total grows (failure)
 * The address comes from --admin, else ACTORD_ADMIN_ADDR, else
 * 127.0.0.1:9901; the token from --token, --token-file, else
 * ACTORD_ADMIN_TOKEN.
 *
 * Exit status: 0 success; 1 the endpoint answered with a failure (not
 * ready, reload refused, 401...); 2 usage; 3 the endpoint cannot be reached,
 * or what answers there is not actord's admin endpoint.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "actorctl_http.h"

#define DEFAULT_ADDR "127.0.0.1:9901"
#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define TOKEN_MAX 256
#define TOP_ROWS_MAX 4096

/* Owner: main (actorctl is single-threaded). */
struct ctl {
	const char *addr;
	char token[TOKEN_MAX];
	int timeout_ms;
	double interval_s;
	long iterations;          /* top: 0 = until interrupted */
	int wait_s;               /* upgrade: longest wait for the outcome */
	bool color;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: actorctl [OPTIONS] COMMAND\n"
		"\n"
		"Talk to the admin endpoint of a running actord.\n"
		"\n"
		"Commands:\n"
		"  stats     table of actors and their mailboxes\n"
		"  top       the same, refreshed every second, with rates (q: Ctrl-C)\n"
		"  health    liveness and readiness, per check (exit 1 if not ready)\n"
		"  reload    reload the configuration, like SIGHUP, and show the outcome\n"
		"  metrics   the Prometheus metrics text\n"
		"  config    the effective configuration, secrets redacted\n"
		"  resize KIND N  grow or shrink the pool of KIND to N actors (net,\n"
		"            handler, cache, mysql...); removed actors finish their work\n"
		"  upgrade   start the binary at the same path as a new process that takes\n"
		"            over the sockets; waits until it serves (--wait SEC, default 60)\n"
		"\n"
		"Options:\n"
		"  -a, --admin ADDR       admin endpoint host:port or http://host:port/\n"
		"                         (default $ACTORD_ADMIN_ADDR, else " DEFAULT_ADDR ")\n"
		"  -t, --token TOKEN      admin token (default $ACTORD_ADMIN_TOKEN)\n"
		"      --token-file FILE  read the admin token from FILE\n"
		"  -T, --timeout MS       give up on a request after MS ms (default 5000)\n"
		"  -i, --interval SEC     top: seconds between refreshes (default 1)\n"
		"  -n, --iterations N     top: stop after N refreshes (default: until Ctrl-C)\n"
		"      --wait SEC         upgrade: longest wait for the outcome (default 60)\n"
		"  -h, --help             this help\n"
		"  -v, --version          print the version\n"
		"\n"
		"Exit status: 0 ok, 1 the endpoint reported a failure, 2 usage error,\n"
		"3 the endpoint cannot be reached (or another server answers there).\n");
}

/* ---- requests ---- */

/* GET/POST `path`; prints the reason and returns an exit status on failure
 * to reach or to authenticate; 0 with `r` filled otherwise. */
static int request_body(const struct ctl *c, const char *method, const char *path,
			const char *body, struct ctl_response *r)
{
	char err[512];
	enum ctl_error e = ctl_request(c->addr, c->token, method, path, body, c->timeout_ms, r,
				       err, sizeof(err));

	if (e == CTL_BAD_ADDRESS) {
		fprintf(stderr, "actorctl: %s\n", err);
		return EXIT_USAGE;
	}
	if (e != CTL_OK) {
		fprintf(stderr, "actorctl: cannot reach the admin endpoint at %s: %s\n", c->addr, err);
		return EXIT_UNREACHABLE;
	}
	/* Every path actorctl reads exists on the admin endpoint: a 404 is
	 * another server (actord's public port, a web server), whose answers
	 * must not be shown as actord's state ("live: NO", an empty table). */
	if (r->status == 404 && strcmp(method, "GET") == 0) {
		fprintf(stderr, "actorctl: %s is not actord's admin endpoint: GET %s answered "
			"HTTP 404 (the public port? the admin one is admin_listen)\n", c->addr, path);
		ctl_response_free(r);
		return EXIT_UNREACHABLE;
	}
	/* Without a token the endpoint serves only Host values that are its
	 * own (DNS rebinding): say so, not "live: NO" or "not JSON". */
	if (r->status == 421) {
		fprintf(stderr, "actorctl: the admin endpoint at %s refused the request (421): "
			"%.*s\n", c->addr, (int)strcspn(r->body, "\n"), r->body);
		ctl_response_free(r);
		return EXIT_FAILED;
	}
	if (r->status == 401) {
		fprintf(stderr, "actorctl: the admin endpoint at %s refused the request (401): %s\n",
			c->addr, c->token[0] != '\0' ? "wrong token"
			: "it needs a token: --token, --token-file or ACTORD_ADMIN_TOKEN");
		ctl_response_free(r);
		return EXIT_FAILED;
	}
	return 0;
}

static int request(const struct ctl *c, const char *method, const char *path,
		   struct ctl_response *r)
{
	return request_body(c, method, path, NULL, r);
}

static int get_json(const struct ctl *c, const char *path, cJSON **out, int *status)
{
	struct ctl_response r;
	int rc = request(c, "GET", path, &r);

	if (rc != 0)
		return rc;
	*status = r.status;
	*out = cJSON_Parse(r.body);
	ctl_response_free(&r);
	if (*out == NULL) {
		fprintf(stderr, "actorctl: %s at %s did not answer JSON (HTTP %d)\n", path,
			c->addr, *status);
		return EXIT_FAILED;
	}
	return 0;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "?";
}

/* ---- stats and top ---- */

/* What top remembers of an actor between refreshes. Owner: main. */
struct prev_row {
	char name[48];
	double dequeued, busy, rejected;
};

static const struct prev_row *find_prev(const struct prev_row *rows, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].name, name) == 0)
			return &rows[i];
	return NULL;
}

static void print_uptime(double s)
{
	long t = (long)s;

	if (t >= 86400)
		printf("%ldd ", t / 86400);
	printf("%02ld:%02ld:%02ld", t % 86400 / 3600, t % 3600 / 60, t % 60);
}

static void print_header(const struct ctl *c, const cJSON *doc)
{
	const cJSON *ws = cJSON_GetObjectItemCaseSensitive(doc, "websocket");

	printf("actord %s at %s, up ", str(doc, "version"), c->addr);
	print_uptime(num(doc, "uptime_seconds"));
	printf(", %s\n", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "ready"))
	       ? "ready" : "NOT READY");
	if (ws != NULL)
		printf("websocket: %.0f open, %.0f messages in, %.0f out, %.0f dropped for slow "
		       "consumers (%.0f closed), fan-out p50 %.3f ms p99 %.3f ms\n",
		       num(ws, "connections_open"), num(ws, "messages_in_total"),
		       num(ws, "messages_out_total"), num(ws, "dropped_slow_consumer_total"),
		       num(ws, "closed_slow_consumer_total"), num(ws, "fanout_p50_seconds") * 1000,
		       num(ws, "fanout_p99_seconds") * 1000);
	printf("\n");
}

/* Print the table. With `prev` (top), rates per second over `dt`. Returns
 * the rows to remember in `next` (count in *nnext). */
static void print_table(const struct ctl *c, const cJSON *doc, const struct prev_row *prev,
			size_t nprev, double dt, struct prev_row *next, size_t *nnext)
{
	const cJSON *actors = cJSON_GetObjectItemCaseSensitive(doc, "actors"), *a;
	bool rates = prev != NULL && dt > 0;

	if (rates)
		printf("%-14s %-9s %8s %8s %9s %10s %9s %6s %11s\n", "ACTOR", "KIND", "DEPTH",
		       "CAPACITY", "HIGHWATER", "MSGS/S", "REJECT/S", "BUSY%", "LAG_MAX_MS");
	else
		printf("%-14s %-9s %8s %8s %9s %12s %12s %10s %11s\n", "ACTOR", "KIND", "DEPTH",
		       "CAPACITY", "HIGHWATER", "ENQUEUED", "DEQUEUED", "REJECTED", "LAG_MAX_MS");
	*nnext = 0;
	cJSON_ArrayForEach(a, actors) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(a, "mailbox");
		const char *name = str(a, "name");
		double depth = num(m, "depth"), cap = num(m, "capacity");
		const struct prev_row *p = rates ? find_prev(prev, nprev, name) : NULL;
		bool hot = depth >= cap / 2 || (p != NULL && num(m, "rejected_total") > p->rejected);
		const char *on = hot && c->color ? "\033[1;31m" : "", *off = hot && c->color ? "\033[0m" : "";

		if (rates) {
			printf("%s%-14s %-9s %8.0f %8.0f %9.0f ", on, name, str(a, "kind"), depth, cap,
			       num(m, "high_water"));
			if (p != NULL)
				printf("%10.1f %9.1f %6.1f", (num(m, "dequeued_total") - p->dequeued) / dt,
				       (num(m, "rejected_total") - p->rejected) / dt,
				       fmin(100, (num(a, "busy_seconds") - p->busy) / dt * 100));
			else
				printf("%10s %9s %6s", "-", "-", "-");
			printf(" %11.1f%s%s\n", num(a, "lag_max_seconds") * 1000,
			       hot && !c->color ? "  OVERLOADED" : "", off);
		} else {
			printf("%s%-14s %-9s %8.0f %8.0f %9.0f %12.0f %12.0f %10.0f %11.1f%s%s\n", on,
			       name, str(a, "kind"), depth, cap, num(m, "high_water"),
			       num(m, "enqueued_total"), num(m, "dequeued_total"),
			       num(m, "rejected_total"), num(a, "lag_max_seconds") * 1000,
			       hot && !c->color ? "  OVERLOADED" : "", off);
		}
		if (next != NULL && *nnext < TOP_ROWS_MAX) {
			struct prev_row *n = &next[(*nnext)++];

			snprintf(n->name, sizeof(n->name), "%s", name);
			n->dequeued = num(m, "dequeued_total");
			n->busy = num(a, "busy_seconds");
			n->rejected = num(m, "rejected_total");
		}
	}
}

static int cmd_stats(const struct ctl *c)
{
	cJSON *doc;
	int status, rc = get_json(c, "/admin/actors", &doc, &status);
	size_t n;

	if (rc != 0)
		return rc;
	if (status != 200) {
		fprintf(stderr, "actorctl: /admin/actors answered HTTP %d: %s\n", status,
			str(doc, "error"));
		cJSON_Delete(doc);
		return EXIT_FAILED;
	}
	print_header(c, doc);
	print_table(c, doc, NULL, 0, 0, NULL, &n);
	cJSON_Delete(doc);
	return 0;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_top(const struct ctl *c)
{
	struct prev_row *prev = calloc(TOP_ROWS_MAX, sizeof(*prev));
	struct prev_row *next = calloc(TOP_ROWS_MAX, sizeof(*next));
	size_t nprev = 0, nnext = 0;
	double prev_at = 0;
	int rc = 0;

	if (prev == NULL || next == NULL) {
		fprintf(stderr, "actorctl: out of memory\n");
		free(prev);
		free(next);
		return EXIT_FAILED;
	}
	for (long i = 0; c->iterations == 0 || i < c->iterations; i++) {
		struct timespec ts = { (time_t)c->interval_s,
				       (long)((c->interval_s - floor(c->interval_s)) * 1e9) };
		struct prev_row *t;
		double at;
		cJSON *doc;
		int status;

		if (i > 0)
			nanosleep(&ts, NULL);
		rc = get_json(c, "/admin/actors", &doc, &status);
		if (rc == 0 && status != 200) {
			fprintf(stderr, "actorctl: /admin/actors answered HTTP %d: %s\n", status,
				str(doc, "error"));
			cJSON_Delete(doc);
			rc = EXIT_FAILED;
		}
		if (rc != 0)
			break;
		at = mono_s();
		if (isatty(STDOUT_FILENO))
			printf("\033[H\033[2J");
		print_header(c, doc);
		print_table(c, doc, i > 0 ? prev : NULL, nprev, at - prev_at, next, &nnext);
		fflush(stdout);
		cJSON_Delete(doc);
		t = prev;
		prev = next;
		next = t;
		nprev = nnext;
		prev_at = at;
	}
	free(prev);
	free(next);
	return rc;
}

/* ---- health, reload, raw ---- */

static int cmd_health(const struct ctl *c)
{
	struct ctl_response r;
	const cJSON *checks, *ch;
	cJSON *doc;
	int status, rc = request(c, "GET", "/livez", &r);
	bool ready;

	if (rc != 0)
		return rc;
	printf("live:  %s\n", r.status == 200 ? "yes" : "NO");
	ctl_response_free(&r);
	rc = get_json(c, "/readyz", &doc, &status);
	if (rc != 0)
		return rc;
	ready = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "ready"));
	printf("ready: %s\n", ready ? "yes" : "NO");
	checks = cJSON_GetObjectItemCaseSensitive(doc, "checks");
	cJSON_ArrayForEach(ch, checks) {
		bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "ok"));
		const cJSON *req = cJSON_GetObjectItemCaseSensitive(ch, "required");

		printf("  %-16s %s%s%s%s\n", ch->string, ok ? "ok" : "FAIL",
		       cJSON_IsFalse(req) ? " (optional)" : "", ok ? "" : "  ",
		       ok ? "" : str(ch, "reason"));
	}
	cJSON_Delete(doc);
	return ready ? 0 : EXIT_FAILED;
}

/* A change the endpoint refused: its reason, exit 1. */
static int refused(const char *what, const struct ctl_response *r, const cJSON *doc)
{
	fprintf(stderr, "actorctl: %s refused (HTTP %d): %s\n", what, r->status,
		doc != NULL ? str(doc, "error") : r->body);
	return EXIT_FAILED;
}

static int cmd_reload(const struct ctl *c)
{
	struct ctl_response r;
	const cJSON *restart, *k;
	cJSON *doc;
	int rc = request(c, "POST", "/admin/reload", &r);

	if (rc != 0)
		return rc;
	doc = cJSON_Parse(r.body);
	if (r.status == 200) {
		printf("reloaded %s\n", str(doc, "file"));
		restart = cJSON_GetObjectItemCaseSensitive(doc, "restart_required");
		if (cJSON_GetArraySize(restart) > 0) {
			printf("changed, but needs a restart (kept as running):");
			cJSON_ArrayForEach(k, restart)
				printf(" %s", cJSON_IsString(k) ? k->valuestring : "?");
			printf("\n");
		}
	} else if (r.status == 202) {
		fprintf(stderr, "actorctl: reload outcome unknown: %s\n", str(doc, "note"));
		rc = EXIT_FAILED;
	} else {
		rc = refused("reload", &r, doc);
	}
	cJSON_Delete(doc);
	ctl_response_free(&r);
	return rc;
}

static int cmd_raw(const struct ctl *c, const char *path)
{
	struct ctl_response r;
	int rc = request(c, "GET", path, &r);

	if (rc != 0)
		return rc;
	fwrite(r.body, 1, r.len, stdout);
	if (r.status != 200) {
		fprintf(stderr, "actorctl: %s answered HTTP %d\n", path, r.status);
		rc = EXIT_FAILED;
	}
	ctl_response_free(&r);
	return rc;
}

/* `arg` as a whole number in lo..hi into *out, checked as a long: a cast
 * to int first would wrap (4294967297 -> 1), and strtol alone takes "" for
 * 0. 0, or -1 after saying why on stderr. */
static int parse_whole(const char *what, const char *arg, long lo, long hi, const char *unit,
		       long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (end == arg || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
		fprintf(stderr, "actorctl: %s: '%s' is not a whole number in %ld..%ld%s\n", what,
			arg, lo, hi, unit);
		return -1;
	}
	*out = v;
	return 0;
}

static int cmd_resize(const struct ctl *c, const char *kind, const char *count)
{
	struct ctl_response r;
	char path[128], body[64];
	long n;
	cJSON *doc;
	int rc;

	if (strlen(kind) > 64 || kind[0] == '\0') {
		fprintf(stderr, "actorctl: resize KIND N: KIND must be 1..64 characters\n");
		return EXIT_USAGE;
	}
	if (parse_whole("resize KIND N", count, 0, 1000000, "", &n) != 0)
		return EXIT_USAGE;
	snprintf(path, sizeof(path), "/admin/actors/%s", kind);
	snprintf(body, sizeof(body), "{\"count\": %ld}", n);
	rc = request_body(c, "POST", path, body, &r);
	if (rc != 0)
		return rc;
	doc = cJSON_Parse(r.body);
	if (r.status == 200) {
		printf("%s: %g -> %g actor(s)", kind, num(doc, "previous"), num(doc, "count"));
		if (num(doc, "retiring") > 0)
			printf(" (%g finishing their work)", num(doc, "retiring"));
		printf("\n");
	} else {
		rc = refused("resize", &r, doc);
	}
	cJSON_Delete(doc);
	ctl_response_free(&r);
	return rc;
}

/* The pid serving the admin address now, or 0 if it cannot be read. */
static double serving_pid(const struct ctl *c)
{
	cJSON *doc = NULL;
	int status = 0;
	double pid = 0;

	if (get_json(c, "/admin/actors", &doc, &status) == 0 && status == 200)
		pid = num(doc, "pid");
	cJSON_Delete(doc);
	return pid;
}

static double upgrade_failures(const struct ctl *c)
{
	struct ctl_response r;
	const char *at;
	double v = -1;

	if (request(c, "GET", "/metrics", &r) != 0)
		return -1;
	at = strstr(r.body, "\nactord_upgrade_failures_total ");
	if (at != NULL)
		v = strtod(at + strlen("\nactord_upgrade_failures_total "), NULL);
	ctl_response_free(&r);
	return v;
}

static int cmd_upgrade(const struct ctl *c)
{
	struct ctl_response r;
	double old_pid, failures = upgrade_failures(c), now;
	struct timespec pause = { 0, 100 * 1000000L };
	time_t deadline = time(NULL) + c->wait_s;
	cJSON *doc;
	int rc = request(c, "POST", "/admin/upgrade", &r);

	if (rc != 0)
		return rc;
	doc = cJSON_Parse(r.body);
	old_pid = num(doc, "pid");
	if (r.status != 202)
		rc = refused("upgrade", &r, doc);
	cJSON_Delete(doc);
	ctl_response_free(&r);
	if (rc != 0)
		return rc;
	printf("upgrade started by pid %.0f; waiting for the new process\n", old_pid);
	fflush(stdout);
	/* The admin socket passes to the new process: whoever answers there
	 * tells which process serves. */
	while (time(NULL) < deadline) {
		now = serving_pid(c);
		if (now > 0 && now != old_pid) {
			printf("upgraded: pid %.0f -> %.0f\n", old_pid, now);
			return 0;
		}
		if (now == old_pid && failures >= 0 && upgrade_failures(c) > failures) {
			fprintf(stderr, "actorctl: upgrade failed: pid %.0f keeps serving (its log "
				"says why)\n", old_pid);
			return EXIT_FAILED;
		}
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "actorctl: no outcome within %d s: see the log\n", c->wait_s);
	return EXIT_FAILED;
}

/* ---- options ---- */

static int set_token(struct ctl *c, const char *value, const char *from)
{
	size_t n = strlen(value);

	while (n > 0 && (value[n - 1] == '\n' || value[n - 1] == '\r'))
		n--;
	if (n >= sizeof(c->token)) {
		fprintf(stderr, "actorctl: the token from %s is longer than %d bytes\n", from,
			TOKEN_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (value[i] <= ' ' || value[i] > '~') {
			fprintf(stderr, "actorctl: the token from %s has spaces or control "
				"characters\n", from);
			return -1;
		}
	}
	memcpy(c->token, value, n);
	c->token[n] = '\0';
	return 0;
}

static int read_token_file(struct ctl *c, const char *path)
{
	char buf[TOKEN_MAX + 2];
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL) {
		fprintf(stderr, "actorctl: cannot read the token file %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return set_token(c, buf, path);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "admin", required_argument, NULL, 'a' },
		{ "token", required_argument, NULL, 't' },
		{ "token-file", required_argument, NULL, 'F' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "interval", required_argument, NULL, 'i' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "wait", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { .timeout_ms = 5000, .interval_s = 1.0, .wait_s = 60 };
	const char *env_token = getenv("ACTORD_ADMIN_TOKEN");
	const char *cmd, *token_arg = NULL, *token_file = NULL;
	char *end;
	long v;
	int o;

	c.addr = getenv("ACTORD_ADMIN_ADDR") != NULL ? getenv("ACTORD_ADMIN_ADDR") : DEFAULT_ADDR;
	c.color = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
	while ((o = getopt_long(argc, argv, "a:t:T:i:n:hv", opts, NULL)) != -1) {
		switch (o) {
		case 'a': c.addr = optarg; break;
		case 't': token_arg = optarg; break;
		case 'F': token_file = optarg; break;
		case 'T':
			if (parse_whole("--timeout", optarg, 1, 3600000, " ms", &v) != 0)
				return EXIT_USAGE;
			c.timeout_ms = (int)v;
			break;
		case 'i':
			c.interval_s = strtod(optarg, &end);
			if (*end != '\0' || !(c.interval_s >= 0.05 && c.interval_s <= 3600)) {
				fprintf(stderr, "actorctl: --interval: '%s' is not 0.05..3600 s\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'n':
			if (parse_whole("--iterations", optarg, 1, LONG_MAX, "", &c.iterations) != 0)
				return EXIT_USAGE;
			break;
		case 'W':
			if (parse_whole("--wait", optarg, 1, 3600, " s", &v) != 0)
				return EXIT_USAGE;
			c.wait_s = (int)v;
			break;
		case 'h': usage(stdout); return 0;
		case 'v': printf("actorctl %s\n", ACTORD_VERSION); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (token_arg != NULL && token_file != NULL) {
		fprintf(stderr, "actorctl: give --token or --token-file, not both\n");
		return EXIT_USAGE;
	}
	if ((token_arg != NULL && set_token(&c, token_arg, "--token") != 0) ||
	    (token_file != NULL && read_token_file(&c, token_file) != 0) ||
	    (token_arg == NULL && token_file == NULL && env_token != NULL &&
	     set_token(&c, env_token, "ACTORD_ADMIN_TOKEN") != 0))
		return EXIT_USAGE;
	if (optind < argc && strcmp(argv[optind], "resize") == 0) {
		if (optind + 3 != argc) {
			fprintf(stderr, "actorctl: usage: actorctl resize KIND N\n");
			return EXIT_USAGE;
		}
		return cmd_resize(&c, argv[optind + 1], argv[optind + 2]);
	}
	if (optind != argc - 1) {
		fprintf(stderr, optind >= argc ? "actorctl: no command given\n"
			: "actorctl: one command at a time\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(&c);
	if (strcmp(cmd, "top") == 0)
		return cmd_top(&c);
	if (strcmp(cmd, "health") == 0)
		return cmd_health(&c);
	if (strcmp(cmd, "reload") == 0)
		return cmd_reload(&c);
	if (strcmp(cmd, "metrics") == 0)
		return cmd_raw(&c, "/metrics");
	if (strcmp(cmd, "config") == 0)
		return cmd_raw(&c, "/admin/config");
	if (strcmp(cmd, "upgrade") == 0)
		return cmd_upgrade(&c);
	fprintf(stderr, "actorctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
