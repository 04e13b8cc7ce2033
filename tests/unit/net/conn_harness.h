/*
 * conn_harness.h - one net/http_conn.c connection without a socket, for
 * test_http_conn and the fuzzer (tests/fuzz/fuzz_http_conn.c): what a
 * network actor gives its connections (limits, request pool, date,
 * counters), the requests its "handlers" hold, and an output buffer.
 *
 * Thread: the one thread that drives the connection. No cmocka here: the
 * fuzzer links it too.
 */
#ifndef ACTORD_TEST_CONN_HARNESS_H
#define ACTORD_TEST_CONN_HARNESS_H

#include <stdint.h>

#include "net/http_conn.h"

#define CONN_HARNESS_MAX_SUB 256

/* Owner: the driving thread. */
struct conn_harness {
	struct net_stats stats;
	struct config_http http;
	struct http_date date;
	struct http_conn_env env;
	struct net_req_pool *pool;
	struct http_conn c;
	struct http_msg *sub[CONN_HARNESS_MAX_SUB];   /* requests handed to "handlers" */
	unsigned nsub;
	struct net_buf out;
	uint64_t now;
};

/* Zero `h` and set config/config.c's default HTTP limits (the listener's
 * max_connections 100, backlog 128). The caller may change h->http and
 * h->env.access_log before conn_harness_open(). */
void conn_harness_init(struct conn_harness *h);

/* Open connection `id` at now = 1 s: a request pool keeping up to
 * `pool_free` free envelopes, bound to this thread; the date
 * "Sun, 06 Nov 1994 08:49:37 GMT"; the peer "192.0.2.1:4242"; complete
 * requests go to submit(ctx, hm). */
void conn_harness_open(struct conn_harness *h, unsigned pool_free, uint64_t id,
		       int (*submit)(void *ctx, struct http_msg *hm), void *ctx);

/* Free the requests still in sub[0..nsub), dispose of the connection and
 * the output buffer, unbind and destroy the pool. */
void conn_harness_close(struct conn_harness *h);

#endif
