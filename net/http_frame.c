/*
 * http_frame.c - strict request framing ahead of http-parser (see
 * http_frame.h).
 *
 * DESIGN
 * One byte-driven state machine; the runs (request line, names, values)
 * are consumed by tight loops with one table lookup per byte (cls), body
 * and chunk data are skipped by count.
 *
 * Thread: the owning network actor.
 */
#include <stdbool.h>
#include <stdint.h>

#include "http_frame.h"

enum {
	S_START,        /* before a request line: empty lines (CRLF) allowed */
	S_START_CR,
	S_LINE,         /* the request line */
	S_LINE_CR,
	S_FIELD,        /* start of a field line, or of the empty line */
	S_NAME,
	S_VALUE,
	S_VALUE_CR,
	S_END_CR,       /* CR of the empty line that ends a section */
	S_WAIT,         /* header section over: waiting for http_frame_body */
	S_BODY,         /* Content-Length bytes */
	S_SIZE_START,   /* chunk-size line */
	S_SIZE,
	S_SIZE_BWS,
	S_EXT,
	S_SIZE_CR,
	S_DATA,         /* chunk data, then CRLF */
	S_DATA_CR,
	S_DATA_LF,
	S_ERROR,
};

/* Why a stream is refused: f->error holds the index (one byte, not a
 * pointer, in every connection). */
#define FRAME_ERRORS(X) \
	X(LF_START, "bare LF before the request line") \
	X(CR_START, "bare CR before the request line") \
	X(LF_LINE, "bare LF in the request line") \
	X(CTL_LINE, "control character in the request line") \
	X(CR_LINE, "bare CR in the request line") \
	X(LF_HEADER, "bare LF in the header section") \
	X(FOLD, "obsolete line folding or whitespace before a field name") \
	X(EMPTY_NAME, "empty field name") \
	X(BAD_NAME, "invalid character in a field name") \
	X(WS_COLON, "whitespace between a field name and the colon") \
	X(LF_FIELD, "bare LF in a field line") \
	X(CTL_VALUE, "control character in a field value") \
	X(CR_FIELD, "bare CR in a field line") \
	X(CR_HEADER, "bare CR in the header section") \
	X(LF_SIZE, "bare LF in a chunk-size line") \
	X(BAD_SIZE, "invalid chunk size") \
	X(BIG_SIZE, "chunk size too large") \
	X(EXT_LONG, "chunk extensions too long") \
	X(LF_EXT, "bare LF in a chunk extension") \
	X(WS_SIZE, "whitespace after a chunk size") \
	X(CTL_EXT, "control character in a chunk extension") \
	X(CR_SIZE, "bare CR in a chunk-size line") \
	X(DATA_END, "chunk data not followed by CRLF") \
	X(BLANK_LONG, "too many empty lines before the request line") \
	X(LINE_LONG, "request line too long") \
	X(HEAD_LONG, "header block too large") \
	X(TRAILER_LONG, "trailer section too large") \
	X(STATE, "internal framing state")

enum {
	E_NONE,
#define X(name, text) E_##name,
	FRAME_ERRORS(X)
#undef X
};

static const char *const errors[] = {
	NULL,
#define X(name, text) text,
	FRAME_ERRORS(X)
#undef X
};

const char *http_frame_error(const struct http_frame *f)
{
	return f->error < sizeof(errors) / sizeof(errors[0]) ? errors[f->error] : NULL;
}

unsigned http_frame_status(const struct http_frame *f)
{
	return f->error == E_LINE_LONG ? 414 :
	       f->error == E_HEAD_LONG || f->error == E_TRAILER_LONG ? 431 : 400;
}

/* Byte classes, one table lookup per byte in the scanning loops:
 * C_TEXT  field value and chunk-extension octets: VCHAR, obs-text, SP, HTAB
 *         (RFC 9110 5.5);
 * C_LINE  request-line octets: the same without HTAB;
 * C_TCHAR RFC 9110 5.6.2 tchar: ALPHA, DIGIT and "!#$%&'*+-.^_`|~". */
