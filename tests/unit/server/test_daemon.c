/*
 * test_daemon.c - server/daemon.c: the locked pidfile (second instance
 * refused, stale file taken over, removed on release), readiness and the
 * sd_notify datagram. Detaching itself is covered end to end
 * (tests/e2e/test_daemon.py).
 *
 * Thread: single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "actors/metrics.h"
#include "server/daemon.h"
#include "tests/unit/common/scratch_dir.h"


static long read_pidfile(const char *path)
{
	char buf[32] = "";
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	return atol(buf);
}

static void test_pidfile_holds_our_pid_and_refuses_a_second_instance(void **state)
{
	char path[256], err[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/actord.pid", scratch_dir);
	assert_int_equal(daemon_pidfile_acquire(path, err, sizeof(err)), 0);
	assert_int_equal(read_pidfile(path), (long)getpid());
	/* flock locks belong to the open file, so a second open in this
	 * process conflicts just like another process would. */
	assert_int_equal(daemon_pidfile_acquire(path, err, sizeof(err)), -EEXIST);
	snprintf(path, sizeof(path), "already running (pid %ld, pidfile %s/actord.pid)",
		 (long)getpid(), scratch_dir);
	assert_string_equal(err, path);
	snprintf(path, sizeof(path), "%s/actord.pid", scratch_dir);
	daemon_pidfile_release();
	assert_int_equal(access(path, F_OK), -1);
}

static void test_stale_pidfile_is_taken_over(void **state)
{
	char path[256], err[256];
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/stale.pid", scratch_dir);
	fp = fopen(path, "w");
	fputs("999999\n", fp);
	fclose(fp);
	assert_int_equal(daemon_pidfile_acquire(path, err, sizeof(err)), 0);
	assert_int_equal(read_pidfile(path), (long)getpid());
	daemon_pidfile_release();
}

static void test_unwritable_pidfile_is_an_error(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(daemon_pidfile_acquire("/nonexistent/dir/a.pid", err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "pidfile /nonexistent/dir/a.pid: No such file or directory");
}

static void test_readiness_and_sd_notify(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[64];
	ssize_t n;
	int fd;

	(void)state;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", scratch_dir);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	assert_false(metrics_serving());
	daemon_report_ready();           /* foreground: no parent waits */
	assert_true(metrics_serving());
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_int_equal(n, 7);
	buf[n] = '\0';
	assert_string_equal(buf, "READY=1");
	metrics_set_serving(false);
	assert_false(metrics_serving());
	unsetenv("NOTIFY_SOCKET");
	daemon_sd_notify("STOPPING=1");  /* no socket: nothing happens */
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pidfile_holds_our_pid_and_refuses_a_second_instance),
		cmocka_unit_test(test_stale_pidfile_is_taken_over),
		cmocka_unit_test(test_unwritable_pidfile_is_an_error),
		cmocka_unit_test(test_readiness_and_sd_notify),
	};

	return cmocka_run_group_tests(tests, scratch_dir_setup, scratch_dir_teardown);
}
