/*
 * test_ws_push.c - push/: UTF-8 validation (whole and cut anywhere),
 * frame headers and shared frames, connection ids.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "push/ws_blob.h"
#include "push/ws_push.h"
#include "push/ws_utf8.h"

static const struct { const char *s; size_t n; bool ok; } texts[] = {
	{ "", 0, true },
	{ "plain ascii", 11, true },
	{ "\xc3\xa9", 2, true },                       /* é */
	{ "\xe2\x98\x83", 3, true },                   /* snowman */
	{ "\xf0\x9f\x98\x80", 4, true },               /* emoji */
	{ "\xf4\x8f\xbf\xbf", 4, true },               /* U+10FFFF */
	{ "\xc0\xaf", 2, false },                      /* overlong '/' */
	{ "\xe0\x80\xaf", 3, false },                  /* overlong */
	{ "\xf0\x80\x80\xaf", 4, false },              /* overlong */
	{ "\xed\xa0\x80", 3, false },                  /* surrogate */
	{ "\xf4\x90\x80\x80", 4, false },              /* past U+10FFFF */
	{ "\xf5\x80\x80\x80", 4, false },
	{ "\x80", 1, false },                          /* lone continuation */
	{ "\xc3", 1, false },                          /* truncated */
	{ "\xe2\x98", 2, false },
	{ "a\xffz", 3, false },
};

static void utf8_whole_and_cut(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(ws_utf8_valid(texts[i].s, texts[i].n), texts[i].ok);
		/* Every cut into two pieces gives the same answer. */
		for (size_t cut = 0; cut <= texts[i].n; cut++) {
			struct ws_utf8 u;
			bool ok;

			ws_utf8_init(&u);
			ok = ws_utf8_feed(&u, (const uint8_t *)texts[i].s, cut) &&
			     ws_utf8_feed(&u, (const uint8_t *)texts[i].s + cut, texts[i].n - cut) &&
			     ws_utf8_complete(&u);
			assert_int_equal(ok, texts[i].ok);
		}
	}
}

static void utf8_cut_at_a_boundary(void **state)
{
	const char *s = "ab\xc3\xa9\xe2\x82\xac"; /* a b é € : 2 + 2 + 3 bytes */

	(void)state;
	assert_int_equal(ws_utf8_cut(s, 7, 7), 7);
	assert_int_equal(ws_utf8_cut(s, 7, 6), 4);   /* not into the euro sign */
	assert_int_equal(ws_utf8_cut(s, 7, 5), 4);
	assert_int_equal(ws_utf8_cut(s, 7, 4), 4);
	assert_int_equal(ws_utf8_cut(s, 7, 3), 2);   /* not into the e-acute */
	assert_int_equal(ws_utf8_cut(s, 7, 0), 0);
	/* A close reason that is not UTF-8 is refused before anything is sent. */
	assert_int_equal(ws_close(NULL, 1, 1000, "\xff"), -EINVAL);
}

static void frame_headers(void **state)
{
	uint8_t h[WS_FRAME_HEADER_MAX];

	(void)state;
	assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 125), 2);
	assert_int_equal(h[0], 0x81);
	assert_int_equal(h[1], 125);
	assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 126), 4);
	assert_int_equal(h[1], 126);
	assert_int_equal((h[2] << 8) | h[3], 126);
	assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 65535), 4);
	assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 65536), 10);
	assert_int_equal(h[1], 127);
	assert_int_equal(h[7], 1);
}

