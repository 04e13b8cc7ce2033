/*
 * log.h - logging from any thread, never blocking.
 *
 * DESIGN
 * The log actor owns the log file(s). Every other thread formats its line
 * on its own stack, copies it into a message and sends it to the log actor;
 * when the log mailbox is full the line is dropped and counted
 * (log_dropped_total), never waited for; a line whose write(2) fails is
 * counted too (log_lost_total), never retried. Before the log actor runs (start-up,
 * config errors, unit tests) lines go straight to stderr (or, once
 * log_add_pool opened it, the log file), one write(2) per line; after it
 * stopped, likewise.
 *
 * Output: JSON lines (`@timestamp`, `level`, `actor`, `msg`, plus fields)
 * or plain text for a terminal; see docs/CONFIG.md (log.*).
 *
 * Thread: every function here is safe from any thread unless noted.
 */
#ifndef ACTORD_LOG_H
#define ACTORD_LOG_H

#include <stddef.h>
#include <stdint.h>

struct actor_kind;
/* The log actor (pool "log", actors.log). */
extern const struct actor_kind log_kind;

struct actor_system;
struct ad_config;

enum log_level { LOGL_DEBUG = 0, LOGL_INFO, LOGL_WARN, LOGL_ERROR };

/* `fields`: NULL, or extra JSON members without braces, already escaped,
 * e.g. "\"status\":400,\"client\":\"127.0.0.1:5000\"". While the
 * calling thread has a current trace (actors/trace.h), the line gets
 * "trace_id" and "span_id" members too. */
void log_emit(enum log_level lvl, const char *fields, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One access-log line, if log.access_log is set (a relaxed load and a
 * return otherwise, so call it for every request). `client` is "ip:port",
 * `path` the request target as received (escaped here), `bytes` the
 * response body bytes, `duration_ns` from the request's arrival to its
 * answer, `trace` the request's trace (NULL or state 0: none; trace_id and
 * span_id are logged) and `parent` the caller's span id (logged as
 * parent_id when the trace came from a traceparent; may be NULL). Fields
 * and formats: docs/CONFIG.md (log.access_log). */
struct msg_trace;
void log_access(const char *client, const char *method, const char *path,
		unsigned status, uint64_t bytes, uint64_t duration_ns,
		const struct msg_trace *trace, const uint8_t *parent);

uint64_t log_dropped_total(void);
/* Lines a failed write(2) lost (disk full, RLIMIT_FSIZE, I/O error); a
 * warning once a second says how many and why, in the log and on stderr. */
uint64_t log_lost_total(void);

struct metrics_out;
/* Metrics collector (actors/metrics.h) for the log actor's figures:
 * log_dropped_total, log_lost_total. Register it with metrics_register(log_collect, NULL).
 * Thread: the thread that renders metrics. */
void log_collect(struct metrics_out *o, void *ctx);

#define log_debug(...) log_emit(LOGL_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) log_emit(LOGL_INFO, NULL, __VA_ARGS__)
#define log_warn(...) log_emit(LOGL_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_emit(LOGL_ERROR, NULL, __VA_ARGS__)

/* Open the files named by cfg->log, apply its level and format, and add the
 * "log" pool (cfg->log_actor: one actor, its own mailbox). Add it FIRST so
 * it starts before, and is stopped after (actor_system_stop_kind "log"
 * last), every actor that logs. `cfg` must outlive the system.
 * Returns 0 or -errno with "log.file: cannot open ..." in `err`.
 * Thread: controlling, before actor_system_start(). */
int log_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		 char *err, size_t errlen);

/* Apply a reloaded config: level and format at once; new file paths are
 * opened by the log actor (it reads config_current() when it reopens).
 * Thread: controlling, after config_publish(). */
void log_apply(const struct ad_config *cfg);

/* Reopen the log files by name (SIGUSR1, logrotate). Thread: any. */
void log_reopen(void);

/* Escape `s` as the inside of a JSON string into `out` (always
 * NUL-terminated; truncated to fit). Invalid UTF-8 becomes U+FFFD so the
 * line stays valid JSON. Returns the length written. Thread: any. */
size_t log_json_escape(char *out, size_t outlen, const char *s);

/* From now on every thread writes its own lines (one write(2) each, as
 * before the log actor started) instead of sending them: for a forced
 * exit, whose last words must reach the file before _exit() and must not
 * wait for the log actor. Lines the actor still holds may be lost.
 * Thread: any. */
void log_bypass_actor(void);

/* A tap takes every line instead of the log: the fields as given, before
 * formatting. For tests and the fuzzer, which check what was logged or
 * must stay quiet. Access lines reach the tap whether or not
 * log.access_log is set (the caller decides that). NULL: normal output.
 * Thread: controlling, while no other thread logs; the tap's functions
 * run on the thread that logs. */
struct log_tap {
	void (*line)(enum log_level lvl, const char *fields, const char *msg);
	void (*access)(const char *client, const char *method, const char *path,
		       unsigned status, uint64_t bytes, uint64_t duration_ns);
};
void log_set_tap(const struct log_tap *tap);

/* Close the log files and go back to stderr. Thread: controlling, after
 * the log actor stopped. */
void log_shutdown(void);

#endif
