/*
 * upstream_engines.c - the upstream client engines side by side (issue
 * 19's library choice; a benchmark helper, not a test): the same closed
 * loop of CONC concurrent keep-alive GETs to one URL for SECONDS, driven
 *   actord  through actord's upstream actor (net/upstream*.c: one actor
 *           thread with its own libev loop) by a caller actor, exactly as
 *           a handler calls it;
 *   curl    through libcurl's multi-socket interface on a libev loop (the
 *           wiring of curl's evhiperfifo example), one thread.
 * Prints one line: "ENGINE URL req/s cpu_us_per_req errors" (CPU: the
 * whole process, getrusage, so both include their caller's work).
 *
 * Usage: upstream_engines actord|curl URL CONC SECONDS [CA_FILE]
 *
 * Thread: main (and, for actord, the actor threads it starts).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>
#include <ev.h>

#include "net/upstream.h"

static atomic_long ok_count, err_count;
static atomic_int stopping;
static const char *url_arg, *ca_arg = "";
static int conc;

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- actord's upstream actor, driven by a caller actor ---- */

static const struct actor_kind driver_kind = { "driver" };
#define T_START 0x42454e01u

static void issue(struct actor *a, struct call_table *t);

static void on_reply(struct call_msg *reply, void *ctx, void *arg)
{
	struct actor *a = ctx;

	(void)arg;
	if (reply->status == 0 && upstream_reply_status(upstream_reply(reply)) == 200)
		atomic_fetch_add_explicit(&ok_count, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&err_count, 1, memory_order_relaxed);
	if (!atomic_load_explicit(&stopping, memory_order_relaxed))
		issue(a, actor_state(a));
}

static void issue(struct actor *a, struct call_table *t)
{
	unsigned n;
	actor_addr_t to = actor_system_find_kind(actor_sys(a), &upstream_kind, &n);
	int rc;
	struct upstream_call *u = upstream_call_new(HTTP_GET, url_arg, &rc);

	if (u == NULL || call_send(t, to, upstream_call_msg(u), on_reply, a, NULL) != 0) {
		upstream_call_free(u);
		atomic_fetch_add(&err_count, 1);
	}
}

static void driver_message(struct actor *a, struct msg *m)
{
	struct call_table *t = actor_state(a);

	if (call_dispatch(t, m))
		return;
	if (m->type == T_START)
		for (int i = 0; i < conc; i++)
			issue(a, t);
	msg_free(m);
}

static int driver_start(struct actor *a)
{
	struct call_table *t = call_table_create(a, 4096);

	actor_set_state(a, t);
	return t != NULL ? 0 : -ENOMEM;
}

static void driver_stop(struct actor *a)
{
	call_table_destroy(actor_state(a));
}

static const struct actor_ops driver_ops = {
	.start = driver_start, .message = driver_message, .stop = driver_stop,
};

static void free_msg(struct msg *m)
{
	free(m);
}

static int run_actord(double seconds)
{
	static struct ad_config cfg;
	struct actor_pool_spec spec = {
		.kind = &driver_kind, .count = 1, .mbox_capacity = 8192, .ops = &driver_ops,
	};
	struct actor_system *sys = actor_system_create();
	struct msg *go = calloc(1, sizeof(*go));
	actor_addr_t drv;
	char err[256];
	struct timespec ts = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };

	config_defaults(&cfg);
	cfg.upstream.max_connections = (uint32_t)conc;
	snprintf(cfg.upstream.ca_file, sizeof(cfg.upstream.ca_file), "%s", ca_arg);
	if (sys == NULL || go == NULL || upstream_add_pool(sys, &cfg, err, sizeof(err)) != 0 ||
	    (drv = actor_system_add_pool(sys, &spec, err, sizeof(err))) == ACTOR_ADDR_NONE ||
	    actor_system_start(sys, err, sizeof(err)) != 0) {
		fprintf(stderr, "upstream_engines: %s\n", err);
		return 1;
	}
	msg_init(go, T_START, free_msg);
	actor_send(sys, drv, go);
	nanosleep(&ts, NULL);
	atomic_store(&stopping, 1);
	return 0;   /* the caller reads the counters; the system is left running */
}

/* ---- libcurl multi-socket on libev (curl's evhiperfifo wiring) ---- */

struct sock {
	ev_io io;
	bool active;
};

static struct ev_loop *loop;
static CURLM *multi;
static ev_timer curl_timer;

