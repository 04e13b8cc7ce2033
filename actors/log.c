/*
 * log.c - the log actor and the logging front end every thread calls.
 *
 * DESIGN
 * The sender formats the whole line (timestamp, level, its actor's name,
 * message, fields) on its own stack, so the log actor only copies bytes to
 * the file. The line travels in one malloc'd message (struct log_line) to
 * the single "log" actor; a full mailbox drops the line and bumps
 * log_dropped_total. Logging is not on the request path except the access
 * log, where one allocation per line is cheap next to the request.
 *
 * The log actor appends each line to a per-file buffer and writes each
 * buffer with one write(2) per loop iteration (ev_prepare runs just before
 * the loop would block) or when a buffer fills. Once a second, if lines
 * were dropped, it writes how many.
 *
 * A write that fails (disk full, RLIMIT_FSIZE, I/O error) is not retried:
 * waiting for space would back up the mailbox and then drop lines anyway.
 * The lines it held are counted (log_lost_total) and, once a second, a
 * warning says how many were lost and why, in the log (it lands when the
 * file takes writes again) and on stderr when the log is a file (the
 * journal under systemd). A write cut short mid-line leaves a torn line;
 * the next write starts with a newline so every later line stays whole.
 * A pipe, socket or terminal (stderr under a supervisor, `actord | less`)
 * is written in PIPE_BUF pieces, each once poll(2) says it fits, and a
 * reader that takes nothing for LOG_STALL_MS loses the lines the same way
 * (and later ones at once, until it reads again): a write(2) that never
 * returns would hold the log actor, and with it every shutdown, forever.
 *
 * States: before the actor starts and after it stopped, `live` is false
 * and log_emit writes each line itself with one write(2) (O_APPEND, so
 * lines from several threads never interleave). While `live`, only the log
 * actor touches the files; it alone reopens them (SIGUSR1, or new paths
 * after a reload), reading the paths from config_current().
 *
 * Messages accepted: LOG_MSG_LINE, LOG_MSG_ACCESS (a line for the access
 * log), LOG_MSG_REOPEN (reopen now: in the mailbox's order, so a line sent
 * before the request still goes to the old file). A reopen request that
 * meets a full mailbox is kept in the `reopen` flag instead and done before
 * the log actor next sleeps: late, never lost. It sends none.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actor.h"
#include "log.h"
#include "log_internal.h"
#include "metrics.h"
#include "trace.h"
#include "base/clock.h"
#include "base/hex.h"
#include "config/config.h"

const struct actor_kind log_kind = { "log" };

#define LOG_LINE_MAX 8192
#define LOG_BUF_SIZE (64 * 1024)
#define LOG_BUDGET 256                  /* lines per loop iteration */
#define DROP_REPORT_NS 1000000000ull
#define STR_(x) #x
#define STR(x) STR_(x)
#define REOPEN_ASKED 1
#define REOPEN_QUIET 2

enum log_msg_type {
	LOG_MSG_LINE = 0x4C4F0001,
	LOG_MSG_ACCESS = 0x4C4F0002,
	LOG_MSG_REOPEN = 0x4C4F0003,
};

/* Crosses mailboxes: the log actor frees it with msg_free(). */
struct log_line {
	struct msg m;
	uint32_t len;                   /* LOG_MSG_REOPEN: REOPEN_* flags */
	char text[];
};

/* Process-wide settings, read by every sender with relaxed loads: a line
 * formatted with a level or format one reload late is harmless. */
static _Atomic int g_level = LOGL_INFO;
static _Atomic int g_text = -1;         /* -1: not decided yet (isatty) */
static _Atomic int g_fd = 2;            /* main log */
static _Atomic int g_access_fd = -1;    /* access log, -1: off */
/* Set by the log actor (release) once it runs, cleared when it stops; a
 * sender that sees it true sends, else writes itself. */
static _Atomic bool g_live;
/* Reopen requests that could not be sent (full mailbox, or no log actor):
 * REOPEN_ASKED (say so in the log) and/or REOPEN_QUIET. */
