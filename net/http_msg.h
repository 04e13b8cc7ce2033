/*
 * http_msg.h - the message a network actor and a handler actor exchange.
 *
 * DESIGN
 * One envelope makes the whole round trip: the network actor allocates it
 * (type HTTP_MSG_REQUEST) with the parsed request copied into `req_buf`, and
 * sends it to a handler actor. The handler fills the response fields, flips
 * the type to HTTP_MSG_RESPONSE and sends the SAME envelope back to
 * `m.reply_to` (the owning network actor). So the envelope comes back to the
 * thread that allocated it, which recycles it on its own free list.
 *
 * Ownership:
 *  - Crosses mailboxes. Exactly one owner at a time; the owner frees it with
 *    msg_free(&hm->m) if it cannot pass it on. free_fn is set by the network
 *    actor and is safe on any thread (it falls back to free() off-thread).
 *  - `req_buf` owns every request pointer (path, query, headers, body). It
 *    stays valid until the message is freed, including while the response
 *    travels back.
 *  - A file body (resp_has_file): `resp_fd` belongs to the envelope, which
 *    closes it when freed; the network actor takes it over to sendfile(2)
 *    resp_file_len bytes from resp_file_off after the headers.
 *  - `resp_buf` (capacity `resp_cap`) owns `resp_headers` and, unless it
 *    points to static memory, `resp_body`. The handler side grows it with
 *    realloc; like `req_buf`, the network actor keeps it (if small) when it
 *    recycles the envelope, so a warm handler writes replies without
 *    allocating. msg_free releases it.
 *  - A streamed body (resp_has_stream): the head says which producer
 *    (`stream_from`, an upstream actor) and stream (`stream_id`); the
 *    network actor asks the producer for the body itself
 *    (net/stream_msg.h). The envelope owns nothing of the stream: freeing
 *    it unused leaves the producer to time out.
 *  - A connection is addressed by `conn_id` (slot index + generation), never
 *    by pointer: the network actor drops, and counts, a response whose
 *    connection has closed meanwhile.
 */
#ifndef ACTORD_HTTP_MSG_H
#define ACTORD_HTTP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mailbox/msg.h"

enum http_msg_type {
	HTTP_MSG_REQUEST = 0x48540001,
	HTTP_MSG_RESPONSE = 0x48540002,
};

/* m.flags of a response: a 101 that accepts a WebSocket upgrade (set by
 * hreq_websocket; the network actor then speaks WebSocket, net/ws_conn.c). */
#define HTTP_MSG_F_WEBSOCKET 0x1u

struct http_hdr {
	const char *name;
	const char *value;
	uint32_t name_len;
	uint32_t value_len;
};

struct http_msg {
	struct msg m;                /* MUST be first */
	uint64_t conn_id;            /* low 32: slot, high 32: generation */
	uint32_t seq;                /* request number on the connection */

	/* Request: written by the network actor, read-only afterwards. */
	uint8_t method;              /* enum http_method (http_parser.h) */
	uint8_t version_minor;       /* HTTP/1.x */
	bool keep_alive;
	uint16_t nheaders;
	const char *path;            /* raw (not percent-decoded), no query */
	const char *query;           /* raw, without '?', "" if none */
	const char *body;
	struct http_hdr *headers;
	uint32_t path_len;
	uint32_t query_len;
	uint32_t body_len;
	char *req_buf;               /* owns every pointer above */
	uint64_t received_ns;        /* monotonic ns when the request completed
				      * (an upload: when its head did) */
	uint8_t peer_family;         /* AF_INET, AF_INET6 or 0: the client */
	uint16_t peer_port;          /* host order */
	uint8_t peer_addr[16];
	/* The body is streamed, not in `body` (net/stream_msg.h, "Uploads"):
	 * the handler got the request at the end of its head, and the body
	 * goes to whoever the route names (an upstream call), asked for by
	 * (m.reply_to, conn_id, seq). `upload_len`: its Content-Length, or -1
	 * (chunked). */
	bool upload;
	int64_t upload_len;

	/* Response: written by the handler side. */
	uint16_t status;
	const char *content_type;    /* static string, or inside resp_buf */
	const char *resp_headers;    /* extra "Name: value\r\n" lines, or NULL */
	const char *resp_body;
	uint32_t resp_headers_len;
	uint32_t resp_body_len;
	char *resp_buf;              /* owns resp_headers and resp_body (or NULL) */
	uint32_t resp_cap;           /* bytes allocated at resp_buf */
	bool resp_has_file;          /* the body is a file: resp_body is unused */
	int resp_fd;                 /* owned by the envelope while resp_has_file */
	uint64_t resp_file_off;
	uint64_t resp_file_len;
	bool resp_has_stream;        /* the body comes later (stream_msg.h) */
	msg_addr_t stream_from;      /* its producer */
	uint64_t stream_id;
	int64_t stream_len;          /* Content-Length, or -1: unknown (chunked) */
};
_Static_assert(offsetof(struct http_msg, m) == 0,
	       "struct http_msg is used through a pointer to its m");

#endif
