/*
 * http_frame.c - strict request framing ahead of http-parser (see
 * http_frame.h).
 *
 * DESIGN
 * One byte-driven state machine; the long runs are not walked byte by
 * byte: the request line and field values by memchr for their CR and one
 * branch-free (vectorised) check for control characters, body and chunk
 * data skipped by count. Field names (short) go through a bitmap.
 *
 * Thread: the owning network actor.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

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

/* RFC 9110 5.6.2 tchar: a bitmap of the ASCII codes (ALPHA, DIGIT and
 * "!#$%&'*+-.^_`|~"). */
static inline bool tchar(unsigned char c)
{
	static const uint64_t map[2] = { 0x03ff6cfa00000000ull, 0x57ffffffc7fffffeull };

	return c < 128 && ((map[c >> 6] >> (c & 63)) & 1u);
}

/* Field value and chunk-extension octets: VCHAR, obs-text, SP, HTAB. */
static inline bool text(unsigned char c)
{
	return c >= 0x20 ? c != 0x7f : c == '\t';
}

/* Whether [p, end) holds a control character (HTAB allowed if `tab`).
 * No early exit: the compiler vectorises it, so a line costs a fraction
 * of an instruction per byte. */
static bool has_ctl(const unsigned char *p, const unsigned char *end, bool tab)
{
	unsigned bad = 0;

	for (; p < end; p++)
		bad |= (unsigned)(*p < 0x20 && !(tab && *p == '\t')) | (unsigned)(*p == 0x7f);
	return bad != 0;
}

/* The first control character of [p, end) (has_ctl said there is one). */
static const unsigned char *first_ctl(const unsigned char *p, const unsigned char *end, bool tab)
{
	while (p < end && !(*p < 0x20 && !(tab && *p == '\t')) && *p != 0x7f)
		p++;
	return p;
}

/* A run of line text up to its CR: the position of the CR (the run is
 * clean), `end` (clean so far, no CR yet), or NULL (a control character or
 * LF at *bad). memchr finds the CR; the run is checked in one pass. */
static const unsigned char *line_run(const unsigned char *p, const unsigned char *end, bool tab,
				     const unsigned char **bad)
{
	const unsigned char *cr = memchr(p, '\r', (size_t)(end - p));
	const unsigned char *stop = cr != NULL ? cr : end;

	if (has_ctl(p, stop, tab)) {
		*bad = first_ctl(p, stop, tab);
		return NULL;
	}
	return stop;
}

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

size_t http_frame_scan(struct http_frame *f, const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data, *end = p + len, *q, *bad;
	int v;

	while (p < end) {
		unsigned char ch = *p;

		switch (f->state) {
		case S_START:
			if (ch == '\n')
				return refuse(f, data, p, E_LF_START);
			if (ch != '\r') {
				f->state = S_LINE;
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
			q = line_run(p, end, false, &bad);
			if (q == NULL)
				return refuse(f, data, bad, *bad == '\n' ? E_LF_LINE : E_CTL_LINE);
			if (q == end)
				return len;
			p = q;
			f->state = S_LINE_CR;
			break;
		case S_LINE_CR:
			if (ch != '\n')
				return refuse(f, data, p, E_CR_LINE);
			f->state = S_FIELD;
			break;
		case S_FIELD:
			if (ch == '\r') {
				f->state = S_END_CR;
			} else if (tchar(ch)) {
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
			while (p < end && tchar(*p))
				p++;
			if (p == end)
				return len;
			if (*p != ':')
				return refuse(f, data, p, *p == ' ' || *p == '\t' ?
					      E_WS_COLON :
					      E_BAD_NAME);
			f->state = S_VALUE;
			break;
		case S_VALUE:
			q = line_run(p, end, true, &bad);
			if (q == NULL)
				return refuse(f, data, bad, *bad == '\n' ? E_LF_FIELD : E_CTL_VALUE);
			if (q == end)
				return len;
			p = q;
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
				f->state = S_START;
				break;
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
				f->state = S_START;
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
				if (f->remain > UINT64_MAX >> 4)
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
			while (p < end && text(*p) &&
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
				f->state = S_FIELD;
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
	f->remain = length;
	if (kind == HTTP_FRAME_CHUNKED)
		f->state = S_SIZE_START;
	else if (kind == HTTP_FRAME_LENGTH && length > 0)
		f->state = S_BODY;
	else
		f->state = S_START;
	return 0;
}
