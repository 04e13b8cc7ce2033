/*
 * test_net_actor.c - the network actor pool over real sockets on
 * 127.0.0.1, with the real actor runtime and a scripted fake handler pool:
 * round trip, requests held (not refused) while the handler mailbox is
 * full, replies taken past a full network mailbox, late replies for
 * closed connections, the global connection limit and its file-descriptor
 * cap, output backpressure, and the write timeout of a client that never
 * reads. Runs under ASan and TSan too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
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

#include "actors/actor.h"
#include "net/http_msg.h"
#include "net/net.h"
#include "tests/unit/common/port_registry.h"
#include "net/net_stats.h"

static const struct actor_kind fake_handler_kind = { "handler" };

/* Shared with the fake handler thread: atomics only. */
static atomic_int gate_open;          /* /gate blocks until set */
static atomic_int gated;              /* handler is inside /gate */
static atomic_int bigs;               /* /big requests handled */
static _Atomic(struct http_msg *) held; /* /hold parks its request here */
static char big_body[256 * 1024];

static struct ad_config cfg;
static struct actor_system *sys;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void fake_reply(struct http_msg *hm, const char *body, uint32_t len)
{
	hm->status = 200;
	hm->content_type = "text/plain";
	hm->resp_body = body;
	hm->resp_body_len = len;
	hm->m.type = HTTP_MSG_RESPONSE;
	/* On the handler thread as handler actors do (a reply is never
	 * refused for being full); from the test thread, a plain send. */
	if (actor_self() != NULL)
		actor_reply(&hm->m);
	else if (actor_send(sys, hm->m.reply_to, &hm->m) != 0)
		msg_free(&hm->m);
}

static void fake_handler(struct actor *a, struct msg *m)
{
	struct http_msg *hm = (struct http_msg *)(void *)m;

	(void)a;
	if (strcmp(hm->path, "/gate") == 0) {
		atomic_store(&gated, 1);
		for (int i = 0; i < 5000 && !atomic_load(&gate_open); i++)
			sleep_ms(1);
	} else if (strcmp(hm->path, "/hold") == 0) {
		atomic_store(&held, hm);
		return;
	} else if (strcmp(hm->path, "/big") == 0) {
		atomic_fetch_add(&bigs, 1);
		fake_reply(hm, big_body, sizeof(big_body));
		return;
	}
	fake_reply(hm, hm->path, hm->path_len);
}

static const struct actor_ops fake_ops = { .message = fake_handler };

static void start_capped(uint32_t handler_mailbox, uint32_t conn_cap)
{
	struct actor_pool_spec spec = { .kind = &fake_handler_kind, .count = 1,
					.mbox_capacity = handler_mailbox, .ops = &fake_ops };
	char err[256];

	sys = actor_system_create();
	assert_int_equal(net_add_pools(sys, &cfg, &fake_handler_kind, conn_cap, NULL, err, sizeof(err)), 0);
	assert_int_not_equal(actor_system_add_pool(sys, &spec, err, sizeof(err)), ACTOR_ADDR_NONE);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
}

static void start(uint32_t handler_mailbox)
{
	start_capped(handler_mailbox, 0);
}

static int setup(void **state)
{
	(void)state;
	config_defaults(&cfg);
	snprintf(cfg.listen[0].host, sizeof(cfg.listen[0].host), "127.0.0.1");
	cfg.listen[0].port = port_registry_take();
	assert_int_not_equal(cfg.listen[0].port, 0);
	cfg.nlisten = 1;
	cfg.net.count = 1;
	cfg.net.mailbox = 1024;
	atomic_store(&gate_open, 0);
	atomic_store(&gated, 0);
	atomic_store(&bigs, 0);
	atomic_store(&held, NULL);
	memset(big_body, 'b', sizeof(big_body));
	return 0;
}

static int teardown(void **state)
{
	struct http_msg *hm = atomic_exchange(&held, NULL);

	(void)state;
	atomic_store(&gate_open, 1);
	actor_system_destroy(sys);
	sys = NULL;
	if (hm != NULL)
		msg_free(&hm->m);
	return 0;
}

/* rcvbuf > 0: a small receive buffer, so a client that does not read
 * fills up quickly. */
