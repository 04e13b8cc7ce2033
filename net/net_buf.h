/*
 * net_buf.h - a growable byte buffer with a read offset.
 *
 * DESIGN
 * Output bytes waiting for the socket, and input bytes held back while a
 * connection is paused. Bytes are appended at `len` and consumed from
 * `off`; when everything is consumed both go back to 0 so the buffer is
 * reused from its start. An empty buffer may own no memory at all
 * (net_buf_free): idle connections must not hold buffers.
 *
 * Owner: whoever embeds it (one network actor thread). Not thread-safe.
 */
#ifndef ACTORD_NET_BUF_H
#define ACTORD_NET_BUF_H

#include <stddef.h>

struct net_buf {
	char *data;
	size_t len;   /* bytes written */
	size_t off;   /* bytes consumed */
	size_t cap;
};

/* Make room for `more` bytes after `len`. 0 or -ENOMEM. Thread: owner. */
int net_buf_reserve(struct net_buf *b, size_t more);

/* Append `n` bytes. 0 or -ENOMEM. Thread: owner. */
int net_buf_append(struct net_buf *b, const void *p, size_t n);

/* Mark `n` pending bytes consumed. Thread: owner. */
void net_buf_consume(struct net_buf *b, size_t n);

/* Release the memory; the buffer is empty and usable again. Thread: owner. */
void net_buf_free(struct net_buf *b);

static inline size_t net_buf_pending(const struct net_buf *b)
{
	return b->len - b->off;
}

static inline const char *net_buf_head(const struct net_buf *b)
{
	return b->data + b->off;
}

#endif