static void shared_frames(void **state)
{
	struct ws_blob *b = ws_blob_frame(WS_OP_TEXT, "hi", 2), *c;

	(void)state;
	assert_non_null(b);
	assert_int_equal(b->len, 4);
	assert_memory_equal(b->data, "\x81\x02hi", 4);
	ws_blob_ref(b, 2);
	ws_blob_unref(b);
	ws_blob_unref(b);
	ws_blob_unref(b);                 /* the last one frees (ASan) */
	assert_null(ws_blob_frame(WS_OP_PING, NULL, 126));
	c = ws_blob_close(1008, "slow consumer");
	assert_memory_equal(c->data, "\x88\x0f\x03\xf0slow consumer", 17);
	ws_blob_unref(c);
	c = ws_blob_close(0, "ignored");
	assert_int_equal(c->len, 2);
	ws_blob_unref(c);
}

/* Frames from Redis are written to members as they are: only one whole
 * server data frame may pass. */
static void copied_frames_are_checked(void **state)
{
	static const struct { const char *bytes; size_t len; } bad[] = {
		{ "", 0 },
		{ "\x81", 1 },
		{ "\x81\x7fxx", 4 },                    /* announces more than it has */
		{ "\x81\x05hell", 6 },                  /* truncated */
		{ "\x81\x05hello!", 8 },                /* more than one frame's bytes */
		{ "\x82\x85mask12345", 11 },             /* masked */
		{ "\x02\x02hi", 4 },                    /* not final */
		{ "\xc1\x02hi", 4 },                    /* RSV1 */
		{ "\x89\x02hi", 4 },                    /* a ping */
		{ "\x81\x7e\x00\x02hi", 6 },            /* 16-bit length for 2 bytes */
		{ "\x81\x02\xc3\x28", 4 },              /* text, not UTF-8 */
	};
	static char big[70000];
	struct ws_blob *b, *f;
	int err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = 0;
		assert_null(ws_blob_copy(bad[i].bytes, bad[i].len, &err));
		assert_int_equal(err, -EBADMSG);
	}
	b = ws_blob_copy("\x82\x02\xff\x00", 4, &err);
	assert_non_null(b);
	assert_int_equal(err, 0);
	assert_int_equal(b->opcode, WS_OP_BINARY);
	ws_blob_unref(b);
	/* A 64-bit length, checked against the bytes there are. */
	memset(big, 'a', sizeof(big));
	f = ws_blob_frame(WS_OP_TEXT, big, sizeof(big));
	assert_non_null(f);
	b = ws_blob_copy(f->data, f->len, &err);
	assert_non_null(b);
	assert_memory_equal(b->data, f->data, f->len);
	ws_blob_unref(b);
	assert_null(ws_blob_copy(f->data, f->len - 1, &err));
	ws_blob_unref(f);
}

static void ids_and_messages(void **state)
{
	uint64_t id = ws_id_make(7, 123456, 0xabcdef12u);
	struct push_msg *p;

	(void)state;
	assert_int_equal(ws_id_actor(id), 7);
	assert_int_equal(ws_id_slot(id), 123456);
	assert_int_equal(ws_id_gen(id), 0xcdef12u);
	assert_false(ws_channel_valid("", 0));
	assert_false(ws_channel_valid("a\0b", 3));
	assert_true(ws_channel_valid("room:1", 6));
	p = push_msg_new(PUSH_MSG_PUBLISH, "room", 4);
	assert_non_null(p);
	assert_string_equal(p->data, "room");
	assert_true(push_msg_is(&p->m));
	p->blob = ws_blob_frame(WS_OP_BINARY, "x", 1);
	msg_free(&p->m);                  /* drops the blob too (ASan) */
	/* Sending needs a system: a text that is not UTF-8 is refused first. */
	assert_int_equal(ws_send(NULL, id, "\xff", 1, true), -EINVAL);
	assert_int_equal(ws_close(NULL, id, 1005, NULL), -EINVAL);
	assert_int_equal(ws_close(NULL, id, 2999, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utf8_whole_and_cut),
		cmocka_unit_test(utf8_cut_at_a_boundary),
		cmocka_unit_test(frame_headers),
		cmocka_unit_test(shared_frames),
		cmocka_unit_test(copied_frames_are_checked),
		cmocka_unit_test(ids_and_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
