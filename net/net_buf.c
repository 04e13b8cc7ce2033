/*
 * net_buf.c - growable byte buffer (see net_buf.h).
 *
 * Thread: the owner of the buffer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net_buf.h"

int net_buf_reserve(struct net_buf *b, size_t more)
{
	size_t need, cap;
	char *p;

	/* Reclaim consumed space before growing. */
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	need = b->len + more;
	if (need < b->len)
		return -ENOMEM;
	if (need <= b->cap)
		return 0;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		need = b->len + more;
		if (need <= b->cap)
			return 0;
	}
	cap = b->cap > 0 ? b->cap : 512;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (p == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int net_buf_append(struct net_buf *b, const void *p, size_t n)
{
	int rc = net_buf_reserve(b, n);

	if (rc != 0)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void net_buf_consume(struct net_buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void net_buf_free(struct net_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->off = b->cap = 0;
}
