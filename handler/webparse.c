/*
 * webparse.c - Cookie, form, JSON, Range, Accept-Encoding and date
 * parsers (see webparse.h).
 *
 * DESIGN
 * Each parser is a small scanner over (pointer, length): nothing reads
 * past `len`, nothing needs a NUL. Forgiving where browsers and RFC 6265
 * say so (a cookie pair without '=' is skipped, not an error); strict
 * where a wrong guess would send wrong bytes (a Range that does not parse
 * is ignored and the whole file is sent).
 *
 * Thread: any.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "webparse.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(struct wp_span *s)
{
	while (s->len > 0 && is_space(s->p[0])) {
		s->p++;
		s->len--;
	}
	while (s->len > 0 && is_space(s->p[s->len - 1]))
		s->len--;
}

/* What cJSON would let through: a raw control character (in a string,
 * or outside one other than the four JSON whitespace bytes) or a \u0000
 * escape. The offset of the first such byte, or `len`. Only a pre-check:
 * cJSON still decides whether the text is JSON. */
static size_t json_fault(const char *s, size_t len, const char **what)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 && (in_string || (c != '\t' && c != '\n' && c != '\r'))) {
			*what = "malformed JSON: a raw control character";
			return i;
		}
		if (!in_string) {
			in_string = c == '"';
		} else if (c == '"') {
			in_string = false;
		} else if (c == '\\') {
			if (len - i >= 6 && memcmp(s + i + 1, "u0000", 5) == 0) {
				*what = "unsupported JSON: \\u0000 in a string";
				return i;
			}
			i++;    /* the escaped byte cannot end the string */
		}
	}
	return len;
}

cJSON *wp_json_parse(const char *s, size_t len, size_t *err_at, const char **what)
{
	const char *end = NULL;
	cJSON *j;

	*err_at = json_fault(s, len, what);
	if (*err_at < len)
		return NULL;
	j = cJSON_ParseWithLengthOpts(s, len, &end, 0);
	if (j == NULL) {
		*err_at = end != NULL ? (size_t)(end - s) : 0;
		*what = "malformed JSON";
		return NULL;
	}
	*err_at = (size_t)(end - s);
	while (*err_at < len && (s[*err_at] == ' ' || s[*err_at] == '\t' ||
				 s[*err_at] == '\n' || s[*err_at] == '\r'))
		(*err_at)++;
	if (*err_at < len) {
		cJSON_Delete(j);
		*what = "malformed JSON: data after the value";
		return NULL;
	}
	return j;
}

bool wp_cookie_next(const char *hdr, size_t len, size_t *pos,
		    struct wp_span *name, struct wp_span *value)
{
	while (*pos < len) {
		const char *start = hdr + *pos;
		const char *semi = memchr(start, ';', len - *pos);
		size_t n = semi != NULL ? (size_t)(semi - start) : len - *pos;
		const char *eq = memchr(start, '=', n);

		*pos += n + (semi != NULL ? 1 : 0);
		if (eq == NULL)
			continue;
		*name = (struct wp_span){ start, (size_t)(eq - start) };
		*value = (struct wp_span){ eq + 1, (size_t)(start + n - eq - 1) };
		trim(name);
		trim(value);
		if (value->len >= 2 && value->p[0] == '"' && value->p[value->len - 1] == '"') {
			value->p++;
			value->len -= 2;
		}
		if (name->len > 0)
			return true;
	}
	return false;
}

bool wp_form_next(const char *s, size_t len, size_t *pos,
		  struct wp_span *name, struct wp_span *value)
{
	while (*pos < len) {
		const char *start = s + *pos;
		const char *amp = memchr(start, '&', len - *pos);
		size_t n = amp != NULL ? (size_t)(amp - start) : len - *pos;
		const char *eq = memchr(start, '=', n);

		*pos += n + (amp != NULL ? 1 : 0);
		if (n == 0)
			continue;
		if (eq == NULL) {
			*name = (struct wp_span){ start, n };
			*value = (struct wp_span){ start + n, 0 };
		} else {
			*name = (struct wp_span){ start, (size_t)(eq - start) };
			*value = (struct wp_span){ eq + 1, (size_t)(start + n - eq - 1) };
		}
		return true;
	}
	return false;
}

/* Digits at *i as an unsigned number, UINT64_MAX when it is larger: a
 * byte position past any file is still a valid one (RFC 9110 14.1.1:
 * "0-99999999999999999999" means to the end); false if no digit. */
static bool read_u64(const char *s, size_t len, size_t *i, uint64_t *out)
{
	uint64_t v = 0;
	size_t start = *i;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		unsigned d = (unsigned)(s[*i] - '0');

		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
		(*i)++;
	}
	*out = v;
	return *i > start;
}

enum wp_range wp_range_parse(const char *hdr, size_t len, uint64_t size,
			     uint64_t *first, uint64_t *last)
{
	size_t i = 6;
	uint64_t a = 0, b = 0;
	bool has_a, has_b;

	if (hdr == NULL || len < 7 || strncasecmp(hdr, "bytes=", 6) != 0)
		return WP_RANGE_NONE;
	while (i < len && is_space(hdr[i]))
		i++;
	has_a = read_u64(hdr, len, &i, &a);
	while (i < len && is_space(hdr[i]))
		i++;
	if (i >= len || hdr[i] != '-')
		return WP_RANGE_NONE;
	i++;
	while (i < len && is_space(hdr[i]))
		i++;
	has_b = read_u64(hdr, len, &i, &b);
	while (i < len && is_space(hdr[i]))
		i++;
	if (i != len || (!has_a && !has_b))
		return WP_RANGE_NONE;   /* several ranges, or junk: whole file */
	if (!has_a) {                   /* suffix: the last b bytes */
		if (b == 0 || size == 0)
			return WP_RANGE_UNSATISFIABLE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return WP_RANGE_OK;
	}
	if (has_b && b < a)
		return WP_RANGE_NONE;   /* invalid: ignored (RFC 9110 14.1.1) */
	if (a >= size)
		return WP_RANGE_UNSATISFIABLE;
	*first = a;
	*last = !has_b || b >= size ? size - 1 : b;
	return WP_RANGE_OK;
}

