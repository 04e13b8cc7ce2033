/*
 * ws_blob.c - shared frames (see ws_blob.h).
 *
 * Thread: any.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ws_blob.h"
#include "ws_utf8.h"

size_t ws_frame_header(uint8_t *out, enum ws_opcode op, uint64_t payload_len)
{
	out[0] = (uint8_t)(0x80u | (unsigned)op);
	if (payload_len < 126) {
		out[1] = (uint8_t)payload_len;
		return 2;
	}
	if (payload_len <= 0xffffu) {
		out[1] = 126;
		out[2] = (uint8_t)(payload_len >> 8);
		out[3] = (uint8_t)payload_len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
	return 10;
}

static struct ws_blob *blob_alloc(size_t len)
{
	struct ws_blob *b;

	if (len > UINT32_MAX)
		return NULL;
	b = malloc(sizeof(*b) + len);
	if (b == NULL)
		return NULL;
	atomic_init(&b->refs, 1);
	b->len = (uint32_t)len;
	b->published_ns = 0;
	b->opcode = 0;
	return b;
}

struct ws_blob *ws_blob_frame(enum ws_opcode op, const void *payload, size_t len)
{
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	size_t h;
	struct ws_blob *b;

	if ((op & 0x8) && len > WS_CONTROL_MAX)
		return NULL;
	h = ws_frame_header(hdr, op, len);
	b = blob_alloc(h + len);
	if (b == NULL)
		return NULL;
	memcpy(b->data, hdr, h);
	if (len > 0)
		memcpy(b->data + h, payload, len);
	b->opcode = (uint8_t)op;
	return b;
}

/* Whether `f` is one whole frame as ws_blob_frame would have built it:
 * its header is compared with the one we would write for its opcode and
 * payload length (FIN, no RSV, no mask, minimal length). */
static bool frame_valid(const uint8_t *f, size_t len)
{
	uint8_t want[WS_FRAME_HEADER_MAX];
	uint8_t len7, op;
	size_t h;

	if (len < 2)
		return false;
	len7 = f[1] & 0x7fu;
	op = f[0] & 0x0fu;
	h = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
	if ((op != WS_OP_TEXT && op != WS_OP_BINARY) || len < h ||
	    ws_frame_header(want, (enum ws_opcode)op, len - h) != h || memcmp(want, f, h) != 0)
		return false;
	return op != WS_OP_TEXT || ws_utf8_valid(f + h, len - h);
}

struct ws_blob *ws_blob_copy(const void *frame, size_t len, int *err)
{
	struct ws_blob *b;

	if (!frame_valid(frame, len)) {
		*err = -EBADMSG;
		return NULL;
	}
	b = blob_alloc(len);
	if (b == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(b->data, frame, len);
	b->opcode = b->data[0] & 0x0fu;
	*err = 0;
	return b;
}

struct ws_blob *ws_blob_close(unsigned code, const char *reason)
{
	uint8_t p[WS_CONTROL_MAX];
	size_t n = 0;

	if (code != 0) {
		size_t r = reason != NULL ? strlen(reason) : 0;

		if (r > WS_CONTROL_MAX - 2)
			r = WS_CONTROL_MAX - 2;
		p[0] = (uint8_t)(code >> 8);
		p[1] = (uint8_t)code;
		if (r > 0)
			memcpy(p + 2, reason, r);
		n = 2 + r;
	}
	return ws_blob_frame(WS_OP_CLOSE, p, n);
}

void ws_blob_unref(struct ws_blob *b)
{
	if (b != NULL && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
		free(b);
}
