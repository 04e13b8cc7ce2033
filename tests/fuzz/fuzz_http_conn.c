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
 *   bit 6: bodies of targets starting "/u" stream (http_conn_env.upload)
 *          when over 8 bytes or chunked, within 64 bytes; passed on at
 *          their END, or (with bit 3) only after that read
 * the remaining bytes are what the client sends.
 *
 * Invariants checked (abort on violation): every write starts with a
 * status line, nothing is emitted after a closing answer, sequence numbers
 * are handed out in order (a parked request is offered again before any
 * later one), a streamed body's events come in order (BEGIN, DATA within
 * its limit and length, then END or ABORT once) for the request just
 * submitted, and no memory leaks (ASan) once disposed.
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
	bool uploading;              /* between BEGIN and END / ABORT */
	uint32_t upload_seq;         /* the request of the last BEGIN */
	bool deliver;                /* a body to declare passed on after this read */
	int64_t upload_len;          /* its declared length, -1: chunked */
	uint64_t upload_bytes;
};

static bool fuzz_upload_wanted(void *ctx, unsigned method, const char *url, size_t url_len,
			       int64_t len, uint64_t *max)
{
	(void)ctx;
	(void)method;
	if (url_len < 2 || url[0] != '/' || url[1] != 'u' || (len >= 0 && len <= 8))
		return false;
	*max = 64;
	return true;
}

static void fuzz_upload(void *ctx, struct http_conn *c, enum http_upload_event ev,
			const char *data, size_t len, unsigned status)
{
	struct fuzz *f = ctx;

	(void)data;
	switch (ev) {
	case HTTP_UPLOAD_BEGIN:
		if (f->uploading)
			abort();
		f->uploading = true;
		f->upload_seq = c->upload_seq;
		f->upload_len = -2;     /* known once the request is offered */
		f->upload_bytes = 0;
		break;
	case HTTP_UPLOAD_DATA:
		f->upload_bytes += len;
		if (!f->uploading || len == 0 || f->upload_bytes > 64 ||
		    (f->upload_len >= 0 && f->upload_bytes > (uint64_t)f->upload_len))
			abort();
		break;
	case HTTP_UPLOAD_END:
		if (!f->uploading ||
		    (f->upload_len >= 0 && f->upload_bytes != (uint64_t)f->upload_len))
			abort();
		f->uploading = false;
		/* Passed on at once, or after the next read (bit 3). */
		if (!(f->mode & 8))
			http_conn_upload_delivered(c);
		else
			f->deliver = true;
		break;
	case HTTP_UPLOAD_ABORT:
		if (!f->uploading || (status != 0 && status != 400 && status != 413))
			abort();
		f->uploading = false;
		break;
	}
}

static int fuzz_submit(void *ctx, struct http_msg *hm)
{
	struct fuzz *f = ctx;

	if (hm->seq != f->next_seq && !(f->refused && hm->seq + 1 == f->next_seq))
		abort();
	f->next_seq = hm->seq + 1;
	if (hm->upload) {
		/* Offered at BEGIN (again if parked), without a body. */
		if (hm->seq != f->upload_seq || hm->body_len != 0 || hm->upload_len < -1)
			abort();
		f->upload_len = hm->upload_len;
	}
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
	if (f.mode & 64) {
		h->env.upload_wanted = fuzz_upload_wanted;
		h->env.upload = fuzz_upload;
	}
	while (pos < size && !http_conn_finished(&h->c)) {
		size_t n = size - pos < chunk ? size - pos : chunk;

		h->now += 1000000;
		http_conn_feed(&h->c, (const char *)data + pos, n, h->now);
		pos += n;
		if ((f.mode & 8) && http_conn_inflight(&h->c) > 0 &&
		    !http_conn_expire(&h->c, NET_TIMEOUT_HANDLER, h->now))
			drain_output(h);
		answer(&f);
		if (f.deliver) {
			f.deliver = false;
			http_conn_upload_delivered(&h->c);
		}
		drain_output(h);
	}
	http_conn_eof(&h->c);
	answer(&f);
	drain_output(h);
	conn_harness_close(h);
	if (f.uploading)
		abort();        /* neither ended nor aborted */
	return 0;
}
