/*
 * test_log.c - actors/log.c: direct writes before the log actor runs, JSON
 * lines with the sending actor's name, level filtering, drops when the log
 * mailbox is full, reopening a moved file, the access log, escaping, long
 * lines cut to valid JSON, failed writes counted and reported.
 *
 * Thread: the test thread plays "main"; a tiny "t" actor logs from its own
 * thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "actors/actor.h"
#include "config/config.h"
#include "actors/log.h"
#include "actors/trace.h"
#include "tests/unit/common/scratch_dir.h"

static const struct actor_kind t_kind = { "t" };


/* The JSON line of `text` whose "msg" equals `msg`, or NULL. */
static cJSON *find_line(const char *text, const char *msg)
{
	const char *p = text;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		cJSON *j = cJSON_ParseWithLength(p, len);

		if (j == NULL)
			fail_msg("not a JSON line: %.*s", (int)len, p);
		if (cJSON_IsString(cJSON_GetObjectItem(j, "msg")) &&
		    strcmp(cJSON_GetObjectItem(j, "msg")->valuestring, msg) == 0)
			return j;
		cJSON_Delete(j);
		p += len + (nl != NULL);
	}
	return NULL;
}

static const char *str(const cJSON *j, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(j, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static struct ad_config *make_config(const char *json)
{
	char err[512], path[256];
	struct ad_config *cfg;

	snprintf(path, sizeof(path), "%s/actord.json", scratch_dir);
	cfg = config_parse(path, json, err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	return cfg;
}

static void on_t_message(struct actor *a, struct msg *m)
{
	(void)a;
	msg_free(m);
}

static int on_t_start(struct actor *a)
{
	(void)a;
	log_emit(LOGL_WARN, "\"status\":503", "from the actor %d", 7);
	return 0;
}

static const struct actor_ops t_ops = { .start = on_t_start, .message = on_t_message };

static struct actor_system *start_system(const struct ad_config *cfg)
{
	struct actor_pool_spec t = { .kind = &t_kind, .count = 1, .mbox_capacity = 4, .ops = &t_ops };
	struct actor_system *sys = actor_system_create();
	char err[256];

	if (log_add_pool(sys, cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_not_equal(actor_system_add_pool(sys, &t, err, sizeof(err)), ACTOR_ADDR_NONE);
	if (actor_system_start(sys, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return sys;
}

static void stop_system(struct actor_system *sys)
{
	actor_system_stop_kind(sys, &t_kind);
	actor_system_stop_kind(sys, &log_kind);
	actor_system_destroy(sys);
	log_shutdown();
}

static void test_lines_before_the_actor_go_to_stderr(void **state)
{
	char path[256];
	int saved = dup(2), fd;
	cJSON *j;

	(void)state;
	snprintf(path, sizeof(path), "%s/stderr", scratch_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dup2(fd, 2);
	close(fd);
	log_info("early %s", "bird");
	dup2(saved, 2);
	close(saved);
	j = find_line(scratch_slurp(path), "early bird");
	assert_non_null(j);       /* stderr is a file here: JSON */
	assert_string_equal(str(j, "level"), "info");
	assert_string_equal(str(j, "actor"), "main");
	cJSON_Delete(j);
}

static void test_json_lines_name_the_sending_actor(void **state)
{
	struct ad_config *cfg = make_config("{\"log\": {\"file\": \"a.log\", \"level\": \"info\"}}");
	struct actor_system *sys = start_system(cfg);
	const char *ts;
	char path[256];
	cJSON *j;

	(void)state;
	log_info("from %s", "main");
	log_debug("too verbose");
	log_emit(LOGL_ERROR, "\"client\":\"127.0.0.1:5\"", "with \"quotes\"\n and fields");
	{
		struct msg_trace t = { .trace_id = { 0xab, [15] = 0xcd }, .span_id = { 1, 2, 3, 4, 5, 6, 7, 8 },
				       .flags = 1, .state = MSG_TRACE_SET };

		trace_set_current(&t);
		log_emit(LOGL_WARN, "\"status\":502", "while tracing");
		trace_set_current(NULL);
		log_info("after tracing");
	}
	stop_system(sys);
	snprintf(path, sizeof(path), "%s/a.log", scratch_dir);
	j = find_line(scratch_slurp(path), "from main");
	assert_non_null(j);
	assert_string_equal(str(j, "actor"), "main");
	ts = str(j, "@timestamp");   /* 2026-01-02T03:04:05.678Z */
	assert_int_equal(strlen(ts), 24);
	assert_true(ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z');
	cJSON_Delete(j);
	j = find_line(scratch_slurp(path), "from the actor 7");
	assert_non_null(j);
	assert_string_equal(str(j, "actor"), "t-0");
	assert_string_equal(str(j, "level"), "warn");
	assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, 503);
	cJSON_Delete(j);
	j = find_line(scratch_slurp(path), "with \"quotes\"\n and fields");
	assert_non_null(j);
	assert_string_equal(str(j, "client"), "127.0.0.1:5");
	cJSON_Delete(j);
	j = find_line(scratch_slurp(path), "while tracing");
	assert_non_null(j);
	assert_string_equal(str(j, "trace_id"), "ab0000000000000000000000000000cd");
	assert_string_equal(str(j, "span_id"), "0102030405060708");
	assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, 502);
	cJSON_Delete(j);
	j = find_line(scratch_slurp(path), "after tracing");
	assert_non_null(j);
	assert_null(cJSON_GetObjectItem(j, "trace_id"));
	cJSON_Delete(j);
	assert_null(find_line(scratch_slurp(path), "too verbose"));
	config_free(cfg);
}

static void test_text_format_is_one_readable_line(void **state)
{
	struct ad_config *cfg = make_config("{\"log\": {\"file\": \"t.log\", \"format\": \"text\"}}");
	struct actor_system *sys = start_system(cfg);
	char path[256];
	const char *text;

	(void)state;
	log_warn("plain %d", 1);
	stop_system(sys);
	snprintf(path, sizeof(path), "%s/t.log", scratch_dir);
	text = scratch_slurp(path);
	assert_non_null(strstr(text, "Z WARN  main: plain 1\n"));
	assert_non_null(strstr(text, "Z WARN  t-0: from the actor 7  \"status\":503\n"));
	config_free(cfg);
}

static void test_reopen_follows_a_moved_file(void **state)
{
	struct ad_config *cfg = make_config("{\"log\": {\"file\": \"r.log\"}}");
	struct actor_system *sys = start_system(cfg);
	char path[256], moved[256];
	cJSON *j = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/r.log", scratch_dir);
	snprintf(moved, sizeof(moved), "%s/r.log.1", scratch_dir);
	log_info("before the move");
	assert_int_equal(rename(path, moved), 0);
	log_reopen();
	/* The reopen happens on the log actor: wait for the new file. */
	for (int i = 0; i < 200 && j == NULL; i++) {
		usleep(10000);
		j = find_line(scratch_slurp(path), "log files reopened");
	}
	assert_non_null(j);
	cJSON_Delete(j);
	log_info("after the move");
	stop_system(sys);
	j = find_line(scratch_slurp(path), "after the move");
	assert_non_null(j);
	cJSON_Delete(j);
	j = find_line(scratch_slurp(moved), "before the move");
	assert_non_null(j);
	cJSON_Delete(j);
	config_free(cfg);
}

static void test_access_log_lines(void **state)
{
	struct ad_config *cfg = make_config("{\"log\": {\"file\": \"m.log\", \"access_log\": \"x.log\"}}");
	struct actor_system *sys = start_system(cfg);
	char path[256];
	const char *text;
	cJSON *j;

	struct msg_trace t;
	uint8_t parent[8];
	static const char tp[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

	(void)state;
	assert_int_equal(trace_parse_parent(tp, strlen(tp), &t, parent), 0);
	memset(t.span_id, 0x11, 8);
	log_access("127.0.0.1:4000", "GET", "/p\"\xff", 200, 13, 1500000, &t, parent);
	stop_system(sys);
	log_access("127.0.0.1:4000", "GET", "/off", 200, 13, 1, NULL, NULL);  /* closed: nothing */
	snprintf(path, sizeof(path), "%s/x.log", scratch_dir);
	text = scratch_slurp(path);
	j = cJSON_Parse(text);
	assert_non_null(j);
	assert_string_equal(str(j, "client"), "127.0.0.1:4000");
	assert_string_equal(str(j, "method"), "GET");
	assert_string_equal(str(j, "path"), "/p\"\xEF\xBF\xBD");
	assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, 200);
	assert_int_equal(cJSON_GetObjectItem(j, "bytes")->valueint, 13);
	assert_true(cJSON_GetObjectItem(j, "duration_ms")->valuedouble == 1.5);
	assert_string_equal(str(j, "trace_id"), "0af7651916cd43dd8448eb211c80319c");
	assert_string_equal(str(j, "span_id"), "1111111111111111");
	assert_string_equal(str(j, "parent_id"), "b7ad6b7169203331");
	assert_non_null(str(j, "@timestamp")[0] ? j : NULL);
	assert_null(strstr(text, "/off"));
	cJSON_Delete(j);
	config_free(cfg);
}

/* Reads the FIFO until no writer is left. The read end is opened by the
 * test thread before any writer can close: a FIFO opened for reading with
 * no writer left would block forever. */
static void *drain_fifo(void *arg)
{
	int fd = *(int *)arg;
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return NULL;
}

static void test_full_mailbox_drops_and_counts(void **state)
{
	struct ad_config *cfg = make_config("{\"log\": {\"file\": \"fifo\"},"
					    " \"actors\": {\"log\": {\"mailbox\": 4}}}");
	struct actor_system *sys;
	char path[256];
	uint64_t before = log_dropped_total();
	pthread_t reader;
	int fd, rfd;

	(void)state;
	/* A pipe nobody reads: the log actor blocks in write(2) and its
	 * mailbox fills up behind it. Senders must not wait. */
	snprintf(path, sizeof(path), "%s/fifo", scratch_dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	sys = start_system(cfg);
	for (int i = 0; i < 2000; i++)
		log_info("filler line %d %0200d", i, 0);
	assert_true(log_dropped_total() > before);
	rfd = open(path, O_RDONLY | O_NONBLOCK);   /* a writer exists: no wait */
	assert_true(rfd >= 0);
	assert_int_equal(fcntl(rfd, F_SETFL, 0), 0);
	pthread_create(&reader, NULL, drain_fifo, &rfd);
	stop_system(sys);       /* closes the log's write end */
	close(fd);              /* the last writer: the reader sees EOF */
	pthread_join(reader, NULL);
	config_free(cfg);
}

static void test_json_escape(void **state)
{
	char out[64];

	(void)state;
	log_json_escape(out, sizeof(out), "a\"b\\c\n\x01\x7f");
	assert_string_equal(out, "a\\\"b\\\\c\\n\\u0001\\u007f");
	log_json_escape(out, sizeof(out), "h\xc3\xa9 \xc3 \xed\xa0\x80");
	assert_string_equal(out, "h\xc3\xa9 \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
	assert_int_equal(log_json_escape(out, 4, "abcdef"), 3);
	assert_string_equal(out, "abc");
	log_json_escape(out, 3, "\"\"");     /* never half an escape */
	assert_string_equal(out, "\\\"");
}

/* Calls `each` with every line of `text` (without its newline). */
static void each_line(const char *text, void (*each)(const char *line, size_t len, void *ctx),
		      void *ctx)
{
	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		each(p, len, ctx);
		p += len + (nl != NULL);
	}
}

struct long_lines {
	unsigned invalid, cut;
	bool saw_status;
};

static void check_long_line(const char *line, size_t len, void *ctx)
{
	struct long_lines *ll = ctx;
	cJSON *j = cJSON_ParseWithLength(line, len);

	if (j == NULL) {
		ll->invalid++;
		return;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItem(j, "truncated")))
		ll->cut++;
	if (cJSON_GetObjectItem(j, "status") != NULL)
		ll->saw_status = true;
	cJSON_Delete(j);
}

static void test_a_long_line_is_cut_to_valid_json_that_says_so(void **state)
{
	struct ad_config *cfg = make_config("{\"log\": {\"file\": \"long.log\"}}");
	struct actor_system *sys = start_system(cfg);
	static char ctl[4000], fields[3000];
	struct long_lines ll = { 0 };
	char path[256];

	(void)state;
	/* Each control byte grows sixfold when escaped: far past a line. */
	memset(ctl, 0x01, sizeof(ctl) - 1);
	log_emit(LOGL_WARN, "\"status\":503", "control bytes: %s", ctl);
	/* Fields too long for the line's end are left out, not cut. */
	memset(fields, 'f', sizeof(fields) - 1);
	memcpy(fields, "\"x\":\"", 5);
	memcpy(fields + sizeof(fields) - 2, "\"", 1);
	log_emit(LOGL_WARN, fields, "long fields");
	log_info("short");
	stop_system(sys);
	snprintf(path, sizeof(path), "%s/long.log", scratch_dir);
	each_line(scratch_slurp(path), check_long_line, &ll);
	assert_int_equal(ll.invalid, 0);
	assert_int_equal(ll.cut, 2);
	assert_true(ll.saw_status);
	config_free(cfg);
}

struct lost_lines {
	unsigned invalid;
	bool after;
	unsigned long long reported;
};

static void check_lost_line(const char *line, size_t len, void *ctx)
{
	struct lost_lines *ll = ctx;
	cJSON *j = cJSON_ParseWithLength(line, len);
	unsigned long long n;
	const char *msg;

	if (j == NULL) {
		ll->invalid++;
		return;
	}
	msg = str(j, "msg");
	if (strcmp(msg, "after the limit") == 0)
		ll->after = true;
	if (strstr(msg, "log lines lost: writing the log files failed: File too large") != NULL &&
	    sscanf(msg, "%llu", &n) == 1)
		ll->reported += n;
	cJSON_Delete(j);
}

static void test_a_failed_write_is_counted_reported_and_leaves_later_lines_whole(void **state)
{
	struct ad_config *cfg = make_config("{\"log\": {\"file\": \"full.log\"}}");
	struct actor_system *sys = start_system(cfg);
	uint64_t before = log_lost_total();
	struct lost_lines ll = { 0 };
	struct rlimit saved, lim;
	char path[256];
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/full.log", scratch_dir);
	log_info("before the limit");
	for (int i = 0; i < 200 && strstr(scratch_slurp(path), "before the limit") == NULL; i++)
		usleep(10000);
	assert_int_equal(stat(path, &st), 0);
	/* A file that may grow 100 more bytes: the next write is cut short
	 * mid-line (a torn line) and every one after fails with EFBIG, as on
	 * a full disk (ENOSPC) but without one. */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	lim = (struct rlimit){ (rlim_t)st.st_size + 100, saved.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int i = 0; i < 5; i++)
		log_info("over the limit %d %0100d", i, 0);
	for (int i = 0; i < 200 && log_lost_total() - before < 5; i++)
		usleep(10000);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	assert_true(log_lost_total() - before >= 5);
	log_info("after the limit");
	stop_system(sys);       /* reports what was lost, the file writable again */
	each_line(scratch_slurp(path), check_lost_line, &ll);
	assert_int_equal(ll.invalid, 1);        /* the torn line, on its own */
	assert_true(ll.after);
	assert_int_equal(ll.reported, log_lost_total() - before);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_before_the_actor_go_to_stderr),
		cmocka_unit_test(test_json_lines_name_the_sending_actor),
		cmocka_unit_test(test_text_format_is_one_readable_line),
		cmocka_unit_test(test_reopen_follows_a_moved_file),
		cmocka_unit_test(test_access_log_lines),
		cmocka_unit_test(test_full_mailbox_drops_and_counts),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_a_long_line_is_cut_to_valid_json_that_says_so),
		cmocka_unit_test(test_a_failed_write_is_counted_reported_and_leaves_later_lines_whole),
	};

	return cmocka_run_group_tests(tests, scratch_dir_setup, scratch_dir_teardown);
}