static void check_done(void)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(multi, &left)) != NULL) {
		long code = 0;
		CURL *e = m->easy_handle;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		if (m->data.result == CURLE_OK && code == 200)
			atomic_fetch_add_explicit(&ok_count, 1, memory_order_relaxed);
		else
			atomic_fetch_add_explicit(&err_count, 1, memory_order_relaxed);
		curl_multi_remove_handle(multi, e);
		if (!atomic_load(&stopping))
			curl_multi_add_handle(multi, e);   /* the next request, same handle */
	}
}

static void on_curl_io(struct ev_loop *l, ev_io *w, int revents)
{
	int running, action = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
			      (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);

	(void)l;
	curl_multi_socket_action(multi, w->fd, action, &running);
	check_done();
}

static void on_curl_timer(struct ev_loop *l, ev_timer *w, int revents)
{
	int running;

	(void)l;
	(void)w;
	(void)revents;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

static int curl_timer_cb(CURLM *m, long ms, void *p)
{
	(void)m;
	(void)p;
	ev_timer_stop(loop, &curl_timer);
	if (ms >= 0) {
		ev_timer_set(&curl_timer, (double)ms / 1000.0, 0.);
		ev_timer_start(loop, &curl_timer);
	}
	return 0;
}

static int curl_sock_cb(CURL *e, curl_socket_t s, int what, void *up, void *sockp)
{
	struct sock *k = sockp;

	(void)e;
	(void)up;
	if (what == CURL_POLL_REMOVE) {
		if (k != NULL) {
			ev_io_stop(loop, &k->io);
			free(k);
			curl_multi_assign(multi, s, NULL);
		}
		return 0;
	}
	if (k == NULL) {
		k = calloc(1, sizeof(*k));
		if (k == NULL)
			return -1;
		curl_multi_assign(multi, s, k);
	} else {
		ev_io_stop(loop, &k->io);
	}
	ev_io_init(&k->io, on_curl_io, s, (what & CURL_POLL_IN ? EV_READ : 0) |
		   (what & CURL_POLL_OUT ? EV_WRITE : 0));
	ev_io_start(loop, &k->io);
	return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p;
	(void)u;
	return size * n;
}

static void on_stop(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	atomic_store(&stopping, 1);
	ev_break(l, EVBREAK_ALL);
}

static int run_curl(double seconds)
{
	ev_timer stop;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	loop = ev_loop_new(EVFLAG_AUTO);
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conc);
	ev_init(&curl_timer, on_curl_timer);
	for (int i = 0; i < conc; i++) {
		CURL *e = curl_easy_init();

		curl_easy_setopt(e, CURLOPT_URL, url_arg);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		if (ca_arg[0] != '\0')
			curl_easy_setopt(e, CURLOPT_CAINFO, ca_arg);
		curl_multi_add_handle(multi, e);
	}
	ev_timer_init(&stop, on_stop, seconds, 0.);
	ev_timer_start(loop, &stop);
	ev_run(loop, 0);
	return 0;
}

int main(int argc, char **argv)
{
	double t0, c0, t1, c1, seconds;
	long ok, errs;
	int rc;

	if (argc < 5) {
		fprintf(stderr, "usage: upstream_engines actord|curl URL CONC SECONDS [CA_FILE]\n");
		return 2;
	}
	url_arg = argv[2];
	conc = atoi(argv[3]);
	seconds = atof(argv[4]);
	if (argc > 5)
		ca_arg = argv[5];
	if (conc < 1 || seconds <= 0) {
		fprintf(stderr, "upstream_engines: bad CONC or SECONDS\n");
		return 2;
	}
	t0 = now_s();
	c0 = cpu_s();
	if (strcmp(argv[1], "actord") == 0)
		rc = run_actord(seconds);
	else if (strcmp(argv[1], "curl") == 0)
		rc = run_curl(seconds);
	else
		rc = 2;
	t1 = now_s();
	c1 = cpu_s();
	if (rc != 0)
		return rc;
	ok = atomic_load(&ok_count);
	errs = atomic_load(&err_count);
	printf("%s %s %.0f %.1f %ld\n", argv[1], url_arg, (double)ok / (t1 - t0),
	       ok > 0 ? (c1 - c0) * 1e6 / (double)ok : 0., errs);
	fflush(stdout);
	/* The actor system is not torn down: calls are still in flight. */
	_exit(0);
}
