/*
 * test_upstream_actor.c - the upstream actor pool over real sockets, driven
 * by a scripted caller actor: replies and their statuses, keep-alive reuse,
 * the metrics the collector renders (read while the actors run), and the
 * shutdown contract (every pending call answered -ESHUTDOWN).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "actors/metrics.h"
#include "tests/unit/common/metrics_text.h"
#include "net/upstream.h"

static const struct actor_kind caller_kind = { "caller" };

/* ---- A tiny upstream: answers every request, or none ---- */

#define MAX_FDS 64

struct server {
	int lfd;
	uint16_t port;
	bool silent;                   /* read requests, never answer */
	atomic_int accepted;
	atomic_int stop;
	pthread_t thread;
};

static void *serve(void *arg)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	struct server *s = arg;
	struct pollfd fds[MAX_FDS];
	int n = 1;
	char buf[4096];

	fds[0] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
	while (!atomic_load(&s->stop)) {
		if (poll(fds, (nfds_t)n, 20) <= 0)
			continue;
		if ((fds[0].revents & POLLIN) && n < MAX_FDS) {
			int fd = accept(s->lfd, NULL, NULL);

			if (fd >= 0) {
				fds[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
				atomic_fetch_add(&s->accepted, 1);
			}
		}
		for (int i = 1; i < n; i++) {
			ssize_t r;

			if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = recv(fds[i].fd, buf, sizeof(buf), 0);
			if (r <= 0) {
				close(fds[i].fd);
				fds[i--] = fds[--n];
				continue;
			}
			/* One answer per request: the client never pipelines. A
			 * failed send shows up as a failed call in the test. */
			if (!s->silent && memmem(buf, (size_t)r, "\r\n\r\n", 4) != NULL &&
			    send(fds[i].fd, resp, sizeof(resp) - 1, MSG_NOSIGNAL) < 0)
				continue;
		}
	}
	for (int i = 0; i < n; i++)
		close(fds[i].fd);
	return NULL;
}

static void server_start(struct server *s, bool silent)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->silent = silent;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->lfd, 64), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
}

/* ---- A caller actor: sends what it is told, counts the replies ---- */

#define T_GO 0x54540001u

struct go {
	struct msg m;
	char url[128];
	int count;
};

/* Written by the caller actor, read by the test thread. */
struct results {
	atomic_int replies;
	atomic_int ok;                 /* status 0, HTTP 200, body "hello" */
	atomic_int statuses[UPSTREAM_ERROR_KINDS];
	atomic_int send_errors;
};

static struct results RES;

static void go_free(struct msg *m)
{
	free(m);
}

static void on_reply(struct call_msg *reply, void *ctx, void *arg)
{
	const struct upstream_call *u = upstream_reply(reply);
	size_t len;
	const char *body = upstream_reply_body(u, &len);

	(void)ctx;
	(void)arg;
	if (reply->status == 0 && upstream_reply_status(u) == 200 && len == 5 &&
	    memcmp(body, "hello", 5) == 0)
		atomic_fetch_add(&RES.ok, 1);
	atomic_fetch_add(&RES.statuses[upstream_error_of(reply->status)], 1);
	atomic_fetch_add(&RES.replies, 1);
}

static void caller_message(struct actor *a, struct msg *m)
{
	struct call_table *t = actor_state(a);

	if (call_dispatch(t, m))
		return;
	if (m->type == T_GO) {
		struct go *g = msg_cast(m, struct go);
		unsigned count;
		actor_addr_t to = actor_system_find_kind(actor_sys(a), &upstream_kind, &count);

		for (int i = 0; i < g->count; i++) {
			int rc;
			struct upstream_call *u = upstream_call_new(HTTP_GET, g->url, &rc);

			assert_non_null(u);
			upstream_call_set_deadline(u, mbox_now_ns() + 5000000000ull);
			if (call_send(t, to, upstream_call_msg(u), on_reply, NULL, NULL) != 0) {
				upstream_call_free(u);
				atomic_fetch_add(&RES.send_errors, 1);
			}
		}
	}
	msg_free(m);
}

static int caller_start(struct actor *a)
{
	struct call_table *t = call_table_create(a, 1024);

	actor_set_state(a, t);
	return t != NULL ? 0 : -ENOMEM;
}

static void caller_stop(struct actor *a)
{
	call_table_destroy(actor_state(a));
}

static const struct actor_ops caller_ops = {
	.start = caller_start,
	.message = caller_message,
	.stop = caller_stop,
};

/* ---- Harness ---- */

static struct ad_config CFG;
static struct actor_system *SYS;
static actor_addr_t CALLER;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int wait_replies(int want)
{
	for (int i = 0; i < 10000 && atomic_load(&RES.replies) < want; i++)
		sleep_ms(1);
	return atomic_load(&RES.replies);
}