#define C_TEXT 1u
#define C_LINE 2u
#define C_TCHAR 4u
static const uint8_t cls[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	3, 7, 3, 7, 7, 7, 7, 7, 3, 3, 7, 7, 3, 7, 7, 3,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 3, 3, 3, 3, 3,
	3, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 3, 3, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 7, 3, 7, 0,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
};

static int hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static size_t refuse(struct http_frame *f, const char *data, const unsigned char *at,
		     int why)
{
	f->state = S_ERROR;
	f->error = (uint8_t)why;
	return (size_t)((const char *)at - data);
}

static size_t skip(struct http_frame *f, const unsigned char *p, const unsigned char *end)
{
	size_t n = (size_t)(end - p);

	if (n > f->remain)
		n = (size_t)f->remain;
	f->remain -= n;
	return n;
}

/* The raw bytes of the current head run grew by `n`: 0, or the error
 * that refuses it (E_NONE while within `lim`). */
static int grow_head(struct http_frame *f, const struct http_frame_limits *lim, size_t n)
{
	uint32_t max = f->state <= S_LINE_CR ? lim->line : lim->section;

	f->head = n > UINT32_MAX - f->head ? UINT32_MAX : f->head + (uint32_t)n;
	if (f->head <= max)
		return E_NONE;
	return f->state <= S_START_CR ? E_BLANK_LONG :
	       f->state <= S_LINE_CR ? E_LINE_LONG :
	       f->trailers ? E_TRAILER_LONG : E_HEAD_LONG;
}

/* A new run starts (the request line, a section, the next message). */
static void new_run(struct http_frame *f, int state)
{
	f->state = (uint8_t)state;
	f->head = 0;
}

