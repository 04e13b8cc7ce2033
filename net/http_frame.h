/*
 * http_frame.h - the strict framing checks of a request stream (RFC 9112)
 * that Debian's http-parser build (2.9.4, without HTTP_PARSER_STRICT)
 * does not make.
 *
 * DESIGN
 * A small state machine runs over the raw input bytes AHEAD of
 * http-parser (http_conn.c, parse()): only the bytes it has accepted are
 * given to the parser, so a byte it refuses is never acted on. It checks
 * what the parser's callbacks cannot see, or see too late:
 *  - the line structure of the header section and of the trailers: every
 *    line ends in CRLF; a bare CR or a bare LF is refused (docs: "Bare LF
 *    and bare CR"); only CRLF may precede a request line;
 *  - the request line holds no control character (tab included);
 *  - a field line is `token ":" value`: no whitespace before the colon
 *    (RFC 9112 5.1), none at the start of a line (obs-fold, RFC 9112 5.2),
 *    no control character but HTAB in the value (RFC 9110 5.5);
 *  - chunked framing: `1*HEXDIG [BWS ";" ext] CRLF`, then exactly the data
 *    and CRLF; extensions are printable and at most HTTP_FRAME_EXT_MAX
 *    bytes per message.
 * It also bounds the raw size of the request line and of the header and
 * trailer sections (struct http_frame_limits): the callbacks count the
 * http.* limits precisely, but bytes http-parser skips without a callback
 * (runs of whitespace around the target or a value, empty lines before a
 * request line) reach none of them.
 * It does not decide
 * the body length: at the end of a request's header section it waits
 * (returns no more bytes) until the parser's on_headers_complete tells it
 * the framing the parser chose (http_frame_body), so both always agree
 * on where the body and the next request begin.
 *
 * Owner: the network actor thread owning the connection.
 */
#ifndef ACTORD_HTTP_FRAME_H
#define ACTORD_HTTP_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Chunk-extension bytes allowed per message (all chunks together). */
#define HTTP_FRAME_EXT_MAX 1024u

/* Owner: the connection's thread. Zeroed = before a request line. Every
 * connection carries one: 24 bytes. */
struct http_frame {
	uint64_t remain;        /* body bytes (Content-Length) or chunk data left */
	uint32_t head;          /* raw bytes of the current line run or section */
	uint16_t ext_len;       /* chunk-extension bytes of this message */
	uint8_t state;          /* enum in http_frame.c */
	uint8_t trailers;       /* the field lines are a trailer section */
	uint8_t error;          /* why the stream was refused: http_frame_error */
};
_Static_assert(HTTP_FRAME_EXT_MAX < UINT16_MAX, "ext_len counts up to the limit + 1");

/* How the body of the request whose header section just ended is framed. */
enum http_frame_body {
	HTTP_FRAME_NONE,        /* no body: the next request follows */
	HTTP_FRAME_LENGTH,      /* Content-Length bytes */
	HTTP_FRAME_CHUNKED,
};

/* Raw-byte bounds, from the live http.* limits (the caller's): `line` for
 * the request line with its CRLF, and for the empty lines before it;
 * `section` for the header section after the request line, and for a
 * trailer section. */
struct http_frame_limits {
	uint32_t line;
	uint32_t section;
};

/* Accept bytes from `data`: returns how many may be given to the parser.
 * Fewer than `len` when a byte is refused (http_frame_error says why) or when a
 * request's header section ended and its framing is not known yet.
 * Thread: owner. */
size_t http_frame_scan(struct http_frame *f, const struct http_frame_limits *lim,
		       const char *data, size_t len);

/* The parser reached the end of the header section: its body is framed
 * so (`length`: Content-Length for HTTP_FRAME_LENGTH). -1 if the scanner
 * did not see that section end (the two disagree: refuse the request).
 * Thread: owner. */
int http_frame_body(struct http_frame *f, enum http_frame_body kind, uint64_t length);

/* Why the stream was refused (a static string), or NULL. Thread: owner. */
const char *http_frame_error(const struct http_frame *f);

/* The status that answers the refusal: 414 for a request line over its
 * limit, 431 for a section over its limit, 400 for the rest. */
unsigned http_frame_status(const struct http_frame *f);

#endif
