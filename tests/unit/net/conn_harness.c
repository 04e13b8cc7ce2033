/*
 * conn_harness.c - see conn_harness.h.
 */
#include <stdio.h>
#include <string.h>

#include "conn_harness.h"
#include "tests/unit/common/log_capture.h"

static void describe(void *ctx, const struct http_conn *c, char *buf, size_t len)
{
	(void)ctx;
	(void)c;
	snprintf(buf, len, "192.0.2.1:4242");
}

void conn_harness_init(struct conn_harness *h)
{
	memset(h, 0, sizeof(*h));
	log_capture_start();
	h->http = (struct config_http){
		.max_request_line = 8192, .max_header_bytes = 65536, .max_headers = 100,
		.max_body_bytes = 1 << 20, .header_timeout_ms = 10000, .body_timeout_ms = 10000,
		.body_min_rate = 1024,
		.keepalive_timeout_ms = 75000, .write_timeout_ms = 10000,
		.request_timeout_ms = 5000, .max_connections = 100, .backlog = 128,
		.output_high_water = 1 << 20, .max_pipeline = 64,
	};
}

void conn_harness_open(struct conn_harness *h, unsigned pool_free, uint64_t id,
		       int (*submit)(void *ctx, struct http_msg *hm), void *ctx)
{
	h->pool = net_req_pool_create(pool_free);
	net_req_pool_bind_thread(h->pool);
	http_date_update(&h->date, 784111777); /* Sun, 06 Nov 1994 08:49:37 GMT */
	h->env.http = &h->http;
	h->env.pool = h->pool;
	h->env.stats = &h->stats;
	h->env.date = &h->date;
	h->env.submit = submit;
	h->env.describe = describe;
	h->env.ctx = ctx;
	h->now = 1000000000ull;
	http_conn_global_init();
	http_conn_init(&h->c, &h->env, id, h->now);
}

void conn_harness_close(struct conn_harness *h)
{
	for (unsigned i = 0; i < h->nsub; i++)
		if (h->sub[i] != NULL)
			msg_free(&h->sub[i]->m);
	http_conn_dispose(&h->c);
	net_buf_free(&h->out);
	net_req_pool_bind_thread(NULL);
	net_req_pool_destroy(h->pool);
}