static _Atomic int g_reopen;
/* Many writers (any thread may drop); rare, so a shared atomic is fine. */
static _Atomic uint64_t g_dropped;
static struct actor_system *g_sys;
static actor_addr_t g_addr = ACTOR_ADDR_NONE;
static const struct ad_config *g_cfg;    /* from log_add_pool */

/* One output file as the log actor sees it. Owner: the log actor thread
 * while live, the controlling thread otherwise. */
struct sink {
	_Atomic int *fd;
	char buf[LOG_BUF_SIZE];
	size_t len;
	unsigned lines;
	bool torn;              /* the file ends mid-line (a write cut short) */
	bool stream;            /* not a regular file: a write may block */
};

struct log_state {
	struct sink main_log;
	struct sink access;
	ev_prepare flush_w;
	uint64_t dropped_reported;
	uint64_t lost_reported;
	uint64_t last_report_ns;
};

static struct log_state g_state;

static void free_line(struct msg *m)
{
	free(m);
}

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static const char *const level_tags[] = { "DEBUG", "INFO ", "WARN ", "ERROR" };

uint64_t log_dropped_total(void)
{
	return atomic_load_explicit(&g_dropped, memory_order_relaxed);
}


void log_collect(struct metrics_out *o, void *ctx)
{
	(void)ctx;
	metrics_counter(o, "log_dropped_total",
			"Log lines dropped because the log actor's mailbox was full",
			NULL, log_dropped_total());
	metrics_counter(o, "log_lost_total",
			"Log lines lost because writing the log or access log failed "
			"(disk full, file size limit, I/O error)", NULL, log_lost_total());
}

static bool text_format(void)
{
	int t = atomic_load_explicit(&g_text, memory_order_relaxed);

	if (t < 0) {
		t = isatty(2) ? 1 : 0;
		atomic_store_explicit(&g_text, t, memory_order_relaxed);
	}
	return t == 1;
}

/* Length of the valid UTF-8 sequence at s, or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	/* Overlong 3- and 4-byte forms and surrogates are invalid too. */
	if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) ||
	    (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
		return 0;
	return n;
}

/* log_json_escape, also telling how many bytes of `s` it consumed (all of
 * them unless `out` was too small). */
static size_t escape_json(char *out, size_t outlen, const char *s, size_t *consumed)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	*consumed = 0;
	if (outlen == 0)
		return 0;
	while (*p != '\0') {
		char esc[8];
		size_t n = 0, k;

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			n = 2;
			k = 1;
		} else if (*p == '\n' || *p == '\t' || *p == '\r') {
			esc[0] = '\\';
			esc[1] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
			n = 2;
			k = 1;
		} else if (*p < 0x20 || *p == 0x7F) {
			n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *p);
			k = 1;
		} else if ((k = utf8_len(p)) == 0) {
			memcpy(esc, "\xEF\xBF\xBD", 3);    /* U+FFFD */
			n = 3;
			k = 1;
		}
		if (n == 0) {                   /* plain bytes, copied as they are */
			if (o + k >= outlen)
				break;
			memcpy(out + o, p, k);
			o += k;
		} else {
			if (o + n >= outlen)
				break;
			memcpy(out + o, esc, n);
			o += n;
		}
		p += k;
	}
	out[o] = '\0';
	*consumed = (size_t)((const char *)p - s);
	return o;
}

size_t log_json_escape(char *out, size_t outlen, const char *s)
{
	size_t consumed;

	return escape_json(out, outlen, s, &consumed);
}

#define TRUNCATED_FIELD ",\"truncated\":true"

/* The JSON line's end after "msg": the closing quote, the trace ids, the
 * caller's fields and the brace, built first so that a long message is cut
 * to fit before it, never the end: the line stays valid JSON. Fields too
 * long to fit are left out (*fields becomes NULL; the line says
 * "truncated"). */
static size_t json_tail(char *out, size_t len, const char *tf, const char **fields,
			bool truncated)
{
	bool with_fields = *fields != NULL && (*fields)[0] != '\0';
	int n = snprintf(out, len, "\"%s%s%s%s}", tf, with_fields ? "," : "",
			 with_fields ? *fields : "", truncated ? TRUNCATED_FIELD : "");

	if (n < 0 || (size_t)n >= len) {
		*fields = NULL;
		n = snprintf(out, len, "\"%s" TRUNCATED_FIELD "}", tf);
	}
	return (size_t)n;
}