static int setup(void **state)
{
	struct actor_pool_spec spec = {
		.kind = &caller_kind, .count = 1, .mbox_capacity = 1024, .ops = &caller_ops,
	};
	char err[256];

	(void)state;
	memset(&RES, 0, sizeof(RES));
	metrics_reset();
	config_defaults(&CFG);
	CFG.upstream.max_connections = 2;
	SYS = actor_system_create();
	assert_non_null(SYS);
	assert_int_equal(upstream_add_pool(SYS, &CFG, err, sizeof(err)), 0);
	CALLER = actor_system_add_pool(SYS, &spec, err, sizeof(err));
	assert_int_not_equal(CALLER, ACTOR_ADDR_NONE);
	assert_int_equal(actor_system_start(SYS, err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	actor_system_destroy(SYS);
	metrics_reset();
	return 0;
}

static void go(uint16_t port, int count)
{
	struct go *g = calloc(1, sizeof(*g));

	msg_init(&g->m, T_GO, go_free);
	snprintf(g->url, sizeof(g->url), "http://127.0.0.1:%u/x", port);
	g->count = count;
	assert_int_equal(actor_send(SYS, CALLER, &g->m), 0);
}

static void assert_sample(const char *text, const char *sample)
{
	if (strstr(text, sample) == NULL)
		fail_msg("no line '%s' in:\n%s", sample, text);
}

/* ---- Tests ---- */

static void test_calls_are_answered_over_few_kept_alive_connections(void **state)
{
	struct server s;
	char line[256], *text;

	(void)state;
	server_start(&s, false);
	go(s.port, 200);
	assert_int_equal(wait_replies(200), 200);
	assert_int_equal(atomic_load(&RES.ok), 200);
	assert_int_equal(atomic_load(&RES.send_errors), 0);
	/* max_connections 2: the rest waited in the queue, then reused them. */
	assert_true(atomic_load(&s.accepted) <= 2);
	text = metrics_text();
	snprintf(line, sizeof(line), "actord_backend_requests_total{backend=\"upstream:"
		 "127.0.0.1:%u\",actor=\"upstream-0\"} 200\n", s.port);
	assert_sample(text, line);
	snprintf(line, sizeof(line), "actord_backend_errors_total{backend=\"upstream:"
		 "127.0.0.1:%u\",actor=\"upstream-0\"} 0\n", s.port);
	assert_sample(text, line);
	snprintf(line, sizeof(line), "actord_upstream_connections_opened_total{upstream="
		 "\"127.0.0.1:%u\",actor=\"upstream-0\"} %d\n", s.port, atomic_load(&s.accepted));
	assert_sample(text, line);
	snprintf(line, sizeof(line), "actord_upstream_requests_reused_total{upstream="
		 "\"127.0.0.1:%u\",actor=\"upstream-0\"} %d\n", s.port,
		 200 - atomic_load(&s.accepted));
	assert_sample(text, line);
	snprintf(line, sizeof(line), "actord_upstream_queued{upstream=\"127.0.0.1:%u\","
		 "actor=\"upstream-0\"} 0\n", s.port);
	assert_sample(text, line);
	snprintf(line, sizeof(line), "actord_backend_latency_seconds_count{backend=\"upstream:"
		 "127.0.0.1:%u\",actor=\"upstream-0\"} 200\n", s.port);
	assert_sample(text, line);
	free(text);
	server_stop(&s);
}

static void test_refused_calls_are_counted_by_kind_and_never_make_it_unready(void **state)
{
	struct server s;
	char line[256], *text;
	uint16_t port;

	(void)state;
	server_start(&s, false);
	port = s.port;
	server_stop(&s);        /* nothing listens on `port` any more */
	go(port, 10);
	assert_int_equal(wait_replies(10), 10);
	assert_int_equal(atomic_load(&RES.statuses[UPSTREAM_REFUSED]), 10);
	text = metrics_text();
	snprintf(line, sizeof(line), "actord_upstream_errors_total{upstream=\"127.0.0.1:%u\","
		 "actor=\"upstream-0\",kind=\"refused\"} 10\n", port);
	assert_sample(text, line);
	snprintf(line, sizeof(line), "actord_backend_connected{backend=\"upstream:"
		 "127.0.0.1:%u\",actor=\"upstream-0\"} 0\n", port);
	assert_sample(text, line);
	free(text);
	assert_true(metrics_run_checks(NULL));
}

static void test_stopping_answers_every_pending_call_with_shutdown(void **state)
{
	struct server s;

	(void)state;
	server_start(&s, true);
	go(s.port, 6);         /* 2 on connections, 4 queued: none answered */
	for (int i = 0; i < 5000 && atomic_load(&s.accepted) < 2; i++)
		sleep_ms(1);
	sleep_ms(50);
	assert_int_equal(atomic_load(&RES.replies), 0);
	actor_system_stop_kind(SYS, &upstream_kind);
	assert_int_equal(wait_replies(6), 6);
	assert_int_equal(atomic_load(&RES.statuses[UPSTREAM_SHUTDOWN]), 6);
	server_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_calls_are_answered_over_few_kept_alive_connections,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_refused_calls_are_counted_by_kind_and_never_make_it_unready, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_stopping_answers_every_pending_call_with_shutdown,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
