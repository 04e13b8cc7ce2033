/*
 * config_text.c - from the file's text to strict JSON: comments are blanked
 * out in place (not cJSON_Minify, which moves every byte after them), so
 * that a syntax error names the line and column of the file as the
 * operator sees it.
 *
 * cJSON decodes "\u0000" into a NUL inside a C string, which silently ends
 * a key or value there ("level\u0000junk" would read as "level"): such an
 * escape is refused, naming the key it sits in (cfg_refuse_nul).
 *
 * An unknown key names the known key it most likely misspells
 * (cfg_unknown_key: `http.max_conections: unknown key (did you mean
 * "max_connections"?)`), by edit distance, as git and cargo do, or the
 * known key it is the start of before a unit ("interval" ->
 * "interval_ms").
 *
 * Thread: the controlling thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* 1-based line and column (in bytes) of `at` in `text`. */
static void line_col(const char *text, const char *at, unsigned *line, unsigned *col)
{
	const char *bol = text;

	*line = 1;
	for (const char *p = text; p < at; p++) {
		if (*p == '\n') {
			(*line)++;
			bol = p + 1;
		}
	}
	*col = (unsigned)(at - bol) + 1;
}

/* Replace // and block comments with spaces, keeping newlines, so every
 * other byte keeps its line and column. Strings are skipped whole: a "//"
 * inside one is data. */
int cfg_blank_comments(struct config_ctx *c, char *text)
{
	char *p = text;
	unsigned line, col;

	while (*p != '\0') {
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			if (*p == '"')
				p++;
		} else if (p[0] == '/' && p[1] == '/') {
			while (*p != '\0' && *p != '\n')
				*p++ = ' ';
		} else if (p[0] == '/' && p[1] == '*') {
			char *start = p;

			for (p += 2; *p != '\0' && !(p[0] == '*' && p[1] == '/'); p++)
				;
			if (*p == '\0') {
				line_col(text, start, &line, &col);
				return cfg_fail(c, "(file)", "comment opened at line %u, column %u "
					    "is never closed", line, col);
			}
			for (p += 2; start < p; start++)
				if (*start != '\n')
					*start = ' ';
		} else {
			p++;
		}
	}
	return 0;
}

/* Say where cJSON stopped, as line and column of the file. */
int cfg_syntax_error(struct config_ctx *c, const char *text, const char *at)
{
	const char *end = text + strlen(text), *prev, *eol;
	unsigned line, col;

	/* cJSON reports a missing member name (`{"a": 1,}`) one byte past the
	 * character it found instead; step back onto it. */
	if (at > text && at <= end && !is_space(at[-1]) && at[-1] != '"') {
		for (prev = at - 2; prev >= text && is_space(*prev); prev--)
			;
		if (prev >= text && (*prev == ',' || (*prev == '{' && at[-1] != '}')))
			at--;
	}
	if (at >= end)
		return cfg_fail(c, "(file)", "invalid JSON: unexpected end of file");
	line_col(text, at, &line, &col);
	for (eol = at; *eol != '\0' && *eol != '\n' && *eol != '\r' && eol - at < 24; eol++)
		;
	return cfg_fail(c, "(file)", "invalid JSON at line %u, column %u, near '%.*s'",
		    line, col, (int)(eol - at), at);
}


/* The first "\u0000" escape inside a string of `text` (comments already
 * blanked), or NULL. */
static const char *find_nul_escape(const char *text)
{
	for (const char *p = text; *p != '\0'; p++) {
		if (*p != '"')
			continue;
		for (p++; *p != '\0' && *p != '"'; p++) {
			if (*p != '\\' || p[1] == '\0')
				continue;
			if (strncmp(p + 1, "u0000", 5) == 0)
				return p;
			p++;
		}
		if (*p == '\0')
			break;
	}
	return NULL;
}

/* Walk the tree cJSON made of the file (`a`, NULs cut its strings short)
 * beside the one it made with every "\u0000" turned into "\uFFFF" (`b`):
 * the two differ exactly at the strings that held a NUL. */
