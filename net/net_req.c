/*
 * net_req.c - envelope free list of one network actor (see net_req.h).
 *
 * DESIGN
 * A LIFO free list (hot envelopes stay in cache). A recycled envelope keeps
 * its request buffer if it is small (NET_REQ_KEEP_BUF): a 1 MiB upload must
 * not pin 1 MiB per spare envelope; so does its response buffer, which the
 * handler side grows and reuses (net/http_msg.h).
 *
 * Thread: the pool's bound thread, except net_req_free_msg (any).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net_req.h"

/* Request buffers up to this size are kept for the next request. */
#define NET_REQ_KEEP_BUF 4096u

struct net_req_pool {
	struct net_req *free;
	unsigned nfree;
	unsigned max_free;
};

/* The pool this thread may recycle into. */
static _Thread_local struct net_req_pool *tl_pool;

struct net_req_pool *net_req_pool_create(unsigned max_free)
{
	struct net_req_pool *p = calloc(1, sizeof(*p));

	if (p != NULL)
		p->max_free = max_free;
	return p;
}

/* A file body nobody sent (HEAD, an error, a closed connection). */
static void close_file(struct net_req *r)
{
	if (r->hm.resp_has_file) {
		close(r->hm.resp_fd);
		r->hm.resp_has_file = false;
	}
}

static void destroy_req(struct net_req *r)
{
	close_file(r);
	free(r->hm.req_buf);
	free(r->hm.resp_buf);
	free(r);
}

void net_req_pool_destroy(struct net_req_pool *p)
{
	struct net_req *r;

	if (p == NULL)
		return;
	while ((r = p->free) != NULL) {
		p->free = r->next;
		destroy_req(r);
	}
	free(p);
}

void net_req_pool_bind_thread(struct net_req_pool *p)
{
	tl_pool = p;
}

struct net_req *net_req_get(struct net_req_pool *p)
{
	struct net_req *r = p->free;
	char *buf = NULL, *rbuf = NULL;
	uint32_t cap = 0, rcap = 0;

	if (r != NULL) {
		p->free = r->next;
		p->nfree--;
		buf = r->hm.req_buf;
		cap = r->req_cap;
		rbuf = r->hm.resp_buf;
		rcap = r->hm.resp_cap;
	} else {
		r = malloc(sizeof(*r));
		if (r == NULL)
			return NULL;
	}
	memset(r, 0, sizeof(*r));
	msg_init(&r->hm.m, HTTP_MSG_REQUEST, net_req_free_msg);
	r->hm.req_buf = buf;
	r->req_cap = cap;
	r->hm.resp_buf = rbuf;
	r->hm.resp_cap = rcap;
	r->pool = p;
	return r;
}

int net_req_resize(struct net_req *r, uint32_t cap)
{
	char *buf;

	if (cap <= r->req_cap)
		return 0;
	buf = realloc(r->hm.req_buf, cap);
	if (buf == NULL)
		return -ENOMEM;
	r->hm.req_buf = buf;
	r->req_cap = cap;
	return 0;
}

int net_req_reserve(struct net_req *r, uint32_t need)
{
	uint32_t cap = r->req_cap > 0 ? r->req_cap : 256;

	if (need <= r->req_cap)
		return 0;
	while (cap < need) {
		if (cap > UINT32_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	return net_req_resize(r, cap);
}

struct net_req *net_req_of(struct msg *m)
{
	return m != NULL && m->free_fn == net_req_free_msg ? (struct net_req *)(void *)m : NULL;
}

void net_req_free_msg(struct msg *m)
{
	struct net_req *r = (struct net_req *)(void *)m;
	struct net_req_pool *p = r->pool;

	close_file(r);
	if (p == NULL || p != tl_pool || p->nfree >= p->max_free) {
		destroy_req(r);
		return;
	}
	if (r->hm.resp_cap > NET_REQ_KEEP_BUF) {
		free(r->hm.resp_buf);
		r->hm.resp_buf = NULL;
		r->hm.resp_cap = 0;
	}
	if (r->req_cap > NET_REQ_KEEP_BUF) {
		free(r->hm.req_buf);
		r->hm.req_buf = NULL;
		r->req_cap = 0;
	}
	r->next = p->free;
	p->free = r;
	p->nfree++;
}
