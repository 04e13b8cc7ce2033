/*
 * log_capture.c - a log tap (actors/log.h) that keeps the last line in
 * memory instead of logging, so a test can check what was logged and the
 * fuzzer stays quiet. Thread: single-threaded users only.
 */
#include <stdio.h>

#include "log_capture.h"
#include "actors/log.h"

char log_capture_last[1024];
unsigned log_capture_count;
char log_capture_access[1024];
unsigned log_capture_access_count;

static void on_line(enum log_level lvl, const char *fields, const char *msg)
{
	snprintf(log_capture_last, sizeof(log_capture_last), "%d %s | %s", (int)lvl, msg,
		 fields != NULL ? fields : "");
	log_capture_count++;
}

static void on_access(const char *client, const char *method, const char *path,
		      unsigned status, uint64_t bytes, uint64_t duration_ns)
{
	snprintf(log_capture_access, sizeof(log_capture_access), "%s %s %s %u %llu %llu",
		 client, method, path, status, (unsigned long long)bytes,
		 (unsigned long long)duration_ns);
	log_capture_access_count++;
}

void log_capture_start(void)
{
	static const struct log_tap tap = { .line = on_line, .access = on_access };

	log_set_tap(&tap);
}
