/*
 * cache_internal.h - the layout of a cache request, shared by its builders
 * (cache_req.c, on the caller's thread) and the cache actor
 * (cache_actor.c). Not a public header: routes use cache.h.
 */
#ifndef ACTORD_CACHE_INTERNAL_H
#define ACTORD_CACHE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"

#define CACHE_MSG_REQ 0x43410001u   /* 'C' 'A' 1 */
#define CACHE_INLINE_CMDS 2
#define CACHE_INLINE_BYTES 256

struct cache_cmd {
	uint32_t off, len;            /* its RESP text in req->buf */
	struct cache_req *req;        /* set by the cache actor for its callback */
	struct cache_value *result;   /* set by the cache actor; freed with the request */
};

/* Crosses mailboxes: caller -> cache actor -> caller; freed by the
 * caller's call_dispatch with msg_free (cache_req_free frees the results
 * too, on whichever thread holds it). */
struct cache_req {
	struct call_msg c;            /* MUST be first */
	int32_t error;                /* the first builder error */
	uint32_t ncmds, cmds_cap;
	uint32_t pending;             /* cache actor: commands not answered yet */
	int32_t status;               /* cache actor: the first failure */
	struct cache_cmd *cmds;
	char *buf;                    /* RESP text of every command, back to back */
	size_t len, cap;
	struct cache_cmd cmds_inline[CACHE_INLINE_CMDS];
	char buf_inline[CACHE_INLINE_BYTES];
};
_Static_assert(offsetof(struct cache_req, c) == 0,
	       "struct cache_req is used through a pointer to its c");

#endif
