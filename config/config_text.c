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