static int connect_rcvbuf(int rcvbuf)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(cfg.listen[0].port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int connect_server(void)
{
	return connect_rcvbuf(0);
}

static void send_all(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		s += n;
		len -= (size_t)n;
	}
}

/* Read until `want` responses ("HTTP/1.1 " count) or `timeout_ms`. */
static size_t read_responses(int fd, char *buf, size_t cap, unsigned want, int timeout_ms)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		unsigned n = 0;
		ssize_t r;

		for (const char *s = buf; (s = strstr(s, "HTTP/1.1 ")) != NULL; s++)
			n++;
		if (n >= want)
			break;
		if (poll(&p, 1, 10) <= 0)
			continue;
		r = recv(fd, buf + len, cap - 1 - len, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
	}
	return len;
}

static struct net_stats_snapshot stats(void)
{
	struct net_stats_snapshot s;
	unsigned n;
	actor_addr_t first = actor_system_find_kind(sys, &net_kind, &n);

	net_stats_read(net_stats_of(actor_system_get(sys, first)), &s);
	return s;
}

#define WAIT_FOR(cond) \
	do { for (int w_ = 0; w_ < 5000 && !(cond); w_++) sleep_ms(1); assert_true(cond); } while (0)

static void test_request_round_trip_over_a_real_socket(void **state)
{
	char buf[4096];
	int fd;

	(void)state;
	start(64);
	fd = connect_server();
	send_all(fd, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /again HTTP/1.1\r\nHost: h\r\n\r\n");
	read_responses(fd, buf, sizeof(buf), 2, 3000);
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\nServer: actord\r\nDate: "));
	assert_non_null(strstr(buf, "Content-Length: 6\r\n\r\n/hello"));
	assert_true(strstr(buf, "/hello") < strstr(buf, "/again"));
	close(fd);
	WAIT_FOR(stats().conns_open == 0);
	assert_int_equal(stats().conns_accepted_total, 1);
	assert_int_equal(stats().responses_total[1], 2);
}

static struct mbox_stats mailbox_of(const struct actor_kind *kind)
{
	struct mbox_stats st;
	unsigned n;
	actor_addr_t first = actor_system_find_kind(sys, kind, &n);

	mbox_read_stats(actor_mbox(actor_system_get(sys, first)), &st);
	return st;
}

static unsigned count_of(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void test_full_handler_mailbox_holds_requests_until_room(void **state)
{
	char buf[16384], obuf[4096];
	char req[2048] = "GET /gate HTTP/1.1\r\nHost: h\r\n\r\n";
	int fd, other;

	(void)state;
	start(4); /* holds 3 */
	fd = connect_server();
	send_all(fd, req);
	WAIT_FOR(atomic_load(&gated));
	req[0] = '\0';
	for (int i = 0; i < 10; i++)
		strcat(req, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
	send_all(fd, req);
	WAIT_FOR(stats().held == 1);
	/* Another connection's request waits behind the held one. */
	other = connect_server();
	send_all(other, "GET /other HTTP/1.1\r\nHost: h\r\n\r\n");
	WAIT_FOR(stats().held == 2);
	assert_int_equal(stats().responses_total[4], 0);
	atomic_store(&gate_open, 1);
	read_responses(fd, buf, sizeof(buf), 11, 5000);
	read_responses(other, obuf, sizeof(obuf), 1, 5000);
	/* Every request answered by the handler, in request order. */
	assert_int_equal(count_of(buf, "HTTP/1.1 200 OK"), 11);
	assert_null(strstr(buf, "503"));
	assert_true(strstr(buf, "\r\n\r\n/gate") < strstr(buf, "\r\n\r\n/x"));
	assert_non_null(strstr(obuf, "\r\n\r\n/other"));
	assert_true(stats().held_total >= 2);
	WAIT_FOR(stats().held == 0);
	assert_int_equal(stats().responses_total[4], 0);
	close(other);
	close(fd);
}

/* The handler replies to a whole mailbox at once while the network
 * actor's mailbox holds 4: every reply is taken past capacity, none is
 * lost or refused. */
static void test_replies_past_a_full_network_mailbox_all_arrive(void **state)
{
	enum { CONNS = 8, PER_CONN = 16 };
	static char buf[CONNS][16384];
	char req[PER_CONN * 32] = "";
	int fds[CONNS], gate;

	(void)state;
	cfg.net.mailbox = 4;
	start(256);
	gate = connect_server();
	send_all(gate, "GET /gate HTTP/1.1\r\nHost: h\r\n\r\n");
	WAIT_FOR(atomic_load(&gated));
	for (int i = 0; i < PER_CONN; i++)
		strcat(req, "GET /r HTTP/1.1\r\nHost: h\r\n\r\n");
	for (int c = 0; c < CONNS; c++) {
		fds[c] = connect_server();
		send_all(fds[c], req);
	}
	/* All queued behind /gate (which counts until it is delivered). */
	WAIT_FOR(mailbox_of(&fake_handler_kind).depth >= CONNS * PER_CONN);
	atomic_store(&gate_open, 1);
	for (int c = 0; c < CONNS; c++) {
		read_responses(fds[c], buf[c], sizeof(buf[c]), PER_CONN, 5000);
		assert_int_equal(count_of(buf[c], "HTTP/1.1 200 OK"), PER_CONN);
		close(fds[c]);
	}
	assert_true(mailbox_of(&net_kind).over_capacity_total > 0);
	assert_int_equal(mailbox_of(&net_kind).rejected_total, 0);
	assert_int_equal(stats().late_replies_total, 0);
	close(gate);
}

static void test_late_reply_for_a_closed_connection_is_dropped_and_counted(void **state)
{
	/* A reset, not a close: a client that only closed its side is still
	 * answered (http_conn_eof), one that reset can no longer be. */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct http_msg *hm;
	int fd;

	(void)state;
	start(64);
	fd = connect_server();
	send_all(fd, "GET /hold HTTP/1.1\r\nHost: h\r\n\r\n");
	WAIT_FOR(atomic_load(&held) != NULL);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	WAIT_FOR(stats().conns_open == 0);
	hm = atomic_exchange(&held, NULL);
	fake_reply(hm, "late", 4);
	WAIT_FOR(stats().late_replies_total == 1);
}

/* With room for one connection: a second waits in the kernel backlog,
 * unanswered, until the first closes. */
static void one_connection_at_a_time(void)
{
	char buf[4096];
	int a, b;

	a = connect_server();
	send_all(a, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
	read_responses(a, buf, sizeof(buf), 1, 3000);
	assert_non_null(strstr(buf, "/a"));
	b = connect_server(); /* completes in the kernel backlog */
	send_all(b, "GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(read_responses(b, buf, sizeof(buf), 1, 300), 0);
	assert_true(stats().conns_limit_paused_total >= 1);
	close(a);
	read_responses(b, buf, sizeof(buf), 1, 3000);
	assert_non_null(strstr(buf, "\r\n\r\n/b"));
	close(b);
}

static void test_connection_limit_pauses_accept_until_one_closes(void **state)
{
	(void)state;
	cfg.http.max_connections = 1;
	start(64);
	one_connection_at_a_time();
}

/* The file-descriptor cap wins over a larger http.max_connections. */
static void test_connection_cap_from_the_fd_limit_pauses_accept(void **state)
{
	(void)state;
	cfg.http.max_connections = 1000;
	start_capped(64, 1);
	one_connection_at_a_time();
}

static void test_client_that_never_reads_is_dropped_at_the_write_timeout(void **state)
{
	char req[4096] = "";
	char buf[4096];
	int fd, other;

	(void)state;
	cfg.http.write_timeout_ms = 300;
	cfg.http.output_high_water = 64 * 1024;
	start(64);
	fd = connect_rcvbuf(4096);
	for (int i = 0; i < 32; i++)
		strcat(req, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
	send_all(fd, req);
	WAIT_FOR(stats().timeouts_total[NET_TIMEOUT_WRITE] == 1);
	WAIT_FOR(stats().conns_open == 0);
	assert_true(stats().read_pauses_total >= 1);
	other = connect_server(); /* everyone else is still served */
	send_all(other, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
	read_responses(other, buf, sizeof(buf), 1, 3000);
	assert_non_null(strstr(buf, "/ok"));
	close(other);
	close(fd);
}

/* Bytes until `want` have arrived (or `timeout_ms` passes between two). */
static size_t drain_bytes(int fd, size_t want, int timeout_ms)
{
	static char buf[65536];
	size_t got = 0;

	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, timeout_ms) <= 0)
			break;
		r = recv(fd, buf, sizeof(buf), 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* realloc fails for the first growth of a network actor's dirty list
 * while set (the binary links with -Wl,--wrap=realloc). */
static atomic_int fail_dirty_list;

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n)
{
	if (atomic_load(&fail_dirty_list) && p == NULL && n == 256 * sizeof(uint64_t))
		return NULL;
	return __real_realloc(p, n);
}

static const struct actor_kind local_kind = { "local" };

/* A listener pool answering on its own thread, from inside the parser
 * (like the admin endpoint). */
static int local_answer(void *ctx, struct http_msg *hm)
{
	(void)ctx;
	hm->status = 200;
	hm->content_type = "text/plain";
	hm->resp_body = hm->path;
	hm->resp_body_len = hm->path_len;
	return 0;
}

static void test_dirty_list_out_of_memory_defers_the_write(void **state)
{
	struct net_pool_spec spec = { .kind = &local_kind, .count = 1, .mailbox = 64,
				      .listen = cfg.listen, .nlisten = 1, .local = local_answer };
	char err[256], buf[4096];
	int fd;

	(void)state;
	sys = actor_system_create();
	assert_int_equal(net_add_listener_pool(sys, &cfg, &spec, err, sizeof(err)), 0);
	assert_int_equal(actor_system_start(sys, err, sizeof(err)), 0);
	atomic_store(&fail_dirty_list, 1);
	/* The closing answer is produced inside the parser: written inline,
	 * it would close (and free) the connection under the parser. */
	fd = connect_server();
	send_all(fd, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
		 "GET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	read_responses(fd, buf, sizeof(buf), 2, 3000);
	atomic_store(&fail_dirty_list, 0);
	assert_non_null(strstr(buf, "\r\n\r\n/a"));
	assert_non_null(strstr(buf, "Connection: close\r\n"));
	assert_non_null(strstr(buf, "\r\n\r\n/b"));
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0); /* half-closed after /b */
	close(fd);
}

static void test_unread_output_stops_parsing_pipelined_requests(void **state)
{
	const unsigned nreq = 128, max_pipeline = 4;
	const size_t resp = sizeof(big_body) + 90; /* body + headers, at least */
	char req[128 * 40] = "";
	int fd;

	(void)state;
	cfg.http.max_pipeline = max_pipeline;
	cfg.http.output_high_water = 64 * 1024;
	cfg.http.write_timeout_ms = 10000;
	start(64);
	fd = connect_rcvbuf(4096);
	for (unsigned i = 0; i < nreq; i++)
		strcat(req, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
	send_all(fd, req); /* one segment: the server reads it all at once */
	WAIT_FOR(stats().read_pauses_total >= 1 && atomic_load(&bigs) >= (int)max_pipeline);
	/* Nothing is read: once the kernel's socket buffers (tcp_wmem: up to
	 * 4 MiB here, 16 answers) and the high-water mark are full, the held
	 * requests must stay unparsed while their answers cannot leave. */
	sleep_ms(300);
	assert_true(atomic_load(&bigs) < (int)nreq / 2);
	assert_true(stats().bytes_out_total < (uint64_t)(nreq / 2) * sizeof(big_body));
	/* Reading resumes the rest: every answer arrives. */
	assert_true(drain_bytes(fd, nreq * resp, 3000) >= nreq * resp);
	assert_int_equal(atomic_load(&bigs), (int)nreq);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_request_round_trip_over_a_real_socket),
		T(test_full_handler_mailbox_holds_requests_until_room),
		T(test_replies_past_a_full_network_mailbox_all_arrive),
		T(test_late_reply_for_a_closed_connection_is_dropped_and_counted),
		T(test_connection_limit_pauses_accept_until_one_closes),
		T(test_connection_cap_from_the_fd_limit_pauses_accept),
		T(test_client_that_never_reads_is_dropped_at_the_write_timeout),
		T(test_unread_output_stops_parsing_pipelined_requests),
		T(test_dirty_list_out_of_memory_defers_the_write),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
