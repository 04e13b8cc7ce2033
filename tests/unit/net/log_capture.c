/*
 * log_capture.c - actors/log.h for tests and the fuzzer: keeps the last
 * line in memory instead of logging, so a test can check what was logged
 * and the fuzzer stays quiet. Thread: single-threaded users only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../../../actors/log.h"
#include "log_capture.h"

char log_capture_last[1024];
unsigned log_capture_count;
char log_capture_access[1024];
unsigned log_capture_access_count;

void log_emit(enum log_level lvl, const char *fields, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(log_capture_last, sizeof(log_capture_last), "%d %s | %s", (int)lvl, msg,
		 fields != NULL ? fields : "");
	log_capture_count++;
}

void log_access(const char *client, const char *method, const char *path,
		unsigned status, uint64_t bytes, uint64_t duration_ns)
{
	snprintf(log_capture_access, sizeof(log_capture_access), "%s %s %s %u %llu %llu",
		 client, method, path, status, (unsigned long long)bytes,
		 (unsigned long long)duration_ns);
	log_capture_access_count++;
}

uint64_t log_dropped_total(void)
{
	return 0;
}