size_t http_frame_scan(struct http_frame *f, const struct http_frame_limits *lim,
		       const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data, *end = p + len, *run;
	int v, e;

	while (p < end) {
		unsigned char ch = *p;

		/* The head's one-byte steps are counted at the bottom; its
		 * runs (request line, name, value) as they are consumed. */
		switch (f->state) {
		case S_START:
			if (ch == '\n')
				return refuse(f, data, p, E_LF_START);
			if (ch != '\r') {
				new_run(f, S_LINE);
				continue;
			}
			f->state = S_START_CR;
			break;
		case S_START_CR:
			if (ch != '\n')
				return refuse(f, data, p, E_CR_START);
			f->state = S_START;
			break;
		case S_LINE:
			run = p;
			while (p < end && (cls[*p] & C_LINE))
				p++;
			e = grow_head(f, lim, (size_t)(p - run));
			if (e != E_NONE)
				return refuse(f, data, p, e);
			if (p == end)
				return len;
			if (*p != '\r')
				return refuse(f, data, p, *p == '\n' ? E_LF_LINE : E_CTL_LINE);
			f->state = S_LINE_CR;
			break;
		case S_LINE_CR:
			if (ch != '\n')
				return refuse(f, data, p, E_CR_LINE);
			new_run(f, S_FIELD);
			p++;
			continue; /* the LF ended the line's run, not the section's */
		case S_FIELD:
			if (ch == '\r') {
				f->state = S_END_CR;
			} else if (cls[ch] & C_TCHAR) {
				f->state = S_NAME;
			} else {
				return refuse(f, data, p,
					      ch == '\n' ? E_LF_HEADER :
					      ch == ' ' || ch == '\t' ?
					      E_FOLD :
					      ch == ':' ? E_EMPTY_NAME :
					      E_BAD_NAME);
			}
			break;
		case S_NAME:
			run = p;
			while (p < end && (cls[*p] & C_TCHAR))
				p++;
			e = grow_head(f, lim, (size_t)(p - run));
			if (e != E_NONE)
				return refuse(f, data, p, e);
			if (p == end)
				return len;
			if (*p != ':')
				return refuse(f, data, p, *p == ' ' || *p == '\t' ?
					      E_WS_COLON :
					      E_BAD_NAME);
			f->state = S_VALUE;
			break;
		case S_VALUE:
			run = p;
			while (p < end && (cls[*p] & C_TEXT))
				p++;
			e = grow_head(f, lim, (size_t)(p - run));
			if (e != E_NONE)
				return refuse(f, data, p, e);
			if (p == end)
				return len;
			if (*p != '\r')
				return refuse(f, data, p, *p == '\n' ? E_LF_FIELD : E_CTL_VALUE);
			f->state = S_VALUE_CR;
			break;
		case S_VALUE_CR:
			if (ch != '\n')
				return refuse(f, data, p, E_CR_FIELD);
			f->state = S_FIELD;
			break;
		case S_END_CR:
			if (ch != '\n')
				return refuse(f, data, p, E_CR_HEADER);
			if (f->trailers) {
				f->trailers = 0;    /* the message is over */
				new_run(f, S_START);
				p++;
				continue;
			}
			/* The parser decides the framing at this LF. */
			f->state = S_WAIT;
			return (size_t)((const char *)p + 1 - data);
		case S_WAIT:
		case S_ERROR:
			return (size_t)((const char *)p - data);
		case S_BODY:
			p += skip(f, p, end);
			if (f->remain == 0)
				new_run(f, S_START);
			continue;
		case S_SIZE_START:
			v = hex(ch);
			if (v < 0)
				return refuse(f, data, p, ch == '\n' ? E_LF_SIZE
					      : E_BAD_SIZE);
			f->remain = (uint64_t)v;
			f->state = S_SIZE;
			break;
		case S_SIZE:
			v = hex(ch);
			if (v >= 0) {
				/* http-parser takes UINT64_MAX for an overflow */
				if (f->remain >= UINT64_MAX >> 4)
					return refuse(f, data, p, E_BIG_SIZE);
				f->remain = f->remain << 4 | (uint64_t)v;
			} else if (ch == '\r') {
				f->state = S_SIZE_CR;
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				f->state = ch == ';' ? S_EXT : S_SIZE_BWS;
				continue; /* counted as extension bytes */
			} else {
				return refuse(f, data, p, ch == '\n' ? E_LF_SIZE
					      : E_BAD_SIZE);
			}
			break;
		case S_SIZE_BWS:
		case S_EXT:
			while (p < end && (cls[*p] & C_TEXT) &&
			       (f->state == S_EXT || *p == ' ' || *p == '\t' || *p == ';')) {
				if (*p == ';')
					f->state = S_EXT;
				if (++f->ext_len > HTTP_FRAME_EXT_MAX)
					return refuse(f, data, p, E_EXT_LONG);
				p++;
			}
			if (p == end)
				return len;
			if (*p != '\r' || f->state == S_SIZE_BWS)
				return refuse(f, data, p,
					      *p == '\n' ? E_LF_EXT :
					      f->state == S_SIZE_BWS ? E_WS_SIZE :
					      E_CTL_EXT);
			f->state = S_SIZE_CR;
			break;
		case S_SIZE_CR:
			if (ch != '\n')
				return refuse(f, data, p, E_CR_SIZE);
			if (f->remain == 0) {
				f->trailers = 1;
				new_run(f, S_FIELD);
				p++;
				continue;
			} else {
				f->state = S_DATA;
			}
			break;
		case S_DATA:
			p += skip(f, p, end);
			if (f->remain == 0)
				f->state = S_DATA_CR;
			continue;
		case S_DATA_CR:
			if (ch != '\r')
				return refuse(f, data, p, E_DATA_END);
			f->state = S_DATA_LF;
			break;
		case S_DATA_LF:
			if (ch != '\n')
				return refuse(f, data, p, E_DATA_END);
			f->state = S_SIZE_START;
			break;
		default:
			return refuse(f, data, p, E_STATE);
		}
		if (f->state <= S_END_CR) {
			e = grow_head(f, lim, 1);
			if (e != E_NONE)
				return refuse(f, data, p, e);
		}
		p++;
	}
	return len;
}

int http_frame_body(struct http_frame *f, enum http_frame_body kind, uint64_t length)
{
	if (f->state != S_WAIT)
		return -1;
	f->ext_len = 0;
	f->trailers = 0;
	f->head = 0;
	f->remain = length;
	if (kind == HTTP_FRAME_CHUNKED)
		f->state = S_SIZE_START;
	else if (kind == HTTP_FRAME_LENGTH && length > 0)
		f->state = S_BODY;
	else
		f->state = S_START;
	return 0;
}