/* A q-value ("q=0.5") at the start of `s`; 1000 for 1, -1 if malformed. */
static int parse_q(struct wp_span s)
{
	int q = 0, scale = 100;
	size_t i = 2;

	trim(&s);
	if (s.len < 3 || (s.p[0] != 'q' && s.p[0] != 'Q') || s.p[1] != '=')
		return -1;
	if (s.p[i] != '0' && s.p[i] != '1')
		return -1;
	q = (s.p[i++] - '0') * 1000;
	if (i < s.len && s.p[i] == '.') {
		for (i++; i < s.len && s.p[i] >= '0' && s.p[i] <= '9' && scale > 0; i++) {
			q += (s.p[i] - '0') * scale;
			scale /= 10;
		}
	}
	if (i != s.len || q > 1000)
		return -1;
	return q;
}

enum wp_coding wp_accept_encoding(const char *hdr, size_t len, unsigned offered)
{
	/* q per coding: -1 not named. Index: identity, gzip, br, "*". */
	int q[4] = { -1, -1, -1, -1 };
	size_t pos = 0;
	enum wp_coding best = WP_IDENTITY;
	int best_q = 0;

	if (hdr == NULL)
		return WP_IDENTITY;
	while (pos < len) {
		const char *start = hdr + pos;
		const char *comma = memchr(start, ',', len - pos);
		size_t n = comma != NULL ? (size_t)(comma - start) : len - pos;
		const char *semi = memchr(start, ';', n);
		struct wp_span name = { start, semi != NULL ? (size_t)(semi - start) : n };
		int qv = 1000, idx;

		pos += n + (comma != NULL ? 1 : 0);
		trim(&name);
		if (semi != NULL)
			qv = parse_q((struct wp_span){ semi + 1, (size_t)(start + n - semi - 1) });
		if (qv < 0 || name.len == 0)
			continue;   /* malformed element: ignored */
		if (name.len == 4 && strncasecmp(name.p, "gzip", 4) == 0)
			idx = WP_GZIP;
		else if (name.len == 6 && strncasecmp(name.p, "x-gzip", 6) == 0)
			idx = WP_GZIP;
		else if (name.len == 2 && strncasecmp(name.p, "br", 2) == 0)
			idx = WP_BR;
		else if (name.len == 1 && name.p[0] == '*')
			idx = 3;
		else
			continue;
		if (qv > q[idx])
			q[idx] = qv;
	}
	for (int c = WP_BR; c >= WP_GZIP; c--) {
		int qc = q[c] >= 0 ? q[c] : q[3];

		if ((offered & (1u << c)) && qc > best_q) {
			best_q = qc;
			best = (enum wp_coding)c;
		}
	}
	return best;
}

static int month_of(const char *m)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	for (int i = 0; i < 12; i++)
		if (strncmp(m, names + 3 * i, 3) == 0)
			return i;
	return -1;
}

int64_t wp_http_date(const char *s, size_t len)
{
	char buf[64], mon[4] = "";
	struct tm tm;
	int day = 0, year = 0, h = 0, mi = 0, sec = 0, n = 0;
	time_t t;

	if (s == NULL || len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(&tm, 0, sizeof(tm));
	/* IMF-fixdate, then RFC 850, then asctime. */
	if (sscanf(buf, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT%n", &day, mon, &year, &h, &mi,
		   &sec, &n) == 6 && n == (int)len) {
	} else if (sscanf(buf, "%*[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", &day, mon, &year,
			  &h, &mi, &sec, &n) == 6 && n == (int)len) {
		year += year < 70 ? 2000 : 1900;
	} else if (sscanf(buf, "%*3s %3s %2d %2d:%2d:%2d %4d%n", mon, &day, &h, &mi, &sec,
			  &year, &n) == 6 && n == (int)len) {
	} else {
		return -1;
	}
	tm.tm_mon = month_of(mon);
	if (tm.tm_mon < 0 || day < 1 || day > 31 || h > 23 || mi > 59 || sec > 60 ||
	    year < 1970 || year > 9999)
		return -1;
	tm.tm_mday = day;
	tm.tm_year = year - 1900;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t;
}

void wp_format_http_date(int64_t t, char out[30])
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	if (strftime(out, 30, "%a, %d %b %Y %H:%M:%S GMT", &tm) != 29)
		memcpy(out, "Thu, 01 Jan 1970 00:00:00 GMT", 30);
}

bool wp_etag_match(const char *list, size_t len, const char *etag)
{
	size_t elen = strlen(etag), pos = 0;

	while (pos < len) {
		const char *start = list + pos;
		const char *comma = memchr(start, ',', len - pos);
		struct wp_span t = { start, comma != NULL ? (size_t)(comma - start) : len - pos };

		pos += t.len + (comma != NULL ? 1 : 0);
		trim(&t);
		if (t.len == 1 && t.p[0] == '*')
			return true;
		if (t.len > 2 && t.p[0] == 'W' && t.p[1] == '/') {
			t.p += 2;
			t.len -= 2;
		}
		if (t.len == elen && memcmp(t.p, etag, elen) == 0)
			return true;
	}
	return false;
}