/* "2026-01-02T03:04:05.678Z" */
static void timestamp(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* strftime bounds every field, so the length is fixed (24 bytes). */
	size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Hand a finished line to the log actor, or write it here. */
static void deliver(uint32_t type, const char *line, size_t len)
{
	struct log_line *l;
	int rc, fd;

	if (atomic_load_explicit(&g_live, memory_order_acquire)) {
		l = malloc(sizeof(*l) + len);
		if (l == NULL) {
			atomic_fetch_add_explicit(&g_dropped, 1, memory_order_relaxed);
			return;
		}
		msg_init(&l->m, type, free_line);
		l->len = (uint32_t)len;
		memcpy(l->text, line, len);
		rc = actor_send(g_sys, g_addr, &l->m);
		if (rc == 0)
			return;
		free(l);
		if (rc != -ESHUTDOWN) {
			atomic_fetch_add_explicit(&g_dropped, 1, memory_order_relaxed);
			return;
		}
		/* The log actor is stopping: it no longer touches the files. */
	}
	fd = atomic_load_explicit(type == LOG_MSG_ACCESS ? &g_access_fd : &g_fd,
				  memory_order_relaxed);
	if (fd >= 0)
		log_write_lines(fd, line, len, log_is_stream(fd));
}

/* Set before any other thread logs and cleared after: a plain pointer. */
static const struct log_tap *g_tap;

void log_set_tap(const struct log_tap *tap)
{
	g_tap = tap;
}

/* The current trace's ids as fields (JSON members, or text), or "". */
static void trace_fields(char *out, size_t len, bool text)
{
	const struct msg_trace *t = trace_current();
	char id[TRACE_ID_HEX + 1], span[TRACE_SPAN_HEX + 1];

	out[0] = '\0';
	if (t == NULL)
		return;
	hex_encode(t->trace_id, 16, id);
	hex_encode(t->span_id, 8, span);
	snprintf(out, len, text ? "  trace_id=%s span_id=%s" : ",\"trace_id\":\"%s\",\"span_id\":\"%s\"",
		 id, span);
}

void log_emit(enum log_level lvl, const char *fields, const char *fmt, ...)
{
	char line[LOG_LINE_MAX], msgbuf[LOG_LINE_MAX / 2], ts[32], tf[96], tail[LOG_LINE_MAX / 4];
	struct actor *self = actor_self();
	const char *who = self != NULL ? actor_name(self) : "main";
	size_t n, taillen, room, used;
	const char *kept;
	bool cut;
	va_list ap;
	int full;

	if ((int)lvl < atomic_load_explicit(&g_level, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	full = vsnprintf(msgbuf, sizeof(msgbuf), fmt, ap);
	va_end(ap);
	if (g_tap != NULL) {
		g_tap->line(lvl, fields, msgbuf);
		return;
	}
	timestamp(ts, sizeof(ts));
	trace_fields(tf, sizeof(tf), text_format());
	if (text_format()) {
		n = (size_t)snprintf(line, sizeof(line) - 1, "%s %s %s: %s%s%s%s", ts,
				     level_tags[lvl], who, msgbuf,
				     fields != NULL ? "  " : "", fields != NULL ? fields : "", tf);
	} else {
		n = (size_t)snprintf(line, sizeof(line), "{\"@timestamp\":\"%s\",\"level\":\"%s\","
				     "\"actor\":\"%s\",\"msg\":\"", ts, level_names[lvl], who);
		/* Room for the message: what the tail (with the flag) and the
		 * newline leave. */
		kept = fields;
		taillen = json_tail(tail, sizeof(tail), tf, &kept, true);
		room = sizeof(line) - n - taillen - 1;
		n += escape_json(line + n, room, msgbuf, &used);
		cut = msgbuf[used] != '\0' || full >= (int)sizeof(msgbuf) || kept != fields;
		taillen = json_tail(tail, sizeof(tail), tf, &kept, cut);
		memcpy(line + n, tail, taillen);
		n += taillen;
	}
	if (n > sizeof(line) - 2)   /* truncated: keep the newline */
		n = sizeof(line) - 2;
	line[n++] = '\n';
	deliver(LOG_MSG_LINE, line, n);
}

void log_access(const char *client, const char *method, const char *path,
		unsigned status, uint64_t bytes, uint64_t duration_ns,
		const struct msg_trace *trace, const uint8_t *parent)
{
	char line[LOG_LINE_MAX], epath[LOG_LINE_MAX / 2], eclient[128], emethod[64], ts[32];
	char tf[128] = "", id[TRACE_ID_HEX + 1], span[TRACE_SPAN_HEX + 1], pspan[TRACE_SPAN_HEX + 1];
	bool text;
	size_t n;

	if (g_tap != NULL) {
		g_tap->access(client, method, path, status, bytes, duration_ns);
		return;
	}
	if (atomic_load_explicit(&g_access_fd, memory_order_relaxed) < 0)
		return;
	timestamp(ts, sizeof(ts));
	log_json_escape(epath, sizeof(epath), path);
	log_json_escape(eclient, sizeof(eclient), client);
	log_json_escape(emethod, sizeof(emethod), method);
	text = text_format();
	if (trace != NULL && trace->state != 0) {
		hex_encode(trace->trace_id, 16, id);
		hex_encode(trace->span_id, 8, span);
		n = (size_t)snprintf(tf, sizeof(tf), text ? " %s %s" : ",\"trace_id\":\"%s\","
				     "\"span_id\":\"%s\"", id, span);
		if (parent != NULL && (trace->state & MSG_TRACE_REMOTE)) {
			hex_encode(parent, 8, pspan);
			snprintf(tf + n, sizeof(tf) - n, text ? " %s" : ",\"parent_id\":\"%s\"", pspan);
		}
	}
	if (text)
		n = (size_t)snprintf(line, sizeof(line) - 1, "%s %s \"%s %s\" %u %llu %.3f%s", ts,
				     eclient, emethod, epath, status,
				     (unsigned long long)bytes, (double)duration_ns / 1e6, tf);
	else
		n = (size_t)snprintf(line, sizeof(line) - 1,
				     "{\"@timestamp\":\"%s\",\"client\":\"%s\",\"method\":\"%s\","
				     "\"path\":\"%s\",\"status\":%u,\"bytes\":%llu,"
				     "\"duration_ms\":%.3f%s}", ts, eclient, emethod, epath, status,
				     (unsigned long long)bytes, (double)duration_ns / 1e6, tf);
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	deliver(LOG_MSG_ACCESS, line, n);
}

/* Open `path` for appending; "" / "-" mean stderr for the main log and
 * "off" for the access log. Returns the fd, -1 for off, or -errno. */
static int open_sink(const char *path, bool is_access)
{
	int fd;

	if (path[0] == '\0')
		return is_access ? -1 : 2;
	if (strcmp(path, "-") == 0)
		return 2;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	return fd < 0 ? -errno : fd;
}

/* Switch a sink to `path` (which may be its current one: logrotate moved
 * the file away and wants a new one under the old name). */
static int sink_reopen(struct sink *s, const char *path, bool is_access)
{
	int fd = open_sink(path, is_access);
	int old;

	if (fd < -1)
		return fd;
	old = atomic_exchange_explicit(s->fd, fd, memory_order_relaxed);
	if (old > 2)
		close(old);
	if (old != fd)
		s->torn = false;        /* a new file starts clean */
	s->stream = fd >= 0 && log_is_stream(fd);
	return 0;
}

/* Write `p` (whole lines) after ending a torn line, if there is one. */
static void sink_write(struct sink *s, const char *p, size_t len)
{
	int fd = atomic_load_explicit(s->fd, memory_order_relaxed);
	size_t done;

	if (len == 0 || fd < 0)
		return;
	if (s->torn) {
		/* The torn line itself was counted when it was cut. */
		if (log_write_bytes(fd, "\n", 1, s->stream) != 1) {
			log_lose(log_count_lines(p, len), errno);
			return;
		}
		s->torn = false;
	}
	done = log_write_lines(fd, p, len, s->stream);
	s->torn = done > 0 && done < len && p[done - 1] != '\n';
}

static void sink_flush(struct sink *s)
{
	sink_write(s, s->buf, s->len);
	s->len = 0;
	s->lines = 0;
}

static void sink_append(struct sink *s, const char *p, size_t len)
{
	if (s->len + len > sizeof(s->buf))
		sink_flush(s);
	if (len > sizeof(s->buf)) {
		sink_write(s, p, len);
		return;
	}
	memcpy(s->buf + s->len, p, len);
	s->len += len;
	s->lines++;
}

/* Reopen (SIGUSR1, or a reload that may name new files) with the paths
 * of the live snapshot; `want` holds REOPEN_* flags. Thread: the log actor
 * while live, else the controlling thread. */
static void reopen(struct log_state *st, int want)
{
	const struct ad_config *cfg = config_current_or(g_cfg);
	int rc;

	if (want == 0)
		return;
	sink_flush(&st->main_log);
	sink_flush(&st->access);
	rc = sink_reopen(&st->main_log, cfg->log.file, false);
	if (rc < 0)
		log_error("cannot reopen log file '%s': %s; still writing to the old one",
			  cfg->log.file, strerror(-rc));
	rc = sink_reopen(&st->access, cfg->log.access_log, true);
	if (rc < 0)
		log_error("cannot reopen access log '%s': %s", cfg->log.access_log,
			  strerror(-rc));
	if (want & REOPEN_ASKED)
		log_info("log files reopened");
}

static void report_drops(struct log_state *st, bool now)
{
	uint64_t dropped = log_dropped_total(), lost = log_lost_total();
	uint64_t t = clock_now_ns();
	char line[256];
	int err, n;

	if ((dropped == st->dropped_reported && lost == st->lost_reported) ||
	    (!now && t - st->last_report_ns < DROP_REPORT_NS))
		return;
	st->last_report_ns = t;
	if (dropped != st->dropped_reported)
		log_warn("%llu log lines dropped: log mailbox full",
			 (unsigned long long)(dropped - st->dropped_reported));
	st->dropped_reported = dropped;
	if (lost == st->lost_reported)
		return;
	/* Through the log, which may still fail (it says so once it works
	 * again), and on stderr, which is often elsewhere (the journal); only
	 * if stderr takes it at once: it may be the stalled one. */
	err = log_lost_errno();
	/* Formatted once: the log's line and stderr's copy say the same. */
	n = snprintf(line, sizeof(line), "actord: %llu log lines lost: writing the log files "
		     "failed: %s\n", (unsigned long long)(lost - st->lost_reported),
		     err == ETIMEDOUT ? "its reader took nothing for " STR(LOG_STALL_MS) " ms" :
		     strerror(err));
	if ((size_t)n >= sizeof(line)) {      /* cut: still one line */
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	log_warn("%.*s", n - 9, line + 8);       /* without "actord: " and the newline */
	if (atomic_load_explicit(&g_fd, memory_order_relaxed) != 2 &&
	    poll(&(struct pollfd){ 2, POLLOUT, 0 }, 1, 0) == 1) {
		ssize_t rc = write(2, line, (size_t)n);

		(void)rc;       /* a courtesy copy: the log has the line too */
	}
	st->lost_reported = lost;
}

static void on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct log_state *st = w->data;

	(void)loop;
	(void)revents;
	reopen(st, atomic_exchange_explicit(&g_reopen, 0, memory_order_relaxed));
	report_drops(st, false);
	sink_flush(&st->main_log);
	sink_flush(&st->access);
}

static void on_log_message(struct actor *a, struct msg *m)
{
	struct log_state *st = actor_state(a);
	struct log_line *l = msg_cast(m, struct log_line);

	if (m->type == LOG_MSG_LINE)
		sink_append(&st->main_log, l->text, l->len);
	else if (m->type == LOG_MSG_ACCESS)
		sink_append(&st->access, l->text, l->len);
	else if (m->type == LOG_MSG_REOPEN)
		reopen(st, (int)l->len);
	msg_free(m);
}

static int on_log_start(struct actor *a)
{
	struct log_state *st = &g_state;

	actor_set_state(a, st);
	ev_prepare_init(&st->flush_w, on_flush);
	st->flush_w.data = st;
	ev_prepare_start(actor_loop(a), &st->flush_w);
	st->dropped_reported = log_dropped_total();
	st->lost_reported = log_lost_total();
	/* Release: the sink state set up on the controlling thread is
	 * published before any sender relies on this actor. */
	atomic_store_explicit(&g_live, true, memory_order_release);
	return 0;
}

static void on_log_stop(struct actor *a)
{
	struct log_state *st = actor_state(a);

	/* The mailbox is closed and drained: from here senders write
	 * themselves, so everything buffered must be out first. */
	atomic_store_explicit(&g_live, false, memory_order_release);
	ev_prepare_stop(actor_loop(a), &st->flush_w);
	sink_flush(&st->main_log);
	sink_flush(&st->access);
	report_drops(st, true);
}

static const struct actor_ops log_ops = {
	.start = on_log_start,
	.message = on_log_message,
	.stop = on_log_stop,
};

static void apply_settings(const struct ad_config *cfg)
{
	bool text;

	if (cfg->log.format == CONFIG_LOG_AUTO)
		text = (cfg->log.file[0] == '\0' || strcmp(cfg->log.file, "-") == 0) && isatty(2);
	else
		text = cfg->log.format == CONFIG_LOG_TEXT;
	atomic_store_explicit(&g_text, text ? 1 : 0, memory_order_relaxed);
	atomic_store_explicit(&g_level, (int)cfg->log.level, memory_order_relaxed);
}

int log_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		 char *err, size_t errlen)
{
	struct log_state *st = &g_state;
	struct actor_pool_spec spec = {
		.kind = &log_kind,
		.count = cfg->log_actor.count,
		.mbox_capacity = cfg->log_actor.mailbox,
		.budget = LOG_BUDGET,
		.ops = &log_ops,
	};
	int rc;

	st->main_log.fd = &g_fd;
	st->access.fd = &g_access_fd;
	rc = sink_reopen(&st->main_log, cfg->log.file, false);
	if (rc < 0) {
		snprintf(err, errlen, "log.file: cannot open '%s': %s", cfg->log.file,
			 strerror(-rc));
		return rc;
	}
	rc = sink_reopen(&st->access, cfg->log.access_log, true);
	if (rc < 0) {
		snprintf(err, errlen, "log.access_log: cannot open '%s': %s",
			 cfg->log.access_log, strerror(-rc));
		return rc;
	}
	apply_settings(cfg);
	g_cfg = cfg;
	g_sys = sys;
	g_addr = actor_system_add_pool(sys, &spec, err, errlen);
	return g_addr == ACTOR_ADDR_NONE ? -EINVAL : 0;
}

static void request_reopen(int how)
{
	struct log_line *l;

	if (!atomic_load_explicit(&g_live, memory_order_acquire)) {
		/* No actor owns the files: only the controlling thread does. */
		if (g_cfg != NULL)
			reopen(&g_state, how);
		return;
	}
	l = malloc(sizeof(*l));
	if (l != NULL) {
		msg_init(&l->m, LOG_MSG_REOPEN, free_line);
		l->len = (uint32_t)how;
		if (actor_send(g_sys, g_addr, &l->m) == 0)
			return;
		free(l);
	}
	/* Seen by the log actor before it next sleeps (on_flush). */
	atomic_fetch_or_explicit(&g_reopen, how, memory_order_relaxed);
}

void log_apply(const struct ad_config *cfg)
{
	apply_settings(cfg);
	/* The paths may have changed; reopening unchanged ones costs two
	 * open(2) calls per reload, like nginx. */
	request_reopen(REOPEN_QUIET);
}

void log_reopen(void)
{
	request_reopen(REOPEN_ASKED);
}

void log_bypass_actor(void)
{
	atomic_store_explicit(&g_live, false, memory_order_release);
}

void log_shutdown(void)
{
	int fd = atomic_exchange_explicit(&g_fd, 2, memory_order_relaxed);

	if (fd > 2)
		close(fd);
	fd = atomic_exchange_explicit(&g_access_fd, -1, memory_order_relaxed);
	if (fd > 2)
		close(fd);
	g_cfg = NULL;
	g_sys = NULL;
	g_addr = ACTOR_ADDR_NONE;
}
