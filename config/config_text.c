/*
 * config_text.c - from the file's text to strict JSON: comments are blanked
 * out in place (not cJSON_Minify, which moves every byte after them), so
 * that a syntax error names the line and column of the file as the
 * operator sees it.
 *
 * Thread: the controlling thread.
 */
#include <errno.h>
#include <stdio.h>
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

