/*
 * conn_steps.c - see conn_steps.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "conn_steps.h"

struct conn_harness H;
int submit_rc;

int fake_submit(void *ctx, struct http_msg *hm)
{
	struct conn_harness *h = ctx;

	if (submit_rc != 0)
		return submit_rc;
	assert_true(h->nsub < CONN_STEPS_MAX_SUB);
	assert_int_equal(hm->m.type, HTTP_MSG_REQUEST);
	h->sub[h->nsub++] = hm;
	return 0;
}

int setup(void **state)
{
	(void)state;
	conn_harness_init(&H);
	submit_rc = 0;
	conn_harness_open(&H, 16, 7 | (3ull << 32), fake_submit, &H);
	return 0;
}

int teardown(void **state)
{
	(void)state;
	conn_harness_close(&H);
	return 0;
}

void feed(const char *s)
{
	http_conn_feed(&H.c, s, strlen(s), H.now);
}

/* The handler side: answer submitted request `i`. */
void reply(unsigned i, unsigned status, const char *body)
{
	struct http_msg *hm = H.sub[i];

	assert_non_null(hm);
	H.sub[i] = NULL;
	hm->status = (uint16_t)status;
	hm->content_type = "text/plain";
	hm->resp_body = body;
	hm->resp_body_len = (uint32_t)strlen(body);
	hm->m.type = HTTP_MSG_RESPONSE;
	http_conn_reply(&H.c, net_req_of(&hm->m));
}

size_t output(void)
{
	return http_conn_output(&H.c, &H.out, H.now);
}

/* The output so far as a C string (consumed). */
char *take_output(void)
{
	static char text[1 << 16];
	size_t n = net_buf_pending(&H.out);

	assert_true(n < sizeof(text));
	memcpy(text, net_buf_head(&H.out), n);
	text[n] = '\0';
	net_buf_consume(&H.out, n);
	return text;
}

unsigned count_of(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

const char *header(const struct http_msg *hm, const char *name)
{
	for (unsigned i = 0; i < hm->nheaders; i++)
		if (strcasecmp(hm->headers[i].name, name) == 0)
			return hm->headers[i].value;
	return NULL;
}

