/*
 * conn_steps.h - the steps of the connection tests (test_http_conn.c,
 * test_http_framing.c) over one conn_harness: cmocka setup and teardown,
 * bytes in, handler replies in, answers out.
 *
 * Thread: the test thread.
 */
#ifndef ACTORD_TEST_CONN_STEPS_H
#define ACTORD_TEST_CONN_STEPS_H

#include <stddef.h>

#include "conn_harness.h"

#define MS 1000000ull
#define CONN_STEPS_MAX_SUB 64   /* requests the "handlers" hold at most */

/* The connection under test; setup opens it, teardown closes it. */
extern struct conn_harness H;
/* What the submit hook answers (0: the request is taken into H.sub). */
extern int submit_rc;

/* The submit hook setup gives H (ctx: a conn_harness): takes the request
 * into ctx->sub unless submit_rc says otherwise. */
int fake_submit(void *ctx, struct http_msg *hm);

int setup(void **state);
int teardown(void **state);

/* Feed the bytes of `s` to the connection at H.now. */
void feed(const char *s);
/* The handler side: answer submitted request `i`. */
void reply(unsigned i, unsigned status, const char *body);
/* Move what the connection has to send into H.out; the bytes moved. */
size_t output(void);
/* The output so far as a C string (consumed; overwritten by the next call). */
char *take_output(void);
/* How often `needle` occurs in `hay`. */
unsigned count_of(const char *hay, const char *needle);
/* The value of request header `name`, or NULL. */
const char *header(const struct http_msg *hm, const char *name);

#endif
