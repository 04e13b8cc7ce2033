/*
 * log.h - logging from any thread, never blocking.
 *
 * DESIGN
 * The log actor owns the log file(s). Every other thread formats its line
 * on its own stack, copies it into a message and sends it to the log actor;
 * when the log mailbox is full the line is dropped and counted
 * (log_dropped_total), never waited for. Before the log actor runs (start-up,
 * config errors, unit tests) lines go straight to stderr.
 *
 * Output: JSON lines (`@timestamp`, `level`, `actor`, `msg`, plus fields)
 * or plain text for a terminal; see docs/CONFIG.md (log.*).
 *
 * Thread: every function here is safe from any thread.
 */
#ifndef ACTORD_LOG_H
#define ACTORD_LOG_H

#include <stdint.h>

enum log_level { LOGL_DEBUG = 0, LOGL_INFO, LOGL_WARN, LOGL_ERROR };

/* `fields`: NULL, or extra JSON members without braces, already escaped,
 * e.g. "\"status\":400,\"client\":\"127.0.0.1:5000\"". */
void log_emit(enum log_level lvl, const char *fields, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One access-log line (only if the access log is enabled). */
void log_access(const char *client, const char *method, const char *path,
		unsigned status, uint64_t bytes, uint64_t duration_ns);

uint64_t log_dropped_total(void);

#define log_debug(...) log_emit(LOGL_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) log_emit(LOGL_INFO, NULL, __VA_ARGS__)
#define log_warn(...) log_emit(LOGL_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_emit(LOGL_ERROR, NULL, __VA_ARGS__)

#endif
