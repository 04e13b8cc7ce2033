/*
 * fuzz_http_conn.c - libFuzzer target: arbitrary bytes through a network
 * actor's connection code (net/http_conn.c: parsing with http-parser,
 * request assembly, limits, ordering, pipelining, answers), not just
 * through http-parser.
 *
 * Input layout: byte 0 picks how the rest is cut into reads (1..64 bytes,
 * or all at once), byte 1 picks the behaviour around the connection:
 *   bit 0: small limits (so 413/414/431 and the pipeline cap are reached)
 *   bit 1: handlers reply in reverse order
 *   bit 2: every third request finds the handler mailboxes full (503)
 *   bit 3: the handler backstop (504) fires after each read
 *   bit 4: handlers keep (then drop) every other request
 *   bit 5: the access log is on (one log_access call per response)
 * the remaining bytes are what the client sends.
 *
 * Invariants checked (abort on violation): every write starts with a
 * status line, nothing is emitted after a closing answer, sequence numbers
 * are handed out in order, and no memory leaks (ASan) once disposed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_conn.h"

#define MAX_SUB 256

struct fuzz {
	struct net_stats stats;
	struct config_http http;
	struct http_date date;
	struct http_conn_env env;
	struct net_req_pool *pool;
	struct http_conn c;
	struct http_msg *sub[MAX_SUB];
	unsigned nsub;
	unsigned submitted;
	uint32_t next_seq;
	uint8_t mode;
	struct net_buf out;
	uint64_t now;
};

static int fuzz_submit(void *ctx, struct http_msg *hm)
{
	struct fuzz *f = ctx;

	if (hm->seq != f->next_seq)
		abort();
	f->next_seq = hm->seq + 1;
	if ((f->mode & 4) && f->submitted++ % 3 == 2)
		return -EAGAIN;
	if (f->nsub == MAX_SUB)
		return -EAGAIN;
	/* The handler reads what a route would read. */
	if (hm->path == NULL || hm->path[hm->path_len] != '\0' ||
	    hm->query[hm->query_len] != '\0' || hm->body[hm->body_len] != '\0')
		abort();
	for (unsigned i = 0; i < hm->nheaders; i++)
		if (hm->headers[i].name[hm->headers[i].name_len] != '\0' ||
		    hm->headers[i].value[hm->headers[i].value_len] != '\0')
			abort();
	f->sub[f->nsub++] = hm;
	return 0;
}

static void answer(struct fuzz *f)
{
	static const char body[] = "fuzz";

	for (unsigned k = 0; k < f->nsub; k++) {
		unsigned i = (f->mode & 2) ? f->nsub - 1 - k : k;
		struct http_msg *hm = f->sub[i];

		if ((f->mode & 16) && (hm->seq & 1)) {
			msg_free(&hm->m); /* a handler that drops the request */
			continue;
		}
		hm->status = (uint16_t)(200 + hm->seq % 300);
		hm->content_type = "text/plain";
		hm->resp_body = body;
		hm->resp_body_len = sizeof(body) - 1;
		hm->m.type = HTTP_MSG_RESPONSE;
		http_conn_reply(&f->c, net_req_of(&hm->m));
	}
	f->nsub = 0;
}

static void drain_output(struct fuzz *f)
{
	bool finished_before = http_conn_finished(&f->c);
	size_t n;

	f->out.len = f->out.off = 0;
	n = http_conn_output(&f->c, &f->out, f->now);
	http_conn_resume(&f->c, f->now);
	n += http_conn_output(&f->c, &f->out, f->now);
	if (n > 0 && (finished_before || memcmp(f->out.data, "HTTP/1.1 ", 9) != 0))
		abort();
}

static void fuzz_describe(void *ctx, const struct http_conn *c, char *buf, size_t len)
{
	(void)ctx;
	(void)c;
	snprintf(buf, len, "192.0.2.1:4242");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz f;
	size_t chunk, pos = 2;

	if (size < 2)
		return 0;
	memset(&f, 0, sizeof(f));
	f.mode = data[1];
	chunk = data[0] % 65 == 0 ? size : data[0] % 65;
	f.http = (struct config_http){
		.max_request_line = 8192, .max_header_bytes = 65536, .max_headers = 100,
		.max_body_bytes = 1 << 20, .header_timeout_ms = 10000, .body_timeout_ms = 10000,
		.keepalive_timeout_ms = 75000, .write_timeout_ms = 10000,
		.request_timeout_ms = 5000, .max_connections = 100, .backlog = 128,
		.output_high_water = 1 << 20, .max_pipeline = 64,
	};
	if (f.mode & 1) {
		f.http.max_request_line = 64;
		f.http.max_header_bytes = 256;
		f.http.max_headers = 4;
		f.http.max_body_bytes = 32;
		f.http.max_pipeline = 3;
	}
	f.pool = net_req_pool_create(8);
	net_req_pool_bind_thread(f.pool);
	http_date_update(&f.date, 784111777);
	f.env = (struct http_conn_env){
		.http = &f.http, .pool = f.pool, .stats = &f.stats, .date = &f.date,
		.submit = fuzz_submit, .describe = fuzz_describe, .ctx = &f,
		.access_log = (f.mode & 32) != 0,
	};
	f.now = 1000000000ull;
	http_conn_global_init();
	http_conn_init(&f.c, &f.env, 1, f.now);
	while (pos < size && !http_conn_finished(&f.c)) {
		size_t n = size - pos < chunk ? size - pos : chunk;

		f.now += 1000000;
		http_conn_feed(&f.c, (const char *)data + pos, n, f.now);
		pos += n;
		if ((f.mode & 8) && http_conn_inflight(&f.c) > 0 &&
		    !http_conn_expire(&f.c, NET_TIMEOUT_HANDLER, f.now))
			drain_output(&f);
		answer(&f);
		drain_output(&f);
	}
	http_conn_eof(&f.c);
	answer(&f);
	drain_output(&f);
	http_conn_dispose(&f.c);
	net_buf_free(&f.out);
	net_req_pool_bind_thread(NULL);
	net_req_pool_destroy(f.pool);
	return 0;
}
