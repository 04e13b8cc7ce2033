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
 *   bit 2: every third offer finds the handler mailboxes full (the
 *          request is parked, offered again after each read)
 *   bit 3: the handler backstop (504) fires after each read
 *   bit 4: handlers keep (then drop) every other request
 *   bit 5: the access log is on (one log_access call per response)
 * the remaining bytes are what the client sends.
 *
 * Invariants checked (abort on violation): every write starts with a
 * status line, nothing is emitted after a closing answer, sequence numbers
 * are handed out in order (a parked request is offered again before any
 * later one), and no memory leaks (ASan) once disposed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/net/conn_harness.h"
#include "net/http_conn.h"

struct fuzz {
	struct conn_harness h;
	unsigned submitted;
	uint32_t next_seq;
	bool refused;                /* the last offer (seq next_seq - 1) was */
	uint8_t mode;
};

static int fuzz_submit(void *ctx, struct http_msg *hm)
{
	struct fuzz *f = ctx;

	if (hm->seq != f->next_seq && !(f->refused && hm->seq + 1 == f->next_seq))
		abort();
	f->next_seq = hm->seq + 1;
	f->refused = ((f->mode & 4) && f->submitted++ % 3 == 2) ||
		     f->h.nsub == CONN_HARNESS_MAX_SUB;
	if (f->refused)
		return -EAGAIN;
	/* The handler reads what a route would read. */
	if (hm->path == NULL || hm->path[hm->path_len] != '\0' ||
	    hm->query[hm->query_len] != '\0' || hm->body[hm->body_len] != '\0')
		abort();
	for (unsigned i = 0; i < hm->nheaders; i++)
		if (hm->headers[i].name[hm->headers[i].name_len] != '\0' ||
		    hm->headers[i].value[hm->headers[i].value_len] != '\0')
			abort();
	f->h.sub[f->h.nsub++] = hm;
	return 0;
}

static void answer(struct fuzz *f)
{
	static const char body[] = "fuzz";
	struct conn_harness *h = &f->h;

	for (unsigned k = 0; k < h->nsub; k++) {
		unsigned i = (f->mode & 2) ? h->nsub - 1 - k : k;
		struct http_msg *hm = h->sub[i];

		if ((f->mode & 16) && (hm->seq & 1)) {
			msg_free(&hm->m); /* a handler that drops the request */
			continue;
		}
		hm->status = (uint16_t)(200 + hm->seq % 300);
		hm->content_type = "text/plain";
		hm->resp_body = body;
		hm->resp_body_len = sizeof(body) - 1;
		hm->m.type = HTTP_MSG_RESPONSE;
		http_conn_reply(&h->c, net_req_of(&hm->m));
	}
	h->nsub = 0;
}

static void drain_output(struct conn_harness *h)
{
	bool finished_before = http_conn_finished(&h->c);
	size_t n;

	h->out.len = h->out.off = 0;
	n = http_conn_output(&h->c, &h->out, h->now);
	http_conn_submit_parked(&h->c);
	http_conn_resume(&h->c, h->now);
	n += http_conn_output(&h->c, &h->out, h->now);
	if (n > 0 && (finished_before || memcmp(h->out.data, "HTTP/1.1 ", 9) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz f;
	struct conn_harness *h = &f.h;
	size_t chunk, pos = 2;

	if (size < 2)
		return 0;
	memset(&f, 0, sizeof(f));
	conn_harness_init(h);
	f.mode = data[1];
	chunk = data[0] % 65 == 0 ? size : data[0] % 65;
	if (f.mode & 1) {
		h->http.max_request_line = 64;
		h->http.max_header_bytes = 256;
		h->http.max_headers = 4;
		h->http.max_body_bytes = 32;
		h->http.max_pipeline = 3;
	}
	h->env.access_log = (f.mode & 32) != 0;
	conn_harness_open(h, 8, 1, fuzz_submit, &f);
	while (pos < size && !http_conn_finished(&h->c)) {
		size_t n = size - pos < chunk ? size - pos : chunk;

		h->now += 1000000;
		http_conn_feed(&h->c, (const char *)data + pos, n, h->now);
		pos += n;
		if ((f.mode & 8) && http_conn_inflight(&h->c) > 0 &&
		    !http_conn_expire(&h->c, NET_TIMEOUT_HANDLER, h->now))
			drain_output(h);
		answer(&f);
		drain_output(h);
	}
	http_conn_eof(&h->c);
	answer(&f);
	drain_output(h);
	conn_harness_close(h);
	return 0;
}