static int nul_walk(struct config_ctx *c, const cJSON *a, const cJSON *b, const char *path)
{
	unsigned i = 0;
	int rc;

	for (; a != NULL && b != NULL; a = a->next, b = b->next, i++) {
		char key[KEY_MAX];

		if (a->string != NULL)
			snprintf(key, sizeof(key), "%s%s%s", path, path[0] ? "." : "", a->string);
		else
			snprintf(key, sizeof(key), "%s[%u]", path, i);
		if (a->string != NULL && strcmp(a->string, b->string) != 0)
			return cfg_fail(c, key, "a key must not contain \\u0000 (U+0000)");
		if (cJSON_IsString(a) && strcmp(a->valuestring, b->valuestring) != 0)
			return cfg_fail(c, key, "must not contain \\u0000 (U+0000): the value "
				    "would end there");
		rc = nul_walk(c, a->child, b->child, key);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int cfg_refuse_nul(struct config_ctx *c, const char *text, const cJSON *root)
{
	const char *at = find_nul_escape(text);
	cJSON *other;
	char *marked;
	int rc;

	if (at == NULL)
		return 0;
	marked = strdup(text);
	if (marked == NULL)
		return cfg_fail(c, "(file)", "out of memory");
	/* "\uFFFF" keeps the tree's shape; the scan restarts from the top,
	 * where it is outside any string. */
	for (char *p = marked + (at - text); p != NULL; p = (char *)find_nul_escape(marked))
		memcpy(p + 2, "FFFF", 4);
	other = cJSON_Parse(marked);
	rc = other != NULL ? nul_walk(c, root->child, other->child, "") : 0;
	cJSON_Delete(other);
	free(marked);
	/* Unreachable in practice (the escape changed a string): still refuse. */
	return rc != 0 ? rc : cfg_fail(c, "(file)", "\\u0000 (U+0000) is not allowed");
}

#define NAME_MAX_EDIT 48        /* longer names get no suggestion */

/* Edits (insert, delete, substitute, swap two neighbours) from a to b;
 * more than `cap` when they differ in length by more. */
static size_t edits(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d[NAME_MAX_EDIT + 1][NAME_MAX_EDIT + 1];

	if (la > NAME_MAX_EDIT || lb > NAME_MAX_EDIT || (la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned char)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned char)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = (size_t)d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = (size_t)d[i - 1][j] + 1, ins = (size_t)d[i][j - 1] + 1;
			size_t best = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);

			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    (size_t)d[i - 2][j - 2] + 1 < best)
				best = (size_t)d[i - 2][j - 2] + 1;
			d[i][j] = (unsigned char)best;
		}
	return d[la][lb];
}

int cfg_unknown_key(struct config_ctx *c, const char *key, const char *name,
		    const void *known, size_t stride, size_t n)
{
	/* A third of the name, at most 3: "lsten" -> "listen", but not
	 * "ttl" -> "url". */
	size_t len = strlen(name), cap = len / 3 < 3 ? len / 3 : 3, best = cap + 1;
	const char *guess = NULL, *unit = NULL;

	for (size_t i = 0; i < n; i++) {
		const char *k = *(const char *const *)(const void *)((const char *)known + i * stride);
		size_t e;

		if (k == NULL)
			break;
		e = edits(name, k, cap);
		if (e < best) {
			best = e;
			guess = k;
		}
		/* The unit left off ("_ms", "_s", "_bytes"): the name and an
		 * underscore start the key. A misspelling found wins. */
		if (unit == NULL && len > 0 && strncmp(k, name, len) == 0 && k[len] == '_' &&
		    strchr(k + len + 1, '_') == NULL)
			unit = k;
	}
	if (guess == NULL)
		guess = unit;
	if (guess != NULL)
		return cfg_fail(c, key, "unknown key (did you mean \"%s\"?)", guess);
	return cfg_fail(c, key, "unknown key");
}
